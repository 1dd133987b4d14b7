"""Seed 001 (PROC-AI-DEPLOY-001) sections 3.2, 4 and 8: the deployment record and its steps.

One run of the procedure is one ``Deployment`` row (REC-AI-DEPLOY-001..004, kept for the
seed's 10 years through ``retain_until``), keyed by the Airflow run that carries it out.
Each of the twenty steps it goes through is one ``DeploymentStep`` with its evidence,
written once per (deployment, step): a retried task rewrites its step instead of adding
another.

A deployment is ``in_progress`` until it stops: ``blocked`` (a gate failed: an automated
check, a missing attestation, a form left incomplete), ``rejected`` (an approver said no),
``authorised`` (authorised to roll out: the rollout takes over) or ``rolled_back`` (the
go-live decision was RED, or the System Owner chose to roll back on AMBER). Whatever
stopped it is kept in ``details["stopped"]`` with the step, the reason and who decided.
A model has one rollout at a time and a version one deployment at a time (``live_state``);
a request for another stops at its start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import jsonable, record_event
from govflow.config import GovflowConfig, Step
from govflow.config.deployment import DeploymentKind
from govflow.registry import production_version
from govflow.store.schema import Deployment, DeploymentStep, Model, ModelVersion
from govflow.store.types import utcnow

IN_PROGRESS = "in_progress"
BLOCKED = "blocked"
REJECTED = "rejected"
AUTHORISED = "authorised"
ROLLED_BACK = "rolled_back"
STOPPED_STATUSES = (BLOCKED, REJECTED, ROLLED_BACK)

StepStatus = Literal["passed", "failed", "skipped", "recorded", "scheduled", "handed_over"]

UNKNOWN_DEPLOYMENT = "no deployment {key!r}"
# The DAG that runs the procedure, one deployment per run.
DEPLOYMENT_DAG = "govflow_model_deployment"
NO_DEPLOYMENT_FOR_RUN = "no deployment record for Airflow run {run_id!r}"
NOT_REGISTERED = "{model_id} {version} is not in the model registry"
NO_REQUESTER = "the run names no triggering user, so nobody requested the deployment"
INITIAL_HAS_PRODUCTION = (
    "{model_id} already has version {previous} in production: an initial deployment is the "
    "first production release"
)
NEEDS_PRODUCTION = (
    "a {kind} deployment replaces the version in production, and {model_id} has none: "
    "deploy it as initial"
)
ALREADY_IN_PRODUCTION = "{model_id} {version} is the version in production already"
ROLLBACK_PROCEDURE = (
    "a rollback deployment follows the rollback procedure of seed 001 section 5, not the "
    "twenty steps: use the rollback DAG"
)
DEPRECATED_MODEL = "{model_id} is deprecated: {reason}"
LIVE_DEPLOYMENT = "{model_id} has deployment {ref} ({version}) {state}: {way}"
# How the other deployment ends, by where it is: its run closes it blocked once marked failed
# (``finalise`` is a teardown); a candidate holding traffic leaves it by its rollout or a
# rollback.
STOP_IN_PROCEDURE = (
    "finish it first, or stop it by marking its govflow_model_deployment run {run_id} failed"
)
STOP_ROLLOUT = "let its rollout complete first, or roll it back with govflow_rollback"
# The rollout statuses (rollout.stages, rollout.rollback) after which the candidate holds no
# traffic of its own any more: promoted for everybody, or the previous version restored.
ROLLOUT_ENDED = ("completed", "rolled_back")
ROLLOUT_STATE = {
    None: "authorised to roll out",
    "rolling_out": "rolling out",
    "held": "rolling out (held)",
    "failed": "rolling out (failed)",
}
ACTOR = "govflow-deployment"


class DeploymentStopped(Exception):
    """A gate stopped the deployment; the reason is already recorded on it."""


@dataclass(frozen=True)
class DeploymentRequest:
    """The typed Params of a deployment run, with who triggered it."""

    model_id: str
    version: str
    deployment_type: DeploymentKind
    environment: str
    justification: str
    requested_by: str | None
    dag_run_id: str


def retention_years(config: GovflowConfig) -> int:
    """Seed 001 section 8.1: every deployment record is kept for its longest retention."""
    return max(record.retention_years for record in config.deployment.records)


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def is_registered(session: Session, request: DeploymentRequest) -> bool:
    """Whether the model registry has the version ``request`` deploys."""
    registered = session.scalars(
        select(ModelVersion.id).where(
            ModelVersion.model_id == request.model_id, ModelVersion.version == request.version
        )
    ).first()
    return registered is not None


def live_state(deployment: Deployment) -> str | None:
    """How ``deployment`` is still changing its model, or None once it no longer is.

    Live is ``in_progress`` and not closed (the run is still asking, checking, approving),
    or ``authorised`` with a rollout that has not ended (not started yet, rolling out, held
    at a stage, or failed): its candidate holds traffic, or is about to, until the rollout
    completes or is rolled back. A deployment blocked, rejected or rolled back, or whose
    rollout completed or was rolled back, is over.
    """
    if deployment.status == IN_PROGRESS and deployment.closed_at is None:
        return "in progress"
    if deployment.status == AUTHORISED:
        rollout = deployment.details.get("rollout", {}).get("status")
        if rollout not in ROLLOUT_ENDED:
            return ROLLOUT_STATE.get(rollout, "rolling out")
    return None


def live_deployment_problems(session: Session, request: DeploymentRequest) -> list[str]:
    """One rollout of a model at a time, one deployment of a version at a time: a model
    whose authorised deployment has not finished rolling out (``live_state``) takes no
    other deployment of any version (the routing would refuse the second rollout anyway,
    after its approvers had been asked for nothing); a version in the procedure
    (``in_progress``) takes no second deployment of itself. Other versions may go through
    the procedure side by side (candidates approved or rejected in parallel): only one of
    them rolls out at a time. The run's own record, which a retried task finds again by its
    run id, is not another."""
    others = session.scalars(
        select(Deployment)
        .where(
            Deployment.model_id == request.model_id,
            Deployment.dag_run_id != request.dag_run_id,
            Deployment.status.in_((IN_PROGRESS, AUTHORISED)),
        )
        .order_by(Deployment.id)
    ).all()
    problems = []
    for other in others:
        state = live_state(other)
        in_procedure = other.status == IN_PROGRESS
        if state is not None and not (in_procedure and other.model_version != request.version):
            problems.append(
                LIVE_DEPLOYMENT.format(
                    model_id=other.model_id,
                    ref=other.ref,
                    version=other.model_version,
                    state=state,
                    way=STOP_IN_PROCEDURE.format(run_id=other.dag_run_id)
                    if in_procedure
                    else STOP_ROLLOUT,
                )
            )
    return problems


def request_problems(session: Session, request: DeploymentRequest) -> list[str]:
    """Why a request cannot start the procedure (empty when it can).

    A ``rollback`` request is refused for the rollback procedure alone, never for the live
    deployment it would roll back: ``govflow_rollback`` restores the previous version while
    a rollout is live, and the refusal must send the requester there.
    """
    problems = []
    if not request.requested_by:
        problems.append(NO_REQUESTER)
    if request.deployment_type == "rollback":
        problems.append(ROLLBACK_PROCEDURE)
    # Held until the caller's transaction ends, so that two requests for one model started
    # at the same instant are checked one after the other: the second sees the record the
    # first opens (SQLite's BEGIN IMMEDIATE serialises them already; Postgres needs the lock).
    model = session.get(Model, request.model_id, with_for_update=True)
    if model is not None and model.status == "deprecated":
        problems.append(
            DEPRECATED_MODEL.format(model_id=model.id, reason=model.deprecation_reason or "")
        )
    if not is_registered(session, request):
        problems.append(NOT_REGISTERED.format(model_id=request.model_id, version=request.version))
    previous = production_version(session, request.model_id, excluding=request.version)
    current = production_version(session, request.model_id, excluding="")
    if request.deployment_type == "initial" and previous is not None:
        problems.append(INITIAL_HAS_PRODUCTION.format(model_id=request.model_id, previous=previous))
    if request.deployment_type in ("major", "minor", "patch") and previous is None:
        if current == request.version:
            problems.append(
                ALREADY_IN_PRODUCTION.format(model_id=request.model_id, version=request.version)
            )
        else:
            problems.append(
                NEEDS_PRODUCTION.format(kind=request.deployment_type, model_id=request.model_id)
            )
    if request.deployment_type != "rollback":
        problems.extend(live_deployment_problems(session, request))
    return problems


def open_deployment(
    session: Session, config: GovflowConfig, request: DeploymentRequest
) -> tuple[Deployment, bool]:
    """The deployment record of ``request.dag_run_id``, created on the first call.

    Returns the record and whether this call created it.
    """
    existing = session.scalars(
        select(Deployment).where(Deployment.dag_run_id == request.dag_run_id)
    ).first()
    if existing is not None:
        return existing, False
    now = utcnow()
    deployment = Deployment(
        ref=f"DEP-{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}",
        dag_run_id=request.dag_run_id,
        model_id=request.model_id,
        model_version=request.version,
        deployment_type=request.deployment_type,
        environment=request.environment,
        justification=request.justification,
        requested_by=request.requested_by or "",
        status=IN_PROGRESS,
        details={
            "risk_tier": config.models.get(request.model_id).risk_tier,
            "previous_version": production_version(
                session, request.model_id, excluding=request.version
            ),
        },
        created_at=now,
        retain_until=_years_later(now, retention_years(config)),
    )
    session.add(deployment)
    session.flush()
    record_event(
        session,
        actor=deployment.requested_by or ACTOR,
        action="deployment.requested",
        target=f"deployment:{deployment.ref}",
        payload={
            "model_id": request.model_id,
            "version": request.version,
            "type": request.deployment_type,
            "environment": request.environment,
            "justification": request.justification,
            "dag_run_id": request.dag_run_id,
        },
        idempotency_key=f"deployment.requested:{request.dag_run_id}",
    )
    return deployment, True


class UnknownDeployment(LookupError):
    """No deployment has the ref, id or run id asked for."""


def find_deployment(session: Session, key: str) -> Deployment:
    """A deployment by its ref (DEP-..., in any case: every ref is written in capitals), its
    numeric id or its Airflow run id (as it is written: Airflow's ids tell case)."""
    ref = key.upper() if key.isascii() else key
    query = select(Deployment).where(
        (Deployment.ref == ref) | (Deployment.dag_run_id == key)
        if not key.isdigit()
        else Deployment.id == int(key)
    )
    found = session.scalars(query).first()
    if found is None:
        raise UnknownDeployment(UNKNOWN_DEPLOYMENT.format(key=key))
    return found


class NoDeploymentForRun(LookupError):
    """The Airflow run recorded no deployment (its request was refused before one was)."""


def deployment_of_run(session: Session, run_id: str) -> Deployment:
    found = session.scalars(select(Deployment).where(Deployment.dag_run_id == run_id)).first()
    if found is None:
        raise NoDeploymentForRun(NO_DEPLOYMENT_FOR_RUN.format(run_id=run_id))
    return found


def model_of(session: Session, deployment: Deployment) -> Model:
    """The registered model a deployment deploys."""
    model = session.get(Model, deployment.model_id)
    assert model is not None, "a deployment's model is registered (foreign key)"
    return model


def risk_tier(deployment: Deployment) -> str:
    return str(deployment.details["risk_tier"])


def previous_version(deployment: Deployment) -> str | None:
    value = deployment.details.get("previous_version")
    return None if value is None else str(value)


def update_details(deployment: Deployment, **changes: Any) -> None:
    """Replace keys of the JSON ``details`` (reassigned, so the ORM sees the change)."""
    deployment.details = {**deployment.details, **jsonable(changes)}


def step_runs(config: GovflowConfig, deployment: Deployment, number: int) -> bool:
    """Whether step ``number`` belongs to this deployment's type and risk tier."""
    kind: DeploymentKind = deployment.deployment_type  # type: ignore[assignment]
    planned = config.deployment.steps_for(kind, risk_tier(deployment))  # type: ignore[arg-type]
    return any(step.number == number for step in planned)


def phase_of(config: GovflowConfig, number: int) -> int:
    for phase in config.deployment.phases:
        if any(step.number == number for step in phase.steps):
            return phase.number
    raise KeyError(f"no step {number} in deployment.yaml")


def record_step(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    number: int,
    *,
    status: StepStatus,
    actor: str,
    evidence: dict[str, Any],
) -> DeploymentStep:
    """Write step ``number`` of ``deployment`` (again, if a retried task runs it twice)."""
    step: Step = config.deployment.step(number)
    record = session.scalars(
        select(DeploymentStep).where(
            DeploymentStep.deployment_id == deployment.id, DeploymentStep.step == number
        )
    ).first()
    if record is None:
        record = DeploymentStep(deployment_id=deployment.id, step=number)
        session.add(record)
    record.phase = phase_of(config, number)
    record.name = step.name
    record.status = status
    record.actor = actor
    record.evidence = jsonable(evidence)
    record.completed_at = utcnow()
    session.flush()
    record_event(
        session,
        actor=actor,
        action="deployment.step_recorded",
        target=f"deployment:{deployment.ref}",
        payload={"step": number, "name": step.name, "status": status},
        idempotency_key=f"deployment.step:{deployment.ref}:{number}:{status}",
    )
    return record


def recorded_steps(session: Session, deployment: Deployment) -> dict[int, DeploymentStep]:
    rows = session.scalars(
        select(DeploymentStep)
        .where(DeploymentStep.deployment_id == deployment.id)
        .order_by(DeploymentStep.step)
    ).all()
    return {row.step: row for row in rows}


def stop_deployment(
    session: Session,
    deployment: Deployment,
    *,
    status: str,
    step: int | None,
    reason: str,
    decided_by: str,
) -> None:
    """Record why the deployment stops here; the first stop is the one kept."""
    if deployment.status in STOPPED_STATUSES:
        return
    deployment.status = status
    update_details(
        deployment,
        stopped={"status": status, "step": step, "reason": reason, "decided_by": decided_by},
    )
    record_event(
        session,
        actor=decided_by,
        action=f"deployment.{status}",
        target=f"deployment:{deployment.ref}",
        payload={"step": step, "reason": reason},
        severity="WARNING",
        idempotency_key=f"deployment.stopped:{deployment.ref}",
    )


def stop_reason(deployment: Deployment) -> str | None:
    stopped = deployment.details.get("stopped")
    return None if stopped is None else str(stopped["reason"])
