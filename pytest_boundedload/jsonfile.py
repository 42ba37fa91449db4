"""Reading a JSON file a user names (a baseline, a ``--boundedload-json`` report).

The name can lead anywhere: to a FIFO (``open`` waits for a writer for ever), to
``/dev/zero`` or ``/dev/urandom`` (``read`` fills memory), to a file of gigabytes, or to
JSON nested deeper than Python's parser can follow. Only a regular file of at most
:data:`MAX_BYTES` is read: it is opened without blocking, checked with ``fstat`` before a
byte is read, and read up to the bound.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

__all__ = ["MAX_BYTES", "Unreadable", "kind", "read_json"]

# A baseline of 10,000 tests (ids of about 50 characters, 8 nine-digit figures each) is
# 2.6 MiB; a file 25 times larger than that is not one.
MAX_BYTES = 64 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Unreadable(Exception):
    """The file cannot be used; the message names it (``baseline PATH is a FIFO ...``)."""


def kind(mode: int) -> str:
    """What a file that is not regular is, in words (``a FIFO (named pipe)``)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _not_regular(what: str, path: Path, mode: int) -> Unreadable:
    found = kind(mode)
    if found == "a directory":
        return Unreadable(f"{what} {path} is a directory, not a file")
    return Unreadable(f"{what} {path} is {found}, not a regular file")


def read_json(path: Path, what: str) -> object | None:
    """The JSON value in the file at ``path``, or None when there is none; ``what``
    (``baseline``, ``report``) starts every message of :class:`Unreadable`."""
    if "\0" in str(path):
        raise Unreadable(f"{what} {str(path)!r} cannot be read: it contains a NUL byte")
    try:
        # Not opened yet: a FIFO or a device is refused before open() can wait or act.
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise Unreadable(f"{what} {path} cannot be read: {_why(exc)}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(what, path, mode)
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, open() does not wait.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unreadable(f"{what} {path} cannot be read: {_why(exc)}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(what, path, info.st_mode)
        if info.st_size > MAX_BYTES:
            raise _too_large(what, path)
        try:
            data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            raise Unreadable(f"{what} {path} cannot be read: {_why(exc)}") from None
    if len(data) > MAX_BYTES:  # it grew after the fstat
        raise _too_large(what, path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(
            f"{what} {path} is not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start}"
        ) from None
    try:
        value: object = json.loads(text)
    except RecursionError:
        raise Unreadable(f"{what} {path} is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise Unreadable(f"{what} {path} is not valid JSON: {exc}") from None
    return value


def _too_large(what: str, path: Path) -> Unreadable:
    return Unreadable(f"{what} {path} is larger than {MAX_BYTES >> 20} MiB, more than any {what} holds")


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
