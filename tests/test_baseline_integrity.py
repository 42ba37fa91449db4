"""A baseline never loses entries: prune only after a complete run, saves of sessions
with different environments serialised by a lock beside the file, a shared baseline
written through its link, a crashed worker's test in the JSON report, and a write that
fails (a full disk) reported with the file and the errno, the old file intact."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import select
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_boundedload.baseline.store import (
    Baseline,
    exclusive,
    lock_path,
    remove_legacy_locks,
    write_atomically,
)

if TYPE_CHECKING:
    from conftest import Project, Run

MiB = 1024 * 1024

# Forty measured tests; the environment makes one fail, interrupt the run (a real
# SIGINT, as Ctrl-C sends) or kill its process.
FORTY = """
import os
import signal

import pytest


@pytest.mark.parametrize("i", range(40))
def test_n(flood, i):
    list(map(flood.worker, flood.tasks(3)))
    if str(i) in os.environ.get("FAIL_AT", "").split(","):
        raise AssertionError("fails on purpose")
    if str(i) == os.environ.get("SIGINT_AT"):
        os.kill(os.getpid(), signal.SIGINT)
    if str(i) == os.environ.get("CRASH_AT"):
        os._exit(1)
"""

IDS = [f"test_n.py::test_n[{i}]" for i in range(40)]
OLD = {"max_in_flight": 999}  # figures no run of FORTY measures: a re-measured entry changes


def _path(project: Project) -> Path:
    return project.path / ".boundedload" / "baseline.json"


def _write_baseline(path: Path, nodeids: list[str]) -> None:
    baseline = Baseline(path)
    baseline.update({nodeid: OLD for nodeid in nodeids})
    baseline.save()


def _saved_line(project: Project, counts: str) -> str:
    return f"boundedload: saved {_path(project)}: {counts}"


def _skipped_line(why: str) -> str:
    return f"boundedload: prune skipped: {why}; entries of tests not run are kept"


def _run_xdist(project: Project, *args: str, before: Callable[[], None] = lambda: None) -> Run:
    """A run under xdist in which a worker dies, after ``before()`` (each time)."""
    before()
    run = project.run(*args)
    for _ in range(2):
        # xdist itself may stop the session when it sends more tests to a worker that has
        # just died (pytest-xdist#204: "cannot send (already closed?)"); that race is not
        # what these tests are about, so such a run is run again, at most twice.
        if "cannot send (already closed?)" not in run.text:
            break
        before()
        run = project.run(*args)
    return run


@pytest.mark.parametrize(
    ("env", "args", "status", "counts", "why"),
    [
        (
            {"FAIL_AT": "5"},
            ["-x"],
            pytest.ExitCode.TESTS_FAILED,
            "0 added, 6 changed, 0 widened, 34 kept, 0 pruned",
            "34 of 40 collected tests did not run to the end (stopping after 1 failures)",
        ),
        (
            {"FAIL_AT": "5,9"},
            ["--maxfail=2"],
            pytest.ExitCode.TESTS_FAILED,
            "0 added, 10 changed, 0 widened, 30 kept, 0 pruned",
            "30 of 40 collected tests did not run to the end (stopping after 2 failures)",
        ),
        (
            {"SIGINT_AT": "5"},
            [],
            pytest.ExitCode.INTERRUPTED,
            # The interrupted test has no call report, so no figures to save.
            "0 added, 5 changed, 0 widened, 35 kept, 0 pruned",
            "35 of 40 collected tests did not run to the end (interrupted)",
        ),
    ],
    ids=["-x", "--maxfail", "ctrl-c"],
)
def test_a_run_stopped_early_prunes_nothing(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: list[str],
    status: pytest.ExitCode,
    counts: str,
    why: str,
) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    _write_baseline(_path(project), IDS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = project.run("--boundedload-save", "--boundedload-prune", *args)
    assert run.result.ret == status
    entries = Baseline.load(_path(project)).entries()
    assert sorted(entries) == sorted(IDS)
    stale = [nodeid for nodeid in IDS if entries[nodeid] == OLD]
    assert len(stale) == int(why.split()[0])  # the tests not run keep their entries as they were
    lines = run.result.stdout.lines
    assert lines[lines.index(_saved_line(project, counts)) + 1] == _skipped_line(why)


def test_a_crashed_worker_prunes_nothing(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    monkeypatch.setenv("CRASH_AT", "5")
    run = _run_xdist(
        project,
        *("-n", "2", "--boundedload-save", "--boundedload-prune"),
        before=lambda: _write_baseline(_path(project), IDS),
    )
    assert "worker 'gw" in run.text and "crashed while running 'test_n.py::test_n[5]'" in run.text
    assert sorted(Baseline.load(_path(project)).entries()) == sorted(IDS)
    assert _saved_line(project, "0 added, 39 changed, 0 widened, 1 kept, 0 pruned") in run.result.stdout.lines
    assert (
        _skipped_line(
            "1 of 40 collected tests did not run to the end"
            " (a worker crashed while running test_n.py::test_n[5])"
        )
        in run.result.stdout.lines
    )


def test_x_under_xdist_prunes_nothing(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    _write_baseline(_path(project), IDS)
    monkeypatch.setenv("FAIL_AT", "5")
    run = project.run("-n", "2", "-x", "--boundedload-save", "--boundedload-prune")
    assert run.result.ret == pytest.ExitCode.INTERRUPTED  # xdist ends a -x run that way
    assert sorted(Baseline.load(_path(project)).entries()) == sorted(IDS)
    # How many tests the other worker finished before the stop varies: not the reason.
    run.result.stdout.fnmatch_lines(
        [
            _skipped_line("* of 40 collected tests did not run to the end (stopping after 1 failures)"),
        ]
    )


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_complete_run_prunes(project: Project, args: list[str]) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    _write_baseline(_path(project), [*IDS, "test_n.py::test_gone"])
    run = project.run("--boundedload-save", "--boundedload-prune", *args)
    run.result.assert_outcomes(passed=40)
    assert sorted(Baseline.load(_path(project)).entries()) == sorted(IDS)
    assert _saved_line(project, "0 added, 40 changed, 0 widened, 0 kept, 1 pruned") in run.result.stdout.lines
    assert "prune skipped" not in run.text


@pytest.mark.parametrize("args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_run_with_deselected_tests_prunes_nothing(project: Project, args: list[str]) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    _write_baseline(_path(project), [*IDS, "test_n.py::test_gone"])
    run = project.run("--boundedload-save", "--boundedload-prune", "-k", "test_n[1] or test_n[2]", *args)
    run.result.assert_outcomes(passed=2)
    assert sorted(Baseline.load(_path(project)).entries()) == sorted([*IDS, "test_n.py::test_gone"])
    assert _saved_line(project, "0 added, 2 changed, 0 widened, 39 kept, 0 pruned") in run.result.stdout.lines
    assert (
        _skipped_line("38 collected tests were deselected (-k, -m, --deselect, --lf)")
        in run.result.stdout.lines
    )


def test_a_run_of_one_file_prunes_only_that_files_entries(project: Project) -> None:
    project.pytester.makepyfile(test_n=FORTY, test_other="def test_o(flood):\n    pass\n")
    gone = ["test_n.py::test_gone", "test_other.py::test_gone", "sub/test_n.py::test_n[0]"]
    _write_baseline(_path(project), [*IDS, "test_other.py::test_o", *gone])
    run = project.run("--boundedload-save", "--boundedload-prune", "test_n.py")
    run.result.assert_outcomes(passed=40)
    # test_n.py's gone test is pruned; the other files' entries, which this run was not
    # asked to collect, are kept (test_other.py's own gone test too).
    assert sorted(Baseline.load(_path(project)).entries()) == sorted(
        [*IDS, "test_other.py::test_o", "test_other.py::test_gone", "sub/test_n.py::test_n[0]"]
    )
    assert _saved_line(project, "0 added, 40 changed, 0 widened, 3 kept, 1 pruned") in run.result.stdout.lines


def test_a_collection_error_prunes_nothing(project: Project) -> None:
    project.pytester.makepyfile(test_n=FORTY, test_broken="import no_such_module_here\n")
    _write_baseline(_path(project), [*IDS, "test_broken.py::test_it"])
    run = project.run("--boundedload-save", "--boundedload-prune", "--continue-on-collection-errors")
    run.result.assert_outcomes(passed=40, errors=1)
    # The broken file's tests were not collected, so they did not run: their entry stays.
    assert sorted(Baseline.load(_path(project)).entries()) == sorted([*IDS, "test_broken.py::test_it"])
    assert _skipped_line("errors during collection") in run.result.stdout.lines


def test_a_run_that_collects_nothing_prunes_nothing(project: Project) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    _write_baseline(_path(project), IDS)
    run = project.run("--boundedload-save", "--boundedload-prune", "-k", "no_such_test")
    assert run.result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert sorted(Baseline.load(_path(project)).entries()) == sorted(IDS)
    assert _skipped_line("no test was collected") in run.result.stdout.lines


def test_a_baseline_changed_into_something_else_during_the_run_is_not_overwritten(
    project: Project,
) -> None:
    project.pytester.makepyfile(
        test_n=FORTY,
        test_z="import pathlib\n\ndef test_spoil():\n"
        "    pathlib.Path('.boundedload/baseline.json').write_text('{spoilt')\n",
    )
    _write_baseline(_path(project), IDS)
    run = project.run("--boundedload-save")
    assert run.result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert (
        f"boundedload: baseline {_path(project)} is not valid JSON: Expecting property name enclosed in"
        " double quotes: line 1 column 2 (char 1); not saved"
    ) in run.result.stdout.lines
    assert re.fullmatch(r"=+ 41 passed in .* =+", run.result.stdout.lines[-1])
    assert _path(project).read_text() == "{spoilt"


# Makes the saves of several sessions overlap for certain. A session about to wait for the
# baseline's lock first tries it without waiting; if it is taken, it says it has arrived
# (one byte on SAVE_ARRIVE) and then waits. A session that holds the lock (or believes it
# does) reads the file, says it has arrived, and writes only once every session has
# arrived (SAVE_GO is closed). With a working lock the first holds it while the others
# queue behind it; with none in the way, all read the same file before any writes.
OVERLAP_CONFTEST = """

