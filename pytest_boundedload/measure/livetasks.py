"""Exact high-water of live asyncio tasks, through a task factory on every loop that runs.

While tracking, ``BaseEventLoop.run_forever`` installs the factory on each loop as it
starts (this covers ``asyncio.run`` inside a sync test and the loops of pytest-asyncio
and anyio), and a loop already running when tracking starts gets it at once. Tasks that
exist when a loop is adopted are counted too. A factory the user had set keeps creating
the tasks; ours only counts, and the user's is put back when tracking stops.

A task is live from creation until it is done. The live count can only rise when a task
is created, so the high-water is recounted there, and only when it could move: the count
is bounded above by the tasks not yet known to be done; when that bound exceeds the
high-water, the bound is made exact by asking the tasks (``done()``) themselves.

Making it exact is a *recount*. A done callback per task would keep a count too, but a
callback costs a scheduled handle per task (a fifth of a no-op task's whole cost) and
runs one loop iteration late. So a task starts *fresh* (no callback); a fresh task found
alive at a recount becomes a *survivor*; a survivor still alive at the next recount gets
a done callback and joins the *watched* set. Short tasks, the bulk of any flood, finish
fresh and cost a list slot.
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

__all__ = ["LiveTaskCounter"]

TaskFactory = Callable[..., "asyncio.Future[Any]"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

# Recount at least this often, so fresh tasks that are done are not kept alive for long.
_RECOUNT_EVERY = 64
# A new high is checked against every live task's state up to this many live tasks;
# above it (a gather burst of thousands), once per len(watched)/8 recounts, which keeps
# the cost linear. Between those checks, a task that finished in the current loop
# iteration may still count.
_VERIFY_ALL_UP_TO = 1024


class _LoopState:
    """Our factory on one loop, the factory it creates tasks through (the user's), the
    loop's ready queue, and where the loop was when the live count was last exact: the
    handle at the head of the queue and the iteration (``exact_iteration``; -1: none)."""

    __slots__ = ("exact_head", "exact_iteration", "iteration", "ours", "previous", "ready", "run_once")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.previous: TaskFactory | None = loop.get_task_factory()
        self.ours: TaskFactory | None = None
        ready = getattr(loop, "_ready", None)
        self.ready: collections.deque[Any] | None = ready if isinstance(ready, collections.deque) else None
        self.exact_head: object = None
        self.iteration = 0  # loop iterations run since adoption, if counted
        self.exact_iteration = -1
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


class LiveTaskCounter:
    """Counts live asyncio tasks across loops during a window; one window at a time."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._watched: set[asyncio.Future[Any]] = set()  # have a done callback
        self._survivors: list[asyncio.Future[Any]] = []  # fresh tasks found alive at the last recount
        self._fresh: list[asyncio.Future[Any]] = []  # created since the last recount
        self._high = 0
        self._since_verified = 0
        # How many fresh tasks may pile up before a new high is possible or a recount is
        # due: min(_RECOUNT_EVERY, high - (watched + survivors) + 1), set at each recount.
        # The live count only falls between recounts and the high-water only rises, so it
        # errs on the side of recounting early. One cell, shared by every loop's factory.
        self._headroom = [0]
        self._loop_count = 0
        # The live count when it was last known exactly (None: not known since).
        self._exact_live: int | None = None
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
        self._exact_live = None
        original = _BaseEventLoop.run_forever
        counter = self

        def run_forever(loop: _BaseEventLoop) -> None:
            counter.adopt(loop)
            try:
                original(loop)
            finally:
                # The handle would keep the loop alive (it holds a task, which holds
                # the loop); a stopped loop's next run starts from a new head anyway.
                state = counter._loops.get(loop)
                if state is not None:
                    state.exact_head = None

        original_set = _BaseEventLoop.set_task_factory

        def set_task_factory(loop: _BaseEventLoop, factory: Any) -> None:
            # Code under test that sets its own factory mid-window would silently stop
            # the count: its factory goes under ours instead, and is left in place after.
            state = counter._loops.get(loop)
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
        self._watched.clear()
        self._survivors.clear()
        self._fresh.clear()
        self._headroom[0] = 0

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
            self._survivors.extend(asyncio.all_tasks(loop))
            self._recount()

    def _recount(self) -> None:
        """Make the live count exact and raise the high-water if it grew."""
        with self._lock:
            watched, survivors, fresh = self._watched, self._survivors, self._fresh
            discard, context = watched.discard, self._context
            for task in survivors:
                if not task.done():
                    watched.add(task)
                    task.add_done_callback(discard, context=context)
            survivors[:] = [task for task in fresh if not task.done()]
            fresh.clear()
            n = len(watched) + len(survivors)
            self._since_verified += 1
            # Checking a small watched set costs no more than the recount itself, and an
            # exact count lets the rest of a burst go without recounting (see the factory).
            if len(watched) <= _RECOUNT_EVERY or (
                n > self._high
                and (len(watched) <= _VERIFY_ALL_UP_TO or self._since_verified * 8 >= len(watched))
            ):
                # The watched set may still hold tasks that finished in this loop iteration,
                # whose discard callback has not run yet: a new high must not count them.
                # A snapshot: done callbacks of loops in other threads discard from it.
                finished = [task for task in tuple(watched) if task.done()]
                watched.difference_update(finished)
                n = len(watched) + len(survivors)
                self._since_verified = 0
                self._exact_live = n  # exact now; no fresh task is left after a recount
            if n > self._high:
                self._high = n
            self._headroom[0] = min(_RECOUNT_EVERY, self._high - (len(watched) + len(survivors)) + 1)
            # Loops that ended since are gone from the weak mapping: the burst check in
            # the factories needs to know whether one loop is left.
            self._loop_count = len(self._loops)

    def _factory_for(self, state: _LoopState) -> TaskFactory:
        fresh, headroom = self._fresh, self._headroom
        append, task_type, counter = fresh.append, asyncio.Task, self
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
            # Tasks not known to be done (fresh, survivors, watched) bound the live count
            # from above; while the fresh ones are within the headroom, that bound is not
            # above the high-water and no recount is due: the common case, kept cheap.
            if len(fresh) < headroom[0]:
                return task
            # A task becomes done only in a step of its own, and every step is a handle
            # taken from the head of the loop's ready queue. If the head is the one seen
            # when the count was last made exact, in the same iteration, no step ran since
            # (a gather burst): every task created since is alive, and the count is exact
            # without a recount.
            head = ready[0] if ready else None
            exact = counter._exact_live
            if (
                exact is not None
                and head is not None
                and head is state.exact_head
                and state.iteration == state.exact_iteration
                and counter._loop_count == 1
            ):
                n = exact + len(fresh)
                if n > counter._high:
                    counter._high = n
                # Come back when the next new high is possible, or after another
                # _RECOUNT_EVERY tasks (a step may run in between and finish some).
                headroom[0] = len(fresh) + min(_RECOUNT_EVERY, counter._high - n + 1)
                return task
            counter._exact_live = None
            counter._recount()
            state.exact_head = head
            state.exact_iteration = state.iteration if state.run_once is not None else -1
            return task

        return factory
