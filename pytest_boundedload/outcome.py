"""One measured test's verdict, built once when its call phase ends.

An :class:`Outcome` holds the test's figures, the limits that applied and where each came
from, the lines that fail it (crossed limits, baseline regressions, a ``MemoryError``
under the cap), its baseline status and deltas, and its status word. :func:`judge` makes
it; the plugin attaches it to the call-phase report, encoded exactly once as flat
``report.user_properties``: pytest serialises those with the report, so they reach the
xdist controller (and survive a later crash of the worker), and JUnit XML writes each one
as a ``<property>`` (flat ``boundedload.max_tasks = 20001`` pairs read well on a CI
dashboard, where one dict would be a single unreadable string). A process that receives
the report decodes it once with :func:`decode`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .baseline.compare import Delta, regressions
from .limits import Limits
from .measure.measurement import Measurement, is_size
from .memtrace.sites import HeapSite
from .properties import PREFIX
from .report import (
    SECTION_CROSSED,
    SECTION_HARD_LIMIT,
    SECTION_HEAP_SITES,
    SECTION_MEASUREMENT,
    SECTION_SCALING,
    failure_message,
    heap_sites_lines,
    measurement_section,
)
from .units import format_size

if TYPE_CHECKING:
    from .flood.fit import ScalingReport

__all__ = [
    "MEMORY",
    "PREFIX",
    "STATUS_LETTERS",
    "UNBOUNDED",
    "Outcome",
    "decode",
    "judge",
    "so_far",
    "stopped",
]

# The status words of a test that failed on its figures alone: MEMORY (letter M) when a
# memory figure crossed its limit or regressed, or the hard_limit cap stopped it;
# UNBOUNDED (letter U) when only counts did (tasks, in flight, threads, processes, held).
MEMORY = "MEMORY"
UNBOUNDED = "UNBOUNDED"
STATUS_LETTERS = {MEMORY: "M", UNBOUNDED: "U"}

_VIOLATION = PREFIX + "violation"
_LIMIT = PREFIX + "limit."
_SOURCE = PREFIX + "limit_source."
_DELTA = PREFIX + "baseline.delta"
_BASELINE = PREFIX + "baseline"
_STATUS = PREFIX + "status"
_HEAP_SITE = PREFIX + "heap_site"
_STOPPED = PREFIX + "stopped"
_FIELDS = {field.name for field in dataclasses.fields(Measurement)}


@functools.cache
def _name(kind: str, name: str) -> str:
    # The names every test's properties use, made once: a session keeps every report.
    return kind + name


@functools.lru_cache(maxsize=512, typed=True)
def _pair(name: str, value: object) -> tuple[str, object]:
    # pytest keeps every report to the end of the session, and most of a report's pairs
    # repeat from test to test (zero counts, the limits and their sources): those are one
    # tuple, shared. Typed, so that True, 1 and 1.0 stay apart.
    return (name, value)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The verdict on one measured test.

    - ``measurement``: the test's figures (its windows combined), None if none were taken;
    - ``limits``: the limits that applied, by name; ``limit_sources``: where each came
      from (``marker``, ``option``, ``ini``);
    - ``violations``: one line per crossed limit, baseline regression or cap reached;
    - ``baseline``: ``"new"``, ``"compared"`` or None (not compared); ``deltas``: the
      compared figures;
    - ``status``: :data:`MEMORY` when these alone failed the test, else None;
    - ``heap_sites``: with memray tracing, the top allocation sites at the heap peak;
    - ``stopped``: the test's capped child was stopped before it reported (killed by its
      cap, a signal or a timeout): ``measurement`` then holds only the last figures it
      sent (peak RSS, probe calls started), which no baseline takes.

    ``failure_lines`` (the failure message) and ``sections`` (the report sections) are
    what the plugin adds to the report in the process that ran the test; they are not
    encoded, since the report carries them itself.
    """

    measurement: Measurement | None = None
    limits: Mapping[str, int] = dataclasses.field(default_factory=dict)
    limit_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    violations: tuple[str, ...] = ()
    baseline: str | None = None
    deltas: tuple[Delta, ...] = ()
    status: str | None = None
    heap_sites: tuple[HeapSite, ...] = ()
    stopped: bool = False
    failure_lines: tuple[str, ...] = ()
    sections: tuple[tuple[str, str], ...] = ()

    def without_text(self) -> Outcome:
        """This outcome without what only its report needed (failure lines, sections):
        what a session keeps to its end (the gate's baseline and JSON report)."""
        if not (self.failure_lines or self.sections):
            return self
        return dataclasses.replace(self, failure_lines=(), sections=())

    @property
    def crossed(self) -> bool:
        """Whether anything failed the test: a limit, a regression or the cap."""
        return bool(self.violations)

    def to_properties(self) -> list[tuple[str, object]]:
        """The flat user properties that carry this outcome with a report."""
        pairs: list[tuple[str, object]] = []
        if self.measurement is not None:
            pairs.extend(
                _pair(_name(PREFIX, name), value)
                for name, value in self.measurement.to_dict().items()
                if value is not None
            )
        pairs.extend(_pair(_name(_LIMIT, name), value) for name, value in self.limits.items())
        pairs.extend(_pair(_name(_SOURCE, name), value) for name, value in self.limit_sources.items())
        pairs.extend((_VIOLATION, line) for line in self.violations)
        if self.baseline is not None:
            pairs.append(_pair(_BASELINE, self.baseline))
        pairs.extend((_DELTA, json.dumps(delta.to_dict(), sort_keys=True)) for delta in self.deltas)
        if self.status is not None:
            pairs.append(_pair(_STATUS, self.status))
        pairs.extend((_HEAP_SITE, json.dumps(site.to_dict(), sort_keys=True)) for site in self.heap_sites)
        if self.stopped:
            pairs.append(_pair(_STOPPED, True))
        return pairs


