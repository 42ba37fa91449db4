"""The gate knows each figure's noise: a recorded range per figure, exact figures at
their tolerance, paced counts and sampled sizes within a band, and a count that was a
bound and now grows with N always a regression."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_boundedload.baseline.compare import (
    DEFAULT_TOLERANCES,
    Delta,
    compare,
    merge_entry,
    parse_tolerance,
    regressions,
)
from pytest_boundedload.baseline.gate import BaselineGate, GateSettings
from pytest_boundedload.baseline.store import Baseline, BaselineError, SaveCounts, save_merged

if TYPE_CHECKING:
    from conftest import Project

MiB = 1 << 20
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _one(old: dict[str, Any], new: dict[str, Any], metric: str, tolerance: str | None = None) -> Delta:
    tolerances = parse_tolerance(tolerance) if tolerance else DEFAULT_TOLERANCES
    (delta,) = [d for d in compare(old, new, tolerances) if d.metric == metric]
    return delta


# One event loop, no other thread: the counts are exact.
ONE_THREAD = {"max_threads": 1, "max_processes": 0, "tasks_started": 5000}
# A thread pool ran: the counts are paced.
THREADS = {"max_threads": 8, "max_processes": 0, "tasks_started": 5000}


def test_an_exact_count_regresses_at_its_tolerance() -> None:
    old = {**ONE_THREAD, "max_in_flight": 20, "n": 5000}
    assert not _one(old, {**ONE_THREAD, "max_in_flight": 20}, "max_in_flight").regressed
    delta = _one(old, {**ONE_THREAD, "max_in_flight": 21}, "max_in_flight")
    assert delta.regressed
    assert str(delta) == "max_in_flight 20 -> 21 (+5.0%), over tolerance 0"


def test_a_paced_count_may_move_within_its_band() -> None:
    old = {**THREADS, "max_held": [4932, 4952], "max_threads": [7, 8], "n": 5000}
    # Unchanged code: the pool's pace moves max_held and max_threads a little.
    for held, threads in ((4990, 8), (4900, 7), (4952, 9)):
        deltas = compare(old, {**THREADS, "max_held": held, "max_threads": threads})
        assert regressions(deltas) == []
    # The band is half the recorded high plus 2: 8 threads may reach 14, not 15.
    assert not _one(old, {**THREADS, "max_threads": 14}, "max_threads").regressed
    delta = _one(old, {**THREADS, "max_threads": 15}, "max_threads")
    assert delta.regressed
    assert str(delta) == "max_threads 7..8 -> 15 (+87.5%), over tolerance 0 + pace band 50%+2"


def test_a_bound_raised_tenfold_regresses_paced_or_not() -> None:
    for base in (ONE_THREAD, THREADS):
        old = {**base, "max_in_flight": 20, "max_held": 22, "n": 5000}
        deltas = compare(old, {**base, "max_in_flight": 200, "max_held": 202})
        assert [d.metric for d in regressions(deltas)] == ["max_in_flight", "max_held"]


def test_bounded_to_grows_with_n_always_regresses() -> None:
    old = {**ONE_THREAD, "max_tasks": 22, "n": 5000}
    delta = _one(old, {**ONE_THREAD, "max_tasks": 5001}, "max_tasks", tolerance="max_tasks:1000%")
    assert delta.regressed
    assert str(delta) == "max_tasks bounded (<= 22) -> grows with N (5001 of N=5000)"
    # Under the bar of half of N, or with N too small to tell, the tolerance decides;
    # over a quarter of N a count was no clear bound.
    assert not _one(old, {**ONE_THREAD, "max_tasks": 242}, "max_tasks", tolerance="max_tasks:1000%").regressed
    small = {"max_threads": 1, "max_processes": 0, "tasks_started": 50}
    delta = _one({**small, "max_tasks": 5, "n": 50}, {**small, "max_tasks": 51}, "max_tasks")
    assert delta.regressed and delta.rule == ""
    delta = _one({**old, "max_tasks": 1251}, {**ONE_THREAD, "max_tasks": 5001}, "max_tasks")
    assert delta.regressed and delta.rule == ""
    delta = _one(
        {**old, "max_tasks": 1250}, {**ONE_THREAD, "max_tasks": 2500}, "max_tasks", "max_tasks:1000%"
    )
    assert delta.regressed and delta.rule == "bounded (<= 1250) -> grows with N (2500 of N=5000)"


def test_a_count_that_grows_with_n_keeps_its_kind() -> None:
    # ThreadPoolExecutor.map holds most of N, how much depends on its workers' pace.
    old = {**THREADS, "max_held": 1300, "n": 2000}
    assert not _one(old, {**THREADS, "max_held": 2000}, "max_held").regressed
    assert not _one(old, {**THREADS, "max_held": 2300}, "max_held").regressed  # (1300 + 1000)
    # Two items held per item is a regression still.
    assert _one(old, {**THREADS, "max_held": 4000}, "max_held").regressed
    # Between a quarter and a half of N a count is neither a bound nor growth: no kind
    # change, only the band.
    old = {**THREADS, "max_held": 900, "n": 2000}
    delta = _one(old, {**THREADS, "max_held": 1900}, "max_held")
    assert not delta.regressed and delta.rule == ""


def test_a_sampled_size_may_move_within_half_again() -> None:
    old = {**ONE_THREAD, "children_peak_rss": 100 * MiB, "n": 5000}
    # 100 MiB * 1.1 + 1 MiB + 50 MiB + 4 MiB
    assert not _one(old, {**ONE_THREAD, "children_peak_rss": 165 * MiB}, "children_peak_rss").regressed
    delta = _one(old, {**ONE_THREAD, "children_peak_rss": 166 * MiB}, "children_peak_rss")
    assert delta.regressed
    assert delta.tolerance == "10%+1.0 MiB + sampling band 50%+4.0 MiB"
    # A short child (uname: 1.4 MiB) caught one run and missed the one saved.
    old = {**ONE_THREAD, "children_peak_rss": 0, "n": 5000}
    assert not _one(old, {**ONE_THREAD, "children_peak_rss": 5 * MiB}, "children_peak_rss").regressed
    assert _one(old, {**ONE_THREAD, "children_peak_rss": 5 * MiB + 1}, "children_peak_rss").regressed


def test_rss_growth_has_its_tolerance_only() -> None:
    old = {**THREADS, "rss_growth": [20 * MiB, 21 * MiB], "n": 5000}
    assert not _one(old, {**THREADS, "rss_growth": 24 * MiB}, "rss_growth").regressed
    delta = _one(old, {**THREADS, "rss_growth": 42 * MiB}, "rss_growth")
    assert delta.regressed
    assert str(delta) == "rss_growth 20.0 MiB..21.0 MiB -> 42.0 MiB (+100.0%), over tolerance 10%+1.0 MiB"
    assert Delta.from_dict(delta.to_dict()) == delta


def test_a_save_of_unchanged_code_widens_the_range() -> None:
    old = {"max_held": 4932, "max_threads": 7, "max_processes": 0, "rss_growth": 4 * MiB, "n": 5000}
    new = {"max_held": 4952, "max_threads": 8, "max_processes": 0, "rss_growth": 4 * MiB, "n": 5000}
    merged, how = merge_entry(old, new)
    assert how == "widened"
    assert merged == {**old, "max_held": [4932, 4952], "max_threads": [7, 8]}
    # The same figures again, or figures inside the range: kept as they are.
    assert merge_entry(merged, {**new, "max_held": 4940}) == (merged, "kept")


def test_a_save_after_a_real_change_starts_again() -> None:
    old = {"max_in_flight": [18, 20], "max_threads": 1, "max_processes": 0, "n": 5000}
    for new in (
        {"max_in_flight": 200, "max_threads": 1, "max_processes": 0, "n": 5000},  # a bound raised
        {"max_in_flight": 2, "max_threads": 1, "max_processes": 0, "n": 5000},  # a bound lowered
        {"max_in_flight": 20, "max_threads": 1, "max_processes": 0, "n": 2000},  # another workload
    ):
        assert merge_entry(old, new) == (new, "changed")


def test_a_figure_the_new_run_lacks_keeps_its_range() -> None:
    old = {"heap_peak": [MiB, 2 * MiB], "max_threads": 1, "n": 100}
    merged, how = merge_entry(old, {"max_threads": 1, "n": 100})
    assert (merged, how) == (old, "kept")


def test_the_file_holds_ranges_and_n(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    figures = {
        "max_held": 4932,
        "max_threads": 7,
        "max_processes": 0,
        "tasks_started": 5000,
        "items_taken": 5000,
    }
    save_merged(path, {"t.py::a": figures}, merge=merge_entry)
    counts = save_merged(path, {"t.py::a": {**figures, "max_held": 4952}}, merge=merge_entry)
    assert str(counts) == "0 added, 0 changed, 1 widened, 0 kept, 0 pruned"
    assert counts.moved == (("widened", "t.py::a", {"max_held": (4932, 4952)}),)
    data = json.loads(path.read_text())
    assert data["schema"] == 2
    (entry,) = data["platforms"].values()
    assert entry == {"t.py::a": {"max_held": [4932, 4952], "max_processes": 0, "max_threads": 7, "n": 5000}}


def test_a_schema_1_baseline_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    old = {"t.py::a": {"max_tasks": 22, "rss_growth": MiB}}
    path.write_text(json.dumps({"tool": "pytest-boundedload", "schema": 1, "platforms": {"K": old}}))
    assert Baseline.load(path).entries("K") == old
    # Without its N, a schema 1 entry is compared by the tolerance only.
    delta = _one(old["t.py::a"], {**ONE_THREAD, "max_tasks": 5001}, "max_tasks")
    assert delta.regressed and delta.rule == ""


@pytest.mark.parametrize("bad", [[2, 1], [1], [1, 2, 3], ["1", 2], [1, -1], 1.5, [True, 2]])
def test_a_bad_range_names_the_file_and_test(tmp_path: Path, bad: object) -> None:
    path = tmp_path / "baseline.json"
    platforms = {"K": {"t.py::a": {"max_tasks": bad}}}
    path.write_text(json.dumps({"tool": "pytest-boundedload", "schema": 2, "platforms": platforms}))
    with pytest.raises(BaselineError) as info:
        Baseline.load(path)
    assert str(info.value) == (
        f"baseline {path}: the figures of 't.py::a' must be integers from 0 to 2**63 - 1"
        " or [low, high] ranges of two"
    )


def test_n_must_be_a_plain_integer(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    platforms = {"K": {"t.py::a": {"max_tasks": 1, "n": [1, 2]}}}
    path.write_text(json.dumps({"tool": "pytest-boundedload", "schema": 2, "platforms": platforms}))
    with pytest.raises(BaselineError, match=r"the figures of 't\.py::a'"):
        Baseline.load(path)


POOL = """
import os
import threading
from concurrent.futures import ThreadPoolExecutor


