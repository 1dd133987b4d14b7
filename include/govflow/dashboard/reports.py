"""Issue 16: every report govflow writes opens from the dashboard, by the path it was
recorded under, relative to the data directory.

Only a report the store records is served, never any other file of the data directory
(the store, prediction logs, the audit key live there too): a drift report is the
``report_path`` of its monitoring run, a readiness report one of its deployment's, and an
incident, compliance or executive report the path of its ``report.*_generated`` audit
event. Each kind is read under the permission of the page it belongs to. A path that could
leave ``reports/`` (``..``, an absolute path, a symlink pointing out) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.dashboard.access import DashboardRights, ViewPermission
from govflow.dashboard.deployments import recorded_reports
from govflow.monitoring.drift_report import COMPOSITE_PERMISSION, PERMISSION_ATTRIBUTE
from govflow.store.keys import bounded_key
from govflow.store.schema import AuditEvent, Deployment, MonitoringRun

ReportKind = Literal["drift", "readiness", "incident", "compliance", "executive"]
PERMISSION_OF: dict[ReportKind, ViewPermission] = {
    "drift": "drift_overview",
    "readiness": "deployments",
    "incident": "incident_timeline",
    "compliance": "governance_reports",
    "executive": "governance_reports",
}
# Reports of these kinds are recorded by their audit event (govflow.reports.keep_report).
AUDITED_KINDS: dict[str, ReportKind] = {
    "incidents": "incident",
    "compliance": "compliance",
    "executive": "executive",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
}
# Segments start with a letter, digit or underscore: no "." or ".." can pass.
SAFE_PATH = re.compile(r"^reports(/[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}){2,3}$")
MAX_PATH = 512
MAX_AUDITED_REPORTS = 2000
MAX_LISTED = 100
UNSAFE_PATH = "refused: {path!r} is not a report path under reports/ (no '..', no absolute path)"


class UnsafeReportPath(ValueError):
    def __init__(self, path: str) -> None:
        super().__init__(UNSAFE_PATH.format(path=path[:MAX_PATH]))


@dataclass(frozen=True)
class RecordedReport:
    path: str
    kind: ReportKind
    model_id: str | None

    @property
    def permission(self) -> ViewPermission:
        return PERMISSION_OF[self.kind]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[Path(self.path).suffix]


def check_path(path: str) -> None:
    """Raise UnsafeReportPath unless ``path`` is a plain relative path under reports/."""
    if len(path) > MAX_PATH or not SAFE_PATH.match(path) or Path(path).suffix not in MEDIA_TYPES:
        raise UnsafeReportPath(path)


def recorded_report(session: Session, path: str) -> RecordedReport | None:
    """The report recorded under ``path`` (relative to the data directory), or None."""
    check_path(path)
    parts = path.split("/")
    if parts[1] == "deployments" and len(parts) == 4:
        deployment = session.scalars(select(Deployment).where(Deployment.ref == parts[2])).first()
        if deployment is not None and path in recorded_reports(deployment):
            return RecordedReport(path, "readiness", deployment.model_id)
        return None
    if parts[1] in AUDITED_KINDS and len(parts) == 3:
        kind = AUDITED_KINDS[parts[1]]
        paths = session.scalars(
            select(AuditEvent.payload)
            .where(AuditEvent.action == f"report.{kind}_generated")
            .order_by(AuditEvent.seq.desc())
            .limit(MAX_AUDITED_REPORTS)
        )
        # keep_report records the absolute path it wrote (under the data directory then).
        if any(str(p.get("path", "")).endswith("/" + path) for p in paths):
            return RecordedReport(path, kind, None)
        return None
    if len(parts) == 3:
        run = session.scalars(
            select(MonitoringRun.id).where(
                MonitoringRun.model_id == parts[1], MonitoringRun.report_path == path
            )
        ).first()
        # A report its record no longer names (the run key was analysed again): the alerts of
        # the first analysis link it, and the trail recorded it as drawn.
        if run is None:
            run = session.scalars(
                select(AuditEvent.seq)
                .where(AuditEvent.target == bounded_key(f"report:drift:{path}"))
                .limit(1)
            ).first()
        return None if run is None else RecordedReport(path, "drift", parts[1])
    return None


# A drift report opens under the Drift Overview's permission, but its header carries the
# figures of other pages (seed 004 section 6): fairness (the Fairness Monitor's) and model
# drift (Model Health's). A reader without those is served the report without them.
VERDICTS_START = '<section id="govflow-verdicts"'
VERDICTS_END = "</section><hr>"
MARKED = re.compile(rf'<(tr|div) {PERMISSION_ATTRIBUTE}="(\w+)">.*?</\1>', re.DOTALL)
# Reports drawn before their figures were marked: these tables mix every check's figures.
UNMARKED_FIGURES = re.compile(
    r'<h2>[^<]*</h2>\n<table id="govflow-(?:composite|findings|fairness)".*?</table>', re.DOTALL
)
# Reports drawn before the composite's parts were marked by family name their rows by it.
COMPOSITE_TABLE = re.compile(r'<table id="govflow-composite".*?</table>', re.DOTALL)
FAMILY_ROW = re.compile(r"<tr><td>(\w+)</td>.*?</tr>", re.DOTALL)
LEFT_OUT = (
    "Left out of this report: the figures of {pages}, which your roles may not open"
    " (policy.yaml dashboard_access). The report as drawn is kept unchanged."
)


def withheld_figures(report: RecordedReport, rights: DashboardRights) -> list[ViewPermission]:
    """The permissions whose figures ``report`` must be served without to this reader."""
    if report.kind != "drift":
        return []
    return list(dict.fromkeys(rights.withheld_checks().values()))


def without_figures(page: str, withheld: Sequence[ViewPermission]) -> str | None:
    """A drift report's page without the figures of the ``withheld`` permissions: its marked
    rows and blocks and its composite's parts of their families (the score stays), or, in a
    report drawn before they were marked, every table of figures but the data-drift columns.
    Only govflow's own header is read (evidently's page below it holds the data drift of the
    features alone); None for a page without that header."""
    start = page.find(VERDICTS_START)
    end = page.find(VERDICTS_END, start)
    if start < 0 or end < 0:
        return None
    header = page[start:end]
    if PERMISSION_ATTRIBUTE in header:
        header = MARKED.sub(lambda m: "" if m[2] in withheld else m[0], header)
        header = COMPOSITE_TABLE.sub(lambda t: _without_parts(t[0], withheld), header)
    else:
        header = UNMARKED_FIGURES.sub("", header)
    pages = ", ".join(withheld)
    opening = header.index(">") + 1
    notice = f'<p id="govflow-left-out"><strong>{escape(LEFT_OUT.format(pages=pages))}</strong></p>'
    return page[:start] + header[:opening] + notice + header[opening:] + page[end:]


def _without_parts(table: str, withheld: Sequence[ViewPermission]) -> str:
    """The composite table without the rows of the families of the ``withheld`` permissions
    (each row's first cell names its family)."""
    families = {family for family, page in COMPOSITE_PERMISSION.items() if page in withheld}
    return FAMILY_ROW.sub(lambda row: "" if row[1] in families else row[0], table)


def report_file(data_dir: Path, report: RecordedReport) -> Path | None:
    """The file of ``report`` if it is still there and inside ``data_dir``/reports (a
    symlink leading elsewhere is not followed out)."""
    root = (data_dir / "reports").resolve()
    found = (data_dir / report.path).resolve()
    if not found.is_relative_to(root) or not found.is_file():
        return None
    return found


@dataclass(frozen=True)
class ListedReport:
    path: str
    kind: ReportKind
    target: str
    written_by: str
    written_at: datetime


def audited_reports(
    session: Session, kinds: list[ReportKind], *, limit: int = MAX_LISTED
) -> list[ListedReport]:
    """The newest incident, compliance and executive reports of ``kinds``, one row per
    path (its newest writing), from their ``report.*_generated`` audit events."""
    actions = [f"report.{kind}_generated" for kind in kinds if kind in AUDITED_KINDS.values()]
    if not actions:
        return []
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(actions))
        .order_by(AuditEvent.seq.desc())
        .limit(MAX_AUDITED_REPORTS)
    )
    listed: dict[str, ListedReport] = {}
    for event in events:
        written = str(event.payload.get("path", ""))
        if "/reports/" not in written:
            continue
        path = "reports/" + written.rsplit("/reports/", 1)[1]
        kind = AUDITED_KINDS.get(path.split("/")[1])
        if kind is not None and path not in listed and SAFE_PATH.match(path):
            listed[path] = ListedReport(path, kind, event.target, event.actor, event.occurred_at)
        if len(listed) == limit:
            break
    return list(listed.values())
