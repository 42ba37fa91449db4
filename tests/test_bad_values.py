"""Bad limit and setting values: a usage error (exit code 4) with one exact ``ERROR:`` line.

Every message names where the value came from (the test's node id, the ini key or the
command-line option), the key and the value, so it is asserted verbatim.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.compare import parse_tolerance
from pytest_boundedload.jsonfile import MAX_BYTES
from pytest_boundedload.memtrace.capture import HeapCapture, worker_label
from pytest_boundedload.units import InvalidValue

if TYPE_CHECKING:
    from conftest import Project, Run

KNOWN = (
    "max_rss, max_rss_growth, max_in_flight, max_tasks, max_threads, max_processes,"
    " max_held, max_requests, max_heap, max_bytes_per_task, hard_limit, memray, isolate"
)
SIZE_HINT = "use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"
DURATION_HINT = "use s, ms, us, ns or min"
ON_X = "from marker on test_bad.py::test_x"
NINES = "9" * 5000  # int() refuses more than 4,300 digits with a ValueError of its own
TOO_LARGE = "too large (at most 1,099,511,627,776)"
CAP_EMPTY = "empty (unset it, or set auto, cgroup or rlimit)"
TOML_SIZE = "a size must be a TOML integer (bytes) or string ('512 MiB')"
# Hypothesis's plugin re-imports hypothesis at the end of every in-process run (pytester
# restores sys.modules), about a second each; these sample projects do not use it.
FAST = ("-p", "no:hypothesispytest")

MARKED_TEST = """
import pytest


@pytest.mark.boundedload({args})
def test_x():
    pass
"""

GOOD_TESTS = """
import asyncio

import pytest


def test_plain():
    pass


@pytest.mark.boundedload(max_tasks=5, max_rss="64 GiB")
def test_marked():
    pass


def test_flooded(flood):
    async def main():
        await asyncio.gather(*(flood.aworker(t) for t in flood.tasks(3)))

    asyncio.run(main())
