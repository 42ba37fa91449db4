"""This process's memory and thread figures from ``/proc/self/status``, and the kernel's
resettable peak (``VmHWM``), with psutil where there is no procfs.

Writing ``5`` to ``/proc/self/clear_refs`` resets ``VmHWM`` to the current RSS, which
makes the exact kernel peak usable per window. Some kernels accept the write and do
nothing (or a sandbox drops it): before the peak is trusted, :func:`vmhwm_available`
checks once per process that a reset really lowers it.
"""

from __future__ import annotations

import mmap
import os

__all__ = [
    "current_rss",
    "peak_rss_now",
    "reset_vmhwm",
    "rss_and_threads",
    "status_fields",
    "vmhwm_available",
]

PROC_STATUS = "/proc/self/status"
PROC_STAT = "/proc/self/stat"
CLEAR_REFS = "/proc/self/clear_refs"
# The spike that proves a reset works: well above page and allocator granularity.
_PROBE_SIZE = 8 << 20

_verified: dict[tuple[int, str, str], bool] = {}  # (pid, status path, clear_refs path) -> works


_FIELDS = (b"VmHWM", b"VmRSS", b"Threads")
_KIB_FIELDS = ("VmHWM", "VmRSS")
_PAGE_SIZE = mmap.PAGESIZE


def _read(path: str) -> bytes:
    # Unbuffered: one read gets the whole (short) file, without a buffered file object.
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 8192):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def status_fields() -> dict[str, int]:
    """VmRSS/VmHWM (bytes) and Threads from /proc/self/status."""
    data = _read(PROC_STATUS)
    out: dict[str, int] = {}
    for name in _FIELDS:
        # Each field is at the start of a line (the first, Name, is none of these).
        at = data.find(b"\n" + name + b":")
        if at < 0:
            continue
        value = data[at + len(name) + 2 : data.find(b"\n", at + 1)].split()
        if value and value[0].isdigit():
            out[name.decode()] = int(value[0])
    for kib in _KIB_FIELDS:
        if kib in out:
            out[kib] *= 1024
    return out


def rss_and_threads() -> dict[str, int]:
    """VmRSS (bytes) and Threads, as :func:`status_fields` gives them, from
    /proc/self/stat: the kernel writes that file in half the time of the status file."""
    data = _read(PROC_STAT)
    # After the command name, which may hold spaces or ')': field 3 (state) onwards.
    fields = data[data.rfind(b")") + 2 :].split()
    return {"VmRSS": int(fields[24 - 3]) * _PAGE_SIZE, "Threads": int(fields[20 - 3])}


def reset_vmhwm() -> bool:
    """Reset this process's peak to its current RSS; False when that cannot be done."""
    try:
        fd = os.open(CLEAR_REFS, os.O_WRONLY)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def _reset_lowers_the_peak() -> bool:
    if not reset_vmhwm():
        return False
    try:
        # Fresh pages of our own (the heap may reuse resident ones), each one touched,
        # then handed back: the peak rises by the spike, the RSS falls back.
        spike = mmap.mmap(-1, _PROBE_SIZE)
        for offset in range(0, _PROBE_SIZE, mmap.PAGESIZE):
            spike[offset] = 1
        raised = status_fields()["VmHWM"]
        spike.close()
        reset_vmhwm()
        after = status_fields()["VmHWM"]
    except (OSError, KeyError):
        return False
    return after <= raised - _PROBE_SIZE // 2


def vmhwm_available() -> bool:
    """Whether the exact kernel peak can be used here: a reset is possible and lowers
    the peak (checked once per process, with a short 8 MiB spike). Resets the peak."""
    key = (os.getpid(), PROC_STATUS, CLEAR_REFS)
    works = _verified.get(key)
    if works is None:
        works = _verified[key] = _reset_lowers_the_peak()
    return works and reset_vmhwm()


def _psutil_rss() -> int:
    import psutil  # only where procfs is missing (macOS): it costs ~10 ms to import

    return int(psutil.Process().memory_info().rss)


def current_rss() -> int:
    """This process's resident set size now (VmRSS; psutil without procfs)."""
    try:
        return status_fields()["VmRSS"]
    except (OSError, KeyError):
        return _psutil_rss()


def peak_rss_now() -> int:
    """This process's peak RSS so far (VmHWM; the current RSS through psutil without procfs)."""
    try:
        return status_fields()["VmHWM"]
    except (OSError, KeyError):
        return _psutil_rss()
