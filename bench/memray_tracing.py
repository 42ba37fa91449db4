"""What memray tracing costs: one flood test of N tasks with and without
``--boundedload-memray``.

Two arms run the same test file in a pytest child each round, alternated to share any
drift of the machine: measured as usual, and traced with memray (the aggregated capture
of every Python object, read back at the end of the window). Each child reports the
test's call phase as pytest timed it (the window, the tracer's start, stop and reading
included), so interpreter start-up and collection are left out. The last line is the
ratio of the medians (``ratio: R``; the README gives the figure as measured).

    python bench/memray_tracing.py [--n 20000] [--payload 0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from pytest_runs import pytest_seconds

TEST = """
import asyncio


def test_flood(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks({n}, payload={payload})])

    asyncio.run(main())
"""

CONFTEST = """
import os


def pytest_runtest_logreport(report):
    if report.when == "call":
        with open(os.environ["BENCH_DURATION"], "w") as f:
            f.write(repr(report.duration))
"""


def one_run(project: str, *extra: str) -> float:
    """The flood test's call-phase seconds in a fresh pytest process."""
    out = os.path.join(project, "duration")
    pytest_seconds(project, *extra, env={**os.environ, "BENCH_DURATION": out})
    with open(out) as f:
        return float(f.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=0, help="bytes each task holds in flight")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain: list[float] = []
    traced: list[float] = []
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_flood.py"), "w") as f:
            f.write(TEST.format(n=args.n, payload=args.payload))
        with open(os.path.join(project, "conftest.py"), "w") as f:
            f.write(CONFTEST)
        arms: list[tuple[list[float], tuple[str, ...]]] = [(plain, ()), (traced, ("--boundedload-memray",))]
        for round_no in range(args.rounds):
            # Which arm goes first alternates, so neither always runs on a warmer machine.
            for times, extra in arms if round_no % 2 == 0 else arms[::-1]:
                times.append(one_run(project, *extra))
    a, b = statistics.median(plain), statistics.median(traced)
    print(f"{args.n} tasks, payload {args.payload} B: measured {a * 1e3:.0f} ms, traced {b * 1e3:.0f} ms")
    print(f"ratio: {b / a:.2f}")


if __name__ == "__main__":
    main()
