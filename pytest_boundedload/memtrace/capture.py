"""One window traced by memray: its exact heap high-water and the sites that held it.

The tracker follows Python's own allocators too (``trace_python_allocators``), so the
figure counts objects, not the pymalloc arenas they sit in: it does not depend on what
free space earlier work left, nor on test order. That needs the aggregated format: a
capture of every event of every object would take seconds to read back.

A capture that must survive its process being killed (a ``hard_limit`` child, which may
be stopped by its cap) records every allocation event as it happens, which only the
``ALL_ALLOCATIONS`` format allows; it follows the C allocator only, where pymalloc's
arenas (1 MiB) stand for the objects in them. The child fills the free space it
inherited before measuring (:func:`~..measure.heap.prepare`), so new objects take new
arenas and its figure still does not depend on what ran before.

memray is imported only here, when a window is traced; where it cannot be imported,
:func:`unavailable` says why, and tracing is left off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import os
import re
from pathlib import Path
from typing import Any

from ..pictures.files import stem
from .coexist import is_tracker_clash
from .sites import HeapSite, top_sites

__all__ = [
    "WORKER_ENV",
    "HeapCapture",
    "HeapFigures",
    "TrackerBusy",
    "is_worker_id",
    "read_capture",
    "release_inherited",
    "unavailable",
    "worker_label",
]

# pytest-xdist names each worker (gw0, gw1, ...) in this variable; its value goes into
# the names of capture files.
WORKER_ENV = "PYTEST_XDIST_WORKER"
_WORKER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_COUNTER = itertools.count()

# The captures tracing now, with the pid that started them.
_ACTIVE: dict[int, tuple[int, Any]] = {}


def is_worker_id(text: str) -> bool:
    """Whether ``text`` can stand in a file name as it is: 1 to 64 letters, digits, '_', '-'."""
    return _WORKER_ID.fullmatch(text) is not None


def worker_label(worker: str | None = None) -> str:
    """The xdist worker id for a file name (``gw0``; ``main`` outside xdist). Any other
    value (a '/', '..', 300 characters) becomes a short digest of it, so it can neither
    lead out of the directory nor make a name longer than the file system allows."""
    worker = os.environ.get(WORKER_ENV, "main") if worker is None else worker
    if is_worker_id(worker):
        return worker
    return "worker-" + hashlib.sha256(worker.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def release_inherited() -> None:
    """In a forked child: let go of the Trackers the parent had running.

    memray stops tracing in a child (``follow_fork=False``) but its Python object still
    counts as active, so the child could start no Tracker of its own. Ending it in the
    child leaves the parent's capture as it is (the child writes nothing to it).
    """
    for key, (pid, tracker) in list(_ACTIVE.items()):
        if pid != os.getpid():
            del _ACTIVE[key]
            with contextlib.suppress(Exception):
                tracker.__exit__(None, None, None)


class TrackerBusy(RuntimeError):
    """Another memray Tracker is active in this process (memray allows one at a time)."""


@dataclasses.dataclass(frozen=True)
class HeapFigures:
    """What a capture shows: the heap's high-water in bytes and the top sites then."""

    heap_peak: int
    sites: tuple[HeapSite, ...]


@functools.cache
def unavailable() -> str | None:
    """Why memray cannot be used here, or None when it can."""
    try:
        import memray  # noqa: F401
    except ImportError as exc:
        return f"memray cannot be imported ({exc}); install it with 'pip install memray' (Linux, macOS)"
    return None


def read_capture(path: Path, top: int) -> HeapFigures:
    """The figures of a finished capture file."""
    import memray

    reader = memray.FileReader(os.fspath(path), report_progress=False)
    try:
        records = [
            (record.size, record.n_allocations, record.stack_trace())
            for record in reader.get_high_watermark_allocation_records(merge_threads=True)
        ]
        return HeapFigures(heap_peak=int(reader.metadata.peak_memory), sites=top_sites(records, top))
    finally:
        reader.close()


class HeapCapture:
    """Trace from :meth:`start` to :meth:`stop` into a file in ``directory``."""

    def __init__(self, directory: Path, label: str, *, survive_kill: bool = False) -> None:
        worker = worker_label()
        self.path = directory / f"boundedload-{worker}-{os.getpid()}-{next(_COUNTER)}-{stem(label)}.bin"
        self._survive_kill = survive_kill
        self._tracker: Any = None

    def start(self) -> None:
        """Start tracing; :class:`TrackerBusy` when another Tracker is active."""
        import memray

        file_format = (
            memray.FileFormat.ALL_ALLOCATIONS
            if self._survive_kill
            else memray.FileFormat.AGGREGATED_ALLOCATIONS
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.discard()  # memray refuses to overwrite a file
        tracker = memray.Tracker(
            os.fspath(self.path),
            file_format=file_format,
            trace_python_allocators=not self._survive_kill,
            follow_fork=False,
        )
        try:
            tracker.__enter__()
        except RuntimeError as exc:
            if is_tracker_clash(exc):
                raise TrackerBusy(str(exc)) from None
            raise
        self._tracker = tracker
        _ACTIVE[id(self)] = (os.getpid(), tracker)

    def stop(self, top: int) -> HeapFigures:
        """Stop tracing and read the capture."""
        tracker, self._tracker = self._tracker, None
        _ACTIVE.pop(id(self), None)
        if tracker is not None:
            tracker.__exit__(None, None, None)
        return read_capture(self.path, top)

    def discard(self) -> None:
        """Remove the capture file."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
