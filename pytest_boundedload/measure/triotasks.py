"""Exact high-water of live trio tasks (trio itself, or anyio on its trio backend),
through trio's instrument API.

trio tells an instrument (``trio.abc.Instrument``) of every task as it is spawned and as
it exits, in the run's own thread: two integer updates a task give the exact live count,
and holding no task. A window attaches one instrument, for as long as it is open, to
every run it can see:

- a run that starts while the window is open (``trio.run``, ``anyio.run(...,
  backend="trio")``, ``trio.lowlevel.start_guest_run``, in any thread): trio makes every
  run through ``trio._core._run.setup_runner``, which the window wraps, so the instrument
  is there before the run's first task; a run named through an alias taken before the
  window (``from trio import run``) is seen as well;
- a run active in this thread when the window opens: the window opened from inside a
  trio task, or between two ticks of a guest run in its host thread. anyio's pytest
  plugin runs trio that way: its test runner is a guest run hosted by a queue in the main
  thread, started at the test's first async fixture (so before the window) or in the call
  phase (inside it), and kept between tests. Its live tasks are counted when the window
  opens, and the instrument is added to the run;
- a ``trio.run`` active in another thread when the window opens (an anyio blocking
  portal, say), found on that thread's stack: the count of its live tasks and the
  instrument are added from inside the run, at its next tick (queued through its
  ``run_sync_soon`` queue, ahead of whatever the test asks of it next), so no task can
  start or end between the two.

A guest run hosted in another thread is not seen (trio keeps its run in a
thread-local). When the window closes, the instrument leaves every run still active: at
once in this thread, and through the run's ``TrioToken`` (at its next tick) in another,
where removing it directly could race with trio reading its hooks.

What counts: every task of the run except trio's own two, ``<init>`` (the root) and the
task that serves ``run_sync_soon``: the main task and everything under it, system tasks
that libraries spawn included. A nursery of 20,000 tasks under ``trio.run(main)``
counts 20,001, as the same gather does under ``asyncio.run`` (its main task is a task
too); under anyio's test runner, the runner's task in which the test runs is the main
task. trio is never imported here: the window hooks it if it is imported, or as soon as
it is (:mod:`.whenimported`). Its cost is measured by ``bench/loop_tasks.py``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

from .livecount import LiveCount
from .patching import Patch, after_fork_in_child
from .whenimported import ImportWatch

__all__ = ["TrioTaskCounter"]

# trio's own tasks: its root task and the task that runs run_sync_soon callbacks.
_OWN_TASKS = frozenset({"<init>", "<TrioToken.run_sync_soon task>"})

_COUNTING: weakref.WeakSet[TrioTaskCounter] = weakref.WeakSet()


class _Instrument:
    """Counts tasks in and out (trio calls the two hooks it finds on the instrument)."""

    __slots__ = ("__weakref__", "_count")

    def __init__(self, count: LiveCount) -> None:
        self._count = count

    def task_spawned(self, task: Any) -> None:
        """A task was spawned: one more live task, unless it is one of trio's own."""
        if task.name not in _OWN_TASKS:
            self._count.up()

    def task_exited(self, task: Any) -> None:
        """A task exited: one fewer live task, unless it is one of trio's own."""
        if task.name not in _OWN_TASKS:
            self._count.down()


class _Run:
    """A run the instrument is attached to: its thread, its instruments and its token,
    held weakly (a run that ended takes its instruments with it)."""

    __slots__ = ("instruments", "thread", "token")

    def __init__(self, instruments: Any, token: Any) -> None:
        self.thread = threading.get_ident()
        self.instruments = weakref.ref(instruments)
        self.token = weakref.ref(token) if token is not None else None


def _remove(instruments: Any, instrument: _Instrument) -> None:
    if instrument in instruments.get("_all", ()):
        instruments.remove_instrument(instrument)


