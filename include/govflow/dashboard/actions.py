"""Issue 16, "My actions": what waits for the logged-in person, from the governance store.

Airflow's "Required actions" list shows everyone every pending request with no column
saying who must answer; this page names, for one people.yaml person:
- the open requests of deployment runs (forms, attestations, approvals, the go-live
  choice) that assign them (``dashboard.deployments``), and the rollout stages whose gate
  waits for their decision (GATE-6: the model's owner and deployment.yaml's stage approvers);
- the incidents still waiting for an acknowledgement that they respond to: the primary
  responders of the incident's escalation path (seed 004 section 3.2, as the rotation
  stood when it opened, or reopened: a new episode) and whoever an escalation assigned it
  to, due by the incident class's response time from that (re)opening;
- the risk acceptances they review (seed 004 section 12): requests waiting for a holder of
  ``exceptions.approved_by`` who did not file them, and acceptances they approved or
  requested that expire within REVIEW_BEFORE_EXPIRY.
Each links to the Airflow run whose required action answers it, when the store knows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.dashboard.deployments import MAX_ACTIVE_DEPLOYMENTS, deployment_rows
from govflow.incidents.lifecycle import (
    OPEN,
    RESPONSE_DAG_ID,
    acknowledgement_due,
    covering_response_run,
    responders,
    sla_clock_start,
)
from govflow.incidents.risk_acceptances import APPROVED, REQUESTED, request_key_of
from govflow.rollout.stages import stage_approvers
from govflow.store.schema import Deployment, Incident, RiskAcceptance, RolloutStage
from govflow.store.types import utcnow

ActionKind = Literal[
    "deployment_request",
    "rollout_stage_decision",
    "incident_acknowledgement",
    "risk_acceptance_review",
]
RISK_ACCEPTANCE_DAG = "govflow_risk_acceptance"
REVIEW_BEFORE_EXPIRY = timedelta(days=7)
MAX_ROWS = 500


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    ref: str
    model_id: str | None
    what: str
    due: datetime | None
    dag_id: str | None
    dag_run_id: str | None


def _deployment_actions(session: Session, config: GovflowConfig, user: str) -> list[Action]:
    rows = deployment_rows(session, config, active_only=True, limit=MAX_ACTIVE_DEPLOYMENTS)
    return [
        Action(
            "deployment_request",
            request.deployment_ref,
            request.model_id,
            f"step {request.step}: {request.subject}",
            None,
            request.dag_id,
            request.dag_run_id,
        )
        for row in rows
        for request in row.open_requests
        if user in request.assignees
    ]


AWAITING_DECISION = ("gate_passed", "gate_failed")
ROLLOUT_DAG = "govflow_rollout"


def _stage_actions(session: Session, config: GovflowConfig, user: str) -> list[Action]:
    """Rollout stages whose gate is decided and wait for the stakeholder's decision (GATE-6).
    The store does not keep the rollout's run id: the link is Airflow's Required actions."""
    waiting = session.execute(
        select(RolloutStage, Deployment)
        .join(Deployment, Deployment.id == RolloutStage.deployment_id)
        .where(RolloutStage.status.in_(AWAITING_DECISION), Deployment.closed_at.is_(None))
        .order_by(RolloutStage.id)
        .limit(MAX_ROWS)
    ).all()
    return [
        Action(
            "rollout_stage_decision",
            deployment.ref,
            deployment.model_id,
            f"rollout stage {stage.stage} ({stage.status.replace('_', ' ')}): advance, hold "
            "or roll back",
            None,
            ROLLOUT_DAG,
            None,
        )
        for stage, deployment in waiting
        if user in (a["id"] for a in stage_approvers(session, config, deployment))
    ]


def _incident_actions(session: Session, config: GovflowConfig, user: str) -> list[Action]:
    waiting = session.scalars(
        select(Incident)
        .where(Incident.status == OPEN, Incident.acknowledged_at.is_(None))
        .order_by(Incident.opened_at)
        .limit(MAX_ROWS)
    )
    found = []
    for incident in waiting:
        # The (re)opening: a reopened incident is a new episode, acknowledged by the on-call
        # of its reopening within the acknowledgement SLA from then, as the sweeper and the
        # response run count it (the class's longer response time is the Incident
        # Timeline's "respond by", not the time to acknowledge).
        opened = sla_clock_start(incident)
        plan = responders(config, incident, opened)
        if user not in plan.primary and user != incident.assigned_to:
            continue
        run_id = covering_response_run(incident)
        found.append(
            Action(
                "incident_acknowledgement",
                incident.ref,
                incident.model_id,
                f"acknowledge {incident.priority} {incident.severity}: {incident.title}",
                acknowledgement_due(config, incident),
                None if run_id is None else RESPONSE_DAG_ID,
                run_id,
            )
        )
    return found


def _risk_acceptance_run(acceptance: RiskAcceptance) -> str | None:
    # The DAG files a request under "<dag_id>/<run_id>" (govflow_risk_acceptance RUN_KEY).
    dag_id, _, run_id = (request_key_of(acceptance) or "").partition("/")
    return run_id if dag_id == RISK_ACCEPTANCE_DAG and run_id else None


def _risk_actions(
    session: Session, config: GovflowConfig, user: str, now: datetime
) -> list[Action]:
    reviewer = config.policy.exceptions.approved_by in config.people.user(user).roles
    statement = (
        select(RiskAcceptance)
        .where(
            (RiskAcceptance.status == REQUESTED)
            | (
                (RiskAcceptance.status == APPROVED)
                & (RiskAcceptance.suppression_until <= now + REVIEW_BEFORE_EXPIRY)
            )
        )
        .order_by(RiskAcceptance.created_at)
        .limit(MAX_ROWS)
    )
    found = []
    for acceptance in session.scalars(statement):
        subject = f"{acceptance.model_id} {acceptance.metric} ({acceptance.days} days)"
        if acceptance.status == REQUESTED:
            if not reviewer or acceptance.requested_by == user:
                continue
            what, due = f"review risk acceptance {subject}: {acceptance.rationale}", None
        else:
            if user not in (acceptance.approved_by, acceptance.requested_by):
                continue
            what = f"risk acceptance {subject} expires: review the condition"
            due = acceptance.suppression_until
        run_id = _risk_acceptance_run(acceptance)
        found.append(
            Action(
                "risk_acceptance_review",
                f"RA-{acceptance.id}",
                acceptance.model_id,
                what,
                due,
                None if run_id is None else RISK_ACCEPTANCE_DAG,
                run_id,
            )
        )
    return found


def my_actions(
    session: Session, config: GovflowConfig, user: str, *, now: datetime | None = None
) -> list[Action]:
    """Everything waiting for ``user`` (a people.yaml id): soonest due first, then the rest
    in the order they were asked."""
    moment = now or utcnow()
    found = (
        _deployment_actions(session, config, user)
        + _stage_actions(session, config, user)
        + _incident_actions(session, config, user)
        + _risk_actions(session, config, user, moment)
    )
    return sorted(found, key=lambda a: (a.due is None, a.due or moment))
