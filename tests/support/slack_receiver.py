"""A local HTTP server speaking Slack's protocols, for tests.

Two ways into Slack are spoken: an incoming webhook (a POST of a JSON message, answered 200
``ok``) and the Web API a bot token uses (``POST /api/chat.postMessage`` with a Bearer
token, answered ``{"ok": true, "channel", "ts"}``; ``GET /api/conversations.list`` and
``GET /api/conversations.history``, which returns the channel's messages with their
``metadata`` when asked with ``include_all_metadata``). The receiver runs on 127.0.0.1 (a
free port), records every message it accepts with the time it arrived, and can be told to
misbehave: answer 500 to the next N posts, or take its time before answering the next N (a
hung Slack that still posts the message after the client gave up), or every post (a slow
one). It runs in a thread and stops within a bounded time, releasing any request it holds.
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
from urllib.parse import parse_qs, urlsplit

STOP_TIMEOUT_SECONDS = 5.0
# How often the server checks for shutdown: stopping takes at most this long.
POLL_INTERVAL_SECONDS = 0.05
BOT_TOKEN = "xoxb-govflow-test"
# The channels the bot is a member of: name -> id, as conversations.list gives them.
CHANNELS = {"ml-monitoring": "C0MLMON", "engineering": "C0ENG", "compliance": "C0COMP"}


@dataclass(frozen=True)
class ReceivedMessage:
    path: str
    payload: dict[str, Any]
    received_at: float
    ts: str = ""
    channel: str = ""


class SlackReceiver:
    """Start with ``running_slack_receiver()``; ``url`` is the webhook to configure and
    ``api_url`` the Web API base URL of a bot whose token is ``BOT_TOKEN``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._failures_left = 0
        self._failing_text: str | None = None
        self._delay_seconds = 0.0
        self._hangs_left = 0
        self._hang_seconds = 0.0
        self.messages: list[ReceivedMessage] = []
        self.requests = 0
        self.history_requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_SECONDS},
            name="slack-receiver",
            daemon=True,
        )

    @property
    def _base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self._base}/services/T000/B000/XXXX"

    @property
    def api_url(self) -> str:
        return f"{self._base}/api/"

    def fail_next(self, count: int, containing: str | None = None) -> None:
        """Answer HTTP 500 to the next ``count`` posts (and record none of them); with
        ``containing``, only to posts whose ``text`` holds it (others pass meanwhile).
        ``fail_next(0)`` ends an outage."""
        with self._lock:
            self._failures_left = count
            self._failing_text = containing

    def delay_answers(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each post (a slow, or hung, Slack)."""
        with self._lock:
            self._delay_seconds = seconds

    def hang_next(self, count: int, seconds: float) -> None:
        """Hold the next ``count`` posts ``seconds`` each, then accept them all the same: a
        Slack that posts a message after the client gave up waiting for the answer."""
        with self._lock:
            self._hangs_left = count
            self._hang_seconds = seconds

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

    def _post(self, path: str, payload: Any, channel: str = "") -> tuple[int, str]:
        """Take one message; answer (status, "" when accepted, else the error)."""
        with self._lock:
            self.requests += 1
            delay = self._delay_seconds
            if self._hangs_left > 0:
                self._hangs_left -= 1
                delay = max(delay, self._hang_seconds)
            failing = self._failures_left > 0 and (
                self._failing_text is None
                or (isinstance(payload, dict) and self._failing_text in str(payload.get("text")))
            )
            if failing:
                self._failures_left -= 1
        if delay:
            self._stopping.wait(delay)
        if failing:
            return 500, "internal_error"
        if payload is None:
            return 400, "invalid_payload"
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, "no_text"
        with self._lock:
            ts = f"{time.time():.6f}"
            self.messages.append(ReceivedMessage(path, payload, time.time(), ts, channel))
        return 200, ""

    def _webhook(self, body: bytes, path: str) -> tuple[int, bytes]:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        status, error = self._post(path, payload)
        return status, (error or "ok").encode()

    def _channel_id(self, name_or_id: str) -> str | None:
        if name_or_id in CHANNELS.values():
            return name_or_id
        return CHANNELS.get(name_or_id.lstrip("#"))

    def _api(self, method: str, path: str, body: bytes, token: str) -> tuple[int, dict[str, Any]]:
        if token != f"Bearer {BOT_TOKEN}":
            return 200, {"ok": False, "error": "invalid_auth"}
        name = urlsplit(path).path.removeprefix("/api/")
        if method == "POST" and name == "chat.postMessage":
            payload = json.loads(body)
            channel = self._channel_id(str(payload.get("channel", "")))
            if channel is None:
                return 200, {"ok": False, "error": "channel_not_found"}
            status, error = self._post(path, payload, channel)
            if error:
                return status, {"ok": False, "error": error}
            return 200, {"ok": True, "channel": channel, "ts": self.messages[-1].ts}
        # Read methods take their arguments in the query string or, as slack_sdk sends
        # them, in a form-encoded POST body: Slack accepts both.
        arguments = parse_qs(urlsplit(path).query) | parse_qs(body.decode())
        query = {key: values[0] for key, values in arguments.items()}
        if name == "conversations.list":
            listed = [{"id": id_, "name": name} for name, id_ in CHANNELS.items()]
            return 200, {"ok": True, "channels": listed, "response_metadata": {"next_cursor": ""}}
        if name == "conversations.history":
            return 200, self._history(query)
        return 404, {"ok": False, "error": "unknown_method"}

    def _history(self, query: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.history_requests += 1
            found = [
                message
                for message in self.messages
                if message.channel == query.get("channel")
                and float(message.ts) >= float(query.get("oldest") or 0)
            ]
        with_metadata = query.get("include_all_metadata") in ("1", "true", "True")
        listed = []
        for message in reversed(found):  # newest first, as Slack lists them
            item = {"type": "message", "ts": message.ts, "text": message.payload.get("text")}
            if with_metadata and "metadata" in message.payload:
                item["metadata"] = message.payload["metadata"]
            listed.append(item)
        return {"ok": True, "messages": listed, "has_more": False}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, answer: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _api(self, method: str, body: bytes) -> None:
                token = self.headers.get("Authorization") or ""
                status, answer = receiver._api(method, self.path, body, token)
                self._reply(status, json.dumps(answer).encode(), "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.startswith("/api/"):
                    self._api("POST", body)
                    return
                status, answer = receiver._webhook(body, self.path)
                self._reply(status, answer, "text/plain; charset=utf-8")

            def do_GET(self) -> None:
                self._api("GET", b"")

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
