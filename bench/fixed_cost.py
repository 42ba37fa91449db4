"""The fixed cost of a measured test: a suite of small tests measured with
``--boundedload-all`` against the same suite with the plugin off.

Each arm runs pytest on ``--small`` and on ``--large`` no-op tests, ``--rounds`` times,
all alternated so the arms share any drift of the machine, and keeps each run's CPU
seconds (user and system: on a shared machine the wall time also counts the waits for a
core). The cost per test is the slope between the two sizes, so what a session pays
once (imports, start-up) is apart from what every test pays:

- ``plugin off``: ``-p no:boundedload``;
- ``plugin on, nothing measured``: loaded, but no test uses ``flood`` or the marker;
- ``--boundedload-all``: every test measured (its window opened and closed, its figures
  judged, attached to the report and summarised).

It prints, per arm, the least CPU time of each size (the run least disturbed by the
rest of the machine), the slope per test, and the extra per test over ``plugin off``;
and the same from the medians.

    python bench/fixed_cost.py [--small 200] [--large 1200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable, Sequence

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


def _slopes(
    times: dict[tuple[str, int], list[float]], sizes: Sequence[int], pick: Callable[[list[float]], float]
) -> dict[str, float]:
    small, large = sizes
    return {arm: (pick(times[arm, large]) - pick(times[arm, small])) / (large - small) for arm in ARMS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sizes = (args.small, args.large)
    times: dict[tuple[str, int], list[float]] = {(arm, n): [] for arm in ARMS for n in sizes}
    with tempfile.TemporaryDirectory() as root:
        projects = {}
        for n in sizes:
            projects[n] = os.path.join(root, f"tests_{n}")
            os.mkdir(projects[n])
            with open(os.path.join(projects[n], "test_small.py"), "w") as f:
                f.write(TESTS.format(tests=n))
        for _ in range(args.rounds):
            for n in sizes:
                for arm, extra in ARMS.items():
                    times[arm, n].append(pytest_cpu_seconds(projects[n], *extra))
    for label, pick in (("least", min), ("median", statistics.median)):
        slopes = _slopes(times, sizes, pick)
        print(f"{label} CPU time of {args.rounds} runs:")
        for arm in ARMS:
            cells = ", ".join(f"{n} tests {pick(times[arm, n]):.2f} s" for n in sizes)
            extra = (slopes[arm] - slopes["plugin off"]) * 1e3
            print(f"  {arm}: {cells}; {slopes[arm] * 1e3:.2f} ms per test, {extra:+.2f} ms over plugin off")
    least = _slopes(times, sizes, min)
    print(f"fixed cost per measured test: {(least['--boundedload-all'] - least['plugin off']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
