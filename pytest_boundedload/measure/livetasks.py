"""Exact high-water of live asyncio tasks, through a task factory on every loop that runs.

While counting, ``run_forever`` installs the factory on each loop as it starts, on
asyncio's ``BaseEventLoop`` and on ``uvloop.Loop`` (:mod:`.loophooks`): this covers
``asyncio.run``, ``uvloop.run``, ``asyncio.Runner(loop_factory=...)``, an event loop
policy's loops, and the loops of pytest-asyncio and anyio. uvloop is hooked if it is
imported when counting starts, or as soon as it is imported while counting
(:mod:`.whenimported`); it is never imported here. A loop already running when counting
starts gets it at once, in this thread or another (:mod:`.runningloops`). Tasks that
exist when a loop is adopted are counted too. A factory the user
had set, or sets while counting, keeps creating the tasks: ours only counts, the loop
shows the user theirs (``get_task_factory``), and theirs is put back when counting stops.

A task is live from creation until it is done; one done at creation (an eager task that
finished in its first step) never was. The live count can only rise when a task is
created, so the high-water is recounted there, and only when it could move: the count is
bounded above by the tasks not yet known to be done; when that bound exceeds the
high-water, the bound is made exact by asking the tasks (``done()``) themselves.

Making it exact is a *recount*. A done callback per task would keep a count too, but a
callback costs a scheduled handle per task (a fifth of a no-op task's whole cost) and
runs one loop iteration late. So a task starts *fresh* (no callback); a fresh task found
alive at a recount becomes a *survivor*; a survivor still alive at the next recount gets
a done callback and joins the *watched* set. Short tasks, the bulk of any flood, finish
fresh and cost a list slot. Nothing keeps a finished task (its loop, its exception)
alive for long: fresh tasks that are done are dropped between two loop iterations (on
asyncio's loops; on uvloop's, whose iterations are not seen, at the next recount),
survivors are held weakly, a watched task leaves when its done callback runs, and
whatever is done when a loop stops is dropped then.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import collections
import contextvars
import sys
import threading
import types
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from .loophooks import ClassHooks, Getter, Setter, uvloop_class
from .patching import after_fork_in_child
from .runningloops import other_threads_loops
from .whenimported import ImportWatch

__all__ = ["LiveTaskCounter", "other_threads_loops"]

TaskFactory = Callable[..., "asyncio.Future[Any]"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

# Recount at least this often, so the fresh list stays short.
_RECOUNT_EVERY = 64
# A new high is checked against every live task's state up to this many live tasks;
# above it (a burst of thousands), once per len(watched)/8 recounts: a linear cost. In
# between, a task that finished in the current loop iteration may still count.
_VERIFY_ALL_UP_TO = 1024

# Counters that are counting: a forked child gives their loops back (see _forget_in_child).
_COUNTING: weakref.WeakSet[LiveTaskCounter] = weakref.WeakSet()


class _LoopState:
    """Our factory on one loop, the factory it creates tasks through (the user's), the
    loop's own setter and getter of factories, the loop's ready queue, and where the loop
    was when the live count was last exact: the handle at the head of the queue (weakly)
    and the iteration (-1: none)."""

    __slots__ = (
        *("counting", "exact_head", "exact_iteration", "get_factory", "iteration", "loop_ref", "ours"),
        *("previous", "ready", "run_once", "set_factory"),
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        set_factory: Setter,
        get_factory: Getter,
    ) -> None:
        self.set_factory = set_factory
        self.get_factory = get_factory
        self.previous: TaskFactory | None = get_factory(loop)
        self.ours: TaskFactory | None = None
        self.counting = True
        ready = getattr(loop, "_ready", None)
        self.ready: collections.deque[Any] | None = ready if isinstance(ready, collections.deque) else None
        self.exact_head: weakref.ref[Any] | None = None
        self.iteration = 0  # loop iterations run since adoption, if counted
        self.exact_iteration = -1
        self.run_once: Callable[[], None] | None = None  # our iteration counter on the loop
        # Our factory and iteration counter refer to this state, which refers to them:
        # when the loop goes (asyncio.run's, say), that cycle goes with it.
        self.loop_ref: weakref.ref[asyncio.AbstractEventLoop] | None = weakref.ref(loop, self._loop_gone)

    def _loop_gone(self, _: object) -> None:
        self.run_once = self.ours = None
        self.loop_ref = None

    def count_iterations(self, loop: asyncio.AbstractEventLoop, between: Callable[[], None]) -> None:
        """Count the loop's iterations: one call per iteration, not per task.

        The same handle can head the ready queue again in a later iteration (a reader or
        writer callback is one handle, queued each time its file is ready), but not twice
        in one: the head identifies a point only together with the iteration.
        """
        original = getattr(loop, "_run_once", None)
        if not isinstance(loop, _BaseEventLoop) or original is None or "_run_once" in vars(loop):
            return  # not a loop we know, or someone else counts on the instance already
        method = type(loop)._run_once  # type: ignore[attr-defined]
        # Through a weak reference: the loop holds this function, which must not keep
        # the loop alive once its user drops it.
        loop_ref = weakref.ref(loop)

        def run_once() -> None:
            self.iteration += 1
            between()
            method(loop_ref())

        loop._run_once = run_once  # type: ignore[attr-defined]
        self.run_once = run_once

    def give_back(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop counting on ``loop``: its own factory back, our iteration counter off."""
        self.counting = False
        if self.ours is not None and self.get_factory(loop) is self.ours:
            self.set_factory(loop, self.previous)
        if self.run_once is not None and vars(loop).get("_run_once") is self.run_once:
            del loop._run_once  # type: ignore[attr-defined]
        # Both refer to this state: let go of them, so no cycle waits for a collection.
        self.run_once = self.ours = None
        self.loop_ref = None


class LiveTaskCounter:
    """Counts live asyncio tasks across loops during a window; one window at a time."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._watched: set[asyncio.Future[Any]] = set()  # have a done callback
        self._survivors: list[weakref.ref[asyncio.Future[Any]]] = []  # alive at the last recount
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
        self._hooks: list[ClassHooks] = []
        self._uvloop_watch: ImportWatch | None = None

    @property
    def max_tasks(self) -> int:
        """High-water of live tasks since :meth:`start`."""
        return self._high

    def live_now(self) -> int:
        """About how many tasks are live now (may include tasks that finished in the
        current loop iteration); for pictures, not for limits."""
        return len(self._watched) + len(self._survivors) + len(self._fresh)

    def start(self) -> None:
        """Begin counting: hook loop start-up and adopt the loops running now."""
        self._clear()
        self._high = 0
        self._exact_live = None
        self._hooks = []
        self._hook(_BaseEventLoop)
        uvloop_loop = uvloop_class()
        if uvloop_loop is not None:
            self._hook(uvloop_loop)
        elif "uvloop" not in sys.modules:
            self._uvloop_watch = ImportWatch("uvloop", self._uvloop_imported)
            self._uvloop_watch.start()
        _COUNTING.add(self)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop in [running] if running is not None else []:
            self.adopt(loop)
        for loop in other_threads_loops():
            self.adopt(loop)

    def stop(self) -> int:
        """Stop counting, give every loop its own factory back, return the high-water."""
        _COUNTING.discard(self)
        self._unhook()
        with self._lock:
            for loop, state in list(self._loops.items()):
                state.give_back(loop)
            self._loops.clear()
            self._loop_count = 0
            self._clear()
        return self._high

    def _forget_in_child(self) -> None:
        # A forked child inherits this counter mid-window; its counts reach no one. (The
        # class patches are already off: patching undoes every active patch in a child.)
        self._lock = threading.RLock()
        self._unhook()
        for loop, state in list(self._loops.items()):
            state.give_back(loop)
        self._loops.clear()
        self._clear()

    def _hook(self, loop_class: type) -> None:
        hooks = ClassHooks(self, loop_class)
        if hooks.install():
            self._hooks.append(hooks)

    def _uvloop_imported(self, module: types.ModuleType) -> None:
        # uvloop was first imported while counting: its loops are hooked before any runs.
        with self._lock:
            loop_class = uvloop_class()
            if self in _COUNTING and loop_class is not None and not any(
                hooks.loop_class is loop_class for hooks in self._hooks
            ):
                self._hook(loop_class)

    def _unhook(self) -> None:
        with self._lock:
            watch, self._uvloop_watch = self._uvloop_watch, None
            if watch is not None:
                watch.stop()
            for hooks in reversed(self._hooks):
                hooks.remove()
            self._hooks = []

    def _originals(self, loop: asyncio.AbstractEventLoop) -> tuple[Setter, Getter]:
        """The loop's own ``set_task_factory`` and ``get_task_factory``, past our wrappers."""
        for hooks in self._hooks:
            if isinstance(loop, hooks.loop_class):
                return hooks.set_factory, hooks.get_factory
        loop_class = type(loop)
        return loop_class.set_task_factory, loop_class.get_task_factory

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
            state = _LoopState(loop, *self._originals(loop))
            state.ours = self._factory_for(state)
            state.count_iterations(loop, self._drop_done_fresh)
            self._loops[loop] = state
            self._loop_count = len(self._loops)
            state.set_factory(loop, state.ours)  # past the interceptors
            self._survivors.extend(weakref.ref(task) for task in asyncio.all_tasks(loop))
            self._recount()

    def loop_stopped(self, loop: asyncio.AbstractEventLoop) -> None:
        """A loop's ``run_forever`` returned: forget where it was (its next run starts anew)
        and let go of what is done (a closing loop may never run their done callbacks)."""
        state = self._loops.get(loop)
        if state is not None:
            state.exact_head = None
            with self._lock:
                self._drop_done_fresh()
                finished = [task for task in tuple(self._watched) if task.done()]
                self._watched.difference_update(finished)

    def _drop_done_fresh(self) -> None:
        # Between two iterations of a loop: fresh tasks that finished are not live, and
        # must not be kept alive until the next recount. (A burst never spans iterations.)
        fresh = self._fresh
        if fresh:
            fresh[:] = [task for task in fresh if not task.done()]

    def _recount(self) -> None:
        """Make the live count exact and raise the high-water if it grew."""
        with self._lock:
            watched, survivors, fresh = self._watched, self._survivors, self._fresh
            discard, context = watched.discard, self._context
            for ref in survivors:
                task = ref()
                if task is not None and not task.done():
                    watched.add(task)
                    task.add_done_callback(discard, context=context)
            survivors[:] = [weakref.ref(task) for task in fresh if not task.done()]
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

        def factory(
            loop: asyncio.AbstractEventLoop,
            coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
            **kwargs: Any,
        ) -> asyncio.Future[Any]:
            # Runs for every task of the flood: locals only, no calls it can avoid.
            previous = state.previous
            if previous is not None or kwargs:
                task = (
                    previous(loop, coro, **kwargs)
                    if previous is not None
                    else task_type(coro, loop=loop, **kwargs)
                )
                if task.done() or not state.counting:
                    return task  # finished at creation (eager), or counting has stopped
            elif state.counting:
                task = task_type(coro, loop=loop)
            else:
                return task_type(coro, loop=loop)
            append(task)
            # Tasks not known to be done (fresh, survivors, watched) bound the live count
            # from above; while the fresh ones are within the headroom, that bound is not
            # above the high-water and no recount is due: the common case, kept cheap.
            if len(fresh) < headroom[0]:
                return task
            counter._after_burst(state, task)
            return task

        return factory

    def _after_burst(self, state: _LoopState, task: asyncio.Future[Any]) -> None:
        """The fresh tasks reached the headroom: count them exactly, cheaply if possible.

        A task becomes done only in a step of its own (or at creation, and those are not
        fresh), and every step is a handle taken from the head of the loop's ready queue.
        If the head is the one seen when the count was last made exact, in the same
        iteration, no step ran since (a gather burst): every task created since is alive,
        and the count is exact without a recount.
        """
        ready = state.ready
        head = ready[0] if ready else None
        exact = self._exact_live
        if (
            exact is not None
            and head is not None
            and state.exact_head is not None
            and head is state.exact_head()
            and state.iteration == state.exact_iteration
            and self._loop_count == 1
        ):
            n = exact + len(self._fresh)
            if n > self._high:
                self._high = n
            # Come back when the next new high is possible, or after another
            # _RECOUNT_EVERY tasks (a step may run in between and finish some).
            self._headroom[0] = len(self._fresh) + min(_RECOUNT_EVERY, self._high - n + 1)
            return
        self._exact_live = None
        self._recount()
        state.exact_head = weakref.ref(head) if head is not None else None
        state.exact_iteration = state.iteration if state.run_once is not None else -1


def _forget_counters_in_child() -> None:
    for counter in list(_COUNTING):
        counter._forget_in_child()
    _COUNTING.clear()


after_fork_in_child(_forget_counters_in_child)
