"""The automated checks named in deployment.yaml ``automated_checks`` (seed 001 steps 4-15,
seed 000 readiness, seed 002 model validation, data pipeline and MLOps items).

Each check is a function of a ``DeploymentCandidate`` (the deployment, its registered
version and the policy) registered by name with ``@check``; it returns a ``CheckResult``:
``passed``, ``failed`` or ``not_applicable``, a one-line summary and the evidence it looked
at, with exact numbers. The candidate loads what the checks share (the artefact, verified
against its registered sha256, the validation set and its scores) once.

What the checks look at:

- model performance: a classifier's registered validation metrics against models.yaml
  ``performance_requirement``; a regressor's errors on its labelled validation rows, each
  judged on its value and interval (classify with evidence): the relative increase of MAE
  and RMSE over the production version's on the same rows (seed 004's accuracy-drop
  bounds, as monitoring judges it) and, when models.yaml gives an ``error_ceiling``, the
  MAE and RMSE against it. CRITICAL fails; INCONCLUSIVE (too few labelled rows, an interval
  too wide) also fails, saying the requirement is not shown rather than broken; a regressor
  with neither a previous version nor a ceiling has nothing to be judged against and fails
  naming the key;
- fairness: the candidate's predictions on its validation set, per protected attribute and
  intersection, with policy.yaml's fairness thresholds (a regressor's: the ratios of group
  mean predictions and of group MAEs, judged with the disparate impact bounds); any
  CRITICAL metric (a disparate impact ratio below 0.80, the 80% rule) fails, WARNING and
  INCONCLUSIVE findings are named and kept as evidence;
- smoke tests: the validation set (staging) and the newest day of production prediction
  logs (deployment verification) scored through the candidate artefact, every output a
  finite number within the model's valid outputs ([0, 1], a regressor's [0, max]);
- rollback: the previous production version's artefact loads and scores the validation set;
- configuration checks read the policy in config/ and the registry.

A black box (a version registered without an artefact, README "Monitor your own model") has
nothing govflow can load: a check that needs its artefact (``@check(..., artefact=...)``) is
``not_applicable`` with the reason, and the checks that look at an artefact among other
things (the environment, the previous version) judge the rest. Its validation set carries
its logged outputs (``govflow model register --validation``): performance and fairness are
judged on them, and a regressor's errors are compared with a black-box production
version's only where that version could score the same rows, which it cannot (not judged,
with the reason; the ``error_ceiling`` still is).

Checks that need live traffic of the new version (``TRAFFIC_CHECKS``) cannot be decided
before the rollout starts; the procedure records them as deferred to the rollout.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.config import ALERT_SOURCES, GovflowConfig, Severity
from govflow.config.inventory import ModelEntry
from govflow.deployment import procedure
from govflow.metrics import (
    ErrorSummary,
    Evidence,
    FairnessMetric,
    ModelDriftMetric,
    Threshold,
    absolute_errors,
    classify,
    error_summary,
    fairness,
    paired_error_increase,
    regression_fairness,
)
from govflow.metrics.model_drift import DEFAULT_MIN_LABELLED
from govflow.metrics.regression import ErrorName
from govflow.monitoring.analysis import (
    INCONCLUSIVE,
    NOT_JUDGED,
    error_increase_verdict,
    fairness_alarm_tests,
    fairness_verdict,
    judged_fairness_metrics,
    judgement_confidence,
)
from govflow.monitoring.prediction_logs import (
    PARTITION_PREFIX,
    PREDICTION,
    SCORE,
    ParquetLogSource,
    PredictionLogError,
)
from govflow.registry import NOT_RECORDED, get_version
from govflow.store.schema import Baseline, Deployment, DeploymentApproval, Model, ModelVersion

CheckOutcome = Literal["passed", "failed", "not_applicable"]

# Decided on the new version's live traffic, during the rollout (seed 001 steps 14 and 16).
TRAFFIC_CHECKS = frozenset(
    {
        "monitoring_active",
        "monitoring_stable",
        "fairness_within_bounds",
        "model_drift_within_bounds",
        "data_quality_gate_passed",
    }
)
FAIRNESS_METRICS = (
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "false_positive_rate_difference",
    "equalized_odds_difference",
    "predictive_parity_difference",
)
SEMANTIC_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
# Scores recomputed from the artefact must reproduce the registered validation scores.
SCORE_TOLERANCE = 1e-9
RECENT_LOG_WINDOW = timedelta(days=1)
EXPLANATION_ROWS = 10
EXPLANATION_BACKGROUND_ROWS = 30
SHOWN_FINDINGS = 3

# A regressor's fairness metrics the policy bounds (the differences are recorded only).
REGRESSION_FAIRNESS_JUDGED = ("mean_prediction_ratio", "mean_absolute_error_ratio")

UNKNOWN_CHECK = "no automated check named {name!r}"
CHECK_ERROR = "{name} could not be evaluated: {error}"
NOTHING_TO_JUDGE_AGAINST = (
    "an initial deployment of a regressor has no production version to compare its errors "
    "with: give it an error_ceiling (max_mae, max_rmse) in models.yaml"
)
PERFORMANCE_NOT_SHOWN = "inconclusive, the requirement is not shown (not broken): "
NO_VALIDATION_METRICS = (
    "{model_id} {version} has no registered validation accuracy and AUC: its performance "
    "requirement cannot be shown"
)
BLACK_BOX = (
    "{model_id} {version} is a black box (registered without an artefact): govflow cannot {purpose}"
)
BLACK_BOX_NOT_COMPARED = (
    "a black box (registered without an artefact), which cannot score the candidate's "
    "validation rows: not judged"
)
NOTHING_TO_JUDGE_WITH_A_BLACK_BOX = (
    "the production version {version} is a black box (registered without an artefact), so "
    "the candidate's errors cannot be compared with its on the same rows: give {model_id} an "
    "error_ceiling (max_mae, max_rmse) in models.yaml"
)


@dataclass(frozen=True)
class CheckResult:
    check: str
    outcome: CheckOutcome
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "outcome": self.outcome,
            "summary": self.summary,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(data["check"], data["outcome"], data["summary"], dict(data["evidence"]))


class DeploymentCandidate:
    """A deployment's model version as the checks see it; expensive parts load once."""

    def __init__(
        self, session: Session, config: GovflowConfig, data_dir: Path, deployment: Deployment
    ) -> None:
        self.session = session
        self.config = config
        self.data_dir = Path(data_dir)
        self.deployment = deployment
        self.model: ModelEntry = config.models.get(deployment.model_id)
        self.version: ModelVersion = get_version(
            session, deployment.model_id, deployment.model_version
        )

    @property
    def features(self) -> list[str]:
        return [feature.name for feature in self.model.features]

    @staticmethod
    def is_black_box(version: ModelVersion) -> bool:
        return not version.artifact_uri

    @cached_property
    def previous(self) -> ModelVersion | None:
        previous = procedure.previous_version(self.deployment)
        if previous is None:
            return None
        return get_version(self.session, self.model.id, previous)

    def load_artefact(self, version: ModelVersion) -> Any:
        # Imported here, as the analysis below: they pull in scipy (about 1.5 s), which the
        # DAG's tasks that check nothing should not pay for.
        from govflow.baselines.profile import load_registered_model

        return load_registered_model(
            self.session,
            data_dir=self.data_dir,
            model_id=self.model.id,
            model_version=version.version,
        )

    @cached_property
    def artefact(self) -> Any:
        return self.load_artefact(self.version)

    @cached_property
    def validation(self) -> pd.DataFrame:
        if self.version.validation_uri is None:
            raise FileNotFoundError(f"{self.model.id} {self.version.version} has no validation set")
        return pd.read_parquet(self.data_dir / self.version.validation_uri)

    @property
    def valid_outputs(self) -> tuple[float, float]:
        """The outputs the model may give: a probability, or a regressor's [0, max]."""
        return self.model.prediction_bounds if self.model.is_regressor else (0.0, 1.0)

    def outputs(self, artefact: Any, frame: pd.DataFrame) -> np.ndarray:
        """What a version answers on ``frame``: a classifier's probability of class 1, a
        regressor's amount (``predict``, before the serving gateway clips it)."""
        if self.model.is_regressor:
            return np.asarray(artefact.predict(frame[self.features]), dtype=float)
        return np.asarray(artefact.predict_proba(frame[self.features]))[:, 1]

    @cached_property
    def validation_scores(self) -> np.ndarray:
        """The candidate's outputs on its validation set: its artefact's, or a black box's
        as logged in the set (a classifier's score, a regressor's prediction)."""
        if self.is_black_box(self.version):
            logged = PREDICTION if self.model.is_regressor else SCORE
            return self.validation[logged].to_numpy(dtype=float)
        return self.outputs(self.artefact, self.validation)

    @cached_property
    def previous_validation_scores(self) -> np.ndarray | None:
        """The previous version's outputs on this candidate's validation set (None for an
        initial deployment or a black box, which cannot score it): what rolling back would
        serve, and a regressor's yardstick."""
        if self.previous is None or self.is_black_box(self.previous):
            return None
        return self.outputs(self.load_artefact(self.previous), self.validation)

    @cached_property
    def validation_predictions(self) -> np.ndarray:
        """A classifier's decisions on its validation set, its artefact's or as logged."""
        if self.is_black_box(self.version):
            return self.validation[PREDICTION].to_numpy().astype("int8")
        return np.asarray(self.artefact.predict(self.validation[self.features])).astype("int8")

    @cached_property
    def production_sample(self) -> tuple[str, pd.DataFrame]:
        """A day of the model's prediction logs as (first day, rows): a parquet source's
        newest partition, any other source's last 24 hours."""
        from govflow.monitoring.analysis import log_source

        source = log_source(self.model, self.data_dir)
        end = datetime.now(UTC)
        if isinstance(source, ParquetLogSource):
            files = source.partitions(datetime(1970, 1, 1, tzinfo=UTC), end + timedelta(days=1))
            if files:
                day = datetime.fromisoformat(files[-1].parent.name.removeprefix(PARTITION_PREFIX))
                end = day.replace(tzinfo=UTC) + RECENT_LOG_WINDOW
        start = end - RECENT_LOG_WINDOW
        return start.date().isoformat(), source.read_window(start, end)


