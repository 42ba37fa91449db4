"""thread_pool() and process_pool(): executors behind a bounded submission window."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_boundedload.fixes import _thread_pool, process_pool, thread_pool

Pool = Callable[..., list[Any]]
pools = pytest.mark.parametrize("pool", [thread_pool, process_pool], ids=["threads", "processes"])


class Boom(Exception):
    pass


# Module-level so that process_pool can pickle them.
def jittered_square(item: int) -> int:
    time.sleep(random.Random(item).random() * 0.002)
    return item * item


def fail_on_multiples_of_three(item: int) -> int:
    if item % 3 == 0:
        raise Boom(item)
    return item


def fail_at_ten(item: int) -> int:
    if item == 10:
        raise Boom(item)
    time.sleep(0.001)
    return item


def whoami_in_pairs(pair: Any) -> int:
    # Waits until another call is in flight too: two calls at once run in two processes.
    pair.wait(30)
    return os.getpid()


class Probe:
    """Thread-safe concurrency and read-ahead counters for thread_pool."""

    def __init__(self, meet: threading.Barrier | None = None) -> None:
        self.meet = meet  # each call waits there, in flight, until its parties are
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.consumed = 0
        self.completed = 0
        self.max_ahead = 0
        self.calls: list[int] = []

    def items(self, count: int | None = None) -> Iterator[int]:
        for item in itertools.count() if count is None else range(count):
            with self.lock:
                self.consumed += 1
                self.max_ahead = max(self.max_ahead, self.consumed - self.completed)
            yield item

    def __call__(self, item: int) -> int:
        with self.lock:
            self.calls.append(item)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.meet is not None:
                self.meet.wait(30)
            return jittered_square(item)
        finally:
            with self.lock:
                self.running -= 1
                self.completed += 1


@pytest.fixture
def shutting_down(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when thread_pool starts shutting its executor down: it has stopped collecting
    results and raises (or returns) once its running calls are done."""
    event = threading.Event()

    class Executor(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            event.set()
            super().shutdown(wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(_thread_pool, "ThreadPoolExecutor", Executor)
    return event


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() == before


@pools
def test_results_in_input_order(pool: Pool, no_thread_left: None) -> None:
    assert pool(range(60), jittered_square, workers=3) == [i * i for i in range(60)]


@pytest.mark.usefixtures("no_thread_left")
@pytest.mark.parametrize(("workers", "window"), [(3, None), (4, 2), (2, 5)])
def test_threads_bounded_and_input_read_lazily(workers: int, window: int | None) -> None:
    effective_window = 2 * workers if window is None else window
    bound = min(workers, effective_window)
    # Calls meet in flight, `bound` at a time (120 of them: a multiple of every bound),
    # so the pool reaches its bound however its threads are scheduled; a pool that
    # ran fewer at once would leave them waiting (BrokenBarrierError).
    probe = Probe(threading.Barrier(bound))
    results = thread_pool(probe.items(120), probe, workers=workers, window=window)
    assert results == [i * i for i in range(120)]
    assert probe.max_running == bound
    assert probe.max_ahead <= effective_window + 1


@pytest.mark.usefixtures("no_thread_left")
def test_thread_raise_stops_submitting() -> None:
    probe = Probe()

    def fn(item: int) -> int:
        if item == 3:
            raise Boom(item)
        return probe(item)

    with pytest.raises(Boom) as caught:
        thread_pool(probe.items(), fn, workers=2, window=4)
    assert caught.value.args == (3,)
    # An endless input: only a window's worth past the failure was ever read.
    assert probe.consumed <= 3 + 4 * 4


@pytest.mark.usefixtures("no_thread_left")
def test_thread_raise_is_the_first_error_in_time(shutting_down: threading.Event) -> None:
    def fn(item: int) -> int:
        if item == 1:
            raise Boom(1)
        # Item 0 fails too, but only once the pool has stopped collecting results (it is
        # on its way out with item 1's error).
        shutting_down.wait(timeout=10)
        raise Boom(0)

    with pytest.raises(Boom) as caught:
        thread_pool(range(2), fn, workers=2)
    assert caught.value.args == (1,)


@pytest.mark.usefixtures("no_thread_left")
def test_thread_raise_cancels_unstarted_and_waits_for_running(shutting_down: threading.Event) -> None:
    one_started = threading.Event()
    started: list[int] = []
    finished: list[int] = []

    def fn(item: int) -> int:
        if item == 0:
            one_started.wait(timeout=10)
            raise Boom(item)
        started.append(item)
        one_started.set()
        # Still running when the pool gives up: it must wait for this call to finish.
        shutting_down.wait(timeout=10)
        finished.append(item)
        return item

    with pytest.raises(Boom):
        thread_pool(range(100), fn, workers=2, window=6)
    assert shutting_down.is_set()
    # Item 1 was running and was waited for; the thread that failed item 0 may have
    # grabbed item 2 before the pool noticed, but items 3-5 were cancelled unstarted.
    assert sorted(finished) == sorted(started)
    assert set(started) <= {1, 2}


@pools
def test_return_puts_the_exception_in_the_slot(pool: Pool, no_thread_left: None) -> None:
    results = pool(range(12), fail_on_multiples_of_three, workers=2, on_error="return")
    for item, result in enumerate(results):
        if item % 3 == 0:
            assert isinstance(result, Boom)
            assert result.args == (item,)
        else:
            assert result == item


@pools
def test_raise(pool: Pool, no_thread_left: None) -> None:
    consumed = 0

    def endless() -> Iterator[int]:
        nonlocal consumed
        for item in itertools.count():
            consumed += 1
            yield item

    with pytest.raises(Boom) as caught:
        pool(endless(), fail_at_ten, workers=2, window=3)
    assert caught.value.args == (10,)
    assert consumed <= 10 + 4 * 3


@pools
def test_empty_input(pool: Pool, no_thread_left: None) -> None:
    assert pool([], jittered_square, workers=2) == []
    assert pool(iter(()), jittered_square, workers=2) == []


@pools
def test_input_error_shuts_the_executor_down(pool: Pool, no_thread_left: None) -> None:
    def broken() -> Iterator[int]:
        yield from range(5)
        raise KeyError("input broke")

    with pytest.raises(KeyError):
        pool(broken(), jittered_square, workers=2, on_error="return")


def test_process_pool_really_uses_other_processes() -> None:
    # Each call waits at a barrier of two (a manager's: its proxy travels with the item)
    # until another call is in flight, so both workers take calls, each in a process
    # of its own, whichever of them the pool hands the items to.
    with multiprocessing.Manager() as manager:
        pair = manager.Barrier(2)
        pids = process_pool([pair] * 20, whoami_in_pairs, workers=2)
    assert os.getpid() not in pids
    assert len(set(pids)) == 2
