"""Tolerances, and one test's figures compared with its baseline entry.

Every wording of a change (the failure line, the terminal summary, ``baseline diff``
and ``baseline summary``) comes from here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..measure.measurement import format_figure, is_size
from ..units import MAX_COUNT, InvalidValue, format_size, parse_size, safe_repr
from .store import COMPARED, COUNTS, SIZES

__all__ = [
    "DEFAULT_TOLERANCES",
    "Delta",
    "Tolerance",
    "change_text",
    "compare",
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


def regression_text(
    metric: str, old: object, new: object, tolerance: str, *, regressed: bool = True, brief: bool = False
) -> str:
    """One figure against its baseline, in words.

    ``rss_growth 19.3 MiB -> 97.9 MiB (+407.3%), over tolerance 10%+1.0 MiB`` (a failure
    line), or with ``brief`` ``rss_growth 19.3 MiB -> 97.9 MiB (+407.3%, over 10%+1.0 MiB)``
    (a table cell). Values that are not ints (a hand-edited report) are shown as they are.
    """

    def show(value: object) -> str:
        return format_figure(metric, value) if type(value) is int else str(value)

    change = change_text(old, new) if type(old) is int and type(new) is int else "?"
    moved = f"{metric} {show(old)} -> {show(new)}"
    if brief:
        return f"{moved} ({change}, over {tolerance})"
    verdict = f"over tolerance {tolerance}" if regressed else f"within {tolerance}"
    return f"{moved} ({change}), {verdict}"


@dataclasses.dataclass(frozen=True)
class Delta:
    """One figure of one test against its baseline; ``tolerance`` is the one that applied,
    in words (``10%+1.0 MiB``)."""

    metric: str
    old: int
    new: int
    tolerance: str
    regressed: bool

    @property
    def percent(self) -> float | None:
        """The change in percent of the baseline (None when the baseline is 0)."""
        return None if self.old == 0 else (self.new - self.old) * 100.0 / self.old

    @property
    def change(self) -> str:
        """The change in words: ``+30.0%`` or ``from 0``."""
        return change_text(self.old, self.new)

    def __str__(self) -> str:
        return regression_text(self.metric, self.old, self.new, self.tolerance, regressed=self.regressed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "metric": self.metric,
            "old": self.old,
            "new": self.new,
            "percent": self.percent,
            "tolerance": self.tolerance,
            "regressed": self.regressed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delta:
        """Rebuild a Delta from :meth:`to_dict` output."""
        return cls(data["metric"], data["old"], data["new"], data["tolerance"], data["regressed"])


def compare(
    old: Mapping[str, int], new: Mapping[str, Any], tolerances: Mapping[str, Tolerance] = DEFAULT_TOLERANCES
) -> list[Delta]:
    """The compared figures of one test, old against new, in ``COMPARED`` order."""
    deltas = []
    for metric in COMPARED:
        if old.get(metric) is None or new.get(metric) is None:
            continue
        before, after = int(old[metric]), int(new[metric])
        tolerance = tolerances.get(metric, DEFAULT_TOLERANCES[metric])
        described = tolerance.describe(size=is_size(metric))
        deltas.append(Delta(metric, before, after, described, not tolerance.allows(before, after)))
    return deltas


def regressions(deltas: Iterable[Delta]) -> list[Delta]:
    """The deltas over their tolerance."""
    return [delta for delta in deltas if delta.regressed]
