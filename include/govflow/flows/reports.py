"""Issue 15 item 3: the reports as `govflow report` and the govflow_report_* DAGs draw them
(dags/govflow_reports.py): drawn from the records, kept under the data directory (Markdown,
HTML for the executive summary, PDF), each file's path and hash audited, the Markdown printed,
and a short summary put in the alert outbox for Slack.

A retried or cleared task draws the same report from the same records, so it rewrites the
same bytes, and the audit events and the Slack summary, keyed on the content's hash, add
nothing. A report whose records changed since is a new content: audited and posted anew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from govflow import settings, store
from govflow.alerts.outbox import enqueue_report_summary
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused, refusing
from govflow.incidents import regulator_report
from govflow.incidents.lifecycle import IncidentError
from govflow.reports import KeptReport, compliance, executive
from govflow.reports.executive import ReportError
from govflow.store.types import utcnow

ACTOR = "govflow-reports"
BAD_GRAVITY = "{gravity!r}: expected one of " + ", ".join(regulator_report.DEADLINE_DAYS)
NOT_BEGUN = "{period} has not begun yet (it begins {start:%Y-%m-%d %H:%M} UTC)"
NOT_YET = "{as_of:%Y-%m-%d %H:%M:%S} UTC is still to come: a report tells the records as they stood"


def previous_month(moment: datetime) -> str:
    """The month before ``moment``'s (a run on 2025-04-01 reports 2025-03)."""
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return f"{year}-{month:02d}"


def previous_quarter(moment: datetime) -> str:
    """The quarter before ``moment``'s (a run on 2025-04-01 reports 2025Q1)."""
    quarter = (moment.month - 1) // 3
    return f"{moment.year}Q{quarter}" if quarter else f"{moment.year - 1}Q4"


def _refuse_unless_begun(bounds: Callable[[str], tuple[datetime, datetime]], period: str) -> None:
    """A report of a period to come would be drawn from no records and kept, audited and
    posted as if it said something: refused (ReportError). The period under way is drawn as
    far as it has come."""
    start, _ = bounds(period)
    if start > utcnow():
        raise ReportError(NOT_BEGUN.format(period=period, start=start))


@dataclass(frozen=True)
class _Drawn:
    """A report drawn and kept, and what its Slack summary says."""

    kept: KeptReport
    markdown: str
    period: str
    title: str
    headline: str


def _keep_and_announce(draw: Callable[[Session, GovflowConfig], _Drawn]) -> dict[str, Any]:
    """Draw and keep a report in one transaction, print its Markdown, and queue its Slack
    summary (naming the PDF) once per content."""
    config = load_config(settings.config_dir())
    store.ensure_schema()
    with store.session_scope() as session:
        drawn = draw(session, config)
        print(drawn.markdown, end="")
        kept = drawn.kept
        queued = enqueue_report_summary(
            session,
            config,
            family=kept.family,
            period=drawn.period,
            sha256=kept.sha256,
            title=drawn.title,
            headline=drawn.headline,
            name=kept.name("pdf"),
        )
        return {
            "report": kept.family,
            "period": drawn.period,
            "files": [kept.name(path.suffix[1:]) for path in kept.paths],
            "sha256": kept.sha256,
            "slack_alert_id": queued[0].id if queued else None,
        }


def executive_report(month: str, *, actor: str = ACTOR) -> dict[str, Any]:
    """The monthly executive summary of ``month`` (YYYY-MM), one that has begun: kept,
    printed, announced."""
    _refuse_unless_begun(executive.month_bounds, month)

    def draw(session: Session, config: GovflowConfig) -> _Drawn:
        summary = executive.build_summary(session, config, month)
        kept = executive.write_summary(session, summary, data_dir=settings.data_dir(), actor=actor)
        title = f"Monthly drift summary, {summary.month}"
        markdown = executive.render_markdown(summary)
        return _Drawn(kept, markdown, summary.month, title, summary.headline())

    return _keep_and_announce(draw)


def compliance_report(quarter: str, *, actor: str = ACTOR) -> dict[str, Any]:
    """The quarterly compliance report of ``quarter`` (2025Q1), one that has begun: kept,
    printed, announced."""
    _refuse_unless_begun(compliance.quarter_bounds, quarter)

    def draw(session: Session, config: GovflowConfig) -> _Drawn:
        report = compliance.build_report(session, config, quarter)
        kept = compliance.write_report(session, report, data_dir=settings.data_dir(), actor=actor)
        title = f"Compliance report, {report.quarter}"
        return _Drawn(kept, report.markdown, report.quarter, title, report.headline)

    return _keep_and_announce(draw)


def incident_report(
    ref: str,
    *,
    as_of: datetime,
    gravity: regulator_report.Gravity = "standard",
    actor: str = ACTOR,
) -> dict[str, Any]:
    """The Art. 73 report of incident ``ref`` as of ``as_of``: kept, printed, announced. A
    moment to come is refused (ReportError): the report would be dated then and claim the
    incident's state and days left at a moment nobody has seen yet."""
    if as_of > utcnow():
        raise ReportError(NOT_YET.format(as_of=as_of))

    def draw(session: Session, config: GovflowConfig) -> _Drawn:
        report = regulator_report.build_report(session, config, ref, as_of=as_of, gravity=gravity)
        data_dir = settings.data_dir()
        kept = regulator_report.write_report(session, report, data_dir=data_dir, actor=actor)
        title = f"Serious-incident report ({report.kind}), {report.ref}"
        period = f"{report.ref}-{report.kind}"
        return _Drawn(kept, report.markdown, period, title, report.headline())

    return _keep_and_announce(draw)


def _refused_when_nothing_to_report() -> AbstractContextManager[None]:
    """A task asked for an incident that is not one, or as of a moment before it was opened,
    fails without a retry."""
    return refusing(IncidentError, ReportError)


@contextmanager
def _refused_naming(param: str) -> Iterator[None]:
    """A task asked for a period that is not one, or one to come, fails without a retry on
    one line naming the form's field."""
    try:
        yield
    except ReportError as error:
        raise Refused(f"param {param}: {error}") from None


def scheduled_executive_report(run_after: datetime, month: str = "") -> dict[str, Any]:
    """govflow_report_executive: ``month``, or the month before the run."""
    with _refused_naming("month"):
        return executive_report(month or previous_month(run_after))


def scheduled_compliance_report(run_after: datetime, quarter: str = "") -> dict[str, Any]:
    """govflow_report_compliance: ``quarter``, or the quarter before the run."""
    with _refused_naming("quarter"):
        return compliance_report(quarter or previous_quarter(run_after))


def requested_incident_report(params: dict[str, Any], *, run_after: datetime) -> dict[str, Any]:
    """govflow_report_incident: the form's incident as of the run's time (the same for
    every try of the run, so a retry draws the same report)."""
    gravity = params.get("gravity") or "standard"
    if gravity not in regulator_report.DEADLINE_DAYS:
        raise Refused(BAD_GRAVITY.format(gravity=gravity))
    with _refused_when_nothing_to_report():
        return incident_report(
            str(params["incident_ref"]).strip(), as_of=run_after, gravity=gravity
        )
