"""Event loops running in other threads now, for a window that opens while they run.

A ``BaseEventLoop`` (asyncio's own) runs ``run_forever`` as Python code: its frame is on
its thread's stack, with the loop as ``self``. A loop written in C or Cython (uvloop's)
leaves no frame of its own; it is found through its tasks instead: every task is in
asyncio's registry of tasks, and a loop that runs ``asyncio.run``, ``uvloop.run`` or an
``asyncio.Runner`` always has its main task there. A loop in another thread that runs
callbacks but no task at all is not found (its first task, created through the loop's
factory before any hook of ours is on it, is not counted).
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.tasks
import sys
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["other_threads_loops"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

# Where each Python keeps its tasks: a WeakSet (3.11), plus a set of eager tasks (3.12,
# 3.13). 3.14 keeps native tasks in per-thread lists it does not show: there, only the
# frames find other threads' loops.
_REGISTRIES = ("_scheduled_tasks", "_all_tasks", "_eager_tasks")


def other_threads_loops() -> list[asyncio.AbstractEventLoop]:
    """Loops running in other threads now: asyncio's on their threads' stacks, others
    through their tasks."""
    loops: list[asyncio.AbstractEventLoop] = []
    frames = sys._current_frames()
    # This thread's frame object refers to this dict through its locals: without it, the
    # cycle would keep the callers' frames, and what their locals hold, until a collection.
    frames.pop(threading.get_ident(), None)
    for top in frames.values():
        current: Any = top
        while current is not None:
            if current.f_code.co_name == "run_forever":
                loop = current.f_locals.get("self")
                if isinstance(loop, _BaseEventLoop) and loop.is_running():
                    loops.append(loop)
                    break
            current = current.f_back
    try:
        mine: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        mine = None
    for loop in _loops_of_tasks():
        if loop is mine or isinstance(loop, _BaseEventLoop) or loop in loops:
            continue  # this thread's, or found on its stack
        if loop.is_running():
            loops.append(loop)
    return loops


def _loops_of_tasks() -> Iterable[asyncio.AbstractEventLoop]:
    """The distinct loops of the tasks in asyncio's registry (a thread may add one
    meanwhile: the copy is tried again, as ``asyncio.all_tasks`` does)."""
    seen: dict[int, asyncio.AbstractEventLoop] = {}
    for name in _REGISTRIES:
        registry = getattr(asyncio.tasks, name, None)
        if registry is None:
            continue
        tasks: list[Any] = []
        for _ in range(100):
            try:
                tasks = list(registry)
                break
            except RuntimeError:
                continue
        for task in tasks:
            get_loop = getattr(task, "get_loop", None)
            loop = get_loop() if get_loop is not None else None
            if isinstance(loop, asyncio.AbstractEventLoop):
                seen.setdefault(id(loop), loop)
    return list(seen.values())
