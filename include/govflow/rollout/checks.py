"""Seed 000 "Stage Gates" and "Rollback Criteria", decided on one stage of a rollout.

Every check reads what the stage itself produced: the rows the new version scored in the
stage's prediction logs, the serving gateways' counters of the version, the feedback
recorded against it (bugs, complaints, overrides, security vulnerabilities, regulatory
concerns) and the model's monitoring runs. A check has three outcomes: ``passed``,
``failed``, and ``inconclusive`` when the stage has too little to decide on (no traffic
yet, groups below the minimum group size). A gate advances only on ``passed``; a rollback
criterion fires only on ``failed``, so a quiet stage never rolls back on missing data.

The checks also decide the deployment procedure's traffic checks (deployment.checks
``TRAFFIC_CHECKS``), which step 14 could not decide before the new version had traffic.

A regressor (issue 14 item 4) is judged on its own metrics with the same evidence rule:
fairness on the ratio of group mean predictions (the disparate impact bounds), model drift
on the shift of its predictions against the previous version's and, once labels have
arrived on both versions' rows, on the relative increase of its MAE and RMSE over the
previous version's (seed 004's accuracy-drop bounds, independent samples: requests are
split at random). An error increase too uncertain to decide holds the gate and rolls
nothing back; with too few labelled rows it is not judged and the summary says so.

An initial deployment has no previous version: the new version's outputs (and errors) on
the stage's traffic are compared with its own on its registered validation set, the data
its baseline is made from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow import registry
from govflow.config import GovflowConfig
from govflow.config.inventory import ModelEntry
from govflow.deployment.checks import findings_to_watch
from govflow.metrics import (
    JUDGED_AS,
    FairnessMetric,
    classify,
    error_increase,
    error_summary,
    fairness,
    regression_fairness,
)
from govflow.metrics.model_drift import DEFAULT_MIN_LABELLED, total_variation_distance
from govflow.metrics.severity import Evidence
from govflow.monitoring.analysis import (
    INCONCLUSIVE,
    column_rules,
    error_increase_verdict,
    fairness_verdict,
    judgement_confidence,
    log_source,
)
from govflow.monitoring.prediction_logs import ParquetLogSource
from govflow.monitoring.quality import QualityPolicy, run_quality_gate
from govflow.rollout import routing
from govflow.store.schema import MonitoringRun, ServingFeedback

Outcome = Literal["passed", "failed", "inconclusive"]
# Without labels (they arrive days later) only the selection-rate metrics can be judged on
# a stage's traffic.
SELECTION_RATE_METRICS = ("disparate_impact_ratio",)
REGRESSION_SELECTION_METRICS = ("mean_prediction_ratio",)
SIGNIFICANT = ("major", "critical")
SCORE_BINS = 10

UNKNOWN_STAGE_CHECK = "no stage check named {name!r}"
# The way to record feedback that every model has, consumers or not.
FEEDBACK_COMMAND = "govflow rollout feedback"


@dataclass(frozen=True)
class StageCheck:
    check: str
    outcome: Outcome
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "outcome": self.outcome,
            "summary": self.summary,
            "evidence": self.evidence,
        }


class StageWindow:
    """One stage of one rollout as the checks see it: ``[start, end)`` of the stage, the
    candidate (new) and active (previous; None for an initial deployment) versions;
    expensive parts load once."""

    def __init__(
        self,
        session: Session,
        config: GovflowConfig,
        data_dir: Path,
        *,
        model_id: str,
        candidate: str,
        active: str | None,
        start: datetime,
        end: datetime,
    ) -> None:
        self.session = session
        self.config = config
        self.data_dir = data_dir
        self.model: ModelEntry = config.models.get(model_id)
        self.candidate = candidate
        self.active = active
        self.start = start
        self.end = end

    @cached_property
    def logs(self) -> pd.DataFrame:
        """The stage's prediction-log rows (every version); none before the first is written."""
        source = log_source(self.model, self.data_dir)
        if isinstance(source, ParquetLogSource) and not source.directory.is_dir():
            return pd.DataFrame()
        return source.read_window(self.start, self.end)

    def rows_of(self, version: str) -> pd.DataFrame:
        logs = self.logs
        if logs.empty or "model_version" not in logs.columns:
            return logs.iloc[0:0]
        return logs[logs["model_version"].astype(str) == version]

    @cached_property
    def scored(self) -> pd.DataFrame:
        """The rows the new version scored during the stage."""
        return self.rows_of(self.candidate)

    @cached_property
    def validation(self) -> pd.DataFrame:
        """The new version's registered validation set (an initial deployment's yardstick)."""
        record = registry.get_version(self.session, self.model.id, self.candidate)
        if record.validation_uri is None:
            return pd.DataFrame()
        return pd.read_parquet(self.data_dir / record.validation_uri)

    @cached_property
    def health(self) -> routing.Health:
        return routing.StoreTarget(self.session).health(self.model.id, since=self.start)

    @cached_property
    def feedback(self) -> list[ServingFeedback]:
        return routing.feedback_between(
            self.session, self.model.id, self.start, self.end, version=self.candidate
        )

    def feedback_of(self, kind: str, severities: tuple[str, ...] | None = None) -> list[dict]:
        return [
            {
                "id": item.id,
                "severity": item.severity,
                "details": item.details,
                "recorded_by": item.recorded_by,
                "recorded_at": item.recorded_at.isoformat(),
            }
            for item in self.feedback
            if item.kind == kind and (severities is None or item.severity in severities)
        ]


