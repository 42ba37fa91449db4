"""``boundedload calibrate``: what this machine lets a flood test measure, and at what cost.

A flood test only shows a thread-per-task bug if its threads overlap: with 0.1 ms to
start a thread, 500 threads that each live 20 ms never all exist at once. The figures
here say how long a task must hold to make N of them overlap, whether the exact kernel
peak and a memory cgroup are available, and what measuring costs per task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from typing import Any

from ..flood.probe import make_async_probe
from ..flood.workload import Workload
from ..isolate.cgroup import Cgroup
from ..measure.inflight import InFlightCounter
from ..measure.livetasks import LiveTaskCounter
from ..measure.procfs import vmhwm_available

__all__ = ["Calibration", "calibrate", "format_calibration", "process_start", "thread_start"]


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Facts of this machine; times in seconds."""

    peak_source: str
    hard_cap: str
    thread_start: float
    process_start: float
    task_plain: float
    task_measured: float

    def latency_for(self, n: int, per_start: float) -> float:
        """How long each of ``n`` tasks must hold so that all of them overlap."""
        return n * per_start * 1.5  # 50 % headroom for a busy machine

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dataclasses.asdict(self)


def thread_start(rounds: int) -> float:
    """Seconds to start one thread, over ``rounds`` threads started in a row."""
    release = threading.Event()
    threads = [threading.Thread(target=release.wait) for _ in range(rounds)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    elapsed = time.perf_counter() - started
    release.set()
    for thread in threads:
        thread.join()
    return elapsed / rounds


def process_start(rounds: int) -> float:
    """Seconds to fork one child and reap it, over ``rounds`` in a row."""
    started = time.perf_counter()
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child leaves at once
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - started) / rounds


async def _no_op(task: Any) -> Any:
    return task


def _task_cost(n: int, measured: bool) -> float:
    worker = make_async_probe(InFlightCounter()) if measured else _no_op
    live_tasks = LiveTaskCounter()

    async def flood() -> None:
        await asyncio.gather(*[worker(task) for task in Workload(n)])

    if measured:
        live_tasks.start()
    started = time.perf_counter()
    try:
        asyncio.run(flood())
    finally:
        if measured:
            live_tasks.stop()
    return (time.perf_counter() - started) / n


def calibrate(
    *, threads: int = 200, processes: int = 30, tasks: int = 20_000, cap: str | None = None
) -> Calibration:
    """Measure this machine (a few seconds); ``cap`` is the kind of cap ``hard_limit``
    would use (``cgroup`` or ``rlimit``), found here when not given."""
    if cap is None:
        group = Cgroup.create(64 << 20)
        if group is not None:
            group.remove()
        cap = "cgroup" if group is not None else "rlimit"
    plain = min(_task_cost(tasks, False) for _ in range(3))
    measured = min(_task_cost(tasks, True) for _ in range(3))
    return Calibration(
        peak_source="vmhwm" if vmhwm_available() else "sampled",
        hard_cap=cap,
        thread_start=min(thread_start(threads) for _ in range(3)),
        process_start=min(process_start(processes) for _ in range(3)),
        task_plain=plain,
        task_measured=measured,
    )


def format_calibration(c: Calibration) -> str:
    """The report ``boundedload calibrate`` prints."""
    peak = "exact (kernel VmHWM)" if c.peak_source == "vmhwm" else "sampled (no writable clear_refs)"
    cap = "memory cgroup (OOM killer)" if c.hard_cap == "cgroup" else "RLIMIT_DATA (MemoryError)"
    lines = [
        f"peak RSS:             {peak}",
        f"hard_limit cap:       {cap}",
        f"thread start:         {c.thread_start * 1e6:.0f} us",
        f"process start (fork): {c.process_start * 1e3:.2f} ms",
        f"asyncio task:         {c.task_plain * 1e6:.2f} us plain, {c.task_measured * 1e6:.2f} us measured"
        f" ({c.task_measured / c.task_plain:.2f}x)",
        "",
        "To have N tasks alive at once, each must hold at least (flood.tasks(..., latency=)):",
    ]
    for n in (100, 500, 1000):
        lines.append(
            f"  {n:>5} threads:   {c.latency_for(n, c.thread_start) * 1e3:7.0f} ms"
            f"    {n:>5} processes: {c.latency_for(n, c.process_start) * 1e3:7.0f} ms"
        )
    return "\n".join(lines)
