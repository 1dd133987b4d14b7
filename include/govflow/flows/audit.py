"""Seed 003 (immutable audit trail): the daily walk of the hash chain, measured against the
latest signed checkpoint kept outside the store (issue 13 item 6)."""

from __future__ import annotations

from typing import Any

from govflow import settings, store
from govflow.audit import (
    advance_checkpoint,
    canonical_time,
    latest_checkpoint,
    signing_key,
    verify_trail,
)
from govflow.flows import Broken
from govflow.store.types import utcnow


class AuditChainBroken(Broken):
    """An event of the audit trail was edited, deleted, inserted or reordered, or events a
    signed checkpoint covers are missing or differ from the ones it signed: the daily run
    fails at once, since a retry would walk the same chain."""

    def __init__(self, problem: str, *, events_checked: int) -> None:
        super().__init__(problem)
        self.events_checked = events_checked


def verify_audit_chain(*, db_url: str | None = None, advance: bool = False) -> dict[str, Any]:
    """Walk the chain from the first event to the newest and hold it against the latest
    checkpoint: the number of events, the newest hash and the checkpoint, printed so that
    they are kept outside the store too. A break, or a checkpoint whose events are gone,
    raises :class:`AuditChainBroken`. With ``advance``, an intact chain is checkpointed."""
    store.ensure_schema(db_url)
    checkpoints = settings.audit_checkpoints(db_url or settings.db_url())
    # Read before the walk: a checkpoint written during it may cover events it did not see.
    checkpoint = latest_checkpoint(checkpoints)
    key = signing_key(checkpoints, create=advance)
    with store.session_scope(db_url) as session:
        report, problem = verify_trail(session, checkpoints, checkpoint, key)
    if problem is not None:
        raise AuditChainBroken(problem, events_checked=report.events_checked)
    if advance and key is not None and report.events_checked > 0:
        checkpoint = advance_checkpoint(
            checkpoints,
            events=report.events_checked,
            head_hash=report.head_hash,
            signed_at=canonical_time(utcnow()),
            key=key,
        ) or latest_checkpoint(checkpoints)
    covered = (
        "no checkpoint yet"
        if checkpoint is None
        else f"checkpoint of {checkpoint.signed_at} covers {checkpoint.events} events"
    )
    print(f"audit chain intact: {report.events_checked} events, head {report.head_hash}; {covered}")
    return {
        "events": report.events_checked,
        "head_hash": report.head_hash,
        "checkpoint": None
        if checkpoint is None
        else {"events": checkpoint.events, "signed_at": checkpoint.signed_at},
    }


__all__ = ["AuditChainBroken", "verify_audit_chain"]
