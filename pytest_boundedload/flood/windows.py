"""The measurement windows of one test: the implicit call-phase window, or the test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..measure.held import HeldItems
from ..measure.inflight import InFlightCounter
from ..measure.measurement import Measurement
from ..measure.timeline import Timeline
from ..measure.window import Window
from ..memtrace.sites import HeapSite
from ..memtrace.tracer import TraceConfig, WindowTracer, announce
from .fit import ScalingReport
from .scaling import DEFAULT_CAP, measure_scaling

__all__ = ["MeasureResult", "TestWindows"]


class MeasureResult:
    """What ``with flood.measure() as m:`` binds: the window's Measurement once it closes.

    Field access (``m.max_tasks``) reads the Measurement; before the window closes it is
    an error, not a zero.
    """

    def __init__(self) -> None:
        self._measurement: Measurement | None = None

    @property
    def measurement(self) -> Measurement:
        """The window's Measurement; raises RuntimeError while the window is open."""
        if self._measurement is None:
            raise RuntimeError("the flood.measure() window is still open; read it after the with block")
        return self._measurement

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.measurement, name)

    def __repr__(self) -> str:
        state = repr(self._measurement) if self._measurement is not None else "open"
        return f"<MeasureResult {state}>"


class TestWindows:
    """Runs the windows of one test and keeps their results.

    The plugin opens an implicit window around the call phase. If the test opens windows
    of its own (``flood.measure()``, ``flood.scaling(isolate=False)``), the implicit one
    is dropped and the test's figures are its own windows combined.
    """

    __test__ = False  # not a test class, whatever pytest's collection patterns say

    def __init__(
        self, interval: float, cap: int | None = None, trace: TraceConfig | None = None, record: bool = False
    ) -> None:
        self.in_flight = InFlightCounter()
        self.held = HeldItems()
        self.interval = interval
        self.windows: list[Measurement] = []
        self.scaling_reports: list[ScalingReport] = []
        # The memory cap of each flood.scaling() child: the test's hard_limit, if any.
        self.cap = DEFAULT_CAP if cap is None else cap
        # Called now and then while a window is open (from the sampler thread).
        self.on_tick: Callable[[], None] | None = None
        # memray tracing of every window (None: off); the sites of the traced window with
        # the highest heap peak, and the capture files kept for pictures.
        self.trace = trace
        self.heap_sites: tuple[HeapSite, ...] = ()
        self.captures: list[Path] = []
        self.heap_capture: Path | None = None  # the kept capture of the highest heap peak
        # With ``record`` (pictures wanted), each window's timeline, with its peak RSS.
        self.record = record
        self.timelines: list[tuple[int, Timeline]] = []
        self._heap_best = -1
        self._explicit = False
        self._implicit: Window | None = None
        self._open: Window | None = None

    def begin_call(self) -> None:
        """Open the implicit window, unless the test already measures on its own."""
        if not self._explicit and self._open is None:
            self._implicit = self._open = self._window()
            self._open.start()
            if self.on_tick is not None:
                self.on_tick()

    def end_call(self) -> None:
        """Close the implicit window if it is still open."""
        window = self._implicit if self._open is self._implicit else None
        self._implicit = self._open = None
        if window is not None:
            self.windows.append(self._stopped(window))

    def _window(self) -> Window:
        tracer = WindowTracer(self.trace) if self.trace is not None else None
        if self.trace is not None and self.trace.survive_kill:
            # A child the cap kills cannot report its probe calls: counted in a shared
            # file, the parent reads them (for the bytes per task of what it allocated).
            announce("counter", self.in_flight.share().path)
        return Window(self.in_flight, self.interval, self.on_tick, self.held, tracer, self.record)

    def _stopped(self, window: Window) -> Measurement:
        measurement = window.stop()
        if window.recorder is not None:
            self.timelines.append((measurement.peak_rss, window.recorder.timeline()))
        tracer = window.tracer
        if tracer is not None and measurement.heap_peak is not None:
            if tracer.kept is not None:
                self.captures.append(tracer.kept)
            if measurement.heap_peak > self._heap_best:
                self._heap_best, self.heap_sites = measurement.heap_peak, tracer.sites
                self.heap_capture = tracer.kept
        return measurement

    def _drop_implicit(self) -> None:
        """Close the implicit window for good: the test measures on its own from here."""
        window, self._implicit, self._open = self._implicit, None, None
        self._explicit = True
        if window is not None:
            window.stop()

    @contextmanager
    def measure(self) -> Iterator[MeasureResult]:
        """An explicit window; replaces the implicit one for this test."""
        if self._open is not None and self._open is not self._implicit:
            raise RuntimeError("flood.measure() windows cannot be nested")
        self._drop_implicit()
        result = MeasureResult()
        window = self._open = self._window()
        window.start()
        try:
            yield result
        finally:
            self._open = None
            result._measurement = self._stopped(window)
            self.windows.append(result._measurement)

    def scaling(self, run: Callable[[int], Any], ns: Sequence[int], *, isolate: bool) -> ScalingReport:
        """Measure ``run(n)`` at each size and keep the report for the test's verdict.

        Every size's figures fold into the test's and are checked against its limits. In
        this process (``isolate=False``) each size is a window of the test and the implicit
        window is closed for it (windows cannot overlap).
        """
        if not isolate:
            if self._open is not None and self._open is not self._implicit:
                raise RuntimeError("flood.scaling(isolate=False) cannot run inside a flood.measure() window")
            self._drop_implicit()
        report = measure_scaling(
            run,
            ns,
            in_flight=self.in_flight,
            interval=self.interval,
            isolate=isolate,
            cap=self.cap,
            held=self.held,
            trace=self.trace,
        )
        self.scaling_reports.append(report)
        # Every size counts as a window of the test: its limits, summary, JSON and
        # baseline see the worst point. A child's time is already in the call window.
        points = [measurement for _, measurement in report.points]
        self.windows.extend(points if not isolate else [replace(m, duration=0.0) for m in points])
        return report

    @property
    def last(self) -> Measurement | None:
        """The latest closed window; before any has closed, the figures so far of the
        implicit one (the test's call phase) if it is open."""
        if self.windows:
            return self.windows[-1]
        return self._implicit.so_far() if self._implicit is not None else None

    def result(self) -> Measurement | None:
        """The test's figures: its windows combined, or None when nothing was measured."""
        return Measurement.combine(self.windows) if self.windows else None

    def close(self) -> None:
        """Close any window left open and release shared resources."""
        window, self._open, self._implicit = self._open, None, None
        try:
            if window is not None:
                window.stop()
        finally:
            self.in_flight.close()
