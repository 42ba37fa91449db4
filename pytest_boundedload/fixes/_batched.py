"""Fix 3: take a fixed-size batch from the input, finish it, then take the next."""

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
    check_count,
    check_on_error,
    check_seconds,
    supervise,
)


@overload
async def batched(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    batch_size: int,
    limit: int | None = ...,
    pause: float = ...,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
async def batched(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    batch_size: int,
    limit: int | None = ...,
    pause: float = ...,
    on_error: OnError,
) -> list[R | BaseException]: ...
async def batched(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    batch_size: int,
    limit: int | None = None,
    pause: float = 0.0,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run ``worker`` over ``items`` one batch of ``batch_size`` items at a time.

    Each batch is pulled lazily from the input, run concurrently (at most ``limit``
    calls at once inside the batch when given), and finished before the next batch
    is pulled.  ``pause`` seconds are slept between batches, e.g. to respect a rate
    limit; with the default 0 there is no sleep at all.

    Bounds: work in flight (``limit`` or ``batch_size``), live tasks (one per item of
    the current batch) and items held from the input (``batch_size``).

    Does NOT bound: the result list (one slot per item, O(N)), nor the memory one
    call uses.  It also wastes capacity: one slow item holds up its whole batch, so
    ``worker_pool`` gives better throughput for uneven work.

    Results come back in input order.  ``on_error="raise"`` cancels and awaits the
    rest of the batch, then raises the first error; ``on_error="return"`` puts the
    exception in that item's slot.
    """
    batch_size = check_count("batch_size", batch_size)
    if limit is not None:
        limit = check_count("limit", limit)
    pause = check_seconds("pause", pause, allow_zero=True)
    policy = check_on_error(on_error)
    # Inside one batch a semaphore is enough: the batch already bounds the task count.
    gate = asyncio.Semaphore(limit) if limit is not None and limit < batch_size else None

    async def run(item: T) -> R | BaseException:
        if gate is None:
            return await call_worker(worker, item, policy)
        async with gate:
            return await call_worker(worker, item, policy)

    source = ItemSource(items)
    results: list[R | BaseException] = []
    while batch := await _take(source, batch_size):
        if results and pause:
            await asyncio.sleep(pause)
        tasks = [asyncio.ensure_future(run(item)) for item in batch]
        await supervise(tasks)
        results.extend(task.result() for task in tasks)
        short = len(batch) < batch_size
        del tasks, batch  # this batch's items go before the next batch is taken
        if short:
            break  # a short batch means the input ran out; don't poll it again
    return results


async def _take(source: ItemSource[T], count: int) -> list[T]:
    """Up to ``count`` next items; an empty list once the input is exhausted."""
    batch: list[T] = []
    async for item in source:
        batch.append(item)
        if len(batch) == count:
            break
    return batch
