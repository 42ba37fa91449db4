"""memray tracing: the exact heap peak, and the lines of the user's code that held it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import UNBOUNDED_RUN, free_then_flood

from pytest_boundedload.memtrace.sites import HeapSite, is_user_file, top_sites

if TYPE_CHECKING:
    from conftest import Project, Run

MiB = 1024 * 1024
# The result_cache project keeps one document per request: bytes of 4,096 characters.
DOCUMENT = sys.getsizeof(b" " * 4096)
CACHE_LINE = "src/pricing/quotes.py:23 (price)"
SITE = re.compile(r"^\s+([\d.]+ \w+) in ([\d,]+) allocations, ([\d,]+) B per task, (\S+:\d+ \(\S+\))$")


def _sites(text: str) -> dict[str, int]:
    """The sites listed under the failures: bytes per task by ``file:line (function)``."""
    return {m[4]: int(m[3].replace(",", "")) for line in text.splitlines() if (m := SITE.match(line))}


def _names_the_cache(run: Run) -> None:
    sites = _sites(run.text)
    assert CACHE_LINE in sites, run.text
    assert 0.9 * DOCUMENT <= sites[CACHE_LINE] <= 1.1 * DOCUMENT, sites
    assert next(iter(sites)) == CACHE_LINE  # it holds the most


def test_the_failure_names_the_line_that_caches(project: Project) -> None:
    project.copy_fixture("result_cache")
    run = project.run("--boundedload-memray", "--boundedload-json=report.json")
    run.result.assert_outcomes(failed=1, passed=1)
    assert "max_heap " in run.text and "> limit 16.0 MiB (memray heap high-water)" in run.text
    assert "top allocation sites at the heap peak (memray):" in run.text
    _names_the_cache(run)
    report = json.loads((project.path / "report.json").read_text())
    (test,) = [t for t in report["tests"] if t["nodeid"].endswith("test_pricing_memory_is_bounded")]
    top = HeapSite.from_dict(test["heap_sites"][0])
    assert (top.file.endswith("src/pricing/quotes.py"), top.line, top.function) == (True, 23, "price")
    assert top.allocations >= 10_000
    heap_peak = test["measurement"]["heap_peak"]
    assert 10_000 * DOCUMENT <= heap_peak <= 10_000 * DOCUMENT * 1.2
    # memray's own thread is not the code's: the window saw the test's thread only.
    assert test["measurement"]["max_threads"] == 1


def test_a_test_the_cap_killed_still_says_where_it_allocated(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project.copy_fixture("result_cache")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the captures go without a report dir
    run = project.run("--boundedload-memray", "--boundedload-hard-limit=24MiB", "-k", "memory")
    run.result.assert_outcomes(failed=1)
    assert "exceeded hard_limit 24.0 MiB" in run.text
    assert re.search(r"heap peak [\d.]+ MiB \(memray\) when stopped", run.text), run.text
    sites = _sites(run.text)
    assert CACHE_LINE in sites, run.text
    assert 0.9 * DOCUMENT <= sites[CACHE_LINE] <= 1.1 * DOCUMENT, sites
    # The parent read the capture the killed child left, and removed it.
    (traces,) = tmp_path.glob("boundedload-traces-*")
    assert list(traces.iterdir()) == []


def test_under_xdist_the_sites_come_with_the_report(project: Project) -> None:
    project.copy_fixture("result_cache")
    run = project.run("--boundedload-memray", "-n", "2")
    run.result.assert_outcomes(failed=1, passed=1)
    _names_the_cache(run)


def test_pytest_memray_and_boundedload_both_report(project: Project) -> None:
    pytest.importorskip("pytest_memray")
    project.copy_fixture("result_cache")
    run = project.run("--memray", "--boundedload-memray")
    run.result.assert_outcomes(failed=1, passed=1)
    assert "RuntimeError" not in run.text
    assert "MEMRAY REPORT" in run.text  # pytest-memray's
    _names_the_cache(run)  # ours, read from pytest-memray's capture
    assert run.figures("test_pricing_memory_is_bounded")["heap_peak"] >= 10_000 * DOCUMENT


OWN_TRACKER = """
import memray
import pytest


@pytest.mark.boundedload()
def test_traces_itself(tmp_path):
    with memray.Tracker(tmp_path / "own.bin"):
        data = [bytes(1000) for _ in range(100)]
    assert data


