"""Exact in-flight counting for the probe workers, in one process or across many.

Every probe call enters and leaves the counter; nothing is sampled. Inside one process a
lock guards plain ints. As soon as the work may cross a process boundary (the sync probe
is pickled for a process pool, or the process forks) the counter moves its figures into a
small shared file mapped into every process and guarded by a POSIX record lock, so a
``ProcessPoolExecutor`` running ``flood.worker`` is counted as exactly as threads are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import mmap
import os
import struct
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from .sharedfiles import PREFIX as _PREFIX
from .sharedfiles import SHM_DIR as _SHM_DIR
from .sharedfiles import remove_stale

__all__ = ["InFlightCounter", "InFlightReading", "SharedCounters", "remove_stale"]

# in_flight, high-water, started, done, failed
_LAYOUT = struct.Struct("5q")


@dataclasses.dataclass(frozen=True)
class InFlightReading:
    """An in-flight counter's figures at one moment."""

    in_flight: int
    max_in_flight: int
    started: int
    done: int
    failed: int


class SharedCounters:
    """The counter's figures in a mapped file, updated under ``lockf`` by any process.

    Record locks belong to a process, so threads of one process also take a thread lock;
    it is re-created after a fork because the parent's lock may have been held then.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = -1
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()

    @classmethod
    def create(cls) -> SharedCounters:
        """Make a new zeroed counter file."""
        # The owner's pid in the name lets a later session remove the file of a process
        # that was killed before it could (see remove_stale).
        fd, path = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=_SHM_DIR)
        os.ftruncate(fd, _LAYOUT.size)
        os.close(fd)
        return cls(path)

    def __reduce__(self) -> tuple[type[SharedCounters], tuple[str]]:
        return (SharedCounters, (self.path,))

    def _attach(self) -> mmap.mmap:
        if self._pid != os.getpid():
            # A forked child inherits the mapping, which stays shared; only the lock is new.
            self._lock = threading.Lock()
            self._pid = os.getpid()
            if self._map is None:
                self._fd = os.open(self.path, os.O_RDWR)
                self._map = mmap.mmap(self._fd, _LAYOUT.size)
        assert self._map is not None
        return self._map

    @contextlib.contextmanager
    def _locked(self) -> Iterator[mmap.mmap]:
        """The mapping, held under the thread lock and the file's record lock."""
        buf = self._attach()
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                yield buf
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def update(self, in_flight: int, started: int, done: int, failed: int) -> None:
        """Add the deltas atomically and raise the high-water when in-flight grows."""
        with self._locked() as buf:
            current, high, s, d, f = _LAYOUT.unpack_from(buf)
            current += in_flight
            _LAYOUT.pack_into(buf, 0, current, max(high, current), s + started, d + done, f + failed)

    def write(self, reading: InFlightReading) -> None:
        """Overwrite all counters (used once, when a counter switches to shared mode)."""
        with self._locked() as buf:
            _LAYOUT.pack_into(buf, 0, *dataclasses.astuple(reading))

    def read(self) -> InFlightReading:
        """Return the current counters."""
        with self._locked() as buf:
            return InFlightReading(*_LAYOUT.unpack_from(buf))

    def reset(self) -> None:
        """Zero the counts and set the high-water to what is in flight, in one locked step."""
        with self._locked() as buf:
            current = _LAYOUT.unpack_from(buf)[0]
            _LAYOUT.pack_into(buf, 0, current, current, 0, 0, 0)

    def raise_high_water(self, value: int) -> None:
        """Raise the high-water to ``value`` if it is lower (a reading a child's reset
        erased, given back to the window that was open before it)."""
        with self._locked() as buf:
            current, high, s, d, f = _LAYOUT.unpack_from(buf)
            _LAYOUT.pack_into(buf, 0, current, max(high, value), s, d, f)

    def orphaned(self) -> bool:
        """Whether the owner removed the file (its counter closed): nothing reads it any more."""
        if self._map is None:
            return False
        try:
            return os.fstat(self._fd).st_nlink == 0
        except OSError:
            return True

    def close(self, *, unlink: bool) -> None:
        """Unmap, and remove the file when this process created it."""
        if self._map is not None:
            self._map.close()
            os.close(self._fd)
            self._map = None
        self._pid = -1
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _unlink_if_owner(path: str, owner: int) -> None:
    if os.getpid() == owner:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# Counters that are open (not closed): a fork shares them.
