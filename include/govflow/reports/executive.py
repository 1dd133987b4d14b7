"""Seed 004 section 11: the monthly executive summary ("Drift summary + incidents", for the
executive team), one page a non-specialist reads, drawn from the month's monitoring records
and incidents only: the same records give the same report.

Per model: how many analyses ran, how many ended CRITICAL, WARNING, INFO or INCONCLUSIVE or FAILED,
the newest verdict, the worst composite score and the composite's trend over the month (an
inline SVG line in the HTML). Then the month's incidents: opened by severity and class,
those opened in an earlier month and still open when it began (the month answers for them
too, though their acknowledgement is an earlier month's), resolved, still open at the
month's end, and the acknowledgement time against the policy's SLA. Historical records
(backfills) are left out: the month is what happened in it.
"""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.reports import (
    KeptReport,
    acknowledgement_misses,
    first_acknowledgements,
    incidents_in_period,
    keep_renderings,
    opened_later,
    state_at_end,
)
from govflow.reports.charts import sparkline
from govflow.reports.pdf import markdown_pdf
from govflow.store.schema import Incident, MonitoringRun

# A failed analysis is recorded CRITICAL (it pages), but it judged nothing: the executives
# read it as FAILED, not as a CRITICAL drift of the model.
FAILED = "FAILED"
VERDICTS = ("CRITICAL", "WARNING", "INFO", "INCONCLUSIVE", FAILED)
BAD_MONTH = "{month!r} is not a month (YYYY-MM)"
NOT_CONFIGURED = "not in models.yaml"
CARRIED_OVER = "Opened before this month and still open when it began:"


class ReportError(ValueError):
    """A report that cannot be drawn; the message names why."""


@dataclass(frozen=True)
class ModelMonth:
    model_id: str
    risk_tier: str
    analyses: int
    verdicts: dict[str, int]
    newest: str
    worst_composite: float | None
    composite_trend: list[float]


@dataclass(frozen=True)
class ExecutiveSummary:
    month: str
    models: list[ModelMonth]
    opened: list[Incident]
    # Opened in an earlier month and still open when this one began.
    carried_over: list[Incident]
    resolved: int
    open_at_end: int
    median_ack_minutes: float | None
    ack_sla_minutes: int
    # (missed, judged): incidents whose acknowledgement SLA ran out in the month.
    ack_misses: tuple[int, int] = (0, 0)
    # Of ``opened``, the note on those opened after the month, about its data (``opened_later``).
    later: str = ""

    def headline(self) -> str:
        critical = [m.model_id for m in self.models if m.verdicts.get("CRITICAL")]
        incidents, carried = len(self.opened), len(self.carried_over)
        return (
            f"{sum(m.analyses > 0 for m in self.models)} of {len(self.models)} models "
            f"monitored in {self.month}; "
            + (
                f"CRITICAL findings on {', '.join(critical)}; "
                if critical
                else "no CRITICAL finding; "
            )
            + f"{incidents} incident{'s' if incidents != 1 else ''} opened, "
            + (f"{carried} opened before and open in it, " if carried else "")
            + f"{self.open_at_end} still open at the month's end"
            + (f" ({self.later})." if self.later else ".")
        )


def month_bounds(month: str) -> tuple[datetime, datetime]:
    # strptime takes "2025-3" too, which would be kept and announced as a second report of
    # March beside 2025-03; a month whose end is past year 9999 cannot be drawn at all.
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        if f"{first.year:04d}-{first.month:02d}" != month:
            raise ValueError
        following = (first.date().replace(day=28) + timedelta(days=4)).replace(day=1)
    except (ValueError, OverflowError):
        raise ReportError(BAD_MONTH.format(month=month)) from None
    return first, datetime.combine(following, datetime.min.time(), tzinfo=UTC)


def build_summary(session: Session, config: GovflowConfig, month: str) -> ExecutiveSummary:
    start, end = month_bounds(month)
    records = session.scalars(
        select(MonitoringRun)
        .where(
            MonitoringRun.interval_end > start,
            MonitoringRun.interval_end <= end,
            MonitoringRun.historical.is_(False),
        )
        .order_by(MonitoringRun.interval_end, MonitoringRun.id)
    ).all()
    # A model taken out of models.yaml still answers for the month it was monitored in.
    tiers: dict[str, str] = {model.id: model.risk_tier for model in config.models.models}
    for record in records:
        tiers.setdefault(record.model_id, NOT_CONFIGURED)
    models = []
    for model_id, risk_tier in tiers.items():
        mine = [r for r in records if r.model_id == model_id]
        verdicts = {v: sum(_verdict(r) == v for r in mine) for v in VERDICTS}
        composites = [r.composite_score for r in mine if r.composite_score is not None]
        models.append(
            ModelMonth(
                model_id,
                risk_tier,
                len(mine),
                {v: n for v, n in verdicts.items() if n},
                _verdict(mine[-1]) or "-" if mine else "No data",
                max(composites) if composites else None,
                composites,
            )
        )
    incidents = incidents_in_period(session, start, end)
    opened = incidents.opened
    # Every incident resolved in the month, whenever it was opened: one opened the month
    # before and resolved in this one was resolved this month.
    resolved = session.scalars(
        select(func.count())
        .select_from(Incident)
        .where(Incident.resolved_at >= start, Incident.resolved_at < end)
    ).one()
    acknowledged = first_acknowledgements(session, opened)
    acks = [
        (at - i.opened_at) / timedelta(minutes=1)
        for i in opened
        if (at := acknowledged[i.id]) is not None and at < end
    ]
    return ExecutiveSummary(
        month,
        models,
        opened,
        incidents.carried_over,
        resolved,
        incidents.open_at_end(end),
        statistics.median(acks) if acks else None,
        config.policy.escalation.acknowledgement_minutes,
        acknowledgement_misses(
            opened, end, config.policy.escalation.acknowledgement_minutes, acknowledged
        ),
        opened_later(opened, end, "month"),
    )


