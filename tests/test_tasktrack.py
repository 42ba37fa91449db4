"""The live-task high-water, checked directly on event loops."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_boundedload.measure.livetasks import LiveTaskCounter


def _tracked(main: Any) -> int:
    tracker = LiveTaskCounter()
    tracker.start()
    try:
        asyncio.run(main())
    finally:
        high = tracker.stop()
    return high


def test_counts_tasks_alive_together() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        first = [asyncio.ensure_future(gate.wait()) for _ in range(10)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*first)
        # Ten done; seven more alive at once now: the high-water stays at 1 + 10.
        gate2 = asyncio.Event()
        second = [asyncio.ensure_future(gate2.wait()) for _ in range(7)]
        await asyncio.sleep(0)
        gate2.set()
        await asyncio.gather(*second)

    assert _tracked(main) == 11


def test_done_tasks_are_not_live() -> None:
    async def main() -> None:
        # 1,000 tasks one after another: never more than the main task plus one.
        for _ in range(1_000):
            await asyncio.ensure_future(asyncio.sleep(0))

    assert _tracked(main) == 2


def test_long_lived_tasks_are_counted_until_done() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        sleepers = [asyncio.ensure_future(stop.wait()) for _ in range(5)]
        # Many short tasks come and go while the five sleepers stay alive.
        for _ in range(500):
            await asyncio.ensure_future(asyncio.sleep(0))
        stop.set()
        await asyncio.gather(*sleepers)

    assert _tracked(main) == 1 + 5 + 1


def test_bounded_pending_set_is_exact() -> None:
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def main() -> None:
        pending: set[asyncio.Future[int]] = set()
        for i in range(3_000):
            if len(pending) >= 30:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.ensure_future(work(i)))
        await asyncio.wait(pending)

    assert _tracked(main) == 31


def test_user_task_factory_keeps_working_and_is_restored() -> None:
    made: list[asyncio.Future[Any]] = []

    def user_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    loop = asyncio.new_event_loop()
    loop.set_task_factory(user_factory)
    tracker = LiveTaskCounter()
    tracker.start()
    try:

        async def main() -> None:
            await asyncio.gather(*[asyncio.sleep(0) for _ in range(20)])

        loop.run_until_complete(main())
    finally:
        high = tracker.stop()
    assert loop.get_task_factory() is user_factory
    loop.close()
    assert high == 21
    assert len(made) == 21  # the user's factory still made every task


def test_a_factory_set_during_the_window_goes_under_the_count() -> None:
    made: list[asyncio.Future[Any]] = []

    def user_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(user_factory)
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(30)])

    loop = asyncio.new_event_loop()
    tracker = LiveTaskCounter()
    tracker.start()
    try:
        loop.run_until_complete(main())
    finally:
        high = tracker.stop()
    assert high == 31  # still counted after the code under test set its own factory
    assert len(made) == 30  # and that factory made the tasks
    assert loop.get_task_factory() is user_factory  # it stays in place afterwards
    loop.close()


def test_running_loop_is_adopted_with_its_existing_tasks() -> None:
    async def main() -> int:
        stop = asyncio.Event()
        before = [asyncio.ensure_future(stop.wait()) for _ in range(4)]
        await asyncio.sleep(0)
        tracker = LiveTaskCounter()
        tracker.start()  # inside a running loop, as flood.measure() in an async test
        more = [asyncio.ensure_future(stop.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        stop.set()
        await asyncio.gather(*before, *more)
        return tracker.stop()

    assert asyncio.run(main()) == 1 + 4 + 3


def test_loops_in_threads_add_up() -> None:
    barrier = threading.Barrier(3)

    def in_thread() -> None:
        async def main() -> None:
            gate = asyncio.Event()
            tasks = [asyncio.ensure_future(gate.wait()) for _ in range(10)]
            await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
            gate.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())

    tracker = LiveTaskCounter()
    tracker.start()
    threads = [threading.Thread(target=in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    high = tracker.stop()
    assert high == 3 * (1 + 10)


def test_stop_unhooks_run_forever() -> None:
    import asyncio.base_events

    original = asyncio.base_events.BaseEventLoop.run_forever
    tracker = LiveTaskCounter()
    tracker.start()
    assert asyncio.base_events.BaseEventLoop.run_forever is not original
    tracker.stop()
    assert asyncio.base_events.BaseEventLoop.run_forever is original

    async def main() -> None:
        assert asyncio.get_running_loop().get_task_factory() is None

    asyncio.run(main())


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1_000])
def test_gather_of_n(n: int) -> None:
    async def main() -> None:
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(n)])

    assert _tracked(main) == n + 1


# A random program of task creations and loop iterations; the reference count goes up
# at each creation and down as each task's coroutine ends (the task is done in that same
# step), so its high-water is the exact one the tracker must report.
_OPS = st.lists(
    st.one_of(
        # spawn k tasks one by one (create_task), each living `life` loop iterations
        st.tuples(st.just("spawn"), st.integers(1, 150), st.integers(0, 4)),
        # k tasks at once through gather, awaited
        st.tuples(st.just("gather"), st.integers(1, 150), st.integers(0, 4)),
        # let the loop run `k` iterations
        st.tuples(st.just("yield"), st.integers(1, 5), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS)
def test_high_water_is_exact_for_random_programs(ops: list[tuple[str, int, int]]) -> None:
    alive = 0
    reference = 0

    def created() -> None:
        nonlocal alive, reference
        alive += 1
        reference = max(reference, alive)

    async def child(life: int) -> None:
        nonlocal alive
        try:
            for _ in range(life):
                await asyncio.sleep(0)
        finally:
            alive -= 1

    async def main() -> None:
        background: list[asyncio.Task[None]] = []
        for op, k, life in ops:
            if op == "spawn":
                for _ in range(k):
                    created()
                    background.append(asyncio.ensure_future(child(life)))
            elif op == "gather":
                children = []
                for _ in range(k):
                    created()
                    children.append(asyncio.ensure_future(child(life)))
                await asyncio.gather(*children)
            else:
                for _ in range(k):
                    await asyncio.sleep(0)
        await asyncio.gather(*background)

    high = _tracked(main)
    assert high == reference + 1  # and the main task


@pytest.mark.parametrize("before", [0, 100])
def test_a_handle_queued_again_is_not_mistaken_for_no_progress(before: int) -> None:
    # A reader callback is one handle, queued again each time its socket is readable:
    # it can head the ready queue in one iteration after another while tasks finish.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        loop.add_reader(reader, reader.recv, 1)
        try:
            await asyncio.gather(*[asyncio.sleep(0) for _ in range(before)])

            async def short() -> None:
                return None

            for _ in range(500):
                writer.send(b"x")
                asyncio.ensure_future(short())  # noqa: RUF006 - done after one step
                await asyncio.sleep(0)
        finally:
            loop.remove_reader(reader)
            reader.close()
            writer.close()

    # The main task, and one short task at a time (or the gather's, before).
    assert _tracked(main) == max(2, before + 1)


def test_stop_leaves_no_iteration_counter_on_the_loop() -> None:
    loop = asyncio.new_event_loop()
    tracker = LiveTaskCounter()
    tracker.start()
    try:
        loop.run_until_complete(asyncio.sleep(0))
        assert "_run_once" in vars(loop)
    finally:
        tracker.stop()
    assert "_run_once" not in vars(loop)
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_tracking_keeps_no_ended_loop_alive() -> None:
    # A loop that ended is let go once tasks of the next one are counted: the count
    # keeps no handle of it, and its iteration counter holds it only weakly.
    refs: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        refs.append(weakref.ref(asyncio.get_running_loop()))
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(100)])
        if len(refs) == 2:
            gc.collect()
            assert refs[0]() is None

    tracker = LiveTaskCounter()
    tracker.start()
    try:
        asyncio.run(main())
        asyncio.run(main())
    finally:
        assert tracker.stop() == 101
