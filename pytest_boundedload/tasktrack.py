"""Exact high-water of live asyncio tasks, through a task factory on every loop that runs.

While tracking, ``BaseEventLoop.run_forever`` installs the factory on each loop as it
starts (this covers ``asyncio.run`` inside a sync test and the loops of pytest-asyncio
and anyio), and a loop already running when tracking starts gets it at once. Tasks that
exist when a loop is adopted are counted too. A factory the user had set keeps creating
the tasks; ours only counts, and is replaced by the user's again when tracking stops.

A task is live from creation until it is done. The count is exact: the set of live tasks
is updated by a done callback (``set.discard``, a C function, so the callback costs one
scheduled handle and no Python frame).
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import contextvars
import threading
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["TaskTracker"]

TaskFactory = Callable[..., "asyncio.Future[Any]"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop


class TaskTracker:
    """Counts live asyncio tasks across loops during a window; one window at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[asyncio.Future[Any]] = set()
        self._high = 0
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._original_run_forever: Callable[[_BaseEventLoop], None] | None = None

    @property
    def max_tasks(self) -> int:
        """High-water of live tasks since :meth:`start`."""
        return self._high

    def start(self) -> None:
        """Begin counting: hook loop start-up and adopt the running loop, if any."""
        self._live.clear()
        self._high = 0
        original = _BaseEventLoop.run_forever
        tracker = self

        def run_forever(loop: _BaseEventLoop) -> None:
            tracker.adopt(loop)
            original(loop)

        run_forever.__wrapped__ = original  # type: ignore[attr-defined]
        self._original_run_forever = original
        _BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign,assignment]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.adopt(running)

    def stop(self) -> int:
        """Stop counting, give every loop its own factory back, return the high-water."""
        original = self._original_run_forever
        if original is not None:
            _BaseEventLoop.run_forever = original  # type: ignore[method-assign,assignment]
            self._original_run_forever = None
        with self._lock:
            for loop, (ours, previous) in list(self._loops.items()):
                if loop.get_task_factory() is ours:
                    loop.set_task_factory(previous)
            self._loops.clear()
            self._live.clear()
        return self._high

    def adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the counting factory on ``loop`` and count its live tasks."""
        with self._lock:
            if loop in self._loops:
                return
            previous = loop.get_task_factory()
            factory = self._factory_for(previous)
            self._loops[loop] = (factory, previous)
            loop.set_task_factory(factory)
            for task in asyncio.all_tasks(loop):
                self._count(task)

    def _count(self, task: asyncio.Future[Any]) -> None:
        live = self._live
        live.add(task)
        task.add_done_callback(live.discard)
        n = len(live)
        if n > self._high:
            self._high = n

    def _factory_for(self, previous: TaskFactory | None) -> TaskFactory:
        live = self._live
        discard = live.discard
        # The callback needs no context variables; passing one saves copying the task's.
        context = contextvars.Context()
        tracker = self

        if previous is None:
            task_type = asyncio.Task

            def factory(
                loop: asyncio.AbstractEventLoop,
                coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
                **kwargs: Any,
            ) -> asyncio.Future[Any]:
                task = task_type(coro, loop=loop, **kwargs)
                live.add(task)
                task.add_done_callback(discard, context=context)
                n = len(live)
                if n > tracker._high:
                    tracker._high = n
                return task

            return factory

        def chained(
            loop: asyncio.AbstractEventLoop,
            coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
            **kwargs: Any,
        ) -> asyncio.Future[Any]:
            task = previous(loop, coro, **kwargs)
            tracker._count(task)
            return task

        return chained
