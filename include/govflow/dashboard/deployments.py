"""Issue 16, the Deployments page: runs of PROC-AI-DEPLOY-001 (seed 001 section 4) with
their phase, the requests still open, the readiness report, the rollout stages (seed 000
"Phased Rollout") and rollbacks, read from the governance store.

Which human requests are open is read from what the run has recorded, in the order
``govflow.deployment.workflow`` asks them: a request is open once the run has reached it
and until its step (or, for an approval, its role's decision) is recorded. The two forms
of a parallel pair (steps 1 and 2, 7 and 8, 17 and 18) are recorded together, so one of
them may already be answered in Airflow while it is still listed here; Airflow's
"Required actions" page of the run, which every request links to, is the authority.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.deployment import procedure
from govflow.store.schema import Deployment, DeploymentApproval, DeploymentStep, RolloutStage

DEPLOYMENT_DAG = "govflow_model_deployment"
MAX_DEPLOYMENTS = 100
MAX_ACTIVE_DEPLOYMENTS = 500

# Request key -> (its step, the step after which the run asks it). The approvals, the
# System Owner's go-live choice and the post-deployment updates are asked on conditions of
# their own (``_asked``).
REQUEST_STEPS: dict[str, tuple[int, int]] = {
    "deployment_plan": (1, 0),
    "risk_assessment": (2, 0),
    "attestations": (7, 6),
    "compliance_verification": (8, 6),
    "approvals": (10, 9),
    "go_live": (15, 15),
    "documentation_updates": (17, 16),
    "registration_updates": (18, 16),
    "closure": (20, 19),
}


@dataclass(frozen=True)
class OpenRequest:
    """A human request of a deployment run that has not been answered yet."""

    deployment_ref: str
    model_id: str
    key: str
    step: int
    role: str
    subject: str
    assignees: list[str]
    dag_id: str
    dag_run_id: str | None


@dataclass(frozen=True)
class StageRow:
    stage: str
    traffic_share: float
    status: str
    decided_by: str | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass
class DeploymentRow:
    ref: str
    model_id: str
    model_version: str
    deployment_type: str
    environment: str
    requested_by: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    phase: int | None
    step: int | None
    step_name: str | None
    step_status: str | None
    recommendation: str | None
    go_live: str | None
    reports: list[str]
    # The rendering put to the approvers, kept as they were shown it (the newest may differ).
    approvals_reports: list[str]
    stopped: str | None
    rollout: dict[str, Any]
    rollback: dict[str, Any] | None
    dag_run_id: str | None
    open_requests: list[OpenRequest] = field(default_factory=list)
    # Asked and never answered when the deployment stopped: no longer asked (issue 13 item 10).
    withdrawn_requests: list[OpenRequest] = field(default_factory=list)
    stages: list[StageRow] = field(default_factory=list)


def _active(deployment: Deployment) -> bool:
    return deployment.closed_at is None and deployment.status not in procedure.STOPPED_STATUSES


def _asked(
    config: GovflowConfig, deployment: Deployment, key: str, recorded: set[int], after: int
) -> bool:
    details = deployment.details
    if key == "approvals":
        return "approvals_requested_at" in details
    if key == "go_live":
        return True  # stored only when the run asks it (an AMBER decision)
    if key in ("documentation_updates", "registration_updates"):
        return "authorised_at" in details
    return all(
        number in recorded
        for number in range(1, after + 1)
        if procedure.step_runs(config, deployment, number)
    )


def open_requests(
    config: GovflowConfig,
    deployment: Deployment,
    recorded: set[int],
    decided_roles: set[str],
) -> list[OpenRequest]:
    """The requests of ``deployment`` its run has asked and nobody has answered yet
    (``recorded``: its recorded steps; ``decided_roles``: the roles whose approval is in)."""
    if not _active(deployment):
        return []
    return _unanswered(config, deployment, recorded, decided_roles)


def withdrawn_requests(
    config: GovflowConfig,
    deployment: Deployment,
    recorded: set[int],
    decided_roles: set[str],
) -> list[OpenRequest]:
    """The requests a stopped deployment had asked and nobody had answered: withdrawn when
    it stopped (its run skips them; an answer given after all is refused with the reason)."""
    if deployment.status not in (procedure.BLOCKED, procedure.REJECTED):
        return []  # a rolled-back deployment had every answer it asked for
    return _unanswered(config, deployment, recorded, decided_roles)


def _unanswered(
    config: GovflowConfig,
    deployment: Deployment,
    recorded: set[int],
    decided_roles: set[str],
) -> list[OpenRequest]:
    found = []
    for key, stored in deployment.details.get("requests", {}).items():
        if key not in REQUEST_STEPS:
            continue
        step, after = REQUEST_STEPS[key]
        # Step 15 is recorded before the go-live choice is asked: its answer is the choice.
        answered = "go_live_choice" in deployment.details if key == "go_live" else step in recorded
        if answered or not _asked(config, deployment, key, recorded, after):
            continue
        for request in stored:
            if key == "approvals" and request["role"] in decided_roles:
                continue
            found.append(
                OpenRequest(
                    deployment_ref=deployment.ref,
                    model_id=deployment.model_id,
                    key=key,
                    step=step,
                    role=request["role"],
                    subject=request["subject"],
                    assignees=[person["id"] for person in request["assignees"]],
                    dag_id=DEPLOYMENT_DAG,
                    dag_run_id=deployment.dag_run_id,
                )
            )
    return sorted(found, key=lambda r: (r.step, r.role))


def _by_deployment(session: Session, model: Any, ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    if ids:
        for row in session.scalars(select(model).where(model.deployment_id.in_(ids))):
            found[row.deployment_id].append(row)
    return found


def newest_reports(deployment: Deployment) -> list[str]:
    """The newest rendering of the readiness report, Markdown and HTML, relative to the data
    directory."""
    paths = [deployment.report_path, deployment.details.get("report_html_path")]
    return [str(p) for p in paths if p]


def approvals_reports(deployment: Deployment) -> list[str]:
    """The rendering of the readiness report the approvals were asked on."""
    return [str(r["path"]) for r in deployment.details.get("approvals_report", [])]


def recorded_reports(deployment: Deployment) -> list[str]:
    """Every rendering of the readiness report the deployment recorded, the newest first:
    an earlier one (the one its approvers were shown) is served by the path recorded."""
    kept = [str(r["path"]) for r in deployment.details.get("readiness_renderings", [])]
    return list(dict.fromkeys(newest_reports(deployment) + kept))


def deployment_rows(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str | None = None,
    active_only: bool = False,
    limit: int = MAX_DEPLOYMENTS,
) -> list[DeploymentRow]:
    """The newest ``limit`` deployments (of ``model_id``, or only those still in progress),
    newest first, in four queries whatever their number."""
    statement = select(Deployment).order_by(Deployment.created_at.desc(), Deployment.id.desc())
    if model_id is not None:
        statement = statement.where(Deployment.model_id == model_id)
    if active_only:
        statement = statement.where(
            Deployment.closed_at.is_(None), Deployment.status.not_in(procedure.STOPPED_STATUSES)
        )
    deployments: Sequence[Deployment] = session.scalars(statement.limit(limit)).all()
    ids = [d.id for d in deployments]
    # Steps as plain rows (no evidence, no ORM objects): the page needs only where each run is.
    steps: dict[int, list[Any]] = defaultdict(list)
    if ids:
        for step in session.execute(
            select(
                DeploymentStep.deployment_id,
                DeploymentStep.step,
                DeploymentStep.phase,
                DeploymentStep.name,
                DeploymentStep.status,
            ).where(DeploymentStep.deployment_id.in_(ids))
        ):
            steps[step.deployment_id].append(step)
    decisions = _by_deployment(session, DeploymentApproval, ids)
    stages = _by_deployment(session, RolloutStage, ids)
    rows = []
    for deployment in deployments:
        recorded = {s.step: s for s in steps[deployment.id]}
        decided = {d.role for d in decisions[deployment.id]}
        last = recorded[max(recorded)] if recorded else None
        rows.append(
            DeploymentRow(
                ref=deployment.ref,
                model_id=deployment.model_id,
                model_version=deployment.model_version,
                deployment_type=deployment.deployment_type,
                environment=deployment.environment,
                requested_by=deployment.requested_by,
                status=deployment.status,
                created_at=deployment.created_at,
                closed_at=deployment.closed_at,
                phase=None if last is None else last.phase,
                step=None if last is None else last.step,
                step_name=None if last is None else last.name,
                step_status=None if last is None else last.status,
                recommendation=deployment.recommendation,
                go_live=deployment.go_live,
                reports=newest_reports(deployment),
                approvals_reports=approvals_reports(deployment),
                stopped=procedure.stop_reason(deployment),
                rollout=dict(deployment.details.get("rollout", {})),
                rollback=deployment.details.get("rollback"),
                dag_run_id=deployment.dag_run_id,
                open_requests=open_requests(config, deployment, set(recorded), decided),
                withdrawn_requests=withdrawn_requests(config, deployment, set(recorded), decided),
                stages=[
                    StageRow(
                        s.stage, s.traffic_share, s.status, s.decided_by, s.started_at, s.ended_at
                    )
                    for s in sorted(
                        stages[deployment.id], key=lambda s: (s.started_at is None, s.id)
                    )
                ],
            )
        )
    return rows