"""


def assert_usage_error(run: Run, message: str) -> None:
    """The run stopped with exit code 4, printed exactly ``message`` once and ran nothing."""
    result = run.result
    assert result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert errors == [f"ERROR: boundedload: {message}"], run.text
    assert run.records == {}


MARKER_CASES = [
    pytest.param("max_taks=5", f"unknown limit max_taks=5 {ON_X} (known: {KNOWN})", id="typo"),
    pytest.param(
        "max_tasks=5, max_flight=3",
        f"unknown limit max_flight=3 {ON_X} (known: {KNOWN})",
        id="unknown-after-good",
    ),
    pytest.param(
        "5",
        "invalid boundedload marker on test_bad.py::test_x: takes keyword arguments only, got (5,)",
        id="positional",
    ),
    pytest.param(
        "'1 GiB', max_tasks=3",
        "invalid boundedload marker on test_bad.py::test_x: takes keyword arguments only, got ('1 GiB',)",
        id="positional-with-keywords",
    ),
    pytest.param(
        "max_rss='12 parsecs'",
        f"invalid max_rss='12 parsecs' {ON_X}: unknown unit 'parsecs' ({SIZE_HINT})",
        id="size-unknown-unit",
    ),
    pytest.param(
        "max_rss_growth='5 MiBs'",
        f"invalid max_rss_growth='5 MiBs' {ON_X}: unknown unit 'MiBs' ({SIZE_HINT})",
        id="size-plural-unit",
    ),
    pytest.param("max_rss=''", f"invalid max_rss='' {ON_X}: not a size ({SIZE_HINT})", id="size-empty"),
    pytest.param(
        "max_rss='MiB'",
        f"invalid max_rss='MiB' {ON_X}: not a size ({SIZE_HINT})",
        id="size-no-number",
    ),
    pytest.param("max_rss=-1", f"invalid max_rss=-1 {ON_X}: must not be negative", id="size-negative"),
    pytest.param("max_rss=0", f"invalid max_rss=0 {ON_X}: must be greater than zero", id="size-zero"),
    pytest.param(
        "max_rss_growth='0 MiB'",
        f"invalid max_rss_growth='0 MiB' {ON_X}: must be greater than zero",
        id="size-zero-with-unit",
    ),
    pytest.param(
        "max_rss=1.5",
        f"invalid max_rss=1.5 {ON_X}: expected an int of bytes or a string like '512 MiB'",
        id="size-float",
    ),
    pytest.param(
        "max_rss=True",
        f"invalid max_rss=True {ON_X}: expected an int of bytes or a string like '512 MiB'",
        id="size-bool",
    ),
    pytest.param(
        "max_rss_growth=None",
        f"invalid max_rss_growth=None {ON_X}: expected an int of bytes or a string like '512 MiB'",
        id="size-none",
    ),
    pytest.param("max_tasks=-1", f"invalid max_tasks=-1 {ON_X}: must not be negative", id="count-negative"),
    pytest.param(
        "max_threads=0",
        f"invalid max_threads=0 {ON_X}: must be greater than zero (the test's own thread counts:"
        " 1 means it starts no thread)",
        id="count-zero",
    ),
    pytest.param(
        "max_in_flight=2.5",
        f"invalid max_in_flight=2.5 {ON_X}: expected a positive integer",
        id="count-float",
    ),
    pytest.param(
        "max_processes=True",
        f"invalid max_processes=True {ON_X}: expected an integer >= 0",
        id="count-bool",
    ),
    pytest.param(
        "max_tasks='5.0'",
        f"invalid max_tasks='5.0' {ON_X}: expected an integer >= 0",
        id="count-float-string",
    ),
    pytest.param(
        "max_tasks='-3'",
        f"invalid max_tasks='-3' {ON_X}: expected an integer >= 0",
        id="count-negative-string",
    ),
    pytest.param(
        "max_in_flight='many'",
        f"invalid max_in_flight='many' {ON_X}: expected a positive integer",
        id="count-word",
    ),
    pytest.param(
        "max_tasks=None",
        f"invalid max_tasks=None {ON_X}: expected an integer >= 0",
        id="count-none",
    ),
    pytest.param(
        "max_threads='2 KiB'",
        f"invalid max_threads='2 KiB' {ON_X}: expected a positive integer",
        id="count-with-unit",
    ),
    pytest.param(
        "max_rss='1e400 B'",
        f"invalid max_rss='1e400 B' {ON_X}: too large (at most 1 EiB)",
        id="size-overflow",
    ),
    pytest.param(
        "max_tasks='\u00b2'",
        f"invalid max_tasks='\u00b2' {ON_X}: expected an integer >= 0",
        id="count-superscript-digit",
    ),
    pytest.param(
        "hard_limit=True",
        f"invalid hard_limit=True {ON_X}: expected an int of bytes or a string like '512 MiB'",
        id="hard-limit",
    ),
    pytest.param(
        "max_bytes_per_task='1 parsec'",
        f"invalid max_bytes_per_task='1 parsec' {ON_X}: unknown unit 'parsec' ({SIZE_HINT})",
        id="max-bytes-per-task",
    ),
    pytest.param(
        "hard_limit=2**64",
        f"invalid hard_limit={2**64} {ON_X}: too large (at most 1 EiB)",
        id="size-beyond-64-bits",
    ),
    pytest.param(
        "max_rss='2 EiB'",
        f"invalid max_rss='2 EiB' {ON_X}: unknown unit 'EiB' ({SIZE_HINT})",
        id="size-unknown-large-unit",
    ),
    pytest.param(
        "max_rss='2000000 TiB'",
        f"invalid max_rss='2000000 TiB' {ON_X}: too large (at most 1 EiB)",
        id="size-too-large",
    ),
    pytest.param(
        "max_tasks=10**100",
        f"invalid max_tasks={10**100} {ON_X}: too large (at most 1,099,511,627,776)",
        id="count-too-large",
    ),
    pytest.param(
        "max_tasks=type('Odd', (), {'__repr__': lambda self: 1 / 0})()",
        f"invalid max_tasks=<Odd object whose repr() fails> {ON_X}: expected an integer >= 0",
        id="repr-raises",
    ),
    pytest.param(
        "max_flights=type('Odd', (), {'__repr__': lambda self: 1 / 0})()",
        f"unknown limit max_flights=<Odd object whose repr() fails> {ON_X} (known: {KNOWN})",
        id="unknown-repr-raises",
    ),
    pytest.param("isolate='yes'", f"invalid isolate='yes' {ON_X}: must be True or False", id="isolate-text"),
    pytest.param("isolate=1", f"invalid isolate=1 {ON_X}: must be True or False", id="isolate-int"),
]


@pytest.mark.parametrize(("args", "message"), MARKER_CASES)
def test_bad_marker_value(project: Project, args: str, message: str) -> None:
    project.pytester.makepyfile(test_bad=MARKED_TEST.format(args=args))
    assert_usage_error(project.run_inprocess(*FAST), message)


INI_CASES = [
    pytest.param(
        "boundedload_max_rss = lots",
        f"invalid max_rss='lots' from ini boundedload_max_rss: not a size ({SIZE_HINT})",
        id="max_rss-word",
    ),
    pytest.param(
        "boundedload_max_rss_growth = 0",
        "invalid max_rss_growth='0' from ini boundedload_max_rss_growth: must be greater than zero",
        id="max_rss_growth-zero",
    ),
    pytest.param(
        "boundedload_max_tasks = -3",
        "invalid max_tasks='-3' from ini boundedload_max_tasks: expected an integer >= 0",
        id="max_tasks-negative",
    ),
    pytest.param(
        "boundedload_max_in_flight = 0",
        "invalid max_in_flight='0' from ini boundedload_max_in_flight: must be greater than zero"
        " (it bounds calls to flood's probes; 0 would only forbid calling them)",
        id="max_in_flight-zero",
    ),
    pytest.param(
        "boundedload_max_threads = 1.5",
        "invalid max_threads='1.5' from ini boundedload_max_threads: expected a positive integer",
        id="max_threads-float",
    ),
    pytest.param(
        "boundedload_max_processes = some",
        "invalid max_processes='some' from ini boundedload_max_processes: expected an integer >= 0",
        id="max_processes-word",
    ),
    pytest.param(
        "boundedload_hard_limit = true",
        f"invalid hard_limit='true' from ini boundedload_hard_limit: not a size ({SIZE_HINT})",
        id="hard_limit",
    ),
    pytest.param(
        "boundedload_max_bytes_per_task = 0",
        "invalid max_bytes_per_task='0' from ini boundedload_max_bytes_per_task: must be greater than zero",
        id="max_bytes_per_task",
    ),
    pytest.param(
        "boundedload_interval = 0",
        "invalid interval='0' from ini boundedload_interval: must be greater than zero",
        id="interval-zero",
    ),
    pytest.param(
        "boundedload_interval = fast",
        f"invalid interval='fast' from ini boundedload_interval: not a duration ({DURATION_HINT})",
        id="interval-word",
    ),
    pytest.param(
        "boundedload_interval = -1",
        f"invalid interval='-1' from ini boundedload_interval: not a duration ({DURATION_HINT})",
        id="interval-negative",
    ),
    pytest.param(
        "boundedload_summary = many",
        "invalid summary='many' from ini boundedload_summary: expected an integer >= 0",
        id="summary-word",
    ),
    pytest.param(
        "boundedload_max_tasks =",
        "invalid boundedload_max_tasks='' from ini: empty (remove the line to leave it unset)",
        id="empty",
    ),
    pytest.param(
        "boundedload_max_rss =    ",
        "invalid boundedload_max_rss='' from ini: empty (remove the line to leave it unset)",
        id="whitespace-only",
    ),
    pytest.param(
        "boundedload_interval = 1e10",
        "invalid interval='1e10' from ini boundedload_interval: must be from 1 ms to 1 hour",
        id="interval-too-long",
    ),
    pytest.param(
        "boundedload_interval = 5 M",
        f"invalid interval='5 M' from ini boundedload_interval: unknown unit 'M' ({DURATION_HINT})",
        id="interval-megabytes",
    ),
]


@pytest.mark.parametrize(("line", "message"), INI_CASES)
def test_bad_ini_value(project: Project, line: str, message: str) -> None:
    project.pytester.makeini(f"[pytest]\n{line}\n")
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    assert_usage_error(project.run_inprocess(*FAST), message)


CLI_CASES = [
    pytest.param(
        "--boundedload-max-in-flight=abc",
        "invalid max_in_flight='abc' from option --boundedload-max-in-flight: expected a positive integer",
        id="max_in_flight-word",
    ),
    pytest.param(
        "--boundedload-max-rss=12 parsecs",
        f"invalid max_rss='12 parsecs' from option --boundedload-max-rss: unknown unit 'parsecs'"
        f" ({SIZE_HINT})",
        id="max_rss-unit",
    ),
    pytest.param(
        "--boundedload-max-rss-growth=0 KiB",
        "invalid max_rss_growth='0 KiB' from option --boundedload-max-rss-growth: must be greater than zero",
        id="max_rss_growth-zero",
    ),
    pytest.param(
        "--boundedload-max-held=0",
        "invalid max_held='0' from option --boundedload-max-held: must be greater than zero"
        " (it bounds items taken from flood.tasks(); 0 would only forbid taking any)",
        id="max_held-zero",
    ),
    pytest.param(
        "--boundedload-max-threads=-2",
        "invalid max_threads='-2' from option --boundedload-max-threads: expected a positive integer",
        id="max_threads-negative",
    ),
    pytest.param(
        "--boundedload-max-processes=2.0",
        "invalid max_processes='2.0' from option --boundedload-max-processes: expected an integer >= 0",
        id="max_processes-float",
    ),
    pytest.param(
        "--boundedload-hard-limit=-1",
        "invalid hard_limit='-1' from option --boundedload-hard-limit: not a size (use B, KiB, MiB, GiB,"
        " TiB, kB, MB, GB or TB)",
        id="hard_limit",
    ),
    pytest.param(
        "--boundedload-max-bytes-per-task=4KB/task",
        "invalid max_bytes_per_task='4KB/task' from option --boundedload-max-bytes-per-task:"
        " unknown unit 'KB/task' (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
        id="max_bytes_per_task",
    ),
    pytest.param(
        "--boundedload-interval=0ms",
        "invalid interval='0ms' from option --boundedload-interval: must be greater than zero",
        id="interval-zero",
    ),
    pytest.param(
        "--boundedload-interval=5 parsecs",
        "invalid interval='5 parsecs' from option --boundedload-interval: unknown unit 'parsecs'"
        f" ({DURATION_HINT})",
        id="interval-unit",
    ),
    pytest.param(
        "--boundedload-summary=-1",
        "invalid summary='-1' from option --boundedload-summary: expected an integer >= 0",
        id="summary-negative",
    ),
    pytest.param(
        "--boundedload-summary=x",
        "invalid summary='x' from option --boundedload-summary: expected an integer >= 0",
        id="summary-word",
    ),
    pytest.param(
        "--boundedload-summary=1.5",
        "invalid summary='1.5' from option --boundedload-summary: expected an integer >= 0",
        id="summary-float",
    ),
    pytest.param(
        "--boundedload-interval=100us",
        "invalid interval='100us' from option --boundedload-interval: must be from 1 ms to 1 hour",
        id="interval-too-short",
    ),
    pytest.param(
        "--boundedload-hard-limit=18446744073709551616",
        "invalid hard_limit='18446744073709551616' from option --boundedload-hard-limit:"
        " too large (at most 1 EiB)",
        id="hard-limit-2-64",
    ),
]


@pytest.mark.parametrize(("option", "message"), CLI_CASES)
def test_bad_command_line_value(project: Project, option: str, message: str) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    assert_usage_error(project.run_inprocess(*FAST, option), message)


def test_a_bad_command_line_value_wins_over_a_good_ini_value(project: Project) -> None:
    project.pytester.makeini("[pytest]\nboundedload_max_tasks = 50\n")
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    assert_usage_error(
        project.run_inprocess(*FAST, "--boundedload-max-tasks=fifty"),
        "invalid max_tasks='fifty' from option --boundedload-max-tasks: expected an integer >= 0",
    )


def test_a_bad_ini_value_is_refused_even_when_the_command_line_overrides_it(project: Project) -> None:
    project.pytester.makeini("[pytest]\nboundedload_max_tasks = fifty\n")
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    assert_usage_error(
        project.run_inprocess(*FAST, "--boundedload-max-tasks=50"),
        "invalid max_tasks='fifty' from ini boundedload_max_tasks: expected an integer >= 0",
    )


def test_the_bad_test_among_good_ones_is_named(project: Project) -> None:
    project.pytester.makepyfile(
        test_mixed="""
        import pytest


        def test_first(flood):
            pass


        class TestGroup:
            @pytest.mark.boundedload(max_tasks=3)
            def test_good(self):
                pass

            @pytest.mark.parametrize(
                "n", [1, pytest.param(2, marks=pytest.mark.boundedload(max_threads="two"))]
            )
            def test_param(self, n):
                pass


        def test_last(flood):
            pass
        """
    )
    assert_usage_error(
        project.run_inprocess(*FAST),
        "invalid max_threads='two' from marker on test_mixed.py::TestGroup::test_param[2]:"
        " expected a positive integer",
    )


def test_a_bad_class_marker_is_reported_for_its_first_test(project: Project) -> None:
    project.pytester.makepyfile(
        test_cls="""
        import pytest


        def test_outside():
            pass


        @pytest.mark.boundedload(max_in_flight=0)
        class TestMarked:
            def test_one(self):
                pass

            def test_two(self):
                pass
        """
    )
    assert_usage_error(
        project.run_inprocess(*FAST),
        "invalid max_in_flight=0 from marker on test_cls.py::TestMarked::test_one: must be greater than"
        " zero (it bounds calls to flood's probes; 0 would only forbid calling them)",
    )


def test_bad_marker_under_xdist_is_the_same_usage_error(project: Project) -> None:
    project.pytester.makepyfile(
        test_bad=MARKED_TEST.format(args="max_rss='12 parsecs'"),
        test_other="def test_other(flood):\n    pass\n",
    )
    run = project.run(*FAST, "-n", "2")
    assert_usage_error(run, f"invalid max_rss='12 parsecs' {ON_X}: unknown unit 'parsecs' ({SIZE_HINT})")


def test_a_good_project_gives_no_error(project: Project) -> None:
    project.pytester.makeini(
        "[pytest]\n"
        "boundedload_max_rss = 64 GiB\n"
        "boundedload_max_rss_growth = 32GB\n"
        "boundedload_max_tasks = 100\n"
        "boundedload_interval = 5ms\n"
        "boundedload_summary = 0\n"
    )
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    run = project.run_inprocess(
        *FAST,
        "--boundedload-max-in-flight=50",
        "--boundedload-max-threads= 40 ",
        "--boundedload-max-processes=4",
    )
    run.result.assert_outcomes(passed=3)
    assert run.result.ret == pytest.ExitCode.OK
    assert "ERROR" not in run.text
    assert sorted(run.records) == ["test_flooded", "test_marked"]


# --- files that are read: the baseline (gate and commands) and the JSON report -------------


def _special_file(directory: Path, kind: str) -> Path:
    """A baseline path that leads to ``kind``: a FIFO, a device, JSON nested 100,000
    deep, or a sparse file one byte over the 64 MiB bound (no disk space taken)."""
    if kind in ("/dev/zero", "/dev/urandom", "/dev/null"):
        return Path(kind)
    path = directory / "baseline.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(MAX_BYTES + 1)
    return path


SPECIAL = {
    "fifo": "{what} {path} is a FIFO (named pipe), not a regular file",
    "/dev/zero": "{what} /dev/zero is a character device, not a regular file",
    "/dev/urandom": "{what} /dev/urandom is a character device, not a regular file",
    "deep": "{what} {path} is not valid JSON: nested too deeply",
    "huge": "{what} {path} is larger than 64 MiB, more than any {what} holds",
}


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_a_baseline_that_is_no_regular_file_is_a_usage_error_not_a_hang(project: Project, kind: str) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    path = _special_file(project.path, kind)
    project.pytester.makeini(f"[pytest]\nboundedload_baseline = {path}\n")
    run = project.run_inprocess(*FAST, "--boundedload-compare")
    if kind in ("deep", "huge"):  # a regular file: its content is refused by the gate
        message = SPECIAL[kind].format(what="baseline", path=path)
    else:  # not a regular file: refused with the other paths, before the file is opened
        reason = SPECIAL[kind].format(what="", path=path).split(" is ", 1)[1]
        message = f"invalid baseline={str(path)!r} from ini boundedload_baseline: {path} is {reason}"
    assert_usage_error(run, message)


def _command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("boundedload", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "pytest_boundedload"]
    # A timeout: before the check, a FIFO hung the command and /dev/zero filled its memory.
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("kind", list(SPECIAL))
@pytest.mark.parametrize("command", ["show", "diff", "summary"])
def test_the_baseline_commands_refuse_a_file_that_is_no_regular_file(
    tmp_path: Path, kind: str, command: str
) -> None:
    path = _special_file(tmp_path, kind)
    args = {"show": [str(path)], "diff": [str(path), str(path)], "summary": [str(path)]}[command]
    result = _command("baseline", command, *args)
    what = "report" if command == "summary" else "baseline"
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"boundedload: {SPECIAL[kind].format(what=what, path=path)}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--n", NINES], f"invalid n='{NINES[:99]}... (5,000 characters) from --n: {TOO_LARGE}"),
        (
            ["demo", "--json", "/dev/null"],
            "invalid json='/dev/null' from --json: /dev/null is a character device, not a regular file",
        ),
        (["calibrate", "--json", ""], "invalid json='' from --json: empty"),
        (
            ["calibrate", "--json", "/proc/self/x.json"],
            "invalid json='/proc/self/x.json' from --json: /proc/*/x.json is under /proc,"
            " which holds no files to write",
        ),
    ],
    ids=["demo-n-digits", "demo-json-device", "calibrate-json-empty", "calibrate-json-proc"],
)
def test_the_command_refuses_bad_values_before_it_runs(args: list[str], message: str) -> None:
    result = _command(*args)
    assert (result.returncode, result.stdout) == (2, "")
    *_, last = result.stderr.splitlines()
    assert fnmatch.fnmatchcase(last, f"boundedload: error: {message}"), last


@pytest.mark.parametrize("command", ["demo", "calibrate"])
@pytest.mark.parametrize(
    ("value", "why"),
    [(" ", "empty (unset it, or set auto, cgroup or rlimit)"), ("bogus", "expected auto, cgroup or rlimit")],
    ids=["blank", "unknown"],
)
def test_the_command_refuses_a_bad_cap_before_it_runs(command: str, value: str, why: str) -> None:
    result = _command(command, env={"BOUNDEDLOAD_CAP": value})
    assert (result.returncode, result.stdout) == (2, "")
    *_, last = result.stderr.splitlines()
    assert last == f"boundedload: error: invalid BOUNDEDLOAD_CAP={value!r} from the environment: {why}"


def test_calibrate_reports_the_cap_boundedload_cap_asks_for(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = _command("calibrate", "--json", str(out), env={"BOUNDEDLOAD_CAP": "rlimit"})
    assert result.returncode == 0, result.stderr
    assert "hard_limit cap:       RLIMIT_DATA (MemoryError)" in result.stdout.splitlines()
    assert json.loads(out.read_text())["hard_cap"] == "rlimit"


def test_the_diff_command_refuses_a_tolerance_of_thousands_of_digits(tmp_path: Path) -> None:
    result = _command("baseline", "diff", "a.json", "b.json", f"--tolerance=max_tasks:{NINES}")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"boundedload: invalid tolerance for max_tasks '{NINES[:99]}... (5,000 characters) from --tolerance:"
        f" {NINES[:20]}... (5,000 digits) is too large (at most 1,099,511,627,776)\n"
    )


# --- counts of thousands of digits, through every channel -----------------------------------

SHOWN_NINES = f"'{NINES[:99]}... (5,000 characters)"


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("max_tasks", TOO_LARGE),
        ("max_in_flight", TOO_LARGE),
        ("summary", TOO_LARGE),
        ("memray_top", TOO_LARGE),
        ("max_rss", "too large (at most 1 EiB)"),
        ("hard_limit", "too large (at most 1 EiB)"),
    ],
)
@pytest.mark.parametrize("channel", ["option", "ini", "pyproject"])
def test_a_count_of_thousands_of_digits_is_too_large(
    project: Project, key: str, why: str, channel: str
) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    args: tuple[str, ...] = ()
    if channel == "option":
        option = "--boundedload-" + key.replace("_", "-")
        args, source = (f"{option}={NINES}",), f"from option {option}"
    elif channel == "ini":
        project.pytester.makeini(f"[pytest]\nboundedload_{key} = {NINES}\n")
        source = f"from ini boundedload_{key}"
    else:
        project.pytester.makepyprojecttoml(f'[tool.pytest.ini_options]\nboundedload_{key} = "{NINES}"\n')
        source = f"from ini boundedload_{key}"
    assert_usage_error(project.run_inprocess(*FAST, *args), f"invalid {key}={SHOWN_NINES} {source}: {why}")


def test_a_marker_count_of_thousands_of_digits_is_too_large(project: Project) -> None:
    project.pytester.makepyfile(test_bad=MARKED_TEST.format(args="max_processes=10**5000"))
    assert_usage_error(
        project.run_inprocess(*FAST), f"invalid max_processes=<int of 5,001 digits> {ON_X}: {TOO_LARGE}"
    )


def test_a_count_tolerance_of_thousands_of_digits_is_too_large(project: Project) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    run = project.run_inprocess(
        *FAST,
        "--boundedload-compare",
        "--boundedload-allow-missing",
        f"--boundedload-tolerance=max_held:{NINES}",
    )
    assert_usage_error(
        run,
        f"invalid tolerance for max_held {SHOWN_NINES} from option"
        f" --boundedload-tolerance: {NINES[:20]}... (5,000 digits) is too large (at most 1,099,511,627,776)",
    )


# --- pyproject.toml values of the wrong TOML type -------------------------------------------


_PATH = "a path must be a TOML string, not a TOML"
_COUNT = "a count must be a TOML integer or string, not a TOML"
_DURATION = "a duration must be a TOML number (seconds) or string ('5ms'), not a TOML"
TOML_CASES = [
    pytest.param("report_dir", "[1]", "[1]", f"{_PATH} array", id="path-array"),
    pytest.param("baseline", "true", "True", f"{_PATH} boolean", id="path-bool"),
    pytest.param("baseline", "42", "42", f"{_PATH} integer", id="path-int"),
    pytest.param("report_dir", "{a = 1}", "{'a': 1}", f"{_PATH} table", id="path-table"),
    pytest.param("baseline", "2024-01-01", "datetime.date(2024, 1, 1)", f"{_PATH} date", id="path-date"),
    pytest.param("max_rss", "2.5", "2.5", f"{TOML_SIZE}, not a TOML float", id="size-float"),
    pytest.param("max_rss_growth", "true", "True", f"{TOML_SIZE}, not a TOML boolean", id="size-bool"),
    pytest.param("hard_limit", '["1 GiB"]', "['1 GiB']", f"{TOML_SIZE}, not a TOML array", id="size-array"),
    pytest.param("max_tasks", "5.0", "5.0", f"{_COUNT} float", id="count-float"),
    pytest.param("summary", "false", "False", f"{_COUNT} boolean", id="summary-bool"),
    pytest.param("interval", "[5]", "[5]", f"{_DURATION} array", id="duration-array"),
    pytest.param("tolerance", "10", "10", "it must be a TOML string, not a TOML integer", id="tolerance-int"),
    pytest.param("max_processes", "00:30:00", "datetime.time(0, 30)", f"{_COUNT} time", id="count-time"),
]


@pytest.mark.parametrize(("key", "toml", "shown", "why"), TOML_CASES)
@pytest.mark.parametrize("table", ["tool.pytest.ini_options", "tool.pytest"])
def test_a_pyproject_value_of_the_wrong_toml_type_is_refused(
    project: Project, key: str, toml: str, shown: str, why: str, table: str
) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makepyprojecttoml(f"[{table}]\nboundedload_{key} = {toml}\n")
    assert_usage_error(
        project.run_inprocess(*FAST, "--boundedload-save"),
        f"invalid {key}={shown} from ini boundedload_{key}: {why}",
    )
    assert sorted(path.name for path in project.path.iterdir() if path.name not in ("record.jsonl",)) == [
        "conftest.py",
        "pyproject.toml",
        "test_good.py",
    ]  # nothing made: no directory "[1]", no file "True"


@pytest.mark.parametrize("key", ["memray", "all", "isolate"])
def test_a_pyproject_flag_of_the_wrong_toml_type_is_refused(project: Project, key: str) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\nboundedload_{key} = [true]\n")
    assert_usage_error(
        project.run_inprocess(*FAST),
        f"invalid boundedload_{key}=[True] from ini boundedload_{key}:"
        " it must be a TOML boolean, not a TOML array",
    )


@pytest.mark.parametrize("table", ["tool.pytest.ini_options", "tool.pytest"])
def test_pyproject_values_of_the_right_toml_types_are_used(project: Project, table: str) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makepyprojecttoml(
        f"[{table}]\n"
        "boundedload_max_tasks = 1\n"  # an integer: test_flooded runs 4 tasks
        'boundedload_max_rss = "64 GiB"\n'
        "boundedload_max_rss_growth = 68719476736\n"
        "boundedload_interval = 0.005\n"
        "boundedload_summary = 0\n"
        "boundedload_all = false\n"
    )
    run = project.run_inprocess(*FAST)
    run.result.assert_outcomes(passed=2, failed=1)
    assert run.violations("test_flooded") == ["max_tasks 4 > limit 1 (live asyncio tasks high-water)"]
    assert run.violations("test_marked") == []  # its marker's max_tasks=5 wins


def test_a_pyproject_value_overridden_with_o_is_still_checked_and_the_override_used(project: Project) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makepyprojecttoml("[tool.pytest.ini_options]\nboundedload_max_tasks = 2.5\n")
    assert_usage_error(
        project.run_inprocess(*FAST, "-o", "boundedload_max_tasks=1"),
        "invalid max_tasks=2.5 from ini boundedload_max_tasks:"
        " a count must be a TOML integer or string, not a TOML float",
    )
    project.pytester.makepyprojecttoml("[tool.pytest.ini_options]\nboundedload_max_tasks = 100\n")
    run = project.run_inprocess(*FAST, "-o", "boundedload_max_tasks=1")
    assert run.violations("test_flooded") == ["max_tasks 4 > limit 1 (live asyncio tasks high-water)"]


# --- the environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "BOUNDEDLOAD_CAP",
            "",
            f"invalid BOUNDEDLOAD_CAP='' from the environment: {CAP_EMPTY}",
        ),
        (
            "BOUNDEDLOAD_CAP",
            " \t ",
            f"invalid BOUNDEDLOAD_CAP=' \\t ' from the environment: {CAP_EMPTY}",
        ),
        *(
            (
                "PYTEST_XDIST_WORKER",
                worker,
                f"invalid PYTEST_XDIST_WORKER={shown} from the environment: it becomes part of file names,"
                " so 1 to 64 letters, digits, '_' or '-' (pytest-xdist sets it to gw0, gw1, ...)",
            )
            for worker, shown in [
                ("../gw0", "'../gw0'"),
                ("gw/0", "'gw/0'"),
                ("..", "'..'"),
                ("", "''"),
                ("w" * 300, f"'{'w' * 99}... (300 characters)"),
            ]
        ),
    ],
    ids=[
        "cap-empty",
        "cap-blank",
        "worker-up",
        "worker-slash",
        "worker-dotdot",
        "worker-empty",
        "worker-300",
    ],
)
def test_a_bad_environment_value_is_a_usage_error(
    project: Project, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    monkeypatch.setenv(name, value)
    assert_usage_error(project.run_inprocess(*FAST), message)


@pytest.mark.parametrize("worker", ["../../escaped", "a/b", "w" * 300, "..", ""])
def test_a_worker_id_that_is_no_file_name_is_kept_out_of_capture_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: str
) -> None:
    """Inside an xdist worker the id is xdist's (``--tx ...//id=`` takes any text): a
    capture file stays in its directory, with a name the file system takes."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    capture = HeapCapture(tmp_path, "tests/test_x.py::test_y")
    label = "worker-" + hashlib.sha256(worker.encode()).hexdigest()[:12]
    assert worker_label() == label
    assert capture.path.parent == tmp_path
    assert capture.path.name.startswith(f"boundedload-{label}-{os.getpid()}-")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw12")
    assert worker_label() == "gw12"


