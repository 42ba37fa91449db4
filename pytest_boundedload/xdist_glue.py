"""pytest-xdist glue, registered only when xdist is loaded.

Per-test figures need no glue: they ride on ``report.user_properties``, which xdist
carries to the controller. What does need it is a bad marker value: workers collect,
the controller does not, and a ``UsageError`` raised inside a worker's collection
crashes xdist. So a worker hands the message to the controller through
``workeroutput`` and collects nothing; the controller ends the session with the same
``ERROR:`` line and exit code a serial run gives.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

__all__ = ["USAGE_ERROR_KEY", "XdistController", "is_worker"]

USAGE_ERROR_KEY = "boundedload_usage_error"


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker."""
    return hasattr(config, "workerinput")


class XdistController:
    """Hooks of the xdist controller."""

    def __init__(self) -> None:
        self.usage_errors: list[str] = []

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        message = getattr(node, "workeroutput", {}).get(USAGE_ERROR_KEY)
        if message and message not in self.usage_errors:
            self.usage_errors.append(message)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.usage_errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            for message in self.usage_errors:
                sys.stderr.write(f"ERROR: {message}\n")
