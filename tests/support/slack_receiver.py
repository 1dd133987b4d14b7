"""A local HTTP server speaking Slack's incoming-webhook protocol, for tests.

Slack's webhook takes a POST of a JSON message and answers 200 with the body ``ok``. This
receiver does the same on 127.0.0.1 (a free port), records every message it accepts with the
time it arrived, and can be told to misbehave: answer 500 to the next N requests, or take
its time before answering (a slow or hung Slack). It runs in a thread and stops within a
bounded time, releasing any request it is holding.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STOP_TIMEOUT_SECONDS = 5.0
# How often the server checks for shutdown: stopping takes at most this long.
POLL_INTERVAL_SECONDS = 0.05


@dataclass(frozen=True)
class ReceivedMessage:
    path: str
    payload: dict[str, Any]
    received_at: float


class SlackReceiver:
    """Start with ``running_slack_receiver()``; ``url`` is the webhook to configure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._failures_left = 0
        self._failing_text: str | None = None
        self._delay_seconds = 0.0
        self.messages: list[ReceivedMessage] = []
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_SECONDS},
            name="slack-receiver",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/XXXX"

    def fail_next(self, count: int, containing: str | None = None) -> None:
        """Answer HTTP 500 to the next ``count`` requests (and record none of them); with
        ``containing``, only to requests whose ``text`` holds it (others pass meanwhile)."""
        with self._lock:
            self._failures_left = count
            self._failing_text = containing

    def delay_answers(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each request (a slow, or hung, Slack)."""
        with self._lock:
            self._delay_seconds = seconds

    def wait_for(self, count: int, timeout: float) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.01)
        with self._lock:
            return list(self.messages)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT_SECONDS)

    def _answer(self, body: bytes, path: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
            delay = self._delay_seconds
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self._lock:
            failing = self._failures_left > 0 and (
                self._failing_text is None
                or (isinstance(payload, dict) and self._failing_text in str(payload.get("text")))
            )
            if failing:
                self._failures_left -= 1
        if delay:
            self._stopping.wait(delay)
        if failing:
            return 500, b"internal_error"
        if payload is None:
            return 400, b"invalid_payload"
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, b"no_text"
        with self._lock:
            self.messages.append(ReceivedMessage(path, payload, time.time()))
        return 200, b"ok"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = receiver._answer(self.rfile.read(length), self.path)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@contextmanager
def running_slack_receiver() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
