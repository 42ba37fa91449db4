"""The fixed cost of a measured test: a suite of small tests measured with
``--boundedload-all`` against the same suite with the plugin off.

Each arm runs pytest on ``--small`` and on ``--large`` no-op tests, ``--rounds`` times,
interleaved so the arms share any drift of the machine, and keeps each run's CPU
seconds (user and system: on a shared machine the wall time also counts the waits for a
core). The cost per test is the slope between the two sizes, so what a session pays
once (imports, start-up) is apart from what every test pays:

- ``plugin off``: ``-p no:boundedload``;
- ``plugin on, nothing measured``: loaded, but no test uses ``flood`` or the marker;
- ``--boundedload-all``: every test measured (its window opened and closed, its figures
  judged, attached to the report and summarised).

Each round runs the arms of one size back to back (which arm goes first turns with each
round), so its differences to ``plugin off``
share the machine's state of the moment (a shared machine's speed drifts by tens of per
cent over minutes); per round, the extra cost per test of an arm is the slope of those
differences between the two sizes. It prints the median of the rounds, and their range.

    python bench/fixed_cost.py [--small 200] [--large 1200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from pytest_runs import pytest_cpu_seconds

TESTS = """
import pytest


@pytest.mark.parametrize("i", range({tests}))
def test_small(i):
    assert i >= 0
"""

ARMS = {
    "plugin off": ("-p", "no:boundedload"),
    "plugin on, nothing measured": (),
    "--boundedload-all": ("--boundedload-all",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sizes = (args.small, args.large)
    extra: dict[str, list[float]] = {arm: [] for arm in ARMS if arm != "plugin off"}
    base: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as root:
        projects = {}
        for n in sizes:
            projects[n] = os.path.join(root, f"tests_{n}")
            os.mkdir(projects[n])
            with open(os.path.join(projects[n], "test_small.py"), "w") as f:
                f.write(TESTS.format(tests=n))
        for round_no in range(args.rounds):
            # Which arm runs first within a size turns with each round, so no arm always
            # runs right after the same other one.
            turn = list(ARMS)[round_no % len(ARMS) :] + list(ARMS)[: round_no % len(ARMS)]
            seconds = {(arm, n): pytest_cpu_seconds(projects[n], *ARMS[arm]) for n in sizes for arm in turn}
            for n in sizes:
                base[n].append(seconds["plugin off", n])
            for arm in extra:
                more = [seconds[arm, n] - seconds["plugin off", n] for n in sizes]
                extra[arm].append((more[1] - more[0]) / (args.large - args.small))
    cells = ", ".join(f"{n} tests {statistics.median(base[n]):.2f} s" for n in sizes)
    print(f"plugin off (median CPU time): {cells}")
    for arm, slopes in extra.items():
        low, high, middle = min(slopes) * 1e3, max(slopes) * 1e3, statistics.median(slopes) * 1e3
        print(f"{arm}: {middle:+.2f} ms per test ({low:+.2f} to {high:+.2f} over {args.rounds} rounds)")
    print(f"fixed cost per measured test: {statistics.median(extra['--boundedload-all']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