def test_pool(flood):
    workers = int(os.environ.get("WORKERS", "7"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        started = threading.Barrier(workers + 1)
        for _ in range(workers):  # every worker running at once: max_threads is exact here
            pool.submit(started.wait, 60)
        started.wait(60)
        for task in flood.tasks(200):  # one at a time: the other counts do not move
            pool.submit(flood.worker, task).result()
"""


def test_the_gate_end_to_end_on_a_paced_count(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_pool=POOL)
    baseline = project.path / ".boundedload" / "baseline.json"
    monkeypatch.setenv("WORKERS", "7")
    project.run_inprocess("--boundedload-save").result.assert_outcomes(passed=1)
    # One more worker thread (a pool started lazily, a pace): within the band, and a
    # save of it widens the entry's range and says so.
    monkeypatch.setenv("WORKERS", "8")
    run = project.run_inprocess("--boundedload-compare", "--boundedload-save")
    run.result.assert_outcomes(passed=1)
    (threads,) = [d for d in run.records["test_pool"]["deltas"] if d["metric"] == "max_threads"]
    assert threads == {
        "metric": "max_threads",
        "old": 8,
        "low": 8,
        "new": 9,
        "percent": 12.5,
        "tolerance": "0 + pace band 50%+2",
        "rule": "",
        "regressed": False,
    }
    assert (
        f"boundedload: saved {baseline}: 0 added, 0 changed, 1 widened, 0 kept, 0 pruned"
        in run.result.stdout.lines
    )
    # (rss_growth may have moved too, inside its tolerance)
    run.result.stdout.fnmatch_lines(["  widened test_pool.py::test_pool: *max_threads 8..9"])
    assert Baseline.load(baseline).entries()["test_pool.py::test_pool"]["max_threads"] == [8, 9]
    # Ten times the workers: a regression, with the recorded range in the line.
    monkeypatch.setenv("WORKERS", "80")
    run = project.run_inprocess("--boundedload-compare")
    run.result.assert_outcomes(failed=1)
    assert "baseline regression: max_threads 8..9 -> 81 (+800.0%), over tolerance 0 + pace band 50%+2" in (
        run.violations("test_pool")
    )


def test_an_example_project_made_unbounded_again_is_caught(project: Project) -> None:
    # The fixed pipeline saved, then its bug put back: the gate names the kind change.
    project.copy_fixture("unbounded_gather_fixed")
    cap = ("-o", "boundedload_hard_limit=1GiB")  # (the unbounded version holds ~400 MiB)
    project.run("--boundedload-save", *cap, "-k", "bounded").result.assert_outcomes(passed=1)
    shutil.copy(
        FIXTURES / "unbounded_gather" / "src" / "orders" / "pipeline.py", project.path / "src" / "orders"
    )
    run = project.run("--boundedload-compare", *cap, "-k", "bounded")
    run.result.assert_outcomes(failed=1)
    assert (
        "baseline regression: max_tasks bounded (<= 51) -> grows with N (20001 of N=20000)"
        in run.violations("test_pipeline_is_bounded")
    )


def test_a_smaller_workload_does_not_make_an_unchanged_bound_grow() -> None:
    # The workload cut from 1000 to 400, the bound of 200 unchanged: no kind change.
    old = {**ONE_THREAD, "max_tasks": 200, "n": 1000}
    delta = _one(old, {**ONE_THREAD, "tasks_started": 400, "max_tasks": 200}, "max_tasks")
    assert not delta.regressed and delta.rule == ""
    # Over the bound, the tolerance decides (0 for a count), not the kind rule.
    delta = _one(old, {**ONE_THREAD, "tasks_started": 400, "max_tasks": 201}, "max_tasks")
    assert delta.regressed and delta.rule == ""
    # A bound well under half of the new N that now grows with it still does.
    delta = _one(
        old, {**ONE_THREAD, "tasks_started": 4000, "max_tasks": 4001}, "max_tasks", "max_tasks:1000%"
    )
    assert delta.regressed and delta.rule == "bounded (<= 200) -> grows with N (4001 of N=4000)"


@pytest.mark.parametrize(
    "other", [{"max_threads": 2, "max_processes": 0}, {"max_threads": 1, "max_processes": 1}]
)
def test_one_other_thread_or_process_on_either_side_makes_the_counts_paced(other: dict[str, int]) -> None:
    lone = {**ONE_THREAD, "max_in_flight": 20, "n": 5000}
    paced = {**other, "tasks_started": 5000, "max_in_flight": 20, "n": 5000}
    for old, new in ((paced, paced), (lone, paced), (paced, lone)):
        delta = _one(old, {**new, "max_in_flight": 32}, "max_in_flight")
        assert (delta.regressed, delta.tolerance) == (False, "0 + pace band 50%+2")
        assert _one(old, {**new, "max_in_flight": 33}, "max_in_flight").regressed
    # No other thread or process on either side: exact.
    delta = _one(lone, {**ONE_THREAD, "max_in_flight": 21}, "max_in_flight")
    assert (delta.regressed, delta.tolerance) == (True, "0")


@pytest.mark.parametrize("entries", [20, 21, 23])
def test_the_save_line_lists_the_first_20_moved_entries(tmp_path: Path, entries: int) -> None:
    path = tmp_path / "baseline.json"
    gate = BaselineGate(GateSettings(path), writer=True)
    moved = tuple(
        ("widened", f"t.py::test_{i:02}", {"rss_growth": (4 * MiB, 5 * MiB), "max_threads": (7, 8)})
        for i in range(entries)
    )
    gate.saved = SaveCounts(0, 0, 0, 0, entries, moved)
    lines = gate.saved_lines()
    assert lines[:20] == [
        f"  widened t.py::test_{i:02}: rss_growth 4.0 MiB..5.0 MiB, max_threads 7..8" for i in range(20)
    ]
    more = [f"  and {entries - 20} more (boundedload baseline show {path})"] if entries > 20 else []
    assert lines[20:] == more


def test_a_delta_travels_whole_and_an_old_one_reads() -> None:
    old = {**ONE_THREAD, "max_tasks": [20, 22], "n": 5000}
    (delta,) = [d for d in compare(old, {**ONE_THREAD, "max_tasks": 5001}) if d.metric == "max_tasks"]
    assert (delta.low, delta.rule) == (20, "bounded (<= 22) -> grows with N (5001 of N=5000)")
    assert Delta.from_dict(delta.to_dict()) == delta
    # A report of an earlier version: no low, no rule.
    earlier = {
        "metric": "max_tasks",
        "old": 22,
        "new": 23,
        "percent": 4.5,
        "tolerance": "0",
        "regressed": True,
    }
    assert Delta.from_dict(earlier) == Delta("max_tasks", 22, 23, "0", True)


def test_a_save_folds_by_the_session_tolerances(tmp_path: Path) -> None:
    old = {**ONE_THREAD, "max_tasks": 20, "n": 5000}
    new = {**ONE_THREAD, "max_tasks": 30, "n": 5000}
    strict = BaselineGate(GateSettings(tmp_path / "b.json", tolerances=dict(DEFAULT_TOLERANCES)), writer=True)
    assert strict._merge(old, new) == (new, "changed")
    loose = BaselineGate(
        GateSettings(tmp_path / "b.json", tolerances=parse_tolerance("max_tasks:50%")), writer=True
    )
    assert loose._merge(old, new) == (
        {"max_tasks": [20, 30], "max_threads": 1, "max_processes": 0, "n": 5000},
        "widened",
    )


def test_a_figure_that_creeps_up_at_every_save_starts_again() -> None:
    # A pool that takes a thread or two more at every release: each save is within the
    # band of the one before, but not of the range's low, so the range cannot creep.
    entry: dict[str, Any] = {"max_threads": 4, "max_processes": 0, "n": 1000}
    hows = []
    for threads in (6, 8, 10, 12, 14):
        entry, how = merge_entry(entry, {"max_threads": threads, "max_processes": 0, "n": 1000})
        hows.append(how)
    assert hows == ["widened", "widened", "changed", "widened", "widened"]
    assert entry["max_threads"] == [10, 14]
    # rss_growth likewise: a range spans at most the tolerance over its low.
    entry = {"rss_growth": 20 * MiB, "n": 1000}
    entry, how = merge_entry(entry, {"rss_growth": 23 * MiB, "n": 1000})
    assert (entry["rss_growth"], how) == ([20 * MiB, 23 * MiB], "widened")
    entry, how = merge_entry(entry, {"rss_growth": 24 * MiB, "n": 1000})
    assert (entry["rss_growth"], how) == (24 * MiB, "changed")  # over 20 MiB + 10% + 1 MiB
