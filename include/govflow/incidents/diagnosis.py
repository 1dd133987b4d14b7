"""Seed 004 sections 3.3 and 3.4: the automated diagnosis steps of the incident runbooks.

Each diagnosis is a function ``(session, config, incident) -> dict`` whose result is
JSON-able (it travels through XCom and is stored on the incident) and carries a one-line
``summary``; ``post_diagnosis`` stores it as a ``diagnosis`` event of the incident's
timeline (and so in the audit trail), once per incident, name and episode.

- ``moved_features_and_groups``: which features (3.4 "check which features drifted") and
  which protected groups (3.3 "compare current vs baseline distributions by protected
  attribute") moved in the monitoring run that raised the incident, and by how much.
  Findings above INFO are ranked by severity, then by ``band_position``: where the value
  sits on the scale running from the metric's WARNING bound (0) to its CRITICAL bound (1),
  the scale the composite score uses, so a ratio and a difference compare fairly.
- ``recent_changes``: model versions registered, stage changes (deployments to shadow,
  canary, production, retirement), deployment procedures, baselines created and config
  changes recorded in the audit trail during the ``days`` before the incident opened (3.3
  "review recent model changes (deployment, config updates)").
- ``baseline_age``: the active baseline, the day it took effect (its version names it) and
  its age at the end of the monitored window, against section 4.2's quarterly review.
- ``data_quality_status``: the data-quality gate of the incident's run and of the model's
  newest run (3.4 "validate data quality (missing values, outliers)").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import query_events
from govflow.config import GovflowConfig
from govflow.incidents.lifecycle import add_event, episode_key
from govflow.metrics import severity_rank
from govflow.store.schema import (
    Baseline,
    Deployment,
    Incident,
    IncidentEvent,
    MetricResult,
    ModelVersion,
    MonitoringRun,
    StageHistory,
)

Diagnosis = Callable[[Session, GovflowConfig, Incident], dict[str, Any]]

# govflow default: the seeds ask for "recent" changes without a span; a month covers a
# model's release cycle and the longest risk acceptance (30 days).
RECENT_CHANGES_DAYS = 30
QUARTER_START_MONTHS = (1, 4, 7, 10)
DIGITS = 6
DATA_DRIFT_METRICS = ("psi", "kl_divergence", "wasserstein_distance_normalised")

NO_SOURCE_RUN = "the incident was not raised by a monitoring run: nothing to compare"
UNKNOWN_DIAGNOSIS = "unknown diagnosis {name!r}; expected one of {expected}"


def _number(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _source_run(session: Session, incident: Incident) -> MonitoringRun | None:
    return session.get(MonitoringRun, incident.source_run_id) if incident.source_run_id else None


def _run_summary(run: MonitoringRun) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "run_key": run.run_key,
        "window_start": _iso(run.interval_start),
        "window_end": _iso(run.interval_end),
        "baseline_version": run.baseline_version,
        "status": run.status,
        "severity": run.severity,
    }


def band_position(value: float | None, threshold: dict[str, Any]) -> float | None:
    """Where ``value`` sits from the WARNING bound (0) to the CRITICAL bound (1), unclipped."""
    warning, critical = threshold.get("warning"), threshold.get("critical")
    if value is None or warning is None or critical is None or warning == critical:
        return None
    return _number((value - warning) / (critical - warning))


def _ordering(entry: dict[str, Any]) -> tuple[int, float]:
    position = entry["band_position"]
    return (
        -severity_rank(entry["severity"]),
        -(position if position is not None else float("-inf")),
    )


def _worst_first(row: MetricResult) -> tuple[int, float]:
    position = band_position(row.value, row.threshold)
    return (severity_rank(row.severity), position if position is not None else float("-inf"))


def moved_features_and_groups(
    session: Session, config: GovflowConfig, incident: Incident
) -> dict[str, Any]:
    """What moved in the incident's monitoring run: features, protected groups, model."""
    run = _source_run(session, incident)
    if run is None:
        return {
            "source_run": None,
            "features": [],
            "stable_features": 0,
            "groups": [],
            "model": [],
            "summary": NO_SOURCE_RUN,
        }
    rows = session.scalars(
        select(MetricResult)
        .where(MetricResult.monitoring_run_id == run.id, MetricResult.status == "computed")
        .order_by(MetricResult.id)
    ).all()
    by_feature: dict[str, list[MetricResult]] = {}
    groups: list[dict[str, Any]] = []
    model: list[dict[str, Any]] = []
    for row in rows:
        if row.check_type == "data_drift":
            by_feature.setdefault(row.subject, []).append(row)
        elif row.severity != "INFO" and row.check_type == "fairness_drift":
            details = row.details or {}
            drift = details.get("details") or {}
            groups.append(
                {
                    "attribute": row.subject,
                    "metric": row.metric,
                    "severity": row.severity,
                    "value": _number(row.value),
                    "band_position": band_position(row.value, row.threshold),
                    "min_group": details.get("min_group") or drift.get("current_min_group"),
                    "max_group": details.get("max_group") or drift.get("current_max_group"),
                    "baseline": _number(drift.get("baseline")),
                    "excluded_groups": details.get("excluded_groups") or {},
                }
            )
        elif row.severity != "INFO" and row.check_type == "model_drift":
            model.append(
                {
                    "metric": row.metric,
                    "severity": row.severity,
                    "value": _number(row.value),
                    "band_position": band_position(row.value, row.threshold),
                }
            )
    features = []
    for feature, metrics in by_feature.items():
        worst = max(metrics, key=_worst_first)
        if worst.severity == "INFO":
            continue
        values = {row.metric: _number(row.value) for row in metrics}
        features.append(
            {
                "feature": feature,
                "severity": worst.severity,
                "worst_metric": worst.metric,
                "band_position": band_position(worst.value, worst.threshold),
                **{metric: values.get(metric) for metric in DATA_DRIFT_METRICS},
            }
        )
    features.sort(key=_ordering)
    groups.sort(key=_ordering)
    model.sort(key=_ordering)
    moved = [f"{f['feature']} ({f['worst_metric']} {f['severity']})" for f in features[:3]]
    shifted = [f"{g['metric']} {g['attribute']} = {g['value']}" for g in groups[:3]]
    summary = (
        f"{len(features)} features and {len(groups)} group metrics moved"
        + (f"; features: {', '.join(moved)}" if moved else "")
        + (f"; groups: {', '.join(shifted)}" if shifted else "")
    )
    return {
        "source_run": _run_summary(run),
        "features": features,
        "stable_features": len(by_feature) - len(features),
        "groups": groups,
        "model": model,
        "summary": summary,
    }


