"""max_held: the items taken from flood.tasks() and still alive, exact; size= gives each the
memory of a request body from the moment it is taken."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024
N = 2000
LIMIT = 50

HELD = f"""
import asyncio
import concurrent.futures
import threading

import pytest

from pytest_boundedload import fixes

N = {N}
LIMIT = {LIMIT}


def test_unbounded_queue(flood):
    async def main():
        queue = asyncio.Queue()
        for task in flood.tasks(N):
            queue.put_nowait(task)
        while not queue.empty():
            await flood.aworker(queue.get_nowait())

    asyncio.run(main())


@pytest.mark.boundedload(max_held=100)
def test_unbounded_queue_over_the_limit(flood):
    test_unbounded_queue(flood)


def gated(flood):
    # A worker that waits until the gate opens: every item is submitted before any runs.
    gate = threading.Event()

    def work(task):
        gate.wait()
        return flood.worker(task)

    return gate, work


def test_thread_pool_map(flood):
    gate, work = gated(flood)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = pool.map(work, flood.tasks(N))  # submits every item before it returns
        gate.set()
        assert len(list(results)) == N


def test_as_completed(flood):
    gate, work = gated(flood)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(work, task) for task in flood.tasks(N)]
        gate.set()
        assert sum(1 for _ in concurrent.futures.as_completed(futures)) == N


def test_worker_pool(flood):
    asyncio.run(fixes.worker_pool(flood.tasks(N), flood.aworker, workers=LIMIT))


def test_batched(flood):
    asyncio.run(fixes.batched(flood.tasks(N), flood.aworker, batch_size=LIMIT))


def test_streaming(flood):
    async def main():
        async for _ in fixes.streaming(flood.tasks(N), flood.aworker, limit=LIMIT):
            pass

    asyncio.run(main())


def test_thread_pool(flood):
    fixes.thread_pool(flood.tasks(N), flood.worker, workers=LIMIT, window=LIMIT)


def test_queue_with_bodies(flood):
    async def main():
        queue = asyncio.Queue()
        for task in flood.tasks(N, size="16 KiB"):
            queue.put_nowait(task)
        while not queue.empty():
            await flood.aworker(queue.get_nowait())

    asyncio.run(main())


def test_worker_pool_with_bodies(flood):
    asyncio.run(fixes.worker_pool(flood.tasks(N, size="16 KiB"), flood.aworker, workers=LIMIT))
"""


def test_items_held(project: Project) -> None:
    project.pytester.makepyfile(test_held=HELD)
    run = project.run("-p", "no:randomly")
    run.result.assert_outcomes(passed=9, failed=1)
    held = {name: run.figures(name)["max_held"] for name in run.records}
    # What takes every item up front holds all of them at once.
    for name in ("test_unbounded_queue", "test_thread_pool_map", "test_as_completed"):
        assert held[name] == N, (name, held[name])
    # A bounded pipeline holds about its limit.
    for name in ("test_worker_pool", "test_batched", "test_streaming", "test_thread_pool"):
        assert LIMIT <= held[name] <= LIMIT + 4, (name, held[name])
    assert run.violations("test_unbounded_queue_over_the_limit") == [
        f"max_held {N} > limit 100 (synthetic items held high-water)"
    ]
    # 2,000 bodies of 16 KiB wait in the queue at once (31.25 MiB); the pool holds 50.
    # (Some of it may land in memory an earlier test freed: rss_growth is not exact.)
    assert 24 * MiB <= run.figures("test_queue_with_bodies")["rss_growth"] < 48 * MiB
    assert run.figures("test_worker_pool_with_bodies")["rss_growth"] < 8 * MiB
    assert held["test_queue_with_bodies"] == N
