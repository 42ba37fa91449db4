"""Plumbing shared by the fixes: argument checks, lazy item pulling, cancellation.

Every fix promises the same contract (lazy input, input-order results, ``on_error``,
no task left behind), so the fiddly parts of that contract live here once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
R = TypeVar("R")
F = TypeVar("F", bound="asyncio.Future[Any]")

OnError = Literal["raise", "return"]


def check_count(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ValueError naming ``name``."""
    # bool is an int subclass, but `limit=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_seconds(name: str, value: object, *, allow_zero: bool) -> float:
    """Return ``value`` as float if it is a finite, non-negative (or positive) number."""
    bound = ">= 0" if allow_zero else "> 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


def check_on_error(value: object) -> OnError:
    """Return ``value`` if it is a known ``on_error`` policy."""
    if value == "raise" or value == "return":
        return value
    raise ValueError(f"on_error must be 'raise' or 'return', got {value!r}")


class ItemSource(AsyncIterator[T], Generic[T]):
    """Pull items one at a time from a sync or async iterable.

    Never materialises the input: a fix asks for the next item only when it has room
    for it, which is what keeps an endless generator usable.  The caller's iterator is
    not closed here; whoever created it owns it.
    """

    __slots__ = ("_async", "_sync")

    def __init__(self, items: Iterable[T] | AsyncIterable[T]) -> None:
        self._async: AsyncIterator[T] | None = None
        self._sync: Iterator[T] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        elif isinstance(items, Iterable):
            self._sync = iter(items)
        else:
            raise TypeError(
                f"items must be an iterable or an async iterable, got {type(items).__name__}"
            )

    def __aiter__(self) -> ItemSource[T]:
        return self

    async def __anext__(self) -> T:
        if self._async is not None:
            return await anext(self._async)
        assert self._sync is not None
        try:
            return next(self._sync)
        except StopIteration:
            raise StopAsyncIteration from None


async def call_worker(
    worker: Callable[[T], Awaitable[R]], item: T, on_error: OnError
) -> R | BaseException:
    """Await ``worker(item)``; under ``on_error="return"`` an Exception becomes the result.

    Only ``Exception`` is captured: cancellation, KeyboardInterrupt and SystemExit must
    keep propagating or the caller could never stop the fix.
    """
    if on_error == "raise":
        return await worker(item)
    try:
        return await worker(item)
    except Exception as exc:
        return exc


def _retrieve(task: asyncio.Future[Any]) -> None:
    # Marks a failure as seen so asyncio does not log "exception was never retrieved"
    # for errors that lost the race to be the one re-raised.
    if not task.cancelled():
        task.exception()


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and return only once every one of them has finished.

    If the caller is cancelled again meanwhile, keep waiting anyway (otherwise the
    tasks would outlive the fix) and re-raise the cancellation afterwards.
    """
    for task in tasks:
        task.cancel()
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            interrupted = True
    for task in tasks:
        _retrieve(task)
    if interrupted:
        raise asyncio.CancelledError


def failure_of(task: asyncio.Future[Any]) -> BaseException | None:
    """The exception a finished task ended with (a CancelledError if it was cancelled)."""
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception()


async def supervise(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Wait for every task; on the first failure cancel the others and re-raise it.

    "First" means first in time: done callbacks run in completion order, so the first
    task recorded in ``failed`` is the one that failed earliest.  If the caller is
    cancelled, every task is cancelled and awaited before the cancellation propagates.
    """
    if not tasks:
        return
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    failed: list[asyncio.Future[Any]] = []
    remaining = len(tasks)

    def on_done(task: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if failure_of(task) is not None:
            failed.append(task)
        if (failed or remaining == 0) and not woken.done():
            woken.set_result(None)

    for task in tasks:
        task.add_done_callback(on_done)
    try:
        await woken
    except BaseException:
        await cancel_and_wait(tasks)
        raise
    finally:
        for task in tasks:
            task.remove_done_callback(on_done)
    if failed:
        error = failure_of(failed[0])
        await cancel_and_wait(tasks)
        assert error is not None
        raise error


def first_failure(done: Iterable[F], index_of: Mapping[F, int]) -> BaseException | None:
    """Among tasks that finished together, the failure of the earliest input item."""
    first: F | None = None
    for task in done:
        if failure_of(task) is not None and (first is None or index_of[task] < index_of[first]):
            first = task
    return None if first is None else failure_of(first)


class Slots(Generic[R]):
    """Results in input order: one list slot per admitted item.

    A slot costs 8 bytes where a dict keyed by index costs about 100 (entry, table,
    index int): that is the difference between a result list adding ~36 B per task
    and one adding ~130, which the scaling fit would see as growth.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: list[Any] = []

    def reserve(self) -> int:
        """Take the next slot; returns its index."""
        self._values.append(None)
        return len(self._values) - 1

    def fill(self, index: int, value: R) -> None:
        """Put the result of the item admitted as ``index``."""
        self._values[index] = value

    def collect(self) -> list[R]:
        """The results, once every slot is filled."""
        return self._values
