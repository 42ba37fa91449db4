"""The session side of the plugin: its settings, the per-test hooks and the end-of-run
summary. Loaded by ``pytest_configure`` (:mod:`.plugin` itself imports almost nothing, so
a pytest run where the plugin is installed pays for it only once it configures)."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from .baseline.gate import BaselineGate
from .baseline.scope import Scope
from .limits import MARKER_HELP
from .measure.procfs import vmhwm_available
from .measure.sharedfiles import remove_stale
from .memtrace.coexist import borrowed_capture
from .options import Settings, read_settings
from .report import SummaryRows
from .testitem import ItemState, Marks, ReportOutcomes, drop_state, new_state, state_of
from .units import InvalidValue
from .xdist_glue import (
    DESELECTED_KEY,
    USAGE_ERROR_KEY,
    CrashNotes,
    XdistController,
    is_worker,
    xdist_stop_reason,
)

if TYPE_CHECKING:
    import pluggy

    from .flood.windows import TestWindows

__all__ = ["MARKER", "PLUGIN_KEY", "BoundedLoadPlugin", "configure"]

MARKER = "boundedload"

PLUGIN_KEY = pytest.StashKey["BoundedLoadPlugin"]()


def configure(config: pytest.Config) -> None:
    """Read and check the settings, and register the session's plugins."""
    config.addinivalue_line("markers", MARKER_HELP)
    worker = is_worker(config)
    settings = read_settings(config)
    gate = BaselineGate(settings.gate, writer=not worker)
    # Workers' reports reach the controller, which announces them.
    plugin = BoundedLoadPlugin(settings, gate, CrashNotes.of_worker(config), None if worker else config.hook)
    config.stash[PLUGIN_KEY] = plugin
    config.pluginmanager.register(plugin, "boundedload-session")
    if not worker:
        remove_stale()  # shared counters of processes killed in an earlier session
        XdistController.register(config, gate)
        if settings.trace.report_dir is not None:
            from .pictures.index import IndexWriter

            config.pluginmanager.register(IndexWriter(settings.trace.report_dir), "boundedload-index")


def _marks(item: pytest.Item) -> Marks:
    """The (args, kwargs) of the item's ``boundedload`` markers, closest first."""
    return [(m.args, m.kwargs) for m in item.iter_markers(MARKER)]


def _is_measured(item: pytest.Item, settings: Settings) -> bool:
    marked = settings.measure_all or item.get_closest_marker(MARKER) is not None
    return marked or "flood" in getattr(item, "fixturenames", ())


