"""Seed 004 sections 2.1, 8 and 11: the alert outbox, alert routing and delivery.

Every alert is first a row in the store, keyed by an idempotency key that names what it is
about (so a retried task enqueues nothing new), and only then delivered. Delivery to Slack
and e-mail reads the outbox; until a channel is configured, alerts wait there and the task
that enqueued them prints them to its log.

Routing follows ``severity_levels`` of policy.yaml: INFO goes to the dashboard only (nothing
is enqueued); a WARNING finding is kept for the day's digest (one Slack message to
#ml-monitoring and one e-mail to the ML engineers and the ML lead per day); a CRITICAL
finding is sent at once, to Slack with ``@channel`` and by e-mail to the primary on-call
and the people its escalation path pages on alert. One alert exists per (model, check,
metric, subject, monitoring run) and channel, whatever the number of task tries.

Delivery claims each row in its own short transaction (``UPDATE ... WHERE status =
'pending'`` and a row count of one), sends, then records the outcome in another. A claim
older than the lease (a killed worker) may be taken over. A failed attempt waits with
doubling backoff; a CRITICAL alert is never given up by count (at most
``CRITICAL_MAX_BACKOFF`` between attempts, until it is delivered or a person abandons it),
any other alert has ``DEFAULT_MAX_ATTEMPTS`` and then waits as ``failed`` for a person to
resend it. A CRITICAL alert still undelivered after seed 004 section 8's delivery time is
escalated once through the other channel (``escalate_overdue_alerts``).

A message can reach Slack twice when Slack accepts a post whose answer never reaches govflow
(a timeout, a lost connection, a worker killed before the commit that marks it delivered).
With a bot token the alert's idempotency key travels in the message's metadata and every
retry first looks for it in the channel's history (``conversations.history``), so a post
that landed is recorded as delivered, not posted again: once. A Slack incoming webhook takes
no key and offers no way to look, so webhook delivery is at least once: every such post is
sent again (tests/unit/test_alerts.py measures it with a receiver that hangs the first
post). E-mails carry a Message-ID derived from the idempotency key on every attempt, so
mail systems that drop duplicate Message-IDs drop the second copy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, true, update
from sqlalchemy.orm import Session

from govflow import store
from govflow.alerts.messages import (
    AlertFinding,
    DeliveryError,
    EmailContent,
    Links,
    SlackBot,
    SmtpSettings,
    UndeliveredAlert,
    critical_email,
    critical_slack_message,
    digest_email,
    digest_slack_message,
    escalation_email,
    escalation_slack_message,
    report_slack_message,
    send_email,
    send_slack_bot_message,
    send_slack_webhook,
    slack_bot_message_posted,
)
from govflow.alerts.paging import PAGERDUTY, PagerDutySettings, send_pagerduty_event
from govflow.audit import record_event
from govflow.config import ALERT_SOURCES, GovflowConfig
from govflow.store.keys import KEY_MAX_CHARS, bounded_key
from govflow.store.schema import Alert, MetricResult, MonitoringRun, RiskAcceptance
from govflow.store.types import utcnow

logger = logging.getLogger(__name__)

# Alert statuses. Only pending (and sending past its lease) rows are delivered; a failed row
# waits for a person to resend it and an abandoned one was given up by a person; digest items
# wait for the day's digest and suppressed ones are never sent.
PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
ABANDONED = "abandoned"
SUPPRESSED = "suppressed"
AWAITING_DIGEST = "awaiting_digest"
DIGESTED = "digested"

CRITICAL_KIND = "critical"
DIGEST_ITEM_KIND = "warning_digest_item"
DIGEST_KIND = "warning_digest"
ESCALATION_KIND = "delivery_escalation"
REPORT_KIND = "report_summary"
SLACK = "slack"
EMAIL = "email"
DIGEST_CHANNEL = "digest"

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# A CRITICAL alert is never given up by count: it is retried at least this often until it is
# delivered or a person abandons it, so it lands within seed 004 section 8's 5 minutes of a
# recovery.
CRITICAL_MAX_BACKOFF = timedelta(minutes=5)
DEFAULT_LEASE = timedelta(minutes=5)
# How far before an alert was raised a bot looks in the channel for it: the clocks of the
# store and of Slack need not agree.
SLACK_CLOCK_SKEW = timedelta(minutes=10)
ACTOR = "govflow-alerts"
# Room a digest's key keeps for "#<part>" (up to part 9,999).
DIGEST_PART_CHARS = 5

NOT_CONFIGURED = "no {what} configured: {count} alerts waiting in the outbox"
UNKNOWN_ALERT = "no alert {id} in the outbox"
GAVE_UP = (
    "alert {id} failed after {attempts} attempts and waits for a person: {error} "
    "(govflow alerts resend {id})"
)
NOT_WAITING = "alert {id} is {status}: only an alert still waiting to be sent can be changed"
REASON_REQUIRED = "abandoning an alert needs a reason"
NOTHING_NAMED = "no alert named to {verb}"
WHAT_IS_MISSING = {
    SLACK: "Slack connection",
    EMAIL: "SMTP connection",
    PAGERDUTY: "PagerDuty connection (pagerduty_events_default)",
}


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
    """Put an alert in the outbox once; returns it and whether this call created it.

    ``idempotency_key`` is stored bounded (:func:`~govflow.store.keys.bounded_key`)."""
    idempotency_key = bounded_key(idempotency_key)
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


def is_suppressed(session: Session, model_id: str, metric: str, at: datetime) -> bool:
    """Whether an approved risk acceptance (seed 004 section 12) silences ``metric`` at ``at``."""
    found = session.scalars(
        select(RiskAcceptance.id).where(
            RiskAcceptance.model_id == model_id,
            RiskAcceptance.metric == metric,
            RiskAcceptance.status == "approved",
            RiskAcceptance.suppression_until > at,
        )
    ).first()
    return found is not None


# --- Routing ----------------------------------------------------------------------------


def _finding_key(run: MonitoringRun, result: MetricResult) -> str:
    return f"{run.model_id}:{result.check_type}:{result.metric}:{result.subject}:{run.run_key}"


def detected_at(run: MonitoringRun) -> datetime:
    """When a run's findings became known: its finish, else the end of its window."""
    return run.finished_at or run.interval_end


