"""The one way the bench scripts run pytest on a sample project and time it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping

__all__ = ["pytest_cpu_seconds", "pytest_seconds"]


# langsmith's pytest plugin (langchain-core brings it) doubles the CPU time of a start.
_PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:langsmith_plugin")


def _run(project: str, extra: tuple[str, ...], env: Mapping[str, str] | None) -> tuple[float, float]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [*_PYTEST, project, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else dict(os.environ),
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pytest {' '.join(extra)} failed:\n{errors.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def pytest_seconds(project: str, *extra: str, env: Mapping[str, str] | None = None) -> float:
    """Wall seconds of one quiet pytest run on ``project`` in a fresh interpreter (no
    cache provider), with ``extra`` arguments; a failed run stops the bench."""
    return _run(project, extra, env)[0]


def pytest_cpu_seconds(project: str, *extra: str, env: Mapping[str, str] | None = None) -> float:
    """CPU seconds (user and system) of the same run. On a shared machine the wall time
    also counts the waits for a core; the CPU time of a run does not."""
    return _run(project, extra, env)[1]
