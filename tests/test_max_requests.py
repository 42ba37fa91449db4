"""max_requests: the high-water of requests in flight at the session's local servers, read
from their shared counter by every window; its limit, report, baseline and forked children.

The sample tests count requests into the counter themselves, as a server's handlers do
(``update(1, 1, 0, 0)`` when a request arrives, ``update(-1, 0, 1, 0)`` when it is
answered), so each figure is known exactly."""

from __future__ import annotations

import json
import multiprocessing
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.compare import compare, regressions
from pytest_boundedload.baseline.noise import noise_of
from pytest_boundedload.baseline.store import COMPARED
from pytest_boundedload.measure.inflight import InFlightCounter, SharedCounters
from pytest_boundedload.measure.measurement import HIGH_WATERS, Measurement

if TYPE_CHECKING:
    from conftest import Project, Run

FAST = ("-p", "no:hypothesispytest")
LIMIT_LINE = "max_requests 5 > limit 3 (requests in flight at local servers high-water)"

# Requests in flight at once: from k threads that meet at a barrier while all are in
# flight, from k forked processes that do the same, or from this thread alone.
COUNTING = """
import multiprocessing
import os
import threading

import pytest

from pytest_boundedload.measure.requests import shared_request_counters


def request(counters, barrier):
    counters.update(1, 1, 0, 0)
    barrier.wait()
    counters.update(-1, 0, 1, 0)


def in_threads(k):
    counters = shared_request_counters()
    barrier = threading.Barrier(k)
    threads = [threading.Thread(target=request, args=(counters, barrier)) for _ in range(k)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def in_processes(k):
    context = multiprocessing.get_context("fork")
    counters = shared_request_counters()
    barrier = context.Barrier(k)
    processes = [context.Process(target=request, args=(counters, barrier)) for _ in range(k)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [process.exitcode for process in processes] == [0] * k


def at_once(k):
    counters = shared_request_counters()
    for _ in range(k):
        counters.update(1, 1, 0, 0)
    for _ in range(k):
        counters.update(-1, 0, 1, 0)
"""

REQUESTS = (
    COUNTING
    + """
from pytest_boundedload.measure.requests import request_counter_if_any


def test_no_counter_until_one_is_used(flood):
    # A window reads the servers' counter only when one was made: it makes no shared
    # file of its own.
    assert request_counter_if_any() is None

def test_threads(flood):
    in_threads(5)


def test_none_after_five(flood):
    pass


def test_processes(flood):
    in_processes(4)


def test_one_after_another(flood):
    for _ in range(6):
        in_threads(1)


@pytest.mark.boundedload(max_requests=3)
def test_over_the_limit(flood):
    in_threads(5)


@pytest.mark.boundedload(max_requests=5)
def test_at_the_limit(flood):
    in_threads(5)


def test_two_windows(flood):
    with flood.measure():
        at_once(2)
    with flood.measure():
        at_once(7)
"""
)


def test_the_figure_is_each_windows_exact_high_water(project: Project) -> None:
    project.pytester.makepyfile(test_requests=REQUESTS)
    report = project.path / "report.json"
    junit = project.path / "junit.xml"
    run = project.run(f"--boundedload-json={report}", f"--junitxml={junit}", "-rA")
    run.result.assert_outcomes(passed=7, failed=1)
    figures = {name: run.figures(name)["max_requests"] for name in run.records}
    assert figures == {
        "test_no_counter_until_one_is_used": 0,
        "test_threads": 5,
        "test_none_after_five": 0,  # the window reset what the test before left
        "test_processes": 4,
        "test_one_after_another": 1,
        "test_over_the_limit": 5,
        "test_at_the_limit": 5,
        "test_two_windows": 7,
    }
    assert run.violations("test_over_the_limit") == [LIMIT_LINE]
    assert run.violations("test_at_the_limit") == []
    run.result.stdout.fnmatch_lines([LIMIT_LINE])
    # The JSON report and the JUnit properties.
    tests = {test["nodeid"].split("::")[1]: test for test in json.loads(report.read_text())["tests"]}
    assert {name: test["measurement"]["max_requests"] for name, test in tests.items()} == figures
    assert tests["test_over_the_limit"]["limits"] == {"max_requests": 3}
    properties = [
        (prop.get("name"), prop.get("value"))
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.get("name") == "test_threads"
        for prop in case.iter("property")
    ]
    assert ("boundedload.max_requests", "5") in properties
    # The measurement section, the figure beside the other high-waters.
    lines = run.result.stdout.lines
    title = next(i for i, line in enumerate(lines) if " test_threads _" in line)
    start = next(i for i in range(title, len(lines)) if "boundedload measurement" in lines[i])
    section = lines[start + 1 : start + 12]
    assert [line.split()[0] for line in section[3:9]] == [
        "max_in_flight",
        "max_tasks",
        "max_threads",
        "max_processes",
        "max_held",
        "max_requests",
    ]
    assert section[8] == f"{'max_requests':<18} 5"
    # The summary table has a column for it.
    head = next(line for line in lines if line.startswith("  peak rss"))
    assert head == "  peak rss     growth in flight    held requests   tasks threads procs  test"
    row = next(line for line in lines if line.endswith("test_requests.py::test_two_windows"))
    assert row.split()[6] == "7"


