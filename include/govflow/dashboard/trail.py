"""Issue 16, the Audit page: the state of the hash chain and a bounded, filtered query of
its events (seed 003 "immutable audit trail", seed 004 section 6 "all dashboard actions
logged"), for auditors and admins.

A walk of the whole chain costs time in proportion to its length, too much for every page
view of a long-lived store: the first view walks it all, later views walk only the events
added since (``verify_chain(resume=...)``, which walks it all again when the event it ended
on is gone or changed) and "verify the whole chain" walks it all on demand. Every view
also holds the chain against the latest signed checkpoint, which costs two reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from govflow.audit import (
    ChainReport,
    CheckpointError,
    canonical_time,
    checkpoint_problem,
    hash_at,
    latest_checkpoint,
    query_events,
    signing_key,
    verify_chain,
)

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
PAYLOAD_SHOWN = 400
CHECKPOINTS_UNCHECKED = "the signed checkpoints cannot be checked: {error}"


@dataclass(frozen=True)
class ChainStatus:
    intact: bool
    events: int
    head_hash: str
    problem: str | None
    walk: Literal["whole chain", "new events since the last walk"]
    checkpoint_events: int | None
    checkpoint_signed_at: str | None
    verified_at: datetime


class ChainWatch:
    """The last intact walk of one store's chain, kept between page views."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: ChainReport | None = None

    def status(
        self, session: Session, checkpoints: Path, *, now: datetime, whole: bool = False
    ) -> ChainStatus:
        # Read before the walk (and before the session's first read): a checkpoint written
        # after it may cover events the walk does not see (as govflow audit verify does).
        checkpoint, problem = None, None
        try:
            checkpoint = latest_checkpoint(checkpoints)
        except CheckpointError as error:
            problem = CHECKPOINTS_UNCHECKED.format(error=error)
        with self._lock:  # one walk at a time; a second view waits for its result
            resume = None if whole else self._report
            report = verify_chain(session, resume=resume)
            self._report = report if report.intact else None
        if report.first_break is not None:
            problem = str(report.first_break)
        elif problem is None and checkpoint is not None:
            try:
                problem = checkpoint_problem(
                    checkpoint,
                    checkpoints,
                    signing_key(checkpoints, create=False),
                    events=report.events_checked,
                    hash_at_checkpoint=hash_at(session, checkpoint.events),
                )
            except CheckpointError as error:
                problem = CHECKPOINTS_UNCHECKED.format(error=error)
        return ChainStatus(
            intact=problem is None,
            events=report.events_checked,
            head_hash=report.head_hash,
            problem=problem,
            walk="whole chain" if resume is None else "new events since the last walk",
            checkpoint_events=None if checkpoint is None else checkpoint.events,
            checkpoint_signed_at=None if checkpoint is None else checkpoint.signed_at,
            verified_at=now,
        )


@dataclass(frozen=True)
class EventFilter:
    """The Audit page's query: every given filter must match; newest first."""

    action: str | None = None
    actor: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    page_size: int = DEFAULT_PAGE_SIZE


def audit_events(session: Session, wanted: EventFilter) -> list[dict[str, Any]]:
    """At most ``page_size`` (capped at MAX_PAGE_SIZE) events, newest first."""
    events = query_events(
        session,
        action=wanted.action,
        actor=wanted.actor,
        mentioning=wanted.model,
        since=wanted.since,
        until=wanted.until,
        before_seq=wanted.before_seq,
        limit=min(max(wanted.page_size, 1), MAX_PAGE_SIZE),
        newest_first=True,
    )
    return [
        {
            "seq": e.seq,
            "occurred_at": canonical_time(e.occurred_at),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "severity": e.severity,
            "payload": e.payload,
            "hash": e.hash,
        }
        for e in events
    ]