@pytest.mark.boundedload(memray=False)
def test_traces_itself_untraced(tmp_path):
    with memray.Tracker(tmp_path / "own.bin"):
        data = [bytes(1000) for _ in range(100)]
    assert data
"""


def test_a_test_with_its_own_tracker_is_told_to_use_memray_false(project: Project) -> None:
    project.pytester.makepyfile(test_own=OWN_TRACKER)
    run = project.run("--boundedload-memray", "-p", "no:memray")
    run.result.assert_outcomes(failed=1, passed=1)
    assert "mark it @pytest.mark.boundedload(memray=False)" in run.text
    assert run.figures("test_traces_itself_untraced")["heap_peak"] is None


# test_frees leaves ~30 MiB of free pymalloc space behind; the flood's heap peak counts
# objects, so it cannot depend on that.
REPEATED = free_then_flood(5_000, "memray=True")


def test_the_heap_peak_is_the_same_alone_first_and_after_others(project: Project) -> None:
    reference, figures = project.alone_and_in_a_session(REPEATED, "heap_peak", ())
    assert 2 * MiB <= reference <= 16 * MiB
    allowed = max(reference // 20, 512 * 1024)
    for label, peak in figures.items():
        assert reference - allowed <= peak <= reference + allowed, (label, peak, reference)


GROWING = """
import os

import pytest

KEPT = []


@pytest.mark.boundedload(memray=True)
def test_grows():
    KEPT.extend(bytes(1000) for _ in range(int(os.environ["ITEMS"])))
"""


def test_the_baseline_gate_compares_the_heap_peak(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_growing=GROWING)
    monkeypatch.setenv("ITEMS", "1000")
    project.run("--boundedload-save").result.assert_outcomes(passed=1)
    saved = json.loads((project.path / ".boundedload" / "baseline.json").read_text())
    (figures,) = next(iter(saved["platforms"].values())).values()
    assert 1000 * 1033 <= figures["heap_peak"] <= 1000 * 1033 + 256 * 1024
    monkeypatch.setenv("ITEMS", "8000")
    run = project.run("--boundedload-compare")
    run.result.assert_outcomes(failed=1)
    assert "baseline regression: heap_peak" in run.text


@pytest.mark.parametrize(
    ("args", "source", "message"),
    [
        pytest.param(
            (),
            '@pytest.mark.boundedload(memray="yes")',
            "invalid memray='yes' from marker on test_bad.py::test_x: must be True or False",
            id="marker-not-bool",
        ),
        pytest.param(
            (),
            '@pytest.mark.boundedload(memray=False, max_heap="1 MiB")',
            "invalid memray=False from marker on test_bad.py::test_x: its max_heap limit is checked"
            " against memray's heap peak (remove one of them)",
            id="max_heap-untraced",
        ),
        pytest.param(
            ("--boundedload-memray-top=0",),
            "",
            "invalid memray_top='0' from option --boundedload-memray-top: must be greater than zero",
            id="top-zero",
        ),
        pytest.param(
            ("--boundedload-report-dir=test_bad.py",),
            "",
            "invalid report_dir='test_bad.py' from option --boundedload-report-dir:"
            " {path}/test_bad.py is not a directory",
            id="report-dir-is-a-file",
        ),
        pytest.param(
            ("--boundedload-max-heap=12 parsecs",),
            "",
            "invalid max_heap='12 parsecs' from option --boundedload-max-heap: unknown unit 'parsecs'",
            id="max-heap-unit",
        ),
    ],
)
def test_bad_tracing_settings_are_usage_errors(
    project: Project, args: tuple[str, ...], source: str, message: str
) -> None:
    project.pytester.makepyfile(test_bad=f"import pytest\n\n{source}\ndef test_x():\n    pass\n")
    run = project.run_inprocess(*args)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert message.format(path=project.path) in run.text, run.text


def test_sites_group_by_the_first_frame_in_user_code(tmp_path: Path) -> None:
    user = str(tmp_path / "app.py")
    stdlib = json.__file__
    plugin = sys.modules["pytest_boundedload"].__file__ or ""
    assert is_user_file(user)
    assert not is_user_file(stdlib) and not is_user_file(plugin) and not is_user_file(pytest.__file__)
    assert not is_user_file("<frozen importlib._bootstrap>")
    records = [
        # Allocated in the stdlib, called from the user's line 12: counted there.
        (3000, 3, [("dumps", stdlib, 200), ("handle", user, 12), ("main", user, 30)]),
        (1000, 1, [("handle", user, 12)]),
        (500, 5, [("cache", plugin, 1), ("main", user, 30)]),
        (100, 1, [("dumps", stdlib, 200)]),  # no user frame: the innermost frame
        (50, 1, []),
    ]
    sites = top_sites(records, 3)
    assert [(s.size, s.allocations, s.line, s.function) for s in sites] == [
        (4000, 4, 12, "handle"),
        (500, 5, 30, "main"),
        (100, 1, 200, "dumps"),
    ]
    assert sites[0].describe(tasks=4).startswith("3.9 KiB in 4 allocations, 1,000 B per task, ")
    assert sites[0].describe().endswith("app.py:12 (handle)")
    assert HeapSite.from_dict(sites[0].to_dict()) == sites[0]


WITHOUT_MEMRAY = """
import sys