def decode(properties: Iterable[tuple[str, object]]) -> Outcome:
    """Rebuild what :meth:`Outcome.to_properties` attached; other properties are ignored."""
    figures: dict[str, Any] = {}
    limits: dict[str, int] = {}
    sources: dict[str, str] = {}
    violations: list[str] = []
    deltas: list[Delta] = []
    sites: list[HeapSite] = []
    baseline = status = None
    was_stopped = False
    for name, value in properties:
        if not name.startswith(PREFIX):
            continue
        if name == _VIOLATION:
            violations.append(str(value))
        elif name.startswith(_LIMIT) and isinstance(value, int):
            limits[name[len(_LIMIT) :]] = value
        elif name.startswith(_SOURCE):
            sources[name[len(_SOURCE) :]] = str(value)
        elif name == _BASELINE:
            baseline = str(value)
        elif name == _DELTA:
            deltas.append(Delta.from_dict(json.loads(str(value))))
        elif name == _STATUS:
            status = str(value)
        elif name == _STOPPED:
            was_stopped = bool(value)
        elif name == _HEAP_SITE:
            sites.append(HeapSite.from_dict(json.loads(str(value))))
        elif name[len(PREFIX) :] in _FIELDS:
            figures[name[len(PREFIX) :]] = value
    return Outcome(
        measurement=Measurement.from_dict(figures) if figures else None,
        limits=limits,
        limit_sources=sources,
        violations=tuple(violations),
        baseline=baseline,
        deltas=tuple(deltas),
        status=status,
        heap_sites=tuple(sites),
        stopped=was_stopped,
    )


def _sections(
    measurement: Measurement | None,
    scaling: Sequence[ScalingReport],
    limits: Limits,
    heap_sites: Sequence[HeapSite] = (),
) -> list[tuple[str, str]]:
    sections = [(SECTION_SCALING, report.table()) for report in scaling]
    if measurement is not None:
        sections.append((SECTION_MEASUREMENT, measurement_section(measurement, limits)))
        if heap_sites:
            lines = heap_sites_lines(heap_sites, measurement.tasks_started)
            sections.append((SECTION_HEAP_SITES, "\n".join(lines)))
    return sections


