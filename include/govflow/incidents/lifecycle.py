"""Seed 004 sections 2.1, 3.1 and 3.2 and seed 000 "Incident Response": incidents.

An incident is opened for every finding whose severity level says ``creates_incident``
(CRITICAL, policy.yaml ``severity_levels``) and for a failed data-quality gate (its findings
carry ``data_quality.failed_gate_severity``). It is deduplicated per model and metric
while it is live: the schema's unique ``open_dedup_key`` holds ``<model>:<metric>`` from
opening until the incident is resolved or closed, so a repeat finding adds a
``recurrence`` event to the live incident instead of opening another, and a resolved or
closed one frees the key for the next problem. An accepted risk keeps the key: the drift
is still tracked on the same incident while its alerts are suppressed.

Lifecycle (``TRANSITIONS``)::

    open -> acknowledged -> investigating -> mitigated -> resolved -> closed
    open | acknowledged | investigating -> accepted_risk -> open (reopened) | resolved
    investigating -> resolved (nothing to mitigate, e.g. a false positive)

Every change is an ``IncidentEvent`` with a key unique per incident, so a retried task
that repeats a change finds its event and does nothing; each event is also an audit
event keyed by incident id and event key. Default event keys name the change
(``acknowledged``) and, after the incident was reopened, the episode
(``acknowledged#1``), so the second acknowledgement of a reopened incident is a new event.

Classes: seed 000's P0-P3 sit beside seed 004's severities (policy.yaml
``incidents.classes``): CRITICAL fairness is P0, other CRITICAL sources P1, WARNING
fairness P2, other WARNING P3. An incident no alert source classifies (an INFO record,
such as the documentation of a baseline reset) is P3, the lowest class.

References are ``INC-<year opened>-<id, four digits>``: the database id makes them unique
under any concurrency without a counter table.

Escalation: ``responders`` reads the escalation path of seed 004 table 3.2 and the on-call
rotation; ``escalate`` records who is now responsible and puts one Slack and one e-mail
alert per incident and level in the outbox; ``escalate_overdue_incidents`` is the sweeper
that escalates incidents no response run covers. A response run covers an incident from
``mark_response_run`` (its first task) until ``release_response_run`` (its last, run
whatever happened); the sweeper leaves a covered incident's acknowledgement to the run, but
still escalates it to the executive when it is unresolved past the path's executive step
(the run does so only while nobody acknowledges). Both use the same keys, so the sweeper
and a response run never notify twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govflow import settings
from govflow.alerts.messages import (
    Links,
    format_evidence,
    format_threshold,
    format_value,
    mixed_versions_line,
)
from govflow.alerts.outbox import EMAIL, SLACK, detected_at, enqueue_alert
from govflow.alerts.paging import PAGE_KIND, PAGERDUTY, PAGING_NOTIFY, EventAction, page_event
from govflow.audit import AuditSeverity, record_event
from govflow.config import ALERT_SOURCES, CHECK_TYPES, SEVERITIES, GovflowConfig, load_config
from govflow.metrics import severity_rank
from govflow.store.keys import bounded_key
from govflow.store.schema import (
    Alert,
    Incident,
    IncidentEvent,
    MetricResult,
    Model,
    MonitoringRun,
    RiskAcceptance,
)
from govflow.store.types import utcnow

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
INVESTIGATING = "investigating"
MITIGATED = "mitigated"
RESOLVED = "resolved"
CLOSED = "closed"
ACCEPTED_RISK = "accepted_risk"
# Statuses of a risk acceptance (govflow.incidents.risk_acceptances) that a finding worse than
# the accepted one changes here: an approved acceptance in force is revoked.
ACCEPTANCE_APPROVED = "approved"
ACCEPTANCE_REVOKED = "revoked"
STATUSES = (OPEN, ACKNOWLEDGED, INVESTIGATING, MITIGATED, RESOLVED, CLOSED, ACCEPTED_RISK)
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({ACKNOWLEDGED, ACCEPTED_RISK}),
    ACKNOWLEDGED: frozenset({INVESTIGATING, ACCEPTED_RISK}),
    INVESTIGATING: frozenset({MITIGATED, RESOLVED, ACCEPTED_RISK}),
    MITIGATED: frozenset({RESOLVED}),
    RESOLVED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    ACCEPTED_RISK: frozenset({OPEN, RESOLVED}),
}
# Statuses the sweeper watches (an accepted risk waits for its expiry instead).
UNRESOLVED_STATUSES = (OPEN, ACKNOWLEDGED, INVESTIGATING, MITIGATED)

EscalationLevel = Literal["primary", "secondary", "executive", "at_once"]
ESCALATION_LEVELS: tuple[EscalationLevel, ...] = ("primary", "secondary", "executive", "at_once")
# The levels an escalation hands the incident to (its first person becomes the assignee); the
# others only tell.
ASSIGNING_LEVELS: tuple[EscalationLevel, ...] = ("secondary", "executive")
# How a notice names the level it hands the incident to.
LEVEL_WORDING: dict[str, str] = {
    "primary": "primary",
    "secondary": "secondary",
    "executive": "executive",
    "at_once": "those the policy tells at once",
}
DATA_QUALITY = "data_quality"
COMPOSITE = "composite"
DATA_QUALITY_GATE = "data_quality_gate"
ANALYSIS_FAILED = "analysis_failed"
COMPOSITE_SCORE = "composite_drift_score"
UNCLASSIFIED_PRIORITY = "P3"
DEFAULT_RUNBOOK = "data_drift_response"
RESPONSE_DAG_ID = "govflow_incident_response"
ESCALATION_ALERT_KIND = "incident_escalation"
MONITORING_ACTOR = "govflow-monitoring"
SWEEPER_ACTOR = "govflow-incident-escalation"
# Event keys are stored bounded to this, so the audit key "incident:<id>:<event key>" holds
# the event key whole in its 255 characters.
EVENT_KEY_MAX_CHARS = 200
REF_FORMAT = "INC-{year}-{id:04d}"
# The incidents id column is a 32-bit integer on Postgres.
MAX_INCIDENT_ID = 2**31 - 1

ILLEGAL_TRANSITION = (
    "incident {ref} is {status}; it cannot become {target} (from {status}: {allowed})"
)
UNKNOWN_INCIDENT = "no incident {ref!r}"
UNKNOWN_STATUS = "unknown incident status {status!r}; expected one of {expected}"
UNDOCUMENTED_RESOLUTION = (
    "incident {ref} cannot be resolved without a root cause and a corrective action"
)
EMPTY_DOCUMENTATION = "documenting incident {ref} needs a root cause and a corrective action"
UNKNOWN_LEVEL = "unknown escalation level {level!r}; expected one of {expected}"
NOBODY_TO_ESCALATE_TO = "escalating incident {ref} to {level} needs at least one person"
UNKNOWN_PERSON = "{user!r} is not in people.yaml"

Outcome = Literal["opened", "recurred", "unchanged"]


class IncidentError(ValueError):
    """A change the incident lifecycle or the policy does not allow."""


class UnknownIncidentStatus(IncidentError):
    """A status that is none of STATUSES."""


# --- Responders (seed 004 section 3.2) ------------------------------------------------


@dataclass(frozen=True)
class ResponsePlan:
    """Who responds to an incident and when it escalates, from the policy and the rotation.

    ``primary`` are the people of the path's primary step, who acknowledge (table 3.2: the
    ML engineer on call this week for WARNING, the ML lead for CRITICAL data and model
    drift, the compliance officer for CRITICAL fairness); without a path (INFO, records
    such as baseline resets) the ML engineer on call. ``notify_at_once`` is everyone a step
    with ``when: on_alert`` names: the compliance officer and the CEO for CRITICAL fairness.
    """

    path_name: str | None
    primary: list[str]
    secondary: list[str]
    executive: list[str]
    notify_at_once: list[str]
    acknowledgement_minutes: int
    executive_after_minutes: int | None
    runbook: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unique(people: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(people))


def runbook_for(config: GovflowConfig, category: str) -> str:
    """The runbook of an incident's source: fairness drift's, else data drift's (3.3, 3.4)."""
    return config.policy.runbook_for(category) or DEFAULT_RUNBOOK


