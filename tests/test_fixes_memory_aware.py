"""memory_aware(): admission on this process's RSS, with hysteresis and no deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from pytest_boundedload.fixes import memory_aware


class Probe:
    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.at_start: list[int] = []  # calls in flight, this one included, at each start

    async def __call__(self, item: int) -> int:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.at_start.append(self.running)
        try:
            for _ in range(item % 5 + 30):  # long enough for admission to fill up
                await asyncio.sleep(0)
        finally:
            self.running -= 1
        return item


def _current_rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.mark.asyncio
async def test_far_above_rss_it_is_a_plain_bounded_pool() -> None:
    probe = Probe()
    results = await memory_aware(range(100), probe, limit=6, max_rss=_current_rss() * 1000)
    assert results == list(range(100))
    assert probe.max_running == 6


@pytest.mark.asyncio
async def test_already_over_budget_degrades_to_one_at_a_time() -> None:
    probe = Probe()
    results = await memory_aware(range(30), probe, limit=6, max_rss=_current_rss() // 2)
    assert results == list(range(30))
    assert probe.max_running == 1


def _rss_of(probe: Probe) -> Callable[[], int]:
    """A memory reading that grows by 100 for every call in flight."""
    return lambda: 1000 + 100 * probe.running


@pytest.mark.asyncio
async def test_hysteresis_waits_for_resume_below() -> None:
    probe = Probe()
    # Shuts at 4 in flight (RSS 1400 >= 1350); reopens only under 1150, i.e. at <= 1.
    results = await memory_aware(
        range(60), probe, limit=10, max_rss=1350, resume_below=1150, poll=0.0005, rss=_rss_of(probe)
    )
    assert results == list(range(60))
    assert probe.max_running == 4
    after_full = [probe.at_start[i + 1] for i, seen in enumerate(probe.at_start[:-1]) if seen == 4]
    assert after_full, "the gate never shut"
    assert all(seen <= 2 for seen in after_full)


@pytest.mark.asyncio
async def test_default_resume_below_is_ninety_percent() -> None:
    probe = Probe()
    # max_rss 2000 shuts at 10 in flight; 90% is 1800, so it reopens at <= 7 in flight.
    await memory_aware(range(200), probe, limit=20, max_rss=2000, poll=0.0005, rss=_rss_of(probe))
    assert probe.max_running == 10
    after_full = [probe.at_start[i + 1] for i, seen in enumerate(probe.at_start[:-1]) if seen == 10]
    assert after_full
    assert all(seen <= 8 for seen in after_full)


@pytest.mark.asyncio
async def test_creates_tasks_lazily() -> None:
    most = 0

    async def worker(item: int) -> int:
        nonlocal most
        most = max(most, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return item

    await memory_aware(range(500), worker, limit=3, max_rss=1 << 60)
    assert most <= 3 + 1


@pytest.mark.asyncio
async def test_raise_while_memory_throttled_leaves_nothing_behind() -> None:
    async def worker(item: int) -> int:
        await asyncio.sleep(0)
        if item == 7:
            raise ValueError(item)
        return item

    with pytest.raises(ValueError):
        await memory_aware(range(100), worker, limit=4, max_rss=1)
    current: Any = asyncio.current_task()
    assert asyncio.all_tasks() == {current}


@pytest.mark.asyncio
async def test_size_strings_are_accepted() -> None:
    probe = Probe()
    results = await memory_aware(range(20), probe, limit=3, max_rss="1 TiB", resume_below="900 GiB")
    assert results == list(range(20))
    assert probe.max_running == 3