def _alert_finding(config: GovflowConfig, run: MonitoringRun, result: MetricResult) -> AlertFinding:
    runbook_key = config.policy.runbook_for(result.check_type)
    runbook = config.policy.runbooks[runbook_key] if runbook_key else None
    first_steps = runbook.phases[0].actions if runbook else []
    return AlertFinding(
        model_id=run.model_id,
        check_type=result.check_type,
        metric=result.metric,
        subject=result.subject,
        value=result.value,
        severity=result.severity,
        threshold=dict(result.threshold),
        baseline_version=run.baseline_version,
        run_key=run.run_key,
        dag_id=run.dag_id,
        dag_run_id=run.dag_run_id,
        report_path=run.report_path,
        detected_at=detected_at(run).isoformat(),
        runbook_key=runbook_key,
        runbook_title=runbook.title if runbook else None,
        first_steps=list(first_steps),
        model_versions=dict(run.model_versions or {}),
    )


def _emails(config: GovflowConfig, user_ids: list[str]) -> list[str]:
    return list(dict.fromkeys(config.people.user(user_id).email for user_id in user_ids))


def instant_email_recipients(config: GovflowConfig, source: str, at: datetime) -> list[str]:
    """The primary on-call at ``at``, then everyone the CRITICAL path of ``source`` pages at once.

    Fairness pages the compliance officer and the CEO immediately; data and model drift the
    ML lead. Steps that wait (no acknowledgement in an hour, unresolved after four) belong to
    incident escalation, not to the first e-mail.
    """
    people = [config.people.on_call_primary(at)]
    path = config.policy.escalation_path("CRITICAL", source) if source in ALERT_SOURCES else None
    if path is not None:
        for step in path.steps:
            if step.when == "on_alert":
                people += config.people_on_step(step, at)
    return _emails(config, people)


def digest_email_recipients(config: GovflowConfig) -> list[str]:
    """Everyone holding a role on a WARNING escalation path: the ML engineers and the ML lead."""
    roles = [
        step.role
        for path in config.policy.escalation.paths.values()
        if path.severity == "WARNING"
        for step in path.steps
    ]
    return _emails(config, [user for role in roles for user in config.people.holders(role)])


def _enqueue_with_status(session: Session, status: str, **alert: Any) -> Alert | None:
    created_alert, created = enqueue_alert(session, actor=ACTOR, **alert)
    if not created:
        return None
    created_alert.status = status
    return created_alert


