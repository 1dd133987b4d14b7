"""Seed 003 "Kill Switch Infrastructure" (document 13.3): scoped, configuration-driven switches.

A switch blocks one target within one scope: a model version, a model type (every version of
a model: the seed's ``emergency_disable_model(model_type=...)``, which the incident "freeze"
uses), an inference endpoint, a customer segment, a region or a downstream consumer. Switches
live in the governance store, so a serving process reads them without a redeploy. Activation
needs a reason and an actor, deactivation recovery notes; every change is an audit event.
A switch must name something its scope can block (``valid_targets``): a misspelt target
would be recorded as active while blocking nothing, so it is refused before anything is
written.
``active_key`` keeps one active switch per scope and target, so activating twice (a retried
task, two responders at once) leaves one switch.

Authority (13.3.4, "on-call engineers, MLops") is policy.yaml ``kill_switches``:
``check_authority`` is asked by the entry points people use (``govflow kill-switch``, the
``govflow_kill_switch`` DAG) before they change anything. The automatic freeze of an incident
is the policy's own rule acting and does not ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.config.inventory import PREDICT_PATH
from govflow.store.schema import KillSwitch, Model, ModelVersion
from govflow.store.types import utcnow

if TYPE_CHECKING:
    from govflow.config import GovflowConfig

Scope = Literal[
    "model_version",
    "model_type",
    "inference_endpoint",
    "customer_segment",
    "region",
    "downstream_consumer",
]
SCOPES: tuple[Scope, ...] = get_args(Scope)
Action = Literal["activate", "deactivate"]

# How often a serving gateway re-reads the switches by default (issue 6: refresh_seconds),
# well inside seed 003's "effective within 5 s".
GATEWAY_REFRESH_SECONDS = 1.0

UNKNOWN_SCOPE = "unknown kill-switch scope {scope!r}; scopes are {scopes}"
UNKNOWN_TARGET = "no {scope} {target!r} to block; the {scope} targets are {targets}"
REASON_REQUIRED = "a kill switch needs a reason"
RECOVERY_NOTES_REQUIRED = "deactivating a kill switch needs recovery notes"
NOT_ACTIVE = "no active kill switch for {scope} {target!r}"
CONTEXT_KEY_RESERVED = "context may not set {keys}: the switch itself records them"
NOT_AUTHORISED = (
    "{actor!r} may not {action} a kill switch: policy.yaml kill_switches.{action} allows the "
    "roles {roles} and the members of the on-call rotations {rotations}"
)
ACTIVATED = "kill switch {id} activated: {scope} {target!r} blocked by {actor} at {at}"
ALREADY_ACTIVE = (
    "kill switch {id} was already active: {scope} {target!r} blocked by {actor} since {at}; "
    "nothing changed"
)
DEACTIVATED = "kill switch {id} deactivated: {scope} {target!r} lifted by {actor} at {at}"
ALREADY_LIFTED = (
    "kill switch {id} was already deactivated: {scope} {target!r} lifted by {actor} at {at} "
    "with the same recovery notes; nothing changed"
)
GATEWAY_PICKUP = "serving gateways apply it by {by}: they re-read kill switches every {seconds:g} s"
_RESERVED_CONTEXT = ("scope", "target", "reason")


class KillSwitchError(ValueError):
    """A kill-switch request that cannot be carried out as asked."""


def _active_key(scope: str, target: str) -> str:
    return f"{scope}:{target}"


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise KillSwitchError(UNKNOWN_SCOPE.format(scope=scope, scopes=", ".join(SCOPES)))


def valid_targets(session: Session, config: GovflowConfig, scope: str) -> list[str]:
    """What a switch in ``scope`` can name: model ids and ``<model>:<version>`` from the
    registry, the predict routes of models.yaml, the categories of its ``customer_segment``
    and ``region`` features, and the consumers of its ``serving`` blocks."""
    _check_scope(scope)
    models = config.models.models
    if scope == "model_type":
        return list(session.scalars(select(Model.id).order_by(Model.id)))
    if scope == "model_version":
        versions = session.execute(
            select(ModelVersion.model_id, ModelVersion.version).order_by(
                ModelVersion.model_id, ModelVersion.id
            )
        )
        return [f"{model_id}:{version}" for model_id, version in versions]
    if scope == "inference_endpoint":
        return [PREDICT_PATH.format(model_id=model.id) for model in models]
    if scope == "downstream_consumer":
        named = [consumer for model in models for consumer in model.serving.consumers]
    else:
        named = [
            category
            for model in models
            for feature in model.features
            if feature.name == scope
            for category in feature.categories or []
        ]
    return list(dict.fromkeys(named))


def check_target(session: Session, config: GovflowConfig, scope: str, target: str) -> None:
    """Refuse a ``target`` that ``scope`` cannot name, listing the ones it can."""
    targets = valid_targets(session, config, scope)
    if target not in targets:
        raise KillSwitchError(
            UNKNOWN_TARGET.format(scope=scope, target=target, targets=", ".join(targets) or "none")
        )


def active_switch(session: Session, scope: str, target: str) -> KillSwitch | None:
    return session.scalar(
        select(KillSwitch).where(KillSwitch.active_key == _active_key(scope, target))
    )


def activate(
    session: Session,
    *,
    scope: str,
    target: str,
    reason: str,
    actor: str,
    config: GovflowConfig,
    at: datetime | None = None,
    context: Mapping[str, object] | None = None,
) -> tuple[KillSwitch, bool]:
    """Block ``target`` in ``scope``; (switch, created). An already active switch is returned
    unchanged with created False, so a retry never adds a second activation. A target the
    scope cannot name (``valid_targets``) is refused."""
    _check_scope(scope)
    if not reason.strip():
        raise KillSwitchError(REASON_REQUIRED)
    reserved = [key for key in _RESERVED_CONTEXT if key in (context or {})]
    if reserved:
        raise KillSwitchError(CONTEXT_KEY_RESERVED.format(keys=", ".join(reserved)))
    check_target(session, config, scope, target)
    existing = active_switch(session, scope, target)
    if existing is not None:
        return existing, False
    switch = KillSwitch(
        scope=scope,
        target=target,
        active_key=_active_key(scope, target),
        reason=reason,
        activated_by=actor,
        activated_at=at or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(switch)
            session.flush()
    except IntegrityError:
        # Another session activated the same switch between the read and the insert.
        winner = active_switch(session, scope, target)
        assert winner is not None
        return winner, False
    record_event(
        session,
        actor=actor,
        action="kill_switch.activated",
        target=f"kill_switch:{switch.id}",
        severity="CRITICAL",
        payload={"scope": scope, "target": target, "reason": reason, **(context or {})},
        idempotency_key=f"kill_switch:{switch.id}:activated",
    )
    return switch, True


def deactivate(
    session: Session,
    *,
    scope: str,
    target: str,
    recovery_notes: str,
    actor: str,
    at: datetime | None = None,
) -> KillSwitch:
    """Lift the active switch of ``target`` in ``scope``, with the notes of the recovery."""
    _check_scope(scope)
    if not recovery_notes.strip():
        raise KillSwitchError(RECOVERY_NOTES_REQUIRED)
    switch = active_switch(session, scope, target)
    if switch is None:
        raise KillSwitchError(NOT_ACTIVE.format(scope=scope, target=target))
    switch.active_key = None
    switch.deactivated_by = actor
    switch.deactivated_at = at or utcnow()
    switch.recovery_notes = recovery_notes
    session.flush()
    record_event(
        session,
        actor=actor,
        action="kill_switch.deactivated",
        target=f"kill_switch:{switch.id}",
        severity="INFO",
        payload={"scope": scope, "target": target, "recovery_notes": recovery_notes},
        idempotency_key=f"kill_switch:{switch.id}:deactivated",
    )
    return switch


def active_switches(session: Session) -> list[KillSwitch]:
    return list(
        session.scalars(
            select(KillSwitch)
            .where(KillSwitch.active_key.is_not(None))
            .order_by(KillSwitch.activated_at, KillSwitch.id)
        )
    )


def blocking_switches(session: Session, targets: Mapping[str, str | None]) -> list[KillSwitch]:
    """The active switches that block a request described scope by scope, e.g.
    ``{"model_type": "credit_approval", "model_version": "credit_approval:1.1.0",
    "customer_segment": "high_value", "region": "north"}``."""
    keys = [_active_key(scope, target) for scope, target in targets.items() if target is not None]
    for scope in targets:
        _check_scope(scope)
    if not keys:
        return []
    return list(
        session.scalars(
            select(KillSwitch).where(KillSwitch.active_key.in_(keys)).order_by(KillSwitch.id)
        )
    )


def switch_history(session: Session) -> list[KillSwitch]:
    """Every switch ever activated, lifted ones with who lifted them and the recovery notes."""
    return list(
        session.scalars(select(KillSwitch).order_by(KillSwitch.activated_at, KillSwitch.id))
    )


def check_authority(config: GovflowConfig, actor: str, *, action: Action = "activate") -> None:
    """Refuse ``actor`` unless policy.yaml ``kill_switches`` lets them take ``action``: they
    hold one of its roles or are a member of one of its on-call rotations (seed 003 13.3.4)."""
    authority = getattr(config.policy.kill_switches, action)
    people = config.people
    roles = next((user.roles for user in people.users if user.id == actor), [])
    on_call = any(actor in people.on_call.members_of(name) for name in authority.rotations)
    if on_call or set(roles) & set(authority.roles):
        return
    raise KillSwitchError(
        NOT_AUTHORISED.format(
            actor=actor,
            action=action,
            roles=", ".join(authority.roles),
            rotations=", ".join(authority.rotations),
        )
    )


def request_change(
    session: Session,
    config: GovflowConfig,
    *,
    action: Action,
    scope: str,
    target: str,
    actor: str,
    reason: str = "",
    recovery_notes: str = "",
    context: Mapping[str, object] | None = None,
) -> tuple[KillSwitch, bool]:
    """A person's request (``govflow kill-switch``, the DAG): their authority is checked first,
    then the switch is activated (with ``reason``, ``context`` joining its audit event) or
    deactivated (with ``recovery_notes``); (switch, changed). Re-activating an active switch
    changes nothing, and so does the same deactivation again (a retried or cleared task, a
    command run twice: the target's last switch lifted by the same person with the same
    notes); any other deactivation of a target with no active switch is refused."""
    check_authority(config, actor, action=action)
    if action == "activate":
        return activate(
            session,
            scope=scope,
            target=target,
            reason=reason,
            actor=actor,
            config=config,
            context=context,
        )
    if active_switch(session, scope, target) is None:
        done = _lifted_as_asked(session, scope, target, actor=actor, notes=recovery_notes)
        if done is not None:
            return done, False
    lifted = deactivate(
        session, scope=scope, target=target, recovery_notes=recovery_notes, actor=actor
    )
    return lifted, True


def _lifted_as_asked(
    session: Session, scope: str, target: str, *, actor: str, notes: str
) -> KillSwitch | None:
    """The target's last switch, when ``actor`` lifted it with ``notes``: the deactivation
    asked for is already done."""
    last = session.scalar(
        select(KillSwitch)
        .where(KillSwitch.scope == scope, KillSwitch.target == target)
        .order_by(KillSwitch.activated_at.desc(), KillSwitch.id.desc())
        .limit(1)
    )
    if last is None or last.active_key is not None:
        return None
    return last if (last.deactivated_by, last.recovery_notes) == (actor, notes) else None


def _time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def notice(switch: KillSwitch, *, created: bool = True) -> str:
    """What the person who asked is told: what changed and by when serving gateways apply
    it; for a switch that was already active, or already lifted as asked, that nothing
    changed (``created`` False: the request found its change made)."""
    fields = {"id": switch.id, "scope": switch.scope, "target": switch.target}
    if switch.active_key is None:
        assert switch.deactivated_at is not None
        changed_at = switch.deactivated_at
        lifted = {**fields, "actor": switch.deactivated_by, "at": _time(changed_at)}
        if not created:
            return ALREADY_LIFTED.format(**lifted)
        changed = DEACTIVATED.format(**lifted)
    elif created:
        changed_at = switch.activated_at
        changed = ACTIVATED.format(**fields, actor=switch.activated_by, at=_time(changed_at))
    else:
        return ALREADY_ACTIVE.format(
            **fields, actor=switch.activated_by, at=_time(switch.activated_at)
        )
    applied_by = changed_at + timedelta(seconds=GATEWAY_REFRESH_SECONDS)
    pickup = GATEWAY_PICKUP.format(by=_time(applied_by), seconds=GATEWAY_REFRESH_SECONDS)
    return f"{changed}\n{pickup}"


def summary(switch: KillSwitch) -> dict[str, Any]:
    """A switch as JSON-able values (XCom, ``--json``)."""
    return {
        "id": switch.id,
        "scope": switch.scope,
        "target": switch.target,
        "active": switch.active_key is not None,
        "reason": switch.reason,
        "activated_by": switch.activated_by,
        "activated_at": switch.activated_at.isoformat(),
        "deactivated_by": switch.deactivated_by,
        "deactivated_at": switch.deactivated_at.isoformat() if switch.deactivated_at else None,
        "recovery_notes": switch.recovery_notes,
    }
