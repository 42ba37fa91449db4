"""Run a function in a forked child under a hard memory cap, and say how it ended.

The cap is a memory cgroup where this process may make one (:mod:`.cgroup`; going over
brings the OOM killer, as in production), else ``RLIMIT_DATA`` on top of the data
segment the child inherits: allocations beyond it fail with a ``MemoryError``, and as
every thread's stack reservation (8 MiB) counts, a thread-per-task flood stops after a
few dozen threads. (``RLIMIT_AS`` is worse still: it counts shared libraries too.)

The child talks to the parent over a pipe: any number of messages sent while it runs
(progress, the latest figures) and then its result. A child that raises, runs out of
memory or is killed by a signal becomes a :class:`ChildOutcome` that says so; the
parent never raises because of what the child did. A window measuring the parent leaves
the child out of its process counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import os
import pickle
import resource
import select
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..measure.ownership import own_child_ended, own_fork
from ..units import format_size
from .cgroup import Cgroup
from .method import CAP_METHOD_ENV, cap_method

__all__ = ["CAP_METHOD_ENV", "ChildOutcome", "cap_kind", "cap_method", "cap_reached", "run_capped"]

_HEADER = struct.Struct("!I")
_POLL = 0.05
_PR_SET_PDEATHSIG = 1
# Kept free in the child so a MemoryError can still be reported through the pipe.
_RESERVE = 1 << 20
# In a capped child: (cap in bytes, "cgroup" or "rlimit").
_child_cap: tuple[int, str] | None = None


def cap_kind(method: str, *, strict: bool = True) -> str:
    """The cap a child gets here under ``method``: ``"cgroup"`` or ``"rlimit"``. A forced
    ``"cgroup"`` that this process cannot make is a RuntimeError (``strict``) or says so."""
    if method == "rlimit":
        return "rlimit"
    group = Cgroup.create(64 << 20)
    if group is None:
        if method == "cgroup":
            if not strict:
                return "none (no cgroup can be made)"
            raise RuntimeError("no writable memory cgroup for this process")
        return "rlimit"
    group.remove()
    return "cgroup"


def cap_reached(error: BaseException | None) -> tuple[int, str, str] | None:
    """In a capped child, (cap, kind, what) when ``error`` (or what caused it) is the cap
    at work: a ``MemoryError``; under ``RLIMIT_DATA`` also a thread that could not start
    or an ``ENOMEM`` from the system. None elsewhere."""
    if _child_cap is None:
        return None
    cap, kind = _child_cap
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, MemoryError):
            return cap, kind, "MemoryError"
        if kind == "rlimit" and (
            (isinstance(error, RuntimeError) and "can't start new thread" in str(error))
            or (isinstance(error, OSError) and error.errno == errno.ENOMEM)
        ):
            return cap, kind, f"{type(error).__name__}: {error}"
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def _data_size() -> int:
    """Bytes of this process's data segment now (VmData), 0 where procfs cannot tell."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmData:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclasses.dataclass(frozen=True)
