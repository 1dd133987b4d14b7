"""Seed 000 "Phased Rollout": a deployment's new version moves through the stages of
deployment.yaml (alpha internal only, beta < 1 %, limited 5-10 %, general 50 %, full 100 %).

One rollout is one Airflow run of ``govflow_rollout``; these functions are its steps, each
idempotent (a retried or cleared task changes nothing it already changed):

1. ``plan``: the deployment must be authorised (phase 4 of PROC-AI-DEPLOY-001) and not
   stopped; the version in production now is the one a rollback restores.
2. ``start_stage``: traffic moves through the deployment target (internal users see the new
   version from alpha on, external users the stage's share), the stage is recorded with
   its start and planned end, the registry logs shadow / canary / production.
3. ``watch_stage``: while the stage lasts, the rollback criteria are checked every
   ``check_interval_seconds``; one failing rolls back at once.
4. ``evaluate_gate``: at the end of the stage, every stage gate and the deployment's
   deferred traffic checks are decided on the stage's traffic (rollout.checks), and the
   rollback criteria once more; the result is stored on the stage.
5. ``record_decision``: the stakeholder approval (GATE-6): advance, hold or roll back. A
   failed or undecided gate cannot be advanced past; an unanswered request holds.
6. ``complete``: the full stage promotes the new version for everybody.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow import registry
from govflow.alerts.outbox import enqueue_alert
from govflow.answers import Answer
from govflow.audit import record_event
from govflow.baselines.management import DeployedTraffic, promote_deployment_baseline
from govflow.config import GovflowConfig
from govflow.config.deployment import Criterion
from govflow.config.deployment import RolloutStage as StageConfig
from govflow.deployment import procedure
from govflow.rollout import routing
from govflow.rollout.checks import StageCheck, StageWindow, run_stage_check
from govflow.store.schema import Deployment, RolloutStage
from govflow.store.types import utcnow

ACTOR = "govflow-rollout"
SLACK_KIND = "rollout_notice"
# The stage-gate checks are joined by the deployment's traffic checks that step 14 deferred
# to the rollout and a stage can decide (monitoring_active needs a scheduled run, which a
# compressed stage may not see: step 16's post-deployment verification keeps it).
DEFERRED_STAGE_CHECKS = ("model_drift_within_bounds", "data_quality_gate_passed")
REGISTRY_STAGE = {"alpha": "shadow", "full": "production"}
ADVANCE, HOLD, ROLL_BACK = "Advance", "Hold", "Roll back"
DECISIONS = (ADVANCE, HOLD, ROLL_BACK)
Decision = Literal["advance", "hold", "rollback"]

NOT_AUTHORISED = (
    "{ref} is {status}: a rollout starts only after the deployment was authorised (phase 4)"
)
STOPPED = "{ref} is {status}; it cannot roll out"
UNKNOWN_STAGE = "no rollout stage {stage!r}; stages are {stages}"
NOT_STARTED = "stage {stage} of {ref} has not started"
NO_APPROVER = "nobody can approve stage {stage} of {ref}: no {roles} other than the requester"


def _deployment(session: Session, ref: str) -> Deployment:
    return procedure.find_deployment(session, ref)


def _stage_config(config: GovflowConfig, stage: str) -> StageConfig:
    names = [s.name for s in config.deployment.rollout.stages]
    if stage not in names:
        raise ValueError(UNKNOWN_STAGE.format(stage=stage, stages=", ".join(names)))
    return config.deployment.rollout.stage(stage)


def stage_seconds(config: GovflowConfig, stage: str) -> float | None:
    """How long a stage lasts at least (None: the last, ongoing stage)."""
    days = _stage_config(config, stage).duration_days_min
    return None if days is None else days * config.deployment.rollout.day_seconds


def _rollout_details(deployment: Deployment) -> dict[str, Any]:
    return dict(deployment.details.get("rollout", {}))


def _update_rollout(deployment: Deployment, **changes: Any) -> None:
    procedure.update_details(deployment, rollout={**_rollout_details(deployment), **changes})


def _notify(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    event: str,
    text: str,
    *,
    severity: str = "INFO",
) -> None:
    enqueue_alert(
        session,
        idempotency_key=f"rollout:{deployment.ref}:{event}",
        channel="slack",
        destination=config.people.channel("deployments"),
        kind=SLACK_KIND,
        severity=severity,
        model_id=deployment.model_id,
        payload={"text": text, "deployment": deployment.ref},
        actor=ACTOR,
    )


def plan(
    session: Session, config: GovflowConfig, *, deployment_ref: str, from_stage: str | None = None
) -> dict[str, Any]:
    """What this rollout will do; refuses a deployment that is not authorised or stopped."""
    deployment = _deployment(session, deployment_ref)
    if deployment.status in procedure.STOPPED_STATUSES:
        raise ValueError(STOPPED.format(ref=deployment.ref, status=deployment.status))
    if "authorised_at" not in deployment.details:
        raise ValueError(NOT_AUTHORISED.format(ref=deployment.ref, status=deployment.status))
    names = [stage.name for stage in config.deployment.rollout.stages]
    first = from_stage or names[0]
    _stage_config(config, first)
    target = routing.StoreTarget(session)
    route = target.current(deployment.model_id)
    # None for an initial deployment: nothing serves the traffic the new version does not.
    details = _rollout_details(deployment)
    previous = details.get("previous_version", route.splits["external"].active)
    _update_rollout(deployment, status="rolling_out", previous_version=previous)
    return {
        "deployment_ref": deployment.ref,
        "model_id": deployment.model_id,
        "candidate": deployment.model_version,
        "previous": previous,
        "stages": names[names.index(first) :],
        "first": first,
    }


def _stage_record(session: Session, deployment: Deployment, stage: str) -> RolloutStage | None:
    return session.scalars(
        select(RolloutStage).where(
            RolloutStage.deployment_id == deployment.id, RolloutStage.stage == stage
        )
    ).first()


def _log_registry_stage(session: Session, deployment: Deployment, stage: str) -> None:
    registry.log_stage_once(
        session,
        model_id=deployment.model_id,
        version=deployment.model_version,
        stage=REGISTRY_STAGE.get(stage, "canary"),
        deployed_by=ACTOR,
        notes=f"rollout stage {stage} of {deployment.ref}",
        deployment_id=deployment.id,
    )


def _stage_view(config: GovflowConfig, record: RolloutStage) -> dict[str, Any]:
    seconds = stage_seconds(config, record.stage)
    assert record.started_at is not None
    ends_at = None if seconds is None else record.started_at + timedelta(seconds=seconds)
    return {
        "stage": record.stage,
        "traffic_share": record.traffic_share,
        "status": record.status,
        "started_at": record.started_at.isoformat(),
        "ends_at": None if ends_at is None else ends_at.isoformat(),
        "check_interval_seconds": config.deployment.rollout.check_interval_seconds,
    }


def start_stage(
    session: Session, config: GovflowConfig, *, deployment_ref: str, stage: str
) -> dict[str, Any]:
    """Move traffic to the stage's share and record the stage's start (once)."""
    deployment = _deployment(session, deployment_ref)
    if deployment.status in procedure.STOPPED_STATUSES:
        raise ValueError(STOPPED.format(ref=deployment.ref, status=deployment.status))
    settings = _stage_config(config, stage)
    external = settings.traffic_share
    target = routing.StoreTarget(session)
    reason = f"rollout stage {stage} ({settings.coverage})"
    state = target.set_traffic(
        deployment.model_id,
        candidate=deployment.model_version,
        shares={"internal": 1.0, "external": external},
        actor=ACTOR,
        reason=reason,
        deployment_ref=deployment.ref,
    )
    record = _stage_record(session, deployment, stage)
    if record is None:
        record = RolloutStage(
            deployment_id=deployment.id,
            stage=stage,
            traffic_share=external,
            status="running",
            gate={},
            started_at=utcnow(),
        )
        session.add(record)
        session.flush()
        record_event(
            session,
            actor=ACTOR,
            action="rollout.stage_started",
            target=f"deployment:{deployment.ref}",
            payload={"stage": stage, "traffic_share": external, "revision": state.revision},
            idempotency_key=f"rollout:{deployment.ref}:{stage}:started",
        )
        _notify(
            session,
            config,
            deployment,
            f"{stage}:started",
            f"*Rollout {deployment.ref}*: {deployment.model_id} {deployment.model_version} "
            f"entered stage *{stage}* ({settings.coverage}; {external:.1%} of external "
            f"traffic, internal users on the new version).",
        )
    _log_registry_stage(session, deployment, stage)
    _update_rollout(deployment, status="rolling_out", stage=stage)
    return {**_stage_view(config, record), "revision": state.revision}


def _window(
    session: Session,
    config: GovflowConfig,
    data_dir: Path,
    deployment: Deployment,
    record: RolloutStage,
    end: datetime,
) -> StageWindow:
    assert record.started_at is not None
    return StageWindow(
        session,
        config,
        data_dir,
        model_id=deployment.model_id,
        candidate=deployment.model_version,
        active=_rollout_details(deployment).get("previous_version"),
        start=record.started_at,
        end=end,
    )


def _criterion_result(item: Criterion, result: StageCheck) -> dict[str, Any]:
    return {"id": item.id, "text": item.text, **result.to_dict()}


def _rollback_findings(config: GovflowConfig, window: StageWindow) -> list[dict[str, Any]]:
    return [
        _criterion_result(item, result)
        for item in config.deployment.rollout.rollback_criteria
        if item.check is not None
        for result in [run_stage_check(item.check, window)]
        if result.outcome == "failed"
    ]


def _started(session: Session, deployment: Deployment, stage: str) -> RolloutStage:
    record = _stage_record(session, deployment, stage)
    if record is None or record.started_at is None:
        raise ValueError(NOT_STARTED.format(stage=stage, ref=deployment.ref))
    return record


def watch_stage(
    session: Session,
    config: GovflowConfig,
    data_dir: Path,
    *,
    deployment_ref: str,
    stage: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The rollback criteria on the stage so far, and whether the stage has lasted long
    enough for its gate."""
    deployment = _deployment(session, deployment_ref)
    record = _started(session, deployment, stage)
    moment = now or utcnow()
    fired = _rollback_findings(
        config, _window(session, config, data_dir, deployment, record, moment)
    )
    view = _stage_view(config, record)
    over = view["ends_at"] is None or moment >= datetime.fromisoformat(view["ends_at"])
    return {**view, "rollback": fired, "over": over, "checked_at": moment.isoformat()}


