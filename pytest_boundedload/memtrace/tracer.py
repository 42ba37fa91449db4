"""The memray side of one measurement window: started before the window's sampler (so
memray's own thread is one that was already running and is not counted) and stopped
after it."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

from .capture import HeapCapture, HeapFigures, TrackerBusy, read_capture, unavailable
from .sites import HeapSite

__all__ = ["ANNOUNCE", "TraceConfig", "WindowTracer"]

_WARNED: set[str] = set()
# Told (kind, path) of every capture file as its tracing starts ("capture"), and of the
# shared file that counts the window's probe calls ("counter"): a hard_limit child tells
# its parent, which reads both if the child is killed before it could report.
ANNOUNCE: list[Callable[[str, str], None]] = []


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def announce(kind: str, path: str) -> None:
    """Tell the listeners in :data:`ANNOUNCE` of a file a killed child would leave."""
    for listener in list(ANNOUNCE):
        listener(kind, path)


@dataclasses.dataclass(frozen=True)
class TraceConfig:
    """How one test's windows are traced: ``directory`` for the captures, ``top`` sites
    kept, ``keep`` the capture files (for flamegraphs), ``survive_kill`` when the test
    runs in a capped child that may be killed; ``borrow``, when pytest-memray traces the
    test, returns its capture (see :mod:`.coexist`) and no Tracker of ours starts."""

    directory: Path
    label: str
    top: int
    keep: bool = False
    survive_kill: bool = False
    borrow: Callable[[], Path | None] | None = dataclasses.field(default=None, compare=False)


class WindowTracer:
    """Traces one window; any trouble (memray missing, another Tracker active) leaves the
    window untraced with a warning, never fails the test."""

    def __init__(self, config: TraceConfig) -> None:
        self.config = config
        self.capture: HeapCapture | None = None
        self.figures: HeapFigures | None = None

    def start(self) -> None:
        """Start tracing, if memray can."""
        if self.config.borrow is not None:
            return  # pytest-memray's Tracker will run; its capture is read at stop
        why = unavailable()
        if why is not None:
            _warn_once(f"boundedload: memray tracing is off: {why}")
            return
        capture = HeapCapture(self.config.directory, self.config.label, survive_kill=self.config.survive_kill)
        try:
            capture.start()
        except TrackerBusy:
            _warn_once(
                "boundedload: another memray Tracker is active (pytest-memray, or the test's own),"
                " so the window is not traced; use memray=False on tests that start their own Tracker"
            )
            return
        self.capture = capture
        announce("capture", str(capture.path))

    def stop(self) -> HeapFigures | None:
        """Stop tracing and read the figures (None when the window was not traced)."""
        capture, self.capture = self.capture, None
        if self.config.borrow is not None:
            path = self.config.borrow()
            if path is None or not path.exists():
                return None  # a window inside the test function: its capture is not done yet
            self.figures = read_capture(path, self.config.top)
            return self.figures
        if capture is None:
            return None
        try:
            self.figures = capture.stop(self.config.top)
        finally:
            if not self.config.keep:
                capture.discard()
        self.kept = capture.path if self.config.keep else None
        return self.figures

    kept: Path | None = None

    @property
    def sites(self) -> tuple[HeapSite, ...]:
        """The top sites of the window's heap peak (empty when not traced)."""
        return self.figures.sites if self.figures is not None else ()
