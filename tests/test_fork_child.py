"""A measured test's own forked child that returns into pytest ends there: the test is
reported once, and the rest of the session runs once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Project

FORKS = """
import os

import pytest


def test_forks(flood):
    pid = os.fork()
    if pid:
        assert os.waitpid(pid, 0)[1] == 0  # the child ended with status 0
    # the child does not exit: it returns into pytest


@pytest.mark.boundedload()
def test_forks_and_fails_in_the_child():
    pid = os.fork()
    if pid:
        assert os.waitpid(pid, 0)[1] >> 8 == 1  # the child ended with status 1
    else:
        raise AssertionError("only in the child")


def test_after():
    pass
"""


def test_a_forked_child_returning_into_pytest_is_not_reported(project: Project) -> None:
    project.pytester.makepyfile(test_forks=FORKS)
    run = project.run("-p", "no:randomly")
    run.result.assert_outcomes(passed=3)
    assert run.text.count("boundedload: 2 measured tests by peak RSS") == 1
    assert run.text.count("3 passed") == 1
    records = (project.path / "record.jsonl").read_text().splitlines()
    assert len(records) == 2  # one per measured test, none from the children
    assert run.figures("test_forks")["max_threads"] == 1
    assert run.figures("test_forks")["max_processes"] == 1
