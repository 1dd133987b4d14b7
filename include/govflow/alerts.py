"""Seed 004 sections 2.1 and 11: the alert outbox.

Every alert is first a row in the store, keyed by an idempotency key that names what it is
about (so a retried task enqueues nothing new), and only then delivered. Delivery to Slack
and e-mail reads the outbox; until a channel is configured, alerts wait there and the task
that enqueued them prints them to its log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.store.schema import Alert


def enqueue_alert(
    session: Session,
    *,
    idempotency_key: str,
    channel: str,
    destination: str,
    kind: str,
    severity: str,
    payload: dict[str, Any],
    model_id: str | None = None,
    incident_id: int | None = None,
    actor: str = "govflow",
) -> tuple[Alert, bool]:
    """Put an alert in the outbox once; returns it and whether this call created it."""
    existing = session.scalars(
        select(Alert).where(Alert.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return existing, False
    alert = Alert(
        idempotency_key=idempotency_key,
        channel=channel,
        destination=destination,
        kind=kind,
        severity=severity,
        model_id=model_id,
        incident_id=incident_id,
        payload=payload,
        status="pending",
    )
    session.add(alert)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="alert.enqueued",
        target=f"alert:{alert.id}",
        payload={
            "kind": kind,
            "channel": channel,
            "destination": destination,
            "model_id": model_id,
            "key": idempotency_key,
        },
        severity="CRITICAL" if severity == "CRITICAL" else "INFO",
        idempotency_key=f"alert.enqueued:{idempotency_key}",
    )
    return alert, True


def describe(alert: Alert) -> str:
    """One line for a task log."""
    text = alert.payload.get("text", "")
    return f"[{alert.severity}] {alert.channel} {alert.destination} ({alert.kind}): {text}"
