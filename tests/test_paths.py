"""Paths the plugin writes are checked before the first test runs: a usage error that
names the setting and the value, never a traceback after the whole suite has run."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

LONG = "x" * 300


def _odd_files(path: Path) -> None:
    """A directory, a FIFO, a symbolic link loop and a link to nothing, in ``path``."""
    (path / "sub").mkdir()
    os.mkfifo(path / "fifo")
    (path / "loop").symlink_to("loop2")
    (path / "loop2").symlink_to("loop")
    (path / "nowhere").symlink_to("missing")


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        pytest.param(
            ("--boundedload-json=/proc/self/report.json",),
            "",
            "invalid json='/proc/self/report.json' from option --boundedload-json:"
            " /proc/*/report.json is under /proc, which holds no files to write",
            id="json-under-proc",
        ),
        pytest.param(
            ("--boundedload-json=sub",),
            "",
            "invalid json='sub' from option --boundedload-json: {path}/sub is a directory, not a file",
            id="json-is-a-directory",
        ),
        pytest.param(
            (f"--boundedload-json={LONG}.json",),
            "",
            f"invalid json='{LONG}.json' from option --boundedload-json:"
            f" a name is longer than 255 bytes: {LONG[:40]}...",
            id="json-name-too-long",
        ),
        pytest.param(
            ("--boundedload-json=",),
            "",
            "invalid json='' from option --boundedload-json: empty",
            id="json-empty",
        ),
        pytest.param(
            ("--boundedload-json=test_x.py/report.json",),
            "",
            "invalid json='test_x.py/report.json' from option --boundedload-json:"
            " {path}/test_x.py is not a directory",
            id="json-under-a-file",
        ),
        pytest.param(
            ("--boundedload-save",),
            "boundedload_baseline = /sys/baseline.json",
            "invalid baseline='/sys/baseline.json' from ini boundedload_baseline:"
            " /sys/baseline.json is under /sys, which holds no files to write",
            id="baseline-under-sys",
        ),
        pytest.param(
            ("--boundedload-save", "--boundedload-baseline=sub"),
            "",
            "invalid baseline='sub' from option --boundedload-baseline:"
            " {path}/sub is a directory, not a file",
            id="baseline-is-a-directory",
        ),
        pytest.param(
            ("--boundedload-save",),
            "boundedload_baseline = a\0b.json",
            "invalid baseline='a\\x00b.json' from ini boundedload_baseline: contains a NUL byte",
            id="baseline-nul",
        ),
        pytest.param(
            ("--boundedload-json=loop/report.json",),
            "",
            "invalid json='loop/report.json' from option --boundedload-json:"
            " {path}/loop is a symbolic link that cannot be followed (Too many levels of symbolic links)",
            id="json-under-a-symlink-loop",
        ),
        pytest.param(
            ("--boundedload-json=loop",),
            "",
            "invalid json='loop' from option --boundedload-json:"
            " {path}/loop is a symbolic link that cannot be followed (Too many levels of symbolic links)",
            id="json-is-a-symlink-loop",
        ),
        pytest.param(
            ("--boundedload-json=nowhere/report.json",),
            "",
            "invalid json='nowhere/report.json' from option --boundedload-json:"
            " {path}/nowhere is a symbolic link that cannot be followed (No such file or directory)",
            id="json-under-a-dangling-symlink",
        ),
        pytest.param(
            ("--boundedload-json=/dev/null",),
            "",
            "invalid json='/dev/null' from option --boundedload-json:"
            " /dev/null is a character device, not a regular file",
            id="json-is-a-device",
        ),
        pytest.param(
            ("--boundedload-json=fifo",),
            "",
            "invalid json='fifo' from option --boundedload-json:"
            " {path}/fifo is a FIFO (named pipe), not a regular file",
            id="json-is-a-fifo",
        ),
        pytest.param(
            ("--boundedload-save", "--boundedload-baseline=fifo"),
            "",
            "invalid baseline='fifo' from option --boundedload-baseline:"
            " {path}/fifo is a FIFO (named pipe), not a regular file",
            id="baseline-to-save-is-a-fifo",
        ),
        pytest.param(
            ("--boundedload-report-dir=loop/pictures",),
            "",
            "invalid report_dir='loop/pictures' from option --boundedload-report-dir:"
            " {path}/loop is a symbolic link that cannot be followed (Too many levels of symbolic links)",
            id="report-dir-under-a-symlink-loop",
        ),
        pytest.param(
            ("--boundedload-report-dir=test_x.py",),
            "",
            "invalid report_dir='test_x.py' from option --boundedload-report-dir:"
            " {path}/test_x.py is not a directory",
            id="report-dir-is-a-file",
        ),
    ],
)
def test_a_path_that_cannot_be_written_stops_the_run_first(
    project: Project, args: tuple[str, ...], ini: str, message: str
) -> None:
    project.pytester.makepyfile(test_x="def test_x():\n    pass\n")
    _odd_files(project.path)
    if ini:
        project.pytester.makeini(f"[pytest]\n{ini}\n")
    run = project.run_inprocess(*args)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    # The whole line, reason included (``*`` stands for a pid).
    (error,) = [line for line in run.text.splitlines() if line.startswith("ERROR: boundedload: ")]
    assert fnmatch.fnmatchcase(error, f"ERROR: boundedload: {message.format(path=project.path)}"), error
    assert "test_x.py ." not in run.text and "passed" not in run.text  # no test ran
    assert "Traceback" not in run.text and "INTERNALERROR" not in run.text


def test_paths_that_can_be_written_are_accepted(project: Project) -> None:
    project.pytester.makepyfile(
        test_x="import pytest\n\n@pytest.mark.boundedload()\ndef test_x():\n    pass\n"
    )
    run = project.run(
        "--boundedload-json=out/report.json",  # a directory the report makes
        "--boundedload-save",
        "--boundedload-baseline=new/dir/baseline.json",
        "--boundedload-report-dir=pictures",
    )
    run.result.assert_outcomes(passed=1)
    assert (project.path / "out" / "report.json").is_file()
    assert (project.path / "new" / "dir" / "baseline.json").is_file()
    assert (project.path / "pictures" / "index.html").is_file()


# A baseline that is only read (--boundedload-compare, or no gate at all) is checked like
# one that is written, except that it may be missing and need not be writable.
READ_CASES = [
    pytest.param("a\0b.json", "contains a NUL byte", id="nul"),
    pytest.param(f"{LONG}.json", f"a name is longer than 255 bytes: {LONG[:40]}...", id="name-too-long"),
    pytest.param("/proc/self/io", "/proc/*/io is under /proc, which holds no files to read", id="proc"),
    pytest.param("/sys/kernel/x", "/sys/kernel/x is under /sys, which holds no files to read", id="sys"),
    pytest.param("sub", "{path}/sub is a directory, not a file", id="directory"),
    pytest.param(".", "{path} is a directory, not a file", id="dot"),
    pytest.param("fifo", "{path}/fifo is a FIFO (named pipe), not a regular file", id="fifo"),
    pytest.param("/dev/zero", "/dev/zero is a character device, not a regular file", id="dev-zero"),
    pytest.param(
        "loop/baseline.json",
        "{path}/loop is a symbolic link that cannot be followed (Too many levels of symbolic links)",
        id="symlink-loop",
    ),
]


@pytest.mark.parametrize(("value", "why"), READ_CASES)
@pytest.mark.parametrize("channel", ["option", "ini"])
@pytest.mark.parametrize(
    "gate", [("--boundedload-compare",), ("--boundedload-compare", "--boundedload-allow-missing"), ()]
)
def test_a_baseline_to_read_is_checked_like_one_to_write(
    project: Project, value: str, why: str, channel: str, gate: tuple[str, ...]
) -> None:
    project.pytester.makepyfile(test_x="def test_x():\n    pass\n")
    _odd_files(project.path)
    if channel == "ini":
        project.pytester.makeini(f"[pytest]\nboundedload_baseline = {value}\n")
        args: tuple[str, ...] = gate
        source = "from ini boundedload_baseline"
    else:
        args = (*gate, f"--boundedload-baseline={value}")
        source = "from option --boundedload-baseline"
    run = project.run_inprocess(*args)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    (error,) = [line for line in run.text.splitlines() if line.startswith("ERROR: boundedload: ")]
    expected = f"invalid baseline={value!r} {source}: {why.format(path=project.path)}"
    assert fnmatch.fnmatchcase(error, f"ERROR: boundedload: {expected}"), error
    assert "passed" not in run.text and "Traceback" not in run.text


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_baseline_option_is_named(project: Project, value: str) -> None:
    project.pytester.makepyfile(test_x="def test_x():\n    pass\n")
    run = project.run_inprocess("--boundedload-compare", f"--boundedload-baseline={value}")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert run.result.stderr.lines[0] == (
        f"ERROR: boundedload: invalid baseline={value!r} from option --boundedload-baseline: empty"
    )


def test_a_missing_baseline_to_read_is_left_to_the_gate(project: Project) -> None:
    project.pytester.makepyfile(test_x="import pytest\n\n@pytest.mark.boundedload()\ndef test_x(): pass\n")
    run = project.run_inprocess(
        "--boundedload-compare", "--boundedload-allow-missing", "--boundedload-baseline=no/such.json"
    )
    run.result.assert_outcomes(passed=1)
    assert run.records["test_x"]["baseline"] == "new"


def test_a_baseline_link_to_a_file_not_made_yet_is_a_missing_baseline(project: Project) -> None:
    """A shared baseline's link, before the first save made its target."""
    project.pytester.makepyfile(test_x="import pytest\n\n@pytest.mark.boundedload()\ndef test_x(): pass\n")
    (project.path / "shared").mkdir()
    (project.path / "baseline.json").symlink_to("shared/baseline.json")
    args = ("--boundedload-compare", "--boundedload-baseline=baseline.json")
    run = project.run_inprocess(*args, "--boundedload-allow-missing")
    run.result.assert_outcomes(passed=1)
    assert run.records["test_x"]["baseline"] == "new"
    run = project.run_inprocess(*args)  # without allow-missing the gate says it is missing
    assert run.result.ret != pytest.ExitCode.OK
    assert "no baseline at" in run.text and "invalid baseline=" not in run.text


def test_the_default_baseline_is_checked_only_when_the_gate_uses_it(project: Project) -> None:
    project.pytester.makepyfile(test_x="def test_x():\n    pass\n")
    (project.path / ".boundedload").symlink_to("unmounted/share")  # a link to nothing
    project.run_inprocess().result.assert_outcomes(passed=1)
    run = project.run_inprocess("--boundedload-compare")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert run.result.stderr.lines[0] == (
        "ERROR: boundedload: invalid baseline='.boundedload/baseline.json' (the default):"
        f" {project.path}/.boundedload is a symbolic link that cannot be followed (No such file or directory)"
    )
