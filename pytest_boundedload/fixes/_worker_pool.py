"""Fix 2: a fixed crew of worker tasks pulling from a bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Literal, overload

from ._common import (
    ItemSource,
    OnError,
    R,
    Slots,
    T,
    call_worker,
    check_count,
    check_on_error,
    supervise,
)


@overload
async def worker_pool(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    workers: int,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
async def worker_pool(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    workers: int,
    on_error: OnError,
) -> list[R | BaseException]: ...
async def worker_pool(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    workers: int,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run ``worker`` over ``items`` with ``workers`` long-lived tasks.

    A producer task feeds a queue of size ``workers`` from the lazy input and blocks
    when it is full, so at most about ``2 * workers + 1`` items have been taken from
    the input and not yet finished.

    Bounds: work in flight (``workers``), live tasks (``workers`` + the producer +
    the caller) and the memory held by pending items, all O(workers).

    Does NOT bound: the result list, which keeps one slot per item (O(N)); use
    ``streaming`` to hand results on as they finish.  Nor the memory one worker
    call uses.

    Results come back in input order.  ``on_error="raise"`` cancels and awaits the
    producer and every worker, then raises the first error; ``on_error="return"``
    puts the exception in that item's slot.  An error raised by the input itself is
    always raised, as it belongs to no item.
    """
    workers = check_count("workers", workers)
    policy = check_on_error(on_error)
    source = ItemSource(items)
    # A None job tells one worker to stop; one is queued per worker after the input.
    queue: asyncio.Queue[tuple[int, T] | None] = asyncio.Queue(maxsize=workers)
    results: Slots[R | BaseException] = Slots()

    async def produce() -> None:
        async for item in source:
            await queue.put((results.reserve(), item))
        for _ in range(workers):
            await queue.put(None)

    async def consume() -> None:
        while (job := await queue.get()) is not None:
            index, item = job
            results.fill(index, await call_worker(worker, item, policy))

    tasks = [asyncio.ensure_future(produce())]
    tasks += [asyncio.ensure_future(consume()) for _ in range(workers)]
    await supervise(tasks)
    return results.collect()
