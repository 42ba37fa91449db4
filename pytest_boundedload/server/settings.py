"""What a local server answers, checked where the test asks for it, and carried to its process.

:func:`server_settings` takes the keywords of ``flood.server()`` (and of
:func:`~pytest_boundedload.server.server_fixture`) and raises ``ValueError`` or
``TypeError`` naming the keyword and the value; durations and sizes are parsed as
``flood.tasks()`` parses them (``"20ms"``, ``"2 KiB"``). The result is a frozen
:class:`ServerSettings` that travels to the server's process as one line of JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from typing import Any

from ..units import parse_duration, parse_size

__all__ = ["DEFAULT_CHUNKS", "ServerSettings", "server_settings"]

DEFAULT_CHUNKS = 8
_WHERE = "in flood.server()"


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """A local server's answers (see ``flood.server()`` for each field's meaning).

    ``body`` is the bytes of a custom body and ``content_type`` its type; both are None
    for the default completion, which ``size`` pads.
    """

    latency: float = 0.0
    jitter: float = 0.0
    body: bytes | None = None
    content_type: str | None = None
    size: int | None = None
    stream: bool = False
    chunks: int = DEFAULT_CHUNKS
    rate: float | None = None
    concurrency: int | None = None
    retry_after: float = 1.0
    error_rate: float = 0.0
    error_status: int = 500
    seed: int = 0

    def to_json(self) -> str:
        """One line of JSON (the body in base64)."""
        data = dataclasses.asdict(self)
        data["body"] = None if self.body is None else base64.b64encode(self.body).decode("ascii")
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ServerSettings:
        """The settings :meth:`to_json` wrote."""
        data: dict[str, Any] = json.loads(text)
        if data.get("body") is not None:
            data["body"] = base64.b64decode(data["body"])
        return cls(**data)


def _share(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"flood.server(): {name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"flood.server(): {name} must be in [0, 1], got {value!r}")
    return float(value)


def _body(body: object) -> tuple[bytes | None, str | None]:
    if body is None:
        return None, None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (dict, list)):
        try:
            text = json.dumps(body, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"flood.server(): body is not JSON-serialisable ({exc}): {body!r:.200}") from None
        return text.encode("utf-8"), "application/json"
    raise TypeError(
        f"flood.server(): body must be None (a chat completion), a dict or list (JSON), "
        f"bytes or str, got {type(body).__name__}"
    )


def _optional_positive(name: str, value: object, *, integer: bool) -> float | None:
    if value is None:
        return None
    what = "a positive integer" if integer else "a positive number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError(f"flood.server(): {name} must be None or {what}, got {value!r}")
    assert isinstance(value, (int, float))
    if not 0 < value < math.inf:
        raise ValueError(f"flood.server(): {name} must be None or {what}, got {value!r}")
    return value


def server_settings(
    *,
    latency: float | str = 0,
    jitter: float = 0.0,
    body: dict[str, Any] | list[Any] | bytes | str | None = None,
    size: int | str | None = None,
    stream: bool = False,
    chunks: int = DEFAULT_CHUNKS,
    rate: float | None = None,
    concurrency: int | None = None,
    retry_after: float | str = 1,
    error_rate: float = 0.0,
    error_status: int = 500,
    seed: int = 0,
) -> ServerSettings:
    """Check the keywords of ``flood.server()`` and return them as :class:`ServerSettings`."""
    content, content_type = _body(body)
    padded = None
    if size is not None:
        if content is not None:
            raise ValueError("flood.server(): size pads the default completion; give a custom body its size")
        padded = parse_size(size, key="size", source=_WHERE)
    if not isinstance(stream, bool):
        raise TypeError(f"flood.server(): stream must be True or False, got {stream!r}")
    if isinstance(chunks, bool) or not isinstance(chunks, int):
        raise TypeError(f"flood.server(): chunks must be a positive integer, got {chunks!r}")
    if chunks < 1:
        raise ValueError(f"flood.server(): chunks must be at least 1, got {chunks!r}")
    if isinstance(error_status, bool) or not isinstance(error_status, int):
        raise TypeError(f"flood.server(): error_status must be an HTTP status (an int), got {error_status!r}")
    if not 400 <= error_status <= 599:
        raise ValueError(f"flood.server(): error_status must be a 4xx or 5xx status, got {error_status!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"flood.server(): seed must be an int, got {seed!r}")
    limit = _optional_positive("concurrency", concurrency, integer=True)
    return ServerSettings(
        latency=parse_duration(latency, key="latency", source=_WHERE),
        jitter=_share("jitter", jitter),
        body=content,
        content_type=content_type,
        size=padded,
        stream=stream,
        chunks=chunks,
        rate=_optional_positive("rate", rate, integer=False),
        concurrency=None if limit is None else int(limit),
        retry_after=parse_duration(retry_after, key="retry_after", source=_WHERE),
        error_rate=_share("error_rate", error_rate),
        error_status=error_status,
        seed=seed,
    )
