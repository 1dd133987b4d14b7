"""Seed 004 section 12: accepted-risk exceptions ("Exceptions & Overrides").

The process of the seed, with policy.yaml ``exceptions`` as the rules:

1. The ML lead documents the rationale: ``request_acceptance`` needs a holder of
   ``documented_by`` (ml_lead), a rationale, and at most ``max_suppression_days`` (30) days.
2. The compliance officer reviews and approves: ``approve_acceptance`` (or
   ``reject_acceptance``) needs a holder of ``approved_by`` (compliance_officer) who is
   not the requester.
3. The exception is logged on the incident with ``status: accepted_risk``: the model and
   metric's live incident (opened for it if there is none) moves to ``accepted_risk`` with
   the rationale, the approver and ``suppression_until``, the fields of the seed's example.
4. Monitoring continues: ``govflow.alerts.outbox.is_suppressed`` reads approved acceptances, so
   the metric is still computed and recorded on every run while its findings reach the
   outbox as ``suppressed`` items that are never sent.

Only severities in ``applies_to_severities`` (WARNING) can be accepted, judged on the
newest measurement of the metric (the worst subject of the newest monitoring run that
computed it): a CRITICAL condition is never suppressed, whatever the incident's history.

At expiry (``expire_acceptances``, which the escalation sweeper runs every five minutes)
the acceptance is ``expired``. If the newest measurement still reaches the accepted
severity, the incident reopens: a new episode whose acknowledgement SLA starts at the
expiry, announced to the primary responders. Otherwise the incident is resolved, with the
rationale as its root cause.

A request that can no longer be decided ends ``refused`` (``refuse_acceptance``): its
approval was refused (the metric turned CRITICAL meanwhile, the incident moved on, the
answer came from someone who may not decide) or its run ended without a decision. Nobody
will be asked again, and a request left ``requested`` would block every later one for the
model and metric.

A finding worse than the accepted severity during the suppression (a CRITICAL on an
accepted WARNING) reopens the incident and revokes the acceptance at once
(``govflow.incidents.lifecycle``): the acceptance was granted for the milder condition, so
what is measured after it is alerted again, and a new request may be made once the metric
is acceptable again. ``suppression_until`` becomes the revocation; the grant's end is kept
in ``details.granted_until``.

Statuses: ``requested`` -> ``approved`` | ``rejected`` | ``refused``; ``approved`` ->
``expired`` | ``revoked``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govflow.alerts.messages import Links
from govflow.audit import record_event
from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import (
    ACCEPTANCE_APPROVED,
    ACCEPTANCE_REVOKED,
    ACCEPTED_RISK,
    TRANSITIONS,
    accept_risk,
    add_event,
    dedup_key_for,
    escalate,
    get_incident,
    open_incident,
    reopen,
    resolve,
    responders,
)
from govflow.metrics import severity_rank
from govflow.store.keys import bounded_key
from govflow.store.schema import Alert, Incident, MetricResult, MonitoringRun, RiskAcceptance
from govflow.store.types import utcnow

REQUESTED = "requested"
APPROVED = ACCEPTANCE_APPROVED
REJECTED = "rejected"
EXPIRED = "expired"
REFUSED = "refused"
REVOKED = ACCEPTANCE_REVOKED
STATUSES = (REQUESTED, APPROVED, REJECTED, EXPIRED, REFUSED, REVOKED)
EXPIRY_ACTOR = "govflow-risk-acceptance"
# Where the details keep a request key the column holds only bounded.
WHOLE_REQUEST_KEY = "request_key"

TARGET_REQUIRED = "name the incident, or the model and the metric, whose risk is accepted"
TARGET_MISMATCH = "incident {ref} is about {model_id} {metric}, not {asked_model} {asked_metric}"
UNKNOWN_METRIC = "metric {metric!r} has no threshold in policy.yaml"
RATIONALE_REQUIRED = "a risk acceptance needs a documented rationale (seed 004 section 12)"
DAYS_OUT_OF_RANGE = (
    "a risk acceptance lasts 1 to {maximum} days (policy.yaml "
    "exceptions.max_suppression_days); {days} requested"
)
UNKNOWN_PERSON = "{user!r} is not in people.yaml"
NOT_DOCUMENTER = (
    "{user} cannot request a risk acceptance: only holders of {role} document one ({holders})"
)
NOT_APPROVER = "{user} cannot decide a risk acceptance: only holders of {role} do ({holders})"
SELF_APPROVAL = "separation of duties: {user} requested risk acceptance {id} and cannot decide it"
INCIDENT_NOT_ACCEPTABLE = (
    "incident {ref} is {status}: only an open, acknowledged or investigating incident "
    "can become accepted_risk"
)
NO_FINDING = "{model_id} has no measurement of {metric} to accept"
SEVERITY_NOT_ACCEPTABLE = (
    "{severity} {metric} on {model_id} cannot be accepted: policy.yaml "
    "exceptions.applies_to_severities allows only {allowed}"
)
ALREADY_ACTIVE = "risk acceptance {id} for {model_id} {metric} is already {status}{until}"
NOT_PENDING = "risk acceptance {id} is {status}, not awaiting a decision"
UNKNOWN_ACCEPTANCE = "no risk acceptance {id}"


class RiskAcceptanceError(ValueError):
    """A request or decision that section 12 or the policy does not allow."""


@dataclass(frozen=True)
class Condition:
    """The newest measurement of a model's metric: its worst subject in the newest run."""

    severity: str
    value: float | None
    subject: str
    run_id: int
    window_end: datetime


