"""Seed 004 section 3 (response procedures) as the steps of one response run.

Each function here is one task of the DAG ``govflow_incident_response``: small JSON-able
inputs (the incident id, a form's answer), a session of its own, idempotent on retry
(every incident event carries a key per episode of the incident, every alert an
idempotency key).

The acknowledgement path follows the issue rather than seed 004 table 3.2: the seed has the
secondary paged after 60 minutes unacknowledged, the issue escalates when the 15-minute
acknowledgement SLA runs out. The stricter (earlier) escalation is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from govflow import settings, store
from govflow.alerts.messages import Links
from govflow.answers import Answer
from govflow.config import GovflowConfig, load_config
from govflow.flows import A_DATE_TIME, Refused, Skipped, form_moment, refusing
from govflow.flows.monitoring import run_monitoring
from govflow.incidents import diagnosis, risk_acceptances
from govflow.incidents import lifecycle as incidents
from govflow.monitoring.analysis import utc
from govflow.serving import kill_switches
from govflow.store.keys import bounded_key
from govflow.store.schema import Incident, IncidentEvent, MetricResult, MonitoringRun
from govflow.store.types import utcnow

UNKNOWN_DIAGNOSIS = "unknown diagnosis {name!r}; diagnoses are {names}"
NO_WINDOW = "incident {ref} names no analysed window; give the verification window in the form"
NO_SUCH_LEVEL = (
    "{ref}: escalation path {path} has no {level} step, so nobody more is told; the next "
    "question goes to those already responsible"
)
NOT_ESCALATED = (
    "{ref}: not escalated to {level}: the incident is {status}, no longer waiting for an "
    "acknowledgement"
)
# The levels a response run escalates to because nobody acknowledged.
UNACKNOWLEDGED_LEVELS = ("secondary", "executive")
NO_INCIDENT_PLANNED = "no incident to hand back to the sweeper: the plan named none"
VERIFICATION_ORDER = "field 'verification_end': {end} is not after verification_start {start}"
WINDOW_NOT_COMPLETE = (
    "the verification window [{start}, {end}) has not ended yet; resolve again after {end}"
)
RESOLUTION_FAILED = (
    "incident {ref} stays open: the re-run analysis of {model} over [{start}, {end}) still "
    "finds {metric} at {severity} ({findings})"
)
ANALYSIS_FAILED = (
    "incident {ref} stays open: the re-run analysis of {model} over [{start}, {end}) "
    "failed: {error}"
)
# The one run every response run started before each started its own.
FIRST_RISK_ACCEPTANCE_RUN = "risk_acceptance__{ref}"
RISK_ACCEPTANCE_RUN = "risk_acceptance__{ref}__{response_run}"
# Airflow's limit on a run id: a response run's own id may take all of it.
AIRFLOW_RUN_ID_MAX_CHARS = 250
ACCEPTANCE_STARTED = "{ref}: accept risk: starting {run} of govflow_risk_acceptance"
ACCEPTANCE_PENDING = (
    "{ref}: accept risk: risk acceptance {id} of {model_id} {metric} is {status}{until}, so "
    "no new request is started"
)
# A request whose run Airflow ended before anyone decided it (the run marked failed by hand,
# say): nothing can decide it any more, and left pending it would block every later one.
ACCEPTANCE_ORPHANED = (
    "its govflow_risk_acceptance run {run} ended without a decision, so a new request may start"
)
# What the policy refuses (a CRITICAL condition, an incident past investigation) is refused
# here, where "Accept risk" was chosen, rather than by a run started only to fail its check.
ACCEPTANCE_REFUSED = "{ref}: accept risk: refused, so no request is started: {reason}"
# The containment form's options are the same for every incident (Airflow fixes them when
# the DAG file is parsed): its text says when the policy refuses one of them for this one.
ACCEPTANCE_REFUSED_NOW = "**Accept risk** would be refused now: {reason}"
RISK_ACCEPTANCE_KEY = "govflow_risk_acceptance/"
ACCEPTANCE_RUNNING = (
    "{ref}: accept risk: {run} of govflow_risk_acceptance has not ended, so no new request "
    "is started"
)
CHECK_OF_CATEGORY = {
    "data_drift": "data_drift",
    "fairness_drift": "fairness_drift",
    "model_drift": "model_drift",
    "explanation_drift": "explanation_drift",
}


DAG_ID = "govflow_incident_response"
ACKNOWLEDGE = "Acknowledge"


class ResolutionError(Refused):
    """The incident cannot be resolved as the form asks: the re-run analysis does not show it
    fixed, or the form names no window that can show it. Retrying the task cannot change
    that; a new answer (a later window, a real fix) can."""


def _config(config: GovflowConfig | None) -> GovflowConfig:
    return config or load_config(settings.config_dir())


def _users(config: GovflowConfig, user_ids: list[str]) -> list[dict[str, str]]:
    unique = list(dict.fromkeys(user_ids))
    return [{"id": user, "name": config.people.user(user).name} for user in unique]


def _incident(session: Any, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise incidents.IncidentError(f"no incident with id {incident_id}")
    return incident


def _runbook_body(config: GovflowConfig, incident: Incident, runbook_key: str) -> str:
    runbook = config.policy.runbooks[runbook_key]
    lines = [
        f"**{incident.ref}** {incident.priority} {incident.severity}: {incident.title}",
        "",
        incident.summary or "",
        "",
        f"**{runbook.title}**",
    ]
    for phase in runbook.phases:
        due = f" (within {phase.within_minutes} min)" if phase.within_minutes else ""
        lines.append(f"- {phase.name}{due}: " + "; ".join(phase.actions))
    return "\n".join(lines)


def _acknowledged(session: Any, config: GovflowConfig, incident: Incident) -> dict | None:
    """The acknowledgement on record, as the answer of the primary's request (None while the
    incident waits for one): a run started again by hand neither asks for it again nor
    escalates for want of it."""
    event = incidents.acknowledgement(session, incident)
    if event is None:
        return None
    known = {user.id: user.name for user in config.people.users}
    return {
        "chosen_options": [ACKNOWLEDGE],
        "params_input": {},
        "responded_by_user": {"id": event.actor, "name": known.get(event.actor, event.actor)},
        "responded_at": utc(event.occurred_at).isoformat(),
    }


def _acceptance_refusal(session: Any, config: GovflowConfig, incident: Incident) -> str:
    """Why the policy would refuse "Accept risk" for the incident now, or ''."""
    try:
        risk_acceptances.preview_request(session, config, incident=incident)
    except (risk_acceptances.RiskAcceptanceError, incidents.IncidentError) as refused:
        return str(refused)
    return ""


def _due(clock: datetime, minutes: int | None) -> str | None:
    return (clock + timedelta(minutes=minutes)).isoformat() if minutes else None


def plan_response(
    ref: str,
    *,
    dag_run_id: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Who answers each required action of the run, with which timeout, and what it shows.

    Marks the incident as covered by this run, so the escalation sweeper leaves it to it.
    A ``ref`` that names no incident (a run triggered by hand) is :class:`Refused`.
    """
    config = _config(config)
    at = at or utcnow()
    with store.session_scope(db_url) as session:
        with refusing(incidents.IncidentError):
            incident = incidents.get_incident(session, ref)
        plan = incidents.responders(config, incident, at)
        incidents.mark_response_run(session, incident, dag_run_id=dag_run_id, actor=DAG_ID)
        model = config.models.get(incident.model_id) if incident.model_id else None
        freeze = bool(
            model is not None
            and model.freeze_on_critical_fairness
            and incident.severity == "CRITICAL"
            and incident.category == "fairness_drift"
        )
        ack = plan.acknowledgement_minutes
        to_executive = plan.executive_after_minutes - ack if plan.executive_after_minutes else None
        # The SLAs count from the incident's opening (or reopening), not from when this run
        # reaches the step: a run started late, or slow to diagnose, must not give the
        # primary 15 minutes more.
        clock = incidents.sla_clock_start(incident)
        responders = [*plan.primary, *plan.secondary, *plan.executive]
        refusal = _acceptance_refusal(session, config, incident)
        return {
            "incident_id": incident.id,
            "ref": incident.ref,
            "model_id": incident.model_id,
            "category": incident.category,
            "metric": incident.metric,
            "severity": incident.severity,
            "priority": incident.priority,
            "subject": f"{incident.ref} {incident.severity} {incident.metric} on "
            f"{incident.model_id}",
            "body": _runbook_body(config, incident, plan.runbook)
            + (f"\n\n{ACCEPTANCE_REFUSED_NOW.format(reason=refusal)}" if refusal else ""),
            "runbook": plan.runbook,
            "primary": {
                "users": _users(config, plan.primary),
                "timeout_minutes": ack,
                "due_at": incidents.acknowledgement_due(config, incident).isoformat(),
                "answered": _acknowledged(session, config, incident),
            },
            "secondary": {
                "users": _users(config, [*plan.secondary, *plan.primary]),
                "timeout_minutes": to_executive,
                "due_at": _due(clock, plan.executive_after_minutes),
            },
            "executive": {
                "users": _users(config, [*plan.executive, *plan.secondary, *plan.primary]),
                "timeout_minutes": None,
            },
            "at_once": {"users": _users(config, plan.notify_at_once), "timeout_minutes": None},
            "responders": {"users": _users(config, responders), "timeout_minutes": None},
            "documentation": {
                "users": _users(config, responders),
                "timeout_minutes": config.policy.incidents.documentation_within_minutes,
            },
            "freeze_automatically": freeze,
        }