def responders(config: GovflowConfig, incident: Incident, at: datetime) -> ResponsePlan:
    """The response plan of ``incident`` with the rotation as it stands at ``at``."""
    found = next(
        (
            (name, path)
            for name, path in config.policy.escalation.paths.items()
            if path.severity == incident.severity and incident.category in path.sources
        ),
        None,
    )
    runbook = runbook_for(config, incident.category)
    acknowledgement = config.policy.escalation.acknowledgement_minutes
    if found is None:
        on_call = [config.people.on_call_primary(at)]
        return ResponsePlan(None, on_call, [], [], [], acknowledgement, None, runbook)
    name, path = found
    levels: dict[str, list[str]] = {"primary": [], "secondary": [], "executive": []}
    at_once: list[str] = []
    executive_after = None
    for step in path.steps:
        people = config.people_on_step(step, at)
        levels[step.level] += people
        if step.when == "on_alert":
            at_once += people
        if step.level == "executive" and step.when == "unresolved":
            executive_after = step.after_minutes
    return ResponsePlan(
        path_name=name,
        primary=_unique(levels["primary"]),
        secondary=_unique(levels["secondary"]),
        executive=_unique(levels["executive"]),
        notify_at_once=_unique(at_once),
        # Issue 4 asks the 15-minute acknowledgement SLA (seed 004 3.1) to hand an
        # unacknowledged incident to the secondary; table 3.2's "no response in 1h" (the
        # path's after_minutes: 60) is the looser reading, so the SLA is used for both.
        acknowledgement_minutes=acknowledgement,
        executive_after_minutes=executive_after,
        runbook=runbook,
    )


# --- Reading ---------------------------------------------------------------------------


def dedup_key_for(model_id: str | None, metric: str | None) -> str:
    return f"{model_id or '-'}:{metric or '-'}"


def get_incident(session: Session, ref_or_id: str | int) -> Incident:
    """An incident by reference (``INC-2025-0001``, in any case: every ref is written in
    capitals) or database id (ASCII digits); an id past the column's range is no incident
    rather than a database error."""
    incident = None
    text = str(ref_or_id)
    if isinstance(ref_or_id, int) or (text.isascii() and text.isdigit()):
        number = int(ref_or_id)
        incident = session.get(Incident, number) if 0 < number <= MAX_INCIDENT_ID else None
    else:
        ref = text.upper() if text.isascii() else text
        incident = session.scalars(select(Incident).where(Incident.ref == ref)).first()
    if incident is None:
        raise IncidentError(UNKNOWN_INCIDENT.format(ref=ref_or_id))
    return incident


def list_incidents(
    session: Session, *, status: str | None = None, model_id: str | None = None
) -> list[Incident]:
    """Incidents, newest first, optionally of one status and one model."""
    statement = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc())
    if status is not None:
        if status not in STATUSES:
            raise UnknownIncidentStatus(
                UNKNOWN_STATUS.format(status=status, expected=", ".join(STATUSES))
            )
        statement = statement.where(Incident.status == status)
    if model_id is not None:
        statement = statement.where(Incident.model_id == model_id)
    return list(session.scalars(statement))


def unresolved_incidents(session: Session, model_id: str) -> list[Incident]:
    """The incidents of ``model_id`` not resolved yet (``UNRESOLVED_STATUSES``), by priority
    then oldest first."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.model_id == model_id, Incident.status.in_(UNRESOLVED_STATUSES))
            .order_by(Incident.priority, Incident.opened_at, Incident.id)
        )
    )


def timeline(session: Session, incident: Incident) -> list[IncidentEvent]:
    """The incident's events, oldest first."""
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.occurred_at, IncidentEvent.id)
        )
    )


@dataclass(frozen=True)
class IncidentState:
    """What an incident was at a moment, as its events tell it."""

    status: str
    severity: str
    priority: str
    assigned_to: str | None
    root_cause: str | None
    corrective_action: str | None


def state_at(
    session: Session, config: GovflowConfig, incident: Incident, moment: datetime
) -> IncidentState:
    """The incident as it stood at ``moment`` (at or after its opening), replayed from its
    events at or before it: the opening's severity, class and assignee; each transition's
    status, an acknowledgement assigning its actor; a recurrence that raised the severity,
    its severity and class; an escalation to the secondary or the executive, its first person
    as assignee; a documentation's or a resolution's root cause and corrective action. The
    row holds only the latest of each, which a report as of a past moment must not show.

    An incident written without its opening event (not by ``open_incident``) starts from its
    row, in the status its first transition left (its row's without one): nothing records
    what it was before.
    """
    events = timeline(session, incident)
    opened = next((event for event in events if event.kind == "opened"), None)
    if opened is not None:
        state = IncidentState(
            status=OPEN,
            severity=opened.payload["severity"],
            priority=opened.payload["priority"],
            assigned_to=opened.payload["assigned_to"],
            root_cause=None,
            corrective_action=None,
        )
    else:
        left = next((event.from_status for event in events if event.from_status), None)
        state = IncidentState(
            status=left or incident.status,
            severity=incident.severity,
            priority=incident.priority,
            assigned_to=incident.assigned_to,
            root_cause=incident.root_cause,
            corrective_action=incident.corrective_action,
        )
    for event in events:
        if event.occurred_at > moment:
            break
        payload = event.payload
        if event.to_status:
            state = replace(state, status=event.to_status)
        if event.kind == ACKNOWLEDGED:
            state = replace(state, assigned_to=event.actor)
        if event.kind == "recurrence" and "raised_from" in payload:
            severity = payload["severity"]
            # A raise recorded before raises named their class: the policy's class of it.
            priority = payload.get("priority") or _priority(config, severity, incident.category)
            state = replace(state, severity=severity, priority=priority)
        if event.kind == "escalated" and payload.get("level") in ASSIGNING_LEVELS:
            state = replace(state, assigned_to=payload["people"][0])
        if "root_cause" in payload:
            state = replace(
                state,
                root_cause=payload["root_cause"],
                corrective_action=payload["corrective_action"],
            )
    return state


