"""Seed 000 "Output: Deployment Readiness Report", rendered from the deployment's records.

``build_report`` reads the deployment, its steps, checklist evidence and FORM-AI-DEPLOY-002
decisions and fills the seed's template: status per readiness area (the five sections of
seed 000's checklist), outstanding items with owners and due dates, monitoring, rollout and
rollback plans, and the recommendation with its conditions. The same report renders as
Markdown and as self-contained HTML, so what ``govflow report readiness`` prints, what the
DAG writes next to the deployment and what approvers read always agree. The report is
rendered several times along the procedure (before the approvals, at go-live, at the end);
each rendering is kept beside the earlier ones, never over them (``write_report``), so the
one each approval was asked on, which its record names, can still be read as it was.

The recommendation (``recommend``):

- DO NOT APPROVE when the deployment was stopped (blocked, rejected, rolled back), when a
  checklist item failed, is not attested or is not verified yet, or when an approver
  rejected it;
- APPROVE WITH CONDITIONS when every item is complete but approvers attached conditions
  (they are listed as the report's conditions), or when the model has an unresolved CRITICAL
  incident or is under an active kill switch: a new version may well be the fix, so neither
  blocks it, but each is a condition named in the reasons (the approvers confirm the version
  addresses the incident; lifting the switch is a decision of its own);
- APPROVE otherwise.

The report lists the model's unresolved incidents and the active kill switches covering it
in a section of their own, whatever the recommendation (no section when there are none).

Outstanding items are what the records say is still to be done: incomplete checklist items,
approvals not yet given, post-deployment steps not yet recorded and, once the rollout is
authorised, the verification checks that need its live traffic (due within the seed's 72
hours of post-deployment monitoring).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.config.inventory import PREDICT_PATH
from govflow.deployment import approvals, checklists, procedure
from govflow.deployment.checks import TRAFFIC_CHECKS
from govflow.deployment.forms import FormRequest, role_title
from govflow.incidents.lifecycle import unresolved_incidents
from govflow.reports import keep_report, unwritten_stem
from govflow.store.schema import Deployment, KillSwitch
from govflow.store.types import utcnow

Recommendation = Literal["APPROVE", "APPROVE WITH CONDITIONS", "DO NOT APPROVE"]
APPROVE: Recommendation = "APPROVE"
APPROVE_WITH_CONDITIONS: Recommendation = "APPROVE WITH CONDITIONS"
DO_NOT_APPROVE: Recommendation = "DO NOT APPROVE"
READINESS_CHECKLIST = "readiness"
REPORT_DIR = Path("reports") / "deployments"
REPORT_STEM = "readiness"
REPORT_GENERATED = "report.readiness_generated"
POST_DEPLOYMENT_FORMS = {17: "documentation_updates", 18: "registration_updates", 20: "closure"}

STOPPED = "the deployment stopped: {reason}"
INCOMPLETE = "{count} checklist item(s) not complete: {items}"
REJECTIONS = "rejected by {roles}"
OPEN_CRITICAL_INCIDENT = (
    "{ref} {priority} {severity} {metric} {status}: approvers confirm this version addresses it"
)
FROZEN = (
    "{target} is frozen by kill switch {id} ({scope}, {by} since {since}): lifting it is a "
    "separate decision"
)
CRITICAL = "CRITICAL"
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class OutstandingItem:
    item: str
    owner: str
    due: str
    status: str


@dataclass
class ReadinessReport:
    """The seed 000 template, filled from the records of one deployment."""

    ref: str
    system: str
    date: str
    reviewer: str
    deployment: dict[str, Any]
    status: str
    areas: dict[str, bool]
    checklist_counts: list[tuple[str, int, int]]
    outstanding: list[OutstandingItem]
    monitoring_plan: list[str]
    rollout_plan: list[str]
    rollback_plan: list[str]
    recommendation: Recommendation
    conditions: list[str]
    reasons: list[str]
    decisions: list[dict[str, Any]]
    items: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, str]] = field(default_factory=list)
    kill_switches: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "recommendation": self.recommendation,
            "conditions": self.conditions,
            "reasons": self.reasons,
            "areas": self.areas,
            "outstanding": [item.__dict__ for item in self.outstanding],
            "status": self.status,
            "incidents": self.incidents,
            "kill_switches": self.kill_switches,
        }


def recommend(
    *,
    stop_reason: str | None,
    incomplete_items: list[str],
    rejected_roles: list[str],
    conditions: list[str],
    incidents: Sequence[Mapping[str, str]] = (),
    kill_switches: Sequence[Mapping[str, str]] = (),
) -> tuple[Recommendation, list[str]]:
    """The recommendation and the reasons for it (see the module docstring); ``incidents``
    and ``kill_switches`` are the report's rows of them."""
    risks = [
        OPEN_CRITICAL_INCIDENT.format(**incident)
        for incident in incidents
        if incident["severity"] == CRITICAL
    ] + [FROZEN.format(**switch) for switch in kill_switches]
    reasons = []
    if stop_reason:
        reasons.append(STOPPED.format(reason=stop_reason))
    if incomplete_items:
        reasons.append(
            INCOMPLETE.format(count=len(incomplete_items), items=", ".join(incomplete_items))
        )
    if rejected_roles:
        reasons.append(REJECTIONS.format(roles=", ".join(rejected_roles)))
    if reasons:
        return DO_NOT_APPROVE, reasons + risks
    if conditions or risks:
        return APPROVE_WITH_CONDITIONS, risks
    return APPROVE, []


