"""Repeatable memory figures: what earlier work left in the process must not change them."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import weakref
from typing import TYPE_CHECKING

from conftest import free_then_flood

from pytest_boundedload.measure.livetasks import other_threads_loops
from pytest_boundedload.measure.registry import compact_task_registry

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024


def _registry() -> weakref.WeakSet[object]:
    tasks = asyncio.tasks
    registry = getattr(tasks, "_scheduled_tasks", None) or tasks._all_tasks  # type: ignore[attr-defined]
    assert isinstance(registry, weakref.WeakSet)
    return registry


async def _gather(n: int) -> None:
    await asyncio.gather(*[asyncio.sleep(0) for _ in range(n)])


def test_compacting_gives_back_the_table_of_a_large_gather() -> None:
    asyncio.run(_gather(20_000))
    registry = _registry()
    grown = sys.getsizeof(registry.data)  # type: ignore[attr-defined]
    assert grown >= 1 * MiB  # the table of 20,000 tasks stays after they are gone
    saved = compact_task_registry()
    left = sys.getsizeof(registry.data)  # type: ignore[attr-defined]
    assert saved == grown - left
    assert 0 < left < 64 * 1024
    assert _registry() is registry  # the object asyncio's C module holds is the same

    async def still_registered() -> bool:
        task = asyncio.ensure_future(asyncio.sleep(0))
        try:
            return task in asyncio.all_tasks()
        finally:
            await task

    assert asyncio.run(still_registered())
    assert compact_task_registry() == 0  # nothing more to give back


def test_the_old_table_is_freed_when_compacting() -> None:
    asyncio.run(_gather(20_000))
    old = _registry().data  # type: ignore[attr-defined]
    gc.disable()  # what only a collection would free must not count as freed
    try:
        saved = compact_task_registry()
        # The table of 20,000 tasks, less the new one's few entries.
        assert saved == sys.getsizeof(old) - sys.getsizeof(_registry().data) >= 1 * MiB  # type: ignore[attr-defined]
        assert sys.getrefcount(old) == 2  # this name and the argument: nothing else holds it
    finally:
        gc.enable()


def test_looking_for_other_threads_loops_keeps_no_frame_alive() -> None:
    class Held:
        pass

    def caller() -> weakref.ref[Held]:
        held = Held()
        assert other_threads_loops() == []
        return weakref.ref(held)

    gc.disable()
    try:
        assert caller()() is None  # freed on return, not left for a collection to find
    finally:
        gc.enable()


def test_no_compacting_while_a_loop_runs_in_another_thread() -> None:
    asyncio.run(_gather(20_000))
    started, release = threading.Event(), threading.Event()

    async def serve() -> None:
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.001)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert started.wait(10)
        data = _registry().data  # type: ignore[attr-defined]
        assert compact_task_registry() == 0
        assert _registry().data is data  # type: ignore[attr-defined]
    finally:
        release.set()
        thread.join()
    # Once the other loop is gone, the table the 20,000 tasks left is given back.
    assert compact_task_registry() == sys.getsizeof(data) - sys.getsizeof(_registry().data) >= 1 * MiB  # type: ignore[attr-defined]


# Four runs of one flood after a test that left free pymalloc space, and the same flood
# alone: in-process (also with empty pools any object can take) and in a hard_limit child.
IN_PROCESS = free_then_flood(20_000, empty_pools=True)
ISOLATED = free_then_flood(10_000, 'hard_limit="512 MiB"')
SESSIONS = ((), ("-n", "2"))


def _agree(project: Project, source: str, low: int, high: int) -> None:
    """The figure alone is within [low, high], and every run of the sessions within
    10 % or 1 MiB of it."""
    reference, figures = project.alone_and_in_a_session(source, "rss_growth", *SESSIONS)
    assert low <= reference <= high  # about 1.2 KiB a task
    allowed = max(reference // 10, 1 * MiB)
    for label, growth in figures.items():
        assert reference - allowed <= growth <= reference + allowed, (label, growth, reference)


def test_a_flood_measures_the_same_alone_first_and_after_others(project: Project) -> None:
    # Without the free space added, runs after test_frees measured 2.6 to 4.8 MiB.
    _agree(project, IN_PROCESS, 16 * MiB, 40 * MiB)


def test_an_isolated_flood_measures_the_same_alone_first_and_after_others(project: Project) -> None:
    _agree(project, ISOLATED, 8 * MiB, 20 * MiB)
