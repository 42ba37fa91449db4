"""One measurement window: the in-flight counter, the live-task counters (asyncio's and
trio's) and the sampler, started and stopped together into one :class:`Measurement`.

``max_tasks`` is asyncio's high-water plus trio's: exact when the window runs tasks of
one of them (the usual case), and a bound from above when it runs both, whose peaks
need not coincide."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import heap, onetime
from .held import HeldItems
from .inflight import InFlightCounter
from .livetasks import LiveTaskCounter
from .measurement import Measurement
from .procfs import vmhwm_available
from .registry import compact_task_registry
from .requests import request_counter_if_any
from .sampler import Sampler, SamplerResult
from .timeline import TimelineRecorder
from .triotasks import TrioTaskCounter

if TYPE_CHECKING:
    from ..memtrace.tracer import WindowTracer

__all__ = ["Window"]


def _both(first: Callable[[], None], then: Callable[[], None] | None) -> Callable[[], None]:
    if then is None:
        return first

    def tick() -> None:
        first()
        then()

    return tick


class Window:
    """Measures from :meth:`start` to :meth:`stop`. Windows of one process must not overlap,
    because the kernel peak they reset is per process."""

    def __init__(
        self,
        in_flight: InFlightCounter,
        interval: float,
        on_tick: Callable[[], None] | None = None,
        held: HeldItems | None = None,
        tracer: WindowTracer | None = None,
        record: bool = False,
    ) -> None:
        self.tracer = tracer
        self._in_flight = in_flight
        self._held = held
        self._live_tasks = LiveTaskCounter()
        self._trio_tasks = TrioTaskCounter()
        # With ``record``, a timeline of the window, sampled every tick (for pictures).
        self.recorder: TimelineRecorder | None = None
        if record:
            self.recorder = TimelineRecorder(lambda: in_flight.read().in_flight, self._live_now)
            on_tick = _both(self.recorder.sample, on_tick)
        self._sampler = Sampler(interval, on_tick)
        self._started_at = 0.0

    def start(self) -> None:
        """Trim the heap, reset every high-water and begin measuring.

        What earlier work left and cheaply can be given back goes first: asyncio's task
        registry is compacted (:mod:`.registry`) and the C heap trimmed
        (:func:`.heap.trim_c_heap`), so the window pays for those again; what the
        standard library pays once a process is paid first (:mod:`.onetime`). pymalloc's
        free space cannot be given back; the sampler follows how much of it the window
        takes, and ``rss_growth`` adds that to the growth of RSS.
        """
        onetime.pay_once()
        compact_task_registry()
        heap.trim_c_heap()
        if self.tracer is not None:
            # The once-a-process check of the kernel peak (an 8 MiB spike) goes first, so
            # the trace does not see it; the tracer starts before the sampler, so
            # memray's thread is one that was already running.
            vmhwm_available()
            self.tracer.start()
        self._in_flight.reset()
        if self._held is not None:
            self._held.reset()
        # The servers' counter only if one was made: no shared file for every window. A
        # counter made later, inside the window, starts at zero there anyway.
        requests = request_counter_if_any()
        if requests is not None:
            requests.reset()
        self._live_tasks.start()
        self._trio_tasks.start()
        if self.recorder is not None:
            self.recorder.start()
        self._sampler.start()
        self._started_at = time.perf_counter()

    def stop(self) -> Measurement:
        """Stop measuring and return what the window saw.

        Every part is stopped even if another fails, so no hook outlives the window.
        """
        duration = time.perf_counter() - self._started_at
        if self.recorder is not None:
            with contextlib.suppress(OSError):
                self.recorder.sample()  # the window's last state
        try:
            try:
                asyncio_tasks = self._live_tasks.stop()
            finally:
                trio_tasks = self._trio_tasks.stop()
        finally:
            try:
                sampled = self._sampler.stop()
            finally:
                traced = self.tracer.stop() if self.tracer is not None else None
        measurement = self._measurement(sampled, asyncio_tasks + trio_tasks, duration)
        if traced is not None:
            measurement = dataclasses.replace(measurement, heap_peak=traced.heap_peak)
        return measurement

    def so_far(self) -> Measurement:
        """The figures up to now, the window still open."""
        return self._measurement(
            self._sampler.so_far(),
            self._live_tasks.max_tasks + self._trio_tasks.max_tasks,
            time.perf_counter() - self._started_at,
        )

    def _live_now(self) -> int:
        return self._live_tasks.live_now() + self._trio_tasks.live_now()

    def _measurement(self, sampled: SamplerResult, max_tasks: int, duration: float) -> Measurement:
        reading = self._in_flight.read()
        requests = request_counter_if_any()
        return Measurement(
            peak_rss=sampled.peak_rss,
            rss_growth=max(0, sampled.peak_rss - sampled.start_rss) + sampled.reused,
            children_peak_rss=sampled.children_peak_rss,
            max_in_flight=reading.max_in_flight,
            max_tasks=max_tasks,
            max_threads=sampled.max_threads,
            max_processes=sampled.max_processes,
            max_held=self._held.high_water if self._held is not None else 0,
            tasks_started=reading.started,
            tasks_done=reading.done,
            tasks_failed=reading.failed,
            duration=duration,
            peak_source=sampled.peak_source,
            items_taken=self._held.total if self._held is not None else 0,
            max_requests=requests.read().max_in_flight if requests is not None else 0,
        )
