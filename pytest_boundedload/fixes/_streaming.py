"""Fix 6: hand results on as they finish instead of collecting them all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
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
    first_failure,
)


@overload
def streaming(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    ordered: bool = ...,
    on_error: Literal["raise"] = ...,
) -> AsyncGenerator[R, None]: ...
@overload
def streaming(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    ordered: bool = ...,
    on_error: OnError,
) -> AsyncGenerator[R | BaseException, None]: ...
async def streaming(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    limit: int,
    ordered: bool = False,
    on_error: OnError = "raise",
) -> AsyncGenerator[R | BaseException, None]:
    """Yield ``worker(item)`` results as they finish, with at most ``limit`` in flight.

    ``ordered=False`` yields each result as soon as it completes.  The bare result
    does not say which item it came from: have the worker return ``(item, value)``
    if you need that.  ``ordered=True`` yields in input order through a reorder
    buffer; the buffer counts against ``limit``, so a slow item stops admission of
    new ones instead of letting finished results pile up behind it.

    Bounds: work in flight and live tasks (``limit``), items held from the input
    and results held (``limit``): memory is O(limit) whatever the input size, as
    long as the consumer does not keep every result itself.

    Does NOT bound: the memory a single call uses, nor how long results wait for a
    slow consumer (calls in flight keep running while the consumer is busy).

    ``on_error="raise"`` cancels and awaits the calls in flight, then raises the
    first error from the generator; ``on_error="return"`` yields the exception in
    that item's place.  Arguments are checked on the first iteration, since this
    is an async generator.  Stopping early cancels and awaits everything in flight:
    use ``contextlib.aclosing`` (or call ``aclose()``) so that happens right away
    rather than whenever the abandoned generator is garbage collected.
    """
    limit = check_count("limit", limit)
    policy = check_on_error(on_error)
    source = ItemSource(items)
    in_flight: dict[asyncio.Task[R | BaseException], int] = {}
    # Finished out of order, waiting for an earlier item (ordered=True only).
    buffer: dict[int, R | BaseException] = {}
    admitted = 0
    next_out = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) + len(buffer) < limit:
                try:
                    item = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                task = asyncio.ensure_future(call_worker(worker, item, policy))
                in_flight[task] = admitted
                admitted += 1
            if not in_flight:
                # The buffer is empty here too: the earliest unyielded item is always
                # in flight or buffered, and a buffered one is yielded straight away.
                return
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            error = first_failure(done, in_flight)
            if error is not None:
                raise error
            # Take them out of in_flight before yielding, so a consumer that stops
            # at this yield does not cancel tasks that have already finished.
            finished = sorted(
                ((in_flight.pop(task), task.result()) for task in done), key=lambda pair: pair[0]
            )
            if not ordered:
                for _, result in finished:
                    yield result
                continue
            buffer.update(finished)
            while next_out in buffer:
                yield buffer.pop(next_out)
                next_out += 1
    finally:
        await cancel_and_wait(in_flight)
