"""Text the plugin shows: the measurement section, the failure message, the summary."""

from __future__ import annotations

from collections.abc import Sequence

from .limits import Limits, Violation
from .measurement import Measurement
from .units import format_size

__all__ = [
    "failure_message",
    "header_line",
    "measurement_section",
    "summary_lines",
]

_SIZE_FIELDS = frozenset({"peak_rss", "rss_growth", "children_peak_rss"})


def failure_message(violations: Sequence[Violation]) -> str:
    """One line per crossed limit: ``max_tasks 20000 > limit 120 (live asyncio tasks high-water)``."""
    lines = [str(v) for v in violations]
    lines.extend(v.detail for v in violations if v.detail)
    return "\n".join(lines)


def measurement_section(measurement: Measurement, limits: Limits) -> str:
    """The whole Measurement, one field a line, with the limits that applied."""
    lines = []
    for name, value in measurement.to_dict().items():
        if name in _SIZE_FIELDS:
            shown = f"{format_size(value)} ({value} bytes)"
        elif name == "duration":
            shown = f"{value:.3f} s"
        else:
            shown = str(value)
        lines.append(f"{name:<18} {shown}")
    lines.append(f"{'limits':<18} {limits.describe()}")
    return "\n".join(lines)


def header_line(limits: Limits, peak_source: str, interval: float) -> str:
    """The ``pytest_report_header`` line."""
    return (
        f"boundedload: limits: {limits.describe()}; peak source: {peak_source};"
        f" interval: {interval * 1000:g}ms"
    )


def summary_lines(rows: Sequence[tuple[str, Measurement, bool]], top: int) -> list[str]:
    """A table of the ``top`` measured tests by peak RSS; rows are (nodeid, figures, crossed)."""
    ranked = sorted(rows, key=lambda row: row[1].peak_rss, reverse=True)[:top]
    head = f"{'peak rss':>10} {'growth':>10} {'in flight':>9} {'tasks':>7} {'threads':>7} {'procs':>5}  test"
    lines = [head]
    for nodeid, m, crossed in ranked:
        mark = "  [limit crossed]" if crossed else ""
        lines.append(
            f"{format_size(m.peak_rss):>10} {format_size(m.rss_growth):>10} {m.max_in_flight:>9}"
            f" {m.max_tasks:>7} {m.max_threads:>7} {m.max_processes:>5}  {nodeid}{mark}"
        )
    if len(rows) > len(ranked):
        lines.append(f"... {len(rows) - len(ranked)} more measured tests (--boundedload-summary=N)")
    return lines
