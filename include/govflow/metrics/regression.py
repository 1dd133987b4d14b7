"""Issue 14 item 4: the model drift and fairness of a regression model (seed 003's customer
lifetime value, "non-negative with max"), judged with seed 004 section 2.2's bounds.

Errors are measured on LABELLED rows only (a finite label; labels arrive late), as
``e = prediction - label``; MAE = mean |e|, RMSE = sqrt(mean e^2).

Model drift (all fractions: the seed's "5%" is 0.05)
-----------------------------------------------------
* ``mae_increase`` = (MAE now - MAE at baseline) / MAE at baseline, and ``rmse_increase``
  likewise: the relative increase of the error. Seed 004's "accuracy drop" is a relative fall
  of accuracy; for a regressor the same loss of quality is a relative rise of the error, so
  both are judged with the ``accuracy_drop`` bounds (> 5% WARNING, > 10% CRITICAL; see
  :data:`JUDGED_AS`). Negative when the model improved. ``inconclusive`` with fewer than
  ``min_labelled`` labelled rows, or a baseline error of 0 (no relative change).
  Interval (delta method, no bootstrap): MAE is a mean of |e|, se = sd(|e|) / sqrt(n);
  RMSE = sqrt(MSE), MSE a mean of e^2, se = sd(e^2) / (2 RMSE sqrt(n)). The baseline's error
  is a sample too (a validation set), so for r = now / base - 1,
  se(r) = sqrt(se_now^2 + (now / base)^2 se_base^2) / base, and the interval is r +- z se(r).
* The same increase of a NEW version's error over an OLD version's on the SAME labelled
  rows (a deployment gate: both versions score the candidate's validation set),
  :func:`paired_error_increase`. The two errors of a row are correlated, so the interval is
  the ratio estimator's: for per-row losses a (new) and b (old), |e| for MAE and e^2 for
  MSE, Q = mean(a) / mean(b) and se(Q) = sd(a - Q b) / (sqrt(n) mean(b)); the increase is
  Q - 1 for MAE and sqrt(Q) - 1 for RMSE, and so are the ends of Q's interval
  Q +- z se(Q) (its low end kept at 0 or above). Narrower than two independent samples'
  interval whenever the versions err alike.
* ``prediction_distribution_shift``: the classifier's definition on the prediction, the total
  variation distance over the baseline's frozen prediction deciles (seed's 20% / 40%).
  PSI and the normalised Wasserstein distance of the prediction are the data-drift metrics
  of :mod:`govflow.metrics.data_drift`, with their own bounds.
* ``output_spread_change`` = |sd now / sd at baseline - 1| of the predictions: a model whose
  answers spread out or collapse (the ratio is kept in the details). Judged with the
  ``output_entropy_change`` bounds (25% / 50%), the seed's measure of how a classifier's
  output spread changes. ``inconclusive`` when the baseline's predictions are constant.

Fairness (between the groups of a protected attribute, groups of at least
``min_group_size`` rows, labelled rows for an error; the others are listed as excluded)
-------------------------------------------------------------------------------------------
* ``mean_prediction_ratio`` = lowest group mean prediction / highest (current window), and
  ``mean_absolute_error_ratio`` = lowest group MAE / highest (labelled rows): the regression
  readings of the 80% rule, judged with the ``disparate_impact_ratio`` bounds (< 0.80
  CRITICAL, <= 0.89 WARNING). Interval: delta method on the log ratio of the two groups,
  log(lo / hi) +- z sqrt(s_lo^2 / (n_lo m_lo^2) + s_hi^2 / (n_hi m_hi^2)) (s the groups'
  sample standard deviations, m their means).
* ``mean_prediction_difference`` and ``mean_absolute_error_difference`` = highest group mean
  - lowest, in the prediction's own unit, with Welch's interval
  (hi - lo) +- z sqrt(s_hi^2 / n_hi + s_lo^2 / n_lo). Recorded with their interval, not
  judged: the seed bounds no amount.
``inconclusive`` with fewer than two groups large enough, or a highest mean of 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from govflow.metrics.data_drift import NumericReference, bin_counts
from govflow.metrics.fairness import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_GROUP_SIZE,
    FairnessMetric,
    inconclusive_metric,
    two_sided_z,
)
from govflow.metrics.model_drift import (
    DEFAULT_MIN_LABELLED,
    ModelDriftMetric,
    total_variation_distance,
)
from govflow.metrics.severity import MetricInputError, MetricSpec

ErrorName = Literal["mae", "rmse"]

LENGTH_MISMATCH = "labels and predictions must have the same length, got {true} and {pred}"
NOT_NUMBERS = "{what} must be numbers"
NOT_FINITE = "predictions must be finite numbers: {count} are missing, NaN or infinite"
NO_PREDICTIONS = "no finite prediction"
TOO_FEW_LABELLED = "only {labelled} labelled rows, fewer than {required}"
ZERO_BASELINE_ERROR = "the baseline's {error} is 0, so a relative change is undefined"
CONSTANT_BASELINE = "the baseline's predictions are constant, so a spread ratio is undefined"
TOO_FEW_GROUPS = "fewer than two groups with at least {size} {counted}"
# What a group's size counts (fairness.group_sizes_label): a mean prediction rests on every
# row of the group, a mean absolute error only on those whose outcome is known.
ROWS = "rows"
LABELLED_ROWS = "labelled rows"
ZERO_MEAN = "the highest group mean is 0, so a ratio is undefined"

JUDGED_AS: dict[str, str] = {
    "mae_increase": "accuracy_drop",
    "rmse_increase": "accuracy_drop",
    "output_spread_change": "output_entropy_change",
    "mean_prediction_ratio": "disparate_impact_ratio",
    "mean_absolute_error_ratio": "disparate_impact_ratio",
}
"""The policy metric (config/policy.yaml) whose bounds judge each regression metric."""

REGRESSION_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "mae_increase",
        "model",
        ("numerical",),
        "higher_is_worse",
        "(MAE now - MAE at baseline) / MAE at baseline, labelled rows only.",
    ),
    MetricSpec(
        "rmse_increase",
        "model",
        ("numerical",),
        "higher_is_worse",
        "(RMSE now - RMSE at baseline) / RMSE at baseline, labelled rows only.",
    ),
    MetricSpec(
        "output_spread_change",
        "model",
        ("numerical",),
        "higher_is_worse",
        "|std of the predictions now / at baseline - 1|.",
    ),
    MetricSpec(
        "mean_prediction_ratio",
        "fairness",
        ("numerical",),
        "lower_is_worse",
        "Lowest group mean prediction / highest.",
    ),
    MetricSpec(
        "mean_prediction_difference",
        "fairness",
        ("numerical",),
        "higher_is_worse",
        "Highest group mean prediction - lowest, in the prediction's unit.",
    ),
    MetricSpec(
        "mean_absolute_error_ratio",
        "fairness",
        ("numerical",),
        "lower_is_worse",
        "Lowest group MAE / highest, labelled rows only.",
    ),
    MetricSpec(
        "mean_absolute_error_difference",
        "fairness",
        ("numerical",),
        "higher_is_worse",
        "Highest group MAE - lowest, in the prediction's unit, labelled rows only.",
    ),
)


def _numbers(values: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    try:
        return np.asarray(pd.to_numeric(pd.Series(values), errors="raise"), dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise MetricInputError(NOT_NUMBERS.format(what=what)) from error


def finite_predictions(y_pred: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The predictions as floats; a non-number, NaN or infinity is refused (the data-quality
    gate keeps such rows out of an analysis)."""
    predictions = _numbers(y_pred, "predictions")
    bad = int(np.sum(~np.isfinite(predictions)))
    if bad:
        raise MetricInputError(NOT_FINITE.format(count=bad))
    return predictions


