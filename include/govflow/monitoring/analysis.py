"""Seed 004 sections 1, 2, 4.1 and 8: the analysis of one model over one window.

``analyse_window`` is the computation (no database): the data-quality gate, then data,
fairness, model and explanation drift against the active baseline's stored profile, each
metric judged by policy.yaml, then the composite score. ``run_monitoring`` reads the window,
runs it, renders the evidently drift report and records everything under a natural key; a
classifier's SQL log is analysed inside its database instead (``analyse_sql_window``, issue
18 item 5), with the same result, unless the data-quality gate would cut rows from it.

Windows. Drift of inputs, predictions and selection rates is measured on the run's own
window [start, end). Metrics that need outcomes (accuracy, equal opportunity, FPR, PPV,
calibration, label drift) are measured on the newest window whose labels have arrived: the
same span shifted back by the model's label delay, counting only labels observed before
``end`` ("as of" the end of the run's window).

A ``regressor`` (issue 14 item 4) is judged on its own metrics
(:mod:`govflow.metrics.regression`): model drift on its errors (MAE and RMSE increase, with
an interval) and on its prediction's distribution and spread, fairness on the ratio and
difference of group mean predictions and group MAEs; data drift is the classifier's, and so
is explanation drift, of its prediction instead of a probability.

Bad data never stops a run: each problem is a data-quality finding, drift is computed on the
usable rows and columns or skipped with the reason, and a model's failure is recorded as a
failed run without touching any other model's results.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from govflow.baselines.profile import BaselineProfile
from govflow.config import GovflowConfig
from govflow.config.inventory import ModelEntry
from govflow.config.vocabulary import CHECK_TYPES, CheckType
from govflow.metrics import (
    JUDGED_AS,
    Evidence,
    FairnessMetric,
    FeatureDrift,
    GroupCounts,
    MetricInputError,
    MetricObservation,
    ModelDriftMetric,
    Threshold,
    absolute_errors,
    accuracy_drop,
    categorical_feature_drift,
    classify,
    composite_drift_score,
    error_increase,
    error_summary,
    fairness_report,
    group_counts,
    intersectional_groups,
    label_drift,
    numeric_feature_drift,
    output_entropy_change,
    output_spread_change,
    pooled_counts,
    prediction_distribution_shift,
    prediction_shift,
    regression_fairness,
    severity_rank,
    simultaneous_interval,
)
from govflow.metrics.explanation_drift import (
    LOGGED,
    NO_COMPLETE_ROWS,
    SHAP_RANK_CORRELATION,
    ExplanationInputError,
    FeatureAttributions,
    ProbabilisticClassifier,
    Regressor,
    attribution_column,
    explained_positions,
    explanation_drift,
    feature_attributions,
    logged_attributions,
    missing_attribution_columns,
    non_finite_attributions,
    sample_attributions,
)
from govflow.metrics.fairness import (
    INTERSECTION_SEPARATOR,
    group_sizes_label,
    judged_group_sizes,
)
from govflow.metrics.severity import COMPOSITE_FAMILIES
from govflow.monitoring import window_counts
from govflow.monitoring.prediction_logs import (
    LABEL,
    LABEL_OBSERVED_AT,
    MISDATED_ROWS,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    ROWS_WITHOUT_SCORED_AT,
    SCORE,
    SCORED_AT,
    UNDATED_ROWS,
    UNDATED_TABLE_ROWS,
    ParquetLogSource,
    PredictionLogError,
    PredictionLogSource,
    SqlLogSource,
    counted_versions,
    log_columns,
    utc_timestamps,
)
from govflow.monitoring.quality import ColumnRule, QualityPolicy, QualityReport, run_quality_gate
from govflow.monitoring.window_counts import missing_value
from govflow.monitoring.window_quality import counted_quality_gate

DATA_QUALITY = "data_quality"
INCONCLUSIVE = "INCONCLUSIVE"
# Fairness metrics that compare selection rates need no outcome; the rest need labels.
SELECTION_METRICS = frozenset(
    {"demographic_parity_difference", "disparate_impact_ratio", "demographic_parity_drift"}
)
NOT_JUDGED = "NOT_JUDGED"
# Seed 004's own metrics: two are changes against the baseline (no effect is no drift), and
# disparate impact is a level, the 80% rule (no effect is parity).
SEED_004_METRICS = frozenset(
    {"demographic_parity_drift", "equal_opportunity_drift", "disparate_impact_ratio"}
)
DRIFT_METRICS = frozenset({"demographic_parity_drift", "equal_opportunity_drift"})
"""Seed 004's metrics that are themselves a change from the baseline (no drift is 0)."""

UNKNOWN_CHECK = "unknown check {check!r}; expected some of {expected}"
NO_CHECK = "no check given; expected some of {expected}"
NO_BASELINE = (
    "model {model_id} has no active baseline: run "
    "'govflow baseline create --model {model_id} --from <validation data>'"
)
BLACK_BOX = (
    "no attributions in the baseline: a black-box model (no artefact registered) has "
    "explanation drift only from attributions logged beside its predictions, one column per "
    "feature ({columns}), in its baseline data and its logs"
)
LOGS_WITHOUT_ATTRIBUTIONS = (
    "the baseline's attributions were logged, but the window's logs have no column for: {missing}"
)
NON_FINITE_ATTRIBUTIONS = "non_finite_attributions"
NON_FINITE_ATTRIBUTION_ROWS = (
    "{count} of {rows} values of {column} are not finite numbers (null, NaN, inf or text); "
    "their rows are left out of explanation drift"
)
UNREADABLE_WINDOW = "prediction logs could not be read: {error}"
ANALYSIS_FAILED = "analysis_failed"
COLUMN_UNUSABLE = "column {column} failed the data-quality gate; drift not computed"
NO_USABLE_ROWS = "no usable rows in the window after the data-quality gate"
NO_LABELLED_WINDOW = "no predictions whose labels could have arrived yet (label delay)"
NOT_COMPUTABLE = "{metric} of {subject} is not a finite number ({value}); not judged"
SKIPPED_NO_ARTIFACT = "explanation drift needs the model artefact, which could not be loaded"
BASELINE_OF_OTHER_TYPE = (
    "the active baseline was built for {built_for}: run 'govflow baseline create --model "
    "{model_id} --from <validation data>' again for the model's type in models.yaml"
)
NO_FINITE_PREDICTIONS = "no finite prediction in the window: the predictions cannot be compared"


class UnknownCheck(ValueError):
    """A check that is none of CHECK_TYPES."""


@dataclass(frozen=True)
class Finding:
    """One judged metric (or data-quality problem) of one analysis."""

    check_type: str
    metric: str
    subject: str
    value: float | None
    severity: str
    status: str = "computed"
    threshold: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_type": self.check_type,
            "metric": self.metric,
            "subject": self.subject,
            "value": self.value,
            "severity": self.severity,
            "status": self.status,
            "threshold": self.threshold,
            "details": self.details,
            "message": self.message,
        }


@dataclass
class Analysis:
    """Everything one analysis found, before it is stored."""

    model_id: str
    window_start: datetime
    window_end: datetime
    checks: tuple[str, ...]
    baseline_version: str | None
    findings: list[Finding] = field(default_factory=list)
    composite: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    # Per attribute and window, the day's group counts (GroupCounts.to_dict()): what a later
    # day pools when a small group needs more days to be judged.
    fairness_counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The window's rows per logged model version, every row it holds: during a phased
    # rollout the findings may come from a candidate's share of the traffic.
    model_versions: dict[str, int] = field(default_factory=dict)
    status: Literal["succeeded", "failed"] = "succeeded"
    error: str | None = None
    # The window's rows and columns the data-quality gate declared usable: all a drift
    # report may draw (not stored).
    usable: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def failure(self) -> str | None:
        """Why a failed analysis failed: its message, without the traceback ``error`` keeps."""
        return next((f.message for f in self.findings if f.metric == ANALYSIS_FAILED), None)

    @property
    def quality_failure(self) -> str | None:
        """What the data-quality gate failed, when its failures alone make the severity (a
        window with no rows is CRITICAL for want of rows, not for drift): their messages,
        joined in one line; None otherwise."""
        severity = self.severity
        judged = [f for f in self.findings if f.status in ("computed", "failed")]
        worst = [f for f in judged if f.severity == severity]
        gate_alone = all(
            (f.check_type, f.status) == (DATA_QUALITY, "failed") and f.metric != ANALYSIS_FAILED
            for f in worst
        )
        if severity == "INFO" or self.composite.get("severity") == severity or not gate_alone:
            return None
        return "; ".join(" ".join(f.message.split()) for f in worst)

    @property
    def severity(self) -> str:
        judged = [f.severity for f in self.findings if f.status in ("computed", "failed")]
        if self.composite.get("severity"):
            judged.append(self.composite["severity"])
        return max(judged, key=severity_rank, default="INFO")

    @property
    def inconclusive_checks(self) -> tuple[str, ...]:
        """The checks that ran and could judge nothing: at least one metric inconclusive and
        none judged against a bound (a skipped check, e.g. explanation drift without a
        model artifact, is not inconclusive: it says why it did not run)."""
        inconclusive = []
        for check in self.checks:
            mine = [f for f in self.findings if f.check_type == check]
            if any(f.status == "inconclusive" for f in mine) and not any(map(_judged, mine)):
                inconclusive.append(check)
        return tuple(inconclusive)

    @property
    def verdict(self) -> str:
        """What the record and the summary say: the severity, but ``INCONCLUSIVE`` where
        nothing is above INFO and a check could judge nothing (its INFO is no pass)."""
        severity = self.severity
        if severity == "INFO" and self.inconclusive_checks:
            return INCONCLUSIVE
        return severity


