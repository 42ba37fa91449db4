"""Every limit from every source (marker, ini, command line), and which source wins.

One sample project has a test per limit whose figure is known in advance: 15 probe calls
gathered at once (max_in_flight == 15, max_tasks == 16 with the ``asyncio.run`` main
task), 15 threads held at a barrier (max_threads == 16 with the test's own), 3 forked
children alive together (max_processes == 3), a 64 MiB allocation (rss_growth about
64 MiB), and any test at all for max_rss. A tight setting sits just below those figures
(or at an absurd 1 KiB for sizes), a loose one at or far above them.
"""

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

HEADER = """
import asyncio
import multiprocessing
import threading

import pytest


async def burst(flood, n):
    await asyncio.gather(*(flood.aworker(t) for t in flood.tasks(n, latency="20ms")))
"""

# limit -> (sample test, its source without decorators)
SAMPLES: dict[str, tuple[str, str]] = {
    "max_rss": (
        "test_rss",
        """
def test_rss(flood):
    assert sum(range(100)) == 4950
""",
    ),
    "max_rss_growth": (
        "test_rss_growth",
        """
def test_rss_growth(flood):
    data = bytearray(64 * 1024 * 1024)
    assert len(data) == 64 * 1024 * 1024
""",
    ),
    "max_in_flight": (
        "test_in_flight",
        """
def test_in_flight(flood):
    asyncio.run(burst(flood, 15))
""",
    ),
    "max_tasks": (
        "test_tasks",
        """
def test_tasks(flood):
    asyncio.run(burst(flood, 15))
""",
    ),
    "max_threads": (
        "test_threads",
        """
def test_threads(flood):
    barrier = threading.Barrier(15)

    def run(task):
        barrier.wait(timeout=30)
        flood.worker(task)

    threads = [threading.Thread(target=run, args=(t,)) for t in flood.tasks(15, latency="20ms")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
""",
    ),
    "max_processes": (
        "test_processes",
        """
def test_processes(flood):
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    children = [ctx.Process(target=go.wait, args=(30,)) for _ in range(3)]
    for child in children:
        child.start()
    assert all(child.is_alive() for child in children)  # each waits for go
    go.set()
    for child in children:
        child.join()
    assert [child.exitcode for child in children] == [0, 0, 0]
""",
    ),
}

TIGHT: dict[str, object] = {
    "max_rss": "1 KiB",
    "max_rss_growth": "1 KiB",
    "max_in_flight": 14,
    "max_tasks": 15,
    "max_threads": 10,
    "max_processes": 2,
}
# The count limits sit exactly at the figure: a limit holds while the peak is <= it.
LOOSE: dict[str, object] = {
    "max_rss": "64 GiB",
    "max_rss_growth": "64 GiB",
    "max_in_flight": 15,
    "max_tasks": 16,
    "max_threads": 1000,
    "max_processes": 100,
}

FIELD = {"max_rss": "peak_rss", "max_rss_growth": "rss_growth"}
DESCRIPTION = {
    "max_rss": "peak RSS of the test process",
    "max_rss_growth": "RSS growth over the window",
    "max_in_flight": "probe tasks in flight high-water",
    "max_tasks": "live asyncio tasks high-water",
    "max_threads": "OS threads high-water",
    "max_processes": "child processes high-water",
}
TIGHT_SHOWN = {
    "max_rss": "1.0 KiB",
    "max_rss_growth": "1.0 KiB",
    "max_in_flight": "14",
    "max_tasks": "15",
    "max_threads": "10",
    "max_processes": "2",
}


def sample_module(markers: dict[str, object] | None = None) -> str:
    """The sample tests; with ``markers``, each test's marker sets its own limit from
    ``markers`` and the five others loose, so only its own limit can fail it."""
    parts = [HEADER]
    for limit, (_, source) in SAMPLES.items():
        decorator = ""
        if markers is not None:
            values = {**LOOSE, limit: markers[limit]}
            kwargs = ", ".join(f"{k}={v!r}" for k, v in values.items())
            decorator = f"\n@pytest.mark.boundedload({kwargs})"
        parts.append(decorator + source)
    return "\n\n".join(parts)


