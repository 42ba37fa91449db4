"""Fix 4: an executor fed through a bounded submission window (threads or processes)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Literal, overload

from ._common import OnError, R, Slots, T, check_count, check_on_error


@overload
def thread_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = ...,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
def thread_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = ...,
    on_error: OnError,
) -> list[R | BaseException]: ...
def thread_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = None,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run blocking ``fn`` over ``items`` on ``workers`` threads.

    Instead of submitting all N futures at once (which parks N work items and N
    futures in memory before the first finishes), at most ``window`` futures
    (default ``2 * workers``) are outstanding; the next item is taken from the lazy
    input only when one of them completes.

    Bounds: threads (``workers``), calls in flight (``min(workers, window)``),
    futures alive and items held from the input (``window``).

    Does NOT bound: the result list (one slot per item, O(N)), nor the memory one
    call uses.  Threads share one GIL, so this suits blocking I/O, not CPU work.

    Results come back in input order.  ``on_error="raise"`` cancels the futures
    that have not started, waits for the running ones and raises the first error
    observed (ties go to the earlier item); ``on_error="return"`` puts the exception
    in that item's slot.  The executor is always shut down and its threads joined,
    also when the input itself raises or the caller is interrupted.
    """
    workers, window, policy = _check(workers, window, on_error)
    return _run_windowed(ThreadPoolExecutor(max_workers=workers), items, fn, window, policy)


@overload
def process_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = ...,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
def process_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = ...,
    on_error: OnError,
) -> list[R | BaseException]: ...
def process_pool(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    window: int | None = None,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run CPU-bound ``fn`` over ``items`` on ``workers`` processes.

    Same bounded submission window as ``thread_pool`` (default ``2 * workers``), on
    a ProcessPoolExecutor.  ``fn``, the items and the results must be picklable
    (``fn`` a module-level function), since they cross process boundaries.

    Bounds: processes (``workers``), calls in flight, futures alive and items held
    from the input (``window``).

    Does NOT bound: the result list (O(N)), nor each process's own memory, which
    is paid ``workers`` times over (a copy of the interpreter each).

    Results come back in input order.  ``on_error="raise"`` cancels the futures
    that have not started, waits for the running ones and raises the first error
    observed; ``on_error="return"`` puts the exception in that item's slot.  A
    worker process that dies (e.g. killed for memory) shows up as BrokenProcessPool.
    The executor is always shut down and its processes joined.
    """
    workers, window, policy = _check(workers, window, on_error)
    return _run_windowed(ProcessPoolExecutor(max_workers=workers), items, fn, window, policy)


def _check(workers: object, window: object, on_error: object) -> tuple[int, int, OnError]:
    workers = check_count("workers", workers)
    window = 2 * workers if window is None else check_count("window", window)
    return workers, window, check_on_error(on_error)


def _run_windowed(
    executor: Executor,
    items: Iterable[T],
    fn: Callable[[T], R],
    window: int,
    on_error: OnError,
) -> list[R | BaseException]:
    results: Slots[R | BaseException] = Slots()
    in_flight: dict[Future[R], int] = {}
    # Set from a worker thread as soon as a call fails, so that "raise" stops
    # submitting at once rather than only when the window next fills up.
    failed = threading.Event()

    def note(future: Future[R]) -> None:
        if not future.cancelled() and future.exception() is not None:
            failed.set()

    def harvest(done: set[Future[R]]) -> None:
        for future in sorted(done, key=in_flight.__getitem__):
            error = future.exception()
            if error is not None and not (on_error == "return" and isinstance(error, Exception)):
                raise error
            results.fill(in_flight.pop(future), future.result() if error is None else error)

    try:
        for item in items:
            if failed.is_set() and on_error == "raise":
                harvest(wait(in_flight, timeout=0).done)
            while len(in_flight) >= window:
                harvest(wait(in_flight, return_when=FIRST_COMPLETED).done)
            future = executor.submit(fn, item)
            in_flight[future] = results.reserve()
            future.add_done_callback(note)
        while in_flight:
            harvest(wait(in_flight, return_when=FIRST_COMPLETED).done)
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise
    finally:
        # Joins the threads/processes: nothing outlives the call, even on error.
        executor.shutdown(wait=True, cancel_futures=True)
    return results.collect()
