"""flood.scaling through the plugin: growth against N, and the max_bytes_per_task limit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

PATTERNS = """
import asyncio
import json
import os

import pytest

from pytest_boundedload import antipatterns, fixes


async def drain(items, worker):
    async for _ in fixes.streaming(items, worker, limit=50):
        pass


PATTERNS = {
    "unbounded_gather": lambda f: lambda n: antipatterns.unbounded_gather(f.tasks(n), f.aworker),
    "semaphore_gather": lambda f: lambda n: fixes.semaphore_gather(f.tasks(n), f.aworker, limit=50),
    "streaming": lambda f: lambda n: drain(f.tasks(n), f.aworker),
    "worker_pool": lambda f: lambda n: fixes.worker_pool(f.tasks(n), f.aworker, workers=50),
    "batched": lambda f: lambda n: fixes.batched(f.tasks(n), f.aworker, batch_size=50),
}


@pytest.mark.parametrize("name", list(PATTERNS))
def test_fit(flood, name):
    report = flood.scaling(PATTERNS[name](flood))
    with open(os.environ["FITS"], "a") as f:
        f.write(json.dumps({"name": name, **report.to_dict()}) + "\\n")


@pytest.mark.boundedload(max_bytes_per_task=256)
@pytest.mark.parametrize("name", ["semaphore_gather", "streaming"])
def test_limit(flood, name):
    flood.scaling(PATTERNS[name](flood))
"""


def test_growth_against_n_and_the_limit(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    fits = project.path / "fits.jsonl"
    monkeypatch.setenv("FITS", str(fits))
    project.pytester.makepyfile(PATTERNS)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=6, failed=1)
    reports = {entry["name"]: entry for entry in map(json.loads, fits.read_text().splitlines())}

    # Live tasks at each size, exactly: one per item for the two that gather (plus the
    # main task), a fixed number for the others (see test_fixes_bounds).
    live_tasks = {
        "unbounded_gather": lambda n: n + 1,
        "semaphore_gather": lambda n: n + 1,
        "streaming": lambda n: 50 + 1,
        "worker_pool": lambda n: 50 + 2,
        "batched": lambda n: 50 + 1,
    }
    assert sorted(reports) == sorted(live_tasks)
    for name, report in reports.items():
        points = report["points"]
        assert [point["n"] for point in points] == [1000, 4000, 16000], report
        assert [point["max_tasks"] for point in points] == [live_tasks[name](n) for n in (1000, 4000, 16000)]
        # A zero-latency probe starts and ends in one step: one call in flight at a time.
        for point in points:
            assert (point["max_in_flight"], point["max_threads"], point["max_processes"]) == (1, 1, 0), point

    for name in ("unbounded_gather", "semaphore_gather"):
        report = reports[name]
        # About 1.2 KiB per task (a task, its coroutine and a result slot).
        assert 800 < report["bytes_per_task"] < 2048, report
        assert report["growth"] == "linear", report
        # Each child fills the free space it inherits: the smallest size costs in full
        # and the points lie on a line.
        assert 0.98 < report["r2"] <= 1.0, report
        # The fit says which counts grow: one live task, and one item held, per item.
        assert report["growing"] == ["max_tasks", "max_held"], report
        assert report["count_slopes"] == {
            "max_in_flight": 0.0, "max_tasks": pytest.approx(1.0), "max_threads": 0.0, "max_processes": 0.0,
            "max_held": pytest.approx(1.0), "max_requests": 0.0,
        }, report  # fmt: skip
    for name in ("streaming", "worker_pool", "batched"):
        report = reports[name]
        assert -128 < report["bytes_per_task"] < 128, report
        assert report["growth"] == "constant", report
        assert report["growing"] == [], report

    # max_bytes_per_task=256: semaphore_gather fails with the points and the fit in the
    # message, streaming passes.
    run.result.stdout.fnmatch_lines(
        [
            "*_ test_limit?semaphore_gather? _*",
            "max_bytes_per_task 1.? KiB > limit 256 B (RSS growth per task, fitted over flood.scaling())",
            "    n  rss growth  max tasks  max threads",
            " 1000 *1001 *",
            " 4000 *4001 *",
            "16000 *16001 *",
            "fitted: 1.? KiB per task (r2 [01].*, linear)",
        ]
    )
    run.result.stdout.fnmatch_lines_random(
        ["MEMORY *::test_limit?semaphore_gather?*", "PASSED *::test_limit?streaming?"]
    )


IN_PROCESS = """
import asyncio

import pytest


@pytest.mark.boundedload(max_tasks=10)
def test_in_process_points_are_the_tests_windows(flood):
    async def gather(n):
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(n)])

    report = flood.scaling(gather, ns=(100, 200, 400), isolate=False)
    assert [m.max_tasks for _, m in report.points] == [101, 201, 401]
    assert flood.last.max_tasks == 401


def test_not_inside_a_measure_window(flood):
    with flood.measure():
        with pytest.raises(RuntimeError, match="cannot run inside a flood.measure"):
            flood.scaling(lambda n: None, isolate=False)
"""


def test_isolate_false_windows_are_checked(project: Project) -> None:
    project.pytester.makepyfile(IN_PROCESS)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=1, failed=1)
    assert run.violations("test_in_process_points_are_the_tests_windows") == [
        "max_tasks 401 > limit 10 (live asyncio tasks high-water)"
    ]


JUDGED = """
import pytest

from pytest_boundedload import antipatterns, fixes


@pytest.mark.boundedload(max_tasks=100)
def test_unbounded(flood):
    flood.scaling(lambda n: antipatterns.unbounded_gather(flood.tasks(n), flood.aworker))


def test_bounded(flood):
    flood.scaling(lambda n: fixes.worker_pool(flood.tasks(n), flood.aworker, workers=10))
"""


def test_scaling_points_are_judged_like_any_window(project: Project) -> None:
    project.pytester.makepyfile(test_judged=JUDGED)
    run = project.run("--boundedload-save")
    run.result.assert_outcomes(passed=1, failed=1)
    # The worst size's counts are the test's: checked against its limits ...
    assert run.violations("test_unbounded") == ["max_tasks 16001 > limit 100 (live asyncio tasks high-water)"]
    run.result.stdout.fnmatch_lines(["UNBOUNDED *::test_unbounded*"])  # a count crossed
    unbounded = run.figures("test_unbounded")
    # 16,000 tasks and the main one live at once, every item held; each call has nothing
    # to do, so it is in flight alone for an instant.
    assert (unbounded["max_tasks"], unbounded["max_held"], unbounded["max_in_flight"]) == (16001, 16000, 1)
    # ... and what the summary and the baseline hold.
    entries = json.loads((project.path / ".boundedload" / "baseline.json").read_text())["platforms"]
    (tests,) = entries.values()
    assert tests["test_judged.py::test_unbounded"]["max_tasks"] == 16001
    # Ten workers, their feeder and the main task.
    assert tests["test_judged.py::test_bounded"]["max_tasks"] == 12
    # The plugin's own children (one per size) are not the test's processes.
    bounded = run.figures("test_bounded")
    assert (bounded["max_processes"], bounded["children_peak_rss"]) == (0, 0)
    assert 10 <= bounded["max_held"] <= 10 + 4
