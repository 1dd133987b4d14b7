"""Tamper-evident audit trail (seed 003 "Comprehensive Audit Logger", seed 004 section 5).

Every event carries ``hash = sha256(prev_hash + canonical_event)``, where the canonical event
is the JSON of its sequence number, id, time, actor, action, target, severity and payload with
sorted keys and no spaces. Editing, deleting, inserting or reordering a stored event breaks
the chain at that event, and ``verify_chain`` names the first one that does not fit.

Appends are serialised (SQLite's write lock, a Postgres advisory lock) and ``prev_hash`` is
unique, so concurrent writers can never fork the chain. An ``idempotency_key`` makes an
append safe to retry: the second call returns the first event.

What a hash chain cannot show on its own: the removal of the newest events, or a rewrite of
the whole chain by someone who can write to the table. ``chain_head`` gives the newest hash
and count to publish elsewhere (``govflow audit verify`` prints them), and on Postgres
the migration adds a trigger that refuses UPDATE and DELETE outright.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from govflow.store.schema import AuditEvent
from govflow.store.types import utcnow

GENESIS_HASH = "0" * 64
AuditSeverity = Literal["INFO", "WARNING", "HIGH", "CRITICAL"]
SEVERITIES: tuple[str, ...] = ("INFO", "WARNING", "HIGH", "CRITICAL")
_POSTGRES_AUDIT_LOCK = 0x60F10A0D17

UNKNOWN_SEVERITY = (
    "unknown audit severity {severity!r}; expected one of INFO, WARNING, HIGH, CRITICAL"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"audit payload value of type {type(value).__name__} is not JSON-able")


def jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back from the store (tuples become lists, times strings)."""
    result: dict[str, Any] = json.loads(json.dumps(payload, default=_json_default, allow_nan=False))
    return result


def canonical_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields the hash covers, as JSON-able values."""
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "occurred_at": canonical_time(event.occurred_at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "severity": event.severity,
        "payload": event.payload,
    }


def canonical_event(event: AuditEvent) -> bytes:
    return json.dumps(
        event_fields(event),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_event(event)).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_AUDIT_LOCK})


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    payload: dict[str, Any] | None = None,
    severity: AuditSeverity = "INFO",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (or return the event already recorded under the key)."""
    if severity not in SEVERITIES:
        raise ValueError(UNKNOWN_SEVERITY.format(severity=severity))
    _lock_chain(session)
    if idempotency_key is not None:
        existing = session.scalars(
            select(AuditEvent).where(AuditEvent.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return existing
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    event = AuditEvent(
        seq=1 if last is None else last.seq + 1,
        event_id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        occurred_at=(occurred_at or utcnow()).astimezone(UTC),
        actor=actor,
        action=action,
        target=target,
        severity=severity,
        payload=jsonable(payload or {}),
        prev_hash=GENESIS_HASH if last is None else last.hash,
    )
    event.hash = event_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: str
    reason: str

    def __str__(self) -> str:
        return f"audit chain broken at event seq={self.seq} id={self.event_id}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(session: Session, *, batch_size: int = 5000) -> ChainReport:
    """Walk the chain in order and name the first event that does not fit."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch_size)
    )
    for event in rows:
        reason = None
        if event.seq != expected_seq:
            reason = (
                f"sequence jumps from {expected_seq - 1} to {event.seq}: "
                f"{event.seq - expected_seq} event(s) deleted"
                if event.seq > expected_seq
                else f"sequence number {event.seq} out of order"
            )
        elif event.prev_hash != prev_hash:
            reason = "previous-hash link does not match the event before it (inserted or reordered)"
        elif event_hash(event.prev_hash, event) != event.hash:
            reason = "hash does not match the event's content (edited)"
        if reason is not None:
            return ChainReport(checked, prev_hash, ChainBreak(event.seq, event.event_id, reason))
        checked += 1
        expected_seq += 1
        prev_hash = event.hash
    return ChainReport(checked, prev_hash, None)


def chain_head(session: Session) -> tuple[int, str]:
    """The number of events and the newest hash, to publish outside the store."""
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if last is None else (last.seq, last.hash)


def query_events(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> Sequence[AuditEvent]:
    """Events matching every filter given, oldest first.

    ``action`` and ``target`` match exactly, or by prefix when they end with ``*``
    (``incident.*`` is every incident event); ``since`` is inclusive, ``until`` exclusive.
    """
    statement = select(AuditEvent).order_by(AuditEvent.seq)
    for column, value in ((AuditEvent.action, action), (AuditEvent.target, target)):
        if value is None:
            continue
        if value.endswith("*"):
            statement = statement.where(column.startswith(value[:-1], autoescape=True))
        else:
            statement = statement.where(column == value)
    if actor is not None:
        statement = statement.where(AuditEvent.actor == actor)
    if severity is not None:
        statement = statement.where(AuditEvent.severity == severity)
    if since is not None:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.occurred_at < until)
    if limit is not None:
        statement = statement.limit(limit)
    return session.scalars(statement).all()
