"""Reports rendered from govflow's records for the people who do not read findings tables."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.store.schema import Incident, IncidentEvent, MonitoringRun

ReportFamily = Literal["executive", "compliance", "incident"]
# Where each family's files go, under the data directory.
REPORT_DIRS: dict[ReportFamily, str] = {
    "executive": "reports/executive",
    "compliance": "reports/compliance",
    "incident": "reports/incidents",
}


@dataclass(frozen=True)
class PeriodIncidents:
    """The incidents a period's report answers for, each list oldest first: ``opened``, those
    opened in it or raised by an analysis of a window ending in it (a backfill, or the demo
    replaying March 2025, opens today an incident about the period's data: the period it
    concerns must still name it, with its own opening time kept for the SLA figures), and
    ``carried_over``, those opened before it and still open when it began. The period
    answers for both; the opening and SLA figures of the second are an earlier period's."""

    opened: list[Incident]
    carried_over: list[Incident]

    @property
    def count(self) -> int:
        """Every incident open at some moment of the period, or about it."""
        return len(self.opened) + len(self.carried_over)

    def open_at_end(self, end: datetime) -> int:
        return sum(open_at(i, end) for i in (*self.opened, *self.carried_over))


def opened_later(incidents: Sequence[Incident], end: datetime, period: str) -> str:
    """How many of ``incidents`` were opened after their ``period`` ended, about its data (a
    backfill, the demo replaying March 2025), said after a count of them "opened in or about"
    it: without it, "6 opened, 0 open at the month's end" reads as six incidents resolved in
    the month. Empty when every one was opened in it."""
    later = sum(i.opened_at >= end for i in incidents)
    if not later:
        return ""
    return f"{later} of the {len(incidents)} opened after the {period}, about its data"


def incidents_in_period(session: Session, start: datetime, end: datetime) -> PeriodIncidents:
    """The incidents of the period from ``start`` to ``end``, in one query."""
    about = or_(
        and_(Incident.opened_at >= start, Incident.opened_at < end),
        and_(MonitoringRun.interval_end > start, MonitoringRun.interval_end <= end),
    )
    still_open = and_(
        Incident.opened_at < start,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at >= start),
    )
    rows = session.execute(
        select(Incident, about.label("about"))
        .outerjoin(MonitoringRun, Incident.source_run_id == MonitoringRun.id)
        .where(or_(about, still_open))
        .order_by(Incident.opened_at, Incident.id)
    ).all()
    # "about" is NULL (not false) for an incident without a monitoring run opened before.
    return PeriodIncidents(
        [incident for incident, of in rows if of], [incident for incident, of in rows if not of]
    )


def open_at(incident: Incident, moment: datetime) -> bool:
    """Whether an incident was open (opened and not yet resolved) at a moment."""
    return incident.opened_at < moment and (
        incident.resolved_at is None or incident.resolved_at >= moment
    )


def first_acknowledgements(
    session: Session, incidents: Sequence[Incident]
) -> dict[int, datetime | None]:
    """When each incident was first acknowledged, from its events. The row keeps only the
    latest episode's acknowledgement (a reopening clears it): measured from the opening, it
    would make an incident acknowledged in minutes one acknowledged weeks late, or never. An
    incident written without its events has its row's alone."""
    rows = session.execute(
        select(IncidentEvent.incident_id, func.min(IncidentEvent.occurred_at))
        .where(
            IncidentEvent.incident_id.in_([i.id for i in incidents]),
            IncidentEvent.kind == "acknowledged",
        )
        .group_by(IncidentEvent.incident_id)
    ).all()
    found: dict[int, datetime] = {incident_id: moment for incident_id, moment in rows}
    return {i.id: found.get(i.id, i.acknowledged_at) for i in incidents}


def acknowledgement_misses(
    incidents: Iterable[Incident],
    end: datetime,
    sla_minutes: int,
    acknowledged: Mapping[int, datetime | None],
) -> tuple[int, int]:
    """(missed, judged): of the incidents whose acknowledgement SLA ran out before a period's
    ``end``, how many were not acknowledged in time (``acknowledged``: each one's first
    acknowledgement), late or not at all by then. A median of the acknowledgements made hides
    both, the second entirely (seed 004 3.1: "Acknowledge (15 min SLA)" holds for each
    incident)."""
    sla = timedelta(minutes=sla_minutes)
    judged = [i for i in incidents if i.opened_at + sla < end]
    missed = 0
    for incident in judged:
        at = acknowledged.get(incident.id)
        missed += at is None or at > incident.opened_at + sla
    return missed, len(judged)