CheckFunction = Callable[[DeploymentCandidate], CheckResult]
CHECKS: dict[str, CheckFunction] = {}


@dataclass(frozen=True)
class ArtefactUse:
    """What a check does with a version's artefact: the candidate's or the previous
    production version's, and ``purpose`` as a black box's reason finishes the sentence."""

    of: Literal["candidate", "previous"]
    purpose: str


ARTEFACT_USES: dict[str, ArtefactUse] = {}


def check(
    name: str, *, artefact: ArtefactUse | None = None
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check under the name deployment.yaml uses for it; ``artefact`` when it
    cannot be evaluated without that version's artefact."""

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = function
        if artefact is not None:
            ARTEFACT_USES[name] = artefact
        return function

    return register


def _black_box_reason(name: str, candidate: DeploymentCandidate) -> str | None:
    """Why ``name`` is not applicable to ``candidate``: the version whose artefact it needs
    is a black box. None when it has an artefact (or there is no previous version)."""
    use = ARTEFACT_USES.get(name)
    if use is None:
        return None
    version = candidate.version if use.of == "candidate" else candidate.previous
    if version is None or not candidate.is_black_box(version):
        return None
    return BLACK_BOX.format(
        model_id=candidate.model.id, version=version.version, purpose=use.purpose
    )


def run_check(name: str, candidate: DeploymentCandidate) -> CheckResult:
    """Evaluate one check; a check that cannot be evaluated fails with the reason why, one
    that needs the artefact of a black box is not applicable."""
    if name not in CHECKS:
        raise KeyError(UNKNOWN_CHECK.format(name=name))
    try:
        black_box = _black_box_reason(name, candidate)
        if black_box is not None:
            return CheckResult(name, "not_applicable", black_box)
        return CHECKS[name](candidate)
    except (OSError, ValueError, LookupError, TypeError, PredictionLogError) as error:
        return CheckResult(name, "failed", CHECK_ERROR.format(name=name, error=error))


def _result(name: str, passed: bool, summary: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, "passed" if passed else "failed", summary, evidence)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _score_summary(scores: np.ndarray, valid: tuple[float, float]) -> dict[str, Any]:
    finite = np.isfinite(scores)
    low, high = valid
    return {
        "rows": int(scores.size),
        "non_finite_scores": int((~finite).sum()),
        "valid_outputs": [low, high],
        "scores_outside_valid_outputs": int(((scores < low) | (scores > high))[finite].sum()),
        "score_min": round(float(np.min(scores)), 6) if scores.size else None,
        "score_max": round(float(np.max(scores)), 6) if scores.size else None,
    }


def _scores_are_valid(summary: dict[str, Any]) -> bool:
    return (
        summary["rows"] > 0
        and summary["non_finite_scores"] == 0
        and summary["scores_outside_valid_outputs"] == 0
    )


# --- Release package and registry (steps 4-5) -----------------------------------------------


@check("environment_ready")
def environment_ready(candidate: DeploymentCandidate) -> CheckResult:
    environment = candidate.deployment.environment
    requirements = candidate.config.deployment.environments.get(environment)  # type: ignore[call-overload]
    if requirements is None:
        return _result(
            "environment_ready", False, f"environment {environment!r} is not in deployment.yaml"
        )
    if candidate.is_black_box(candidate.version):
        accepts = (
            f"; {candidate.model.id} {candidate.version.version} is a black box (registered "
            "without an artefact), so there is no artefact to load"
        )
    else:
        candidate.artefact  # noqa: B018 - loading it is the check
        accepts = (
            f" and accepts the artefact {candidate.version.artifact_uri} (it loads with its "
            "registered sha256)"
        )
    return _result(
        "environment_ready",
        True,
        f"{environment} is defined in deployment.yaml{accepts}",
        environment=environment,
        requirements=requirements,
        artifact=candidate.version.artifact_uri,
    )


@check("model_registered")
def model_registered(candidate: DeploymentCandidate) -> CheckResult:
    model = candidate.session.get(Model, candidate.model.id)
    complete = model is not None and bool(model.owner.strip() and model.business_purpose.strip())
    return _result(
        "model_registered",
        complete,
        f"{candidate.model.id} {candidate.version.version} is registered (owner "
        f"{model.owner if model else '-'}, version status {candidate.version.status})",
        owner=model.owner if model else None,
        business_purpose=model.business_purpose if model else None,
        version_status=candidate.version.status,
    )


@check("version_tagged")
def version_tagged(candidate: DeploymentCandidate) -> CheckResult:
    version = candidate.version.version
    tagged = bool(SEMANTIC_VERSION.match(version))
    return _result(
        "version_tagged",
        tagged,
        f"version {version!r} {'is' if tagged else 'is not'} a semantic version tag",
        version=version,
    )


@check(
    "package_integrity_verified",
    artefact=ArtefactUse("candidate", "verify the sha256 of its package"),
)
def package_integrity_verified(candidate: DeploymentCandidate) -> CheckResult:
    path = candidate.data_dir / candidate.version.artifact_uri
    computed = _sha256(path)
    matches = computed == candidate.version.artifact_sha256
    return _result(
        "package_integrity_verified",
        matches,
        f"artefact sha256 {computed[:12]}... "
        f"{'matches' if matches else 'differs from'} the registry",
        artifact=candidate.version.artifact_uri,
        registered_sha256=candidate.version.artifact_sha256,
        computed_sha256=computed,
    )


NO_LINEAGE = (
    "{model_id} {version} has no recorded lineage ({missing}): the registry cannot trace it "
    "to its data; register the version with --training-snapshot and --feature-version"
)


def _missing_lineage(candidate: DeploymentCandidate, version: ModelVersion) -> list[str]:
    """What of a version's lineage the registry lacks. A black box's is its training data and
    features (it has no artefact digest); ``model register``'s "not recorded" is none."""
    parts = {
        "training snapshot": version.training_snapshot_id,
        "feature version": version.feature_version,
        "artefact digest": version.artifact_sha256 or candidate.is_black_box(version),
    }
    return [part for part, value in parts.items() if not value or value == NOT_RECORDED]


@check("model_versioning")
def model_versioning(candidate: DeploymentCandidate) -> CheckResult:
    """The candidate's lineage is recorded (it is what this deployment puts in production);
    older versions without one are named, as what the registry cannot trace."""
    versions = candidate.session.scalars(
        select(ModelVersion)
        .where(ModelVersion.model_id == candidate.model.id)
        .order_by(ModelVersion.id)
    ).all()
    incomplete = [v.version for v in versions if _missing_lineage(candidate, v)]
    missing = _missing_lineage(candidate, candidate.version)
    kept = f"the registry keeps {len(versions)} versions of {candidate.model.id}"
    if missing:
        summary = NO_LINEAGE.format(
            model_id=candidate.model.id,
            version=candidate.version.version,
            missing=", ".join(missing),
        )
    elif incomplete:
        without = ", ".join(incomplete)
        summary = f"{kept}; {candidate.version.version} with lineage, without: {without}"
    else:
        summary = f"{kept}, each with lineage"
    return _result(
        "model_versioning",
        not missing,
        summary,
        versions=[v.version for v in versions],
        without_lineage=incomplete,
    )


# --- Validation: smoke test, performance, fairness, explanations (step 6) ------------------


@check(
    "staging_smoke_test",
    artefact=ArtefactUse("candidate", "score its validation set through it"),
)
def staging_smoke_test(candidate: DeploymentCandidate) -> CheckResult:
    scores = candidate.validation_scores
    summary = _score_summary(scores, candidate.valid_outputs)
    deviation = None
    # A regressor's registered answers are its predictions (it has no score).
    column = "prediction" if candidate.model.is_regressor else "score"
    if column in candidate.validation.columns:
        registered = candidate.validation[column].to_numpy(dtype=float)
        deviation = float(np.max(np.abs(scores - registered))) if scores.size else 0.0
    reproduces = deviation is None or deviation <= SCORE_TOLERANCE
    passed = _scores_are_valid(summary) and reproduces
    return _result(
        "staging_smoke_test",
        passed,
        f"scored {summary['rows']} validation rows, scores in "
        f"[{summary['score_min']}, {summary['score_max']}]"
        + ("" if reproduces else f", {deviation:.3g} away from the registered scores"),
        max_deviation_from_registered_scores=deviation,
        **summary,
    )


@check("model_performance_meets_requirement")
def model_performance_meets_requirement(candidate: DeploymentCandidate) -> CheckResult:
    if candidate.model.is_regressor:
        return _regressor_performance(candidate)
    metrics = candidate.version.validation_metrics
    requirement = candidate.model.performance_requirement
    assert requirement is not None, "models.yaml requires it of a classifier"
    accuracy, auc = metrics.get("accuracy"), metrics.get("roc_auc")
    if accuracy is None or auc is None:
        # A version registered from models.yaml (govflow model register) records none.
        unshown = NO_VALIDATION_METRICS.format(
            model_id=candidate.model.id, version=candidate.version.version
        )
        return _result("model_performance_meets_requirement", False, unshown, registered=metrics)
    meets = accuracy >= requirement.min_accuracy and auc >= requirement.min_auc
    return _result(
        "model_performance_meets_requirement",
        meets,
        f"validation accuracy {accuracy} (min {requirement.min_accuracy}), "
        f"AUC {auc} (min {requirement.min_auc})",
        accuracy=accuracy,
        roc_auc=auc,
        min_accuracy=requirement.min_accuracy,
        min_auc=requirement.min_auc,
        validation_rows=metrics.get("rows"),
    )


def _error_findings(candidate: DeploymentCandidate) -> list[dict[str, Any]]:
    """A regressor's validation errors judged against the production version's on the same
    rows and against models.yaml's error ceiling, each finding with its interval and
    verdict; the confidence corrected for every comparison made (Bonferroni)."""
    labels = candidate.validation["label"].to_numpy(dtype=float)
    outputs, previous = candidate.validation_scores, candidate.previous_validation_scores
    ceiling = candidate.model.error_ceiling
    limits: dict[ErrorName, float | None] = (
        {} if ceiling is None else {"mae": ceiling.max_mae, "rmse": ceiling.max_rmse}
    )
    bounds = {error: bound for error, bound in limits.items() if bound is not None}
    level = candidate.config.policy.fairness.confidence_level
    tests = (2 if previous is not None else 0) + len(bounds)
    alarm = judgement_confidence(level, groups=1, tests=tests)
    findings = []
    if previous is not None:
        assert candidate.previous is not None
        for error in ("mae", "rmse"):
            chosen, wide = (
                paired_error_increase(labels, outputs, previous, error=error, confidence=c)
                for c in (alarm, level)
            )
            verdict, evidence = error_increase_verdict(candidate.config, chosen, wide)
            findings.append(
                _error_finding(f"{error}_increase", chosen, verdict, evidence)
                | {"against": f"version {candidate.previous.version}"}
            )
    errors = error_summary(labels, outputs)
    for error, bound in bounds.items():
        findings.append(_ceiling_finding(errors, error, bound, alarm=alarm, level=level))
    if candidate.previous is not None and previous is None:
        findings.append(
            {
                "metric": "mae_increase and rmse_increase",
                "against": f"version {candidate.previous.version}",
                "value": None,
                "verdict": NOT_JUDGED,
                "reason": BLACK_BOX_NOT_COMPARED,
            }
        )
    return findings


def _error_finding(
    metric: str, result: ModelDriftMetric, verdict: str, evidence: Evidence | None
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": None if result.value is None else round(float(result.value), 6),
        "ci_low": None if evidence is None else round(evidence.low, 6),
        "ci_high": None if evidence is None else round(evidence.high, 6),
        "verdict": verdict,
        "labelled": result.details.get("labelled"),
        "reason": result.reason,
    }


def _ceiling_finding(
    errors: ErrorSummary, error: ErrorName, bound: float, *, alarm: float, level: float
) -> dict[str, Any]:
    """The validation MAE or RMSE against its ceiling, judged as a level (no effect is the
    ceiling itself): CRITICAL when the value and its whole interval lie above it, INFO
    when the plausible interval lies at or below it, INCONCLUSIVE between."""
    finding: dict[str, Any] = {"metric": error, "against": f"error_ceiling max_{error} {bound}"}
    if errors.labelled < DEFAULT_MIN_LABELLED:
        reason = f"only {errors.labelled} labelled rows, fewer than {DEFAULT_MIN_LABELLED}"
        return finding | {"value": None, "verdict": INCONCLUSIVE, "reason": reason}
    value, se = errors.value(error), errors.standard_error(error)
    (low, high), (plausible_low, plausible_high) = (
        (value - z * se, value + z * se)
        for z in (fairness.two_sided_z(alarm), fairness.two_sided_z(level))
    )
    evidence = Evidence(
        low, high, bound, plausible_low=plausible_low, plausible_high=plausible_high
    )
    verdict = classify(value, Threshold(None, bound), evidence=evidence).name
    return finding | {
        "value": round(value, 6),
        "ci_low": round(low, 6),
        "ci_high": round(high, 6),
        "verdict": verdict,
        "labelled": errors.labelled,
        "reason": None,
    }


def _describe_error_finding(finding: dict[str, Any]) -> str:
    if finding["value"] is None:
        return f"{finding['metric']} against {finding['against']}: {finding['reason']}"
    return (
        f"{finding['metric']} {finding['value']} against {finding['against']} "
        f"(interval {finding['ci_low']} to {finding['ci_high']}): {finding['verdict']}"
    )


def _regressor_performance(candidate: DeploymentCandidate) -> CheckResult:
    name = "model_performance_meets_requirement"
    findings = _error_findings(candidate)
    judged = [f for f in findings if f["verdict"] != NOT_JUDGED]
    if not judged:
        nothing = (
            NOTHING_TO_JUDGE_AGAINST
            if candidate.previous is None
            else NOTHING_TO_JUDGE_WITH_A_BLACK_BOX.format(
                version=candidate.previous.version, model_id=candidate.model.id
            )
        )
        return _result(name, False, nothing, findings=findings)
    critical = [f for f in findings if f["verdict"] == "CRITICAL"]
    inconclusive = [f for f in findings if f["verdict"] == INCONCLUSIVE]
    described = "; ".join(_describe_error_finding(f) for f in critical or inconclusive or findings)
    if critical:
        summary = described
    elif inconclusive:
        summary = PERFORMANCE_NOT_SHOWN + described
    else:
        summary = f"validation errors on {judged[0]['labelled']} labelled rows: {described}"
    return _result(name, not (critical or inconclusive), summary, findings=findings)


def _fairness_groups(candidate: DeploymentCandidate) -> dict[str, np.ndarray]:
    validation = candidate.validation
    groups = {
        attribute.name: validation[attribute.name].to_numpy(dtype=object)
        for attribute in candidate.model.protected_attributes
    }
    for combination in candidate.model.intersections:
        name, labels = fairness.intersectional_groups(
            {attribute: validation[attribute] for attribute in combination}
        )
        groups[name] = labels
    return groups


def _fairness_finding(
    attribute: str,
    name: str,
    metric: FairnessMetric,
    verdict: str,
    judged: Evidence | None,
    sizes: dict[str, int],
    counted: str,
) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "metric": name,
        "value": None if metric.value is None else round(float(metric.value), 6),
        "ci_low": None if judged is None else round(judged.low, 6),
        "ci_high": None if judged is None else round(judged.high, 6),
        "severity": verdict,
        "max_group": metric.max_group,
        "min_group": metric.min_group,
        "group_sizes": {
            group: sizes[group] for group in (*metric.groups_compared, *metric.excluded_groups)
        },
        "group_sizes_counted": counted,
        "excluded_groups": metric.excluded_groups,
    }