class ChildOutcome:
    """How a capped child ended.

    Exactly one of these holds: ``ok`` (``value`` is what the function returned), an
    ``error`` (the exception's type and message, e.g. ``MemoryError``), a ``signal``
    name (``"SIGKILL"``), or a ``timed_out`` child that the parent killed.
    """

    cap: int | None  # None: an isolated child without a cap
    cap_kind: str = "rlimit"  # "cgroup", "rlimit" or "none"
    oom_killed: bool | None = None  # from the cgroup's counters; None when unknown
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    signal: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    messages: tuple[Any, ...] = ()

    @property
    def ok(self) -> bool:
        """The function returned normally."""
        return self.error is None and self.signal is None and not self.timed_out and self.exit_code == 0

    @property
    def out_of_memory(self) -> bool:
        """The child hit the cap: a MemoryError, or a SIGKILL from the kernel's OOM killer."""
        if (self.error or "").startswith("MemoryError"):
            return True
        if self.oom_killed is not None:
            return self.oom_killed
        if self.cap is None:
            return False  # no cap: a SIGKILL is a signal like any other
        # Without cgroup counters a SIGKILL nobody here sent is most likely the OOM killer.
        return self.signal == "SIGKILL" and not self.timed_out

    @property
    def last_message(self) -> Any:
        """The latest message the child sent, or None."""
        return self.messages[-1] if self.messages else None

    @property
    def ending(self) -> tuple[str, str]:
        """How the child ended, as (kind, detail): ``("timeout", "")``, ``("memory",
        "MemoryError")`` or ``("memory", "killed by SIGKILL")``, ``("signal", "SIGTERM")``,
        ``("error", "ValueError: boom")``, ``("exit", "3")`` or ``("ok", "")``."""
        if self.timed_out:
            return "timeout", ""
        if self.out_of_memory:
            return "memory", self.error if self.error is not None else f"killed by {self.signal}"
        if self.signal is not None:
            return "signal", self.signal
        if self.error is not None:
            return "error", self.error
        if self.exit_code not in (0, None):
            return "exit", str(self.exit_code)
        return "ok", ""

    def describe(self) -> str:
        """One line for people: ``exceeded cap 2.0 GiB (cgroup): MemoryError`` and the like."""
        cap = f"{format_size(self.cap)} ({self.cap_kind})" if self.cap is not None else "none"
        kind, detail = self.ending
        return {
            "timeout": f"timed out (cap {cap})",
            "memory": f"exceeded cap {cap}: {detail}",
            "signal": f"killed by {detail} (cap {cap})",
            "error": f"raised {detail}",
            "exit": f"exited with status {detail}",
            "ok": "ok",
        }[kind]


