"""The live descendant processes of this process, cheap enough to count at every spawn.

psutil's ``children(recursive=True)`` reads the status of every process on the machine
(about 10 ms with two hundred of them here). Here each refresh lists ``/proc`` once and
reads the parent pid only of processes it has not classified yet, so a refresh costs a
directory listing plus one small read per new process. Zombies count until reaped: they
still hold a process slot. Without procfs, psutil does the walk.
"""

from __future__ import annotations

import contextlib
import os
import threading

import psutil

__all__ = ["Descendants", "has_children"]


def has_children() -> bool:
    """Whether this process has a child (alive or not yet reaped), asked of the kernel
    without reaping one (``waitid`` with ``WNOWAIT``); True where that cannot be asked."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return True
    try:
        waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except OSError:
        return True
    return True


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name in parentheses may hold spaces or ')': parse after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def _vmhwm(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Descendants:
    """Tracks this process's live descendants across refreshes."""

    def __init__(self) -> None:
        self._root = os.getpid()
        self._procfs = os.path.isdir("/proc/self")
        self._alive: set[int] = set()
        self._strangers: set[int] = set()  # pids known not to be ours
        # Refreshed from the sampler thread and from spawn hooks on any thread.
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Update and return the number of live descendants."""
        with self._lock:
            if not has_children():
                self._alive.clear()  # no child: no descendant, and nothing to list
                return 0
            return self._refresh()

    def _refresh(self) -> int:
        if not self._procfs:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(self._root).children(recursive=True)
                self._alive = {p.pid for p in children} - self._strangers
            return len(self._alive)
        present = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        self._alive &= present
        self._strangers &= present
        ours = self._alive
        ours.discard(self._root)
        # Parents usually have lower pids than their children: ascending order lets a
        # grandchild be recognised in the same pass as its parent.
        for pid in sorted(present - ours - self._strangers - {self._root}):
            parent = _parent_of(pid)
            if parent == self._root or parent in ours:
                ours.add(pid)
            elif parent is not None:
                self._strangers.add(pid)
        return len(ours)

    def ignore(self, pids: frozenset[int]) -> None:
        """Leave these processes (and, from now on, their descendants) out of the count."""
        with self._lock:
            self._alive -= pids
            self._strangers |= pids

    @property
    def pids(self) -> frozenset[int]:
        """The descendants seen alive at the last refresh."""
        with self._lock:
            return frozenset(self._alive)

    def peak_rss_sum(self) -> int:
        """Sum of the peak RSS (VmHWM, or RSS without procfs) of the live descendants."""
        pids = self.pids
        if self._procfs:
            return sum(_vmhwm(pid) for pid in pids)
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total
