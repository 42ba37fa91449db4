"""``hard_limit``: a test's whole run protocol in a forked child under a memory cap.

The child runs setup, call and teardown exactly as pytest would and streams each report
back as soon as it is made, along with the latest figures (probe calls started, peak
RSS) a few times a second. The parent logs the reports as if the test had run in its own
process. If the child runs out of memory, is killed by a signal or is stopped by a
timeout in the parent, the parent reports the phase that was running as failed, naming
the cap, the signal and the last figures; the session and every other test go on.

With memray tracing, the child tells the parent of each capture file as tracing starts;
a child stopped before it reported has its captures read here, so a test the cap killed
still says where it allocated.

Warnings raised in the child are recorded in the parent, as pytest records a test's
warnings, so they show in its warnings summary and count in its outcome line.

The child tears down only what belongs to the test itself: fixtures of wider scope that
it set up are left to the parent, which sets them up again when a later test needs them
(a forked child cannot hand live objects back). Setting them up in the parent before the
fork instead would run them ahead of the test's skip marks, and would share live
resources (an event loop's selector, sockets) between the two processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from ..measure import heap, onetime
from ..measure.inflight import SharedCounters
from ..measure.ownership import OWN_THREADS
from ..measure.procfs import peak_rss_now
from ..memtrace import tracer
from ..memtrace.capture import HeapFigures, read_capture
from ..memtrace.tracer import TraceConfig
from ..outcome import stopped
from ..pictures import files
from ..pictures.render import flamegraph_of
from ..report import SECTION_HARD_LIMIT, heap_sites_lines
from ..units import format_size
from .capped import ChildOutcome, run_capped

__all__ = ["run_hard_limited"]

_PROGRESS_PERIOD = 0.1


class _ReportStreamer:
    """Child-side plugin: sends every finished report to the parent."""

    def __init__(self, send: Callable[[Any], None], config: pytest.Config) -> None:
        self._send = send
        self._config = config

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield  # outermost wrapper: every other plugin has had its say
        data = self._config.hook.pytest_report_to_serializable(config=self._config, report=report)
        self._send(("report", data))
        return report


def _warning_to_dict(message: warnings.WarningMessage, nodeid: str) -> dict[str, Any]:
    """A recorded warning as plain data; a warning that does not come back whole from
    pickling (say, a class whose ``__init__`` takes other arguments) goes as text."""
    warning: object = message.message
    category: object = message.category
    try:
        pickle.loads(pickle.dumps((warning, category)))
    except Exception:
        category_name = getattr(message.category, "__name__", str(message.category))
        warning, category = UserWarning(f"{category_name}: {message.message}"), UserWarning
    return {
        "message": warning,
        "category": category,
        "filename": message.filename,
        "lineno": message.lineno,
        "line": message.line,
        "nodeid": nodeid,
    }


def _record_warning(item: pytest.Item, data: dict[str, Any]) -> None:
    """Record a warning from the child here, as pytest records a test's warnings."""
    if item.config.pluginmanager.is_blocked("warnings"):  # -p no:warnings: none recorded
        return
    message = warnings.WarningMessage(
        data["message"], data["category"], data["filename"], data["lineno"], line=data["line"]
    )
    item.ihook.pytest_warning_recorded.call_historic(
        kwargs={"warning_message": message, "when": "runtest", "nodeid": data["nodeid"], "location": None}
    )


def _progress(tasks_started: Callable[[], int]) -> dict[str, int]:
    return {"tasks_started": tasks_started(), "peak_rss": peak_rss_now()}


def _child(
    send: Callable[[Any], None],
    item: pytest.Item,
    nextitem: pytest.Item | None,
    tasks_started: Callable[[], int],
) -> None:
    item.config.pluginmanager.register(_ReportStreamer(send, item.config), "boundedload-child-streamer")
    tracer.ANNOUNCE[:] = [lambda kind, path: send((kind, path))]
    stop = threading.Event()

    def report_progress() -> None:
        # One at once: a runaway can reach the cap before the first period ends.
        send(("progress", _progress(tasks_started)))
        while not stop.wait(_PROGRESS_PERIOD):
            send(("progress", _progress(tasks_started)))

    reporter = threading.Thread(target=report_progress, name="boundedload-progress", daemon=True)
    OWN_THREADS.add(reporter)
    reporter.start()
    # The parent's pytest records the test's warnings around this call, with the
    # session's and the test's filters in place; here the record is the child's own copy,
    # so the child records them (under the same filters) and sends them over.
    with warnings.catch_warnings(record=True) as log:
        try:
            # Tear down only the test's own fixtures (see the module docstring): the
            # parent keeps its wider-scoped ones and tears them down itself.
            runtestprotocol(item, log=False, nextitem=item.parent)  # type: ignore[arg-type]
        finally:
            stop.set()
            for message in log:
                send(("warning", _warning_to_dict(message, item.nodeid)))
            send(("progress", _progress(tasks_started)))


