"""Pictures in --boundedload-report-dir: PNGs, flamegraphs and the index that links them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import UNBOUNDED_RUN

from pytest_boundedload.pictures.files import stem
from pytest_boundedload.pictures.index import FIGURES

if TYPE_CHECKING:
    from conftest import Project

PNG = b"\x89PNG\r\n\x1a\n"

MORE_TESTS = (
    """
import asyncio

import pytest
"""
    + UNBOUNDED_RUN
    + """

def test_scaling(flood):
    flood.scaling(unbounded, ns=(1000, 4000, 16000))


@pytest.mark.boundedload(max_tasks=100)
def test_gather(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(2000, latency="20ms")])

    asyncio.run(main())


@pytest.mark.boundedload(memray=True)
def test_passes(flood):
    async def main():
        await asyncio.gather(*[flood.aworker(t) for t in flood.tasks(100)])

    asyncio.run(main())
"""
)

QUOTES = "tests/test_quotes.py::test_pricing_memory_is_bounded"
# The caching statement of test_quotes's code, whose source line its flamegraph embeds
# with the frame that allocated the documents.
CACHE_STATEMENT = "_DOCUMENTS[quote] = document"
SCALING = "tests/test_more.py::test_scaling"
GATHER = "tests/test_more.py::test_gather"
PASSES = "tests/test_more.py::test_passes"


def _project(project: Project) -> Path:
    project.copy_fixture("result_cache")
    (project.path / "tests" / "test_more.py").write_text(MORE_TESTS)
    return project.path / "report"


def _files(report: Path) -> set[str]:
    return {path.name for path in report.iterdir()}


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_the_report_dir_has_each_tests_pictures_and_an_index(project: Project, args: tuple[str, ...]) -> None:
    report = _project(project)
    run = project.run("--boundedload-report-dir=report", *args)
    run.result.assert_outcomes(failed=2, passed=3)
    quotes, scaling, gather = stem(QUOTES), stem(SCALING), stem(GATHER)
    expected = {
        "index.html",
        # The traced test that failed: its timeline, its flamegraph and the capture.
        f"{quotes}.timeline.png",
        f"{quotes}.flamegraph.html",
        f"{quotes}.memray.bin",
        # An untraced failing test: its timeline only.
        f"{gather}.timeline.png",
        # Every scaling fit, passing or not.
        f"{scaling}.scaling-0.png",
    }
    # Nothing of the passing traced test: no capture left behind either.
    assert _files(report) == expected, run.text
    for name in expected:
        if name.endswith(".png"):
            assert _is_png(report / name), name
    flamegraph = (report / f"{quotes}.flamegraph.html").read_text()
    assert "<html" in flamegraph.lower() and CACHE_STATEMENT in flamegraph
    index = (report / "index.html").read_text()
    links = set(re.findall(r'(?:href|src)="([^"#]+)"', index))
    assert links == expected - {"index.html"}
    for nodeid in (QUOTES, GATHER, SCALING):
        assert nodeid in index
    assert PASSES not in index
    assert "max_heap " in index  # the violation under the test's heading
    # test_quotes's row: ~40 MiB of documents in the heap_peak column.
    (row,) = [line for line in re.findall(r"<tr>.*?</tr>", index) if QUOTES in line]
    heap_peak = re.findall(r"<td>(.*?)</td>", row)[2 + FIGURES.index("heap_peak")]
    assert re.fullmatch(r"(39|4[0-7])\.\d MiB", heap_peak), row


def test_a_capped_test_gets_its_flamegraph_from_the_parent(project: Project) -> None:
    report = _project(project)
    run = project.run(
        "--boundedload-report-dir=report", "--boundedload-hard-limit=24MiB", "-k", "memory_is_bounded"
    )
    run.result.assert_outcomes(failed=1)
    assert "exceeded hard_limit 24.0 MiB" in run.text
    quotes = stem(QUOTES)
    # Killed: no timeline (nothing is drawn in a capped child), the flamegraph of what
    # the capture holds, drawn by the parent.
    assert _files(report) == {"index.html", f"{quotes}.flamegraph.html", f"{quotes}.memray.bin"}
    assert CACHE_STATEMENT in (report / f"{quotes}.flamegraph.html").read_text()


def test_without_matplotlib_it_says_once_how_to_get_it(project: Project) -> None:
    report = _project(project)
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + '\nimport sys\nsys.modules["matplotlib"] = None\n')
    run = project.run("--boundedload-report-dir=report", "-p", "no:randomly")
    run.result.assert_outcomes(failed=2, passed=3)
    assert run.text.count("pip install 'pytest-boundedload[plot]' for PNG pictures") == 1
    assert not [name for name in _files(report) if name.endswith(".png")]
    assert f"{stem(QUOTES)}.flamegraph.html" in _files(report)


def test_stems_are_safe_short_and_distinct() -> None:
    a, b = stem("tests/test_x.py::test_y[a/b]"), stem("tests/test_x.py::test_y[a:b]")
    assert a != b
    assert re.fullmatch(r"[A-Za-z0-9._-]+", a)
    assert a.startswith("tests_test_x.py-test_y_a_b")
    long = stem("tests/test_x.py::test_y[" + "x" * 500 + "]")
    assert len(long) <= 110
