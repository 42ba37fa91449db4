"""What a local server sends: an OpenAI-compatible chat completion, whole or as
server-sent events, and the error bodies of its refusals and injected failures.

The completion has the fields of OpenAI's ``chat.completion`` object (``id``, ``object``,
``created``, ``model``, ``choices`` with a ``message``, ``usage``), so the OpenAI SDKs
and the clients built on them parse it; streamed, it is ``chat.completion.chunk`` events
(``data: {...}``, a blank line, and ``data: [DONE]`` at the end), the content split into
the chosen number of chunks. ``size`` pads the content so the whole body is about that
many bytes.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DEFAULT_MODEL", "completion", "completion_events", "content_text", "error_body"]

DEFAULT_MODEL = "flood-server"
_CREATED = 1_700_000_000  # fixed: the same settings give the same bytes
_GREETING = "Hello from flood.server."
_FILLER = " All work and no play makes a flood test a dull one."


def _dump(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _message(content: str, model: str, number: int) -> dict[str, Any]:
    prompt = 8
    completion_tokens = _tokens(content)
    return {
        "id": f"chatcmpl-flood-{number}",
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
        "system_fingerprint": None,
    }


def content_text(size: int | None) -> str:
    """The completion's content: a greeting, padded with filler so that the whole body
    (:func:`completion` with the default model) is about ``size`` bytes."""
    if size is None:
        return _GREETING
    overhead = len(_dump(_message("", DEFAULT_MODEL, 0)))
    wanted = max(len(_GREETING), size - overhead)
    text = _GREETING + _FILLER * (1 + (wanted - len(_GREETING)) // len(_FILLER))
    return text[:wanted]


def completion(content: str, model: str, number: int) -> bytes:
    """A whole ``chat.completion`` body."""
    return _dump(_message(content, model, number))


def _chunk(delta: dict[str, Any], finish: str | None, model: str, number: int) -> bytes:
    event = {
        "id": f"chatcmpl-flood-{number}",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + _dump(event) + b"\n\n"


def completion_events(content: str, model: str, number: int, chunks: int) -> list[bytes]:
    """The content as ``chunks`` server-sent events, each with a part of the content (the
    first also with the assistant's role, the last with ``finish_reason``), then
    ``data: [DONE]``: ``chunks + 1`` events in all."""
    step, extra = divmod(len(content), chunks)
    events = []
    start = 0
    for i in range(chunks):
        end = start + step + (1 if i < extra else 0)
        delta: dict[str, Any] = {"content": content[start:end]}
        if i == 0:
            delta = {"role": "assistant", **delta}
        events.append(_chunk(delta, "stop" if i == chunks - 1 else None, model, number))
        start = end
    events.append(b"data: [DONE]\n\n")
    return events


def error_body(status: int, message: str) -> bytes:
    """An error in OpenAI's shape (``{"error": {"message", "type", "code"}}``)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 429:
        kind = "rate_limit_exceeded"
    return _dump({"error": {"message": message, "type": kind, "param": None, "code": kind}})
