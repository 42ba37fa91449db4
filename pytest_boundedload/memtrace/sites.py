"""Allocation sites at the heap's high-water mark, grouped by the first frame in the
user's code.

memray gives, for the moment the heap was largest, every stack that still held memory
then. A stack's innermost frames are mostly asyncio, the standard library, pytest or
this plugin's probes; what a reader can change is the first frame, from the innermost
out, in their own code: the records are grouped by it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..units import format_size

__all__ = ["HeapSite", "is_user_file", "top_sites"]

# Frames as memray gives them: (function, file name, line number), innermost first.
Frame = tuple[str, str, int]
_NOT_USER_PACKAGES = ("pytest", "_pytest", "pluggy", "memray", "pytest_boundedload", "xdist", "execnet")


@dataclasses.dataclass(frozen=True)
class HeapSite:
    """Memory held at the heap's peak by allocations made under one line of user code."""

    size: int
    allocations: int
    file: str
    line: int
    function: str

    def describe(self, tasks: int = 0) -> str:
        """``313.1 MiB in 20,000 allocations, 16,417 B per task, app.py:12 (process)``;
        without ``tasks`` (no probe calls) the per-task figure is left out."""
        parts = [f"{format_size(self.size)} in {self.allocations:,} allocations"]
        if tasks > 0:
            parts.append(f"{round(self.size / tasks):,} B per task")
        parts.append(f"{_shown_path(self.file)}:{self.line} ({self.function})")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeapSite:
        """Build a HeapSite from :meth:`to_dict` output."""
        return cls(
            size=int(data["size"]),
            allocations=int(data["allocations"]),
            file=str(data["file"]),
            line=int(data["line"]),
            function=str(data["function"]),
        )


def _shown_path(filename: str) -> str:
    """``filename`` relative to the working directory when it is under it."""
    if filename.startswith("<"):
        return filename
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive
        return filename
    return filename if relative.startswith(os.pardir) else relative


@functools.cache
def _not_user_dirs() -> tuple[str, ...]:
    """Directories whose files are not the user's: the standard library, installed
    packages, and the test tooling's own packages wherever they are installed from."""
    import sysconfig

    dirs = {sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    for name in _NOT_USER_PACKAGES:
        try:
            module = __import__(name)
        except ImportError:
            continue
        path = getattr(module, "__file__", None)
        if path:
            dirs.add(os.path.dirname(os.path.abspath(path)))
    return tuple(os.path.join(d, "") for d in sorted(dirs) if d)


def is_user_file(filename: str) -> bool:
    """Whether ``filename`` is the user's code (not the standard library, an installed
    package, pytest, pluggy, memray or this plugin, nor a frozen or generated module)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.join(os.path.abspath(filename), "")
    if os.sep + "site-packages" + os.sep in path or os.sep + "dist-packages" + os.sep in path:
        return False
    return not path.startswith(_not_user_dirs())


def _site_frame(stack: Sequence[Frame]) -> Frame:
    for frame in stack:
        if is_user_file(frame[1]):
            return frame
    return stack[0] if stack else ("no Python frame", "<native>", 0)


def top_sites(records: Iterable[tuple[int, int, Sequence[Frame]]], top: int) -> tuple[HeapSite, ...]:
    """The ``top`` sites holding most memory, from (size, allocations, stack) records."""
    totals: dict[Frame, list[int]] = {}
    for size, allocations, stack in records:
        entry = totals.setdefault(_site_frame(stack), [0, 0])
        entry[0] += size
        entry[1] += allocations
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return tuple(
        HeapSite(size=size, allocations=count, file=frame[1], line=frame[2], function=frame[0])
        for frame, (size, count) in ranked[:top]
    )
