"""The live descendant processes of this process, cheap enough to count at every spawn.

psutil's ``children(recursive=True)`` reads the status of every process on the machine
(about 10 ms with two hundred of them here). Here each refresh lists ``/proc`` once and
reads the parent pid only of processes it has not classified yet, so a refresh costs a
directory listing plus one small read per new process. Zombies count until reaped: they
still hold a process slot. Without procfs, psutil does the walk.

What a descendant adds to memory (:meth:`Descendants.own_memory_sum`) depends on whether
it has run a program of its own yet (the kernel clears ``PF_FORKNOEXEC`` in its flags at
``exec``):

- not yet, and it shares its parent's memory (a ``vfork`` or ``posix_spawn`` child on its
  way to ``exec``, asked of the kernel with ``kcmp``): nothing, as its pages are the
  parent's;
- not yet, with memory of its own (a ``fork`` child, a ``multiprocessing`` fork worker):
  its private pages (``Private_Clean`` + ``Private_Dirty`` of ``smaps_rollup``), the ones
  it wrote or allocated since the fork; the pages it still shares with its parent are the
  parent's. The kernel counts them by walking the child's page tables (about 7 ms for a
  200 MiB child here), so a child is read again only after it took a page fault or its
  resident pages changed, and once the readings of all of them take at most a twentieth
  of the time (the window's last reading excepted);
- it has: its own peak RSS (``VmHWM``, which ``exec`` starts afresh).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

import psutil

__all__ = ["Descendants", "has_children", "shares_memory_with"]

# Set in a process's flags from its creation until it runs a program of its own.
PF_FORKNOEXEC = 0x40
# A forked child's private memory is read again once the readings take at most one
# part in this of the time.
_PRIVATE_READ_SHARE = 20


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


def _stat(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat from the third (state) on; empty when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return []
    # The command name in parentheses may hold spaces or ')': parse after the last ')'.
    return data[data.rfind(b")") + 2 :].split()


def _parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if len(fields) > 1 else None


def _forked_state(pid: int) -> tuple[int, int, int] | bool | None:
    """For a process that has not run a program of its own since it was created, its
    page faults (minor, major) and resident pages, which its private memory cannot change
    without; False for one that has; None when it is gone."""
    fields = _stat(pid)
    if len(fields) <= 24 - 3:
        return None
    if not int(fields[9 - 3]) & PF_FORKNOEXEC:
        return False
    return int(fields[10 - 3]), int(fields[12 - 3]), int(fields[24 - 3])


def _private_memory(pid: int) -> int | None:
    """The pages mapped by this process alone (bytes); None without smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None if not os.path.exists("/proc/self/smaps_rollup") else 0
    except OSError:
        return 0
    total = 0
    for line in data.splitlines():
        if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
            total += int(line.split()[1]) * 1024
    return total


# kcmp's number where the architecture has one (they differ; the generic table's is 272).
_KCMP_NUMBERS = {
    "x86_64": 312,
    "i386": 349,
    "i686": 349,
    "aarch64": 272,
    "riscv64": 272,
    "loongarch64": 272,
    "armv7l": 378,
    "ppc64le": 354,
    "ppc64": 354,
    "s390x": 343,
}
_KCMP_VM = 1
_kcmp: list[Callable[[int, int], int | None]] = []  # made at the first use


def _make_kcmp() -> Callable[[int, int], int | None]:
    import ctypes  # only once a child that has not exec'd is seen

    number = _KCMP_NUMBERS.get(os.uname().machine)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        number = None
    if number is None:
        return lambda first, second: None
    syscall.restype = ctypes.c_long

    def kcmp_vm(first: int, second: int) -> int | None:
        args = (number, first, second, _KCMP_VM, 0, 0)
        result = int(syscall(*(ctypes.c_long(arg) for arg in args)))
        return result if result >= 0 else None

    return kcmp_vm