def _classifier_fairness_findings(candidate: DeploymentCandidate) -> list[dict[str, Any]]:
    policy = candidate.config.policy
    min_group_size = candidate.config.min_group_size(candidate.model.id)
    labels = candidate.validation["label"]
    findings: list[dict[str, Any]] = []
    attribute_groups = _fairness_groups(candidate)
    # The check's alpha is shared among its bounded metrics by the policy's alpha_weights,
    # as monitoring shares a model-day's.
    tests = {
        name: fairness_alarm_tests(
            candidate.config, name, len(attribute_groups), among=FAIRNESS_METRICS
        )
        for name in FAIRNESS_METRICS
    }
    bounded = judged_fairness_metrics(candidate.config, FAIRNESS_METRICS)
    for attribute, groups in attribute_groups.items():
        counts = fairness.group_counts(
            labels,
            candidate.validation_predictions,
            sensitive_features=groups,
            scores=candidate.validation_scores,
            favourable_label=candidate.model.favourable_label,
            favourable_prediction=candidate.model.favourable_prediction,
        )
        rates = fairness.group_rates(counts)
        for name in FAIRNESS_METRICS:
            metric = getattr(fairness, name)(
                counts,
                attribute=attribute,
                min_group_size=min_group_size,
                confidence=judgement_confidence(
                    policy.fairness.confidence_level, groups=len(counts.groups), tests=tests[name]
                ),
            )
            # Judged as monitoring and the rollout judge it, on its value and its interval,
            # so that a small group's noise never blocks a deployment.
            verdict, judged = fairness_verdict(candidate.config, name, metric)
            # A bounded metric without an interval is judged on its value; one the policy
            # does not bound stays recorded, unjudged.
            if verdict == NOT_JUDGED and metric.value is not None and name in bounded:
                verdict = classify(round(float(metric.value), 6), policy.threshold(name)).name
            sizes, counted = fairness.judged_group_sizes(rates, metric)
            findings.append(
                _fairness_finding(attribute, name, metric, verdict, judged, sizes, counted)
            )
    return findings


