"""pytest_boundedload_measured: once per measured test, in the session's main process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

HOOK_CONFTEST = """

def pytest_sessionstart(session):
    import os
    if not hasattr(session.config, "workerinput"):  # the main process, not an xdist worker
        with open(os.environ["MEASURED"] + ".main", "w") as f:
            f.write(str(os.getpid()))

def pytest_boundedload_measured(report, measurement, violations):
    import json, os
    with open(os.environ["MEASURED"], "a") as f:
        f.write(json.dumps({
            "nodeid": report.nodeid,
            "when": report.when,
            "pid": os.getpid(),
            "max_tasks": measurement.max_tasks,
            "peak_source": measurement.peak_source,
            "violations": violations,
        }) + "\\n")
"""

SAMPLE = """
import asyncio
import os
import signal

import pytest


def gather(flood, n):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(n)])
    asyncio.run(main())


def test_within(flood):
    gather(flood, 50)


@pytest.mark.boundedload(max_tasks=20)
def test_crossed(flood):
    gather(flood, 50)


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_in_child(flood):
    gather(flood, 30)


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_killed_in_child(flood):
    gather(flood, 30)
    os.kill(os.getpid(), signal.SIGKILL)  # its last figures are not a measurement


def test_not_measured():
    pass


@pytest.mark.skip(reason="not today")
def test_skipped(flood):
    pass


def test_with_subtests(flood, subtests):
    for n in (10, 20):
        with subtests.test(n=n):
            with flood.measure():
                gather(flood, n)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_measured_test_is_announced_once_in_the_main_process(
    project: Project, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    measured = project.path / "measured.jsonl"
    monkeypatch.setenv("MEASURED", str(measured))
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + HOOK_CONFTEST)
    project.pytester.makepyfile(SAMPLE)
    run = project.run(*workers)
    run.result.assert_outcomes(passed=4, failed=2, skipped=1)

    entries = [json.loads(line) for line in measured.read_text().splitlines()]
    by_test = {entry["nodeid"].split("::", 1)[1]: entry for entry in entries}
    # Once each, not for every subtest; not the unmeasured, skipped or killed ones.
    assert len(entries) == len(by_test) == 4, entries
    assert by_test["test_within"]["max_tasks"] == 51
    assert by_test["test_within"]["violations"] == []
    assert by_test["test_crossed"]["max_tasks"] == 51
    assert by_test["test_crossed"]["violations"] == [
        "max_tasks 51 > limit 20 (live asyncio tasks high-water)"
    ]
    assert by_test["test_in_child"]["max_tasks"] == 31
    assert by_test["test_with_subtests"]["max_tasks"] == 21  # the worst of its windows
    assert {entry["when"] for entry in entries} == {"call"}
    # All in one process, the session's own: the controller under xdist, the parent of
    # the hard_limit child.
    main = int((project.path / "measured.jsonl.main").read_text())
    assert {entry["pid"] for entry in entries} == {main}
