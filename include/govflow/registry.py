"""Model registry (seed 003, document 14.3-14.4): ownership, purpose, approvals, lineage.

Registration requires a named owner and a business purpose. A version moves
draft -> pending -> approved / rejected; the approver is named, gives a justification and is
never the model's owner (separation of duties). Deployments are logged per stage (shadow,
canary, production, retired). A version that served before govflow governed its model is
declared in production once (``declare_in_production``); after that only the deployment
procedure changes what serves. Every change is an audit event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.store.schema import (
    Baseline,
    Deployment,
    DeploymentApproval,
    Model,
    ModelVersion,
    RegistryDecision,
    Route,
    StageHistory,
)
from govflow.store.types import utcnow

Stage = Literal["shadow", "canary", "production", "retired"]
STAGES: tuple[str, ...] = ("shadow", "canary", "production", "retired")

# What a version registered without its lineage (govflow model register's defaults) records
# for its training snapshot and feature version: no lineage.
NOT_RECORDED = "not recorded"
OWNER_REQUIRED = "a model needs a named owner"
PURPOSE_REQUIRED = "a model needs a documented business purpose"
JUSTIFICATION_REQUIRED = "a decision needs a justification"
VERSION_REQUIRED = "a model version needs a name (an empty or blank version was given)"
OWNER_CANNOT_APPROVE = "separation of duties: {user} owns {model_id} and cannot approve it"
UNKNOWN_MODEL = "model {model_id!r} is not registered"
MAY_NOT_RETIRE = (
    "{actor!r} may not deprecate {model_id}: its owner {owner} may, and the roles {roles} "
    "(policy.yaml model_retirement.retired_by)"
)
UNKNOWN_VERSION = "model {model_id!r} has no version {version!r}"
NOT_PENDING = "{model_id} {version} is {status}, not pending approval"
MODEL_EXISTS_DIFFERENTLY = "model {model_id!r} is already registered with other {field}"
VERSION_EXISTS_DIFFERENTLY = (
    "{model_id} {version} is already registered with another artefact (sha256 {sha256})"
)
VALIDATION_EXISTS_DIFFERENTLY = (
    "{model_id} {version} is already registered {held}; a registered version does not change: "
    "register this validation set with a new --version"
)
UNKNOWN_STAGE = (
    "unknown deployment stage {stage!r}; expected one of shadow, canary, production, retired"
)
# The stage-history notes and registry decision of a declared version: how an auditor tells
# it from a version the deployment procedure took to production.
DECLARED_IN_PRODUCTION = (
    "declared in production: it served before govflow governed the model, not deployed"
)
DECLARE_DEPRECATED = (
    "{model_id} is deprecated ({reason}): no version of it is declared in production"
)
DECLARE_HAS_PRODUCTION = (
    "{model_id} already has version {current} in production: from then on only the "
    "deployment procedure (govflow_model_deployment) changes what serves"
)
DECLARE_DEPLOYED = (
    "{model_id} has been through the deployment procedure ({ref}): only the procedure "
    "changes what serves"
)
DECLARE_NOT_FIRST = (
    "{model_id} {version} is not the model's first version ({first} is): only the version "
    "that served before govflow governed the model is declared in production; deploy "
    "{version} through govflow_model_deployment"
)


class RegistryError(ValueError):
    """A registry rule was broken; the message says which."""


def register_model(
    session: Session,
    *,
    model_id: str,
    model_type: str,
    risk_tier: str,
    owner: str,
    business_purpose: str,
    actor: str,
) -> Model:
    """Register a model, or return it unchanged when it is already registered the same way."""
    if not owner.strip():
        raise RegistryError(OWNER_REQUIRED)
    if not business_purpose.strip():
        raise RegistryError(PURPOSE_REQUIRED)
    existing = session.get(Model, model_id)
    wanted = {
        "model_type": model_type,
        "risk_tier": risk_tier,
        "owner": owner,
        "business_purpose": business_purpose,
    }
    if existing is not None:
        for field, value in wanted.items():
            if getattr(existing, field) != value:
                raise RegistryError(MODEL_EXISTS_DIFFERENTLY.format(model_id=model_id, field=field))
        return existing
    model = Model(id=model_id, status="draft", created_by=actor, **wanted)
    session.add(model)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="registry.model_registered",
        target=f"model:{model_id}",
        payload=wanted,
        idempotency_key=f"registry.model_registered:{model_id}",
    )
    return model


def register_version(
    session: Session,
    *,
    model_id: str,
    version: str,
    artifact_uri: str,
    artifact_sha256: str,
    training_snapshot_id: str,
    feature_version: str,
    validation_uri: str | None,
    validation_metrics: dict[str, Any],
    decision_threshold: float | None,
    actor: str,
) -> ModelVersion:
    """Register a trained version with its lineage inputs (idempotent on model and version)."""
    if not version.strip():
        raise RegistryError(VERSION_REQUIRED)
    if session.get(Model, model_id) is None:
        raise RegistryError(UNKNOWN_MODEL.format(model_id=model_id))
    existing = find_version(session, model_id, version)
    if existing is not None:
        if existing.artifact_sha256 != artifact_sha256:
            raise RegistryError(
                VERSION_EXISTS_DIFFERENTLY.format(
                    model_id=model_id, version=version, sha256=existing.artifact_sha256
                )
            )
        return existing
    record = ModelVersion(
        model_id=model_id,
        version=version,
        artifact_uri=artifact_uri,
        artifact_sha256=artifact_sha256,
        training_snapshot_id=training_snapshot_id,
        feature_version=feature_version,
        validation_uri=validation_uri,
        validation_metrics=validation_metrics,
        decision_threshold=decision_threshold,
        status="draft",
        created_by=actor,
    )
    session.add(record)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="registry.version_registered",
        target=f"model:{model_id}:{version}",
        payload={
            "artifact_sha256": artifact_sha256,
            "training_snapshot_id": training_snapshot_id,
            "feature_version": feature_version,
            "validation_metrics": validation_metrics,
        },
        idempotency_key=f"registry.version_registered:{model_id}:{version}",
    )
    return record


def find_version(session: Session, model_id: str, version: str) -> ModelVersion | None:
    """``model_id``'s ``version``, or None when it is not registered."""
    return session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == model_id, ModelVersion.version == version
        )
    ).first()


