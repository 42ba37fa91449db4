"""A gate that cannot pass by mistake: no baseline to compare with, what a save wrote,
tolerances that cannot be met or are given twice."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.store import Baseline, lock_path

if TYPE_CHECKING:
    from conftest import Project

TESTS = """
import os

def test_a(flood):
    items = list(flood.tasks(int(os.environ.get("N_A", "20"))))  # max_held: all of them
    list(map(flood.worker, items))


def test_b(flood):
    list(map(flood.worker, flood.tasks(20)))
"""


NINES = "9" * 400


def _path(project: Project) -> str:
    return str(project.path / ".boundedload" / "baseline.json")


def test_compare_without_a_baseline_is_a_usage_error(project: Project) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    run = project.run_inprocess("--boundedload-compare")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert run.result.stderr.lines[0] == (
        f"ERROR: boundedload: --boundedload-compare: no baseline at {_path(project)};"
        " save one first (--boundedload-save), or pass --boundedload-allow-missing for a first run"
    )


def test_a_first_run_may_compare_with_no_baseline_when_told(project: Project) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    run = project.run_inprocess("--boundedload-compare", "--boundedload-allow-missing")
    run.result.assert_outcomes(passed=2)
    assert run.records["test_a"]["baseline"] == "new"
    # Saving and comparing in one run is a first run too.
    run = project.run_inprocess("--boundedload-compare", "--boundedload-save")
    run.result.assert_outcomes(passed=2)
    assert sorted(Baseline.load(_path(project)).entries()) == ["test_gate.py::test_a", "test_gate.py::test_b"]


def test_allow_missing_needs_compare(project: Project) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    run = project.run_inprocess("--boundedload-allow-missing")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert run.result.stderr.lines[0] == (
        "ERROR: boundedload: invalid --boundedload-allow-missing: it only applies with --boundedload-compare"
    )


def test_save_says_what_it_wrote(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    path = _path(project)
    run = project.run_inprocess("--boundedload-save")
    assert (
        f"boundedload: saved {path}: 2 added, 0 changed, 0 widened, 0 kept, 0 pruned"
        in run.result.stdout.lines
    )
    # test_a now holds more items; test_b is not run, so its entry is kept.
    monkeypatch.setenv("N_A", "30")
    run = project.run_inprocess("--boundedload-save", "-k", "test_a")
    assert (
        f"boundedload: saved {path}: 0 added, 1 changed, 0 widened, 1 kept, 0 pruned"
        in run.result.stdout.lines
    )
    # test_b removed from the file, test_a's entry's rss_growth set to what no run
    # measures: test_a changed, and test_b's entry pruned. (A re-measured test's sizes may
    # differ by a page from one run to the next; test_mutants fixes "kept" for figures
    # that are the same.)
    project.pytester.makepyfile(test_gate=TESTS.split("\n\ndef test_b")[0])
    saved = json.loads(Path(path).read_text())
    for tests in saved["platforms"].values():
        tests["test_gate.py::test_a"]["rss_growth"] = 1 << 40
    Path(path).write_text(json.dumps(saved))
    run = project.run_inprocess("--boundedload-save", "--boundedload-prune")
    assert (
        f"boundedload: saved {path}: 0 added, 1 changed, 0 widened, 0 kept, 1 pruned"
        in run.result.stdout.lines
    )
    assert list(Baseline.load(path).entries()) == ["test_gate.py::test_a"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x00\x9c\xff\x13random", "byte 0x9c at offset 1"),
        (
            json.dumps({"tool": "pytest-boundedload", "schema": 1, "platforms": {}}).encode("utf-16"),
            "byte 0xff at offset 0",
        ),
    ],
    ids=["random-bytes", "utf-16"],
)
@pytest.mark.parametrize("option", ["--boundedload-save", "--boundedload-compare"])
def test_a_baseline_that_is_not_utf8_is_a_usage_error(
    project: Project, content: bytes, why: str, option: str
) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    path = project.path / ".boundedload" / "baseline.json"
    path.parent.mkdir()
    path.write_bytes(content)
    run = project.run_inprocess(option)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert run.result.stderr.lines[0] == f"ERROR: boundedload: baseline {path} is not UTF-8 text: {why}"
    assert path.read_bytes() == content  # never overwritten


@pytest.mark.parametrize(
    ("tolerance", "message"),
    [
        (
            NINES + "%",
            # A long value is shown by its start and its length, not whole (twice).
            f"invalid tolerance '{NINES[:99]}... ({len(NINES) + 1} characters) from option"
            f" --boundedload-tolerance: {NINES[:20]}... ({len(NINES) + 1} characters) is not a finite"
            " percentage",
        ),
        (
            "rss_growth:10%,max_tasks:0,rss_growth:20%",
            "invalid tolerance 'rss_growth:10%,max_tasks:0,rss_growth:20%' from option"
            " --boundedload-tolerance: rss_growth is given twice",
        ),
    ],
    ids=["infinite", "twice"],
)
def test_tolerances_that_cannot_mean_anything(project: Project, tolerance: str, message: str) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    run = project.run_inprocess(
        "--boundedload-compare", "--boundedload-allow-missing", f"--boundedload-tolerance={tolerance}"
    )
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert run.result.stderr.lines[0] == f"ERROR: boundedload: {message}"


def test_the_baseline_directory_holds_only_the_baseline(project: Project) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    directory = project.path / ".boundedload"
    directory.mkdir()
    # What a save killed between writing and renaming leaves behind.
    (directory / ".baseline.json.k1ll3d.tmp").write_text("{")
    project.run_inprocess("--boundedload-save").result.assert_outcomes(passed=2)
    assert sorted(p.name for p in directory.iterdir()) == ["baseline.json"]
    # The lock is beside the baseline, and only while a save holds it.
    assert lock_path(directory / "baseline.json") == directory / "baseline.json.lock"


def test_a_saved_baseline_is_0644_when_new_and_keeps_its_mode(project: Project) -> None:
    project.pytester.makepyfile(test_gate=TESTS)
    path = Path(_path(project))
    project.run_inprocess("--boundedload-save").result.assert_outcomes(passed=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o664)
    project.run_inprocess("--boundedload-save").result.assert_outcomes(passed=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