def _judged(finding: Finding) -> bool:
    """A metric judged against a policy bound (a pass or an alarm), not merely recorded."""
    return (
        finding.status == "computed"
        and bool(finding.threshold)
        and not str(finding.details.get("judged_on", "")).startswith("not judged")
    )


def validate_checks(checks: Iterable[str]) -> tuple[CheckType, ...]:
    """``checks`` once each, in order. None at all (``--checks "$UNSET"``) is refused: the
    window would be recorded as a day analysed and found fine, with no finding at all."""
    wanted = tuple(dict.fromkeys(checks))
    expected = ", ".join(CHECK_TYPES)
    if not wanted:
        raise UnknownCheck(NO_CHECK.format(expected=expected))
    for check in wanted:
        if check not in CHECK_TYPES:
            raise UnknownCheck(UNKNOWN_CHECK.format(check=check, expected=expected))
    return wanted  # type: ignore[return-value]


def column_rules(model: ModelEntry, config: GovflowConfig) -> list[ColumnRule]:
    """The data-quality rules of a model's prediction log, from its feature schema."""
    rules: list[ColumnRule] = []
    for feature in model.features:
        kind = {"numeric": "numeric", "integer": "integer", "categorical": "categorical"}[
            feature.dtype
        ]
        rules.append(
            ColumnRule(
                name=feature.name,
                kind=kind,  # type: ignore[arg-type]
                minimum=feature.min,
                maximum=feature.max,
                categories=tuple(feature.categories) if feature.categories else None,
                max_null_fraction=config.null_tolerance(model.id, feature.name),
                # A new category takes part in drift in a bin of its own.
                keep_unexpected=True,
            )
        )
    for attribute in model.protected_attributes:
        rules.append(
            ColumnRule(
                name=attribute.name,
                kind="categorical",
                categories=tuple(attribute.categories),
                max_null_fraction=config.policy.data_quality.null_fraction_max,
            )
        )
    columns = model.columns
    if model.is_regressor:
        # The amount predicted must lie in the gateway's clipping bounds; the observed amount
        # may lie anywhere but must be a finite number (an infinity is out of range).
        low, high = model.prediction_bounds
        rules.append(ColumnRule(name=columns.prediction, kind="numeric", minimum=low, maximum=high))
        rules.append(
            ColumnRule(
                name=columns.label,
                kind="numeric",
                minimum=-sys.float_info.max,
                maximum=sys.float_info.max,
                max_null_fraction=1.0,
                required=False,
            )
        )
        return rules
    assert columns.score is not None, "models.yaml requires it of a classifier"
    rules.append(ColumnRule(name=columns.score, kind="numeric", minimum=0.0, maximum=1.0))
    rules.append(
        ColumnRule(name=columns.prediction, kind="integer", minimum=0, maximum=1, drop_nulls=True)
    )
    rules.append(
        ColumnRule(name=columns.label, kind="label", max_null_fraction=1.0, required=False)
    )
    return rules


def log_rules(model: ModelEntry, config: GovflowConfig) -> list[ColumnRule]:
    """The rules of a window of the model's prediction log: ``column_rules`` and the log's
    own bookkeeping, optional, so that nothing the analysis reads is missing or unreadable
    without a finding. A ``label_observed_at`` that is not a timestamp is blanked, so its
    label counts as not yet observed, as it did, but now named."""
    columns = model.columns
    return [
        *column_rules(model, config),
        ColumnRule(columns.model_version, "categorical", max_null_fraction=1.0, required=False),
        ColumnRule(columns.label_observed_at, "timestamp", max_null_fraction=1.0, required=False),
    ]


def quality_policy(model: ModelEntry, config: GovflowConfig, window: timedelta) -> QualityPolicy:
    days = window / timedelta(days=1)
    expected = max(1, round(model.expected_daily_volume * days))
    quality = config.policy.data_quality
    return QualityPolicy(
        expected_rows=expected,
        volume_tolerance=max(1 - quality.volume_ratio_min, quality.volume_ratio_max - 1),
        max_staleness_hours=quality.freshness_hours_max,
        min_rows=max(1, round(expected * quality.volume_ratio_min)),
        unseen_category_fraction_max=quality.unseen_category_fraction_max,
        out_of_range_fraction_max=quality.out_of_range_fraction_max,
    )


def _threshold(config: GovflowConfig, metric: str) -> Threshold | None:
    """The policy's threshold of ``metric`` (a regression metric's is the policy metric it is
    judged as); None for a metric the policy does not bound."""
    try:
        return config.policy.threshold(JUDGED_AS.get(metric, metric))
    except KeyError:
        return None


class _Judge:
    """Turns metric values into findings with the policy's thresholds."""

    def __init__(self, config: GovflowConfig) -> None:
        self.config = config
        self.findings: list[Finding] = []
        self.observations: list[MetricObservation] = []

    def record_unjudged(
        self,
        check_type: str,
        metric: str,
        subject: str,
        value: float | None,
        details: dict[str, Any],
    ) -> None:
        found = _threshold(self.config, metric)
        self.findings.append(
            Finding(
                check_type,
                metric,
                subject,
                value,
                "INFO",
                "computed",
                found.to_dict() if found else {},
                details,
                details.get("judged_on", ""),
            )
        )

    def judge(
        self,
        check_type: str,
        metric: str,
        subject: str,
        value: float | None,
        *,
        status: str = "computed",
        details: dict[str, Any] | None = None,
        message: str = "",
        judged_value: float | None = None,
    ) -> None:
        """Record a metric; its severity comes from ``judged_value`` when one is given
        (a confidence bound, see _fairness_drift), else from the value itself."""
        details = details or {}
        found = _threshold(self.config, metric)
        described = found.to_dict() if found else {}
        if status != "computed" or value is None:
            self.findings.append(
                Finding(
                    check_type, metric, subject, None, "INFO", status, described, details, message
                )
            )
            return
        if not math.isfinite(value):
            self.findings.append(
                Finding(
                    DATA_QUALITY,
                    f"{metric}_not_computable",
                    subject,
                    None,
                    "WARNING",
                    "failed",
                    described,
                    details,
                    NOT_COMPUTABLE.format(metric=metric, subject=subject, value=value),
                )
            )
            return
        severity = "INFO"
        judged = value if judged_value is None or not math.isfinite(judged_value) else judged_value
        if found is not None:
            severity = classify(judged, found).name
            family = COMPOSITE_FAMILIES.get(check_type)
            if family is not None:
                self.observations.append(MetricObservation(metric, family, judged, found, subject))
        self.findings.append(
            Finding(
                check_type,
                metric,
                subject,
                float(value),
                severity,
                "computed",
                described,
                details,
                message,
            )
        )

    def judge_verdict(
        self,
        check_type: str,
        metric: str,
        subject: str,
        result: FairnessMetric | ModelDriftMetric,
        verdict: str,
        evidence: Evidence | None,
        details: dict[str, Any],
    ) -> None:
        """Record a metric judged on evidence (see fairness_verdict): an inconclusive one
        with its value, interval and group sizes, never as a pass or an alarm."""
        found = _threshold(self.config, metric)
        described = found.to_dict() if found else {}
        if result.value is None or result.status != "computed":
            self.findings.append(
                Finding(
                    check_type,
                    metric,
                    subject,
                    None,
                    "INFO",
                    "inconclusive",
                    described,
                    details,
                    result.reason or "",
                )
            )
            return
        value = float(result.value)
        if verdict in ("INFO", "WARNING", "CRITICAL", "INCONCLUSIVE") and found is not None:
            family = COMPOSITE_FAMILIES.get(check_type)
            if family is not None:
                self.observations.append(
                    MetricObservation(metric, family, value, found, subject, verdict=verdict)
                )
        inconclusive = verdict == "INCONCLUSIVE"
        self.findings.append(
            Finding(
                check_type,
                metric,
                subject,
                value,
                "INFO" if inconclusive or verdict == NOT_JUDGED else verdict,
                "inconclusive" if inconclusive else "computed",
                described,
                details,
                _inconclusive_message(details) if inconclusive else (result.reason or ""),
            )
        )