def format_timeline(session: Session, incident: Incident) -> list[str]:
    """The incident and its timeline as lines for a terminal or a task log."""
    lines = [
        f"{incident.ref}  {incident.severity} {incident.priority}  {incident.status}  "
        f"{incident.title}",
        f"model {incident.model_id or '-'}, metric {incident.metric or '-'}, "
        f"category {incident.category}, owner {incident.owner or '-'}, "
        f"assigned to {incident.assigned_to or '-'}",
        f"opened {_iso(incident.opened_at)}"
        + (f", acknowledged {_iso(incident.acknowledged_at)}" if incident.acknowledged_at else "")
        + (f", resolved {_iso(incident.resolved_at)}" if incident.resolved_at else "")
        + (f", closed {_iso(incident.closed_at)}" if incident.closed_at else "")
        + (f", post-mortem due {_iso(incident.postmortem_due)}" if incident.postmortem_due else ""),
    ]
    if incident.summary:
        lines.append(incident.summary)
    if incident.root_cause:
        lines.append(f"root cause: {incident.root_cause}")
    if incident.corrective_action:
        lines.append(f"corrective action: {incident.corrective_action}")
    lines.append("")
    for event in timeline(session, incident):
        change = ""
        if event.from_status and event.to_status:
            change = f" ({event.from_status} -> {event.to_status})"
        elif event.to_status:
            change = f" ({event.to_status})"
        note = f": {event.note}" if event.note else ""
        lines.append(f"{_iso(event.occurred_at)}  {event.actor:<28} {event.kind}{change}{note}")
    return lines


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


# --- Events ------------------------------------------------------------------------------


def _audit_severity(incident: Incident, kind: str) -> AuditSeverity:
    if kind in ("opened", "reopened", "escalated") and incident.severity in ("WARNING", "CRITICAL"):
        return "CRITICAL" if incident.severity == "CRITICAL" else "WARNING"
    return "INFO"


def _stored_key(event_key: str) -> str:
    # Keys hold run ids of up to 250 characters: what writes and what looks up bound alike.
    return bounded_key(event_key, limit=EVENT_KEY_MAX_CHARS)


def _find_event(session: Session, incident: Incident, event_key: str) -> IncidentEvent | None:
    return session.scalars(
        select(IncidentEvent).where(
            IncidentEvent.incident_id == incident.id,
            IncidentEvent.event_key == _stored_key(event_key),
        )
    ).first()


def _record(
    session: Session,
    incident: Incident,
    *,
    kind: str,
    actor: str,
    event_key: str,
    note: str = "",
    payload: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Write one timeline event and its audit event, or return the event the key names."""
    event_key = _stored_key(event_key)
    existing = _find_event(session, incident, event_key)
    if existing is not None:
        return existing
    event = IncidentEvent(
        incident_id=incident.id,
        event_key=event_key,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        payload=payload or {},
        occurred_at=at or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        # A concurrent writer recorded the same key first (Postgres): theirs stands.
        concurrent = _find_event(session, incident, event_key)
        if concurrent is None:
            raise
        return concurrent
    record_event(
        session,
        actor=actor,
        action=f"incident.{kind}",
        target=f"incident:{incident.ref}",
        payload={
            "incident_id": incident.id,
            "ref": incident.ref,
            "model_id": incident.model_id,
            "metric": incident.metric,
            "event_key": event_key,
            "from_status": from_status,
            "to_status": to_status,
            "note": note,
            "occurred_at": event.occurred_at,
            **(payload or {}),
        },
        severity=_audit_severity(incident, kind),
        idempotency_key=f"incident:{incident.id}:{event_key}",
    )
    return event


def add_event(
    session: Session,
    incident: Incident,
    *,
    kind: str,
    actor: str,
    note: str = "",
    payload: dict[str, Any] | None = None,
    event_key: str,
    at: datetime | None = None,
) -> IncidentEvent:
    """Add a timeline event (a note, a finding, a decision); the same key adds nothing."""
    return _record(
        session,
        incident,
        kind=kind,
        actor=actor,
        event_key=event_key,
        note=note,
        payload=payload,
        at=at,
    )


def episode(incident: Incident) -> int:
    """How many times the incident has been reopened (0 for a first opening)."""
    return int(incident.details.get("reopened", 0))


def episode_key(incident: Incident, key: str) -> str:
    """``key`` for the incident's current episode: plain at first, ``key#n`` once reopened."""
    count = episode(incident)
    return key if count == 0 else f"{key}#{count}"


def acknowledgement(session: Session, incident: Incident) -> IncidentEvent | None:
    """The event that acknowledged the incident's current episode, or None while nobody has
    (it is open: a reopened incident needs a new acknowledgement, or it went straight to an
    accepted risk)."""
    if incident.status == OPEN:
        return None
    return session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident.id, IncidentEvent.to_status == ACKNOWLEDGED)
        .order_by(IncidentEvent.id.desc())
    ).first()


def sla_clock_start(incident: Incident) -> datetime:
    """When the acknowledgement SLA started: the opening, or the latest reopening."""
    reopened_at = incident.details.get("reopened_at")
    return datetime.fromisoformat(reopened_at) if reopened_at else incident.opened_at


def acknowledgement_due(config: GovflowConfig, incident: Incident) -> datetime:
    """When the incident must be acknowledged (seed 004 3.1's 15-minute SLA, whatever its
    severity): that long after its opening or latest reopening."""
    minutes = config.policy.escalation.acknowledgement_minutes
    return sla_clock_start(incident) + timedelta(minutes=minutes)


# --- Opening ----------------------------------------------------------------------------


def _priority(config: GovflowConfig, severity: str, category: str) -> str:
    if category in ALERT_SOURCES and severity in SEVERITIES:
        found = config.policy.incidents.class_for(severity, category)
        if found is not None:
            return found
    return UNCLASSIFIED_PRIORITY


def _owner(session: Session, config: GovflowConfig, model_id: str | None) -> str | None:
    if model_id is None:
        return None
    if model_id in config.models.ids():
        return config.models.get(model_id).owner
    registered = session.get(Model, model_id)
    return registered.owner if registered else None