def stage_approvers(
    session: Session, config: GovflowConfig, deployment: Deployment
) -> list[dict[str, str]]:
    """Who decides a stage of ``deployment`` (GATE-6): the model's owner and the holders of
    deployment.yaml's rollout.stage_approval roles."""
    rules = config.deployment.rollout.stage_approval
    owner = procedure.model_of(session, deployment).owner
    candidates = [owner] if rules.model_owner else []
    for role in rules.roles:
        candidates.extend(config.people.holders(role))
    unique = [user for i, user in enumerate(candidates) if user not in candidates[:i]]
    return [{"id": user, "name": config.people.user(user).name} for user in unique]


def evaluate_gate(
    session: Session,
    config: GovflowConfig,
    data_dir: Path,
    *,
    deployment_ref: str,
    stage: str,
) -> dict[str, Any]:
    """Decide the stage's gate on its traffic; stored on the stage. Returns the results, the
    rollback criteria that fired and whom to ask for the stakeholder approval."""
    deployment = _deployment(session, deployment_ref)
    record = _started(session, deployment, stage)
    window = _window(session, config, data_dir, deployment, record, utcnow())
    gates = [
        _criterion_result(item, run_stage_check(item.check, window))
        for item in config.deployment.rollout.stage_gates
        if item.check is not None
    ]
    gates.extend(
        {"id": check, "text": check.replace("_", " "), **run_stage_check(check, window).to_dict()}
        for check in DEFERRED_STAGE_CHECKS
        if check in deployment.details.get("deferred_checks", DEFERRED_STAGE_CHECKS)
    )
    fired = _rollback_findings(config, window)
    passed = all(gate["outcome"] == "passed" for gate in gates) and not fired
    record.gate = {"evaluated_at": window.end.isoformat(), "gates": gates, "rollback": fired}
    record.status = "gate_passed" if passed else "gate_failed"
    session.flush()
    record_event(
        session,
        actor=ACTOR,
        action="rollout.gate_evaluated",
        target=f"deployment:{deployment.ref}",
        payload={
            "stage": stage,
            "passed": passed,
            "gates": {gate["id"]: gate["outcome"] for gate in gates},
            "rollback": [item["id"] for item in fired],
        },
        severity="INFO" if passed else "WARNING",
        idempotency_key=f"rollout:{deployment.ref}:{stage}:gate",
    )
    timeout = config.deployment.rollout.stage_approval.response_timeout_hours
    approvers = stage_approvers(session, config, deployment)
    if not approvers:
        raise ValueError(
            NO_APPROVER.format(
                stage=stage,
                ref=deployment.ref,
                roles=", ".join(config.deployment.rollout.stage_approval.roles),
            )
        )
    return {
        "stage": stage,
        "passed": passed,
        "gates": gates,
        "rollback": fired,
        "approval": {"users": approvers, "timeout_minutes": round(timeout * 60)},
    }


