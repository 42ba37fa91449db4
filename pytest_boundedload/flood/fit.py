"""The fit of ``flood.scaling``: memory and counts against N, and what the shape says.

A test with 10 tasks never shows an unbounded flood; one with 16,000 might, but only if
its limit is tight. What tells bounded from unbounded code is the *shape*: does the peak
grow with N? :func:`fit` fits ``rss_growth`` against ``n`` by least squares (the slope is
the memory each extra task costs), or memray's ``heap_peak`` when every size was traced,
and each high-water count the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from ..measure.measurement import HIGH_WATERS, Measurement
from ..units import format_size

__all__ = [
    "CONSTANT_BELOW",
    "COUNT_FIELDS",
    "GROWING_COUNT_SLOPE",
    "NOISE",
    "SUPERLINEAR_FACTOR",
    "Growth",
    "ScalingReport",
    "fit",
]

Growth = Literal["constant", "linear", "superlinear"]

# Thresholds of the growth classification.
#
# CONSTANT_BELOW (bytes per task): a fitted slope under this is noise, not growth. The
# smallest thing a truly unbounded flood holds per task is a bare coroutine (~0.2-0.3 KB;
# an asyncio.Task is 1.1-1.6 KB, a thread's touched stack 12+ KiB), so real growth sits
# well above it. The noise below it is the RSS wobble between two windows: 4 KiB pages,
# 1 MiB pymalloc arenas, malloc trim thresholds, interpreter caches, about 1 MiB per point.
# Spread over the default sizes (1,000 to 16,000: 15,000 tasks apart) that is ~70 B per
# task, under the threshold; 128 B/task is ~1.9 MiB over that span, above the noise.
CONSTANT_BELOW = 128
# SUPERLINEAR_FACTOR: the curve bends up when the slope of its last segment is more than
# this many times the slope of its first. Each isolated child first fills the free space
# it inherits (heap.prepare), so a small size is measured at its full cost; measured
# here: last/first 1.0-1.2 for linear floods (semaphore_gather, unbounded gather), up to
# ~2.7 without the fill, and still up to ~2 in process (isolate=False) where the fill is
# not done. A quadratic flood over the default sizes (spaced x4) gives 4 and is caught; over sizes
# spaced x2 a pure quadratic gives 2 and is not, so space sizes x4 to see a bend. Needs
# at least three points (two segments).
SUPERLINEAR_FACTOR = 3.0
# NOISE (bytes): how far one point's RSS growth may wobble (pages, arenas, trim
# thresholds). A bend counts only when the inner points lie more than twice that below
# the chord from the first size to the last: a line with +-1 MiB per point stays linear.
NOISE = 1 << 20
# A count (tasks, threads, ...) whose fitted slope is at least this many per task grows
# with N: one more of it per two tasks or more. Bounded code has a slope near 0 (a pool
# of 50 workers is 50 at every size); unbounded code near 1 (a task or thread per item).
GROWING_COUNT_SLOPE = 0.5

COUNT_FIELDS = HIGH_WATERS


def _least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Slope, intercept and coefficient of determination of the line through (xs, ys).

    r2 is 1.0 when every y is equal (the line explains all there is to explain).
    """
    count = len(xs)
    mean_x = math.fsum(xs) / count
    mean_y = math.fsum(ys) / count
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    if syy == 0:
        return slope, intercept, 1.0
    # For a straight-line fit with intercept, 1 - SSres/SStot equals this, computed
    # without subtracting two nearly equal sums.
    r2 = min(1.0, max(0.0, (sxy * sxy) / (sxx * syy)))
    return slope, intercept, r2


