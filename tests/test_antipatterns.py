"""The anti-patterns really are unbounded, and still return results in input order."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import pytest

from pytest_boundedload.antipatterns import (
    process_per_task,
    thread_per_task,
    unbounded_executor,
    unbounded_gather,
)


class Boom(Exception):
    pass


# Module-level so that process_per_task can pickle them where fork is unavailable.
def square(item: int) -> int:
    time.sleep(random.Random(item).random() * 0.002)
    return item * item


def pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def fail_on_odd(item: int) -> int:
    if item % 2:
        raise Boom(item)
    return item


def die(item: int) -> int:
    os._exit(3)


@pytest.mark.asyncio
async def test_unbounded_gather_order() -> None:
    async def worker(item: int) -> int:
        for _ in range(50 - item):  # later items finish first
            await asyncio.sleep(0)
        return item * 2

    assert await unbounded_gather(range(50), worker) == [i * 2 for i in range(50)]


@pytest.mark.asyncio
async def test_unbounded_gather_runs_everything_at_once() -> None:
    n = 200
    everyone_in = asyncio.Event()
    running = 0
    max_running = 0

    async def worker(item: int) -> int:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        if running == n:
            everyone_in.set()
        await everyone_in.wait()  # only opens once all n calls are running together
        running -= 1
        return item

    results = await asyncio.wait_for(unbounded_gather(range(n), worker), timeout=10)
    assert results == list(range(n))
    assert max_running == n


@pytest.mark.asyncio
async def test_unbounded_gather_empty() -> None:
    async def worker(item: int) -> int:
        return item

    assert await unbounded_gather([], worker) == []


def test_thread_per_task_starts_a_thread_per_item() -> None:
    n = 50
    before = threading.active_count()
    barrier = threading.Barrier(n, timeout=10)  # breaks unless all n run at once
    seen: list[int] = []

    def fn(item: int) -> int:
        seen.append(threading.active_count())
        barrier.wait()
        return square(item)

    assert thread_per_task(range(n), fn) == [i * i for i in range(n)]
    # The last to arrive at the barrier sees all n threads alive, and those from before.
    assert max(seen) == before + n
    assert threading.active_count() == before


def test_thread_per_task_raises_the_first_error_after_joining() -> None:
    before = threading.active_count()
    with pytest.raises(Boom) as caught:
        thread_per_task(range(10), fail_on_odd)
    assert caught.value.args == (1,)
    assert threading.active_count() == before
    assert thread_per_task([], square) == []


def test_unbounded_executor_sizes_the_pool_by_the_input() -> None:
    n = 30
    before = threading.active_count()
    barrier = threading.Barrier(n, timeout=10)

    def fn(item: int) -> int:
        barrier.wait()
        return square(item)

    assert unbounded_executor((i for i in range(n)), fn) == [i * i for i in range(n)]
    assert threading.active_count() == before
    assert unbounded_executor([], fn) == []
    with pytest.raises(Boom):
        unbounded_executor(range(4), fail_on_odd)


def test_process_per_task_one_process_per_item() -> None:
    results = process_per_task(range(6), pid_of)
    assert [item for item, _ in results] == list(range(6))
    pids = {pid for _, pid in results}
    assert len(pids) == 6
    assert os.getpid() not in pids


def test_process_per_task_order_errors_and_empty() -> None:
    assert process_per_task(range(8), square) == [i * i for i in range(8)]
    assert process_per_task([], square) == []
    with pytest.raises(Boom) as caught:
        process_per_task(range(5), fail_on_odd)
    assert caught.value.args == (1,)


def test_process_per_task_child_dying_is_reported() -> None:
    with pytest.raises(RuntimeError, match="exited"):
        process_per_task([1], die)
