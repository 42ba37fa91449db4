"""What the plugin adds to every pytest run where it is installed.

- ``import``: ``python -X importtime -c "import pytest; import pytest_boundedload.plugin"``,
  the cumulative microseconds of ``pytest_boundedload.plugin`` (imported after pytest, so
  only what the plugin adds), the median of ``--rounds`` runs;
- ``collect``: ``pytest --collect-only`` on ``--tests`` trivial tests, with the plugin and
  with ``-p no:boundedload``, back to back ``--rounds`` times (which goes first
  alternates); per round the ratio of the two runs' CPU times (user and system), so both
  share the machine's state of the moment (a shared machine's speed drifts by tens of per
  cent over minutes). It prints the median ratio and the range.

- ``--instructions``: besides, each ``collect`` arm once under valgrind's callgrind (if
  ``valgrind`` is installed), which counts the instructions a run executes: the same
  from run to run, whatever the machine does meanwhile (it does not count cache
  misses). It prints their ratio.

Both run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` unset), as an installed
plugin normally runs; a first untimed run writes the caches.

    python bench/startup.py [--tests 1000] [--rounds 11] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from pytest_runs import pytest_cpu_seconds

_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
_PLUGIN_LINE = re.compile(rb"^import time:\s+\d+ \|\s+(\d+) \| pytest_boundedload\.plugin$", re.MULTILINE)


def _number_in_stderr(command: list[str], pattern: re.Pattern[bytes], missing: str) -> int:
    """Run ``command``; the number ``pattern`` finds in its standard error."""
    done = subprocess.run(command, capture_output=True, check=True, env=_ENV)
    match = pattern.search(done.stderr)
    if match is None:
        raise SystemExit(missing)
    return int(match[1])


def import_us() -> int:
    """Microseconds ``import pytest_boundedload.plugin`` takes after ``import pytest``."""
    command = [sys.executable, "-X", "importtime", "-c", "import pytest; import pytest_boundedload.plugin"]
    return _number_in_stderr(command, _PLUGIN_LINE, "no import time line for pytest_boundedload.plugin")


def collect(project: str, *extra: str) -> float:
    """CPU seconds of ``pytest --collect-only`` on ``project``."""
    return pytest_cpu_seconds(project, "--collect-only", *extra, env=_ENV)


_COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(project: str, *extra: str) -> int:
    """Instructions ``pytest --collect-only`` on ``project`` executes (callgrind)."""
    with tempfile.TemporaryDirectory() as out:
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out"]
        pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", project, "--collect-only", *extra]
        command = [*valgrind, sys.executable, *pytest_args]
        return _number_in_stderr(command, _COLLECTED, "no count from valgrind")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    import_us()  # writes the bytecode caches
    imports = [import_us() for _ in range(args.rounds)]
    print(f"import pytest_boundedload.plugin after pytest: {statistics.median(imports) / 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_many.py"), "w") as f:
            f.write("".join(f"def test_{i}():\n    pass\n\n" for i in range(args.tests)))
        collect(project)
        ratios: list[float] = []
        for round_ in range(args.rounds):
            if round_ % 2:
                on = collect(project)
                off = collect(project, "-p", "no:boundedload")
            else:
                off = collect(project, "-p", "no:boundedload")
                on = collect(project)
            ratios.append(on / off)
        if args.instructions:
            if shutil.which("valgrind") is None:
                raise SystemExit("--instructions needs valgrind")
            counts = instructions(project, "-p", "no:boundedload"), instructions(project)
            print(f"--collect-only, instructions: plugin off {counts[0]:,}, on {counts[1]:,}")
            print(f"instruction ratio: {counts[1] / counts[0]:.3f}")
    middle, low, high = statistics.median(ratios), min(ratios), max(ratios)
    print(f"--collect-only, {args.tests} tests, plugin on / off (CPU time): ratio: {middle:.3f}")
    print(f"  (median of {args.rounds} rounds; {low:.3f} to {high:.3f})")


if __name__ == "__main__":
    main()
