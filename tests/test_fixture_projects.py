"""The example projects under fixtures/: every buggy one fails its flood test, every twin passes.

Each project is copied next to the recording conftest.py of the ``project`` fixture (its
pytest.ini makes that directory the rootdir) and run in a child pytest, exactly as a user
would run it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Example:
    """A buggy project and its ``_fixed`` twin, which share the same tests."""

    name: str
    flood_test: str
    tests: int
    # The flood test's marker limits, by the name of the figure they cap.
    limits: dict[str, int]
    # Figures the buggy project must reach at least: proof the bug is real. Exact for
    # asyncio tasks; for threads and processes far above the limit, as their start-up
    # cost, and so how many of them overlap, depends on the machine's load.
    proof: dict[str, int]

    @property
    def crossed(self) -> set[str]:
        """The limits the buggy project must cross (a limit is named like its figure)."""
        return {"max_rss_growth" if figure == "rss_growth" else figure for figure in self.limits}


EXAMPLES = [
    Example(
        "unbounded_gather",
        "test_pipeline_is_bounded",
        tests=2,
        limits={"max_in_flight": 50, "max_tasks": 120, "rss_growth": 64 * MiB},
        proof={"max_in_flight": 20_000, "max_tasks": 20_000, "rss_growth": 200 * MiB},
    ),
    Example(
        "thread_per_task",
        "test_report_rendering_is_bounded",
        tests=2,
        limits={"max_threads": 24},
        # 400 threads sleeping 100 ms: a start costs ~0.1 ms, so nearly all of them overlap
        # (on 2 busy cores a start can take 1 ms: the proof asks for 4x the limit).
        proof={"max_threads": 100},
    ),
    Example(
        "process_per_task",
        "test_bulk_resize_is_bounded",
        tests=2,
        limits={"max_processes": 6, "max_in_flight": 4},
        # 40 forks of a few ms each against a 300 ms latency.
        proof={"max_processes": 20, "max_in_flight": 20},
    ),
    Example(
        "unbounded_executor",
        "test_webhook_burst_is_bounded",
        tests=3,
        limits={"max_threads": 20, "max_in_flight": 16},
        proof={"max_threads": 100, "max_in_flight": 100},
    ),
    Example(
        "fire_and_forget",
        "test_event_backlog_is_bounded",
        tests=2,
        limits={"max_tasks": 150, "rss_growth": 32 * MiB},
        proof={"max_tasks": 20_000, "rss_growth": 64 * MiB},
    ),
]

CASES = [
    pytest.param(example, fixed, id=example.name + ("_fixed" if fixed else ""))
    for example in EXAMPLES
    for fixed in (False, True)
]


def test_every_fixture_project_is_covered() -> None:
    on_disk = {path.name for path in FIXTURES.iterdir() if (path / "pytest.ini").is_file()}
    assert on_disk == {case.id for case in CASES}


@pytest.mark.parametrize(("example", "fixed"), CASES)
def test_fixture_project(project: Project, example: Example, fixed: bool) -> None:
    source = FIXTURES / (example.name + ("_fixed" if fixed else ""))
    shutil.copytree(
        source,
        project.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc"),
    )
    assert (project.path / "conftest.py").is_file()  # the recording one, next to pytest.ini

    run = project.run()

    assert example.flood_test in run.records, f"the flood test was not recorded\n{run.text}"
    record = run.records[example.flood_test]
    figures = run.figures(example.flood_test)
    if fixed:
        run.result.assert_outcomes(passed=example.tests)
        assert record["outcome"] == "passed"
        assert run.violations(example.flood_test) == []
        for figure, limit in example.limits.items():
            assert figures[figure] <= limit, (figure, figures)
    else:
        run.result.assert_outcomes(failed=1, passed=example.tests - 1)
        assert record["outcome"] == "failed"
        assert f"MEMORY {record['nodeid']}" in run.text
        named = {line.split()[0] for line in run.violations(example.flood_test)}
        assert named == example.crossed, run.violations(example.flood_test)
        for figure, least in example.proof.items():
            assert figures[figure] >= least, (figure, figures)
