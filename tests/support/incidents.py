"""Incidents as the lifecycle leaves them, for tests that read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import accept_risk, open_incident, reopen
from govflow.store.schema import Incident, MetricResult, MonitoringRun

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


def measured(session: Session, metric: str, severity: str, value: float, at: datetime) -> None:
    """A daily record of credit_approval finished at ``at``: data drift ``metric`` on income
    with ``severity`` (the newest measurement a risk acceptance or its expiry reads)."""
    run = MonitoringRun(
        model_id="credit_approval",
        run_key=f"daily/{metric}/{at.isoformat()}",
        cadence="daily",
        interval_start=at - timedelta(days=1),
        interval_end=at,
        status="succeeded",
        finished_at=at,
    )
    session.add(run)
    session.flush()
    session.add(
        MetricResult(
            monitoring_run_id=run.id,
            check_type="data_drift",
            metric=metric,
            subject="income",
            value=value,
            status="computed",
            severity=severity,
            threshold={"warning": 0.1, "critical": 0.25, "direction": "higher_is_worse"},
        )
    )