_OPEN_COUNTERS: weakref.WeakSet[InFlightCounter] = weakref.WeakSet()


def _share_before_fork() -> None:
    # A child made by fork() inherits the counter without pickling it; its counts only
    # reach the parent if the counter is shared before the fork happens.
    for counter in list(_OPEN_COUNTERS):
        counter.share()


def _renew_locks_in_child() -> None:
    # Another thread may have held a counter's lock at the moment of the fork.
    for counter in list(_OPEN_COUNTERS):
        counter._lock = threading.Lock()


os.register_at_fork(before=_share_before_fork, after_in_child=_renew_locks_in_child)


# With the GIL, CPython switches threads only at calls and backward jumps, so the short
# read-modify-write sequences of the lock-free path below cannot interleave between threads.
# A free-threaded build gets the lock on every update instead.
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class InFlightCounter:
    """High-water of probe calls in flight, exact at every enter and leave.

    ``lock_free`` is true while the counters are plain ints of this process that need no
    lock (the probes inline that path; everything else goes through :meth:`enter` and
    :meth:`leave`). On that path a call with nothing to do, which starts and ends with no
    call or await in between, only raises ``high_water`` to ``in_flight + 1`` if need be
    and adds one to ``no_work_calls``, which count as started and done.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._shared: SharedCounters | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.lock_free = _GIL
        self.in_flight = 0
        self.high_water = 0
        self.started = 0
        self.done = 0
        self.failed = 0
        self.no_work_calls = 0
        _OPEN_COUNTERS.add(self)

    @property
    def shared(self) -> SharedCounters | None:
        """The shared counters once the counter crossed a process boundary, else None."""
        return self._shared

    def share(self) -> SharedCounters:
        """Move the counters into shared memory (idempotent) and return them."""
        with self._lock:
            if self._shared is None:
                self.lock_free = False
                shared = SharedCounters.create()
                shared.write(self._local_reading())
                self._shared = shared
                # A counter dropped without close() must not leave its file behind.
                self._finalizer = weakref.finalize(self, _unlink_if_owner, shared.path, self._owner)
            return self._shared

    def enter(self) -> None:
        """Count one probe call starting."""
        with self._lock:
            shared = self._shared
            if shared is None:
                self.in_flight += 1
                self.started += 1
                if self.in_flight > self.high_water:
                    self.high_water = self.in_flight
                return
        shared.update(1, 1, 0, 0)

    def leave(self, done: bool, failed: bool) -> None:
        """Count one probe call ending: returned (``done``), failed on purpose, or cancelled."""
        with self._lock:
            shared = self._shared
            if shared is None:
                self.in_flight -= 1
                self.done += done
                self.failed += failed
                return
        shared.update(-1, 0, int(done), int(failed))

    def _local_reading(self) -> InFlightReading:
        no_work = self.no_work_calls
        started, done = self.started + no_work, self.done + no_work
        return InFlightReading(self.in_flight, self.high_water, started, done, self.failed)

    def read(self) -> InFlightReading:
        """Return the current counters."""
        with self._lock:
            shared = self._shared
            if shared is None:
                return self._local_reading()
        return shared.read()

    def reset(self) -> None:
        """Start a new window: counts go to zero, the high-water to what is in flight now."""
        with self._lock:
            shared = self._shared
            if shared is None:
                self.high_water = self.in_flight
                self.started = self.done = self.failed = self.no_work_calls = 0
                return
        # In one locked step: a server process may enter or leave between a read and a write.
        shared.reset()

    def detach_after_fork(self) -> None:
        """In a forked child: count on its own from zero, apart from the parent's figures.

        The shared file (if any) stays the parent's; this process only forgets it.
        """
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._shared = None
        self._finalizer = None
        self.lock_free = _GIL
        self.in_flight = self.high_water = self.started = self.done = self.failed = self.no_work_calls = 0

    def close(self) -> None:
        """Release the shared file, if any. The counter still counts in-process; forks no longer share it."""
        with self._lock:
            shared, self._shared = self._shared, None
            if shared is not None:
                reading = shared.read()
                self.in_flight, self.high_water = reading.in_flight, reading.max_in_flight
                self.started, self.done, self.failed = reading.started, reading.done, reading.failed
                self.no_work_calls = 0
                shared.close(unlink=os.getpid() == self._owner)
                self.lock_free = _GIL
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        _OPEN_COUNTERS.discard(self)
