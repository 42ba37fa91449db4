"""Requests in flight at the test's local HTTP servers (``flood.server()``), in one counter.

Every server this process starts, at any scope, counts into the same counter: a server
runs in a process of its own and enters and leaves the counter's shared file around each
request, and each measurement window resets the high-water when it opens and reads it
when it closes (``max_requests``). One counter for all servers makes the high-water that
of the requests in flight at all of them at once. A forked child (``hard_limit``,
isolation) shares the file with its parent, so a server started before the fork still
counts into the child's window.
"""

from __future__ import annotations

import threading

from .inflight import InFlightCounter, SharedCounters

__all__ = ["existing_request_counter", "request_counter", "shared_request_counters"]

_LOCK = threading.Lock()
_COUNTER: InFlightCounter | None = None


def request_counter() -> InFlightCounter:
    """This session's counter of requests in flight at its servers (made on first use)."""
    global _COUNTER
    with _LOCK:
        if _COUNTER is None:
            _COUNTER = InFlightCounter()
        return _COUNTER


def shared_request_counters() -> SharedCounters:
    """The counter's shared file, for a server process to enter and leave (``update``)."""
    return request_counter().share()


def existing_request_counter() -> InFlightCounter | None:
    """The session's counter if anything made it yet, else None (none is made here)."""
    with _LOCK:
        return _COUNTER