def _inconclusive_message(details: dict[str, Any]) -> str:
    if "group_sizes" not in details:  # a model-drift metric's interval, on labelled rows
        rows = details.get("labelled", 0)
        return f"inconclusive: interval too wide to decide on the day ({rows} labelled rows)"
    sizes = ", ".join(f"{group} {n}" for group, n in details.get("group_sizes", {}).items())
    days = details.get("pooled_days", 1)
    span = "the day" if days == 1 else f"the last {days} days"
    counted = group_sizes_label(details)
    return f"inconclusive: interval too wide to decide on {span} ({counted}: {sizes})"


def quality_gate_threshold(config: GovflowConfig) -> dict[str, Any]:
    """What a data-quality finding was judged on, stored where a metric stores its bounds."""
    return {
        "gate": "great_expectations",
        "failed_gate_severity": config.policy.data_quality.failed_gate_severity,
    }


def _quality_findings(report: QualityReport, config: GovflowConfig) -> list[Finding]:
    gate_severity = config.policy.data_quality.failed_gate_severity
    findings = []
    for finding in report.findings:
        severity = {"CRITICAL": gate_severity, "INFO": "INFO"}.get(finding.severity_hint, "WARNING")
        findings.append(
            Finding(
                DATA_QUALITY,
                finding.check,
                ",".join(finding.columns),
                float(finding.unexpected_count),
                severity,
                # Noted below the policy's bound (seed 004 section 10's "< 1%"): not a failure.
                "computed" if severity == "INFO" else "failed",
                quality_gate_threshold(config),
                finding.to_dict(),
                finding.message,
            )
        )
    return findings


LEFT_OUT_FOR_DATING = {
    MISDATED_ROWS: (
        "{count} rows of the window's partitions are dated outside their partition's day "
        "(scored_at) and were left out of the analysis"
    ),
    UNDATED_ROWS: (
        "{count} rows of the window's partitions have a scored_at that is null or not a "
        "timestamp and were left out of the analysis"
    ),
    ROWS_WITHOUT_SCORED_AT: (
        "{count} rows of the window's partitions are in files without a scored_at column "
        "and were left out of the analysis"
    ),
    UNDATED_TABLE_ROWS: (
        "{count} rows of the log table have a scored_at that is null or not a timestamp, "
        "which places them in no window, and were left out of the analysis"
    ),
}
# A SQL log's undated rows are a parquet log's, counted over its table: the same finding.
LEFT_OUT_METRIC = {UNDATED_TABLE_ROWS: UNDATED_ROWS}
FUTURE_ROWS = (
    "{count} of {rows} rows are scored after the analysis ran ({now:%Y-%m-%d %H:%M} UTC): "
    "a clock or dating error upstream"
)


def _dating_findings(current: pd.DataFrame, now: datetime) -> list[Finding]:
    """No row disappears without a finding: rows left out for their date, and rows from the
    future (every row of the window from the future makes it unmonitorable)."""
    future = 0
    if SCORED_AT in current.columns and len(current):
        scored_at = utc_timestamps(current[SCORED_AT])
        future = int((scored_at > pd.Timestamp(now)).sum())
    left_out = {key: int(current.attrs.get(key, 0)) for key in LEFT_OUT_FOR_DATING}
    return _counted_dating_findings(left_out, future, len(current), now)


def _counted_dating_findings(
    left_out: Mapping[str, int], future: int, rows: int, now: datetime
) -> list[Finding]:
    """``left_out``: the rows the source left out, by reason (``LEFT_OUT_FOR_DATING``)."""
    findings = [
        Finding(
            DATA_QUALITY,
            LEFT_OUT_METRIC.get(reason, reason),
            SCORED_AT,
            float(count),
            "WARNING",
            "failed",
            message=LEFT_OUT_FOR_DATING[reason].format(count=count),
        )
        for reason, count in left_out.items()
        if count
    ]
    if future:
        findings.append(
            Finding(
                DATA_QUALITY,
                "future_rows",
                SCORED_AT,
                float(future),
                "CRITICAL" if future == rows else "WARNING",
                "failed",
                message=FUTURE_ROWS.format(count=future, rows=rows, now=now),
            )
        )
    return findings


def _labelled(frame: pd.DataFrame, as_of: datetime) -> pd.Series:
    """Labels observed before ``as_of``; later (or missing) ones are NaN."""
    if LABEL not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    labels = pd.to_numeric(frame[LABEL], errors="coerce").astype("float64")
    if LABEL_OBSERVED_AT in frame.columns:
        observed = utc_timestamps(frame[LABEL_OBSERVED_AT])
        labels = labels.where(observed < pd.Timestamp(as_of))
    return labels


def _data_drift(
    judge: _Judge,
    frame: pd.DataFrame,
    model: ModelEntry,
    baseline: BaselineProfile,
    unusable: Sequence[str],
) -> None:
    drifts: dict[str, FeatureDrift | MetricInputError | None] = {}
    for feature in model.features:
        name = feature.name
        if name in unusable or name not in frame.columns:
            drifts[name] = None
            continue
        try:
            if name in baseline.numeric:
                values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
                drifts[name] = numeric_feature_drift(baseline.numeric[name], values, feature=name)
            else:
                drifts[name] = categorical_feature_drift(
                    baseline.categorical[name], frame[name].astype("object"), feature=name
                )
        except MetricInputError as error:  # e.g. a column holding nothing but nulls
            drifts[name] = error
    _judge_data_drift(judge, model, drifts)


def _judge_data_drift(
    judge: _Judge,
    model: ModelEntry,
    drifts: Mapping[str, FeatureDrift | MetricInputError | None],
) -> None:
    """Each feature's drift judged: None for a column the gate found unusable, the error
    for one the metric refused."""
    for feature in model.features:
        name = feature.name
        drift = drifts.get(name)
        if drift is None:
            judge.judge(
                "data_drift",
                "psi",
                name,
                None,
                status="skipped",
                message=COLUMN_UNUSABLE.format(column=name),
            )
            continue
        if isinstance(drift, MetricInputError):
            judge.judge("data_drift", "psi", name, None, status="skipped", message=str(drift))
            continue
        details = drift.to_dict()
        message = _unseen_message(drift.unseen_categories)
        judge.judge("data_drift", "psi", name, drift.psi, details=details, message=message)
        judge.judge(
            "data_drift",
            "kl_divergence",
            name,
            drift.kl_divergence,
            details=details,
            message=message,
        )
        if drift.wasserstein_distance_normalised is not None:
            judge.judge(
                "data_drift",
                "wasserstein_distance_normalised",
                name,
                drift.wasserstein_distance_normalised,
                details=details,
            )


UNSEEN_CATEGORIES = "categories unseen in the baseline, each in a bin of its own: {listed}"
UNSEEN_LISTED = 5


def _unseen_message(unseen: Mapping[str, int]) -> str:
    """The categories a drift value counts that the baseline never saw, most rows first."""
    if not unseen:
        return ""
    ordered = sorted(unseen.items(), key=lambda item: (-item[1], item[0]))
    listed = ", ".join(f"{category} ({rows} rows)" for category, rows in ordered[:UNSEEN_LISTED])
    if len(ordered) > UNSEEN_LISTED:
        listed += f" and {len(ordered) - UNSEEN_LISTED} more"
    return UNSEEN_CATEGORIES.format(listed=listed)


def _attribute_values(frame: pd.DataFrame, names: Sequence[str]) -> tuple[str, Any]:
    """The attribute's (or intersection's) name as the baseline keys it, and each row's group."""
    if len(names) == 1:
        return names[0], frame[names[0]].astype("object")
    return intersectional_groups({name: frame[name] for name in names})


FairnessHistory = Sequence[Mapping[str, Mapping[str, Mapping[str, Any]]]]
"""Earlier days' group counts, newest first: ``[{subject: {window: GroupCounts.to_dict()}}]``
(the ``fairness_counts`` of the monitoring records of the days before)."""


def _fairness_counts(
    current: pd.DataFrame,
    matured: pd.DataFrame,
    names: Sequence[str],
    model: ModelEntry,
    as_of: datetime,
) -> tuple[str, dict[str, GroupCounts]]:
    counts: dict[str, GroupCounts] = {}
    subject = "&".join(names)
    for window, frame in (("current", current), ("labels_arrived", matured)):
        if frame.empty:
            continue
        subject, groups = _attribute_values(frame, names)
        try:
            counts[window] = group_counts(
                _labelled(frame, as_of).to_numpy(),
                pd.to_numeric(frame[PREDICTION], errors="coerce").to_numpy(),
                sensitive_features=groups,
                scores=pd.to_numeric(frame[SCORE], errors="coerce").to_numpy(),
                favourable_label=model.favourable_label,
                favourable_prediction=model.favourable_prediction,
            )
        except MetricInputError as error:
            raise MetricInputError(f"{window} window: {error}") from error
    return subject, counts


DECIDED_WORST_FIRST = ("CRITICAL", "WARNING", "INFO")


