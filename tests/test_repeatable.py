"""Repeatable memory figures: what earlier work left in the process must not change them."""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from typing import TYPE_CHECKING

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
    assert compact_task_registry() > 0


# test_frees leaves the process ~30 MiB of free pymalloc space (7 of every 8 objects
# freed, the rest kept so their pools stay), which a child forked from it inherits; in
# IN_PROCESS also ~25 MiB of empty pools in arenas a few objects keep, which objects of
# any size can take.
IN_PROCESS = """
import asyncio

import pytest

KEPT = []


def test_frees():
    objects = [(i, str(i)) for i in range(300_000)]
    KEPT.extend(objects[::8])
    large = [bytes(400) for _ in range(60_000)]
    KEPT.extend(large[::1000])
    del objects, large


@pytest.mark.parametrize("run", range(4))
def test_flood(flood, run):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(20_000)])

    asyncio.run(main())
"""

ISOLATED = """
import asyncio

import pytest

KEPT = []


def test_frees():
    objects = [(i, str(i)) for i in range(300_000)]
    KEPT.extend(objects[::8])
    del objects


@pytest.mark.parametrize("run", range(4))
@pytest.mark.boundedload(hard_limit="512 MiB")
def test_flood(flood, run):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(10_000)])

    asyncio.run(main())
"""


def _alone_and_in_a_session(project: Project, source: str, tasks: int) -> tuple[int, dict[str, int]]:
    """rss_growth of test_flood[2] run alone, and of the four runs of test_flood after
    test_frees in one session, serial and under xdist."""
    project.pytester.makepyfile(test_order=source)
    alone = project.run("test_order.py::test_flood[2]")
    alone.result.assert_outcomes(passed=1)
    reference = alone.figures("test_flood[2]")["rss_growth"]
    assert 800 * tasks <= reference <= 2000 * tasks  # about 1.2 KiB a task
    figures: dict[str, int] = {}
    for label, args in (("serial", ()), ("xdist", ("-n", "2"))):
        run = project.run(*args)
        run.result.assert_outcomes(passed=5)
        for i in range(4):
            figures[f"{label} {i}"] = run.figures(f"test_flood[{i}]")["rss_growth"]
    return reference, figures


def test_a_flood_measures_the_same_alone_first_and_after_others(project: Project) -> None:
    reference, figures = _alone_and_in_a_session(project, IN_PROCESS, 20_000)
    # In-process, run alone (new arenas: their pool headers, half-filled pools and the
    # untouched part of the newest one count) it measures up to ~13 % more than after a
    # test whose free space it fills block by block (measured: 26.0 MiB alone, 22.3 to
    # 23.7 MiB after test_frees). Without the free space added it was 2.6 MiB after.
    allowed = max(reference * 15 // 100, 1 * MiB)
    for label, growth in figures.items():
        assert reference - allowed <= growth <= reference + allowed, (label, growth, reference)


def test_an_isolated_flood_measures_the_same_alone_first_and_after_others(project: Project) -> None:
    reference, figures = _alone_and_in_a_session(project, ISOLATED, 10_000)
    allowed = max(reference // 10, 1 * MiB)
    for label, growth in figures.items():
        assert reference - allowed <= growth <= reference + allowed, (label, growth, reference)