def _regression_fairness_findings(candidate: DeploymentCandidate) -> list[dict[str, Any]]:
    """A regressor's fairness on its validation set: the ratios of group mean predictions
    and of group MAEs judged as monitoring judges them (the pairs of groups and every ratio
    of the check corrected for; a pass on the single test's interval), the differences
    recorded unjudged."""
    level = candidate.config.policy.fairness.confidence_level
    predictions = candidate.validation_scores
    errors = absolute_errors(candidate.validation["label"], predictions)
    attribute_groups = _fairness_groups(candidate)
    # Both ratios are bounded as disparate impact, and fairness.alpha_weights weighs policy
    # metrics only: they weigh the same, so equal shares are the weighted ones.
    tests = len(attribute_groups) * len(REGRESSION_FAIRNESS_JUDGED)
    findings: list[dict[str, Any]] = []
    for attribute, groups in attribute_groups.items():
        count = len(pd.unique(groups))
        alarm, plausible = (
            regression_fairness(
                predictions,
                groups,
                errors=errors,
                error_groups=groups,
                attribute=attribute,
                min_group_size=candidate.config.min_group_size(candidate.model.id),
                confidence=judgement_confidence(level, groups=count, tests=judged),
            )
            for judged in (tests, 1)
        )
        for name, metric in alarm.items():
            verdict, judged = fairness_verdict(candidate.config, name, metric, plausible[name])
            sizes, counted = metric.details["group_sizes"], metric.details["group_sizes_counted"]
            findings.append(
                _fairness_finding(attribute, name, metric, verdict, judged, sizes, counted)
            )
    return findings


