"""Seed 004 sections 1.2 and 4.2: the monthly baseline review.

On the 1st of each month every model's active baseline is reviewed against the previous
month's monitoring records: its age, how many analyses ran and how many were WARNING or
CRITICAL, the worst PSI and disparate impact, and the trend of the daily worst PSI (mean of
the month's second half minus the first half). The recommendation follows section 4.2:

- **reset** when drift is persistent: at least half of the month's analysed days had a
  CRITICAL data- or model-drift finding, including each of the last seven analysed days.
  A reset needs the ML lead's (concept drift) or the CTO's (data source change) approval;
  the review only recommends it.
- **refresh** when the baseline is at least 90 days old (the quarterly review) and drift has
  stabilised: no CRITICAL finding in the month's last 14 days and at most 20% of its runs
  WARNING. Section 4.2 makes this refresh automatic.
- **keep** otherwise.

The review is stored as a monitoring record (check type ``baseline_review``) and posted to
the monitoring channel through the alert outbox.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.alerts.outbox import enqueue_alert
from govflow.baselines.profile import active_baseline
from govflow.config import GovflowConfig
from govflow.monitoring.analysis import Analysis, Finding
from govflow.store.schema import MetricResult, MonitoringRun

Recommendation = Literal["keep", "refresh", "reset"]
REVIEW = "baseline_review"
QUARTER_DAYS = 90
PERSISTENT_TAIL_DAYS = 7
STABLE_TAIL_DAYS = 14
MAX_WARNING_SHARE = 0.2
DRIFT_CHECKS = ("data_drift", "model_drift")


def baseline_effective_date(version: str) -> date:
    """Baseline versions are named after the day they take effect (``2025-03-15-v1``)."""
    return date.fromisoformat(version[:10])


def review_baseline(
    session: Session, config: GovflowConfig, model_id: str, *, start: datetime, end: datetime
) -> Analysis:
    """The review of ``model_id``'s active baseline over the month [start, end)."""
    baseline = active_baseline(session, model_id)
    review = Analysis(model_id, start, end, (REVIEW,), baseline.version if baseline else None)
    if baseline is None:
        review.findings.append(
            Finding(
                REVIEW,
                "recommendation",
                "",
                None,
                "WARNING",
                "failed",
                message=f"{model_id} has no active baseline to review",
            )
        )
        return review
    runs = session.scalars(
        select(MonitoringRun).where(
            MonitoringRun.model_id == model_id,
            MonitoringRun.status == "succeeded",
            MonitoringRun.interval_start >= start,
            MonitoringRun.interval_end <= end,
            MonitoringRun.cadence != "monthly",
        )
    ).all()
    results = (
        session.scalars(
            select(MetricResult).where(MetricResult.monitoring_run_id.in_([r.id for r in runs]))
        ).all()
        if runs
        else []
    )
    day_of_run = {run.id: run.interval_start.date() for run in runs}
    critical_days: set[date] = set()
    worst_psi: dict[date, float] = defaultdict(float)
    for result in results:
        day = day_of_run[result.monitoring_run_id]
        if result.check_type in DRIFT_CHECKS and result.severity == "CRITICAL":
            critical_days.add(day)
        if result.metric == "psi" and result.value is not None:
            worst_psi[day] = max(worst_psi[day], result.value)
    disparate_impacts = [
        r.value for r in results if r.metric == "disparate_impact_ratio" and r.value is not None
    ]
    days = sorted({day_of_run[run.id] for run in runs})
    age_days = (end.date() - baseline_effective_date(baseline.version)).days
    warning_share = sum(run.severity == "WARNING" for run in runs) / len(runs) if runs else 0.0
    recommendation = _recommend(days, critical_days, age_days, warning_share, end.date())
    trend = _trend([worst_psi[day] for day in days])
    measures: dict[str, float | None] = {
        "baseline_age_days": float(age_days),
        "analysed_runs": float(len(runs)),
        "critical_runs": float(sum(run.severity == "CRITICAL" for run in runs)),
        "warning_runs": float(sum(run.severity == "WARNING" for run in runs)),
        "max_psi": max(worst_psi.values(), default=None),
        "min_disparate_impact_ratio": min(disparate_impacts, default=None),
        "psi_trend": trend,
    }
    for metric, value in measures.items():
        review.findings.append(
            Finding(
                REVIEW,
                metric,
                "",
                value,
                "INFO",
                "computed" if value is not None else "inconclusive",
            )
        )
    review.findings.append(
        Finding(
            REVIEW,
            "recommendation",
            recommendation,
            None,
            "WARNING" if recommendation == "reset" else "INFO",
            "computed",
            details={
                "recommendation": recommendation,
                **measures,
                "baseline_version": baseline.version,
            },
            message=_explain(recommendation, model_id, baseline.version, measures),
        )
    )
    return review


def _recommend(
    days: list[date], critical_days: set[date], age_days: int, warning_share: float, month_end: date
) -> Recommendation:
    if days:
        tail = days[-PERSISTENT_TAIL_DAYS:]
        persistent = len(critical_days) * 2 >= len(days) and all(d in critical_days for d in tail)
        if persistent and len(tail) == PERSISTENT_TAIL_DAYS:
            return "reset"
    recent_critical = any(d >= month_end - timedelta(days=STABLE_TAIL_DAYS) for d in critical_days)
    if age_days >= QUARTER_DAYS and not recent_critical and warning_share <= MAX_WARNING_SHARE:
        return "refresh"
    return "keep"


def _trend(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    half = len(values) // 2
    return round(fmean(values[half:]) - fmean(values[:half]), 6)


def _explain(recommendation: str, model_id: str, version: str, measures: dict[str, Any]) -> str:
    reason = {
        "reset": "drift has persisted; a reset needs ML lead (concept drift) or CTO approval",
        "refresh": "the baseline is a quarter old and drift has stabilised (automatic refresh)",
        "keep": "the baseline still describes the data",
    }[recommendation]
    return (
        f"{model_id}: {recommendation} baseline {version} ({reason}); "
        f"{measures['analysed_runs']:.0f} analyses, {measures['critical_runs']:.0f} CRITICAL, "
        f"{measures['warning_runs']:.0f} WARNING, age {measures['baseline_age_days']:.0f} days"
    )


def post_review(session: Session, config: GovflowConfig, review: Analysis, run_key: str) -> None:
    """Post the review's recommendation to the monitoring channel (once per run)."""
    finding = next(f for f in review.findings if f.metric == "recommendation")
    enqueue_alert(
        session,
        idempotency_key=f"baseline-review:{review.model_id}:{run_key}",
        channel="slack",
        destination=config.people.channel("ml_monitoring"),
        kind=REVIEW,
        severity=finding.severity,
        model_id=review.model_id,
        payload={"text": finding.message, **finding.details},
        actor="govflow-monitoring",
    )
