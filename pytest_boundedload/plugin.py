"""pytest hooks of pytest-boundedload; the work is done in the modules they call."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from .flood import Flood
from .hardlimit import SECTION as HARD_LIMIT_SECTION
from .hardlimit import run_hard_limited
from .limits import Limits, Violation, parse_limits
from .measurement import Measurement
from .options import Settings, add_options, read_settings
from .recorder import Recorder
from .report import (
    PROPERTY_MEASUREMENT,
    PROPERTY_VIOLATIONS,
    failure_message,
    header_line,
    measurement_section,
    summary_lines,
)
from .sampler import peak_rss_now, vmhwm_available
from .units import InvalidValue, format_size
from .xdist_glue import NOTES_DIR_KEY, USAGE_ERROR_KEY, CrashNotes, XdistController, is_worker

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


class LimitExceeded(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A measured test crossed one of its limits."""


# Shown without a module path in tracebacks and summaries, like pytest's own Failed.
LimitExceeded.__module__ = "builtins"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    notes = None
    if is_worker(config):
        directory = config.workerinput.get(NOTES_DIR_KEY)  # type: ignore[attr-defined]
        if directory:
            notes = CrashNotes(directory, config.workerinput["workerid"])  # type: ignore[attr-defined]
    plugin = BoundedLoadPlugin(read_settings(config), notes)
    config.stash[_PLUGIN_KEY] = plugin
    config.pluginmanager.register(plugin, "boundedload-session")
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

    def __init__(self, settings: Settings, notes: CrashNotes | None = None) -> None:
        self.settings = settings
        self.notes = notes
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
        violations = item.stash.get(_VIOLATIONS_KEY, [])
        if violations:
            raise LimitExceeded(failure_message(violations), pytrace=False)
        return result

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
        for scaling in recorder.scaling_reports:
            report.sections.append(("boundedload scaling", scaling.table()))
        measurement = recorder.result()
        if measurement is not None:
            report.user_properties.append((PROPERTY_MEASUREMENT, measurement.to_dict()))
            report.sections.append(
                ("boundedload measurement", measurement_section(measurement, self._limits(item)))
            )
        violations = [str(v) for v in item.stash.get(_VIOLATIONS_KEY, [])]
        cap = self._limits(item).hard_limit
        if cap is not None and call.excinfo is not None and call.excinfo.errisinstance(MemoryError):
            # Under RLIMIT_DATA the cap shows up as a MemoryError inside the test.
            line = f"exceeded hard_limit {format_size(cap)}: MemoryError"
            report.sections.append((HARD_LIMIT_SECTION, line))
            violations.append(line)
        if violations:
            report.user_properties.append((PROPERTY_VIOLATIONS, violations))
            own = item.stash.get(_VIOLATIONS_KEY, [])
            if own and call.excinfo is not None and not isinstance(call.excinfo.value, LimitExceeded):
                report.sections.append((SECTION_CROSSED, failure_message(own)))
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
            and _property(report, PROPERTY_VIOLATIONS)
            and not any(name == SECTION_CROSSED for name, _ in report.sections)
        ):
            return "failed", "M", ("MEMORY", {"red": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or report.skipped:
            return
        figures = _property(report, PROPERTY_MEASUREMENT)
        if isinstance(figures, dict):
            crossed = bool(_property(report, PROPERTY_VIOLATIONS))
            self.rows.append((report.nodeid, Measurement.from_dict(figures), crossed))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        top = self.settings.summary
        if not self.rows or top <= 0:
            return
        count = len(self.rows)
        noun = "test" if count == 1 else "tests"
        terminalreporter.write_sep("=", f"boundedload: {count} measured {noun} by peak RSS")
        for line in summary_lines(self.rows, top):
            terminalreporter.write_line(line)


def _property(report: pytest.TestReport, name: str) -> Any:
    for key, value in report.user_properties:
        if key == name:
            return value
    return None
