"""The fixed cost of a measured test: a suite of small tests measured with
``--boundedload-all`` against the same suite with the plugin off.

Three arms, each a pytest child on the same ``--tests`` no-op tests, alternated over
``--rounds`` to share any drift of the machine: ``-p no:boundedload`` (the plugin not
loaded), the plugin loaded but measuring nothing (no test uses ``flood`` or the marker),
and ``--boundedload-all`` (every test measured: its window opened and closed, its
figures judged, attached to the report and summarised). It prints the median session
times and the extra milliseconds per test of the last two arms over the first.

    python bench/fixed_cost.py [--tests 600] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from pytest_runs import pytest_seconds

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


def session(project: str, *extra: str) -> float:
    """Seconds of one pytest run on ``project``."""
    return pytest_seconds(project, *extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_small.py"), "w") as f:
            f.write(TESTS.format(tests=args.tests))
        for _ in range(args.rounds):
            for arm, extra in ARMS.items():
                times[arm].append(session(project, *extra))
    base = statistics.median(times["plugin off"])
    for arm in ARMS:
        median = statistics.median(times[arm])
        extra_ms = (median - base) * 1e3 / args.tests
        print(f"{arm}: {median:.2f} s, {extra_ms:+.2f} ms per test")
    measured = statistics.median(times["--boundedload-all"])
    print(f"fixed cost per measured test: {(measured - base) * 1e3 / args.tests:.2f} ms")


if __name__ == "__main__":
    main()