import fcntl
import os

from pytest_boundedload.baseline import gate, store

_real_save_merged = gate.save_merged
_real_load = store.Baseline.load.__func__
_real_flock = fcntl.flock
_arrived = []


def _arrive():
    if not _arrived:
        _arrived.append(True)
        os.write(int(os.environ["SAVE_ARRIVE"]), b"!")


def _flock(fd, operation):
    if operation == fcntl.LOCK_EX:
        try:
            return _real_flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _arrive()
    return _real_flock(fd, operation)


def _load(cls, path):
    baseline = _real_load(cls, path)
    _arrive()
    os.read(int(os.environ["SAVE_GO"]), 1)  # returns b"" once every session has arrived
    return baseline


def _save_merged(*args, **kwargs):
    store.Baseline.load = classmethod(_load)
    fcntl.flock = _flock
    return _real_save_merged(*args, **kwargs)


gate.save_merged = _save_merged
"""

SESSIONS = 4


def _save_at_once(project: Project, round_dir: Path) -> tuple[list[int], list[str]]:
    """Run the sessions (each its own TMPDIR, each saving test_s<i>.py's ten tests) with
    their saves overlapping; their exit codes and outputs."""
    arrive_read, arrive_write = os.pipe()
    go_read, go_write = os.pipe()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--boundedload-save"]
    sessions = []
    try:
        for i in range(SESSIONS):
            tmpdir = round_dir / f"tmp{i}"
            tmpdir.mkdir(parents=True)
            env = {
                **os.environ,
                "TMPDIR": str(tmpdir),
                "BOUNDEDLOAD_TEST_RECORD": str(round_dir / f"record{i}.jsonl"),
                "SAVE_ARRIVE": str(arrive_write),
                "SAVE_GO": str(go_read),
            }
            with (round_dir / f"out{i}").open("w") as out:
                sessions.append(
                    subprocess.Popen(
                        [*command, f"test_s{i}.py"],
                        cwd=project.path,
                        env=env,
                        pass_fds=(arrive_write, go_read),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
    finally:
        os.close(arrive_write)
        os.close(go_read)
    try:
        arrived = 0
        while arrived < SESSIONS:
            # A safety net only: every session arrives within seconds, or has died (EOF).
            if not select.select([arrive_read], [], [], 120)[0]:
                break
            got = os.read(arrive_read, SESSIONS)
            if not got:
                break
            arrived += len(got)
    finally:
        os.close(go_write)  # lets every session write
        os.close(arrive_read)
    try:
        codes = [session.wait(timeout=120) for session in sessions]
    finally:
        for session in sessions:
            session.kill()
            session.wait()
    return codes, [(round_dir / f"out{i}").read_text() for i in range(SESSIONS)]


def test_sessions_with_their_own_tmpdir_saving_at_once_keep_every_entry(project: Project) -> None:
    for i in range(SESSIONS):
        body = "\n".join(f"def test_{i}_{j}(flood):\n    flood.worker(1)\n" for j in range(10))
        project.pytester.makepyfile(**{f"test_s{i}": body})
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + OVERLAP_CONFTEST)
    expected = {f"test_s{i}.py::test_{i}_{j}" for i in range(SESSIONS) for j in range(10)}
    path = _path(project)
    for n in range(2):  # each round forces the overlap; a second one sees another order
        path.unlink(missing_ok=True)
        round_dir = project.path / f"round{n}"
        codes, outputs = _save_at_once(project, round_dir)
        assert codes == [0] * SESSIONS, outputs
        assert set(Baseline.load(path).entries()) == expected, outputs
        # Each found the entries of those before it: the saves ran one after another.
        kept = sorted(
            int(line.split(", ")[3].split()[0])
            for output in outputs
            for line in output.splitlines()
            if line.startswith(f"boundedload: saved {path}: 10 added, 0 changed, 0 widened, ")
        )
        assert kept == [0, 10, 20, 30], outputs
        # Nothing left behind: no lock beside the baseline, nothing in any TMPDIR.
        assert sorted(p.name for p in path.parent.iterdir()) == ["baseline.json"]
        assert [sorted(os.listdir(round_dir / f"tmp{i}")) for i in range(SESSIONS)] == [[]] * SESSIONS


def test_the_lock_is_beside_the_baseline_and_never_in_tmpdir(tmp_path: Path) -> None:
    path = tmp_path / "checkout" / ".boundedload" / "baseline.json"
    assert lock_path(path) == tmp_path / "checkout" / ".boundedload" / "baseline.json.lock"
    # A shared baseline's sessions lock its target, whichever link they came through.
    shared = tmp_path / "shared" / "baseline.json"
    path.parent.mkdir(parents=True)
    path.symlink_to(shared)
    assert lock_path(path) == tmp_path / "shared" / "baseline.json.lock"


def test_a_save_that_waited_on_a_removed_lock_file_locks_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holds the lock; B opens the lock file and is about to lock it; A finishes (and
    removes the file); C makes a new one and holds it. B's lock on the removed file then
    succeeds at once, but excludes nobody: B must notice and wait for C."""
    lock = tmp_path / "baseline.json.lock"
    order: list[str] = []
    a_inside, a_release, c_inside = threading.Event(), threading.Event(), threading.Event()
    b_opened, b_may_lock, b_moved = threading.Event(), threading.Event(), threading.Event()
    attempts: list[int] = []
    real_flock = fcntl.flock

    def flock(fd: int, operation: int) -> None:
        if threading.current_thread().name == "B" and operation == fcntl.LOCK_EX:
            attempts.append(fd)
            if len(attempts) == 1:
                b_opened.set()
                assert b_may_lock.wait(30)
            else:
                b_moved.set()  # B locks again: it noticed
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)

    def a() -> None:
        with exclusive(lock):
            a_inside.set()
            assert a_release.wait(30)

    def b() -> None:
        with exclusive(lock):
            order.append("B in")
            b_moved.set()

    def c() -> None:
        with exclusive(lock):
            order.append("C in")
            c_inside.set()
            assert b_moved.wait(30)  # B either locks again or (wrongly) got in
            order.append("C out")

    targets = {"A": a, "B": b, "C": c}
    threads = {name: threading.Thread(target=target, name=name) for name, target in targets.items()}
    threads["A"].start()
    assert a_inside.wait(30)
    threads["B"].start()
    assert b_opened.wait(30)
    a_release.set()
    threads["A"].join(30)
    threads["C"].start()
    assert c_inside.wait(30)
    b_may_lock.set()
    for thread in threads.values():
        thread.join(30)
    assert order == ["C in", "C out", "B in"]
    # B locked the removed file, then C's, which C removed in turn, then a new one.
    assert len(attempts) == 3
    assert not lock.exists()