def gate_summary(gate: dict[str, Any]) -> str:
    """The gate as the approver reads it: one line per criterion."""
    lines = [
        f"- {item['id']} {item['text']}: **{item['outcome']}**: {item['summary']}"
        for item in gate["gates"]
    ]
    return "\n".join(lines)


def record_decision(
    session: Session,
    config: GovflowConfig,
    *,
    deployment_ref: str,
    stage: str,
    answer: Answer,
) -> Decision:
    """GATE-6 for the stage: what the approver chose, or hold when nobody answered. Advancing
    past a gate that did not pass is refused and recorded as a hold."""
    deployment = _deployment(session, deployment_ref)
    record = _started(session, deployment, stage)
    chosen = answer.chosen_options
    by = answer.responded_by
    comment = answer.params.get("comment", "")
    decision: Decision
    if ROLL_BACK in chosen:
        decision = "rollback"
    elif ADVANCE in chosen and record.status == "gate_passed":
        decision = "advance"
    else:
        decision = "hold"
    note = ""
    if ADVANCE in chosen and decision == "hold":
        note = "advance refused: the gate did not pass"
    elif by is None:
        note = "nobody answered within the response timeout"
    record.decided_by = by
    record.status = {"advance": "advanced", "hold": "held", "rollback": "rolled_back"}[decision]
    record.ended_at = record.ended_at or utcnow()
    record.gate = {**record.gate, "decision": decision, "comment": comment, "note": note}
    session.flush()
    record_event(
        session,
        actor=by or ACTOR,
        action="rollout.stage_decided",
        target=f"deployment:{deployment.ref}",
        payload={"stage": stage, "decision": decision, "comment": comment, "note": note},
        severity="INFO" if decision == "advance" else "WARNING",
        idempotency_key=f"rollout:{deployment.ref}:{stage}:decision",
    )
    if decision == "hold":
        _update_rollout(deployment, status="held", stage=stage)
        _notify(
            session,
            config,
            deployment,
            f"{stage}:held",
            f"*Rollout {deployment.ref} held at stage {stage}*"
            + (f": {note}" if note else f" by {by}")
            + ". Resume with a new govflow_rollout run from the next stage, or roll back.",
            severity="WARNING",
        )
    return decision


