"""The baseline gate: save, compare with a tolerance, xdist, concurrent saves, bad files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_boundedload.baseline.store import Baseline, platform_key

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024

# Each test holds 200 payloads at once; the payload size comes from the environment so
# that a second run can make one test hold more.
PAYLOADS = """
import asyncio
import os


def flood_with(flood, kib):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(200, payload=kib * 1024, latency="5ms")])

    asyncio.run(main())


def test_a(flood):
    flood_with(flood, int(os.environ.get("KIB_A", "256")))


def test_b(flood):
    flood_with(flood, int(os.environ.get("KIB_B", "256")))
"""

NEW_TEST = """

def test_c(flood):
    flood_with(flood, 256)
"""


def _baseline(project: Project) -> dict[str, dict[str, int]]:
    return Baseline.load(project.path / ".boundedload" / "baseline.json").entries()


def test_save_then_compare(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    saved = project.run("--boundedload-save")
    saved.result.assert_outcomes(passed=2)
    entries = _baseline(project)
    assert sorted(entries) == ["test_payloads.py::test_a", "test_payloads.py::test_b"]
    growth_a = entries["test_payloads.py::test_a"]["rss_growth"]
    assert 45 * MiB <= growth_a < 80 * MiB  # 200 x 256 KiB (50 MiB) held at once
    assert entries["test_payloads.py::test_a"]["max_tasks"] == 201

    # test_a holds 30 % more, test_b 5 % more, and a new test_c appears.
    monkeypatch.setenv("KIB_A", str(int(256 * 1.3)))
    monkeypatch.setenv("KIB_B", str(int(256 * 1.05)))
    test_file = project.path / "test_payloads.py"
    test_file.write_text(test_file.read_text() + NEW_TEST)
    before = (project.path / ".boundedload" / "baseline.json").read_text()
    run = project.run("--boundedload-compare", "-rA")
    run.result.assert_outcomes(passed=2, failed=1)
    assert run.records["test_a"]["outcome"] == "failed"
    assert run.records["test_b"]["outcome"] == "passed"
    assert run.records["test_c"]["outcome"] == "passed"
    assert run.records["test_c"]["baseline"] == "new"
    assert run.records["test_b"]["baseline"] == "compared"
    # The failure names the metric, the old and new figures and the change in percent.
    (line,) = [v for v in run.violations("test_a") if v.startswith("baseline regression:")]
    assert line.startswith("baseline regression: rss_growth ")
    assert "over tolerance 10%+1.0 MiB" in line
    percent = float(line.split("(")[1].split("%")[0])
    assert 20 < percent < 40, line
    run.result.stdout.fnmatch_lines(
        ["*_ test_a _*", "baseline regression: rss_growth * -> * (+*%), over tolerance*"]
    )
    # The summary has a regression table and lists the new test.
    run.result.stdout.fnmatch_lines(
        [
            "*boundedload: compared with*baseline.json*",
            "metric *baseline *now *why *test",
            "rss_growth * +*%, over 10%+1.0 MiB  test_payloads.py::test_a",
            "new (no baseline entry): test_payloads.py::test_c",
        ]
    )
    # Comparing never writes the baseline.
    assert (project.path / ".boundedload" / "baseline.json").read_text() == before

    # A looser tolerance for that metric lets the same change pass.
    loose = project.run("--boundedload-compare", "--boundedload-tolerance=rss_growth:50%+1MiB")
    loose.result.assert_outcomes(passed=3)


def test_save_keeps_tests_not_run_unless_pruned(project: Project) -> None:
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    project.run("--boundedload-save").result.assert_outcomes(passed=2)
    project.run("--boundedload-save", "-k", "test_a").result.assert_outcomes(passed=1)
    assert sorted(_baseline(project)) == ["test_payloads.py::test_a", "test_payloads.py::test_b"]
    # A deselection is not a removal: prune keeps test_b's entry and says why.
    run = project.run("--boundedload-save", "--boundedload-prune", "-k", "test_a")
    run.result.assert_outcomes(passed=1)
    assert sorted(_baseline(project)) == ["test_payloads.py::test_a", "test_payloads.py::test_b"]
    assert "boundedload: prune skipped: 1 collected test was deselected" in run.text
    # test_b removed from the file: a complete run prunes its entry.
    project.pytester.makepyfile(test_payloads=PAYLOADS.split("\n\ndef test_b")[0])
    project.run("--boundedload-save", "--boundedload-prune").result.assert_outcomes(passed=1)
    assert sorted(_baseline(project)) == ["test_payloads.py::test_a"]


MANY = """
import asyncio
import os

