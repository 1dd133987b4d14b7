"""Seed 004 section 2.2 (fairness drift: demographic parity drift, equal opportunity drift,
disparate impact ratio) and seed 000 "Fairness Monitoring" (selection rate parity, FPR/TPR
disparity, equalized odds, predictive parity, calibration), per protected attribute.

One pass, then arithmetic
-------------------------
:func:`group_counts` makes one ``numpy.bincount`` pass over the rows and keeps, per group:
``n`` (rows), ``selected`` (favourable prediction), ``labelled`` (label known), ``positives``
(favourable label), ``tp``, ``fp``, ``tn``, ``fn`` (labelled rows only) and, when scores are
given (read as the probability of the favourable outcome), per score
bin (``calibration_bins`` equal-width bins on [0, 1], the last closed) the labelled row
count, score sum and positive count. Every metric below is arithmetic on these counts, and
:meth:`GroupCounts.to_dict` is the baseline profile of one attribute (seed 004 section 4.1):
``{"groups": {group: {"n", "selected", "labelled", "positives", "tp", "fp", "tn", "fn",
"calibration": {"counts", "score_sums", "positives"} | None}}, "calibration_bins",
"dropped_missing_attribute"}``.

"Favourable" is the model's own value, 0 or 1 (models.yaml ``favourable_prediction`` and
``favourable_label``; 1 unless told): seeds 000 and 004 define a selection rate as the rate of
the favourable outcome, so a risk score whose 1 means "decline" is counted on its 0s.

Rows whose label is missing (not yet observed) count for selection rates only. Rows whose
protected attribute is missing are dropped and counted. Rows with a missing score are left
out of calibration only.

Rates (each with a Wilson score interval at ``confidence``)
-----------------------------------------------------------
selection rate = selected / n; TPR = tp / (tp + fn); FPR = fp / (fp + tn);
PPV = tp / (tp + fp). Calibration, over labelled rows with a score: mean score, observed
positive rate, calibration-in-the-large = mean score - observed positive rate, and the
expected calibration error ECE = sum_b (n_b / n) |mean score_b - positive rate_b|.

Metrics (between groups, as fairlearn's ``method="between_groups"``)
---------------------------------------------------------------------
* demographic_parity_difference = max - min selection rate;
* disparate_impact_ratio = min / max selection rate (= fairlearn's demographic_parity_ratio;
  the 80% rule reads it against 0.80);
* equal_opportunity_difference = max - min TPR; true_positive_rate_ratio = min / max TPR;
* false_positive_rate_difference = max - min FPR; false_positive_rate_ratio = min / max FPR;
* equalized_odds_difference = max(TPR difference, FPR difference) (fairlearn ``worst_case``);
* predictive_parity_difference = max - min PPV;
* calibration_gap = max - min calibration-in-the-large (a model that over-predicts one group
  by 0.05 and under-predicts another by 0.05 has a gap of 0.10);
* demographic_parity_drift = |DP difference now - DP difference at baseline| and
  equal_opportunity_drift likewise (seed 004 2.2, seed 000 ``abs(current - baseline)``), both
  sides computed over the groups eligible in BOTH windows, so a group that vanished does
  not fake a drift; groups only in the baseline are reported as ``absent_groups``, groups
  only in the current window as ``new_groups``. The signed change gets the MOVER interval
  of the two gaps' Newcombe intervals (the baseline's sampling error included), and the
  drift the absolute value of that interval (from 0 when it holds 0).

Minimum group size
------------------
Each metric only compares groups whose denominator (``n`` for selection rates, actual
positives for TPR, actual negatives for FPR, labelled selected rows for PPV, labelled scored
rows for calibration) is at least ``min_group_size``. Smaller groups are listed in the
metric's ``excluded_groups`` with that denominator. With fewer than two groups left the
metric is ``inconclusive`` with ``value=None``: never a pass, never a false alarm. A ratio
whose largest rate is 0 is inconclusive too (no group is selected at all).

Intervals for gaps and ratios
-----------------------------
A difference is reported for the pair of groups that realises it (``max_group``,
``min_group``) with Newcombe's hybrid score interval built from the two Wilson intervals.
A ratio gets the MOVER interval built from the two Wilson intervals (Donner and Zou's
"MOVER-R", the ratio counterpart of Newcombe's difference), defined for a count of 0 too.
Katz's log interval ``exp(ln r +- z sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2))`` was used before: for a
small group whose rate is near 1 (32 of 34 approved) it is far too narrow; at 99.9 %, 35 rows
at a rate of 0.71 against 1,000, its lower end missed the true ratio on 1 % of samples
instead of 0.05 % (MOVER-R: 0.01 %), and on 12 % for 30 rows at 0.95. The
equalized-odds interval is ``[max(lower), max(upper)]`` of its two gaps. These intervals
treat the extreme pair as fixed; they do not correct for having picked it among all groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from govflow.metrics.data_drift import category_keys
from govflow.metrics.severity import Direction, MetricInputError, MetricSpec

MetricStatus = Literal["computed", "inconclusive"]

DEFAULT_MIN_GROUP_SIZE = 30
DEFAULT_CONFIDENCE = 0.95
DEFAULT_CALIBRATION_BINS = 10
INTERSECTION_SEPARATOR = "&"
# dtype kinds (numpy and pandas' nullable ones alike) that convert to float without parsing.
NUMBER_KINDS = "biuf"

LENGTH_MISMATCH = "y_true, y_pred, sensitive_features and scores must have the same length"
EMPTY_ROWS = "no rows to evaluate"
NO_GROUPS = "sensitive_features has no values left after dropping {dropped} missing"
BAD_PREDICTIONS = "y_pred must contain only 0 and 1 with no missing values"
BAD_LABELS = "y_true must contain only 0, 1 or missing"
BAD_SCORES = "scores must lie in [0, 1] (missing allowed)"
BAD_FAVOURABLE = "the favourable outcome must be 0 or 1, got {value}"
BAD_CONFIDENCE = "confidence must be in (0, 1), got {confidence}"
BAD_MIN_GROUP_SIZE = "min_group_size must be at least 1, got {size}"
BAD_CALIBRATION_BINS = "calibration_bins must be at least 1, got {bins}"
NO_SCORES = "calibration needs scores: group counts were built without them"
NO_ATTRIBUTES = "intersectional_groups needs at least one attribute"
TOO_FEW_GROUPS = "fewer than 2 groups with a denominator of at least {size}"
NOTHING_SELECTED = "the largest rate is 0, so the ratio is undefined"

_FAIRNESS_METRIC_TABLE: tuple[tuple[str, Direction, str], ...] = (
    ("demographic_parity_difference", "higher_is_worse", "max - min selection rate"),
    ("disparate_impact_ratio", "lower_is_worse", "min / max selection rate (80% rule)"),
    ("equal_opportunity_difference", "higher_is_worse", "max - min true positive rate"),
    ("true_positive_rate_ratio", "lower_is_worse", "min / max true positive rate"),
    ("false_positive_rate_difference", "higher_is_worse", "max - min false positive rate"),
    ("false_positive_rate_ratio", "lower_is_worse", "min / max false positive rate"),
    ("equalized_odds_difference", "higher_is_worse", "max of the TPR and FPR differences"),
    ("predictive_parity_difference", "higher_is_worse", "max - min precision (PPV)"),
    ("calibration_gap", "higher_is_worse", "max - min (mean score - positive rate)"),
    ("demographic_parity_drift", "higher_is_worse", "|DP difference - baseline's|"),
    ("equal_opportunity_drift", "higher_is_worse", "|EO difference - baseline's|"),
)
FAIRNESS_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(name, "fairness", ("binary_prediction",), direction, description)
    for name, direction, description in _FAIRNESS_METRIC_TABLE
)


def two_sided_z(confidence: float) -> float:
    """The normal quantile of a two-sided interval at ``confidence``; a confidence outside
    (0, 1) is a MetricInputError."""
    if not 0 < confidence < 1:
        raise MetricInputError(BAD_CONFIDENCE.format(confidence=confidence))
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(
    successes: int, trials: int, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float] | None:
    """Wilson score interval of ``successes / trials``; None when there are no trials."""
    if trials == 0:
        return None
    return _wilson(successes, trials, two_sided_z(confidence))


@dataclass(frozen=True)
class Rate:
    """A proportion with its counts and Wilson interval (None values when ``denominator`` is 0)."""

    value: float | None
    numerator: int
    denominator: int
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate(successes: int, trials: int, *, confidence: float = DEFAULT_CONFIDENCE) -> Rate:
    """``successes / trials`` with its Wilson interval."""
    interval = wilson_interval(successes, trials, confidence=confidence)
    if interval is None:
        return Rate(None, successes, trials, None, None)
    return Rate(successes / trials, successes, trials, interval[0], interval[1])


@dataclass(frozen=True)
class GroupCounts:
    """Per-group counts of one protected attribute: the baseline profile of fairness."""

    groups: tuple[str, ...]
    n: tuple[int, ...]
    selected: tuple[int, ...]
    labelled: tuple[int, ...]
    positives: tuple[int, ...]
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    tn: tuple[int, ...]
    fn: tuple[int, ...]
    calibration_bins: int
    calibration_counts: tuple[tuple[int, ...], ...] | None = None
    calibration_score_sums: tuple[tuple[float, ...], ...] | None = None
    calibration_positives: tuple[tuple[int, ...], ...] | None = None
    dropped_missing_attribute: int = 0

    def index(self, group: str) -> int:
        return self.groups.index(group)

    def to_dict(self) -> dict[str, Any]:
        groups: dict[str, Any] = {}
        for position, group in enumerate(self.groups):
            calibration = None
            if self.calibration_counts is not None:
                assert self.calibration_score_sums is not None
                assert self.calibration_positives is not None
                calibration = {
                    "counts": list(self.calibration_counts[position]),
                    "score_sums": list(self.calibration_score_sums[position]),
                    "positives": list(self.calibration_positives[position]),
                }
            groups[group] = {
                "n": self.n[position],
                "selected": self.selected[position],
                "labelled": self.labelled[position],
                "positives": self.positives[position],
                "tp": self.tp[position],
                "fp": self.fp[position],
                "tn": self.tn[position],
                "fn": self.fn[position],
                "calibration": calibration,
            }
        return {
            "groups": groups,
            "calibration_bins": self.calibration_bins,
            "dropped_missing_attribute": self.dropped_missing_attribute,
        }

    @classmethod
    def from_cells(cls, groups: Sequence[str], cells: npt.NDArray[Any], **rest: Any) -> GroupCounts:
        """The counts of ``cells``, one (label: 0, 1, none) x (selected: 0, 1) grid per group,
        as the pandas and the database paths both tally them; ``rest`` holds the other
        fields (calibration, dropped rows)."""

        def per_group(counts: npt.NDArray[Any]) -> tuple[int, ...]:
            return tuple(int(count) for count in counts)

        return cls(
            groups=tuple(groups),
            n=per_group(cells.sum(axis=(1, 2))),
            selected=per_group(cells[:, :, 1].sum(axis=1)),
            labelled=per_group(cells[:, :2].sum(axis=(1, 2))),
            positives=per_group(cells[:, 1].sum(axis=1)),
            tp=per_group(cells[:, 1, 1]),
            fp=per_group(cells[:, 0, 1]),
            tn=per_group(cells[:, 0, 0]),
            fn=per_group(cells[:, 1, 0]),
            **rest,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupCounts:
        groups = tuple(sorted(data["groups"]))
        rows = [data["groups"][group] for group in groups]

        def column(key: str) -> tuple[int, ...]:
            return tuple(int(row[key]) for row in rows)

        has_calibration = bool(rows) and all(row["calibration"] is not None for row in rows)
        return cls(
            groups=groups,
            n=column("n"),
            selected=column("selected"),
            labelled=column("labelled"),
            positives=column("positives"),
            tp=column("tp"),
            fp=column("fp"),
            tn=column("tn"),
            fn=column("fn"),
            calibration_bins=int(data["calibration_bins"]),
            calibration_counts=tuple(
                tuple(int(v) for v in row["calibration"]["counts"]) for row in rows
            )
            if has_calibration
            else None,
            calibration_score_sums=tuple(
                tuple(float(v) for v in row["calibration"]["score_sums"]) for row in rows
            )
            if has_calibration
            else None,
            calibration_positives=tuple(
                tuple(int(v) for v in row["calibration"]["positives"]) for row in rows
            )
            if has_calibration
            else None,
            dropped_missing_attribute=int(data["dropped_missing_attribute"]),
        )


_COUNT_KEYS = ("n", "selected", "labelled", "positives", "tp", "fp", "tn", "fn")


def pooled_counts(windows: Sequence[GroupCounts]) -> GroupCounts:
    """The counts of several windows (consecutive days) of one attribute added group by group,
    so a group too small to judge on one day is judged on its rows of the last few days.
    Calibration bins are kept only when every window has them with the same bin count."""
    if not windows:
        raise MetricInputError(EMPTY_ROWS)
    dicts = [window.to_dict() for window in windows]
    bins = {d["calibration_bins"] for d in dicts}
    keep_calibration = len(bins) == 1 and all(w.calibration_counts is not None for w in windows)
    groups: dict[str, dict[str, Any]] = {}
    for data in dicts:
        for group, row in data["groups"].items():
            total = groups.setdefault(
                group,
                {
                    key: 0
                    for key in ("n", "selected", "labelled", "positives", "tp", "fp", "tn", "fn")
                }
                | {"calibration": None},
            )
            for key in ("n", "selected", "labelled", "positives", "tp", "fp", "tn", "fn"):
                total[key] += int(row[key])
            if keep_calibration and row["calibration"] is not None:
                previous = total["calibration"]
                total["calibration"] = (
                    dict(row["calibration"])
                    if previous is None
                    else {
                        key: [
                            a + b
                            for a, b in zip(previous[key], row["calibration"][key], strict=True)
                        ]
                        for key in ("counts", "score_sums", "positives")
                    }
                )
    if not keep_calibration or any(row["calibration"] is None for row in groups.values()):
        for row in groups.values():
            row["calibration"] = None
    return GroupCounts.from_dict(
        {
            "groups": groups,
            "calibration_bins": dicts[0]["calibration_bins"],
            "dropped_missing_attribute": sum(d["dropped_missing_attribute"] for d in dicts),
        }
    )


def _as_float(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    if isinstance(values, pd.Series):
        series = values
    else:
        array = np.asarray(values)
        series = pd.Series(array if array.dtype.kind in NUMBER_KINDS else array.astype(object))
    if series.dtype.kind in NUMBER_KINDS:
        # Numbers (nullable ones included) convert directly; the Float64 round trip is for
        # objects, where it rejects text, and would copy a million-row column for nothing.
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def _check_favourable(favourable: int) -> None:
    if favourable not in (0, 1) or isinstance(favourable, bool):
        raise MetricInputError(BAD_FAVOURABLE.format(value=favourable))


def binary_labels(y_true: npt.ArrayLike, *, favourable: int = 1) -> npt.NDArray[np.float64]:
    """Labels as floats, 1.0 where the outcome is ``favourable`` (the model's 0 or 1) and 0.0
    where it is not, NaN where the label is missing (None, NaN, pd.NA)."""
    _check_favourable(favourable)
    try:
        labels = _as_float(y_true)
    except (TypeError, ValueError) as error:
        raise MetricInputError(BAD_LABELS) from error
    if not np.isin(labels[~np.isnan(labels)], (0.0, 1.0)).all():
        raise MetricInputError(BAD_LABELS)
    return labels if favourable == 1 else 1.0 - labels


def binary_predictions(y_pred: npt.ArrayLike, *, favourable: int = 1) -> npt.NDArray[np.bool_]:
    """Predictions as booleans, True where the decision is ``favourable`` (the model's 0 or 1,
    the outcome a selection rate counts); anything but 0/1 (missing included) is an error."""
    _check_favourable(favourable)
    try:
        predictions = _as_float(y_pred)
    except (TypeError, ValueError) as error:
        raise MetricInputError(BAD_PREDICTIONS) from error
    if not np.isin(predictions, (0.0, 1.0)).all():
        raise MetricInputError(BAD_PREDICTIONS)
    return predictions == float(favourable)


def _scores(scores: npt.ArrayLike, *, favourable: int) -> npt.NDArray[np.float64]:
    """Scores, the probability of the model's class 1, as the probability of the favourable
    outcome."""
    try:
        values = _as_float(scores)
    except (TypeError, ValueError) as error:
        raise MetricInputError(BAD_SCORES) from error
    present = values[~np.isnan(values)]
    if np.any((present < 0) | (present > 1)):
        raise MetricInputError(BAD_SCORES)
    return values if favourable == 1 else 1.0 - values


def intersectional_groups(
    attributes: Mapping[str, npt.ArrayLike],
) -> tuple[str, npt.NDArray[np.object_]]:
    """Name and labels of the intersection of attributes, e.g. ``gender&age_band``,
    ``female&18-25``; a row missing any attribute is missing in the intersection."""
    if not attributes:
        raise MetricInputError(NO_ATTRIBUTES)
    columns = [pd.Series(np.asarray(values, dtype=object)) for values in attributes.values()]
    if len({len(column) for column in columns}) != 1:
        raise MetricInputError(LENGTH_MISMATCH)
    missing = np.logical_or.reduce([column.isna().to_numpy() for column in columns])
    joined = category_keys(columns[0]).astype(str)
    for column in columns[1:]:
        joined = joined + INTERSECTION_SEPARATOR + category_keys(column).astype(str)
    labels = joined.to_numpy(dtype=object)
    labels[missing] = None
    return INTERSECTION_SEPARATOR.join(attributes), labels


def group_counts(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    sensitive_features: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    favourable_label: int = 1,
    favourable_prediction: int = 1,
    calibration_bins: int = DEFAULT_CALIBRATION_BINS,
) -> GroupCounts:
    """Per-group counts in one bincount pass (see module doc); groups sorted as strings.

    ``favourable_label`` and ``favourable_prediction`` name the model's value (0 or 1) of the
    favourable outcome: "selected" and "positive" count that outcome, and ``scores`` (the
    probability of class 1) are read as its probability, so a model whose class 1 is
    unfavourable (a risk score) is measured the right way round."""
    if calibration_bins < 1:
        raise MetricInputError(BAD_CALIBRATION_BINS.format(bins=calibration_bins))
    attribute = pd.Series(np.asarray(sensitive_features, dtype=object))
    labels = binary_labels(y_true, favourable=favourable_label)
    selected = binary_predictions(y_pred, favourable=favourable_prediction)
    score_values = None if scores is None else _scores(scores, favourable=favourable_prediction)
    lengths = {len(attribute), labels.size, selected.size}
    if score_values is not None:
        lengths.add(score_values.size)
    if len(lengths) != 1:
        raise MetricInputError(LENGTH_MISMATCH)
    if len(attribute) == 0:
        raise MetricInputError(EMPTY_ROWS)
    present = attribute.notna().to_numpy()
    if not present.any():
        raise MetricInputError(NO_GROUPS.format(dropped=len(attribute)))
    # Groups by value, as categories are keyed everywhere (1 and 1.0 are one group).
    codes, uniques = pd.factorize(category_keys(attribute[present]), sort=True)
    group_total = len(uniques)
    labels, selected = labels[present], selected[present]
    # One bincount over group x label (0, 1, missing) x selected: cells[group, label, selected].
    label_state = np.where(np.isnan(labels), 2, labels).astype(np.intp)
    cells = np.bincount(
        (codes * 3 + label_state) * 2 + selected, minlength=group_total * 6
    ).reshape(group_total, 3, 2)

    calibration: dict[str, Any] = {}
    if score_values is not None:
        calibration = _calibration_counts(
            codes, group_total, score_values[present], labels, calibration_bins
        )
    return GroupCounts.from_cells(
        [str(group) for group in uniques],
        cells,
        calibration_bins=calibration_bins,
        dropped_missing_attribute=int((~present).sum()),
        **calibration,
    )


def _calibration_counts(
    codes: npt.NDArray[np.intp],
    group_total: int,
    scores: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    bins: int,
) -> dict[str, Any]:
    usable = ~np.isnan(labels) & ~np.isnan(scores)
    score_bin = np.minimum((scores[usable] * bins).astype(np.intp), bins - 1)
    cell = codes[usable] * bins + score_bin
    size = group_total * bins

    def grid(weights: npt.NDArray[np.float64] | None) -> npt.NDArray[Any]:
        return np.bincount(cell, weights=weights, minlength=size).reshape(group_total, bins)

    return {
        "calibration_counts": tuple(tuple(row) for row in grid(None).astype(int).tolist()),
        "calibration_score_sums": tuple(tuple(row) for row in grid(scores[usable]).tolist()),
        "calibration_positives": tuple(
            tuple(row) for row in grid(labels[usable]).round().astype(int).tolist()
        ),
    }


@dataclass(frozen=True)
class GroupCalibration:
    """Calibration of one group over its labelled, scored rows."""

    rows: int
    mean_score: float | None
    observed_positive_rate: float | None
    calibration_in_the_large: float | None
    expected_calibration_error: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _calibration_bins(counts: GroupCounts, group: str) -> tuple[npt.NDArray[np.float64], ...]:
    """One group's score bins: rows, score sums and positives per bin."""
    if counts.calibration_counts is None:
        raise MetricInputError(NO_SCORES)
    assert counts.calibration_score_sums is not None
    assert counts.calibration_positives is not None
    position = counts.index(group)
    return tuple(
        np.asarray(per_bin[position], dtype=np.float64)
        for per_bin in (
            counts.calibration_counts,
            counts.calibration_score_sums,
            counts.calibration_positives,
        )
    )


def group_calibration(counts: GroupCounts, group: str) -> GroupCalibration:
    """Mean score, observed positive rate, their difference and the ECE of one group."""
    bin_rows, score_sums, positives = _calibration_bins(counts, group)
    rows = int(bin_rows.sum())
    if rows == 0:
        return GroupCalibration(0, None, None, None, None)
    mean_score = float(score_sums.sum() / rows)
    positive_rate = float(positives.sum() / rows)
    filled = bin_rows > 0
    bin_gaps = np.abs(score_sums[filled] - positives[filled]) / bin_rows[filled]
    ece = float(np.sum(bin_rows[filled] / rows * bin_gaps))
    return GroupCalibration(rows, mean_score, positive_rate, mean_score - positive_rate, ece)


@dataclass(frozen=True)
class GroupRates:
    """Rates of one group with their intervals."""

    group: str
    n: int
    selection_rate: Rate
    true_positive_rate: Rate
    false_positive_rate: Rate
    positive_predictive_value: Rate
    calibration: GroupCalibration | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "n": self.n,
            "selection_rate": self.selection_rate.to_dict(),
            "true_positive_rate": self.true_positive_rate.to_dict(),
            "false_positive_rate": self.false_positive_rate.to_dict(),
            "positive_predictive_value": self.positive_predictive_value.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }


def group_rates(
    counts: GroupCounts, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[GroupRates, ...]:
    """Selection rate, TPR, FPR, PPV (and calibration when scored) of every group."""
    result = []
    for position, group in enumerate(counts.groups):
        tp, fp = counts.tp[position], counts.fp[position]
        tn, fn = counts.tn[position], counts.fn[position]
        result.append(
            GroupRates(
                group=group,
                n=counts.n[position],
                selection_rate=rate(
                    counts.selected[position], counts.n[position], confidence=confidence
                ),
                true_positive_rate=rate(tp, tp + fn, confidence=confidence),
                false_positive_rate=rate(fp, fp + tn, confidence=confidence),
                positive_predictive_value=rate(tp, tp + fp, confidence=confidence),
                calibration=None
                if counts.calibration_counts is None
                else group_calibration(counts, group),
            )
        )
    return tuple(result)


@dataclass(frozen=True)
class FairnessMetric:
    """One fairness metric of one attribute, with the groups it compared and those it could not."""

    name: str
    attribute: str
    status: MetricStatus
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    max_group: str | None = None
    min_group: str | None = None
    groups_compared: tuple[str, ...] = ()
    excluded_groups: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups_compared"] = list(self.groups_compared)
        return data


CountOf = Callable[[GroupCounts, int], int]


def _selected(c: GroupCounts, i: int) -> int:
    return c.selected[i]


def _rows(c: GroupCounts, i: int) -> int:
    return c.n[i]


def _true_positives(c: GroupCounts, i: int) -> int:
    return c.tp[i]


def _actual_positives(c: GroupCounts, i: int) -> int:
    return c.tp[i] + c.fn[i]


def _false_positives(c: GroupCounts, i: int) -> int:
    return c.fp[i]


def _actual_negatives(c: GroupCounts, i: int) -> int:
    return c.fp[i] + c.tn[i]


def _predicted_positives(c: GroupCounts, i: int) -> int:
    return c.tp[i] + c.fp[i]


RATE_DEFINITIONS: dict[str, tuple[CountOf, CountOf]] = {
    "selection_rate": (_selected, _rows),
    "true_positive_rate": (_true_positives, _actual_positives),
    "false_positive_rate": (_false_positives, _actual_negatives),
    "positive_predictive_value": (_true_positives, _predicted_positives),
}


def _check_min_group_size(min_group_size: int) -> None:
    if min_group_size < 1:
        raise MetricInputError(BAD_MIN_GROUP_SIZE.format(size=min_group_size))


def _eligible(
    counts: GroupCounts, denominator: CountOf, min_group_size: int, within: set[str] | None
) -> tuple[list[int], dict[str, int]]:
    eligible, excluded = [], {}
    for position, group in enumerate(counts.groups):
        if within is not None and group not in within:
            continue
        size = denominator(counts, position)
        if size >= min_group_size:
            eligible.append(position)
        else:
            excluded[group] = size
    return eligible, excluded


def _extremes(
    counts: GroupCounts, rate_name: str, min_group_size: int, within: set[str] | None = None
) -> tuple[list[int], dict[str, int], int, int]:
    numerator, denominator = RATE_DEFINITIONS[rate_name]
    eligible, excluded = _eligible(counts, denominator, min_group_size, within)
    if len(eligible) < 2:
        return eligible, excluded, -1, -1
    rates = [numerator(counts, i) / denominator(counts, i) for i in eligible]
    # Ties resolve to the first group in sorted order, so results are deterministic.
    return eligible, excluded, eligible[int(np.argmax(rates))], eligible[int(np.argmin(rates))]


def inconclusive_metric(
    name: str,
    attribute: str,
    excluded: dict[str, int],
    reason: str,
    details: dict[str, Any] | None = None,
) -> FairnessMetric:
    """A metric that could not be computed, with the groups left out and the reason."""
    return FairnessMetric(
        name,
        attribute,
        "inconclusive",
        None,
        excluded_groups=excluded,
        reason=reason,
        details=details or {},
    )


def rate_difference(
    counts: GroupCounts,
    *,
    rate_name: str,
    metric_name: str,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
    within: set[str] | None = None,
) -> FairnessMetric:
    """max - min of a rate over eligible groups, with Newcombe's interval for that pair."""
    _check_min_group_size(min_group_size)
    two_sided_z(confidence)  # refuses a confidence outside (0, 1) before any work
    eligible, excluded, high, low = _extremes(counts, rate_name, min_group_size, within)
    if len(eligible) < 2:
        return inconclusive_metric(
            metric_name, attribute, excluded, TOO_FEW_GROUPS.format(size=min_group_size)
        )
    numerator, denominator = RATE_DEFINITIONS[rate_name]
    rates = {
        i: rate(numerator(counts, i), denominator(counts, i), confidence=confidence)
        for i in eligible
    }
    difference, lower, upper = _newcombe(rates[high], rates[low])
    # Every pair's interval bounds the gap (max over pairs): the largest lower end and the
    # largest upper end hold for the true gap whenever all pairs' intervals do.
    pairs = [_newcombe(rates[i], rates[j]) for i in eligible for j in eligible if i != j]
    return FairnessMetric(
        metric_name,
        attribute,
        "computed",
        difference,
        ci_low=lower,
        ci_high=upper,
        max_group=counts.groups[high],
        min_group=counts.groups[low],
        groups_compared=tuple(counts.groups[i] for i in eligible),
        excluded_groups=excluded,
        details=_simultaneous(max(pair[1] for pair in pairs), max(pair[2] for pair in pairs)),
    )


def _newcombe(high: Rate, low: Rate) -> tuple[float, float, float]:
    """``high - low`` and Newcombe's interval for it, from the two rates' Wilson intervals."""
    assert high.value is not None and low.value is not None
    assert high.ci_low is not None and high.ci_high is not None
    assert low.ci_low is not None and low.ci_high is not None
    difference = high.value - low.value
    lower = difference - math.hypot(high.value - high.ci_low, low.ci_high - low.value)
    upper = difference + math.hypot(high.ci_high - high.value, low.value - low.ci_low)
    return difference, lower, upper


def _simultaneous(low: float, high: float) -> dict[str, float]:
    """The interval for the attribute's true metric implied by every pair of groups' interval
    at once (the metric is the extreme over pairs): narrower than the extreme pair's own
    when a large pair shows what a noisy small group only hints at. Judged on (see
    ``govflow.monitoring.analysis.fairness_verdict``); the pairs' confidence is corrected
    for their number by the caller."""
    return {"simultaneous_ci_low": low, "simultaneous_ci_high": high}


def rate_ratio(
    counts: GroupCounts,
    *,
    rate_name: str,
    metric_name: str,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """min / max of a rate over eligible groups, with the MOVER-R interval for that pair."""
    _check_min_group_size(min_group_size)
    z = two_sided_z(confidence)
    eligible, excluded, high, low = _extremes(counts, rate_name, min_group_size)
    if len(eligible) < 2:
        return inconclusive_metric(
            metric_name, attribute, excluded, TOO_FEW_GROUPS.format(size=min_group_size)
        )
    numerator, denominator = RATE_DEFINITIONS[rate_name]
    tallies = {i: (float(numerator(counts, i)), float(denominator(counts, i))) for i in eligible}
    if tallies[high][0] == 0:
        return inconclusive_metric(metric_name, attribute, excluded, NOTHING_SELECTED)
    ratio, lower, upper = _ratio_interval(tallies[low], tallies[high], z)
    # The ratio is the smallest over pairs: every pair's interval bounds it from above, and
    # the smallest lower end bounds it from below (pairs whose denominator group selected
    # nobody have no finite ratio and bound nothing).
    pairs = [
        _ratio_interval(tallies[i], tallies[j], z)
        for i in eligible
        for j in eligible
        if i != j and tallies[j][0] > 0
    ]
    return FairnessMetric(
        metric_name,
        attribute,
        "computed",
        ratio,
        ci_low=lower,
        ci_high=upper,
        max_group=counts.groups[high],
        min_group=counts.groups[low],
        groups_compared=tuple(counts.groups[i] for i in eligible),
        excluded_groups=excluded,
        details=_simultaneous(min(pair[1] for pair in pairs), min(pair[2] for pair in pairs)),
    )


def _ratio_interval(
    low: tuple[float, float], high: tuple[float, float], z: float
) -> tuple[float, float, float]:
    """The ratio of two rates (successes, trials; the second's above 0) and its MOVER-R
    interval from the two Wilson intervals (Donner & Zou 2012)."""
    (x_low, n_low), (x_high, n_high) = low, high
    p1, p2 = x_low / n_low, x_high / n_high
    l1, u1 = _wilson(x_low, n_low, z)
    l2, u2 = _wilson(x_high, n_high, z)
    product = p1 * p2
    lower_denominator = u2 * (2 * p2 - u2)
    lower = (
        (product - math.sqrt(max(0.0, product**2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2))))
        / lower_denominator
        if lower_denominator > 0
        else 0.0
    )
    upper_denominator = l2 * (2 * p2 - l2)
    upper = (
        (product + math.sqrt(max(0.0, product**2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2))))
        / upper_denominator
        if upper_denominator > 0
        else math.inf
    )
    return p1 / p2, max(0.0, lower), upper