def recent_changes(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    *,
    days: int = RECENT_CHANGES_DAYS,
) -> dict[str, Any]:
    """Changes to the model in the ``days`` before the incident opened, oldest first."""
    until = incident.opened_at
    since = until - timedelta(days=days)
    model_id = incident.model_id
    versions = session.scalars(
        select(ModelVersion)
        .where(
            ModelVersion.model_id == model_id,
            ModelVersion.created_at >= since,
            ModelVersion.created_at <= until,
        )
        .order_by(ModelVersion.created_at, ModelVersion.id)
    ).all()
    stages = session.execute(
        select(StageHistory, ModelVersion.version)
        .join(ModelVersion, StageHistory.model_version_id == ModelVersion.id)
        .where(
            ModelVersion.model_id == model_id,
            StageHistory.deployed_at >= since,
            StageHistory.deployed_at <= until,
        )
        .order_by(StageHistory.deployed_at, StageHistory.id)
    ).all()
    deployments = session.scalars(
        select(Deployment)
        .where(
            Deployment.model_id == model_id,
            Deployment.created_at >= since,
            Deployment.created_at <= until,
        )
        .order_by(Deployment.created_at, Deployment.id)
    ).all()
    baselines = session.scalars(
        select(Baseline)
        .where(
            Baseline.model_id == model_id,
            Baseline.created_at >= since,
            Baseline.created_at <= until,
        )
        .order_by(Baseline.created_at, Baseline.id)
    ).all()
    config_changes = [
        event
        for event in query_events(session, action="config.*", since=since)
        if event.occurred_at <= until
    ]
    changes: dict[str, list[dict[str, Any]]] = {
        "model_versions": [
            {
                "version": v.version,
                "status": v.status,
                "created_by": v.created_by,
                "created_at": _iso(v.created_at),
            }
            for v in versions
        ],
        "stage_changes": [
            {
                "version": version,
                "stage": stage.stage,
                "deployed_by": stage.deployed_by,
                "deployed_at": _iso(stage.deployed_at),
            }
            for stage, version in stages
        ],
        "deployments": [
            {
                "ref": d.ref,
                "model_version": d.model_version,
                "deployment_type": d.deployment_type,
                "status": d.status,
                "requested_by": d.requested_by,
                "created_at": _iso(d.created_at),
            }
            for d in deployments
        ],
        "baselines": [
            {
                "version": b.version,
                "kind": b.kind,
                "is_active": b.is_active,
                "created_by": b.created_by,
                "created_at": _iso(b.created_at),
            }
            for b in baselines
        ],
        "config_changes": [
            {
                "seq": e.seq,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "occurred_at": _iso(e.occurred_at),
            }
            for e in config_changes
        ],
    }
    counts = {name: len(items) for name, items in changes.items()}
    summary = f"in the {days} days before {until:%Y-%m-%d %H:%M} UTC: " + ", ".join(
        f"{name.replace('_', ' ')} {count}" for name, count in counts.items()
    )
    return {
        "model_id": model_id,
        "since": _iso(since),
        "until": _iso(until),
        "days": days,
        **changes,
        "counts": counts,
        "summary": summary,
    }


def _effective_date(baseline: Baseline) -> date:
    """Versions are named after the day they take effect (``2025-03-15-v1``)."""
    try:
        return date.fromisoformat(baseline.version[:10])
    except ValueError:
        return baseline.created_at.date()