@dataclass(frozen=True)
class ExpiredAcceptance:
    """What expiry did to one acceptance; JSON-able through ``to_dict``."""

    acceptance_id: int
    model_id: str
    metric: str
    incident_ref: str | None
    accepted_severity: str | None
    latest_severity: str | None
    latest_value: float | None
    action: str
    alert_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_condition(session: Session, model_id: str, metric: str) -> Condition | None:
    """The newest computed measurement of ``metric`` for ``model_id``, or None."""
    newest = session.scalars(
        select(MonitoringRun)
        .join(MetricResult, MetricResult.monitoring_run_id == MonitoringRun.id)
        .where(
            MonitoringRun.model_id == model_id,
            MetricResult.metric == metric,
            MetricResult.status == "computed",
        )
        .order_by(MonitoringRun.interval_end.desc(), MonitoringRun.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        return None
    rows = session.scalars(
        select(MetricResult)
        .where(
            MetricResult.monitoring_run_id == newest.id,
            MetricResult.metric == metric,
            MetricResult.status == "computed",
        )
        .order_by(MetricResult.id)
    ).all()
    worst = max(rows, key=lambda row: severity_rank(row.severity))
    return Condition(worst.severity, worst.value, worst.subject, newest.id, newest.interval_end)


def get_acceptance(session: Session, acceptance_id: int) -> RiskAcceptance:
    acceptance = session.get(RiskAcceptance, acceptance_id)
    if acceptance is None:
        raise RiskAcceptanceError(UNKNOWN_ACCEPTANCE.format(id=acceptance_id))
    return acceptance


def _check_role(config: GovflowConfig, user_id: str, role: str, message: str) -> None:
    if user_id not in {user.id for user in config.people.users}:
        raise RiskAcceptanceError(UNKNOWN_PERSON.format(user=user_id))
    holders = config.people.holders(role)  # type: ignore[arg-type]
    if user_id not in holders:
        raise RiskAcceptanceError(
            message.format(user=user_id, role=role, holders=", ".join(holders) or "nobody")
        )


def _check_acceptable(config: GovflowConfig, severity: str, model_id: str, metric: str) -> None:
    allowed = config.policy.exceptions.applies_to_severities
    if severity not in allowed:
        raise RiskAcceptanceError(
            SEVERITY_NOT_ACCEPTABLE.format(
                severity=severity, metric=metric, model_id=model_id, allowed=", ".join(allowed)
            )
        )


def _live_incident(session: Session, model_id: str, metric: str) -> Incident | None:
    key = dedup_key_for(model_id, metric)
    return session.scalars(select(Incident).where(Incident.open_dedup_key == key)).first()


def active_acceptance(
    session: Session, model_id: str | None, metric: str | None, at: datetime
) -> RiskAcceptance | None:
    """The acceptance of the model's metric that is pending (``requested``) or in force at
    ``at``, if any: while there is one, no other can be requested."""
    return session.scalars(
        select(RiskAcceptance).where(
            RiskAcceptance.model_id == model_id,
            RiskAcceptance.metric == metric,
            or_(
                RiskAcceptance.status == REQUESTED,
                (RiskAcceptance.status == APPROVED) & (RiskAcceptance.suppression_until > at),
            ),
        )
    ).first()


def _audit(
    session: Session, acceptance: RiskAcceptance, action: str, actor: str, payload: dict[str, Any]
) -> None:
    record_event(
        session,
        actor=actor,
        action=f"risk_acceptance.{action}",
        target=f"risk_acceptance:{acceptance.id}",
        payload={
            "model_id": acceptance.model_id,
            "metric": acceptance.metric,
            "severity": acceptance.severity,
            "incident_id": acceptance.incident_id,
            **payload,
        },
        severity="WARNING" if action in ("approved", "expired") else "INFO",
        idempotency_key=f"risk_acceptance:{acceptance.id}:{action}",
    )


@dataclass(frozen=True)
class _Target:
    """What a request is about, checked against section 12 and the policy."""

    incident: Incident | None
    model_id: str
    metric: str
    severity: str
    condition: Condition | None


def _target(
    session: Session,
    config: GovflowConfig,
    incident: Incident | str | int | None,
    model_id: str | None,
    metric: str | None,
    at: datetime,
) -> _Target:
    if incident is not None and not isinstance(incident, Incident):
        incident = get_incident(session, incident)
    if incident is not None:
        asked = (model_id or incident.model_id, metric or incident.metric)
        if asked != (incident.model_id, incident.metric):
            raise RiskAcceptanceError(
                TARGET_MISMATCH.format(
                    ref=incident.ref,
                    model_id=incident.model_id,
                    metric=incident.metric,
                    asked_model=asked[0],
                    asked_metric=asked[1],
                )
            )
        model_id, metric = incident.model_id, incident.metric
    if model_id is None or metric is None:
        raise RiskAcceptanceError(TARGET_REQUIRED)
    if incident is None:
        try:
            config.policy.thresholds.check_type_of(metric)
        except KeyError:
            raise RiskAcceptanceError(UNKNOWN_METRIC.format(metric=metric)) from None
        incident = _live_incident(session, model_id, metric)
    if incident is not None and ACCEPTED_RISK not in TRANSITIONS[incident.status]:
        raise RiskAcceptanceError(
            INCIDENT_NOT_ACCEPTABLE.format(ref=incident.ref, status=incident.status)
        )
    condition = current_condition(session, model_id, metric)
    severity = condition.severity if condition else (incident.severity if incident else None)
    if severity is None:
        raise RiskAcceptanceError(NO_FINDING.format(model_id=model_id, metric=metric))
    _check_acceptable(config, severity, model_id, metric)
    active = active_acceptance(session, model_id, metric, at)
    if active is not None:
        until = (
            f" until {active.suppression_until:%Y-%m-%d %H:%M} UTC"
            if active.status == APPROVED
            else ""
        )
        raise RiskAcceptanceError(
            ALREADY_ACTIVE.format(
                id=active.id, model_id=model_id, metric=metric, status=active.status, until=until
            )
        )
    return _Target(incident, model_id, metric, severity, condition)


def _people(config: GovflowConfig, role: str) -> list[dict[str, str]]:
    return [
        {"id": user, "name": config.people.user(user).name}
        for user in config.people.holders(role)  # type: ignore[arg-type]
    ]


def preview_request(
    session: Session,
    config: GovflowConfig,
    *,
    incident: Incident | str | int | None = None,
    model_id: str | None = None,
    metric: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Whether a request could be filed now, before anyone is asked: raises the rule it
    would break; else what would be accepted and who documents and decides it (JSON-able,
    people as ``{"id", "name"}``)."""
    target = _target(session, config, incident, model_id, metric, at or utcnow())
    exceptions = config.policy.exceptions
    condition = target.condition
    return {
        "incident_ref": target.incident.ref if target.incident else None,
        "model_id": target.model_id,
        "metric": target.metric,
        "severity": target.severity,
        "value": condition.value if condition else None,
        "subject": condition.subject if condition else None,
        "max_days": exceptions.max_suppression_days,
        "documented_by": _people(config, exceptions.documented_by),
        "approved_by": _people(config, exceptions.approved_by),
    }


def request_acceptance(
    session: Session,
    config: GovflowConfig,
    *,
    incident: Incident | str | int | None = None,
    model_id: str | None = None,
    metric: str | None = None,
    rationale: str,
    days: int,
    requested_by: str,
    request_key: str | None = None,
    at: datetime | None = None,
) -> RiskAcceptance:
    """The ML lead asks to accept a model's metric for ``days`` (section 12 step 1).

    Name the incident (object, reference or id), or the model and metric (their live
    incident, if any, is linked). ``request_key`` (e.g. the DAG run) makes a retried call
    return the first request; :func:`request_key_of` reads it back whole.
    """
    stored_key = None if request_key is None else bounded_key(request_key)
    if stored_key is not None:
        filed = session.scalars(
            select(RiskAcceptance).where(RiskAcceptance.request_key == stored_key)
        ).first()
        if filed is not None:
            return filed
    if not rationale.strip():
        raise RiskAcceptanceError(RATIONALE_REQUIRED)
    maximum = config.policy.exceptions.max_suppression_days
    if not 1 <= days <= maximum:
        raise RiskAcceptanceError(DAYS_OUT_OF_RANGE.format(maximum=maximum, days=days))
    _check_role(config, requested_by, config.policy.exceptions.documented_by, NOT_DOCUMENTER)
    moment = at or utcnow()
    target = _target(session, config, incident, model_id, metric, moment)
    incident, condition, severity = target.incident, target.condition, target.severity
    acceptance = RiskAcceptance(
        incident_id=incident.id if incident else None,
        model_id=target.model_id,
        metric=target.metric,
        rationale=rationale.strip(),
        requested_by=requested_by,
        status=REQUESTED,
        severity=severity,
        days=days,
        request_key=stored_key,
        created_at=moment,
        details={
            "value": condition.value if condition else None,
            "subject": condition.subject if condition else None,
            "monitoring_run_id": condition.run_id if condition else None,
            **({WHOLE_REQUEST_KEY: request_key} if stored_key != request_key else {}),
        },
    )
    try:
        with session.begin_nested():
            session.add(acceptance)
            session.flush()
    except IntegrityError:
        filed = session.scalars(
            select(RiskAcceptance).where(RiskAcceptance.request_key == stored_key)
        ).first()
        if filed is None:
            raise
        return filed
    _audit(
        session,
        acceptance,
        "requested",
        requested_by,
        {"rationale": acceptance.rationale, "days": days, **acceptance.details},
    )
    if incident is not None:
        add_event(
            session,
            incident,
            kind="risk_acceptance_requested",
            actor=requested_by,
            note=f"{days} days: {acceptance.rationale}",
            payload={"risk_acceptance_id": acceptance.id, "days": days, "severity": severity},
            event_key=f"risk_acceptance:{acceptance.id}:requested",
            at=moment,
        )
    return acceptance


def request_key_of(acceptance: RiskAcceptance) -> str | None:
    """The request key the acceptance was filed under, whole (the column holds a long one
    bounded)."""
    return acceptance.details.get(WHOLE_REQUEST_KEY, acceptance.request_key)


def _check_decider(config: GovflowConfig, acceptance: RiskAcceptance, approver: str) -> None:
    _check_role(config, approver, config.policy.exceptions.approved_by, NOT_APPROVER)
    if approver == acceptance.requested_by:
        raise RiskAcceptanceError(SELF_APPROVAL.format(user=approver, id=acceptance.id))


def _check_pending(acceptance: RiskAcceptance) -> None:
    if acceptance.status != REQUESTED:
        raise RiskAcceptanceError(NOT_PENDING.format(id=acceptance.id, status=acceptance.status))


def approve_acceptance(
    session: Session,
    config: GovflowConfig,
    acceptance: RiskAcceptance,
    *,
    approver: str,
    comment: str = "",
    at: datetime | None = None,
) -> RiskAcceptance:
    """The compliance officer approves (section 12 step 2): suppression starts now.

    The condition is judged again, so a metric that turned CRITICAL since the request is
    refused. Approving again as the same approver changes nothing.
    """
    if acceptance.status == APPROVED and acceptance.approved_by == approver:
        return acceptance
    _check_pending(acceptance)
    _check_decider(config, acceptance, approver)
    condition = current_condition(session, acceptance.model_id, acceptance.metric)
    if condition is not None:
        _check_acceptable(config, condition.severity, acceptance.model_id, acceptance.metric)
    moment = at or utcnow()
    until = moment + timedelta(days=acceptance.days or 0)
    incident = (
        session.get(Incident, acceptance.incident_id)
        if acceptance.incident_id
        else _live_incident(session, acceptance.model_id, acceptance.metric)
    )
    if incident is None:
        severity = acceptance.severity or "WARNING"
        category = config.policy.thresholds.check_type_of(acceptance.metric)
        incident, _ = open_incident(
            session,
            config,
            model_id=acceptance.model_id,
            category=category,
            metric=acceptance.metric,
            severity=severity,
            title=f"Accepted risk: {severity} {acceptance.metric} on {acceptance.model_id}",
            summary=acceptance.rationale,
            details={"risk_acceptance_id": acceptance.id},
            actor=approver,
            opened_at=moment,
        )
    acceptance.incident_id = incident.id
    acceptance.status = APPROVED
    acceptance.approved_by = approver
    acceptance.decided_at = moment
    acceptance.suppression_until = until
    acceptance.details = {**acceptance.details, "comment": comment}
    # The fields of the seed's example record.
    logged = {
        "risk_acceptance_id": acceptance.id,
        "metric": acceptance.metric,
        "value": acceptance.details.get("value"),
        "severity": acceptance.severity,
        "rationale": acceptance.rationale,
        "approved_by": approver,
        "suppression_until": until.isoformat(),
    }
    accept_risk(
        session,
        incident,
        actor=approver,
        note=acceptance.rationale,
        payload=logged,
        event_key=f"risk_acceptance:{acceptance.id}:approved",
        at=moment,
    )
    _audit(session, acceptance, "approved", approver, {**logged, "comment": comment})
    return acceptance


def reject_acceptance(
    session: Session,
    config: GovflowConfig,
    acceptance: RiskAcceptance,
    *,
    approver: str,
    comment: str = "",
    at: datetime | None = None,
) -> RiskAcceptance:
    """The compliance officer rejects: nothing is suppressed, the incident carries on."""
    if acceptance.status == REJECTED and acceptance.approved_by == approver:
        return acceptance
    _check_pending(acceptance)
    _check_decider(config, acceptance, approver)
    acceptance.approved_by = approver
    acceptance.details = {**acceptance.details, "comment": comment}
    _end(session, acceptance, REJECTED, actor=approver, note=comment, at=at)
    return acceptance


def refuse_acceptance(
    session: Session,
    acceptance: RiskAcceptance,
    *,
    reason: str,
    actor: str,
    at: datetime | None = None,
) -> RiskAcceptance:
    """End a request that can no longer be decided, saying why, so that a later request for
    the model and metric can be made. A decided (or already refused) acceptance is left as
    it is: calling again records nothing."""
    if acceptance.status != REQUESTED:
        return acceptance
    acceptance.details = {**acceptance.details, "refused": reason}
    _end(session, acceptance, REFUSED, actor=actor, note=reason, at=at, audited="reason")
    return acceptance


def refuse_request(
    session: Session, incident: Incident, *, reason: str, actor: str, request_key: str
) -> None:
    """A request refused before it was filed (``reason``, the rule it would break): an audit
    event and the incident's timeline event saying why, so that a refused "accept risk" has
    an outcome on record. Once per ``request_key`` (the run that asked) however often
    called."""
    record_event(
        session,
        actor=actor,
        action=f"risk_acceptance.{REFUSED}",
        target=f"incident:{incident.ref}",
        payload={
            "model_id": incident.model_id,
            "metric": incident.metric,
            "incident_id": incident.id,
            "reason": reason,
            WHOLE_REQUEST_KEY: request_key,
        },
        idempotency_key=f"risk_acceptance:{request_key}:{REFUSED}",
    )
    add_event(
        session,
        incident,
        kind=f"risk_acceptance_{REFUSED}",
        actor=actor,
        note=f"request refused before it was filed: {reason}",
        payload={"reason": reason, WHOLE_REQUEST_KEY: request_key},
        event_key=f"risk_acceptance:{request_key}:{REFUSED}",
    )


def _end(
    session: Session,
    acceptance: RiskAcceptance,
    status: str,
    *,
    actor: str,
    note: str,
    at: datetime | None,
    audited: str = "comment",
) -> None:
    """End a pending request ``status`` (rejected, refused): its audit event (``note`` under
    ``audited``) and its incident's timeline event, each once however often called."""
    moment = at or utcnow()
    acceptance.status = status
    acceptance.decided_at = moment
    _audit(session, acceptance, status, actor, {audited: note})
    if acceptance.incident_id is not None:
        add_event(
            session,
            session.get_one(Incident, acceptance.incident_id),
            kind=f"risk_acceptance_{status}",
            actor=actor,
            note=note,
            payload={"risk_acceptance_id": acceptance.id},
            event_key=f"risk_acceptance:{acceptance.id}:{status}",
            at=moment,
        )


def list_acceptances(
    session: Session, *, model_id: str | None = None, status: str | None = None
) -> list[tuple[RiskAcceptance, str | None]]:
    """Risk acceptances with their incident's ref (None for none), newest request first, of
    one model and one status if given."""
    statement = (
        select(RiskAcceptance, Incident.ref)
        .outerjoin(Incident, RiskAcceptance.incident_id == Incident.id)
        .order_by(RiskAcceptance.created_at.desc(), RiskAcceptance.id.desc())
    )
    if model_id is not None:
        statement = statement.where(RiskAcceptance.model_id == model_id)
    if status is not None:
        statement = statement.where(RiskAcceptance.status == status)
    return [(acceptance, ref) for acceptance, ref in session.execute(statement)]


def acceptance_summary(session: Session, acceptance: RiskAcceptance) -> dict[str, Any]:
    """A JSON-able description of an acceptance, for XCom and approval forms."""
    incident = session.get(Incident, acceptance.incident_id) if acceptance.incident_id else None
    until = acceptance.suppression_until
    return {
        "id": acceptance.id,
        "model_id": acceptance.model_id,
        "metric": acceptance.metric,
        "severity": acceptance.severity,
        "value": acceptance.details.get("value"),
        "subject": acceptance.details.get("subject"),
        "days": acceptance.days,
        "rationale": acceptance.rationale,
        "requested_by": acceptance.requested_by,
        "status": acceptance.status,
        "approved_by": acceptance.approved_by,
        "suppression_until": until.isoformat() if until else None,
        "incident_ref": incident.ref if incident else None,
    }


def expire_acceptances(
    session: Session,
    config: GovflowConfig,
    *,
    now: datetime,
    actor: str = EXPIRY_ACTOR,
    links: Links | None = None,
) -> list[ExpiredAcceptance]:
    """Expire approved acceptances whose suppression ended; reopen or resolve their incidents.

    Returns what this call expired; calling again expires nothing more.
    """
    due = session.scalars(
        select(RiskAcceptance)
        .where(RiskAcceptance.status == APPROVED, RiskAcceptance.suppression_until <= now)
        .order_by(RiskAcceptance.id)
    ).all()
    expired = []
    for acceptance in due:
        acceptance.status = EXPIRED
        acceptance.details = {**acceptance.details, "expired_at": now.isoformat()}
        condition = current_condition(session, acceptance.model_id, acceptance.metric)
        persists = condition is not None and severity_rank(condition.severity) >= severity_rank(
            acceptance.severity
        )
        incident = session.get(Incident, acceptance.incident_id) if acceptance.incident_id else None
        action = "none"
        alerts: list[Alert] = []
        if incident is not None and incident.status == ACCEPTED_RISK:
            if persists and condition is not None:
                alerts = _reopen(
                    session, config, incident, acceptance, condition, now, actor, links
                )
                action = "reopened"
            else:
                _resolve_after_expiry(session, config, incident, acceptance, condition, now, actor)
                action = "resolved"
        _audit(
            session,
            acceptance,
            "expired",
            actor,
            {
                "condition_persists": persists,
                "latest_severity": condition.severity if condition else None,
                "latest_value": condition.value if condition else None,
                "action": action,
            },
        )
        expired.append(
            ExpiredAcceptance(
                acceptance.id,
                acceptance.model_id,
                acceptance.metric,
                incident.ref if incident else None,
                acceptance.severity,
                condition.severity if condition else None,
                condition.value if condition else None,
                action,
                [alert.id for alert in alerts],
            )
        )
    return expired


def _reopen(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    acceptance: RiskAcceptance,
    condition: Condition,
    now: datetime,
    actor: str,
    links: Links | None,
) -> list[Alert]:
    """Reopen the incident and tell its primary responders; returns the alerts enqueued."""
    reason = (
        f"risk acceptance {acceptance.id} expired and {acceptance.metric} is still "
        f"{condition.severity} ({condition.subject or 'overall'} {condition.value})"
    )
    reopen(
        session,
        incident,
        actor=actor,
        note=reason,
        event_key=f"reopened:risk_acceptance:{acceptance.id}",
        at=now,
    )
    plan = responders(config, incident, now)
    return escalate(
        session,
        config,
        incident,
        level="primary",
        people=plan.primary,
        at=now,
        actor=actor,
        links=links,
        reason=reason,
    )


def _resolve_after_expiry(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    acceptance: RiskAcceptance,
    condition: Condition | None,
    now: datetime,
    actor: str,
) -> None:
    newest = (
        f"the newest {acceptance.metric} is {condition.severity} ({condition.value})"
        if condition
        else f"{acceptance.metric} has not been measured since"
    )
    resolve(
        session,
        incident,
        config=config,
        actor=actor,
        root_cause=f"accepted risk: {acceptance.rationale}",
        corrective_action=(
            f"accepted by {acceptance.approved_by} until "
            f"{acceptance.suppression_until:%Y-%m-%d %H:%M} UTC; at expiry "
            f"{newest}, below the accepted {acceptance.severity}"
        ),
        event_key=f"resolved:risk_acceptance:{acceptance.id}",
        at=now,
    )
