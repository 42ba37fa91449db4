"""Property: for any latencies and bound, bounded fixes keep order and the bound."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_boundedload.fixes import batched, memory_aware, semaphore_gather, streaming, worker_pool


async def _run(fix: str, items: range, worker: Any, n: int) -> list[Any]:
    if fix == "streaming":
        async with aclosing(streaming(items, worker, limit=n, ordered=True)) as stream:
            return [result async for result in stream]
    if fix == "semaphore_gather":
        return await semaphore_gather(items, worker, limit=n)
    if fix == "worker_pool":
        return await worker_pool(items, worker, workers=n)
    if fix == "batched":
        return await batched(items, worker, batch_size=n)
    return await memory_aware(items, worker, limit=n, max_rss=1 << 60)


@settings(max_examples=60, deadline=None)
@given(
    fix=st.sampled_from(
        ["streaming", "semaphore_gather", "worker_pool", "batched", "memory_aware"]
    ),
    turns=st.lists(st.integers(min_value=0, max_value=6), max_size=40),
    n=st.integers(min_value=1, max_value=8),
)
def test_order_and_bound_for_any_latencies(fix: str, turns: list[int], n: int) -> None:
    running = 0
    max_running = 0

    async def worker(item: int) -> int:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        for _ in range(turns[item]):
            await asyncio.sleep(0)
        running -= 1
        return -item

    async def main() -> list[Any]:
        results = await _run(fix, range(len(turns)), worker, n)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return results

    assert asyncio.run(main()) == [-i for i in range(len(turns))]
    assert max_running <= n
    assert (max_running > 0) == bool(turns)
