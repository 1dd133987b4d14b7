"""Seed 004 sections 5 and 11: the quarterly compliance report for the board, drawn from the
monitoring records, incidents and audit trail only (the same records give the same report),
section by section along seed 004's EU AI Act table:

* Art. 72 (continuous monitoring): per model, the days with a scheduled daily analysis due
  against the days that have one, and the days missing;
* Art. 10 (bias monitoring): fairness findings above INFO per model and attribute, and the
  80 % rule table of every high-risk model (newest and lowest disparate impact of the
  quarter, the lowest with the interval and the smallest group it was judged on, and the
  verdicts; for a regressor the ratios policy.yaml judges with disparate impact's bounds,
  its groups' mean predictions and mean absolute errors);
* Art. 15 (performance degradation): accuracy-drop findings above INFO;
* Art. 73 (incident reporting): incidents opened per class, time to acknowledge and to
  resolve, accepted risks and their expiry;
* Art. 12 (record-keeping): baseline changes and who approved them, kill-switch uses, and the
  audit chain's verification as the report is drawn, its reach counted to the end of the
  quarter's last day counted (the report's own events come after it).

Each section answers for what was in force or open during the quarter, whenever it began:
incidents still open when it began, risk acceptances and kill switches in force then, and
models taken out of models.yaml that have records in it.

Historical records (backfills) are left out, as from the executive summary: a day analysed
later was not monitored in the quarter, and Art. 72's coverage is the monitoring there was.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from govflow import settings
from govflow.audit import (
    Checkpoint,
    CheckpointError,
    latest_checkpoint,
    signing_key,
    verify_trail,
)
from govflow.config import GovflowConfig
from govflow.metrics.regression import JUDGED_AS
from govflow.reports import (
    KeptReport,
    PeriodIncidents,
    acknowledgement_misses,
    first_acknowledgements,
    incidents_in_period,
    keep_renderings,
    open_at,
    opened_later,
    state_at_end,
)
from govflow.reports.executive import ReportError
from govflow.reports.html import markdown_html
from govflow.reports.pdf import markdown_pdf
from govflow.store.schema import (
    AuditEvent,
    Baseline,
    Incident,
    KillSwitch,
    MetricResult,
    Model,
    MonitoringRun,
    RiskAcceptance,
)
from govflow.store.types import utcnow

BAD_QUARTER = "{quarter!r} is not a quarter (YYYYQ1 to YYYYQ4)"
DISPARATE_IMPACT = "disparate_impact_ratio"
# The ratios judged by the 80 % rule: disparate impact, and a regressor's ratios that
# policy.yaml judges with its bounds.
EIGHTY_PERCENT_RULE = {
    DISPARATE_IMPACT,
    *(metric for metric, bounds in JUDGED_AS.items() if bounds == DISPARATE_IMPACT),
}
SCHEDULED_DAILY: Literal["daily"] = "daily"
GAPS_LISTED = 10
ON_DEMAND = "on_demand"
LOOKED_UP = " ({count} of them by `govflow monitor run`, which records without acting)"
NEVER_ANALYSED = "no analysis recorded by the quarter's end"
NOT_CONFIGURED = "not in models.yaml"
# The statuses of an acceptance that once suppressed findings: approved, and approved then
# expired or revoked (govflow.incidents.risk_acceptances).
IN_FORCE_ONCE = ("approved", "expired", "revoked")
UNCHECKED = "its signed checkpoints cannot be checked: {error}"


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    # int() takes a sign ("-025Q1"), and a year 0 or a quarter ending past 9999 cannot be
    # drawn: each is not a quarter, not a failure of the report.
    try:
        year, number = int(quarter[:4]), int(quarter[-1])
        if len(quarter) != 6 or not quarter[:4].isdigit() or quarter[4].upper() != "Q":
            raise ValueError
        if not 1 <= number <= 4:
            raise ValueError
        start = datetime(year, 3 * number - 2, 1, tzinfo=UTC)
        end = datetime(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1, tzinfo=UTC)
    except ValueError:
        raise ReportError(BAD_QUARTER.format(quarter=quarter)) from None
    return start, end


@dataclass(frozen=True)
class ComplianceReport:
    quarter: str
    markdown: str
    headline: str
    end: datetime


def build_report(
    session: Session, config: GovflowConfig, quarter: str, *, now: datetime | None = None
) -> ComplianceReport:
    """The quarter's compliance report as Markdown, and its headline for a summary. A quarter
    under way at ``now`` (default: the clock) is drawn as far as it has come: a day whose
    window has not ended cannot have been analysed, so it is not a day missing."""
    start, end = quarter_bounds(quarter)
    drawn_to = min(end, now or utcnow())
    # Before the session's first read: a checkpoint written after it may cover events that
    # the walk of the chain below does not see.
    latest = _latest_checkpoint(session)
    quarter = quarter.upper()
    records = session.scalars(
        select(MonitoringRun).where(
            MonitoringRun.interval_end > start,
            MonitoringRun.interval_end <= end,
            MonitoringRun.historical.is_(False),
        )
    ).all()
    broken = _trail_problem(session, latest)
    incidents = incidents_in_period(session, start, end)
    tiers = _tiers(session, config, records)
    # Whether each finding's analysis was a command-line look-up (`govflow monitor run`: on
    # demand, run by no DAG), which records without acting: it opens no incident.
    look_up = and_(MonitoringRun.cadence == ON_DEMAND, MonitoringRun.dag_id.is_(None))
    findings = session.execute(
        select(MetricResult, MonitoringRun.model_id, look_up)
        .join(MonitoringRun, MetricResult.monitoring_run_id == MonitoringRun.id)
        .where(MonitoringRun.id.in_([r.id for r in records]))
    ).all()
    lines = [
        f"# Compliance report, {quarter}",
        "",
        f"From govflow's records of {start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}, "
        "along seed 004's EU AI Act table." + _under_way(drawn_to, end),
        "",
        "## Art. 72: continuous monitoring (scheduled daily analyses)",
        "",
        *_coverage(config, tiers, records, _first_records(session), start.date(), drawn_to.date()),
        "",
        "## Art. 10: bias monitoring",
        "",
        *_above_info(findings, "fairness_drift"),
        "",
        "80 % rule (disparate impact; a regressor's mean prediction and mean absolute error "
        "ratios) of the high-risk models:",
        "",
        *_eighty_percent(tiers, findings),
        "",
        "## Art. 15: performance degradation",
        "",
        *_above_info(findings, "model_drift"),
        "",
        "## Art. 73: incidents",
        "",
        *_incidents(session, config, incidents, start, end),
        "",
        "## Art. 12: record-keeping",
        "",
        *_records(session, start, end, broken, chain_to=_counted_to(drawn_to, end)),
        "",
    ]
    headline = _headline(quarter, incidents, end, broken)
    return ComplianceReport(quarter, "\n".join(lines), headline, end)


def _under_way(drawn_to: datetime, end: datetime) -> str:
    """A quarter under way is named by its last day counted, not the minute: drawn again the
    same day, it is the same report."""
    if drawn_to == end:
        return ""
    return f" The quarter is under way: days to {drawn_to - timedelta(days=1):%Y-%m-%d} counted."


def _counted_to(drawn_to: datetime, end: datetime) -> datetime:
    """The end of the quarter's last day counted: the quarter's end, or for a quarter under
    way the midnight the report is drawn after."""
    if drawn_to == end:
        return end
    return datetime.combine(drawn_to.date(), datetime.min.time(), tzinfo=UTC)


@dataclass(frozen=True)
class _Checkpoints:
    """The checkpoints' file, its latest checkpoint and key, or why they cannot be read."""

    path: Path
    latest: Checkpoint | None = None
    key: bytes | None = None
    unreadable: str | None = None


