"""hard_limit: a runaway test becomes one failed test, and the session goes on."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.isolate.capped import cap_kind
from pytest_boundedload.units import format_size

if TYPE_CHECKING:
    from conftest import Project

KiB = 1024
MiB = 1024 * 1024

# Each pytest process (the session, or every xdist worker) writes its own peak RSS at the
# end, to show that the runaway memory lived only in the capped child.
PEAK_CONFTEST = """

def pytest_sessionfinish(session):
    import json, os
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    with open(os.path.join(os.environ["PEAKS_DIR"], f"{os.getpid()}.json"), "w") as f:
        json.dump(peak, f)
"""

RUNAWAY = """
import asyncio
import os
import signal
import time

import pytest


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_runaway(flood):
    chunks = []

    async def main():
        for task in flood.tasks(10**9):
            await flood.aworker(task)
            chunks.append(bytearray(1024 * 1024))

    asyncio.run(main())


def test_next_one_runs():
    assert True
"""


def _with_peaks(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + PEAK_CONFTEST)
    peaks = project.path / "peaks"
    peaks.mkdir()
    monkeypatch.setenv("PEAKS_DIR", str(peaks))


def _peaks(project: Project) -> list[int]:
    return [json.loads(p.read_text()) for p in (project.path / "peaks").iterdir()]


@pytest.mark.parametrize("cap", ["auto", "rlimit"])
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_runaway_memory_fails_one_test(
    project: Project, monkeypatch: pytest.MonkeyPatch, xdist: list[str], cap: str
) -> None:
    # BOUNDEDLOAD_CAP=rlimit takes the RLIMIT_DATA path on a machine with cgroups too.
    monkeypatch.setenv("BOUNDEDLOAD_CAP", cap)
    kind = cap_kind(cap)
    _with_peaks(project, monkeypatch)
    project.pytester.makepyfile(RUNAWAY)
    run = project.run("-rA", *xdist, timeout=120)
    run.result.assert_outcomes(passed=1, failed=1)
    # The session went on: the runaway is one MEMORY failure, the next test passed.
    run.result.stdout.fnmatch_lines_random(["MEMORY *::test_runaway*", "PASSED *::test_next_one_runs"])
    # The cap stopped the runaway: its one violation names the cap and the figures the
    # child last reported, which are the test's figures.
    runaway = run.figures("test_runaway")
    (line,) = run.violations("test_runaway")
    how = "killed by SIGKILL" if kind == "cgroup" else "MemoryError"
    assert line == (
        f"exceeded hard_limit 256.0 MiB ({kind}): {how} after {runaway['tasks_started']} tasks"
        f" started (last peak {runaway['peak_rss'] / MiB:.1f} MiB)"
    ), (line, runaway)
    # Every task started keeps 1 MiB until the test ends, so the cap leaves room for at
    # most 256 of them: a runaway that the cap did not stop goes on to a billion.
    assert runaway["tasks_started"] <= 256, runaway
    if kind == "rlimit":
        # RLIMIT_DATA comes on top of the data the child inherited: its MemoryError comes
        # once nearly all of the 256 MiB are the tasks' (the child keeps 1 MiB in reserve,
        # its window and interpreter take a few more: 246 tasks here).
        assert runaway["tasks_started"] >= 256 - 32, runaway
    # No lower side under a cgroup: the OOM killer's SIGKILL leaves the figures of the
    # sampler's last note (one a tick), and how many tasks ran after it is a matter of
    # timing (runs show 150 to 195).
    peaks = _peaks(project)
    assert peaks, "no pytest process reported its peak"
    for peak in peaks:
        assert peak < 256 * MiB + 100 * MiB, peak


SIGNALS = """
import faulthandler
import os
import signal

import pytest


@pytest.mark.boundedload(hard_limit="512 MiB")
@pytest.mark.parametrize("signo", [signal.SIGKILL, signal.SIGSEGV], ids=["kill", "segv"])
def test_killed(flood, signo):
    faulthandler.disable()
    os.kill(os.getpid(), signo)


def test_after():
    pass
"""


def test_a_signal_is_named(project: Project) -> None:
    project.pytester.makepyfile(SIGNALS)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=1, failed=2)
    # The failure sections name the signal; the killed tests are plain failures, not MEMORY.
    run.result.stdout.fnmatch_lines_random(
        [
            "*_ test_killed?kill? _*",
            "killed by SIGKILL under hard_limit 512.0 MiB (*)*",
            "*_ test_killed?segv? _*",
            "killed by SIGSEGV under hard_limit 512.0 MiB (*)*",
            "FAILED *::test_killed?kill?*",
            "FAILED *::test_killed?segv?*",
            "PASSED *::test_after",
        ]
    )


SAME_FIGURES = """
import asyncio
import threading

