"""The plugin next to the plugins it must live with: xdist, timeout, pytest-asyncio, anyio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

MIXED = """
import asyncio
import threading

import pytest


@pytest.mark.boundedload(max_tasks=50)
def test_gather_crosses(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(2_000, latency="1ms")])

    asyncio.run(main())


@pytest.mark.boundedload(max_in_flight=10)
def test_semaphore_within(flood):
    async def main():
        sem = asyncio.Semaphore(10)

        async def one(task):
            async with sem:
                return await flood.aworker(task)

        await asyncio.gather(*[one(t) for t in flood.tasks(500, latency="1ms")])

    asyncio.run(main())


@pytest.mark.boundedload(max_threads=20)
def test_threads_cross(flood):
    barrier = threading.Barrier(40)
    threads = [threading.Thread(target=barrier.wait) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("n", [10, 20, 30, 40])
def test_many(flood, n):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(n)])

    asyncio.run(main())


def test_plain_assertion_fails():
    assert 1 == 2


def test_not_measured():
    pass
"""

MEASURED = [
    "test_gather_crosses",
    "test_semaphore_within",
    "test_threads_cross",
    "test_many[10]",
    "test_many[20]",
    "test_many[30]",
    "test_many[40]",
]


def _outcomes(project: Project, *args: str) -> tuple[dict[str, str], dict[str, dict[str, int]], str]:
    run = project.run("-rA", *args)
    outcomes = {name: entry["outcome"] for name, entry in run.records.items()}
    figures = {name: run.figures(name) for name in run.records}
    return outcomes, figures, run.text


def test_xdist_gives_the_serial_outcomes_and_summary(project: Project) -> None:
    project.pytester.makepyfile(MIXED)
    serial, serial_figures, _ = _outcomes(project)
    parallel, parallel_figures, text = _outcomes(project, "-n", "2")

    assert serial == parallel
    assert sorted(serial) == sorted(MEASURED)
    assert serial["test_gather_crosses"] == serial["test_threads_cross"] == "failed"
    assert serial["test_semaphore_within"] == "passed"
    # The counts are exact, and the same in a worker: each test's own tasks and threads
    # (asyncio.run's main task, the test's thread), not the worker's.
    expected = {
        "test_gather_crosses": (2_000, 2_001, 1),
        "test_semaphore_within": (10, 501, 1),
        "test_threads_cross": (0, 0, 41),
        # Zero-latency probes start and end in one step: one in flight at a time.
        **{f"test_many[{n}]": (1, n + 1, 1) for n in (10, 20, 30, 40)},
    }
    counts = ("max_in_flight", "max_tasks", "max_threads")
    for figures in (serial_figures, parallel_figures):
        assert {name: tuple(figures[name][key] for key in counts) for name in MEASURED} == expected
    for name in MEASURED:
        for key in ("max_in_flight", "tasks_done", "max_tasks", "max_threads", "max_processes"):
            assert serial_figures[name][key] == parallel_figures[name][key], (name, key)
    # The controller prints one summary holding every measured test of both workers.
    assert "boundedload: 7 measured tests by peak RSS" in text
    summary = text.split("boundedload: 7 measured tests by peak RSS", 1)[1]
    summary = summary.split("short test summary info", 1)[0]
    for name in MEASURED:
        assert f"::{name}" in summary
    assert "test_not_measured" not in summary
    assert "UNBOUNDED test_xdist_gives_the_serial_outcomes_and_summary.py::test_gather_crosses" in text


TIMEOUT = """
import time

import pytest


@pytest.mark.timeout(1)
def test_hangs(flood):
    time.sleep(30)


def test_next_one_runs(flood):
    pass
