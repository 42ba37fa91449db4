"""Throughput and memory of the ``streaming`` and ``worker_pool`` fixes against the usual tools.

Four contenders run the same zero-latency worker (``async def work(i): return i``) over
N items (default 100,000) with at most 50 calls at once, and each hands back every result:

- ``streaming``: ``pytest_boundedload.fixes.streaming`` (unordered), consumer keeps a list;
- ``worker_pool``: ``pytest_boundedload.fixes.worker_pool`` with 50 workers;
- ``aiometer.run_all``: ``aiometer.run_all([partial(work, i) ...], max_at_once=50)``;
- ``TaskGroup+Semaphore``: one ``asyncio.TaskGroup`` task per item behind a ``Semaphore(50)``.

Throughput: every round runs each contender once in this process (a fresh event loop
each time, the order rotated from round to round so none always runs on a warmer
machine); the table shows the median time and items per second over the rounds.

Memory: each contender runs once more in a fresh child process (this script with
``--child NAME``), which imports everything, resets the kernel's peak RSS through
``/proc/self/clear_refs`` and reports ``VmHWM`` growth over its RSS at that point: the
exact peak the contender added, however short it was.  Linux only (procfs).

Ratios are "times faster than": ``streaming vs aiometer.run_all throughput: 1.23x`` means
aiometer's median time divided by streaming's.

    .venv/bin/python bench/fixes.py [--n 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiometer

from pytest_boundedload.fixes import streaming, worker_pool

LIMIT = 50
MiB = 1024 * 1024
_STATUS = Path("/proc/self/status")


async def work(i: int) -> int:
    return i


async def run_streaming(n: int) -> list[int]:
    results: list[int] = []
    append = results.append
    async for result in streaming(range(n), work, limit=LIMIT):
        append(result)
    return results


async def run_worker_pool(n: int) -> list[int]:
    return await worker_pool(range(n), work, workers=LIMIT)


async def run_aiometer(n: int) -> list[int]:
    return await aiometer.run_all([functools.partial(work, i) for i in range(n)], max_at_once=LIMIT)


async def run_taskgroup(n: int) -> list[int]:
    if sys.version_info < (3, 11):
        raise SystemExit("bench/fixes.py needs Python 3.11+ for asyncio.TaskGroup")
    gate = asyncio.Semaphore(LIMIT)

    async def one(i: int) -> int:
        async with gate:
            return await work(i)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(i)) for i in range(n)]
    return [task.result() for task in tasks]


CONTENDERS: dict[str, Callable[[int], Coroutine[Any, Any, list[int]]]] = {
    "streaming": run_streaming,
    "worker_pool": run_worker_pool,
    "aiometer.run_all": run_aiometer,
    "TaskGroup+Semaphore": run_taskgroup,
}


def check(name: str, n: int, results: list[int]) -> None:
    # streaming yields in completion order; the others return input order.
    got = sorted(results) if name == "streaming" else results
    if got != list(range(n)):
        raise SystemExit(f"{name} returned wrong results")


def timed(name: str, n: int) -> float:
    gc.collect()
    started = time.perf_counter()
    results = asyncio.run(CONTENDERS[name](n))
    elapsed = time.perf_counter() - started
    check(name, n, results)
    return elapsed


def _status(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in {_STATUS}")


def child(name: str, n: int) -> None:
    """Run one contender once in this fresh process and print its peak RSS growth."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    start = _status("VmRSS")
    results = asyncio.run(CONTENDERS[name](n))
    peak = _status("VmHWM")
    check(name, n, results)
    print(json.dumps({"growth": peak - start, "start": start}))


def memory(name: str, n: int) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(json.loads(out.splitlines()[-1])["growth"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=list(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n)
        return

    names = list(CONTENDERS)
    for name in names:  # warm-up: imports, allocator, code paths
        timed(name, args.n // 10)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(name, args.n))
        print(f"round {round_no + 1}: " + "  ".join(f"{name} {times[name][-1]:.3f}s" for name in names))
    median = {name: statistics.median(times[name]) for name in names}
    growth = {name: memory(name, args.n) for name in names}

    print()
    print(f"n={args.n} limit={LIMIT} rounds={args.rounds}: median times; peak RSS growth in a fresh child")
    print(f"{'contender':<22}{'median':>10}{'items/s':>12}{'peak RSS growth':>18}")
    for name in names:
        rate = args.n / median[name]
        print(f"{name:<22}{median[name]:>9.3f}s{rate:>12,.0f}{growth[name] / MiB:>14.1f} MiB")
    print()
    for ours in ("streaming", "worker_pool"):
        for theirs in ("aiometer.run_all", "TaskGroup+Semaphore"):
            print(f"{ours} vs {theirs} throughput: {median[theirs] / median[ours]:.2f}x")
    for ours in ("streaming", "worker_pool"):
        for theirs in ("aiometer.run_all", "TaskGroup+Semaphore"):
            ratio = growth[ours] / growth[theirs] if growth[theirs] else float("nan")
            print(f"{ours} vs {theirs} peak RSS growth: {ratio:.2f}x")


if __name__ == "__main__":
    main()