def _live_incident(session: Session, dedup_key: str) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.open_dedup_key == dedup_key)).first()


def _recurrence_key(source_run_id: int) -> str:
    return f"recurrence:run:{source_run_id}"


def _handled_for_run(session: Session, dedup_key: str, source_run_id: int) -> Incident | None:
    """The incident a monitoring run already opened or recurred under ``dedup_key``."""
    recurred = select(IncidentEvent.incident_id).where(
        IncidentEvent.event_key == _recurrence_key(source_run_id)
    )
    return session.scalars(
        select(Incident).where(
            Incident.dedup_key == dedup_key,
            or_(Incident.source_run_id == source_run_id, Incident.id.in_(recurred)),
        )
    ).first()


def _open_or_recur(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str | None,
    category: str,
    metric: str | None,
    severity: str,
    title: str,
    summary: str,
    details: dict[str, Any],
    source_run_id: int | None,
    actor: str,
    opened_at: datetime,
) -> tuple[Incident, Outcome]:
    key = dedup_key_for(model_id, metric)
    if source_run_id is not None:
        handled = _handled_for_run(session, key, source_run_id)
        if handled is not None:
            return handled, "unchanged"
    live = _live_incident(session, key)
    if live is None:
        incident = Incident(
            # Replaced by the id-based reference once the row has its id.
            ref=f"pending-{uuid.uuid4().hex[:24]}",
            model_id=model_id,
            category=category,
            metric=metric,
            severity=severity,
            priority=_priority(config, severity, category),
            status=OPEN,
            dedup_key=key,
            open_dedup_key=key,
            title=title,
            summary=summary,
            owner=_owner(session, config, model_id),
            source_run_id=source_run_id,
            details=details,
            opened_at=opened_at,
        )
        try:
            with session.begin_nested():
                session.add(incident)
                session.flush()
        except IntegrityError:
            # Another writer opened this model and metric's incident first (Postgres waits
            # for it on the unique key): this finding is a recurrence of theirs.
            if source_run_id is not None:
                handled = _handled_for_run(session, key, source_run_id)
                if handled is not None:
                    return handled, "unchanged"
            live = _live_incident(session, key)
            if live is None:
                raise
        else:
            incident.ref = REF_FORMAT.format(year=opened_at.year, id=incident.id)
            incident.assigned_to = responders(config, incident, opened_at).primary[0]
            session.flush()
            _record(
                session,
                incident,
                kind="opened",
                actor=actor,
                event_key="opened",
                note=title,
                payload={
                    "severity": severity,
                    "priority": incident.priority,
                    "category": category,
                    "source_run_id": source_run_id,
                    "owner": incident.owner,
                    "assigned_to": incident.assigned_to,
                },
                to_status=OPEN,
                at=opened_at,
            )
            if _pages_on_call(config, severity):
                _page(session, incident, "trigger")
            return incident, "opened"
    return live, _recur(
        session,
        config,
        live,
        severity=severity,
        summary=summary,
        source_run_id=source_run_id,
        actor=actor,
        at=opened_at,
    )


def _recur(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    *,
    severity: str,
    summary: str,
    source_run_id: int | None,
    actor: str,
    at: datetime,
) -> Outcome:
    event_key = (
        _recurrence_key(source_run_id)
        if source_run_id is not None
        else f"recurrence:{uuid.uuid4().hex}"
    )
    if _find_event(session, incident, event_key) is not None:
        return "unchanged"
    raised = severity_rank(severity) > severity_rank(incident.severity)
    payload = {"severity": severity, "source_run_id": source_run_id, "summary": summary}
    if raised:
        payload["raised_from"] = incident.severity
        incident.severity = severity
        incident.priority = _priority(config, severity, incident.category)
        # The class the raise gives, as the opening records its own: what the incident was
        # at a moment is replayed from its events (``state_at``), not re-derived from a
        # policy that may have changed since.
        payload["priority"] = incident.priority
        if _pages_on_call(config, severity):
            _page(session, incident, "trigger")
    _record(
        session,
        incident,
        kind="recurrence",
        actor=actor,
        event_key=event_key,
        note=summary,
        payload=payload,
        at=at,
    )
    acceptable = config.policy.exceptions.applies_to_severities
    if incident.status == ACCEPTED_RISK and severity not in acceptable:
        # The acceptance covers a milder condition than the one now measured.
        note = f"{severity} finding while the risk was accepted for a milder one"
        reopen(session, incident, actor=actor, note=note, event_key=f"reopened:{event_key}", at=at)
        _revoke_acceptances(session, incident, severity, source_run_id, actor=actor, at=at)
    return "recurred"


def _revoke_acceptances(
    session: Session,
    incident: Incident,
    severity: str,
    source_run_id: int | None,
    *,
    actor: str,
    at: datetime,
) -> None:
    """End now the acceptances in force on the incident's model and metric: each was granted
    for a milder condition than ``severity``, so the findings after this one are alerted
    again, and a new request may be made once the metric is acceptable again. The grant's
    end is kept in ``details.granted_until``; ``suppression_until`` becomes the revocation."""
    in_force = session.scalars(
        select(RiskAcceptance).where(
            RiskAcceptance.model_id == incident.model_id,
            RiskAcceptance.metric == incident.metric,
            RiskAcceptance.status == ACCEPTANCE_APPROVED,
            RiskAcceptance.suppression_until > at,
        )
    ).all()
    for acceptance in in_force:
        granted_until = acceptance.suppression_until
        reason = f"{severity} {incident.metric} finding on {incident.ref}"
        acceptance.status = ACCEPTANCE_REVOKED
        acceptance.suppression_until = at
        acceptance.details = {
            **acceptance.details,
            "revoked_at": at.isoformat(),
            "granted_until": granted_until.isoformat() if granted_until else None,
            "revoked_because": reason,
            "revoked_by_run": source_run_id,
        }
        record_event(
            session,
            actor=actor,
            action="risk_acceptance.revoked",
            target=f"risk_acceptance:{acceptance.id}",
            payload={
                "model_id": acceptance.model_id,
                "metric": acceptance.metric,
                "severity": acceptance.severity,
                "incident_id": incident.id,
                "finding_severity": severity,
                "source_run_id": source_run_id,
                "granted_until": acceptance.details["granted_until"],
            },
            severity="WARNING",
            idempotency_key=f"risk_acceptance:{acceptance.id}:revoked",
        )


def open_incident(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str | None,
    category: str,
    metric: str | None,
    severity: str,
    title: str,
    summary: str = "",
    details: dict[str, Any] | None = None,
    source_run_id: int | None = None,
    actor: str,
    opened_at: datetime | None = None,
) -> tuple[Incident, bool]:
    """Open an incident, or record a recurrence on the live one of the same model and metric.

    Returns the incident and whether this call opened it. A recurrence is recorded once per
    source run (without a run, once per call); a run that already opened or recurred the
    incident changes nothing.
    """
    incident, outcome = _open_or_recur(
        session,
        config,
        model_id=model_id,
        category=category,
        metric=metric,
        severity=severity,
        title=title,
        summary=summary,
        details=details or {},
        source_run_id=source_run_id,
        actor=actor,
        opened_at=opened_at or utcnow(),
    )
    return incident, outcome == "opened"


