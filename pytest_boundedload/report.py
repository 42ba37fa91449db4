"""Text the plugin shows: report sections, the failure message, the header and the summary."""

from __future__ import annotations

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
    "failure_message",
    "header_line",
    "heap_sites_lines",
    "measurement_section",
    "summary_lines",
    "write_summary",
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
    for name, value in measurement.to_dict().items():
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


def summary_lines(rows: Sequence[tuple[str, Measurement, bool]], top: int) -> list[str]:
    """A table of the ``top`` measured tests by peak RSS; rows are (nodeid, figures, crossed)."""
    ranked = sorted(rows, key=lambda row: row[1].peak_rss, reverse=True)[:top]
    lines = render_table(
        _SUMMARY_COLUMNS,
        (
            (
                format_size(m.peak_rss),
                format_size(m.rss_growth),
                str(m.max_in_flight),
                str(m.max_held),
                str(m.max_tasks),
                str(m.max_threads),
                str(m.max_processes),
                nodeid + ("  [limit crossed]" if crossed else ""),
            )
            for nodeid, m, crossed in ranked
        ),
    )
    if len(rows) > len(ranked):
        lines.append(f"... {len(rows) - len(ranked)} more measured tests (--boundedload-summary=N)")
    return lines


def write_summary(terminal: Any, rows: Sequence[tuple[str, Measurement, bool]], top: int) -> None:
    """The terminal summary's table, under its title."""
    noun = "test" if len(rows) == 1 else "tests"
    terminal.write_sep("=", f"boundedload: {len(rows)} measured {noun} by peak RSS")
    for line in summary_lines(rows, top):
        terminal.write_line(line)
