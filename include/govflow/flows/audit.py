"""Seed 003 (immutable audit trail): the daily walk of the hash chain."""

from __future__ import annotations

from typing import Any

from govflow import store
from govflow.audit import verify_chain


class AuditChainBroken(RuntimeError):
    """An event of the audit trail was edited, deleted, inserted or reordered."""

    def __init__(self, first_break: str, *, events_checked: int) -> None:
        super().__init__(first_break)
        self.events_checked = events_checked


def verify_audit_chain(*, db_url: str | None = None) -> dict[str, Any]:
    """Walk the chain from the first event to the newest: the number of events and the newest
    hash, printed so that the chain head is kept outside the store too. A break raises
    :class:`AuditChainBroken` naming the first event that does not fit."""
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        report = verify_chain(session)
    if not report.intact:
        raise AuditChainBroken(str(report.first_break), events_checked=report.events_checked)
    print(f"audit chain intact: {report.events_checked} events, head {report.head_hash}")
    return {"events": report.events_checked, "head_hash": report.head_hash}


__all__ = ["AuditChainBroken", "verify_audit_chain"]