def ini_text(values: dict[str, object]) -> str:
    return "[pytest]\n" + "".join(f"boundedload_{k} = {v}\n" for k, v in values.items())


def cli_args(values: dict[str, object]) -> list[str]:
    return [f"--boundedload-{k.replace('_', '-')}={v}" for k, v in values.items()]


def tight_line(limit: str, figures: dict[str, Any]) -> str:
    """The violation line a tight setting of ``limit`` gives for these figures."""
    measured = figures[FIELD.get(limit, limit)]
    shown = format_size(measured) if limit in FIELD else str(measured)
    return f"{limit} {shown} > limit {TIGHT_SHOWN[limit]} ({DESCRIPTION[limit]})"


def assert_real_load(run: Run) -> None:
    """The sample tests produced the load they were built for, whatever the limits."""
    assert 4 * MiB < run.figures("test_rss")["peak_rss"] < 1024 * MiB
    assert 60 * MiB <= run.figures("test_rss_growth")["rss_growth"] < 80 * MiB
    for name in ("test_in_flight", "test_tasks"):
        figures = run.figures(name)
        assert (figures["max_in_flight"], figures["max_tasks"]) == (15, 16), figures
        assert figures["tasks_done"] == 15
    # All 15 threads wait at the barrier together, plus the test's own thread.
    threads = run.figures("test_threads")
    assert threads["max_threads"] == 16
    assert threads["tasks_done"] == 15
    # Counted as each is created; all three wait for the event until the last has started.
    assert run.figures("test_processes")["max_processes"] == 3


# (marker, ini, cli, whether the effective limits are the tight ones)
SOURCES = [
    pytest.param(TIGHT, None, None, True, id="marker-tight"),
    pytest.param(LOOSE, None, None, False, id="marker-loose"),
    pytest.param(None, TIGHT, None, True, id="ini-tight"),
    pytest.param(None, LOOSE, None, False, id="ini-loose"),
    pytest.param(None, None, TIGHT, True, id="cli-tight"),
    pytest.param(None, None, LOOSE, False, id="cli-loose"),
    pytest.param(None, TIGHT, LOOSE, False, id="cli-loose-beats-ini-tight"),
    pytest.param(None, LOOSE, TIGHT, True, id="cli-tight-beats-ini-loose"),
    pytest.param(LOOSE, TIGHT, TIGHT, False, id="marker-loose-beats-cli-and-ini-tight"),
    pytest.param(TIGHT, LOOSE, LOOSE, True, id="marker-tight-beats-cli-and-ini-loose"),
]


@pytest.mark.parametrize(("marker", "ini", "cli", "tight"), SOURCES)
def test_every_limit_from_every_source(
    project: Project,
    marker: dict[str, object] | None,
    ini: dict[str, object] | None,
    cli: dict[str, object] | None,
    tight: bool,
) -> None:
    project.pytester.makepyfile(test_sample=sample_module(marker))
    if ini is not None:
        project.pytester.makeini(ini_text(ini))
    run = project.run(*FAST, *cli_args(cli or {}))
    assert_real_load(run)

    if not tight:
        run.result.assert_outcomes(passed=len(SAMPLES))
        for name, _ in SAMPLES.values():
            assert run.violations(name) == [], name
        return

    run.result.assert_outcomes(failed=len(SAMPLES))
    for limit, (name, _) in SAMPLES.items():
        assert run.records[name]["outcome"] == "failed"
        line = tight_line(limit, run.figures(name))
        if marker is TIGHT:
            # The marker set only this test's own limit tight, the five others loose.
            assert run.violations(name) == [line], name
        else:
            # Every limit is tight for every test, e.g. max_rss fails them all too.
            assert line in run.violations(name), name
        assert line in run.result.stdout.lines, name


