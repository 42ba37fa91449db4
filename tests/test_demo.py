"""``boundedload demo`` run as a user runs it: the console script, in a child process."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import rendezvous

from pytest_boundedload.commands.demo import PATTERNS, START_HEADROOM, DemoSettings
from pytest_boundedload.flood.probe import SyncProbe, make_async_probe
from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.window import Window

FIXES = [
    "semaphore_gather",
    "worker_pool",
    "batched",
    "thread_pool",
    "process_pool",
    "memory_aware",
    "streaming",
]
ANTIPATTERNS = ["unbounded_gather", "thread_per_task", "unbounded_executor", "process_per_task"]


def _boundedload(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("boundedload", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "pytest_boundedload"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    path = tmp_path_factory.mktemp("demo") / "rows.json"
    result = _boundedload("demo", "--n", "2000", "--limit", "10", "--json", str(path))
    assert result.returncode == 0, result.stderr
    rows = {row["pattern"]: row for row in json.loads(path.read_text())["rows"]}
    return result, rows


def test_every_pattern_has_a_row(demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    result, rows = demo
    assert sorted(rows) == sorted(FIXES + ANTIPATTERNS)
    for name in rows:
        assert name in result.stdout  # the table
        assert f"] {name}:" in result.stderr  # the progress line
    keys = {
        "pattern", "n", "limit", "max_in_flight", "max_tasks", "max_threads",
        "max_processes", "max_held", "max_requests", "rss_growth", "children_peak_rss", "duration",
        "verdict",
    }  # fmt: skip
    for row in rows.values():
        assert keys <= set(row)


def test_figures_show_what_each_pattern_bounds(
    demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, rows = demo
    for row in rows.values():
        assert row["error"] is None, row
    # Threads and processes are flooded with fewer, longer tasks (see boundedload demo --help).
    scaled = {"thread_per_task": 200, "unbounded_executor": 200, "thread_pool": 200}
    scaled |= {"process_per_task": 40, "process_pool": 40}
    assert {name: row["n"] for name, row in rows.items()} == {name: scaled.get(name, 2000) for name in rows}
    # Every task alive at once, plus the task asyncio.run() runs the flood in.
    gather = rows["unbounded_gather"]
    assert (gather["max_in_flight"], gather["max_tasks"]) == (2000, 2000 + 1)
    # The semaphore bounds the work, not the tasks.
    semaphore = rows["semaphore_gather"]
    assert (semaphore["max_in_flight"], semaphore["max_tasks"]) == (10, 2000 + 1)
    # The exact bounds of the fixes (limit 10; see test_fixes_bounds): the main task, plus
    # the workers and the producer of worker_pool, a batch, or the streaming window.
    assert (rows["worker_pool"]["max_in_flight"], rows["worker_pool"]["max_tasks"]) == (10, 10 + 2)
    assert (rows["batched"]["max_in_flight"], rows["batched"]["max_tasks"]) == (10, 10 + 1)
    assert (rows["streaming"]["max_in_flight"], rows["streaming"]["max_tasks"]) == (10, 10 + 1)
    # memory_aware's budget (32 MiB over the RSS it starts with) is never reached by ten
    # 16 KiB payloads: its limit bounds it, as a semaphore would, the main task besides.
    aware = rows["memory_aware"]
    assert (aware["max_in_flight"], aware["max_tasks"], aware["max_held"]) == (10, 10 + 1, 10)
    # A pool's workers and no more (the test's thread besides; a process pool's manager
    # thread and queue feeder). The demo's calls only sleep (200 ms and 500 ms: its
    # command line has no other way to make them overlap), so how many workers are busy
    # at once depends on how soon the pool starts them: all ten on an idle machine. The
    # upper sides are the pools' bounds; the lower sides say the calls ran side by side,
    # as a pool that ran them one at a time would not. Every worker busy at once,
    # exactly, is tested where the calls meet instead of sleeping:
    # test_the_pools_keep_every_worker_busy_and_no_more.
    threads, processes = rows["thread_pool"], rows["process_pool"]
    assert 2 <= threads["max_in_flight"] <= 10
    assert threads["max_in_flight"] + 1 <= threads["max_threads"] <= 10 + 1
    assert 2 <= processes["max_in_flight"] <= 10
    # A fork-context pool starts all its workers at the first submit, whatever the timing.
    assert (processes["max_processes"], processes["max_threads"]) == (10, 1 + 2)
    for name in ["unbounded_gather", *FIXES]:
        if name not in ("thread_pool", "process_pool"):
            assert (rows[name]["max_threads"], rows[name]["max_processes"]) == (1, 0), name
    # The unbounded ones: far above the 2 x limit + 2 that counts as bounded, at most one
    # thread (and the main one) or one process per call (their latency is sized so that
    # all overlap: test_thread_and_process_rows_hold_for_the_measured_start_cost), every
    # item taken up front.
    for name in ("thread_per_task", "unbounded_executor"):
        row = rows[name]
        assert 2 * 10 + 2 < row["max_in_flight"] <= 200, row
        assert row["max_in_flight"] + 1 <= row["max_threads"] <= 200 + 1, row
        assert row["max_processes"] == 0, row
    per_process = rows["process_per_task"]
    assert 2 * 10 + 2 < per_process["max_in_flight"] <= per_process["max_processes"] <= 40, per_process
    # Items held: the anti-patterns and the semaphore take the whole input at once; the
    # fixes their window (a batch, the streaming window, 2 x workers queued or submitted).
    for name in [*ANTIPATTERNS, "unbounded_gather", "semaphore_gather"]:
        assert rows[name]["max_held"] == rows[name]["n"], name
    assert (rows["batched"]["max_held"], rows["streaming"]["max_held"]) == (10, 10)
    for name in ("worker_pool", "thread_pool", "process_pool"):
        assert rows[name]["max_held"] == 2 * 10 + 1, name
    # The children's memory: a process per call costs far more than a pool of ten.
    assert rows["process_per_task"]["children_peak_rss"] > 2 * rows["process_pool"]["children_peak_rss"] > 0
    for name in ["unbounded_gather", "thread_per_task", "unbounded_executor", "semaphore_gather"]:
        assert rows[name]["children_peak_rss"] == 0, name


def test_thread_and_process_rows_hold_for_the_measured_start_cost() -> None:
    settings = DemoSettings(n=2000, limit=10)
    patterns = {pattern.name: pattern for pattern in PATTERNS}
    slow = {"thread": 0.01, "process": 0.1}  # a very busy machine
    # One thread or process per task: 5 x n x the start cost, so all of them overlap.
    assert START_HEADROOM == 5
    assert patterns["thread_per_task"].workload_size(settings, slow) == (200, 10.0)
    assert patterns["unbounded_executor"].workload_size(settings, slow) == (200, 10.0)
    assert patterns["process_per_task"].workload_size(settings, slow) == (40, 20.0)
    # Pools keep their floor (a pool of 10 would take n / 10 times as long), and so does
    # every row on a fast machine.
    assert patterns["thread_pool"].workload_size(settings, slow) == (200, 0.2)
    assert patterns["process_pool"].workload_size(settings, slow) == (40, 0.5)
    assert patterns["unbounded_gather"].workload_size(settings, slow) == (2000, 0.001)
    fast = {"thread": 1e-6, "process": 1e-5}
    assert patterns["thread_per_task"].workload_size(settings, fast) == (200, 0.2)
    assert patterns["process_per_task"].workload_size(settings, fast) == (40, 0.5)


def test_verdicts(demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, rows = demo
    for name in [*ANTIPATTERNS, "semaphore_gather"]:
        assert rows[name]["verdict"] == "unbounded", name
    assert rows["semaphore_gather"]["grew"] == ["tasks", "held"]
    assert rows["thread_per_task"]["grew"] == ["in flight", "threads", "held"]
    assert rows["process_per_task"]["grew"] == ["in flight", "processes", "held"]
    for name in ["worker_pool", "batched", "thread_pool", "process_pool", "memory_aware", "streaming"]:
        assert rows[name]["verdict"] == "bounded", name


def test_a_pattern_stopped_by_the_cap_is_a_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    result = _boundedload(
        "demo",
        "--n", "4000",
        "--payload", "64 KiB",
        "--limit", "10",
        "--cap", "160 MiB",
        "--only", "unbounded_gather,streaming",
        "--json", str(path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["pattern"]: row for row in json.loads(path.read_text())["rows"]}
    assert sorted(rows) == ["streaming", "unbounded_gather"]
    gather = rows["unbounded_gather"]
    assert gather["verdict"] == "unbounded"
    assert gather["error"].startswith("exceeded cap 160.0 MiB")
    assert "exceeded cap 160.0 MiB" in result.stdout
    # The bounded fixes fit in the same cap and ran normally after it.
    assert rows["streaming"]["error"] is None
    assert rows["streaming"]["verdict"] == "bounded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "invalid n='0' from --n: must be greater than zero"),
        (["--payload", "12 parsecs"], "invalid payload='12 parsecs' from --payload: unknown unit 'parsecs'"),
        (["--latency", "soon"], "invalid latency='soon' from --latency: not a duration"),
        (["--limit", "-3"], "invalid limit='-3' from --limit: expected a positive integer"),
        (["--cap", "0"], "invalid cap='0' from --cap: must be greater than zero"),
        (["--only", "gather"], "invalid --only='gather': unknown pattern gather (known: unbounded_gather,"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = _boundedload("demo", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_calibrate_reports_this_machine(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    result = _boundedload("calibrate", "--json", str(path))
    assert result.returncode == 0, result.stderr
    figures = json.loads(path.read_text())
    assert sorted(figures) == [
        "hard_cap", "peak_source", "process_start", "task_measured", "task_plain", "thread_start",
    ]  # fmt: skip
    assert figures["peak_source"] == "vmhwm"  # procfs with a writable clear_refs, as here
    assert 0 < figures["thread_start"] < 0.1
    assert 0 < figures["process_start"] < 1
    assert 0 < figures["task_plain"] < figures["task_measured"] * 10
    assert "To have N tasks alive at once" in result.stdout
    assert f"thread start:         {figures['thread_start'] * 1e6:.0f} us" in result.stdout


@pytest.mark.parametrize("name", ["thread_pool", "process_pool"])
def test_the_pools_keep_every_worker_busy_and_no_more(name: str) -> None:
    # The demo's pool rows, measured as the demo measures them, with calls that meet in
    # flight (see rendezvous): every worker busy at once is then certain, not a matter of
    # the 200 ms and 500 ms latencies overlapping.
    pattern = {pattern.name: pattern for pattern in PATTERNS}[name]
    in_flight = InFlightCounter()
    with multiprocessing.Manager() as manager:  # started before the window: not counted
        if name == "thread_pool":
            rendezvous.use(threading.Barrier(10))
            tasks = rendezvous.meeting_tasks(200)
        else:
            tasks = rendezvous.meeting_tasks(40, manager.Barrier(10))
        window = Window(in_flight, interval=0.01)
        window.start()
        try:
            pattern.run(tasks, make_async_probe(in_flight), SyncProbe(in_flight), 10)  # type: ignore[arg-type]
        finally:
            measured = window.stop()
            in_flight.close()
    assert (measured.max_in_flight, measured.tasks_done) == (10, len(tasks))
    if name == "thread_pool":
        assert (measured.max_threads, measured.max_processes) == (10 + 1, 0)
    else:
        # The test's thread, the executor's manager thread and its call queue's feeder.
        assert (measured.max_threads, measured.max_processes) == (1 + 2, 10)
