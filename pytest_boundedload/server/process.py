"""The test's side of a local server: start its process, wait for its port, stop it.

:func:`start_server` runs ``python -m pytest_boundedload.server`` with
``subprocess.Popen`` (a fresh interpreter rather than a fork, so the server shares
nothing of the test process's memory and patches), writes its settings to its stdin and
waits for the port it reports on its stdout. The process is the plugin's own
(:func:`~pytest_boundedload.measure.ownership.own_popen`): no window counts it, nor what
it starts, in ``max_processes`` or ``children_peak_rss``, whether it started before the
window (a module or session fixture) or inside it. It runs in a session of its own, so
Ctrl-C at the terminal does not reach it, and its stdin is its lifeline: it ends when
:meth:`LocalServer.stop` closes it or when the process that started it exits, however
that exits (a capped child killed by its cap included): a process forked from it keeps
no copy of that pipe.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import IO

from ..measure.inflight import InFlightReading, SharedCounters
from ..measure.ownership import own_child_ended, own_popen
from ..measure.requests import shared_request_counters
from .settings import ServerSettings

__all__ = ["MISSING_AIOHTTP", "LocalServer", "ServerError", "start_server"]

MISSING_AIOHTTP = "flood.server() needs aiohttp: pip install 'pytest-boundedload[server]'"
START_TIMEOUT = 30.0  # seconds: the interpreter and aiohttp start, on a busy machine
STOP_TIMEOUT = 5.0  # seconds for each of: stdin closed, SIGTERM; then SIGKILL
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class ServerError(RuntimeError):
    """The server's process did not start, or died; the message holds its stderr."""


def _stderr_text(stderr: IO[bytes]) -> str:
    with contextlib.suppress(OSError, ValueError):
        stderr.seek(0)
        text = stderr.read()[-4000:].decode("utf-8", "replace").rstrip()
        return f"; its stderr:\n{text}" if text else " (its stderr is empty)"
    return ""


