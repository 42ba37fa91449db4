"""The contract every async fix shares: order, errors, cancellation, laziness, bounds.

Each fix is driven through an adapter with one signature, ``run(items, worker, n,
**kwargs) -> list``, where ``n`` is the fix's own bound (limit, workers, batch size).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing
from typing import Any

import pytest

from pytest_boundedload.fixes import (
    batched,
    memory_aware,
    process_pool,
    semaphore_gather,
    streaming,
    thread_pool,
    worker_pool,
)

Run = Callable[..., Awaitable[list[Any]]]

HUGE_RSS = 1 << 60  # far above any real RSS: memory_aware then acts as a plain pool


async def _streamed(items: Any, worker: Any, n: int, **kwargs: Any) -> list[Any]:
    async with aclosing(streaming(items, worker, limit=n, ordered=True, **kwargs)) as stream:
        return [result async for result in stream]


BOUNDED: dict[str, Run] = {
    "worker_pool": lambda items, w, n, **kw: worker_pool(items, w, workers=n, **kw),
    "batched": lambda items, w, n, **kw: batched(items, w, batch_size=n, **kw),
    "batched_limit": lambda items, w, n, **kw: batched(items, w, batch_size=2 * n, limit=n, **kw),
    "memory_aware": lambda items, w, n, **kw: memory_aware(
        items, w, limit=n, max_rss=HUGE_RSS, **kw
    ),
    "streaming": _streamed,
}
ALL: dict[str, Run] = {
    "semaphore_gather": lambda items, w, n, **kw: semaphore_gather(items, w, limit=n, **kw),
    **BOUNDED,
}
all_fixes = pytest.mark.parametrize("run", ALL.values(), ids=ALL.keys())
bounded_fixes = pytest.mark.parametrize("run", BOUNDED.values(), ids=BOUNDED.keys())
# The most live tasks each bounded fix has with n = 4, the test's own task included:
# the workers and the producer; a batch; the calls in flight (memory_aware, streaming).
LIVE_TASKS: dict[Run, int] = {
    BOUNDED["worker_pool"]: 4 + 2,
    BOUNDED["batched"]: 4 + 1,
    BOUNDED["batched_limit"]: 2 * 4 + 1,
    BOUNDED["memory_aware"]: 4 + 1,
    BOUNDED["streaming"]: 4 + 1,
}


class Boom(Exception):
    pass


class Probe:
    """A worker that records concurrency and finishes in a scrambled order.

    Item ``i`` yields to the loop a pseudo-random number of times, so completion
    order differs from input order without any real sleeping.
    """

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.max_tasks = 0
        self.finished: list[int] = []

    async def __call__(self, item: int) -> int:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.max_tasks = max(self.max_tasks, len(asyncio.all_tasks()))
        try:
            for _ in range(random.Random(item).randrange(8)):
                await asyncio.sleep(0)
        finally:
            self.running -= 1
        self.finished.append(item)
        return item * 10


class Tracker:
    """An input generator that records how far ahead of the finished work it was read."""

    def __init__(self) -> None:
        self.consumed = 0
        self.completed = 0
        self.max_ahead = 0

    def items(self, count: int | None = None) -> Iterator[int]:
        for item in itertools.count() if count is None else range(count):
            self.consumed += 1
            self.max_ahead = max(self.max_ahead, self.consumed - self.completed)
            yield item

    async def worker(self, item: int) -> int:
        await asyncio.sleep(0)
        self.completed += 1
        return item


async def _async_items(items: Iterable[int]) -> AsyncIterator[int]:
    for item in items:
        await asyncio.sleep(0)
        yield item


def _only_me() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    assert current is not None
    return {current}


@pytest.mark.asyncio
@all_fixes
@pytest.mark.parametrize("source", ["sync", "async"])
async def test_results_in_input_order_within_limit(run: Run, source: str) -> None:
    probe = Probe()
    items = range(60) if source == "sync" else _async_items(range(60))
    assert await run(items, probe, 4) == [i * 10 for i in range(60)]
    assert probe.finished != sorted(probe.finished), "completion order must differ"
    # From a plain iterable every fix fills its limit. An async source costs a loop turn
    # per item, and the fixes that admit one item per turn (memory_aware, streaming)
    # then stay one short of it (the calls' yields are seeded: the same every run).
    one_per_turn = run in (BOUNDED["memory_aware"], BOUNDED["streaming"])
    assert probe.max_running == (3 if source == "async" and one_per_turn else 4)


@pytest.mark.asyncio
@bounded_fixes
async def test_live_tasks_stay_o_limit(run: Run) -> None:
    probe = Probe()
    await run(range(300), probe, 4)
    assert probe.max_tasks == LIVE_TASKS[run]
    assert probe.max_running == 4


@pytest.mark.asyncio
async def test_semaphore_gather_still_makes_one_task_per_item() -> None:
    probe = Probe()
    await semaphore_gather(range(300), probe, limit=4)
    assert probe.max_running == 4
    # One task per item, all created before the first call runs, and the test's own.
    assert probe.max_tasks == 300 + 1


@pytest.mark.asyncio
@bounded_fixes
async def test_input_consumed_lazily(run: Run) -> None:
    tracker = Tracker()
    await run(tracker.items(1000), tracker.worker, 4)
    assert tracker.consumed == 1000
    assert tracker.max_ahead <= 2 * 4 + 1


@pytest.mark.asyncio
@bounded_fixes
async def test_endless_input_stops_at_the_error(run: Run) -> None:
    tracker = Tracker()

    async def worker(item: int) -> int:
        if item == 50:
            raise Boom(item)
        return await tracker.worker(item)

    with pytest.raises(Boom):
        await run(tracker.items(), worker, 4)
    assert tracker.consumed <= 50 + 4 * 4
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
async def test_semaphore_gather_reads_the_whole_input_first() -> None:
    tracker = Tracker()
    await semaphore_gather(tracker.items(1000), tracker.worker, limit=4)
    assert tracker.max_ahead == 1000


@pytest.mark.asyncio
@all_fixes
async def test_raise_cancels_the_rest_and_raises_the_first_error(run: Run) -> None:
    five_failed = asyncio.Event()
    never = asyncio.Event()
    cancelled: list[int] = []

    async def worker(item: int) -> int:
        try:
            if item == 5:
                five_failed.set()
                raise Boom(5)
            if item == 2:
                # Fails too, but strictly later: the error raised must be item 5's.
                await five_failed.wait()
                for _ in range(5):
                    await asyncio.sleep(0)
                raise Boom(2)
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    with pytest.raises(Boom) as caught:
        await run(range(20), worker, 8)
    assert caught.value.args == (5,)
    assert 0 in cancelled
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
@all_fixes
async def test_return_puts_the_exception_in_the_slot(run: Run) -> None:
    async def worker(item: int) -> int:
        await asyncio.sleep(0)
        if item % 3 == 0:
            raise Boom(item)
        return item * 10

    results = await run(range(20), worker, 4, on_error="return")
    assert len(results) == 20
    for item, result in enumerate(results):
        if item % 3 == 0:
            assert isinstance(result, Boom)
            assert result.args == (item,)
        else:
            assert result == item * 10


@pytest.mark.asyncio
@all_fixes
@pytest.mark.parametrize("source", ["sync", "async-stalled"])
async def test_caller_cancellation_leaves_no_task_behind(run: Run, source: str) -> None:
    never = asyncio.Event()
    ready = asyncio.Event()
    started: list[int] = []
    cancelled: list[int] = []

    async def worker(item: int) -> int:
        started.append(item)
        if len(started) == 3 and source == "sync":
            ready.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    async def stalled() -> AsyncIterator[int]:
        # Three items, then an input that never produces: cancel while inside it.
        # (batched with a batch of 6 is still filling its batch: nothing started.)
        for item in range(3):
            yield item
        ready.set()
        await never.wait()
        yield 3

    if source == "sync":
        task = asyncio.ensure_future(run(range(100), worker, 3))
    else:
        # A bound above 3 makes every fix ask for the 4th item, and so stall in the input.
        task = asyncio.ensure_future(run(stalled(), worker, 4))
    await asyncio.wait_for(ready.wait(), timeout=10)
    for _ in range(3):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == sorted(started)
    assert asyncio.all_tasks() == _only_me()


@pytest.mark.asyncio
@all_fixes
@pytest.mark.parametrize("source", ["sync", "async"])
async def test_empty_input(run: Run, source: str) -> None:
    probe = Probe()
    assert await run([] if source == "sync" else _async_items([]), probe, 3) == []
    assert probe.max_running == 0


@pytest.mark.asyncio
@all_fixes
async def test_input_error_propagates_even_with_return(run: Run) -> None:
    def broken() -> Iterator[int]:
        yield from range(5)
        raise KeyError("input broke")

    with pytest.raises(KeyError):
        await run(broken(), Probe(), 3, on_error="return")
    assert asyncio.all_tasks() == _only_me()


# --- argument checking ------------------------------------------------------------


async def _noop(item: int) -> int:
    return item


def _untouched() -> Iterator[int]:
    raise AssertionError("the input must not be read before the arguments are checked")
    yield 0  # pragma: no cover


async def _call(fix: str, **overrides: Any) -> Any:
    """Call ``fix`` with valid arguments except for ``overrides``."""
    if fix in ("thread_pool", "process_pool"):
        pool = thread_pool if fix == "thread_pool" else process_pool
        return pool(_untouched(), abs, **{"workers": 2, **overrides})
    if fix == "streaming":
        async for _ in streaming(_untouched(), _noop, **{"limit": 2, **overrides}):
            pass
        return None
    defaults: dict[str, tuple[Callable[..., Awaitable[Any]], dict[str, Any]]] = {
        "semaphore_gather": (semaphore_gather, {"limit": 2}),
        "worker_pool": (worker_pool, {"workers": 2}),
        "batched": (batched, {"batch_size": 2}),
        "memory_aware": (memory_aware, {"limit": 2, "max_rss": HUGE_RSS}),
    }
    function, kwargs = defaults[fix]
    return await function(_untouched(), _noop, **{**kwargs, **overrides})


BOUND_PARAMETERS = [
    ("semaphore_gather", "limit"),
    ("worker_pool", "workers"),
    ("batched", "batch_size"),
    ("batched", "limit"),
    ("memory_aware", "limit"),
    ("streaming", "limit"),
    ("thread_pool", "workers"),
    ("thread_pool", "window"),
    ("process_pool", "workers"),
    ("process_pool", "window"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fix", "parameter"), BOUND_PARAMETERS)
@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (-1, "-1"), (True, "True"), (1.5, "1.5"), ("3", "'3'")]
)
async def test_bad_bound_is_a_clear_value_error(
    fix: str, parameter: str, value: object, shown: str
) -> None:
    with pytest.raises(ValueError) as caught:
        await _call(fix, **{parameter: value})
    assert str(caught.value) == f"{parameter} must be an int >= 1, got {shown}"


@pytest.mark.asyncio
@pytest.mark.parametrize("fix", sorted({fix for fix, _ in BOUND_PARAMETERS}))
async def test_bad_on_error_is_a_value_error(fix: str) -> None:
    with pytest.raises(ValueError) as caught:
        await _call(fix, on_error="ignore")
    assert str(caught.value) == "on_error must be 'raise' or 'return', got 'ignore'"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fix", "overrides", "message"),
    [
        ("batched", {"pause": -1}, "pause must be a number >= 0, got -1"),
        ("batched", {"pause": float("nan")}, "pause must be a number >= 0, got nan"),
        ("memory_aware", {"poll": 0}, "poll must be a number > 0, got 0"),
        ("memory_aware", {"max_rss": 0}, "invalid max_rss=0 in memory_aware(): must be greater than zero"),
        (
            "memory_aware",
            {"max_rss": "12 parsecs"},
            "invalid max_rss='12 parsecs' in memory_aware(): unknown unit 'parsecs'"
            " (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
        ),
        (
            "memory_aware",
            {"max_rss": 1.5},
            "invalid max_rss=1.5 in memory_aware(): expected an int of bytes or a string like '512 MiB'",
        ),
        (
            "memory_aware",
            {"max_rss": 100, "resume_below": 101},
            "resume_below must be between 0 and max_rss (100), got 101",
        ),
    ],
)
async def test_other_bad_arguments(fix: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        await _call(fix, **overrides)
    assert str(caught.value) == message


@pytest.mark.asyncio
async def test_items_must_be_iterable() -> None:
    with pytest.raises(TypeError, match="items must be an iterable or an async iterable"):
        await worker_pool(42, _noop, workers=2)  # type: ignore[call-overload]
