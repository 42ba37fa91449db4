"""What the plugin measures, on sample projects run in a child pytest process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_boundedload import Workload

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024

ASYNC_PATTERNS = """
import asyncio
import pytest


@pytest.mark.boundedload(max_tasks=100)
def test_unbounded_gather(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(20_000, latency="1ms")])

    asyncio.run(main())


def test_semaphore_gather(flood):
    async def main():
        sem = asyncio.Semaphore(50)

        async def one(task):
            async with sem:
                return await flood.aworker(task)

        await asyncio.gather(*[one(t) for t in flood.tasks(20_000, latency="1ms")])

    asyncio.run(main())


def test_bounded_pending_set(flood):
    async def main():
        pending = set()
        for task in flood.tasks(5_000, latency="1ms"):
            if len(pending) >= 100:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.ensure_future(flood.aworker(task)))
        await asyncio.wait(pending)

    asyncio.run(main())
"""


def test_async_patterns(project: Project) -> None:
    project.pytester.makepyfile(ASYNC_PATTERNS)
    run = project.run()
    run.result.assert_outcomes(passed=2, failed=1)

    # max_tasks counts asyncio.run's main task too: 20,000 gathered tasks plus one.
    gather = run.figures("test_unbounded_gather")
    assert gather["max_tasks"] == 20_001
    assert gather["max_in_flight"] == 20_000
    assert any(line.startswith("max_tasks ") for line in run.violations("test_unbounded_gather"))
    run.result.stdout.fnmatch_lines(["*max_tasks 20001 > limit 100 (live asyncio tasks high-water)*"])

    semaphore = run.figures("test_semaphore_gather")
    assert semaphore["max_in_flight"] == 50
    # The semaphore bounds work, not tasks: every one of the 20,000 exists at once.
    assert semaphore["max_tasks"] == 20_001
    assert semaphore["tasks_done"] == 20_000

    # The pending set fills up to 100 tasks before the first wait: 100 plus the main task.
    pending = run.figures("test_bounded_pending_set")
    assert pending["max_tasks"] == 101
    assert pending["max_in_flight"] == 100
    assert pending["tasks_done"] == 5_000


THREADS_AND_PROCESSES = """
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from pytest_boundedload import SyntheticTask

BARRIER = None


def use(barrier):
    global BARRIER
    BARRIER = barrier


class Meeting(float):
    # A zero latency that the blocking probe tests (if latency:) while the call is in
    # flight: each call waits there until the barrier's parties are all in flight.
    def __bool__(self):
        BARRIER.wait(60)
        return False


def meeting_tasks(n):
    return [SyntheticTask(i, 0, Meeting(), False) for i in range(n)]


def test_thread_per_task(flood):
    # Every thread's call waits in flight until all 500 are: all alive and in flight at
    # once however slowly they start.
    use(threading.Barrier(500))
    threads = [threading.Thread(target=flood.worker, args=(t,)) for t in meeting_tasks(500)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_thread_pool(flood):
    use(threading.Barrier(8))
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(flood.worker, meeting_tasks(400))) == list(range(400))


def _child(event):
    event.wait(30)


def test_twenty_processes(flood):
    ctx = multiprocessing.get_context("fork")
    event = ctx.Event()
    children = [ctx.Process(target=_child, args=(event,)) for _ in range(20)]
    for child in children:
        child.start()
    event.set()
    for child in children:
        child.join()


def test_process_pool(flood):
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(4, mp_context=ctx, initializer=use, initargs=(ctx.Barrier(4),)) as pool:
        assert list(pool.map(flood.worker, meeting_tasks(40))) == list(range(40))
