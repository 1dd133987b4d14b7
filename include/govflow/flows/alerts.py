"""Seed 004 sections 2.1, 8 and 11: sending what waits in the alert outbox, and a person's
decision to send a given-up alert again or to give up on one."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from govflow import settings, store
from govflow.alerts import outbox
from govflow.alerts.messages import SlackBot, SmtpSettings
from govflow.alerts.paging import PAGERDUTY, PagerDutySettings
from govflow.config import GovflowConfig, load_config
from govflow.config.people import User
from govflow.config.vocabulary import Role
from govflow.flows import Overdue, Refused, known_person
from govflow.store.types import utcnow

DECIDES = "resend or abandon an alert"
NOT_AN_ABANDONER = (
    "{actor!r} may not abandon an alert: giving up on a delivery is for the people who run the "
    "monitoring (people.yaml roles {roles}); {actor!r} holds {held}"
)
ABANDONERS: tuple[Role, ...] = ("ml_engineer", "ml_lead", "admin")
"""Who may give up on an alert's delivery: those seed 004 section 6 lets trigger an analysis
(a CRITICAL alert given up is a page nobody gets). Anyone named in people.yaml may resend."""
NOTHING_RESENT = "nothing to resend: no alert changed"
UNDELIVERED = (
    "{count} CRITICAL alert(s) still undelivered {minutes:g} minutes after they were raised, "
    "escalated through the other channels (govflow alerts resend|abandon): {alerts}"
)


def deliver_outbox(
    *,
    slack_webhook_url: str | None,
    smtp: SmtpSettings | None,
    slack_bot: SlackBot | None = None,
    pagerduty: PagerDutySettings | None = None,
    only_ids: list[int] | None = None,
    now: datetime | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Claim, send and mark each due alert (only ``only_ids`` when given; an empty list sends
    nothing and returns ``{}``); print and return what was sent and what waits for a
    connection. The channels' settings come from the caller (Airflow's connections)."""
    if only_ids is not None and not only_ids:
        return {}
    store.ensure_schema(db_url)
    report = outbox.deliver_pending(
        db_url,
        slack_webhook_url=slack_webhook_url,
        slack_bot=slack_bot,
        smtp=smtp,
        pagerduty=pagerduty,
        only_ids=only_ids,
        now=now,
    )
    for line in report.lines():
        print(line)
    return report.to_dict()


def escalate_undelivered(
    *,
    slack_webhook_url: str | None,
    smtp: SmtpSettings | None,
    slack_bot: SlackBot | None = None,
    pagerduty: PagerDutySettings | None = None,
    now: datetime | None = None,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Escalate, once each, the CRITICAL alerts still undelivered after seed 004 section 8's
    delivery time, and send the escalations at once; then, if any such alert is still not
    delivered, raise :class:`Overdue` naming them (the delivery run fails, visibly). Only
    channels with a connection count: without one, alerts wait in the outbox (the demo)."""
    config = config or load_config(settings.config_dir())
    now = now or utcnow()
    within = timedelta(minutes=config.policy.performance_slas.alert_delivery_max_minutes)
    channels = [outbox.SLACK] if slack_webhook_url is not None or slack_bot is not None else []
    channels += [outbox.EMAIL] if smtp is not None else []
    channels += [PAGERDUTY] if pagerduty is not None else []
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        created = outbox.escalate_overdue_alerts(
            session, config, now=now, within=within, channels=channels
        )
        escalations = [alert.id for alert in created]
    for alert_id in escalations:
        print(f"escalation {alert_id} enqueued for a CRITICAL alert undelivered in time")
    sent = deliver_outbox(
        slack_webhook_url=slack_webhook_url,
        slack_bot=slack_bot,
        smtp=smtp,
        pagerduty=pagerduty,
        only_ids=escalations,
        now=now,
        db_url=db_url,
    )
    with store.session_scope(db_url) as session:
        overdue = [
            f"{alert.id} ({alert.channel} {alert.destination}, "
            f"{alert.last_error or 'no connection'})"
            for alert in outbox.overdue_critical_alerts(
                session, now=now, within=within, channels=channels
            )
        ]
    if overdue:
        raise Overdue(
            UNDELIVERED.format(
                count=len(overdue), minutes=within.total_seconds() / 60, alerts=", ".join(overdue)
            )
        )
    return {"escalations": escalations, "sent": sent}


def _person(config: GovflowConfig | None, actor: str | None) -> User:
    """``actor``'s entry in people.yaml; refused when it names nobody there."""
    return known_person(config or load_config(settings.config_dir()), actor, may=DECIDES)


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
    person = _person(config, actor).id
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
    if not set(ABANDONERS) & set(person.roles):
        raise Refused(
            NOT_AN_ABANDONER.format(
                actor=person.id, roles=", ".join(ABANDONERS), held=", ".join(person.roles)
            )
        )
    if not alert_ids:
        raise Refused(outbox.NOTHING_NAMED.format(verb="abandon"))
    store.ensure_schema(db_url)
    try:
        with store.session_scope(db_url) as session:
            changed = [
                alert_id
                for alert_id in alert_ids
                if outbox.abandon_alert(session, alert_id, actor=person.id, reason=reason)
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
    "ABANDONERS",
    "DECIDES",
    "NOTHING_RESENT",
    "NOT_AN_ABANDONER",
    "UNDELIVERED",
    "abandon_alerts",
    "apply_request",
    "deliver_outbox",
    "escalate_undelivered",
    "resend_alerts",
]
