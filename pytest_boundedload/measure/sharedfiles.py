"""Where the shared counter files live, and the sweep of those whose process is gone.

Apart from :mod:`.inflight`, so the sweep at start-up imports nothing more.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["PREFIX", "SHM_DIR", "remove_stale"]

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
PREFIX = "boundedload-gauge-"


def remove_stale() -> int:
    """Remove the shared files of counters whose owner process is gone; returns how many."""
    removed = 0
    directory = SHM_DIR or tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX) :].split("-", 1)[0]
        if not owner.isdigit():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
                removed += 1
        except OSError:
            pass  # alive, owned by someone else
    return removed
