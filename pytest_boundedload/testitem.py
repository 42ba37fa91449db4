"""What the plugin keeps per test between its hooks, and each report's outcome.

A test's state lives in its item's stash: the effective limits and where each came
from (set at collection), its windows (made at setup, or when ``flood`` is requested)
and, once its call phase ended, its :class:`~.outcome.Outcome`. Teardown drops it: the
item lives for the whole session, a test's counters, windows and verdict need not (a
long session keeps nothing per test). Reports get their outcome once: the one made in
this process, or decoded from the report's properties.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .limits import Limits, marker_isolate, marker_limits
from .memtrace.settings import marker_trace, traced
from .properties import carries_outcome
from .units import InvalidValue

# What only a measured test needs (its verdict, its memray tracing) is imported when it
# is measured: every collected test gets a state, most runs measure few of them.
if TYPE_CHECKING:
    from .baseline.compare import Delta
    from .flood.windows import TestWindows
    from .measure.measurement import Measurement
    from .memtrace.tracer import TraceConfig
    from .options import Settings
    from .outcome import Outcome
    from .xdist_glue import CrashNotes

__all__ = ["ItemState", "LimitExceeded", "ReportOutcomes", "drop_state", "new_state", "state_of"]

Marks = Sequence[tuple[tuple[object, ...], Mapping[str, object]]]

Comparison = Callable[["Measurement"], "tuple[str | None, list[Delta]]"]

_STATE_KEY = pytest.StashKey["ItemState"]()


class LimitExceeded(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A measured test crossed one of its limits."""


# Shown without a module path in tracebacks and summaries, like pytest's own Failed.
LimitExceeded.__module__ = "builtins"


@dataclasses.dataclass
class ItemState:
    """One test's limits (with their sources), windows and outcome."""

    limits: Limits
    sources: Mapping[str, str]
    windows: TestWindows | None = None
    outcome: Outcome | None = None
    trace: TraceConfig | None = None  # memray tracing of the test's windows, if on
    report_dir: Path | None = None  # where its pictures go (--boundedload-report-dir)
    failed: bool = False  # its call phase failed: pictures of why
    call_pid: int = 0  # the process its call phase began in
    isolate: bool = False  # run in a forked child of the unchanged session process

    def open_windows(self, interval: float, notes: CrashNotes | None, nodeid: str) -> TestWindows:
        """The test's windows, made on first use (a test may request ``flood`` late);
        under xdist they keep the worker's crash notes up to date."""
        if self.windows is None:
            from .flood.windows import TestWindows  # asyncio and the rest: first measured test only

            # No timeline in a capped child: drawing it there would count against its cap.
            record = self.report_dir is not None and self.limits.hard_limit is None
            self.windows = TestWindows(interval, self.limits.hard_limit, self.trace, record)
            if notes is not None:
                self.windows.on_tick = notes.ticker(nodeid, self.windows.in_flight)
        return self.windows

    def tasks_started(self) -> int:
        """Probe calls started so far in the test's windows."""
        return self.windows.in_flight.read().started if self.windows is not None else 0

    def restart(self) -> None:
        """Forget a previous run of the same item (pytest-rerunfailures runs it again)."""
        self.outcome = None
        if self.windows is not None:
            self.windows.close()
            self.windows = None

    def close(self, nodeid: str) -> None:
        """Close the windows (at teardown), draw the test's pictures when a report
        directory is set, and let the windows go: the item lives for the whole session,
        its counters need not."""
        if self.windows is not None:
            windows, self.windows = self.windows, None
            windows.close()
            if self.report_dir is not None:
                from .pictures.render import render_test

                capped = self.limits.hard_limit is not None
                render_test(self.report_dir, nodeid, windows, failed=self.failed, capped=capped)

    def begin_call(self, windows: TestWindows) -> None:
        """Open the call-phase window, noting which process runs the call."""
        self.call_pid = os.getpid()
        windows.begin_call()

    def finish_call(self, windows: TestWindows, compare: Comparison, error: BaseException | None) -> Outcome:
        """Close the call-phase window and judge the test; raise :class:`LimitExceeded`
        when its figures alone fail it.

        A child the test forked itself (``os.fork``) that returns into pytest instead of
        exiting ends here, with status 0 (or 1 if the test raised in it): it would
        otherwise report the test a second time and run the rest of the session again.
        """
        if self.call_pid and os.getpid() != self.call_pid:
            os._exit(0 if error is None else 1)
        from .memtrace.coexist import OWN_TRACKER_HINT, is_tracker_clash
        from .outcome import STATUS_LETTERS, judge

        windows.end_call()
        self.failed = error is not None
        if self.trace is not None and self.trace.borrow is None and is_tracker_clash(error):
            raise pytest.fail.Exception(OWN_TRACKER_HINT, pytrace=False) from error
        measurement = windows.result()
        baseline, deltas = compare(measurement) if measurement is not None else (None, [])
        self.outcome = judge(
            measurement=measurement,
            scaling=windows.scaling_reports,
            limits=self.limits,
            sources=self.sources,
            baseline=baseline,
            deltas=deltas,
            error=error,
            heap_sites=windows.heap_sites,
        )
        self.failed = self.failed or self.outcome.crossed
        if self.outcome.status in STATUS_LETTERS and self.outcome.failure_lines:
            raise LimitExceeded("\n".join(self.outcome.failure_lines), pytrace=False)
        return self.outcome

    def attach(self, item: pytest.Item, report: pytest.TestReport) -> Outcome:
        """Add the outcome to a call-phase report: its sections, and its one encoding as
        properties (for xdist and JUnit). While the call phase runs (a subtest's report)
        that is the figures so far."""
        from .outcome import so_far

        outcome = self.outcome
        if outcome is None:
            assert self.windows is not None
            windows = self.windows
            outcome = so_far(windows.result(), windows.scaling_reports, self.limits, self.sources)
        if report.failed or _shows_passes(item.config):
            # pytest keeps every report to the end of the session, and shows a passing
            # test's sections only with -rP or -rA: only then do they go with it.
            report.sections.extend(outcome.sections)
        properties = outcome.to_properties()
        report.user_properties.extend(properties)
        if item.config.getoption("xmlpath", None):
            # As record_property does: JUnit XML writes the item's properties (with the
            # teardown report), so CI dashboards show every figure. Only then: the item
            # and its teardown report live for the whole session.
            item.user_properties.extend(properties)
        return outcome


