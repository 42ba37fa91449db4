"""Helpers for running pytest on sample projects and reading what the plugin measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Written into each sample project: records the figures the plugin attached to every
# call-phase report (the same user_properties that travel to the xdist controller).
_RECORDING_CONFTEST = '''
import json, os

from pytest_boundedload.outcome import decode


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    decoded = decode(report.user_properties)
    if decoded.measurement is None:
        return
    path = os.environ["BOUNDEDLOAD_TEST_RECORD"]
    with open(path, "a") as f:
        f.write(json.dumps({
            "nodeid": report.nodeid,
            "outcome": report.outcome,
            "measurement": decoded.measurement.to_dict(),
            "violations": decoded.violations,
            "baseline": decoded.baseline,
            "deltas": [delta.to_dict() for delta in decoded.deltas],
        }) + "\\n")
'''


class Run:
    """One pytest run on a sample project: the result plus the recorded figures."""

    def __init__(self, result: pytest.RunResult, record: Path) -> None:
        self.result = result
        self.records: dict[str, dict[str, Any]] = {}
        if record.exists():
            for line in record.read_text().splitlines():
                entry = json.loads(line)
                self.records[entry["nodeid"].split("::", 1)[-1]] = entry

    def figures(self, test: str) -> dict[str, Any]:
        """The Measurement dict of ``test`` (a name like ``test_x`` or ``test_x[param]``)."""
        return dict(self.records[test]["measurement"])

    def violations(self, test: str) -> list[str]:
        """The violation lines of ``test``."""
        return list(self.records[test]["violations"])

    @property
    def text(self) -> str:
        """Everything the run printed."""
        return self.result.stdout.str() + "\n" + self.result.stderr.str()


# Every sample run: no cache files, and pytest-asyncio's loop-scope default set so its
# deprecation warning does not drown the output.
_QUIET = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


class Project:
    """A sample project in a pytester directory whose runs record the plugin's figures."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self._record = pytester.path / "record.jsonl"

    def run(self, *args: str, timeout: float = 240) -> Run:
        """Run pytest in a child process (needed whenever memory is measured or it forks)."""
        self._record.unlink(missing_ok=True)
        result = self.pytester.runpytest_subprocess(*_QUIET, *args, timeout=timeout)
        return Run(result, self._record)

    def run_inprocess(self, *args: str) -> Run:
        """Run pytest in this process: fine for counts and usage errors, not for memory."""
        self._record.unlink(missing_ok=True)
        # The hypothesis plugin re-imports itself after every in-process run (about 1 s).
        result = self.pytester.runpytest_inprocess(*_QUIET, "-p", "no:hypothesispytest", *args)
        return Run(result, self._record)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A sample project whose runs record the plugin's per-test figures."""
    pytester.makeconftest(_RECORDING_CONFTEST)
    monkeypatch.setenv("BOUNDEDLOAD_TEST_RECORD", str(pytester.path / "record.jsonl"))
    return Project(pytester)