import pytest


def flood_it(flood):
    async def main():
        sem = asyncio.Semaphore(10)

        async def one(task):
            async with sem:
                return await flood.aworker(task)

        await asyncio.gather(*[one(t) for t in flood.tasks(300, latency="1ms")])

    asyncio.run(main())
    barrier = threading.Barrier(5)
    threads = [threading.Thread(target=barrier.wait) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("output from the test")


def test_in_process(flood):
    flood_it(flood)


@pytest.mark.boundedload(hard_limit="512 MiB")
def test_in_child(flood):
    flood_it(flood)
"""


def test_a_passing_hard_limited_test_reports_like_an_in_process_one(project: Project) -> None:
    project.pytester.makepyfile(SAME_FIGURES)
    run = project.run("-rP")
    run.result.assert_outcomes(passed=2)
    here, there = run.figures("test_in_process"), run.figures("test_in_child")
    assert sorted(here) == sorted(there)
    for key in ("max_in_flight", "max_tasks", "max_threads", "max_processes", "tasks_started", "tasks_done"):
        assert here[key] == there[key], key
    assert there["peak_source"] == "vmhwm"
    # The report sections and captured output came back from the child too.
    run.result.stdout.fnmatch_lines(
        ["*test_in_child*", "*output from the test*", "*boundedload measurement*"]
    )
    assert "test_hard_limit_in_child" not in run.text
    summary = run.text.split("measured tests by peak RSS", 1)[1]
    assert "::test_in_child" in summary


WARNINGS = """
import warnings

import pytest

warnings.warn("at import", UserWarning)  # recorded at collection, in the parent


class LocalWarning(Warning):
    pass


class ParamWarning(UserWarning):
    def __init__(self, name, since):
        super().__init__(f"{name} is deprecated since {since}")


@pytest.mark.filterwarnings("ignore:quiet")
@pytest.mark.boundedload(hard_limit="256 MiB")
def test_warns_in_child(flood):
    warnings.warn("careful in the child", DeprecationWarning)
    warnings.warn("a local kind", LocalWarning)
    warnings.warn("quiet please", UserWarning)  # the test's own filter applies in the child
    warnings.warn(ParamWarning("size", "2.0"))  # does not unpickle: comes back as text


def test_after():
    pass
"""


def test_warnings_in_the_child_are_recorded_in_the_parent(project: Project) -> None:
    project.pytester.makepyfile(WARNINGS)
    run = project.run()
    # Four warnings in all: the one from collection once (not replayed back from the
    # child) and the child's three, with their categories and the test's name.
    run.result.assert_outcomes(passed=2, warnings=4)
    summary = run.text.split("warnings summary", 1)[1]
    assert summary.count("UserWarning: at import") == 1
    assert "test_warns_in_child" in summary
    assert "DeprecationWarning: careful in the child" in summary
    assert "LocalWarning: a local kind" in summary
    assert "UserWarning: quiet please" not in summary
    assert "UserWarning: ParamWarning: size is deprecated since 2.0" in summary
    # Without pytest's warnings plugin, none are recorded, from the child either.
    run = project.run("-p", "no:warnings")
    run.result.assert_outcomes(passed=2)
    assert "warnings summary" not in run.text


TIMEOUT = """
import time

import pytest


@pytest.mark.timeout(1)
@pytest.mark.boundedload(hard_limit="256 MiB")
def test_hangs(flood):
    time.sleep(600)


def test_after():
    pass
"""


@pytest.mark.parametrize("method", ["signal"])
def test_timeout_in_the_child_is_a_failed_test(project: Project, method: str) -> None:
    project.pytester.makepyfile(TIMEOUT)
    # A child that outlived its timeout would hold the run far past pytester's timeout.
    run = project.run("-rA", f"--timeout-method={method}", timeout=60)
    run.result.assert_outcomes(passed=1, failed=1)
    run.result.stdout.fnmatch_lines_random(
        ["Timeout (>1.0s) from pytest-timeout.", "FAILED *::test_hangs*", "PASSED *::test_after"]
    )
    assert "(in the hard_limit 256.0 MiB child, stopped" in run.text


LIMITS_FROM_INI = """
import pytest


def test_flooded(flood):
    block = bytearray(384 * 1024 * 1024)


def test_plain_not_measured():
    block = bytearray(384 * 1024 * 1024)
"""


def test_hard_limit_from_ini_applies_to_measured_tests(project: Project) -> None:
    project.pytester.makeini("[pytest]\nboundedload_hard_limit = 128 MiB\n")
    project.pytester.makepyfile(LIMITS_FROM_INI)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=1, failed=1)
    run.result.stdout.fnmatch_lines_random(
        [
            "exceeded hard_limit 128.0 MiB (*): *",
            "MEMORY *::test_flooded*",
            "PASSED *::test_plain_not_measured",
        ]
    )


MODULE_A = """
import pytest


@pytest.fixture(scope="module")
def resource():
    yield "ready"


def test_normal(resource):
    assert resource == "ready"


@pytest.mark.boundedload(hard_limit="512 MiB")
def test_hard(flood, resource):
    print("x" * (1 << 20))  # a report bigger than the pipe's buffer
    assert resource == "ready"
"""

MODULE_B = """
import multiprocessing
import subprocess

import pytest


def test_other():
    pass


@pytest.mark.boundedload(hard_limit="512 MiB")
def test_leaves_a_process_behind(flood):
    # Holds the report pipe open for ten minutes; the test must still end at once.
    subprocess.Popen(["sleep", "600"])
"""


def test_hard_limited_tests_among_others(project: Project) -> None:
    project.pytester.makepyfile(test_a=MODULE_A, test_b=MODULE_B)
    # Waiting for the pipe to close would hold the run far past pytester's timeout.
    run = project.run("-rA", timeout=60)
    run.result.assert_outcomes(passed=4)
    assert "error" not in run.result.parseoutcomes()
    run.result.stdout.fnmatch_lines_random(
        [
            "PASSED test_a.py::test_hard",
            "PASSED test_b.py::test_other",
            "PASSED test_b.py::test_leaves_a_process_behind",
        ]
    )


OOM_REPORTED = """
import pytest


@pytest.mark.boundedload(hard_limit="128 MiB")
def test_oom(flood):
    # The child's resident memory as the test starts (inherited pages the cap does not
    # charge), for the test of its last figures.
    with open("/proc/self/status") as status, open("start_rss", "w") as out:
        out.write(next(line for line in status if line.startswith("VmRSS:")).split()[1])
    chunks = []
    while True:
        chunks.append(bytearray(1024 * 1024))
"""


def test_a_killed_test_is_in_the_json_report_and_junit(project: Project) -> None:
    project.pytester.makepyfile(OOM_REPORTED)
    report_path = project.path / "report.json"
    junit = project.path / "junit.xml"
    run = project.run(f"--boundedload-json={report_path}", f"--junitxml={junit}", "--boundedload-save")
    run.result.assert_outcomes(failed=1)
    (test,) = json.loads(report_path.read_text())["tests"]
    assert test["nodeid"] == "test_a_killed_test_is_in_the_json_report_and_junit.py::test_oom"
    assert test["outcome"] == "failed"
    # Stopped before it reported: only the last figures the child sent, its peak RSS
    # and the probe calls it started (none), every other figure zero.
    assert test["stopped"] is True
    measurement = test["measurement"]
    peak = measurement.pop("peak_rss")
    assert measurement == {
        "children_peak_rss": 0, "duration": 0.0, "heap_peak": None, "max_held": 0, "max_in_flight": 0,
        "max_processes": 0, "max_tasks": 0, "max_threads": 0, "peak_source": "vmhwm", "rss_growth": 0,
        "tasks_done": 0, "tasks_failed": 0, "tasks_started": 0, "items_taken": 0, "max_requests": 0,
    }  # fmt: skip
    # Sent at the child's start or as it ran away: from about what it started with
    # (its first report precedes the test's fixtures) to that plus the cap.
    start = int((project.path / "start_rss").read_text()) * KiB
    assert start - 8 * MiB <= peak <= start + 128 * MiB + 8 * MiB, (start, peak)
    (violation,) = test["violations"]
    assert violation == (
        f"exceeded hard_limit 128.0 MiB (cgroup): killed by SIGKILL"
        f" after 0 tasks started (last peak {format_size(peak)})"
    )
    # In the end-of-run ranking, not in the baseline.
    ranking = run.text.split("boundedload: 1 measured test by peak RSS", 1)[1]
    assert "test_oom  [limit crossed]" in ranking
    baseline = json.loads((project.path / ".boundedload" / "baseline.json").read_text())
    assert all(tests == {} for tests in baseline["platforms"].values())
    # JUnit carries the same figures and verdict, one property each.
    (case,) = ET.parse(junit).getroot().iter("testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties == {
        **{f"boundedload.{name}": str(value) for name, value in measurement.items() if value is not None},
        "boundedload.peak_rss": str(peak),
        "boundedload.violation": violation,
        "boundedload.status": "MEMORY",
        "boundedload.stopped": "True",
    }


WIDER_SCOPES = """
import os

import pytest


def log(line):
    with open(os.environ["SETUP_LOG"], "a") as f:
        f.write(f"{line} {os.getpid()}\\n")


@pytest.fixture(scope="session")
def server():
    log("setup server")
    yield "up"
    log("teardown server")


@pytest.fixture(scope="module")
def table(server):
    log("setup table")
    yield []
    log("teardown table")


@pytest.fixture
def row(table):
    log("setup row")
    table.append("row")
    yield
    log("teardown row")


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_first_user_is_hard_limited(flood, server, row, table):
    assert server == "up"
    assert table == ["row"]


def test_later_user(server, table):
    # Set up again here: the child's table (and its append) stayed in the child.
    assert server == "up"
    assert table == []


@pytest.fixture(scope="module")
def broken():
    raise RuntimeError("the module fixture is broken")


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_broken_wider_fixture(flood, broken):
    pass
"""


def test_wider_fixtures_and_setup_errors_of_a_hard_limited_test(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_log = project.path / "setup.log"
    monkeypatch.setenv("SETUP_LOG", str(setup_log))
    project.pytester.makepyfile(WIDER_SCOPES)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=2, errors=1)
    # A wider fixture's error is the hard-limited test's setup error, as without the cap,
    # and no made-up failure of a phase that never runs after a failed setup.
    run.result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_broken_wider_fixture*",
            "E       RuntimeError: the module fixture is broken",
        ]
    )
    assert "FAILED" not in run.text
    lines = [line.rsplit(" ", 1) for line in setup_log.read_text().splitlines()]
    events = [event for event, _ in lines]
    # The child sets up what the test needs and tears down only the test's own fixture;
    # the next test sets the wider ones up again in the session's process, which tears
    # them down at the end.
    assert events == [
        "setup server",
        "setup table",
        "setup row",
        "teardown row",
        "setup server",
        "setup table",
        "teardown table",
        "teardown server",
    ]
    child = {pid for _, pid in lines[:4]}
    parent = {pid for _, pid in lines[4:]}
    assert len(child) == len(parent) == 1
    assert child != parent


THREAD_RUNAWAY = """
import threading

import pytest


@pytest.mark.boundedload(hard_limit="64 MiB")
def test_thread_per_task(flood):
    release = threading.Event()
    threads = []
    try:
        for _ in range(2000):
            thread = threading.Thread(target=release.wait)
            thread.start()
            threads.append(thread)
    finally:
        release.set()
        for thread in threads:
            thread.join()


def test_after():
    pass
"""


def test_a_thread_runaway_under_rlimit_is_the_cap(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each thread reserves its stack in the data segment that RLIMIT_DATA counts: the
    # runaway stops at a thread that cannot start, which is the cap, not a plain error.
    monkeypatch.setenv("BOUNDEDLOAD_CAP", "rlimit")
    project.pytester.makepyfile(THREAD_RUNAWAY)
    run = project.run("-rA")
    run.result.assert_outcomes(passed=1, failed=1)
    run.result.stdout.fnmatch_lines_random(
        [
            "exceeded hard_limit 64.0 MiB (rlimit): RuntimeError: can't start new thread*",
            "MEMORY *::test_thread_per_task*",
            "PASSED *::test_after",
        ]
    )
    assert "hard cap: rlimit" in run.text


def test_a_bad_cap_setting_is_a_usage_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOUNDEDLOAD_CAP", "cgroups")
    project.pytester.makepyfile("def test_one(flood):\n    pass\n")
    run = project.run()
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "ERROR: boundedload: invalid BOUNDEDLOAD_CAP='cgroups' from the environment:"
        " expected auto, cgroup or rlimit"
    ) in run.text


WRAPPED = """
import pytest


@pytest.mark.boundedload(hard_limit="256 MiB")
def test_wrapped(flood):
    chunks = []
    try:
        while True:
            chunks.append(bytearray(1024 * 1024))
    except MemoryError:
        chunks.clear()
        raise RuntimeError("could not fill the buffer")  # chained implicitly (__context__)
"""


def test_a_memory_error_behind_another_error_is_the_cap(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under RLIMIT_DATA the cap is a MemoryError in the child; the test turns it into
    # another error, which carries it only as its __context__.
    monkeypatch.setenv("BOUNDEDLOAD_CAP", "rlimit")
    project.pytester.makepyfile(WRAPPED)
    run = project.run("-rA", timeout=120)
    run.result.assert_outcomes(failed=1)
    assert run.violations("test_wrapped") == ["exceeded hard_limit 256.0 MiB (rlimit): MemoryError"]
    run.result.stdout.fnmatch_lines(["MEMORY *::test_wrapped*"])
