"""``boundedload baseline show|diff|summary`` run as a user runs it, in a child process."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_boundedload.baseline.store import COMPARED, Baseline, platform_key
from pytest_boundedload.commands.baseline import add_parser, run

MiB = 1 << 20
OTHER = "Haiku-PyPy-3.9"  # a platform key that is never this one
A = "tests/test_a.py::test_a"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # The console script, as a user runs it.
    script = shutil.which("boundedload", path=str(Path(sys.executable).parent))
    command = [script, "baseline"] if script else [sys.executable, "-m", "pytest_boundedload", "baseline"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def _figures(rss_growth: int = 100 * MiB, max_tasks: int = 51) -> dict[str, int]:
    return {
        "rss_growth": rss_growth,
        "children_peak_rss": 0,
        "max_in_flight": 50,
        "max_tasks": max_tasks,
        "max_threads": 1,
        "max_processes": 0,
    }


def _write(path: Path, tests: dict[str, dict[str, int]], key: str | None = None) -> Path:
    baseline = Baseline.load(path)
    baseline.update(tests, prune=False, key=key)
    baseline.save()
    return path


# --- show --------------------------------------------------------------------------------


def test_show_prints_every_test_and_figure(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "baseline.json",
        {
            "tests/test_b.py::test_b": _figures(rss_growth=3 * MiB // 2, max_tasks=7),
            "tests/test_a.py::test_a[x-1]": _figures(),
        },
    )
    _write(path, {"tests/test_w.py::test_w": {"rss_growth": 2048, "max_tasks": 3}}, key=OTHER)
    result = _cli("show", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert f"{platform_key()}: 2 tests" in out
    assert f"{OTHER}: 1 test\n" in out
    header = out.splitlines()[1].split()
    assert header == ["test", "N", *COMPARED]
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("tests/")}
    # A figure the file does not hold (max_held, max_requests, from before they existed) is a
    # dash, not a zero.
    # Nor does it hold heap_peak, the figure of tests traced with memray.
    assert rows["tests/test_a.py::test_a[x-1]"][1:] == [
        "-",  # saved without its workload N
        "100.0",
        "MiB",
        "0",
        "B",
        "50",
        "51",
        "1",
        "0",
        "-",
        "-",
        "-",
    ]
    test_b = ["-", "1.5", "MiB", "0", "B", "50", "7", "1", "0", "-", "-", "-"]
    assert rows["tests/test_b.py::test_b"][1:] == test_b
    assert rows["tests/test_w.py::test_w"][1:] == ["-", "2.0", "KiB", "-", "-", "3", "-", "-", "-", "-", "-"]
    # Sorted by test id, platforms sorted by key.
    assert out.index("test_a.py") < out.index("test_b.py")
    first, second = sorted([platform_key(), OTHER])
    assert out.index(f"{first}: ") < out.index(f"{second}: ")


def test_show_one_platform(tmp_path: Path) -> None:
    path = _write(tmp_path / "baseline.json", {"tests/test_a.py::test_a": _figures()})
    _write(path, {"tests/test_w.py::test_w": _figures()}, key=OTHER)
    result = _cli("show", str(path), "--platform", OTHER)
    assert result.returncode == 0, result.stderr
    assert "test_w" in result.stdout
    assert "test_a" not in result.stdout
    assert platform_key() not in result.stdout


def test_show_reads_the_default_path(tmp_path: Path) -> None:
    _write(tmp_path / ".boundedload" / "baseline.json", {"tests/test_a.py::test_a": _figures()})
    result = _cli("show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tests/test_a.py::test_a" in result.stdout


def test_show_missing_file(tmp_path: Path) -> None:
    result = _cli("show", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"boundedload: no baseline at {Path('.boundedload/baseline.json')}\n"


def test_show_empty_baseline(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    Baseline(path).save()
    result = _cli("show", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"baseline {path} holds no tests\n"


def test_show_unknown_platform(tmp_path: Path) -> None:
    path = _write(tmp_path / "baseline.json", {"tests/test_a.py::test_a": _figures()})
    result = _cli("show", str(path), "--platform", "Plan9-CPython-3.11")
    assert result.returncode == 2
    assert result.stderr == (
        f"boundedload: baseline {path} has no platform 'Plan9-CPython-3.11' (it has: {platform_key()})\n"
    )


# --- files that cannot be used: exit 2 with the loader's message, never a traceback ------

_VALID_HEAD = '{"tool": "pytest-boundedload", "schema": 1, "platforms": '
# Broken file text -> what follows "baseline PATH" in the message.
CORRUPT = {
    "not-json": ("not json", " is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    "truncated": (
        _VALID_HEAD + '{"Linux-CPython-3.11": {',
        " is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 82 (char 81)",
    ),
    "not-ours": ('{"schema": 1}', ' is not a pytest-boundedload baseline (no "tool": "pytest-boundedload")'),
    "newer-schema": (
        '{"tool": "pytest-boundedload", "schema": 3, "platforms": {}}',
        " has schema version 3; this version of pytest-boundedload reads versions 1 and 2",
    ),
    "platforms-not-object": (_VALID_HEAD + "[]}", ': "platforms" must be an object'),
    "figures-not-ints": (
        _VALID_HEAD + '{"L": {"t": {"max_tasks": "51"}}}}',
        ": the figures of 't' must be integers from 0 to 2**63 - 1 or [low, high] ranges of two",
    ),
    "random-bytes": (b"\x00\x9c\xff\x13random", " is not UTF-8 text: byte 0x9c at offset 1"),
    "utf-16": (
        (_VALID_HEAD + "{}}").encode("utf-16"),  # what PowerShell's > writes
        " is not UTF-8 text: byte 0xff at offset 0",
    ),
}


def _corrupt(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A baseline that cannot be used, and the exact message naming it."""
    path = tmp_path / "broken.json"
    if case == "directory":
        path.mkdir()
        return path, f"boundedload: baseline {path} is a directory, not a file\n"
    text, why = CORRUPT[case]
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path, f"boundedload: baseline {path}{why}\n"


