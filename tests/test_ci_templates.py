"""The CI templates in ci/ and .pre-commit-hooks.yaml: valid, shaped as documented, and
running only the commands the README shows (one source of truth), which work."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "ci"

# The commands of the README's "Use as a CI gate" section, verbatim.
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'"
GATE = (
    ".venv/bin/python -m pytest --boundedload-compare --boundedload-json=boundedload-report.json"
    " --boundedload-report-dir=boundedload-pictures"
)
SUMMARY = (
    ".venv/bin/python -m pytest_boundedload.cli_baseline summary boundedload-report.json"
    ' >> "$GITHUB_STEP_SUMMARY"'
)
README_COMMANDS = (INSTALL, GATE, SUMMARY)
SUMMARY_COMMAND = SUMMARY.split(" >> ")[0]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _github_steps() -> list[dict[str, Any]]:
    workflow = _load(CI / "github-actions.yml")
    (job,) = workflow["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


@pytest.mark.parametrize("command", README_COMMANDS, ids=["install", "gate", "summary"])
def test_readme_shows_the_ci_commands(command: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert command in readme, f"README.md must show the CI command verbatim: {command}"


def test_github_workflow() -> None:
    workflow = _load(CI / "github-actions.yml")
    # YAML 1.1 (PyYAML) reads a bare `on` key as True; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert triggers == {"pull_request": None}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = _github_steps()
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["uses"].startswith("actions/setup-python@")
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == [INSTALL, GATE, SUMMARY]
    for step in steps:
        assert set(step) & {"run", "uses"}, step
        assert step.get("run", INSTALL) in README_COMMANDS
    (upload,) = (step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == ["boundedload-report.json", "boundedload-pictures/"]
    assert steps.index(upload) > runs.index(GATE)
    (summary,) = (step for step in steps if step.get("run") == SUMMARY)
    # Also when the gate failed: that is when the summary matters.
    assert summary["if"].startswith("always()")


def test_gitlab_job() -> None:
    pipeline = _load(CI / "gitlab-ci.yml")
    (job,) = pipeline.values()
    assert job["script"] == [INSTALL, GATE]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job["variables"]["PYTEST_ADDOPTS"] == "--junitxml=boundedload-junit.xml"
    assert job["artifacts"]["when"] == "always"
    assert "boundedload-report.json" in job["artifacts"]["paths"]
    assert "boundedload-pictures/" in job["artifacts"]["paths"]
    assert job["artifacts"]["reports"] == {"junit": "boundedload-junit.xml"}
    (after,) = job["after_script"]
    assert SUMMARY_COMMAND in after
    assert after.endswith("> boundedload-summary.md")
    assert "boundedload-summary.md" in job["artifacts"]["paths"]


def test_pre_commit_hook() -> None:
    hooks = _load(ROOT / ".pre-commit-hooks.yaml")
    (hook,) = hooks
    assert {key: value for key, value in hook.items() if key != "description"} == {
        "id": "boundedload-gate",
        "name": "pytest-boundedload gate",
        "entry": "python -m pytest --boundedload-compare -q",
        "language": "system",
        "pass_filenames": False,
        "types": ["python"],
    }


def test_ci_readme_covers_every_template_and_the_baseline_flow() -> None:
    text = (CI / "README.md").read_text(encoding="utf-8")
    for needle in (
        "github-actions.yml",
        "gitlab-ci.yml",
        ".pre-commit-hooks.yaml",
        "python -m pytest --boundedload-save",
        "--boundedload-prune",
        ".boundedload/baseline.json",
        "boundedload baseline diff",
    ):
        assert needle in text, needle


_PROJECT_TEST = """
import asyncio

import pytest


@pytest.mark.boundedload(max_tasks=120)
def test_pipeline(flood):
    async def main():
        sem = asyncio.Semaphore(10)

        async def one(task):
            async with sem:
                await flood.aworker(task)

        await asyncio.gather(*[one(t) for t in flood.tasks(TASKS)])

    asyncio.run(main())
"""


def _python(command: str) -> list[str]:
    """A README command run with this interpreter instead of the project's .venv."""
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/python"
    return [sys.executable, *argv[1:]]


def test_the_gate_and_summary_commands_work(tmp_path: Path) -> None:
    """The template's pipeline in miniature: save a baseline, then the gate and the summary."""

    def pytest_run(*args: str, tasks: int) -> subprocess.CompletedProcess[str]:
        (tmp_path / "test_pipeline.py").write_text(_PROJECT_TEST.replace("TASKS", str(tasks)))
        command = [*args, "-p", "no:cacheprovider"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    saved = pytest_run(sys.executable, "-m", "pytest", "--boundedload-save", tasks=50)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert (tmp_path / ".boundedload" / "baseline.json").is_file()

    # Same code, fewer tasks: passes the gate.
    gate = pytest_run(*_python(GATE), tasks=50)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    summary = subprocess.run(
        _python(SUMMARY_COMMAND), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert summary.returncode == 0, summary.stderr
    assert "| `test_pipeline.py::test_pipeline` | passed |" in summary.stdout

    # Twice the tasks: one per item, so max_tasks doubles and the gate fails.
    gate = pytest_run(*_python(GATE), tasks=100)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    summary = subprocess.run(
        _python(SUMMARY_COMMAND), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert summary.returncode == 0, summary.stderr
    assert "| `test_pipeline.py::test_pipeline` | **failed** |" in summary.stdout
    assert "max_tasks 51 -> 101 (+98.0%, over 0)" in summary.stdout
