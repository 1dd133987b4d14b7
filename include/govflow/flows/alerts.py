"""Seed 004 sections 2.1, 8 and 11: sending what waits in the alert outbox."""

from __future__ import annotations

from typing import Any

from govflow import store
from govflow.alerts.messages import SmtpSettings
from govflow.alerts.outbox import deliver_pending


def deliver_outbox(
    *,
    slack_webhook_url: str | None,
    smtp: SmtpSettings | None,
    only_ids: list[int] | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Claim, send and mark each due alert (only ``only_ids`` when given; an empty list sends
    nothing and returns ``{}``); print and return what was sent and what waits for a
    connection. The channels' settings come from the caller (Airflow's connections)."""
    if only_ids is not None and not only_ids:
        return {}
    store.ensure_schema(db_url)
    report = deliver_pending(
        db_url, slack_webhook_url=slack_webhook_url, smtp=smtp, only_ids=only_ids
    )
    for line in report.lines():
        print(line)
    return report.to_dict()


__all__ = ["deliver_outbox"]
