"""Paths the plugin will write, checked before the first test runs.

A report or baseline path that cannot be written must stop the run at start-up with a
usage error naming the setting and the value, not end it with a traceback after every
test has run. Checked: NUL bytes, a name longer than the file system allows, a place
under ``/proc`` or ``/sys`` (pseudo-files, not files), a directory given where a file is
meant (or a file where a directory is), and a parent directory that cannot be made or
written.
"""

from __future__ import annotations

import os
from pathlib import Path

from .units import InvalidValue

__all__ = ["output_directory", "output_file"]

_PSEUDO = ("/proc", "/sys")


def _invalid(key: str, raw: object, source: str, why: str) -> InvalidValue:
    return InvalidValue(f"invalid {key}={str(raw)!r} {source}: {why}")


def _common(raw: object, key: str, source: str, base: Path) -> Path:
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
            raise _invalid(key, raw, source, f"{resolved} is under {root}, which holds no files to write")
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


def _writable_directory(directory: Path, key: str, raw: object, source: str, *, make: bool) -> None:
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
    if path.is_dir():
        raise _invalid(key, raw, source, f"{path} is a directory, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise _invalid(key, raw, source, f"{path} is not writable")
    _writable_directory(path.parent, key, raw, source, make=False)
    return path


def output_directory(raw: object, key: str, source: str, base: Path) -> Path:
    """The absolute path of a directory the plugin will write into, made now."""
    path = _common(raw, key, source, base)
    _writable_directory(path, key, raw, source, make=True)
    return path
