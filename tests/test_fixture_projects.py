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


Figures = dict[str, int | tuple[int, int]]


@dataclass(frozen=True)
class Example:
    """A buggy project and its ``_fixed`` twin, which share the same tests."""

    name: str
    flood_test: str
    tests: int
    # The flood test's marker limits, by the name of the figure they cap.
    limits: dict[str, int]
    # Where the flood's calls run: "tasks", "threads" or "processes". Each call holds
    # one of them while it is in flight, which ties max_in_flight to that count.
    runs_on: str
    # The figures of the buggy project, proof the bug is real: a number where it is
    # exact (asyncio tasks and the calls they run are counted exactly and all start in
    # one loop iteration), else a (least, most) range: how many threads or processes
    # overlap depends on how fast they start on a busy machine, but never more than
    # the flood has calls.
    buggy: Figures
    # The fixed twin's figures: set exactly by its pool or its semaphore.
    fixed: Figures
    # The buggy project's status word: MEMORY when a memory limit is among those it
    # crosses, UNBOUNDED for counts alone.
    status: str

    @property
    def crossed(self) -> set[str]:
        """The limits the buggy project must cross (a limit is named like its figure)."""
        named = {"rss_growth": "max_rss_growth", "heap_peak": "max_heap"}
        return {named.get(figure, figure) for figure in self.limits}


EXAMPLES = [
    Example(
        "unbounded_gather",
        "test_pipeline_is_bounded",
        tests=2,
        limits={"max_in_flight": 50, "max_tasks": 120, "rss_growth": 64 * MiB},
        runs_on="tasks",
        # 20,000 tasks and the main task; each holds 16 KiB (312.5 MiB in all) at once.
        buggy={
            "max_in_flight": 20_000,
            "max_tasks": 20_001,
            "max_threads": 1,
            "max_processes": 0,
            "rss_growth": (300 * MiB, 512 * MiB),
        },
        # A pending set of 50 tasks.
        fixed={"max_in_flight": 50, "max_tasks": 51, "max_threads": 1, "max_processes": 0},
        status="MEMORY",
    ),
    Example(
        "thread_per_task",
        "test_report_rendering_is_bounded",
        tests=2,
        limits={"max_threads": 24},
        runs_on="threads",
        # 400 threads sleeping 100 ms: a start costs ~0.1 ms, so nearly all of them overlap
        # (on 2 busy cores a start can take 1 ms: the least asked for is 4x the limit).
        buggy={"max_in_flight": (100, 400), "max_threads": (101, 401), "max_tasks": 0, "max_processes": 0},
        # ThreadPoolExecutor(16) fed 32 sections at a time: 16 threads, all busy.
        fixed={"max_in_flight": 16, "max_threads": 17, "max_tasks": 0, "max_processes": 0},
        status="UNBOUNDED",
    ),
    Example(
        "process_per_task",
        "test_bulk_resize_is_bounded",
        tests=2,
        limits={"max_processes": 6, "max_in_flight": 4},
        runs_on="processes",
        # 40 forks of a few ms each against a 300 ms latency.
        buggy={"max_in_flight": (20, 40), "max_processes": (20, 40), "max_tasks": 0, "max_threads": 1},
        # A fork-context ProcessPoolExecutor(4) starts its 4 workers at the first submit.
        fixed={"max_in_flight": 4, "max_processes": 4, "max_tasks": 0},
        status="UNBOUNDED",
    ),
    Example(
        "unbounded_executor",
        "test_webhook_burst_is_bounded",
        tests=3,
        limits={"max_threads": 20, "max_in_flight": 16},
        runs_on="threads",
        buggy={"max_in_flight": (100, 300), "max_threads": (101, 301), "max_tasks": 0, "max_processes": 0},
        # A pool of 16 and a semaphore of 32 taken before each submit.
        fixed={"max_in_flight": 16, "max_threads": 17, "max_tasks": 0, "max_processes": 0},
        status="UNBOUNDED",
    ),
    Example(
        "fire_and_forget",
        "test_event_backlog_is_bounded",
        tests=2,
        limits={"max_tasks": 150, "rss_growth": 32 * MiB},
        runs_on="tasks",
        # 20,000 tasks and the main task; each holds 4 KiB (78 MiB in all) at once.
        buggy={
            "max_in_flight": 20_000,
            "max_tasks": 20_001,
            "max_threads": 1,
            "max_processes": 0,
            "rss_growth": (72 * MiB, 256 * MiB),
        },
        # A semaphore of 100 taken before each create_task.
        fixed={"max_in_flight": 100, "max_tasks": 101, "max_threads": 1, "max_processes": 0},
        status="MEMORY",
    ),
    Example(
        "result_cache",
        "test_pricing_memory_is_bounded",
        tests=2,
        limits={"heap_peak": 16 * MiB},
        runs_on="tasks",
        # 50 workers bound the concurrency; the cache keeps all 10,000 documents of
        # 4,129 bytes (39.4 MiB), which max_heap turns memray tracing on to see.
        buggy={
            "max_in_flight": 50,
            "max_tasks": 51,
            "max_threads": 1,
            "max_processes": 0,
            "heap_peak": (39 * MiB, 48 * MiB),
        },
        # At most 256 documents cached (about 1 MiB).
        fixed={
            "max_in_flight": 50,
            "max_tasks": 51,
            "max_threads": 1,
            "max_processes": 0,
            "heap_peak": (1 * MiB, 4 * MiB),
        },
        status="MEMORY",
    ),
]

CASES = [
    pytest.param(example, fixed, id=example.name + ("_fixed" if fixed else ""))
    for example in EXAMPLES
    for fixed in (False, True)
]


def test_every_fixture_project_is_covered() -> None:
    on_disk = {path.name for path in FIXTURES.iterdir() if (path / "pytest.ini").is_file()}
    # real_code is the baseline gate's corpus, run by tests/test_gate_real_code.py;
    # agent_pipeline the README's example, run by tests/test_agent_pipeline.py.
    assert on_disk == {case.id for case in CASES} | {"real_code", "agent_pipeline"}


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
        named = {line.split()[0] for line in run.violations(example.flood_test)}
        assert f"{example.status} {record['nodeid']}" in run.text
        assert named == example.crossed, run.violations(example.flood_test)
    for figure, expected in (example.fixed if fixed else example.buggy).items():
        if isinstance(expected, tuple):
            least, most = expected
            assert least <= figures[figure] <= most, (figure, figures)
        else:
            assert figures[figure] == expected, (figure, figures)
    # Every call in flight holds its own task, thread or process; the test's own thread
    # and asyncio.run's main task come on top.
    if example.runs_on == "tasks":
        assert figures["max_in_flight"] + 1 <= figures["max_tasks"], figures
    elif example.runs_on == "threads":
        assert figures["max_in_flight"] + 1 <= figures["max_threads"], figures
    else:
        assert figures["max_in_flight"] <= figures["max_processes"], figures
