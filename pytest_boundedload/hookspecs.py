"""Hooks pytest-boundedload calls: implement them in a ``conftest.py`` or a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .measure.measurement import Measurement


@pytest.hookspec
def pytest_boundedload_measured(
    report: pytest.TestReport, measurement: Measurement, violations: list[str]
) -> None:
    """A measured test's call phase was reported; here are its figures.

    Called once per measured test, in the session's main process: under pytest-xdist the
    controller, for the tests of every worker; under ``hard_limit`` the parent of the
    capped child. ``report`` is the call-phase report, ``measurement`` the test's figures
    (the worst of its windows) and ``violations`` the lines that failed it (crossed
    limits, baseline regressions), empty when it kept within them. A test that produced
    no figures (skipped before its window, or whose capped child was killed) is not
    reported, nor are the reports of its subtests or of runs that will be rerun. For
    dashboards and custom gates; the return value is ignored.
    """
