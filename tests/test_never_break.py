"""The plugin never changes what the measured code does, and its counts stay exact in every
loop, thread and fork: one regression test per way it once did not."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import multiprocessing
import os
import socket
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from blockbuster import blockbuster_ctx

from pytest_boundedload.flood.probe import SyncProbe
from pytest_boundedload.flood.scaling import measure_scaling
from pytest_boundedload.flood.workload import Workload
from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.livetasks import LiveTaskCounter
from pytest_boundedload.measure.window import Window

if TYPE_CHECKING:
    from conftest import Project

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def window() -> Iterator[Window]:
    counter = InFlightCounter()
    w = Window(counter, interval=0.01)
    yield w
    counter.close()


def _count(run: Any) -> int:
    counter = LiveTaskCounter()
    counter.start()
    try:
        run()
    finally:
        high = counter.stop()
    return high


# 1. A factory that chains the one it finds (the usual pattern) must not find ours.


def test_a_factory_that_chains_the_loops_own_is_not_chained_to_ours() -> None:
    seen: list[object] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        orig = loop.get_task_factory()
        seen.append(orig)

        def chained(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
            return (orig or asyncio.Task)(coro, loop=loop, **kwargs)  # type: ignore[operator]

        loop.set_task_factory(chained)
        seen.append(loop.get_task_factory() is chained)
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(100)))

    assert _count(lambda: asyncio.run(main())) == 101  # was: RecursionError
    assert seen == [None, True]  # the code saw the loop as it set it, not our factory


# 2. A task that finishes at creation (an eager task) was never live.


class _Finished(asyncio.Future[Any]):
    def set_name(self, name: object) -> None:  # loop.create_task names what it gets (3.13)
        pass


def _finishing_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """Runs the coroutine to its end at once, as ``eager_task_factory`` does with one
    that does not suspend (3.12+), and returns the finished future."""
    future = _Finished(loop=loop)
    try:
        coro.send(None)
    except StopIteration as stop:
        future.set_result(stop.value)
    else:
        raise AssertionError("the coroutine suspended")
    return future


async def _quick() -> int:
    return 1


def test_tasks_done_at_creation_are_not_counted() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(_finishing_factory)
        loop.call_soon(lambda: None)  # a handle waits in the ready queue all along
        done = [asyncio.ensure_future(_quick()) for _ in range(500)]
        assert all(future.done() for future in done)

    assert _count(lambda: asyncio.run(main())) == 1  # was 500


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is new in 3.12")
def test_eager_tasks_that_finish_at_creation_are_not_counted() -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        done = [asyncio.create_task(_quick()) for _ in range(500)]
        assert all(task.done() for task in done)

    assert _count(lambda: asyncio.run(main())) == 1


# 3. A loop that was already running in another thread when the window opened.


def test_a_loop_already_running_in_another_thread_is_counted() -> None:
    loop = asyncio.new_event_loop()
    running = threading.Event()
    loop.call_soon(running.set)
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    running.wait()
    release = asyncio.Event()

    async def spawn() -> None:
        tasks = [asyncio.ensure_future(release.wait()) for _ in range(500)]
        await asyncio.sleep(0)  # every one started: 500 waiting plus this one
        assert not any(task.done() for task in tasks)

    try:
        counter = LiveTaskCounter()
        counter.start()
        try:
            asyncio.run_coroutine_threadsafe(spawn(), loop).result(30)
        finally:
            high = counter.stop()
        assert high == 501  # was 0
    finally:
        loop.call_soon_threadsafe(release.set)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


# 4. A child forked while a window is open inherits none of its hooks.


def _one_task_at_a_time(n: int) -> None:
    async def main() -> None:
        reader, writer = socket.socketpair()
        loop = asyncio.get_running_loop()
        loop.add_reader(reader, lambda: None)
        writer.send(b"x")  # stays readable: the same reader handle heads every iteration
        try:
            for _ in range(n):
                await asyncio.create_task(asyncio.sleep(0))
        finally:
            loop.remove_reader(reader)
            reader.close()
            writer.close()

    asyncio.run(main())


@needs_fork
def test_children_forked_inside_a_window_count_only_their_own(window: Window) -> None:
    in_process = _count(lambda: _one_task_at_a_time(1000))
    window.start()
    try:
        report = measure_scaling(
            _one_task_at_a_time, (250, 1000, 4000), in_flight=InFlightCounter(), interval=0.01
        )
    finally:
        window.stop()
    assert in_process == 2
    assert [m.max_tasks for _, m in report.points] == [2, 2, 2]  # was 250 / 1,000 / 4,000


# 5. A pool worker living through many tests keeps no descriptor per test.


@needs_fork
def test_a_long_lived_pool_worker_lets_go_of_closed_counters() -> None:
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        before = len(pool.submit(os.listdir, "/proc/self/fd").result())
        for _ in range(50):  # fifty measured tests, one counter each
            counter = InFlightCounter()
            list(pool.map(SyncProbe(counter), Workload(5)))
            assert counter.read().done == 5
            counter.close()
        after = len(pool.submit(os.listdir, "/proc/self/fd").result())
    assert after - before <= 2, (before, after)  # was 100: a mapping and a descriptor per test


# 6. What another tool installed over our patches stays; ours come off or go quiet.


def test_a_patch_installed_over_ours_is_left_in_place() -> None:
    import asyncio.base_events

    base = asyncio.base_events.BaseEventLoop
    original = base.run_forever
    calls: list[str] = []
    counter = LiveTaskCounter()
    counter.start()
    ours = base.run_forever

    def theirs(loop: Any) -> None:
        calls.append("theirs")
        ours(loop)

    base.run_forever = theirs  # type: ignore[method-assign]
    try:
        counter.stop()
        assert base.run_forever is theirs  # not put back over their patch
        assert _count(lambda: asyncio.run(asyncio.sleep(0))) == 1  # ours passes through, a new window counts
        assert calls and set(calls) == {"theirs"}  # every run went through theirs
    finally:
        base.run_forever = original  # type: ignore[method-assign]
    counter.start()
    counter.stop()
    assert base.run_forever is original  # when nothing came over ours, the original is back


def test_thread_start_patches_come_off_only_where_still_ours(window: Window) -> None:
    # threading's own reference to the start function (3.13 renamed it).
    name = "_start_joinable_thread" if hasattr(threading, "_start_joinable_thread") else "_start_new_thread"
    original = getattr(threading, name)
    window.start()
    ours = getattr(threading, name)
    assert ours is not original

    def theirs(*args: Any, **kwargs: Any) -> Any:
        return ours(*args, **kwargs)

    setattr(threading, name, theirs)
    try:
        window.stop()
        assert getattr(threading, name) is theirs
        thread = threading.Thread(target=lambda: None)
        thread.start()  # through their wrapper and our quiet one
        thread.join()
    finally:
        setattr(threading, name, original)
    window.start()
    window.stop()
    assert getattr(threading, name) is original  # nothing came over ours: the original is back


# 8. Nothing of ours raises into, or blocks, the thread that runs the loop.


def test_threads_tasks_and_processes_started_under_blockbuster(window: Window) -> None:
    async def main() -> int:
        results = await asyncio.gather(*(asyncio.to_thread(sum, range(i)) for i in range(20)))
        done = threading.Event()
        thread = threading.Thread(target=done.set)
        thread.start()  # raw Thread.start() in the loop thread
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        await process.wait()
        await asyncio.to_thread(thread.join)
        assert done.is_set()
        return len(results)

    release = threading.Event()
    earlier = threading.Thread(target=release.wait)  # a thread of before the window
    earlier.start()
    window.start()
    try:
        with blockbuster_ctx():
            count = asyncio.run(main())
    finally:
        m = window.stop()
        release.set()
        earlier.join()
    assert count == 20
    assert m.max_processes == 1
    # gather makes its 20 tasks at once, beside asyncio.run's main task.
    assert m.max_tasks == 20 + 1
    # The loop's thread, the executor's workers (started as calls find none idle: how
    # many depends on how soon the first ones finish) and the raw thread: a range.
    assert 2 <= m.max_threads <= 2 + 20 + 1


# 9. Nothing the code let go of is kept alive while a window is open.


def test_a_closed_loop_and_its_tasks_are_not_kept_alive(window: Window) -> None:
    def run() -> tuple[weakref.ref[asyncio.AbstractEventLoop], weakref.ref[Any]]:
        loop = asyncio.new_event_loop()
        task_ref: list[weakref.ref[Any]] = []

        async def main() -> None:
            task = asyncio.ensure_future(asyncio.sleep(0))
            task_ref.append(weakref.ref(task))
            await task

        loop.run_until_complete(main())
        loop.close()
        return weakref.ref(loop), task_ref[0]

    window.start()
    try:
        loop_ref, task_ref = run()
        gc.collect()
        assert loop_ref() is None  # was: kept by the counter's lists and remembered handle
        assert task_ref() is None
    finally:
        window.stop()


def test_a_failed_task_is_freed_by_reference_counting_alone(window: Window) -> None:
    async def fail() -> None:
        raise ValueError("boom")

    async def main() -> bool:
        task = asyncio.ensure_future(fail())
        with pytest.raises(ValueError):
            await task
        ref = weakref.ref(task)
        task = None  # type: ignore[assignment]
        for _ in range(2):
            await asyncio.sleep(0)  # the handle that woke this task is gone by now
        return ref() is None  # still in the loop, no collection: nothing else holds it

    window.start()
    gc.disable()
    try:
        assert asyncio.run(main())
    finally:
        gc.enable()
        window.stop()


# 10. A measured test leaves no reference cycles behind: the garbage collector of a long
# session has nothing of the plugin's to find (it would cost every later collection).

CYCLES = """
import asyncio, collections, gc, json

import pytest

FOUND = collections.Counter()
RUNS = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    RUNS.append(nodeid)
    if len(RUNS) == 5:  # the first tests' one-time caches are made by now
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
    elif len(RUNS) == 15:
        gc.collect()
        gc.set_debug(0)
        FOUND.update(type(o).__name__ for o in gc.garbage)
        with open("cycles.json", "w") as f:
            json.dump(dict(FOUND), f)


"""

CYCLE_TESTS = """
import asyncio

import pytest


@pytest.mark.parametrize("run", range(20))
def test_flood(flood, run):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(100, size=64)])
    asyncio.run(main())
"""


def test_a_measured_test_leaves_no_reference_cycles(project: Project) -> None:
    project.pytester.makepyfile(cycles_plugin=CYCLES, test_cycles=CYCLE_TESTS)
    run = project.run("-p", "cycles_plugin", "--boundedload-all")
    run.result.assert_outcomes(passed=20)
    assert json.loads((project.path / "cycles.json").read_text()) == {}
