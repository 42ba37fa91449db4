"""pytest hooks of pytest-boundedload; the work is done in the modules they call.

pytest imports this module in every run where the plugin is installed: it imports
nothing of the package at module level, and each hook loads what it needs when pytest
calls it (the measuring machinery only when a test is measured).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .flood import Flood


def pytest_addoption(parser: pytest.Parser) -> None:
    from .options import add_options

    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    from .session import configure

    configure(config)


@pytest.fixture
def flood(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Flood:
    """Flood the code under test with synthetic tasks; measures the test's call phase.

    See :class:`pytest_boundedload.Flood` for ``tasks``, ``aworker``, ``worker``,
    ``patch``, ``count``, ``measure``, ``scaling``, ``server`` and ``last``.
    """
    from .flood import Flood  # the measuring machinery: loaded by the first test that floods
    from .session import PLUGIN_KEY

    plugin = request.config.stash[PLUGIN_KEY]
    return Flood(plugin.windows_for(request.node), monkeypatch, request.addfinalizer)
