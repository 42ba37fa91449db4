"""What the plugin itself runs in the process it measures: its threads and the children
it forks. Counts leave them out (their figures are their own windows'). Kept apart from
the sampler, with no import beyond the standard library, so that modules which only fork
(``isolate/``) do not load the sampler's dependencies.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "OWN_CHILDREN",
    "OWN_SPAWN_LOCK",
    "OWN_THREADS",
    "forking",
    "own_child_ended",
    "own_fork",
    "own_popen",
]

# Threads the plugin itself runs; thread counts leave them out.
OWN_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
# Processes the plugin itself forks (capped children); counts leave them and what they
# start out.
OWN_CHILDREN: set[int] = set()
# Held while the plugin starts a process of its own and while a count lists descendants:
# a listing never sees the new process before it is known to be the plugin's.
OWN_SPAWN_LOCK = threading.Lock()
_OWN_SPAWN = threading.local()


def forking() -> bool:
    """Whether this thread is forking the plugin's own child right now."""
    return bool(getattr(_OWN_SPAWN, "active", False))


def own_fork() -> int:
    """``os.fork()`` for the plugin's own child: not counted as a spawn, and left out of
    every scan until :func:`own_child_ended`."""
    _OWN_SPAWN.active = True
    try:
        pid = os.fork()
    finally:
        _OWN_SPAWN.active = False
    if pid:
        OWN_CHILDREN.add(pid)
    return pid


def own_popen(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **kwargs)`` for a process of the plugin's own (the local
    HTTP server): not counted as a spawn, and left out of every scan, with what it
    starts, until :func:`own_child_ended`."""
    import subprocess  # only where the plugin starts a process of its own

    with OWN_SPAWN_LOCK:
        _OWN_SPAWN.active = True
        try:
            process = subprocess.Popen(args, **kwargs)
        finally:
            _OWN_SPAWN.active = False
        OWN_CHILDREN.add(process.pid)
    return process


def own_child_ended(pid: int) -> None:
    """The plugin's own child ``pid`` is gone."""
    OWN_CHILDREN.discard(pid)


def _forget_in_child() -> None:
    # The parent's own children are not the child's.
    _OWN_SPAWN.active = False
    OWN_CHILDREN.clear()


os.register_at_fork(after_in_child=_forget_in_child)
