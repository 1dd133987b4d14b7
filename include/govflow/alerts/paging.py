"""Seed 004 section 11 "SMS (on-call)": paging the on-call for a CRITICAL incident through
PagerDuty's Events API v2.

An incident whose severity level notifies ``sms_on_call`` (policy.yaml, CRITICAL) is paged
when it opens (event ``trigger``), and the page follows the incident: ``acknowledge`` when
the incident is acknowledged in govflow, ``resolve`` when it is resolved or closed, a new
``trigger`` when it reopens. Every event carries the incident's reference as its
``dedup_key``, so PagerDuty keeps one alert per incident and a repeated event changes
nothing there. The events go through the alert outbox (channel ``pagerduty``), so they are
sent once, retried with backoff through an outage until delivered (they are CRITICAL), and
sent in order per incident: an ``acknowledge`` never overtakes the ``trigger`` it answers.

The routing (integration) key and the endpoint come from the Airflow connection
``pagerduty_events_default`` (the key as its password; its host, when set, replaces
PagerDuty's endpoint, e.g. for a local receiver), never from config/.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from govflow.alerts.messages import DeliveryError

PAGERDUTY = "pagerduty"
PAGE_KIND = "page"
PAGING_NOTIFY = "sms_on_call"
EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX_CHARS = 1024
SOURCE = "govflow"

EventAction = Literal["trigger", "acknowledge", "resolve"]

PAGERDUTY_UNREACHABLE = "PagerDuty unreachable: {error}"
PAGERDUTY_REJECTED = "PagerDuty answered {status}: {body}"


@dataclass(frozen=True)
class PagerDutySettings:
    """The Events API v2 endpoint and the service's routing key (a secret)."""

    routing_key: str
    url: str = EVENTS_URL

    def __repr__(self) -> str:  # the key never reaches a log
        return f"PagerDutySettings(url={self.url!r}, routing_key=<hidden>)"


def page_event(
    action: EventAction,
    *,
    dedup_key: str,
    summary: str = "",
    component: str | None = None,
    details: dict[str, Any] | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """An Events API v2 event without its routing key (added when it is sent): a trigger
    carries the summary and details, an acknowledge or resolve only the ``dedup_key``."""
    event: dict[str, Any] = {"event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        event["payload"] = {
            "summary": summary[:SUMMARY_MAX_CHARS],
            "source": SOURCE,
            "severity": "critical",
            "component": component,
            "custom_details": details or {},
        }
        if link:
            event["links"] = [{"href": link, "text": "govflow incident"}]
    return event


def send_pagerduty_event(
    settings: PagerDutySettings, event: dict[str, Any], *, timeout_seconds: int = 10
) -> None:
    """Post one event; raise ``DeliveryError`` unless PagerDuty accepted it (202)."""
    body = json.dumps({"routing_key": settings.routing_key, **event}).encode()
    request = urllib.request.Request(
        settings.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            status, answer = response.status, response.read(2048)
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read(2048)
    except OSError as error:
        raise DeliveryError(PAGERDUTY_UNREACHABLE.format(error=error)) from error
    if status != 202:
        text = answer.decode(errors="replace")[:200]
        raise DeliveryError(PAGERDUTY_REJECTED.format(status=status, body=text))