def shares_memory_with(pid: int, other: int) -> bool | None:
    """Whether two processes share one address space (``kcmp``); None when the kernel
    cannot be asked (no ``kcmp``, or not allowed) or one of them is gone."""
    if not _kcmp:
        _kcmp.append(_make_kcmp())
    result = _kcmp[0](pid, other)
    return None if result is None else result == 0


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
        self._parents: dict[int, int] = {}  # of the descendants
        self._execd: set[int] = set()  # descendants known to have run a program of their own
        # Forked children's private memory: bytes, when it may be read again, and the
        # faults and resident pages it was read at.
        self._private: dict[int, tuple[int, float, tuple[int, int, int]]] = {}
        # Children not exec'd seen at an earlier reading (where kcmp cannot tell apart
        # a fork child from one that shares its parent's memory on its way to exec).
        self._seen_forked: set[int] = set()
        self._listed: frozenset[int] = frozenset()  # the live descendants of the last refresh
        # Refreshed from the sampler thread and from spawn hooks on any thread.
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Update and return the number of live descendants."""
        with self._lock:
            if not has_children():
                self._alive.clear()  # no child: no descendant, and nothing to list
                self._forget_all_but(self._alive)
            else:
                self._refresh()
            # Read without the lock (see still_there): a new set, bound in one step.
            self._listed = frozenset(self._alive)
            return len(self._alive)

    def _refresh(self) -> None:
        if not self._procfs:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(self._root).children(recursive=True)
                self._alive = {p.pid for p in children} - self._strangers
            return
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
                self._parents[pid] = parent
            elif parent is not None:
                self._strangers.add(pid)
        if len(self._parents) > len(ours):
            self._forget_all_but(ours)

    def _forget_all_but(self, ours: set[int]) -> None:
        self._parents = {pid: self._parents[pid] for pid in ours if pid in self._parents}
        self._execd &= ours
        self._seen_forked &= ours
        self._private = {pid: self._private[pid] for pid in ours if pid in self._private}

    def ignore(self, pids: frozenset[int]) -> None:
        """Leave these processes (and, from now on, their descendants) out of the count."""
        with self._lock:
            self._alive -= pids
            self._strangers |= pids
            self._listed = frozenset(self._alive)

    def still_there(self) -> int:
        """How many of the descendants seen at the last refresh are still there (alive or
        not yet reaped), asked of the kernel with signal 0. No file is read and no lock
        taken (a refresh may hold it while it lists /proc), so this can run on an event
        loop's thread. A descendant started since is not counted."""
        count = 0
        for pid in self._listed:
            try:
                os.kill(pid, 0)
            except OSError:  # gone (or its pid already another user's process)
                continue
            count += 1
        return count

    @property
    def pids(self) -> frozenset[int]:
        """The descendants seen alive at the last refresh."""
        with self._lock:
            return frozenset(self._alive)

    def own_memory_sum(self, *, fresh: bool = False) -> int:
        """What the live descendants add to memory, summed (see the module's docstring):
        nothing for one that shares its parent's memory, the private pages of a forked
        one that has not exec'd, the peak RSS of one that has. Without procfs, the sum of
        their RSS. ``fresh`` reads every forked child's private pages that may have
        changed, however recently they were read."""
        with self._lock:
            pids = sorted(self._alive)
            parents = dict(self._parents)
        if not self._procfs:
            return self._rss_sum(pids)
        forked: dict[int, tuple[int, int, int]] = {}
        total = 0
        for pid in pids:
            if pid not in self._execd:
                state = _forked_state(pid)
                if state is None:
                    continue  # gone
                if isinstance(state, tuple):
                    forked[pid] = state
                    continue
                self._execd.add(pid)
            total += _vmhwm(pid)
        return total + self._forked_sum(forked, parents, fresh)

    def _forked_sum(
        self, forked: dict[int, tuple[int, int, int]], parents: dict[int, int], fresh: bool
    ) -> int:
        total = 0
        own_memory = {}
        for pid, state in forked.items():
            shares = shares_memory_with(pid, parents.get(pid, self._root))
            if shares is None and pid not in self._seen_forked:
                # kcmp cannot tell: a child seen once may share its parent's memory on its
                # way to exec (which takes far less than the time between two readings).
                self._seen_forked.add(pid)
            elif not shares:
                own_memory[pid] = state
        now = time.monotonic()
        for pid, state in own_memory.items():
            size, due, read_at = self._private.get(pid, (0, now, (-1, -1, -1)))
            if state != read_at and (fresh or due <= now):
                started = time.perf_counter()
                private = _private_memory(pid)
                if private is None:  # no smaps_rollup (before Linux 4.14): the peak RSS
                    private = _vmhwm(pid)
                took = time.perf_counter() - started
                # The next reading waits until all of them took a small share of the time.
                size, due = private, now + _PRIVATE_READ_SHARE * took * len(own_memory)
                self._private[pid] = (size, due, state)
            total += size
        return total

    def _rss_sum(self, pids: list[int]) -> int:
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total