def route_findings(
    session: Session, config: GovflowConfig, run: MonitoringRun, *, links: Links | None = None
) -> list[Alert]:
    """Put the alerts that a monitoring run's findings call for in the outbox.

    Returns the alerts this call created: routing the same run again creates none.
    """
    if run.historical:  # a day long past, analysed as history: pages no one
        return []
    links = links or Links.from_env()
    at = detected_at(run)
    results = session.scalars(
        select(MetricResult)
        .where(MetricResult.monitoring_run_id == run.id)
        .order_by(MetricResult.id)
    ).all()
    created: list[Alert | None] = []
    for result in results:
        level = config.policy.severity_levels[result.severity]  # type: ignore[index]
        if level.frequency == "real_time":
            continue
        finding = _alert_finding(config, run, result)
        key = _finding_key(run, result)
        common = {"severity": result.severity, "model_id": run.model_id}
        suppressible = result.severity in config.policy.exceptions.applies_to_severities
        if suppressible and is_suppressed(session, run.model_id, result.metric, at):
            created.append(
                _enqueue_with_status(
                    session,
                    SUPPRESSED,
                    idempotency_key=f"suppressed:{key}",
                    channel=DIGEST_CHANNEL,
                    destination="accepted risk",
                    kind=DIGEST_ITEM_KIND,
                    payload={"text": f"suppressed: {finding.what}", "finding": finding.to_dict()},
                    **common,
                )
            )
        elif level.frequency == "daily_digest":
            created.append(
                _enqueue_with_status(
                    session,
                    AWAITING_DIGEST,
                    idempotency_key=f"warning:{key}",
                    channel=DIGEST_CHANNEL,
                    destination=f"digest:{at.date().isoformat()}",
                    kind=DIGEST_ITEM_KIND,
                    payload={"text": finding.what, "finding": finding.to_dict()},
                    **common,
                )
            )
        else:
            created += _route_immediately(session, config, finding, key, links, at)
    return [alert for alert in created if alert is not None]


def _route_immediately(
    session: Session,
    config: GovflowConfig,
    finding: AlertFinding,
    key: str,
    links: Links,
    at: datetime,
) -> list[Alert | None]:
    level = config.policy.severity_levels[finding.severity]  # type: ignore[index]
    common = {"severity": finding.severity, "model_id": finding.model_id, "kind": CRITICAL_KIND}
    created = []
    if "slack" in level.notify and level.slack_channel:
        message = critical_slack_message(
            finding, links, mention_channel="slack_channel_mention" in level.notify
        )
        created.append(
            _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=f"{finding.severity.lower()}:{key}:{SLACK}",
                channel=SLACK,
                destination=config.people.channel(level.slack_channel),
                payload={**message, "finding": finding.to_dict()},
                **common,
            )
        )
    if "instant_email" in level.notify:
        recipients = instant_email_recipients(config, finding.check_type, at)
        content = critical_email(finding, links)
        created.append(
            _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=f"{finding.severity.lower()}:{key}:{EMAIL}",
                channel=EMAIL,
                destination=",".join(recipients),
                payload={**_email_payload(content), "finding": finding.to_dict()},
                **common,
            )
        )
    return created


def _email_payload(content: EmailContent) -> dict[str, Any]:
    return {"text": content.subject, "subject": content.subject, "body": content.body}


def _digest_key(session: Session, day: date, channel: str, destination: str) -> tuple[str, int]:
    """The day's first digest per channel has the plain key; late findings make part 2, 3...
    The base is bounded with room for the part's "#<n>", so every part's key is the base and
    its number as stored (a part whose whole key were bounded again would be a hash the count
    cannot find, and a third part would reuse the second's key)."""
    base = bounded_key(
        f"warning-digest:{day.isoformat()}:{channel}:{destination}",
        limit=KEY_MAX_CHARS - DIGEST_PART_CHARS,
    )
    earlier = session.scalar(
        select(func.count(Alert.id)).where(
            Alert.kind == DIGEST_KIND,
            or_(
                Alert.idempotency_key == base,
                Alert.idempotency_key.startswith(f"{base}#", autoescape=True),
            ),
        )
    )
    part = (earlier or 0) + 1
    return (base if part == 1 else f"{base}#{part}"), part