def _names(config: GovflowConfig, user_ids: list[str]) -> str:
    return ", ".join(f"{config.people.user(u).name} ({u})" for u in user_ids) or "nobody"


def _stored_requests(deployment: Deployment, key: str) -> list[FormRequest]:
    stored = deployment.details.get("requests", {}).get(key, [])
    return [FormRequest.from_dict(request) for request in stored]


def _due(start: str | None, hours: float) -> str:
    if not start:
        return "-"
    return (datetime.fromisoformat(start) + timedelta(hours=hours)).strftime(TIME_FORMAT)


def _incidents(session: Session, model_id: str) -> list[dict[str, str]]:
    return [
        {
            "ref": incident.ref,
            "priority": incident.priority,
            "severity": incident.severity,
            "metric": incident.metric or "-",
            "status": incident.status,
            "opened": incident.opened_at.strftime(TIME_FORMAT),
        }
        for incident in unresolved_incidents(session, model_id)
    ]


def _kill_switches(session: Session, model_id: str) -> list[dict[str, str]]:
    """The active switches freezing the model (scope model_type), one of its versions
    (model_version ``<model>:<version>``) or its predict route (inference_endpoint), oldest
    first."""
    covering = or_(
        and_(KillSwitch.scope == "model_type", KillSwitch.target == model_id),
        and_(
            KillSwitch.scope == "inference_endpoint",
            KillSwitch.target == PREDICT_PATH.format(model_id=model_id),
        ),
        and_(
            KillSwitch.scope == "model_version",
            KillSwitch.target.startswith(f"{model_id}:", autoescape=True),
        ),
    )
    switches = session.scalars(
        select(KillSwitch)
        .where(KillSwitch.active_key.is_not(None), covering)
        .order_by(KillSwitch.activated_at, KillSwitch.id)
    )
    return [
        {
            "id": str(switch.id),
            "scope": switch.scope,
            "target": switch.target,
            "by": switch.activated_by,
            "since": switch.activated_at.strftime(TIME_FORMAT),
            "reason": switch.reason,
        }
        for switch in switches
    ]


