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
import re

__all__ = ["current_rss", "peak_rss_now", "reset_vmhwm", "status_fields", "vmhwm_available"]

PROC_STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"
# The spike that proves a reset works: well above page and allocator granularity.
_PROBE_SIZE = 8 << 20

_verified: dict[tuple[int, str, str], bool] = {}  # (pid, status path, clear_refs path) -> works


_FIELDS = re.compile(rb"^(VmHWM|VmRSS|Threads):\s*(\d+)", re.MULTILINE)


def status_fields() -> dict[str, int]:
    """VmRSS/VmHWM (bytes) and Threads from /proc/self/status."""
    with open(PROC_STATUS, "rb") as f:
        data = f.read()
    out = {name.decode(): int(value) for name, value in _FIELDS.findall(data)}
    for name in ("VmHWM", "VmRSS"):
        if name in out:
            out[name] *= 1024
    return out


def reset_vmhwm() -> bool:
    """Reset this process's peak to its current RSS; False when that cannot be done."""
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
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