class TrioTaskCounter:
    """Counts live trio tasks during a window; one window at a time."""

    def __init__(self) -> None:
        self._count = LiveCount()
        self._instrument = _Instrument(self._count)
        self._runs: list[_Run] = []
        self._patch: Patch | None = None
        self._watch: ImportWatch | None = None
        self._lock = threading.RLock()

    @property
    def max_tasks(self) -> int:
        """High-water of live trio tasks since :meth:`start`."""
        return self._count.high_water

    def live_now(self) -> int:
        """Live trio tasks now, of the runs the window sees."""
        return max(0, self._count.alive)

    def start(self) -> None:
        """Hook trio's run set-up (or watch for trio's import) and adopt this thread's run."""
        self._count = LiveCount()
        self._instrument = _Instrument(self._count)
        self._runs = []
        _COUNTING.add(self)
        run_module = sys.modules.get("trio._core._run")
        if run_module is not None:
            self._hook(run_module)
            self._adopt_current(run_module)
            self._adopt_other_threads(run_module)
        elif "trio" not in sys.modules:
            self._watch = ImportWatch("trio", self._trio_imported)
            self._watch.start()

    def stop(self) -> int:
        """Unhook, take the instrument out of every run still active; the high-water."""
        _COUNTING.discard(self)
        with self._lock:
            self._unhook()
            runs, self._runs = self._runs, []
        here = threading.get_ident()
        for run in runs:
            instruments = run.instruments()
            if instruments is None:
                continue
            with contextlib.suppress(Exception):  # the run may be ending meanwhile
                if run.thread == here:
                    _remove(instruments, self._instrument)
                else:
                    token = run.token() if run.token is not None else None
                    if token is not None:
                        token.run_sync_soon(_remove, instruments, self._instrument)
        return self._count.high_water

    def _forget_in_child(self) -> None:
        # A forked child has only the thread that forked: the runs of other threads are
        # gone, this thread's run (if the fork was made from a task) keeps going without us.
        self._lock = threading.RLock()
        self._unhook()
        here = threading.get_ident()
        for run in self._runs:
            instruments = run.instruments()
            if instruments is not None and run.thread == here:
                with contextlib.suppress(Exception):
                    _remove(instruments, self._instrument)
        self._runs = []

    def _unhook(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        patch, self._patch = self._patch, None
        if patch is not None:
            patch.remove()

    def _trio_imported(self, module: types.ModuleType) -> None:
        with self._lock:
            run_module = sys.modules.get("trio._core._run")
            if self in _COUNTING and self._patch is None and run_module is not None:
                self._hook(run_module)

    def _hook(self, run_module: types.ModuleType) -> None:
        patch = Patch(run_module, "setup_runner", self._wrap_setup)
        if callable(getattr(run_module, "setup_runner", None)) and patch.install():
            self._patch = patch

    def _wrap_setup(self, original: Callable[..., Any], patch: Patch) -> Callable[..., Any]:
        def setup_runner(*args: Any, **kwargs: Any) -> Any:
            runner = original(*args, **kwargs)
            if patch.active:
                with contextlib.suppress(Exception):  # a measuring hook must never break a run
                    self._attach(runner, 0)
            return runner

        setup_runner.__wrapped__ = original  # type: ignore[attr-defined]
        return setup_runner

    def _adopt_current(self, run_module: types.ModuleType) -> None:
        runner = getattr(getattr(run_module, "GLOBAL_RUN_CONTEXT", None), "runner", None)
        if runner is None:
            return  # no run in this thread
        with contextlib.suppress(Exception):
            live = sum(1 for task in tuple(runner.tasks) if task.name not in _OWN_TASKS)
            self._attach(runner, live)

    def _adopt_other_threads(self, run_module: types.ModuleType) -> None:
        run_code = getattr(getattr(run_module, "run", None), "__code__", None)
        if run_code is None:
            return
        frames = sys._current_frames()
        frames.pop(threading.get_ident(), None)  # see runningloops: no cycle through this frame
        runners = []
        for top in frames.values():
            frame: Any = top
            while frame is not None:
                if frame.f_code is run_code:
                    runners.append(frame.f_locals.get("runner"))
                    break
                frame = frame.f_back
        for runner in runners:
            with contextlib.suppress(Exception):  # a run that is ending refuses new calls
                runner.entry_queue.run_sync_soon(self._adopt_in_run, runner, self._instrument)

    def _adopt_in_run(self, runner: Any, instrument: _Instrument) -> None:
        # In the run's own thread, between two of its task steps.
        if instrument is not self._instrument or instrument in runner.instruments.get("_all", ()):
            return  # another window's, or attached as the run started
        with contextlib.suppress(Exception):
            live = sum(1 for task in tuple(runner.tasks) if task.name not in _OWN_TASKS)
            self._attach(runner, live)

    def _attach(self, runner: Any, live: int) -> None:
        """Add the instrument to ``runner`` (a run of this thread), ``live`` of its tasks
        alive now."""
        instruments = runner.instruments
        token = None
        lowlevel = getattr(sys.modules.get("trio"), "lowlevel", None)
        if lowlevel is not None:
            # The run is this thread's now; a window closing in another thread reaches
            # it through its token.
            with contextlib.suppress(Exception):
                token = lowlevel.current_trio_token()
        with self._lock:
            if self not in _COUNTING:
                return  # the window closed meanwhile (a run in another thread)
            if live:
                count = self._count
                count.alive += live
                count.high_water = max(count.high_water, count.alive)
            instruments.add_instrument(self._instrument)
            self._runs.append(_Run(instruments, token))


def _forget_counters_in_child() -> None:
    for counter in list(_COUNTING):
        counter._forget_in_child()
    _COUNTING.clear()


after_fork_in_child(_forget_counters_in_child)