"""


def test_threads_and_processes(project: Project) -> None:
    project.pytester.makepyfile(THREADS_AND_PROCESSES)
    run = project.run()
    run.result.assert_outcomes(passed=4)

    # The 500 threads were all alive and in flight together (they met inside their
    # calls), each one more than the test's own thread.
    per_task = run.figures("test_thread_per_task")
    assert per_task["max_threads"] == 500 + 1
    assert per_task["max_in_flight"] == 500
    assert per_task["max_processes"] == 0

    # The pool's 8 threads all busy at once (their calls met), never more, plus the
    # test's own thread.
    pool = run.figures("test_thread_pool")
    assert (pool["max_in_flight"], pool["max_threads"], pool["tasks_done"]) == (8, 8 + 1, 400)

    # Counted at each creation: the 20 forked children, all waiting for the event.
    twenty = run.figures("test_twenty_processes")
    assert twenty["max_processes"] == 20
    assert twenty["max_threads"] == 1

    # A fork-context pool starts its 4 workers at the first submit; their calls met.
    process_pool = run.figures("test_process_pool")
    assert process_pool["max_in_flight"] == 4
    assert process_pool["tasks_done"] == 40
    assert process_pool["max_processes"] == 4


SPIKE = """
def test_spike(flood):
    block = bytearray(200 * 1024 * 1024)
    del block
"""


def test_short_spike_is_caught_by_the_kernel_peak(project: Project) -> None:
    # With a 5 s sampling interval the sampler cannot see a spike of a few milliseconds;
    # only the kernel's VmHWM can.
    project.pytester.makeini("[pytest]\nboundedload_interval = 5s\n")
    project.pytester.makepyfile(SPIKE)
    run = project.run()
    run.result.assert_outcomes(passed=1)
    figures = run.figures("test_spike")
    assert figures["peak_source"] == "vmhwm"
    # The 200 MiB block, and not much more: the peak was reset when the window opened.
    assert 199 * MiB <= figures["rss_growth"] < 216 * MiB
    assert figures["peak_rss"] >= figures["rss_growth"]


WINDOW = """
import time


def test_fixture_memory_is_not_in_the_window(big_fixture, flood):
    pass


def test_explicit_windows(flood):
    block = bytearray(64 * 1024 * 1024)  # outside any window
    with flood.measure() as first:
        small = bytearray(8 * 1024 * 1024)
    with flood.measure() as second:
        pass
    assert 7 * 1024 * 1024 <= first.rss_growth < 16 * 1024 * 1024
    assert second.rss_growth < first.rss_growth
    assert flood.last == second.measurement
    del block, small
"""

WINDOW_CONFTEST_EXTRA = """
import pytest


@pytest.fixture
def big_fixture():
    block = bytearray(128 * 1024 * 1024)
    yield
    del block
"""


def test_window_is_the_call_phase_or_the_tests_own(project: Project) -> None:
    project.pytester.makepyfile(WINDOW)
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + WINDOW_CONFTEST_EXTRA)
    run = project.run()
    run.result.assert_outcomes(passed=2)
    assert run.figures("test_fixture_memory_is_not_in_the_window")["rss_growth"] < 16 * MiB
    explicit = run.figures("test_explicit_windows")
    # The test's figures are the worst of its own windows, not the 64 MiB made outside them.
    assert 7 * MiB <= explicit["rss_growth"] < 16 * MiB


FAILURES = """
import asyncio

import pytest
from pytest_boundedload import SyntheticFailure


def test_failures_are_counted(flood):
    async def main():
        return await asyncio.gather(
            *[flood.aworker(t) for t in flood.tasks(1_000, fail_rate=0.25, seed=3)],
            return_exceptions=True,
        )

    results = asyncio.run(main())
    failed = sum(isinstance(r, SyntheticFailure) for r in results)
    assert failed == flood_failures(flood)


def flood_failures(flood):
    return sum(t.fail for t in flood.tasks(1_000, fail_rate=0.25, seed=3))
"""


def test_started_done_failed(project: Project) -> None:
    project.pytester.makepyfile(FAILURES)
    run = project.run()
    run.result.assert_outcomes(passed=1)
    figures = run.figures("test_failures_are_counted")
    # fail_rate and seed pick the same tasks every time: the count is known in advance.
    failing = sum(task.fail for task in Workload(1_000, fail_rate=0.25, seed=3))
    assert 200 < failing < 300
    assert figures["tasks_started"] == 1_000
    assert figures["tasks_failed"] == failing
    assert figures["tasks_done"] == 1_000 - failing
