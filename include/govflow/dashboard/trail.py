"""Issue 16, the Audit page: the state of the hash chain and a bounded, filtered query of
its events (seed 003 "immutable audit trail", seed 004 section 6 "all dashboard actions
logged"), for auditors and admins.

A walk of the whole chain costs time in proportion to its length (about 1 s per 20,000
events), too much for a page view. A view therefore checks what is fast and says so: the
latest signed checkpoint (its signature, and that the stored event it ends on is the one it
signed, or that none it covers is missing) and, link by link, the events added after it.
That does not re-read the content of the events the checkpoint covers: an event edited in
place behind it is found only by the walk of the whole chain, which "verify the whole
chain" (``?verify=whole``) makes on demand, holding the chain against every signed
checkpoint as ``govflow audit verify`` does (newest events deleted and then written over
pass the latest checkpoint alone; an earlier one still signs what was deleted). The page
names which check it shows and when the whole chain was last walked by this server, and a
break that walk found stays on the page. A store without a checkpoint (older than issue 13)
is walked whole.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import (
    ChainReport,
    Checkpoint,
    CheckpointError,
    canonical_time,
    chain_head,
    checkpoint_problem,
    checkpoints_problem,
    hash_at,
    latest_checkpoint,
    query_events,
    signing_key,
    verify_chain,
)
from govflow.store.schema import AuditEvent

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
PAYLOAD_SHOWN = 400
CHECKPOINTS_UNCHECKED = "the signed checkpoints cannot be checked: {error}"
WHOLE_WALK_BROKE = "the whole-chain walk of {at} found: {problem}"
Walk = Literal["whole chain", "signed checkpoint and the events after it"]


@dataclass(frozen=True)
class ChainStatus:
    intact: bool
    events: int
    head_hash: str
    problem: str | None
    walk: Walk
    # Events read link by link in this view (all of them for a whole walk).
    events_walked: int
    checkpoint_events: int | None
    checkpoint_signed_at: str | None
    verified_at: datetime
    # The latest walk of the whole chain by this server, if any, and its verdict.
    whole_walked_at: datetime | None
    whole_walk_intact: bool | None


@dataclass(frozen=True)
class _WholeWalk:
    at: datetime
    problem: str | None
    number: int  # the walks this server began, this one included
    report: ChainReport


def _anchor(session: Session, checkpoint: Checkpoint) -> ChainReport | None:
    """The chain up to ``checkpoint`` as a walk would have left it, to walk on from; None
    when the event it ends on is not stored as it signed it (the checkpoint check says how)."""
    stored = session.execute(
        select(AuditEvent.hash, AuditEvent.hash_version).where(AuditEvent.seq == checkpoint.events)
    ).first()
    if stored is None or stored.hash != checkpoint.head_hash:
        return None
    return ChainReport(checkpoint.events, checkpoint.head_hash, None, stored.hash_version)


class ChainWatch:
    """The checks of one store's chain, and the latest whole walk kept between page views."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._whole: _WholeWalk | None = None
        self._begun = 0

    def _walk_whole(self, session: Session, now: datetime) -> ChainReport:
        """One whole walk at a time. A view that waited while another walked uses the result
        of a walk begun after it asked, which read every event stored before: views waiting
        together cost two walks, not one each (at 1 s per 20,000 events, each in a worker
        thread of the api-server)."""
        begun_before = self._begun
        with self._lock:
            last = self._whole
            if last is not None and last.number > begun_before:
                return last.report
            self._begun += 1
            report = verify_chain(session)
            problem = None if report.first_break is None else str(report.first_break)
            self._whole = _WholeWalk(now, problem, self._begun, report)
        return report

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
        walk: Walk = "whole chain"
        if whole or checkpoint is None or checkpoint.events == 0:
            report = self._walk_whole(session, now)
            walked = report.events_checked
        else:
            walk = "signed checkpoint and the events after it"
            anchor = _anchor(session, checkpoint)
            report = (
                ChainReport(*chain_head(session), None)
                if anchor is None
                else verify_chain(session, resume=anchor)
            )
            walked = 0 if anchor is None else report.events_checked - anchor.events_checked
        if report.first_break is not None:
            problem = str(report.first_break)
        elif problem is None and checkpoint is not None:
            try:
                key = signing_key(checkpoints, create=False)
                # The whole walk holds the chain against every checkpoint, as govflow audit
                # verify does (newest events deleted, then written over, pass the latest
                # alone); the quick check reads the latest only.
                problem = (
                    checkpoints_problem(
                        session, checkpoints, checkpoint, key, events=report.events_checked
                    )
                    if walk == "whole chain"
                    else checkpoint_problem(
                        checkpoint,
                        checkpoints,
                        key,
                        events=report.events_checked,
                        hash_at_checkpoint=hash_at(session, checkpoint.events),
                    )
                )
            except CheckpointError as error:
                problem = CHECKPOINTS_UNCHECKED.format(error=error)
        last = self._whole
        if problem is None and last is not None and last.problem is not None:
            # Behind the checkpoint, only the whole walk reads the events: its break stands.
            problem = WHOLE_WALK_BROKE.format(at=canonical_time(last.at), problem=last.problem)
        return ChainStatus(
            intact=problem is None,
            events=report.events_checked,
            head_hash=report.head_hash,
            problem=problem,
            walk=walk,
            events_walked=walked,
            checkpoint_events=None if checkpoint is None else checkpoint.events,
            checkpoint_signed_at=None if checkpoint is None else checkpoint.signed_at,
            verified_at=now,
            whole_walked_at=None if last is None else last.at,
            whole_walk_intact=None if last is None else last.problem is None,
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