def poolable_history(
    days: Iterable[tuple[Mapping[str, Any], Iterable[tuple[str, str, str]]]],
) -> list[dict[str, Any]]:
    """The fairness history later days pool with, from consecutive days' ``fairness_counts``
    and their (check type, subject, severity) findings, newest first. An attribute's counts
    stop before its newest day with a CRITICAL fairness finding on it (alone or in an
    intersection): that change is reported (and its incident open) on the day it showed;
    pooled into the next days' spans, the same days would be alarmed again every day for two
    weeks after the change ended. Accumulation restarts after it, so a change that persists
    is found again on days of its own. The other attributes pool on: a change building up in
    one attribute's small group is not set back a week by another attribute's alarm."""
    ended: set[str] = set()
    history: list[dict[str, Any]] = []
    for counts, findings in days:
        ended |= {
            name
            for check, subject, severity in findings
            if check == "fairness_drift" and severity == "CRITICAL"
            for name in subject.split("&")
        }
        kept = {
            subject: found
            for subject, found in counts.items()
            if ended.isdisjoint(subject.split("&"))
        }
        if not kept:
            break
        history.append(kept)
    return history


def judged_fairness_metrics(config: GovflowConfig, among: Sequence[str] | None = None) -> list[str]:
    """The fairness metrics the policy bounds, among which a check shares its alpha: every
    one for a model-day of monitoring (the tests one attribute adds to it), those of
    ``among`` for a check that judges only these (a regression metric is bounded as the
    policy metric it is judged as); the others are recorded unjudged."""
    if among is None:
        return list(config.policy.thresholds.fairness_drift)
    return [metric for metric in among if _threshold(config, metric) is not None]


def fairness_alarm_tests(
    config: GovflowConfig, metric: str, tests: float, among: Sequence[str] | None = None
) -> float:
    """The Bonferroni divisor of ``metric``'s alarm interval: the check's ``tests`` for each
    metric (attributes x pooled spans, or x looks at a stage) over the metric's share of the
    alpha of the metrics judged with it (``judged_fairness_metrics`` of ``among``; weighted
    Bonferroni, ``fairness.alpha_weights``: x the number judged when none is weighted). A
    metric not judged takes no share: its interval, only recorded, is one of weight 1."""
    judged = judged_fairness_metrics(config, among)
    if not judged:
        return tests
    return tests / config.policy.fairness.alpha_share(metric, judged)