StageCheckFunction = Callable[[StageWindow], StageCheck]
STAGE_CHECKS: dict[str, StageCheckFunction] = {}


def stage_check(name: str) -> Callable[[StageCheckFunction], StageCheckFunction]:
    def register(function: StageCheckFunction) -> StageCheckFunction:
        STAGE_CHECKS[name] = function
        return function

    return register


def run_stage_check(name: str, window: StageWindow) -> StageCheck:
    if name not in STAGE_CHECKS:
        raise KeyError(UNKNOWN_STAGE_CHECK.format(name=name))
    return STAGE_CHECKS[name](window)


def feedback_sources(model: ModelEntry) -> str:
    """Where a feedback check's evidence can come from. A pass on "none recorded" says only
    as much as the ways anyone could have recorded one, so a passing summary names them:
    a model without serving consumers has the command line alone."""
    consumers = model.serving.consumers
    if consumers:
        return f"feedback from {FEEDBACK_COMMAND} and the consumers {', '.join(consumers)}"
    return f"feedback from {FEEDBACK_COMMAND} alone: {model.id} has no serving consumer"


def _sourced(check: StageCheck, window: StageWindow) -> StageCheck:
    """A passing feedback check, its summary naming where feedback comes from."""
    if check.outcome != "passed":
        return check
    sources = feedback_sources(window.model)
    return StageCheck(
        check.check,
        check.outcome,
        f"{check.summary}; {sources}",
        {**check.evidence, "feedback_from": [FEEDBACK_COMMAND, *window.model.serving.consumers]},
    )


def _recorded(name: str, window: StageWindow, found: list[dict], what: str) -> StageCheck:
    if found:
        return StageCheck(
            name, "failed", f"{len(found)} {what} recorded: {found[0]['details']}", {"found": found}
        )
    return _sourced(StageCheck(name, "passed", f"no {what} recorded", {"found": []}), window)


@stage_check("no_critical_bugs")
def no_critical_bugs(window: StageWindow) -> StageCheck:
    found = window.feedback_of("bug", ("critical",))
    return _recorded("no_critical_bugs", window, found, "critical bug(s)")


@stage_check("no_security_vulnerability")
def no_security_vulnerability(window: StageWindow) -> StageCheck:
    found = window.feedback_of("security_vulnerability")
    return _recorded("no_security_vulnerability", window, found, "security vulnerability(ies)")


@stage_check("no_regulatory_concern")
def no_regulatory_concern(window: StageWindow) -> StageCheck:
    found = window.feedback_of("regulatory_concern")
    return _recorded("no_regulatory_concern", window, found, "regulatory concern(s)")


@stage_check("complaints_acceptable")
def complaints_acceptable(window: StageWindow) -> StageCheck:
    limit = window.config.deployment.rollout.thresholds.significant_complaints_max
    significant = window.feedback_of("complaint", SIGNIFICANT)
    outcome: Outcome = "passed" if len(significant) <= limit else "failed"
    check = StageCheck(
        "complaints_acceptable",
        outcome,
        f"{len(significant)} significant complaint(s) (limit {limit})",
        {"significant": significant, "limit": limit, "all": len(window.feedback_of("complaint"))},
    )
    return _sourced(check, window)


