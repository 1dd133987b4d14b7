"""Seed 004 section 2.2 (model drift: accuracy drop, prediction distribution shift, output
entropy change) against a frozen baseline.

Definitions (all three are fractions: the seed's "5%" is 0.05)
--------------------------------------------------------------
* accuracy_drop = (baseline accuracy - current accuracy) / baseline accuracy, the RELATIVE
  drop: 0.90 -> 0.855 is a drop of 0.05. Accuracy is (prediction == label) over LABELLED
  rows only (labels arrive days late; unlabelled rows say nothing about accuracy). With
  fewer than ``min_labelled`` labelled rows the result is ``inconclusive``. Negative when
  the model improved. The current accuracy carries a Wilson interval.
* prediction_distribution_shift = total variation distance between the baseline and current
  score distributions over the baseline's frozen score bins (deciles by default, see
  :mod:`govflow.metrics.data_drift`): TV = 1/2 sum_i |p_i - q_i|, in [0, 1]. It reads
  directly as "the share of predictions that moved to another score band", so 20% / 40%
  are meaningful bounds. The relative change of the positive-prediction rate was rejected:
  for a model that selects 5% of rows, 5% -> 6% is already a "20% shift" (noise for the
  marketing model), and it ignores movement that does not cross the decision threshold.
* output_entropy_change = |H_cur - H_base| / H_base, with H the mean binary entropy of the
  scores, h(s) = -s ln s - (1 - s) ln(1 - s) (h(0) = h(1) = 0): the model's average
  uncertainty. Both directions count: a model that suddenly becomes over-confident is as
  suspect as one that becomes unsure. It is the relative change of a mean, so the log base
  does not matter. A baseline entropy of 0 (only 0/1 scores) makes it ``inconclusive``.
  The entropy of the score histogram was rejected: it measures the spread of the score
  distribution, which the prediction shift already covers.
* label_drift (seed 000 "Label drift > [X]% change") = |current favourable-label rate -
  baseline's| / baseline's, over labelled rows, ``inconclusive`` below ``min_labelled``
  labelled rows or when the baseline rate is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from govflow.metrics.data_drift import NumericReference, bin_counts, finite_values
from govflow.metrics.fairness import (
    DEFAULT_CONFIDENCE,
    binary_labels,
    binary_predictions,
    wilson_interval,
)
from govflow.metrics.severity import MetricInputError, MetricSpec

DEFAULT_MIN_LABELLED = 100

LENGTH_MISMATCH = "y_true and y_pred must have the same length, got {true} and {pred}"
BAD_BASELINE_ACCURACY = "baseline_accuracy must be in (0, 1], got {accuracy}"
BAD_MIN_LABELLED = "min_labelled must be at least 1, got {count}"
SCORES_OUT_OF_RANGE = "scores must lie in [0, 1]"
NO_ROWS = "y_true and y_pred are empty"
NO_LABELLED = "no row has a label yet"
ZERO_COUNTS = "reference and current counts must each have a positive total"
TOO_FEW_LABELLED = "only {labelled} labelled rows, fewer than {required}"
BAD_BASELINE_RATE = "baseline_positive_rate must be in [0, 1], got {rate}"
ZERO_BASELINE_RATE = "baseline favourable-label rate is 0, so a relative change is undefined"
ZERO_BASELINE_ENTROPY = "baseline mean entropy is 0, so a relative change is undefined"
BAD_BASELINE_ENTROPY = "baseline_mean_entropy must be a finite number >= 0, got {entropy}"

MODEL_DRIFT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "accuracy_drop",
        "model",
        ("binary_prediction",),
        "higher_is_worse",
        "(baseline accuracy - current accuracy) / baseline accuracy, labelled rows only.",
    ),
    MetricSpec(
        "prediction_distribution_shift",
        "model",
        ("score",),
        "higher_is_worse",
        "Total variation distance over the baseline's frozen score bins.",
    ),
    MetricSpec(
        "output_entropy_change",
        "model",
        ("score",),
        "higher_is_worse",
        "|mean binary entropy now - at baseline| / at baseline.",
    ),
    MetricSpec(
        "label_drift",
        "model",
        ("binary_prediction",),
        "higher_is_worse",
        "|favourable-label rate now - at baseline| / at baseline, labelled rows only.",
    ),
)


@dataclass(frozen=True)
class ModelDriftMetric:
    """One model-drift value, or ``inconclusive`` with the reason."""

    name: str
    status: Literal["computed", "inconclusive"]
    value: float | None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labelled_pairs(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    # Missing labels are expected (not yet observed); missing predictions are an error.
    labels = binary_labels(y_true)
    predictions = binary_predictions(y_pred)
    if labels.size != predictions.size:
        raise MetricInputError(LENGTH_MISMATCH.format(true=labels.size, pred=predictions.size))
    if labels.size == 0:
        raise MetricInputError(NO_ROWS)
    labelled = ~np.isnan(labels)
    return labels[labelled], predictions[labelled].astype(np.float64)


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Share of labelled rows where the prediction equals the label."""
    labels, predictions = _labelled_pairs(y_true, y_pred)
    if labels.size == 0:
        raise MetricInputError(NO_LABELLED)
    return float(np.mean(labels == predictions))


