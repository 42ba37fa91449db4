"""pymalloc's statistics, read from any thread, and the free space they show.

pymalloc keeps what freed objects leave: free blocks in half-used pools and empty pools
inside arenas that still hold a live object. That space is resident already, so objects
placed in it do not raise RSS. :func:`free_bytes` says how much of it there is now, so a
measurement can add what a window took from it to the growth of RSS (see
:mod:`.sampler`).

The statistics are those ``sys._debugmallocstats()`` prints, but written through the C
API's ``_PyObject_DebugMallocStats`` into a memory stream (``open_memstream``), not to
descriptor 2: redirecting descriptor 2 would catch what other threads write meanwhile,
and the C call holds the GIL, so pymalloc cannot change under it. Where that stream is
missing, descriptor 2 is redirected instead, and only :func:`stats_text` on the main
thread may be used (:func:`threadsafe` is False).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable

__all__ = ["NOT_WORTH_FOLLOWING", "FreeSpaceTracker", "free_bytes", "stats_text", "threadsafe"]

_AVAILABLE = re.compile(r"^# bytes in available blocks\s*=\s*([\d,]+)\s*$", re.MULTILINE)
# (Also what heap.free_space reads the unused pools with.)
UNUSED_POOLS = re.compile(r"^(\d+) unused pools \* ([\d,]+) bytes", re.MULTILINE)


@functools.cache
def _memstream_reader() -> Callable[[], str] | None:
    """A function returning the statistics through ``open_memstream``; None where the C
    library or the C API lacks a part of it."""
    try:
        libc = ctypes.CDLL(None)
        open_memstream = libc.open_memstream
        fclose, free = libc.fclose, libc.free
        write_stats = ctypes.pythonapi._PyObject_DebugMallocStats  # a PyDLL: keeps the GIL
    except (OSError, AttributeError):
        return None
    open_memstream.restype = ctypes.c_void_p
    open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
    fclose.argtypes = [ctypes.c_void_p]
    free.argtypes = [ctypes.c_void_p]
    write_stats.argtypes = [ctypes.c_void_p]
    write_stats.restype = ctypes.c_int

    def read() -> str:
        buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
        stream = open_memstream(ctypes.byref(buffer), ctypes.byref(size))
        if not stream:
            return ""
        try:
            write_stats(stream)
        finally:
            fclose(stream)  # sets buffer and size
        if not buffer.value:
            return ""
        try:
            return ctypes.string_at(buffer.value, size.value).decode("ascii", "replace")
        finally:
            free(buffer)

    return read


def _redirected() -> str:
    """The statistics caught from descriptor 2 ("" without them or a place to catch them)."""
    stats = getattr(sys, "_debugmallocstats", None)
    if stats is None:
        return ""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        with tempfile.TemporaryFile() as out:
            saved = os.dup(2)
            try:
                os.dup2(out.fileno(), 2)
                stats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            out.seek(0)
            return out.read().decode("ascii", "replace")
    except OSError:
        return ""


def threadsafe() -> bool:
    """Whether :func:`stats_text` may run on any thread while others run."""
    return _memstream_reader() is not None


def stats_text() -> str:
    """pymalloc's statistics as ``sys._debugmallocstats()`` prints them; "" when this
    interpreter has none (another allocator: ``PYTHONMALLOC=malloc``, a free-threaded
    build)."""
    read = _memstream_reader()
    return read() if read is not None else _redirected()


def free_bytes(text: str | None = None) -> int | None:
    """Bytes of pymalloc's free space now (or in ``text``): free blocks in used pools plus
    unused pools. None without pymalloc statistics.

    Unused pools include the part of the newest arena never handed out yet, which is
    not resident: up to one arena (1 MiB on 64-bit CPython 3.10+) is counted as free
    though taking it raises RSS too.
    """
    if text is None:
        text = stats_text()
    # The totals come last: search from there, not through the table of size classes.
    tail = text[max(0, text.rfind("# bytes in allocated blocks")) :]
    available, unused = _AVAILABLE.search(tail), UNUSED_POOLS.search(tail)
    if available is None or unused is None:
        return None
    pools = int(unused[1]) * int(unused[2].replace(",", ""))
    return int(available[1].replace(",", "")) + pools


# Read the free space at most this often from allocation (see FreeSpaceTracker), and
# never spend more than 1/_MAX_SHARE of the time on it.
_MIN_PERIOD = 0.002
_MAX_SHARE = 20
# Less free space than this at the start is not followed: a window can take at most what
# there is, and 1 MiB is what tells two memory figures apart (10 % or 1 MiB); part of
# it is often the newest arena's untouched tail, which the growth of RSS counts anyway.
# Each read walks every pool of the heap (tens of microseconds); most small tests start
# with less than this and pay for one read only.
NOT_WORTH_FOLLOWING = 1024 * 1024


class FreeSpaceTracker:
    """How much of pymalloc's free space one window takes.

    Read at :meth:`start` and :meth:`stop`, at the sampler thread's ticks and at the
    start of garbage collections, which allocation of container objects sets off, so a
    burst of allocation inside code that holds the GIL is seen while it happens, not
    only when the sampler thread gets its turn. Those reads (:meth:`sample_if_due`) are
    at most one per :data:`_MIN_PERIOD`, and further apart when the statistics of a
    large heap take longer to read. Nothing is followed where the
    statistics cannot be read from any thread (:func:`threadsafe`).
    """

    def __init__(self) -> None:
        self._start: int | None = None
        self._least = 0
        self._owner = 0
        self._next = 0.0
        self._period = _MIN_PERIOD
        self._lock = threading.RLock()  # a collection may start on the thread that holds it

    def start(self) -> None:
        """Read the free space now and follow it until :meth:`stop`."""
        self._owner = os.getpid()
        self._start = free_bytes() if threadsafe() else None
        if self._start is not None and self._start < NOT_WORTH_FOLLOWING:
            self._start = None
        self._least = self._start or 0
        if self._start is not None:
            gc.callbacks.append(self._on_collection)

    def stop(self) -> None:
        """Read once more and stop following."""
        try:
            self.sample()
        finally:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_collection)

    @property
    def following(self) -> bool:
        """Whether the free space is followed (started, with readable statistics and at
        least :data:`NOT_WORTH_FOLLOWING` of free space at the start)."""
        return self._start is not None

    @property
    def reused(self) -> int:
        """Bytes of the free space at the start that the window's objects took, at most."""
        return 0 if self._start is None else max(0, self._start - self._least)

    def sample(self) -> None:
        """Read the free space now; keep the least seen."""
        if self._start is None or os.getpid() != self._owner:
            return
        # The cost is this thread's CPU time: on a busy machine the wall time of a read
        # also counts the waits for a core, and would space the reads out for nothing.
        began = time.thread_time()
        self._next = time.monotonic() + self._period  # no second read from a collection inside this one
        free = free_bytes()
        if free is None:
            return
        with self._lock:
            self._least = min(self._least, free)
        self._period = max(_MIN_PERIOD, _MAX_SHARE * (time.thread_time() - began))

    def sample_if_due(self) -> None:
        """:meth:`sample`, unless the last read was less than a period ago (the reads
        hold the GIL: on a large heap they are spaced out, see :data:`_MAX_SHARE`)."""
        if time.monotonic() >= self._next:
            self.sample()

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        # Runs inside the code under test: never raise, and cost almost nothing when
        # no read is due.
        if phase != "start":
            return
        with contextlib.suppress(Exception):
            self.sample_if_due()
