"""A window's figures over time, for the picture of a failing test: RSS, probe calls in
flight and live asyncio tasks, one sample per sampler tick.

Recorded only when pictures are wanted (``--boundedload-report-dir``). The live-task
figure is the counter's running total, which may still include tasks that finished in
the current loop iteration: a picture's figure, not the exact ``max_tasks``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from .procfs import current_rss

__all__ = ["Timeline", "TimelineRecorder"]


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Samples of one window: seconds since it opened, RSS (bytes), calls in flight,
    live tasks."""

    times: tuple[float, ...] = ()
    rss: tuple[int, ...] = ()
    in_flight: tuple[int, ...] = ()
    tasks: tuple[int, ...] = ()


class TimelineRecorder:
    """Takes a sample at :meth:`sample` (the sampler thread calls it every tick)."""

    def __init__(self, in_flight: Callable[[], int], tasks: Callable[[], int]) -> None:
        self._in_flight = in_flight
        self._tasks = tasks
        self._started = time.perf_counter()
        self._rows: list[tuple[float, int, int, int]] = []

    def start(self) -> None:
        """Start the clock and take the first sample."""
        self._started = time.perf_counter()
        self._rows.clear()
        self.sample()

    def sample(self) -> None:
        """One sample now."""
        self._rows.append(
            (time.perf_counter() - self._started, current_rss(), self._in_flight(), self._tasks())
        )

    def timeline(self) -> Timeline:
        """The samples so far."""
        rows = list(self._rows)
        return Timeline(
            times=tuple(row[0] for row in rows),
            rss=tuple(row[1] for row in rows),
            in_flight=tuple(row[2] for row in rows),
            tasks=tuple(row[3] for row in rows),
        )
