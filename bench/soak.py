"""What a long session keeps per measured test: the memory and the objects still alive at
the end of a run of ``--small`` and of ``--large`` measured tests, against the same
suite with the plugin off.

The sample suite's conftest starts ``tracemalloc`` when it is imported and, once every
other ``pytest_sessionfinish`` has run, collects the garbage and writes three figures to
a file: the bytes ``tracemalloc`` still traces, the objects the garbage collector tracks
(``len(gc.get_objects())``) and the memory blocks Python has allocated
(``sys.getallocatedblocks()``, which counts strings and numbers too). Every test is
``@pytest.mark.boundedload(max_rss="8 GiB")``. What a session keeps per test is the
slope of a figure between the two sizes (what a session pays once cancels), less the
same slope with the plugin off (``-p no:boundedload``: what pytest itself keeps per test,
its reports among it). The arms:

- ``plugin off``: ``-p no:boundedload``;
- ``measured``: every test measured, judged, reported and summarised;
- ``--boundedload-json``: the same, with the JSON report, which keeps each test's
  verdict until it is written at the end;
- ``--boundedload-save``: the same, saving a new baseline, which keeps each test's
  figures until they are merged at the end.

The figures are those of one process, so they barely vary between rounds; each round
runs the arms of one size back to back, in an order that turns by one every round. It
prints the median per test of every arm over the rounds, and their range. To find what
is kept, ``--snapshots DIR`` also dumps each run's ``tracemalloc`` snapshot
(``--frames`` deep), to compare the two sizes with ``Snapshot.compare_to``.

    python bench/soak.py [--small 500] [--large 2000] [--rounds 3] [--snapshots DIR [--frames 25]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

from pytest_runs import pytest_seconds

CONFTEST = """
import gc
import json
import os
import sys
import tracemalloc

import pytest

tracemalloc.start(int(os.environ.get("SOAK_FRAMES", "1")))


def pytest_configure(config):
    # The marker's line, also when the plugin is off (no unknown-marker warning then).
    config.addinivalue_line("markers", "boundedload: the plugin's marker")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session):
    result = yield  # after every other plugin's pytest_sessionfinish
    gc.collect()
    figures = {
        "bytes": tracemalloc.get_traced_memory()[0],
        "objects": len(gc.get_objects()),
        "blocks": sys.getallocatedblocks(),
    }
    snapshot = os.environ.get("SOAK_SNAPSHOT")
    if snapshot:
        tracemalloc.take_snapshot().dump(snapshot)
    with open(os.environ["SOAK_FIGURES"], "w") as f:
        json.dump(figures, f)
    return result
"""

TESTS = """
import pytest


@pytest.mark.boundedload(max_rss="8 GiB")
@pytest.mark.parametrize("i", range({tests}))
def test_soak(i):
    assert i >= 0
"""

ARMS = {
    "plugin off": ("-p", "no:boundedload"),
    "measured": (),
    "--boundedload-json": ("--boundedload-json", "{root}/report.json"),
    "--boundedload-save": ("--boundedload-save", "--boundedload-baseline", "{root}/baseline.json"),
}

FIGURES = ("bytes", "objects", "blocks")


def make_project(root: str, tests: int) -> str:
    """A sample suite of ``tests`` measured tests with the measuring conftest."""
    project = os.path.join(root, f"soak_{tests}")
    os.mkdir(project)
    with open(os.path.join(project, "conftest.py"), "w") as f:
        f.write(CONFTEST)
    with open(os.path.join(project, "test_soak.py"), "w") as f:
        f.write(TESTS.format(tests=tests))
    return project


def kept(project: str, arm: str, root: str, *, snapshot: str = "", frames: int = 1) -> dict[str, int]:
    """The figures at the end of one run of ``project`` in ``arm``."""
    out = os.path.join(root, "figures.json")
    for name in ("report.json", "baseline.json"):  # each run writes its own, from nothing
        if os.path.exists(os.path.join(root, name)):
            os.remove(os.path.join(root, name))
    env = {**os.environ, "SOAK_FIGURES": out, "SOAK_SNAPSHOT": snapshot, "SOAK_FRAMES": str(frames)}
    pytest_seconds(project, "-p", "no:randomly", *(a.format(root=root) for a in ARMS[arm]), env=env)
    with open(out) as f:
        figures: dict[str, int] = json.load(f)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--snapshots", metavar="DIR", help="dump a tracemalloc snapshot of every run there")
    parser.add_argument("--frames", type=int, default=1, help="frames tracemalloc keeps per allocation")
    args = parser.parse_args()
    sizes = (args.small, args.large)
    arms = list(ARMS)
    # slopes[arm][figure]: per round, the figure's growth per test beyond plugin off's
    slopes: dict[str, dict[str, list[float]]] = {arm: {f: [] for f in FIGURES} for arm in arms[1:]}
    base: dict[str, list[float]] = {f: [] for f in FIGURES}
    with tempfile.TemporaryDirectory() as root:
        projects = {n: make_project(root, n) for n in sizes}
        for round_ in range(args.rounds):
            order = arms[round_ % len(arms) :] + arms[: round_ % len(arms)]
            figures = {}
            for n in sizes:
                for arm in order:
                    snapshot = ""
                    if args.snapshots:
                        name = arm.strip("-").replace(" ", "_")
                        snapshot = os.path.join(args.snapshots, f"{name}_{n}.snapshot")
                    figures[arm, n] = kept(projects[n], arm, root, snapshot=snapshot, frames=args.frames)
            span = args.large - args.small
            for f in FIGURES:
                off = (figures["plugin off", args.large][f] - figures["plugin off", args.small][f]) / span
                base[f].append(off)
                for arm in arms[1:]:
                    slope = (figures[arm, args.large][f] - figures[arm, args.small][f]) / span
                    slopes[arm][f].append(slope - off)
    print(
        f"plugin off, kept per test by pytest itself: {statistics.median(base['bytes']):.0f} bytes,"
        f" {statistics.median(base['objects']):.1f} objects, {statistics.median(base['blocks']):.1f} blocks"
    )
    for arm, per_figure in slopes.items():
        cells = []
        for f in FIGURES:
            values = per_figure[f]
            cells.append(f"{statistics.median(values):+.1f} {f} ({min(values):+.1f} to {max(values):+.1f})")
        print(f"{arm}: per test, beyond plugin off: " + ", ".join(cells))
    measured = slopes["measured"]
    print(
        f"kept per measured test: {statistics.median(measured['bytes']) / 1024:+.2f} KB,"
        f" {statistics.median(measured['objects']):+.1f} objects"
        f" ({args.small} and {args.large} tests, {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