def _outstanding(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    item_status: dict[str, str],
    items: list[checklists.ChecklistItem],
) -> list[OutstandingItem]:
    model = config.models.get(deployment.model_id)
    release_managers = config.people.holders("ml_lead")
    found = []
    for item in items:
        status = item_status[item.id]
        if status in checklists.COMPLETE_STATUSES:
            continue
        role = item.criterion.attested_by
        owners = (
            [model.owner]
            if role == "system_owner"
            else (config.people.holders(role) if role else release_managers)
        )
        found.append(OutstandingItem(item.label, _names(config, owners), "before approval", status))
    decided = {row["role"] for row in approvals.decision_rows(session, deployment)}
    requested_at = deployment.details.get("approvals_requested_at")
    for request in _stored_requests(deployment, "approvals"):
        if request.role not in decided:
            found.append(
                OutstandingItem(
                    f"{role_title(request.role)} approval (FORM-AI-DEPLOY-002)",
                    _names(config, [p.id for p in request.assignees]),
                    _due(requested_at, request.response_timeout_hours) if requested_at else "-",
                    "pending",
                )
            )
    authorised_at = deployment.details.get("authorised_at")
    if deployment.status != procedure.AUTHORISED or not authorised_at:
        return found
    steps = procedure.recorded_steps(session, deployment)
    for number, key in POST_DEPLOYMENT_FORMS.items():
        for request in _stored_requests(deployment, key):
            if number not in steps:
                found.append(
                    OutstandingItem(
                        f"Step {number}: {config.deployment.step(number).name}",
                        _names(config, [p.id for p in request.assignees]),
                        _due(authorised_at, request.response_timeout_hours),
                        "pending",
                    )
                )
    hours = config.deployment.post_deployment_monitoring_hours.max
    on_call = config.people.on_call_primary(datetime.fromisoformat(authorised_at))
    for check in sorted(set(deployment.details.get("deferred_checks", [])) & TRAFFIC_CHECKS):
        found.append(
            OutstandingItem(
                f"{check}: {config.deployment.automated_checks[check]}",
                _names(config, [on_call]) + " (primary on-call)",
                _due(authorised_at, hours),
                "scheduled for the rollout",
            )
        )
    return found


def _monitoring_plan(config: GovflowConfig, deployment: Deployment) -> list[str]:
    tier = procedure.risk_tier(deployment)
    cadence = config.policy.monitoring.cadence[tier].model_dump()  # type: ignore[index]
    families = config.policy.thresholds.by_check_type()
    lines = [
        "Metrics tracked: "
        + "; ".join(
            f"{check.replace('_', ' ')} ({every}): {', '.join(families[check])}"  # type: ignore[index]
            for check, every in cadence.items()
        ),
        "Alert thresholds: Defined (config/policy.yaml, WARNING and CRITICAL for every metric)",
        "Review cadence: "
        + ", ".join(f"{check.replace('_', ' ')} {every}" for check, every in cadence.items())
        + "; baselines reviewed monthly",
    ]
    watch = deployment.details.get("findings_to_watch", [])
    if watch:
        lines.append("Findings at WARNING on the validation set, to watch: " + "; ".join(watch))
    return lines


def _rollout_plan(config: GovflowConfig, deployment: Deployment) -> list[str]:
    start_text = deployment.details.get("plan", {}).get("deployment_window_start")
    try:
        start = datetime.fromisoformat(start_text) if start_text else None
    except ValueError:
        start = None
    lines = []
    for number, stage in enumerate(config.deployment.rollout.stages, start=1):
        days = (
            f"{stage.duration_days_min}-{stage.duration_days_max} days"
            if stage.duration_days_min != stage.duration_days_max
            else f"{stage.duration_days_min} days"
        )
        when = f" - from {start:%Y-%m-%d}" if start else ""
        duration = "ongoing" if stage.duration_days_min is None else days
        lines.append(
            f"Stage {number}: {stage.name} ({stage.coverage}, {stage.traffic_share:.1%} of "
            f"traffic, {duration}; focus {', '.join(stage.focus)}){when}"
        )
        if start and stage.duration_days_min is not None:
            start = start + timedelta(days=stage.duration_days_min)
    lines.append(
        "Stage gates: "
        + "; ".join(f"{g.id} {g.text}" for g in config.deployment.rollout.stage_gates)
    )
    return lines


