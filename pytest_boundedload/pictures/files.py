"""The names of a test's files in the report directory."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["CAPTURE", "FLAMEGRAPH", "SCALING", "TIMELINE", "path", "stem"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 100

TIMELINE = ".timeline.png"
FLAMEGRAPH = ".flamegraph.html"
CAPTURE = ".memray.bin"  # a failed traced test's memray capture, kept for its flamegraph
SCALING = ".scaling-{index}.png"


def stem(nodeid: str) -> str:
    """A file name stem for ``nodeid``: readable, safe on every file system, and unique
    (a short hash of the whole id ends it)."""
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    readable = _UNSAFE.sub("_", nodeid.replace("::", "-")).strip("._-")[-_MAX_STEM:]
    return f"{readable}-{digest}"


def path(directory: Path, nodeid: str, suffix: str) -> Path:
    """The test's file with ``suffix`` in ``directory``."""
    return directory / f"{stem(nodeid)}{suffix}"
