"""How each compared figure can vary on unchanged code (its noise), the band that noise
allows over a recorded high, and whether a count is a bound or grows with the workload N.
The rules are described in :mod:`.compare`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .store import figure_range

__all__ = ["BAND_TEXT", "MIN_N", "Noise", "band", "bounded", "grows_with_n", "noise_of", "threaded"]

Noise = Literal["exact", "paced", "sampled", "allocator"]

# Below this workload a count cannot be told to grow with N rather than be a bound.
MIN_N = 100
# Counts that stay exact however fast other threads run, unless other threads or
# processes did run in the test: then they are paced.
_EXACT_ON_ONE_THREAD = ("max_in_flight", "max_tasks", "max_held", "max_requests")
_ALWAYS_PACED = ("max_threads", "max_processes")


def threaded(figures: Mapping[str, Any]) -> bool:
    """Whether other threads or processes ran in the window(s) of ``figures`` (a
    measurement or a baseline entry), which makes its counts paced."""
    threads = figure_range(figures, "max_threads")
    processes = figure_range(figures, "max_processes")
    return (threads is not None and threads[1] > 1) or (processes is not None and processes[1] > 0)


def noise_of(metric: str, *, paced: bool) -> Noise:
    """How ``metric`` can vary on unchanged code; ``paced`` when other threads or
    processes ran in the test on either side."""
    if metric in _ALWAYS_PACED or (paced and metric in _EXACT_ON_ONE_THREAD):
        return "paced"
    if metric == "children_peak_rss":
        return "sampled"
    if metric == "rss_growth":
        return "allocator"
    return "exact"


# What a short-lived child that runs a small program (``uname -p``: 1 to 2 MiB) adds when
# a sampler tick catches it, which the next run's ticks may miss.
_SHORT_CHILD = 4 << 20


def band(noise: Noise, high: int, n: int | None = None) -> int:
    """How far over its recorded ``high`` a figure of this noise may go on unchanged code,
    before the tolerance: for a paced count half the high plus 2, or half of the workload
    ``n`` when the high is more than a quarter of it (how much of N a pool holds at once
    follows its workers' pace); half the high plus 4 MiB for a sampled size (a short
    child caught one run and missed the next); nothing otherwise."""
    if noise == "paced":
        if n is not None and n >= MIN_N and high * 4 > n:
            return max(high // 2 + 2, n // 2)
        return high // 2 + 2
    if noise == "sampled":
        return high // 2 + _SHORT_CHILD
    return 0


BAND_TEXT: dict[Noise, str] = {"paced": "pace band 50%+2", "sampled": "sampling band 50%+4.0 MiB"}


def grows_with_n(value: int, n: int | None) -> bool:
    """Whether a count of ``value`` grows with the workload ``n``: at least half of it,
    with ``n`` of :data:`MIN_N` or more (below that a bound cannot be told apart)."""
    return n is not None and n >= MIN_N and value * 2 >= n


def bounded(value: int, n: int | None) -> bool:
    """Whether a count of ``value`` is clearly a bound on the workload ``n``: at most a
    quarter of it, with ``n`` of :data:`MIN_N` or more. Between a quarter and a half
    (a pool that holds a share of N that depends on its pace) it is neither."""
    return n is not None and n >= MIN_N and value * 4 <= n
