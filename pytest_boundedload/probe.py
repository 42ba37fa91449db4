"""The instrumented task functions that stand in for the code under test's worker.

A probe enters the gauge, holds the task's payload while it waits the task's latency,
fails on purpose when the task says so, leaves the gauge and returns the task's index.
Anything that is not a :class:`SyntheticTask` is treated as a task with no payload and no
latency and is returned as it is, so a probe can replace a worker fed with real items.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .gauge import Gauge, SharedCounters
from .workload import SyntheticFailure, SyntheticTask

__all__ = ["AsyncProbe", "SyncProbe", "make_async_probe"]


AsyncProbe = Callable[..., Coroutine[Any, Any, Any]]


def make_async_probe(gauge: Gauge) -> AsyncProbe:
    """``await probe(task)``: the coroutine probe for asyncio code, counting into ``gauge``.

    A plain coroutine function rather than a callable object: it runs once per task of
    every flood, and an instance ``__call__`` costs a measurable share of a no-op task.
    """

    synthetic = SyntheticTask

    async def aworker(task: Any, *args: Any, **kwargs: Any) -> Any:
        if type(task) is synthetic:
            index, payload, latency, fail = task
            if not (payload or latency or fail) and gauge.fast:
                # Nothing to do: the call starts and ends right here, with no call or
                # await in between, so it is one more in flight for an instant. The
                # gauge's fast path is inlined, as below.
                if gauge.in_flight >= gauge.high:
                    gauge.high = gauge.in_flight + 1
                gauge.instant += 1
                return index
        if gauge.fast:
            gauge.in_flight += 1
            gauge.started += 1
            if gauge.in_flight > gauge.high:
                gauge.high = gauge.in_flight
        else:
            gauge.enter()
        done = failed = False
        held = None
        try:
            if type(task) is not synthetic:
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
            if gauge.fast:
                gauge.in_flight -= 1
                gauge.done += done
                gauge.failed += failed
            else:
                gauge.leave(done, failed)

    return aworker


class _RemoteGauge:
    """The enter/leave side of a gauge in a process that received a pickled probe."""

    __slots__ = ("_counters",)

    def __init__(self, counters: SharedCounters) -> None:
        self._counters = counters

    def enter(self) -> None:
        self._counters.update(1, 1, 0, 0)

    def leave(self, done: bool, failed: bool) -> None:
        self._counters.update(-1, 0, int(done), int(failed))


class SyncProbe:
    """``probe(task)``: the blocking probe for threads and process pools.

    Picklable: pickling shares the gauge's counters through a mapped file, and the copy in
    a worker process counts into the same in-flight high-water as the parent.
    """

    __slots__ = ("_gauge",)

    def __init__(self, gauge: Gauge | _RemoteGauge) -> None:
        self._gauge = gauge

    def __reduce__(self) -> tuple[Any, tuple[SharedCounters]]:
        gauge = self._gauge
        counters = gauge.share() if isinstance(gauge, Gauge) else gauge._counters
        return (_remote_probe, (counters,))

    def __call__(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        gauge = self._gauge
        gauge.enter()
        done = failed = False
        held = None
        try:
            if type(task) is not SyntheticTask:
                done = True
                return task
            index, payload, latency, fail = task
            # bytearray(n) writes every byte, so the pages are really resident.
            held = bytearray(payload) if payload else None
            if latency:
                time.sleep(latency)
            held = None
            if fail:
                failed = True
                raise SyntheticFailure(index)
            done = True
            return index
        finally:
            del held
            gauge.leave(done, failed)


# A pool pickles the probe with every task: one set of counters per file and process,
# or each task would open the file again and leak a descriptor.
_REMOTE: dict[tuple[str, int], _RemoteGauge] = {}


def _remote_probe(counters: SharedCounters) -> SyncProbe:
    key = (counters.path, os.getpid())
    gauge = _REMOTE.get(key)
    if gauge is None:
        gauge = _REMOTE[key] = _RemoteGauge(counters)
    return SyncProbe(gauge)
