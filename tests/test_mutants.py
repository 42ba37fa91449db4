"""Rules whose breaking an earlier test suite did not notice: the status of a count
regression, figures only one side of a comparison has, a MemoryError behind implicit
chaining, high-waters of what was alive when a window opened, and the boundaries of the
limits and thresholds (each checked exactly at the boundary and one step past it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.compare import Delta, compare
from pytest_boundedload.baseline.store import save_merged
from pytest_boundedload.commands.demo import verdict
from pytest_boundedload.flood.fit import CONSTANT_BELOW, GROWING_COUNT_SLOPE, fit
from pytest_boundedload.isolate import capped as capped_module
from pytest_boundedload.isolate.capped import cap_reached
from pytest_boundedload.limits import Limits
from pytest_boundedload.measure.held import HeldItems
from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.livecount import LiveCount
from pytest_boundedload.measure.measurement import Measurement
from pytest_boundedload.outcome import MEMORY, UNBOUNDED, judge

if TYPE_CHECKING:
    from conftest import Project

MiB = 1 << 20
FIGURES = Measurement(peak_rss=80 * MiB, rss_growth=10 * MiB, max_in_flight=50, max_tasks=51)


def _status(deltas: list[Delta]) -> str | None:
    return judge(
        measurement=FIGURES,
        scaling=(),
        limits=Limits(),
        sources={},
        baseline="compared",
        deltas=deltas,
        error=None,
    ).status


# --- a count regression alone is UNBOUNDED --------------------------------------------


def test_a_count_regression_beside_a_size_within_tolerance_is_unbounded() -> None:
    # rss_growth grew by 1 MiB, inside 10%+1 MiB; max_tasks by one task, over 0.
    deltas = compare({"rss_growth": 10 * MiB, "max_tasks": 50}, {"rss_growth": 11 * MiB, "max_tasks": 51})
    assert deltas == [
        Delta("rss_growth", 10 * MiB, 11 * MiB, "10%+1.0 MiB", False),
        Delta("max_tasks", 50, 51, "0", True),
    ]
    assert _status(deltas) == UNBOUNDED
    # The same size change over its tolerance makes it MEMORY.
    deltas = compare({"rss_growth": 10 * MiB, "max_tasks": 50}, {"rss_growth": 13 * MiB, "max_tasks": 51})
    assert [delta.regressed for delta in deltas] == [True, True]
    assert _status(deltas) == MEMORY
    # A size that shrank and a count that regressed: UNBOUNDED.
    deltas = compare(
        {"children_peak_rss": 9 * MiB, "max_threads": 2}, {"children_peak_rss": 0, "max_threads": 6}
    )
    assert _status(deltas) == UNBOUNDED


# --- a figure one side lacks is not compared -------------------------------------------


def test_a_figure_only_the_new_figures_have_is_not_compared() -> None:
    # A baseline entry saved before max_held existed.
    old = {"rss_growth": 5 * MiB, "max_tasks": 10}
    new = {"rss_growth": 5 * MiB, "max_tasks": 10, "max_held": 7}
    assert compare(old, new) == [
        Delta("rss_growth", 5 * MiB, 5 * MiB, "10%+1.0 MiB", False),
        Delta("max_tasks", 10, 10, "0", False),
    ]


def test_a_figure_only_the_baseline_has_is_not_compared() -> None:
    old = {"max_tasks": 10, "max_held": 7, "heap_peak": 3 * MiB}
    new = {"max_tasks": 11, "heap_peak": None}
    assert compare(old, new) == [Delta("max_tasks", 10, 11, "0", True)]


OLD_AND_NEW = """
import asyncio


def test_held(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(20)])

    asyncio.run(main())
