"""pytest hooks of pytest-boundedload; the work is done in the modules they call."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import hookspecs
from .baseline import Delta
from .flood import Flood
from .gate import BaselineGate
from .gate import failure_lines as regression_lines
from .gauge import remove_stale
from .hardlimit import SECTION as HARD_LIMIT_SECTION
from .hardlimit import run_hard_limited
from .limits import Limits, Violation, parse_limits
from .measurement import Measurement
from .options import Settings, add_options, read_settings
from .properties import decode, encode
from .recorder import Recorder
from .report import (
    failure_message,
    header_line,
    measurement_section,
    summary_lines,
)
from .sampler import peak_rss_now, vmhwm_available
from .units import InvalidValue, format_size
from .xdist_glue import NOTES_DIR_KEY, USAGE_ERROR_KEY, CrashNotes, XdistController, is_worker

if TYPE_CHECKING:
    import pluggy

MARKER = "boundedload"
_MARKER_HELP = (
    "boundedload(max_rss=, max_rss_growth=, max_in_flight=, max_tasks=, max_threads=,"
    " max_processes=): measure this test and fail it when a limit is crossed."
    " Sizes are bytes or strings like '512 MiB'; counts are positive ints."
)

SECTION_CROSSED = "boundedload limits crossed"

_PLUGIN_KEY = pytest.StashKey["BoundedLoadPlugin"]()
_LIMITS_KEY = pytest.StashKey[Limits]()
_RECORDER_KEY = pytest.StashKey[Recorder]()
_VIOLATIONS_KEY = pytest.StashKey[list[Violation]]()
_BASELINE_KEY = pytest.StashKey[tuple[str | None, list[Delta]]]()


class LimitExceeded(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A measured test crossed one of its limits."""


# Shown without a module path in tracebacks and summaries, like pytest's own Failed.
LimitExceeded.__module__ = "builtins"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    notes = None
    if is_worker(config):
        directory = config.workerinput.get(NOTES_DIR_KEY)  # type: ignore[attr-defined]
        if directory:
            notes = CrashNotes(directory, config.workerinput["workerid"])  # type: ignore[attr-defined]
    settings = read_settings(config)
    gate = BaselineGate(settings.gate, writer=not is_worker(config))
    # Workers' reports reach the controller, which announces them.
    plugin = BoundedLoadPlugin(settings, gate, notes, hook=None if is_worker(config) else config.hook)
    config.stash[_PLUGIN_KEY] = plugin
    config.pluginmanager.register(plugin, "boundedload-session")
    if not is_worker(config):
        remove_stale()  # shared counters of processes killed in an earlier session
    if config.pluginmanager.hasplugin("xdist") and not is_worker(config):
        config.pluginmanager.register(XdistController(), "boundedload-xdist")


