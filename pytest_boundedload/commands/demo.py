"""``boundedload demo``: flood every fix and anti-pattern, each in a capped child, and compare.

Each pattern runs in its own forked child under a hard memory cap (see
:mod:`pytest_boundedload.isolate.capped`), measured by the same window, in-flight counter and probes a
test uses. A child that the cap stops is a row that says so.

Threads and processes cost far more to start than coroutines (about 0.1 ms per thread
and a few ms per process here, far more on a busy machine), so with a 1 ms latency a
thread-per-task loop never has more than a dozen threads alive: it would look bounded.
Their rows therefore use fewer tasks (``THREAD_SCALE``, ``PROCESS_SCALE``) and a
latency meant to have all of them alive at once: the start cost measured on this
machine when the demo begins, times the row's tasks, times ``START_HEADROOM``. On an
idle machine the unbounded versions pile up to their full count; on a busy one fewer
may overlap (runs beside other work reached 559 and 955 of 1,000), still many times the
2 x limit + 2 that makes a row unbounded, so the verdict does not change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from .. import antipatterns, fixes
from ..flood.probe import AsyncProbe, SyncProbe, make_async_probe
from ..flood.workload import Workload
from ..isolate.capped import ChildOutcome, run_capped
from ..measure.held import HeldItems
from ..measure.inflight import InFlightCounter
from ..measure.measurement import HIGH_WATERS
from ..measure.procfs import current_rss
from ..measure.window import Window
from ..table import Column, render_table
from ..units import format_size
from .calibrate import process_start, thread_start

__all__ = ["PATTERNS", "DemoSettings", "Pattern", "run_demo"]

THREAD_SCALE = (10, 0.2)  # n divided by 10, latency at least 200 ms
PROCESS_SCALE = (50, 0.5)  # n divided by 50, latency at least 500 ms
# A row that starts a thread or process per task holds each task this many times as
# long as starting them all took when the demo began, so they all overlap even if the
# machine gets busier.
START_HEADROOM = 5.0
# memory_aware's budget: the RSS the child starts with plus this.
MEMORY_AWARE_HEADROOM = 32 << 20


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """The flood every pattern gets (thread and process rows scale it down)."""

    n: int = 10_000
    payload: int = 16 << 10
    latency: float = 0.001
    limit: int = 50
    cap: int = 2 << 30
    timeout: float = 60.0


Runner = Callable[[Workload, AsyncProbe, SyncProbe, int], Any]



@dataclasses.dataclass(frozen=True)
class Pattern:
    """One row of the demo."""

    name: str
    kind: str  # "anti-pattern" or "fix"
    run: Runner
    scale: tuple[int, float] = (1, 0.0)
    starts_per_task: str = ""  # "thread" or "process": one is started for every task

    def workload_size(self, settings: DemoSettings, start_costs: Mapping[str, float]) -> tuple[int, float]:
        """The (n, latency) this pattern is flooded with; ``start_costs`` are seconds to
        start one ``"thread"`` or ``"process"`` here."""
        divisor, min_latency = self.scale
        n = max(1, settings.n // divisor)
        overlap = n * start_costs.get(self.starts_per_task, 0.0) * START_HEADROOM
        return n, max(settings.latency, min_latency, overlap)


def measure_start_costs() -> dict[str, float]:
    """Seconds to start a thread and a process on this machine now (the median of five
    short rounds, so one stall of a busy machine does not count five times)."""
    return {
        "thread": statistics.median(thread_start(50) for _ in range(5)),
        "process": statistics.median(process_start(10) for _ in range(5)),
    }


def _drain_streaming(items: Workload, aworker: AsyncProbe, limit: int) -> None:
    async def consume() -> None:
        async for _ in fixes.streaming(items, aworker, limit=limit):
            pass

    asyncio.run(consume())


def _memory_aware(items: Workload, aworker: AsyncProbe, limit: int) -> None:
    budget = current_rss() + MEMORY_AWARE_HEADROOM
    asyncio.run(fixes.memory_aware(items, aworker, limit=limit, max_rss=budget))


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "unbounded_gather",
        "anti-pattern",
        lambda w, a, s, k: asyncio.run(antipatterns.unbounded_gather(w, a)),
    ),
    Pattern(
        "thread_per_task",
        "anti-pattern",
        lambda w, a, s, k: antipatterns.thread_per_task(w, s),
        THREAD_SCALE,
        "thread",
    ),
    Pattern(
        "unbounded_executor",
        "anti-pattern",
        lambda w, a, s, k: antipatterns.unbounded_executor(w, s),
        THREAD_SCALE,
        "thread",
    ),
    Pattern(
        "process_per_task",
        "anti-pattern",
        lambda w, a, s, k: antipatterns.process_per_task(w, s),
        PROCESS_SCALE,
        "process",
    ),
    Pattern("semaphore_gather", "fix", lambda w, a, s, k: asyncio.run(fixes.semaphore_gather(w, a, limit=k))),
    Pattern("worker_pool", "fix", lambda w, a, s, k: asyncio.run(fixes.worker_pool(w, a, workers=k))),
    Pattern("batched", "fix", lambda w, a, s, k: asyncio.run(fixes.batched(w, a, batch_size=k))),
    Pattern("thread_pool", "fix", lambda w, a, s, k: fixes.thread_pool(w, s, workers=k), THREAD_SCALE),
    Pattern("process_pool", "fix", lambda w, a, s, k: fixes.process_pool(w, s, workers=k), PROCESS_SCALE),
    Pattern("memory_aware", "fix", lambda w, a, s, k: _memory_aware(w, a, k)),
    Pattern("streaming", "fix", lambda w, a, s, k: _drain_streaming(w, a, k)),
)


def _flood_in_child(
    send: Callable[[Any], None], pattern: Pattern, n: int, settings: DemoSettings, latency: float
) -> dict[str, Any]:
    in_flight = InFlightCounter()
    held = HeldItems()
    window = Window(in_flight, interval=0.01, held=held)
    workload = Workload(n, payload=settings.payload, latency=latency, held=held)
    window.start()
    try:
        pattern.run(workload, make_async_probe(in_flight), SyncProbe(in_flight), settings.limit)
    except BaseException:
        # What was measured up to the failure still goes into the row.
        send(window.stop().to_dict())
        raise
    finally:
        in_flight.close()  # the child ends with os._exit: no finalizer would remove a shared file
    return window.stop().to_dict()


def verdict(row: dict[str, Any], limit: int) -> tuple[str, list[str]]:
    """("bounded", []) or ("unbounded", [what grew]): a count above 2 x limit + 2 grew with N."""
    ceiling = 2 * limit + 2
    grown = [key for key in HIGH_WATERS if (row.get(key) or 0) > ceiling]
    grew = [key.removeprefix("max_").replace("_", " ") for key in grown]  # "max_in_flight": "in flight"
    return ("unbounded" if grew else "bounded"), grew


def _row(pattern: Pattern, n: int, settings: DemoSettings, outcome: ChildOutcome) -> dict[str, Any]:
    row: dict[str, Any] = {"pattern": pattern.name, "kind": pattern.kind, "n": n, "limit": settings.limit}
    figures = outcome.value if outcome.ok else outcome.last_message
    if not isinstance(figures, dict):
        figures = {}
    for key in (*HIGH_WATERS, "rss_growth", "children_peak_rss", "duration"):
        row[key] = figures.get(key)
    if outcome.ok:
        row["verdict"], row["grew"] = verdict(row, settings.limit)
        row["error"] = None
    else:
        # Stopped by the cap, or failed: it did not stay within bounds either way.
        row["verdict"], row["grew"] = "unbounded", []
        row["error"] = outcome.describe()
    return row


def run_demo(
    settings: DemoSettings,
    *,
    out: TextIO = sys.stdout,
    progress: TextIO = sys.stderr,
    json_path: Path | None = None,
    patterns: tuple[Pattern, ...] = PATTERNS,
) -> list[dict[str, Any]]:
    """Flood every pattern, print the table to ``out`` and return the rows."""
    rows = []
    start_costs = measure_start_costs()
    for number, pattern in enumerate(patterns, start=1):
        n, latency = pattern.workload_size(settings, start_costs)
        progress.write(
            f"[{number}/{len(patterns)}] {pattern.name}: {n} tasks, latency {latency * 1000:g} ms ... "
        )
        progress.flush()
        outcome = run_capped(
            _flood_in_child, pattern, n, settings, latency, cap=settings.cap, timeout=settings.timeout
        )
        row = _row(pattern, n, settings, outcome)
        row["latency"] = latency
        rows.append(row)
        progress.write(f"{row['verdict']}{' (' + row['error'] + ')' if row['error'] else ''}\n")
        progress.flush()
    out.write(format_table(rows, settings) + "\n")
    if json_path is not None:
        json_path.write_text(json.dumps({"rows": rows}, indent=2, sort_keys=True) + "\n")
    return rows


def _milliseconds(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:g}ms"


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


_COLUMNS = (
    Column("pattern", "<", width=19),
    Column("kind", "<", width=12, gap=1),
    Column("n", width=6, gap=1),
    Column("latency", width=8, gap=1),
    Column("in flight", width=9, gap=1),
    Column("tasks", width=6, gap=1),
    Column("threads", width=7, gap=1),
    Column("procs", width=5, gap=1),
    Column("held", width=6, gap=1),
    Column("rss growth", width=11, gap=1),
    Column("children", width=10, gap=1),
    Column("time", width=7, gap=1),
    Column("verdict", "<"),
)


def format_table(rows: list[dict[str, Any]], settings: DemoSettings) -> str:
    """The comparison table."""
    cells = []
    for row in rows:
        verdict_text = row["verdict"]
        if row["grew"]:
            verdict_text += f" ({', '.join(row['grew'])})"
        if row["error"]:
            verdict_text += f" ({row['error']})"
        cells.append(
            (
                row["pattern"],
                row["kind"],
                str(row["n"]),
                _milliseconds(row["latency"]),
                _cell(row["max_in_flight"]),
                _cell(row["max_tasks"]),
                _cell(row["max_threads"]),
                _cell(row["max_processes"]),
                _cell(row["max_held"]),
                "-" if row["rss_growth"] is None else format_size(row["rss_growth"]),
                "-" if not row["children_peak_rss"] else format_size(row["children_peak_rss"]),
                "-" if row["duration"] is None else f"{row['duration']:.2f}s",
                verdict_text,
            )
        )
    intro = (
        f"payload {format_size(settings.payload)} per task, limit {settings.limit},"
        f" hard cap {format_size(settings.cap)} per pattern;"
        " thread and process rows use fewer tasks, and those starting one per task hold them long"
        " enough for most to be alive at once (see boundedload demo --help); children: what the"
        " child processes add to memory together"
    )
    return "\n".join([intro, *render_table(_COLUMNS, cells, rule=True)])