def _verdict(record: MonitoringRun) -> str | None:
    return FAILED if record.status == "failed" else record.severity


def _ack(summary: ExecutiveSummary) -> str:
    if summary.median_ack_minutes is None:
        return "no incident of the month was acknowledged by its end"
    within = "within" if summary.median_ack_minutes <= summary.ack_sla_minutes else "OVER"
    return (
        f"median time to acknowledge {summary.median_ack_minutes:.0f} min, {within} the "
        f"{summary.ack_sla_minutes}-minute SLA"
    )


def _misses(summary: ExecutiveSummary) -> list[str]:
    missed, judged = summary.ack_misses
    if not judged:
        return []
    return [
        f"{missed} of the {judged} incidents whose {summary.ack_sla_minutes}-minute "
        "acknowledgement SLA ran out by the month's end missed it (acknowledged late, or not "
        "by then).",
        "",
    ]


def _counts(model: ModelMonth) -> str:
    return ", ".join(f"{verdict} {count}" for verdict, count in model.verdicts.items()) or "-"


def render_markdown(summary: ExecutiveSummary) -> str:
    lines = [
        f"# Monthly drift summary, {summary.month}",
        "",
        summary.headline(),
        "",
        "| model | tier | analyses | verdicts | newest | worst composite |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in summary.models:
        worst = "-" if m.worst_composite is None else f"{m.worst_composite:.2f}"
        lines.append(
            f"| {m.model_id} | {m.risk_tier} | {m.analyses} | {_counts(m)} | {m.newest} | {worst} |"
        )
    lines += ["", f"## Incidents ({_ack(summary)})", "", *_misses(summary)]
    if not summary.opened:
        lines.append("No incident opened this month.")
    lines += [_incident_line(incident, summary) for incident in summary.opened]
    if summary.carried_over:
        lines += ["", CARRIED_OVER, ""]
        lines += [_incident_line(incident, summary) for incident in summary.carried_over]
    lines += [
        "",
        f"Resolved this month: {summary.resolved}; open at the month's end: {summary.open_at_end}.",
        "",
    ]
    return "\n".join(lines)


def render_html(summary: ExecutiveSummary) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.model_id)}</td><td>{m.risk_tier}</td><td>{m.analyses}</td>"
        f"<td>{html.escape(_counts(m))}</td><td>{html.escape(m.newest)}</td>"
        f"<td>{sparkline(m.composite_trend)}</td></tr>"
        for m in summary.models
    )
    incidents = "".join(_incident_item(i, summary) for i in summary.opened) or (
        "<li>No incident opened this month.</li>"
    )
    carried = "".join(_incident_item(i, summary) for i in summary.carried_over)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Monthly drift summary "
        f"{summary.month}</title></head><body><h1>Monthly drift summary, {summary.month}</h1>"
        f"<p>{html.escape(summary.headline())}</p><table><tr><th>model</th><th>tier</th>"
        f"<th>analyses</th><th>verdicts</th><th>newest</th><th>composite trend</th></tr>{rows}"
        f"</table><h2>Incidents ({html.escape(_ack(summary))})</h2>"
        + "".join(f"<p>{html.escape(line)}</p>" for line in _misses(summary) if line)
        + f"<ul>{incidents}</ul>"
        + (f"<p>{html.escape(CARRIED_OVER)}</p><ul>{carried}</ul>" if carried else "")
        + f"<p>Resolved this month: {summary.resolved}; open at the month's end: "
        f"{summary.open_at_end}.</p></body></html>\n"
    )


def _state(incident: Incident, summary: ExecutiveSummary) -> str:
    return state_at_end(incident, month_bounds(summary.month)[1], "month")


def _incident_line(incident: Incident, summary: ExecutiveSummary) -> str:
    return (
        f"- {incident.ref} {incident.priority} {incident.severity} {incident.model_id or '-'} "
        f"{incident.metric or incident.category}: {_state(incident, summary)}"
    )


def _incident_item(incident: Incident, summary: ExecutiveSummary) -> str:
    what = html.escape(incident.metric or incident.category)
    model = html.escape(incident.model_id or "-")
    return (
        f"<li>{html.escape(incident.ref)} {incident.priority} {incident.severity} {model} "
        f"{what}: {html.escape(_state(incident, summary))}</li>"
    )


def render_pdf(summary: ExecutiveSummary) -> bytes:
    """The Markdown laid out as PDF, each model's composite trend drawn after it; dated the
    month's end, so the same records give the same bytes."""
    markdown = render_markdown(summary) + "\n## Composite trend per model\n"
    return markdown_pdf(
        markdown,
        title=f"Monthly drift summary, {summary.month}",
        created=month_bounds(summary.month)[1],
        charts={m.model_id: m.composite_trend for m in summary.models},
    )


def write_summary(
    session: Session, summary: ExecutiveSummary, *, data_dir: Path, actor: str
) -> KeptReport:
    """Write the Markdown, HTML and PDF under the data directory; record their paths and
    hashes."""
    renderings: dict[str, str | bytes] = {
        "md": render_markdown(summary),
        "html": render_html(summary),
        "pdf": render_pdf(summary),
    }
    return keep_renderings(
        session, "executive", summary.month, renderings, data_dir=data_dir, actor=actor
    )