sys.modules["memray"] = None  # as where memray has no wheel: importing it fails
"""

TWO_FLOODS = """
import asyncio

import pytest


@pytest.mark.parametrize("run", range(2))
def test_flood(flood, run):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(100)])

    asyncio.run(main())
"""


def test_without_memray_tracing_says_so_once_and_the_rest_works(project: Project) -> None:
    (project.path / "conftest.py").write_text((project.path / "conftest.py").read_text() + WITHOUT_MEMRAY)
    project.pytester.makepyfile(test_floods=TWO_FLOODS)
    run = project.run("--boundedload-memray", "-p", "no:memray")
    run.result.assert_outcomes(passed=2, warnings=1)
    assert run.text.count("boundedload: memray tracing is off: memray cannot be imported") == 1
    assert run.figures("test_flood[0]")["max_tasks"] == 101
    assert run.figures("test_flood[1]")["heap_peak"] is None
    # A max_heap limit cannot be checked without it: the gate says so before any test.
    run = project.run("--boundedload-max-heap=1GiB", "-p", "no:memray")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "boundedload: max_heap on test_floods.py::test_flood[0] needs memray tracing, but memray cannot"
        in run.text
    )


SCALING = (
    """
import asyncio
import json

import pytest
"""
    + UNBOUNDED_RUN
    + """

@pytest.mark.boundedload(memray=True)
@pytest.mark.parametrize("isolate", [True, False])
def test_scaling(flood, isolate, tmp_path):
    async def bounded(n):
        async def worker(items):
            for _ in items:
                await asyncio.sleep(0)

        items = iter(range(n))
        await asyncio.gather(*[worker(items) for _ in range(10)])

    reports = {
        "unbounded": flood.scaling(unbounded, ns=(1000, 4000, 16000), isolate=isolate),
        "bounded": flood.scaling(bounded, ns=(1000, 4000, 16000), isolate=isolate),
    }
    (tmp_path.parent / f"scaling-{isolate}.json").write_text(
        json.dumps({name: report.to_dict() for name, report in reports.items()})
    )
"""
)


def test_a_traced_scaling_fits_the_heap_peak(project: Project) -> None:
    project.pytester.makepyfile(test_scaling=SCALING)
    run = project.run(f"--basetemp={project.path / 'tmp'}")
    run.result.assert_outcomes(passed=2)
    for isolate in (True, False):
        reports = json.loads((project.path / "tmp" / f"scaling-{isolate}.json").read_text())
        unbounded, bounded = reports["unbounded"], reports["bounded"]
        assert unbounded["fitted"] == bounded["fitted"] == "heap_peak"
        assert all(point["heap_peak"] is not None for point in unbounded["points"])
        # Each task keeps 1,033 bytes, plus its task and coroutine while the gather runs:
        # an exact figure, so the line is exact too.
        assert 1033 + 200 <= unbounded["bytes_per_task"] <= 1033 + 3000, unbounded
        assert unbounded["r2"] > 0.999, [(p["n"], p["heap_peak"]) for p in unbounded["points"]]
        assert unbounded["growth"] == "linear"
        assert bounded["growth"] == "constant", bounded
        assert abs(bounded["bytes_per_task"]) < 16
