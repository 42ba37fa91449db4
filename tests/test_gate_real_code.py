"""The baseline gate on real library code (fixtures/real_code): never a regression when
nothing changed, whatever the order, serial or under xdist; a regression line for each
planted change. ``bench/gate_noise.py`` is the long form: more orders, each plant alone.

The shuffled runs turn pytest-randomly on explicitly (the suite turns it off for every
sample run); the last test checks that the sample runs are otherwise not shuffled.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "real_code"
MARK = "baseline regression:"
MEASURED = 15
# Each plant's test, and the figure whose regression line must name it.
PLANTED = {
    "unbound": ("tests/test_chains.py::test_summarise_abatch", "max_in_flight"),
    "raise10x": ("tests/test_llm.py::test_ask_streaming", "max_tasks"),
    "payload2x": ("tests/test_fanout.py::test_upload_bodies", "rss_growth"),
    "leak10": ("tests/test_async_libraries.py::test_aiometer_amap", "rss_growth"),
}
SHUFFLED = ("-p", "randomly", "--randomly-seed=20261207")


class RealCode:
    """A copy of fixtures/real_code in a pytester directory."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        shutil.copytree(
            FIXTURE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )

    def run(self, *args: str) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
        """One pytest run in a child process; its output and the JSON report's tests by id."""
        report = self.pytester.path / "report.json"
        report.unlink(missing_ok=True)
        result = self.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-rA", f"--boundedload-json={report}", *args, timeout=240
        )
        tests = {test["nodeid"]: test for test in json.loads(report.read_text())["tests"]}
        return result, tests


def _alarms(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines + result.errlines if MARK in line]


def test_unchanged_real_code_never_regresses(pytester: pytest.Pytester) -> None:
    code = RealCode(pytester)
    saved, tests = code.run("-p", "no:randomly", "--boundedload-save")
    saved.assert_outcomes(passed=MEASURED)
    assert len(tests) == MEASURED

    serial, _ = code.run(*SHUFFLED, "--boundedload-compare")
    assert "Using --randomly-seed=20261207" in serial.stdout.str()
    xdist, _ = code.run(*SHUFFLED, "-n", "2", "--boundedload-compare")
    assert (_alarms(serial), _alarms(xdist)) == ([], [])
    serial.assert_outcomes(passed=MEASURED)
    xdist.assert_outcomes(passed=MEASURED)


def test_each_planted_regression_is_caught(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the four planted tests, all four plants in one shuffled compare: each plant
    # changes its own test's code only.
    code = RealCode(pytester)
    targets = [test for test, _ in PLANTED.values()]
    saved, _ = code.run("-p", "no:randomly", "--boundedload-save", *targets)
    saved.assert_outcomes(passed=len(targets))

    monkeypatch.setenv("REAL_CODE_PLANT", ",".join(PLANTED))
    planted, tests = code.run(*SHUFFLED, "--boundedload-compare", *targets)
    planted.assert_outcomes(failed=len(targets))
    for plant, (test, figure) in PLANTED.items():
        lines = [line for line in tests[test]["violations"] if line.startswith(MARK)]
        assert any(line.startswith(f"{MARK} {figure} ") for line in lines), (plant, lines)


SAMPLE = """
ORDER = []


def test_order_00():
    ORDER.append(0)
{tests}

def test_order_last():
    assert ORDER == list(range(30))
"""


def test_sample_runs_are_not_shuffled(pytester: pytest.Pytester) -> None:
    # pytest-randomly, when installed, would shuffle these 31 tests: order_last then fails.
    tests = "".join(f"\n\ndef test_order_{i:02}():\n    ORDER.append({i})\n" for i in range(1, 30))
    pytester.makepyfile(test_sample=SAMPLE.format(tests=tests))
    for result in (pytester.runpytest_subprocess(), pytester.runpytest_inprocess()):
        result.assert_outcomes(passed=31)
        assert "randomly-seed" not in result.stdout.str()