def deployed_traffic(session: Session, deployment_ref: str) -> DeployedTraffic:
    """What the version of ``deployment_ref`` serves, for its baseline: ``all`` for a
    deployment made outside govflow or whose rollout completed, ``rolled_back`` for one
    stopped (rolled back, blocked or rejected), else ``rolling_out``."""
    deployment = session.scalars(select(Deployment).where(Deployment.ref == deployment_ref)).first()
    if deployment is None or _rollout_details(deployment).get("status") == "completed":
        return "all"
    if deployment.status in procedure.STOPPED_STATUSES:
        return "rolled_back"
    return "rolling_out"


def report_failure(
    session: Session,
    config: GovflowConfig,
    *,
    deployment_ref: str,
    failed: list[str],
    dag_run_id: str,
) -> dict[str, Any] | None:
    """A rollout run that failed (``failed``: its failed steps) is recorded on the deployment
    and told to the deployments channel once per run: the new version keeps the traffic the
    run left it, and nothing watches the rollback criteria any more. None when no step
    failed or the rollout already ended."""
    deployment = _deployment(session, deployment_ref)
    details = _rollout_details(deployment)
    if not failed or details.get("status") in ("completed", "rolled_back"):
        return None
    state = routing.StoreTarget(session).current(deployment.model_id)
    share = state.splits["external"].candidate_share if state.candidate else 0.0
    stage = details.get("stage")
    _update_rollout(deployment, status="failed", failed_steps=failed, failed_run=dag_run_id)
    record_event(
        session,
        actor=ACTOR,
        action="rollout.failed",
        target=f"deployment:{deployment.ref}",
        payload={"failed_steps": failed, "dag_run_id": dag_run_id, "stage": stage},
        severity="CRITICAL",
        idempotency_key=f"rollout:{deployment.ref}:failed:{dag_run_id}",
    )
    resume = f"from_stage {stage}" if stage else "from its first stage"
    _notify(
        session,
        config,
        deployment,
        f"failed:{dag_run_id}",
        f"<!channel> *Rollout {deployment.ref} failed* at {', '.join(failed)}: "
        f"{deployment.model_id} {deployment.model_version} keeps {share:.1%} of external "
        f"traffic (stage {stage or 'none'}) and its rollback criteria are no longer watched. "
        f"Start govflow_rollout again with deployment_ref {deployment.ref} and {resume}, or "
        f"roll it back with govflow_rollback.",
        severity="CRITICAL",
    )
    return {"deployment_ref": deployment.ref, "failed_steps": failed, "stage": stage}