def findings_to_watch(warnings: list[dict], inconclusive: list[dict]) -> str:
    """What a fairness summary that did not fail adds: the WARNING findings to watch, and the
    INCONCLUSIVE ones named (neither a pass nor a failure: so that no one reads the check as
    proof)."""
    notes = f"; {len(warnings)} WARNING finding(s) to watch" if warnings else ""
    if inconclusive:
        notes += f"; {len(inconclusive)} INCONCLUSIVE (interval too wide to decide): " + ", ".join(
            f"{f['metric']} of {f['attribute']}" for f in inconclusive[:SHOWN_FINDINGS]
        )
        if len(inconclusive) > SHOWN_FINDINGS:
            notes += f" and {len(inconclusive) - SHOWN_FINDINGS} more"
    return notes


@check("fairness_across_groups")
def fairness_across_groups(candidate: DeploymentCandidate) -> CheckResult:
    regressor = candidate.model.is_regressor
    findings = (
        _regression_fairness_findings(candidate)
        if regressor
        else _classifier_fairness_findings(candidate)
    )
    headline = "mean_prediction_ratio" if regressor else "disparate_impact_ratio"
    critical = [f for f in findings if f["severity"] == "CRITICAL"]
    warnings = [f for f in findings if f["severity"] == "WARNING"]
    inconclusive = [f for f in findings if f["severity"] == INCONCLUSIVE]
    impact = [f for f in findings if f["metric"] == headline and f["value"] is not None]
    lowest = min(impact, key=lambda f: f["value"]) if impact else None
    if critical:
        summary = "; ".join(
            f"{f['metric']} of {f['attribute']} is {f['value']} (CRITICAL on the interval "
            f"{f['ci_low']}-{f['ci_high']}; lowest {f['min_group']}, highest {f['max_group']})"
            for f in critical[:SHOWN_FINDINGS]
        )
        if len(critical) > SHOWN_FINDINGS:
            summary += f"; {len(critical) - SHOWN_FINDINGS} more CRITICAL"
    else:
        summary = (
            f"no fairness metric is CRITICAL on {len(candidate.validation)} validation rows; "
            + (
                f"lowest {headline.replace('_', ' ')} {lowest['value']} ({lowest['attribute']})"
                if lowest
                else f"no {headline.replace('_', ' ')} could be computed"
            )
        )
    summary += findings_to_watch(warnings, inconclusive)
    return _result(
        "fairness_across_groups",
        not critical,
        summary,
        min_group_size=candidate.config.min_group_size(candidate.model.id),
        rows=len(candidate.validation),
        findings=findings,
        warnings=[f"{f['metric']} of {f['attribute']} = {f['value']}" for f in warnings],
    )


