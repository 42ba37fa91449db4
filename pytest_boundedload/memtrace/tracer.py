"""The memray side of one measurement window: started before the window's sampler (so
memray's own thread is one that was already running and is not counted) and stopped
after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..notices import warn_once
from .capture import HeapCapture, HeapFigures, TrackerBusy, read_capture, unavailable
from .sites import HeapSite

__all__ = ["ANNOUNCE", "TraceConfig", "WindowTracer"]

# Told (kind, path) of every capture file as its tracing starts ("capture"), and of the
# shared file that counts the window's probe calls ("counter"): a hard_limit child tells
# its parent, which reads both if the child is killed before it could report.
ANNOUNCE: list[Callable[[str, str], None]] = []


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
    """Traces one window; any trouble (memray missing, another Tracker active, a capture
    that cannot be written or read) leaves the window untraced with a warning, never
    fails the test."""

    def __init__(self, config: TraceConfig) -> None:
        self.config = config
        self.capture: HeapCapture | None = None
        self.figures: HeapFigures | None = None
        self.kept: Path | None = None  # the capture file, kept for pictures

    def start(self) -> None:
        """Start tracing, if memray can."""
        if self.config.borrow is not None:
            return  # pytest-memray's Tracker will run; its capture is read at stop
        why = unavailable()
        if why is not None:
            warn_once(f"boundedload: memray tracing is off: {why}")
            return
        capture = HeapCapture(self.config.directory, self.config.label, survive_kill=self.config.survive_kill)
        try:
            capture.start()
        except TrackerBusy:
            warn_once(
                "boundedload: another memray Tracker is active (pytest-memray, or the test's own),"
                " so the window is not traced; use memray=False on tests that start their own Tracker"
            )
            return
        except Exception as exc:  # a capture directory that cannot be written, say
            warn_once(f"boundedload: memray tracing is off: the capture cannot start: {exc}")
            capture.discard()
            return
        self.capture = capture
        announce("capture", str(capture.path))

    def stop(self) -> HeapFigures | None:
        """Stop tracing and read the figures (None when the window was not traced)."""
        capture, self.capture = self.capture, None
        try:
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
            except Exception:
                capture.discard()
                raise
            if self.config.keep:
                self.kept = capture.path
            else:
                capture.discard()
        except Exception as exc:
            warn_once(f"boundedload: a memray capture could not be read: {exc}")
            return None
        return self.figures

    @property
    def sites(self) -> tuple[HeapSite, ...]:
        """The top sites of the window's heap peak (empty when not traced)."""
        return self.figures.sites if self.figures is not None else ()
