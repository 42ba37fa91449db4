"""``flood.server()``: a real local HTTP server for the test, in a process of its own.

The test talks to it with any real client (``httpx``, ``aiohttp``, ``requests``, the LLM
SDKs through ``base_url=``); it answers every request after ``latency``, with an
OpenAI-compatible chat completion by default (or a body of the test's choosing),
streamed as server-sent events if asked, refuses with 429 beyond a rate or a number of
requests in flight, and fails a share of requests on purpose. Its requests in flight
count into the test's measurement (``max_requests``) through the session's shared
counter (:mod:`pytest_boundedload.measure.requests`); its process, threads and memory
never count as the test's.

- :mod:`.settings`: the keywords, checked at the call, carried to the process as JSON;
- :mod:`.process`: the test's side: start, wait for the port, stop (:class:`LocalServer`);
- :mod:`.__main__` and :mod:`.app`: the server's process and its aiohttp application;
- :mod:`.bodies`: the completion, its server-sent events and the error bodies;
- :mod:`.fixture`: :func:`server_fixture`, a server at module or session scope;
- :mod:`.fdlimit`: what a test that ran out of file descriptors is told.

Nothing here imports aiohttp or pytest at import: the server's process imports this
package first, and so does every test that only asks for ``flood.server()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .process import MISSING_AIOHTTP, LocalServer, ServerError, start_server
from .settings import ServerSettings, server_settings

if TYPE_CHECKING:
    from .fixture import server_fixture

__all__ = [
    "MISSING_AIOHTTP",
    "LocalServer",
    "ServerError",
    "ServerSettings",
    "server_fixture",
    "server_settings",
    "start_server",
]


def __getattr__(name: str) -> Any:
    if name == "server_fixture":  # imports pytest: not in the server's process
        from .fixture import server_fixture

        return server_fixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
