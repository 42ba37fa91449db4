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
import dataclasses
import functools
import gc
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable

__all__ = [
    "NOT_WORTH_FOLLOWING",
    "FreeSpaceTracker",
    "Reading",
    "free_bytes",
    "reading",
    "stats_text",
    "threadsafe",
]

_AVAILABLE = re.compile(r"^# bytes in available blocks\s*=\s*([\d,]+)\s*$", re.MULTILINE)
# (Also what heap.free_space reads the unused pools with.)
UNUSED_POOLS = re.compile(r"^(\d+) unused pools \* ([\d,]+) bytes", re.MULTILINE)
_ALLOCATED_BLOCKS = re.compile(r"^# bytes in allocated blocks\s*=\s*([\d,]+)\s*$", re.MULTILINE)
_ARENAS_ALLOCATED = re.compile(r"^# arenas allocated total\s*=\s*([\d,]+)\s*$", re.MULTILINE)
_ARENAS_RECLAIMED = re.compile(r"^# arenas reclaimed\s*=\s*([\d,]+)\s*$", re.MULTILINE)
_ARENAS_CURRENT = re.compile(r"^(\d+) arenas \* ([\d,]+) bytes/arena", re.MULTILINE)
_ALIGNMENT = re.compile(r"^# bytes lost to arena alignment\s*=\s*([\d,]+)\s*$", re.MULTILINE)


def _number(match: re.Match[str], group: int = 1) -> int:
    return int(match[group].replace(",", ""))


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


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading of pymalloc's statistics: the free space (as :func:`free_bytes`), the
    bytes of live blocks, the arenas allocated and given back to the system since the
    process started, and the free space a whole arena holds when it is given back (all
    its pools)."""

    free: int
    in_use: int
    arenas_allocated: int
    arenas_reclaimed: int
    arena_pools_bytes: int


def reading(text: str | None = None) -> Reading | None:
    """The statistics now (or in ``text``); None without pymalloc statistics."""
    if text is None:
        text = stats_text()
    free = free_bytes(text)
    tail = text[max(0, text.rfind("# arenas allocated total")) :]
    allocated, reclaimed = _ARENAS_ALLOCATED.search(tail), _ARENAS_RECLAIMED.search(tail)
    current, unused = _ARENAS_CURRENT.search(tail), UNUSED_POOLS.search(tail)
    in_use = _ALLOCATED_BLOCKS.search(text[max(0, text.rfind("# bytes in allocated blocks")) :])
    if free is None or allocated is None or reclaimed is None:
        return None
    if current is None or unused is None or in_use is None:
        return None
    arenas, arena_size, pool_size = int(current[1]), _number(current, 2), _number(unused, 2)
    # An arena not aligned to a pool loses one pool (the statistics give the total lost).
    aligned = _ALIGNMENT.search(tail)
    lost = _number(aligned) // arenas if aligned is not None and arenas else 0
    pools = (arena_size - lost) // pool_size * pool_size if pool_size else 0
    return Reading(free, _number(in_use), _number(allocated), _number(reclaimed), pools)


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
        self._first: Reading | None = None
        self._least = 0
        self._most_added = 0  # the most bytes of live blocks beyond the start's
        self._owner = 0
        self._next = 0.0
        self._period = _MIN_PERIOD
        self._lock = threading.RLock()  # a collection may start on the thread that holds it

    def start(self) -> None:
        """Read the free space now and follow it until :meth:`stop`."""
        self._owner = os.getpid()
        self._first = reading() if threadsafe() else None
        self._start = self._first.free if self._first is not None else None
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
        """Bytes of the free space at the start that the window's objects took, at most:
        never more than the live blocks the window added at most (free space that
        vanished otherwise, an arena given back, was not taken)."""
        return 0 if self._start is None else max(0, min(self._start - self._least, self._most_added))

    def sample(self) -> None:
        """Read the free space now; keep the least seen."""
        if self._start is None or os.getpid() != self._owner:
            return
        # The cost is this thread's CPU time: on a busy machine the wall time of a read
        # also counts the waits for a core, and would space the reads out for nothing.
        began = time.thread_time()
        self._next = time.monotonic() + self._period  # no second read from a collection inside this one
        now = reading()
        if now is None or self._first is None:
            return
        free = self._free_of_start(now)
        with self._lock:
            self._least = min(self._least, free)
            self._most_added = max(self._most_added, now.in_use - self._first.in_use)
        self._period = max(_MIN_PERIOD, _MAX_SHARE * (time.thread_time() - began))

    def _free_of_start(self, now: Reading) -> int:
        """The free space now, with the arenas given back since the start counted as if
        they were still there: an arena is given back when its last object is freed,
        and the free space it takes away was not taken by the window's objects (a
        window that frees what earlier tests left would otherwise count every arena
        given back as memory it needed). Arenas the window allocated and gave back
        again cancel out."""
        assert self._first is not None
        reclaimed = now.arenas_reclaimed - self._first.arenas_reclaimed
        allocated = now.arenas_allocated - self._first.arenas_allocated
        return now.free + max(0, reclaimed - allocated) * self._first.arena_pools_bytes

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