def build_daily_digests(
    session: Session, config: GovflowConfig, day: date, *, links: Links | None = None
) -> list[Alert]:
    """One Slack digest and one e-mail digest of ``day``'s WARNING findings not yet sent.

    Running it again for the same day creates nothing; findings recorded for a day after its
    digest was built go out in a second part.
    """
    links = links or Links.from_env()
    items = session.scalars(
        select(Alert)
        .where(
            Alert.kind == DIGEST_ITEM_KIND,
            Alert.status == AWAITING_DIGEST,
            Alert.destination == f"digest:{day.isoformat()}",
        )
        .order_by(Alert.id)
    ).all()
    if not items:
        return []
    findings = [AlertFinding.from_dict(item.payload["finding"]) for item in items]
    level = config.policy.severity_levels["WARNING"]
    created: list[Alert | None] = []
    common = {"kind": DIGEST_KIND, "severity": "WARNING"}
    if "slack" in level.notify and level.slack_channel:
        channel = config.people.channel(level.slack_channel)
        key, part = _digest_key(session, day, SLACK, channel)
        created.append(
            _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=key,
                channel=SLACK,
                destination=channel,
                payload=digest_slack_message(day, findings, links, part=part),
                **common,
            )
        )
    if "email_digest" in level.notify:
        recipients = ",".join(digest_email_recipients(config))
        key, part = _digest_key(session, day, EMAIL, recipients)
        created.append(
            _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=key,
                channel=EMAIL,
                destination=recipients,
                payload=_email_payload(digest_email(day, findings, links, part=part)),
                **common,
            )
        )
    digests = [alert.idempotency_key for alert in created if alert is not None]
    for item in items:
        item.status = DIGESTED
        item.payload = {**item.payload, "digests": digests}
    return [alert for alert in created if alert is not None]


# --- Delivery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveredAlert:
    alert_id: int
    kind: str
    channel: str
    destination: str
    attempts: int
    latency_seconds: float


@dataclass(frozen=True)
class FailedAttempt:
    alert_id: int
    channel: str
    attempts: int
    error: str
    next_attempt_at: str | None


@dataclass
class DeliveryReport:
    """What one delivery pass did; JSON-able through ``to_dict`` for XCom."""

    delivered: list[DeliveredAlert] = field(default_factory=list)
    retrying: list[FailedAttempt] = field(default_factory=list)
    failed: list[FailedAttempt] = field(default_factory=list)
    waiting: dict[str, list[str]] = field(default_factory=dict)
    claimed_elsewhere: int = 0

    @property
    def max_latency_seconds(self) -> float | None:
        return max((item.latency_seconds for item in self.delivered), default=None)

    def lines(self) -> list[str]:
        lines = [
            f"delivered {len(self.delivered)}, retrying {len(self.retrying)}, "
            f"failed {len(self.failed)}, claimed by another worker {self.claimed_elsewhere}"
        ]
        lines += [
            f"delivered alert {item.alert_id} ({item.kind}) to {item.channel} {item.destination} "
            f"after {item.attempts} attempt(s), {item.latency_seconds:.3f} s after enqueue"
            for item in self.delivered
        ]
        lines += [
            f"alert {item.alert_id} {item.channel} attempt {item.attempts} failed: {item.error}"
            for item in (*self.retrying, *self.failed)
        ]
        for channel, waiting in self.waiting.items():
            lines.append(NOT_CONFIGURED.format(what=WHAT_IS_MISSING[channel], count=len(waiting)))
            lines += [f"  {line}" for line in waiting]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "max_latency_seconds": self.max_latency_seconds}


@dataclass(frozen=True)
class _Channels:
    slack_webhook_url: str | None
    slack_bot: SlackBot | None
    smtp: SmtpSettings | None
    pagerduty: PagerDutySettings | None = None

    def configured(self, channel: str) -> bool:
        if channel == SLACK:
            return self.slack_bot is not None or self.slack_webhook_url is not None
        if channel == PAGERDUTY:
            return self.pagerduty is not None
        return channel == EMAIL and self.smtp is not None