@check(
    "explanations_available",
    artefact=ArtefactUse(
        "candidate",
        "compute SHAP attributions (explanation drift reads its logged "
        "attribution__<feature> columns instead)",
    ),
)
def explanations_available(candidate: DeploymentCandidate) -> CheckResult:
    from govflow.metrics.explanation_drift import explanation_background, feature_attributions

    attributions = feature_attributions(
        candidate.artefact,
        candidate.validation,
        background=explanation_background(
            candidate.validation, features=candidate.features, rows=EXPLANATION_BACKGROUND_ROWS
        ),
        features=candidate.features,
        explain="prediction" if candidate.model.is_regressor else "probability",
        sample_rows=EXPLANATION_ROWS,
    )
    ranked = sorted(
        zip(attributions.features, attributions.mean_abs_shap, strict=True),
        key=lambda pair: -pair[1],
    )
    top = [{"feature": name, "mean_abs_shap": round(value, 6)} for name, value in ranked[:3]]
    return _result(
        "explanations_available",
        bool(ranked) and ranked[0][1] > 0,
        "feature attributions computed on "
        f"{attributions.rows_explained} validation rows; top: "
        + ", ".join(f"{item['feature']} ({item['mean_abs_shap']})" for item in top),
        rows_explained=attributions.rows_explained,
        top_features=top,
    )


# --- Rollback (steps 4, 7, 12) ----------------------------------------------------------------


@check("previous_version_available")
def previous_version_available(candidate: DeploymentCandidate) -> CheckResult:
    previous = candidate.previous
    if previous is None:
        return CheckResult(
            "previous_version_available",
            "not_applicable",
            "an initial deployment has no previous version: rolling back withdraws the model",
        )
    baselines = candidate.session.scalars(
        select(Baseline.version).where(
            Baseline.model_id == candidate.model.id, Baseline.model_version == previous.version
        )
    ).all()
    # A black box has no artefact to be intact: its serving side restores it.
    intact = None
    artefact = "a black box (no artefact)"
    if not candidate.is_black_box(previous):
        intact = _sha256(candidate.data_dir / previous.artifact_uri) == previous.artifact_sha256
        artefact = f"artefact {'intact' if intact else 'changed'}"
    return _result(
        "previous_version_available",
        intact is not False and bool(baselines),
        f"previous version {previous.version}: {artefact}, "
        f"baselines {', '.join(baselines) or 'none'}",
        previous_version=previous.version,
        artifact=previous.artifact_uri or None,
        artifact_intact=intact,
        baselines=list(baselines),
    )