def test_lock_files_earlier_versions_left_in_tmpdir_are_removed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    tmpdir = project.path / "tmp"
    tmpdir.mkdir()
    for name in ("pytest-boundedload-0123456789abcdef.lock", "pytest-boundedload-fedcba9876543210.lock"):
        (tmpdir / name).touch()
    (tmpdir / "pytest-boundedload-notalock.lock").write_text("not empty: not ours")
    held = tmpdir / "pytest-boundedload-00000000000000ff.lock"
    held.touch()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    with held.open() as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # a save of an earlier version, right now
        project.run("--boundedload-save", "-k", "test_n[0]").result.assert_outcomes(passed=1)
    assert sorted(os.listdir(tmpdir)) == [held.name, "pytest-boundedload-notalock.lock"]


def test_a_fifo_named_like_an_old_lock_file_does_not_hold_the_save_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may make a FIFO in /tmp: opening it to see whether it is an old lock file
    must not wait for a writer."""
    fifo = tmp_path / "pytest-boundedload-0123456789abcdef.lock"
    os.mkfifo(fifo)
    (tmp_path / "pytest-boundedload-fedcba9876543210.lock").touch()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sweep = threading.Thread(target=remove_legacy_locks, daemon=True)
    sweep.start()
    sweep.join(20)
    hung = sweep.is_alive()
    if hung:  # let the blocked open go, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        sweep.join()
    assert not hung, "the sweep waited on the FIFO"
    assert sorted(p.name for p in tmp_path.iterdir()) == [fifo.name]


@pytest.mark.parametrize("exists", [True, False], ids=["target-exists", "target-new"])
def test_a_baseline_that_is_a_link_is_written_through_it(project: Project, exists: bool) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    shared = project.path / "shared" / "baseline.json"
    shared.parent.mkdir()
    if exists:
        _write_baseline(shared, ["other_checkout.py::test_x"])
        shared.chmod(0o664)
    link = _path(project)
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(shared, link.parent))
    report = project.path / "report.json"
    report_target = project.path / "shared" / "report.json"
    report.symlink_to(report_target)
    run = project.run("--boundedload-save", f"--boundedload-json={report}", "-k", "test_n[0] or test_n[1]")
    run.result.assert_outcomes(passed=2)
    assert link.is_symlink() and os.readlink(link) == "../shared/baseline.json"
    assert report.is_symlink() and report.resolve() == report_target
    entries = Baseline.load(shared).entries()
    expected = ["test_n.py::test_n[0]", "test_n.py::test_n[1]"]
    assert sorted(entries) == sorted(expected + (["other_checkout.py::test_x"] if exists else []))
    assert [t["nodeid"] for t in json.loads(report_target.read_text())["tests"]] == expected
    assert oct(shared.stat().st_mode & 0o777) == ("0o664" if exists else "0o644")
    # No temporary or lock file left on either side of the link.
    assert sorted(p.name for p in link.parent.iterdir()) == ["baseline.json"]
    assert sorted(p.name for p in shared.parent.iterdir()) == ["baseline.json", "report.json"]


# Kills its xdist worker once its figures are in the worker's crash note (the note is
# rewritten at the sampler's next tick); the other tests pass.
CRASHING = """
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

