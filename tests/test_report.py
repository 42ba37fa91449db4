"""What the plugin shows: status, failure text, report sections, summary, header; and the
``flood`` fixture's explicit windows and patching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_boundedload import format_size

if TYPE_CHECKING:
    from conftest import Project, Run

MiB = 1024 * 1024
# Hypothesis's plugin re-imports hypothesis at the end of every in-process run (pytester
# restores sys.modules), about a second each; these sample projects do not use it.
FAST = ("-p", "no:hypothesispytest")

FIELDS = [
    "peak_rss",
    "rss_growth",
    "children_peak_rss",
    "max_in_flight",
    "max_tasks",
    "max_threads",
    "max_processes",
    "max_held",
    "max_requests",
    "tasks_started",
    "tasks_done",
    "tasks_failed",
    "items_taken",
    "duration",
    "peak_source",
]
TASKS_LINE = "max_tasks 16 > limit 15 (live asyncio tasks high-water)"
IN_FLIGHT_LINE = "max_in_flight 15 > limit 14 (probe tasks in flight high-water)"

BURST = """
import asyncio

import pytest


async def burst(flood, n):
    await asyncio.gather(*(flood.aworker(t) for t in flood.tasks(n, latency="20ms")))
"""

STATUS = (
    BURST
    + """

def test_measured_pass(flood):
    asyncio.run(burst(flood, 15))


@pytest.mark.boundedload(max_tasks=15)
def test_crossing(flood):
    asyncio.run(burst(flood, 15))


def test_own_failure(flood):
    assert 1 + 1 == 3


def test_unmeasured():
    pass
"""
)


def test_status_letter_and_word(project: Project) -> None:
    project.pytester.makepyfile(test_status=STATUS)
    quiet = project.run_inprocess(*FAST)
    quiet.result.stdout.fnmatch_lines(["test_status.py .UF. *[[]100%[]]"])
    quiet.result.assert_outcomes(passed=2, failed=2)

    verbose = project.run_inprocess(*FAST, "-v")
    verbose.result.stdout.fnmatch_lines(
        [
            "test_status.py::test_measured_pass PASSED *",
            "test_status.py::test_crossing UNBOUNDED *",
            "test_status.py::test_own_failure FAILED *",
            "test_status.py::test_unmeasured PASSED *",
        ]
    )
    verbose.result.stdout.fnmatch_lines(
        ["UNBOUNDED test_status.py::test_crossing - *", "FAILED test_status.py::test_own_failure - *"]
    )
    assert verbose.violations("test_crossing") == [TASKS_LINE]
    assert verbose.violations("test_own_failure") == []


SECTIONS = (
    BURST
    + """

@pytest.mark.boundedload(max_tasks=15)
def test_one_limit(flood):
    asyncio.run(burst(flood, 15))


@pytest.mark.boundedload(max_tasks=15, max_in_flight=14)
def test_two_limits(flood):
    asyncio.run(burst(flood, 15))


@pytest.mark.boundedload(max_tasks=15)
def test_own_failure_and_limit(flood):
    asyncio.run(burst(flood, 15))
    assert 1 + 1 == 3, "the test's own failure"


@pytest.mark.boundedload(max_tasks=100)
def test_own_failure_only(flood):
    asyncio.run(burst(flood, 15))
    assert 2 + 2 == 5, "only its own failure"
"""
)


def failure_block(lines: list[str], test: str) -> list[str]:
    """The lines of ``test``'s entry in the FAILURES section, without its title line."""
    start = next(i for i, line in enumerate(lines) if line.strip("_ ") == test)
    end = start + 1
    while end < len(lines) and not lines[end].startswith(("___", "===")):
        end += 1
    return lines[start + 1 : end]


def section(block: list[str], title: str) -> list[str]:
    """The lines of the report section ``title`` inside a failure block."""
    start = next(i for i, line in enumerate(block) if line.strip("- ") == title)
    end = start + 1
    while end < len(block) and not block[end].startswith("---"):
        end += 1
    return block[start + 1 : end]