def _next_quarter_start(day: date) -> date:
    later = [month for month in QUARTER_START_MONTHS if month > day.month]
    return date(day.year, later[0], 1) if later else date(day.year + 1, 1, 1)


def baseline_age(session: Session, config: GovflowConfig, incident: Incident) -> dict[str, Any]:
    """The active baseline's age at the end of the monitored window (else at the opening)."""
    run = _source_run(session, incident)
    as_of = (run.interval_end if run else incident.opened_at).date()
    baseline = session.scalars(
        select(Baseline).where(Baseline.model_id == incident.model_id, Baseline.is_active)
    ).first()
    if baseline is None:
        return {
            "model_id": incident.model_id,
            "active_version": None,
            "as_of": as_of.isoformat(),
            "summary": f"{incident.model_id} has no active baseline",
        }
    effective = _effective_date(baseline)
    age = (as_of - effective).days
    review = _next_quarter_start(as_of)
    judged_against = run.baseline_version if run else None
    return {
        "model_id": incident.model_id,
        "active_version": baseline.version,
        "kind": baseline.kind,
        "model_version": baseline.model_version,
        "created_on": effective.isoformat(),
        "created_by": baseline.created_by,
        "as_of": as_of.isoformat(),
        "age_days": age,
        # Seed 004 4.2: refreshed at the quarterly review if drift has stabilised.
        "next_quarterly_review": review.isoformat(),
        "days_to_quarterly_review": (review - as_of).days,
        "judged_against": judged_against,
        "judged_against_active": judged_against == baseline.version,
        "summary": (
            f"baseline {baseline.version} ({baseline.kind}) is {age} days old on "
            f"{as_of.isoformat()}; next quarterly review {review.isoformat()}"
        ),
    }


def _gate(run: MonitoringRun) -> dict[str, Any]:
    quality = (run.composite_breakdown or {}).get("data_quality") or {}
    return {
        **_run_summary(run),
        "passed": quality.get("passed"),
        "summary": quality.get("summary") or run.error,
        "row_count": quality.get("row_count"),
        "usable_row_count": quality.get("usable_row_count"),
        "unusable_columns": quality.get("unusable_columns", []),
        "findings": [
            {
                "check": finding["check"],
                "columns": finding["columns"],
                "unexpected_count": finding["unexpected_count"],
                "total_count": finding["total_count"],
                "severity_hint": finding["severity_hint"],
            }
            for finding in quality.get("findings", [])
        ],
    }


def data_quality_status(
    session: Session, config: GovflowConfig, incident: Incident
) -> dict[str, Any]:
    """The data-quality gate of the incident's run and of the model's newest run."""
    run = _source_run(session, incident)
    latest = session.scalars(
        select(MonitoringRun)
        .where(MonitoringRun.model_id == incident.model_id)
        .order_by(MonitoringRun.interval_end.desc(), MonitoringRun.id.desc())
        .limit(1)
    ).first()
    source = _gate(run) if run else None
    newest = _gate(latest) if latest else None

    def verdict(gate: dict[str, Any] | None) -> str:
        if gate is None:
            return "none"
        if gate["passed"] is None:
            return f"not evaluated ({gate['status']})"
        return "passed" if gate["passed"] else f"failed ({len(gate['findings'])} findings)"

    return {
        "source_run": source,
        "latest_run": newest,
        "latest_is_source": bool(run and latest and run.id == latest.id),
        "summary": f"gate of the incident's run: {verdict(source)}; newest run: {verdict(newest)}",
    }


DIAGNOSES: dict[str, Diagnosis] = {
    "moved_features_and_groups": moved_features_and_groups,
    "recent_changes": recent_changes,
    "baseline_age": baseline_age,
    "data_quality_status": data_quality_status,
}


def post_diagnosis(
    session: Session,
    incident: Incident,
    name: str,
    findings: dict[str, Any],
    actor: str,
    event_key: str | None = None,
) -> IncidentEvent:
    """Store a diagnosis on the incident's timeline (once per name and episode)."""
    return add_event(
        session,
        incident,
        kind="diagnosis",
        actor=actor,
        note=f"{name}: {findings.get('summary', '')}",
        payload={"name": name, "findings": findings},
        event_key=event_key or episode_key(incident, f"diagnosis:{name}"),
    )


def diagnose(
    session: Session,
    config: GovflowConfig,
    incident: Incident,
    name: str,
    *,
    actor: str,
    event_key: str | None = None,
) -> dict[str, Any]:
    """Run the diagnosis ``name`` (a key of ``DIAGNOSES``) and post its findings."""
    if name not in DIAGNOSES:
        raise ValueError(UNKNOWN_DIAGNOSIS.format(name=name, expected=", ".join(DIAGNOSES)))
    findings = DIAGNOSES[name](session, config, incident)
    post_diagnosis(session, incident, name, findings, actor, event_key)
    return findings
