"""A serious-incident report to the market surveillance authority (EU AI Act Art. 73; seed
004 section 5 "Incident Reporting (Article 73)", seed 000's communication templates), drawn
from the incident's records only, so the same records and the same ``as_of`` give the same
report.

Art. 73 deadlines, counted from the provider's awareness (govflow's detection, the
incident's ``opened_at``): 15 days; 10 days where a person's death may be involved; 2 days
for a widespread infringement or a serious and irreversible disruption of critical
infrastructure. An initial, incomplete report is allowed within the deadline and completed
later: the report is ``initial`` while the incident is unresolved, ``final`` once it is
resolved or closed. Every part of it is as the records stood at ``as_of`` (the incident's
status, severity, class, assignee and documentation replayed from its events), so a report
drawn again as of the day an initial report was filed says what that one said, whatever
happened since. Art. 73 also forbids altering the system in a way that could affect the
evaluation of the incident's causes before informing the authority, so every change to the
model govflow recorded after awareness (kill switches, baselines, deployments, rollbacks) is
listed with its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import get_incident, state_at, timeline
from govflow.metrics.fairness import group_sizes_text
from govflow.reports import KeptReport, keep_renderings
from govflow.reports.executive import ReportError
from govflow.reports.html import markdown_html
from govflow.reports.pdf import markdown_pdf
from govflow.store.schema import AuditEvent, Deployment, Incident, MetricResult

Gravity = Literal["standard", "death", "widespread"]
DEADLINE_DAYS: dict[Gravity, int] = {"standard": 15, "death": 10, "widespread": 2}
DEADLINE_RULE: dict[Gravity, str] = {
    "standard": "Art. 73(2): 15 days after awareness",
    "death": "Art. 73(4): 10 days after awareness, a death may be involved",
    "widespread": (
        "Art. 73(3): 2 days after awareness, a widespread infringement or a serious and "
        "irreversible disruption of critical infrastructure"
    ),
}
# Audit actions that change what the model does or is judged against.
ALTERATIONS = ("kill_switch.", "baseline.", "deployment.", "rollout.", "rollback.")
FINAL_STATUSES = ("resolved", "closed")
NOT_YET_OPEN = (
    "{ref} was not yet open at {as_of:%Y-%m-%d %H:%M:%S} UTC "
    "(opened {opened:%Y-%m-%d %H:%M:%S} UTC)"
)


@dataclass(frozen=True)
class RegulatorReport:
    ref: str
    kind: Literal["initial", "final"]
    deadline: datetime
    days_left: float
    markdown: str
    as_of: datetime

    def headline(self) -> str:
        left = (
            f"{self.days_left:.1f} days left"
            if self.days_left >= 0
            else f"OVERDUE by {-self.days_left:.1f} days"
        )
        return f"Art. 73 deadline {self.deadline:%Y-%m-%d %H:%M} UTC, {left}."


def build_report(
    session: Session,
    config: GovflowConfig,
    ref: str,
    *,
    as_of: datetime,
    gravity: Gravity = "standard",
) -> RegulatorReport:
    """The Art. 73 report of incident ``ref`` as of ``as_of``; an ``as_of`` before the
    incident was opened is refused (ReportError), as there was nothing to report then."""
    incident = get_incident(session, ref)
    aware = incident.opened_at
    if as_of < aware:
        raise ReportError(NOT_YET_OPEN.format(ref=incident.ref, as_of=as_of, opened=aware))
    then = state_at(session, config, incident, as_of)
    deadline = aware + timedelta(days=DEADLINE_DAYS[gravity])
    days_left = (deadline - as_of) / timedelta(days=1)
    kind: Literal["initial", "final"] = "final" if then.status in FINAL_STATUSES else "initial"
    model = config.models.get(incident.model_id) if incident.model_id else None
    lines = [
        f"# Serious-incident report ({kind}) - {incident.ref}",
        "",
        f"EU AI Act Article 73, drawn from govflow's records as of {as_of:%Y-%m-%d %H:%M} UTC.",
        "",
        "## The system",
        f"- AI system: {incident.model_id or 'not model-specific'}"
        + (f" ({model.business_purpose}; risk tier {model.risk_tier})" if model else ""),
        f"- Owner: {incident.owner or 'not recorded'}",
        "",
        "## Awareness and deadline",
        f"- Aware since: {aware:%Y-%m-%d %H:%M} UTC (govflow's detection)",
        f"- Deadline: {deadline:%Y-%m-%d %H:%M} UTC ({DEADLINE_RULE[gravity]})",
        "- Days left: "
        + (f"{days_left:.1f}" if days_left >= 0 else f"OVERDUE by {-days_left:.1f} days"),
        f"- Report: {kind}"
        + (
            " (Art. 73(5) allows an initial, incomplete report; complete it when resolved)"
            if kind == "initial"
            else ""
        ),
        "",
        "## The incident",
        f"- Severity {then.severity}, class {then.priority}, status {then.status}",
        f"- Category {incident.category}, metric {incident.metric or '-'}",
        f"- {incident.title}",
        *([f"- {incident.summary}"] if incident.summary else []),
        *([f"- Root cause: {then.root_cause}"] if then.root_cause else []),
        *([f"- Corrective action: {then.corrective_action}"] if then.corrective_action else []),
        "",
        "## Affected groups and scope",
        *_scope(session, incident),
        "",
        "## Containment and changes to the system since awareness",
        *_changes(session, incident, as_of),
        "",
        "## Timeline",
        *[
            f"- {event.occurred_at:%Y-%m-%d %H:%M} {event.kind} by {event.actor}"
            + (f": {event.note}" if event.note else "")
            for event in timeline(session, incident)
            if event.occurred_at <= as_of
        ],
        "",
        "## Internal alert (seed 000 template)",
        "```",
        f"INCIDENT ALERT - {then.severity}",
        "",
        f"System: {incident.model_id or '-'}",
        f"Issue: {incident.title}",
        f"Impact: {incident.category} on {incident.metric or 'the system'}",
        f"Status: {then.status}",
        f"Next update: before {deadline:%Y-%m-%d %H:%M} UTC",
        "",
        f"Contact: {then.assigned_to or incident.owner or 'the on-call'}",
        "```",
        "",
    ]
    return RegulatorReport(incident.ref, kind, deadline, days_left, "\n".join(lines), as_of)


def _scope(session: Session, incident: Incident) -> list[str]:
    """The source record's findings of the incident's metric: value, groups, sizes."""
    if incident.source_run_id is None:
        return ["- no monitoring record is attached to the incident"]
    rows = session.scalars(
        select(MetricResult)
        .where(
            MetricResult.monitoring_run_id == incident.source_run_id,
            MetricResult.metric == incident.metric,
        )
        .order_by(MetricResult.id)
    ).all()
    if not rows:
        return [f"- monitoring record {incident.source_run_id}: no finding of {incident.metric}"]
    lines = []
    for row in rows:
        details = row.details or {}
        groups = details.get("group_sizes") or {}
        extremes = (
            f"; lowest {details['min_group']}, highest {details['max_group']}"
            if details.get("min_group")
            else ""
        )
        sizes = f"; {group_sizes_text(details)}" if groups else ""
        value = "n/a" if row.value is None else f"{row.value:.4g}"
        lines.append(
            f"- {row.check_type} {row.metric} of {row.subject or 'the model'}: {value} "
            f"({row.severity}){extremes}{sizes}"
        )
    return lines


def _changes(session: Session, incident: Incident, as_of: datetime) -> list[str]:
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.occurred_at >= incident.opened_at,
            AuditEvent.occurred_at <= as_of,
            or_(*[AuditEvent.action.startswith(prefix) for prefix in ALTERATIONS]),
        )
        .order_by(AuditEvent.seq)
    ).all()
    model_id = incident.model_id
    deployments = (
        set(session.scalars(select(Deployment.ref).where(Deployment.model_id == model_id)))
        if model_id
        else set()
    )
    mine = [
        e
        for e in events
        if (e.payload or {}).get("incident") == incident.ref
        or (model_id and _alters(e, model_id, deployments))
    ]
    if not mine:
        return ["- no change to the system was recorded after awareness"]
    return [f"- {e.occurred_at:%Y-%m-%d %H:%M} {e.action} by {e.actor} ({e.target})" for e in mine]


def _alters(event: AuditEvent, model_id: str, deployments: set[str]) -> bool:
    """Whether an event changed ``model_id``, read from its target by kind (a kill switch's
    from what it blocks, a deployment's from the deployment's model), never by a substring:
    another model's id may contain this one's, and a kill switch's target names no model."""
    kind, _, rest = event.target.partition(":")
    payload = event.payload or {}
    if kind in ("model", "baseline"):
        return rest.split(":", 1)[0] == model_id
    if kind == "deployment":
        return rest in deployments
    if kind == "kill_switch":
        scope, target = payload.get("scope"), str(payload.get("target", ""))
        return (
            (scope == "model_type" and target == model_id)
            or (scope == "model_version" and target.split(":", 1)[0] == model_id)
            # An endpoint is the model's predict route, /v1/models/<model>/predict.
            or (scope == "inference_endpoint" and model_id in target.split("/"))
        )
    return payload.get("model_id") == model_id


def write_report(
    session: Session, report: RegulatorReport, *, data_dir: Path, actor: str
) -> KeptReport:
    """Write the report as Markdown, HTML and PDF (dated ``as_of``) under the data directory
    and record their paths and hashes."""
    title = f"Serious-incident report ({report.kind}) - {report.ref}"
    renderings: dict[str, str | bytes] = {
        "md": report.markdown,
        "html": markdown_html(report.markdown, title=title),
        "pdf": markdown_pdf(report.markdown, title=title, created=report.as_of),
    }
    return keep_renderings(
        session,
        "incident",
        f"{report.ref}-{report.kind}",
        renderings,
        data_dir=data_dir,
        actor=actor,
        payload={"kind": report.kind, "deadline": report.deadline},
    )