def measurement_lines(figures: dict[str, Any], limits: str) -> list[str]:
    """The ``boundedload measurement`` section for these figures, field by field."""
    lines = []
    for name in FIELDS:
        value = figures[name]
        if name in ("peak_rss", "rss_growth", "children_peak_rss"):
            shown = f"{format_size(value)} ({value} bytes)"
        elif name == "duration":
            shown = f"{value:.3f} s"
        else:
            shown = str(value)
        lines.append(f"{name:<18} {shown}")
    return [*lines, f"{'limits':<18} {limits}"]


def test_failure_text_and_sections(project: Project) -> None:
    project.pytester.makepyfile(test_sections=SECTIONS)
    run = project.run(*FAST)
    run.result.assert_outcomes(failed=4)
    lines = run.result.stdout.lines
    for name in ("test_one_limit", "test_two_limits", "test_own_failure_and_limit"):
        # heap_peak is None (not traced), and the section leaves it out.
        assert sorted(run.figures(name)) == sorted([*FIELDS, "heap_peak"])
        assert run.figures(name)["heap_peak"] is None

    # Crossing limits only: the failure is the violation lines, one per limit, then the figures.
    one = failure_block(lines, "test_one_limit")
    assert one[0] == TASKS_LINE
    assert one[1].strip("- ") == "boundedload measurement"
    assert section(one, "boundedload measurement") == measurement_lines(
        run.figures("test_one_limit"), "max_tasks=15"
    )
    assert "LimitExceeded" not in "\n".join(one)

    two = failure_block(lines, "test_two_limits")
    assert two[:2] == [IN_FLIGHT_LINE, TASKS_LINE]
    assert run.violations("test_two_limits") == [IN_FLIGHT_LINE, TASKS_LINE]
    assert section(two, "boundedload measurement") == measurement_lines(
        run.figures("test_two_limits"), "max_in_flight=14, max_tasks=15"
    )
    for block in (one, two):
        assert not any("boundedload limits crossed" in line for line in block)

    # A test failing on its own keeps its own error; the crossed limits get a section.
    both = failure_block(lines, "test_own_failure_and_limit")
    assert "E       AssertionError: the test's own failure" in both
    assert TASKS_LINE not in both[:3]
    assert section(both, "boundedload limits crossed") == [TASKS_LINE]
    assert section(both, "boundedload measurement") == measurement_lines(
        run.figures("test_own_failure_and_limit"), "max_tasks=15"
    )
    assert run.violations("test_own_failure_and_limit") == [TASKS_LINE]

    own = failure_block(lines, "test_own_failure_only")
    assert "E       AssertionError: only its own failure" in own
    assert not any("boundedload limits crossed" in line for line in own)
    assert section(own, "boundedload measurement") == measurement_lines(
        run.figures("test_own_failure_only"), "max_tasks=100"
    )
    assert run.violations("test_own_failure_only") == []

    # Only the failures caused by the (count) limits alone are UNBOUNDED; the others stay FAILED.
    run.result.stdout.fnmatch_lines_random(
        [
            "UNBOUNDED test_sections.py::test_one_limit*",
            "UNBOUNDED test_sections.py::test_two_limits*",
            "FAILED test_sections.py::test_own_failure_and_limit*",
            "FAILED test_sections.py::test_own_failure_only*",
        ]
    )


SUMMARY = (
    BURST
    + """

def test_small_first(flood):
    asyncio.run(burst(flood, 15))


def test_unmeasured():
    data = bytearray(200 * 1024 * 1024)
    assert len(data) == 200 * 1024 * 1024


@pytest.mark.boundedload(max_tasks=15)
def test_crossing(flood):
    asyncio.run(burst(flood, 15))


@pytest.mark.boundedload
def test_big():
    data = bytearray(100 * 1024 * 1024)
    assert len(data) == 100 * 1024 * 1024


def test_small_last(flood):
    pass
"""
)
MEASURED = ["test_small_first", "test_crossing", "test_big", "test_small_last"]
SUMMARY_TITLE = "boundedload: 4 measured tests by peak RSS"
SUMMARY_HEAD = "  peak rss     growth in flight    held requests   tasks threads procs  test"


