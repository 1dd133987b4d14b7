"""Seed 004 sections 2.1, 8 and 11: sending what waits in the alert outbox, and a person's
decision to send a given-up alert again or to give up on one."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from govflow import settings, store
from govflow.alerts import outbox
from govflow.alerts.messages import SmtpSettings
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused

UNKNOWN_PERSON = (
    "{actor!r} is nobody in people.yaml: only a person named there can resend or abandon an alert"
)
NOTHING_RESENT = "nothing to resend: no alert changed"


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
    report = outbox.deliver_pending(
        db_url, slack_webhook_url=slack_webhook_url, smtp=smtp, only_ids=only_ids
    )
    for line in report.lines():
        print(line)
    return report.to_dict()


def _person(config: GovflowConfig | None, actor: str | None) -> str:
    config = config or load_config(settings.config_dir())
    try:
        config.people.user(actor or "")
    except KeyError:
        raise Refused(UNKNOWN_PERSON.format(actor=actor)) from None
    return str(actor)


def resend_alerts(
    *,
    actor: str | None,
    alert_ids: Collection[int] = (),
    all_failed: bool = False,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> list[int]:
    """Put the named (or every failed) alert back in the outbox, due now, as ``actor`` (a
    people.yaml id); print and return the ids changed. Refused: nothing changes."""
    person = _person(config, actor)
    store.ensure_schema(db_url)
    try:
        with store.session_scope(db_url) as session:
            changed = outbox.resend_alerts(
                session, actor=person, alert_ids=alert_ids, all_failed=all_failed
            )
    except outbox.AlertRequestError as error:
        raise Refused(str(error)) from None
    for alert_id in changed:
        print(f"alert {alert_id} back in the outbox, due now")
    if not changed:
        print(NOTHING_RESENT)
    return changed


def abandon_alerts(
    *,
    actor: str | None,
    alert_ids: Collection[int],
    reason: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> list[int]:
    """Give up on the named alerts as ``actor`` (a people.yaml id), for ``reason``; print
    and return the ids changed (one already abandoned is told, not changed). Refused:
    nothing changes."""
    person = _person(config, actor)
    store.ensure_schema(db_url)
    try:
        with store.session_scope(db_url) as session:
            changed = [
                alert_id
                for alert_id in alert_ids
                if outbox.abandon_alert(session, alert_id, actor=person, reason=reason)
            ]
    except outbox.AlertRequestError as error:
        raise Refused(str(error)) from None
    for alert_id in alert_ids:
        done = "abandoned" if alert_id in changed else "was already abandoned"
        print(f"alert {alert_id} {done}")
    return changed


def apply_request(params: dict[str, Any], *, actor: str | None) -> list[int]:
    """The govflow_alert_delivery form: ``action`` deliver (a scheduled run: nothing to
    change), resend or abandon the ``alert_ids`` (resend: also ``all_failed``; abandon: for
    ``reason``) as ``actor``; returns the ids changed."""
    if params["action"] == "resend":
        return resend_alerts(
            actor=actor, alert_ids=params["alert_ids"], all_failed=params["all_failed"]
        )
    if params["action"] == "abandon":
        return abandon_alerts(actor=actor, alert_ids=params["alert_ids"], reason=params["reason"])
    return []


__all__ = [
    "NOTHING_RESENT",
    "UNKNOWN_PERSON",
    "abandon_alerts",
    "apply_request",
    "deliver_outbox",
    "resend_alerts",
]