def judgement_confidence(confidence: float, *, groups: int, tests: float) -> float:
    """The confidence of one interval so that a model-day's verdicts hold at ``confidence``
    together (Bonferroni): ``tests`` metrics x attributes x pooled windows judged that day
    (weighted: a metric's alpha share is 1 / ``tests`` of attributes x windows), and the
    extreme pair picked among ``groups`` groups (a gap's interval treats its pair as fixed,
    and the widest of 28 pairs of a stable window clears a 95% interval by chance).

    An alarm rests on one end of the interval, yet the interval is two-sided, each end at
    half the corrected alpha: Wilson's interval, which every rate and ratio is built from,
    is lighter in its far tail than the exact one on a small group (for 24 of 36 at
    one-sided 2.6e-4 its lower end is 0.385, Clopper-Pearson's 0.368; at half that, where
    a two-sided interval puts it, 0.372), and one-sided ends made a demo stable day
    CRITICAL on an event of exact probability 7.6e-4 (24 of 36 non-binary customers
    selected where 0.39 is usual)."""
    pairs = max(1, groups * (groups - 1) // 2)
    return 1 - (1 - confidence) / (pairs * max(1, tests))


def fairness_verdict(
    config: GovflowConfig,
    metric: str,
    result: FairnessMetric,
    plausible: FairnessMetric | None = None,
    baseline: FairnessMetric | None = None,
) -> tuple[str, Evidence | None]:
    """The verdict on one fairness metric from its value and intervals (classify with
    evidence): INFO, WARNING, CRITICAL or INCONCLUSIVE; ``NOT_JUDGED`` for a metric the
    policy does not bound or that has no interval (recorded, never alarmed on). ``result``
    carries the interval an alarm needs (corrected for every test of the model-day),
    ``plausible`` the metric's own (corrected for its group pairs and pooled spans;
    default the same), which clears a metric or sizes an effect already shown. Seed 004's
    own metrics are judged against no effect (no drift, parity); seed 000's gaps against
    the ``baseline``'s gap when it is given (a shift)."""
    threshold = _threshold(config, metric)
    if result.value is None or result.status != "computed":
        return "INCONCLUSIVE", None
    if threshold is None or result.ci_low is None or result.ci_high is None:
        return NOT_JUDGED, None
    plausible = plausible or result
    low, high = simultaneous_interval(result)
    plausible_low, plausible_high = simultaneous_interval(plausible)
    reference = 1.0 if metric.endswith("_ratio") else 0.0
    # A drift is itself a change from the baseline: its no effect is no change.
    change = metric in DRIFT_METRICS
    if (
        metric not in SEED_004_METRICS
        and baseline is not None
        and baseline.value is not None
        and baseline.ci_low is not None
        and baseline.ci_high is not None
    ):
        # Seed 000's gaps alert on "statistically significant shifts": no effect is the
        # baseline's own gap, and the interval is that of the change (MOVER, the baseline's
        # sampling error included), placed around today's value.
        value, before = result.value, baseline.value
        before_low, before_high = simultaneous_interval(baseline)
        reference = before
        low = value - math.hypot(value - low, before_high - before)
        high = value + math.hypot(high - value, before - before_low)
        change = True
    evidence = Evidence(
        low,
        high,
        reference,
        plausible_low=plausible_low,
        plausible_high=plausible_high,
        change=change,
    )
    return classify(result.value, threshold, evidence=evidence).name, evidence


def _fairness_attributes(model: ModelEntry) -> list[list[str]]:
    """Each protected attribute alone, then each configured intersection."""
    return [[a.name] for a in model.protected_attributes] + list(model.intersections)


def _present_attributes(
    judge: _Judge, columns: Iterable[str], attributes: list[list[str]], metric: str
) -> Iterator[list[str]]:
    """The attributes (or intersections) whose columns the window holds; each other one is
    recorded as ``metric`` skipped, with the column named."""
    held = set(columns)
    for names in attributes:
        if all(name in held for name in names):
            yield names
            continue
        judge.judge(
            "fairness_drift",
            metric,
            "&".join(names),
            None,
            status="skipped",
            message=COLUMN_UNUSABLE.format(column="&".join(names)),
        )


CountsOf = Callable[[Sequence[str]], tuple[str, dict[str, GroupCounts]]]
"""An attribute's (or intersection's) subject and group counts per window (``current``,
``labels_arrived`` when that window has rows), or the ``MetricInputError`` that refuses them."""


def _fairness_drift(
    judge: _Judge,
    columns: Iterable[str],
    counts_of: CountsOf,
    model: ModelEntry,
    baseline: BaselineProfile,
    config: GovflowConfig,
    history: FairnessHistory,
    recorded: dict[str, dict[str, Any]],
) -> None:
    policy = config.policy.fairness
    attributes = _fairness_attributes(model)
    pooling = [days for days in policy.pooling_days if days <= len(history) + 1]
    # The metric's own interval counts the pooled spans judged (with the pairs, the choices
    # made inside the metric); the alarm's also counts the attributes and, weighted by
    # fairness.alpha_weights, the metrics (``_FairnessJudgement.alarm_tests``).
    sizing_tests = 1 + len(pooling)
    tests = len(attributes) * sizing_tests
    for names in _present_attributes(judge, columns, attributes, "disparate_impact_ratio"):
        try:
            subject, counts = counts_of(names)
        except MetricInputError as error:  # e.g. an attribute holding nothing but nulls
            judge.judge(
                "fairness_drift",
                "disparate_impact_ratio",
                "&".join(names),
                None,
                status="skipped",
                message=str(error),
            )
            continue
        recorded[subject] = {window: c.to_dict() for window, c in counts.items()}
        judgement = _FairnessJudgement(
            subject, counts, history, baseline, config, model, tests, sizing_tests, pooling
        )
        for name in judgement.metric_names():
            judgement.judge_metric(judge, name)


class _FairnessJudgement:
    """One attribute's fairness metrics, judged on the day and on the pooled counts of the
    last ``pooling`` days (see ``judge_metric``)."""

    def __init__(
        self,
        subject: str,
        counts: dict[str, GroupCounts],
        history: FairnessHistory,
        baseline: BaselineProfile,
        config: GovflowConfig,
        model: ModelEntry,
        tests: int,
        sizing_tests: int,
        pooling: list[int],
    ) -> None:
        """``tests``: the attributes x pooled spans of the model-day; each metric's alarm
        interval also divides the alpha among the judged metrics by their weights."""
        self.subject, self.counts, self.history = subject, counts, history
        self.baseline, self.config = baseline, config
        # The spans this attribute has the days for: its pooling may have restarted later
        # than another's (``poolable_history``).
        held = next((back for back, day in enumerate(history) if subject not in day), len(history))
        self.pooling = [days for days in pooling if days <= held + 1]
        self.tests, self.sizing_tests = tests, sizing_tests
        self.min_group_size = config.min_group_size(model.id)
        self.reports: dict[Any, Any] = {}

    def alarm_tests(self, name: str) -> float:
        """``name``'s alarm divisor among every metric the policy bounds."""
        return fairness_alarm_tests(self.config, name, self.tests)

    def report(self, window: str, days: int, tests: float) -> Any:
        """The attribute's fairness report over the last ``days`` days, its intervals
        corrected for ``tests``: every test of the model-day for an interval that may raise
        an alarm (``alarm_tests``), and otherwise the pairs of groups and the pooled spans
        only (``sizing_tests``): that interval clears a metric (a pass is wrong when it
        misses an effect, which testing more metrics or attributes does not make likelier)
        and sizes an effect the model-day's interval has shown."""
        key = (window, days, tests)
        if key not in self.reports:
            counts = self.counts[window]
            if days > 1:
                earlier = [
                    GroupCounts.from_dict(day[self.subject][window])
                    for day in self.history[: days - 1]
                    if window in day.get(self.subject, {})
                ]
                counts = pooled_counts([counts, *earlier])
            self.reports[key] = fairness_report(
                counts,
                attribute=self.subject,
                baseline=self.baseline.fairness.get(self.subject),
                min_group_size=self.min_group_size,
                confidence=judgement_confidence(
                    self.config.policy.fairness.confidence_level,
                    groups=len(counts.groups),
                    tests=tests,
                ),
            )
        return self.reports[key]

    def baseline_metric(self, name: str) -> FairnessMetric | None:
        """The metric on the baseline's own counts (at the metric's alarm confidence)."""
        counts = self.baseline.fairness.get(self.subject)
        if counts is None:
            return None
        tests = self.alarm_tests(name)
        key = ("baseline", tests)
        if key not in self.reports:
            self.reports[key] = fairness_report(
                counts,
                attribute=self.subject,
                min_group_size=self.min_group_size,
                confidence=judgement_confidence(
                    self.config.policy.fairness.confidence_level,
                    groups=len(counts.groups),
                    tests=tests,
                ),
            )
        metric = self.reports[key].metrics.get(name)
        return metric if metric is not None and metric.value is not None else None

    def metric_names(self) -> list[str]:
        window = "current" if "current" in self.counts else "labels_arrived"
        return list(self.report(window, 1, self.sizing_tests).metrics) if self.counts else []

    def judge_metric(self, judge: _Judge, name: str) -> None:
        window = "current" if name in SELECTION_METRICS else "labels_arrived"
        if window not in self.counts:
            judge.judge(
                "fairness_drift",
                name,
                self.subject,
                None,
                status="inconclusive",
                message=NO_LABELLED_WINDOW,
            )
            return
        before = self.baseline_metric(name)
        judged = []
        alarm_tests = self.alarm_tests(name)
        for days in (1, *self.pooling):
            chosen = self.report(window, days, alarm_tests).metrics[name]
            plausible = self.report(window, days, self.sizing_tests).metrics[name]
            verdict, evidence = fairness_verdict(self.config, name, chosen, plausible, before)
            judged.append((verdict, evidence, chosen, days))
            if verdict in ("CRITICAL", NOT_JUDGED) or (days == 1 and verdict == "INFO"):
                break
        # A metric the day's own counts clear stays cleared: the pooled spans would judge
        # days gone by (a change that has ended, alarmed again for two weeks), not today.
        # Otherwise the worst verdict any span decides stands (a change in a small group
        # shows on the pooled days while the day alone is too uncertain, or only suggests
        # it); the day's own when no span decides.
        verdict, evidence, chosen, days = next(
            (found for level in DECIDED_WORST_FIRST for found in judged if found[0] == level),
            judged[0],
        )
        details = {
            **chosen.to_dict(),
            # The interval the verdict rests on (every pair's at once, the baseline's error
            # included for a shift), in place of the extreme pair's own, kept beside it.
            **_judged_interval(chosen, evidence),
            "window": window,
            "judged_on": _judged_on(verdict, days, evidence),
            "pooled_days": days,
            "reference": None if evidence is None else evidence.reference,
            "plausible_ci_low": None if evidence is None else evidence.plausible_low,
            "plausible_ci_high": None if evidence is None else evidence.plausible_high,
            **_group_sizes(self.report(window, days, alarm_tests), chosen),
        }
        judge.judge_verdict(
            "fairness_drift", name, self.subject, chosen, verdict, evidence, details
        )


def _judged_interval(metric: FairnessMetric, evidence: Evidence | None) -> dict[str, Any]:
    if evidence is None:
        return {}
    return {
        "ci_low": evidence.low,
        "ci_high": evidence.high,
        "extreme_pair_ci_low": metric.ci_low,
        "extreme_pair_ci_high": metric.ci_high,
    }


def _judged_on(verdict: str, days: int, evidence: Evidence | None) -> str:
    if verdict == NOT_JUDGED:
        return "not judged: no confidence interval"
    span = "the day" if days == 1 else f"the last {days} days pooled"
    if evidence is None:
        return span
    return f"value and interval [{evidence.low:.4g}, {evidence.high:.4g}] on {span}"


def _group_sizes(report: Any, metric: FairnessMetric) -> dict[str, Any]:
    """The sizes the metric judged its groups on (those it compared and those it had to
    exclude), and what they count: rows, or a labelled metric's positives, negatives, ..."""
    sizes, counted = judged_group_sizes(report.groups, metric)
    return {"group_sizes": sizes, "group_sizes_counted": counted}


NO_FINITE_SCORES = "no finite score in the window: the score distribution cannot be compared"


def _model_drift(
    judge: _Judge,
    current: pd.DataFrame,
    matured: pd.DataFrame,
    model: ModelEntry,
    baseline: BaselineProfile,
    as_of: datetime,
) -> None:
    if matured.empty:
        for name in ("accuracy_drop", "label_drift"):
            judge.judge(
                "model_drift", name, "", None, status="inconclusive", message=NO_LABELLED_WINDOW
            )
        matured = matured.iloc[0:0]
    _judge_model_drift(
        judge,
        _labelled(matured, as_of).to_numpy(),
        pd.to_numeric(matured[PREDICTION], errors="coerce").to_numpy(),
        pd.to_numeric(current[SCORE], errors="coerce").to_numpy(dtype="float64"),
        model,
        baseline,
    )


def _judge_model_drift(
    judge: _Judge,
    labels: npt.NDArray[Any],
    predictions: npt.NDArray[Any],
    scores: npt.NDArray[np.float64],
    model: ModelEntry,
    baseline: BaselineProfile,
) -> None:
    """A classifier's model drift from the labelled window's labels (NaN where none had
    arrived) and predictions, and the window's scores in row order."""
    if baseline.scores is None or baseline.accuracy is None:
        message = BASELINE_OF_OTHER_TYPE.format(model_id=model.id, built_for="a regressor")
        judge.judge("model_drift", "accuracy_drop", "", None, status="skipped", message=message)
        return
    scores = scores[np.isfinite(scores)]
    results = []
    if labels.size:
        results.append(accuracy_drop(labels, predictions, baseline_accuracy=baseline.accuracy))
        results.append(
            label_drift(
                labels,
                baseline_positive_rate=baseline.scores.favourable_label_rate,
                favourable_label=model.favourable_label,
            )
        )
    if scores.size:
        results.append(prediction_distribution_shift(baseline.scores.deciles, scores))
        results.append(
            output_entropy_change(scores, baseline_mean_entropy=baseline.scores.mean_binary_entropy)
        )
    else:  # never silently missing: recorded as skipped, with the reason
        for name in ("prediction_distribution_shift", "output_entropy_change"):
            judge.judge("model_drift", name, "", None, status="skipped", message=NO_FINITE_SCORES)
    for result in results:
        status = "computed" if result.status == "computed" else result.status
        judge.judge(
            "model_drift",
            result.name,
            "",
            result.value,
            status=status,
            details=result.details,
            message=result.reason or "",
        )


def _regression_model_drift(
    judge: _Judge,
    current: pd.DataFrame,
    matured: pd.DataFrame,
    model: ModelEntry,
    baseline: BaselineProfile,
    as_of: datetime,
) -> None:
    """A regressor's model drift: its errors on the labelled window against the baseline's
    (judged on their interval), its predictions' distribution and spread on the window."""
    reference = baseline.regression
    if reference is None:
        message = BASELINE_OF_OTHER_TYPE.format(model_id=model.id, built_for="a classifier")
        judge.judge("model_drift", "mae_increase", "", None, status="skipped", message=message)
        return
    if matured.empty:
        for name in ("mae_increase", "rmse_increase"):
            judge.judge(
                "model_drift", name, "", None, status="inconclusive", message=NO_LABELLED_WINDOW
            )
    else:
        errors = error_summary(*_labels_and_predictions(matured, as_of)[:2])
        level = judge.config.policy.fairness.confidence_level
        # Two metrics judged at once: each alarm's interval at (1 - alpha / 2).
        alarm, plausible = judgement_confidence(level, groups=1, tests=2), level
        for error in ("mae", "rmse"):
            chosen = error_increase(errors, reference.errors, error=error, confidence=alarm)
            wide = error_increase(errors, reference.errors, error=error, confidence=plausible)
            _judge_on_interval(judge, chosen, wide)
    predictions = _finite_predictions(current)
    if predictions.size == 0:
        for name in ("prediction_distribution_shift", "output_spread_change"):
            judge.judge(
                "model_drift", name, "", None, status="skipped", message=NO_FINITE_PREDICTIONS
            )
        return
    for result in (
        prediction_shift(reference.predictions, predictions),
        output_spread_change(predictions, baseline_std=reference.predictions.std),
    ):
        judge.judge(
            "model_drift",
            result.name,
            "",
            result.value,
            status=result.status,
            details=result.details,
            message=result.reason or "",
        )
    drift = numeric_feature_drift(reference.predictions, predictions, feature=PREDICTION)
    judge.judge("model_drift", "psi", PREDICTION, drift.psi, details=drift.to_dict())
    judge.judge(
        "model_drift",
        "wasserstein_distance_normalised",
        PREDICTION,
        drift.wasserstein_distance_normalised,
        details=drift.to_dict(),
    )


def _finite_predictions(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The window's predictions as floats; the gate has already dropped the rows whose
    prediction is not a number in range, so only an absent column leaves this empty."""
    if PREDICTION not in frame.columns:
        return np.empty(0)
    values = pd.to_numeric(frame[PREDICTION], errors="coerce").to_numpy(dtype="float64")
    return values[np.isfinite(values)]


def _labels_and_predictions(
    frame: pd.DataFrame, as_of: datetime
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The labels observed by ``as_of`` (NaN otherwise) and the predictions of the rows
    whose prediction is a finite number, and which rows those are."""
    predictions = pd.to_numeric(frame[PREDICTION], errors="coerce").to_numpy(dtype="float64")
    kept = np.isfinite(predictions)
    return _labelled(frame, as_of).to_numpy(dtype="float64")[kept], predictions[kept], kept


def error_increase_verdict(
    config: GovflowConfig, chosen: ModelDriftMetric, wide: ModelDriftMetric
) -> tuple[str, Evidence | None]:
    """The verdict on a regressor's error increase (``mae_increase``, ``rmse_increase``)
    from its value and intervals (classify with evidence, against no change):
    ``chosen`` carries the alarm's interval, ``wide`` the single test's (a pass's).
    INCONCLUSIVE when it could not be computed or its interval is too wide to decide."""
    threshold = _threshold(config, chosen.name)
    if chosen.status != "computed" or chosen.value is None or threshold is None:
        return INCONCLUSIVE, None
    evidence = Evidence(
        chosen.details["ci_low"],
        chosen.details["ci_high"],
        0.0,
        plausible_low=wide.details["ci_low"],
        plausible_high=wide.details["ci_high"],
    )
    return classify(chosen.value, threshold, evidence=evidence).name, evidence


def _judge_on_interval(judge: _Judge, chosen: ModelDriftMetric, wide: ModelDriftMetric) -> None:
    """A model-drift metric judged on its value and interval (error_increase_verdict)."""
    verdict, evidence = error_increase_verdict(judge.config, chosen, wide)
    details = {
        **chosen.details,
        "judged_on": _judged_on(verdict, 1, evidence),
        "plausible_ci_low": wide.details.get("ci_low"),
        "plausible_ci_high": wide.details.get("ci_high"),
    }
    judge.judge_verdict("model_drift", chosen.name, "", chosen, verdict, evidence, details)


def _regression_fairness(
    judge: _Judge,
    current: pd.DataFrame,
    matured: pd.DataFrame,
    model: ModelEntry,
    config: GovflowConfig,
    as_of: datetime,
) -> None:
    """A regressor's fairness per attribute: group mean predictions on the window, group
    MAEs on the labelled window, the ratios judged on their intervals (Bonferroni over the
    pairs of groups and the model-day's ratios), the differences recorded."""
    attributes = _fairness_attributes(model)
    for names in _present_attributes(judge, current.columns, attributes, "mean_prediction_ratio"):
        _regression_attribute_fairness(
            judge, current, matured, names, model, config, as_of, tests=2 * len(attributes)
        )


def _regression_attribute_fairness(
    judge: _Judge,
    current: pd.DataFrame,
    matured: pd.DataFrame,
    names: Sequence[str],
    model: ModelEntry,
    config: GovflowConfig,
    as_of: datetime,
    *,
    tests: int,
) -> None:
    subject, groups = _attribute_values(current, names)
    predictions = pd.to_numeric(current[PREDICTION], errors="coerce").to_numpy("float64")
    present = np.isfinite(predictions)
    labelled: dict[str, Any] = {}
    if not matured.empty:
        labels, outputs, kept = _labels_and_predictions(matured, as_of)
        labelled["errors"] = absolute_errors(labels, outputs)
        labelled["error_groups"] = np.asarray(_attribute_values(matured, names)[1])[kept]
    count = len(pd.unique(np.asarray(groups)))
    level = config.policy.fairness.confidence_level
    alarm, plausible = (
        regression_fairness(
            predictions[present],
            np.asarray(groups)[present],
            **labelled,
            attribute=subject,
            min_group_size=config.min_group_size(model.id),
            confidence=judgement_confidence(level, groups=count, tests=judged),
        )
        for judged in (tests, 1)
    )
    for name, metric in alarm.items():
        verdict, evidence = fairness_verdict(config, name, metric, plausible[name])
        details = {
            **metric.to_dict(),
            **_judged_interval(metric, evidence),
            "window": "current" if name.startswith("mean_prediction") else "labels_arrived",
            "judged_on": _judged_on(verdict, 1, evidence),
            "pooled_days": 1,
            "reference": None if evidence is None else evidence.reference,
            "plausible_ci_low": None if evidence is None else evidence.plausible_low,
            "plausible_ci_high": None if evidence is None else evidence.plausible_high,
            "group_sizes": metric.details.get("group_sizes", {}),
            "group_sizes_counted": metric.details["group_sizes_counted"],
        }
        judge.judge_verdict("fairness_drift", name, subject, metric, verdict, evidence, details)
    if matured.empty:
        for name in ("mean_absolute_error_ratio", "mean_absolute_error_difference"):
            judge.judge(
                "fairness_drift",
                name,
                subject,
                None,
                status="inconclusive",
                message=NO_LABELLED_WINDOW,
            )


def _explanation_drift(
    judge: _Judge,
    frame: pd.DataFrame,
    model: ModelEntry,
    baseline: BaselineProfile,
    explainer: ProbabilisticClassifier | Regressor | None,
) -> None:
    metric = "shap_rank_correlation"
    if baseline.attributions is not None and baseline.attributions.source == LOGGED:
        _logged_explanation_drift(judge, frame, baseline.attributions)
        return
    skipped = _explanation_skipped(model, baseline, explainer, frame.columns)
    if skipped is not None:
        judge.judge("explanation_drift", metric, "", None, status="skipped", message=skipped)
        return
    assert baseline.attributions is not None and baseline.explanation_background is not None
    assert explainer is not None
    _shap_explanation_drift(
        judge,
        baseline.attributions,
        lambda: feature_attributions(
            explainer,
            frame,
            background=baseline.explanation_background,  # type: ignore[arg-type]
            features=list(baseline.attributions.features),  # type: ignore[union-attr]
            explain="prediction" if model.is_regressor else "probability",
            seed=baseline.seed,
        ),
    )


def _explanation_skipped(
    model: ModelEntry,
    baseline: BaselineProfile,
    explainer: ProbabilisticClassifier | Regressor | None,
    columns: Iterable[str],
) -> str | None:
    """Why SHAP explanation drift cannot run on a window with ``columns``, None if it can."""
    if baseline.attributions is None or baseline.explanation_background is None:
        columns_named = ", ".join(attribution_column(feature.name) for feature in model.features)
        return BLACK_BOX.format(columns=columns_named)
    held = set(columns)
    missing = [name for name in baseline.attributions.features if name not in held]
    if explainer is None:
        return SKIPPED_NO_ARTIFACT
    if missing:
        return COLUMN_UNUSABLE.format(column=", ".join(missing))
    return None


def _shap_explanation_drift(
    judge: _Judge,
    baseline: FeatureAttributions,
    attributions: Callable[[], FeatureAttributions],
) -> None:
    try:
        current = attributions()
    except ExplanationInputError as error:  # e.g. no row with every feature present
        judge.judge(
            "explanation_drift",
            SHAP_RANK_CORRELATION,
            "",
            None,
            status="skipped",
            message=str(error),
        )
        return
    _judge_explanation_drift(judge, baseline, current)


def _logged_explanation_drift(
    judge: _Judge, frame: pd.DataFrame, baseline: FeatureAttributions
) -> None:
    """A black box's explanation drift from the window's logged attributions; a value that
    is not a finite number is a data-quality finding naming its column, never a crash."""
    metric = SHAP_RANK_CORRELATION
    features = list(baseline.features)
    missing = missing_attribution_columns(frame.columns, features)
    if missing:
        message = LOGS_WITHOUT_ATTRIBUTIONS.format(missing=", ".join(missing))
        judge.judge("explanation_drift", metric, "", None, status="skipped", message=message)
        return
    for column, count in non_finite_attributions(frame, features=features).items():
        judge.findings.append(
            Finding(
                DATA_QUALITY,
                NON_FINITE_ATTRIBUTIONS,
                column,
                float(count),
                "WARNING",
                "failed",
                message=NON_FINITE_ATTRIBUTION_ROWS.format(
                    count=count, rows=len(frame), column=column
                ),
            )
        )
    try:
        current = logged_attributions(frame, features=features, what="the window")
    except ExplanationInputError as error:  # no row whose attributions are all finite
        judge.judge("explanation_drift", metric, "", None, status="skipped", message=str(error))
        return
    _judge_explanation_drift(judge, baseline, current)


def _judge_explanation_drift(
    judge: _Judge, baseline: FeatureAttributions, current: FeatureAttributions
) -> None:
    metric = SHAP_RANK_CORRELATION
    drift = explanation_drift(baseline, current, threshold=judge.config.policy.threshold(metric))
    # Only logged attributions say where they came from: a SHAP finding's details are as before.
    source = {"source": LOGGED} if current.source == LOGGED else {}
    judge.judge(
        "explanation_drift",
        metric,
        "",
        drift.rank_correlation,
        status=drift.status,
        details={**drift.to_dict(), **source},
        message=drift.reason or "",
    )


def quality_gate(
    model: ModelEntry,
    config: GovflowConfig,
    frame: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
) -> QualityReport:
    """The data-quality gate of a window of ``model``'s prediction log, with the model's
    column rules and the policy's bounds for a window of that length."""
    return run_quality_gate(
        frame,
        rules=log_rules(model, config),
        policy=quality_policy(model, config, window_end - window_start),
        window_start=window_start,
        window_end=window_end,
        engine=config.policy.data_quality.engine,
    )


def analyse_window(
    *,
    model: ModelEntry,
    config: GovflowConfig,
    baseline: BaselineProfile,
    baseline_version: str,
    current: pd.DataFrame,
    matured: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
    checks: Sequence[CheckType],
    explainer: ProbabilisticClassifier | Regressor | None = None,
    history: FairnessHistory = (),
    analysed_at: datetime | None = None,
) -> Analysis:
    """Judge one window against a baseline; explanation drift needs the model (``explainer``);
    ``history`` holds the earlier days' fairness counts a small group is pooled with;
    ``analysed_at`` (now by default) is when the analysis runs: later rows are named."""
    analysis = Analysis(model.id, window_start, window_end, tuple(checks), baseline_version)
    analysis.model_versions = model_version_counts(current)
    report = quality_gate(model, config, current, window_start, window_end)
    analysis.quality = report.to_dict()
    analysis.findings.extend(_quality_findings(report, config))
    analysis.findings.extend(_dating_findings(current, analysed_at or datetime.now(UTC)))
    usable = analysis.usable = _usable(report, current)
    # The label-matured window had its own gate on its own run; here only its valid rows count.
    delay = timedelta(days=model.label_delay_days)
    matured_usable = (
        _usable(
            quality_gate(model, config, matured, window_start - delay, window_end - delay),
            matured,
        )
        if len(matured)
        else matured
    )
    judge = _Judge(config)
    # A check that reads outcomes a window lacks (missing, or failed by the gate in every
    # row) is skipped naming them; the checks that do not read them still run.
    lacking = [
        column
        for column in _outcome_columns(model)
        if column not in usable.columns or column not in matured_usable.columns
    ]
    if usable.empty:
        for check in checks:
            judge.judge(check, "analysis", "", None, status="skipped", message=NO_USABLE_ROWS)
    else:
        if lacking:
            message = COLUMN_UNUSABLE.format(column=", ".join(lacking))
            for check in [check for check in checks if check in LABELLED_CHECKS]:
                judge.judge(check, "analysis", "", None, status="skipped", message=message)
            checks = [check for check in checks if check not in LABELLED_CHECKS]
        if "data_drift" in checks:
            _data_drift(judge, usable, model, baseline, report.unusable_columns)
        if "fairness_drift" in checks and model.is_regressor:
            _regression_fairness(judge, usable, matured_usable, model, config, window_end)
        elif "fairness_drift" in checks:
            _fairness_drift(
                judge,
                usable.columns,
                lambda names: _fairness_counts(usable, matured_usable, names, model, window_end),
                model,
                baseline,
                config,
                history,
                analysis.fairness_counts,
            )
        if "model_drift" in checks and model.is_regressor:
            _regression_model_drift(judge, usable, matured_usable, model, baseline, window_end)
        elif "model_drift" in checks:
            _model_drift(judge, usable, matured_usable, model, baseline, window_end)
        if "explanation_drift" in checks:
            _explanation_drift(judge, usable, model, baseline, explainer)
    return _with_composite(analysis, judge, config)


def model_version_counts(frame: pd.DataFrame) -> dict[str, int]:
    """The window's rows per model version (``counted_versions``), the rows the gate cuts
    too; empty for a log without the column, whose rows say nothing of their version."""
    if MODEL_VERSION not in frame.columns:
        return {}
    return counted_versions(frame[MODEL_VERSION].value_counts(dropna=False).items())


def _usable(report: QualityReport, frame: pd.DataFrame) -> pd.DataFrame:
    """The gate's usable frame of ``frame``. A ``label_observed_at`` of which no value is a
    time stays, all NaT, so that its labels count as not yet observed: without the column
    every label would count as observed (a log that has none is read that way)."""
    usable = report.usable_frame()
    if LABEL_OBSERVED_AT in report.unusable_columns and LABEL_OBSERVED_AT in frame.columns:
        usable[LABEL_OBSERVED_AT] = pd.Series(
            pd.NaT, index=usable.index, dtype="datetime64[ns, UTC]"
        )
    return usable


def _outcome_columns(model: ModelEntry) -> tuple[str, ...]:
    """The columns fairness and model drift read in every row: a regressor's amount, a
    classifier's decision and score."""
    return (PREDICTION,) if model.is_regressor else (SCORE, PREDICTION)


def _with_composite(analysis: Analysis, judge: _Judge, config: GovflowConfig) -> Analysis:
    """The analysis with the judge's findings and their composite score."""
    analysis.findings.extend(judge.findings)
    score = composite_drift_score(
        judge.observations,
        weights=config.policy.composite.weights.by_family(),
        threshold=config.policy.composite.threshold,
    )
    analysis.composite = score.to_dict()
    return analysis


def analyse_sql_window(
    *,
    source: SqlLogSource,
    model: ModelEntry,
    config: GovflowConfig,
    baseline: BaselineProfile,
    baseline_version: str,
    window_start: datetime,
    window_end: datetime,
    checks: Sequence[CheckType],
    explainer: ProbabilisticClassifier | Regressor | None = None,
    history: FairnessHistory = (),
    analysed_at: datetime | None = None,
) -> Analysis | None:
    """Issue 18 item 5: ``analyse_window`` of a classifier's SQL log computed inside its
    database, with the same result, or None when the window must be read (then the caller
    runs ``read_windows`` and ``analyse_window``).

    The data-quality gate counts both windows in the database (``counted_quality_gate``,
    None when the pandas gate would drop, blank or parse rows: ``window_quality``). On a
    window whose every row is usable, data drift, category drift and fairness are counted
    there too (``window_counts``); model drift reads its labelled pairs as counts and only
    the score column (the mean entropy is numpy's pairwise sum, which only the scores in
    ``read_window``'s order reproduce); explanation drift reads the ~200 rows it explains.
    """
    if model.is_regressor:  # its metrics read predictions and errors row by row
        return None
    if any(
        f.name not in baseline.numeric and f.name not in baseline.categorical
        for f in model.features
    ):
        return None  # a baseline of another schema: the pandas path says what is wrong
    now = analysed_at or datetime.now(UTC)
    delay = timedelta(days=model.label_delay_days)
    spans = {"current": (window_start, window_end)}
    labelled_span = (window_start - delay, window_end - delay)
    # An empty labelled window is no gate's business (analyse_window skips it too).
    if not LABELLED_CHECKS.isdisjoint(checks) and _count_rows(
        source, *labelled_span, lambda table: sa.true()
    ):
        spans["labels_arrived"] = labelled_span

    # With no label delay both windows are one span: gated and counted once.
    @functools.cache
    def gated(start: datetime, end: datetime) -> QualityReport | None:
        return counted_quality_gate(
            source,
            rules=log_rules(model, config),
            policy=quality_policy(model, config, end - start),
            window_start=start,
            window_end=end,
        )

    reports = {}
    for window, span in spans.items():
        report = gated(*span)
        if report is None:
            return None
        reports[window] = report
    analysis = Analysis(model.id, window_start, window_end, tuple(checks), baseline_version)
    analysis.model_versions = window_counts.model_version_counts(source, window_start, window_end)
    report = reports["current"]
    analysis.quality = report.to_dict()
    analysis.findings.extend(_quality_findings(report, config))
    future = _count_rows(source, window_start, window_end, lambda t: t.c[SCORED_AT] > now)
    undated = {UNDATED_TABLE_ROWS: source.undated_rows(window_start, window_end)}
    analysis.findings.extend(_counted_dating_findings(undated, future, report.row_count, now))
    judge = _Judge(config)
    columns = [str(column.name) for column in source.reflected().columns]
    matured = "labels_arrived" in reports
    if "data_drift" in checks:
        drifts: dict[str, FeatureDrift | MetricInputError | None] = {
            **window_counts.numeric_drift(source, window_start, window_end, baseline.numeric),
            **window_counts.categorical_drift(
                source, window_start, window_end, baseline.categorical
            ),
        }
        _judge_data_drift(judge, model, drifts)
    if "fairness_drift" in checks:

        @functools.cache
        def fairness(start: datetime, end: datetime) -> dict[str, GroupCounts | MetricInputError]:
            return window_counts.fairness_counts(
                source,
                start,
                end,
                _fairness_attributes(model),
                as_of=window_end,
                favourable_label=model.favourable_label,
                favourable_prediction=model.favourable_prediction,
            )

        counted = {window: fairness(*span) for window, span in spans.items()}

        def counts_of(names: Sequence[str]) -> tuple[str, dict[str, GroupCounts]]:
            subject = INTERSECTION_SEPARATOR.join(names)
            counts = {}
            for window, found in counted.items():
                result = found[subject]
                if isinstance(result, MetricInputError):
                    raise MetricInputError(f"{window} window: {result}")
                counts[window] = result
            return subject, counts

        _fairness_drift(
            judge, columns, counts_of, model, baseline, config, history, analysis.fairness_counts
        )
    if "model_drift" in checks:
        labels, predictions = (
            _labelled_pairs(source, *spans["labels_arrived"], window_end)
            if matured
            else (np.empty(0), np.empty(0))
        )
        if not matured:
            for name in ("accuracy_drop", "label_drift"):
                judge.judge(
                    "model_drift", name, "", None, status="inconclusive", message=NO_LABELLED_WINDOW
                )
        scores = _ordered_column(source, window_start, window_end, SCORE)
        _judge_model_drift(judge, labels, predictions, scores, model, baseline)
    if "explanation_drift" in checks:
        _counted_explanation_drift(
            judge, source, window_start, window_end, columns, model, baseline, explainer
        )
    return _with_composite(analysis, judge, config)


def _count_rows(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    condition: Callable[[Any], Any],
) -> int:
    ((count,),) = source.query_window(
        start,
        end,
        lambda table, in_window: sa.select(sa.func.count()).where(in_window, condition(table)),
    )
    return int(count)


def _labelled_pairs(
    source: SqlLogSource, start: datetime, end: datetime, as_of: datetime
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The labelled window's labels (NaN where none had arrived by ``as_of``) and
    predictions, as counted pairs: accuracy and the label rate count them, in any order."""

    def pairs(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        label = window_counts.labelled(table, as_of, source.engine.dialect.name)
        prediction = table.c[PREDICTION]
        return (
            sa.select(label, prediction, sa.func.count())
            .where(in_window)
            .group_by(label, prediction)
        )

    found: list[tuple[Any, ...]] = [tuple(row) for row in source.query_window(start, end, pairs)]
    counts = [int(row[2]) for row in found]

    def expanded(position: int) -> npt.NDArray[np.float64]:
        values = [math.nan if row[position] is None else float(row[position]) for row in found]
        return np.repeat(np.asarray(values, dtype=np.float64), counts)

    return expanded(0), expanded(1)


def _ordered_column(
    source: SqlLogSource, start: datetime, end: datetime, name: str
) -> npt.NDArray[np.float64]:
    """One numerical column of the window in ``read_window``'s row order."""
    dialect = source.engine.dialect.name

    def column(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        return (
            sa.select(table.c[name])
            .where(in_window)
            .order_by(*window_counts.row_order(table, dialect))
        )

    return source.query_values(start, end, column)


def _counted_explanation_drift(
    judge: _Judge,
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    model: ModelEntry,
    baseline: BaselineProfile,
    explainer: ProbabilisticClassifier | Regressor | None,
) -> None:
    """``_explanation_drift`` reading only what it explains: the logged attribution columns
    of a black box, or the feature columns of the rows the SHAP sample draws."""
    if baseline.attributions is not None and baseline.attributions.source == LOGGED:
        wanted = [
            SCORED_AT,
            PREDICTION_ID,
            *(attribution_column(f) for f in baseline.attributions.features),
        ]
        frame = source.read_window(start, end, columns=wanted)
        _logged_explanation_drift(
            judge, frame.drop(columns=[SCORED_AT, PREDICTION_ID]), baseline.attributions
        )
        return
    skipped = _explanation_skipped(model, baseline, explainer, columns)
    if skipped is not None:
        judge.judge(
            "explanation_drift", SHAP_RANK_CORRELATION, "", None, status="skipped", message=skipped
        )
        return
    attributions, background = baseline.attributions, baseline.explanation_background
    assert attributions is not None and background is not None and explainer is not None
    features = list(attributions.features)
    numeric = {
        rule.name
        for rule in column_rules(model, judge.config)
        if rule.kind in ("numeric", "integer")
    }
    dialect = source.engine.dialect.name

    def complete_rows(table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(*(sa.not_(missing_value(table.c[name])) for name in features))

    def explained() -> FeatureAttributions:
        total = _count_rows(source, start, end, lambda table: sa.true())
        complete = _count_rows(source, start, end, complete_rows)
        if not complete:
            raise ExplanationInputError(NO_COMPLETE_ROWS.format(what="the data", dropped=total))
        positions = explained_positions(complete, seed=baseline.seed)

        def sample(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
            numbered = (
                sa.select(
                    *(table.c[name] for name in features),
                    sa.over(
                        sa.func.row_number(), order_by=window_counts.row_order(table, dialect)
                    ).label("position"),
                )
                .where(in_window, complete_rows(table))
                .subquery("numbered")
            )
            chosen = [int(position) + 1 for position in positions]
            return (
                sa.select(*(numbered.c[name] for name in features))
                .where(numbered.c.position.in_(chosen))
                .order_by(numbered.c.position)
            )

        rows = source.query_window(start, end, sample)
        frame = pd.DataFrame([tuple(row) for row in rows], columns=features)
        for name in features:
            frame[name] = (
                frame[name].astype("float64") if name in numeric else frame[name].astype(object)
            )
        return sample_attributions(
            explainer,
            frame,
            background=background,
            features=features,
            explain="probability",
            rows_dropped_missing=total - complete,
            seed=baseline.seed,
        )

    _shap_explanation_drift(judge, attributions, explained)


def log_source(model: ModelEntry, data_dir: Path) -> PredictionLogSource:
    """The prediction-log source models.yaml names for a model."""
    source = model.prediction_log
    if source.kind == "parquet":
        layout = log_columns(
            [feature.name for feature in model.features],
            [attribute.name for attribute in model.protected_attributes],
        )
        return ParquetLogSource(data_dir / source.path, amounts=model.is_regressor, layout=layout)
    return SqlLogSource.from_environment(source.url_env, source.table, amounts=model.is_regressor)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The checks that read outcomes, and so the window whose labels have arrived.
LABELLED_CHECKS = frozenset({"fairness_drift", "model_drift"})


def read_windows(
    model: ModelEntry,
    data_dir: Path,
    start: datetime,
    end: datetime,
    *,
    checks: Iterable[str] = CHECK_TYPES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's window and the same span shifted back by the label delay. That second
    window is read only for ``checks`` that read labels (``LABELLED_CHECKS``) and is empty
    otherwise: a bi-weekly explanation drift would read and gate 14 more days for nothing."""
    source = log_source(model, data_dir)
    delay = timedelta(days=model.label_delay_days)
    if LABELLED_CHECKS.isdisjoint(checks):
        current = source.read_window(start, end)
        return current, current.iloc[0:0]
    if not delay:
        current = source.read_window(start, end)
        return current, current
    current, matured = source.read_windows([(start, end), (start - delay, end - delay)])
    return current, matured


def failed_analysis(
    model_id: str,
    start: datetime,
    end: datetime,
    checks: Sequence[str],
    baseline_version: str | None,
    message: str,
) -> Analysis:
    analysis = Analysis(
        model_id, start, end, tuple(checks), baseline_version, status="failed", error=message
    )
    analysis.findings.append(
        Finding(DATA_QUALITY, ANALYSIS_FAILED, "", None, "CRITICAL", "failed", {}, {}, message)
    )
    return analysis


__all__ = [
    "CHECK_TYPES",
    "Analysis",
    "Finding",
    "PredictionLogError",
    "analyse_window",
    "column_rules",
    "failed_analysis",
    "log_rules",
    "log_source",
    "model_version_counts",
    "quality_gate_threshold",
    "quality_policy",
    "read_windows",
    "utc",
    "validate_checks",
]