# --- an option given twice ----------------------------------------------------------------------


def test_an_option_given_twice_with_different_values_is_refused(project: Project) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    assert_usage_error(
        project.run_inprocess(*FAST, "--boundedload-max-tasks=10", "--boundedload-max-tasks", "20"),
        "invalid --boundedload-max-tasks: given twice on the command line, '10' and '20' (give it once)",
    )


def test_an_option_given_twice_in_pytest_addopts_is_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    monkeypatch.setenv(
        "PYTEST_ADDOPTS",
        "-p no:randomly -p no:langsmith_plugin --boundedload-baseline=a.json --boundedload-baseline=b.json",
    )
    assert_usage_error(
        project.run_inprocess(*FAST),
        "invalid --boundedload-baseline: given twice in PYTEST_ADDOPTS, 'a.json' and 'b.json' (give it once)",
    )


def test_an_option_given_twice_in_addopts_is_refused(project: Project) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makeini("[pytest]\naddopts = --boundedload-summary=3 --boundedload-summary=4\n")
    assert_usage_error(
        project.run_inprocess(*FAST),
        "invalid --boundedload-summary: given twice in the ini file's addopts, '3' and '4' (give it once)",
    )


def test_the_same_value_twice_is_accepted_and_the_command_line_wins_over_addopts(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makeini("[pytest]\naddopts = --boundedload-max-tasks=100\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly -p no:langsmith_plugin --boundedload-max-tasks=50")
    run = project.run_inprocess(*FAST, "--boundedload-max-tasks=2", "--boundedload-max-tasks=2")
    assert run.violations("test_flooded") == ["max_tasks 4 > limit 2 (live asyncio tasks high-water)"]
    run.result.assert_outcomes(passed=2, failed=1)


@pytest.mark.parametrize(
    ("tolerance", "why"),
    [
        (f"{NINES}%", f"{NINES[:20]}... (5,001 characters) is not a finite percentage"),
        (NINES + "x", "expected e.g. '10%', '1 MiB' or '10%+1MiB'"),
        (f"max_tasks:1,max_tasks:{NINES}", "max_tasks is given twice"),
    ],
    ids=["percent", "size", "twice"],
)
def test_a_long_tolerance_is_shown_by_its_start_and_length(tolerance: str, why: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_tolerance(tolerance, "from option --boundedload-tolerance")
    message = str(raised.value)
    assert message.endswith(why)
    assert len(message) < 400, message[:200]


def test_a_bad_isolate_ini_value_is_a_usage_error(project: Project) -> None:
    project.pytester.makepyfile(test_good=GOOD_TESTS)
    project.pytester.makeini("[pytest]\nboundedload_isolate = maybe\n")
    assert_usage_error(
        project.run_inprocess(*FAST),
        "invalid boundedload_isolate from ini: invalid truth value 'maybe' (use true or false)",
    )
