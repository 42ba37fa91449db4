"""Pictures in --boundedload-report-dir: PNGs, flamegraphs and the index that links them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from conftest import UNBOUNDED_RUN

# Imported once, before any test: pytester restores sys.modules after each test, and
# numpy's C extension cannot be loaded a second time in a process.
from matplotlib.figure import Figure
from matplotlib.image import imread

from pytest_boundedload.flood.fit import fit
from pytest_boundedload.measure.measurement import Measurement
from pytest_boundedload.measure.timeline import Timeline
from pytest_boundedload.pictures.files import stem
from pytest_boundedload.pictures.index import FIGURES
from pytest_boundedload.pictures.plots import scaling_png, timeline_png

if TYPE_CHECKING:
    from conftest import Project

PNG = b"\x89PNG\r\n\x1a\n"
MiB = 1 << 20
COLOURS = {"tab:blue": (31, 119, 180), "tab:orange": (255, 127, 14), "tab:green": (44, 160, 44)}

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


def _is_drawn_png(path: Path) -> bool:
    """A PNG of the plots' size with the memory (blue) and a count (orange) in it; where
    each point lands is checked on plots of known figures below."""
    if path.read_bytes()[:8] != PNG:
        return False
    pixels = (imread(path)[..., :3] * 255).round().astype(int)
    drawn = [
        int((np.abs(pixels - COLOURS[name]).sum(axis=2) <= 12).sum()) for name in ("tab:blue", "tab:orange")
    ]
    return pixels.shape == (450, 800, 3) and min(drawn) > 0


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
            assert _is_drawn_png(report / name), name
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


# --- what the PNGs show --------------------------------------------------------------------


def _drawn(monkeypatch: pytest.MonkeyPatch, draw: Callable[[], None]) -> Any:
    """The matplotlib Figure ``draw`` saved (matplotlib's own savefig, watched)."""
    saved: list[Any] = []
    savefig = Figure.savefig

    def watched(self: Any, *args: Any, **kwargs: Any) -> None:
        saved.append(self)
        savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", watched)
    draw()
    (figure,) = saved
    return figure


def _colour_at(path: Path, axes: Any, x: float, y: float) -> set[str]:
    """The named colours found in the PNG within a pixel of data point (x, y) of ``axes``."""
    pixels = (imread(path)[..., :3] * 255).round().astype(int)
    column, height = axes.transData.transform((x, y))
    row = pixels.shape[0] - height  # image rows count down from the top
    around = pixels[int(row) - 1 : int(row) + 2, int(column) - 1 : int(column) + 2].reshape(-1, 3)
    return {name for name, rgb in COLOURS.items() if (np.abs(around - rgb).sum(axis=1) <= 12).any()}


def test_a_scaling_picture_shows_the_points_the_fit_and_the_counts_that_grow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Highs of the memory and the count at different sizes, none under the legend (upper
    # left), so each point can be found in the PNG.
    ns = (1000, 2000, 4000, 8000, 16000)
    memory = dict(zip(ns, (4, 2, 3, 6, 10), strict=True))  # MiB
    tasks = dict(zip(ns, (1, 1001, 3001, 9001, 8001), strict=True))
    report = fit([(n, Measurement(rss_growth=memory[n] * MiB, max_tasks=tasks[n])) for n in ns])
    path = tmp_path / "scaling.png"
    figure = _drawn(monkeypatch, lambda: scaling_png(report, "tests/t.py::test_x", path))
    axes, counts = figure.axes
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel(), counts.get_ylabel()) == (
        "tests/t.py::test_x",
        "tasks (n)",
        "MiB",
        "count",
    )
    points, line = axes.lines
    assert (list(points.get_xdata()), list(points.get_ydata())) == (list(ns), [4.0, 2.0, 3.0, 6.0, 10.0])
    # The least-squares line through those points, computed here: 73/148,800 MiB per task.
    mean_n, mean_y = sum(ns) / 5, sum(memory.values()) / 5
    slope = sum((n - mean_n) * (memory[n] - mean_y) for n in ns) / sum((n - mean_n) ** 2 for n in ns)
    assert slope == pytest.approx(73 / 148_800)
    assert report.bytes_per_task == pytest.approx(slope * MiB)
    assert list(line.get_ydata()) == pytest.approx([mean_y + slope * (n - mean_n) for n in ns])
    assert line.get_label() == f"fit: {slope * MiB:,.0f} B per task, r2 {report.r2:.3f}, superlinear"
    (plotted,) = counts.lines
    assert (plotted.get_label(), list(plotted.get_ydata())) == ("max_tasks", [1, 1001, 3001, 9001, 8001])
    legend = axes.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        "rss_growth (MiB)",
        line.get_label(),
        "max_tasks",
    ]
    # And in the PNG: a blue point at each memory figure, an orange one at each count.
    box = legend.get_window_extent()
    for n in ns:
        for where, y, colour in ((axes, memory[n], "tab:blue"), (counts, tasks[n], "tab:orange")):
            assert not box.contains(*where.transData.transform((n, y)))
            assert colour in _colour_at(path, where, n, y), (n, colour)


def test_a_timeline_picture_shows_rss_calls_in_flight_and_live_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeline = Timeline(
        times=(0.0, 0.1, 0.2), rss=(20 * MiB, 10 * MiB, 15 * MiB), in_flight=(3, 5, 0), tasks=(4, 6, 1)
    )
    path = tmp_path / "timeline.png"
    figure = _drawn(monkeypatch, lambda: timeline_png(timeline, "tests/t.py::test_x", path))
    axes, counts = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel(), counts.get_ylabel()) == (
        "seconds into the window",
        "RSS (MiB)",
        "count",
    )
    (rss,) = axes.lines
    in_flight, tasks = counts.lines
    assert list(rss.get_ydata()) == [20.0, 10.0, 15.0]
    assert (list(in_flight.get_ydata()), list(tasks.get_ydata())) == ([3, 5, 0], [4, 6, 1])
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "RSS (MiB)",
        "in flight",
        "live tasks",
    ]
    for i, t in enumerate(timeline.times):
        assert "tab:blue" in _colour_at(path, axes, t, timeline.rss[i] / MiB), t
        assert "tab:orange" in _colour_at(path, counts, t, timeline.in_flight[i]), t
        assert "tab:green" in _colour_at(path, counts, t, timeline.tasks[i]), t