def get_version(session: Session, model_id: str, version: str) -> ModelVersion:
    record = find_version(session, model_id, version)
    if record is None:
        raise RegistryError(UNKNOWN_VERSION.format(model_id=model_id, version=version))
    return record


def request_approval(
    session: Session, *, model_id: str, version: str, requested_by: str, justification: str
) -> ModelVersion:
    """Move a draft (or rejected) version to pending, with the requester's justification."""
    if not justification.strip():
        raise RegistryError(JUSTIFICATION_REQUIRED)
    record = get_version(session, model_id, version)
    if record.status == "pending":
        return record
    record.status = "pending"
    record.model.status = "pending" if record.model.status == "draft" else record.model.status
    session.add(
        RegistryDecision(
            model_version_id=record.id,
            action="requested",
            actor=requested_by,
            justification=justification,
        )
    )
    record_event(
        session,
        actor=requested_by,
        action="registry.approval_requested",
        target=f"model:{model_id}:{version}",
        payload={"justification": justification},
    )
    return record


def decide_approval(
    session: Session,
    *,
    model_id: str,
    version: str,
    approver: str,
    approve: bool,
    justification: str,
) -> ModelVersion:
    """Approve or reject a pending version; the model's owner may never approve it."""
    if not justification.strip():
        raise RegistryError(JUSTIFICATION_REQUIRED)
    record = get_version(session, model_id, version)
    if record.model.owner == approver:
        raise RegistryError(OWNER_CANNOT_APPROVE.format(user=approver, model_id=model_id))
    if record.status != "pending":
        raise RegistryError(
            NOT_PENDING.format(model_id=model_id, version=version, status=record.status)
        )
    record.status = "approved" if approve else "rejected"
    if approve:
        record.model.status = "approved"
    action = "approved" if approve else "rejected"
    session.add(
        RegistryDecision(
            model_version_id=record.id, action=action, actor=approver, justification=justification
        )
    )
    record_event(
        session,
        actor=approver,
        action=f"registry.version_{action}",
        target=f"model:{model_id}:{version}",
        payload={"justification": justification},
        severity="INFO" if approve else "WARNING",
    )
    return record


def log_stage(
    session: Session,
    *,
    model_id: str,
    version: str,
    stage: str,
    deployed_by: str,
    notes: str = "",
    deployment_id: int | None = None,
) -> StageHistory:
    """Record that a version reached a deployment stage."""
    if stage not in STAGES:
        raise RegistryError(UNKNOWN_STAGE.format(stage=stage))
    record = get_version(session, model_id, version)
    entry = StageHistory(
        model_version_id=record.id,
        stage=stage,
        deployed_by=deployed_by,
        notes=notes,
        deployment_id=deployment_id,
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        actor=deployed_by,
        action="registry.stage_logged",
        target=f"model:{model_id}:{version}",
        payload={"stage": stage, "notes": notes, "deployment_id": deployment_id},
    )
    return entry


