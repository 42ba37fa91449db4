"""Overhead of measurement on the cheapest asyncio workload there is.

Floods N zero-latency tasks through a bounded pending set (at most LIMIT tasks alive),
once with the plugin's machinery (probe worker, in-flight counter, live-task factory, sampler
thread: the same objects a measured test uses) and once with a plain coroutine worker
and nothing else. Both arms iterate the same lazy workload, so the ratio is the cost of
measuring, not of making inputs. Rounds alternate to share any drift of the machine;
the last line is the ratio of the medians (``ratio: R``; the README gives the figure as measured).

    python bench/overhead.py [--n 100000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pytest_boundedload.flood.probe import make_async_probe
from pytest_boundedload.flood.workload import SyntheticTask, Workload
from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.window import Window

LIMIT = 100


async def pending_set(items: Iterable[Any], worker: Callable[[Any], Awaitable[Any]]) -> int:
    """Run ``worker`` over ``items`` keeping at most LIMIT tasks alive."""
    pending: set[asyncio.Task[Any]] = set()
    done_count = 0
    for item in items:
        if len(pending) >= LIMIT:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            done_count += len(done)
        pending.add(asyncio.ensure_future(worker(item)))
    if pending:
        done, _ = await asyncio.wait(pending)
        done_count += len(done)
    return done_count


async def plain_worker(task: SyntheticTask) -> int:
    return task.index


def run_plain(n: int) -> float:
    started = time.perf_counter()
    asyncio.run(pending_set(Workload(n), plain_worker))
    return time.perf_counter() - started


def run_measured(n: int) -> float:
    in_flight = InFlightCounter()
    window = Window(in_flight, interval=0.01)
    started = time.perf_counter()
    window.start()
    asyncio.run(pending_set(Workload(n), make_async_probe(in_flight)))
    measurement = window.stop()
    elapsed = time.perf_counter() - started
    assert measurement.max_in_flight <= LIMIT, measurement
    assert measurement.max_tasks <= LIMIT + 1, measurement
    assert measurement.tasks_done == n, measurement
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    run_plain(args.n // 10)  # warm-up: imports, allocator
    run_measured(args.n // 10)
    plain: list[float] = []
    measured: list[float] = []
    for round_no in range(args.rounds):
        # Alternate which arm goes first so neither always runs on a warmer machine.
        arms = [(plain, run_plain), (measured, run_measured)]
        for times, arm in arms if round_no % 2 == 0 else arms[::-1]:
            times.append(arm(args.n))
        print(f"round {round_no + 1}: plain {plain[-1]:.3f}s  measured {measured[-1]:.3f}s")
    p, m = statistics.median(plain), statistics.median(measured)
    print(f"n={args.n} limit={LIMIT} median plain {p:.3f}s measured {m:.3f}s")
    print(f"ratio: {m / p:.2f}")


if __name__ == "__main__":
    main()
