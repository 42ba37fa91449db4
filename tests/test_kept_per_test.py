"""A long session keeps nothing per test: after a measured test's teardown the plugin
holds none of its state, the summary only its top rows, the latest reports' outcomes
only a fixed number; a passing test's report carries its sections only when the run
shows them. (bench/soak.py measures the bytes; these check the containers.)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_boundedload.measure.measurement import Measurement
from pytest_boundedload.outcome import Outcome
from pytest_boundedload.report import SummaryRows, summary_lines
from pytest_boundedload.testitem import ReportOutcomes

if TYPE_CHECKING:
    from conftest import Project

# What the plugin still holds, written at the end of the session: for each test whether
# its state outlived its teardown, and which tests' Measurement objects are still alive.
WATCHING = """
import gc
import json
import weakref

import pytest

from pytest_boundedload.session import PLUGIN_KEY
from pytest_boundedload.testitem import drop_state

LEFT = []  # tests whose state outlived their teardown
MEASURED = []  # (nodeid, weak reference to its Measurement), in the order they ran
SECTIONS = {}  # nodeid -> the sections of its call report
ITEM_PROPERTIES = []  # tests whose item was given properties


def pytest_boundedload_measured(report, measurement, violations):
    MEASURED.append((report.nodeid, weakref.ref(measurement)))


def pytest_runtest_logreport(report):
    if report.when == "call":
        SECTIONS[report.nodeid] = [name for name, _ in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    result = yield
    if drop_state(item) is not None:
        LEFT.append(item.nodeid)
    if item.user_properties:
        ITEM_PROPERTIES.append(item.nodeid)
    return result


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    plugin = session.config.stash[PLUGIN_KEY]
    gc.collect()
    kept = {
        "left": LEFT,
        "item_properties": ITEM_PROPERTIES,
        "measured": [nodeid for nodeid, _ in MEASURED],
        "alive": [nodeid for nodeid, ref in MEASURED if ref() is not None],
        "summary_rows": [nodeid for nodeid, _, _ in plugin.summary.rows()],
        "summary_count": plugin.summary.count,
        "outcomes_kept": len(plugin.outcomes._outcomes),
        "gate_results": len(plugin.gate.results),
        "gate_text": sum(
            len(outcome.sections) + len(outcome.failure_lines) for _, outcome in plugin.gate.results.values()
        ),
        "sections": SECTIONS,
    }
    with open("kept.json", "w") as f:
        json.dump(kept, f)
"""

TESTS = """
import pytest


@pytest.mark.boundedload(max_rss="8 GiB")
@pytest.mark.parametrize("i", range(100))
def test_measured(i):
    pass


@pytest.mark.boundedload(max_tasks=1)
def test_fails_on_its_figures(flood):
    import asyncio

    async def main():
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(3)])

    asyncio.run(main())
"""

TOP = 3


def _kept(project: Project, *args: str) -> dict[str, Any]:
    project.pytester.makeconftest(WATCHING)
    project.pytester.makepyfile(test_kept=TESTS)
    run = project.run(f"--boundedload-summary={TOP}", *args)
    run.result.assert_outcomes(passed=100, failed=1)
    assert "boundedload: 101 measured tests by peak RSS" in run.text
    assert f"... {101 - TOP} more measured tests (--boundedload-summary=N)" in run.text
    kept: dict[str, Any] = json.loads((project.path / "kept.json").read_text())
    return kept


def test_a_session_keeps_only_the_summary_and_the_latest_outcomes(project: Project) -> None:
    kept = _kept(project)
    measured = kept["measured"]
    assert len(measured) == 101
    assert kept["left"] == []  # every test's state was dropped at its teardown
    assert kept["item_properties"] == []  # no --junitxml: the items keep no properties
    assert kept["gate_results"] == 0  # nothing to save or report
    assert kept["summary_count"] == 101
    summary_rows = kept["summary_rows"]
    assert len(summary_rows) == TOP
    assert kept["outcomes_kept"] == ReportOutcomes.KEPT
    # The only figures alive: the latest reports' outcomes, and the summary's rows.
    assert sorted(kept["alive"]) == sorted({*measured[-ReportOutcomes.KEPT :], *summary_rows})
    # A passing test's report carries no sections (the run does not show them); the
    # test that failed on its figures has its measurement.
    sections = kept["sections"]
    failed = "test_kept.py::test_fails_on_its_figures"
    assert sections.pop(failed) == ["boundedload measurement"]
    assert len(sections) == 100 and set(map(tuple, sections.values())) == {()}


def test_with_the_json_report_the_gate_keeps_each_verdict_without_its_text(project: Project) -> None:
    kept = _kept(project, "--boundedload-json=report.json")
    assert kept["left"] == []
    assert kept["gate_results"] == 101  # what the JSON report writes at the end
    assert kept["gate_text"] == 0  # not the failure lines nor the sections
    assert sorted(kept["alive"]) == sorted(kept["measured"])
    assert len(json.loads((project.path / "report.json").read_text())["tests"]) == 101


def test_with_minus_r_capital_p_passing_tests_carry_their_sections(project: Project) -> None:
    kept = _kept(project, "-rP")
    sections = kept["sections"]
    assert len(sections) == 101
    assert set(map(tuple, sections.values())) == {("boundedload measurement",)}
    assert kept["left"] == []


def test_with_junit_xml_the_items_carry_the_properties(project: Project) -> None:
    kept = _kept(project, "--junitxml=junit.xml")
    assert len(kept["item_properties"]) == 101
    assert kept["left"] == []


HARD_LIMITED = """
import pytest