"""


# Sizes measured in this process wobble; the counts are exact.
COMPARE = ("--boundedload-compare", "--boundedload-tolerance=100%+64MiB")
SIZES_AND_COUNTS = ["rss_growth", "children_peak_rss", "max_in_flight", "max_tasks"]


def test_a_baseline_entry_without_a_figure_and_one_with_an_extra_figure(project: Project) -> None:
    project.pytester.makepyfile(test_old=OLD_AND_NEW)
    project.run_inprocess("--boundedload-save").result.assert_outcomes(passed=1)
    path = project.path / ".boundedload" / "baseline.json"
    saved = json.loads(path.read_text())
    entries = [
        entry
        for platform in saved["platforms"].values()
        for nodeid, entry in platform.items()
        if nodeid == "test_old.py::test_held"
    ]
    assert len(entries) == 1
    (entry,) = entries
    assert entry["max_held"] == 20
    # An entry of an older version: no max_held. The run compares what both have.
    del entry["max_held"]
    path.write_text(json.dumps(saved))
    run = project.run_inprocess(*COMPARE)
    run.result.assert_outcomes(passed=1)
    record = run.records["test_held"]
    assert record["baseline"] == "compared"
    compared = [delta["metric"] for delta in record["deltas"]]
    assert compared == [*SIZES_AND_COUNTS, "max_threads", "max_processes", "max_requests"]
    # An entry with a figure this run does not take (memray's heap_peak, untraced here).
    entry["max_held"] = 20
    entry["heap_peak"] = 1
    path.write_text(json.dumps(saved))
    run = project.run_inprocess(*COMPARE)
    run.result.assert_outcomes(passed=1)
    record = run.records["test_held"]
    compared = [delta["metric"] for delta in record["deltas"]]
    assert compared == [*SIZES_AND_COUNTS, "max_threads", "max_processes", "max_held", "max_requests"]


# --- a MemoryError behind implicit chaining under the cap ------------------------------


def _raised_while_handling(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - implicit chaining is the point
    except BaseException as error:
        return error


def test_a_memory_error_in_the_implicit_context_is_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    error = _raised_while_handling(MemoryError(), RuntimeError("could not build the batch"))
    assert error.__cause__ is None
    assert isinstance(error.__context__, MemoryError)
    assert cap_reached(error) is None  # outside a capped child: the test's own
    monkeypatch.setattr(capped_module, "_child_cap", (64 * MiB, "cgroup"))
    assert cap_reached(error) == (64 * MiB, "cgroup", "MemoryError")
    # Two levels down, through a context then a cause.
    deeper = ValueError("wrapped")
    deeper.__cause__ = MemoryError()
    assert cap_reached(_raised_while_handling(deeper, KeyError("k"))) == (64 * MiB, "cgroup", "MemoryError")
    # A chain without one is not the cap.
    assert cap_reached(_raised_while_handling(ValueError(), RuntimeError())) is None
    outcome = judge(
        measurement=FIGURES,
        scaling=(),
        limits=Limits(hard_limit=64 * MiB),
        sources={},
        baseline=None,
        deltas=(),
        error=error,
    )
    assert outcome.status == MEMORY
    assert outcome.violations == ("exceeded hard_limit 64.0 MiB (cgroup): MemoryError",)


# --- high-waters start from what is alive ----------------------------------------------


@pytest.mark.parametrize("kind", [LiveCount, HeldItems])
def test_a_live_count_reset_starts_from_what_is_alive(kind: type[LiveCount]) -> None:
    count = kind()
    for _ in range(3):
        count.up()
    count.down()
    assert (count.alive, count.high_water, count.total) == (2, 3, 3)
    count.reset()
    assert (count.alive, count.high_water, count.total) == (2, 2, 0)
    count.up()
    assert (count.alive, count.high_water, count.total) == (3, 3, 1)
    count.down()
    count.down()
    count.reset()
    assert (count.alive, count.high_water, count.total) == (1, 1, 0)


@pytest.mark.parametrize("shared", [False, True])
def test_in_flight_reset_starts_from_what_is_in_flight(shared: bool) -> None:
    counter = InFlightCounter()
    try:
        if shared:
            counter.share()
        for _ in range(4):
            counter.enter()
        counter.leave(True, False)
        counter.reset()
        reading = counter.read()
        assert (reading.in_flight, reading.max_in_flight, reading.started, reading.done) == (3, 3, 0, 0)
        counter.enter()
        assert (counter.read().in_flight, counter.read().max_in_flight) == (4, 4)
    finally:
        counter.close()


HELD_BEFORE = """
def test_items_taken_before_the_window(flood):
    kept = list(flood.tasks(5))  # taken outside any window, still alive
    with flood.measure() as window:
        more = list(flood.tasks(3))
    assert window.max_held == 5 + 3
    del more
    with flood.measure() as later:
        pass
    assert later.max_held == 5
    del kept
