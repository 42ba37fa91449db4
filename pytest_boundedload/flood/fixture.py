"""The ``flood`` fixture's object: synthetic workloads, probes, patching and windows.

It only hands out what the test asks for; the windows themselves are :mod:`.windows`'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pytest

from ..measure.measurement import Measurement
from .count import install_count
from .fit import ScalingReport
from .items import Items, user_items
from .probe import AsyncProbe, SyncProbe, make_async_probe
from .target import install_probe
from .windows import MeasureResult, TestWindows
from .workload import Workload

if TYPE_CHECKING:
    from ..server import LocalServer

__all__ = ["Flood"]

T = TypeVar("T")


class Flood:
    """Floods the code under test with synthetic tasks and measures what grows.

    - :meth:`tasks` makes a lazy workload of N tasks;
    - :attr:`aworker` / :attr:`worker` are the probes that stand in for the worker;
    - :meth:`patch` puts the matching probe in place of the code's own task function;
    - :meth:`count` counts the calls of a real function in flight, still running it;
    - :meth:`measure` opens an explicit window (otherwise the whole call phase is one);
    - :meth:`scaling` runs a flood at several sizes and fits memory growth against N;
    - :meth:`server` starts a local HTTP server for the test;
    - :attr:`last` is the latest closed window's Measurement.
    """

    def __init__(
        self,
        windows: TestWindows,
        monkeypatch: pytest.MonkeyPatch,
        finalize: Callable[[Callable[[], object]], None] | None = None,
    ) -> None:
        self._windows = windows
        self._monkeypatch = monkeypatch
        self._finalize = finalize
        self._aworker = make_async_probe(windows.in_flight)
        self._worker = SyncProbe(windows.in_flight)

    @overload
    def tasks(
        self,
        n: int,
        *,
        payload: int | str = ...,
        latency: float | str = ...,
        jitter: float = ...,
        fail_rate: float = ...,
        seed: int = ...,
        size: int | str = ...,
        make: None = ...,
    ) -> Workload: ...
    @overload
    def tasks(self, n: int, *, size: int | str = ..., make: Callable[[int], T]) -> Items[T]: ...
    def tasks(
        self,
        n: int,
        *,
        payload: int | str = 0,
        latency: float | str = 0,
        jitter: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        size: int | str = 0,
        make: Callable[[int], Any] | None = None,
    ) -> Workload | Items[Any]:
        """``n`` synthetic tasks, built lazily as they are iterated.

        ``payload``: bytes each task holds while in flight (int or "16 KiB");
        ``latency``: how long each waits (seconds or "5ms"), varied by ``jitter`` (a
        share, 0.2 = +/-20 %); ``fail_rate``: share of tasks whose probe raises
        :class:`SyntheticFailure`, chosen deterministically from ``seed``; ``size``:
        bytes each item carries from the moment the code takes it until it lets go of it
        (a request body). Items taken and still alive count in ``max_held``.

        ``make``: the items are your own objects instead, ``make(i)`` building item ``i``
        when it is taken, still followed for ``max_held`` (and given ``size``); see
        :mod:`.items` for how each type is followed. Not with the synthetic arguments.
        """
        if make is not None:
            synthetic = {"payload": payload, "latency": latency, "jitter": jitter, "fail_rate": fail_rate}
            return user_items(n, make, size=size, held=self._windows.held, seed=seed, **synthetic)
        return Workload(
            n,
            payload=payload,
            latency=latency,
            jitter=jitter,
            fail_rate=fail_rate,
            seed=seed,
            size=size,
            held=self._windows.held,
        )

    @property
    def aworker(self) -> AsyncProbe:
        """The async probe: ``await flood.aworker(task)``."""
        return self._aworker

    @property
    def worker(self) -> SyncProbe:
        """The blocking probe for threads and process pools: ``flood.worker(task)``.

        Picklable, and still counted exactly when it runs in pool worker processes.
        """
        return self._worker

    def patch(self, target: str | tuple[object, str], *, kind: str | None = None) -> AsyncProbe | SyncProbe:
        """Replace the task function ``target`` with the matching probe until teardown.

        ``target`` is ``"pkg.mod.func"`` or ``(obj, "name")``. A coroutine function
        (also one hidden by decorators that use ``functools.wraps``) gets
        :attr:`aworker`, anything else :attr:`worker`; ``kind="async"`` or ``"sync"``
        decides instead. The probe takes any arguments: the task is the first positional
        one; a call with none is a task with no payload and returns None. Returns the probe.
        """
        return install_probe(  # type: ignore[no-any-return]
            target, kind, aworker=self._aworker, worker=self._worker, monkeypatch=self._monkeypatch
        )

    def count(
        self,
        target: str | tuple[object, str],
        *,
        latency: float | str = 0,
        jitter: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
    ) -> Any:
        """Count the calls of the real callable ``target`` in ``max_in_flight`` until teardown.

        ``target`` is ``"pkg.mod.Class.method"`` or ``(obj, "name")``; sync, async,
        async generator or decorated, any signature. Each call waits ``latency`` (varied
        by ``jitter``) and fails with :class:`SyntheticFailure` for the share
        ``fail_rate`` (drawn from ``seed`` like :meth:`tasks`) before the real code runs.
        Returns what the code under test now finds at ``target``.
        """
        return install_count(
            target,
            counter=self._windows.in_flight,
            monkeypatch=self._monkeypatch,
            latency=latency,
            jitter=jitter,
            fail_rate=fail_rate,
            seed=seed,
        )

    def scaling(
        self,
        run: Callable[[int], Any],
        ns: Sequence[int] = (1_000, 4_000, 16_000),
        *,
        isolate: bool = True,
    ) -> ScalingReport:
        """Call ``run(n)`` for each ``n`` and fit the memory growth against ``n``.

        Each call runs in a fresh forked child by default (``isolate=True``), so memory
        an allocator kept from an earlier size cannot hide growth; each child is capped
        by the test's ``hard_limit`` (2 GiB without one). ``run`` may be sync or return
        a coroutine. The report's ``bytes_per_task`` is checked against the
        ``max_bytes_per_task`` limit when the test ends; ``growth`` says "constant",
        "linear" or "superlinear", and ``growing`` which counts grow with N.

        ``isolate=False`` runs every size in this process, one window each; the test's
        own call-phase window is closed for it (windows cannot overlap).
        """
        return self._windows.scaling(run, ns, isolate=isolate)

    def measure(self) -> AbstractContextManager[MeasureResult]:
        """An explicit measurement window: ``with flood.measure() as m: ...``.

        ``m`` holds the window's Measurement once the block exits. When a test opens
        windows itself, its limits are checked against the worst of them instead of the
        whole call phase.
        """
        return self._windows.measure()

    def server(
        self,
        *,
        latency: float | str = 0,
        jitter: float = 0.0,
        body: dict[str, Any] | list[Any] | bytes | str | None = None,
        size: int | str | None = None,
        stream: bool = False,
        chunks: int = 8,
        rate: float | None = None,
        concurrency: int | None = None,
        retry_after: float | str = 1,
        error_rate: float = 0.0,
        error_status: int = 500,
        seed: int = 0,
    ) -> LocalServer:
        """A real local HTTP server for this test, in a process of its own; its ``url``
        (``http://127.0.0.1:PORT``) goes to any client's ``base_url``. Stopped at the
        test's teardown. See :mod:`pytest_boundedload.server`.

        It answers every request after ``latency`` (seconds or "20ms"), varied by
        ``jitter`` (a share); with ``body`` (a dict or list as JSON, bytes, str), else an
        OpenAI-compatible chat completion padded to about ``size`` bytes ("2 KiB"),
        streamed as server-sent events in ``chunks`` parts when ``stream`` is set or the
        request asks (``"stream": true``). Beyond ``rate`` requests per second or
        ``concurrency`` requests in flight it answers 429 with ``Retry-After:
        retry_after``; a share ``error_rate`` of the requests, drawn from ``seed``, gets
        ``error_status``. Its requests in flight are the measurement's ``max_requests``.
        """
        from ..server import server_settings, start_server  # loaded by the first test that asks

        settings = server_settings(
            latency=latency,
            jitter=jitter,
            body=body,
            size=size,
            stream=stream,
            chunks=chunks,
            rate=rate,
            concurrency=concurrency,
            retry_after=retry_after,
            error_rate=error_rate,
            error_status=error_status,
            seed=seed,
        )
        server = start_server(settings)
        if self._finalize is not None:
            self._finalize(server.stop)
        return server

    @property
    def last(self) -> Measurement:
        """The Measurement of the latest closed window; in a test that opened none, the
        figures so far of its call phase."""
        last = self._windows.last
        if last is None:
            raise RuntimeError("no measurement window has closed yet, and none is open")
        return last