def _creates_incident(config: GovflowConfig, severity: str) -> bool:
    level = config.policy.severity_levels.get(severity)  # type: ignore[call-overload]
    return level is not None and bool(level.creates_incident)


def _worst(rows: Sequence[MetricResult]) -> str:
    return max((row.severity for row in rows), key=severity_rank)


def _run_details(run: MonitoringRun) -> dict[str, Any]:
    return {
        "run_key": run.run_key,
        "dag_id": run.dag_id,
        "dag_run_id": run.dag_run_id,
        "window_start": run.interval_start.isoformat(),
        "window_end": run.interval_end.isoformat(),
        "baseline_version": run.baseline_version,
        "composite_score": run.composite_score,
        # Which versions the findings were measured on: a rollout's candidate among them.
        "model_versions": dict(run.model_versions or {}),
    }


def _finding(row: MetricResult) -> dict[str, Any]:
    details = row.details or {}
    return {
        "check_type": row.check_type,
        "metric": row.metric,
        "subject": row.subject,
        "value": row.value,
        "severity": row.severity,
        "threshold": dict(row.threshold),
        "message": details.get("message", ""),
        # The evidence a verdict on an interval rested on (what a freeze or a page cites).
        "evidence": {
            key: details[key]
            for key in ("ci_low", "ci_high", "group_sizes", "pooled_days", "judged_on")
            if key in details
        },
    }


def _window_text(run: MonitoringRun) -> str:
    mixed = mixed_versions_line(run.model_versions or {})
    return (
        f"window {run.interval_start:%Y-%m-%d %H:%M} to {run.interval_end:%Y-%m-%d %H:%M} UTC, "
        f"baseline {run.baseline_version or 'none'}" + (f"; {mixed}" if mixed else "")
    )


def _drift_texts(
    run: MonitoringRun, check_type: str, metric: str, rows: list[MetricResult]
) -> tuple[str, str, str]:
    severity = _worst(rows)
    title = f"{severity} {check_type.replace('_', ' ')}: {metric} on {run.model_id}"
    judged = [row for row in rows if severity_rank(row.severity) >= 1]
    values = "; ".join(
        f"{row.subject or 'overall'} {format_value(row.value)} ({format_threshold(row.threshold)}"
        + (f"; {evidence}" if (evidence := format_evidence(row.details or {})) else "")
        + ")"
        for row in judged
    )
    return severity, title, f"{metric}: {values}; {_window_text(run)}"


def open_incidents_for_run(
    session: Session, config: GovflowConfig, run: MonitoringRun, *, actor: str = MONITORING_ACTOR
) -> list[Incident]:
    """Open (or recur) the incidents a monitoring run's findings call for.

    One incident per metric whose severity level creates incidents (every subject of the
    metric on one incident); one per failed data-quality gate (metric
    ``data_quality_gate``, or ``analysis_failed`` when the analysis could not run); and,
    only when neither applies, one for a CRITICAL composite score, the case of several
    WARNINGs adding up. Returns every incident this run opened or recurred, the same list
    however often it is called (``incident.source_run_id == run.id`` tells an opening from
    a recurrence); a second call writes nothing.
    """
    if run.historical:  # a day long past, analysed as history: opens nothing
        return []
    results = session.scalars(
        select(MetricResult)
        .where(MetricResult.monitoring_run_id == run.id)
        .order_by(MetricResult.id)
    ).all()
    by_metric: dict[str, list[MetricResult]] = {}
    quality: list[MetricResult] = []
    for row in results:
        if row.check_type == DATA_QUALITY:
            quality.append(row)
        elif row.check_type in CHECK_TYPES and row.status == "computed":
            by_metric.setdefault(row.metric, []).append(row)
    detected = detected_at(run)
    touched: list[Incident] = []
    for metric, rows in by_metric.items():
        if not _creates_incident(config, _worst(rows)):
            continue
        check_type = rows[0].check_type
        severity, title, summary = _drift_texts(run, check_type, metric, rows)
        details = {**_run_details(run), "findings": [_finding(row) for row in rows]}
        touched.append(
            _open_or_recur(
                session,
                config,
                model_id=run.model_id,
                category=check_type,
                metric=metric,
                severity=severity,
                title=title,
                summary=summary,
                details=details,
                source_run_id=run.id,
                actor=actor,
                opened_at=detected,
            )[0]
        )
    failing = [row for row in quality if _creates_incident(config, row.severity)]
    if failing:
        metric = (
            ANALYSIS_FAILED
            if any(r.metric == ANALYSIS_FAILED for r in failing)
            else DATA_QUALITY_GATE
        )
        severity = _worst(failing)
        messages = [(row.details or {}).get("message") or row.metric for row in quality]
        touched.append(
            _open_or_recur(
                session,
                config,
                model_id=run.model_id,
                category=DATA_QUALITY,
                metric=metric,
                severity=severity,
                title=f"{severity} data quality: the gate failed on {run.model_id}",
                summary=f"{'; '.join(messages)}; {_window_text(run)}",
                details={**_run_details(run), "findings": [_finding(row) for row in quality]},
                source_run_id=run.id,
                actor=actor,
                opened_at=detected,
            )[0]
        )
    composite = (run.composite_breakdown or {}).get("severity")
    if not touched and composite and _creates_incident(config, composite):
        score = run.composite_score
        touched.append(
            _open_or_recur(
                session,
                config,
                model_id=run.model_id,
                category=COMPOSITE,
                metric=COMPOSITE_SCORE,
                severity=composite,
                title=f"{composite} composite drift score on {run.model_id}",
                summary=f"composite drift score {format_value(score)} "
                f"({config.policy.composite.action}); {_window_text(run)}",
                details={**_run_details(run), "composite": dict(run.composite_breakdown)},
                source_run_id=run.id,
                actor=actor,
                opened_at=detected,
            )[0]
        )
    return list(dict.fromkeys(touched))


# --- Lifecycle ---------------------------------------------------------------------------


def _lock(session: Session, incident: Incident) -> None:
    """Re-read the incident under a row lock (Postgres); SQLite's write lock is already held."""
    session.flush()
    session.refresh(incident, with_for_update=True)


def _check_transition(incident: Incident, target: str) -> None:
    allowed = TRANSITIONS[incident.status]
    if target not in allowed:
        raise IncidentError(
            ILLEGAL_TRANSITION.format(
                ref=incident.ref,
                status=incident.status,
                target=target,
                allowed=", ".join(sorted(allowed)) or "nothing, it is final",
            )
        )