def summary_block(run: Run) -> list[str]:
    """The lines under the summary title, up to the next ``===`` line."""
    lines = run.result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.strip("= ") == SUMMARY_TITLE)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("==="):
        end += 1
    return lines[start + 1 : end]


def test_summary_ranks_every_measured_test_by_peak_rss(project: Project) -> None:
    project.pytester.makepyfile(test_summary=SUMMARY)
    run = project.run(*FAST)
    run.result.assert_outcomes(passed=4, failed=1)
    assert sorted(run.records) == sorted(MEASURED)
    assert 99 * MiB <= run.figures("test_big")["rss_growth"] < 116 * MiB

    head, *rows = summary_block(run)
    assert head == SUMMARY_HEAD
    assert len(rows) == 4
    nodeids = [row.split()[10] for row in rows]
    assert nodeids[0] == "test_summary.py::test_big"
    assert sorted(nodeids) == sorted(f"test_summary.py::{name}" for name in MEASURED)
    peaks = [run.figures(nodeid.split("::")[1])["peak_rss"] for nodeid in nodeids]
    assert peaks == sorted(peaks, reverse=True)
    for row, nodeid in zip(rows, nodeids, strict=True):
        figures = run.figures(nodeid.split("::")[1])
        cells = row.split()
        assert cells[0:2] == format_size(figures["peak_rss"]).split(), row
        counts = [str(figures[name]) for name in ("max_in_flight", "max_held", "max_requests", "max_tasks")]
        assert cells[4:8] == counts, row
        crossed = nodeid.endswith("test_crossing")
        assert cells[11:] == (["[limit", "crossed]"] if crossed else []), row
    assert "test_unmeasured" not in "\n".join(rows)


@pytest.mark.parametrize("top", [1, 0])
def test_summary_size_option(project: Project, top: int) -> None:
    project.pytester.makepyfile(test_summary=SUMMARY)
    run = project.run(*FAST, f"--boundedload-summary={top}")
    run.result.assert_outcomes(passed=4, failed=1)
    assert sorted(run.records) == sorted(MEASURED)
    if top == 0:
        assert "measured tests by peak RSS" not in run.text
        assert SUMMARY_HEAD not in run.result.stdout.lines
        return
    head, row, more = summary_block(run)
    assert head == SUMMARY_HEAD
    assert row.split()[10] == "test_summary.py::test_big"
    assert more == "... 3 more measured tests (--boundedload-summary=N)"


HEADER_CASES = [
    pytest.param("", [], "limits: none", "10ms", id="default"),
    pytest.param(
        "boundedload_max_tasks = 5\nboundedload_max_rss = 8 GiB\nboundedload_interval = 25ms\n",
        [],
        "limits: max_rss=8.0 GiB, max_tasks=5",
        "25ms",
        id="ini",
    ),
    pytest.param(
        "boundedload_max_tasks = 5\nboundedload_max_rss = 8 GiB\nboundedload_interval = 25ms\n",
        [
            "--boundedload-max-tasks=9",
            "--boundedload-max-threads=7",
            "--boundedload-max-rss-growth=1610612736",
            "--boundedload-max-processes=3",
            "--boundedload-interval=0.5s",
        ],
        "limits: max_rss=8.0 GiB, max_rss_growth=1.5 GiB, max_tasks=9, max_threads=7, max_processes=3",
        "500ms",
        id="cli-over-ini",
    ),
    pytest.param(
        "",
        ["--boundedload-max-in-flight=12", "--boundedload-max-rss=16384 MiB"],
        "limits: max_rss=16.0 GiB, max_in_flight=12",
        "10ms",
        id="cli",
    ),
]


def _vmhwm_field() -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) * 1024


def _kernel_peak_resets() -> bool:
    """Whether writing 5 to /proc/self/clear_refs lowers this process's VmHWM (Linux 4.0
    and later, where the file may be written): found here, not by the plugin's check."""
    try:
        block = bytearray(32 << 20)  # a peak well above what is resident after it goes
        del block
        high = _vmhwm_field()
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _vmhwm_field() < high - (16 << 20)
    except (OSError, StopIteration):
        return False