@pytest.fixture
def flood(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Flood:
    """Flood the code under test with synthetic tasks; measures the test's call phase.

    See :class:`pytest_boundedload.Flood` for ``tasks``, ``aworker``, ``worker``,
    ``patch``, ``measure`` and ``last``.
    """
    plugin = request.config.stash[_PLUGIN_KEY]
    return Flood(plugin.recorder_for(request.node), monkeypatch)


def _is_measured(item: pytest.Item) -> bool:
    return "flood" in getattr(item, "fixturenames", ()) or item.get_closest_marker(MARKER) is not None


def _marker_limits(item: pytest.Item) -> Limits:
    """Limits from the item's markers, the closest (function over class over module) winning."""
    limits = Limits()
    source = f"from marker on {item.nodeid}"
    for mark in reversed(list(item.iter_markers(MARKER))):
        if mark.args:
            raise InvalidValue(
                f"invalid {MARKER} marker on {item.nodeid}: takes keyword arguments only, got {mark.args!r}"
            )
        limits = parse_limits(mark.kwargs, source).over(limits)
    return limits


class BoundedLoadPlugin:
    """Session state and the hooks that need it."""

    def __init__(
        self,
        settings: Settings,
        gate: BaselineGate,
        notes: CrashNotes | None = None,
        hook: pluggy.HookRelay | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.notes = notes
        self.hook = hook  # None in an xdist worker
        self.rows: list[tuple[str, Measurement, bool]] = []

    def recorder_for(self, item: pytest.Item) -> Recorder:
        """The item's recorder, made on first use (a test may request ``flood`` late)."""
        recorder = item.stash.get(_RECORDER_KEY, None)
        if recorder is None:
            recorder = item.stash[_RECORDER_KEY] = Recorder(self.settings.interval)
            cap = self._limits(item).hard_limit
            if cap is not None:
                recorder.cap = cap
            notes = self.notes
            if notes is not None:
                gauge, nodeid = recorder.gauge, item.nodeid
                recorder.on_tick = lambda: notes.write(
                    nodeid, {"tasks_started": gauge.read().started, "peak_rss": peak_rss_now()}
                )
        return recorder

    def pytest_report_header(self, config: pytest.Config) -> str:
        source = "vmhwm" if vmhwm_available() else "sampled"  # resets this process's peak: harmless here
        return header_line(self.settings.limits, source, self.settings.interval)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        for item in items:
            try:
                limits = _marker_limits(item)
            except InvalidValue as exc:
                message = f"boundedload: {exc}"
                if is_worker(config):
                    config.workeroutput[USAGE_ERROR_KEY] = message  # type: ignore[attr-defined]
                    items.clear()
                    return
                raise pytest.UsageError(message) from None
            item.stash[_LIMITS_KEY] = limits.over(self.settings.limits)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        cap = self._limits(item).hard_limit
        if cap is None or not _is_measured(item):
            return None
        run_hard_limited(item, nextitem, cap, lambda: item.stash.get(_RECORDER_KEY, None))
        return True

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # A rerun (pytest-rerunfailures) runs the same item again: it starts afresh.
        if _VIOLATIONS_KEY in item.stash:
            del item.stash[_VIOLATIONS_KEY]
        if _BASELINE_KEY in item.stash:
            del item.stash[_BASELINE_KEY]
        if _RECORDER_KEY in item.stash:
            item.stash[_RECORDER_KEY].close()
            del item.stash[_RECORDER_KEY]
        if _is_measured(item):
            self.recorder_for(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        recorder = item.stash.get(_RECORDER_KEY, None)
        if recorder is None:
            return (yield)
        recorder.begin_call()
        try:
            result = yield
        finally:
            recorder.end_call()
            limits = self._limits(item)
            measurement = recorder.result()
            violations = limits.check(measurement) if measurement is not None else []
            for report in recorder.scaling_reports:
                violations += limits.check_scaling(report.bytes_per_task, report.table())
            item.stash[_VIOLATIONS_KEY] = violations
            if measurement is not None:
                item.stash[_BASELINE_KEY] = self.gate.check(item.nodeid, measurement.to_dict())
        lines = self._failure_lines(item)
        if lines:
            raise LimitExceeded("\n".join(lines), pytrace=False)
        return result

    def _failure_lines(self, item: pytest.Item) -> list[str]:
        """Crossed limits, then baseline regressions: the lines that fail a measured test."""
        violations: list[Violation] = item.stash.get(_VIOLATIONS_KEY, [])
        message = failure_message(violations)
        _, deltas = item.stash.get(_BASELINE_KEY, (None, []))
        return ([message] if message else []) + regression_lines(deltas)

    def _limits(self, item: pytest.Item) -> Limits:
        return item.stash.get(_LIMITS_KEY, self.settings.limits)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        recorder = item.stash.get(_RECORDER_KEY, None)
        if call.when != "call" or recorder is None:
            return report
        limits = self._limits(item)
        for scaling in recorder.scaling_reports:
            report.sections.append(("boundedload scaling", scaling.table()))
        measurement = recorder.result()
        if measurement is not None:
            report.sections.append(("boundedload measurement", measurement_section(measurement, limits)))
        own = self._failure_lines(item)
        violations = [str(v) for v in item.stash.get(_VIOLATIONS_KEY, [])]
        status, deltas = item.stash.get(_BASELINE_KEY, (None, []))
        violations += regression_lines(deltas)
        memory_error = call.excinfo is not None and call.excinfo.errisinstance(MemoryError)
        if limits.hard_limit is not None and memory_error:
            # Under RLIMIT_DATA the cap shows up as a MemoryError inside the test.
            line = f"exceeded hard_limit {format_size(limits.hard_limit)}: MemoryError"
            report.sections.append((HARD_LIMIT_SECTION, line))
            violations.append(line)
        if own and call.excinfo is not None and not isinstance(call.excinfo.value, LimitExceeded):
            report.sections.append((SECTION_CROSSED, "\n".join(own)))
        properties = encode(
            measurement,
            violations=violations,
            limits=limits.set(),
            baseline=status,
            deltas=[delta.to_dict() for delta in deltas],
        )
        report.user_properties.extend(properties)
        # As record_property does: JUnit XML writes the item's properties (with the
        # teardown report), so CI dashboards show every figure.
        item.user_properties.extend(properties)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        try:
            return (yield)
        finally:
            recorder = item.stash.get(_RECORDER_KEY, None)
            if recorder is not None:
                recorder.close()

    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        # M only when the limits alone failed the test; a test that failed on its own
        # keeps F and shows the crossed limits in a section of its report.
        if (
            report.when == "call"
            and report.failed
            and decode(report.user_properties).violations
            and not any(name == SECTION_CROSSED for name, _ in report.sections)
        ):
            return "failed", "M", ("MEMORY", {"red": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.gate.seen(report.nodeid)
        if report.when != "call" or report.skipped:
            return
        decoded = decode(report.user_properties)
        if decoded.measurement is not None:
            self.rows.append((report.nodeid, decoded.measurement, bool(decoded.violations)))
        self.gate.record(report, decoded)
        # Once per test: not for the reports of its subtests (they carry the figures so
        # far) nor for a rerun's (pytest-rerunfailures: outcome "rerun").
        final = type(report) is pytest.TestReport and report.outcome in ("passed", "failed")
        if self.hook is not None and decoded.measurement is not None and final:
            self.hook.pytest_boundedload_measured(
                report=report, measurement=decoded.measurement, violations=list(decoded.violations)
            )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        self.gate.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        top = self.settings.summary
        if not self.rows or top <= 0:
            return
        count = len(self.rows)
        noun = "test" if count == 1 else "tests"
        terminalreporter.write_sep("=", f"boundedload: {count} measured {noun} by peak RSS")
        for line in summary_lines(self.rows, top):
            terminalreporter.write_line(line)
        gate_lines = self.gate.summary_lines()
        if gate_lines:
            terminalreporter.write_sep("-", f"boundedload: compared with {self.gate.settings.path}")
            for line in gate_lines:
                terminalreporter.write_line(line)
