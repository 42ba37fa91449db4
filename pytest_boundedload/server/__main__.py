"""The server's process: ``python -m pytest_boundedload.server``.

A fresh interpreter (not a fork): it does not inherit the test process's memory, its
threads or the plugin's patches. It reads one line of JSON from stdin (its settings and
the paths of the shared counters it counts into), raises its own soft limit of open
files to the hard limit, listens on 127.0.0.1 on a free port and writes
``{"port": N}`` and a newline to stdout. From then on stdin is its lifeline: it serves
until stdin reaches its end, which happens when the process that started it closes it
(``stop()``) or exits, however it exits. Its stdout then goes to its stderr, which the
starting process keeps and shows when the server fails.

When accepting a connection fails because this process is out of file descriptors,
asyncio stops accepting for a second and tries again; the server goes on serving the
connections it has and says so once on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys

_MISSING = "flood.server() needs aiohttp: pip install 'pytest-boundedload[server]'"
_BACKLOG = 4096  # an unbounded client opens its connections at once


def _raise_file_limit() -> None:
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(line: bytes) -> None:
    from aiohttp import web

    from ..measure.inflight import SharedCounters
    from .app import Answers
    from .settings import ServerSettings

    data = json.loads(line)
    settings = ServerSettings.from_json(data["settings"])
    counters = tuple(SharedCounters(path) for path in data["counters"])
    answers = Answers(settings, counters)
    loop = asyncio.get_running_loop()
    accept_failures = [0]

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            accept_failures[0] += 1
            if accept_failures[0] == 1:
                failure = context.get("exception")
                print(f"flood.server(): accept failed ({failure}); retrying", file=sys.stderr)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(on_error)
    server = web.Server(answers.handle, handler_cancellation=True, access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=_BACKLOG)
    await site.start()
    ended = asyncio.Event()

    def on_stdin() -> None:
        if not os.read(0, 4096):
            loop.remove_reader(0)
            ended.set()

    loop.add_reader(0, on_stdin)
    sys.stdout.write(json.dumps({"port": sock.getsockname()[1]}) + "\n")
    sys.stdout.flush()
    os.dup2(2, 1)
    try:
        await ended.wait()
    finally:
        await runner.cleanup()
        for counter in counters:
            counter.close(unlink=False)


def main() -> int:
    """Serve until stdin ends; 2 when aiohttp is missing."""
    line = sys.stdin.buffer.readline()
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print(_MISSING, file=sys.stderr)
        return 2
    _raise_file_limit()
    asyncio.run(_serve(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