@check(
    "rollback_dry_run",
    artefact=ArtefactUse("previous", "score the validation set with it in a dry run"),
)
def rollback_dry_run(candidate: DeploymentCandidate) -> CheckResult:
    previous = candidate.previous
    if previous is None:
        return CheckResult(
            "rollback_dry_run",
            "not_applicable",
            "an initial deployment has no previous version to restore",
        )
    scores = candidate.previous_validation_scores
    assert scores is not None, "a previous version scores the validation set"
    summary = _score_summary(scores, candidate.valid_outputs)
    return _result(
        "rollback_dry_run",
        _scores_are_valid(summary),
        f"dry run: version {previous.version} restored from {previous.artifact_uri} and "
        f"scored {summary['rows']} validation rows in "
        f"[{summary['score_min']}, {summary['score_max']}]",
        previous_version=previous.version,
        **summary,
    )


# --- Monitoring and operations (steps 4, 7, 12, 14) -----------------------------------------


@check("monitoring_configured")
def monitoring_configured(candidate: DeploymentCandidate) -> CheckResult:
    tier = candidate.model.risk_tier
    cadence = candidate.config.policy.monitoring.cadence[tier].model_dump()
    scheduled = {
        c
        for run in candidate.config.policy.monitoring.scheduled_runs.values()
        for c in run.cadences
    }
    unscheduled = sorted({c for c in cadence.values() if c not in scheduled})
    return _result(
        "monitoring_configured",
        not unscheduled,
        f"{candidate.model.id} is in models.yaml; {tier}-tier cadence "
        + ", ".join(f"{check} {every}" for check, every in cadence.items()),
        risk_tier=tier,
        cadence=cadence,
        unscheduled_cadences=unscheduled,
    )


@check("alert_thresholds_configured")
def alert_thresholds_configured(candidate: DeploymentCandidate) -> CheckResult:
    families = candidate.config.policy.thresholds.by_check_type()
    missing = [
        metric
        for metrics in families.values()
        for metric, threshold in metrics.items()
        if threshold.warning is None
    ]
    total = sum(len(metrics) for metrics in families.values())
    return _result(
        "alert_thresholds_configured",
        not missing,
        f"{total - len(missing)} of {total} metrics have WARNING and CRITICAL thresholds",
        metrics=total,
        without_warning=missing,
    )


@check("prediction_logging_enabled")
def prediction_logging_enabled(candidate: DeploymentCandidate) -> CheckResult:
    day, sample = candidate.production_sample
    expected = candidate.model.log_columns
    missing = [column for column in expected if column not in sample.columns]
    return _result(
        "prediction_logging_enabled",
        len(sample) > 0 and not missing,
        f"prediction log of {day}: {len(sample)} rows"
        + (f", missing {', '.join(missing)}" if missing else ", every declared column present"),
        day=day,
        rows=len(sample),
        missing_columns=missing,
    )


@check("data_quality_checks_configured")
def data_quality_checks_configured(candidate: DeploymentCandidate) -> CheckResult:
    from govflow.monitoring.analysis import column_rules, quality_policy
    from govflow.monitoring.quality import run_quality_gate

    rules = column_rules(candidate.model, candidate.config)
    declared = [*candidate.features, *(a.name for a in candidate.model.protected_attributes)]
    uncovered = [name for name in declared if name not in {rule.name for rule in rules}]
    day, sample = candidate.production_sample
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    report = run_quality_gate(
        sample,
        rules=rules,
        policy=quality_policy(candidate.model, candidate.config, RECENT_LOG_WINDOW),
        window_start=start,
        window_end=start + RECENT_LOG_WINDOW,
        engine=candidate.config.policy.data_quality.engine,
    )
    return _result(
        "data_quality_checks_configured",
        not uncovered,
        f"the quality gate checks {len(rules)} columns; on the prediction log of {day}: "
        f"{report.summary}",
        rules=len(rules),
        uncovered_columns=uncovered,
        tested_on=day,
        gate=report.to_dict(),
    )


@check("drift_detection_configured")
def drift_detection_configured(candidate: DeploymentCandidate) -> CheckResult:
    cadence = candidate.config.policy.monitoring.cadence[candidate.model.risk_tier]
    metrics = sorted(candidate.config.policy.thresholds.data_drift)
    return _result(
        "drift_detection_configured",
        bool(metrics),
        f"data drift runs {cadence.data_drift} with {', '.join(metrics)}",
        cadence=cadence.data_drift,
        metrics=metrics,
    )


@check("baseline_active")
def baseline_active(candidate: DeploymentCandidate) -> CheckResult:
    active = candidate.session.scalars(
        select(Baseline).where(
            Baseline.model_id == candidate.model.id, Baseline.is_active.is_(True)
        )
    ).all()
    return _result(
        "baseline_active",
        len(active) == 1,
        f"{len(active)} active baseline(s)"
        + (f": {active[0].version} of version {active[0].model_version}" if active else ""),
        active_baselines=[b.version for b in active],
    )