def state_at_end(incident: Incident, end: datetime, period: str) -> str:
    """An incident as it stood at its period's end, and its status now where that differs: a
    report is drawn after its period, when an incident it lists may have been resolved or
    opened since, and its list must agree with its count of those open at the end."""
    if incident.opened_at >= end:
        then, status = f"not yet open at the {period}'s end", None
    elif open_at(incident, end):
        then, status = f"open at the {period}'s end", "open"
    else:
        then, status = f"resolved {incident.resolved_at:%Y-%m-%d}", "resolved"
    return then if incident.status == status else f"{then}; {incident.status} now"


def keep_report(
    session: Session,
    *,
    path: Path,
    content: str | bytes,
    action: str,
    target: str,
    actor: str,
    payload: dict[str, Any] | None = None,
) -> str:
    """Write a report under the data directory and record its path and sha256 in the audit
    trail, once per content (drawing the same report again adds no event); the sha256.
    A file already there with other bytes is never overwritten (FileExistsError): an
    earlier event recorded it, and its path must keep serving what that event hashed."""
    data = _bytes(content)
    if _written_elsewise(path, data):
        raise FileExistsError(OVERWRITE_REFUSED.format(path=path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    record_event(
        session,
        actor=actor,
        action=action,
        target=target,
        payload={"path": str(path), "sha256": digest, **(payload or {})},
        idempotency_key=f"{action}:{target}:{digest}",
    )
    return digest


@dataclass(frozen=True)
class KeptReport:
    """The files of one report (Markdown first) and the sha256 of its Markdown."""

    family: ReportFamily
    paths: list[Path]
    sha256: str

    def name(self, suffix: str = "pdf") -> str:
        """The report's file as named under the data directory (never a server path)."""
        path = next(p for p in self.paths if p.suffix == f".{suffix}")
        return f"{REPORT_DIRS[self.family]}/{path.name}"


def keep_renderings(
    session: Session,
    family: ReportFamily,
    stem: str,
    renderings: Mapping[str, str | bytes],
    *,
    data_dir: Path,
    actor: str,
    payload: dict[str, Any] | None = None,
) -> KeptReport:
    """Write each rendering (suffix -> content, Markdown first) as ``<stem>.<suffix>`` in the
    family's folder, each audited as ``report.<family>_generated`` on ``report:<family>:<file>``.
    A report drawn again with other content (a period redrawn after a late incident) is
    written as ``<stem>-2``, ``<stem>-3``, ...: the earlier files stay as recorded."""
    folder = Path(data_dir) / REPORT_DIRS[family]
    stem = unwritten_stem(folder, stem, renderings)
    paths, digests = [], []
    for suffix, content in renderings.items():
        path = folder / f"{stem}.{suffix}"
        digests.append(
            keep_report(
                session,
                path=path,
                content=content,
                action=f"report.{family}_generated",
                target=f"report:{family}:{path.name}",
                actor=actor,
                payload=payload,
            )
        )
        paths.append(path)
    return KeptReport(family, paths, digests[0])


OVERWRITE_REFUSED = "refused to overwrite {path}: it holds another report, recorded with its sha256"


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _written_elsewise(path: Path, data: bytes) -> bool:
    """Whether ``path`` already holds bytes other than ``data``."""
    return path.is_file() and path.read_bytes() != data


def unwritten_stem(folder: Path, stem: str, renderings: Mapping[str, str | bytes]) -> str:
    """``stem``, else the first of ``stem-2``, ``stem-3``, ... under which no rendering would
    replace other bytes (the same report drawn again keeps its name)."""
    candidate, number = stem, 1
    while any(
        _written_elsewise(folder / f"{candidate}.{suffix}", _bytes(content))
        for suffix, content in renderings.items()
    ):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate
