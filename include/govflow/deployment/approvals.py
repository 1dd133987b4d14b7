"""Seed 001 steps 10-11 and section 2.1, with seed 003's separation of duties: who approves a
deployment, and FORM-AI-DEPLOY-002, the record of their decisions.

The roles come from deployment.yaml ``approvals.required_by_tier`` for the model's risk tier
(seed 001 names the tiers High-, Limited- and Minimal-Risk; govflow's are high, medium and
low, see ``approvals.seed_risk_levels``). Each role's approval is one request assigned to
the people who may give it:

- never the model's owner (``owner_may_approve: false``) nor the person who requested the
  deployment (the run's triggering user);
- each person is assignee of at most one approval (``distinct_approvers: true``): the roles
  are first given one person each by a bipartite matching (roles in the tier's order,
  people in people.yaml's order, so the answer is always the same), then everyone left over
  joins the first of the roles they hold. Quinn, QA lead and member of the AI governance
  committee, thus approves as QA lead, the only one there is, and Gina for the committee.

When a role has nobody left, or no matching exists, the deployment stops before anyone is
asked, with the reason. A decision is Approve or Reject with a comment and, for an approval,
optional conditions (one per line); a request left unanswered past its timeout is decided by
its default, Reject (``on_timeout: reject``): nothing is deployed by silence. Any rejection
stops the deployment; a rejection by a role that may block (``blocking_roles``: the risk
manager and the compliance officer) is recorded as that role blocking it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.answers import Answer
from govflow.audit import STATE_SET_BY_HAND, query_events, record_event, run_target
from govflow.config import GovflowConfig
from govflow.config.people import one_role_each
from govflow.deployment.forms import FormRequest, people, role_title
from govflow.deployment.procedure import DEPLOYMENT_DAG
from govflow.store.schema import Deployment, DeploymentApproval
from govflow.store.types import utcnow

APPROVE = "Approve"
APPROVED = "approve"
REJECTED = "reject"

NO_ELIGIBLE_APPROVER = (
    "no one may give the {role} approval of {model_id}: {holders} "
    "(neither the model's owner nor the requester may approve)"
)
NO_DISTINCT_APPROVERS = (
    "the {roles} approvals of {model_id} can only go to {people} once the owner {owner} "
    "and the requester {requester} are left out, and one person approves once"
)
REJECTED_BY = "{role} {approver} rejected the deployment: {comment}"
BLOCKED_BY = "{role} {approver} blocked the deployment: {comment}"
TIMED_OUT = "the {role} approval was not given within {hours:g} h and counts as a rejection"
NO_COMMENT = "(no comment)"
BYPASSED = (
    "the {roles} approval{s} {were} marked done without an answer from anyone assigned to "
    "{them} ({their} task{s} {were} set to success by hand): refused as an approval bypass "
    "attempt"
)
BYPASS_ATTEMPT = "approval_bypass_attempt"
ACTOR_UNKNOWN = "unknown"
APPROVAL_TASK = "deployment_approval.approve_deployment[{index}]"
AIRFLOW_AUDIT_LOG = (
    "not known to the deployment: Airflow's audit log (Browse > Audit Log, event "
    "patch_task_instance of the task) names who set the task's state"
)


class ApprovalAssignmentError(ValueError):
    """The required approvals cannot be assigned without breaking separation of duties."""


@dataclass(frozen=True)
class ApprovalAssignment:
    role: str
    assignees: tuple[str, ...]


def _too_few_people(
    roles: Sequence[str], candidates: list[list[str]]
) -> tuple[list[str], list[str]]:
    """The smallest set of roles with fewer eligible people than roles (Hall's condition)."""
    for size in range(2, len(roles) + 1):
        for chosen in combinations(range(len(roles)), size):
            pool = list(dict.fromkeys(p for index in chosen for p in candidates[index]))
            if len(pool) < size:
                return [roles[index] for index in chosen], pool
    return list(roles), []


def assign_approvers(
    config: GovflowConfig, *, model_id: str, requested_by: str
) -> list[ApprovalAssignment]:
    """Who is asked for each approval the model's tier requires, in the tier's role order."""
    model = config.models.get(model_id)
    rules = config.deployment.approvals
    roles = config.deployment.approval_roles(model.risk_tier)
    excluded = {requested_by} | (set() if rules.owner_may_approve else {model.owner})
    candidates = [
        [user for user in config.people.holders(role) if user not in excluded] for role in roles
    ]
    for role, eligible in zip(roles, candidates, strict=True):
        if not eligible:
            holders = ", ".join(config.people.holders(role)) or "nobody holds the role"
            raise ApprovalAssignmentError(
                NO_ELIGIBLE_APPROVER.format(role=role, model_id=model_id, holders=holders)
            )
    if not rules.distinct_approvers:
        return [ApprovalAssignment(r, tuple(c)) for r, c in zip(roles, candidates, strict=True)]
    assigned = one_role_each(candidates)
    if assigned is None:
        short_roles, pool = _too_few_people(roles, candidates)
        raise ApprovalAssignmentError(
            NO_DISTINCT_APPROVERS.format(
                roles=" and ".join(short_roles),
                people=", ".join(pool),
                model_id=model_id,
                owner=model.owner,
                requester=requested_by,
            )
        )
    return [
        ApprovalAssignment(role, tuple(group)) for role, group in zip(roles, assigned, strict=True)
    ]


def timeout_hours(config: GovflowConfig, deployment_type: str) -> float:
    """Patches are expedited (seed 001 section 3.2): their requests wait less."""
    rules = config.deployment.approvals
    expedited = config.deployment.deployment_types[deployment_type].expedited  # type: ignore[index]
    return rules.expedited_response_timeout_hours if expedited else rules.response_timeout_hours


def approval_requests(
    config: GovflowConfig,
    deployment: Deployment,
    assignments: list[ApprovalAssignment],
    *,
    readiness_summary: str,
) -> list[FormRequest]:
    """One Approve/Reject request per required role, in the tier's order."""
    tier = str(deployment.details["risk_tier"])
    level = config.deployment.approvals.seed_risk_levels[tier]  # type: ignore[index]
    hours = timeout_hours(config, deployment.deployment_type)
    blocking = config.deployment.approvals.blocking_roles
    # Markdown joins single lines into one paragraph: the summary reads better as a list.
    summary = "\n".join(f"- {line}" for line in readiness_summary.splitlines())
    return [
        FormRequest(
            key=f"approval:{assignment.role}",
            role=assignment.role,
            subject=(
                f"{role_title(assignment.role)}: approve the deployment of "
                f"{deployment.model_id} {deployment.model_version} ({deployment.ref})"
            ),
            body=(
                f"FORM-AI-DEPLOY-002, {level} model: approval as **{role_title(assignment.role)}**"
                + (" (this role may block the deployment)" if assignment.role in blocking else "")
                + f".\n\nRequested by {deployment.requested_by}: {deployment.justification}\n\n"
                f"{summary}\n\nApprove or Reject, with a comment; add any conditions "
                f"of your approval, one per line. Unanswered after {hours:g} h, the request "
                "counts as a rejection."
            ),
            assignees=people(config, list(assignment.assignees)),
            response_timeout_hours=hours,
            check_every_minutes=config.deployment.approvals.withdrawal_check_minutes,
        )
        for assignment in assignments
    ]


def bypassed_requests(
    requests: list[FormRequest], answers: Sequence[Answer | None]
) -> list[tuple[int, FormRequest]]:
    """The requests (with their map index) that ended without anybody's answer: an approval
    task that finished with no answer of the HITL request (``None``) was not answered, it was
    set to success by hand. A shorter list than the requests leaves the rest unanswered."""
    return [
        (index, request)
        for index, request in enumerate(requests)
        if index >= len(answers) or answers[index] is None
    ]


def bypass_reason(bypassed: list[tuple[int, FormRequest]]) -> str:
    """Why the approvals are refused when some of them were bypassed."""
    titles = [role_title(request.role) for _, request in bypassed]
    roles = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
    many = len(titles) > 1
    return BYPASSED.format(
        roles=roles,
        s="s" if many else "",
        were="were" if many else "was",
        them="them" if many else "it",
        their="their" if many else "its",
    )


def record_bypass_attempt(
    session: Session, deployment: Deployment, bypassed: list[tuple[int, FormRequest]]
) -> str:
    """Audit the bypass (CRITICAL) and return its reason; the decisions are not recorded."""
    reason = bypass_reason(bypassed)
    changed_by = _set_by_hand(session, deployment, [index for index, _ in bypassed])
    record_event(
        session,
        actor=", ".join(changed_by) or ACTOR_UNKNOWN,
        action=BYPASS_ATTEMPT,
        target=f"deployment:{deployment.ref}",
        payload={
            "roles": [request.role for _, request in bypassed],
            "tasks": [APPROVAL_TASK.format(index=index) for index, _ in bypassed],
            "assignees": {
                request.role: [person.id for person in request.assignees] for _, request in bypassed
            },
            "changed_by": changed_by or AIRFLOW_AUDIT_LOG,
            "reason": reason,
        },
        severity="CRITICAL",
        idempotency_key=f"deployment.approval_bypass:{deployment.ref}",
    )
    return reason


def _set_by_hand(session: Session, deployment: Deployment, indexes: list[int]) -> list[str]:
    """Who set the bypassed approval tasks (or their group) to success through Airflow, as
    the api-server's guard recorded it; empty when it was done some other way (the
    metadata database, a CLI), for which Airflow's own log is the only witness."""
    if deployment.dag_run_id is None:
        return []
    target = run_target(DEPLOYMENT_DAG, deployment.dag_run_id)
    task_id = APPROVAL_TASK.split("[", 1)[0]
    return sorted(
        {
            event.actor
            for event in query_events(session, action=STATE_SET_BY_HAND, target=target)
            if event.payload.get("new_state") == "success"
            and (
                event.payload.get("group_id") == task_id.split(".", 1)[0]
                or (
                    event.payload.get("task_id") == task_id
                    and event.payload.get("map_index", -1) in (*indexes, -1)
                )
            )
        }
    )


def _conditions(answer: Answer) -> list[str]:
    return [line.strip() for line in answer.text("conditions").splitlines() if line.strip()]


def record_decisions(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    requests: list[FormRequest],
    answers: list[Answer],
) -> list[DeploymentApproval]:
    """Write FORM-AI-DEPLOY-002: one decision per role, with approver, time, option, comment
    and the rendering of the readiness report it was asked on (path and sha256 of each file)."""
    asked_on = list(deployment.details.get("approvals_report", []))
    decisions = []
    for request, answer in zip(requests, answers, strict=True):
        decision = APPROVED if answer.chosen_options == (APPROVE,) else REJECTED
        record = session.scalars(
            select(DeploymentApproval).where(
                DeploymentApproval.deployment_id == deployment.id,
                DeploymentApproval.role == request.role,
            )
        ).first()
        if record is None:
            record = DeploymentApproval(deployment_id=deployment.id, role=request.role)
            session.add(record)
        record.approver = answer.responded_by
        record.decision = decision
        record.comment = answer.text("comment")
        record.decided_at = answer.responded_at or utcnow()
        record.details = {
            "assignees": [person.id for person in request.assignees],
            "conditions": _conditions(answer) if decision == APPROVED else [],
            "option": answer.chosen_options[0] if answer.chosen_options else None,
            "timed_out": answer.responded_by is None,
            "response_timeout_hours": request.response_timeout_hours,
            "subject": request.subject,
            "readiness_report": asked_on,
        }
        session.flush()
        record_event(
            session,
            actor=answer.responded_by or "timeout",
            action=f"deployment.approval_{decision}",
            target=f"deployment:{deployment.ref}",
            payload={
                "role": request.role,
                "comment": record.comment,
                "readiness_report": asked_on,
            },
            severity="INFO" if decision == APPROVED else "WARNING",
            idempotency_key=f"deployment.approval:{deployment.ref}:{request.role}",
        )
        decisions.append(record)
    return decisions


def rejection_reason(config: GovflowConfig, decisions: list[DeploymentApproval]) -> str | None:
    """Why the decisions stop the deployment: blocks first, then any other rejection."""
    blocking = config.deployment.approvals.blocking_roles
    rejected = sorted(
        (d for d in decisions if d.decision == REJECTED),
        key=lambda d: d.role not in blocking,
    )
    if not rejected:
        return None
    first = rejected[0]
    if first.approver is None:
        hours = float(first.details.get("response_timeout_hours", 0))
        return TIMED_OUT.format(role=role_title(first.role), hours=hours)
    template = BLOCKED_BY if first.role in blocking else REJECTED_BY
    return template.format(
        role=role_title(first.role), approver=first.approver, comment=first.comment or NO_COMMENT
    )


def decision_rows(session: Session, deployment: Deployment) -> list[dict[str, Any]]:
    """FORM-AI-DEPLOY-002 as rows, in decision order."""
    rows = session.scalars(
        select(DeploymentApproval)
        .where(DeploymentApproval.deployment_id == deployment.id)
        .order_by(DeploymentApproval.decided_at, DeploymentApproval.id)
    ).all()
    return [
        {
            "role": row.role,
            "approver": row.approver,
            "decision": row.decision,
            "decided_at": row.decided_at.isoformat(),
            "comment": row.comment,
            "conditions": list(row.details.get("conditions", [])),
            "assignees": list(row.details.get("assignees", [])),
            "readiness_report": list(row.details.get("readiness_report", [])),
        }
        for row in rows
    ]
