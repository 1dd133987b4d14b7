"""Incidents as the lifecycle leaves them, for tests that read them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import accept_risk, open_incident, reopen
from govflow.store.schema import Incident

# A WARNING data-drift incident opened in eve's on-call week, reopened in mike's.
OPENED = datetime(2025, 3, 17, 2, 10, tzinfo=UTC)
REOPENED = datetime(2025, 3, 24, 9, tzinfo=UTC)


def reopened_incident(session: Session, config: GovflowConfig) -> Incident:
    """A WARNING psi incident opened at ``OPENED``, its risk accepted, and reopened at
    ``REOPENED`` (as the expiry of an acceptance whose condition persists reopens it)."""
    incident, _ = open_incident(
        session,
        config,
        model_id=None,
        category="data_drift",
        metric="psi",
        severity="WARNING",
        title="WARNING data drift: psi",
        actor="govflow-monitoring",
        opened_at=OPENED,
    )
    accept_risk(session, incident, actor="carol", event_key="accepted", at=OPENED)
    reopen(session, incident, actor="expiry", event_key="reopened:expiry", at=REOPENED)
    return incident
