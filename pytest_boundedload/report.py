"""Text the plugin shows: report sections, the failure message, the header and the summary."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

from .limits import Limits, Violation
from .measure.measurement import Measurement, is_size
from .memtrace.sites import HeapSite
from .table import Column, render_table
from .units import format_size

__all__ = [
    "SECTION_CROSSED",
    "SECTION_HARD_LIMIT",
    "SECTION_HEAP_SITES",
    "SECTION_MEASUREMENT",
    "SECTION_SCALING",
    "SummaryRows",
    "failure_message",
    "header_line",
    "heap_sites_lines",
    "measurement_section",
    "summary_lines",
]

SECTION_SCALING = "boundedload scaling"
SECTION_MEASUREMENT = "boundedload measurement"
SECTION_CROSSED = "boundedload limits crossed"
SECTION_HARD_LIMIT = "boundedload hard_limit"
SECTION_HEAP_SITES = "boundedload heap peak sites"

_SUMMARY_COLUMNS = (
    Column("peak rss", width=10),
    Column("growth", width=10, gap=1),
    Column("in flight", width=9, gap=1),
    Column("held", width=7, gap=1),
    Column("requests", width=8, gap=1),
    Column("tasks", width=7, gap=1),
    Column("threads", width=7, gap=1),
    Column("procs", width=5, gap=1),
    Column("test", "<"),
)


def failure_message(violations: Sequence[Violation]) -> str:
    """One line per crossed limit: ``max_tasks 20000 > limit 120 (live asyncio tasks high-water)``."""
    lines = [str(v) for v in violations]
    lines.extend(v.detail for v in violations if v.detail)
    return "\n".join(lines)


def heap_sites_lines(sites: Sequence[HeapSite], tasks: int) -> list[str]:
    """The top allocation sites at the heap peak, under a title: one a line, with the
    bytes per probe call (``tasks``) when there were any."""
    return [
        "top allocation sites at the heap peak (memray):",
        *(f"  {site.describe(tasks)}" for site in sites),
    ]


def measurement_section(measurement: Measurement, limits: Limits) -> str:
    """The whole Measurement, one field a line, with the limits that applied."""
    lines = []
    figures = measurement.to_dict()
    # Items taken beside the probe calls and requests beside the other high-waters, not
    # after the peak source (the fields added last).
    order = [name for name in figures if name not in ("items_taken", "max_requests")]
    order.insert(order.index("tasks_failed") + 1, "items_taken")
    order.insert(order.index("max_held") + 1, "max_requests")
    for name in order:
        value = figures[name]
        if value is None:  # a figure this window did not take (heap_peak untraced)
            continue
        if is_size(name):
            shown = f"{format_size(value)} ({value} bytes)"
        elif name == "duration":
            shown = f"{value:.3f} s"
        else:
            shown = str(value)
        lines.append(f"{name:<18} {shown}")
    lines.append(f"{'limits':<18} {limits.describe()}")
    return "\n".join(lines)


def header_line(limits: Limits, peak_source: str, cap_kind: str, interval: float) -> str:
    """The ``pytest_report_header`` line."""
    return (
        f"boundedload: limits: {limits.describe()}; peak source: {peak_source}; hard cap: {cap_kind};"
        f" interval: {interval * 1000:g}ms"
    )


def summary_lines(
    rows: Sequence[tuple[str, Measurement, bool]], top: int, total: int | None = None
) -> list[str]:
    """A table of the ``top`` measured tests by peak RSS; rows are (nodeid, figures,
    crossed), of ``total`` measured tests (``len(rows)`` when None)."""
    ranked = sorted(rows, key=lambda row: row[1].peak_rss, reverse=True)[:top]
    lines = render_table(
        _SUMMARY_COLUMNS,
        (
            (
                format_size(m.peak_rss),
                format_size(m.rss_growth),
                str(m.max_in_flight),
                str(m.max_held),
                str(m.max_requests),
                str(m.max_tasks),
                str(m.max_threads),
                str(m.max_processes),
                nodeid + ("  [limit crossed]" if crossed else ""),
            )
            for nodeid, m, crossed in ranked
        ),
    )
    more = (len(rows) if total is None else total) - len(ranked)
    if more > 0:
        lines.append(f"... {more} more measured tests (--boundedload-summary=N)")
    return lines


class SummaryRows:
    """The rows of the end-of-run summary: the ``top`` measured tests by peak RSS, and how
    many were measured. Only those ``top`` rows are kept (a heap of that size), so a long
    session keeps nothing per test; among equal peaks the earlier test ranks first, as a
    stable sort of every row would have it."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.count = 0
        # (peak_rss, -arrival, nodeid, figures, crossed): the heap's first is the row to
        # drop next, the lowest peak and, among equal peaks, the latest.
        self._heap: list[tuple[int, int, str, Measurement, bool]] = []
        self._arrival = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, nodeid: str, measurement: Measurement, crossed: bool) -> None:
        """One measured test's figures (kept only while among the ``top``)."""
        self.count += 1
        if self.top <= 0:
            return
        row = (measurement.peak_rss, -next(self._arrival), nodeid, measurement, crossed)
        if len(self._heap) < self.top:
            heapq.heappush(self._heap, row)
        else:
            heapq.heappushpop(self._heap, row)

    def rows(self) -> list[tuple[str, Measurement, bool]]:
        """The kept rows, highest peak first."""
        return [(nodeid, m, crossed) for _, _, nodeid, m, crossed in sorted(self._heap, reverse=True)]

    def lines(self) -> list[str]:
        """The table, and how many more tests were measured."""
        return summary_lines(self.rows(), self.top, self.count)

    def write(self, terminal: Any) -> None:
        """The terminal summary's table, under its title."""
        noun = "test" if self.count == 1 else "tests"
        terminal.write_sep("=", f"boundedload: {self.count} measured {noun} by peak RSS")
        for line in self.lines():
            terminal.write_line(line)
