"""The instrumented task functions that stand in for the code under test's worker.

A probe enters the in-flight counter, holds the task's payload while it waits the task's
latency, fails on purpose when the task says so, leaves the counter and returns the
task's index. Anything that is not a :class:`SyntheticTask` is treated as a task with no
payload and no latency and is returned as it is, so a probe can replace a worker fed
with real items. A probe takes any arguments: the task is the first positional one, and a
call with none (``create(model=..., messages=...)``) is a task with no payload that
returns None.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ..measure.inflight import InFlightCounter, SharedCounters
from .workload import SyntheticFailure, SyntheticTask

__all__ = ["AsyncProbe", "SyncProbe", "make_async_probe"]


AsyncProbe = Callable[..., Coroutine[Any, Any, Any]]


def make_async_probe(counter: InFlightCounter) -> AsyncProbe:
    """``await probe(task)``: the coroutine probe for asyncio code, counting into ``counter``.

    A plain coroutine function rather than a callable object: it runs once per task of
    every flood, and an instance ``__call__`` costs a measurable share of a no-op task.
    """

    synthetic = SyntheticTask

    async def aworker(task: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(task, synthetic):
            index, payload, latency, fail = task
            if not (payload or latency or fail) and counter.lock_free:
                # Nothing to do: the call starts and ends right here, with no call or
                # await in between, so it is one more in flight for an instant. The
                # counter's lock-free path is inlined, as below.
                if counter.in_flight >= counter.high_water:
                    counter.high_water = counter.in_flight + 1
                counter.no_work_calls += 1
                return index
        if counter.lock_free:
            counter.in_flight += 1
            counter.started += 1
            if counter.in_flight > counter.high_water:
                counter.high_water = counter.in_flight
        else:
            counter.enter()
        done = failed = False
        held = None
        try:
            if not isinstance(task, synthetic):
                done = True
                return task
            # bytearray(n) writes every byte, so the pages are really resident.
            held = bytearray(payload) if payload else None
            if latency:
                await asyncio.sleep(latency)
            held = None
            if fail:
                failed = True
                raise SyntheticFailure(index)
            done = True
            return index
        finally:
            # A cancelled call's frame lives on in the traceback; its payload must not.
            del held
            if counter.lock_free:
                counter.in_flight -= 1
                counter.done += done
                counter.failed += failed
            else:
                counter.leave(done, failed)

    return aworker


def _hold_and_wait(task: Any) -> Any:
    """The blocking probe's work: hold the payload for the latency, fail if told to."""
    if not isinstance(task, SyntheticTask):
        return task
    index, payload, latency, fail = task
    # bytearray(n) writes every byte, so the pages are really resident.
    held = bytearray(payload) if payload else None
    try:
        if latency:
            time.sleep(latency)
    finally:
        del held  # an interrupted call's frame lives on in the traceback; its payload must not
    if fail:
        raise SyntheticFailure(index)
    return index


class _RemoteCounter:
    """The enter/leave side of a counter in a process that received a pickled probe."""

    __slots__ = ("_counters",)

    def __init__(self, counters: SharedCounters) -> None:
        self._counters = counters

    @property
    def counters(self) -> SharedCounters:
        return self._counters

    # A call that outlives its test finds the file gone: it is no longer counted.
    def enter(self) -> None:
        with contextlib.suppress(OSError):
            self._counters.update(1, 1, 0, 0)

    def leave(self, done: bool, failed: bool) -> None:
        with contextlib.suppress(OSError):
            self._counters.update(-1, 0, int(done), int(failed))


class SyncProbe:
    """``probe(task)``: the blocking probe for threads and process pools.

    Picklable: pickling shares the counter's figures through a mapped file, and the copy
    in a worker process counts into the same in-flight high-water as the parent.
    """

    __slots__ = ("_counter",)

    def __init__(self, counter: InFlightCounter | _RemoteCounter) -> None:
        self._counter = counter

    def __reduce__(self) -> tuple[Any, tuple[SharedCounters]]:
        counter = self._counter
        counters = counter.share() if isinstance(counter, InFlightCounter) else counter.counters
        return (_remote_probe, (counters,))

    def __call__(self, task: Any = None, *args: Any, **kwargs: Any) -> Any:
        counter = self._counter
        counter.enter()
        done = failed = False
        try:
            result = _hold_and_wait(task)
            done = True
            return result
        except SyntheticFailure:
            failed = True
            raise
        finally:
            counter.leave(done, failed)


# A pool pickles the probe with every task: one set of counters per file and process,
# or each task would open the file again and leak a descriptor.
_REMOTE: dict[tuple[str, int], _RemoteCounter] = {}


def _remote_probe(counters: SharedCounters) -> SyncProbe:
    pid = os.getpid()
    key = (counters.path, pid)
    counter = _REMOTE.get(key)
    if counter is None:
        # A new counter arrives once per test. Let go of those whose test is over (the
        # owner removed the file) and of those a forked parent left, so that a pool
        # worker living through many tests keeps a descriptor per live counter only.
        for old_key, old in list(_REMOTE.items()):
            if old_key[1] != pid or old.counters.orphaned():
                del _REMOTE[old_key]
                with contextlib.suppress(OSError):
                    old.counters.close(unlink=False)
        counter = _REMOTE[key] = _RemoteCounter(counters)
    return SyncProbe(counter)
