"""Tolerances, the noise of each figure, and one test's figures compared with its
baseline entry.

Every wording of a change (the failure line, the terminal summary, ``baseline diff``
and ``baseline summary``) comes from here.

How a figure can vary on unchanged code decides how it is compared (:func:`noise_of`):

- **exact**: the same on every run (an unbounded gather's ``max_tasks``, a fix's
  ``max_in_flight`` on one event loop, ``heap_peak``): over the recorded high plus the
  tolerance is a regression.
- **paced**: exact counts whose value depends on how fast threads or processes run
  (``max_threads`` of pools started lazily, ``max_processes``, and ``max_in_flight``,
  ``max_tasks``, ``max_held``, ``max_requests`` of a test in which other threads or
  processes ran): they may also reach a *pace band* over the recorded high, half of it
  plus 2 (half of N when the high is more than a quarter of N).
- **sampled**: ``children_peak_rss``, read at sampler ticks: a child can be caught at a
  lower point one run and a higher the next, or missed, so it may also reach half again
  its recorded high plus 4 MiB (the *sampling band*).
- **allocator**: ``rss_growth``, which follows the allocator: the tolerance alone (use
  the isolated mode the README recommends for a gate).

Whatever the tolerance, a count that was a bound (at most a quarter of the test's
workload N) and now grows with N (at least half of it; N of :data:`MIN_N` or more) is
always a regression:
``max_tasks bounded (<= 22) -> grows with N (5001 of N=5000)``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..measure.measurement import format_figure, is_size
from ..units import MAX_COUNT, InvalidValue, format_size, parse_size, safe_repr
from .noise import BAND_TEXT, MIN_N, Noise, band, bounded, grows_with_n, noise_of, threaded
from .store import COMPARED, COUNTS, SIZES, WORKLOAD, Entry, figure_range, workload_of

__all__ = [
    "DEFAULT_TOLERANCES",
    "MIN_N",
    "Delta",
    "Noise",
    "Tolerance",
    "bounded",
    "change_text",
    "compare",
    "grows_with_n",
    "merge_entry",
    "noise_of",
    "parse_tolerance",
    "regression_text",
    "regressions",
]


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far a figure may grow over its baseline: ``new <= old * (1 + relative) + absolute``."""

    relative: float = 0.0
    absolute: int = 0

    def allows(self, old: int, new: int) -> bool:
        """Whether ``new`` is within the tolerance of ``old``."""
        return new <= old * (1.0 + self.relative) + self.absolute

    def __str__(self) -> str:
        return self.describe(size=True)

    def describe(self, *, size: bool) -> str:
        """``10%+1.0 MiB`` for a size, ``10%+2`` for a count."""
        parts = []
        if self.relative:
            parts.append(f"{self.relative * 100:g}%")
        if self.absolute or not parts:
            parts.append(format_size(self.absolute) if size and self.absolute else str(self.absolute))
        return "+".join(parts)


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    **{metric: Tolerance(0.10, 1 << 20) for metric in SIZES},
    **{metric: Tolerance() for metric in COUNTS},
}

_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")


def _short(part: str, unit: str = "characters") -> str:
    """A part of a tolerance as an error shows it: a long one by its start and length."""
    return part if len(part) <= 20 else f"{part[:20]}... ({len(part):,} {unit})"


def _parse_one(text: str, metric: str | None, source: str) -> Tolerance:
    relative = 0.0
    absolute = 0
    where = f"tolerance for {metric}" if metric else "tolerance"
    source = f" {source}" if source else ""
    for part in text.split("+"):
        part = part.strip()
        match = _PERCENT.match(part)
        if match:
            percent = float(match.group(1))
            if not math.isfinite(percent):
                raise InvalidValue(
                    f"invalid {where} {safe_repr(text)}{source}: {_short(part)} is not a finite percentage"
                )
            relative += percent / 100
            continue
        if metric in COUNTS:
            if not part.isascii() or not part.isdigit():
                raise InvalidValue(
                    f"invalid {where} {safe_repr(text)}{source}: counts take a percentage or a whole number"
                )
            # Checked before int(), which refuses more than 4,300 digits with an error of its own.
            if len(part.lstrip("0")) > len(str(MAX_COUNT)) or int(part) > MAX_COUNT:
                raise InvalidValue(
                    f"invalid {where} {safe_repr(text)}{source}: {_short(part, 'digits')} is too large"
                    f" (at most {MAX_COUNT:,})"
                )
            absolute += int(part)
            continue
        try:
            absolute += parse_size(part, allow_zero=True)
        except InvalidValue:
            raise InvalidValue(
                f"invalid {where} {safe_repr(text)}{source}: expected e.g. '10%', '1 MiB' or '10%+1MiB'"
            ) from None
    return Tolerance(relative, absolute)


