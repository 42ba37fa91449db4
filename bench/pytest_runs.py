"""The one way the bench scripts run pytest on a sample project and time it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping

__all__ = ["pytest_seconds"]


def pytest_seconds(project: str, *extra: str, env: Mapping[str, str] | None = None) -> float:
    """Wall seconds of one quiet pytest run on ``project`` in a fresh interpreter (no
    cache provider), with ``extra`` arguments; a failed run stops the bench."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", project, *extra],
        check=True,
        capture_output=True,
        env=dict(env) if env is not None else dict(os.environ),
    )
    return time.perf_counter() - started