import pytest


@pytest.mark.parametrize("i", range(200))
def test_many(flood, i):
    if i == 137 and os.environ.get("CRASH"):
        os._exit(1)

    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(i % 7 + 1)])

    asyncio.run(main())
"""


@pytest.mark.parametrize("crash", [False, True], ids=["all", "one-worker-dies"])
def test_xdist_saves_every_entry(project: Project, monkeypatch: pytest.MonkeyPatch, crash: bool) -> None:
    if crash:
        monkeypatch.setenv("CRASH", "1")
    project.pytester.makepyfile(test_many=MANY)
    run = project.run("-n", "4", "--boundedload-save", timeout=240)
    for _ in range(2):
        # xdist itself may stop the session when it sends more tests to the worker that
        # has just died (pytest-xdist#204: "cannot send (already closed?)"); that race is
        # not what this test is about, so such a run is run again, at most twice.
        if "cannot send (already closed?)" not in run.text:
            break
        (project.path / ".boundedload" / "baseline.json").unlink(missing_ok=True)
        run = project.run("-n", "4", "--boundedload-save", timeout=240)
    entries = _baseline(project)
    expected = {f"test_many.py::test_many[{i}]" for i in range(200)}
    if crash:
        assert "crashed while running" in run.text
        expected.discard("test_many.py::test_many[137]")
    assert set(entries) == expected
    assert entries["test_many.py::test_many[6]"]["max_tasks"] == 8


# Sessions saving at the same moment (each with its own environment) keep each other's
# entries: tests/test_baseline_integrity.py forces their saves to overlap.


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{not json",
            "baseline {path} is not valid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)",
        ),
        (
            json.dumps({"schema": 99, "tool": "pytest-boundedload", "platforms": {}}),
            "baseline {path} has schema version 99;"
            " this version of pytest-boundedload reads versions 1 and 2",
        ),
        (
            json.dumps({"name": "something else"}),
            'baseline {path} is not a pytest-boundedload baseline (no "tool": "pytest-boundedload")',
        ),
        (None, "baseline {path} is a directory, not a file"),
    ],
    ids=["corrupt", "schema", "not-ours", "directory"],
)
@pytest.mark.parametrize("option", ["--boundedload-save", "--boundedload-compare"])
def test_bad_baseline_files_are_usage_errors(
    project: Project, content: str | None, message: str, option: str
) -> None:
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    path = project.path / ".boundedload" / "baseline.json"
    if content is None:
        path.mkdir(parents=True)
    else:
        path.parent.mkdir()
        path.write_text(content)
    run = project.run_inprocess(option)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    if content is None:
        # Found with the other paths the plugin writes or reads, before the session.
        message = (
            "invalid baseline='.boundedload/baseline.json' (the default): {path} is a directory, not a file"
        )
    assert f"ERROR: boundedload: {message.format(path=path)}" in run.result.stderr.lines
    if content is not None:
        assert path.read_text() == content  # never overwritten


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--boundedload-compare", "--boundedload-tolerance=lots"],
            "invalid tolerance 'lots' from option --boundedload-tolerance:"
            " expected e.g. '10%', '1 MiB' or '10%+1MiB'",
        ),
        (
            ["--boundedload-compare", "--boundedload-tolerance=max_taks:0"],
            "invalid tolerance 'max_taks:0' from option --boundedload-tolerance: expected METRIC:TOLERANCE"
            " with METRIC one of rss_growth, children_peak_rss, max_in_flight, max_tasks, max_threads,"
            " max_processes, max_held, max_requests, heap_peak",
        ),
        (
            ["--boundedload-compare", "--boundedload-tolerance=max_tasks:1MiB"],
            "invalid tolerance for max_tasks '1MiB' from option --boundedload-tolerance:"
            " counts take a percentage or a whole number",
        ),
        (["--boundedload-prune"], "invalid --boundedload-prune: it only applies with --boundedload-save"),
    ],
)
def test_bad_gate_options(project: Project, args: list[str], message: str) -> None:
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    run = project.run_inprocess(*args)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert run.result.stderr.lines[0] == f"ERROR: boundedload: {message}"


def test_ini_baseline_path_and_tolerance(project: Project) -> None:
    project.pytester.makeini(
        "[pytest]\n"
        "boundedload_baseline = gate/figures.json\n"
        "boundedload_tolerance = max_tasks:0,rss_growth:50%\n"
    )
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    project.run("--boundedload-save").result.assert_outcomes(passed=2)
    assert (project.path / "gate" / "figures.json").is_file()
    assert not (project.path / ".boundedload").exists()


def test_json_report_and_junit_properties(project: Project) -> None:
    project.pytester.makepyfile(test_payloads=PAYLOADS)
    project.run("--boundedload-save").result.assert_outcomes(passed=2)
    report_path = project.path / "out" / "report.json"
    junit = project.path / "junit.xml"
    run = project.run(
        "--boundedload-compare", f"--boundedload-json={report_path}", f"--junitxml={junit}", "-k", "test_a"
    )
    run.result.assert_outcomes(passed=1)
    report = json.loads(report_path.read_text())
    assert sorted(report) == ["platform", "schema", "tests"]
    assert report["schema"] == 1
    assert report["platform"] == platform_key()
    (test,) = report["tests"]
    keys = ["baseline", "crashed", "heap_sites", "limits", "measurement", "nodeid", "outcome", "stopped"]
    keys.append("violations")
    assert sorted(test) == keys
    assert test["crashed"] is False
    assert test["heap_sites"] == []  # not traced with memray
    assert test["nodeid"] == "test_payloads.py::test_a"
    assert test["outcome"] == "passed"
    assert test["measurement"]["max_tasks"] == 201
    assert test["violations"] == []
    assert test["baseline"]["status"] == "compared"
    delta = test["baseline"]["deltas"][0]
    assert sorted(delta) == ["low", "metric", "new", "old", "percent", "regressed", "rule", "tolerance"]
    # JUnit XML: one <property> per figure.
    properties = {prop.get("name"): prop.get("value") for prop in ET.parse(junit).getroot().iter("property")}
    assert properties["boundedload.max_tasks"] == "201"
    assert properties["boundedload.max_in_flight"] == "200"
    assert 45 * MiB <= int(str(properties["boundedload.rss_growth"])) < 80 * MiB
    assert properties["boundedload.baseline"] == "compared"
    assert Path(report_path).parent.is_dir()


def test_prune_keeps_every_entry_when_a_worker_crashed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_many=MANY)
    project.run("-n", "2", "--boundedload-save", timeout=240)
    assert "test_many.py::test_many[137]" in _baseline(project)
    monkeypatch.setenv("CRASH", "1")
    run = project.run(
        "-n", "2", "--boundedload-save", "--boundedload-prune", "-k", "test_many[13", timeout=240
    )
    assert "crashed while running" in run.text
    entries = _baseline(project)
    # A test did not run to the end: nothing is pruned, not even the tests -k deselected
    # (tests/test_baseline_integrity.py covers the other ways a run stops early).
    assert len(entries) == 200
    assert "prune skipped: 1 of 11 collected tests did not run to the end" in run.text


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        ({}, False),  # nothing uses the verdicts: a long session keeps none
        ({"save": True}, True),
        ({"compare": True, "allow_missing": True}, True),
        ({"json_path": Path("report.json")}, True),
    ],
)
def test_verdicts_are_kept_only_when_used(tmp_path: Path, settings: dict[str, Any], kept: bool) -> None:
    from pytest_boundedload.baseline.gate import BaselineGate, GateSettings
    from pytest_boundedload.measure.measurement import Measurement
    from pytest_boundedload.outcome import Outcome

    gate = BaselineGate(GateSettings(path=tmp_path / "baseline.json", **settings), writer=True)
    gate.record("t.py::t", "passed", Outcome(measurement=Measurement(peak_rss=1)))
    assert ("t.py::t" in gate.results) is kept
