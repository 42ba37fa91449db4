"""batched() and worker_pool(): the shape of the concurrency, not just its bound."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from pytest_boundedload.fixes import batched, worker_pool


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, float]] = []
        self.running = 0
        self.max_running = 0
        self.max_tasks = 0

    async def worker(self, item: int) -> int:
        self.events.append(("start", item, time.monotonic()))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.max_tasks = max(self.max_tasks, len(asyncio.all_tasks()))
        for _ in range(random.Random(item).randrange(6)):
            await asyncio.sleep(0)
        self.running -= 1
        self.events.append(("end", item, time.monotonic()))
        return item


@pytest.mark.asyncio
async def test_a_batch_finishes_before_the_next_starts() -> None:
    log = Log()
    assert await batched(range(23), log.worker, batch_size=5) == list(range(23))
    ended: set[int] = set()
    for kind, item, _ in log.events:
        if kind == "end":
            ended.add(item)
        else:
            assert set(range(item - item % 5)) <= ended, f"item {item} started early"
    assert log.max_running == 5


@pytest.mark.asyncio
async def test_limit_inside_a_batch() -> None:
    log = Log()
    assert await batched(range(40), log.worker, batch_size=10, limit=3) == list(range(40))
    assert log.max_running == 3
    # The whole batch's tasks exist (the limit holds calls back, not tasks), and the test's.
    assert log.max_tasks == 10 + 1


@pytest.mark.asyncio
async def test_pause_between_batches_only(monkeypatch: pytest.MonkeyPatch) -> None:
    log = Log()
    sleep = asyncio.sleep

    async def noted_sleep(delay: float, result: object = None) -> object:
        # The pause is asyncio.sleep(pause): noted where it falls among the calls, and slept.
        if delay:
            log.events.append(("pause", int(delay * 1000), time.monotonic()))
        return await sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", noted_sleep)
    assert await batched(range(9), log.worker, batch_size=3, pause=0.02) == list(range(9))
    # Each batch's calls start, then one 20 ms pause once all of them ended (three, then
    # six), and none before the first batch or after the last.
    order = [(kind, item) for kind, item, _ in log.events if kind != "end"]
    assert order == [
        ("start", 0), ("start", 1), ("start", 2), ("pause", 20),
        ("start", 3), ("start", 4), ("start", 5), ("pause", 20),
        ("start", 6), ("start", 7), ("start", 8),
    ]  # fmt: skip
    pauses = [i for i, (kind, _, _) in enumerate(log.events) if kind == "pause"]
    assert [[kind for kind, _, _ in log.events[:i]].count("end") for i in pauses] == [3, 6]


@pytest.mark.asyncio
async def test_no_pause_before_the_first_or_after_the_last_batch() -> None:
    log = Log()
    # A single batch: any pause at all would blow the timeout.
    done = batched(range(3), log.worker, batch_size=3, pause=60)
    assert await asyncio.wait_for(done, timeout=10) == [0, 1, 2]


@pytest.mark.asyncio
async def test_no_pause_by_default() -> None:
    # A fixed sleep would be visible as extra loop turns: count them.
    turns = 0
    stop = False

    async def ticker() -> None:
        nonlocal turns
        while not stop:
            turns += 1
            await asyncio.sleep(0)

    async def instant(item: int) -> int:
        return item

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    await batched(range(100), instant, batch_size=10)
    stop = True
    await tick
    assert turns < 100


@pytest.mark.asyncio
async def test_worker_pool_runs_exactly_workers_tasks() -> None:
    log = Log()
    assert await worker_pool(range(200), log.worker, workers=7) == list(range(200))
    assert log.max_running == 7
    # 7 workers + the producer + this test's task.
    assert log.max_tasks == 7 + 2
