"""Bring a forked child's heap to a state where new objects cost new resident memory.

A forked child starts with its parent's heap, free space included: blocks the C
allocator keeps after ``free`` and, above all, empty and half-used pymalloc pools inside
arenas that are still partly in use (CPython never returns those to the kernel). That
space is resident already, so objects placed in it do not raise the child's RSS. A small
run fits in it and shows little growth, a large one overflows it, and growth against N
looks bent upwards for no reason of the code's: measured here, 1-2 MiB of such space
hides most of what 1,000 asyncio tasks cost.

:func:`prepare` trims what can be trimmed and fills the rest with small objects the
caller keeps alive while it measures: once the fill itself starts to raise RSS, the free
space is used up and every later allocation is measured at its full cost.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys

__all__ = ["FILL_LIMIT", "Ballast", "prepare", "resident_bytes"]

# Never fill more than this (bytes of blocks): a parent with more free space than that is
# unusual, and the fill must stay small next to a child's memory cap.
FILL_LIMIT = 64 << 20
# pymalloc hands out blocks of 16 to 512 bytes, 16 apart, each size from its own pools of
# 16 KiB (CPython 3.10+ on 64-bit); a half-used pool serves only its own size, an empty
# one any size. So the fill goes size by size, in steps of two pools' worth of blocks.
_BLOCK_SIZES = range(16, 513, 16)
_STEP_BYTES = 2 * 16 * 1024
# A step whose RSS rise is at least this share of its blocks ran on fresh pages; after
# two such steps in a row this size's free space is used up.
_FRESH_SHARE = 0.75
_FRESH_STEPS = 2
_BYTES_HEADER = sys.getsizeof(b"")  # a bytes object of length L takes L + this

Ballast = list[list[object]]


def resident_bytes() -> int:
    """This process's resident set size in bytes, from ``/proc/self/statm`` (0 without it)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _make(block: int, index: int) -> object:
    """A new object that takes exactly one pymalloc block of ``block`` bytes."""
    if block == 16:
        return object()
    if block == 32:
        return float(index) + 0.5
    return bytes(block - _BYTES_HEADER)


def _fill_size(block: int, ballast: Ballast, budget: int) -> int:
    """Fill the free blocks of one size (and, for the first size, the empty pools);
    return the bytes of blocks used."""
    count = _STEP_BYTES // block
    used = 0
    fresh = 0
    while fresh < _FRESH_STEPS and used < budget:
        chunk: list[object] = [None] * count  # its own pages are touched before measuring
        before = resident_bytes()
        for i in range(count):
            chunk[i] = _make(block, i)
        ballast.append(chunk)
        used += count * block
        fresh = fresh + 1 if resident_bytes() - before >= _FRESH_SHARE * count * block else 0
    return used


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).malloc_trim(0)


def prepare(limit: int = FILL_LIMIT) -> Ballast:
    """Trim the heap, then fill its resident free space; keep the result alive while measuring.

    Collects garbage and hands free C-heap pages back to the kernel (glibc's
    ``malloc_trim``). Then, for every pymalloc block size, allocates objects of that
    size until two steps in a row raise RSS by most of what they allocated (at most
    ``limit`` bytes in all). What remains free afterwards is under a pool per size,
    about 0.5 MiB; the ballast itself holds about 2 MiB plus the space it filled.
    Without ``/proc`` (no way to see RSS) it only trims and returns an empty ballast.
    """
    _trim()
    ballast: Ballast = []
    if not resident_bytes():
        return ballast
    left = limit
    for block in _BLOCK_SIZES:
        if left <= 0:
            break
        left -= _fill_size(block, ballast, left)
    return ballast