@pytest.mark.parametrize("case", [*CORRUPT, "directory"])
def test_show_refuses_a_corrupt_baseline(tmp_path: Path, case: str) -> None:
    path, message = _corrupt(tmp_path, case)
    result = _cli("show", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == message


@pytest.mark.parametrize("case", ["not-json", "newer-schema", "random-bytes", "directory"])
@pytest.mark.parametrize("side", ["old", "new"])
def test_diff_refuses_a_corrupt_baseline(tmp_path: Path, case: str, side: str) -> None:
    path, message = _corrupt(tmp_path, case)
    good = _write(tmp_path / "good.json", {"tests/test_a.py::test_a": _figures()})
    files = [str(path), str(good)] if side == "old" else [str(good), str(path)]
    result = _cli("diff", *files)
    assert result.returncode == 2
    assert result.stderr == message


def test_diff_missing_file(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", {"tests/test_a.py::test_a": _figures()})
    missing = tmp_path / "missing.json"
    result = _cli("diff", str(missing), str(good))
    assert result.returncode == 2
    assert result.stderr == f"boundedload: no baseline at {missing}\n"


# --- diff --------------------------------------------------------------------------------


def _pair(tmp_path: Path, old: dict[str, dict[str, int]], new: dict[str, dict[str, int]]) -> list[str]:
    return [str(_write(tmp_path / "old.json", old)), str(_write(tmp_path / "new.json", new))]


def _rows(out: str) -> dict[tuple[str, str], list[str]]:
    """(test, metric) -> the cells after them, from the diff table."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) > 2 and cells[0].startswith("tests/"):
            rows[cells[0], cells[1]] = cells[2:]
    return rows


def test_diff_fails_on_a_30_percent_regression(tmp_path: Path) -> None:
    files = _pair(
        tmp_path,
        {"tests/test_a.py::test_a": _figures(), "tests/test_b.py::test_b": _figures()},
        {"tests/test_a.py::test_a": _figures(rss_growth=130 * MiB), "tests/test_b.py::test_b": _figures()},
    )
    result = _cli("diff", *files)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    rows = _rows(result.stdout)
    assert rows["tests/test_a.py::test_a", "rss_growth"] == [
        "100.0", "MiB", "130.0", "MiB", "+30.0%", "10%+1.0", "MiB", "regressed"
    ]  # fmt: skip
    # Only figures that changed are listed.
    assert list(rows) == [("tests/test_a.py::test_a", "rss_growth")]
    assert result.stdout.splitlines()[1].split() == [
        "test", "metric", "old", "new", "change", "tolerance", "verdict"
    ]  # fmt: skip
    assert f"{platform_key()} (in both): 2 tests compared, 1 regressed, 0 new, 0 gone" in result.stdout
    assert result.stdout.endswith("1 test regressed (1 figure over tolerance)\n")


def test_diff_passes_5_percent(tmp_path: Path) -> None:
    files = _pair(
        tmp_path,
        {"tests/test_a.py::test_a": _figures()},
        {"tests/test_a.py::test_a": _figures(rss_growth=105 * MiB)},
    )
    result = _cli("diff", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows(result.stdout)["tests/test_a.py::test_a", "rss_growth"][-1] == "ok"
    assert "+5.0%" in result.stdout
    assert result.stdout.endswith("no regression (1 test compared)\n")


def test_diff_counts_are_exact_by_default(tmp_path: Path) -> None:
    files = _pair(
        tmp_path,
        {"tests/test_a.py::test_a": _figures()},
        {"tests/test_a.py::test_a": _figures(max_tasks=52)},
    )
    result = _cli("diff", *files)
    assert result.returncode == 1
    assert _rows(result.stdout)[A, "max_tasks"] == ["51", "52", "+2.0%", "0", "regressed"]


def test_diff_tolerance_override(tmp_path: Path) -> None:
    files = _pair(
        tmp_path,
        {"tests/test_a.py::test_a": _figures()},
        {"tests/test_a.py::test_a": _figures(rss_growth=130 * MiB, max_tasks=52)},
    )
    result = _cli("diff", *files, "--tolerance", "rss_growth:50%,max_tasks:1")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["tests/test_a.py::test_a", "rss_growth"][-2:] == ["50%", "ok"]
    assert rows["tests/test_a.py::test_a", "max_tasks"][-2:] == ["1", "ok"]
    # The override of one metric leaves the others at their defaults.
    result = _cli("diff", *files, "--tolerance", "rss_growth:50%")
    assert result.returncode == 1
    assert _rows(result.stdout)["tests/test_a.py::test_a", "max_tasks"][-1] == "regressed"


@pytest.mark.parametrize(
    ("tolerance", "message"),
    [
        (
            "rss_growth:lots",
            "invalid tolerance for rss_growth 'lots' from --tolerance:"
            " expected e.g. '10%', '1 MiB' or '10%+1MiB'",
        ),
        (
            "rss:5%",
            "invalid tolerance 'rss:5%' from --tolerance: expected METRIC:TOLERANCE with METRIC one of"
            " rss_growth, children_peak_rss, max_in_flight, max_tasks, max_threads, max_processes, max_held,"
            " max_requests, heap_peak",
        ),
        (
            "max_tasks:1.5",
            "invalid tolerance for max_tasks '1.5' from --tolerance:"
            " counts take a percentage or a whole number",
        ),
    ],
)
def test_diff_bad_tolerance(tmp_path: Path, tolerance: str, message: str) -> None:
    files = _pair(tmp_path, {"tests/test_a.py::test_a": _figures()}, {"tests/test_a.py::test_a": _figures()})
    result = _cli("diff", *files, "--tolerance", tolerance)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"boundedload: {message}\n"


def test_diff_lists_new_and_gone_tests(tmp_path: Path) -> None:
    files = _pair(
        tmp_path,
        {"tests/test_a.py::test_a": _figures(), "tests/test_old.py::test_gone": _figures()},
        {A: _figures(), "tests/test_new.py::test_added": _figures(rss_growth=1 << 30)},
    )
    result = _cli("diff", *files)
    # A new test has nothing to regress against, however large.
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "new   tests/test_new.py::test_added" in lines
    assert "gone  tests/test_old.py::test_gone" in lines
    assert f"{platform_key()} (in both): 1 test compared, 0 regressed, 1 new, 1 gone" in lines
    assert "no figure changed" in lines


def test_diff_all_lists_unchanged_figures(tmp_path: Path) -> None:
    files = _pair(tmp_path, {"tests/test_a.py::test_a": _figures()}, {"tests/test_a.py::test_a": _figures()})
    result = _cli("diff", *files, "--all")
    assert result.returncode == 0
    rows = _rows(result.stdout)
    assert len(rows) == 6
    assert rows["tests/test_a.py::test_a", "max_tasks"] == ["51", "51", "+0.0%", "0", "ok"]
    assert rows["tests/test_a.py::test_a", "children_peak_rss"] == [
        "0", "B", "0", "B", "+0.0%", "10%+1.0", "MiB", "+", "sampling", "band", "50%+4.0", "MiB", "ok"
    ]  # fmt: skip


def test_diff_platforms(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", {"tests/test_a.py::test_a": _figures()}, key=OTHER)
    new = _write(tmp_path / "new.json", {A: _figures(rss_growth=200 * MiB)}, key=OTHER)
    _write(new, {"tests/test_a.py::test_a": _figures()})  # this platform: only in NEW
    # Not this platform (only one file has it): every platform both files have.
    result = _cli("diff", str(old), str(new))
    assert result.returncode == 1
    assert f"{OTHER} (in both): 1 test compared, 1 regressed" in result.stdout
    assert platform_key() not in result.stdout
    # A platform only one file has: all its tests are new (or gone).
    result = _cli("diff", str(old), str(new), "--platform", platform_key())
    assert result.returncode == 0, result.stdout
    assert f"{platform_key()} (only in {new}): 0 tests compared" in result.stdout
    assert "new   tests/test_a.py::test_a" in result.stdout.splitlines()
    result = _cli("diff", str(old), str(new), "--platform", "Plan9-CPython-3.11")
    assert result.returncode == 2
    assert result.stderr == (
        f"boundedload: neither baseline has platform 'Plan9-CPython-3.11' ({old} has: {OTHER};"
        f" {new} has: {', '.join(sorted([platform_key(), OTHER]))})\n"
    )


# --- summary -----------------------------------------------------------------------------


def _delta(metric: str, old: int, new: int, tolerance: str, regressed: bool) -> dict[str, Any]:
    percent = None if old == 0 else (new - old) * 100.0 / old
    return {
        "metric": metric, "old": old, "new": new, "percent": percent,
        "tolerance": tolerance, "regressed": regressed,
    }  # fmt: skip


REPORT: dict[str, Any] = {
    "schema": 1,
    "platform": "Linux-CPython-3.11",
    "tests": [
        {
            "nodeid": "tests/test_a.py::test_fine",
            "outcome": "passed",
            "measurement": {"rss_growth": 2 * MiB, "max_tasks": 51, "max_in_flight": 50, "peak_rss": 1},
            "limits": {"max_tasks": 120},
            "violations": [],
            "baseline": {"status": "compared", "deltas": [_delta("max_tasks", 51, 51, "0", False)]},
        },
        {
            "nodeid": "tests/test_a.py::test_new[a|b]",
            "outcome": "passed",
            "measurement": {"rss_growth": 512, "max_tasks": 2, "max_in_flight": 1},
            "limits": {},
            "violations": [],
            "baseline": {"status": "new", "deltas": []},
        },
        {
            "nodeid": "tests/test_b.py::test_gather",
            "outcome": "failed",
            "measurement": {"rss_growth": 130 * MiB, "max_tasks": 20001, "max_in_flight": 20000},
            "limits": {"max_tasks": 120, "max_rss_growth": 64 * MiB},
            "violations": [
                "max_rss_growth 130.0 MiB > limit 64.0 MiB (RSS growth over the window)",
                "max_tasks 20001 > limit 120 (live asyncio tasks high-water)",
            ],
            "baseline": {
                "status": "compared",
                "deltas": [
                    _delta("rss_growth", 100 * MiB, 130 * MiB, "10%+1.0 MiB", True),
                    _delta("max_tasks", 0, 20001, "0", True),
                ],
            },
        },
        {
            "nodeid": "tests/test_c.py::test_unmeasured",
            "outcome": "passed",
            "measurement": None,
            "limits": {},
            "violations": [],
            "baseline": {"status": None, "deltas": []},
        },
    ],
}


def test_summary_prints_a_markdown_table(tmp_path: Path) -> None:
    path = tmp_path / "boundedload-report.json"
    path.write_text(json.dumps(REPORT))
    result = _cli("summary", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == (
        "### pytest-boundedload\n"
        "\n"
        "4 measured tests on `Linux-CPython-3.11`: 1 failed, 1 regressed against the baseline,"
        " 1 new (no baseline entry).\n"
        "\n"
        "| test | outcome | rss growth | max tasks | max in flight | regressions |\n"
        "|---|---|---:|---:|---:|---|\n"
        # Failed and regressed tests first, then the others in report order.
        "| `tests/test_b.py::test_gather` | **failed** | 130.0 MiB (limit 64.0 MiB) | 20001 (limit 120)"
        " | 20000 | rss_growth 100.0 MiB -> 130.0 MiB (+30.0%, over 10%+1.0 MiB)<br>"
        "max_tasks 0 -> 20001 (from 0, over 0) |\n"
        "| `tests/test_a.py::test_fine` | passed | 2.0 MiB | 51 (limit 120) | 50 | none |\n"
        "| `tests/test_a.py::test_new[a\\|b]` | passed | 512 B | 2 | 1 | new (no baseline entry) |\n"
        "| `tests/test_c.py::test_unmeasured` | passed | - | - | - | - |\n"
        "\n"
        "**Limits crossed**\n"
        "\n"
        "- `tests/test_b.py::test_gather`:"
        " `max_rss_growth 130.0 MiB > limit 64.0 MiB (RSS growth over the window)`\n"
        "- `tests/test_b.py::test_gather`: `max_tasks 20001 > limit 120 (live asyncio tasks high-water)`\n"
    )


def test_summary_of_a_run_without_measured_tests(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema": 1, "platform": "Linux-CPython-3.11", "tests": []}))
    result = _cli("summary", str(path))
    assert result.returncode == 0
    assert result.stdout == "### pytest-boundedload\n\nNo measured tests on `Linux-CPython-3.11`.\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (None, "no report at {path}"),
        ("{", "report {path} is not valid JSON: Expecting property name enclosed in double quotes:"
              " line 1 column 2 (char 1)"),
        ('{"schema": 1}', 'report {path} is not a pytest-boundedload JSON report (no "tests" list)'),
        ('{"schema": 2, "tests": []}', "report {path} has schema version 2;"
                                       " this version of pytest-boundedload reads version 1"),
        ('{"schema": 1, "tests": [{"outcome": "passed"}]}',
         'report {path}: test #1 is not an object with a "nodeid"'),
    ],
)  # fmt: skip
def test_summary_refuses_a_bad_report(tmp_path: Path, text: str | None, why: str) -> None:
    path = tmp_path / "report.json"
    if text is not None:
        path.write_text(text)
    result = _cli("summary", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"boundedload: {why.format(path=path)}\n"


# --- wiring ------------------------------------------------------------------------------


def test_add_parser_wires_the_baseline_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What cli.main does: add_parser on its subcommands, then run() on ``baseline``."""
    parser = argparse.ArgumentParser(prog="boundedload")
    add_parser(parser.add_subparsers(dest="command", required=True))
    path = _write(tmp_path / "baseline.json", {"tests/test_a.py::test_a": _figures()})
    args = parser.parse_args(["baseline", "show", str(path)])
    assert args.command == "baseline"
    assert run(args) == 0
    assert "tests/test_a.py::test_a" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["baseline"])  # a sub-subcommand is required
    assert exc.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_show_and_diff_give_recorded_ranges(tmp_path: Path) -> None:
    entry = {**_figures(), "max_held": [4932, 4952], "max_threads": [7, 8], "n": 5000}
    old = _write(tmp_path / "old.json", {A: entry})
    result = _cli("show", str(old))
    assert result.returncode == 0, result.stderr
    (row,) = [line.split() for line in result.stdout.splitlines() if line.startswith("tests/")]
    assert row[1] == "5000"
    # max_threads, max_processes, max_held, max_requests, heap_peak
    assert row[-5:] == ["7..8", "0", "4932..4952", "-", "-"]
    # diff: NEW's high against OLD's entry, by the same rules as the gate.
    new = _write(tmp_path / "new.json", {A: {**entry, "max_held": 5000, "max_tasks": 2600}})
    result = _cli("diff", str(old), str(new))
    assert result.returncode == 1
    rows = _rows(result.stdout)
    assert rows[A, "max_held"] == ["4932..4952", "5000", "+1.0%", "0", "+", "pace", "band", "50%+2", "ok"]
    assert rows[A, "max_tasks"][:2] == ["51", "2600"]
    assert (
        " ".join(rows[A, "max_tasks"][2:])
        == "+4998.0% bounded (<= 51) -> grows with N (2600 of N=5000) regressed"
    )


def test_summary_gives_recorded_ranges_and_kind_changes(tmp_path: Path) -> None:
    deltas = [
        {**_delta("max_held", 4952, 9000, "0 + pace band 50%+2", True), "low": 4932, "rule": ""},
        {
            **_delta("max_tasks", 22, 5001, "0", True),
            "low": 22,
            "rule": "bounded (<= 22) -> grows with N (5001 of N=5000)",
        },
    ]
    test = {
        "nodeid": "tests/test_a.py::test_a",
        "outcome": "failed",
        "measurement": {"rss_growth": MiB, "max_tasks": 5001, "max_in_flight": 1},
        "limits": {},
        "violations": [],
        "baseline": {"status": "compared", "deltas": deltas},
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema": 1, "platform": "Linux-CPython-3.11", "tests": [test]}))
    result = _cli("summary", str(path))
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("| `tests/")]
    assert row.split(" | ")[-1] == (
        "max_held 4932..4952 -> 9000 (+81.7%, over 0 + pace band 50%+2)<br>"
        "max_tasks bounded (<= 22) -> grows with N (5001 of N=5000) |"
    )


def test_diff_lists_a_figure_whose_recorded_low_moved(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", {A: {**_figures(), "max_threads": 8, "n": 5000}})
    new = _write(tmp_path / "new.json", {A: {**_figures(), "max_threads": [7, 8], "n": 5000}})
    result = _cli("diff", str(old), str(new))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == [(A, "max_threads")]
    assert rows[A, "max_threads"] == ["8", "7..8", "+0.0%", "0", "+", "pace", "band", "50%+2", "ok"]