def _failure_text(
    cap: int | None,
    outcome: ChildOutcome | None,
    interruption: BaseException | None,
    progress: dict[str, int] | None,
) -> str:
    if cap is None:
        where = "the isolated child"
    else:
        limit = f"{format_size(cap)} ({outcome.cap_kind})" if outcome is not None else format_size(cap)
        where = f"the hard_limit {limit} child"
    if progress is not None:
        figures = (
            f" after {progress['tasks_started']} tasks started"
            f" (last peak {format_size(progress['peak_rss'])})"
        )
    else:
        figures = ""
    if interruption is not None:
        return f"{interruption}\n(in {where}, stopped{figures})"
    assert outcome is not None
    kind, detail = outcome.ending
    if kind == "memory" and cap is not None:
        return f"exceeded hard_limit {limit}: {detail}{figures}"
    if kind == "signal" and cap is not None:
        return f"killed by {detail} under hard_limit {limit}{figures}"
    if kind == "signal":
        return f"{where} was killed by {detail}{figures}"
    if kind == "timeout" and cap is not None:
        return f"timed out under hard_limit {limit}{figures}"
    if kind == "timeout":
        return f"timed out in {where}{figures}"
    if kind == "error":
        return f"{where} failed: {detail}{figures}\n{outcome.traceback or ''}"
    return f"{where} exited with status {outcome.exit_code}{figures}"


def _left_captures(paths: list[str], trace: TraceConfig | None) -> tuple[HeapFigures | None, str]:
    """The figures of the last capture a stopped child left: the window it was stopped
    in. Only that one is read (and kept for a flamegraph when ``trace.keep``); every
    other announced capture (an earlier window's, kept for pictures the child could not
    draw) is removed. A note says when it could not be read."""
    if trace is None:
        return None, ""
    left = [Path(name) for name in paths if os.path.exists(name)]
    if not left:
        return None, ""
    *earlier, last = left
    for path in earlier:
        with contextlib.suppress(OSError):
            path.unlink()
    try:
        return read_capture(last, trace.top), ""
    except Exception as exc:  # a capture cut short in a way memray cannot read
        return None, f"(the memray capture {last} could not be read: {exc})"
    finally:
        if not trace.keep:
            with contextlib.suppress(OSError):
                last.unlink()


def _flamegraph_here(nodeid: str, directory: Path, announced: list[str]) -> None:
    """The flamegraph of a failed capped test, drawn here (in the child it would count
    against the cap): from the capture the child kept, or the one a killed child left."""
    kept = files.path(directory, nodeid, files.CAPTURE)
    left = [Path(name) for name in announced if Path(name).exists()]
    capture = kept if kept.exists() else left[-1] if left else None
    if capture is not None:
        flamegraph_of(directory, nodeid, capture)  # (keeping the kept one is a no-op)


def _left_tasks_started(paths: list[str]) -> int | None:
    """Probe calls started, from the shared counter files a child left (removed here)."""
    started = None
    for path in paths:
        counters = SharedCounters(path)
        try:
            started = counters.read().started
        except (OSError, ValueError):
            continue
        finally:
            counters.close(unlink=True)
    return started