CAPPED = (
    COUNTING
    + """
from pytest_boundedload.measure.requests import request_counter

# Made when the module is collected, in the session's process: as a server started for
# the session would, before any capped test forks.
request_counter()


def test_before(flood):
    in_threads(6)


@pytest.mark.boundedload(hard_limit="1 GiB")
def test_capped_threads(flood):
    in_threads(3)


@pytest.mark.boundedload(hard_limit="1 GiB", max_requests=3)
def test_capped_processes(flood):
    in_processes(5)


@pytest.mark.boundedload(isolate=True)
def test_isolated(flood):
    in_threads(4)


def test_after(flood):
    at_once(2)
"""
)


def test_a_forked_childs_figure_reaches_the_parent(project: Project) -> None:
    project.pytester.makepyfile(test_capped=CAPPED)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=4, failed=1)
    figures = {name: run.figures(name)["max_requests"] for name in run.records}
    assert figures == {
        "test_before": 6,
        "test_capped_threads": 3,
        "test_capped_processes": 5,
        "test_isolated": 4,
        "test_after": 2,
    }
    assert run.violations("test_capped_processes") == [
        "max_requests 5 > limit 3 (requests in flight at local servers high-water)"
    ]


SCALING = (
    COUNTING
    + """

def test_scaling(flood):
    at_once(9)
    report = flood.scaling(lambda n: at_once(n // 100), ns=(100, 200, 400))
    assert [m.max_requests for _, m in report.points] == [1, 2, 4]
    at_once(3)
"""
)


def test_scaling_children_leave_the_tests_own_figure(project: Project) -> None:
    # Each size's child shares the counter and resets it in its window; the test's own
    # window still has the 9 requests from before them.
    project.pytester.makepyfile(test_scaling=SCALING)
    run = project.run()
    run.result.assert_outcomes(passed=1)
    assert run.figures("test_scaling")["max_requests"] == 9


LIMITED = (
    COUNTING
    + """

def test_five(flood):
    at_once(5)
"""
)


@pytest.mark.parametrize(
    ("ini", "args"),
    [
        pytest.param("boundedload_max_requests = 3", (), id="ini"),
        pytest.param("", ("--boundedload-max-requests=3",), id="option"),
        pytest.param(
            "boundedload_max_requests = 10", ("--boundedload-max-requests=3",), id="option-over-ini"
        ),
    ],
)
def test_the_limit_from_ini_and_command_line(project: Project, ini: str, args: tuple[str, ...]) -> None:
    project.pytester.makeini(f"[pytest]\n{ini}\n")
    project.pytester.makepyfile(test_limited=LIMITED)
    run = project.run_inprocess(*FAST, *args)
    run.result.assert_outcomes(failed=1)
    assert run.violations("test_five") == [LIMIT_LINE]
    run.result.stdout.fnmatch_lines(["boundedload: limits: max_requests=3; *"])


ZERO_WHY = " (it bounds requests to flood's local servers; 0 would only forbid sending any)"


def assert_usage_error(run: Run, message: str) -> None:
    """The run stopped with exit code 4, printed exactly ``message`` once and ran nothing."""
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    errors = [line for line in run.result.stderr.lines if line.startswith("ERROR:")]
    assert errors == [f"ERROR: boundedload: {message}"], run.text
    assert run.records == {}