def _latest_checkpoint(session: Session) -> _Checkpoints:
    checkpoints = settings.audit_checkpoints(str(session.get_bind().engine.url))
    try:
        latest = latest_checkpoint(checkpoints)
        key = signing_key(checkpoints, create=False) if latest is not None else None
    except CheckpointError as error:
        return _Checkpoints(checkpoints, unreadable=UNCHECKED.format(error=error))
    return _Checkpoints(checkpoints, latest, key)


def _trail_problem(session: Session, checkpoints: _Checkpoints) -> str | None:
    """What is wrong with the audit trail, as `govflow audit verify` judges it (a chain cut
    short, or cut and written over, is intact as a chain; the signed checkpoints kept
    outside the store are not); a break of the chain first."""
    try:
        _, problem = verify_trail(session, checkpoints.path, checkpoints.latest, checkpoints.key)
    except CheckpointError as error:
        return UNCHECKED.format(error=error)
    return problem or checkpoints.unreadable


def _headline(quarter: str, incidents: PeriodIncidents, end: datetime, broken: str | None) -> str:
    """The report in one line (its Slack summary): every incident open in the quarter, those
    carried over from an earlier one too."""
    opened, carried = len(incidents.opened), len(incidents.carried_over)
    state = "intact" if broken is None else "BROKEN"
    later = opened_later(incidents.opened, end, "quarter")
    return (
        f"{opened} incident{'s' if opened != 1 else ''} opened in or about {quarter}"
        + (f", {carried} opened before it and open in it" if carried else "")
        + f" ({incidents.open_at_end(end)} open at its end); "
        + (f"{later}; " if later else "")
        + f"audit chain {state}."
    )