Borrow = Callable[[], Path | None]


def _shows_passes(config: pytest.Config) -> bool:
    """Whether the run shows the sections of passing tests (``-rP``, ``-rA``)."""
    from _pytest.terminal import getreportopt

    return "P" in getreportopt(config)


def new_state(
    settings: Settings, nodeid: str, marks: Marks = (), borrow: Callable[[], Borrow | None] | None = None
) -> ItemState:
    """The state of the test ``nodeid`` with its ``boundedload`` markers' (args, kwargs),
    closest first; raises :class:`~.units.InvalidValue` for a bad marker value. ``borrow``
    (asked only if the test is traced) gives a function returning pytest-memray's capture
    of the test when that plugin traces it.

    Made for every collected test, so a test without markers takes the session's
    settings as they are."""
    sources: Mapping[str, str]
    if marks:
        marked = marker_limits(marks, nodeid)
        limits = marked.over(settings.limits)
        sources = {**settings.limit_sources, **dict.fromkeys(marked.set(), "marker")}
    else:
        limits, sources = settings.limits, settings.limit_sources
    trace = None
    if traced(settings.trace, marker_trace(marks, nodeid), limits.max_heap, sources.get("max_heap"), nodeid):
        from .memtrace.capture import unavailable
        from .memtrace.tracer import TraceConfig

        why = unavailable() if limits.max_heap is not None else None
        if why is not None:
            raise InvalidValue(f"max_heap on {nodeid} needs memray tracing, but {why}")
        trace = TraceConfig(
            directory=settings.trace.capture_dir,
            label=nodeid,
            top=settings.trace.top,
            keep=settings.trace.report_dir is not None,
            survive_kill=limits.hard_limit is not None,
            borrow=borrow() if borrow is not None else None,
        )
    isolate = marker_isolate(marks, nodeid)
    return ItemState(
        limits,
        sources,
        trace=trace,
        report_dir=settings.trace.report_dir,
        isolate=settings.isolate if isolate is None else isolate,
    )


def state_of(item: pytest.Item, default: Callable[[], ItemState]) -> ItemState:
    """The item's state; ``default()`` makes it for an item collection did not see."""
    state = item.stash.get(_STATE_KEY, None)
    if state is None:
        state = item.stash[_STATE_KEY] = default()
    return state


def drop_state(item: pytest.Item) -> ItemState | None:
    """Take the item's state out of its stash (at teardown), or None if it has none."""
    state = item.stash.get(_STATE_KEY, None)
    if state is not None:
        del item.stash[_STATE_KEY]
    return state


class ReportOutcomes:
    """The outcomes of the latest reports, made or decoded once and read by every hook
    after (``pytest_report_teststatus``, ``pytest_runtest_logreport``).

    Kept by id, since some reports (pytest-subtests') are not hashable, with the report
    itself, so its id cannot be reused while kept; only the latest :data:`KEPT`, so a
    long session keeps nothing per test. An older report's outcome is decoded again.
    """

    KEPT = 64

    def __init__(self) -> None:
        self._outcomes: dict[int, tuple[pytest.TestReport, Outcome]] = {}

    def remember(self, report: pytest.TestReport, outcome: Outcome) -> None:
        """``outcome`` is ``report``'s."""
        self._outcomes.pop(id(report), None)
        self._outcomes[id(report)] = (report, outcome)
        if len(self._outcomes) > self.KEPT:
            del self._outcomes[next(iter(self._outcomes))]  # the oldest

    def known(self, report: pytest.TestReport) -> bool:
        """Whether ``report`` has an outcome: made here, or carried in its properties."""
        return id(report) in self._outcomes or carries_outcome(report.user_properties)

    def of(self, report: pytest.TestReport) -> Outcome:
        """The report's outcome: the one made here, or decoded once (xdist, hard_limit)."""
        kept = self._outcomes.get(id(report))
        if kept is not None:
            return kept[1]
        from .outcome import decode

        outcome = decode(report.user_properties)
        self.remember(report, outcome)
        return outcome