@pytest.mark.parametrize(("ini", "args", "limits", "interval"), HEADER_CASES)
def test_report_header(
    project: Project, monkeypatch: pytest.MonkeyPatch, ini: str, args: list[str], limits: str, interval: str
) -> None:
    monkeypatch.setenv("BOUNDEDLOAD_CAP", "rlimit")  # the cap the header must then name
    if ini:
        project.pytester.makeini(f"[pytest]\n{ini}")
    project.pytester.makepyfile(test_header="def test_one(flood):\n    pass\n")
    run = project.run_inprocess(*FAST, *args)
    run.result.assert_outcomes(passed=1)
    source = "vmhwm" if _kernel_peak_resets() else "sampled"
    assert run.figures("test_one")["peak_source"] == source
    header = [line for line in run.result.stdout.lines if line.startswith("boundedload:")]
    assert header == [f"boundedload: {limits}; peak source: {source}; hard cap: rlimit; interval: {interval}"]


WINDOWS = """
import asyncio

import pytest


async def burst(flood, n):
    await asyncio.gather(*(flood.aworker(t) for t in flood.tasks(n, latency="5ms")))


@pytest.mark.boundedload(max_tasks=10)
def test_only_the_window_counts(flood):
    asyncio.run(burst(flood, 500))
    with flood.measure() as m:
        asyncio.run(burst(flood, 5))
    asyncio.run(burst(flood, 500))
    assert m.max_tasks == 6
    assert m.max_in_flight == 5
    assert m.tasks_started == 5
    assert flood.last.max_tasks == 6


@pytest.mark.boundedload(max_tasks=10)
def test_without_a_window(flood):
    asyncio.run(burst(flood, 500))
    asyncio.run(burst(flood, 5))


@pytest.mark.boundedload(max_tasks=10)
def test_the_worst_window_counts(flood):
    with flood.measure() as small:
        asyncio.run(burst(flood, 3))
    asyncio.run(burst(flood, 500))
    with flood.measure() as large:
        asyncio.run(burst(flood, 12))
    assert (small.max_tasks, large.max_tasks) == (4, 13)


def status_field(name):
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(name + ":")).split()[1]) * 1024


def test_reading_an_open_window_is_an_error(flood):
    # Before any window closed, flood.last is the call phase so far.
    assert (flood.last.tasks_started, flood.last.max_tasks) == (0, 0)
    asyncio.run(burst(flood, 7))
    resident = status_field("VmRSS")
    so_far = flood.last
    highest = status_field("VmHWM")
    assert (so_far.tasks_started, so_far.max_in_flight, so_far.max_tasks) == (7, 7, 8)
    # The peak so far: at least what was resident just before, at most the kernel's
    # peak just after; seven tasks grow it by far less than 8 MiB.
    assert resident <= so_far.peak_rss <= highest
    assert 0 <= so_far.rss_growth < 8 * 1024 * 1024
    with flood.measure() as m:
        asyncio.run(burst(flood, 2))
        with pytest.raises(RuntimeError, match="window is still open"):
            m.max_tasks
        with pytest.raises(RuntimeError, match="window is still open"):
            m.measurement
    assert m.max_tasks == 3


def test_nested_windows_are_an_error(flood):
    with flood.measure() as outer:
        with pytest.raises(RuntimeError, match="cannot be nested"):
            with flood.measure():
                pass
        asyncio.run(burst(flood, 4))
    assert outer.max_tasks == 5
    assert flood.last.max_tasks == 5
"""


def test_measure_windows(project: Project) -> None:
    project.pytester.makepyfile(test_windows=WINDOWS)
    run = project.run_inprocess(*FAST)
    run.result.assert_outcomes(passed=3, failed=2)

    only = run.figures("test_only_the_window_counts")
    assert (only["max_tasks"], only["max_in_flight"], only["tasks_started"]) == (6, 5, 5)
    assert run.violations("test_only_the_window_counts") == []

    assert run.violations("test_without_a_window") == [
        "max_tasks 501 > limit 10 (live asyncio tasks high-water)"
    ]

    # Peaks are the worst window's, counts add up over the windows.
    worst = run.figures("test_the_worst_window_counts")
    assert (worst["max_tasks"], worst["max_in_flight"], worst["tasks_started"]) == (13, 12, 15)
    assert run.violations("test_the_worst_window_counts") == [
        "max_tasks 13 > limit 10 (live asyncio tasks high-water)"
    ]
    assert run.figures("test_reading_an_open_window_is_an_error")["max_tasks"] == 3
    assert run.figures("test_nested_windows_are_an_error")["max_tasks"] == 5