def log_stage_once(
    session: Session,
    *,
    model_id: str,
    version: str,
    stage: str,
    deployed_by: str,
    notes: str,
    deployment_id: int,
) -> StageHistory:
    """``log_stage``, unless this deployment logged the version at that stage already (a
    retried or cleared task logs nothing twice)."""
    record = get_version(session, model_id, version)
    already = session.scalars(
        select(StageHistory).where(
            StageHistory.model_version_id == record.id,
            StageHistory.deployment_id == deployment_id,
            StageHistory.stage == stage,
        )
    ).first()
    if already is not None:
        return already
    return log_stage(
        session,
        model_id=model_id,
        version=version,
        stage=stage,
        deployed_by=deployed_by,
        notes=notes,
        deployment_id=deployment_id,
    )


def serving_version(session: Session, model_id: str) -> str | None:
    """The version that serves all of ``model_id``'s traffic: the active version of its
    route (govflow's deployment target) while no candidate takes a share of any audience,
    or, before anything routes it, the version most recently logged in production. None
    while a rollout splits the traffic, when the route serves no version, or when no version
    is in production."""
    route = session.get(Route, model_id)
    if route is not None:
        splits = route.splits.values()
        if any(split["candidate"] is not None and split["candidate_share"] > 0 for split in splits):
            return None
        # A withdrawn first version leaves every audience's active version None.
        actives = {split["active"] for split in splits}
        active = actives.pop() if len(actives) == 1 else None
        return None if active is None else str(active)
    return production_version(session, model_id)


def production_version(session: Session, model_id: str, *, excluding: str = "") -> str | None:
    """The version most recently logged in production (other than ``excluding``) and not
    retired since, or None when there is none: a first version withdrawn by a rollback
    leaves the model with no version in production."""
    rows = session.execute(
        select(ModelVersion.version, StageHistory.stage)
        .join(StageHistory, StageHistory.model_version_id == ModelVersion.id)
        .where(
            ModelVersion.model_id == model_id,
            StageHistory.stage.in_(("production", "retired")),
        )
        .order_by(StageHistory.id.desc())
    )
    seen: set[str] = set()
    for version, stage in rows:
        if version not in seen and stage == "production" and version != excluding:
            return str(version)
        seen.add(version)
    return None


def check_production_declaration(
    session: Session, *, model_id: str, version: str, actor: str, owner: str
) -> bool:
    """Refuse (``RegistryError``) to declare ``version`` in production by the model's
    ``owner`` (the declaration approves the version, and an owner never approves their own
    model), for a deprecated model, one with a version in production or a deployment record
    (from then on the deployment procedure alone changes what serves), or a version that is
    not the model's first: a later one was registered under govflow and is deployed through
    the procedure. Returns whether ``version`` is declared already, so that declaring it
    again changes nothing. Also answers before the model or version is registered, so that
    a command refuses before it stores anything."""
    if actor == owner:
        raise RegistryError(OWNER_CANNOT_APPROVE.format(user=actor, model_id=model_id))
    model = session.get(Model, model_id)
    if model is None:
        return False
    if model.status == "deprecated":
        raise RegistryError(
            DECLARE_DEPRECATED.format(model_id=model_id, reason=model.deprecation_reason)
        )
    current = production_version(session, model_id)
    if current is not None:
        if current == version and _declared(session, model_id, version):
            return True
        raise RegistryError(DECLARE_HAS_PRODUCTION.format(model_id=model_id, current=current))
    deployment = session.scalars(
        select(Deployment).where(Deployment.model_id == model_id).order_by(Deployment.id)
    ).first()
    if deployment is not None:
        raise RegistryError(DECLARE_DEPLOYED.format(model_id=model_id, ref=deployment.ref))
    first = session.scalars(
        select(ModelVersion.version)
        .where(ModelVersion.model_id == model_id)
        .order_by(ModelVersion.id)
        .limit(1)
    ).first()
    if first is not None and first != version:
        raise RegistryError(
            DECLARE_NOT_FIRST.format(model_id=model_id, version=version, first=first)
        )
    return False


def _declared(session: Session, model_id: str, version: str) -> bool:
    return (
        session.scalars(
            select(StageHistory.id)
            .join(ModelVersion, StageHistory.model_version_id == ModelVersion.id)
            .where(
                ModelVersion.model_id == model_id,
                ModelVersion.version == version,
                StageHistory.stage == "production",
                StageHistory.notes == DECLARED_IN_PRODUCTION,
            )
        ).first()
        is not None
    )


