"""Issue 16, the Incident Timeline: open and recent incidents (seed 004 section 3, seed 000
"Incident Response") with what a reader needs to judge how each is handled.

Per incident: its severity and P-class, the model's owner, who must acknowledge it and who
holds it now; two clocks from policy.yaml, the acknowledgement SLA (seed 004 3.1,
``escalation.acknowledgement_minutes``, from the opening or the latest reopening, as the
escalation sweeper counts it) and the P-class response time (seed 000,
``incidents.classes``); the escalations and containment its timeline records (who was told
at which level and when, from the primary responder the opening assigned on; freeze, manual
review, rollback) with the state of the kill switches involved; its risk acceptances with
their expiry; the post-mortem due date; and where its numbers came from: the monitoring run
that raised it, its drift report and the incident-response run, whose required actions wait
while the run has not ended.

Five queries whatever the number of incidents (at most MAX_INCIDENTS).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import (
    OPEN,
    UNRESOLVED_STATUSES,
    acknowledgement_due,
    responders,
    sla_clock_start,
)
from govflow.store.schema import (
    Incident,
    IncidentEvent,
    KillSwitch,
    MonitoringRun,
    RiskAcceptance,
)

RECENT_INCIDENT_DAYS = 30
MAX_INCIDENTS = 200
# Escalations and containment are a handful per incident; recurrences (daily) are not read.
TIMELINE_KINDS = ("opened", "escalated", "containment", "mitigated")
CONTAINMENT_KINDS = ("containment", "mitigated")
MAX_EVENTS = 20 * MAX_INCIDENTS
MAX_KILL_SWITCHES = 500
MAX_ACCEPTANCES = 5 * MAX_INCIDENTS

AckState = Literal["waiting", "overdue", "acknowledged", "acknowledged late", "not running"]


def response_due(config: GovflowConfig, priority: str, opened: datetime) -> datetime | None:
    """When an incident of P-class ``priority`` opened at ``opened`` must be responded to
    (policy.yaml incidents.classes response time); None for a class the policy lacks."""
    known = config.policy.incidents.classes.get(priority)  # type: ignore[call-overload]
    return None if known is None else opened + timedelta(hours=known.response_time_hours)


@dataclass(frozen=True)
class RunRef:
    """An Airflow run a record came from; ``pending``: it has not ended, its required
    actions may be waiting."""

    dag_id: str
    dag_run_id: str
    pending: bool = False


@dataclass(frozen=True)
class Escalation:
    level: str
    people: list[str]
    reason: str
    at: datetime
    by: str


@dataclass(frozen=True)
class Containment:
    decision: str  # freeze, manual_review_queue, rollback_requested, monitor_only, mitigated
    note: str
    at: datetime
    by: str
    kill_switch_id: int | None


@dataclass(frozen=True)
class KillSwitchState:
    id: int
    scope: str
    target: str
    reason: str
    activated_by: str
    activated_at: datetime
    deactivated_at: datetime | None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


@dataclass(frozen=True)
class Acceptance:
    id: int
    metric: str
    status: str
    requested_by: str
    approved_by: str | None
    days: int | None
    expires: datetime | None
    expired: bool


@dataclass(frozen=True)
class IncidentRow:
    ref: str
    model_id: str | None
    title: str
    severity: str
    priority: str
    status: str
    owner: str | None
    assigned_to: str | None
    to_acknowledge: list[str]
    opened_at: datetime
    acknowledged_at: datetime | None
    ack_sla_minutes: int
    ack_due: datetime
    ack_state: AckState
    # Until the due time (negative: overdue); None once the clock has stopped.
    ack_seconds_left: float | None
    response_due: datetime | None
    postmortem_due: datetime | None
    postmortem_overdue: bool
    source_run: RunRef | None
    report_path: str | None
    response_run: RunRef | None
    escalations: list[Escalation] = field(default_factory=list)
    containment: list[Containment] = field(default_factory=list)
    kill_switches: list[KillSwitchState] = field(default_factory=list)
    risk_acceptances: list[Acceptance] = field(default_factory=list)


def _ack_clock(incident: Incident, due: datetime, now: datetime) -> tuple[AckState, float | None]:
    if incident.acknowledged_at is not None:
        late = incident.acknowledged_at > due
        return ("acknowledged late" if late else "acknowledged"), None
    if incident.status != OPEN:
        return "not running", None  # e.g. a risk accepted before anyone acknowledged
    left = (due - now).total_seconds()
    return ("overdue" if left < 0 else "waiting"), left


def _response_run(incident: Incident) -> RunRef | None:
    run = incident.details.get("response_run") or {}
    if not run.get("dag_id") or not run.get("dag_run_id"):
        return None
    return RunRef(str(run["dag_id"]), str(run["dag_run_id"]), pending=not run.get("ended_at"))


def _events(session: Session, ids: list[int]) -> dict[int, list[IncidentEvent]]:
    found: dict[int, list[IncidentEvent]] = defaultdict(list)
    for event in session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id.in_(ids), IncidentEvent.kind.in_(TIMELINE_KINDS))
        .order_by(IncidentEvent.occurred_at, IncidentEvent.id)
        .limit(MAX_EVENTS)
    ):
        found[event.incident_id].append(event)
    return found


def _escalation(event: IncidentEvent) -> Escalation:
    payload = event.payload or {}
    if event.kind == "opened":  # the opening assigns the path's primary responder
        assigned = payload.get("assigned_to")
        return Escalation(
            level="primary",
            people=[str(assigned)] if assigned else [],
            reason="assigned when the incident opened",
            at=event.occurred_at,
            by=event.actor,
        )
    return Escalation(
        level=str(payload.get("level", "")),
        people=[str(p) for p in payload.get("people", [])],
        reason=str(payload.get("reason", "")),
        at=event.occurred_at,
        by=event.actor,
    )


def _containment(event: IncidentEvent) -> Containment:
    payload = event.payload or {}
    switch = payload.get("kill_switch_id")
    return Containment(
        decision=str(payload.get("decision", event.kind)),
        note=event.note,
        at=event.occurred_at,
        by=event.actor,
        kill_switch_id=None if switch is None else int(switch),
    )


def _kill_switches(session: Session, referenced: set[int]) -> list[KillSwitchState]:
    """The switches incidents name, and every switch active now."""
    return [
        KillSwitchState(
            s.id,
            s.scope,
            s.target,
            s.reason,
            s.activated_by,
            s.activated_at,
            s.deactivated_at,
        )
        for s in session.scalars(
            select(KillSwitch)
            .where(or_(KillSwitch.id.in_(referenced), KillSwitch.active_key.is_not(None)))
            .order_by(KillSwitch.id)
            .limit(MAX_KILL_SWITCHES)
        )
    ]


def _blocks(switch: KillSwitchState, model_id: str | None) -> bool:
    """Whether ``switch`` blocks the model (every version, or one ``<model>:<version>``)."""
    return model_id is not None and (
        switch.target == model_id or switch.target.startswith(f"{model_id}:")
    )


def _acceptances(session: Session, ids: list[int], now: datetime) -> dict[int, list[Acceptance]]:
    found: dict[int, list[Acceptance]] = defaultdict(list)
    for a in session.scalars(
        select(RiskAcceptance)
        .where(RiskAcceptance.incident_id.in_(ids))
        .order_by(RiskAcceptance.created_at, RiskAcceptance.id)
        .limit(MAX_ACCEPTANCES)
    ):
        expires = a.suppression_until
        found[a.incident_id or 0].append(
            Acceptance(
                a.id,
                a.metric,
                a.status,
                a.requested_by,
                a.approved_by,
                a.days,
                expires,
                expires is not None and expires <= now,
            )
        )
    return found


def _source_runs(session: Session, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {
        row.id: row
        for row in session.execute(
            select(
                MonitoringRun.id,
                MonitoringRun.dag_id,
                MonitoringRun.dag_run_id,
                MonitoringRun.report_path,
            ).where(MonitoringRun.id.in_(ids))
        )
    }


def incident_timeline(
    session: Session, config: GovflowConfig, *, now: datetime, model_id: str | None = None
) -> list[IncidentRow]:
    """Every unresolved incident and those opened in the last RECENT_INCIDENT_DAYS days,
    newest first (at most MAX_INCIDENTS)."""
    statement = (
        select(Incident)
        .where(
            or_(
                Incident.status.in_(UNRESOLVED_STATUSES),
                Incident.opened_at >= now - timedelta(days=RECENT_INCIDENT_DAYS),
            )
        )
        .order_by(Incident.opened_at.desc(), Incident.id.desc())
        .limit(MAX_INCIDENTS)
    )
    if model_id is not None:
        statement = statement.where(Incident.model_id == model_id)
    incidents: Sequence[Incident] = session.scalars(statement).all()
    ids = [i.id for i in incidents]
    events = _events(session, ids)
    containment = {
        incident_id: [_containment(e) for e in found if e.kind in CONTAINMENT_KINDS]
        for incident_id, found in events.items()
    }
    referenced = {
        c.kill_switch_id
        for found in containment.values()
        for c in found
        if c.kill_switch_id is not None
    }
    switches = _kill_switches(session, referenced)
    acceptances = _acceptances(session, ids, now)
    sources = _source_runs(session, {i.source_run_id for i in incidents if i.source_run_id})
    minutes = config.policy.escalation.acknowledgement_minutes
    rows = []
    for incident in incidents:
        started = sla_clock_start(incident)  # the opening, or the latest reopening
        due = acknowledgement_due(config, incident)
        state, left = _ack_clock(incident, due, now)
        contained = containment.get(incident.id, [])
        named = {c.kill_switch_id for c in contained}
        unresolved = incident.status in UNRESOLVED_STATUSES
        source = sources.get(incident.source_run_id or 0)
        postmortem = incident.postmortem_due
        rows.append(
            IncidentRow(
                ref=incident.ref,
                model_id=incident.model_id,
                title=incident.title,
                severity=incident.severity,
                priority=incident.priority,
                status=incident.status,
                owner=incident.owner,
                assigned_to=incident.assigned_to,
                to_acknowledge=responders(config, incident, started).primary,
                opened_at=incident.opened_at,
                acknowledged_at=incident.acknowledged_at,
                ack_sla_minutes=minutes,
                ack_due=due,
                ack_state=state,
                ack_seconds_left=left,
                # A reopening is a new episode: its class's time runs from it, as in My actions.
                response_due=response_due(config, incident.priority, started),
                postmortem_due=postmortem,
                postmortem_overdue=postmortem is not None
                and postmortem < now
                and incident.closed_at is None,
                source_run=None
                if source is None or not source.dag_id or not source.dag_run_id
                else RunRef(source.dag_id, source.dag_run_id),
                report_path=None if source is None else source.report_path,
                response_run=_response_run(incident),
                escalations=[
                    _escalation(e)
                    for e in events.get(incident.id, [])
                    if e.kind not in CONTAINMENT_KINDS
                ],
                containment=contained,
                kill_switches=[
                    s
                    for s in switches
                    if s.id in named or (unresolved and s.active and _blocks(s, incident.model_id))
                ],
                risk_acceptances=acceptances.get(incident.id, []),
            )
        )
    return rows


RunUrl = Callable[[str, str], str]
LINK_LABELS = {
    "pending_action": "answer in Airflow",
    "response_run": "response run",
    "drift_report": "drift report",
    "monitoring_run": "monitoring run",
}


def incident_links(root: str, row: IncidentRow, run_url: RunUrl) -> dict[str, str | None]:
    """Where to act on the incident and where its numbers came from, for the page and its
    JSON twin alike: the response run's Required actions while the run has not ended (else
    the run's page), the drift report of the record that raised it (the dashboard's own
    route under ``root``) and that record's Airflow run."""
    response, source = row.response_run, row.source_run
    response_url = None if response is None else run_url(response.dag_id, response.dag_run_id)
    pending = response is not None and response.pending
    return {
        "pending_action": f"{response_url}/required_actions" if pending else None,
        "response_run": None if pending else response_url,
        "drift_report": None if row.report_path is None else f"{root}/reports/{row.report_path}",
        "monitoring_run": None if source is None else run_url(source.dag_id, source.dag_run_id),
    }
