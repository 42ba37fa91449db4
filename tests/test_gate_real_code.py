"""The baseline gate on real library code (fixtures/real_code), isolated as the README
recommends for a gate: never a regression when nothing changed, whatever the order,
serial or under xdist; a regression line for each planted change.
``bench/gate_noise.py`` is the long form: more orders, each plant alone.

The shuffled runs turn pytest-randomly on explicitly (the suite turns it off for every
sample run); the last test checks that a sample run is otherwise not shuffled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "real_code"
MARK = "baseline regression:"
# Each plant's test, and the figure whose regression line must name it.
PLANTED = {
    "unbound": ("tests/test_chains.py::test_summarise_abatch", "max_in_flight"),
    "raise10x": ("tests/test_async_libraries.py::test_aiostream_map", "max_in_flight"),
    "payload2x": ("tests/test_fanout.py::test_upload_bodies", "rss_growth"),
    "leak10": ("tests/test_async_libraries.py::test_aiometer_amap", "rss_growth"),
}
# Eight of the fifteen, to stay fast: the plants' tests and the ones whose figures moved
# between unchanged runs in bench/gate_noise.py (the SDK's first call in a process starts
# threads and a child, ThreadPoolExecutor.map's items held, the LLM tests' rss_growth).
SUBSET = (
    *(test for test, _ in PLANTED.values()),
    "tests/test_llm.py::test_ask_all_semaphore",
    "tests/test_llm.py::test_ask_streaming",
    "tests/test_llm.py::test_one_question",
    "tests/test_threads.py::test_executor_map_holds_every_item",
)
SHUFFLED = ("-p", "randomly", "--randomly-seed=20261207")
# The mode the README recommends for a gate: each measured test in a child forked from
# the unchanged session, so what the SDK pays once a process is paid in every test.
ISOLATED = ("-o", "boundedload_isolate=true")


@dataclasses.dataclass
class Run:
    """One pytest run on the copy: its output and its JSON report's tests by id."""

    output: str
    tests: dict[str, dict[str, Any]]

    @property
    def alarms(self) -> list[str]:
        """Every line of the output with a baseline regression."""
        return [line for line in self.output.splitlines() if MARK in line]

    def outcomes(self) -> dict[str, str]:
        """Each test's outcome."""
        return {nodeid: test["outcome"] for nodeid, test in self.tests.items()}


def _run(project: Path, *args: str, plant: str = "") -> Run:
    """pytest on ``project`` in a child process (it measures memory, it may fork)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "REAL_CODE_PLANT")}
    if plant:
        env["REAL_CODE_PLANT"] = plant
    report = project / "report.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-rA"]
    command += ["-p", "no:hypothesispytest"]
    command += [f"--boundedload-json={report}", *ISOLATED]
    done = subprocess.run(
        [*command, *args], cwd=project, env=env, capture_output=True, text=True, timeout=240
    )
    tests = {test["nodeid"]: test for test in json.loads(report.read_text())["tests"]}
    return Run(done.stdout + done.stderr, tests)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of fixtures/real_code with a baseline of SUBSET saved in the files' order."""
    project = tmp_path_factory.mktemp("gate") / "real_code"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__", ".boundedload"))
    run = _run(project, "-p", "no:randomly", "--boundedload-save", *SUBSET)
    assert run.outcomes() == dict.fromkeys(SUBSET, "passed"), run.output
    return project


def test_unchanged_real_code_never_regresses(saved: Path) -> None:
    serial = _run(saved, *SHUFFLED, "--boundedload-compare", *SUBSET)
    assert "Using --randomly-seed=20261207" in serial.output
    xdist = _run(saved, *SHUFFLED, "-n", "2", "--boundedload-compare", *SUBSET)
    assert (serial.alarms, xdist.alarms) == ([], [])
    assert serial.outcomes() == xdist.outcomes() == dict.fromkeys(SUBSET, "passed")


def test_each_planted_regression_is_caught(saved: Path) -> None:
    # All four plants in one shuffled compare: each changes its own test's code only.
    planted = _run(saved, *SHUFFLED, "--boundedload-compare", *SUBSET, plant=",".join(PLANTED))
    for plant, (test, figure) in PLANTED.items():
        lines = [line for line in planted.tests[test]["violations"] if line.startswith(MARK)]
        assert any(line.startswith(f"{MARK} {figure} ") for line in lines), (plant, lines)
        assert planted.tests[test]["outcome"] == "failed"


SAMPLE = """
ORDER = []


def test_order_00():
    ORDER.append(0)
{tests}

def test_order_last(pytestconfig):
    assert ORDER == list(range(30))
    assert not pytestconfig.pluginmanager.has_plugin("langsmith_plugin")
"""


def test_sample_runs_are_not_shuffled(pytester: pytest.Pytester) -> None:
    # pytest-randomly, when installed, would shuffle these 31 tests: order_last then fails,
    # as it does when langsmith's pytest plugin was loaded.
    tests = "".join(f"\n\ndef test_order_{i:02}():\n    ORDER.append({i})\n" for i in range(1, 30))
    pytester.makepyfile(test_sample=SAMPLE.format(tests=tests))
    result = pytester.runpytest_subprocess("-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=31)
    assert "randomly-seed" not in result.stdout.str()