@pytest.mark.boundedload(hard_limit="1 GiB")
@pytest.mark.parametrize("i", range(3))
def test_capped(i):
    pass
"""


def test_a_hard_limited_tests_state_is_dropped_in_the_parent_too(project: Project) -> None:
    project.pytester.makeconftest(WATCHING)
    project.pytester.makepyfile(test_capped=HARD_LIMITED)
    run = project.run()
    run.result.assert_outcomes(passed=3)
    kept = json.loads((project.path / "kept.json").read_text())
    assert kept["measured"] == [f"test_capped.py::test_capped[{i}]" for i in range(3)]
    assert kept["left"] == []  # the parent made its state to fork the child, then let it go


# A test run twice in one session, as pytest-rerunfailures does: its state, dropped at
# the first teardown, is made again from its markers.
RERUN = """
import pytest
from _pytest.runner import runtestprotocol

from pytest_boundedload.outcome import decode

RUNS = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for _ in range(2):
        runtestprotocol(item, nextitem=nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_runtest_logreport(report):
    if report.when == "call":
        outcome = decode(report.user_properties)
        RUNS.append([report.outcome, outcome.limits, outcome.limit_sources, list(outcome.violations)])


def pytest_sessionfinish(session):
    import json

    with open("runs.json", "w") as f:
        json.dump(RUNS, f)
"""

RERUN_TEST = """
import asyncio

import pytest


@pytest.mark.boundedload(max_tasks=2)
def test_twice(flood):
    async def main():
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(3)])

    asyncio.run(main())
"""


def test_a_test_run_again_keeps_its_markers_limits(project: Project) -> None:
    project.pytester.makeconftest(RERUN)
    project.pytester.makepyfile(test_rerun=RERUN_TEST)
    run = project.run("--boundedload-max-threads=50")
    run.result.assert_outcomes(failed=2)
    runs = json.loads((project.path / "runs.json").read_text())
    line = "max_tasks 4 > limit 2 (live asyncio tasks high-water)"
    limits, sources = {"max_tasks": 2, "max_threads": 50}, {"max_tasks": "marker", "max_threads": "option"}
    assert runs == [["failed", limits, sources, [line]]] * 2


def _row(peak: int) -> Measurement:
    return Measurement(peak_rss=peak)


def test_the_summary_keeps_its_top_rows_earlier_first_among_equal_peaks() -> None:
    rows = SummaryRows(3)
    for i, peak in enumerate([5, 9, 5, 7, 9, 1, 9]):
        rows.add(f"t{i}", _row(peak), crossed=i == 3)
    assert rows.count == 7
    assert len(rows) == 3
    assert [(nodeid, m.peak_rss, crossed) for nodeid, m, crossed in rows.rows()] == [
        ("t1", 9, False),
        ("t4", 9, False),
        ("t6", 9, False),
    ]
    nothing = SummaryRows(0)
    nothing.add("t", _row(1), crossed=False)
    assert (nothing.count, len(nothing), nothing.rows()) == (1, 0, [])


@given(peaks=st.lists(st.integers(min_value=0, max_value=6), max_size=40), top=st.integers(0, 8))
def test_the_summary_shows_what_ranking_every_row_shows(peaks: list[int], top: int) -> None:
    every = [(f"t{i}", _row(peak), peak % 2 == 0) for i, peak in enumerate(peaks)]
    rows = SummaryRows(top)
    for nodeid, m, crossed in every:
        rows.add(nodeid, m, crossed)
    assert len(rows) == min(top, len(peaks))
    assert rows.lines() == summary_lines(every, top)


def test_pairs_that_repeat_from_test_to_test_are_one_tuple() -> None:
    # pytest keeps every report: the pairs two tests share are the same object.
    one, two = (
        Outcome(
            measurement=Measurement(peak_rss=peak, duration=0.5),
            limits={"max_tasks": 7},
            limit_sources={"max_tasks": "marker"},
        )
        for peak in (5 << 20, 6 << 20)
    )
    pairs = list(zip(one.to_properties(), two.to_properties(), strict=True))
    assert [a[0] for a, b in pairs if a is not b] == ["boundedload.peak_rss"]
    assert all(a == b for a, b in pairs if a[0] != "boundedload.peak_rss")
