"""Memory cgroups a capped child joins: made, watched for OOM kills and removed here.

Where this process may create one, a child memory cgroup (v1 ``memory.limit_in_bytes``
or v2 ``memory.max``) counts the memory the child really touches, and going over it
brings the kernel's OOM killer (``SIGKILL``), exactly as in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from pathlib import Path

__all__ = ["Cgroup"]


class Cgroup:
    """A child memory cgroup of this process's own, with a limit; removed after use."""

    _counter = 0

    def __init__(self, path: Path, limit_file: str) -> None:
        self.path = path
        self.limit_file = limit_file

    @classmethod
    def create(cls, cap: int) -> Cgroup | None:
        """Make one, or return None where cgroups are missing or not writable."""
        base = _own_memory_cgroup()
        if base is None:
            return None
        version_1 = (base / "memory.limit_in_bytes").exists()
        if os.getpid() not in _SWEPT:  # groups of processes that died before this one began
            _SWEPT.add(os.getpid())
            _remove_stale(base)
        cls._counter += 1
        path = base / f"boundedload-{os.getpid()}-{cls._counter}"
        try:
            path.mkdir()
        except OSError:
            return None
        group = cls(path, "memory.limit_in_bytes" if version_1 else "memory.max")
        try:
            (path / group.limit_file).write_text(str(cap))
            if not version_1 and (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
        except OSError:
            group.remove()
            return None
        return group

    def join(self) -> bool:
        """Move the calling process into the cgroup."""
        try:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            return False
        return True

    def oom_kills(self) -> int | None:
        """How many processes the OOM killer ended in this cgroup; None if the kernel
        does not say."""
        for name in ("memory.events", "memory.oom_control"):
            try:
                text = (self.path / name).read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return None

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup."""
        with contextlib.suppress(OSError):
            for line in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(line), signal.SIGKILL)

    def remove(self) -> None:
        """Delete the cgroup; the kernel may need a moment after its last process exits."""
        for _ in range(200):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)
        warnings.warn(f"boundedload: could not remove the cgroup {self.path}", RuntimeWarning, stacklevel=2)


_SWEPT: set[int] = set()  # the processes that swept already


def _remove_stale(base: Path) -> None:
    """Remove the empty cgroups that a process which has since died made here (a parent
    killed while its capped child ran never removed its child's)."""
    for path in base.glob("boundedload-*-*"):
        owner = path.name.split("-")[1]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
            continue  # still running: its cgroups are its own business
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            if not (path / "cgroup.procs").read_text().split():
                path.rmdir()


def _own_memory_cgroup() -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, relative = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / relative.lstrip("/")
            return base if (base / "memory.limit_in_bytes").exists() else None
    for line in lines:
        if line.startswith("0::"):
            base = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            return base if (base / "memory.max").exists() else None
    return None