@check("oncall_rotation_established")
def oncall_rotation_established(candidate: DeploymentCandidate) -> CheckResult:
    on_call = candidate.config.people.on_call
    rotations = {
        "primary": on_call.members_of("primary"),
        "secondary": on_call.members_of("secondary"),
        "fairness": on_call.members_of("fairness"),
    }
    on_duty = candidate.config.people.on_call_primary(datetime.now(UTC))
    return _result(
        "oncall_rotation_established",
        all(rotations.values()),
        f"primary on call now: {on_duty}; secondary {', '.join(rotations['secondary'])}; "
        f"fairness {', '.join(rotations['fairness'])}",
        rotations=rotations,
        primary_on_duty=on_duty,
    )


@check("escalation_paths_defined")
def escalation_paths_defined(candidate: DeploymentCandidate) -> CheckResult:
    policy = candidate.config.policy
    severities: tuple[Severity, ...] = ("WARNING", "CRITICAL")
    missing = [
        f"{severity} {source}"
        for severity in severities
        for source in ALERT_SOURCES
        if policy.escalation_path(severity, source) is None
    ]
    return _result(
        "escalation_paths_defined",
        not missing,
        f"{len(policy.escalation.paths)} escalation paths cover every WARNING and CRITICAL source"
        if not missing
        else f"no escalation path for {', '.join(missing)}",
        paths=sorted(policy.escalation.paths),
        uncovered=missing,
    )


@check("runbooks_documented")
def runbooks_documented(candidate: DeploymentCandidate) -> CheckResult:
    covered = {
        source for book in candidate.config.policy.runbooks.values() for source in book.sources
    }
    missing = [source for source in ("fairness_drift", "data_drift") if source not in covered]
    return _result(
        "runbooks_documented",
        not missing,
        "runbooks: " + ", ".join(book.title for book in candidate.config.policy.runbooks.values()),
        runbooks=sorted(candidate.config.policy.runbooks),
        missing_for=missing,
    )


@check("incident_response_plan_defined")
def incident_response_plan_defined(candidate: DeploymentCandidate) -> CheckResult:
    incidents = candidate.config.policy.incidents
    return _result(
        "incident_response_plan_defined",
        bool(incidents.classes and incidents.process),
        f"incident classes {', '.join(incidents.classes)}; process "
        + " -> ".join(stage.name for stage in incidents.process),
        classes=list(incidents.classes),
        process=[stage.name for stage in incidents.process],
    )


@check("system_owner_assigned")
def system_owner_assigned(candidate: DeploymentCandidate) -> CheckResult:
    owner = candidate.model.owner
    holds = owner in candidate.config.people.holders("system_owner")
    return _result(
        "system_owner_assigned",
        holds,
        f"{owner} owns {candidate.model.id} and {'holds' if holds else 'does not hold'} "
        "the system_owner role",
        owner=owner,
    )


@check(
    "deployment_smoke_test",
    artefact=ArtefactUse("candidate", "score the newest day of prediction logs through it"),
)
def deployment_smoke_test(candidate: DeploymentCandidate) -> CheckResult:
    day, sample = candidate.production_sample
    scores = candidate.outputs(candidate.artefact, sample) if len(sample) else np.array([])
    summary = _score_summary(scores, candidate.valid_outputs)
    return _result(
        "deployment_smoke_test",
        _scores_are_valid(summary),
        f"the released artefact scored {summary['rows']} production rows of {day} in "
        f"[{summary['score_min']}, {summary['score_max']}]",
        day=day,
        **summary,
    )


# --- Records of the procedure itself (steps 11, 15) -------------------------------------------


@check("approvals_recorded")
def approvals_recorded(candidate: DeploymentCandidate) -> CheckResult:
    deployment = candidate.deployment
    required = candidate.config.deployment.approval_roles(candidate.model.risk_tier)
    recorded = {
        a.role: a
        for a in candidate.session.scalars(
            select(DeploymentApproval).where(DeploymentApproval.deployment_id == deployment.id)
        )
    }
    excluded = {candidate.model.owner, deployment.requested_by}
    approvers = [recorded[role].approver for role in required if role in recorded]
    problems = [
        f"{role} not approved"
        for role in required
        if role not in recorded or recorded[role].decision != "approve"
    ]
    problems += [f"{who} may not approve" for who in approvers if who in excluded]
    if len(set(approvers)) != len(approvers):
        problems.append("one person approved twice")
    return _result(
        "approvals_recorded",
        not problems,
        "every required approval is recorded, by distinct independent approvers"
        if not problems
        else "; ".join(problems),
        required=list(required),
        approvers={role: recorded[role].approver for role in required if role in recorded},
    )


def go_live_colour(config: GovflowConfig, verification: list[CheckResult]) -> tuple[str, list[str]]:
    """Seed 001 step 15: GREEN when every verification check passed, RED when a check that
    is a rollback trigger (deployment.yaml ``rollback.triggers``) failed, AMBER otherwise.

    Returns the colour and the failed checks' summaries."""
    critical = {trigger.check for trigger in config.deployment.rollback.triggers if trigger.check}
    failed = [result for result in verification if result.outcome == "failed"]
    reasons = [f"{result.check}: {result.summary}" for result in failed]
    if any(result.check in critical for result in failed):
        return "RED", reasons
    return ("AMBER" if failed else "GREEN"), reasons


@check("go_no_go_criteria_met")
def go_no_go_criteria_met(candidate: DeploymentCandidate) -> CheckResult:
    verification = procedure.recorded_steps(candidate.session, candidate.deployment).get(14)
    if verification is None:
        return _result(
            "go_no_go_criteria_met", False, "deployment verification (step 14) has not run"
        )
    results = [CheckResult.from_dict(item) for item in verification.evidence.get("checks", [])]
    colour, reasons = go_live_colour(candidate.config, results)
    return _result(
        "go_no_go_criteria_met",
        colour == "GREEN",
        f"verification results are {colour}" + (f": {'; '.join(reasons)}" if reasons else ""),
        colour=colour,
        failed=reasons,
    )
