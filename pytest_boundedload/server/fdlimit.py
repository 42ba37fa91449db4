"""What a test that ran out of file descriptors is told.

An unbounded client (a gather over thousands of requests with no pool limit) opens a
socket per request and meets this process's limit of open files, ``RLIMIT_NOFILE``, as
it would in production; the error it raises is the client's own wrapper (httpx's
``ConnectError``, aiohttp's ``ClientConnectorError``, anyio's "All connection attempts
failed") around an ``OSError`` with ``errno`` ``EMFILE``. :func:`descriptors_note` finds
that ``OSError`` anywhere in the chain (``__cause__``, ``__context__``, the members of
an exception group) and says what happened: the limit, and the requests in flight at
the session's local servers. The server itself raised its own limit and keeps serving.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from ..measure.requests import request_counter_if_any

__all__ = ["SECTION_DESCRIPTORS", "descriptors_note", "out_of_descriptors"]

SECTION_DESCRIPTORS = "boundedload file descriptors"
_DEPTH = 32  # links followed at most: chains can be cycles


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack and len(seen) < _DEPTH:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        members = getattr(current, "exceptions", None)
        if isinstance(members, (list, tuple)):
            stack.extend(m for m in members if isinstance(m, BaseException))
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                stack.append(linked)


def out_of_descriptors(error: BaseException | None) -> OSError | None:
    """The ``OSError`` with ``errno`` ``EMFILE`` in ``error``'s chain, if any."""
    if error is None:
        return None
    for linked in _chain(error):
        if isinstance(linked, OSError) and linked.errno == errno.EMFILE:
            return linked
    return None


def _limit() -> str:
    try:
        import resource
    except ImportError:
        return "its limit of open files"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    shown = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    return f"its limit of open files, RLIMIT_NOFILE, is {soft} (soft; hard {shown})"


def descriptors_note(error: BaseException | None) -> str | None:
    """A paragraph for the failure report of a test whose ``error`` comes from running
    out of file descriptors; None for any other error."""
    cause = out_of_descriptors(error)
    if cause is None:
        return None
    lines = [f"the test's process ran out of file descriptors ({cause}): {_limit()}."]
    counter = request_counter_if_any()
    if counter is not None and counter.shared is not None:  # a server ran in this session
        reading = counter.read()
        lines.append(
            f"Requests at flood.server(): {reading.in_flight} in flight now, at most "
            f"{reading.max_in_flight} at once, {reading.started} arrived."
        )
    lines.append(
        "Each connection the client opens holds a descriptor: bound its connections "
        "(a pool limit, a semaphore) rather than raise the limit."
    )
    return "\n".join(lines)
