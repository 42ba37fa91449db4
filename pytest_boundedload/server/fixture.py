"""A local server at module or session scope: :func:`server_fixture`.

``flood.server()`` gives a test a server of its own, stopped at the test's teardown. A
server shared by the tests of a module or of the whole session is a fixture the project
declares once, in a ``conftest.py`` or a test module::

    from pytest_boundedload import server_fixture

    llm_api = server_fixture(scope="session", latency="50ms")

    def test_agent(flood, llm_api):
        client = openai.AsyncOpenAI(base_url=llm_api.url + "/v1", api_key="x")

The fixture's name is the name it is assigned to (or ``name=``). The settings are
checked where it is declared, so a bad value stops the run at collection. Under
pytest-xdist each worker has its own session, and so its own server. Its requests in
flight count into the measurement of the test that makes them, like those of a
function-scoped server; its process counts in none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from .process import LocalServer, start_server
from .settings import server_settings

__all__ = ["server_fixture"]

Scope = Literal["session", "package", "module", "class", "function"]
_SCOPES: tuple[Scope, ...] = ("session", "package", "module", "class", "function")
_KEYWORDS = frozenset(inspect.signature(server_settings).parameters)


def server_fixture(
    *, scope: Scope = "module", name: str | None = None, **settings: Any
) -> Callable[..., Iterator[LocalServer]]:
    """A pytest fixture that starts a local server (the keywords of ``flood.server()``)
    when a test of its ``scope`` first asks for it and stops it at the scope's end."""
    if scope not in _SCOPES:
        raise ValueError(f"server_fixture(): scope must be one of {', '.join(_SCOPES)}, got {scope!r}")
    if name is not None and (not isinstance(name, str) or not name.isidentifier()):
        raise TypeError(f"server_fixture(): name must be None or a fixture name, got {name!r}")
    unknown = sorted(set(settings) - _KEYWORDS)
    if unknown:
        raise TypeError(f"server_fixture() got an unexpected keyword argument {unknown[0]!r}")
    checked = server_settings(**settings)

    def local_server() -> Iterator[LocalServer]:
        server = start_server(checked)
        try:
            yield server
        finally:
            server.stop()

    local_server.__doc__ = f"A local HTTP server at {scope} scope (pytest_boundedload.server_fixture)."
    fixture: Callable[..., Iterator[LocalServer]] = pytest.fixture(scope=scope, name=name)(local_server)
    return fixture