def check_resolvable(session: Session, incident: Incident) -> None:
    """Raise the :class:`IncidentError` ``resolve`` would raise for the incident as it is
    now, before anything costly is done towards resolving it; an incident whose current
    episode was already resolved under the default key passes (a retried resolution finds
    it done)."""
    if _find_event(session, incident, episode_key(incident, RESOLVED)) is None:
        _check_transition(incident, RESOLVED)


def _transition(
    session: Session,
    incident: Incident,
    target: str,
    *,
    actor: str,
    note: str,
    event_key: str | None,
    at: datetime | None,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
) -> IncidentEvent:
    key = event_key or episode_key(incident, kind or target)
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    _lock(session, incident)
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    _check_transition(incident, target)
    moment = at or utcnow()
    from_status = incident.status
    incident.status = target
    if target == ACKNOWLEDGED:
        incident.acknowledged_at = moment
        incident.assigned_to = actor
    elif target in (RESOLVED, CLOSED):
        incident.open_dedup_key = None
        if target == RESOLVED:
            incident.resolved_at = moment
        else:
            incident.closed_at = moment
    recorded = _record(
        session,
        incident,
        kind=kind or target,
        actor=actor,
        event_key=key,
        note=note,
        payload=payload,
        from_status=from_status,
        to_status=target,
        at=moment,
    )
    follow = PAGE_FOLLOWS.get(target)
    if follow is not None and _paged(session, incident):
        _page(session, incident, follow)
    return recorded


# The PagerDuty event a paged incident's transition sends: the page follows the incident.
PAGE_FOLLOWS: dict[str, EventAction] = {
    ACKNOWLEDGED: "acknowledge",
    RESOLVED: "resolve",
    CLOSED: "resolve",
    ACCEPTED_RISK: "resolve",
}


def _pages_on_call(config: GovflowConfig, severity: str) -> bool:
    """Whether policy.yaml's level of ``severity`` notifies ``sms_on_call`` (CRITICAL)."""
    return any(
        name == severity and PAGING_NOTIFY in level.notify
        for name, level in config.policy.severity_levels.items()
    )


def _paged(session: Session, incident: Incident) -> bool:
    """Whether the on-call was ever paged for the incident."""
    return (
        session.scalars(
            select(Alert.id).where(Alert.incident_id == incident.id, Alert.channel == PAGERDUTY)
        ).first()
        is not None
    )


def _page(session: Session, incident: Incident, action: EventAction) -> None:
    """Put one PagerDuty event for the incident in the outbox, once per episode and action
    (a retried step, or a second resolve after a close, adds nothing)."""
    enqueue_alert(
        session,
        idempotency_key=f"page:{incident.id}:{episode_key(incident, action)}",
        channel=PAGERDUTY,
        destination=incident.ref,
        kind=PAGE_KIND,
        severity="CRITICAL",
        payload=page_event(
            action,
            dedup_key=incident.ref,
            summary=_page_summary(incident),
            component=incident.model_id,
            details={
                "incident": incident.ref,
                "priority": incident.priority,
                "metric": incident.metric,
                "summary": incident.summary,
            },
        ),
        model_id=incident.model_id,
        incident_id=incident.id,
    )


def _page_summary(incident: Incident) -> str:
    """``INC-2025-0001 CRITICAL fairness drift: ...``: the severity once, even when the
    incident's title already starts with it."""
    title = incident.title
    if not title.startswith(incident.severity):
        title = f"{incident.severity} {title}"
    return f"{incident.ref} {title}"


def acknowledge(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    at: datetime | None = None,
    note: str = "",
    event_key: str | None = None,
) -> IncidentEvent:
    """open -> acknowledged: ``actor`` has taken the incident and is now assigned to it."""
    return _transition(
        session, incident, ACKNOWLEDGED, actor=actor, note=note, event_key=event_key, at=at
    )


def start_investigation(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    at: datetime | None = None,
    note: str = "",
    event_key: str | None = None,
) -> IncidentEvent:
    """acknowledged -> investigating."""
    return _transition(
        session, incident, INVESTIGATING, actor=actor, note=note, event_key=event_key, at=at
    )


def mitigate(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    at: datetime | None = None,
    note: str = "",
    payload: dict[str, Any] | None = None,
    event_key: str | None = None,
) -> IncidentEvent:
    """investigating -> mitigated: containment is in place (review queue, rollback, freeze)."""
    return _transition(
        session,
        incident,
        MITIGATED,
        actor=actor,
        note=note,
        event_key=event_key,
        at=at,
        payload=payload,
    )


