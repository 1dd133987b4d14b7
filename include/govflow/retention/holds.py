"""Legal holds: a model, an incident, a deployment or a time range whose records no purge
may delete while the hold is active. Putting and releasing a hold are audited; a released
hold stays on record (who released it, when and why). Both are safe to retry: a hold like
an active one (same scope, target and range) is that hold, and the same release again is
the release done; each hold has one ``retention.hold_added`` event and at most one
``retention.hold_released``, under the audit keys ``legal_hold:<id>:added`` and
``legal_hold:<id>:released``.

Besides the holds people put, every incident not yet closed holds its evidence
automatically: the monitoring record it came from and the prediction logs of that record's
window (EU AI Act Art. 73: what a serious-incident report needs must still exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.store.schema import Deployment, Incident, LegalHold, Model, MonitoringRun
from govflow.store.types import utcnow

Scope = Literal["model", "incident", "deployment", "range"]
SCOPES: tuple[Scope, ...] = ("model", "incident", "deployment", "range")

REASON_REQUIRED = "a legal hold needs a reason"
UNKNOWN_TARGET = "no {scope} {target!r} to hold"
RANGE_NEEDS_BOUNDS = "a range hold needs --from and --to, --from before --to"
UNKNOWN_HOLD = "no legal hold {id}"
ALREADY_RELEASED = "legal hold {id} was already released on {when:%Y-%m-%d %H:%M} by {by}"
ALREADY_HELD = (
    "{held} is already held by legal hold {hold.id}, put by {hold.created_by} on "
    "{hold.created_at:%Y-%m-%d %H:%M} UTC ({hold.reason}); nothing changed"
)
RELEASED_BEFORE = (
    "legal hold {hold.id} on {held} was already released by {hold.released_by} on "
    "{hold.released_at:%Y-%m-%d %H:%M} UTC ({hold.release_reason}); nothing changed"
)


def range_end(moment: datetime, written: str) -> datetime:
    """The end a range hold keeps (excluded) for the end a person wrote: a day alone
    ("2025-03-31") holds that whole day, on the command line and on the form alike, so that a
    hold "from 2025-03-01 to 2025-03-31" covers March; a time is kept as written."""
    return moment + timedelta(days=1) if len(written.strip()) == len("YYYY-MM-DD") else moment


class HoldError(ValueError):
    """A hold that cannot be put or released; the message names why."""


def add_hold(
    session: Session,
    *,
    scope: Scope,
    reason: str,
    actor: str,
    target: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> tuple[LegalHold, bool]:
    """Put a hold on a model, incident (by reference), deployment (by reference) or range.
    Returns the hold and whether this call put it: an active hold on the same scope, target
    and range is returned as it is, with nothing recorded, so a retried request (a task
    retried or cleared after its commit) puts no second hold and no second audit event."""
    if not reason.strip():
        raise HoldError(REASON_REQUIRED)
    if scope == "range":
        if starts_at is None or ends_at is None or starts_at >= ends_at:
            raise HoldError(RANGE_NEEDS_BOUNDS)
        target = None
    else:
        if scope != "model" and target is not None and target.isascii():
            target = target.upper()  # an incident's or deployment's ref, written in capitals
        if not _exists(session, scope, target or ""):
            raise HoldError(UNKNOWN_TARGET.format(scope=scope, target=target))
    same = session.scalars(
        select(LegalHold).where(
            LegalHold.released_at.is_(None),
            LegalHold.scope == scope,
            LegalHold.target == target,
            LegalHold.starts_at == starts_at,
            LegalHold.ends_at == ends_at,
        )
    ).first()
    if same is not None:
        return same, False
    hold = LegalHold(
        scope=scope,
        target=target,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(hold)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="retention.hold_added",
        target=f"legal_hold:{hold.id}",
        payload={
            "scope": scope,
            "target": target,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "reason": reason,
        },
        severity="WARNING",
        idempotency_key=f"legal_hold:{hold.id}:added",
    )
    return hold, True


def release_hold(
    session: Session, hold_id: int, *, actor: str, reason: str
) -> tuple[LegalHold, bool]:
    """Release a hold (kept on record); refused for an unknown hold, or one released by
    someone else or for another reason. Returns the hold and whether this call released it:
    the same release again (a retried request) returns the hold with nothing recorded."""
    if not reason.strip():
        raise HoldError("releasing a legal hold needs a reason")
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise HoldError(UNKNOWN_HOLD.format(id=hold_id))
    if hold.released_at is not None:
        if (hold.released_by, hold.release_reason) == (actor, reason):
            return hold, False
        raise HoldError(
            ALREADY_RELEASED.format(id=hold_id, when=hold.released_at, by=hold.released_by)
        )
    hold.released_at, hold.released_by, hold.release_reason = utcnow(), actor, reason
    record_event(
        session,
        actor=actor,
        action="retention.hold_released",
        target=f"legal_hold:{hold.id}",
        payload={"scope": hold.scope, "target": hold.target, "reason": reason},
        severity="WARNING",
        idempotency_key=f"legal_hold:{hold.id}:released",
    )
    return hold, True


def held_subject(hold: LegalHold) -> str:
    """What a hold holds, as a line names it: 'model credit_approval', 'range 2025-03-01
    00:00 to 2025-04-01 00:00'."""
    if hold.scope == "range":
        return f"range {hold.starts_at:%Y-%m-%d %H:%M} to {hold.ends_at:%Y-%m-%d %H:%M}"
    return f"{hold.scope} {hold.target}"


