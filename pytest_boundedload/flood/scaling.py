"""``flood.scaling``: run the code under test at several sizes, each in its own window.

:func:`measure_scaling` calls ``run(n)`` for each size, by default each in a fresh
forked child (so the sizes do not share an allocator, a heap high-water or a leak),
measures one window per call and hands the points to :func:`~.fit.fit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..isolate.capped import run_capped
from ..measure import heap
from ..measure.held import HeldItems
from ..measure.inflight import InFlightCounter
from ..measure.measurement import Measurement
from ..measure.requests import request_counter_if_any
from ..measure.window import Window
from ..memtrace.capture import release_inherited
from ..memtrace.tracer import TraceConfig, WindowTracer
from .fit import ScalingReport, fit

__all__ = ["DEFAULT_CAP", "ScalingError", "measure_scaling", "run_point"]

# The memory cap of each child when the test sets no hard_limit.
DEFAULT_CAP = 2 << 30


class ScalingError(RuntimeError):
    """``run(n)`` failed in its child: raised, was killed or exceeded the cap.

    ``n`` is the size, ``reason`` the outcome in words (``raised ValueError: boom``,
    ``exceeded cap 128.0 MiB (cgroup): killed by SIGKILL``) and ``traceback`` the
    child's traceback text when it raised (None when it was killed).
    """

    def __init__(self, n: int, reason: str, traceback: str | None = None) -> None:
        super().__init__(f"flood.scaling: run({n}) failed in its child: {reason}")
        self.n = n
        self.reason = reason
        self.traceback = traceback

    def __reduce__(self) -> tuple[type[ScalingError], tuple[int, str, str | None]]:
        return (type(self), (self.n, self.reason, self.traceback))


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _measure(
    run: Callable[[int], Any],
    n: int,
    in_flight: InFlightCounter,
    interval: float,
    held: HeldItems | None,
    trace: TraceConfig | None = None,
) -> Measurement:
    """One window around ``run(n)``; an awaitable result is run to completion inside it.
    With ``trace``, memray traces it (``heap_peak``)."""
    tracer = WindowTracer(trace) if trace is not None else None
    window = Window(in_flight, interval, held=held, tracer=tracer)
    window.start()
    try:
        result = run(n)
        if inspect.iscoroutine(result):
            asyncio.run(result)
        elif inspect.isawaitable(result):
            asyncio.run(_await(result))
    except BaseException:
        # The window must not stay open (it hooks loops and thread starts); a failure to
        # close it must not hide what run() raised.
        with contextlib.suppress(Exception):
            window.stop()
        raise
    return window.stop()


def _in_child(
    send: Any,
    run: Callable[[int], Any],
    n: int,
    in_flight: InFlightCounter,
    interval: float,
    held: HeldItems | None,
    trace: TraceConfig | None,
) -> dict[str, Any]:
    # The child inherits the counter, shared with the parent since the fork: its window
    # must neither reset nor add to the parent's counters.
    in_flight.detach_after_fork()
    if trace is not None:
        release_inherited()  # the test's own window may be traced in the parent
    try:
        return _measure(run, n, in_flight, interval, held, trace).to_dict()
    finally:
        in_flight.close()  # the child ends with os._exit: no finalizer would remove a shared file


def run_point(
    run: Callable[[int], Any],
    n: int,
    *,
    in_flight: InFlightCounter,
    interval: float,
    isolate: bool,
    cap: int,
    timeout: float | None = None,
    held: HeldItems | None = None,
    trace: TraceConfig | None = None,
) -> Measurement:
    """Measure one call of ``run(n)``; with ``trace``, traced with memray.

    With ``isolate`` the call runs in a fresh forked child capped at ``cap`` bytes
    (:func:`~pytest_boundedload.isolate.capped.run_capped`) and a failure there (an
    exception, a signal, the cap, ``timeout`` seconds) raises :class:`ScalingError`.
    Without it the call runs in this process and its exceptions propagate as they are.
    A coroutine (or other awaitable) returned by ``run`` is run with ``asyncio.run``
    inside the window.
    """
    if trace is not None:
        # Each size's figures are read where it ran: the exact format, nothing kept, and
        # no pytest-memray capture (it traces the test function, not this size alone).
        trace = dataclasses.replace(trace, survive_kill=False, keep=False, borrow=None)
    if not isolate:
        return _measure(run, n, in_flight, interval, held, trace)
    # The servers' counter is shared with the child, whose window resets it: the high
    # of the test's own window so far is given back when the child is done.
    requests = request_counter_if_any()
    before = requests.read().max_in_flight if requests is not None else 0
    # heap.prepare fills the free space the child inherits, before the cap applies and
    # kept until the child exits, so every size is measured at its full cost.
    try:
        outcome = run_capped(
            _in_child,
            run,
            n,
            in_flight,
            interval,
            held,
            trace,
            cap=cap,
            timeout=timeout,
            prepare=heap.prepare,
        )
    finally:
        if requests is not None and requests.shared is not None:
            requests.shared.raise_high_water(before)
    if not outcome.ok:
        raise ScalingError(n, outcome.describe(), outcome.traceback)
    if not isinstance(outcome.value, dict):
        raise ScalingError(n, "exited without a result")
    return Measurement.from_dict(outcome.value)


def _check_ns(ns: object) -> tuple[int, ...]:
    if isinstance(ns, (str, bytes)) or not isinstance(ns, Iterable):
        raise ValueError(f"flood.scaling(): ns must be a sequence of task counts, got {ns!r}")
    sizes = tuple(ns)
    bad = [n for n in sizes if isinstance(n, bool) or not isinstance(n, int) or n <= 0]
    if bad:
        raise ValueError(f"flood.scaling(): ns must be positive ints, got {sizes!r} (bad: {bad[0]!r})")
    if len(set(sizes)) < 2:
        raise ValueError(f"flood.scaling(): ns needs at least two different sizes, got {sizes!r}")
    return tuple(sorted(sizes))


def measure_scaling(
    run: Callable[[int], Any],
    ns: Sequence[int],
    *,
    in_flight: InFlightCounter,
    interval: float,
    isolate: bool = True,
    cap: int = DEFAULT_CAP,
    timeout: float | None = None,
    held: HeldItems | None = None,
    trace: TraceConfig | None = None,
) -> ScalingReport:
    """Call ``run(n)`` for each size in ``ns`` (ascending; each in its own forked child
    unless ``isolate`` is false) and fit the measurements: see :func:`fit`.

    ``ns`` needs at least two different positive sizes; a size given twice is measured
    twice. ``cap`` (bytes) and ``timeout`` (seconds per size) apply to each child. With
    ``trace`` every size is traced with memray, and the fit follows ``heap_peak``
    (memray's own memory is not in it, so tracing does not shift the fit).
    """
    if not callable(run):
        raise ValueError(f"flood.scaling(): run must be callable, got {run!r}")
    sizes = _check_ns(ns)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0:
        raise ValueError(f"flood.scaling(): cap must be a positive number of bytes, got {cap!r}")
    if not interval > 0:
        raise ValueError(f"flood.scaling(): interval must be a positive number of seconds, got {interval!r}")
    points = [
        (
            n,
            run_point(
                run,
                n,
                in_flight=in_flight,
                interval=interval,
                isolate=isolate,
                cap=cap,
                timeout=timeout,
                held=held,
                trace=trace,
            ),
        )
        for n in sizes
    ]
    return fit(points)
