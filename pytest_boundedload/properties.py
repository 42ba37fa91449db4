"""Per-test figures as flat ``report.user_properties``.

pytest serialises user properties with the report, so they reach the xdist controller
(and survive a later crash of the worker), and JUnit XML writes each one as a
``<property>``: flat ``boundedload.max_tasks = 20001`` pairs read well on a CI dashboard,
where one dict would be a single unreadable string. :func:`decode` rebuilds the figures.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .measurement import Measurement

__all__ = ["PREFIX", "Decoded", "decode", "encode"]

PREFIX = "boundedload."
_VIOLATION = PREFIX + "violation"
_LIMIT = PREFIX + "limit."
_DELTA = PREFIX + "baseline.delta"
_BASELINE = PREFIX + "baseline"
_FIELDS = {field.name for field in dataclasses.fields(Measurement)}


@dataclasses.dataclass
class Decoded:
    """What the plugin attached to one report."""

    measurement: Measurement | None = None
    violations: list[str] = dataclasses.field(default_factory=list)
    limits: dict[str, int] = dataclasses.field(default_factory=dict)
    baseline: str | None = None  # "new", "compared", or None when not compared
    deltas: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def encode(
    measurement: Measurement | None = None,
    *,
    violations: Iterable[str] = (),
    limits: Mapping[str, int] | None = None,
    baseline: str | None = None,
    deltas: Iterable[Mapping[str, Any]] = (),
) -> list[tuple[str, object]]:
    """The user properties for one report."""
    pairs: list[tuple[str, object]] = []
    if measurement is not None:
        pairs.extend((PREFIX + name, value) for name, value in measurement.to_dict().items())
    pairs.extend((_LIMIT + name, value) for name, value in (limits or {}).items())
    pairs.extend((_VIOLATION, line) for line in violations)
    if baseline is not None:
        pairs.append((_BASELINE, baseline))
    pairs.extend((_DELTA, json.dumps(dict(delta), sort_keys=True)) for delta in deltas)
    return pairs


def decode(properties: Iterable[tuple[str, object]]) -> Decoded:
    """Rebuild what :func:`encode` attached; other properties are ignored."""
    decoded = Decoded()
    figures: dict[str, Any] = {}
    for name, value in properties:
        if not name.startswith(PREFIX):
            continue
        if name == _VIOLATION:
            decoded.violations.append(str(value))
        elif name.startswith(_LIMIT) and isinstance(value, int):
            decoded.limits[name[len(_LIMIT) :]] = value
        elif name == _BASELINE:
            decoded.baseline = str(value)
        elif name == _DELTA:
            decoded.deltas.append(json.loads(str(value)))
        elif name[len(PREFIX) :] in _FIELDS:
            figures[name[len(PREFIX) :]] = value
    if figures:
        decoded.measurement = Measurement.from_dict(figures)
    return decoded
