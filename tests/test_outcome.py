"""The per-test Outcome: the verdict rules, its one encoding, decoding once per report, and
where each limit came from; and the one table renderer."""

from __future__ import annotations

import dataclasses
import errno
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.compare import Delta, change_text, regression_text
from pytest_boundedload.isolate import capped as capped_module
from pytest_boundedload.limits import Limits
from pytest_boundedload.measure.measurement import Measurement
from pytest_boundedload.outcome import MEMORY, UNBOUNDED, Outcome, decode, judge, stopped
from pytest_boundedload.report import SECTION_CROSSED, SECTION_HARD_LIMIT, SECTION_MEASUREMENT
from pytest_boundedload.table import Column, render_table
from pytest_boundedload.testitem import ReportOutcomes

if TYPE_CHECKING:
    from conftest import Project

MiB = 1 << 20
FIGURES = Measurement(peak_rss=80 * MiB, rss_growth=30 * MiB, max_in_flight=50, max_tasks=10001)
LIMITS = Limits(max_tasks=100, max_rss_growth=64 * MiB)
SOURCES = {"max_tasks": "marker", "max_rss_growth": "ini", "max_threads": "option"}
TASKS_LINE = "max_tasks 10001 > limit 100 (live asyncio tasks high-water)"


def _judge(error: BaseException | None, limits: Limits = LIMITS, deltas: tuple[Delta, ...] = ()) -> Outcome:
    return judge(
        measurement=FIGURES,
        scaling=(),
        limits=limits,
        sources=SOURCES,
        baseline="compared" if deltas else None,
        deltas=deltas,
        error=error,
    )


def test_crossed_count_limits_alone_fail_the_test_as_unbounded() -> None:
    outcome = _judge(None)
    assert outcome.status == UNBOUNDED
    assert outcome.violations == (TASKS_LINE,)
    assert outcome.failure_lines == (TASKS_LINE,)
    assert outcome.limits == {"max_rss_growth": 64 * MiB, "max_tasks": 100}
    # Only the sources of the limits that applied.
    assert outcome.limit_sources == {"max_rss_growth": "ini", "max_tasks": "marker"}
    assert [name for name, _ in outcome.sections] == [SECTION_MEASUREMENT]


def test_a_test_that_failed_on_its_own_keeps_its_failure() -> None:
    outcome = _judge(ValueError("boom"))
    assert outcome.status is None
    assert outcome.violations == (TASKS_LINE,)
    assert outcome.sections[-1] == (SECTION_CROSSED, TASKS_LINE)


def test_a_memory_limit_makes_it_memory() -> None:
    grown = dataclasses.replace(FIGURES, rss_growth=65 * MiB)
    outcome = judge(
        measurement=grown, scaling=(), limits=LIMITS, sources=SOURCES, baseline=None, deltas=(), error=None
    )
    assert outcome.status == MEMORY
    assert outcome.violations[0].startswith("max_rss_growth 65.0 MiB > limit 64.0 MiB")
    assert outcome.violations[1:] == (TASKS_LINE,)


def test_a_count_regression_is_unbounded() -> None:
    delta = Delta("max_tasks", 50, 51, "0", True)
    assert _judge(None, limits=Limits(), deltas=(delta,)).status == UNBOUNDED


def test_within_limits_nothing_fails() -> None:
    outcome = _judge(None, limits=Limits(max_tasks=20000))
    assert (outcome.status, outcome.violations, outcome.failure_lines) == (None, (), ())


def test_a_memory_error_under_the_cap_is_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    capped = Limits(hard_limit=64 * MiB)
    # Outside a capped child a MemoryError is the test's own.
    assert _judge(MemoryError(), limits=capped).status is None
    monkeypatch.setattr(capped_module, "_child_cap", (64 * MiB, "cgroup"))
    outcome = _judge(MemoryError(), limits=capped)
    line = "exceeded hard_limit 64.0 MiB (cgroup): MemoryError"
    assert outcome.status == MEMORY
    assert outcome.violations == (line,)
    assert outcome.failure_lines == ()
    assert outcome.sections[-1] == (SECTION_HARD_LIMIT, line)
    # Without a hard_limit a MemoryError is the test's own failure.
    assert _judge(MemoryError(), limits=Limits()).status is None
    # A thread that cannot start is the cap only under RLIMIT_DATA.
    no_thread = RuntimeError("can't start new thread")
    assert _judge(no_thread, limits=capped).status is None
    monkeypatch.setattr(capped_module, "_child_cap", (64 * MiB, "rlimit"))
    outcome = _judge(no_thread, limits=capped)
    line = "exceeded hard_limit 64.0 MiB (rlimit): RuntimeError: can't start new thread"
    assert outcome.violations == (line,)
    assert outcome.status == MEMORY
    wrapped = ValueError("pool failed")
    wrapped.__cause__ = OSError(errno.ENOMEM, "Cannot allocate memory")
    assert _judge(wrapped, limits=capped).violations == (
        "exceeded hard_limit 64.0 MiB (rlimit): OSError: [Errno 12] Cannot allocate memory",
    )