MiB = 1024 * 1024


def test_fine(flood):
    list(map(flood.worker, flood.tasks(5)))


def test_killed(flood, request):
    block = bytearray(96 * MiB)
    block[:: 4096] = b"x" * len(block[:: 4096])
    list(map(flood.worker, flood.tasks(7)))
    inputs = request.config.workerinput
    note = Path(inputs["boundedload_notes_dir"]) / f"{inputs['workerid']}.json"
    while True:  # until the sampler has noted the figures
        try:
            figures = json.loads(note.read_text())
        except (OSError, ValueError):
            continue
        if figures["tasks_started"] == 7 and figures["peak_rss"] >= 96 * MiB:
            break
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_crashed_workers_test_is_in_the_json_report(project: Project) -> None:
    project.pytester.makepyfile(test_crash=CRASHING)
    report = project.path / "report.json"
    run = _run_xdist(project, "-n", "2", f"--boundedload-json={report}")
    run.result.assert_outcomes(passed=1, failed=1)
    assert "crashed while running 'test_crash.py::test_killed'" in run.text
    tests = {test["nodeid"]: test for test in json.loads(report.read_text())["tests"]}
    assert sorted(tests) == ["test_crash.py::test_fine", "test_crash.py::test_killed"]
    fine, killed = tests["test_crash.py::test_fine"], tests["test_crash.py::test_killed"]
    assert fine["crashed"] is False
    assert fine["measurement"]["tasks_started"] == 5
    assert killed["crashed"] is True
    assert killed["outcome"] == "failed"
    figures = killed["measurement"]
    assert figures["tasks_started"] == 7
    assert 96 * MiB <= figures["peak_rss"] < 1024 * MiB
    # Only what the note knew: the other figures were never read.
    assert {k: v for k, v in figures.items() if k not in ("tasks_started", "peak_rss")} == {
        "rss_growth": 0,
        "children_peak_rss": 0,
        "max_in_flight": 0,
        "max_tasks": 0,
        "max_threads": 0,
        "max_processes": 0,
        "max_held": 0,
        "tasks_done": 0,
        "tasks_failed": 0,
        "duration": 0.0,
        "peak_source": "vmhwm",
        "heap_peak": None,
        "items_taken": 0,
        "max_requests": 0,
    }
    assert killed["baseline"] == {"status": None, "deltas": []}