@stage_check("override_rate_acceptable")
def override_rate_acceptable(window: StageWindow) -> StageCheck:
    limit = window.config.deployment.rollout.thresholds.override_rate_max
    overrides = len(window.feedback_of("override"))
    predictions = len(window.scored)
    evidence = {"overrides": overrides, "predictions": predictions, "limit": limit}
    if not predictions:
        return StageCheck(
            "override_rate_acceptable",
            "inconclusive",
            f"{window.candidate} scored no request yet",
            evidence,
        )
    rate = overrides / predictions
    check = StageCheck(
        "override_rate_acceptable",
        "passed" if rate <= limit else "failed",
        f"override rate {rate:.4f} ({overrides} of {predictions}; limit {limit})",
        {**evidence, "rate": round(rate, 6)},
    )
    return _sourced(check, window)


def _error_rate(window: StageWindow, name: str, limit: float) -> StageCheck:
    counts = window.health.by_version.get(window.candidate, {})
    requests = counts.get("requests", 0)
    evidence = {**counts, "limit": limit}
    if not requests:
        return StageCheck(
            name, "inconclusive", f"{window.candidate} served no request yet", evidence
        )
    failures = counts.get("errors", 0) + counts.get("invalid", 0)
    rate = failures / requests
    return StageCheck(
        name,
        "passed" if rate <= limit else "failed",
        f"error rate {rate:.4f} ({failures} errors and invalid outputs in {requests} requests; "
        f"limit {limit})",
        {**evidence, "rate": round(rate, 6)},
    )


@stage_check("error_rate_acceptable")
def error_rate_acceptable(window: StageWindow) -> StageCheck:
    limit = window.config.deployment.rollout.thresholds.error_rate_gate_max
    return _error_rate(window, "error_rate_acceptable", limit)


@stage_check("error_rate_within_threshold")
def error_rate_within_threshold(window: StageWindow) -> StageCheck:
    limit = window.config.deployment.rollout.thresholds.error_rate_rollback_max
    return _error_rate(window, "error_rate_within_threshold", limit)