def declare_in_production(
    session: Session, *, model_id: str, version: str, actor: str
) -> tuple[ModelVersion, bool]:
    """Record that ``version`` served ``model_id``'s traffic before govflow governed it, as
    the deployment procedure records a version it took to production: approved, with a
    ``production`` stage, so that routing and a later major/minor/patch deployment find it.
    The audit event ``registry.production_declared`` names ``actor`` and says that this was
    a declaration, not a deployment. Returns the version and whether this call declared it;
    a version declared already changes nothing. Refused as ``check_production_declaration``
    refuses."""
    record = get_version(session, model_id, version)
    declared = check_production_declaration(
        session, model_id=model_id, version=version, actor=actor, owner=record.model.owner
    )
    if declared:
        return record, False
    record.status = "approved"
    record.model.status = "approved"
    session.add(
        RegistryDecision(
            model_version_id=record.id,
            action="declared",
            actor=actor,
            justification=DECLARED_IN_PRODUCTION,
        )
    )
    log_stage(
        session,
        model_id=model_id,
        version=version,
        stage="production",
        deployed_by=actor,
        notes=DECLARED_IN_PRODUCTION,
    )
    record_event(
        session,
        actor=actor,
        action="registry.production_declared",
        target=f"model:{model_id}:{version}",
        payload={"stage": "production", "declared": True, "deployed": False},
        idempotency_key=f"registry.production_declared:{model_id}",
    )
    return record, True


def deprecate_model(
    session: Session,
    *,
    model_id: str,
    actor: str,
    reason: str,
    actor_roles: Iterable[str],
    retired_by: Iterable[str],
) -> tuple[Model, bool]:
    """Retire a model (seed 003 "Deprecate models"), with the reason: the deployment
    procedure refuses to start for it and it drops out of the default routing table. Only
    its owner or a holder of one of ``retired_by`` may. Returns the model and whether this
    call deprecated it: a model deprecated already keeps the day and reason it was retired
    with, and nothing is recorded again."""
    model = session.get(Model, model_id)
    if model is None:
        raise RegistryError(UNKNOWN_MODEL.format(model_id=model_id))
    allowed = list(retired_by)
    if actor != model.owner and not set(actor_roles) & set(allowed):
        raise RegistryError(
            MAY_NOT_RETIRE.format(
                actor=actor, model_id=model_id, owner=model.owner, roles=", ".join(allowed)
            )
        )
    if not reason.strip():
        raise RegistryError(JUSTIFICATION_REQUIRED)
    if model.status == "deprecated":
        return model, False
    model.status = "deprecated"
    model.deprecated_at = utcnow()
    model.deprecation_reason = reason
    record_event(
        session,
        actor=actor,
        action="registry.model_deprecated",
        target=f"model:{model_id}",
        payload={"reason": reason},
        severity="WARNING",
    )
    return model, True


def lineage(session: Session, model_id: str, version: str) -> dict[str, Any]:
    """Data -> features -> model -> validation -> approvals -> deployments -> baselines."""
    record = get_version(session, model_id, version)
    decisions = session.scalars(
        select(RegistryDecision)
        .where(RegistryDecision.model_version_id == record.id)
        .order_by(RegistryDecision.id)
    ).all()
    stages = session.scalars(
        select(StageHistory)
        .where(StageHistory.model_version_id == record.id)
        .order_by(StageHistory.id)
    ).all()
    deployments = session.scalars(
        select(Deployment)
        .where(Deployment.model_id == model_id, Deployment.model_version == version)
        .order_by(Deployment.id)
    ).all()
    baselines = session.scalars(
        select(Baseline)
        .where(Baseline.model_id == model_id, Baseline.model_version == version)
        .order_by(Baseline.id)
    ).all()
    return {
        "model": {
            "id": model_id,
            "type": record.model.model_type,
            "risk_tier": record.model.risk_tier,
            "owner": record.model.owner,
            "business_purpose": record.model.business_purpose,
            "status": record.model.status,
        },
        "version": version,
        "status": record.status,
        "data": {"training_snapshot_id": record.training_snapshot_id},
        "features": {"feature_version": record.feature_version},
        "artifact": {"uri": record.artifact_uri, "sha256": record.artifact_sha256},
        "validation": {"uri": record.validation_uri, "metrics": record.validation_metrics},
        "registry_decisions": [
            {
                "action": d.action,
                "actor": d.actor,
                "justification": d.justification,
                "at": d.decided_at.isoformat(),
            }
            for d in decisions
        ],
        "deployments": [
            {
                "ref": d.ref,
                "type": d.deployment_type,
                "environment": d.environment,
                "status": d.status,
                "approvals": [
                    {"role": a.role, "approver": a.approver, "decision": a.decision}
                    for a in session.scalars(
                        select(DeploymentApproval).where(DeploymentApproval.deployment_id == d.id)
                    )
                ],
            }
            for d in deployments
        ],
        "stages": [
            {"stage": s.stage, "by": s.deployed_by, "at": s.deployed_at.isoformat()} for s in stages
        ],
        "baselines": [
            {"version": b.version, "kind": b.kind, "active": b.is_active} for b in baselines
        ],
    }
