"""The limits a measured test must stay within, and the check against a Measurement.

:data:`LIMITS` is the one table of limits: the marker keywords, the ini keys and the
command-line options are all made from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .measure.measurement import Measurement, is_size
from .units import InvalidValue, format_size, parse_count, parse_size, safe_repr

__all__ = [
    "LIMITS",
    "MARKER_HELP",
    "LimitSpec",
    "Limits",
    "Violation",
    "marker_flag",
    "marker_isolate",
    "marker_limits",
    "parse_limits",
]


@dataclasses.dataclass(frozen=True)
class LimitSpec:
    """One limit: its key, the Measurement field it bounds (None for the limits that are
    not checked against a window: ``max_bytes_per_task``, ``hard_limit``), its words in a
    failure line and its help text."""

    name: str
    field: str | None
    description: str
    help: str
    # A count is >= 0 where a measured test can have none of it and 0 says something
    # about the code under test (max_processes=0: it starts no process); else positive,
    # and ``why_not_zero`` says why 0 is refused.
    allow_zero: bool = False
    why_not_zero: str = ""

    @property
    def is_size(self) -> bool:
        """A limit on a size figure is a size; the limits without a figure are sizes too."""
        return self.field is None or is_size(self.field)

    def parse(self, value: object, source: str) -> int:
        """Validate a raw value for this limit (from a marker, ini or CLI)."""
        if self.is_size:
            return parse_size(value, key=self.name, source=source)
        return parse_count(
            value, key=self.name, source=source, allow_zero=self.allow_zero, why_not_zero=self.why_not_zero
        )

    def format(self, value: int) -> str:
        """Render a value of this limit for people."""
        return format_size(value) if self.is_size else str(value)


LIMITS: tuple[LimitSpec, ...] = (
    LimitSpec(
        "max_rss",
        "peak_rss",
        "peak RSS of the test process",
        "Fail measured tests whose peak RSS exceeds this size (e.g. '1 GiB').",
    ),
    LimitSpec(
        "max_rss_growth",
        "rss_growth",
        "RSS growth over the window",
        "Fail measured tests whose peak RSS grows by more than this size over the window.",
    ),
    LimitSpec(
        "max_in_flight",
        "max_in_flight",
        "probe tasks in flight high-water",
        "Fail measured tests whose probe workers have more calls in flight at once.",
        why_not_zero="it bounds calls to flood's probes; 0 would only forbid calling them",
    ),
    LimitSpec(
        "max_tasks",
        "max_tasks",
        "live asyncio tasks high-water",
        "Fail measured tests with more live asyncio tasks at once (0: the test runs no asyncio"
        " task; asyncio.run's main task counts as 1).",
        allow_zero=True,
    ),
    LimitSpec(
        "max_threads",
        "max_threads",
        "OS threads high-water",
        "Fail measured tests whose process runs more OS threads at once (the test's own thread"
        " counts: 1 means it starts no thread).",
        why_not_zero="the test's own thread counts: 1 means it starts no thread",
    ),
    LimitSpec(
        "max_processes",
        "max_processes",
        "child processes high-water",
        "Fail measured tests with more live child processes at once (0: it starts no process).",
        allow_zero=True,
    ),
    LimitSpec(
        "max_held",
        "max_held",
        "synthetic items held high-water",
        "Fail measured tests whose code holds more items taken from flood.tasks() at once.",
        why_not_zero="it bounds items taken from flood.tasks(); 0 would only forbid taking any",
    ),
    LimitSpec(
        "max_requests",
        "max_requests",
        "requests in flight at local servers high-water",
        "Fail measured tests whose code has more requests in flight at once at the session's"
        " local servers (flood.server()).",
        why_not_zero="it bounds requests to flood's local servers; 0 would only forbid sending any",
    ),
    LimitSpec(
        "max_heap",
        "heap_peak",
        "memray heap high-water",
        "Fail measured tests whose heap (memray's exact high-water of live allocations) grows"
        " over this size in the window; turns memray tracing on for them.",
    ),
    LimitSpec(
        "max_bytes_per_task",
        None,
        "RSS growth per task, fitted over flood.scaling()",
        "Fail tests whose flood.scaling() fit shows more RSS growth per task than this (e.g. '256 B').",
    ),
    LimitSpec(
        "hard_limit",
        None,
        "hard memory cap",
        "Run measured tests in a forked child under this memory cap; going over fails the test"
        " instead of killing the session.",
    ),
)

_BY_NAME = {spec.name: spec for spec in LIMITS}


@dataclasses.dataclass(frozen=True)
class Violation:
    """A limit a Measurement crossed."""

    limit: str
    measured: int
    allowed: int
    description: str
    detail: str = ""  # more lines for the failure message, e.g. the points of a fit

    @property
    def is_size(self) -> bool:
        """Whether the limit is on memory (bytes), not on a count."""
        return _BY_NAME[self.limit].is_size

    def __str__(self) -> str:
        spec = _BY_NAME[self.limit]
        measured, allowed = spec.format(self.measured), spec.format(self.allowed)
        if measured == allowed:  # rounding hid the difference: show the bytes
            measured, allowed = str(self.measured), str(self.allowed)
        return f"{self.limit} {measured} > limit {allowed} ({self.description})"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Effective limits of one test; ``None`` means unlimited. A limit holds when the
    measured peak is ``<=`` it."""

    max_rss: int | None = None
    max_rss_growth: int | None = None
    max_in_flight: int | None = None
    max_tasks: int | None = None
    max_threads: int | None = None
    max_processes: int | None = None
    max_held: int | None = None
    max_requests: int | None = None
    max_heap: int | None = None
    max_bytes_per_task: int | None = None
    hard_limit: int | None = None

    def set(self) -> dict[str, int]:
        """The limits that are set, by name."""
        return {s.name: v for s in LIMITS if (v := getattr(self, s.name)) is not None}

    def over(self, other: Limits) -> Limits:
        """These limits, with ``other`` filling in the ones not set here."""
        return dataclasses.replace(other, **self.set())

    def check(self, measurement: Measurement) -> list[Violation]:
        """Every limit the measurement crossed, in declaration order."""
        found = []
        for spec in LIMITS:
            allowed = getattr(self, spec.name)
            if spec.field is None or allowed is None:
                continue
            measured = getattr(measurement, spec.field)
            if measured is not None and measured > allowed:
                found.append(Violation(spec.name, measured, allowed, spec.description))
        return found

    def check_scaling(self, bytes_per_task: float, table: str) -> list[Violation]:
        """The ``max_bytes_per_task`` violation of a scaling fit, if any; ``table`` shows
        the points and the fit in the failure message."""
        allowed = self.max_bytes_per_task
        if allowed is None or bytes_per_task <= allowed:
            return []
        spec = _BY_NAME["max_bytes_per_task"]
        return [Violation(spec.name, round(bytes_per_task), allowed, spec.description, table)]

    def describe(self) -> str:
        """``max_tasks=100, max_rss=1.0 GiB`` or ``none``."""
        parts = [f"{name}={_BY_NAME[name].format(v)}" for name, v in self.set().items()]
        return ", ".join(parts) or "none"


