"""Seed 001 section 5 "Rollback Procedures", run by ``govflow_rollback``.

Step 1 "Rollback Decision": the decision is recorded with its reason and source (REC-AI-
DEPLOY-004). A rollout criterion (seed 000 "Immediate rollback if") or the go-live RED
verdict has decided already; a manual request needs the System Owner's approval (5.2 step
1) unless the System Owner asked, and so does a request from an incident responder.
Step 2 "Execute Rollback": the rollout is halted, the previous version and its configuration
are restored through the deployment target, and the restore is verified: the routing table
no longer routes the new version and every live gateway serves the restored revision.
Step 3 "Post-Rollback": stakeholders are notified, the reason is documented and a root-cause
incident is opened (seed 001 5.2 step 3 "Initiate root cause analysis").

Each function is idempotent per deployment, so a retried task or a second trigger for the
same deployment restores once, notifies once and opens one incident.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow import registry
from govflow.alerts.outbox import enqueue_alert
from govflow.answers import Answer
from govflow.audit import record_event
from govflow.baselines.management import (
    restore_version_baseline,
    withdraw_deployment_baseline,
)
from govflow.config import GovflowConfig
from govflow.deployment import procedure
from govflow.incidents import lifecycle as incidents
from govflow.rollout import routing
from govflow.store.schema import Deployment, RolloutStage
from govflow.store.types import utcnow

ACTOR = "govflow-rollback"
SLACK_KIND = "rollback_notice"
Source = Literal["manual", "rollout", "go_live", "incident"]
SOURCES: tuple[Source, ...] = get_args(Source)
# Where the decision was already taken by a rule or a person with the authority.
DECIDED_SOURCES = ("rollout", "go_live")
FAIRNESS_CRITERIA = ("RBC-1",)

REASON_REQUIRED = "a rollback needs a reason"
UNKNOWN_SOURCE = "unknown rollback source {source!r}; sources are {sources}"
NOTHING_TO_ROLL_BACK = "{model_id} has no deployment in its routing table to roll back"
WRONG_MODEL = "{ref} deploys {actual}, not {model_id}"
NOT_RESTORED = "{model_id} still routes {version} after the restore (revision {revision})"
# What a rollback does to the traffic, said to whoever approves it.
RESTORES = "Rolling back {ref} restores {versions} for every customer (route revision {revision})."
WITHDRAWS = (
    "Rolling back {ref} withdraws {model_id}: it had no version in production before, so no "
    "version will serve it (its fallback rule answers)."
)
NO_ROUTE_CHANGE = (
    "{ref} never changed the route: rolling it back moves no traffic; it records the decision "
    "and opens the root-cause incident."
)


class RollbackError(ValueError):
    """A rollback request that cannot be carried out as asked."""


def _deployment_to_roll_back(
    session: Session, model_id: str, deployment_ref: str | None
) -> Deployment:
    if deployment_ref:
        deployment = procedure.find_deployment(session, deployment_ref)
    else:
        route = routing.StoreTarget(session).current(model_id)
        if route.deployment_ref is None:
            raise RollbackError(NOTHING_TO_ROLL_BACK.format(model_id=model_id))
        deployment = procedure.find_deployment(session, route.deployment_ref)
    if deployment.model_id != model_id:
        raise RollbackError(
            WRONG_MODEL.format(ref=deployment.ref, actual=deployment.model_id, model_id=model_id)
        )
    return deployment


def decide(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str,
    reason: str,
    source: str,
    requested_by: str,
    deployment_ref: str | None = None,
    criteria: list[dict[str, Any]] | None = None,
    incident_ref: str | None = None,
) -> dict[str, Any]:
    """Step 1: record the decision; say whether the System Owner must still approve it."""
    if not reason.strip():
        raise RollbackError(REASON_REQUIRED)
    if source not in SOURCES:
        raise RollbackError(UNKNOWN_SOURCE.format(source=source, sources=", ".join(SOURCES)))
    deployment = _deployment_to_roll_back(session, model_id, deployment_ref)
    # A deployment rolled back already is decided again as it was (a retried or second
    # trigger changes nothing, asks nobody); one another deployment followed is refused.
    done = deployment.details.get("rollback_executed_at")
    later = routing.later_deployment(session, deployment.model_id, deployment.ref)
    if later is not None and done is None:
        raise RollbackError(
            routing.SUPERSEDED.format(
                deployment_ref=deployment.ref, model_id=deployment.model_id, later=later
            )
        )
    owner = procedure.model_of(session, deployment).owner
    needs_approval = source not in DECIDED_SOURCES and requested_by != owner and done is None
    existing = deployment.details.get("rollback", {})
    decision = {
        **existing,
        "decision": existing.get("decision") or reason,
        "source": existing.get("source") or source,
        "requested_by": existing.get("requested_by") or requested_by,
        "requested_at": existing.get("requested_at") or utcnow().isoformat(),
        "criteria": existing.get("criteria") or [c.get("id") for c in criteria or []],
        "criteria_evidence": existing.get("criteria_evidence") or criteria or [],
        "incident_ref": existing.get("incident_ref") or incident_ref,
        "process": [stage.name for stage in config.deployment.rollback.process],
    }
    procedure.update_details(deployment, rollback=decision)
    record_event(
        session,
        actor=requested_by,
        action="rollback.requested",
        target=f"deployment:{deployment.ref}",
        payload={"reason": reason, "source": source, "criteria": decision["criteria"]},
        severity="WARNING",
        idempotency_key=f"rollback:{deployment.ref}:requested",
    )
    timeout = config.deployment.approvals.expedited_response_timeout_hours
    return {
        "deployment_ref": deployment.ref,
        "model_id": deployment.model_id,
        "version": deployment.model_version,
        "reason": decision["decision"],
        "consequence": _consequence(session, deployment),
        "rolled_back_at": done,
        "needs_approval": needs_approval,
        "approval": {
            "users": [{"id": owner, "name": config.people.user(owner).name}],
            "timeout_minutes": round(timeout * 60),
        },
    }


def _consequence(session: Session, deployment: Deployment) -> str:
    """What rolling ``deployment`` back does to the traffic, as its approver reads it."""
    before = routing.route_before(session, deployment.model_id, deployment.ref)
    if before is None:
        return NO_ROUTE_CHANGE.format(ref=deployment.ref)
    restored = sorted({split["active"] for split in before.splits.values() if split["active"]})
    if not restored:
        return WITHDRAWS.format(ref=deployment.ref, model_id=deployment.model_id)
    return RESTORES.format(
        ref=deployment.ref, versions=", ".join(restored), revision=before.revision
    )


def record_approval(session: Session, *, deployment_ref: str, answer: Answer) -> bool:
    """The System Owner's answer to a manual rollback; silence is no approval."""
    deployment = procedure.find_deployment(session, deployment_ref)
    chosen = list(answer.chosen_options)
    by = answer.responded_by
    approved = "Approve rollback" in chosen and by is not None
    rollback = dict(deployment.details.get("rollback", {}))
    rollback["approval"] = {"approved": approved, "by": by, "chosen": chosen}
    procedure.update_details(deployment, rollback=rollback)
    record_event(
        session,
        actor=by or ACTOR,
        action="rollback.approved" if approved else "rollback.not_approved",
        target=f"deployment:{deployment.ref}",
        payload={"chosen": chosen},
        severity="WARNING",
        idempotency_key=f"rollback:{deployment.ref}:approval",
    )
    return approved


def _log_stage_once(
    session: Session, deployment: Deployment, version: str, stage: str, notes: str
) -> None:
    registry.log_stage_once(
        session,
        model_id=deployment.model_id,
        version=version,
        stage=stage,
        deployed_by=ACTOR,
        notes=notes,
        deployment_id=deployment.id,
    )


def execute(session: Session, *, deployment_ref: str, actor: str = ACTOR) -> dict[str, Any]:
    """Step 2: halt the rollout and restore the previous version and configuration. A
    deployment rolled back already returns what its rollback did, changing nothing: the
    route may have moved on since (another deployment), and restoring is done once."""
    deployment = procedure.find_deployment(session, deployment_ref)
    if "rollback_executed" in deployment.details:
        return dict(deployment.details["rollback_executed"])
    reason = deployment.details.get("rollback", {}).get("decision", "rollback")
    halted = []
    for stage in session.scalars(
        select(RolloutStage).where(RolloutStage.deployment_id == deployment.id)
    ):
        if stage.status in ("running", "gate_passed", "gate_failed", "advanced"):
            stage.status = "rolled_back"
            stage.ended_at = stage.ended_at or utcnow()
            halted.append(stage.stage)
    state = routing.StoreTarget(session).restore_previous(
        deployment.model_id, deployment_ref=deployment.ref, actor=actor, reason=reason
    )
    if state.deployment_ref == deployment.ref and deployment.model_version in state.versions:
        raise RollbackError(
            NOT_RESTORED.format(
                model_id=deployment.model_id,
                version=deployment.model_version,
                revision=state.revision,
            )
        )
    # None after an initial deployment: the model is withdrawn, no version serves.
    restored = state.splits["external"].active
    notes = f"rolled back ({deployment.ref}): {reason}"
    _log_stage_once(session, deployment, deployment.model_version, "retired", notes)
    if restored is not None and deployment.details.get("rollout", {}).get("status") == "completed":
        _log_stage_once(session, deployment, restored, "production", notes)
        baseline = restore_version_baseline(
            session,
            model_id=deployment.model_id,
            version=restored,
            deployment_ref=deployment.ref,
            actor=actor,
        )
    else:
        # The candidate's baseline never became the reference; it never will.
        withdraw_deployment_baseline(
            session,
            model_id=deployment.model_id,
            version=deployment.model_version,
            deployment_ref=deployment.ref,
            actor=actor,
        )
        baseline = None
    deployment.status = procedure.ROLLED_BACK
    rollout = {**deployment.details.get("rollout", {}), "status": "rolled_back"}
    executed = {
        "deployment_ref": deployment.ref,
        "model_id": deployment.model_id,
        "restored_version": restored,
        "revision": state.revision,
        "halted_stages": halted,
        "baseline": None if baseline is None else baseline.version,
    }
    procedure.update_details(
        deployment,
        rollout=rollout,
        rollback_executed_at=utcnow().isoformat(),
        rollback_executed=executed,
    )
    record_event(
        session,
        actor=actor,
        action="rollback.executed",
        target=f"deployment:{deployment.ref}",
        payload={
            "restored": restored,
            "revision": state.revision,
            "halted_stages": halted,
            "baseline": None if baseline is None else baseline.version,
        },
        severity="CRITICAL",
        idempotency_key=f"rollback:{deployment.ref}:executed",
    )
    return executed


def verify(session: Session, *, deployment_ref: str, revision: int) -> dict[str, Any]:
    """Step 2.5 "Verify rollback success": the routing table routes only the restored
    versions, and every live gateway serves that revision (``serving`` False while one
    still serves an older one; no live gateway means the store alone is verified)."""
    deployment = procedure.find_deployment(session, deployment_ref)
    target = routing.StoreTarget(session)
    state = target.current(deployment.model_id)
    routed = deployment.model_version in state.versions and state.revision >= revision
    health = target.health(deployment.model_id, since=utcnow())
    serving = health.gateways == 0 or (
        health.revision_served is not None and health.revision_served >= revision
    )
    return {
        "routing_restored": not routed,
        "serving": serving,
        "gateways": health.gateways,
        "revision": state.revision,
        "revision_served": health.revision_served,
        "versions": state.versions,
    }


def _restored(versions: list[str]) -> str:
    if versions:
        return f"Restored {', '.join(versions)}"
    return "Withdrawn: no version serves it now (it had none in production before)"


def conclude(
    session: Session, config: GovflowConfig, *, deployment_ref: str, verification: dict[str, Any]
) -> dict[str, Any]:
    """Step 3: notify the stakeholders, document the reason, open the root-cause incident."""
    deployment = procedure.find_deployment(session, deployment_ref)
    rollback = dict(deployment.details.get("rollback", {}))
    reason = rollback.get("decision", "")
    criteria = rollback.get("criteria") or []
    category = "fairness_drift" if set(criteria) & set(FAIRNESS_CRITERIA) else "model_drift"
    incident, _ = incidents.open_incident(
        session,
        config,
        model_id=deployment.model_id,
        category=category,
        metric=f"rollback:{deployment.ref}",
        severity="CRITICAL",
        title=(
            f"Rollback of {deployment.model_id} {deployment.model_version} ({deployment.ref}): "
            "root cause analysis"
        ),
        summary=reason,
        details={
            "deployment_ref": deployment.ref,
            "source": rollback.get("source"),
            "criteria": rollback.get("criteria_evidence", []),
            "verification": verification,
        },
        actor=ACTOR,
    )
    rollback.update(root_cause_incident=incident.ref, verification=verification)
    procedure.update_details(deployment, rollback=rollback)
    owner = procedure.model_of(session, deployment).owner
    alert, _ = enqueue_alert(
        session,
        idempotency_key=f"rollback:{deployment.ref}:notified",
        channel="slack",
        destination=config.people.channel("deployments"),
        kind=SLACK_KIND,
        severity="CRITICAL",
        model_id=deployment.model_id,
        incident_id=incident.id,
        payload={
            "text": (
                f"<!channel> *Rollback of {deployment.model_id} {deployment.model_version}* "
                f"({deployment.ref}, source {rollback.get('source')}): {reason}. "
                f"{_restored(verification['versions'])} (route revision "
                f"{verification['revision']}; {verification['gateways']} gateway(s) serving "
                f"it). Root cause analysis: {incident.ref}, owner @{owner}."
            ),
            "deployment": deployment.ref,
            "incident": incident.ref,
        },
        actor=ACTOR,
    )
    record_event(
        session,
        actor=ACTOR,
        action="rollback.concluded",
        target=f"deployment:{deployment.ref}",
        payload={"incident": incident.ref, "reason": reason, "verification": verification},
        idempotency_key=f"rollback:{deployment.ref}:concluded",
    )
    return {
        "deployment_ref": deployment.ref,
        "incident_ref": incident.ref,
        "alert_id": alert.id,
    }
