"""Tamper-evident audit trail (seed 003 "Comprehensive Audit Logger", seed 004 section 5).

Every event carries ``hash = sha256(prev_hash + canonical_event)``, where the canonical event
is the JSON, with sorted keys and no spaces, of every other field the store keeps for it:
sequence number, id, idempotency key, time, actor, action, target, severity, payload and
the version of this rule. Editing, deleting, inserting or reordering a stored event breaks
the chain at that event, and ``verify_chain`` names the first one that does not fit.

Hash versions: version 1 (events written before issue 13) left the idempotency key and the
version itself out of the canonical event. Those events are verified under their own rule;
every new event is version 2, and a chain never goes back from 2 to 1.

Appends are serialised (SQLite's write lock, a Postgres advisory lock) and ``prev_hash`` is
unique, so concurrent writers can never fork the chain. An ``idempotency_key`` makes an
append safe to retry: the second call returns the first event.

What a hash chain cannot show on its own: the removal of the newest events, or a rewrite of
the whole chain by someone who can write to the table. Every committed batch of events
therefore advances a signed checkpoint kept outside the store (``checkpoints``), and on
Postgres the migration adds triggers that refuse UPDATE, DELETE and TRUNCATE outright.
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

from sqlalchemy import String, cast, inspect, or_, select, text
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from govflow import settings
from govflow.audit.checkpoints import (
    Checkpoint,
    advance_checkpoint,
    all_checkpoints,
    checkpoint_problem,
    signing_key,
)
from govflow.store.keys import bounded_key
from govflow.store.schema import AuditEvent
from govflow.store.types import utcnow

GENESIS_HASH = "0" * 64
HASH_VERSION = 2
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
    """The fields the hash covers under the event's hash version, as JSON-able values."""
    fields = {
        "seq": event.seq,
        "event_id": event.event_id,
        "occurred_at": canonical_time(event.occurred_at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "severity": event.severity,
        "payload": event.payload,
    }
    if event.hash_version >= 2:
        fields["idempotency_key"] = event.idempotency_key
        fields["hash_version"] = event.hash_version
    return fields


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
    """Append one event to the chain (or return the event already recorded under the key).

    The idempotency key and the target are stored bounded (:func:`bounded_key`): both may
    hold a run id of any length."""
    if severity not in SEVERITIES:
        raise ValueError(UNKNOWN_SEVERITY.format(severity=severity))
    _lock_chain(session)
    if idempotency_key is not None:
        idempotency_key = bounded_key(idempotency_key)
        existing = event_under(session, idempotency_key)
        if existing is not None:
            return existing
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    event = AuditEvent(
        hash_version=HASH_VERSION,
        seq=1 if last is None else last.seq + 1,
        event_id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        occurred_at=(occurred_at or utcnow()).astimezone(UTC),
        actor=actor,
        action=action,
        target=bounded_key(target),
        severity=severity,
        payload=jsonable(payload or {}),
        prev_hash=GENESIS_HASH if last is None else last.hash,
    )
    event.hash = event_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    _checkpoint_on_commit(session, event)
    return event


def event_under(session: Session, idempotency_key: str) -> AuditEvent | None:
    """The event recorded under ``idempotency_key``, if any, whatever the key's length."""
    return session.scalars(
        select(AuditEvent).where(AuditEvent.idempotency_key == bounded_key(idempotency_key))
    ).first()


_UNCHECKPOINTED = "govflow.audit.uncheckpointed"


def _checkpoint_on_commit(session: Session, event: AuditEvent) -> None:
    # Events are written from many places, each inside its caller's transaction: the
    # checkpoint advances once per committed transaction, never for events rolled back.
    session.info.setdefault(_UNCHECKPOINTED, []).append(event)
    if not orm_event.contains(session, "after_commit", _advance_checkpoint_after_commit):
        orm_event.listen(session, "after_commit", _advance_checkpoint_after_commit)


def _advance_checkpoint_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; its events are not committed yet
    recorded: list[AuditEvent] = session.info.pop(_UNCHECKPOINTED, [])
    committed = [e for e in recorded if inspect(e).persistent]
    if not committed:
        return
    newest = max(committed, key=lambda e: e.seq)
    checkpoints = settings.audit_checkpoints(str(session.get_bind().engine.url))
    key = signing_key(checkpoints, create=True)
    assert key is not None
    advance_checkpoint(
        checkpoints,
        events=newest.seq,
        head_hash=newest.hash,
        signed_at=canonical_time(utcnow()),
        key=key,
    )


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
    head_version: int = HASH_VERSION

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(
    session: Session, *, batch_size: int = 5000, resume: ChainReport | None = None
) -> ChainReport:
    """Walk the chain in order and name the first event that does not fit.

    ``resume``, an intact report of an earlier walk, walks only the events after the ones it
    checked, linked to its head: it vouches for the new events, not for the old ones again."""
    start = resume if resume is not None and resume.intact else None
    if (
        start is not None
        and start.events_checked
        and (hash_at(session, start.events_checked) != start.head_hash)
    ):
        start = None  # the head it ended on is gone or changed: walk it all
    expected_seq = 1 if start is None else start.events_checked + 1
    prev_hash = GENESIS_HASH if start is None else start.head_hash
    previous: AuditEvent | None = None
    checked = 0 if start is None else start.events_checked
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.seq >= expected_seq)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=batch_size)
    )
    for event in rows:
        reason = None
        if previous is not None:
            version_before = previous.hash_version
        else:
            version_before = event.hash_version if start is None else start.head_version
        if event.seq != expected_seq:
            reason = (
                f"sequence jumps from {expected_seq - 1} to {event.seq}: "
                f"{event.seq - expected_seq} event(s) deleted"
                if event.seq > expected_seq
                else f"sequence number {event.seq} out of order"
            )
        elif event.hash_version not in (1, HASH_VERSION):
            reason = f"unknown hash version {event.hash_version}"
        elif event.prev_hash != prev_hash:
            if previous is not None and event.prev_hash == previous.prev_hash:
                # This event links past the one before it: that one was slipped in.
                inserted = ChainBreak(
                    previous.seq,
                    previous.event_id,
                    "inserted: the event after it links to the event before it",
                )
                return ChainReport(checked - 1, previous.prev_hash, inserted)
            reason = "previous-hash link does not match the event before it (inserted or reordered)"
        elif event.hash_version < version_before:
            reason = f"hash version goes back from {version_before} to {event.hash_version}"
        elif event_hash(event.prev_hash, event) != event.hash:
            reason = "hash does not match the event's content (edited)"
        if reason is not None:
            return ChainReport(checked, prev_hash, ChainBreak(event.seq, event.event_id, reason))
        checked += 1
        expected_seq += 1
        prev_hash = event.hash
        previous = event
    if previous is not None:
        return ChainReport(checked, prev_hash, None, previous.hash_version)
    return ChainReport(
        checked, prev_hash, None, HASH_VERSION if start is None else start.head_version
    )


