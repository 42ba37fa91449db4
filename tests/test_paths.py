"""Paths the plugin writes are checked before the first test runs: a usage error that
names the setting and the value, never a traceback after the whole suite has run."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Project

LONG = "x" * 300


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
    (project.path / "sub").mkdir()
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
