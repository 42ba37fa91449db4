"""What ``flood.count`` adds to each call of the real code, for the cheapest calls there are.

Calls a no-op sync function and awaits a no-op coroutine function N times, plain and
counted (the wrapper ``flood.count`` installs, counting into an in-flight counter), rounds
alternating. Prints the per-call time of each arm and the ratio of the medians; real code
(an HTTP request, a model call) costs thousands of times a no-op, so the ratio is an upper
bound of the overhead, not a typical one.

    python bench/count_overhead.py [--n 200000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable

import pytest

from pytest_boundedload.flood.count import install_count
from pytest_boundedload.measure.inflight import InFlightCounter


def work(i: int) -> int:
    return i


async def fetch(i: int) -> int:
    return i


def _sync_round(n: int) -> float:
    call = sys.modules[__name__].work
    start = time.perf_counter()
    for i in range(n):
        call(i)
    return time.perf_counter() - start


def _async_round(n: int) -> float:
    async def main() -> float:
        call = sys.modules[__name__].fetch
        start = time.perf_counter()
        for i in range(n):
            await call(i)
        return time.perf_counter() - start

    return asyncio.run(main())


def _compare(name: str, round_: Callable[[int], float], n: int, rounds: int) -> None:
    plain: list[float] = []
    counted: list[float] = []
    counter = InFlightCounter()
    for _ in range(rounds):
        plain.append(round_(n))
        with pytest.MonkeyPatch.context() as monkeypatch:
            install_count((sys.modules[__name__], name), counter=counter, monkeypatch=monkeypatch)
            counted.append(round_(n))
    assert counter.read().started == n * rounds
    p, c = statistics.median(plain) / n * 1e9, statistics.median(counted) / n * 1e9
    print(f"{name}: plain {p:.0f} ns/call, counted {c:.0f} ns/call, ratio: {c / p:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    _compare("work", _sync_round, args.n, args.rounds)
    _compare("fetch", _async_round, args.n, args.rounds)


if __name__ == "__main__":
    main()
