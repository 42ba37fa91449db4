"""Paths the plugin will write or read, checked before the first test runs.

A report or baseline path that cannot be used must stop the run at start-up with a
usage error naming the setting and the value, not end it with a traceback after every
test has run (or, for a baseline to compare with, pass every test as new). Checked: an
empty value, NUL bytes, a name longer than the file system allows, a place under
``/proc`` or ``/sys`` (pseudo-files, not files), a directory given where a file is meant
(or a file where a directory is), a file that is not a regular one (a FIFO, a device
node), a symbolic link on the way that cannot be followed (a loop, a link to nothing),
and, for a path to write, a parent directory that cannot be made or written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .jsonfile import kind
from .units import InvalidValue

__all__ = ["input_file", "output_directory", "output_file"]

_PSEUDO = ("/proc", "/sys")


def _invalid(key: str, raw: object, source: str, why: str) -> InvalidValue:
    return InvalidValue(f"invalid {key}={str(raw)!r} {source}: {why}")


def _common(raw: object, key: str, source: str, base: Path, doing: str = "write") -> Path:
    text = str(raw)
    if not text.strip():
        raise _invalid(key, raw, source, "empty")
    if "\0" in text:
        raise _invalid(key, raw, source, "contains a NUL byte")
    path = Path(text)
    path = path if path.is_absolute() else base / path
    resolved = os.path.realpath(path)
    for root in _PSEUDO:
        if resolved == root or resolved.startswith(root + os.sep):
            raise _invalid(key, raw, source, f"{resolved} is under {root}, which holds no files to {doing}")
    name_max = _name_max(path.parent)
    too_long = [part for part in path.parts if len(os.fsencode(part)) > name_max]
    if too_long:
        raise _invalid(key, raw, source, f"a name is longer than {name_max} bytes: {too_long[0][:40]}...")
    return path


def _name_max(directory: Path) -> int:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _followable(path: Path, key: str, raw: object, source: str) -> None:
    """Refuse a symbolic link on the way to ``path`` that leads nowhere (a loop, a link to
    nothing): ``exists()`` says False for it, and making the directory then fails with
    ``FileExistsError`` after every test has run."""
    for probe in (path, *path.parents):
        if not os.path.lexists(probe):
            continue
        try:
            os.stat(probe)
        except OSError as exc:
            why = f"{probe} is a symbolic link that cannot be followed ({exc.strerror or exc})"
            raise _invalid(key, raw, source, why) from None
        return


def _links_to_a_new_file(path: Path) -> bool:
    """``path`` is a symbolic link whose target does not exist yet (not a loop)."""
    if not os.path.islink(path):
        return False
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # a loop: _followable says so
    return False


def _regular_or_missing(path: Path, key: str, raw: object, source: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing; anything worse was found by _followable
    if stat.S_ISDIR(mode):
        raise _invalid(key, raw, source, f"{path} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise _invalid(key, raw, source, f"{path} is {kind(mode)}, not a regular file")


def _writable_directory(directory: Path, key: str, raw: object, source: str, *, make: bool) -> None:
    _followable(directory, key, raw, source)
    if directory.exists():
        if not directory.is_dir():
            raise _invalid(key, raw, source, f"{directory} is not a directory")
    elif make:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _invalid(key, raw, source, f"cannot create {directory}: {exc.strerror or exc}") from None
    else:
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise _invalid(key, raw, source, f"{directory} cannot be created ({existing} is not writable)")
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _invalid(key, raw, source, f"{directory} is not writable")


def output_file(raw: object, key: str, source: str, base: Path) -> Path:
    """The absolute path of a file the plugin will write (``raw`` relative to ``base``),
    once checked; its directory is made when it is written, not now."""
    path = _common(raw, key, source, base)
    if _links_to_a_new_file(path):
        # A link to a file not made yet (a shared baseline's first save): the file is
        # written through the link, so its directory is the one that must be writable.
        _writable_directory(Path(os.path.realpath(path)).parent, key, raw, source, make=False)
        return path
    _followable(path, key, raw, source)
    # A device node or a FIFO would be replaced by a file (or written to for ever).
    _regular_or_missing(path, key, raw, source)
    if path.exists() and not os.access(path, os.W_OK):
        raise _invalid(key, raw, source, f"{path} is not writable")
    _writable_directory(path.parent, key, raw, source, make=False)
    return path


def output_directory(raw: object, key: str, source: str, base: Path) -> Path:
    """The absolute path of a directory the plugin will write into, made now."""
    path = _common(raw, key, source, base)
    _writable_directory(path, key, raw, source, make=True)
    return path


def input_file(raw: object, key: str, source: str, base: Path) -> Path:
    """The absolute path of a file the plugin will read (``raw`` relative to ``base``),
    once checked; a missing file is left to the reader (it may be allowed)."""
    path = _common(raw, key, source, base, doing="read")
    if _links_to_a_new_file(path):
        return path  # a shared baseline not made yet: missing, like a missing file
    _followable(path, key, raw, source)
    _regular_or_missing(path, key, raw, source)
    return path