def complete(session: Session, config: GovflowConfig, *, deployment_ref: str) -> dict[str, Any]:
    """Promote the new version for every audience; the previous one is retired and the new
    version's baseline (made when the deployment was authorised) becomes the active one."""
    deployment = _deployment(session, deployment_ref)
    state = routing.StoreTarget(session).promote(
        deployment.model_id,
        actor=ACTOR,
        reason="rollout reached full",
        deployment_ref=deployment.ref,
    )
    final = config.deployment.rollout.stages[-1].name
    record = _stage_record(session, deployment, final)
    if record is not None and record.status == "running":
        record.status = "completed"
        record.ended_at = utcnow()
    previous = _rollout_details(deployment).get("previous_version")
    if previous and previous != deployment.model_version:
        registry.log_stage_once(
            session,
            model_id=deployment.model_id,
            version=previous,
            stage="retired",
            deployed_by=ACTOR,
            notes=f"replaced by {deployment.model_version} ({deployment.ref})",
            deployment_id=deployment.id,
        )
    _update_rollout(deployment, status="completed", stage=final, completed_at=utcnow())
    baseline = promote_deployment_baseline(
        session,
        model_id=deployment.model_id,
        version=deployment.model_version,
        deployment_ref=deployment.ref,
        actor=ACTOR,
    )
    reference = (
        f" Its baseline {baseline.version} is now the reference of monitoring."
        if baseline is not None
        else " Its baseline becomes the reference of monitoring once it is made."
    )
    record_event(
        session,
        actor=ACTOR,
        action="rollout.completed",
        target=f"deployment:{deployment.ref}",
        payload={"version": deployment.model_version, "revision": state.revision},
        idempotency_key=f"rollout:{deployment.ref}:completed",
    )
    _notify(
        session,
        config,
        deployment,
        "completed",
        f"*Rollout {deployment.ref} complete*: {deployment.model_id} "
        f"{deployment.model_version} serves all traffic (route revision {state.revision})."
        + reference,
    )
    return {
        "deployment_ref": deployment.ref,
        "revision": state.revision,
        "status": "completed",
        "baseline": None if baseline is None else baseline.version,
    }