def _ended(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


# The servers this process started and has not stopped: a forked child lets go of their
# lifelines (see _drop_lifelines_in_child).
_RUNNING: weakref.WeakSet[LocalServer] = weakref.WeakSet()


def _drop_lifelines_in_child() -> None:
    """In a forked child (a fork pool's worker, a capped child): the copy of each
    server's stdin is replaced by a descriptor that holds no pipe, so the server still
    ends when its owner closes its stdin or exits, not when the last child does. The
    descriptor number stays taken: the file object still closes it, and only it."""
    for server in list(_RUNNING):
        stdin = server._process.stdin
        if stdin is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            fd = stdin.fileno()
            empty = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.dup2(empty, fd, inheritable=False)
            finally:
                os.close(empty)


os.register_at_fork(after_in_child=_drop_lifelines_in_child)


def _close_quietly(process: subprocess.Popen[bytes], own_path: str, owner: int) -> None:
    # A server dropped without stop(): closing its stdin ends it; its own counter's file
    # goes (the server keeps its mapping until it ends).
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if os.getpid() == owner:
        with contextlib.suppress(OSError):
            os.unlink(own_path)


class LocalServer:
    """A local HTTP server in a process of its own (what ``flood.server()`` returns).

    ``url`` is ``"http://127.0.0.1:PORT"``, ready for any client's ``base_url``;
    :attr:`requests` reads the server's own counts. :meth:`stop` ends the process (a
    context manager stops it on exit).
    """

    def __init__(
        self,
        settings: ServerSettings,
        process: subprocess.Popen[bytes],
        port: int,
        own: SharedCounters,
        shared: SharedCounters,
        stderr: IO[bytes],
    ) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process = process
        self._own = own
        self._shared = shared
        self._stderr = stderr
        self._owner = os.getpid()
        self._stopped = False
        self._finalizer = weakref.finalize(self, _close_quietly, process, own.path, self._owner)
        _RUNNING.add(self)

    @property
    def pid(self) -> int:
        """The server process's id."""
        return self._process.pid

    @property
    def requests(self) -> InFlightReading:
        """This server's requests so far: ``in_flight`` now and its high-water
        ``max_in_flight``, ``started`` (all that arrived), ``done`` (answered or dropped)
        and ``failed`` (refused with 429 or failed on purpose with ``error_status``)."""
        if self._stopped:
            raise RuntimeError(f"{self!r} is stopped")
        return self._own.read()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"pid {self.pid}"
        return f"<LocalServer {self.url} ({state})>"

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End the server's process and release what it held; idempotent.

        Closing its stdin asks it to finish; one still running after a few seconds is
        terminated, then killed, and always reaped. Requests it left in flight leave the
        session's counter here. Raises :class:`ServerError` (with its stderr) when the
        process had died before, or ended with an error.
        """
        if self._stopped:
            return
        self._stopped = True
        self._finalizer.detach()
        _RUNNING.discard(self)
        process = self._process
        if os.getpid() != self._owner:
            # A forked child's copy of a server its parent runs: only the copies of the
            # descriptors are this process's.
            self._release(process)
            return
        died_before = process.poll()
        stopped_by_us = False
        try:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                stopped_by_us = True
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            own_child_ended(process.pid)
            self._settle()
            why = _stderr_text(self._stderr) if self._failed(died_before, stopped_by_us) else None
            self._release(process)
        if why is not None:
            when = "during the test" if died_before is not None else "as it stopped"
            message = f"flood.server() at {self.url}: its process {_ended(process.returncode)} {when}{why}"
            raise ServerError(message)

    def _abort(self) -> str:
        """Kill and reap a server that did not start; what its stderr says."""
        self._stopped = True
        self._finalizer.detach()
        _RUNNING.discard(self)
        process = self._process
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        own_child_ended(process.pid)
        text = _stderr_text(self._stderr)
        self._release(process)
        return text

    def _failed(self, died_before: int | None, stopped_by_us: bool) -> bool:
        status = self._process.returncode
        if died_before is not None:
            return True
        return not stopped_by_us and status not in (0, -signal.SIGTERM)

    def _settle(self) -> None:
        """Take the requests the process left in flight (killed in the middle) out of the
        counts, so the session's counter starts its next window at the true figure."""
        with contextlib.suppress(OSError, ValueError):
            left = self._own.read().in_flight
            if left > 0:
                self._own.update(-left, 0, left, 0)
                self._shared.update(-left, 0, left, 0)

    def _release(self, process: subprocess.Popen[bytes]) -> None:
        for stream in (process.stdin, process.stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._own.close(unlink=os.getpid() == self._owner)


def _wait_for_port(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The port the server reports; None when its stdout ends first (it died). Raises
    TimeoutError after ``timeout`` seconds, ValueError when the line is not its port."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    received = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if selector.select(remaining):
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                received += chunk
    first = received.split(b"\n", 1)[0]
    try:
        return int(json.loads(first)["port"])
    except (ValueError, KeyError, TypeError):  # something printed first (a sitecustomize)
        raise ValueError(f"wrote {first[:200]!r} where its port was expected") from None


def start_server(settings: ServerSettings, *, timeout: float = START_TIMEOUT) -> LocalServer:
    """Start a local server with ``settings`` and return it once it listens.

    Raises ``ModuleNotFoundError`` when aiohttp is missing, :class:`ServerError` when the
    process dies or does not report its port within ``timeout`` seconds.
    """
    if importlib.util.find_spec("aiohttp") is None:
        raise ModuleNotFoundError(MISSING_AIOHTTP, name="aiohttp")
    shared = shared_request_counters()
    own = SharedCounters.create()
    # Kept open as long as the server runs (its error messages): no with block.
    stderr = tempfile.TemporaryFile(prefix="boundedload-server-")  # noqa: SIM115
    try:
        process = own_popen(
            [sys.executable, "-m", "pytest_boundedload.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            # ``-m`` looks in its working directory first: there, it finds the package
            # this process imported, whatever directory the test runs in.
            cwd=_PACKAGE_PARENT,
            start_new_session=True,
        )
    except BaseException:
        stderr.close()
        own.close(unlink=True)
        raise
    server = LocalServer(settings, process, 0, own, shared, stderr)
    why = "ended before it listened"
    try:
        assert process.stdin is not None
        line = json.dumps({"settings": settings.to_json(), "counters": [shared.path, own.path]})
        with contextlib.suppress(BrokenPipeError):  # it died: said below, with its stderr
            process.stdin.write(line.encode("utf-8") + b"\n")
            process.stdin.flush()
        try:
            port = _wait_for_port(process, timeout)
        except TimeoutError:
            port, why = None, f"did not listen within {timeout:g} s"
        except ValueError as exc:
            port, why = None, str(exc)
    except BaseException:
        server._abort()
        raise
    if port is None:
        raise ServerError(f"flood.server(): the server process {why}{server._abort()}")
    assert process.stdout is not None
    process.stdout.close()  # nothing more comes that way: its stdout went to its stderr
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    return server
