"""A local HTTP server speaking PagerDuty's Events API v2, for tests.

``POST /v2/enqueue`` takes ``{"routing_key", "event_action", "dedup_key", "payload"}`` as
PagerDuty does: a ``trigger`` needs ``payload.summary``, ``payload.source`` and a
``payload.severity`` of critical, error, warning or info; ``acknowledge`` and ``resolve``
need the ``dedup_key``. A valid event is answered ``202 {"status": "success", "message":
"Event processed", "dedup_key"}``, an invalid one ``400 {"status": "invalid event"}``, an
unknown routing key ``400`` too. Like PagerDuty, it keeps one alert per ``dedup_key``:
a trigger opens it (or does nothing to an open one), acknowledge and resolve change it, and
either is ignored for a key it does not know. It can be told to answer 500 to the next N
events (an outage). It runs on 127.0.0.1 in a thread and stops within a bounded time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
SEVERITIES = ("critical", "error", "warning", "info")
STOP_TIMEOUT_SECONDS = 5.0
POLL_INTERVAL_SECONDS = 0.05


class PagerDutyReceiver:
    """Start with ``running_pagerduty_receiver()``; ``url`` is the events endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures_left = 0
        self.events: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}  # dedup_key -> triggered / acknowledged / resolved
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_SECONDS},
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v2/enqueue"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_left = count

    def actions(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(event["event_action"], event["dedup_key"]) for event in self.events]

    def _accept(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self._failures_left > 0:
                self._failures_left -= 1
                return 500, {"status": "error", "message": "internal error"}
            problem = _invalid(event)
            if problem:
                return 400, {"status": "invalid event", "message": problem}
            key, action = event["dedup_key"], event["event_action"]
            self.events.append(event)
            if action == "trigger":
                if self.alerts.get(key) in (None, "resolved"):
                    self.alerts[key] = "triggered"
            elif key in self.alerts and self.alerts[key] != "resolved":
                self.alerts[key] = "acknowledged" if action == "acknowledge" else "resolved"
            return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    event = json.loads(self.rfile.read(length))
                except ValueError:
                    status, body = 400, {"status": "invalid event", "message": "not JSON"}
                else:
                    if self.path != "/v2/enqueue":
                        status, body = 404, {"status": "not found"}
                    else:
                        status, body = receiver._accept(event)
                answer = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_SECONDS)


def _invalid(event: dict[str, Any]) -> str | None:
    if event.get("routing_key") != ROUTING_KEY:
        return "unknown routing key"
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        return f"event_action {action!r}"
    if not event.get("dedup_key") and action != "trigger":
        return "dedup_key required"
    if action == "trigger":
        payload = event.get("payload") or {}
        if not payload.get("summary") or not payload.get("source"):
            return "payload.summary and payload.source required"
        if payload.get("severity") not in SEVERITIES:
            return f"payload.severity {payload.get('severity')!r}"
    return None


@contextmanager
def running_pagerduty_receiver() -> Iterator[PagerDutyReceiver]:
    receiver = PagerDutyReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
