"""pytest-xdist glue, registered only when xdist is loaded.

Per-test figures need no glue: they ride on ``report.user_properties``, which xdist
carries to the controller. What does need it is a bad marker value: workers collect,
the controller does not, and a ``UsageError`` raised inside a worker's collection
crashes xdist. So a worker hands the message to the controller through
``workeroutput`` and collects nothing; the controller ends the session with the same
``ERROR:`` line and exit code a serial run gives.

A worker that dies in the middle of a measured test (the OOM killer, a crash) sends no
report at all; xdist reports the crash with the test's name. To add what was measured
up to then, each worker keeps a small notes file in a directory the controller hands
out, rewritten at the start of each measured test and at each sampler tick (at least
once a second); the controller adds the crashed test's last note to the crash report
and hands it to the baseline gate, whose JSON report lists the test with those figures
and ``"crashed": true``. The gate also learns from here which tests the workers
collected (``--boundedload-prune`` needs to know that every one of them ran).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .measure.measurement import Measurement
from .measure.procfs import peak_rss_now
from .memtrace.capture import worker_label
from .units import format_size

if TYPE_CHECKING:
    from .baseline.gate import BaselineGate
    from .measure.inflight import InFlightCounter

__all__ = [
    "NOTES_DIR_KEY",
    "USAGE_ERROR_KEY",
    "CrashNotes",
    "XdistController",
    "is_worker",
    "last_known",
    "xdist_stop_reason",
]

USAGE_ERROR_KEY = "boundedload_usage_error"
DESELECTED_KEY = "boundedload_deselected"  # how many collected tests a worker deselected
NOTES_DIR_KEY = "boundedload_notes_dir"
SECTION_LAST_KNOWN = "boundedload last known figures"


class CrashNotes:
    """Worker side: the running measured test and its latest figures, in one small file."""

    def __init__(self, directory: str, worker: str) -> None:
        self._path = Path(directory) / f"{worker_label(worker)}.json"  # an id from --tx ...//id= is any text
        self._temp = self._path.with_suffix(".tmp")

    def write(self, nodeid: str, figures: dict[str, int]) -> None:
        """Replace the note atomically (a reader never sees half of one)."""
        try:
            self._temp.write_text(json.dumps({"nodeid": nodeid, **figures}))
            os.replace(self._temp, self._path)
        except OSError:
            pass  # notes are a courtesy for crash reports; never fail a test over one

    @classmethod
    def of_worker(cls, config: pytest.Config) -> CrashNotes | None:
        """The notes of this xdist worker, or None outside one (or without a directory)."""
        workerinput = getattr(config, "workerinput", {})
        directory = workerinput.get(NOTES_DIR_KEY)
        return cls(directory, workerinput["workerid"]) if directory else None

    def ticker(self, nodeid: str, in_flight: InFlightCounter) -> Callable[[], None]:
        """What a window calls at every sampler tick: note the test's latest figures, so
        a crashed worker's are at most one interval old; the file is rewritten only when
        they changed."""
        last: list[dict[str, int]] = []

        def tick() -> None:
            figures = {"tasks_started": in_flight.read().started, "peak_rss": peak_rss_now()}
            if not last or figures != last[0]:
                self.write(nodeid, figures)
                last[:] = [figures]

        return tick

    @staticmethod
    def find(directory: Path, nodeid: str) -> dict[str, Any] | None:
        """The latest note about ``nodeid`` in ``directory``."""
        for path in directory.glob("*.json"):
            try:
                note = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(note, dict) and note.get("nodeid") == nodeid:
                return note
        return None


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker."""
    return hasattr(config, "workerinput")


def last_known(note: dict[str, Any]) -> Measurement:
    """A crash note's figures as a Measurement (the others are zero, as for a stopped
    capped child): peak RSS and probe calls started, at most one sampler tick old."""

    def count(name: str) -> int:
        value = note.get(name)
        return value if type(value) is int and value >= 0 else 0

    return Measurement(peak_rss=count("peak_rss"), tasks_started=count("tasks_started"))


def xdist_stop_reason(config: pytest.Config) -> str | None:
    """Why the xdist controller stopped the session early (``stopping after 1
    failures``, a worker's keyboard interrupt), or None (also outside xdist)."""
    why = getattr(config.pluginmanager.getplugin("dsession"), "shouldstop", None)
    return why if isinstance(why, str) and why else None


class XdistController:
    """Hooks of the xdist controller."""

    @classmethod
    def register(cls, config: pytest.Config, gate: BaselineGate) -> None:
        """Register the controller's hooks, where xdist is loaded."""
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(cls(gate), "boundedload-xdist")

    def __init__(self, gate: BaselineGate) -> None:
        self.gate = gate
        self.usage_errors: list[str] = []
        self.notes_dir: Path | None = None  # made when the first worker is configured

    def pytest_configure_node(self, node: Any) -> None:
        if self.notes_dir is None:
            self.notes_dir = Path(tempfile.mkdtemp(prefix="boundedload-notes-"))
        node.workerinput[NOTES_DIR_KEY] = str(self.notes_dir)

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.gate.collected(ids)

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        note = None if self.notes_dir is None else CrashNotes.find(self.notes_dir, crashitem)
        self.gate.crash(crashitem, None if note is None else last_known(note))
        if note is None:
            return
        line = (
            f"last known figures of {crashitem} (pytest-boundedload): "
            f"{note.get('tasks_started', 0)} tasks started, peak RSS {format_size(note.get('peak_rss', 0))}"
        )
        report.longrepr = f"{report.longrepr}\n{line}"
        report.sections.append((SECTION_LAST_KNOWN, line))

    def pytest_unconfigure(self) -> None:
        if self.notes_dir is not None:
            shutil.rmtree(self.notes_dir, ignore_errors=True)

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {})
        self.gate.deselected(int(output.get(DESELECTED_KEY, 0)))
        message = output.get(USAGE_ERROR_KEY)
        if message and message not in self.usage_errors:
            self.usage_errors.append(message)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.usage_errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            for message in self.usage_errors:
                sys.stderr.write(f"ERROR: {message}\n")