def checkpoints_problem(
    session: Session,
    checkpoints: Path,
    latest: Checkpoint,
    key: bytes | None,
    *,
    events: int,
) -> str | None:
    """What is wrong with an intact chain of ``events`` events held against the latest
    checkpoint (read before the chain was), then against every checkpoint of the file up to
    it. The latest alone is not enough:
    newest events deleted, the next write appends new ones in their place and signs a
    checkpoint of that chain, which then passes; the checkpoints before it still sign the
    events that were deleted. Counts only grow in the file, so the chain's hashes are read
    once, in step with it. Raises CheckpointError when the checkpoints cannot be checked."""
    problem = checkpoint_problem(
        latest, checkpoints, key, events=events, hash_at_checkpoint=hash_at(session, latest.events)
    )
    if problem is not None:
        return problem
    hashes = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=5000)
    )
    with hashes:
        row = next(hashes, None)
        for checkpoint in all_checkpoints(checkpoints):
            if checkpoint.events > latest.events:
                break  # written after ``latest`` was read: it may cover events not walked
            while row is not None and row.seq < checkpoint.events:
                row = next(hashes, None)
            if row is not None and row.seq == checkpoint.events:
                hash_at_checkpoint: str | None = row.hash
            else:  # beyond the chain, or out of step with the file: looked up alone
                hash_at_checkpoint = hash_at(session, checkpoint.events)
            problem = checkpoint_problem(
                checkpoint, checkpoints, key, events=events, hash_at_checkpoint=hash_at_checkpoint
            )
            if problem is not None:
                return problem
    return None


def verify_trail(
    session: Session, checkpoints: Path, latest: Checkpoint | None, key: bytes | None
) -> tuple[ChainReport, str | None]:
    """The audit trail as `govflow audit verify` judges it: the chain walked from its first
    event, then, intact, held against the signed checkpoints up to ``latest`` (read before
    the walk). Returns the walk and what is wrong, None for nothing; raises CheckpointError
    when the checkpoints cannot be checked."""
    report = verify_chain(session)
    if report.first_break is not None:
        return report, str(report.first_break)
    if latest is None:
        return report, None
    problem = checkpoints_problem(session, checkpoints, latest, key, events=report.events_checked)
    return report, problem


def hash_at(session: Session, seq: int) -> str | None:
    """The stored hash of event ``seq``, if there is one."""
    return session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))


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
    mentioning: str | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
) -> Sequence[AuditEvent]:
    """Events matching every filter given, oldest first (or newest first).

    ``action`` and ``target`` match exactly, or by prefix when they end with ``*``
    (``incident.*`` is every incident event); ``since`` is inclusive, ``until`` exclusive;
    ``mentioning`` (a model id, say) appears in the target or the payload; ``before_seq``
    keeps the events before that sequence number (the next page of a newest-first list).
    """
    order = AuditEvent.seq.desc() if newest_first else AuditEvent.seq
    statement = select(AuditEvent).order_by(order)
    for column, value in ((AuditEvent.action, action), (AuditEvent.target, target)):
        if value is None:
            continue
        if value.endswith("*"):
            statement = statement.where(column.startswith(value[:-1], autoescape=True))
        else:  # stored bounded, as record_event bounds a target
            statement = statement.where(column == bounded_key(value))
    if actor is not None:
        statement = statement.where(AuditEvent.actor == actor)
    if severity is not None:
        statement = statement.where(AuditEvent.severity == severity)
    if since is not None:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.occurred_at < until)
    if mentioning is not None:
        statement = statement.where(
            or_(
                AuditEvent.target.contains(mentioning, autoescape=True),
                cast(AuditEvent.payload, String).contains(mentioning, autoescape=True),
            )
        )
    if before_seq is not None:
        statement = statement.where(AuditEvent.seq < before_seq)
    if limit is not None:
        statement = statement.limit(limit)
    return session.scalars(statement).all()
