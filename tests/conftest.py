"""Helpers for running pytest on sample projects and reading what the plugin measured."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# pytest-randomly, once installed, shuffles and reseeds every pytest run that does not
# turn it off: the sample runs keep their files' order. langsmith (which langchain-core
# brings) registers a pytest plugin that doubles the CPU time of a pytest start (2.7 s ->
# 5.3 s for one trivial test here); hypothesis's plugin imports hypothesis whole at
# start (2.8 s -> 1.3 s of CPU for one trivial test without it), and no sample project
# uses it. pytester empties PYTEST_ADDOPTS for its runs, so the fixture below sets it
# again; plain subprocesses inherit this.
SAMPLE_ADDOPTS = "-p no:randomly -p no:langsmith_plugin -p no:hypothesispytest"
os.environ["PYTEST_ADDOPTS"] = f"{SAMPLE_ADDOPTS} {os.environ.get('PYTEST_ADDOPTS', '')}".strip()


@pytest.fixture(autouse=True)
def _sample_runs_in_order(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sample runs through pytester keep their tests' order (pytest-randomly off) and
    start without langsmith's and hypothesis's plugins."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", SAMPLE_ADDOPTS)
        # With PYTHONDONTWRITEBYTECODE set, every sample run in a child process compiles
        # the plugins' modules again to rewrite their asserts (0.3 s of CPU a run here);
        # unset, the first run caches them. (In-process runs keep this process's setting.)
        monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)


# Written into each sample project: records the figures the plugin attached to every
# call-phase report (the same user_properties that travel to the xdist controller).
_RECORDING_CONFTEST = """
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
"""


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


# The example projects (fixtures/ at the top of the repository).
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def free_then_flood(tasks: int, marker: str = "", *, empty_pools: bool = False) -> str:
    """A sample test file: ``test_frees`` leaves ~30 MiB of free pymalloc space (7 of
    every 8 objects freed, the rest kept so their pools stay), with ``empty_pools`` also
    ~25 MiB of empty pools in arenas a few objects keep (objects of any size can take
    those); then ``test_flood[0..3]``, ``@pytest.mark.boundedload(marker)``, gathers
    ``tasks`` probe calls. A test measured after ``test_frees`` finds its objects' room
    resident already; run alone, it does not."""
    large = (
        "\n    large = [bytes(400) for _ in range(60_000)]\n    KEPT.extend(large[::1000])\n    del large"
        if empty_pools
        else ""
    )
    return f"""
import asyncio

import pytest

KEPT = []


def test_frees():
    objects = [(i, str(i)) for i in range(300_000)]
    KEPT.extend(objects[::8]){large}
    del objects


@pytest.mark.parametrize("run", range(4))
@pytest.mark.boundedload({marker})
def test_flood(flood, run):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks({tasks})])

    asyncio.run(main())
"""


# For sample test files (they import asyncio): a run for flood.scaling whose memory grows
# with n, 1,000 bytes kept a task until all n tasks are done.
UNBOUNDED_RUN = """
KEPT = []


async def unbounded(n):
    async def one(i):
        await asyncio.sleep(0)
        KEPT.append(bytes(1000))

    await asyncio.gather(*[one(i) for i in range(n)])
    KEPT.clear()
"""


# Every sample run: no cache files, and pytest-asyncio's loop-scope default set so its
# deprecation warning does not drown the output.
_QUIET = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


class Project:
    """A sample project in a pytester directory whose runs record the plugin's figures."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self._record = pytester.path / "record.jsonl"

    def copy_fixture(self, name: str) -> None:
        """Copy the example project ``fixtures/<name>`` here (next to the recording
        conftest.py, which its pytest.ini makes part of the rootdir)."""
        shutil.copytree(
            FIXTURES / name, self.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )

    def alone_and_in_a_session(
        self, source: str, figure: str, *sessions: tuple[str, ...]
    ) -> tuple[int, dict[str, int]]:
        """``figure`` of ``test_flood[2]`` of ``source`` (see :func:`free_then_flood`)
        run alone, and of the four runs of ``test_flood`` after ``test_frees`` in each of
        ``sessions`` (the extra arguments of a whole run: ``()`` serial, ``("-n", "2")``)."""
        self.pytester.makepyfile(test_order=source)
        alone = self.run("test_order.py::test_flood[2]")
        alone.result.assert_outcomes(passed=1)
        figures: dict[str, int] = {}
        for args in sessions:
            run = self.run(*args)
            run.result.assert_outcomes(passed=5)
            for i in range(4):
                figures[f"{' '.join(args) or 'serial'} {i}"] = run.figures(f"test_flood[{i}]")[figure]
        return alone.figures("test_flood[2]")[figure], figures

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