CLASS_MARKERS = """
import asyncio

import pytest

pytestmark = pytest.mark.boundedload(max_in_flight=15)


async def burst(flood, n):
    await asyncio.gather(*(flood.aworker(t) for t in flood.tasks(n, latency="20ms")))


def test_module_marker_only(flood):
    asyncio.run(burst(flood, 15))


@pytest.mark.boundedload(max_tasks=15)
class TestTightClass:
    def test_class_limit(self, flood):
        asyncio.run(burst(flood, 15))

    @pytest.mark.boundedload(max_tasks=16)
    def test_function_overrides_class(self, flood):
        asyncio.run(burst(flood, 15))

    @pytest.mark.boundedload(max_in_flight=14)
    def test_function_adds_to_class(self, flood):
        asyncio.run(burst(flood, 15))


@pytest.mark.boundedload(max_tasks=100)
class TestLooseClass:
    def test_class_limit(self, flood):
        asyncio.run(burst(flood, 15))

    @pytest.mark.boundedload(max_tasks=15)
    def test_function_overrides_class(self, flood):
        asyncio.run(burst(flood, 15))
"""


def test_function_marker_over_class_marker_over_module_marker_over_cli(project: Project) -> None:
    project.pytester.makepyfile(test_marks=CLASS_MARKERS)
    run = project.run_inprocess(*FAST, "--boundedload-max-tasks=1", "--boundedload-max-in-flight=1")
    tasks = "max_tasks 16 > limit {} (live asyncio tasks high-water)"
    in_flight = "max_in_flight 15 > limit 14 (probe tasks in flight high-water)"
    expected = {
        # Module marker sets max_in_flight=15 (holds); max_tasks comes from the CLI.
        "test_module_marker_only": [tasks.format(1)],
        "TestTightClass::test_class_limit": [tasks.format(15)],
        "TestTightClass::test_function_overrides_class": [],
        "TestTightClass::test_function_adds_to_class": [in_flight, tasks.format(15)],
        "TestLooseClass::test_class_limit": [],
        "TestLooseClass::test_function_overrides_class": [tasks.format(15)],
    }
    assert sorted(run.records) == sorted(expected)
    for name, lines in expected.items():
        assert run.violations(name) == lines, name
        assert run.records[name]["outcome"] == ("failed" if lines else "passed"), name
        figures = run.figures(name)
        assert (figures["max_in_flight"], figures["max_tasks"]) == (15, 16), name
    run.result.assert_outcomes(passed=2, failed=4)


ZERO_LIMITS = """
import asyncio
import multiprocessing
import threading


def test_nothing_started(flood):
    assert sum(range(10)) == 45


def test_one_process(flood):
    child = multiprocessing.get_context("fork").Process(target=int)
    child.start()
    child.join()
    assert child.exitcode == 0


async def nothing():
    pass


def test_asyncio_run(flood):
    asyncio.run(nothing())


def test_one_more_thread(flood):
    thread = threading.Thread(target=int)
    thread.start()
    thread.join()
"""


@pytest.mark.parametrize("source", ["marker", "ini", "cli"])
def test_zero_processes_and_tasks_and_one_thread_are_limits(project: Project, source: str) -> None:
    """max_processes=0: the test starts no process; max_tasks=0: it runs no asyncio task
    (asyncio.run's main task is one); max_threads=1: it starts no thread (its own counts).
    A test that starts nothing passes all three; each other test breaks exactly one."""
    limits = {"max_processes": 0, "max_tasks": 0, "max_threads": 1}
    module = ZERO_LIMITS
    if source == "marker":
        marker = "@pytest.mark.boundedload(max_processes=0, max_tasks=0, max_threads=1)"
        module = "import pytest\n" + module.replace("def test_", f"{marker}\ndef test_")
    elif source == "ini":
        project.pytester.makeini(ini_text(limits))
    project.pytester.makepyfile(test_zero=module)
    run = project.run(*FAST, *(cli_args(limits) if source == "cli" else []))
    expected = {
        "test_nothing_started": [],
        "test_one_process": ["max_processes 1 > limit 0 (child processes high-water)"],
        "test_asyncio_run": ["max_tasks 1 > limit 0 (live asyncio tasks high-water)"],
        "test_one_more_thread": ["max_threads 2 > limit 1 (OS threads high-water)"],
    }
    assert sorted(run.records) == sorted(expected)
    for name, lines in expected.items():
        assert run.violations(name) == lines, name
        assert run.records[name]["outcome"] == ("failed" if lines else "passed"), name
    run.result.assert_outcomes(passed=1, failed=3)
