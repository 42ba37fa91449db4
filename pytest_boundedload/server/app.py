"""The server's side: an aiohttp application that answers as its settings say.

Runs in the server's own process (:mod:`.__main__`). Every request, whatever its method
and path, is answered the same way:

1. Admission, at arrival. Beyond ``concurrency`` requests in flight, or beyond ``rate``
   requests per second (a token bucket holding one second's worth, full at the start),
   the answer is 429 at once, with ``Retry-After`` (whole seconds, rounded up) and
   ``retry-after-ms``. A refused request counts as started and failed, never in flight.
2. In flight: counted into the session's counter of requests in flight (``max_requests``)
   and into the server's own, from arrival until its response is written out or its
   connection drops (the handler is cancelled then). The request's body is read, then
   the answer waits ``latency``, varied by ``jitter``.
3. A share ``error_rate`` of the admitted requests gets ``error_status`` (counted as
   failed); the rest get the body: the custom one, or the default chat completion (its
   ``model`` the request's, if it names one), streamed when ``stream`` is set or when the
   request's JSON has ``"stream": true`` (the default completion only).

Which requests fail and how much each latency is varied follow the order in which
requests are admitted, drawn from ``seed``: the same settings and the same number of
requests give the same number of failures, whatever the client's order.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from aiohttp import web

from ..measure.inflight import SharedCounters
from .bodies import DEFAULT_MODEL, completion, completion_events, content_text, error_body
from .settings import ServerSettings

__all__ = ["Answers", "draw"]

_MASK = (1 << 64) - 1
_JITTER, _ERROR = 1, 2


def draw(seed: int, index: int, stream: int) -> float:
    """A deterministic uniform draw in [0, 1) for (seed, index, stream): splitmix64, as
    ``flood.tasks()`` draws its failures and jitter."""
    x = (seed * 0x9E3779B97F4A7C15 + index * 0xD1B54A32D192ED03 + stream) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x / 2.0**64


class Answers:
    """The request handler and its state (one event loop: no lock needed)."""

    def __init__(self, settings: ServerSettings, counters: tuple[SharedCounters, ...]) -> None:
        self.settings = settings
        self._counters = counters
        self.in_flight = 0
        self.admitted = 0
        self._content = content_text(settings.size)
        self._tokens = max(1.0, settings.rate or 0.0)
        self._refilled = time.monotonic()
        seconds = settings.retry_after
        self._retry_headers = {
            "Retry-After": str(math.ceil(seconds)),
            "retry-after-ms": str(round(seconds * 1000)),
        }

    def _count(self, in_flight: int, started: int, done: int, failed: int) -> None:
        for counter in self._counters:
            counter.update(in_flight, started, done, failed)

    def _refusal(self) -> str | None:
        """Why a request arriving now is refused (429), or None."""
        settings = self.settings
        if settings.concurrency is not None and self.in_flight >= settings.concurrency:
            return f"more than {settings.concurrency} requests in flight"
        if settings.rate is not None:
            now = time.monotonic()
            capacity = max(1.0, settings.rate)
            self._tokens = min(capacity, self._tokens + (now - self._refilled) * settings.rate)
            self._refilled = now
            if self._tokens < 1.0:
                return f"more than {settings.rate:g} requests per second"
            self._tokens -= 1.0
        return None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request (see the module's docstring)."""
        refusal = self._refusal()
        if refusal is not None:
            self._count(0, 1, 0, 1)
            await request.read()
            return web.Response(
                status=429,
                body=error_body(429, f"rate limited by flood.server(): {refusal}"),
                content_type="application/json",
                headers=self._retry_headers,
            )
        number = self.admitted
        self.admitted += 1
        self.in_flight += 1
        self._count(1, 1, 0, 0)
        failed = False
        try:
            raw = await request.read()
            settings = self.settings
            delay = settings.latency
            if settings.jitter and delay:
                delay *= 1.0 + settings.jitter * (2.0 * draw(settings.seed, number, _JITTER) - 1.0)
            if delay > 0:
                await asyncio.sleep(delay)
            if settings.error_rate and draw(settings.seed, number, _ERROR) < settings.error_rate:
                failed = True
                message = f"injected failure of request {number} by flood.server()"
                body = error_body(settings.error_status, message)
                return await _send(request, settings.error_status, [body], "application/json")
            if settings.body is not None:
                parts = _split(settings.body, settings.chunks) if settings.stream else [settings.body]
                return await _send(request, 200, parts, settings.content_type or "application/json")
            asked = _asked(raw)
            model = asked.get("model") if isinstance(asked.get("model"), str) else DEFAULT_MODEL
            if settings.stream or asked.get("stream") is True:
                events = completion_events(self._content, str(model), number, settings.chunks)
                return await _send(request, 200, events, "text/event-stream", stream=True)
            whole = completion(self._content, str(model), number)
            return await _send(request, 200, [whole], "application/json")
        finally:
            self.in_flight -= 1
            self._count(-1, 0, int(not failed), int(failed))


def _asked(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, or an empty dict for any other body."""
    if not raw or raw[:1] not in (b"{", b" ", b"\n", b"\t", b"\r"):
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _split(body: bytes, chunks: int) -> list[bytes]:
    step, extra = divmod(len(body), chunks)
    parts, start = [], 0
    for i in range(chunks):
        end = start + step + (1 if i < extra else 0)
        parts.append(body[start:end])
        start = end
    return parts


async def _send(
    request: web.BaseRequest, status: int, parts: list[bytes], content_type: str, *, stream: bool = False
) -> web.StreamResponse:
    """Write the whole response here, so the request leaves the count once it is out."""
    response: web.StreamResponse
    if len(parts) == 1 and not stream:
        response = web.Response(status=status, body=parts[0], headers={"Content-Type": content_type})
        await response.prepare(request)
    else:
        response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
        if stream:
            response.headers["Cache-Control"] = "no-cache"
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in parts:
            await response.write(part)
    await response.write_eof()
    return response