def _rollback_plan(config: GovflowConfig, deployment: Deployment) -> list[str]:
    model = config.models.get(deployment.model_id)
    triggers = [*config.deployment.rollback.triggers, *config.deployment.rollout.rollback_criteria]
    previous = procedure.previous_version(deployment)
    lines = [
        "Trigger criteria: " + "; ".join(f"{t.id} {t.text}" for t in triggers),
        "Procedure: PROC-AI-DEPLOY-001 section 5 ("
        + " -> ".join(stage.name for stage in config.deployment.rollback.process)
        + ")"
        + (f", restoring version {previous}" if previous else ", withdrawing the model"),
        f"Owner: {_names(config, [model.owner])} "
        f"({role_title(config.deployment.rollback.approver_role)})",
    ]
    risk = deployment.details.get("risk_assessment", {})
    if risk.get("rollback_plan"):
        lines.append(f"Risk assessment's rollback plan: {risk['rollback_plan']}")
    return lines


def build_report(
    session: Session, config: GovflowConfig, deployment: Deployment
) -> ReadinessReport:
    """The readiness report of ``deployment`` as its records stand now."""
    model = config.models.get(deployment.model_id)
    items = checklists.checklist_items(config, deployment)
    records = checklists.item_records(session, deployment)
    status = {
        item.id: records[item.id].status if item.id in records else "pending" for item in items
    }
    readiness = config.deployment.checklists[READINESS_CHECKLIST]
    areas = {
        section.title.removesuffix(" Readiness"): all(
            status[item.id] in checklists.COMPLETE_STATUSES
            for item in items
            if item.checklist == READINESS_CHECKLIST and item.section == key
        )
        for key, section in readiness.sections.items()
    }
    counts = []
    for name in dict.fromkeys(item.checklist for item in items):
        of_list = [item for item in items if item.checklist == name]
        complete = sum(status[i.id] in checklists.COMPLETE_STATUSES for i in of_list)
        counts.append((of_list[0].checklist_title, complete, len(of_list)))
    decisions = approvals.decision_rows(session, deployment)
    conditions = [
        f"{condition} ({role_title(row['role'])} {row['approver']})"
        for row in decisions
        for condition in row["conditions"]
    ]
    incidents = _incidents(session, deployment.model_id)
    kill_switches = _kill_switches(session, deployment.model_id)
    recommendation, reasons = recommend(
        stop_reason=procedure.stop_reason(deployment),
        incomplete_items=[
            item.id for item in items if status[item.id] not in checklists.COMPLETE_STATUSES
        ],
        rejected_roles=[
            role_title(row["role"]) for row in decisions if row["decision"] == approvals.REJECTED
        ],
        conditions=conditions,
        incidents=incidents,
        kill_switches=kill_switches,
    )
    return ReadinessReport(
        ref=deployment.ref,
        system=f"{model.id} {deployment.model_version} ({model.business_purpose})",
        date=utcnow().strftime("%Y-%m-%d"),
        reviewer=_names(config, config.people.holders("deployment_manager"))
        + " (Deployment Manager, procedure owner)",
        deployment={
            "type": deployment.deployment_type,
            "environment": deployment.environment,
            "risk tier": f"{model.risk_tier} "
            f"({config.deployment.approvals.seed_risk_levels[model.risk_tier]})",
            "requested by": deployment.requested_by,
            "justification": deployment.justification,
            "status": deployment.status,
            "go-live": deployment.go_live or "-",
        },
        status=deployment.status,
        areas=areas,
        checklist_counts=counts,
        outstanding=_outstanding(session, config, deployment, status, items),
        monitoring_plan=_monitoring_plan(config, deployment),
        rollout_plan=_rollout_plan(config, deployment),
        rollback_plan=_rollback_plan(config, deployment),
        recommendation=recommendation,
        conditions=conditions,
        reasons=reasons,
        decisions=decisions,
        items=[
            {
                "id": item.id,
                "text": item.criterion.text,
                "verification": item.criterion.verification,
                "status": status[item.id],
                "by": records[item.id].actor if item.id in records else "-",
                "evidence": _evidence_text(records[item.id].evidence) if item.id in records else "",
            }
            for item in items
        ],
        incidents=incidents,
        kill_switches=kill_switches,
    )


