"""Exact high-water of live asyncio tasks, through a task factory on every loop that runs.

While tracking, ``BaseEventLoop.run_forever`` installs the factory on each loop as it
starts (this covers ``asyncio.run`` inside a sync test and the loops of pytest-asyncio
and anyio), and a loop already running when tracking starts gets it at once. Tasks that
exist when a loop is adopted are counted too. A factory the user had set keeps creating
the tasks; ours only counts, and the user's is put back when tracking stops.

A task is live from creation until it is done. The live count can only rise when a task
is created, so the high-water is settled there, and only when it could move: the count
is bounded above by the tasks not yet known to be done; when that bound exceeds the
high-water, the bound is made exact by asking the tasks (``done()``) themselves.

A done callback per task would keep a count too, but a callback costs a scheduled handle
per task (a fifth of a no-op task's whole cost) and runs one loop iteration late. So
tasks start *young* (no callback); a task seen alive at one settling becomes *old*; an
old task still alive at the next one gets a done callback and joins the live set.
Short tasks, the bulk of any flood, finish young and cost a list slot.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import collections
import contextvars
import threading
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["TaskTracker"]

TaskFactory = Callable[..., "asyncio.Future[Any]"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

# Settle at least this often, so done young tasks are not kept alive for long.
_YOUNG_LIMIT = 64
# A new high is checked against every live task's state up to this many live tasks;
# above it (a gather burst of thousands), once per len(live)/8 settlings, which keeps
# the cost linear. Between those checks, a task that finished in the current loop
# iteration may still count.
_VERIFY_ALL_UP_TO = 1024


class _LoopState:
    """Our factory on one loop, the factory it creates tasks through (the user's), the
    loop's ready queue, and where the loop was when the live count was last exact: the
    handle at the head of the queue and the iteration (``mark``; -1: none)."""

    __slots__ = ("head", "iteration", "mark", "ours", "previous", "ready", "run_once")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.previous: TaskFactory | None = loop.get_task_factory()
        self.ours: TaskFactory | None = None
        ready = getattr(loop, "_ready", None)
        self.ready: collections.deque[Any] | None = ready if isinstance(ready, collections.deque) else None
        self.head: object = None
        self.iteration = 0  # loop iterations run since adoption, if counted
        self.mark = -1
        self.run_once: Callable[[], None] | None = None  # our iteration counter on the loop

    def count_iterations(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count the loop's iterations: one call per iteration, not per task.

        The same handle can head the ready queue again in a later iteration (a reader or
        writer callback is one handle, queued each time its file is ready), but not twice
        in one: the head identifies a point only together with the iteration.
        """
        original = getattr(type(loop), "_run_once", None)
        if not isinstance(loop, _BaseEventLoop) or original is None:
            return
        # Through a weak reference: the loop holds this function, which must not keep
        # the loop alive once its user drops it.
        loop_ref = weakref.ref(loop)

        def run_once() -> None:
            self.iteration += 1
            original(loop_ref())

        loop._run_once = run_once  # type: ignore[attr-defined]
        self.run_once = run_once

    def uncount_iterations(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.run_once is not None and vars(loop).get("_run_once") is self.run_once:
            del loop._run_once  # type: ignore[attr-defined]
        self.run_once = None


class TaskTracker:
    """Counts live asyncio tasks across loops during a window; one window at a time."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._live: set[asyncio.Future[Any]] = set()  # have a done callback
        self._old: list[asyncio.Future[Any]] = []  # seen alive at one settling
        self._young: list[asyncio.Future[Any]] = []  # created since the last settling
        self._high = 0
        self._since_verified = 0
        # How many young tasks may pile up before a new high is possible or a settling is
        # due: min(_YOUNG_LIMIT, high - (live + old) + 1), set at each settling. The live
        # count only falls between settlings and the high-water only rises, so it errs on
        # the side of settling early. One cell, shared by every loop's factory.
        self._room = [0]
        self._loop_count = 0
        # The live count when it was last known exactly (None: not known since).
        self._exact: int | None = None
        # The callback needs no context variables; passing one saves copying the task's.
        self._context = contextvars.Context()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._original_run_forever: Callable[[_BaseEventLoop], None] | None = None
        self._original_set_factory: Callable[[_BaseEventLoop, Any], None] | None = None

    @property
    def max_tasks(self) -> int:
        """High-water of live tasks since :meth:`start`."""
        return self._high

    def start(self) -> None:
        """Begin counting: hook loop start-up and adopt the running loop, if any."""
        self._clear()
        self._high = 0
        self._exact = None
        original = _BaseEventLoop.run_forever
        tracker = self

        def run_forever(loop: _BaseEventLoop) -> None:
            tracker.adopt(loop)
            try:
                original(loop)
            finally:
                # The handle would keep the loop alive (it holds a task, which holds
                # the loop); a stopped loop's next run starts from a new head anyway.
                state = tracker._loops.get(loop)
                if state is not None:
                    state.head = None

        original_set = _BaseEventLoop.set_task_factory

        def set_task_factory(loop: _BaseEventLoop, factory: Any) -> None:
            # Code under test that sets its own factory mid-window would silently stop
            # the count: its factory goes under ours instead, and is left in place after.
            state = tracker._loops.get(loop)
            if state is None:
                original_set(loop, factory)
            elif factory is not state.ours:
                state.previous = factory

        run_forever.__wrapped__ = original  # type: ignore[attr-defined]
        self._original_run_forever = original
        self._original_set_factory = original_set
        _BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign,assignment]
        _BaseEventLoop.set_task_factory = set_task_factory  # type: ignore[method-assign,assignment]
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
        original_set = self._original_set_factory
        if original_set is not None:
            _BaseEventLoop.set_task_factory = original_set  # type: ignore[method-assign,assignment]
            self._original_set_factory = None
        with self._lock:
            for loop, state in list(self._loops.items()):
                if loop.get_task_factory() is state.ours:
                    loop.set_task_factory(state.previous)
                state.uncount_iterations(loop)
            self._loops.clear()
            self._loop_count = 0
            self._clear()
        return self._high

    def _clear(self) -> None:
        self._live.clear()
        self._old.clear()
        self._young.clear()
        self._room[0] = 0

    def adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the counting factory on ``loop`` and count its live tasks."""
        with self._lock:
            if loop in self._loops:
                return
            state = _LoopState(loop)
            state.ours = self._factory_for(state)
            state.count_iterations(loop)
            self._loops[loop] = state
            self._loop_count = len(self._loops)
            original_set = self._original_set_factory
            if original_set is not None and isinstance(loop, _BaseEventLoop):
                original_set(loop, state.ours)  # past our own interceptor
            else:
                loop.set_task_factory(state.ours)
            self._old.extend(asyncio.all_tasks(loop))
            self._settle()

    def _settle(self) -> None:
        """Make the live count exact and raise the high-water if it grew."""
        with self._lock:
            live, old, young = self._live, self._old, self._young
            discard, context = live.discard, self._context
            for task in old:
                if not task.done():
                    live.add(task)
                    task.add_done_callback(discard, context=context)
            old[:] = [task for task in young if not task.done()]
            young.clear()
            n = len(live) + len(old)
            self._since_verified += 1
            # Checking a small live set costs no more than the settling itself, and an
            # exact count lets the rest of a burst go without settling (see the factory).
            if len(live) <= _YOUNG_LIMIT or (
                n > self._high and (len(live) <= _VERIFY_ALL_UP_TO or self._since_verified * 8 >= len(live))
            ):
                # The live set may still hold tasks that finished in this loop iteration,
                # whose discard callback has not run yet: a new high must not count them.
                # A snapshot: done callbacks of loops in other threads discard from it.
                finished = [task for task in tuple(live) if task.done()]
                live.difference_update(finished)
                n = len(live) + len(old)
                self._since_verified = 0
                self._exact = n  # exact now; young is empty after this settling
            if n > self._high:
                self._high = n
            self._room[0] = min(_YOUNG_LIMIT, self._high - (len(live) + len(old)) + 1)
            # Loops that ended since are gone from the weak mapping: the burst check in
            # the factories needs to know whether one loop is left.
            self._loop_count = len(self._loops)

    def _factory_for(self, state: _LoopState) -> TaskFactory:
        young, room = self._young, self._room
        append, task_type, tracker = young.append, asyncio.Task, self
        ready = state.ready

        def factory(
            loop: asyncio.AbstractEventLoop,
            coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
            **kwargs: Any,
        ) -> asyncio.Future[Any]:
            # Runs for every task of the flood: locals only, no calls it can avoid.
            previous = state.previous
            if previous is not None:
                task = previous(loop, coro, **kwargs)
            elif kwargs:
                task = task_type(coro, loop=loop, **kwargs)
            else:
                task = task_type(coro, loop=loop)
            append(task)
            # Tasks not known to be done (young, old, live) bound the live count from
            # above; while young is within its room, that bound is not above the
            # high-water and no settling is due: the common case, kept cheap.
            if len(young) < room[0]:
                return task
            # A task becomes done only in a step of its own, and every step is a handle
            # taken from the head of the loop's ready queue. If the head is the one seen
            # when the count was last made exact, in the same iteration, no step ran since
            # (a gather burst): every task created since is alive, and the count is exact
            # without settling.
            head = ready[0] if ready else None
            exact = tracker._exact
            if (
                exact is not None
                and head is not None
                and head is state.head
                and state.iteration == state.mark
                and tracker._loop_count == 1
            ):
                n = exact + len(young)
                if n > tracker._high:
                    tracker._high = n
                # Come back when the next new high is possible, or after another
                # _YOUNG_LIMIT tasks (a step may run in between and finish some).
                room[0] = len(young) + min(_YOUNG_LIMIT, tracker._high - n + 1)
                return task
            tracker._exact = None
            tracker._settle()
            state.head = head
            state.mark = state.iteration if state.run_once is not None else -1
            return task

        return factory