# At the end of the run, files may grow to BOUNDEDLOAD_TEST_FSIZE bytes and no more, as if
# the disk had filled up: a write past it fails with EFBIG (Python ignores SIGXFSZ).
FULL_DISK_CONFTEST = """

import os
import resource

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    limit = int(os.environ["BOUNDEDLOAD_TEST_FSIZE"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""

LIMIT = 16 * 1024  # the baseline of FORTY takes about 7 KiB, its JSON report about 28 KiB


@pytest.mark.parametrize("which", ["baseline", "report"])
def test_a_write_that_fails_says_so_and_keeps_the_old_file(
    project: Project, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    project.pytester.makepyfile(test_n=FORTY)
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + FULL_DISK_CONFTEST)
    monkeypatch.setenv("BOUNDEDLOAD_TEST_FSIZE", str(LIMIT))
    path = _path(project)
    report = project.path / "report.json"
    report.write_text("the previous report\n")
    if which == "baseline":
        # Another platform's entries make the file larger than the limit.
        baseline = Baseline(path)
        baseline.update({f"test_other.py::test_{i}": OLD for i in range(1000)}, key="Other-CPython-3.0")
        baseline.save()
        assert path.stat().st_size > LIMIT
        args = ["--boundedload-save"]
        failed = path
        expected_message = f"boundedload: could not write the baseline {path}: [Errno 27] File too large"
    else:
        args = ["--boundedload-save", f"--boundedload-json={report}"]
        failed = report
        expected_message = f"boundedload: could not write the JSON report {report}: [Errno 27] File too large"
    before = failed.read_bytes() if failed.exists() else None
    run = project.run(*args)
    assert run.result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert expected_message in run.result.stdout.lines
    assert "Traceback" not in run.text and "INTERNALERROR" not in run.text
    assert re.fullmatch(r"=+ 40 passed in .* =+", run.result.stdout.lines[-1])  # pytest's summary line
    assert failed.read_bytes() == before  # the old file, whole
    if which == "report":
        # The baseline was written before the report failed.
        assert sorted(Baseline.load(path).entries()) == sorted(IDS)
        assert report.read_text() == "the previous report\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["baseline.json"]  # no temporary file
    assert not [p.name for p in project.path.glob(".report.json.*")]


def test_a_write_never_replaces_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """The start-up check refuses such paths; the write refuses them again, so a slip
    there cannot turn a device node or a FIFO into a file."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file, left as it is") as raised:
        write_atomically(fifo, "{}")
    assert raised.value.errno == errno.EINVAL
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]