"""


def test_items_held_when_a_window_opens_count_in_its_high_water(project: Project) -> None:
    project.pytester.makepyfile(test_held_before=HELD_BEFORE)
    run = project.run_inprocess()
    run.result.assert_outcomes(passed=1)
    # The test's figure is the worst of its windows.
    assert run.figures("test_items_taken_before_the_window")["max_held"] == 8


# --- boundaries ------------------------------------------------------------------------


def test_max_bytes_per_task_allows_exactly_the_limit() -> None:
    limits = Limits(max_bytes_per_task=256)
    assert limits.check_scaling(256.0, "table") == []
    (violation,) = limits.check_scaling(257.0, "table")
    assert (violation.limit, violation.measured, violation.allowed) == ("max_bytes_per_task", 257, 256)
    assert str(violation) == (
        "max_bytes_per_task 257 B > limit 256 B (RSS growth per task, fitted over flood.scaling())"
    )
    # A fraction of a byte over is over, though it rounds to the limit.
    (violation,) = limits.check_scaling(256.25, "table")
    assert (violation.measured, violation.allowed) == (256, 256)


def test_the_demo_ceiling_is_two_limits_and_two() -> None:
    # limit 10: a count of 22 stays bounded, 23 grew.
    assert verdict({"max_tasks": 22, "max_in_flight": 10}, 10) == ("bounded", [])
    assert verdict({"max_tasks": 23, "max_in_flight": 10}, 10) == ("unbounded", ["tasks"])
    assert verdict({"max_held": 23, "max_in_flight": 23, "max_threads": None}, 10) == (
        "unbounded",
        ["in flight", "held"],
    )


def test_constant_growth_ends_exactly_at_the_threshold() -> None:
    assert CONSTANT_BELOW == 128

    def growth(slope_times_1000: int) -> str:
        # Two sizes 1,000 apart: the slope is the difference over 1,000, exactly.
        return fit(
            [
                (1000, Measurement(rss_growth=0, max_tasks=1)),
                (2000, Measurement(rss_growth=slope_times_1000, max_tasks=1)),
            ]
        ).growth

    assert growth(128_000) == "linear"
    assert growth(127_999) == "constant"


def test_a_count_grows_from_a_slope_of_one_half() -> None:
    assert GROWING_COUNT_SLOPE == 0.5

    def growing(tasks_at_2000: int) -> tuple[str, ...]:
        points = [(1000, Measurement(max_tasks=1000)), (2000, Measurement(max_tasks=tasks_at_2000))]
        return fit(points).growing

    assert growing(1500) == ("max_tasks",)
    assert growing(1499) == ()


# --- what a save says it did ------------------------------------------------------------


def test_a_save_counts_the_same_figures_as_kept_and_others_as_changed(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    a = {"rss_growth": 5 * MiB, "max_tasks": 10}
    b = {"rss_growth": 6 * MiB, "max_tasks": 20}
    assert (
        str(save_merged(path, {"t.py::a": a, "t.py::b": b}))
        == "2 added, 0 changed, 0 widened, 0 kept, 0 pruned"
    )
    # The same figures again: kept; one byte more of one size: changed.
    again = {"t.py::a": a, "t.py::b": {**b, "rss_growth": 6 * MiB + 1}}
    assert str(save_merged(path, again)) == "0 added, 1 changed, 0 widened, 1 kept, 0 pruned"
    # A count changed, an entry not measured (kept), a new one, one dropped.
    measured = {"t.py::a": {**a, "max_tasks": 11}, "t.py::c": a}
    assert str(save_merged(path, measured)) == "1 added, 1 changed, 0 widened, 1 kept, 0 pruned"
    assert str(save_merged(path, {"t.py::c": a}, keep=["t.py::c", "t.py::a"])) == (
        "0 added, 0 changed, 0 widened, 2 kept, 1 pruned"
    )


THREADS_BEFORE = """
import threading


def test_threads_alive_before_the_window(flood):
    release = threading.Event()
    before = threading.Thread(target=release.wait)  # started outside any window
    before.start()
    started = threading.Barrier(3)
    with flood.measure() as first:
        inside = [threading.Thread(target=lambda: (started.wait(60), release.wait())) for _ in range(2)]
        for thread in inside:
            thread.start()
        started.wait(60)  # both are running
    with flood.measure() as second:  # the two of the first window are still alive
        pass
    release.set()
    for thread in [before, *inside]:
        thread.join()
    # The window's own thread and the two it started; not the one of before, nor, in
    # the second window, those the first started.
    assert (first.max_threads, second.max_threads) == (1 + 2, 1)
"""


def test_threads_alive_when_a_window_opens_are_not_the_windows(project: Project) -> None:
    project.pytester.makepyfile(test_threads_before=THREADS_BEFORE)
    run = project.run_inprocess()
    run.result.assert_outcomes(passed=1)
    assert run.figures("test_threads_alive_before_the_window")["max_threads"] == 3