def _write(fd: int, kind: str, payload: Any) -> None:
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _Reader:
    """Parent side of the pipe: frames messages, hands progress on as it comes."""

    def __init__(self, fd: int, on_message: Callable[[Any], None] | None) -> None:
        self.fd = fd
        self.on_message = on_message
        self.messages: list[tuple[str, Any]] = []
        self._buffer = bytearray()

    def read_available(self, wait: float | None) -> bool:
        """Read what arrives within ``wait`` seconds; False once the pipe is at EOF."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return False
        self._buffer += chunk
        self._frame()
        return True

    def _frame(self) -> None:
        buffer = self._buffer
        while len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                return
            data = bytes(buffer[_HEADER.size : _HEADER.size + size])
            del buffer[: _HEADER.size + size]
            try:
                kind, payload = pickle.loads(data)
            except Exception:  # a message the parent cannot rebuild is dropped, not fatal
                continue
            self.messages.append((kind, payload))
            if kind == "message" and self.on_message is not None:
                self.on_message(payload)


def _wait_for_child(reader: _Reader, pid: int, deadline: float | None) -> tuple[int, bool]:
    """Read messages until the child has exited; returns (wait status, timed out).

    The child's exit, not the pipe's EOF, ends the wait: a process the child started
    may hold the pipe open long after (and is killed with the child's group later).
    """
    timed_out = False
    open_pipe = True
    while True:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            break
        if deadline is not None and time.monotonic() >= deadline:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        if open_pipe:
            open_pipe = reader.read_available(_POLL)
        else:
            time.sleep(_POLL)
    # What the child wrote before it exited is in the pipe: take it all.
    while open_pipe and select.select([reader.fd], [], [], 0)[0]:
        open_pipe = reader.read_available(0)
    return status, timed_out


def _die_with_parent() -> None:
    # If the parent is killed (pytest-timeout's thread method ends it with os._exit), the
    # child must not run on as an orphan holding its memory. Linux only.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child_main(
    write_fd: int,
    cap: int | None,
    group: Cgroup | None,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    prepare: Callable[[], object] | None,
) -> None:
    reserve: bytearray | None = bytearray(_RESERVE)
    code = 0
    # Several threads of the child may send at once (progress, reports): one frame at a time.
    lock = threading.Lock()

    def locked_write(kind: str, payload: Any) -> None:
        with lock:
            _write(write_fd, kind, payload)

    try:
        # Its own process group: whatever it starts can be ended with it.
        os.setpgid(0, 0)
        _die_with_parent()
        # Made before the cap, which must not count it; kept alive until the child exits.
        prepared = prepare() if prepare is not None else None
        global _child_cap
        if cap is None:
            pass  # isolated only: the child's memory is what it measures, not what stops it
        elif group is not None and group.join():
            _child_cap = (cap, "cgroup")
        else:
            # RLIMIT_DATA counts the whole data segment: the cap comes on top of what the
            # child inherited, as a cgroup charges only what the child touches after joining.
            limit = _data_size() + cap
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            _child_cap = (cap, "rlimit")

        def send(message: Any) -> None:
            locked_write("message", message)

        locked_write("result", function(send, *args))
        del prepared
    except BaseException as exc:
        del reserve  # give the memory back so the report can be written
        code = 1
        with contextlib.suppress(BaseException):
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            locked_write("error", (text, traceback.format_exc()))
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_capped(
    function: Callable[..., Any],
    *args: Any,
    cap: int | None,
    timeout: float | None = None,
    on_message: Callable[[Any], None] | None = None,
    method: str | None = None,
    prepare: Callable[[], object] | None = None,
) -> ChildOutcome:
    """Call ``function(send, *args)`` in a forked child whose data segment is capped at
    ``cap`` bytes, and return how it ended.

    ``send(message)`` passes a picklable message to the parent while the child runs;
    ``on_message`` is called with each one as it arrives, and all of them are kept in
    :attr:`ChildOutcome.messages`. ``timeout`` (seconds) kills a child that runs too
    long. The return value must be picklable. ``cap=None`` runs the child without a cap
    (isolated only, ``cap_kind`` ``"none"``). ``method`` picks the cap (default: the
    ``BOUNDEDLOAD_CAP`` environment variable, else ``"auto"``): ``"auto"``
    (a cgroup where possible, else ``RLIMIT_DATA``), ``"cgroup"`` or ``"rlimit"``.
    ``prepare()``, if given, runs in the child before the cap applies (a cgroup charges
    a child only for the pages it touches after joining); what it returns is kept alive
    until the child exits.
    """
    if method is None:
        method = cap_method()
    group = Cgroup.create(cap) if cap is not None and method in ("auto", "cgroup") else None
    if group is None and cap is not None and method == "cgroup":
        raise RuntimeError("no writable memory cgroup for this process")
    read_fd, write_fd = os.pipe()
    pid = own_fork()  # a window measuring this process leaves the child out
    if pid == 0:  # pragma: no cover - runs in the child, which exits through os._exit
        os.close(read_fd)
        _child_main(write_fd, cap, group, function, args, prepare)
    os.close(write_fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    reader = _Reader(read_fd, on_message)
    oom_kills: int | None = None
    try:
        status, timed_out = _wait_for_child(reader, pid, deadline)
    except BaseException:
        # Interrupted here (Ctrl-C, a timeout signal in this process): the child must
        # not outlive the call.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_fd)
        own_child_ended(pid)
        # Processes the child left behind go with it: its group, and its cgroup.
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        if group is not None:
            oom_kills = group.oom_kills()
            group.kill_all()
            group.remove()
    messages = reader.messages
    cap_kind = "none" if cap is None else "cgroup" if group is not None else "rlimit"
    outcome: dict[str, Any] = {"cap": cap, "cap_kind": cap_kind, "timed_out": timed_out}
    if oom_kills is not None:
        outcome["oom_killed"] = oom_kills > 0
    sent: list[Any] = []
    for kind, payload in messages:
        if kind == "message":
            sent.append(payload)
        elif kind == "result":
            outcome["value"] = payload
        elif kind == "error":
            outcome["error"], outcome["traceback"] = payload
    if os.WIFSIGNALED(status):
        outcome["signal"] = signal.Signals(os.WTERMSIG(status)).name
    else:
        outcome["exit_code"] = os.WEXITSTATUS(status)
    return ChildOutcome(messages=tuple(sent), **outcome)