def record_documentation(
    session: Session,
    incident: Incident,
    *,
    root_cause: str,
    corrective_action: str,
    actor: str,
    event_key: str | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Seed 004 3.3 step 4: the root cause and the corrective action (at any status)."""
    if not root_cause.strip() or not corrective_action.strip():
        raise IncidentError(EMPTY_DOCUMENTATION.format(ref=incident.ref))
    key = event_key or episode_key(incident, "documented")
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    incident.root_cause = root_cause.strip()
    incident.corrective_action = corrective_action.strip()
    return _record(
        session,
        incident,
        kind="documented",
        actor=actor,
        event_key=key,
        note=f"root cause: {incident.root_cause}",
        payload={
            "root_cause": incident.root_cause,
            "corrective_action": incident.corrective_action,
        },
        at=at,
    )


def resolve(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    root_cause: str | None = None,
    corrective_action: str | None = None,
    config: GovflowConfig | None = None,
    at: datetime | None = None,
    note: str = "",
    event_key: str | None = None,
) -> IncidentEvent:
    """-> resolved: needs a root cause and a corrective action (given here or documented
    before); sets the post-mortem due date, policy ``incidents.post_mortem_within_days``
    after the resolution (``config`` defaults to the policy in the configured directory)."""
    key = event_key or episode_key(incident, RESOLVED)
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    cause = (root_cause or incident.root_cause or "").strip()
    action = (corrective_action or incident.corrective_action or "").strip()
    if not cause or not action:
        raise IncidentError(UNDOCUMENTED_RESOLUTION.format(ref=incident.ref))
    config = config or load_config(settings.config_dir())
    moment = at or utcnow()
    due = moment + timedelta(days=config.policy.incidents.post_mortem_within_days)
    event = _transition(
        session,
        incident,
        RESOLVED,
        actor=actor,
        note=note,
        event_key=key,
        at=moment,
        payload={
            "root_cause": cause,
            "corrective_action": action,
            "postmortem_due": due.isoformat(),
        },
    )
    incident.root_cause, incident.corrective_action = cause, action
    incident.postmortem_due = due
    return event


def close(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    at: datetime | None = None,
    note: str = "",
    event_key: str | None = None,
) -> IncidentEvent:
    """resolved -> closed (seed 004 3.1: "Close Incident, document in incident log")."""
    return _transition(
        session, incident, CLOSED, actor=actor, note=note, event_key=event_key, at=at
    )


def accept_risk(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    note: str = "",
    payload: dict[str, Any] | None = None,
    event_key: str,
    at: datetime | None = None,
) -> IncidentEvent:
    """-> accepted_risk (seed 004 section 12); called by govflow.incidents.risk_acceptances
    on approval."""
    return _transition(
        session,
        incident,
        ACCEPTED_RISK,
        actor=actor,
        note=note,
        event_key=event_key,
        at=at,
        payload=payload,
    )


def reopen(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    note: str = "",
    event_key: str,
    at: datetime | None = None,
) -> IncidentEvent:
    """accepted_risk -> open: a new episode that needs a new acknowledgement within the SLA."""
    done = _find_event(session, incident, event_key)
    if done is not None:
        return done
    moment = at or utcnow()
    count = episode(incident) + 1
    event = _transition(
        session,
        incident,
        OPEN,
        actor=actor,
        note=note,
        event_key=event_key,
        at=moment,
        kind="reopened",
        payload={"episode": count},
    )
    incident.acknowledged_at = None
    incident.details = {**incident.details, "reopened": count, "reopened_at": moment.isoformat()}
    if _paged(session, incident):  # a new episode pages the on-call again
        _page(session, incident, "trigger")
    return event


# --- Response runs ------------------------------------------------------------------------


def mark_response_run(
    session: Session,
    incident: Incident,
    *,
    dag_run_id: str,
    actor: str,
    dag_id: str = RESPONSE_DAG_ID,
    at: datetime | None = None,
) -> IncidentEvent:
    """A response DAG run has taken the incident: the sweeper leaves it to that run."""
    moment = at or utcnow()
    key = f"response_run:{dag_run_id}"
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    incident.details = {
        **incident.details,
        "response_run": {
            "dag_id": dag_id,
            "dag_run_id": dag_run_id,
            "started_at": moment.isoformat(),
        },
    }
    return _record(
        session,
        incident,
        kind="response_run",
        actor=actor,
        event_key=key,
        note=f"{dag_id} run {dag_run_id} responds",
        payload={"dag_id": dag_id, "dag_run_id": dag_run_id},
        at=moment,
    )


def release_response_run(
    session: Session,
    incident: Incident,
    *,
    dag_run_id: str,
    actor: str,
    outcome: str = "",
    at: datetime | None = None,
) -> IncidentEvent:
    """The response run has ended (whatever happened): the sweeper watches the incident again."""
    moment = at or utcnow()
    key = f"response_run_ended:{dag_run_id}"
    done = _find_event(session, incident, key)
    if done is not None:
        return done
    current = incident.details.get("response_run") or {}
    if current.get("dag_run_id") == dag_run_id:
        incident.details = {
            **incident.details,
            "response_run": {**current, "ended_at": moment.isoformat()},
        }
    return _record(
        session,
        incident,
        kind="response_run_ended",
        actor=actor,
        event_key=key,
        note=outcome,
        payload={"dag_run_id": dag_run_id, "outcome": outcome},
        at=moment,
    )


def covering_response_run(incident: Incident) -> str | None:
    """The DAG run id of the response run covering the incident right now, if any."""
    current = incident.details.get("response_run") or {}
    if current.get("dag_run_id") and not current.get("ended_at"):
        return str(current["dag_run_id"])
    return None


# --- Escalation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation the sweeper made; JSON-able through ``to_dict``."""

    incident_id: int
    ref: str
    level: str
    people: list[str]
    reason: str
    alert_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_run(session: Session, incident: Incident) -> MonitoringRun | None:
    return session.get(MonitoringRun, incident.source_run_id) if incident.source_run_id else None


def _run_link(session: Session, incident: Incident, links: Links) -> str | None:
    response = incident.details.get("response_run") or {}
    if response.get("dag_run_id"):
        return links.airflow_run(response.get("dag_id"), response["dag_run_id"])
    run = _source_run(session, incident)
    return links.airflow_run(run.dag_id, run.dag_run_id) if run else None


def _mention(config: GovflowConfig, user_id: str) -> str:
    user = config.people.user(user_id)
    return f"<@{user.slack_member_id}>" if user.slack_member_id else f"@{user.id} ({user.name})"


def _default_reason(config: GovflowConfig, incident: Incident, level: str) -> str:
    plan = responders(config, incident, sla_clock_start(incident))
    if level == "secondary":
        return f"not acknowledged within {plan.acknowledgement_minutes} minutes"
    if level == "executive" and plan.executive_after_minutes is not None:
        return f"not resolved within {plan.executive_after_minutes // 60} hours"
    if level == "primary":
        return "the incident is yours to acknowledge"
    return "the policy tells you at once (seed 004 section 3.2)"


@dataclass(frozen=True)
class _Notice:
    """What an escalation tells: to whom, why, and where to look."""

    level: str
    people: list[str]
    names: str
    reason: str
    run_url: str | None
    runbook_url: str | None
    runbook_key: str


def _escalation_slack_message(
    config: GovflowConfig, incident: Incident, notice: _Notice
) -> dict[str, Any]:
    """Block Kit message: the incident, who is now responsible and why, and where to look."""
    mentions = " ".join(_mention(config, person) for person in notice.people)
    what = f"{incident.severity} {incident.category.replace('_', ' ')} on {incident.model_id}"
    level = LEVEL_WORDING[notice.level]
    headline = (
        f"{mentions} *{incident.ref}* escalated to *{level}*: {notice.reason}.\n{incident.title}"
    )
    fields = [
        ("Incident", f"{incident.ref} ({incident.status})"),
        ("Model", incident.model_id or "-"),
        ("Metric", incident.metric or "-"),
        ("Severity", f"{incident.severity} / {incident.priority}"),
        ("Now responsible", notice.names),
        ("Opened", _iso(incident.opened_at)),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{incident.ref} escalated: {what}"[:150]},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    buttons = [
        {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label},
            "url": url,
        }
        for action_id, label, url in (
            ("open_airflow_run", "Airflow run", notice.run_url),
            ("open_runbook", "Runbook", notice.runbook_url),
        )
        if url and url.startswith(("http://", "https://"))
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    links_text = (
        f"Airflow run: {notice.run_url or 'n/a'} | "
        f"Runbook: {notice.runbook_url or notice.runbook_key}"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links_text}]})
    text = (
        f"{mentions} {incident.ref} escalated to {level} ({notice.reason}): {what}, "
        f"metric {incident.metric}. Now responsible: {notice.names}. "
        f"Airflow run: {notice.run_url or 'n/a'}"
    )
    return {"text": text, "blocks": blocks}


