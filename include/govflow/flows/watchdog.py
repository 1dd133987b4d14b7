"""Seed 004 section 8 (monitor the monitor): scheduled analyses that did not complete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.monitoring.watchdog import alert_overdue


def alert_overdue_analyses(
    now: datetime, *, config: GovflowConfig | None = None, db_url: str | None = None
) -> list[dict[str, Any]]:
    """Each model with no completed analysis 12 hours past its cadence, alerted once per
    missed window through the outbox."""
    config = config or load_config(settings.config_dir())
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        overdue = [item.to_dict() for item in alert_overdue(session, config, now)]
    for item in overdue:
        print(f"OVERDUE: {item['text']}")
    if not overdue:
        print(f"every model's analyses completed on time as of {now}")
    return overdue


__all__ = ["alert_overdue_analyses"]
