"""The frozen result of one measurement window, and which of its figures are sizes or counts.

The figure lists here are the one place that says how a figure is shown (a size in
bytes or a plain count), how windows combine (a high-water takes the maximum, a total
adds up) and so which figures a baseline compares and a scaling fit follows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ..units import format_size

__all__ = [
    "HIGH_WATERS",
    "OPTIONAL_SIZES",
    "SIZES",
    "TOTALS",
    "Measurement",
    "PeakSource",
    "format_figure",
    "is_size",
]

PeakSource = Literal["vmhwm", "sampled"]

# Figures in bytes.
SIZES = ("peak_rss", "rss_growth", "children_peak_rss")
# Figures in bytes that only some windows have (None in the others): memray's heap peak.
OPTIONAL_SIZES = ("heap_peak",)
# Counts that are high-waters: what a concurrency limit bounds and a scaling fit follows.
HIGH_WATERS = ("max_in_flight", "max_tasks", "max_threads", "max_processes", "max_held", "max_requests")
# Figures that add up over the windows of a test.
TOTALS = ("tasks_started", "tasks_done", "tasks_failed", "duration", "items_taken")


def is_size(name: str) -> bool:
    """Whether the figure (or the limit on it) called ``name`` is a number of bytes."""
    return name in SIZES or name in OPTIONAL_SIZES


def format_figure(name: str, value: int) -> str:
    """A figure's value for people: ``50.0 MiB`` for a size, ``10001`` for a count."""
    return format_size(value) if is_size(name) else str(value)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """What one window saw. Sizes are bytes, ``duration`` seconds.

    - ``peak_rss``: this process's peak resident set size during the window.
    - ``rss_growth``: the resident memory the window needed: ``peak_rss`` minus the RSS
      at the start of the window, plus the pymalloc free space that earlier work left
      resident and the window's objects took (so it does not depend on what ran before).
    - ``children_peak_rss``: the largest sum, at one reading, of what the live descendant
      processes add to memory: the peak RSS of one that has exec'd, the private pages of
      a forked one that has not, nothing for one that shares this process's memory on
      its way to exec (sampled: a child shorter than the sampling interval can be missed).
    - ``max_in_flight``: high-water of probe calls (``flood.aworker`` / ``flood.worker``)
      running at once, counted exactly at every enter and leave, across processes.
    - ``max_tasks``: high-water of live (not done) asyncio tasks over every loop that ran.
    - ``max_threads``: high-water of this process's OS threads, the sampler's own excluded.
    - ``max_processes``: high-water of live descendant processes.
    - ``max_held``: high-water of synthetic items taken from the test's workloads and
      still alive (exact: each counts itself in when taken and out when freed).
    - ``max_requests``: high-water of requests in flight at once at the session's local
      HTTP servers (``flood.server()``), all of them together, counted exactly at every
      enter and leave by the servers' processes; 0 when no server counted any.
    - ``tasks_started`` / ``tasks_done`` / ``tasks_failed``: probe calls in the window;
      ``tasks_failed`` counts the ``SyntheticFailure`` raised on purpose.
    - ``items_taken``: items taken from the test's workloads in the window (with
      ``tasks_started``, the workload N a baseline tells bounds from growth by).
    - ``peak_source``: ``"vmhwm"`` when the kernel's exact peak was read, ``"sampled"``
      when the peak comes from periodic sampling (no procfs).
    - ``heap_peak``: memray's exact heap high-water in the window (bytes of live
      allocations made in it, Python objects counted one by one), when the window was
      traced; else None.
    """

    peak_rss: int = 0
    rss_growth: int = 0
    children_peak_rss: int = 0
    max_in_flight: int = 0
    max_tasks: int = 0
    max_threads: int = 0
    max_processes: int = 0
    max_held: int = 0
    tasks_started: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    duration: float = 0.0
    peak_source: PeakSource = "vmhwm"
    heap_peak: int | None = None
    items_taken: int = 0
    # Last, so that Measurements built by position before it existed keep their meaning.
    max_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        # Not dataclasses.asdict: every field is a plain value, and asdict deep-copies.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Build a Measurement from :meth:`to_dict` output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def combine(cls, windows: Iterable[Measurement]) -> Measurement:
        """The figures of a test measured in several windows: sizes and high-waters take
        the maximum over the windows, totals (probe calls, ``duration``) add up."""
        items = list(windows)
        if not items:
            raise ValueError("combine() needs at least one Measurement")
        if len(items) == 1:
            return items[0]
        values: dict[str, Any] = {name: max(getattr(m, name) for m in items) for name in SIZES + HIGH_WATERS}
        values.update({name: sum(getattr(m, name) for m in items) for name in TOTALS})
        sources = {m.peak_source for m in items}
        values["peak_source"] = "vmhwm" if sources == {"vmhwm"} else "sampled"
        for name in OPTIONAL_SIZES:
            known = [value for m in items if (value := getattr(m, name)) is not None]
            values[name] = max(known) if known else None
        return cls(**values)


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(Measurement))
