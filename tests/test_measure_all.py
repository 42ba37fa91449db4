"""--boundedload-all: every test of an existing suite measured, limits and gate included."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

# An existing suite: no flood fixture, no marker.
SUITE = """
import asyncio


def test_gathers():
    async def main():
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(300)])

    asyncio.run(main())


def test_adds():
    assert 1 + 1 == 2


class TestGroup:
    def test_in_a_class(self):
        assert [i for i in range(10)]
"""
NAMES = ("test_gathers", "test_adds", "TestGroup::test_in_a_class")


def test_without_it_only_flood_and_marked_tests_are_measured(project: Project) -> None:
    project.pytester.makepyfile(test_suite=SUITE)
    run = project.run("--boundedload-max-tasks=100")
    run.result.assert_outcomes(passed=3)
    assert run.records == {}


@pytest.mark.parametrize("how", ["option", "ini"])
def test_every_test_is_measured_and_judged(project: Project, how: str) -> None:
    project.pytester.makepyfile(test_suite=SUITE)
    if how == "ini":
        project.pytester.makeini("[pytest]\nboundedload_all = true\n")
    args = ("--boundedload-all",) if how == "option" else ()
    run = project.run(*args, "--boundedload-max-tasks=100", "--boundedload-save")
    run.result.assert_outcomes(passed=2, failed=1)
    assert set(run.records) == set(NAMES)
    assert run.figures("test_gathers")["max_tasks"] == 301
    assert run.figures("test_adds")["max_tasks"] == 0
    assert "UNBOUNDED test_suite.py::test_gathers - LimitExceeded: max_tasks 301 > limit" in run.text
    assert "boundedload: 3 measured tests by peak RSS" in run.text
    baseline = json.loads((project.path / ".boundedload" / "baseline.json").read_text())
    (tests,) = baseline["platforms"].values()
    assert set(tests) == {f"test_suite.py::{name}" for name in NAMES}


def test_a_bad_ini_value_is_a_usage_error(project: Project) -> None:
    project.pytester.makepyfile(test_suite=SUITE)
    project.pytester.makeini("[pytest]\nboundedload_all = maybe\n")
    run = project.run_inprocess()
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "boundedload: invalid boundedload_all from ini: invalid truth value 'maybe' (use true or false)"
        in run.text
    )


LOADED = """
import sys


def pytest_sessionfinish(session):
    with open("loaded.txt", "w") as f:
        f.write("\\n".join(sorted(name for name in sys.modules if name.startswith("pytest_boundedload"))))
"""


def test_a_run_that_measures_nothing_loads_no_measuring_or_judging(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOADED)
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
    loaded = set((pytester.path / "loaded.txt").read_text().split())
    assert "pytest_boundedload.session" in loaded  # the plugin ran
    assert not loaded & {"pytest_boundedload.outcome", "pytest_boundedload.measure.window"}