def parse_tolerance(text: str, source: str = "") -> dict[str, Tolerance]:
    """Tolerances per metric from ``"10%+1MiB"`` (for every size) or a per-metric list
    ``"max_tasks:0,rss_growth:15%+2MiB"``; metrics not named keep their defaults."""
    tolerances = dict(DEFAULT_TOLERANCES)
    where = f" {source}" if source else ""
    text = text.strip()
    if not text:
        raise InvalidValue(f"invalid tolerance ''{where}: expected e.g. '10%+1MiB'")
    if ":" not in text:
        size_tolerance = _parse_one(text, None, source)
        return {**tolerances, **dict.fromkeys(SIZES, size_tolerance)}
    given: set[str] = set()
    for item in text.split(","):
        metric, sep, value = item.partition(":")
        metric = metric.strip()
        if not sep or metric not in COMPARED:
            raise InvalidValue(
                f"invalid tolerance {safe_repr(item.strip())}{where}: expected METRIC:TOLERANCE with METRIC"
                f" one of {', '.join(COMPARED)}"
            )
        if metric in given:
            raise InvalidValue(f"invalid tolerance {safe_repr(text)}{where}: {metric} is given twice")
        given.add(metric)
        tolerances[metric] = _parse_one(value, metric, source)
    return tolerances


def change_text(old: int, new: int) -> str:
    """The change from ``old`` to ``new`` in percent (``+30.0%``); from a baseline of 0,
    ``from 0`` (``+0.0%`` while it stays 0)."""
    if old != 0:
        return f"{(new - old) * 100.0 / old:+.1f}%"
    return "+0.0%" if new == 0 else "from 0"


def range_text(metric: str, low: object, high: object) -> str:
    """A recorded range in words: ``20`` for one value, ``4932..4952`` or
    ``4.5 MiB..4.7 MiB`` for a range."""

    def show(value: object) -> str:
        return format_figure(metric, value) if type(value) is int else str(value)

    if low is None or low == high:
        return show(high)
    return f"{show(low)}..{show(high)}"


def regression_text(
    metric: str,
    old: object,
    new: object,
    tolerance: str,
    *,
    regressed: bool = True,
    brief: bool = False,
    low: object = None,
    rule: str = "",
) -> str:
    """One figure against its baseline, in words.

    ``rss_growth 19.3 MiB -> 97.9 MiB (+407.3%), over tolerance 10%+1.0 MiB`` (a failure
    line), or with ``brief`` ``rss_growth 19.3 MiB -> 97.9 MiB (+407.3%, over 10%+1.0 MiB)``
    (a table cell). ``old`` is the recorded high and ``low`` the recorded low of a range
    (``max_held 4932..4952 -> ...``); ``tolerance`` names the tolerance with the band of
    the figure's noise (``0 + pace band 50%+2``). A count that changed kind has ``rule``
    instead: ``max_tasks bounded (<= 22) -> grows with N (5001 of N=5000)``. Values that
    are not ints (a hand-edited report) are shown as they are.
    """
    if rule:
        return f"{metric} {rule}"
    change = change_text(old, new) if type(old) is int and type(new) is int else "?"
    moved = f"{metric} {range_text(metric, low, old)} -> {range_text(metric, None, new)}"
    if brief:
        return f"{moved} ({change}, over {tolerance})"
    verdict = f"over tolerance {tolerance}" if regressed else f"within {tolerance}"
    return f"{moved} ({change}), {verdict}"