@dataclass(frozen=True)
class _Claim:
    alert_id: int
    token: str
    idempotency_key: str
    kind: str
    severity: str
    channel: str
    destination: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def _deliverable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Rows a worker may claim: due pending rows and stale claims."""
    return or_(
        (Alert.status == PENDING)
        & or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= now),
        (Alert.status == SENDING) & (Alert.claimed_at <= now - lease),
    )


def _claim(db_url: str | None, alert_id: int, now: datetime, lease: timedelta) -> _Claim | None:
    token = str(uuid.uuid4())
    with store.session_scope(db_url) as session:
        claimed = session.execute(
            update(Alert)
            .where(Alert.id == alert_id, _deliverable(now, lease))
            .values(status=SENDING, claim_token=token, claimed_at=now, attempts=Alert.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        alert = session.get_one(Alert, alert_id)
        return _Claim(
            alert_id=alert.id,
            token=token,
            idempotency_key=alert.idempotency_key,
            kind=alert.kind,
            severity=alert.severity,
            channel=alert.channel,
            destination=alert.destination,
            payload=dict(alert.payload),
            attempts=alert.attempts,
            created_at=alert.created_at,
        )


def _send(
    claim: _Claim,
    channels: _Channels,
    slack_timeout_seconds: int,
) -> bool:
    """Send one claimed alert; returns whether it was found already posted instead."""
    if claim.channel == SLACK and channels.slack_bot is not None:
        # An earlier attempt that got no answer (or an error) may have been posted all the
        # same: a bot can look for the alert's marker before posting it again.
        since = (claim.created_at - SLACK_CLOCK_SKEW).timestamp()
        if claim.attempts > 1 and slack_bot_message_posted(
            channels.slack_bot,
            claim.destination,
            claim.idempotency_key,
            since=since,
            timeout_seconds=slack_timeout_seconds,
        ):
            return True
        send_slack_bot_message(
            channels.slack_bot,
            claim.destination,
            claim.payload,
            marker=claim.idempotency_key,
            timeout_seconds=slack_timeout_seconds,
        )
    elif claim.channel == SLACK and channels.slack_webhook_url is not None:
        send_slack_webhook(
            channels.slack_webhook_url, claim.payload, timeout_seconds=slack_timeout_seconds
        )
    elif claim.channel == PAGERDUTY and channels.pagerduty is not None:
        send_pagerduty_event(
            channels.pagerduty, claim.payload, timeout_seconds=slack_timeout_seconds
        )
    elif claim.channel == EMAIL and channels.smtp is not None:
        send_email(
            channels.smtp,
            to=claim.destination.split(","),
            content=EmailContent(subject=claim.payload["subject"], body=claim.payload["body"]),
            idempotency_key=claim.idempotency_key,
        )
    return False


def _mark_delivered(
    db_url: str | None, claim: _Claim, report: DeliveryReport, *, found_in_history: bool
) -> None:
    with store.session_scope(db_url) as session:
        alert = session.get_one(Alert, claim.alert_id)
        if alert.claim_token != claim.token:
            # Our lease ran out and another worker took the row over: it sends (or has sent)
            # the message too, and its outcome is the one recorded.
            logger.warning("alert %s was taken over while it was being sent", claim.alert_id)
            return
        delivered_at = utcnow()
        alert.status = DELIVERED
        alert.delivered_at = delivered_at
        alert.claim_token = None
        latency = (delivered_at - alert.created_at).total_seconds()
        record_event(
            session,
            actor=ACTOR,
            action="alert.delivered",
            target=f"alert:{alert.id}",
            payload={
                "channel": alert.channel,
                "destination": alert.destination,
                "attempts": alert.attempts,
                "latency_seconds": round(latency, 6),
                "found_in_channel_history": found_in_history,
            },
            idempotency_key=f"alert.delivered:{alert.idempotency_key}",
        )
    report.delivered.append(
        DeliveredAlert(
            claim.alert_id,
            claim.kind,
            claim.channel,
            claim.destination,
            claim.attempts,
            latency,
        )
    )


def _mark_attempt_failed(
    db_url: str | None,
    claim: _Claim,
    error: DeliveryError,
    report: DeliveryReport,
    *,
    now: datetime,
    max_attempts: int,
    backoff: timedelta,
) -> None:
    with store.session_scope(db_url) as session:
        alert = session.get_one(Alert, claim.alert_id)
        if alert.claim_token != claim.token:
            return
        alert.last_error = str(error)
        alert.claim_token = None
        critical = alert.severity == "CRITICAL"
        if alert.attempts >= max_attempts and not critical:
            alert.status = FAILED
            alert.next_attempt_at = None
            logger.warning(GAVE_UP.format(id=alert.id, attempts=alert.attempts, error=error))
            record_event(
                session,
                actor=ACTOR,
                action="alert.failed",
                target=f"alert:{alert.id}",
                payload={"channel": alert.channel, "attempts": alert.attempts, "error": str(error)},
                severity="HIGH",
                idempotency_key=f"alert.failed:{alert.idempotency_key}:{alert.attempts}",
            )
        else:
            alert.status = PENDING
            cap = CRITICAL_MAX_BACKOFF if critical else MAX_BACKOFF
            # A CRITICAL row's attempts grow without bound; 2**n of a timedelta must not.
            alert.next_attempt_at = now + min(backoff * 2 ** min(alert.attempts - 1, 32), cap)
        outcome = FailedAttempt(
            alert.id,
            alert.channel,
            alert.attempts,
            str(error),
            alert.next_attempt_at.isoformat() if alert.next_attempt_at else None,
        )
    (report.failed if outcome.next_attempt_at is None else report.retrying).append(outcome)


def deliver_pending(
    db_url: str | None = None,
    *,
    slack_webhook_url: str | None,
    smtp: SmtpSettings | None,
    slack_bot: SlackBot | None = None,
    now: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: timedelta = DEFAULT_BACKOFF,
    lease: timedelta = DEFAULT_LEASE,
    slack_timeout_seconds: int = 10,
    only_ids: Collection[int] | None = None,
    pagerduty: PagerDutySettings | None = None,
) -> DeliveryReport:
    """Send the outbox's due alerts, CRITICAL first, one claimed row at a time.

    A failed attempt puts the row back with ``backoff * 2**(attempts - 1)`` to wait. A
    CRITICAL alert waits at most ``CRITICAL_MAX_BACKOFF`` and is retried until it is
    delivered or a person abandons it (``abandon_alert``); any other alert waits at most an
    hour and after ``max_attempts`` is ``failed`` until a person resends it
    (``resend_alerts``). Alerts for a channel with no URL, token or server stay pending and
    are listed in the report and the log. A Slack answer slower than
    ``slack_timeout_seconds`` counts as a failure (Slack may still post it: with
    ``slack_bot`` the retry looks for it first; see the module docstring). ``now``
    (timezone-aware) decides what is due and when a lease runs out; ``delivered_at`` is
    always the wall clock, so latency is real. ``only_ids`` limits the call to those rows:
    the analysis that detected a CRITICAL finding sends its alerts at once with it.
    """
    now = now or utcnow()
    channels = _Channels(slack_webhook_url, slack_bot, smtp, pagerduty)
    configured = {channel: channels.configured(channel) for channel in (SLACK, EMAIL, PAGERDUTY)}
    report = DeliveryReport()
    with store.session_scope(db_url) as session:
        due = session.scalars(
            select(Alert)
            .where(
                Alert.channel.in_(configured),
                _deliverable(now, lease),
                true() if only_ids is None else Alert.id.in_(list(only_ids)),
            )
            .order_by(
                case((Alert.severity == "CRITICAL", 0), (Alert.severity == "WARNING", 1), else_=2),
                Alert.id,
            )
        ).all()
        held_back = _pages_waiting_for_an_earlier_one(session, due)
        to_send = [
            alert.id for alert in due if configured[alert.channel] and alert.id not in held_back
        ]
        # A page that fails holds back the later events of its incident in this round too.
        incident_of_page = {a.id: a.incident_id for a in due if a.channel == PAGERDUTY}
        for alert in due:
            if not configured[alert.channel]:
                report.waiting.setdefault(alert.channel, []).append(describe(alert))
    for channel, waiting in report.waiting.items():
        logger.warning(NOT_CONFIGURED.format(what=WHAT_IS_MISSING[channel], count=len(waiting)))
    failed_pages: set[int | None] = set()
    for alert_id in to_send:
        if alert_id in incident_of_page and incident_of_page[alert_id] in failed_pages:
            continue
        claim = _claim(db_url, alert_id, now, lease)
        if claim is None:
            report.claimed_elsewhere += 1
            continue
        try:
            found_in_history = _send(claim, channels, slack_timeout_seconds)
        except DeliveryError as error:
            if alert_id in incident_of_page:
                failed_pages.add(incident_of_page[alert_id])
            _mark_attempt_failed(
                db_url,
                claim,
                error,
                report,
                now=now,
                max_attempts=max_attempts,
                backoff=backoff,
            )
        else:
            _mark_delivered(db_url, claim, report, found_in_history=found_in_history)
    return report


def _pages_waiting_for_an_earlier_one(session: Session, due: Collection[Alert]) -> set[int]:
    """PagerDuty events are sent in order per incident: an ``acknowledge`` or ``resolve``
    waits while an earlier event of its incident, not due yet (backing off), is still
    undelivered. (Earlier events due in the same round are sent first: ``due`` is in id
    order within a severity, and every page is CRITICAL.)"""
    pages = [alert for alert in due if alert.channel == PAGERDUTY]
    if not pages:
        return set()
    earlier = session.execute(
        select(Alert.incident_id, func.min(Alert.id))
        .where(
            Alert.channel == PAGERDUTY,
            Alert.status.in_(UNDELIVERED_STATUSES),
            Alert.incident_id.in_({alert.incident_id for alert in pages}),
            Alert.id.not_in([alert.id for alert in pages]),
        )
        .group_by(Alert.incident_id)
    ).all()
    first = dict(earlier)
    return {alert.id for alert in pages if first.get(alert.incident_id, alert.id) < alert.id}


# --- Generated reports ----------------------------------------------------------------------


def enqueue_report_summary(
    session: Session,
    config: GovflowConfig,
    *,
    family: str,
    period: str,
    sha256: str,
    title: str,
    headline: str,
    name: str,
    links: Links | None = None,
) -> tuple[Alert, bool] | None:
    """Put the Slack summary of a generated report in the outbox, once per report (``family``
    and ``period``, a month, quarter or incident) and content (``sha256``): drawing the same
    report again posts nothing, a report whose records changed posts anew. None when
    policy.yaml ``external_reporting`` names no channel for ``family``."""
    channel = config.policy.report_channel(family)
    if channel is None:
        return None
    message = report_slack_message(title, headline, name, links or Links.from_env())
    return enqueue_alert(
        session,
        idempotency_key=f"report:{family}:{period}:{sha256}:{SLACK}",
        channel=SLACK,
        destination=config.people.channel(channel),
        kind=REPORT_KIND,
        severity="INFO",
        payload={**message, "report": name},
        actor=ACTOR,
    )


# --- Escalation of what is not delivered in time ------------------------------------------

# Rows still on their way: neither delivered nor given up by a person.
UNDELIVERED_STATUSES = (PENDING, SENDING, FAILED)


def overdue_critical_alerts(
    session: Session, *, now: datetime, within: timedelta, channels: Collection[str]
) -> list[Alert]:
    """CRITICAL alerts for ``channels`` (those with a connection) raised more than
    ``within`` before ``now`` and still not delivered. An alert for a channel nobody
    configured waits in the outbox, listed in the delivery log, until one is."""
    return list(
        session.scalars(
            select(Alert)
            .where(
                Alert.severity == "CRITICAL",
                Alert.status.in_(UNDELIVERED_STATUSES),
                Alert.created_at <= now - within,
                Alert.channel.in_(list(channels)),
            )
            .order_by(Alert.id)
        )
    )


def _undelivered(alert: Alert, within: timedelta) -> UndeliveredAlert:
    return UndeliveredAlert(
        alert_id=alert.id,
        channel=alert.channel,
        destination=alert.destination,
        kind=alert.kind,
        text=alert.payload.get("text", ""),
        attempts=alert.attempts,
        last_error=alert.last_error,
        created_at=alert.created_at.isoformat(timespec="seconds"),
        minutes=within.total_seconds() / 60,
    )


def escalate_overdue_alerts(
    session: Session,
    config: GovflowConfig,
    *,
    now: datetime,
    within: timedelta,
    channels: Collection[str],
) -> list[Alert]:
    """Tell people about each CRITICAL alert for ``channels`` still undelivered ``within``
    after it was raised, once, through the channel other than its own: an instant e-mail to
    the people its CRITICAL path pages at once, or Slack ``@channel`` in the CRITICAL
    channel. (Seed 004 section 11 also names SMS to the on-call; govflow has no paging
    channel yet, so an alert that only Slack and e-mail could carry is escalated by the
    other of the two.)

    Returns the escalation alerts this call created: escalating again creates none, and an
    escalation is never itself escalated.
    """
    level = config.policy.severity_levels["CRITICAL"]
    created: list[Alert] = []
    for alert in overdue_critical_alerts(session, now=now, within=within, channels=channels):
        if alert.kind == ESCALATION_KIND:
            continue
        undelivered = _undelivered(alert, within)
        finding = alert.payload.get("finding") or {}
        common = {"kind": ESCALATION_KIND, "severity": "CRITICAL", "model_id": alert.model_id}
        through = []
        if alert.channel != EMAIL:
            recipients = instant_email_recipients(config, finding.get("check_type", ""), now)
            escalation = _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=f"escalation:{alert.idempotency_key}:{EMAIL}",
                channel=EMAIL,
                destination=",".join(recipients),
                payload=_email_payload(escalation_email(undelivered)),
                **common,
            )
            through.append(EMAIL)
            created += [escalation] if escalation is not None else []
        if alert.channel != SLACK and level.slack_channel:
            escalation = _enqueue_with_status(
                session,
                PENDING,
                idempotency_key=f"escalation:{alert.idempotency_key}:{SLACK}",
                channel=SLACK,
                destination=config.people.channel(level.slack_channel),
                payload=escalation_slack_message(undelivered),
                **common,
            )
            through.append(SLACK)
            created += [escalation] if escalation is not None else []
        record_event(
            session,
            actor=ACTOR,
            action="alert.escalated",
            target=f"alert:{alert.id}",
            payload={"channel": alert.channel, "through": through, "attempts": alert.attempts},
            severity="CRITICAL",
            idempotency_key=f"alert.escalated:{alert.idempotency_key}",
        )
    return created


# --- A person's decisions: resend, abandon ------------------------------------------------


class AlertRequestError(Exception):
    """A person's request about an alert that cannot be carried out; nothing changed."""


