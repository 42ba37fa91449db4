"""One measurement window: gauge, live-task tracker and sampler started and stopped together."""

from __future__ import annotations

import time
from collections.abc import Callable

from .gauge import Gauge
from .measurement import Measurement
from .sampler import Sampler
from .tasktrack import TaskTracker

__all__ = ["Window"]


class Window:
    """Measures from :meth:`start` to :meth:`stop`. Windows of one process must not overlap,
    because the kernel peak they reset is per process."""

    def __init__(self, gauge: Gauge, interval: float, on_tick: Callable[[], None] | None = None) -> None:
        self._gauge = gauge
        self._sampler = Sampler(interval, on_tick)
        self._tracker = TaskTracker()
        self._started_at = 0.0

    def start(self) -> None:
        """Reset every high-water and begin measuring."""
        self._gauge.reset()
        self._tracker.start()
        self._sampler.start()
        self._started_at = time.perf_counter()

    def stop(self) -> Measurement:
        """Stop measuring and return what the window saw.

        Every part is stopped even if another fails, so no hook outlives the window.
        """
        duration = time.perf_counter() - self._started_at
        try:
            max_tasks = self._tracker.stop()
        finally:
            sampled = self._sampler.stop()
        reading = self._gauge.read()
        return Measurement(
            peak_rss=sampled.peak_rss,
            rss_growth=max(0, sampled.peak_rss - sampled.start_rss),
            children_peak_rss=sampled.children_peak_rss,
            max_in_flight=reading.max_in_flight,
            max_tasks=max_tasks,
            max_threads=sampled.max_threads,
            max_processes=sampled.max_processes,
            tasks_started=reading.started,
            tasks_done=reading.done,
            tasks_failed=reading.failed,
            duration=duration,
            peak_source=sampled.peak_source,
        )
