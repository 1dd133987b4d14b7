"""Seed 003 "Kill Switch Infrastructure" (document 13.3): scoped, configuration-driven switches.

A switch blocks one target within one scope: a model version, a model type (every version of
a model: the seed's ``emergency_disable_model(model_type=...)``, which the incident "freeze"
uses), an inference endpoint, a customer segment, a region or a downstream consumer. Switches
live in the governance store, so a serving process reads them without a redeploy. Activation
needs a reason and an actor, deactivation recovery notes; every change is an audit event.
``active_key`` keeps one active switch per scope and target, so activating twice (a retried
task, two responders at once) leaves one switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.store.schema import KillSwitch
from govflow.store.types import utcnow

Scope = Literal[
    "model_version",
    "model_type",
    "inference_endpoint",
    "customer_segment",
    "region",
    "downstream_consumer",
]
SCOPES: tuple[Scope, ...] = get_args(Scope)

UNKNOWN_SCOPE = "unknown kill-switch scope {scope!r}; scopes are {scopes}"
REASON_REQUIRED = "a kill switch needs a reason"
RECOVERY_NOTES_REQUIRED = "deactivating a kill switch needs recovery notes"
NOT_ACTIVE = "no active kill switch for {scope} {target!r}"


class KillSwitchError(ValueError):
    """A kill-switch request that cannot be carried out as asked."""


def _active_key(scope: str, target: str) -> str:
    return f"{scope}:{target}"


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise KillSwitchError(UNKNOWN_SCOPE.format(scope=scope, scopes=", ".join(SCOPES)))


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
    at: datetime | None = None,
    context: Mapping[str, object] | None = None,
) -> tuple[KillSwitch, bool]:
    """Block ``target`` in ``scope``; (switch, created). An already active switch is returned
    unchanged with created False, so a retry never adds a second activation."""
    _check_scope(scope)
    if not reason.strip():
        raise KillSwitchError(REASON_REQUIRED)
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