@dataclasses.dataclass(frozen=True)
class Delta:
    """One figure of one test against its baseline. ``old`` is the high of the recorded
    range and ``low`` its low (None: a single value); ``tolerance`` is what applied, in
    words (``10%+1.0 MiB``, ``0 + pace band 50%+2``); ``rule`` says why a count that
    changed kind regressed (``bounded (<= 22) -> grows with N (5001 of N=5000)``), empty
    otherwise."""

    metric: str
    old: int
    new: int
    tolerance: str
    regressed: bool
    low: int | None = None
    rule: str = ""

    @property
    def percent(self) -> float | None:
        """The change in percent of the recorded high (None when it is 0)."""
        return None if self.old == 0 else (self.new - self.old) * 100.0 / self.old

    @property
    def change(self) -> str:
        """The change in words: ``+30.0%`` or ``from 0``."""
        return change_text(self.old, self.new)

    @property
    def recorded(self) -> str:
        """The recorded range in words: ``20`` or ``4932..4952``."""
        return range_text(self.metric, self.low, self.old)

    def __str__(self) -> str:
        return regression_text(
            self.metric,
            self.old,
            self.new,
            self.tolerance,
            regressed=self.regressed,
            low=self.low,
            rule=self.rule if self.regressed else "",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "metric": self.metric,
            "old": self.old,
            "low": self.old if self.low is None else self.low,
            "new": self.new,
            "percent": self.percent,
            "tolerance": self.tolerance,
            "rule": self.rule,
            "regressed": self.regressed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delta:
        """Rebuild a Delta from :meth:`to_dict` output."""
        low = data.get("low")
        return cls(
            data["metric"],
            data["old"],
            data["new"],
            data["tolerance"],
            data["regressed"],
            None if low == data["old"] else low,
            data.get("rule") or "",
        )


def compare(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    tolerances: Mapping[str, Tolerance] = DEFAULT_TOLERANCES,
    *,
    paced: bool | None = None,
) -> list[Delta]:
    """The compared figures of one test, in ``COMPARED`` order: ``old`` a baseline entry
    (figures as values or ``[low, high]`` ranges, and the workload ``n``), ``new`` a
    measurement's figures or another entry (whose high is compared). ``paced`` says
    whether other threads or processes ran (by default: on either side)."""
    deltas = []
    if paced is None:
        paced = threaded(old) or threaded(new)
    n_old, n_new = workload_of(old), workload_of(new)
    for metric in COMPARED:
        recorded, now = figure_range(old, metric), figure_range(new, metric)
        if recorded is None or now is None:
            continue
        (low, high), value = recorded, now[1]
        noise = noise_of(metric, paced=paced)
        tolerance = tolerances.get(metric, DEFAULT_TOLERANCES[metric])
        described = tolerance.describe(size=is_size(metric))
        if noise in BAND_TEXT:
            described += f" + {BAND_TEXT[noise]}"
        rule = ""
        if (
            metric in COUNTS
            and bounded(high, n_old)
            and grows_with_n(value, n_new)
            and not grows_with_n(high, n_new)
        ):
            # Bounded -> grows with N is always a regression, whatever the tolerance; not
            # when the recorded bound itself is half of a smaller new N (the workload was
            # cut, the bound was not raised).
            rule = f"bounded (<= {high}) -> grows with N ({value} of N={n_new})"
            regressed = True
        else:
            regressed = not tolerance.allows(high, value - band(noise, high, n_old))
        deltas.append(Delta(metric, high, value, described, regressed, None if low == high else low, rule))
    return deltas


def merge_entry(
    old: Mapping[str, Any], new: Entry, tolerances: Mapping[str, Tolerance] = DEFAULT_TOLERANCES
) -> tuple[Entry, str]:
    """A save's new entry for a test with a recorded one: ``(entry, how)``.

    When the new figures are the same as the recorded ones by the gate's own rules, both
    ways (the new ones do not regress against the recorded *low*, and the recorded high
    would not regress against the new ones), the entry keeps the range each figure has
    shown over the saves: ``"widened"`` if a value fell outside it, ``"kept"`` if not.
    Against the low, not the high: a range spans at most one band and tolerance, so a
    figure that grows a little at every save starts the entry again (a change the
    reviewer sees) instead of creeping up unseen.
    Otherwise the code changed (a bound raised or lowered, the workload N changed) and
    the entry starts again from the new figures: ``"changed"``. A figure the new run
    lacks (``heap_peak`` of a run not traced) keeps its recorded range.
    """
    if workload_of(old) is not None and workload_of(new) != workload_of(old):
        return new, "changed"
    paced = threaded(old) or threaded(new)
    floor = {key: value[0] if isinstance(value, (list, tuple)) else value for key, value in old.items()}
    if regressions(compare(floor, new, tolerances, paced=paced)) or regressions(
        compare(new, old, tolerances, paced=paced)
    ):
        return new, "changed"
    merged: Entry = {}
    for metric in COMPARED:
        ranges = [r for r in (figure_range(old, metric), figure_range(new, metric)) if r is not None]
        if ranges:
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
            merged[metric] = low if low == high else [low, high]
    workload = workload_of(new)
    if workload is not None:
        merged[WORKLOAD] = workload
    return merged, "kept" if merged == dict(old) else "widened"


def regressions(deltas: Iterable[Delta]) -> list[Delta]:
    """The deltas over their tolerance."""
    return [delta for delta in deltas if delta.regressed]
