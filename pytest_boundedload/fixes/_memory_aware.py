"""Fix 5: admission control on this process's own resident memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Literal, overload

import psutil

from ..units import InvalidValue, parse_size
from ._common import (
    ItemSource,
    OnError,
    R,
    Slots,
    T,
    call_worker,
    cancel_and_wait,
    check_count,
    check_on_error,
    check_seconds,
    first_failure,
)


class _RssGate:
    """Open below ``max_rss``; once shut, stays shut until RSS drops below ``resume_below``.

    The hysteresis stops the gate from flapping open and shut on every allocation
    while RSS hovers around the threshold.  It reads the process's own RSS, not the
    system's used percentage: other processes' memory is not ours to react to.
    """

    def __init__(self, max_rss: int, resume_below: int, rss: Callable[[], int] | None) -> None:
        self._rss = rss if rss is not None else _own_rss()
        self._max_rss = max_rss
        self._resume_below = resume_below
        self._shut = False

    def is_open(self) -> bool:
        rss = self._rss()
        self._shut = rss >= (self._resume_below if self._shut else self._max_rss)
        return not self._shut


def _own_rss() -> Callable[[], int]:
    process = psutil.Process()
    return lambda: int(process.memory_info().rss)


@overload
async def memory_aware(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    max_rss: int | str,
    resume_below: int | str | None = ...,
    poll: float = ...,
    rss: Callable[[], int] | None = ...,
    on_error: Literal["raise"] = ...,
) -> list[R]: ...
@overload
async def memory_aware(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    max_rss: int | str,
    resume_below: int | str | None = ...,
    poll: float = ...,
    rss: Callable[[], int] | None = ...,
    on_error: OnError,
) -> list[R | BaseException]: ...
async def memory_aware(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    max_rss: int | str,
    resume_below: int | str | None = None,
    poll: float = 0.005,
    rss: Callable[[], int] | None = None,
    on_error: OnError = "raise",
) -> list[R] | list[R | BaseException]:
    """Run ``worker`` over ``items``, admitting new work only while memory allows.

    A new item is taken from the lazy input and started only while fewer than
    ``limit`` calls are in flight AND this process's RSS is below ``max_rss`` bytes.
    Once RSS reaches ``max_rss``, admission resumes only after it falls below
    ``resume_below`` (default 90% of ``max_rss``); RSS is re-read every ``poll``
    seconds while waiting.  Sizes are bytes or strings such as ``"512 MiB"``.
    ``rss`` replaces how memory is read (default: this process's RSS through psutil),
    e.g. with a cgroup's usage when the budget is the container's.  With nothing in
    flight an item is always admitted, so a process that is already over budget
    degrades to one call at a time instead of deadlocking.

    Bounds: work in flight and live tasks (``limit``), items held from the input,
    and, as far as finished calls give memory back, the growth of RSS.

    Does NOT bound: the memory a single call uses (one huge item can still blow
    past ``max_rss``), memory that is not returned to the OS after use (RSS may
    stay high and keep the fix at one call at a time), nor the result list (O(N)).

    Results come back in input order.  ``on_error="raise"`` cancels and awaits the
    calls in flight, then raises the first error; ``on_error="return"`` puts the
    exception in that item's slot.
    """
    limit = check_count("limit", limit)
    try:
        max_bytes = parse_size(max_rss, key="max_rss", source="in memory_aware()")
        if resume_below is None:
            resume_bytes = max_bytes * 9 // 10
        else:
            resume_bytes = parse_size(
                resume_below, key="resume_below", source="in memory_aware()", allow_zero=True
            )
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None
    if resume_bytes > max_bytes:
        raise ValueError(
            f"resume_below must be between 0 and max_rss ({max_bytes}), got {resume_below!r}"
        )
    poll = check_seconds("poll", poll, allow_zero=False)
    policy = check_on_error(on_error)

    gate = _RssGate(max_bytes, resume_bytes, rss)
    source = ItemSource(items)
    in_flight: dict[asyncio.Task[R | BaseException], int] = {}
    results: Slots[R | BaseException] = Slots()
    exhausted = False
    try:
        while not exhausted or in_flight:
            has_room = not exhausted and len(in_flight) < limit
            if has_room and (not in_flight or gate.is_open()):
                try:
                    item = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    continue
                task = asyncio.ensure_future(call_worker(worker, item, policy))
                in_flight[task] = results.reserve()
                # Let the new call run up to its first await before RSS is read again:
                # otherwise a whole burst of `limit` items is admitted against an RSS
                # that none of them has had a chance to grow yet.
                await asyncio.sleep(0)
                continue
            # Full, or held back by memory: then poll, since RSS can fall without
            # any of our own calls finishing (e.g. another part of the app frees).
            done, _ = await asyncio.wait(
                in_flight,
                timeout=poll if has_room else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            error = first_failure(done, in_flight)
            if error is not None:
                raise error
            for task in done:
                results.fill(in_flight.pop(task), task.result())
    except BaseException:
        await cancel_and_wait(in_flight)
        raise
    return results.collect()