def list_holds(session: Session, *, include_released: bool = False) -> list[LegalHold]:
    statement = select(LegalHold).order_by(LegalHold.id)
    if not include_released:
        statement = statement.where(LegalHold.released_at.is_(None))
    return list(session.scalars(statement))


def _exists(session: Session, scope: Scope, target: str) -> bool:
    if scope == "model":
        return session.get(Model, target) is not None
    if scope == "incident":
        found = select(Incident.id).where(Incident.ref == target)
    else:
        found = select(Deployment.id).where(Deployment.ref == target)
    return session.scalars(found).first() is not None


@dataclass(frozen=True)
class ActiveHolds:
    """What the active holds cover, as every purge asks it."""

    models: frozenset[str]
    ranges: tuple[tuple[datetime, datetime], ...]
    incidents: frozenset[str]
    deployments: frozenset[str]
    # (model, window start, window end) of the evidence of incidents not yet closed, and
    # of the incidents held by name.
    evidence_windows: tuple[tuple[str, datetime, datetime], ...]

    def holds_model_at(self, model_id: str | None, moment: datetime) -> bool:
        """Whether a record of ``model_id`` from ``moment`` is held."""
        if model_id is not None and model_id in self.models:
            return True
        return any(start <= moment < end for start, end in self.ranges)

    def holds_log_day(self, model_id: str, start: datetime, end: datetime) -> bool:
        """Whether a model's prediction logs of [start, end) are held."""
        if model_id in self.models:
            return True
        if any(start < r_end and r_start < end for r_start, r_end in self.ranges):
            return True
        return any(
            held == model_id and start < w_end and w_start < end
            for held, w_start, w_end in self.evidence_windows
        )


def active_holds(session: Session) -> ActiveHolds:
    """Every active hold, and the evidence of every incident not yet closed."""
    holds = list_holds(session)
    by_scope = {scope: [h for h in holds if h.scope == scope] for scope in SCOPES}
    held_refs = {h.target for h in by_scope["incident"] if h.target}
    incidents = session.scalars(
        select(Incident).where((Incident.status != "closed") | Incident.ref.in_(held_refs))
    ).all()
    run_ids = {i.source_run_id for i in incidents if i.source_run_id is not None}
    runs = (
        session.scalars(select(MonitoringRun).where(MonitoringRun.id.in_(run_ids))).all()
        if run_ids
        else []
    )
    return ActiveHolds(
        models=frozenset(h.target for h in by_scope["model"] if h.target),
        ranges=tuple(
            (h.starts_at, h.ends_at)
            for h in by_scope["range"]
            if h.starts_at is not None and h.ends_at is not None
        ),
        incidents=frozenset(held_refs),
        deployments=frozenset(h.target for h in by_scope["deployment"] if h.target),
        evidence_windows=tuple((r.model_id, r.interval_start, r.interval_end) for r in runs),
    )