def _wilson(successes: float, trials: float, z: float) -> tuple[float, float]:
    """Wilson's interval at a given z (``wilson_interval`` takes a confidence)."""
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    half_width /= denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def demographic_parity_difference(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max - min selection rate."""
    return rate_difference(
        counts,
        rate_name="selection_rate",
        metric_name="demographic_parity_difference",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def disparate_impact_ratio(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Min / max selection rate (the 80% rule's ratio)."""
    return rate_ratio(
        counts,
        rate_name="selection_rate",
        metric_name="disparate_impact_ratio",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def equal_opportunity_difference(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max - min true positive rate."""
    return rate_difference(
        counts,
        rate_name="true_positive_rate",
        metric_name="equal_opportunity_difference",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def equalized_odds_difference(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max of the TPR and FPR differences over groups eligible for both."""
    _, excluded_tpr = _eligible(counts, _actual_positives, min_group_size, None)
    _, excluded_fpr = _eligible(counts, _actual_negatives, min_group_size, None)
    both = set(counts.groups) - set(excluded_tpr) - set(excluded_fpr)
    excluded = {**excluded_fpr, **excluded_tpr}
    gaps = [
        rate_difference(
            counts,
            rate_name=rate_name,
            metric_name="equalized_odds_difference",
            attribute=attribute,
            min_group_size=min_group_size,
            confidence=confidence,
            within=both,
        )
        for rate_name in ("true_positive_rate", "false_positive_rate")
    ]
    if any(gap.value is None for gap in gaps):
        return inconclusive_metric(
            "equalized_odds_difference",
            attribute,
            excluded,
            TOO_FEW_GROUPS.format(size=min_group_size),
        )
    tpr_gap, fpr_gap = gaps
    assert tpr_gap.value is not None and fpr_gap.value is not None
    assert tpr_gap.ci_low is not None and fpr_gap.ci_low is not None
    assert tpr_gap.ci_high is not None and fpr_gap.ci_high is not None
    worst = tpr_gap if tpr_gap.value >= fpr_gap.value else fpr_gap
    return FairnessMetric(
        "equalized_odds_difference",
        attribute,
        "computed",
        worst.value,
        ci_low=max(tpr_gap.ci_low, fpr_gap.ci_low),
        ci_high=max(tpr_gap.ci_high, fpr_gap.ci_high),
        max_group=worst.max_group,
        min_group=worst.min_group,
        groups_compared=worst.groups_compared,
        excluded_groups=excluded,
        details={
            "true_positive_rate_difference": tpr_gap.value,
            "false_positive_rate_difference": fpr_gap.value,
            **_simultaneous(
                max(simultaneous_interval(gap)[0] for gap in gaps),
                max(simultaneous_interval(gap)[1] for gap in gaps),
            ),
        },
    )


def true_positive_rate_ratio(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Min / max true positive rate."""
    return rate_ratio(
        counts,
        rate_name="true_positive_rate",
        metric_name="true_positive_rate_ratio",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def false_positive_rate_difference(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max - min false positive rate."""
    return rate_difference(
        counts,
        rate_name="false_positive_rate",
        metric_name="false_positive_rate_difference",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def false_positive_rate_ratio(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Min / max false positive rate."""
    return rate_ratio(
        counts,
        rate_name="false_positive_rate",
        metric_name="false_positive_rate_ratio",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def predictive_parity_difference(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max - min precision (positive predictive value)."""
    return rate_difference(
        counts,
        rate_name="positive_predictive_value",
        metric_name="predictive_parity_difference",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def calibration_gap(
    counts: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """Max - min calibration-in-the-large (mean score - observed positive rate) over groups,
    with each group's interval from ``calibration_interval``, each pair's difference by
    MOVER from the two groups' intervals, and the simultaneous interval of every pair, as
    ``rate_difference`` gives its gaps."""
    _check_min_group_size(min_group_size)
    z = two_sided_z(confidence)
    calibrations = {group: group_calibration(counts, group) for group in counts.groups}
    excluded = {g: c.rows for g, c in calibrations.items() if c.rows < min_group_size}
    eligible = {
        g: c.calibration_in_the_large
        for g, c in calibrations.items()
        if c.rows >= min_group_size and c.calibration_in_the_large is not None
    }
    if len(eligible) < 2:
        return inconclusive_metric(
            "calibration_gap", attribute, excluded, TOO_FEW_GROUPS.format(size=min_group_size)
        )
    intervals = {group: calibration_interval(counts, group, z) for group in eligible}

    def pair(i: str, j: str) -> tuple[float, float, float]:
        (value_i, low_i, high_i), (value_j, low_j, high_j) = intervals[i], intervals[j]
        difference = value_i - value_j
        lower = difference - math.hypot(value_i - low_i, high_j - value_j)
        upper = difference + math.hypot(high_i - value_i, value_j - low_j)
        return difference, lower, upper

    high = max(eligible, key=lambda group: eligible[group])
    low = min(eligible, key=lambda group: eligible[group])
    difference, lower, upper = pair(high, low)
    pairs = [pair(i, j) for i in eligible for j in eligible if i != j]
    return FairnessMetric(
        "calibration_gap",
        attribute,
        "computed",
        difference,
        ci_low=lower,
        ci_high=upper,
        max_group=high,
        min_group=low,
        groups_compared=tuple(eligible),
        excluded_groups=excluded,
        details=_simultaneous(max(p[1] for p in pairs), max(p[2] for p in pairs)),
    )


def calibration_interval(counts: GroupCounts, group: str, z: float) -> tuple[float, float, float]:
    """One group's calibration-in-the-large ``mean score - observed positive rate`` and its
    interval at ``z``, by MOVER (Newcombe's method) from Wilson's interval for the rate and
    a normal one for the mean score. A normal interval for the whole difference is far too
    narrow when few of a small group's rows are positive (4 of 42 where the scores expect
    13): at 99 % on 40 calibrated rows whose scores average 0.11, its lower end missed 0 on
    4.1 % of samples instead of 0.5 %; this one on none, its upper end on 0.5 %. The two
    estimates are taken as uncorrelated: score and label go together in any model worth
    monitoring, which only makes the interval wider than it need be (about 1.2x the
    normal one on 2,000 rows), never narrower."""
    rows, score_sums, positives = _calibration_bins(counts, group)
    total = float(rows.sum())
    successes = float(positives.sum())
    mean_score, rate = float(score_sums.sum()) / total, successes / total
    filled = rows > 0
    means = score_sums[filled] / rows[filled]
    # Every score at its bin's mean, plus the variance a score can have inside its bin at
    # most: the score's spread is never understated by the binning.
    within_bin = (1 / counts.calibration_bins) ** 2 / 4
    score_variance = max(float(np.sum(rows[filled] * means**2)) / total - mean_score**2, 0.0)
    score_margin = z * math.sqrt((score_variance + within_bin) / total)
    rate_low, rate_high = _wilson(successes, total, z)
    value = mean_score - rate
    return (
        value,
        value - math.hypot(score_margin, rate_high - rate),
        value + math.hypot(score_margin, rate - rate_low),
    )


def _parity_drift(
    current: GroupCounts,
    baseline: GroupCounts,
    *,
    rate_name: str,
    metric_name: str,
    attribute: str,
    min_group_size: int,
    confidence: float,
) -> FairnessMetric:
    _check_min_group_size(min_group_size)
    denominator = RATE_DEFINITIONS[rate_name][1]
    current_ok, current_excluded = _eligible(current, denominator, min_group_size, None)
    baseline_ok, baseline_excluded = _eligible(baseline, denominator, min_group_size, None)
    common = {current.groups[i] for i in current_ok} & {baseline.groups[i] for i in baseline_ok}
    details: dict[str, Any] = {
        "absent_groups": {
            g: baseline.n[baseline.index(g)] for g in baseline.groups if g not in current.groups
        },
        "new_groups": {
            g: current.n[current.index(g)] for g in current.groups if g not in baseline.groups
        },
        "baseline_excluded_groups": baseline_excluded,
    }
    gaps = [
        rate_difference(
            counts,
            rate_name=rate_name,
            metric_name=metric_name,
            attribute=attribute,
            min_group_size=min_group_size,
            confidence=confidence,
            within=common,
        )
        for counts in (current, baseline)
    ]
    current_gap, baseline_gap = gaps
    if current_gap.value is None or baseline_gap.value is None:
        return inconclusive_metric(
            metric_name,
            attribute,
            current_excluded,
            TOO_FEW_GROUPS.format(size=min_group_size),
            details,
        )
    change, change_low, change_high = _change_interval(current_gap, baseline_gap)
    details.update(
        current=current_gap.value,
        baseline=baseline_gap.value,
        current_max_group=current_gap.max_group,
        current_min_group=current_gap.min_group,
        baseline_max_group=baseline_gap.max_group,
        baseline_min_group=baseline_gap.min_group,
        change=change,
        change_ci_low=change_low,
        change_ci_high=change_high,
    )
    # |change|'s interval: the absolute value of the change's interval, folded at 0.
    if change_low > 0:
        low, high = change_low, change_high
    elif change_high < 0:
        low, high = -change_high, -change_low
    else:
        low, high = 0.0, max(-change_low, change_high)
    return FairnessMetric(
        metric_name,
        attribute,
        "computed",
        abs(change),
        ci_low=low,
        ci_high=high,
        max_group=current_gap.max_group,
        min_group=current_gap.min_group,
        groups_compared=tuple(sorted(common)),
        excluded_groups=current_excluded,
        details=details,
    )


def _change_interval(
    current: FairnessMetric, baseline: FairnessMetric
) -> tuple[float, float, float]:
    """current - baseline with the MOVER interval (Newcombe's method of variance estimates
    recovery) built from the two gaps' intervals: the baseline's own sampling error counts,
    since a validation set of a few thousand rows is not the truth."""
    assert current.value is not None and baseline.value is not None
    (current_low, current_high), (baseline_low, baseline_high) = (
        simultaneous_interval(current),
        simultaneous_interval(baseline),
    )
    change = current.value - baseline.value
    low = change - math.hypot(current.value - current_low, baseline_high - baseline.value)
    high = change + math.hypot(current_high - current.value, baseline.value - baseline_low)
    return change, low, high


def simultaneous_interval(metric: FairnessMetric) -> tuple[float, float]:
    """The interval a verdict is judged on: every pair's at once when the metric has them,
    else its own (see ``_simultaneous``)."""
    low = metric.details.get("simultaneous_ci_low", metric.ci_low)
    high = metric.details.get("simultaneous_ci_high", metric.ci_high)
    assert low is not None and high is not None
    return low, high


def demographic_parity_drift(
    current: GroupCounts,
    baseline: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """|DP difference now - DP difference at baseline| over groups eligible in both."""
    return _parity_drift(
        current,
        baseline,
        rate_name="selection_rate",
        metric_name="demographic_parity_drift",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


def equal_opportunity_drift(
    current: GroupCounts,
    baseline: GroupCounts,
    *,
    attribute: str = "",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessMetric:
    """|EO difference now - EO difference at baseline| over groups eligible in both."""
    return _parity_drift(
        current,
        baseline,
        rate_name="true_positive_rate",
        metric_name="equal_opportunity_drift",
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
    )


@dataclass(frozen=True)
class FairnessReport:
    """Every fairness rate and metric of one protected attribute (or intersection)."""

    attribute: str
    min_group_size: int
    confidence: float
    groups: tuple[GroupRates, ...]
    metrics: dict[str, FairnessMetric]
    excluded_groups: dict[str, int]
    unlabelled_rows: int
    dropped_missing_attribute: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "min_group_size": self.min_group_size,
            "confidence": self.confidence,
            "groups": [group.to_dict() for group in self.groups],
            "metrics": {name: metric.to_dict() for name, metric in self.metrics.items()},
            "excluded_groups": dict(self.excluded_groups),
            "unlabelled_rows": self.unlabelled_rows,
            "dropped_missing_attribute": self.dropped_missing_attribute,
        }


def fairness_report(
    counts: GroupCounts,
    *,
    attribute: str,
    baseline: GroupCounts | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
) -> FairnessReport:
    """All rates and metrics of one attribute; drift metrics too when a baseline is given."""
    metric_functions: tuple[Callable[..., FairnessMetric], ...] = (
        demographic_parity_difference,
        disparate_impact_ratio,
        equal_opportunity_difference,
        true_positive_rate_ratio,
        false_positive_rate_difference,
        false_positive_rate_ratio,
        equalized_odds_difference,
        predictive_parity_difference,
    )
    metrics = {
        function.__name__: function(
            counts, attribute=attribute, min_group_size=min_group_size, confidence=confidence
        )
        for function in metric_functions
    }
    if counts.calibration_counts is not None:
        metrics["calibration_gap"] = calibration_gap(
            counts, attribute=attribute, min_group_size=min_group_size, confidence=confidence
        )
    if baseline is not None:
        for drift in (demographic_parity_drift, equal_opportunity_drift):
            metrics[drift.__name__] = drift(
                counts,
                baseline,
                attribute=attribute,
                min_group_size=min_group_size,
                confidence=confidence,
            )
    return FairnessReport(
        attribute=attribute,
        min_group_size=min_group_size,
        confidence=confidence,
        groups=group_rates(counts, confidence=confidence),
        metrics=metrics,
        excluded_groups={
            g: n for g, n in zip(counts.groups, counts.n, strict=True) if n < min_group_size
        },
        unlabelled_rows=sum(counts.n) - sum(counts.labelled),
        dropped_missing_attribute=counts.dropped_missing_attribute,
    )


# A group's size for a metric is the denominator of the rates the metric compares (the
# ``min_group_size`` it must reach): rows for a selection rate, actual positives for a true
# positive rate, actual negatives for a false positive rate, labelled favourable predictions
# for precision, labelled scored rows for calibration.
METRIC_RATES: dict[str, str] = {
    "demographic_parity_difference": "selection_rate",
    "disparate_impact_ratio": "selection_rate",
    "demographic_parity_drift": "selection_rate",
    "equal_opportunity_difference": "true_positive_rate",
    "true_positive_rate_ratio": "true_positive_rate",
    "equal_opportunity_drift": "true_positive_rate",
    "false_positive_rate_difference": "false_positive_rate",
    "false_positive_rate_ratio": "false_positive_rate",
    "predictive_parity_difference": "positive_predictive_value",
}
GROUP_SIZES_COUNT: dict[str, str] = {
    "selection_rate": "rows",
    "true_positive_rate": "actual positives",
    "false_positive_rate": "actual negatives",
    "positive_predictive_value": "labelled favourable predictions",
}
CALIBRATION_ROWS = "labelled scored rows"


def _compared_rate(metric: FairnessMetric) -> str:
    if metric.name == "equalized_odds_difference":  # the larger of its two gaps is its value
        tpr = metric.details.get("true_positive_rate_difference")
        fpr = metric.details.get("false_positive_rate_difference")
        larger_fpr = tpr is not None and fpr is not None and fpr > tpr
        return "false_positive_rate" if larger_fpr else "true_positive_rate"
    return METRIC_RATES.get(metric.name, "selection_rate")


def judged_group_sizes(
    groups: Sequence[GroupRates], metric: FairnessMetric
) -> tuple[dict[str, int], str]:
    """Each group the metric compared, then each it left out, with the size it was judged on
    (the denominator of the metric's rates: a true positive rate's 326 positives, not the
    group's 980 rows), and what that size counts (``rows``, ``actual positives``, ...)."""
    rates = {group.group: group for group in groups}
    if metric.name == "calibration_gap":
        counted = CALIBRATION_ROWS
        sizes = {
            name: 0 if group.calibration is None else group.calibration.rows
            for name, group in rates.items()
        }
    else:
        rate_name = _compared_rate(metric)
        counted = GROUP_SIZES_COUNT[rate_name]
        sizes = {name: getattr(group, rate_name).denominator for name, group in rates.items()}
    judged = {group: sizes.get(group, 0) for group in metric.groups_compared}
    # A group left out is shown with the size it fell short on (the metric's own count).
    judged.update(metric.excluded_groups)
    return judged, counted


def group_sizes_label(details: Mapping[str, Any]) -> str:
    """``rows per group``, or what else a finding's group sizes count (``actual positives
    per group``): how the sizes a finding stores under ``group_sizes`` are introduced."""
    return f"{details.get('group_sizes_counted') or 'rows'} per group"


TOO_SMALL = "left out as too small to compare: {groups}"


def group_sizes_text(details: Mapping[str, Any]) -> str:
    """A finding's group sizes in words, the groups it compared apart from those it left out
    as below min_group_size (``rows per group female 935, male 1031; left out as too small to
    compare: non_binary 34``): a left-out group listed among the others reads as compared.
    Empty when the finding stored no sizes."""
    sizes = details.get("group_sizes") or {}
    excluded = details.get("excluded_groups") or {}
    if not isinstance(excluded, Mapping):
        excluded = {group: sizes.get(group, "") for group in excluded}
    compared = ", ".join(f"{group} {n}" for group, n in sizes.items() if group not in excluded)
    parts = [f"{group_sizes_label(details)} {compared}"] if compared else []
    if excluded:
        left_out = ", ".join(f"{group} {n}".strip() for group, n in excluded.items())
        parts.append(TOO_SMALL.format(groups=left_out))
    return "; ".join(parts)