"""


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_timeout_still_times_out(project: Project, method: str) -> None:
    project.pytester.makepyfile(TIMEOUT)
    run = project.run(f"--timeout-method={method}", timeout=60)
    assert "Timeout" in run.text
    if method == "signal":
        # The timeout is a normal failure, the window is closed, and the session goes on.
        run.result.assert_outcomes(passed=1, failed=1)
        assert run.records["test_hangs"]["outcome"] == "failed"
        assert run.records["test_next_one_runs"]["outcome"] == "passed"
    else:
        # The thread method ends the whole process by design; it must still end it.
        assert run.result.ret != 0
        assert "test_next_one_runs" not in run.records


ANYIO_ASYNCIO_ONLY = """

@pytest.fixture(scope="module", params=["asyncio"])
def anyio_backend(request):
    return request.param
"""

ASYNC_TESTS = """
import asyncio

import pytest

{marker}
@pytest.mark.boundedload(max_tasks=20)
async def test_async_gather_crosses(flood):
    await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(300, latency="1ms")])


{marker}
async def test_async_bounded(flood):
    sem = asyncio.Semaphore(5)

    async def one(task):
        async with sem:
            return await flood.aworker(task)

    await asyncio.gather(*[one(t) for t in flood.tasks(100, latency="1ms")])


{marker}
async def test_async_explicit_window(flood):
    with flood.measure() as m:
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(40, latency="1ms")])
    assert m.max_in_flight == 40
    assert m.max_tasks == 40 + {own_tasks}
"""


@pytest.mark.parametrize(
    ("mode", "marker"),
    [
        ("strict", "@pytest.mark.asyncio"),
        ("auto", ""),
        ("anyio", "@pytest.mark.anyio"),
    ],
)
def test_async_tests_are_measured(project: Project, mode: str, marker: str) -> None:
    # Tasks that are not the flood's: the one the test runs in, and under anyio also
    # the runner task that hands it the test.
    own_tasks = 2 if mode == "anyio" else 1
    # The samples use asyncio's own primitives: under anyio, asyncio only, even with trio
    # installed.
    extra = ANYIO_ASYNCIO_ONLY if mode == "anyio" else ""
    project.pytester.makepyfile(ASYNC_TESTS.format(marker=marker, own_tasks=own_tasks) + extra)
    args = ["-p", "no:asyncio"] if mode == "anyio" else [f"--asyncio-mode={mode}"]
    run = project.run(*args)
    run.result.assert_outcomes(passed=2, failed=1)
    suffix = "[asyncio]" if mode == "anyio" else ""
    # One task per item (waiting on the semaphore or not), plus the test's own.
    crosses = run.figures("test_async_gather_crosses" + suffix)
    assert crosses["max_tasks"] == 300 + own_tasks
    assert crosses["max_in_flight"] == 300
    bounded = run.figures("test_async_bounded" + suffix)
    assert bounded["max_in_flight"] == 5
    assert bounded["max_tasks"] == 100 + own_tasks


CRASH = """
import asyncio
import json
import os
import time

from pytest_boundedload.xdist_glue import NOTES_DIR_KEY


def test_crashes_its_worker(flood, request):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(100)])

    asyncio.run(main())
    # Die once the worker's note (rewritten at each sampler tick) has the 100 tasks.
    workerinput = request.config.workerinput
    note = os.path.join(workerinput[NOTES_DIR_KEY], workerinput["workerid"] + ".json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with open(note) as f:
                if json.load(f).get("tasks_started") == 100:
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    os._exit(1)


def test_other(flood):
    pass
"""


def test_a_crashed_xdist_worker_reports_the_last_known_figures(project: Project) -> None:
    project.pytester.makepyfile(CRASH)
    run = project.run("-n", "2", "-rA", timeout=120)
    assert "crashed while running" in run.text
    assert (
        "last known figures of test_a_crashed_xdist_worker_reports_the_last_known_figures.py::"
        "test_crashes_its_worker (pytest-boundedload): 100 tasks started, peak RSS" in run.text
    )
    assert run.records["test_other"]["outcome"] == "passed"