def labelled_errors(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """prediction - label over the rows whose label is a finite number."""
    labels = _numbers(y_true, "labels")
    predictions = finite_predictions(y_pred)
    if labels.size != predictions.size:
        raise MetricInputError(LENGTH_MISMATCH.format(true=labels.size, pred=predictions.size))
    labelled = np.isfinite(labels)
    return predictions[labelled] - labels[labelled]


def _sd(values: npt.NDArray[np.float64]) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else 0.0


@dataclass(frozen=True)
class ErrorSummary:
    """A regressor's errors on labelled rows: their size and their spread (for intervals)."""

    labelled: int
    mae: float
    abs_error_sd: float
    mse: float
    squared_error_sd: float

    @property
    def rmse(self) -> float:
        return math.sqrt(self.mse)

    def value(self, error: ErrorName) -> float:
        return self.mae if error == "mae" else self.rmse

    def standard_error(self, error: ErrorName) -> float:
        """The standard error of the MAE or (delta method) of the RMSE."""
        root_n = math.sqrt(self.labelled)
        if error == "mae":
            return self.abs_error_sd / root_n
        return 0.0 if self.mse == 0 else self.squared_error_sd / (2 * self.rmse * root_n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorSummary:
        return cls(
            labelled=int(data["labelled"]),
            mae=float(data["mae"]),
            abs_error_sd=float(data["abs_error_sd"]),
            mse=float(data["mse"]),
            squared_error_sd=float(data["squared_error_sd"]),
        )


def error_summary(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> ErrorSummary:
    """MAE, MSE and their spreads over the labelled rows (all 0 without any)."""
    errors = labelled_errors(y_true, y_pred)
    if errors.size == 0:
        return ErrorSummary(0, 0.0, 0.0, 0.0, 0.0)
    absolute, squared = np.abs(errors), errors**2
    return ErrorSummary(
        labelled=int(errors.size),
        mae=float(absolute.mean()),
        abs_error_sd=_sd(absolute),
        mse=float(squared.mean()),
        squared_error_sd=_sd(squared),
    )


def error_increase(
    current: ErrorSummary,
    baseline: ErrorSummary,
    *,
    error: ErrorName,
    min_labelled: int = DEFAULT_MIN_LABELLED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ModelDriftMetric:
    """The relative increase of the MAE or RMSE against the baseline's, with its interval
    (``ci_low``/``ci_high`` in the details; see the module doc)."""
    z = two_sided_z(confidence)
    name = f"{error}_increase"
    details: dict[str, Any] = {
        "labelled": current.labelled,
        f"baseline_{error}": baseline.value(error),
        "baseline_labelled": baseline.labelled,
    }
    if current.labelled < min_labelled:
        reason = TOO_FEW_LABELLED.format(labelled=current.labelled, required=min_labelled)
        return ModelDriftMetric(name, "inconclusive", None, reason, details)
    before, now = baseline.value(error), current.value(error)
    details[f"current_{error}"] = now
    if before == 0:
        reason = ZERO_BASELINE_ERROR.format(error=error.upper())
        return ModelDriftMetric(name, "inconclusive", None, reason, details)
    value = now / before - 1
    se = math.hypot(current.standard_error(error), now / before * baseline.standard_error(error))
    half = z * se / before
    details.update(ci_low=value - half, ci_high=value + half, confidence=confidence)
    return ModelDriftMetric(name, "computed", value, details=details)


def paired_error_increase(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    reference_pred: npt.ArrayLike,
    *,
    error: ErrorName,
    min_labelled: int = DEFAULT_MIN_LABELLED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ModelDriftMetric:
    """The relative increase of ``y_pred``'s MAE or RMSE over ``reference_pred``'s on the
    same labelled rows, with the ratio estimator's interval (see the module doc)."""
    z = two_sided_z(confidence)
    new, old = labelled_errors(y_true, y_pred), labelled_errors(y_true, reference_pred)
    power = 1.0 if error == "mae" else 0.5
    new_loss, old_loss = (np.abs(new), np.abs(old)) if error == "mae" else (new**2, old**2)
    details: dict[str, Any] = {"labelled": int(new.size), "paired": True}
    if new.size < min_labelled:
        reason = TOO_FEW_LABELLED.format(labelled=new.size, required=min_labelled)
        return ModelDriftMetric(f"{error}_increase", "inconclusive", None, reason, details)
    before, after = float(old_loss.mean()) ** power, float(new_loss.mean()) ** power
    details.update({f"baseline_{error}": before, f"current_{error}": after})
    if before == 0:
        reason = ZERO_BASELINE_ERROR.format(error=error.upper())
        return ModelDriftMetric(f"{error}_increase", "inconclusive", None, reason, details)
    ratio = float(new_loss.mean() / old_loss.mean())
    se_ratio = _sd(new_loss - ratio * old_loss) / (math.sqrt(new.size) * float(old_loss.mean()))
    low, high = max(0.0, ratio - z * se_ratio), ratio + z * se_ratio
    details.update(ci_low=low**power - 1, ci_high=high**power - 1, confidence=confidence)
    return ModelDriftMetric(f"{error}_increase", "computed", ratio**power - 1, details=details)


def prediction_shift(reference: NumericReference, predictions: npt.ArrayLike) -> ModelDriftMetric:
    """Total variation distance of the predictions from the baseline's frozen deciles."""
    values = finite_predictions(predictions)
    if values.size == 0:
        raise MetricInputError(NO_PREDICTIONS)
    return ModelDriftMetric(
        "prediction_distribution_shift",
        "computed",
        total_variation_distance(reference.bin_counts, bin_counts(values, reference.bin_edges)),
        details={"current_rows": int(values.size)},
    )


def output_spread_change(predictions: npt.ArrayLike, *, baseline_std: float) -> ModelDriftMetric:
    """|std now / std at baseline - 1| of the predictions (population std, as the baseline's)."""
    values = finite_predictions(predictions)
    if values.size == 0:
        raise MetricInputError(NO_PREDICTIONS)
    current = float(np.std(values))
    details: dict[str, Any] = {"current_std": current, "baseline_std": baseline_std}
    if baseline_std == 0:
        return ModelDriftMetric(
            "output_spread_change", "inconclusive", None, CONSTANT_BASELINE, details
        )
    ratio = current / baseline_std
    details["std_ratio"] = ratio
    return ModelDriftMetric("output_spread_change", "computed", abs(ratio - 1), details=details)


@dataclass(frozen=True)
class GroupMean:
    """The mean of a per-row quantity in one group, with what its interval needs."""

    group: str
    n: int
    mean: float
    sd: float


def group_means(values: npt.ArrayLike, groups: npt.ArrayLike) -> list[GroupMean]:
    """Each group's mean and sample sd of ``values`` (rows with a missing group or a
    non-finite value left out), groups in sorted order."""
    frame = pd.DataFrame({"value": _numbers(values, "values"), "group": np.asarray(groups)})
    frame = frame[np.isfinite(frame["value"]) & frame["group"].notna()]
    stats = frame.groupby(frame["group"].astype(str))["value"].agg(["size", "mean", "std"])
    return [
        GroupMean(
            str(group), int(row["size"]), float(row["mean"]), float(np.nan_to_num(row["std"]))
        )
        for group, row in stats.sort_index().iterrows()
    ]


Contrast = Callable[[GroupMean, GroupMean, float], tuple[float | None, float, float, str | None]]


def _log_ratio(
    low: GroupMean, high: GroupMean, z: float
) -> tuple[float | None, float, float, str | None]:
    if high.mean <= 0:
        return None, 0.0, 0.0, ZERO_MEAN
    ratio = low.mean / high.mean
    if low.mean <= 0:  # a log interval needs both means positive: as low as it gets
        return ratio, 0.0, 0.0, None
    se = math.sqrt(low.sd**2 / (low.n * low.mean**2) + high.sd**2 / (high.n * high.mean**2))
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se), None


def _welch_difference(
    low: GroupMean, high: GroupMean, z: float
) -> tuple[float | None, float, float, str | None]:
    difference = high.mean - low.mean
    half = z * math.sqrt(high.sd**2 / high.n + low.sd**2 / low.n)
    return difference, difference - half, difference + half, None


def _contrast(
    means: list[GroupMean],
    contrast: Contrast,
    *,
    name: str,
    attribute: str,
    min_group_size: int,
    confidence: float,
    sizes_counted: str,
) -> FairnessMetric:
    """The contrast of the lowest and the highest group mean among the groups of at least
    ``min_group_size`` values, with its interval."""
    z = two_sided_z(confidence)
    sizes = {
        "group_sizes": {m.group: m.n for m in means},
        "group_sizes_counted": sizes_counted,
    }
    excluded = {m.group: m.n for m in means if m.n < min_group_size}
    eligible = [m for m in means if m.n >= min_group_size]
    if len(eligible) < 2:
        too_few = TOO_FEW_GROUPS.format(size=min_group_size, counted=sizes_counted)
        return inconclusive_metric(name, attribute, excluded, too_few, sizes)
    low = min(eligible, key=lambda m: (m.mean, m.group))
    high = max(eligible, key=lambda m: (m.mean, m.group))
    value, ci_low, ci_high, reason = contrast(low, high, z)
    return FairnessMetric(
        name,
        attribute,
        "inconclusive" if value is None else "computed",
        value,
        ci_low=None if value is None else ci_low,
        ci_high=None if value is None else ci_high,
        max_group=high.group,
        min_group=low.group,
        groups_compared=tuple(m.group for m in eligible),
        excluded_groups=excluded,
        reason=reason,
        details={**sizes, "group_means": {m.group: m.mean for m in eligible}},
    )


def mean_contrast(
    means: list[GroupMean],
    *,
    method: Literal["ratio", "difference"],
    name: str,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
    sizes_counted: str = ROWS,
) -> FairnessMetric:
    """The lowest group mean / the highest (``ratio``, delta-method interval on the log
    ratio) or the highest - the lowest (``difference``, Welch's interval); the groups'
    sizes are counts of ``sizes_counted``."""
    return _contrast(
        means,
        _log_ratio if method == "ratio" else _welch_difference,
        name=name,
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
        sizes_counted=sizes_counted,
    )


def absolute_errors(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """|prediction - label| per row, NaN where the label is not (yet) a finite number."""
    labels = _numbers(y_true, "labels")
    predictions = finite_predictions(y_pred)
    if labels.size != predictions.size:
        raise MetricInputError(LENGTH_MISMATCH.format(true=labels.size, pred=predictions.size))
    return np.where(np.isfinite(labels), np.abs(predictions - labels), np.nan)


def regression_fairness(
    predictions: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    errors: npt.ArrayLike | None = None,
    error_groups: npt.ArrayLike | None = None,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, FairnessMetric]:
    """The fairness metrics of one attribute: of the predictions (``groups`` per row) and,
    given ``errors`` (:func:`absolute_errors`, NaN for an unlabelled row) with their own
    ``error_groups``, of the absolute errors (their groups sized in labelled rows)."""
    options: dict[str, Any] = {
        "attribute": attribute,
        "min_group_size": min_group_size,
        "confidence": confidence,
    }
    measured = [("mean_prediction", group_means(finite_predictions(predictions), groups), ROWS)]
    if errors is not None and error_groups is not None:
        measured.append(("mean_absolute_error", group_means(errors, error_groups), LABELLED_ROWS))
    return {
        f"{prefix}_{method}": mean_contrast(
            means, method=method, name=f"{prefix}_{method}", sizes_counted=counted, **options
        )
        for prefix, means, counted in measured
        for method in ("ratio", "difference")
    }
