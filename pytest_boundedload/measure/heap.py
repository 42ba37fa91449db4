"""Bring the heap to a state where new objects cost new resident memory.

A process that ran other work keeps free space: blocks the C allocator keeps after
``free`` and, above all, free blocks in half-used pymalloc pools and empty pools inside
arenas that are still partly in use (CPython never returns those to the kernel). That
space is resident already, so objects placed in it do not raise RSS: the same test
measured after another one that freed a lot shows less growth than run alone, and in a
forked child a small size of a scaling run looks cheap. Measured here, 1-2 MiB of such
space hides most of what 1,000 asyncio tasks cost.

:func:`prepare` trims what can be trimmed and fills the rest with small objects the
caller keeps alive while it measures. How much to fill, size by size, comes from
pymalloc's own statistics (:mod:`.pyfree`), so it does not depend on page
sizes or on how the kernel backs them. In a forked child, run it before a memory cap
applies: filling inherited pages copies them, and a cgroup charges the copies to the
child.

Filling is for a process that ends after measuring (a forked child): in a long-lived
one the window's objects go to fresh arenas, and one that outlives the window (a report,
a cache entry) keeps its arena's pages resident, so a process that fills before every
window keeps more free space each time (measured here: about 1 MiB per window, even for
windows that allocate nothing) until :data:`FILL_LIMIT` stops the fill.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import itertools
import os
import re
import struct
import sys
from collections.abc import Callable
from typing import cast

from . import pyfree

__all__ = ["FILL_LIMIT", "Ballast", "FreeSpace", "debug_overhead", "free_space", "prepare", "trim_c_heap"]

# Never fill more than this (bytes of blocks): a parent with more free space than that is
# unusual, and the fill is memory the child holds while it measures.
FILL_LIMIT = 64 << 20
_BYTES_HEADER = sys.getsizeof(b"")  # a bytes object of length L takes L + this
_POOL_HEADER = 48  # bytes of a pool's header (CPython 3.10+, 64-bit); an estimate is enough
_LARGEST = 512

_CLASS_ROW = re.compile(r"^\s*\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$")

Ballast = list[list[object]]


@dataclasses.dataclass(frozen=True)
class FreeSpace:
    """pymalloc's free space: free blocks per block size, and whole unused pools."""

    free_blocks: dict[int, int]
    unused_pools: int
    pool_size: int

    @property
    def bytes(self) -> int:
        """All of it, in bytes."""
        in_blocks = sum(size * count for size, count in self.free_blocks.items())
        return in_blocks + self.unused_pools * self.pool_size


def debug_overhead() -> int:
    """Bytes the allocator's debug hooks add to every request (0 without them).

    ``-X dev`` installs them unless ``PYTHONMALLOC`` names an allocator; so do the
    ``*debug`` values of ``PYTHONMALLOC``. They put a word before and two after each
    block (the size, padding), so a request lands in a larger pymalloc size class.
    """
    mode = "" if sys.flags.ignore_environment else os.environ.get("PYTHONMALLOC", "")
    if mode.endswith("debug") or (sys.flags.dev_mode and not mode):
        return 3 * struct.calcsize("P")
    return 0


def free_space(text: str | None = None) -> FreeSpace | None:
    """Parse pymalloc's statistics (this process's, or ``text``); None without pymalloc."""
    if text is None:
        text = pyfree.stats_text()
    free_blocks: dict[int, int] = {}
    unused = pool_size = 0
    for line in text.splitlines():
        row = _CLASS_ROW.match(line)
        if row is not None:
            size, available = int(row[1]), int(row[2])
            if 0 < size <= _LARGEST and size % 16 == 0 and available:
                free_blocks[size] = available
            continue
        pools = pyfree.UNUSED_POOLS.match(line)
        if pools is not None:
            unused, pool_size = int(pools[1]), int(pools[2].replace(",", ""))
    if not free_blocks and not pool_size:
        return None
    return FreeSpace(free_blocks, unused, pool_size)


def _maker(block: int, overhead: int) -> Callable[[int], list[object]] | None:
    """Makes ``count`` new objects that take one pymalloc block of ``block`` bytes each (a
    request of more than ``block - 16`` and at most ``block`` bytes, with ``overhead``
    added), in a loop that runs in C; None when no object has a size that fits."""
    low, high = block - 16 - overhead, block - overhead
    if low < 16 <= high:
        return lambda count: [object() for _ in range(count)]
    if low < 24 <= high:
        return lambda count: list(map(float, range(count)))
    if high - _BYTES_HEADER >= 1:  # bytes(0) is a shared object
        length = high - _BYTES_HEADER
        return lambda count: list(map(bytes, itertools.repeat(length, count)))
    return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast("Callable[[int], int]", ctypes.CDLL(None).malloc_trim)
    except (OSError, AttributeError):  # not glibc
        return None


def trim_c_heap() -> None:
    """Hand the C heap's free pages back to the kernel (glibc's ``malloc_trim``; nothing
    elsewhere), so objects too large for pymalloc cost fresh pages again."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _trim() -> None:
    # Frozen, not collected: a full collection in a forked child walks every object it
    # inherited, copying each page it touches (measured: 140 ms of a 180 ms fill in a
    # pytest session's child), and so would every full collection while it measures.
    # Garbage it inherited stays garbage, so it never becomes free space a window takes.
    gc.freeze()
    trim_c_heap()


def _fill(space: FreeSpace, limit: int) -> Ballast:
    ballast: Ballast = []
    overhead = debug_overhead()
    left = limit
    for block, count in sorted(space.free_blocks.items()):
        make = _maker(block, overhead)
        count = min(count, left // block)
        if make is None or count <= 0:
            continue
        ballast.append(make(count))
        left -= count * block
    make = _maker(_LARGEST, overhead)
    if make is not None and space.unused_pools and space.pool_size > _POOL_HEADER:
        per_pool = (space.pool_size - _POOL_HEADER) // _LARGEST
        count = min(space.unused_pools * per_pool, left // _LARGEST)
        if count > 0:
            ballast.append(make(count))
    return ballast


def prepare(limit: int = FILL_LIMIT) -> Ballast:
    """Trim the heap, then fill pymalloc's free space; keep the result alive while measuring.

    Freezes every object the process has (``gc.freeze``: its collections leave them
    alone, so garbage inherited is never freed into space a window could take) and
    hands free C-heap pages back to the kernel (glibc's ``malloc_trim``). For a forked
    child only, which ends after measuring. Then allocates one object per free block of each block size (the
    half-used pools first, as pymalloc does) and enough 512-byte objects to take every
    unused pool, at most ``limit`` bytes of blocks in all. Without pymalloc statistics
    (another allocator) it only trims and returns an empty ballast.
    """
    _trim()
    space = free_space()
    return _fill(space, limit) if space is not None else []