def _curve(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The points by ascending size, repeated sizes averaged."""
    by_n: dict[int, list[float]] = {}
    for n, y in points:
        by_n.setdefault(n, []).append(y)
    return [(n, math.fsum(ys) / len(ys)) for n, ys in sorted(by_n.items())]


def _bend(curve: Sequence[tuple[int, float]]) -> float:
    """How far the inner points lie below the chord from the first to the last (bytes)."""
    (n0, y0), (n9, y9) = curve[0], curve[-1]
    return max(y0 + (y9 - y0) * (n - n0) / (n9 - n0) - y for n, y in curve[1:-1])


def _classify(slope: float, points: Sequence[tuple[int, float]]) -> Growth:
    if slope < CONSTANT_BELOW:
        return "constant"
    curve = _curve(points)
    if len(curve) >= 3 and _bend(curve) > 2 * NOISE:
        (n0, y0), (n1, y1) = curve[0], curve[1]
        (m0, z0), (m1, z1) = curve[-2], curve[-1]
        first, last = (y1 - y0) / (n1 - n0), (z1 - z0) / (m1 - m0)
        if first > 0 and last > SUPERLINEAR_FACTOR * first:
            return "superlinear"
        if first <= 0 and last >= 2 * CONSTANT_BELOW:
            return "superlinear"
    return "linear"


def _memory(measurement: Measurement, fitted: str) -> int:
    value = getattr(measurement, fitted)
    return int(value) if value is not None else 0


@dataclasses.dataclass(frozen=True)
class ScalingReport:
    """How the measured figures grow with the number of tasks.

    - ``points``: ``(n, Measurement)`` pairs, ascending ``n``;
    - ``bytes_per_task``, ``intercept``, ``r2``: least-squares line of ``fitted``
      against ``n`` and its coefficient of determination (1.0 when all are equal);
    - ``fitted``: the memory figure fitted: ``"heap_peak"`` when every size was traced
      with memray, else ``"rss_growth"``;
    - ``growth``: ``"constant"`` (slope under :data:`CONSTANT_BELOW` bytes per task and
      no count in ``growing``),
      ``"superlinear"`` (the curve bends up, see :data:`SUPERLINEAR_FACTOR`) or
      ``"linear"``;
    - ``count_slopes``: fitted slope per task of each count in :data:`COUNT_FIELDS`;
    - ``growing``: the counts whose slope is at least :data:`GROWING_COUNT_SLOPE`.
    """

    points: tuple[tuple[int, Measurement], ...]
    bytes_per_task: float
    intercept: float
    r2: float
    growth: Growth
    count_slopes: dict[str, float]
    growing: tuple[str, ...]
    fitted: str = "rss_growth"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "points": [{"n": n, **m.to_dict()} for n, m in self.points],
            "bytes_per_task": self.bytes_per_task,
            "intercept": self.intercept,
            "r2": self.r2,
            "growth": self.growth,
            "count_slopes": dict(self.count_slopes),
            "growing": list(self.growing),
            "fitted": self.fitted,
        }

    def table(self) -> str:
        """A small text table for failure messages: one row per size, then the fit."""
        header = ("n", self.fitted.replace("_", " "), "max tasks", "max threads")
        rows = [
            (str(n), format_size(_memory(m, self.fitted)), str(m.max_tasks), str(m.max_threads))
            for n, m in self.points
        ]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        lines = [
            "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
            for row in (header, *rows)
        ]
        lines.append(f"fitted: {format_size(self.bytes_per_task)} per task (r2 {self.r2:.3f}, {self.growth})")
        return "\n".join(lines)


def fit(points: Iterable[tuple[int, Measurement]]) -> ScalingReport:
    """Fit the measurements of several sizes; needs at least two different ``n``.

    A size may appear more than once (repeated measurements); every point counts in the
    least-squares fits.
    """
    ordered = tuple(sorted(points, key=lambda point: point[0]))
    sizes = {n for n, _ in ordered}
    if len(sizes) < 2:
        raise ValueError(
            f"fit() needs points of at least two different sizes, got n={tuple(n for n, _ in ordered)}"
        )
    xs = [float(n) for n, _ in ordered]
    fitted = "heap_peak" if all(m.heap_peak is not None for _, m in ordered) else "rss_growth"
    growth_ys = [float(_memory(m, fitted)) for _, m in ordered]
    slope, intercept, r2 = _least_squares(xs, growth_ys)
    count_slopes = {
        name: _least_squares(xs, [float(getattr(m, name)) for _, m in ordered])[0] for name in COUNT_FIELDS
    }
    growing = tuple(name for name in COUNT_FIELDS if count_slopes[name] >= GROWING_COUNT_SLOPE)
    growth = _classify(slope, list(zip([n for n, _ in ordered], growth_ys, strict=True)))
    if growth == "constant" and growing:
        growth = "linear"  # a count that grows with N is never constant, whatever the bytes
    return ScalingReport(
        points=ordered,
        bytes_per_task=slope,
        intercept=intercept,
        r2=r2,
        growth=growth,
        count_slopes=count_slopes,
        growing=growing,
        fitted=fitted,
    )
