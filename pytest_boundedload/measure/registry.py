"""asyncio's registry of tasks: a table that only grows, compacted between windows.

asyncio keeps every task in a process-wide ``WeakSet`` (``asyncio.tasks._all_tasks``
before Python 3.12, ``_scheduled_tasks`` since). A set's table grows with the tasks
and does not shrink when they go: after one run of 20,000 tasks it keeps a 2 MiB table
for the rest of the process. The first window that gathers many tasks pays that table
and every later one finds it already there, so the same test measures about 100 B per
task more when it runs first (or alone) than after another. Rebuilding the set between
windows gives the table back, and every window pays it alike.
"""

from __future__ import annotations

import asyncio.tasks
import sys
import weakref

from .runningloops import other_threads_loops

__all__ = ["compact_task_registry"]

_NAMES = ("_scheduled_tasks", "_all_tasks")


def _registry() -> weakref.WeakSet[object] | None:
    for name in _NAMES:
        registry = getattr(asyncio.tasks, name, None)
        if isinstance(registry, weakref.WeakSet):
            return registry
    return None


def compact_task_registry() -> int:
    """Rebuild asyncio's task registry at its present size; return the bytes given back.

    The set's contents move to a fresh set (the registry object, which asyncio's C
    module holds, stays the same), so only when nothing can add or remove a task
    meanwhile: no event loop runs in another thread (tasks live and die in their loop's
    thread) and the set is not being iterated. Otherwise, or on a Python whose registry
    is not a ``WeakSet`` (3.14 keeps tasks in per-thread lists), it does nothing.
    """
    registry = _registry()
    if registry is None or other_threads_loops():
        return 0
    if getattr(registry, "_iterating", None) or getattr(registry, "_pending_removals", None):
        return 0
    data = getattr(registry, "data", None)
    if not isinstance(data, set):
        return 0
    copy = set(data)
    saved = sys.getsizeof(data) - sys.getsizeof(copy)
    if saved <= 0:
        return 0
    registry.data = copy  # type: ignore[attr-defined]
    return saved