def accuracy_drop(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    baseline_accuracy: float,
    min_labelled: int = DEFAULT_MIN_LABELLED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ModelDriftMetric:
    """Relative accuracy drop against the baseline's accuracy, labelled rows only."""
    if not 0 < baseline_accuracy <= 1:
        raise MetricInputError(BAD_BASELINE_ACCURACY.format(accuracy=baseline_accuracy))
    if min_labelled < 1:
        raise MetricInputError(BAD_MIN_LABELLED.format(count=min_labelled))
    labels, predictions = _labelled_pairs(y_true, y_pred)
    details: dict[str, Any] = {"labelled": int(labels.size), "baseline_accuracy": baseline_accuracy}
    if labels.size < min_labelled:
        return ModelDriftMetric(
            "accuracy_drop",
            "inconclusive",
            None,
            TOO_FEW_LABELLED.format(labelled=labels.size, required=min_labelled),
            details,
        )
    correct = int(np.sum(labels == predictions))
    current = correct / labels.size
    interval = wilson_interval(correct, int(labels.size), confidence=confidence)
    assert interval is not None
    details.update(
        current_accuracy=current,
        current_accuracy_ci_low=interval[0],
        current_accuracy_ci_high=interval[1],
    )
    return ModelDriftMetric(
        "accuracy_drop",
        "computed",
        (baseline_accuracy - current) / baseline_accuracy,
        details=details,
    )


def total_variation_distance(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """1/2 sum |p - q| of two count vectors over the same bins."""
    reference = np.asarray(ref_counts, dtype=np.float64)
    current = np.asarray(cur_counts, dtype=np.float64)
    if reference.shape != current.shape or reference.ndim != 1:
        raise MetricInputError(LENGTH_MISMATCH.format(true=reference.size, pred=current.size))
    if np.any(reference < 0) or np.any(current < 0) or reference.sum() == 0 or current.sum() == 0:
        raise MetricInputError(ZERO_COUNTS)
    return float(0.5 * np.sum(np.abs(reference / reference.sum() - current / current.sum())))


def _checked_scores(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    values = finite_values(scores, name="scores")
    if values.infinite or np.any((values.values < 0) | (values.values > 1)):
        raise MetricInputError(SCORES_OUT_OF_RANGE)
    return values.values


def prediction_distribution_shift(
    reference: NumericReference, current_scores: npt.ArrayLike
) -> ModelDriftMetric:
    """Total variation distance of current scores from the baseline's frozen score bins."""
    scores = _checked_scores(current_scores)
    current_counts = bin_counts(scores, reference.bin_edges)
    return ModelDriftMetric(
        "prediction_distribution_shift",
        "computed",
        total_variation_distance(reference.bin_counts, current_counts),
        details={"current_rows": int(scores.size)},
    )


def mean_binary_entropy(scores: npt.ArrayLike) -> float:
    """Mean of -s ln s - (1 - s) ln(1 - s) over the scores, in nats (0 ln 0 = 0)."""
    values = _checked_scores(scores)
    # xlogy-style: the masked log avoids 0 * -inf (a numpy warning) at s = 0 and s = 1.
    inner = (values > 0) & (values < 1)
    safe = np.where(inner, values, 0.5)
    entropy = -(safe * np.log(safe) + (1 - safe) * np.log1p(-safe))
    return float(np.mean(np.where(inner, entropy, 0.0)))


def output_entropy_change(
    current_scores: npt.ArrayLike, *, baseline_mean_entropy: float
) -> ModelDriftMetric:
    """|mean binary entropy now - baseline's| / baseline's."""
    if not (np.isfinite(baseline_mean_entropy) and baseline_mean_entropy >= 0):
        raise MetricInputError(BAD_BASELINE_ENTROPY.format(entropy=baseline_mean_entropy))
    current = mean_binary_entropy(current_scores)
    details = {"current_mean_entropy": current, "baseline_mean_entropy": baseline_mean_entropy}
    if baseline_mean_entropy == 0:
        return ModelDriftMetric(
            "output_entropy_change", "inconclusive", None, ZERO_BASELINE_ENTROPY, details
        )
    return ModelDriftMetric(
        "output_entropy_change",
        "computed",
        abs(current - baseline_mean_entropy) / baseline_mean_entropy,
        details=details,
    )


def label_drift(
    y_true: npt.ArrayLike,
    *,
    baseline_positive_rate: float,
    favourable_label: int = 1,
    min_labelled: int = DEFAULT_MIN_LABELLED,
) -> ModelDriftMetric:
    """Relative change of the favourable-label rate over labelled rows (``favourable_label``:
    the model's value, 0 or 1, of the favourable outcome)."""
    if not 0 <= baseline_positive_rate <= 1:
        raise MetricInputError(BAD_BASELINE_RATE.format(rate=baseline_positive_rate))
    if min_labelled < 1:
        raise MetricInputError(BAD_MIN_LABELLED.format(count=min_labelled))
    labels = binary_labels(y_true, favourable=favourable_label)
    observed = labels[~np.isnan(labels)]
    details: dict[str, Any] = {
        "labelled": int(observed.size),
        "baseline_positive_rate": baseline_positive_rate,
    }
    if observed.size < min_labelled:
        reason = TOO_FEW_LABELLED.format(labelled=observed.size, required=min_labelled)
        return ModelDriftMetric("label_drift", "inconclusive", None, reason, details)
    current = float(observed.mean())
    details["current_positive_rate"] = current
    if baseline_positive_rate == 0:
        return ModelDriftMetric("label_drift", "inconclusive", None, ZERO_BASELINE_RATE, details)
    return ModelDriftMetric(
        "label_drift",
        "computed",
        abs(current - baseline_positive_rate) / baseline_positive_rate,
        details=details,
    )
