"""Does the baseline gate cry wolf on unchanged real code, and does it catch real changes?

On a copy of ``fixtures/real_code`` (fifteen flood tests on real library code):

1. ``--boundedload-save`` once, serial, in the files' order (pytest-randomly off);
2. ``--runs`` compares of the unchanged code, each in a shuffled order with its own
   pytest-randomly seed, the first three fifths serial and the rest under ``-n 2``. Every
   line containing ``baseline regression:`` is a false alarm: they are counted and listed;
3. each planted regression (``REAL_CODE_PLANT``: unbound, raise10x, payload2x, leak10)
   compared alone, serial and under ``-n 2``, both shuffled: caught when a regression
   line names the planted test and one of the figures the plant moves.

It prints, per test and figure, the range (min..max) over the saved run and the
compares of the unchanged code, so the noise of each figure shows, and a summary table.
``--extra`` adds arguments to every pytest run, e.g. ``--extra='-o
boundedload_hard_limit=4GiB'`` runs each test in a forked child of its own; ``--notes
FILE`` also appends the summary to FILE.

    python bench/gate_noise.py [--runs 5] [--seed 1] [--extra ARGS] [--notes FILE] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_boundedload.baseline.store import COMPARED
from pytest_boundedload.measure.measurement import format_figure

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "real_code"
MARK = "baseline regression:"
# The figures the gate compares (heap_peak only where traced, which these runs are not).
FIGURES = tuple(figure for figure in COMPARED if figure != "heap_peak")
# Each plant: the test it changes and the figures it moves (any one of them is a catch).
PLANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unbound": ("test_summarise_abatch", ("max_in_flight", "max_tasks")),
    "raise10x": ("test_aiostream_map", ("max_in_flight", "max_tasks", "max_held")),
    "payload2x": ("test_upload_bodies", ("rss_growth",)),
    "leak10": ("test_aiometer_amap", ("rss_growth",)),
}


@dataclass
class Run:
    """One pytest run: what it was, the regression lines it printed, its figures."""

    label: str
    returncode: int
    seconds: float
    lines: list[str]  # every output line with MARK, as printed (one per test and figure)
    regressions: dict[str, list[str]]  # test name -> its regression lines (from the JSON)
    figures: dict[str, dict[str, Any]]  # test name -> Measurement dict
    outcomes: dict[str, str] = field(default_factory=dict)
    tail: str = ""




def _show(figure: str, value: int) -> str:
    return format_figure(figure, value)


def _run(project: Path, label: str, args: Sequence[str], extra: Sequence[str], plant: str = "") -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("REAL_CODE_PLANT", "PYTEST_ADDOPTS")}
    if plant:
        env["REAL_CODE_PLANT"] = plant
    report = project / "report.json"
    report.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:langsmith_plugin",
        f"--boundedload-json={report}",
        *args,
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    lines = [line.strip() for line in output.splitlines() if MARK in line]
    regressions: dict[str, list[str]] = {}
    figures: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, str] = {}
    if report.exists():
        for test in json.loads(report.read_text())["tests"]:
            name = test["nodeid"].split("::", 1)[-1]
            figures[name] = test["measurement"]
            outcomes[name] = test["outcome"]
            found = [line for line in test["violations"] if MARK in line]
            if found:
                regressions[name] = found
    tail = "\n".join(output.splitlines()[-3:])
    return Run(label, done.returncode, seconds, lines, regressions, figures, outcomes, tail)


def _say(run: Run) -> None:
    count = sum(len(found) for found in run.regressions.values())
    failed = sorted(name for name, outcome in run.outcomes.items() if outcome != "passed")
    print(
        f"  {run.label:<34} {run.seconds:5.1f} s  exit {run.returncode}  {count} regression line(s)"
        f"{'  failed: ' + ', '.join(failed) if failed else ''}"
    )
    for name, found in sorted(run.regressions.items()):
        for line in found:
            print(f"      {name}: {line}")
    if not run.figures:
        print("      no JSON report; the run ended with:\n" + run.tail)


def _ranges(runs: Sequence[Run]) -> dict[str, dict[str, tuple[int, int]]]:
    ranges: dict[str, dict[str, tuple[int, int]]] = {}
    for run in runs:
        for name, figures in run.figures.items():
            for figure in (*FIGURES, "tasks_started"):
                value = figures.get(figure)
                if value is None:
                    continue
                low, high = ranges.setdefault(name, {}).get(figure, (value, value))
                ranges[name][figure] = (min(low, value), max(high, value))
    return ranges


def _range_lines(saved: Run, runs: Sequence[Run]) -> list[str]:
    ranges = _ranges(runs)
    lines = []
    for name in sorted(ranges):
        started = ranges[name].get("tasks_started", (0, 0))
        n = str(started[0]) if started[0] == started[1] else f"{started[0]}..{started[1]}"
        lines.append(f"{name} (N={n})")
        for figure in FIGURES:
            if figure not in ranges[name]:
                continue
            low, high = ranges[name][figure]
            base = saved.figures.get(name, {}).get(figure)
            spread = _show(figure, low) if low == high else f"{_show(figure, low)}..{_show(figure, high)}"
            lines.append(
                f"    {figure:<18} saved {_show(figure, base) if base is not None else '-':>10}"
                f"   compares {spread}"
            )
    return lines


def _caught(run: Run, plant: str) -> tuple[bool, list[str]]:
    test, moved = PLANTS[plant]
    found = run.regressions.get(test, [])
    hit = any(line.split(MARK, 1)[1].split()[0] in moved for line in found)
    return hit, found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="compares of the unchanged code (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="the first pytest-randomly seed (default 1)")
    parser.add_argument("--extra", default="", help="arguments added to every pytest run")
    parser.add_argument("--notes", type=Path, help="also append the summary to this file")
    parser.add_argument("--keep", action="store_true", help="keep the project's copy")
    parser.add_argument("--plants", default=",".join(PLANTS), help="which plants (default: all)")
    args = parser.parse_args()
    extra = shlex.split(args.extra)
    plants = [p for p in args.plants.split(",") if p]
    xdist_runs = args.runs * 2 // 5
    serial_runs = args.runs - xdist_runs

    workdir = Path(tempfile.mkdtemp(prefix="gate_noise_"))
    project = workdir / "real_code"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__", ".boundedload"))
    print(f"project copy: {project}   extra: {shlex.join(extra) or '(none)'}")
    try:
        print("save (serial, files' order):")
        saved = _run(project, "save", ["-p", "no:randomly", "--boundedload-save"], extra)
        _say(saved)
        if saved.returncode != 0:
            raise SystemExit("the save run failed: the corpus must pass its limits")

        print("compares of the unchanged code (shuffled):")
        compares: list[Run] = []
        for i in range(args.runs):
            seed = args.seed + i
            xdist = ["-n", "2"] if i >= serial_runs else []
            label = f"compare seed={seed}{' -n 2' if xdist else ''}"
            run = _run(
                project,
                label,
                ["-p", "randomly", f"--randomly-seed={seed}", "--boundedload-compare", *xdist],
                extra,
            )
            _say(run)
            compares.append(run)

        print("planted regressions (shuffled):")
        planted: list[tuple[str, Run]] = []
        for plant in plants:
            for xdist in ([], ["-n", "2"]):
                seed = args.seed + 100 + len(planted)
                label = f"{plant} seed={seed}{' -n 2' if xdist else ''}"
                run = _run(
                    project,
                    label,
                    ["-p", "randomly", f"--randomly-seed={seed}", "--boundedload-compare", *xdist],
                    extra,
                    plant=plant,
                )
                _say(run)
                planted.append((plant, run))

        summary = _summary(args, extra, saved, compares, planted)
        print("\n".join(summary))
        if args.notes is not None:
            with args.notes.open("a") as notes:
                notes.write("\n".join(summary) + "\n\n")
    finally:
        if args.keep:
            print(f"kept: {project}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _summary(
    args: argparse.Namespace,
    extra: Sequence[str],
    saved: Run,
    compares: Sequence[Run],
    planted: Sequence[tuple[str, Run]],
) -> list[str]:
    lines = [
        "",
        f"=== gate_noise {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"  extra: {shlex.join(extra) or '(none)'}  runs: {args.runs}",
        "",
        "unchanged code: regression lines per compare (false alarms)",
    ]
    total = 0
    for run in compares:
        count = sum(len(found) for found in run.regressions.values())
        total += count
        lines.append(f"  {run.label:<28} {count:>3}   ({len(run.lines)} output lines with {MARK!r})")
        for name, found in sorted(run.regressions.items()):
            lines.extend(f"      {name}: {line.split(MARK, 1)[1].strip()}" for line in found)
    lines.append(f"  total: {total} false alarm(s) in {len(compares)} compares")
    lines += ["", "planted regressions", f"  {'plant':<10} {'run':<14} {'caught':<7} lines"]
    for plant, run in planted:
        hit, found = _caught(run, plant)
        others = {name: f for name, f in run.regressions.items() if name != PLANTS[plant][0]}
        where = "-n 2" if "-n 2" in run.label else "serial"
        shown = "; ".join(line.split(MARK, 1)[1].strip() for line in found) or "-"
        lines.append(f"  {plant:<10} {where:<14} {'yes' if hit else 'NO':<7} {shown}")
        if others:
            count = sum(map(len, others.values()))
            lines.append(f"      and {count} line(s) in other tests: {sorted(others)}")
    lines += ["", "per test and figure: the saved value and min..max over the compares of unchanged code"]
    lines += ["  " + line for line in _range_lines(saved, compares)]
    return lines


if __name__ == "__main__":
    main()