# Marker keywords that are settings of the test, not limits (validated by their owners).
SETTING_KEYWORDS = ("memray", "isolate")
MARKER_HELP = (
    f"boundedload({', '.join(f'{name}=' for name in [*(s.name for s in LIMITS), *SETTING_KEYWORDS])}):"
    " measure this test and fail it when a limit is crossed. Sizes are bytes or strings like"
    " '512 MiB'; counts are positive ints (max_processes and max_tasks may be 0); memray=True"
    " traces it with memray (False: never); isolate=True runs it in a forked child of an unchanged"
    " session process (False: in-process)."
)


def marker_flag(
    marks: Iterable[tuple[tuple[object, ...], Mapping[str, object]]], nodeid: str, key: str
) -> bool | None:
    """The ``key=`` keyword of the closest ``boundedload`` marker that has one (None: not
    given). Only ``True`` and ``False`` are accepted."""
    for _, kwargs in marks:
        if key in kwargs:
            value = kwargs[key]
            if not isinstance(value, bool):
                raise InvalidValue(
                    f"invalid {key}={safe_repr(value)} from marker on {nodeid}: must be True or False"
                )
            return value
    return None


def marker_isolate(
    marks: Iterable[tuple[tuple[object, ...], Mapping[str, object]]], nodeid: str
) -> bool | None:
    """The ``isolate=`` keyword of the closest ``boundedload`` marker that has one (None:
    not given)."""
    return marker_flag(marks, nodeid, "isolate")


def marker_limits(marks: Iterable[tuple[tuple[object, ...], Mapping[str, object]]], nodeid: str) -> Limits:
    """Limits from a test's ``boundedload`` markers as (args, kwargs), closest first
    (function over class over module): the closest marker that sets a limit wins.
    Keywords in :data:`SETTING_KEYWORDS` are left to their owners."""
    limits = Limits()
    source = f"from marker on {nodeid}"
    for args, kwargs in reversed(list(marks)):
        if args:
            raise InvalidValue(
                f"invalid boundedload marker on {nodeid}: takes keyword arguments only, got {safe_repr(args)}"
            )
        given = {key: value for key, value in kwargs.items() if key not in SETTING_KEYWORDS}
        limits = parse_limits(given, source).over(limits)
    return limits


def parse_limits(values: Mapping[str, object], source: str) -> Limits:
    """Validate raw limit values, e.g. a marker's keyword arguments.

    Raises :class:`InvalidValue` naming the key, the value and ``source``.
    """
    parsed: dict[str, int] = {}
    where = f" {source}" if source else ""
    for key, value in values.items():
        spec = _BY_NAME.get(key)
        if spec is None:
            known = ", ".join([*(s.name for s in LIMITS), *SETTING_KEYWORDS])
            raise InvalidValue(f"unknown limit {key}={safe_repr(value)}{where} (known: {known})")
        parsed[key] = spec.parse(value, source)
    return Limits(**parsed)