def _tiers(
    session: Session, config: GovflowConfig, records: Sequence[MonitoringRun]
) -> dict[str, str | None]:
    """Each model the report answers for and its risk tier: the models of models.yaml, then
    those taken out of it that have records in the quarter (they were monitored in it), with
    the tier they were registered with, None for a removed one (its rows say so)."""
    tiers: dict[str, str | None] = {model.id: model.risk_tier for model in config.models.models}
    removed = sorted({r.model_id for r in records} - set(tiers))
    registered = dict(
        session.execute(select(Model.id, Model.risk_tier).where(Model.id.in_(removed))).all()
    )
    return {**tiers, **{model_id: registered.get(model_id) for model_id in removed}}


def _first_records(session: Session) -> dict[str, date]:
    """Each model's first analysed day: nothing is due before a model is monitored."""
    rows = session.execute(
        select(MonitoringRun.model_id, func.min(MonitoringRun.interval_start)).group_by(
            MonitoringRun.model_id
        )
    ).all()
    return {model_id: first.date() for model_id, first in rows if first is not None}


def _coverage(
    config: GovflowConfig,
    tiers: dict[str, str | None],
    records: Sequence[MonitoringRun],
    monitored_since: dict[str, date],
    first: date,
    end: date,
) -> list[str]:
    """Art. 72's table: a model of models.yaml with daily checks due from its first analysed
    day; a model taken out of it, from then to its last record of the quarter (when it left
    models.yaml no record tells, and it was monitored until then), its tier so marked."""
    lines = ["| model | tier | days due | days analysed | coverage | days missing |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    configured = set(config.models.ids())
    by_model: dict[str, list[MonitoringRun]] = {}
    for record in records:
        by_model.setdefault(record.model_id, []).append(record)
    for model_id, tier in tiers.items():
        mine = by_model.get(model_id, [])
        until = end
        if model_id in configured:
            shown_tier = str(tier)
            if not config.policy.checks_due(config.models.get(model_id).risk_tier, SCHEDULED_DAILY):
                continue
        else:
            shown_tier = f"{tier or 'unregistered'}, {NOT_CONFIGURED}"
            if not any(r.cadence == SCHEDULED_DAILY for r in mine):
                continue
            until = min(end, max(r.interval_end for r in mine).date())
        since = max(first, monitored_since.get(model_id, until))
        days = [since + timedelta(days=n) for n in range((until - since).days)]
        if not days:
            # Nothing is due before a model's first analysis, but a model never analysed
            # is the gap the board must see, not a row left out.
            lines.append(f"| {model_id} | {shown_tier} | - | 0 | - | {NEVER_ANALYSED} |")
            continue
        done, failed = (
            {
                (r.interval_end - timedelta(seconds=1)).date()
                for r in mine
                if r.cadence == SCHEDULED_DAILY and r.status == status
            }
            for status in ("succeeded", "failed")
        )
        missing = [day for day in days if day not in done]
        # A day whose analysis failed was not monitored either, but it is not the same gap
        # as a day nothing ran: the auditor is told which is which.
        shown = ", ".join(
            f"{day:%m-%d}" + (" failed" if day in failed else "") for day in missing[:GAPS_LISTED]
        )
        if len(missing) > GAPS_LISTED:
            shown += f" and {len(missing) - GAPS_LISTED} more"
        coverage = 100 * (len(days) - len(missing)) / len(days)
        lines.append(
            f"| {model_id} | {shown_tier} | {len(days)} | {len(days) - len(missing)} | "
            f"{coverage:.1f} % | {shown or 'none'} |"
        )
    return lines


def _above_info(findings: Sequence[Any], check_type: str) -> list[str]:
    counts: dict[tuple[str, str, str, str], int] = {}
    looked_up: dict[tuple[str, str, str, str], int] = {}
    for result, model_id, look_up in findings:
        if result.check_type == check_type and result.severity in ("WARNING", "CRITICAL"):
            key = (model_id, result.metric, result.subject, result.severity)
            counts[key] = counts.get(key, 0) + 1
            looked_up[key] = looked_up.get(key, 0) + bool(look_up)
    if not counts:
        return ["No finding above INFO."]
    # A model-wide metric (accuracy drop) has no subject: nothing is shown for it, not a
    # space before the colon.
    lines = []
    for key, n in sorted(counts.items(), key=_finding_order):
        model, metric, subject, severity = key
        lines.append(
            f"- {' '.join(filter(None, (model, metric, subject)))}: {severity} on {n} "
            f"analys{'is' if n == 1 else 'es'}"
            + (LOOKED_UP.format(count=looked_up[key]) if looked_up[key] else "")
        )
    return lines


def _finding_order(item: tuple[tuple[str, str, str, str], int]) -> tuple[str, ...]:
    # The subject of a model-wide finding is None, which does not sort beside a string.
    (model, metric, subject, severity), _ = item
    return (model, metric, subject or "", severity)


def _evidence(result: MetricResult) -> str:
    """The interval a DI verdict rested on, the smallest group it compared and how many were
    too small to compare, as the finding recorded them (an older record without them shows
    the value alone)."""
    details = result.details or {}
    low, high = details.get("ci_low"), details.get("ci_high")
    sizes = details.get("group_sizes") or {}
    compared = {
        group: sizes[group] for group in details.get("groups_compared", []) if group in sizes
    }
    shown = [f"interval {low:.3f}-{high:.3f}"] if low is not None and high is not None else []
    if compared:
        group, rows = min(compared.items(), key=lambda item: (item[1], item[0]))
        counted = details.get("group_sizes_counted", "rows")
        shown.append(f"smallest group compared {group} {rows} {counted}")
    if details.get("excluded_groups"):
        shown.append(f"{len(details['excluded_groups'])} too small to compare")
    days = details.get("pooled_days", 1)
    if shown and days > 1:
        shown.append(f"{days} days pooled")
    return f" ({', '.join(shown)})" if shown else ""


def _eighty_percent(tiers: dict[str, str | None], findings: Sequence[Any]) -> list[str]:
    lines = [
        "| model | attribute | analyses | lowest ratio (its evidence) | newest ratio | verdicts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    high = {model_id for model_id, tier in tiers.items() if tier == "high"}
    by_subject: dict[tuple[str, str, str], list[MetricResult]] = {}
    for result, model_id, _ in findings:
        if model_id in high and result.metric in EIGHTY_PERCENT_RULE:
            key = (model_id, result.subject, result.metric)
            by_subject.setdefault(key, []).append(result)
    for (model_id, attribute, metric), results in sorted(by_subject.items()):
        subject = attribute if metric == DISPARATE_IMPACT else f"{attribute}: {metric}"
        valued = [r for r in sorted(results, key=lambda r: r.id) if r.value is not None]
        verdicts: dict[str, int] = {}
        for r in results:
            label = "INCONCLUSIVE" if r.status == "inconclusive" else r.severity
            verdicts[label] = verdicts.get(label, 0) + 1
        values = [(float(r.value), r) for r in valued if r.value is not None]
        worst = min(values, key=lambda pair: pair[0]) if values else None
        lowest = f"{worst[0]:.3f}{_evidence(worst[1])}" if worst is not None else "-"
        newest = f"{values[-1][0]:.3f}" if values else "-"
        summary = ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
        lines.append(
            f"| {model_id} | {subject} | {len(results)} | {lowest} | {newest} | {summary} |"
        )
    return lines if len(lines) > 2 else ["No high-risk model was analysed for fairness."]


def _incidents(
    session: Session,
    config: GovflowConfig,
    incidents: PeriodIncidents,
    start: datetime,
    end: datetime,
) -> list:
    opened = incidents.opened
    # A quarter without an incident may still have accepted a risk (on an older incident):
    # it is listed all the same.
    lines = [] if opened else ["No incident opened in or about this quarter."]
    sla = config.policy.escalation.acknowledgement_minutes
    acknowledged = first_acknowledgements(session, opened)
    for priority in sorted({i.priority for i in opened}):
        mine = [i for i in opened if i.priority == priority]
        acks = [
            (at - i.opened_at) / timedelta(minutes=1)
            for i in mine
            if (at := acknowledged[i.id]) is not None and at < end
        ]
        fixes = [
            (i.resolved_at - i.opened_at) / timedelta(hours=1)
            for i in mine
            if i.resolved_at is not None and not open_at(i, end)
        ]
        ack = (
            f"median acknowledgement {statistics.median(acks):.0f} min"
            if acks
            else "none acknowledged"
        )
        fix = f"median resolution {statistics.median(fixes):.1f} h" if fixes else "none resolved"
        later = opened_later(mine, end, "quarter")
        lines.append(
            f"- {priority}: {len(mine)} opened, {ack} (SLA {sla} min), {fix}, "
            f"{sum(open_at(i, end) for i in mine)} open at the quarter's end"
            + (f"; {later}" if later else "")
        )
        missed, judged = acknowledgement_misses(mine, end, sla, acknowledged)
        if judged:
            lines.append(
                f"  - acknowledgement SLA missed by {missed} of the {judged} whose SLA ran out "
                "by the quarter's end (acknowledged late, or not by then)"
            )
        # Each under its class's line: listed after the last class, a P0 read as a P1's.
        lines += [
            f"  - {i.ref} {i.severity} {i.model_id or '-'} {i.metric or i.category}: "
            f"{state_at_end(i, end, 'quarter')}, "
            f"opened {i.opened_at:%Y-%m-%d %H:%M} UTC"
            for i in sorted(mine, key=lambda i: i.id)
        ]
    # Requested or decided in the quarter, or accepted before it and suppressing in it.
    risks = session.scalars(
        select(RiskAcceptance)
        .where(
            RiskAcceptance.created_at < end,
            or_(
                RiskAcceptance.created_at >= start,
                RiskAcceptance.decided_at >= start,
                and_(
                    RiskAcceptance.status.in_(IN_FORCE_ONCE),
                    RiskAcceptance.suppression_until > start,
                ),
            ),
        )
        .order_by(RiskAcceptance.created_at, RiskAcceptance.id)
    ).all()
    lines += [_acceptance_line(r, start, end) for r in risks] or [
        "- no risk accepted or in force this quarter"
    ]
    return lines + _carried_over(incidents.carried_over, end)


def _acceptance_line(acceptance: RiskAcceptance, start: datetime, end: datetime) -> str:
    """One acceptance as it stood at the quarter's ``end``: a request decided after it was
    still pending then, and one whose suppression ended after it (expired or revoked) was in
    force; what came later is named beside."""
    decided, until = acceptance.decided_at, acceptance.suppression_until
    head = f"- accepted risk on {acceptance.model_id} {acceptance.metric}: "
    if acceptance.status == "requested" or (decided is not None and decided >= end):
        later = f" ({acceptance.status} {decided:%Y-%m-%d}, after the quarter)" if decided else ""
        undecided = f"requested by {acceptance.requested_by}, undecided at the quarter's end"
        return head + undecided + later
    status, after, revoked = acceptance.status, "", acceptance.details.get("revoked_because")
    if status in IN_FORCE_ONCE and until is not None and until > end and status != "approved":
        status, after = "approved", f" ({acceptance.status} {until:%Y-%m-%d}, after the quarter)"
        granted = acceptance.details.get("granted_until")
        until, revoked = datetime.fromisoformat(granted) if granted else until, None
    return (
        f"{head}{status}, approved by {acceptance.approved_by or '-'}, suppressed until "
        f"{until or '-'}{after}"
        + (
            f" (accepted {decided:%Y-%m-%d}, in force when the quarter began)"
            if decided is not None and decided < start
            else ""
        )
        + (f" (revoked: {revoked})" if revoked else "")
    )


def _carried_over(carried: list[Incident], end: datetime) -> list:
    """The incidents opened before the quarter and still open when it began: the quarter
    answers for them too, though their opening and SLA figures are an earlier quarter's."""
    if not carried:
        return ["- no incident opened before this quarter was open in it"]
    return [
        f"- {len(carried)} opened before this quarter and open when it began, "
        f"{sum(open_at(i, end) for i in carried)} of them still at its end:",
        *(
            f"  - {i.ref} {i.priority} {i.severity} {i.model_id or '-'} "
            f"{i.metric or i.category}: {state_at_end(i, end, 'quarter')}, "
            f"opened {i.opened_at:%Y-%m-%d %H:%M} UTC"
            for i in carried
        ),
    ]


def _records(
    session: Session, start: datetime, end: datetime, broken: str | None, *, chain_to: datetime
) -> list[str]:
    baselines = session.scalars(
        select(Baseline)
        .where(Baseline.created_at >= start, Baseline.created_at < end)
        .order_by(Baseline.id)
    ).all()
    # Used in the quarter, or in force when it began (activated before, lifted in it or not).
    switches = session.scalars(
        select(KillSwitch)
        .where(
            KillSwitch.activated_at < end,
            or_(
                KillSwitch.activated_at >= start,
                KillSwitch.deactivated_at.is_(None),
                KillSwitch.deactivated_at > start,
            ),
        )
        .order_by(KillSwitch.activated_at, KillSwitch.id)
    ).all()
    lines = [
        f"- baseline {b.model_id} {b.version} ({b.kind}) by {b.created_by}, approved by "
        f"{b.approved_by or 'automatic trigger'}"
        for b in baselines
    ] or ["- no baseline created this quarter"]
    lines += [
        f"- kill switch {k.scope} {k.target} by {k.activated_by} at {k.activated_at:%Y-%m-%d %H:%M}"
        f" ({'lifted by ' + k.deactivated_by if k.deactivated_by else 'still active'})"
        + (" in force when the quarter began" if k.activated_at < start else "")
        for k in switches
    ] or ["- no kill switch used or in force this quarter"]
    # The chain as far as the last day counted (the quarter's end, or for a quarter under way
    # the midnight before the draw), not its head now: drawing the report adds events (its
    # own audit, its Slack post), and the same records must give the same report. A prefix
    # of the chain cut at a moment is what an auditor can check again by its last hash.
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.occurred_at < chain_to).order_by(AuditEvent.seq.desc())
    ).first()
    state = "intact" if broken is None else f"BROKEN ({broken})"
    cut = (
        "the quarter's end"
        if chain_to == end
        else f"the end of {chain_to - timedelta(days=1):%Y-%m-%d} (events since, this report's"
        " own among them, count in a later draw)"
    )
    # Not "empty": the chain may well hold events, all recorded after the cut (a replay or
    # backfill of the quarter's data), and their count changes as reports audit themselves.
    reach = (
        f"{last.seq} events to {cut}, the last {last.hash}"
        if last
        else f"no event recorded before {cut}"
    )
    lines.append(f"- audit chain {state} as the report is drawn: {reach}")
    return lines


def render_pdf(report: ComplianceReport) -> bytes:
    """The Markdown laid out as PDF, dated the quarter's end: the same records, the same bytes."""
    title = f"Compliance report, {report.quarter}"
    return markdown_pdf(report.markdown, title=title, created=report.end)


def write_report(
    session: Session, report: ComplianceReport, *, data_dir: Path, actor: str
) -> KeptReport:
    """Write the Markdown, HTML and PDF under the data directory; record paths and hashes."""
    renderings: dict[str, str | bytes] = {
        "md": report.markdown,
        "html": markdown_html(report.markdown, title=f"Compliance report, {report.quarter}"),
        "pdf": render_pdf(report),
    }
    return keep_renderings(
        session, "compliance", report.quarter, renderings, data_dir=data_dir, actor=actor
    )