def _evidence_text(evidence: dict[str, Any]) -> str:
    if "summary" in evidence:
        return str(evidence["summary"])
    if evidence.get("problem"):
        return str(evidence["problem"])
    return str(evidence.get("evidence_link") or "")


# --- Rendering ------------------------------------------------------------------------------

Block = tuple[str, Any]


def _blocks(report: ReadinessReport) -> list[Block]:
    blocks: list[Block] = [
        ("h2", "Deployment Readiness Report"),
        ("h3", f"System: {report.system}"),
        ("h3", f"Date: {report.date}"),
        ("h3", f"Reviewer: {report.reviewer}"),
        (
            "list",
            [f"Deployment: {report.ref}"] + [f"{k}: {v}" for k, v in report.deployment.items()],
        ),
        ("h3", "Readiness Status"),
        (
            "checks",
            [
                (ready, f"{area}: {'Ready' if ready else 'Not Ready'}")
                for area, ready in report.areas.items()
            ],
        ),
        (
            "list",
            [
                f"{title}: {complete} of {total} items complete"
                for title, complete, total in report.checklist_counts
            ],
        ),
        ("h3", "Outstanding Items"),
        (
            "table",
            (
                ["Item", "Owner", "Due Date", "Status"],
                [[o.item, o.owner, o.due, o.status] for o in report.outstanding],
            ),
        ),
        *_risk_blocks(report),
        ("h3", "Monitoring Plan"),
        ("list", report.monitoring_plan),
        ("h3", "Rollout Plan"),
        ("list", report.rollout_plan),
        ("h3", "Rollback Plan"),
        ("list", report.rollback_plan),
        ("h3", "Recommendation"),
        ("strong", report.recommendation),
    ]
    if report.reasons:
        blocks.append(("list", report.reasons))
    blocks += [("h3", "Conditions (if applicable)"), ("numbered", report.conditions or ["None."])]
    blocks += [
        ("h3", "Deployment Approval Record (FORM-AI-DEPLOY-002)"),
        (
            "table",
            (
                ["Role", "Approver", "Decision", "Time", "Comment"],
                [
                    [
                        role_title(d["role"]),
                        d["approver"] or "nobody (timed out)",
                        d["decision"],
                        d["decided_at"],
                        d["comment"],
                    ]
                    for d in report.decisions
                ],
            ),
        ),
        ("h3", "Checklist Evidence"),
        (
            "table",
            (
                ["Item", "Verification", "Status", "By", "Evidence"],
                [
                    [
                        f"{i['id']} {i['text']}",
                        i["verification"],
                        i["status"],
                        i["by"],
                        i["evidence"],
                    ]
                    for i in report.items
                ],
            ),
        ),
    ]
    return blocks