@pytest.mark.parametrize(
    ("ini", "args", "marker", "message"),
    [
        pytest.param(
            "",
            ("--boundedload-max-requests=0",),
            "",
            "invalid max_requests='0' from option --boundedload-max-requests: must be greater than zero"
            + ZERO_WHY,
            id="option-zero",
        ),
        pytest.param(
            "boundedload_max_requests = many",
            (),
            "",
            "invalid max_requests='many' from ini boundedload_max_requests: expected a positive integer",
            id="ini-word",
        ),
        pytest.param(
            "",
            (),
            "max_requests=0",
            "invalid max_requests=0 from marker on test_bad.py::test_x: must be greater than zero" + ZERO_WHY,
            id="marker-zero",
        ),
        pytest.param(
            "",
            (),
            "max_requests=2.5",
            "invalid max_requests=2.5 from marker on test_bad.py::test_x: expected a positive integer",
            id="marker-float",
        ),
    ],
)
def test_bad_values_are_usage_errors(
    project: Project, ini: str, args: tuple[str, ...], marker: str, message: str
) -> None:
    project.pytester.makeini(f"[pytest]\n{ini}\n")
    project.pytester.makepyfile(
        test_bad=f"import pytest\n\n\n@pytest.mark.boundedload({marker})\ndef test_x():\n    pass\n"
    )
    assert_usage_error(project.run_inprocess(*FAST, *args), message)


GATED = (
    COUNTING
    + """

def test_requests(flood):
    at_once(int(os.environ["K"]))
"""
)


def _entry(project: Project) -> dict[str, object]:
    data = json.loads((project.path / ".boundedload" / "baseline.json").read_text())
    (entries,) = data["platforms"].values()
    entry: dict[str, object] = entries["test_gated.py::test_requests"]
    return entry


def _write_entry(project: Project, entry: dict[str, object]) -> None:
    path = project.path / ".boundedload" / "baseline.json"
    data = json.loads(path.read_text())
    (key,) = data["platforms"]
    data["platforms"][key]["test_gated.py::test_requests"] = entry
    path.write_text(json.dumps(data))


def test_the_baseline_compares_it_and_reads_files_without_it(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_gated=GATED)
    monkeypatch.setenv("K", "2")
    project.run("--boundedload-save").result.assert_outcomes(passed=1)
    assert _entry(project)["max_requests"] == 2
    # One thread: the count is exact, so one request more is a regression.
    monkeypatch.setenv("K", "3")
    run = project.run("--boundedload-compare")
    run.result.assert_outcomes(failed=1)
    assert run.violations("test_requests") == [
        "baseline regression: max_requests 2 -> 3 (+50.0%), over tolerance 0"
    ]
    # A file saved before the figure existed: still read, the figure not compared.
    entry = _entry(project)
    del entry["max_requests"]
    _write_entry(project, entry)
    run = project.run("--boundedload-compare")
    run.result.assert_outcomes(passed=1)
    assert [delta["metric"] for delta in run.records["test_requests"]["deltas"]] == [
        metric for metric in COMPARED if metric not in ("max_requests", "heap_peak")
    ]


def test_a_figure_one_side_lacks_is_not_compared() -> None:
    new = Measurement(max_requests=40, max_threads=1).to_dict()
    old = {"max_tasks": 0, "max_threads": 1, "max_processes": 0, "rss_growth": 0}
    assert "max_requests" not in [delta.metric for delta in compare(old, new)]
    assert regressions(compare({**old, "max_requests": 4}, new))[0].metric == "max_requests"
    # An older JSON report's figures, without it, still make a Measurement.
    assert Measurement.from_dict({"max_tasks": 3}).max_requests == 0


def test_it_is_a_count_like_max_in_flight() -> None:
    assert HIGH_WATERS[-1] == "max_requests"
    assert [noise_of("max_requests", paced=paced) for paced in (False, True)] == [
        noise_of("max_in_flight", paced=paced) for paced in (False, True)
    ]
    # Built by position as before it existed, a Measurement keeps its figures in place.
    assert Measurement(*range(8)).max_held == 7


def _enter_and_leave(shared: SharedCounters, times: int) -> None:
    for _ in range(times):
        shared.update(1, 1, 0, 0)
        shared.update(-1, 0, 1, 0)


def test_a_reset_loses_no_request_that_enters_or_leaves_meanwhile() -> None:
    # Servers run in processes of their own and count while a window opens: a reset that
    # read the count and wrote it back in two steps lost some (left -3..4 here of 5,000
    # requests from each of two processes, 0 in one run of five).
    counter = InFlightCounter()
    shared = counter.share()
    context = multiprocessing.get_context("fork")
    servers = [context.Process(target=_enter_and_leave, args=(shared, 20_000)) for _ in range(2)]
    for server in servers:
        server.start()
    try:
        while any(server.is_alive() for server in servers):
            counter.reset()
        for server in servers:
            server.join()
        assert [server.exitcode for server in servers] == [0, 0]
        assert counter.read().in_flight == 0
    finally:
        counter.close()
