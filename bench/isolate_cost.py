"""What ``--boundedload-isolate`` costs per measured test, and where the time goes.

- ``sessions``: the same ``--tests`` measured tests (a gather of ``--n`` probe calls
  each) run in-process and with ``--boundedload-isolate``, both arms in this run,
  alternated ``--rounds`` times; it prints the median wall and CPU seconds of each arm,
  the extra milliseconds per test and the ratio of the medians.
- ``breakdown``: the parts of one isolated test, timed in this process (a heap of the
  size of ``--ballast`` small objects, like a session that collected a large suite): a
  forked child that does nothing (fork, exit, the parent's wait), the same child with
  the heap filled first (``heap.prepare``: a collection, ``malloc_trim`` and the
  ballast), and the fill alone, measured in the child. Medians of ``--rounds`` x 5.

    python bench/isolate_cost.py [--tests 20] [--n 2000] [--rounds 3] [--ballast 200000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from pytest_runs import pytest_cpu_seconds, pytest_seconds
from settle import TESTS  # the same sessions of gathers

from pytest_boundedload.isolate.capped import run_capped
from pytest_boundedload.measure import heap

# Plugins the runs do not need (hypothesis's costs seconds a session).
QUICK = ("-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:memray")


def sessions(tests: int, n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_cost.py"), "w") as f:
            f.write(TESTS.format(n=n, tests=tests))
        arms: list[tuple[str, tuple[str, ...], list[float], list[float]]] = [
            ("in-process", (), [], []),
            ("isolated", ("--boundedload-isolate",), [], []),
        ]
        for round_no in range(rounds):
            # Which arm goes first alternates, so neither always runs on a warmer machine.
            for _, extra, wall, cpu in arms if round_no % 2 == 0 else arms[::-1]:
                wall.append(pytest_seconds(project, *QUICK, *extra))
                cpu.append(pytest_cpu_seconds(project, *QUICK, *extra))
    (_, _, wall_a, cpu_a), (_, _, wall_b, cpu_b) = arms
    a, b = statistics.median(wall_a), statistics.median(wall_b)
    ca, cb = statistics.median(cpu_a), statistics.median(cpu_b)
    print(f"{tests} tests of {n} tasks: in-process {a:.2f} s ({ca:.2f} s CPU),", end=" ")
    print(f"isolated {b:.2f} s ({cb:.2f} s CPU)")
    print(f"isolated: {(b - a) / tests * 1e3:.1f} ms more per test (wall), ratio: {b / a:.2f}")
    print(f"isolated: {(cb - ca) / tests * 1e3:.1f} ms more per test (CPU), ratio: {cb / ca:.2f}")


def _nothing(send: Callable[[Any], None]) -> None:
    return None


_FILLED: list[float] = []


def _timed_prepare() -> object:
    started = time.perf_counter()
    ballast = heap.prepare()
    _FILLED.append(time.perf_counter() - started)
    return ballast


def _fill_time(send: Callable[[Any], None]) -> float:
    return _FILLED[-1]


def _median_ms(call: Callable[[], object], times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1e3


def breakdown(ballast: int, rounds: int) -> None:
    kept = [(i, str(i)) for i in range(ballast)]  # the session's heap
    objects = [(i, str(i)) for i in range(ballast)]
    del objects  # and free space in it, as after a collection that freed a lot
    times = max(5, rounds * 5)
    bare = _median_ms(lambda: run_capped(_nothing, cap=None), times)
    filled = _median_ms(lambda: run_capped(_nothing, cap=None, prepare=heap.prepare), times)
    fills = [run_capped(_fill_time, cap=None, prepare=_timed_prepare).value for _ in range(times)]
    fill = statistics.median(fills) * 1e3
    print(f"breakdown ({len(kept)} objects kept): forked child that does nothing {bare:.1f} ms,")
    print(f"  with the heap filled first {filled:.1f} ms, of which the fill in the child {fill:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ballast", type=int, default=200_000)
    args = parser.parse_args()
    breakdown(args.ballast, args.rounds)
    sessions(args.tests, args.n, args.rounds)


if __name__ == "__main__":
    main()