def _escalation_email(incident: Incident, notice: _Notice) -> dict[str, str]:
    subject = (
        f"[govflow {incident.severity}] {incident.ref} escalated to {LEVEL_WORDING[notice.level]}: "
        f"{incident.model_id} {incident.metric}"
    )
    body = "\n".join(
        [
            f"{incident.ref} escalated to {LEVEL_WORDING[notice.level]}: {notice.reason}.",
            "",
            f"Incident:        {incident.title}",
            f"Model:           {incident.model_id}",
            f"Metric:          {incident.metric}",
            f"Severity:        {incident.severity} ({incident.priority})",
            f"Status:          {incident.status}",
            f"Opened:          {_iso(incident.opened_at)}",
            f"Now responsible: {notice.names}",
            "",
            f"Airflow run: {notice.run_url or 'n/a'}",
            f"Runbook:     {notice.runbook_url or notice.runbook_key}",
        ]
    )
    return {"text": subject, "subject": subject, "body": body + "\n"}


def _escalate(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    *,
    level: str,
    people: Sequence[str],
    at: datetime,
    actor: str,
    event_key: str | None,
    links: Links | None,
    reason: str | None,
) -> tuple[IncidentEvent, list[Alert], bool]:
    if level not in ESCALATION_LEVELS:
        raise IncidentError(
            UNKNOWN_LEVEL.format(level=level, expected=", ".join(ESCALATION_LEVELS))
        )
    if not people:
        raise IncidentError(NOBODY_TO_ESCALATE_TO.format(ref=incident.ref, level=level))
    known = {user.id for user in config.people.users}
    for person in people:
        if person not in known:
            raise IncidentError(UNKNOWN_PERSON.format(user=person))
    level_key = episode_key(incident, f"escalated:{level}")
    key = event_key or level_key
    done = _find_event(session, incident, key)
    if done is not None:
        return done, [], False
    links = links or Links.from_env()
    reason = reason or _default_reason(config, incident, level)
    previous = incident.assigned_to
    if level in ASSIGNING_LEVELS:
        incident.assigned_to = people[0]
    event = _record(
        session,
        incident,
        kind="escalated",
        actor=actor,
        event_key=key,
        note=f"to {level}: {', '.join(people)} ({reason})",
        payload={"level": level, "people": list(people), "reason": reason, "previous": previous},
        at=at,
    )
    runbook_key = runbook_for(config, incident.category)
    notice = _Notice(
        level=level,
        people=list(people),
        names=", ".join(config.people.user(person).name for person in people),
        reason=reason,
        run_url=_run_link(session, incident, links),
        runbook_url=links.runbook(runbook_key),
        runbook_key=runbook_key,
    )
    # One alert per incident, level, episode and channel, whoever escalates.
    alert_key = f"incident:{incident.id}:{level_key}"
    outbox: list[tuple[str, str, dict[str, Any]]] = []
    severity_level = config.policy.severity_levels.get(incident.severity)  # type: ignore[call-overload]
    if severity_level is not None and severity_level.slack_channel:
        channel = config.people.channel(severity_level.slack_channel)
        outbox.append((SLACK, channel, _escalation_slack_message(config, incident, notice)))
    emails = ",".join(_unique(config.people.user(person).email for person in people))
    outbox.append((EMAIL, emails, _escalation_email(incident, notice)))
    created = []
    for channel, destination, payload in outbox:
        alert, new = enqueue_alert(
            session,
            idempotency_key=f"{alert_key}:{channel}",
            channel=channel,
            destination=destination,
            kind=ESCALATION_ALERT_KIND,
            severity=incident.severity,
            payload=payload,
            model_id=incident.model_id,
            incident_id=incident.id,
            actor=actor,
        )
        if new:
            created.append(alert)
    return event, created, True


def escalate(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    *,
    level: str,
    people: Sequence[str],
    at: datetime,
    actor: str,
    event_key: str | None = None,
    links: Links | None = None,
    reason: str | None = None,
) -> list[Alert]:
    """Hand the incident to ``people`` at ``level`` and tell them on Slack and by e-mail.

    ``secondary`` and ``executive`` make the first of ``people`` the assignee; ``at_once``
    and ``primary`` only tell. One Slack alert (the severity's channel, mentioning them)
    and one e-mail per incident, level and episode, whoever escalates and however often:
    leave ``event_key`` at its default so the sweeper and a response run share it. Returns
    the alerts this call put in the outbox (none when the escalation was already made).
    """
    return _escalate(
        session,
        config,
        incident,
        level=level,
        people=people,
        at=at,
        actor=actor,
        event_key=event_key,
        links=links,
        reason=reason,
    )[1]


def escalate_overdue_incidents(
    session: Session,
    config: GovflowConfig,
    *,
    now: datetime,
    covered_incident_ids: Iterable[int] = frozenset(),
    actor: str = SWEEPER_ACTOR,
    links: Links | None = None,
) -> list[EscalationRecord]:
    """The sweeper: escalate what the SLA says is overdue.

    Still ``open`` (unacknowledged) past the acknowledgement SLA since the (re)opening: to
    the path's secondary, unless the incident is in ``covered_incident_ids`` or marked by a
    response run that has not ended (that run's required actions escalate it). Unresolved
    past the path's executive step (CRITICAL data and model drift: 4 hours): to the
    executive, covered or not, since a response run escalates to the executive only while
    nobody acknowledges (the escalation's key is shared, so it is told once). Returns the
    escalations made by this call; calling again makes none.
    """
    covered = set(covered_incident_ids)
    candidates = session.scalars(
        select(Incident).where(Incident.status.in_(UNRESOLVED_STATUSES)).order_by(Incident.id)
    ).all()
    made: list[EscalationRecord] = []
    for incident in candidates:
        responding = incident.id in covered or covering_response_run(incident) is not None
        started = sla_clock_start(incident)
        plan = responders(config, incident, started)
        due: list[tuple[EscalationLevel, list[str]]] = []
        overdue_ack = now >= started + timedelta(minutes=plan.acknowledgement_minutes)
        if incident.status == OPEN and plan.secondary and overdue_ack and not responding:
            due.append(("secondary", plan.secondary))
        if (
            plan.executive_after_minutes is not None
            and plan.executive
            and now >= started + timedelta(minutes=plan.executive_after_minutes)
        ):
            due.append(("executive", plan.executive))
        for level, people in due:
            event, alerts, new = _escalate(
                session,
                config,
                incident,
                level=level,
                people=people,
                at=now,
                actor=actor,
                event_key=None,
                links=links,
                reason=None,
            )
            if new:
                made.append(
                    EscalationRecord(
                        incident.id,
                        incident.ref,
                        level,
                        list(people),
                        str(event.payload.get("reason", "")),
                        [alert.id for alert in alerts],
                    )
                )
    return made
