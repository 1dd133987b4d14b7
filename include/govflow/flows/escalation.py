"""Seed 004 sections 3.1, 3.2 and 12: the escalation sweeper."""

from __future__ import annotations

from typing import Any

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.incidents.lifecycle import escalate_overdue_incidents
from govflow.incidents.risk_acceptances import expire_acceptances
from govflow.store.types import utcnow


def sweep_incidents(
    *, config: GovflowConfig | None = None, db_url: str | None = None
) -> dict[str, Any]:
    """Escalate overdue incidents and expire ended risk acceptances; list what was done and
    the ids of the alerts that tell people (to send at once)."""
    store.ensure_schema(db_url)
    config, now = config or load_config(settings.config_dir()), utcnow()
    with store.session_scope(db_url) as session:
        escalated = [e.to_dict() for e in escalate_overdue_incidents(session, config, now=now)]
        expired = [e.to_dict() for e in expire_acceptances(session, config, now=now)]
    for done in escalated:
        print(f"{done['ref']} escalated to {done['level']} {done['people']}: {done['reason']}")
    for done in expired:
        print(f"acceptance {done['acceptance_id']} of {done['incident_ref']}: {done['action']}")
    print(f"{len(escalated)} escalations, {len(expired)} risk acceptances expired at {now}")
    alert_ids = [i for done in [*escalated, *expired] for i in done["alert_ids"]]
    return {"escalated": escalated, "expired": expired, "alert_ids": alert_ids}


__all__ = ["sweep_incidents"]
