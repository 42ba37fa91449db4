"""Cost of counting live tasks on the loops besides asyncio's own: trio and uvloop.

trio: a nursery of N no-op tasks under ``trio.run``, with the live-trio-task counter's
instrument attached (a window's) and without. uvloop: a gather of N ``sleep(0)`` under
``uvloop.run``, with the live-task counter on uvloop's loop and without. Rounds
alternate to share any drift of the machine; each line is a ratio of the medians
(counted / plain).

    python bench/loop_tasks.py [--n 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import trio
import uvloop

from pytest_boundedload.measure.livetasks import LiveTaskCounter
from pytest_boundedload.measure.triotasks import TrioTaskCounter


async def trio_nursery(n: int) -> None:
    async def no_op() -> None:
        pass

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(no_op)


async def uvloop_gather(n: int) -> None:
    await asyncio.gather(*[asyncio.sleep(0) for _ in range(n)])


def timed(run: Callable[[], object], counter: TrioTaskCounter | LiveTaskCounter | None) -> float:
    started = time.perf_counter()
    if counter is not None:
        counter.start()
    try:
        run()
    finally:
        if counter is not None:
            counter.stop()
    return time.perf_counter() - started


Counter = TrioTaskCounter | LiveTaskCounter


def ratio(name: str, run: Callable[[], object], make: Callable[[], Counter], rounds: int) -> None:
    plain: list[float] = []
    counted: list[float] = []
    timed(run, None)  # warm-up
    for _ in range(rounds):
        plain.append(timed(run, None))
        counted.append(timed(run, make()))
    p, c = statistics.median(plain), statistics.median(counted)
    print(f"{name}: plain {p * 1e3:.0f} ms, counted {c * 1e3:.0f} ms, ratio: {c / p:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    n = args.n
    ratio(f"trio nursery of {n}", lambda: trio.run(trio_nursery, n), TrioTaskCounter, args.rounds)
    ratio(f"uvloop gather of {n}", lambda: uvloop.run(uvloop_gather(n)), LiveTaskCounter, args.rounds)


if __name__ == "__main__":
    main()
