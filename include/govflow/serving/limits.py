"""Issue 13 item 7: what the serving gateway refuses before it reads a request, and how much
of a refused value it shows.

- ``BodySizeLimit`` is ASGI middleware that answers 413 to a request whose declared
  ``Content-Length`` or whose actual bytes exceed ``max_bytes`` (1 MiB unless configured),
  before the app parses anything. It reads the body itself, so a client that sends more
  than it declared, or declares nothing (chunked), is cut off at the limit too.
- ``shown`` is a refused value as an error message quotes it: its ``repr`` cut to
  ``SHOWN_CHARS`` characters and an ellipsis, so an error never echoes a megabyte back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

DEFAULT_MAX_BODY_BYTES = 1 << 20
MAX_BODY_BYTES_ENV = "GOVFLOW_GATEWAY_MAX_BODY_BYTES"
SHOWN_CHARS = 40
ELLIPSIS = "…"

BODY_TOO_LARGE = "the request body is larger than {limit} bytes"
BAD_CONTENT_LENGTH = "the Content-Length header is not a number of bytes"
BAD_MAX_BODY_BYTES = "the body size limit must be 1 byte or more, got {limit}"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def shown(value: object) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARS`` characters plus an ellipsis when longer."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + ELLIPSIS


class BodySizeLimit:
    """Answer 413 to any HTTP request whose body exceeds ``max_bytes``; pass the others on
    with their body, read once and replayed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(BAD_MAX_BODY_BYTES.format(limit=max_bytes))
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, BAD_CONTENT_LENGTH)
            return
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, 413, BODY_TOO_LARGE.format(limit=self.max_bytes))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see the disconnect.
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, BODY_TOO_LARGE.format(limit=self.max_bytes))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when undeclared, -1 when not a number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    pending: list[Message] = (
        [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        if last is None
        else [last]
    )

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
