"""What it costs to make a measured test's memory figure independent of what ran before.

Two steps, measured apart:

- ``in-process``: before every window the plugin compacts asyncio's task registry and
  trims the C heap (``Window.start``), and it reads pymalloc's free space at the start
  and the end of the window (``FreeSpaceTracker``). Timed here after a gather of N
  tasks, the median of ``--rounds`` calls, in milliseconds. During the window the free
  space is read again every sampler tick and at most every 2 ms of collections: timed
  as a gather of N tasks with the tracker following it against one without,
  alternated, the ratio of the medians.
- ``isolated``: a test with a ``hard_limit`` runs alone in a forked child whose heap is
  settled (what it inherits frozen, pymalloc's free blocks filled) before the cap applies;
  its ``rss_growth`` is then the same whatever ran before. Timed as two pytest runs of
  the same ``--tests`` tests of N tasks, one in-process and one with
  ``--boundedload-hard-limit``, alternated ``--rounds`` times; it prints the extra
  milliseconds per test and the ratio of the medians.

    python bench/settle.py [--n 20000] [--tests 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from pytest_runs import pytest_seconds

from pytest_boundedload.measure.heap import trim_c_heap
from pytest_boundedload.measure.pyfree import FreeSpaceTracker
from pytest_boundedload.measure.registry import compact_task_registry

TESTS = """
import asyncio, pytest

@pytest.mark.parametrize("i", range({tests}))
def test_flood(flood, i):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks({n})])
    asyncio.run(main())
"""


async def _gather(n: int) -> None:
    async def work() -> None:
        await asyncio.sleep(0)

    await asyncio.gather(*[work() for _ in range(n)])


def in_process(n: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        asyncio.run(_gather(n))
        started = time.perf_counter()
        compact_task_registry()
        trim_c_heap()
        tracker = FreeSpaceTracker()
        tracker.start()
        tracker.stop()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def following(n: int, rounds: int) -> tuple[float, float]:
    """Median seconds of a gather of ``n`` tasks without and with the tracker on."""
    plain: list[float] = []
    followed: list[float] = []
    arms = [(False, plain), (True, followed)]
    for round_no in range(rounds):
        # Which arm goes first alternates, so neither always runs on a warmer machine.
        for on, times in arms if round_no % 2 == 0 else arms[::-1]:
            tracker = FreeSpaceTracker()
            started = time.perf_counter()
            if on:
                tracker.start()
            asyncio.run(_gather(n))
            if on:
                tracker.stop()
            times.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(followed)


def session(project: str, *extra: str) -> float:
    """Seconds of one pytest run on ``project``."""
    return pytest_seconds(project, *extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    step = in_process(args.n, max(args.rounds, 5))
    print(f"in-process step after {args.n} tasks: {step * 1e3:.2f} ms per window")
    without, followed = following(args.n, max(args.rounds, 11))
    print(f"gather of {args.n} tasks: {without * 1e3:.1f} ms, free space followed {followed * 1e3:.1f} ms")
    print(f"following the free space: ratio: {followed / without:.3f}")
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_settle.py"), "w") as f:
            f.write(TESTS.format(n=args.n, tests=args.tests))
        plain: list[float] = []
        isolated: list[float] = []
        runs: list[tuple[list[float], tuple[str, ...]]] = [
            (plain, ()),
            (isolated, ("--boundedload-hard-limit=1GiB",)),
        ]
        for round_no in range(args.rounds):
            for times, extra in runs if round_no % 2 == 0 else runs[::-1]:
                times.append(session(project, *extra))
    a, b = statistics.median(plain), statistics.median(isolated)
    extra = (b - a) / args.tests
    print(f"{args.tests} tests of {args.n} tasks: in-process {a:.2f} s, isolated {b:.2f} s")
    print(f"isolated: {extra * 1e3:.1f} ms more per test, ratio: {b / a:.2f}")


if __name__ == "__main__":
    main()