def _risk_blocks(report: ReadinessReport) -> list[Block]:
    """The model's unresolved incidents and the kill switches covering it; nothing when
    there are none."""
    if not report.incidents and not report.kill_switches:
        return []
    return [
        ("h3", "Open Incidents and Kill Switches"),
        (
            "table",
            (
                ["Incident", "Priority", "Severity", "Metric", "Status", "Opened"],
                [
                    [i["ref"], i["priority"], i["severity"], i["metric"], i["status"], i["opened"]]
                    for i in report.incidents
                ],
            ),
        ),
        (
            "table",
            (
                ["Kill Switch", "Scope", "Target", "By", "Since", "Reason"],
                [
                    [k["id"], k["scope"], k["target"], k["by"], k["since"], k["reason"]]
                    for k in report.kill_switches
                ],
            ),
        ),
    ]


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ReadinessReport) -> str:
    lines: list[str] = []
    for kind, content in _blocks(report):
        if kind in ("h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {content}", ""]
        elif kind == "strong":
            lines += [f"**{content}**", ""]
        elif kind == "list":
            lines += [f"- {line}" for line in content] + [""]
        elif kind == "numbered":
            lines += [f"{n}. {line}" for n, line in enumerate(content, start=1)] + [""]
        elif kind == "checks":
            lines += [f"- [{'x' if done else ' '}] {text}" for done, text in content] + [""]
        elif kind == "table":
            headers, rows = content
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
            if not rows:
                lines.append("| " + " | ".join("-" for _ in headers) + " |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_html(report: ReadinessReport) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Deployment Readiness Report {e(report.ref)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .5em;"
        "text-align:left;vertical-align:top}</style></head><body>",
    ]
    for kind, content in _blocks(report):
        if kind in ("h2", "h3"):
            parts.append(f"<{kind}>{e(content)}</{kind}>")
        elif kind == "strong":
            parts.append(f"<p><strong>{e(content)}</strong></p>")
        elif kind in ("list", "numbered"):
            tag = "ul" if kind == "list" else "ol"
            parts.append(
                f"<{tag}>" + "".join(f"<li>{e(line)}</li>" for line in content) + f"</{tag}>"
            )
        elif kind == "checks":
            parts.append(
                "<ul>"
                + "".join(
                    f"<li>{'&#9745;' if done else '&#9744;'} {e(text)}</li>"
                    for done, text in content
                )
                + "</ul>"
            )
        elif kind == "table":
            headers, rows = content
            parts.append(
                "<table><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in headers)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{e(str(cell))}</td>" for cell in row) + "</tr>"
                    for row in rows
                )
                + "</table>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    session: Session, data_dir: Path, report: ReadinessReport, *, actor: str
) -> list[dict[str, str]]:
    """Keep the Markdown and HTML renderings in the deployment's folder, each path and sha256
    an audit event (``keep_report``, once per content); returns them, Markdown first, as
    ``{"path", "sha256"}`` with the path relative to ``data_dir``. A rendering that differs
    from those kept is written beside them (``readiness-2.md``, ...), never over one: the
    report an approver was shown stays as it was shown."""
    directory = REPORT_DIR / report.ref
    renderings = {"md": render_markdown(report), "html": render_html(report)}
    stem = unwritten_stem(Path(data_dir) / directory, REPORT_STEM, renderings)
    kept = []
    for suffix, content in renderings.items():
        path = directory / f"{stem}.{suffix}"
        digest = keep_report(
            session,
            path=Path(data_dir) / path,
            content=content,
            action=REPORT_GENERATED,
            target=f"deployment:{report.ref}",
            actor=actor,
        )
        kept.append({"path": path.as_posix(), "sha256": digest})
    return kept


def summary_text(report: ReadinessReport) -> str:
    """The report in a few lines, for Slack and for approval requests."""
    areas = ", ".join(
        f"{area} {'Ready' if ready else 'Not Ready'}" for area, ready in report.areas.items()
    )
    lines = [
        f"*Deployment Readiness Report {report.ref}*: {report.system}",
        f"Recommendation: *{report.recommendation}*",
        f"Readiness: {areas}",
        f"Outstanding items: {len(report.outstanding)}",
    ]
    lines += [f"Condition: {condition}" for condition in report.conditions]
    lines += [f"Reason: {reason}" for reason in report.reasons]
    return "\n".join(lines)
