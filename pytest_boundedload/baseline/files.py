"""The baseline's files on disk: the lock beside a baseline, and atomic writes through
symbolic links."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive", "lock_path", "remove_legacy_locks", "resolved", "write_atomically"]


def resolved(path: Path) -> Path:
    """``path`` with every symbolic link followed (a link's target, which need not exist
    yet): what a write through the link replaces."""
    return Path(os.path.realpath(path))


def lock_path(path: Path) -> Path:
    """The lock file of the baseline at ``path``: beside the file itself (the target of a
    link), ``<name>.lock``, so every session saving that file locks the same one whatever
    its environment. It exists only while a save holds it (see :func:`exclusive`)."""
    target = resolved(path)
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``lock`` (made if missing), and remove the
    file again before letting go, so nothing but the baseline stays in its directory."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(lock, follow_symlinks=False)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        # The session that held the lock before this one removed the file it locked: a
        # lock on that file excludes nobody, so lock the one now at the path instead.
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        # Removed while still held: whoever waits on this file sees it gone and starts over.
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def remove_legacy_locks() -> None:
    """Remove the empty lock files earlier versions left in the temporary directory
    (``pytest-boundedload-<digest>.lock``, one per baseline ever saved); one that a
    session of such a version holds right now is left alone."""
    for stale in Path(tempfile.gettempdir()).glob("pytest-boundedload-*.lock"):
        try:
            # O_NONBLOCK: a FIFO of that name (anyone may make one in /tmp) must not
            # hold the save up for ever; only an empty regular file is removed.
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_size == 0:
                stale.unlink()
        except OSError:
            pass  # held by a save of an earlier version, or not ours to remove
        finally:
            os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (beside its target when it is a
    symbolic link, which stays a link), then ``os.replace`` it in: a reader, or a second
    writer at the same moment, never sees a torn file, and a write that fails (a full
    disk) leaves the old file whole and no temporary file behind. The file keeps the mode
    it had; a new one is readable by all (0644), as a committed file should be."""
    target = resolved(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = target.stat()
    except OSError:
        mode = 0o644
    else:
        if not stat.S_ISREG(st.st_mode):
            # Checked at start-up too; replacing a device node (/dev/null) or a FIFO
            # with a file would break more than this run.
            raise OSError(errno.EINVAL, "not a regular file, left as it is", str(target))
        mode = stat.S_IMODE(st.st_mode)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