def test_regressions_fail_with_their_words() -> None:
    delta = Delta("rss_growth", 10 * MiB, 30 * MiB, "10%+1.0 MiB", True)
    outcome = _judge(None, limits=Limits(), deltas=(delta, Delta("max_tasks", 5, 5, "0", False)))
    line = "baseline regression: rss_growth 10.0 MiB -> 30.0 MiB (+200.0%), over tolerance 10%+1.0 MiB"
    assert outcome.status == MEMORY
    assert outcome.violations == outcome.failure_lines == (line,)


def test_properties_round_trip() -> None:
    delta = Delta("max_tasks", 0, 20001, "0", True)
    outcome = _judge(None, deltas=(delta,))
    decoded = decode([("unrelated", 1), *outcome.to_properties()])
    assert decoded.measurement == FIGURES
    assert decoded.limits == outcome.limits
    assert decoded.limit_sources == outcome.limit_sources
    assert decoded.violations == outcome.violations
    assert (decoded.baseline, decoded.deltas, decoded.status) == ("compared", (delta,), UNBOUNDED)
    # What the report carries itself is not encoded.
    assert (decoded.failure_lines, decoded.sections) == ((), ())


def test_a_stopped_child_is_memory_only_when_the_cap_stopped_it() -> None:
    assert decode(stopped("exceeded hard_limit 1.0 MiB", memory=True).to_properties()) == Outcome(
        violations=("exceeded hard_limit 1.0 MiB",), status=MEMORY, stopped=True
    )
    assert decode(stopped("killed by SIGTERM", memory=False).to_properties()) == Outcome(stopped=True)


def test_a_stopped_child_keeps_the_last_figures_it_sent() -> None:
    outcome = stopped(
        "exceeded hard_limit 1.0 MiB", memory=True, last={"peak_rss": 5 << 20, "tasks_started": 7}
    )
    decoded = decode(outcome.to_properties())
    assert decoded.measurement == Measurement(peak_rss=5 << 20, tasks_started=7)
    assert decoded.stopped


def _report(outcome: Outcome) -> pytest.TestReport:
    return pytest.TestReport(
        "t.py::t", ("t.py", 0, "t"), {}, "passed", None, "call", user_properties=outcome.to_properties()
    )


def test_each_report_is_decoded_once() -> None:
    outcomes = ReportOutcomes()
    made = _judge(None)
    here = _report(made)
    outcomes.remember(here, made)
    assert outcomes.of(here) is made  # the one made in this process, not a copy
    arrived = _report(made)  # a report from a worker or a capped child
    first = outcomes.of(arrived)
    assert first.violations == made.violations
    assert outcomes.of(arrived) is first


def test_only_the_latest_reports_outcomes_are_kept() -> None:
    outcomes = ReportOutcomes()
    made = _judge(None)
    reports = [_report(made) for _ in range(ReportOutcomes.KEPT + 10)]
    for report in reports:
        outcomes.remember(report, made)
    assert outcomes.of(reports[-1]) is made
    assert len(outcomes._outcomes) == ReportOutcomes.KEPT  # a long session keeps no more
    oldest = outcomes.of(reports[0])  # let go of: decoded again from its properties
    assert oldest is not made and oldest.violations == made.violations


def test_change_and_regression_words() -> None:
    assert change_text(100, 130) == "+30.0%"
    assert change_text(0, 5) == "from 0"
    assert change_text(0, 0) == "+0.0%"
    assert regression_text("max_tasks", 0, 20001, "0", brief=True) == "max_tasks 0 -> 20001 (from 0, over 0)"
    assert (
        regression_text("rss_growth", MiB, MiB, "10%", regressed=False)
        == "rss_growth 1.0 MiB -> 1.0 MiB (+0.0%), within 10%"
    )


def test_table_renderer() -> None:
    columns = (Column("name", "<"), Column("n", width=4), Column("note", "<", gap=1))
    assert render_table(columns, [("a", "1", ""), ("long name", "12345", "x")], rule=True) == [
        "name           n note",
        "---------------------",
        "a              1",
        "long name  12345 x",
    ]


SOURCES_TEST = """
import pytest

@pytest.mark.boundedload(max_tasks=7)
def test_marked(flood):
    pass
"""


def test_each_limit_says_where_it_came_from(project: Project) -> None:
    project.pytester.makeini("[pytest]\nboundedload_max_rss = 8 GiB\nboundedload_max_tasks = 9\n")
    project.pytester.makepyfile(test_sources=SOURCES_TEST)
    junit = project.path / "junit.xml"
    run = project.run_inprocess("--boundedload-max-threads=50", f"--junitxml={junit}")
    run.result.assert_outcomes(passed=1)
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["boundedload.limit.max_tasks"] == "7"
    assert properties["boundedload.limit_source.max_tasks"] == "marker"
    assert properties["boundedload.limit_source.max_rss"] == "ini"
    assert properties["boundedload.limit_source.max_threads"] == "option"
