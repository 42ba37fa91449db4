"""streaming(): results handed on as they finish, memory O(limit) including results."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import pytest

from pytest_boundedload.fixes import streaming


class Boom(Exception):
    pass


class Counted:
    """An input that counts how many items were taken from it."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.consumed = 0

    def __iter__(self) -> Iterator[int]:
        for item in range(self.count):
            self.consumed += 1
            yield item


async def scrambled(item: int) -> int:
    for _ in range(random.Random(item).randrange(8)):
        await asyncio.sleep(0)
    return item


def _only_me() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    assert current is not None
    return {current}


@pytest.mark.asyncio
async def test_unordered_yields_in_completion_order() -> None:
    results = [result async for result in streaming(range(100), scrambled, limit=5)]
    assert sorted(results) == list(range(100))
    assert results != list(range(100)), "completion order must differ for this to mean anything"


@pytest.mark.asyncio
async def test_ordered_yields_in_input_order() -> None:
    stream = streaming(range(100), scrambled, limit=5, ordered=True)
    assert [result async for result in stream] == list(range(100))


@pytest.mark.asyncio
@pytest.mark.parametrize("ordered", [False, True])
async def test_early_stop_on_a_huge_input(ordered: bool) -> None:
    items = Counted(10_000_000)
    got: list[int] = []
    async with aclosing(streaming(items, scrambled, limit=8, ordered=ordered)) as stream:
        async for result in stream:
            got.append(result)
            if len(got) == 10:
                break
    assert len(got) == 10
    assert items.consumed <= 10 + 8 + 1
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
async def test_break_without_aclose_still_cleans_up() -> None:
    never = asyncio.Event()
    cancelled: list[int] = []

    async def worker(item: int) -> int:
        if item == 0:
            return item
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    async for _ in streaming(range(100), worker, limit=4):
        break
    # The abandoned generator is closed by the loop's async-generator finaliser, in a
    # task of its own: give it a bounded number of turns to run.
    for _ in range(1000):
        if asyncio.all_tasks() == _only_me():
            break
        await asyncio.sleep(0)
    assert asyncio.all_tasks() == _only_me()
    assert sorted(cancelled) == [1, 2, 3]


@pytest.mark.asyncio
async def test_reorder_buffer_is_bounded() -> None:
    # Item 0 is stuck; the items behind it finish at once.  They wait in the reorder
    # buffer, which counts against the limit, so admission must stop at `limit`.
    items = Counted(50)
    release = asyncio.Event()
    started: list[int] = []

    async def worker(item: int) -> int:
        started.append(item)
        if item == 0:
            await release.wait()
        return item

    async def consume() -> list[int]:
        return [result async for result in streaming(items, worker, limit=4, ordered=True)]

    task = asyncio.ensure_future(consume())
    for _ in range(50):
        await asyncio.sleep(0)
    assert started == [0, 1, 2, 3]
    assert items.consumed == 4
    release.set()
    assert await task == list(range(50))


@pytest.mark.asyncio
async def test_unordered_keeps_going_past_a_stuck_item() -> None:
    release = asyncio.Event()

    async def worker(item: int) -> int:
        if item == 0:
            await release.wait()
        return item

    got: list[int] = []
    async with aclosing(streaming(range(50), worker, limit=4)) as stream:
        async for result in stream:
            got.append(result)
            if len(got) == 49:
                release.set()
    assert got[:49] == list(range(1, 50))
    assert got[49] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("ordered", [False, True])
async def test_return_yields_the_exception_in_place(ordered: bool) -> None:
    async def worker(item: int) -> int:
        await scrambled(item)
        if item % 4 == 1:
            raise Boom(item)
        return item

    stream = streaming(range(40), worker, limit=6, ordered=ordered, on_error="return")
    results = [result async for result in stream]
    assert len(results) == 40
    failures = [result for result in results if isinstance(result, Boom)]
    assert sorted(failure.args[0] for failure in failures) == list(range(1, 40, 4))
    if ordered:
        for item, result in enumerate(results):
            assert (result.args[0] if isinstance(result, Boom) else result) == item


@pytest.mark.asyncio
async def test_unordered_raise_stops_everything() -> None:
    never = asyncio.Event()

    async def worker(item: int) -> int:
        if item == 3:
            raise Boom(item)
        await never.wait()
        return item

    with pytest.raises(Boom):
        async for _ in streaming(range(1000), worker, limit=5):
            pass
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
async def test_consumer_error_cancels_in_flight_work() -> None:
    never = asyncio.Event()

    async def worker(item: int) -> int:
        if item:
            await never.wait()
        return item

    with pytest.raises(RuntimeError, match="consumer failed"):
        async with aclosing(streaming(range(10), worker, limit=4)) as stream:
            async for _ in stream:
                raise RuntimeError("consumer failed")
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
async def test_live_tasks_stay_within_limit_while_consumer_is_slow() -> None:
    most = 0

    async def worker(item: int) -> int:
        nonlocal most
        most = max(most, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return item

    async for _ in streaming(range(200), worker, limit=5):
        for _ in range(3):  # a consumer slower than the workers
            await asyncio.sleep(0)
    # The consumer is slow: all 5 slots fill up, and the test's own task.
    assert most == 5 + 1