PKG_MOD = """
import asyncio
from concurrent.futures import ThreadPoolExecutor


async def fetch(item):
    return ("real", item)


def work(item):
    return ("real", item)


async def fetch_all(items):
    return await asyncio.gather(*(fetch(item) for item in items))


def work_all(items, workers):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, items))
"""

PATCHING = """
import asyncio

import pytest

import pkg
from pkg import mod


def test_patch_async_by_name(flood):
    probe = flood.patch("pkg.mod.fetch")
    assert probe is flood.aworker
    assert mod.fetch is flood.aworker
    assert asyncio.run(mod.fetch_all(flood.tasks(7, latency="20ms"))) == list(range(7))


def test_patch_sync_by_object(flood):
    probe = flood.patch((mod, "work"))
    assert probe is flood.worker
    assert mod.work is flood.worker
    assert mod.work_all(flood.tasks(8, latency="50ms"), workers=4) == list(range(8))


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("nodots", ValueError, "flood.patch('nodots'): expected 'package.module.function'"),
        ("pkg..fetch", ValueError, "flood.patch('pkg..fetch'): expected 'package.module.function'"),
        ("nosuchpkg.func", ValueError, "flood.patch('nosuchpkg.func'): cannot import 'nosuchpkg'"),
        (
            "pkg.missing.func",
            ValueError,
            f"flood.patch('pkg.missing.func'): {pkg!r} has no attribute 'missing'",
        ),
        (
            "pkg.mod.nothere",
            ValueError,
            f"flood.patch('pkg.mod.nothere'): {mod!r} has no attribute 'nothere'",
        ),
        (
            (mod, "nothere"),
            ValueError,
            f"flood.patch({(mod, 'nothere')!r}): {mod!r} has no attribute 'nothere'",
        ),
        (42, TypeError, "flood.patch(): expected 'pkg.mod.func' or (obj, 'name'), got 42"),
        (
            "pkg.broken.func",
            ValueError,
            "flood.patch('pkg.broken.func'): importing 'pkg.broken' failed:"
            " No module named 'a_dependency_that_is_missing'",
        ),
    ],
)
def test_bad_target(flood, target, error, message):
    with pytest.raises(error) as info:
        flood.patch(target)
    assert str(info.value) == message


def test_patches_are_undone_after_the_test():
    assert (mod.fetch.__module__, mod.fetch.__name__) == ("pkg.mod", "fetch")
    assert asyncio.run(mod.fetch_all([1, 2])) == [("real", 1), ("real", 2)]
    assert (mod.work.__module__, mod.work.__name__) == ("pkg.mod", "work")
    assert mod.work(3) == ("real", 3)
"""


def test_patch(project: Project) -> None:
    pkg = project.pytester.mkpydir("pkg")
    (pkg / "mod.py").write_text(PKG_MOD)
    # A module that exists but cannot be imported: the error must say why, not "no attribute".
    (pkg / "broken.py").write_text("import a_dependency_that_is_missing\n")
    project.pytester.makepyfile(test_patching=PATCHING)
    run = project.run_inprocess(*FAST)
    run.result.assert_outcomes(passed=11)

    fetch = run.figures("test_patch_async_by_name")
    assert (fetch["max_in_flight"], fetch["max_tasks"]) == (7, 8)
    assert (fetch["tasks_started"], fetch["tasks_done"]) == (7, 7)

    work = run.figures("test_patch_sync_by_object")
    assert (work["max_in_flight"], work["tasks_started"], work["tasks_done"]) == (4, 8, 8)
    # The pool's 4 threads (all busy at once, so all started) and the test's own.
    assert work["max_threads"] == 4 + 1
    assert "test_patches_are_undone_after_the_test" not in run.records