class BoundedLoadPlugin:
    """Session state and the hooks that need it."""

    def __init__(
        self, settings: Settings, gate: BaselineGate, notes: CrashNotes | None, hook: pluggy.HookRelay | None
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.notes = notes
        self.hook = hook  # None in an xdist worker
        self.summary = SummaryRows(settings.summary)  # only the top rows
        self.outcomes = ReportOutcomes()
        self.deselected = 0  # collected tests -k, -m, --deselect or --lf left out

    def _state(self, item: pytest.Item) -> ItemState:
        # Made at collection for a marked test, else on first use; made again from the
        # markers after teardown dropped it (a rerun of the same item).
        return state_of(
            item, lambda: new_state(self.settings, item.nodeid, _marks(item), lambda: borrowed_capture(item))
        )

    def windows_for(self, item: pytest.Item) -> TestWindows:
        """The item's windows, made on first use (a test may request ``flood`` late)."""
        return self._state(item).open_windows(self.settings.interval, self.notes, item.nodeid)

    def pytest_report_header(self, config: pytest.Config) -> str:
        source = "vmhwm" if vmhwm_available() else "sampled"  # resets this process's peak: harmless here
        from .isolate.capped import cap_kind

        cap = cap_kind(self.settings.cap_method, strict=False)  # probes for a cgroup: header only
        from .report import header_line

        return header_line(self.settings.limits, source, cap, self.settings.interval)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        # A test without the marker takes the session's settings as they are: one such
        # state is made here, so what is wrong with them stops the run before any test;
        # the others are made when their test runs (see _state).
        unmarked_checked = False
        for item in items:
            try:
                marks = _marks(item)
                if not marks:
                    if unmarked_checked:
                        continue
                    unmarked_checked = True
                state = new_state(self.settings, item.nodeid, marks, lambda: borrowed_capture(item))  # noqa: B023
            except InvalidValue as exc:
                if is_worker(config):
                    config.workeroutput[USAGE_ERROR_KEY] = f"boundedload: {exc}"  # type: ignore[attr-defined]
                    items.clear()
                    return
                raise pytest.UsageError(f"boundedload: {exc}") from None
            state_of(item, lambda: state)  # noqa: B023

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.gate.collected(item.nodeid for item in session.items)

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.gate.collection_failed()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        state = self._state(item)
        cap = state.limits.hard_limit
        # A hard_limit isolates the test too; isolate alone forks without a cap.
        if (cap is None and not state.isolate) or not _is_measured(item, self.settings):
            return None
        from .isolate.hardlimit import run_hard_limited

        try:
            run_hard_limited(item, nextitem, cap, state.tasks_started, state.trace)
        finally:
            drop_state(item)  # the child ran the test; its figures came back with the reports
        return True

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._state(item).restart()
        if _is_measured(item, self.settings):
            self.windows_for(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        state = self._state(item)
        windows = state.windows
        if windows is None:
            return (yield)
        state.begin_call(windows)
        error: BaseException | None = None
        try:
            return (yield)
        except BaseException as exc:
            error = exc
            raise
        finally:
            # Raises LimitExceeded when the figures alone fail the test.
            state.finish_call(windows, lambda m: self.gate.check(item.nodeid, m.to_dict()), error)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when != "call":
            return report  # (teardown's would find the state dropped, and make it again)
        state = self._state(item)
        if state.windows is not None:
            self.outcomes.remember(report, state.attach(item, report))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        try:
            return (yield)
        finally:
            # The item lives for the whole session; what the test needed does not.
            state = drop_state(item)
            if state is not None:
                state.close(item.nodeid)

    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        # M or U only when the figures alone failed it; failing on its own, a test keeps F.
        status = self.outcomes.of(report).status if report.when == "call" and report.failed else None
        if status is None:
            return None  # (and outcome, which only a measured test needs, is not imported)
        from .outcome import STATUS_LETTERS

        if status in STATUS_LETTERS:
            return "failed", STATUS_LETTERS[status], (status, {"red": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.gate.seen(report.nodeid, report.when)
        if report.when != "call" or report.skipped or not self.outcomes.known(report):
            return  # not a measured test's (its outcome is neither made here nor carried)
        outcome = self.outcomes.of(report)
        if outcome.measurement is not None:
            self.summary.add(report.nodeid, outcome.measurement, outcome.crossed)
        self.gate.record(report.nodeid, report.outcome, outcome.without_text())
        # Once per test: not for the reports of its subtests (they carry the figures so
        # far) nor for a rerun's (pytest-rerunfailures: outcome "rerun").
        final = type(report) is pytest.TestReport and report.outcome in ("passed", "failed")
        # A killed capped child's last figures are not a measurement (see hookspecs).
        if self.hook is not None and outcome.measurement is not None and final and not outcome.stopped:
            self.hook.pytest_boundedload_measured(
                report=report, measurement=outcome.measurement, violations=list(outcome.violations)
            )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        if is_worker(config):
            config.workeroutput[DESELECTED_KEY] = self.deselected  # type: ignore[attr-defined]
        else:
            self.gate.deselected(self.deselected)
            self.gate.scope = _collection_scope(config)
        self.gate.finish(_stopped_early(session, exitstatus))
        if self.gate.errors and session.exitstatus == pytest.ExitCode.OK:
            # The tests passed, but what the run was to write is not there: not a success.
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary.count and self.settings.summary > 0:
            self.summary.write(terminalreporter)
        self.gate.write_summary(terminalreporter)


def _collection_scope(config: pytest.Config) -> Scope:
    """The tests this run was asked to collect: testpaths are relative to the rootdir,
    arguments to the directory pytest was started in."""
    testpaths = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    base = config.rootpath if testpaths else config.invocation_params.dir
    return Scope(config.args, base, config.rootpath)


def _stopped_early(session: pytest.Session, exitstatus: int) -> str | None:
    """Why the session stopped before its last test (``-x``, ``--maxfail``, Ctrl-C), in
    pytest's words where it has some; None when it was not stopped."""
    for why in (session.shouldfail, session.shouldstop, xdist_stop_reason(session.config)):
        if why:
            return why if isinstance(why, str) else "stopped early"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    return None