def escalate_to_level(
    incident_id: int,
    level: str,
    *,
    actor: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> list[int]:
    """Hand the incident to ``level`` (secondary, executive, at_once): the ids of the alerts
    put in the outbox for it (none when a retry finds them there already). A path without
    that level (seed 004's WARNING path has no executive; a policy may lack a secondary)
    hands it to nobody more: the run goes on, its next question asked of those already
    responsible, and the line says so. The secondary and the executive are told only while
    nobody has acknowledged the incident: once it is acknowledged (or further along), a
    request that timed out escalates nothing, and the line says so too."""
    config = _config(config)
    now = utcnow()
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        if level in UNACKNOWLEDGED_LEVELS and incident.status != incidents.OPEN:
            print(NOT_ESCALATED.format(ref=incident.ref, level=level, status=incident.status))
            return []
        # The rotation of the episode under way, whose SLA the sweeper counts from the
        # reopening too: a reopened incident is someone else's week.
        plan = incidents.responders(config, incident, incidents.sla_clock_start(incident))
        people = {
            "secondary": plan.secondary,
            "executive": plan.executive,
            "at_once": plan.notify_at_once,
        }[level]
        if not people:
            print(NO_SUCH_LEVEL.format(ref=incident.ref, path=plan.path_name, level=level))
            return []
        alerts = incidents.escalate(
            session,
            config,
            incident,
            level=level,
            people=people,
            at=now,
            actor=actor,
            links=Links.from_env(),
        )
        session.flush()
        return [alert.id for alert in alerts]


def run_diagnosis(
    incident_id: int,
    name: str,
    *,
    actor: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """One automated diagnosis of the runbook, posted to the incident's timeline."""
    if name not in diagnosis.DIAGNOSES:
        raise ValueError(UNKNOWN_DIAGNOSIS.format(name=name, names=", ".join(diagnosis.DIAGNOSES)))
    config = _config(config)
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        findings = diagnosis.DIAGNOSES[name](session, config, incident)
        diagnosis.post_diagnosis(
            session,
            incident,
            name,
            findings,
            actor=actor,
            event_key=incidents.episode_key(incident, f"diagnosis:{name}"),
        )
        return findings


def first_acknowledgement(answers: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Of the answers of the acknowledgement requests in order, the first that acknowledged."""
    return next(a for a in answers if a is not None and Answer.from_xcom(a).chose(ACKNOWLEDGE))


def responder_or(answer: dict[str, Any] | None, actor: str) -> str:
    """Who answered (e.g. chose the containment), else ``actor``."""
    return Answer.from_xcom(answer).responded_by or actor


def record_acknowledgement(
    incident_id: int, answer: dict[str, Any], *, actor: str, db_url: str | None = None
) -> dict[str, Any]:
    """The responder who acknowledged; the incident moves on to investigation."""
    acknowledged = Answer.from_xcom(answer)
    responder = acknowledged.responded_by or actor
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        if incident.status == "open":
            incidents.acknowledge(
                session,
                incident,
                actor=responder,
                at=utc(acknowledged.responded_at) if acknowledged.responded_at else None,
            )
        if incident.status == "acknowledged":
            incidents.start_investigation(session, incident, actor=responder)
        # An answer after someone else's acknowledgement records nothing: name whose stands.
        recorded = incidents.acknowledgement(session, incident)
        return {
            "ref": incident.ref,
            "acknowledged_by": recorded.actor if recorded else responder,
            "status": incident.status,
        }


def freeze_model(
    incident_id: int,
    *,
    actor: str,
    automatic: bool,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Freeze the incident's model through its kill switch (scope model_type)."""
    config = _config(config)
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        why = "automatic: models.yaml freeze_on_critical_fairness" if automatic else "chosen"
        # The evidence the freeze acts on (value, interval, rows per group), kept with it.
        evidence = [
            {key: finding.get(key) for key in ("subject", "value", "severity", "evidence")}
            for finding in (incident.details or {}).get("findings", [])
            if finding.get("severity") == "CRITICAL"
        ]
        switch, created = kill_switches.activate(
            session,
            scope="model_type",
            target=str(incident.model_id),
            reason=f"{incident.ref} {incident.severity} {incident.metric}: {incident.title}",
            actor=actor,
            config=config,
            context={"incident": incident.ref, "automatic": automatic, "evidence": evidence},
        )
        incidents.add_event(
            session,
            incident,
            kind="containment",
            actor=actor,
            note=f"model {incident.model_id} frozen by kill switch {switch.id} ({why})",
            payload={
                "decision": "freeze",
                "kill_switch_id": switch.id,
                "automatic": automatic,
                "evidence": evidence,
            },
            event_key=incidents.episode_key(incident, "containment:freeze"),
        )
        if not automatic and incident.status == "investigating":
            incidents.mitigate(session, incident, actor=actor)
        return {
            "ref": incident.ref,
            "kill_switch_id": switch.id,
            "created": created,
            "status": incident.status,
        }


def record_containment(
    incident_id: int, decision: str, actor: str, *, db_url: str | None = None
) -> dict[str, Any]:
    """A containment choice that changes nothing in serving from here: recorded on the
    timeline. A manual review queue contains the incident; a requested rollback and
    monitoring only leave it under investigation."""
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        incidents.add_event(
            session,
            incident,
            kind="containment",
            actor=actor,
            note=decision.replace("_", " "),
            payload={"decision": decision},
            event_key=incidents.episode_key(incident, f"containment:{decision}"),
        )
        if decision == "manual_review_queue" and incident.status == "investigating":
            incidents.mitigate(session, incident, actor=actor)
        return {"ref": incident.ref, "decision": decision, "status": incident.status}


def request_rollback(incident_id: int, actor: str, *, db_url: str | None = None) -> dict[str, Any]:
    """The "Roll back" containment: recorded on the timeline, and the request govflow_rollback
    carries out (the model's System Owner approves it there unless they chose it here)."""
    recorded = record_containment(incident_id, "rollback_requested", actor, db_url=db_url)
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        return {
            **recorded,
            "model_id": incident.model_id,
            "deployment_ref": "",
            "reason": f"incident {incident.ref}: {incident.title}",
            "source": "incident",
            "requested_by": actor,
            "incident_ref": incident.ref,
            "rollback": [{"id": incident.ref, "text": incident.title, "summary": incident.summary}],
        }


def risk_acceptance_runs(incident_id: int, *, db_url: str | None = None) -> list[str]:
    """The govflow_risk_acceptance runs response runs started for the incident, oldest
    first; whether they have ended is Airflow's to say."""
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        events = session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "containment")
            .order_by(IncidentEvent.id)
        ).all()
        started = [
            event.payload["risk_acceptance_run_id"]
            for event in events
            if event.payload.get("decision") == "accept_risk"
            and event.payload.get("risk_acceptance_run_id")
        ]
        return [FIRST_RISK_ACCEPTANCE_RUN.format(ref=incident.ref), *started]


def _acceptance_blocking(
    session: Any,
    config: GovflowConfig,
    incident: Incident,
    running: Sequence[str],
    ended: Sequence[str],
    at: datetime,
    actor: str,
) -> str:
    """Why no new risk acceptance may start for the incident now, or ''. A request still
    pending whose govflow_risk_acceptance run has ended (``ended``) is refused first; what
    the policy would refuse (:func:`risk_acceptances.preview_request`) is refused here."""
    active = risk_acceptances.active_acceptance(session, incident.model_id, incident.metric, at)
    filed_under = risk_acceptances.request_key_of(active) if active else None
    run = (filed_under or "").removeprefix(RISK_ACCEPTANCE_KEY)
    if active is not None and active.status == risk_acceptances.REQUESTED and run in ended:
        reason = ACCEPTANCE_ORPHANED.format(run=run)
        risk_acceptances.refuse_acceptance(session, active, reason=reason, actor=actor, at=at)
        active = None
    if active is not None:
        until = active.suppression_until
        return ACCEPTANCE_PENDING.format(
            ref=incident.ref,
            id=active.id,
            model_id=active.model_id,
            metric=active.metric,
            status=active.status,
            until=f" until {until:%Y-%m-%d %H:%M} UTC" if until else "",
        )
    if running:
        return ACCEPTANCE_RUNNING.format(ref=incident.ref, run=running[0])
    try:
        risk_acceptances.preview_request(session, config, incident=incident, at=at)
    except (risk_acceptances.RiskAcceptanceError, incidents.IncidentError) as refused:
        return ACCEPTANCE_REFUSED.format(ref=incident.ref, reason=refused)
    return ""


def request_risk_acceptance(
    incident_id: int,
    *,
    dag_run_id: str,
    running: Sequence[str],
    actor: str,
    ended: Sequence[str] = (),
    config: GovflowConfig | None = None,
    db_url: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The "Accept risk" containment: the govflow_risk_acceptance run to start for it
    (``risk_acceptance_run_id``), or None while an earlier request is pending or in force
    or an earlier run (``running``: those of :func:`risk_acceptance_runs` Airflow has not
    ended) may still file one; ``message`` says which, and is printed. An ended request
    (rejected, refused, expired) leaves the way open, and so does one still pending whose run
    Airflow has ended (``ended``): nothing can decide it any more, so it is refused, saying
    why. What the policy refuses (a CRITICAL condition) starts nothing either, and the
    message says why. The choice is a timeline event per response run, so a retry of the run
    answers as its first try did."""
    config = _config(config)
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        moment = at or utcnow()
        blocking = _acceptance_blocking(session, config, incident, running, ended, moment, actor)
        run = (
            None
            if blocking
            else bounded_key(
                RISK_ACCEPTANCE_RUN.format(ref=incident.ref, response_run=dag_run_id),
                limit=AIRFLOW_RUN_ID_MAX_CHARS,
            )
        )
        message = blocking or ACCEPTANCE_STARTED.format(ref=incident.ref, run=run)
        event = incidents.add_event(
            session,
            incident,
            kind="containment",
            actor=actor,
            note=message,
            payload={"decision": "accept_risk", "risk_acceptance_run_id": run, "message": message},
            event_key=f"containment:accept_risk:{dag_run_id}",
        )
        chosen = {"ref": incident.ref, **event.payload}
    print(chosen["message"])
    return chosen


def record_documentation(
    incident_id: int, form: dict[str, Any], *, actor: str, db_url: str | None = None
) -> dict[str, Any]:
    """Root cause and corrective action from the documentation form; an answer that leaves
    either blank is :class:`Refused` (the form asks again for one, so this guards the rest)."""
    answer = Answer.from_xcom(form)
    answers, responder = answer.params, answer.responded_by
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        with refusing(incidents.IncidentError):
            incidents.record_documentation(
                session,
                incident,
                root_cause=answers.get("root_cause") or "",
                corrective_action=answers.get("corrective_action") or "",
                actor=responder or actor,
            )
        return {"ref": incident.ref, "documented_by": responder or actor}


def _verification_window(
    session: Any, incident: Incident, answers: dict[str, Any]
) -> tuple[datetime, datetime]:
    """The window the resolution form names (UTC where it names no zone), else the one after
    the incident's. A bound that is no date and time, or an end not after the start, is a
    :class:`ResolutionError` naming the field, as the form's other unusable answers are."""
    if answers.get("verification_start") and answers.get("verification_end"):
        try:
            start, end = (
                utc(form_moment(answers[name], field=f"field {name!r}", expected=A_DATE_TIME))
                for name in ("verification_start", "verification_end")
            )
        except Refused as refused:
            raise ResolutionError(str(refused)) from None
        if end <= start:
            raise ResolutionError(
                VERIFICATION_ORDER.format(start=start.isoformat(), end=end.isoformat())
            )
        return start, end
    source = session.get(MonitoringRun, incident.source_run_id) if incident.source_run_id else None
    if source is None:
        raise ResolutionError(NO_WINDOW.format(ref=incident.ref))
    length = utc(source.interval_end) - utc(source.interval_start)
    return utc(source.interval_end), utc(source.interval_end) + length


def verify_resolution(
    incident_id: int,
    form: dict[str, Any],
    *,
    actor: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
    data_dir: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Re-run the incident's analysis over the verification window; resolve and close the
    incident only when its metric is back below WARNING and the data passed the gate.

    The form has no timeout: an incident that can no longer be resolved when it is answered
    (an accepted risk's expiry reopened or resolved it meanwhile) is refused before
    anything is analysed."""
    config = _config(config)
    answer = Answer.from_xcom(form)
    answers, who = answer.params, answer.responded_by or actor
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        start, end = _verification_window(session, incident, answers)
        if end > (now or utcnow()):
            raise ResolutionError(WINDOW_NOT_COMPLETE.format(start=start, end=end))
        try:
            incidents.check_resolvable(session, incident)
        except incidents.IncidentError as error:
            raise ResolutionError(str(error)) from None
        ref, model_id, metric = incident.ref, str(incident.model_id), incident.metric
        check = CHECK_OF_CATEGORY.get(incident.category)
    summary = run_monitoring(
        model_id,
        start=start,
        end=end,
        checks=[check] if check else ["data_drift"],
        cadence="on_demand",
        run_key=f"resolution/{ref}/{start.isoformat()}/{end.isoformat()}",
        config=config,
        data_dir=data_dir or settings.data_dir(),
        db_url=db_url,
        dag_id=DAG_ID,
        write_report=False,
    )
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        failing = session.scalars(
            select(MetricResult).where(
                MetricResult.monitoring_run_id == summary.run_id,
                MetricResult.metric == metric,
                MetricResult.severity.in_(("WARNING", "CRITICAL")),
            )
        ).all()
        passed = summary.status == "succeeded" and not failing
        incidents.add_event(
            session,
            incident,
            kind="resolution_check",
            actor=who,
            note=("passed" if passed else "failed")
            + f": re-run analysis over [{start.isoformat()}, {end.isoformat()})",
            payload={
                "monitoring_run_id": summary.run_id,
                "status": summary.status,
                "failing": [f"{r.subject}={r.value} {r.severity}" for r in failing],
                "fix": answers.get("fix", ""),
            },
            event_key=f"resolution_check:{summary.run_id}",
        )
        if not passed:
            session.commit()
            if summary.status != "succeeded":
                raise ResolutionError(
                    ANALYSIS_FAILED.format(
                        ref=ref, model=model_id, start=start, end=end, error=summary.status
                    )
                )
            worst = max(failing, key=lambda r: r.severity == "CRITICAL")
            raise ResolutionError(
                RESOLUTION_FAILED.format(
                    ref=ref,
                    model=model_id,
                    start=start,
                    end=end,
                    metric=metric,
                    severity=worst.severity,
                    findings=", ".join(f"{r.subject}={r.value:.4f}" for r in failing),
                )
            )
        # Changed while the analysis ran: refused in one line, as before it.
        with refusing(incidents.IncidentError):
            if incident.status == "investigating":
                incidents.mitigate(session, incident, actor=who, note=answers.get("fix", ""))
            incidents.resolve(
                session,
                incident,
                actor=who,
                root_cause=incident.root_cause,
                corrective_action=incident.corrective_action,
            )
            incidents.close(session, incident, actor=who)
        return {
            "ref": ref,
            "status": incident.status,
            "verified_by_run": summary.run_id,
            "postmortem_due": incident.postmortem_due.isoformat()
            if incident.postmortem_due
            else None,
        }


def response_outcome(verified: dict[str, Any] | None) -> str:
    """How a response run ended, from what verify_resolution returned (None: it did not)."""
    return f"closed: {verified}" if verified else "ended without a verified resolution"


def end_response_run(
    incident_id: int | None, *, dag_run_id: str, outcome: str, db_url: str | None = None
) -> None:
    """The run is over, whatever happened: the escalation sweeper watches the incident again.
    A run whose plan named no incident (its ref was refused) has none to hand back:
    :class:`Skipped`, so that its one failure is the refusal."""
    if incident_id is None:
        raise Skipped(NO_INCIDENT_PLANNED)
    with store.session_scope(db_url) as session:
        incident = _incident(session, incident_id)
        incidents.release_response_run(
            session, incident, dag_run_id=dag_run_id, actor=DAG_ID, outcome=outcome
        )


def incident_responses_to_start(run_ids: list[int], *, db_url: str | None = None) -> list[dict]:
    """The response runs a monitoring DAG run starts: one per incident its records opened,
    as TriggerDagRunOperator arguments (the run id makes a second trigger a no-op)."""
    with store.session_scope(db_url) as session:
        opened = session.scalars(
            select(Incident)
            .where(Incident.source_run_id.in_(run_ids), Incident.status == "open")
            .order_by(Incident.id)
        ).all()
        responses = [
            {"trigger_run_id": f"incident__{incident.ref}", "conf": {"incident_ref": incident.ref}}
            for incident in opened
        ]
    for response in responses:
        print(f"starting {response['trigger_run_id']}")
    return responses


__all__ = [
    "ACCEPTANCE_PENDING",
    "ACCEPTANCE_REFUSED",
    "ACCEPTANCE_REFUSED_NOW",
    "ACCEPTANCE_RUNNING",
    "ACCEPTANCE_STARTED",
    "NOT_ESCALATED",
    "ResolutionError",
    "end_response_run",
    "escalate_to_level",
    "first_acknowledgement",
    "freeze_model",
    "incident_responses_to_start",
    "plan_response",
    "record_acknowledgement",
    "record_containment",
    "record_documentation",
    "request_risk_acceptance",
    "request_rollback",
    "responder_or",
    "response_outcome",
    "risk_acceptance_runs",
    "run_diagnosis",
    "verify_resolution",
]
