"""Fix 1: a Semaphore around each call, then gather: the fix most code reaches for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Literal, overload

from ._common import (
    ItemSource,
    OnError,
    R,
    T,
    call_worker,
    cancel_and_wait,
    check_count,
    check_on_error,
)


@overload
async def semaphore_gather(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
async def semaphore_gather(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    on_error: OnError,
) -> list[R | BaseException]: ...
async def semaphore_gather(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run ``worker`` over ``items`` with at most ``limit`` calls in flight.

    Bounds: the work in flight (``limit`` workers past the semaphore at once).

    Does NOT bound: tasks or memory.  It creates one task per item before the first
    one runs, so the whole input is consumed up front and N items cost N tasks plus
    N parked coroutines (O(N) memory).  It is the usual fix seen in the wild and it
    is fine for a few thousand items; for large or endless inputs use
    ``worker_pool`` or ``streaming``, which keep tasks and memory O(limit).

    Results come back in input order.  ``on_error="raise"`` cancels and awaits every
    other task, then raises the first error; ``on_error="return"`` puts the
    exception in that item's slot.
    """
    limit = check_count("limit", limit)
    policy = check_on_error(on_error)
    gate = asyncio.Semaphore(limit)

    async def gated(item: T) -> R | BaseException:
        async with gate:
            return await call_worker(worker, item, policy)

    tasks: list[asyncio.Task[R | BaseException]] = []
    try:
        async for item in ItemSource(items):
            tasks.append(asyncio.ensure_future(gated(item)))
        # gather re-raises the first failure but leaves the other tasks running, so
        # the except clause below is what actually makes "raise" cancel the rest.
        return list(await asyncio.gather(*tasks))
    except BaseException:
        await cancel_and_wait(tasks)
        raise