def run_hard_limited(
    item: pytest.Item,
    nextitem: pytest.Item | None,
    cap: int | None,
    tasks_started: Callable[[], int],
    trace: TraceConfig | None = None,
) -> None:
    """Run ``item``'s protocol in a forked child (capped at ``cap`` bytes; ``None``:
    isolated, no cap) and log its reports here; the child
    reports ``tasks_started()`` (probe calls so far) with its progress. With ``trace``,
    a child stopped before it reported has its memray captures read here."""
    ihook = item.ihook
    config = item.config
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    phases: dict[str, bool] = {}  # when -> passed
    progress: list[dict[str, int]] = []
    left: dict[str, list[str]] = {"capture": [], "counter": []}  # files a killed child leaves

    def on_message(message: Any) -> None:
        kind, payload = message
        if kind == "report":
            report = config.hook.pytest_report_from_serializable(config=config, data=payload)
            phases[report.when] = report.passed
            ihook.pytest_runtest_logreport(report=report)
        elif kind == "progress":
            progress.append(payload)
        elif kind == "warning":
            _record_warning(item, payload)
        elif kind in ("capture", "counter"):
            left[kind].append(str(payload))

    outcome: ChildOutcome | None = None
    interruption: BaseException | None = None
    onetime.pay_once()  # in this process, so no child pays it
    try:
        # heap.prepare fills the free space the child inherits before the cap applies (a
        # cgroup would charge the copied pages); the test's window then finds it filled.
        outcome = run_capped(
            _child, item, nextitem, tasks_started, cap=cap, on_message=on_message, prepare=heap.prepare
        )
    except pytest.fail.Exception as exc:  # e.g. pytest-timeout's signal in this process
        interruption = exc
    missing = _unfinished_phase(phases)
    if missing is not None:
        last = progress[-1] if progress else None
        started = _left_tasks_started(left["counter"])  # exact, where a traced child counted them
        if started is not None:
            last = {"peak_rss": 0, **(last or {}), "tasks_started": started}
        figures, note = _left_captures(left["capture"], trace)
        _report_stopped_child(
            item,
            missing,
            _failure_text(cap, outcome, interruption, last),
            memory=outcome is not None and outcome.out_of_memory,
            figures=figures,
            tasks=last["tasks_started"] if last else 0,
            note=note,
            last=last,
        )
    if trace is not None and trace.keep and (missing is not None or not all(phases.values())):
        _flamegraph_here(item.nodeid, trace.directory, left["capture"])
    _teardown_here(item, nextitem)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def _unfinished_phase(phases: dict[str, bool]) -> str | None:
    """The phase the child did not report, or None when its protocol ran to the end.
    A setup that did not pass is followed by teardown, with no call phase."""
    if "teardown" in phases:
        return None
    if "setup" not in phases:
        return "setup"
    if phases["setup"] and "call" not in phases:
        return "call"
    return "teardown"


def _report_stopped_child(
    item: pytest.Item,
    when: str,
    text: str,
    *,
    memory: bool,
    figures: HeapFigures | None = None,
    tasks: int = 0,
    note: str = "",
    last: dict[str, int] | None = None,
) -> None:
    """Log the phase the child did not finish as failed, then a teardown report that
    carries the properties (JUnit XML writes them from the teardown report). With the
    figures of a memray capture it left, the failure shows where it allocated."""
    # A memory failure is a violation (status M); a crash or a timeout is a plain failure.
    sites = figures.sites if figures is not None else ()
    properties = stopped(text, memory=memory, heap_sites=sites, last=last).to_properties()
    if figures is not None:
        heap = f"heap peak {format_size(figures.heap_peak)} (memray) when stopped"
        text = "\n".join([text, heap, *heap_sites_lines(sites, tasks)])
    elif note:
        text = f"{text}\n{note}"
    common: dict[str, Any] = {
        "nodeid": item.nodeid,
        "location": item.location,
        "keywords": dict.fromkeys(item.keywords, 1),
        "user_properties": properties,
    }
    failed = pytest.TestReport(
        outcome="failed",
        longrepr=text,
        when=when,  # type: ignore[arg-type]
        sections=[(SECTION_HARD_LIMIT, text)],
        **common,
    )
    item.ihook.pytest_runtest_logreport(report=failed)
    if when != "teardown":
        closing = pytest.TestReport(outcome="passed", longrepr=None, when="teardown", **common)
        item.ihook.pytest_runtest_logreport(report=closing)


def _teardown_here(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tear down, in this process, what earlier tests set up here and the next test does
    not need (the child ran this test's own setup and teardown). pytest does this in the
    teardown phase of a test; the child's teardown only reached its own copy."""
    try:
        item.session._setupstate.teardown_exact(nextitem)
    except Exception as exc:  # a fixture's teardown failed: report it against this test
        text = f"teardown of fixtures before the next test failed: {type(exc).__name__}: {exc}"
        report = pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords=dict.fromkeys(item.keywords, 1),
            outcome="failed",
            longrepr=text,
            when="teardown",
        )
        item.ihook.pytest_runtest_logreport(report=report)