def judge(
    *,
    measurement: Measurement | None,
    scaling: Sequence[ScalingReport],
    limits: Limits,
    sources: Mapping[str, str],
    baseline: str | None,
    deltas: Sequence[Delta],
    error: BaseException | None,
    heap_sites: Sequence[HeapSite] = (),
) -> Outcome:
    """The verdict on a test whose call phase ended, with ``error`` (None if it passed).

    The test fails on its figures (status :data:`MEMORY`) when it passed on its own but
    crossed a limit or regressed, or when the only thing wrong is its ``hard_limit`` cap
    reached inside its capped child (see :func:`~.isolate.capped.cap_reached`). A test
    that failed on its own keeps its failure; what it crossed goes into a report section.
    With memray tracing, the top allocation sites follow the failure lines.
    """
    crossed = limits.check(measurement) if measurement is not None else []
    for report in scaling:
        crossed += limits.check_scaling(report.bytes_per_task, report.table())
    regression_lines = [f"baseline regression: {delta}" for delta in regressions(deltas)]
    message = failure_message(crossed)
    failure_lines = ([message] if message else []) + regression_lines
    violations = [str(v) for v in crossed] + regression_lines
    sections = _sections(measurement, scaling, limits, heap_sites)
    if failure_lines and heap_sites and measurement is not None:
        failure_lines += heap_sites_lines(heap_sites, measurement.tasks_started)
    # In the capped child of a hard_limit test, the cap shows as an exception there: a
    # MemoryError, or under RLIMIT_DATA a thread that cannot start, an ENOMEM.
    reached = None
    if limits.hard_limit is not None:
        from .isolate.capped import cap_reached  # only a hard_limit test's

        reached = cap_reached(error)
    out_of_memory = reached is not None
    if reached is not None:
        cap, kind, what = reached
        line = f"exceeded hard_limit {format_size(cap)} ({kind}): {what}"
        sections.append((SECTION_HARD_LIMIT, line))
        violations.append(line)
    if failure_lines and error is not None:
        sections.append((SECTION_CROSSED, "\n".join(failure_lines)))
    if error is not None:
        from .server.fdlimit import SECTION_DESCRIPTORS, descriptors_note

        note = descriptors_note(error)
        if note is not None:
            sections.append((SECTION_DESCRIPTORS, note))
    on_figures = (failure_lines and error is None) or (out_of_memory and not failure_lines)
    memory = (
        out_of_memory
        or any(violation.is_size for violation in crossed)
        or any(is_size(delta.metric) for delta in regressions(deltas))
    )
    return Outcome(
        measurement=measurement,
        limits=limits.set(),
        limit_sources={name: sources[name] for name in limits.set() if name in sources},
        violations=tuple(violations),
        baseline=baseline,
        deltas=tuple(deltas),
        status=(MEMORY if memory else UNBOUNDED) if on_figures else None,
        heap_sites=tuple(heap_sites),
        failure_lines=tuple(failure_lines),
        sections=tuple(sections),
    )


def so_far(
    measurement: Measurement | None,
    scaling: Sequence[ScalingReport],
    limits: Limits,
    sources: Mapping[str, str],
) -> Outcome:
    """The figures of a test whose call phase is still running (a subtest's report): no
    verdict yet."""
    return Outcome(
        measurement=measurement,
        limits=limits.set(),
        limit_sources={name: sources[name] for name in limits.set() if name in sources},
        sections=tuple(_sections(measurement, scaling, limits)),
    )


def stopped(
    line: str, *, memory: bool, heap_sites: Sequence[HeapSite] = (), last: Mapping[str, int] | None = None
) -> Outcome:
    """The outcome of a test whose capped child was stopped before it reported: the cap
    reached (status :data:`MEMORY`), or a crash or a timeout (a plain failure); with the
    top allocation sites its memray capture showed, and the ``last`` figures it sent
    (``peak_rss``, ``tasks_started``), so the end-of-run ranking shows it."""
    measurement = None
    if last is not None:
        measurement = Measurement(peak_rss=int(last["peak_rss"]), tasks_started=int(last["tasks_started"]))
    return Outcome(
        measurement=measurement,
        violations=(line,) if memory else (),
        status=MEMORY if memory else None,
        heap_sites=tuple(heap_sites),
        stopped=True,
    )