def _groups(window: StageWindow, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    groups = {
        attribute.name: rows[attribute.name].to_numpy(dtype=object)
        for attribute in window.model.protected_attributes
        if attribute.name in rows.columns
    }
    for combination in window.model.intersections:
        if all(attribute in rows.columns for attribute in combination):
            name, labels = fairness.intersectional_groups(
                {attribute: rows[attribute] for attribute in combination}
            )
            groups[name] = labels
    return groups


def _rollback_needs_the_whole_interval(
    config: GovflowConfig, metric: str, verdict: str, evidence: Evidence | None
) -> str:
    """A rollback is drastic: it needs the whole interval beyond the critical bound (the
    data show the 80% rule broken), not only the extreme pair's value beyond it with the
    interval clear of the warning bound. With a small group as the extreme pair, the value
    can cross the critical bound by chance while a larger pair supplies the evidence of a
    warning-size effect: that is shown as a WARNING and rolls nothing back."""
    if verdict != "CRITICAL" or evidence is None:
        return verdict
    threshold = config.policy.threshold(JUDGED_AS.get(metric, metric))
    if threshold.reached(evidence.favourable_end(threshold.direction), "critical"):
        return verdict
    return "WARNING"


def looks_per_stage(config: GovflowConfig) -> int:
    """How many times a stage's cumulative traffic may be judged: every check interval of
    the longest stage. A rollback criterion is looked at again and again on growing data, so
    the chance that noise crosses it once grows with the looks; the intervals that can roll
    a stage back are corrected for all of them (Bonferroni, conservative for such strongly
    dependent looks), so that a small group's noise never rolls a canary back."""
    rollout = config.deployment.rollout
    longest = max((s.duration_days_max or s.duration_days_min or 1) for s in rollout.stages)
    return max(1, math.ceil(longest * rollout.day_seconds / rollout.check_interval_seconds))


def _selection_metrics(
    window: StageWindow,
    rows: pd.DataFrame,
    groups: np.ndarray,
    attribute: str,
    confidence: float,
) -> tuple[dict[str, FairnessMetric], dict[str, int]]:
    """The fairness metrics that need no label, of one attribute on the stage's rows (a
    classifier's selection rates, a regressor's group mean predictions), and the rows of
    each group."""
    predictions = rows["prediction"].to_numpy(dtype=float)
    options: dict[str, Any] = {
        "attribute": attribute,
        "min_group_size": window.config.min_group_size(window.model.id),
        "confidence": confidence,
    }
    if window.model.is_regressor:
        present = np.isfinite(predictions)
        metrics = regression_fairness(predictions[present], groups[present], **options)
        return metrics, metrics["mean_prediction_ratio"].details["group_sizes"]
    names = SELECTION_RATE_METRICS
    counts = fairness.group_counts(
        np.full(len(rows), np.nan),
        predictions,
        sensitive_features=groups,
        favourable_prediction=window.model.favourable_prediction,
    )
    sizes = {group: counts.n[counts.index(group)] for group in counts.groups}
    return {name: getattr(fairness, name)(counts, **options) for name in names}, sizes


@stage_check("fairness_within_bounds")
def fairness_within_bounds(window: StageWindow) -> StageCheck:
    """No selection-rate fairness metric of the new version is CRITICAL on the stage's
    traffic, judged per protected attribute and intersection over groups of at least
    min_group_size rows (smaller groups are excluded, as in monitoring)."""
    rows = window.scored
    policy = window.config.policy
    min_group_size = window.config.min_group_size(window.model.id)
    if rows.empty:
        return StageCheck(
            "fairness_within_bounds",
            "inconclusive",
            f"{window.candidate} scored no request yet",
            {"rows": 0, "min_group_size": min_group_size},
        )
    regressor = window.model.is_regressor
    names = REGRESSION_SELECTION_METRICS if regressor else SELECTION_RATE_METRICS
    findings: list[dict[str, Any]] = []
    attribute_groups = _groups(window, rows)
    tests = len(attribute_groups) * len(names) * looks_per_stage(window.config)
    for attribute, groups in attribute_groups.items():
        confidence = judgement_confidence(
            policy.fairness.confidence_level, groups=len(pd.unique(groups)), tests=tests
        )
        metrics, sizes = _selection_metrics(window, rows, groups, attribute, confidence)
        for name in names:
            metric = metrics[name]
            # Judged as monitoring judges it: on its value and its interval (classify with
            # evidence), so a stage never rolls back on noise or on an inconclusive metric.
            verdict, judged = fairness_verdict(window.config, name, metric)
            verdict = _rollback_needs_the_whole_interval(window.config, name, verdict, judged)
            low, high = (metric.ci_low, metric.ci_high)
            if judged is not None:
                low, high = judged.low, judged.high
            findings.append(
                {
                    "attribute": attribute,
                    "metric": name,
                    "value": None if metric.value is None else round(float(metric.value), 6),
                    "ci_low": None if low is None else round(low, 6),
                    "ci_high": None if high is None else round(high, 6),
                    "severity": verdict if verdict in ("INFO", "WARNING", "CRITICAL") else None,
                    "verdict": verdict,
                    "min_group": metric.min_group,
                    "max_group": metric.max_group,
                    "group_sizes": {
                        group: sizes[group]
                        for group in (*metric.groups_compared, *metric.excluded_groups)
                    },
                    "excluded_groups": metric.excluded_groups,
                }
            )
    evidence = {"rows": len(rows), "min_group_size": min_group_size, "findings": findings}
    critical = [f for f in findings if f["severity"] == "CRITICAL"]
    # A gate holds while an attribute cannot be measured at all; a metric measured but too
    # uncertain to decide (inconclusive) neither fails the gate nor rolls back: only a
    # CRITICAL the interval supports does.
    decided = [f for f in findings if f["value"] is not None]
    if critical:
        worst = critical[0]
        return StageCheck(
            "fairness_within_bounds",
            "failed",
            f"{worst['metric']} of {worst['attribute']} is {worst['value']} "
            f"(interval {worst['ci_low']}-{worst['ci_high']}) on {len(rows)} rows "
            f"(CRITICAL; lowest {worst['min_group']}, highest {worst['max_group']}; "
            f"rows per group {worst['group_sizes']})"
            + (f"; {len(critical) - 1} more CRITICAL" if len(critical) > 1 else ""),
            evidence,
        )
    judged_attributes = {f["attribute"] for f in decided}
    missing = [a.name for a in window.model.protected_attributes if a.name not in judged_attributes]
    if missing:
        return StageCheck(
            "fairness_within_bounds",
            "inconclusive",
            f"{', '.join(missing)} cannot be judged yet: fewer than two groups of "
            f"{min_group_size} rows in {len(rows)} rows",
            evidence,
        )
    impact = [f for f in decided if f["metric"] == names[0]]
    lowest = min(impact, key=lambda f: f["value"]) if impact else None
    summary = f"no fairness metric is CRITICAL on {len(rows)} rows"
    if lowest is not None:
        summary += (
            f"; lowest {names[0].replace('_', ' ')} {lowest['value']} ({lowest['attribute']})"
        )
    summary += findings_to_watch(
        [f for f in findings if f["severity"] == "WARNING"],
        [f for f in findings if f["verdict"] == "INCONCLUSIVE"],
    )
    return StageCheck("fairness_within_bounds", "passed", summary, evidence)


@stage_check("monitoring_stable")
def monitoring_stable(window: StageWindow) -> StageCheck:
    runs = window.session.scalars(
        select(MonitoringRun).where(
            MonitoringRun.model_id == window.model.id,
            MonitoringRun.started_at >= window.start,
            MonitoringRun.started_at < window.end,
        )
    ).all()
    failed = [run.run_key for run in runs if run.status == "failed"]
    if failed:
        return StageCheck(
            "monitoring_stable",
            "failed",
            f"{len(failed)} of {len(runs)} monitoring run(s) failed during the stage",
            {"failed_runs": failed, "runs": len(runs)},
        )
    return StageCheck(
        "monitoring_stable",
        "passed",
        f"none of {len(runs)} monitoring run(s) during the stage failed",
        {"failed_runs": [], "runs": len(runs)},
    )


@stage_check("monitoring_active")
def monitoring_active(window: StageWindow) -> StageCheck:
    succeeded = window.session.scalars(
        select(MonitoringRun.run_key).where(
            MonitoringRun.model_id == window.model.id,
            MonitoringRun.status == "succeeded",
            MonitoringRun.started_at >= window.start,
        )
    ).all()
    if succeeded:
        return StageCheck(
            "monitoring_active",
            "passed",
            f"{len(succeeded)} monitoring run(s) succeeded since the stage started",
            {"runs": list(succeeded)},
        )
    return StageCheck(
        "monitoring_active",
        "inconclusive",
        "no monitoring run has completed since the stage started",
        {"runs": []},
    )


def _yardstick(window: StageWindow) -> tuple[str, pd.DataFrame]:
    """What the new version's rows are compared with, and its name: the previous version's
    rows of the stage, or, with no previous version, the new one's own validation set."""
    if window.active is None:
        return f"{window.candidate}'s validation set", window.validation
    return window.active, window.rows_of(window.active)


def _outputs(rows: pd.DataFrame, column: str) -> np.ndarray:
    values = rows[column].to_numpy(dtype=float) if len(rows) else np.array([])
    return values[np.isfinite(values)]


def _error_increases(window: StageWindow) -> list[dict[str, Any]]:
    """A regressor's MAE and RMSE on the new version's labelled rows of the stage against
    the previous version's, judged on their intervals (corrected for both errors and every
    look at the stage) and, to roll back, on the whole interval."""
    level = window.config.policy.fairness.confidence_level
    alarm = judgement_confidence(level, groups=1, tests=2 * looks_per_stage(window.config))
    yardstick, reference = _yardstick(window)
    new, old = (
        error_summary(rows["label"], rows["prediction"]) if len(rows) else error_summary([], [])
        for rows in (window.scored, reference)
    )
    scarce = [(v, e.labelled) for v, e in ((window.candidate, new), (yardstick, old))]
    scarce = [(v, n) for v, n in scarce if n < DEFAULT_MIN_LABELLED]
    if scarce:
        reason = "; ".join(
            f"only {n} labelled rows of {v}, fewer than {DEFAULT_MIN_LABELLED}" for v, n in scarce
        )
        return [
            {
                "metric": f"{error}_increase",
                "value": None,
                "verdict": INCONCLUSIVE,
                "reason": reason,
            }
            for error in ("mae", "rmse")
        ]
    findings = []
    for error in ("mae", "rmse"):
        chosen, wide = (
            error_increase(new, old, error=error, confidence=confidence)
            for confidence in (alarm, level)
        )
        verdict, evidence = error_increase_verdict(window.config, chosen, wide)
        verdict = _rollback_needs_the_whole_interval(window.config, chosen.name, verdict, evidence)
        findings.append(
            {
                "metric": chosen.name,
                "value": None if chosen.value is None else round(chosen.value, 6),
                "ci_low": None if evidence is None else round(evidence.low, 6),
                "ci_high": None if evidence is None else round(evidence.high, 6),
                "verdict": verdict,
                "labelled": new.labelled,
                "previous_labelled": old.labelled,
                "reason": chosen.reason,
            }
        )
    return findings


@stage_check("model_drift_within_bounds")
def model_drift_within_bounds(window: StageWindow) -> StageCheck:
    """The new version's outputs (a classifier's scores, a regressor's predictions) against
    the previous version's on the same stage's traffic (requests are split at random, so
    both see the same population): total variation distance over the previous version's
    deciles, judged like prediction shift; a regressor's error increases as well. With no
    previous version, against the new version's own on its validation set (module doc)."""
    column = "prediction" if window.model.is_regressor else "score"
    yardstick, reference = _yardstick(window)
    new, old = _outputs(window.scored, column), _outputs(reference, column)
    minimum = window.config.min_group_size(window.model.id)
    evidence: dict[str, Any] = {
        "compared_with": yardstick,
        "new_rows": int(new.size),
        "previous_rows": int(old.size),
    }
    if new.size < minimum or old.size < minimum:
        return StageCheck(
            "model_drift_within_bounds",
            "inconclusive",
            f"too few {column}s to compare ({new.size} new, {old.size} previous; at least "
            f"{minimum} each)",
            evidence,
        )
    edges = np.unique(np.quantile(old, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    shift = total_variation_distance(np.histogram(old, bins)[0], np.histogram(new, bins)[0])
    severity = classify(shift, window.config.policy.threshold("prediction_distribution_shift")).name
    evidence.update(prediction_distribution_shift=round(shift, 6), severity=severity)
    summary = f"prediction distribution shift against {yardstick} is {shift:.4f} ({severity})"
    outcome: Outcome = "failed" if severity == "CRITICAL" else "passed"
    if window.model.is_regressor:
        errors = evidence["error_increases"] = _error_increases(window)
        summary += "; " + "; ".join(
            f"{f['metric']} {f['value']} (interval {f['ci_low']} to {f['ci_high']}): {f['verdict']}"
            if f["reason"] is None
            else f"{f['metric']} not judged: {f['reason']}"
            for f in errors
        )
        verdicts = {f["verdict"] for f in errors if f["reason"] is None}
        if "CRITICAL" in verdicts:
            outcome = "failed"
        elif INCONCLUSIVE in verdicts and outcome == "passed":
            outcome = "inconclusive"
    return StageCheck("model_drift_within_bounds", outcome, summary, evidence)


@stage_check("data_quality_gate_passed")
def data_quality_gate_passed(window: StageWindow) -> StageCheck:
    """The data-quality gate on the new version's rows (schema, nulls, ranges, duplicates).
    Volume is the scheduled monitoring's concern: a stage sees a share of the traffic."""
    rows = window.scored
    if rows.empty:
        return StageCheck(
            "data_quality_gate_passed", "inconclusive", f"{window.candidate} scored no request yet"
        )
    quality = window.config.policy.data_quality
    report = run_quality_gate(
        rows,
        rules=column_rules(window.model, window.config),
        policy=QualityPolicy(
            expected_rows=len(rows),
            volume_tolerance=1.0,
            max_staleness_hours=quality.freshness_hours_max,
            min_rows=1,
        ),
        window_start=window.start,
        window_end=window.end,
        engine=quality.engine,
    )
    return StageCheck(
        "data_quality_gate_passed",
        "passed" if report.passed else "failed",
        report.summary,
        {"findings": [finding.to_dict() for finding in report.findings][:5]},
    )
