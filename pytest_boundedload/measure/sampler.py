"""Peak memory, thread and child-process high-waters of this process during a window.

The own peak is exact where procfs allows: writing ``5`` to ``/proc/self/clear_refs``
resets the kernel's ``VmHWM`` and reading it at the end gives the true peak, spikes inside
C code included. Everything else is sampled by a daemon thread every ``interval``, started
only once a sample can add something (no exact peak, ticks asked for, a first child), and
read at the events that raise it:

- pymalloc's free space (:class:`.pyfree.FreeSpaceTracker`): what the window took of
  the free space earlier work left (``reused``) is memory it needed that RSS does not
  show, because those pages were resident already;

- OS threads from ``/proc/self/status`` (``threading`` misses raw ``_thread`` threads),
  and, exactly, the threads started through ``threading`` or ``_thread`` in the window,
  counted in memory as they start and end (:mod:`.threadstarts`), so short-lived threads
  count too (threads that C extensions start are only sampled);
- descendant processes and the sum of what they add to memory (:mod:`.descendants`:
  nothing for a child that still shares this process's memory on its way to ``exec``,
  the private pages of a forked one, the ``VmHWM`` of one that has exec'd; ``ru_maxrss``
  of a child reports the parent's peak after vfork, so it cannot be used), and, their
  number, at every process creation (audit events), so short-lived children count too.
  No hook reads a file on the thread that called it while an event loop runs there:
  that scan goes to the sampler thread.

Without procfs (macOS) the own peak falls back to sampling RSS through psutil, and
``peak_source`` says ``"sampled"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from . import procfs, pyfree
from .descendants import Descendants
from .measurement import PeakSource
from .ownership import OWN_CHILDREN, OWN_SPAWN_LOCK, OWN_THREADS, forking
from .procfs import current_rss, peak_rss_now, vmhwm_available
from .threadstarts import ThreadStarts, own_thread_start

__all__ = [
    "OWN_THREADS",
    "Sampler",
    "SamplerResult",
    "current_rss",
    "peak_rss_now",
    "vmhwm_available",
]

# Reading every child's peak costs a file read each; do it at most this often.
_CHILD_SCAN_PERIOD = 0.02
_SPAWN_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "subprocess.Popen",
    }
)


@dataclasses.dataclass(frozen=True)
class SamplerResult:
    """What the sampler saw; sizes in bytes."""

    peak_rss: int
    start_rss: int
    # pymalloc free space, resident before the window, that the window's objects took.
    reused: int
    children_peak_rss: int
    max_threads: int
    max_processes: int
    peak_source: PeakSource


# Audit hooks cannot be removed, so one hook is installed per interpreter and it forwards
# to the sampler of the window that is open, if any.
_SPAWN_LISTENER: list[Callable[[], None]] = []
_AUDIT_INSTALLED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _SPAWN_EVENTS or forking():
        return
    listeners = list(_SPAWN_LISTENER)  # another thread may clear it meanwhile
    if listeners:
        # The measurement must never be why the code under test fails to start a process.
        with contextlib.suppress(Exception):
            listeners[0]()


def _install_audit_hook() -> None:
    # Installed by the first window rather than at import, so that sessions which never
    # measure do not pay a Python call on every audited event.
    if not _AUDIT_INSTALLED:
        sys.addaudithook(_audit)
        _AUDIT_INSTALLED.append(True)


def _forget_windows_in_child() -> None:
    # A forked child inherits the open window's hooks, but not its sampler thread, whose
    # locks may have been held at the fork: the child must not report into them.
    _SPAWN_LISTENER.clear()


os.register_at_fork(after_in_child=_forget_windows_in_child)


_PROCFS: dict[str, bool] = {}


def _has_procfs(status: str) -> bool:
    present = _PROCFS.get(status)
    if present is None:
        present = _PROCFS[status] = os.path.exists(status)
    return present


class Sampler:
    """Start at the beginning of a window, stop at its end; not reusable."""

    def __init__(self, interval: float, on_tick: Callable[[], None] | None = None) -> None:
        self.interval = interval
        # Called from the sampler thread after each periodic sample.
        self._on_tick = on_tick
        self._procfs = _has_procfs(procfs.PROC_STATUS)
        self._process_handle: psutil.Process | None = None  # made only where procfs is missing
        self._stopping = False
        # Set to make the sampler thread take its next sample now (a first child appeared);
        # made with the thread, as most windows never start one.
        self._wake: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._vmhwm = False
        self._start_rss = 0
        self._peak_rss = 0
        self._max_threads = 0
        self._owner = os.getpid()
        self._threads_before = 0
        self._tasks_before: frozenset[str] = frozenset()  # thread ids (/proc/self/task)
        self._children_before: frozenset[int] = frozenset()
        self._max_processes = 0
        self._children_peak = 0
        self._last_scan = 0.0
        self._children = Descendants()
        # Listing /proc every tick is worth it only once this process has children:
        # some at the start, or a spawn seen since.
        self._watch_children = False
        self._starts = ThreadStarts()
        self._free = pyfree.FreeSpaceTracker()

    def start(self) -> None:
        """Reset the peak and begin sampling."""
        _install_audit_hook()
        self._owner = os.getpid()
        self._vmhwm = self._procfs and vmhwm_available()
        # One reading of /proc/self/stat serves the start's RSS and thread counts.
        fields = procfs.rss_and_threads() if self._procfs else None
        self._start_rss = self._rss(fields)
        self._peak_rss = self._start_rss
        # What was already running is not the window's: threads beyond the main one and
        # children alive now are left out of the counts (xdist's and pytest-timeout's
        # threads, a fixture's server process).
        threads = self._thread_count(fields)
        self._threads_before = threads - 1
        self._tasks_before = self._other_threads() if self._threads_before > 0 else frozenset()
        if self._children.refresh():
            self._children_before = self._children.pids
            self._children.ignore(self._children_before)
        # The window's own thread; no child of the window's yet (those alive were left out).
        self._max_threads = 1  # the window's own: the others of now are left out
        self._last_scan = time.monotonic()
        # Known before the thread starts: its first wait already uses the right period.
        self._watch_children = False
        self._thread = None
        # The thread starts only when a periodic sample can add something: RSS without
        # the kernel peak, ticks someone asked for (a timeline, xdist's crash notes), or
        # children (at the first spawn). A short test with none of those never pays for
        # starting and joining one.
        if not self._vmhwm or self._on_tick is not None:
            self._start_thread()
        _SPAWN_LISTENER[:] = [self._on_spawn]
        self._starts.start()
        self._free.start()

    def stop(self) -> SamplerResult:
        """Stop sampling and return the figures of the window.

        Hooks come off and the thread ends even when a last reading fails (a process
        out of file descriptors, say); the figures are then what was seen until then.
        """
        self._starts.stop()
        _SPAWN_LISTENER.clear()
        fields = None
        try:
            # The last thread sample comes first, while the sampler thread is certainly
            # alive and so certainly subtracted; the same reading gives the last peak.
            with contextlib.suppress(OSError):
                fields = procfs.status_fields() if self._procfs else None
                self._sample_threads(fields)
        finally:
            try:
                with self._lock:  # no thread starts once stopping (see _start_thread)
                    self._stopping = True
                    thread, wake = self._thread, self._wake
                if thread is not None and wake is not None:
                    wake.set()
                    thread.join()
            finally:
                self._free.stop()
        with contextlib.suppress(OSError):
            if self._watch_children:
                self._scan_children(time.monotonic(), fresh=True)
        return self.so_far(fields)

    def so_far(self, fields: dict[str, int] | None = None) -> SamplerResult:
        """The figures of the window up to now (from ``fields``, a reading of
        /proc/self/status just taken, if given); sampling goes on."""
        peak = max(self._peak_rss, self._start_rss)
        with contextlib.suppress(OSError, KeyError):
            if fields is None and self._procfs:
                fields = procfs.status_fields()
            peak = max(fields["VmHWM"] if self._vmhwm and fields else self._rss(fields), peak)
        return SamplerResult(
            peak_rss=peak,
            start_rss=self._start_rss,
            reused=self._free.reused,
            children_peak_rss=self._children_peak,
            # The thread the window runs in, and those started in it at their high-water.
            max_threads=max(self._max_threads, 1 + self._starts.high_water),
            max_processes=self._max_processes,
            peak_source="vmhwm" if self._vmhwm else "sampled",
        )

    def _process(self) -> psutil.Process:
        if self._process_handle is None:
            self._process_handle = psutil.Process()
        return self._process_handle

    def _rss(self, fields: dict[str, int] | None = None) -> int:
        if self._procfs:
            return (fields or procfs.status_fields())["VmRSS"]
        return int(self._process().memory_info().rss)

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping:
                return
            wake = threading.Event()
            thread = threading.Thread(target=self._run, args=(wake,), name="boundedload-sampler", daemon=True)
            OWN_THREADS.add(thread)
            # Started under the lock: stop() either sees no thread or a started one. The
            # start waits only for the thread to begin, before its first tick. The event
            # is published only with a started thread: no event, no thread to wake.
            with own_thread_start():  # a window may be counting thread starts already
                thread.start()
            self._thread, self._wake = thread, wake

    def _run(self, wake: threading.Event) -> None:
        while True:
            # The thread runs only when a tick can add something (see start): every interval.
            wake.wait(self.interval)
            wake.clear()
            if self._stopping:
                return
            with contextlib.suppress(OSError):  # a missed sample, not a dead sampler
                self._tick()

    def _tick(self) -> None:
        fields = procfs.status_fields() if self._procfs else None  # one reading a tick
        if not self._vmhwm:
            rss = self._rss(fields)
            if rss > self._peak_rss:
                self._peak_rss = rss
        self._sample_threads(fields)
        self._free.sample_if_due()
        now = time.monotonic()
        if self._watch_children and now - self._last_scan >= _CHILD_SCAN_PERIOD:
            self._scan_children(now)
        if self._on_tick is not None:
            self._on_tick()

    def _thread_count(self, fields: dict[str, int] | None = None) -> int:
        if self._procfs:
            count = (fields or procfs.status_fields())["Threads"]
        else:
            count = self._process().num_threads()
        # The plugin's own threads (this sampler, a hard_limit child's reporter) are not
        # the code under test's.
        if not OWN_THREADS:
            return count
        return count - sum(thread.is_alive() for thread in list(OWN_THREADS))

    def _other_threads(self) -> frozenset[str]:
        """The ids of the threads listed now besides the main thread and the plugin's own
        (those that ended but are still listed included)."""
        if not self._procfs:
            return frozenset()
        skip = {str(os.getpid())} | {str(t.native_id) for t in list(OWN_THREADS) if t.native_id is not None}
        with contextlib.suppress(OSError):
            return frozenset(os.listdir("/proc/self/task")) - skip
        return frozenset()

    def _sample_threads(self, fields: dict[str, int] | None = None) -> None:
        if os.getpid() != self._owner:
            return  # a forked child running the parent's hooks: not this window's process
        count = self._thread_count(fields)
        if not self._procfs:
            count -= self._threads_before
        elif count > 1:
            # Beyond the window's own thread: counted from one listing, so a thread of
            # before the window (or a sampler of an earlier one) that leaves the list
            # meanwhile is neither counted nor subtracted.
            count = 1 + len(self._other_threads() - self._tasks_before)
        with self._lock:
            if count > self._max_threads:
                self._max_threads = count

    def _wake_thread(self) -> bool:
        """Make the sampler thread sample now; False when there is none."""
        wake = self._wake
        if wake is None:
            return False
        wake.set()
        return True

    def _refresh_children(self) -> int:
        """The number of live descendants, the plugin's own processes left out (a local
        server, a capped child, and what they start)."""
        with OWN_SPAWN_LOCK:  # not while the plugin starts one, before its pid is known
            if OWN_CHILDREN:
                self._children.ignore(frozenset(OWN_CHILDREN))
            return self._children.refresh()

    def _scan_children(self, now: float, *, fresh: bool = False) -> None:
        count = self._refresh_children()
        total = self._children.own_memory_sum(fresh=fresh)
        with self._lock:
            self._last_scan = now
            self._max_processes = max(self._max_processes, count)
            self._children_peak = max(self._children_peak, total)

    def _on_spawn(self) -> None:
        # Runs just before a child process is created; the count right after is what
        # matters, so the child about to start is added. Listing /proc is blocking I/O:
        # on a thread that runs an event loop, the sampler thread does it at once instead,
        # and the count here is of the descendants it listed last that are still there.
        if os.getpid() != self._owner:
            return
        first = not self._watch_children
        self._watch_children = True
        in_loop = asyncio._get_running_loop() is not None
        if first or in_loop:
            # Under the lock: a thread another spawn is starting is waited for, not missed.
            with contextlib.suppress(RuntimeError):  # no thread left to start: counted below
                self._start_thread()
        woken = self._wake_thread()
        # On a loop's thread no file is read: the descendants of the last listing that are
        # still there (a signal 0 reads nothing), and the child about to start.
        count = (self._children.still_there() if in_loop and woken else self._refresh_children()) + 1
        with self._lock:
            self._max_processes = max(self._max_processes, count)