def _named_alerts(session: Session, alert_ids: Collection[int]) -> list[Alert]:
    found = {
        alert.id: alert
        for alert in session.scalars(select(Alert).where(Alert.id.in_(list(alert_ids))))
    }
    for alert_id in alert_ids:
        if alert_id not in found:
            raise AlertRequestError(UNKNOWN_ALERT.format(id=alert_id))
        alert = found[alert_id]
        if alert.status not in (PENDING, SENDING, FAILED, ABANDONED):
            raise AlertRequestError(NOT_WAITING.format(id=alert.id, status=alert.status))
    return [found[alert_id] for alert_id in dict.fromkeys(alert_ids)]


def resend_alerts(
    session: Session,
    *,
    actor: str,
    alert_ids: Collection[int] = (),
    all_failed: bool = False,
) -> list[int]:
    """Put failed or abandoned alerts (those named, or every failed one) back in the outbox,
    due at once; a pending alert waiting out its backoff is made due at once too.

    Returns the ids this call changed, each with one ``alert.resend_requested`` audit event
    naming ``actor``: asking again changes and records nothing. An unknown id, or one that
    was delivered, raises ``AlertRequestError`` before anything changes.
    """
    if not alert_ids and not all_failed:
        raise AlertRequestError(NOTHING_NAMED.format(verb="resend"))
    named = _named_alerts(session, alert_ids)
    if all_failed:
        named += session.scalars(
            select(Alert).where(Alert.status == FAILED).order_by(Alert.id)
        ).all()
    changed = []
    for alert in dict.fromkeys(named):
        waiting_out_backoff = alert.status == PENDING and alert.next_attempt_at is not None
        if alert.status not in (FAILED, ABANDONED) and not waiting_out_backoff:
            continue
        record_event(
            session,
            actor=actor,
            action="alert.resend_requested",
            target=f"alert:{alert.id}",
            payload={"from_status": alert.status, "attempts": alert.attempts},
            severity="HIGH" if alert.severity == "CRITICAL" else "INFO",
        )
        alert.status = PENDING
        alert.next_attempt_at = None
        changed.append(alert.id)
    return changed


def abandon_alert(session: Session, alert_id: int, *, actor: str, reason: str) -> bool:
    """Give up on an alert still waiting to be sent: it is never sent again (unless a person
    resends it). Returns whether this call changed it; the change is one ``alert.abandoned``
    audit event naming ``actor`` and ``reason``, and abandoning it again records nothing."""
    if not reason.strip():
        raise AlertRequestError(REASON_REQUIRED)
    [alert] = _named_alerts(session, [alert_id])
    if alert.status == ABANDONED:
        return False
    record_event(
        session,
        actor=actor,
        action="alert.abandoned",
        target=f"alert:{alert.id}",
        payload={
            "from_status": alert.status,
            "attempts": alert.attempts,
            "reason": reason.strip(),
            "severity": alert.severity,
        },
        severity="HIGH" if alert.severity == "CRITICAL" else "INFO",
    )
    alert.status = ABANDONED
    alert.next_attempt_at = None
    alert.claim_token = None
    return True
