"""A test's pictures, drawn where it ran once its windows closed.

- every ``flood.scaling`` fit: ``<stem>.scaling-<i>.png`` (memory and the growing counts
  against N, with the fitted line);
- a failing test: ``<stem>.timeline.png`` (RSS, calls in flight and live tasks over the
  window's time) and, when it was traced, ``<stem>.flamegraph.html`` from its memray
  capture (kept as ``<stem>.memray.bin``).

Nothing here may fail the test: a picture that cannot be made is a warning.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..notices import warn_once
from . import plots
from .files import CAPTURE, FLAMEGRAPH, SCALING, TIMELINE, path, stem

if TYPE_CHECKING:
    from ..flood.windows import TestWindows

__all__ = ["CAPTURE", "flamegraph_of", "keep_capture", "render_flamegraph", "render_test"]

_FLAMEGRAPH_TIMEOUT = 300.0


def render_flamegraph(capture: Path, out: Path) -> None:
    """``python -m memray flamegraph`` of ``capture`` into ``out`` (the command, not
    memray's reporter classes, whose signatures are not public API)."""
    command = [
        sys.executable,
        "-m",
        "memray",
        "flamegraph",
        "--force",
        "-o",
        os.fspath(out),
        os.fspath(capture),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_FLAMEGRAPH_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        warn_once(f"boundedload: no flamegraph for {capture}: {exc}")
        return
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        warn_once(f"boundedload: no flamegraph for {capture}: memray flamegraph failed: {last}")


def _pngs(directory: Path, name: str, nodeid: str, windows: TestWindows, failed: bool) -> None:
    todo = [(SCALING.format(index=i), report) for i, report in enumerate(windows.scaling_reports)]
    timeline = max(windows.timelines, key=lambda entry: entry[0])[1] if windows.timelines else None
    if not todo and not (failed and timeline is not None and len(timeline.times) > 1):
        return
    why = plots.missing()
    if why is not None:
        warn_once(f"boundedload: no PNG pictures: {why}")
        return
    for suffix, report in todo:
        plots.scaling_png(report, f"{nodeid}: flood.scaling", directory / f"{name}{suffix}")
    if failed and timeline is not None and len(timeline.times) > 1:
        plots.timeline_png(timeline, nodeid, directory / f"{name}{TIMELINE}")


def keep_capture(directory: Path, nodeid: str, capture: Path) -> Path:
    """Keep ``capture`` as the test's ``<stem>.memray.bin``."""
    kept = path(directory, nodeid, CAPTURE)
    os.replace(capture, kept)
    return kept


def flamegraph_of(directory: Path, nodeid: str, capture: Path) -> None:
    """Keep ``capture`` for the test and draw its flamegraph."""
    render_flamegraph(keep_capture(directory, nodeid, capture), path(directory, nodeid, FLAMEGRAPH))


def render_test(
    directory: Path, nodeid: str, windows: TestWindows, *, failed: bool, capped: bool = False
) -> None:
    """Draw the test's pictures into ``directory`` and tidy its memray captures: a
    failing test keeps the one of its highest heap peak, a passing test none. In a
    ``capped`` child nothing is drawn (it would count against the cap): the failing
    test's capture is kept, and the parent draws its flamegraph."""
    name = stem(nodeid)
    try:
        if not capped:
            _pngs(directory, name, nodeid, windows, failed)
        best = windows.heap_capture
        if failed and best is not None and best.exists():
            if capped:
                keep_capture(directory, nodeid, best)
            else:
                flamegraph_of(directory, nodeid, best)
    except Exception as exc:  # a picture is never why a test fails
        warn_once(f"boundedload: pictures of {nodeid} could not be made: {type(exc).__name__}: {exc}")
    finally:
        for capture in windows.captures:
            with contextlib.suppress(OSError):
                capture.unlink()
