"""What the plugin adds to every pytest run where it is installed.

- ``import``: ``python -X importtime -c "import pytest; import pytest_boundedload.plugin"``,
  the cumulative microseconds of ``pytest_boundedload.plugin`` (imported after pytest, so
  only what the plugin adds), the median of ``--rounds`` runs;
- ``collect``: ``pytest --collect-only`` on ``--tests`` trivial tests, with the plugin and
  with ``-p no:boundedload``, alternated ``--rounds`` times; the ratio of the least CPU
  times (user and system: the runs least disturbed by the rest of the machine, whose
  wall and even CPU times vary by tens of per cent from run to run), and of the medians.

Both run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` unset), as an installed
plugin normally runs; a first untimed run writes the caches.

    python bench/startup.py [--tests 1000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

from pytest_runs import pytest_cpu_seconds

_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
_PLUGIN_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| pytest_boundedload\.plugin$", re.MULTILINE)


def import_us() -> int:
    """Microseconds ``import pytest_boundedload.plugin`` takes after ``import pytest``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest; import pytest_boundedload.plugin"],
        capture_output=True,
        text=True,
        check=True,
        env=_ENV,
    )
    match = _PLUGIN_LINE.search(done.stderr)
    if match is None:
        raise SystemExit("no import time line for pytest_boundedload.plugin")
    return int(match[1])


def collect(project: str, *extra: str) -> float:
    """CPU seconds of ``pytest --collect-only`` on ``project``."""
    return pytest_cpu_seconds(project, "--collect-only", *extra, env=_ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    import_us()  # writes the bytecode caches
    imports = [import_us() for _ in range(args.rounds)]
    print(f"import pytest_boundedload.plugin after pytest: {statistics.median(imports) / 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "test_many.py"), "w") as f:
            f.write("".join(f"def test_{i}():\n    pass\n\n" for i in range(args.tests)))
        collect(project)
        on: list[float] = []
        off: list[float] = []
        for _ in range(args.rounds):
            off.append(collect(project, "-p", "no:boundedload"))
            on.append(collect(project))
    for label, pick in (("least", min), ("median", statistics.median)):
        a, b = pick(off), pick(on)
        print(f"--collect-only, {args.tests} tests, {label} CPU time: plugin off {a:.3f} s, on {b:.3f} s")
        print(f"ratio ({label}): {b / a:.3f}")


if __name__ == "__main__":
    main()
