"""PNG pictures drawn with matplotlib, an optional extra (``pytest-boundedload[plot]``).

Without matplotlib, :func:`missing` says how to get it, and no PNG is drawn.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..flood.fit import ScalingReport
    from ..measure.timeline import Timeline

__all__ = ["missing", "scaling_png", "timeline_png"]

MiB = 1 << 20


@functools.cache
def missing() -> str | None:
    """Why PNGs cannot be drawn here, or None when they can."""
    try:
        import matplotlib.figure  # noqa: F401  (a Figure draws without pyplot or a backend switch)
    except Exception as exc:
        return f"matplotlib cannot be used ({exc}); pip install 'pytest-boundedload[plot]' for PNG pictures"
    return None


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def scaling_png(report: ScalingReport, title: str, path: Path) -> None:
    """Memory (the fitted figure) against N with the fitted line, and each count that
    grows with N on a second axis."""
    figure, axes = _figure()
    ns = [n for n, _ in report.points]
    memory = [(getattr(m, report.fitted) or 0) / MiB for _, m in report.points]
    axes.plot(ns, memory, "o", color="tab:blue", label=f"{report.fitted} (MiB)")
    line = [(report.intercept + report.bytes_per_task * n) / MiB for n in ns]
    fitted = f"fit: {report.bytes_per_task:,.0f} B per task, r2 {report.r2:.3f}, {report.growth}"
    axes.plot(ns, line, "-", color="tab:blue", alpha=0.6, label=fitted)
    axes.set_xlabel("tasks (n)")
    axes.set_ylabel("MiB")
    handles, labels = axes.get_legend_handles_labels()
    if report.growing:
        counts = axes.twinx()
        colours = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
        for name, colour in zip(report.growing, colours, strict=False):
            values = [getattr(m, name) for _, m in report.points]
            (plotted,) = counts.plot(ns, values, "s--", color=colour, label=name)
            handles.append(plotted)
            labels.append(name)
        counts.set_ylabel("count")
    axes.legend(handles, labels, loc="upper left", fontsize="small")
    axes.set_title(title, fontsize="small")
    figure.savefig(path)


def timeline_png(timeline: Timeline, title: str, path: Path) -> None:
    """RSS, probe calls in flight and live tasks over the window's time."""
    figure, axes = _figure()
    axes.plot(timeline.times, [rss / MiB for rss in timeline.rss], color="tab:blue", label="RSS (MiB)")
    axes.set_xlabel("seconds into the window")
    axes.set_ylabel("RSS (MiB)")
    counts = axes.twinx()
    counts.plot(timeline.times, timeline.in_flight, color="tab:orange", label="in flight")
    counts.plot(timeline.times, timeline.tasks, color="tab:green", label="live tasks")
    counts.set_ylabel("count")
    handles = axes.get_legend_handles_labels()[0] + counts.get_legend_handles_labels()[0]
    axes.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize="small")
    axes.set_title(title, fontsize="small")
    figure.savefig(path)
