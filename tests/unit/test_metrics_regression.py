"""Issue 14 item 4: a regressor's model drift and fairness, with exact numbers, and its
fairness checked against a plain numpy oracle."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from govflow.metrics import (
    ErrorSummary,
    MetricInputError,
    NumericReference,
    absolute_errors,
    bin_counts,
    error_increase,
    error_summary,
    numeric_reference,
    output_spread_change,
    paired_error_increase,
    prediction_shift,
    regression_fairness,
    total_variation_distance,
)
from govflow.metrics.fairness import group_sizes_label
from govflow.metrics.regression import (
    CONSTANT_BASELINE,
    NOT_FINITE,
    NOT_NUMBERS,
    TOO_FEW_GROUPS,
    TOO_FEW_LABELLED,
    ZERO_BASELINE_ERROR,
)

Z95 = NormalDist().inv_cdf(0.975)


def test_errors_are_measured_on_labelled_rows_only():
    summary = error_summary([1.0, 2.0, 3.0, np.nan], [2.0, 2.0, 5.0, 9.0])

    assert summary.labelled == 3
    assert summary.mae == 1.0
    assert summary.mse == pytest.approx(5 / 3)
    assert summary.rmse == pytest.approx(math.sqrt(5 / 3))
    assert summary.abs_error_sd == pytest.approx(1.0)
    assert summary.squared_error_sd == pytest.approx(np.std([1.0, 0.0, 4.0], ddof=1))


BASELINE = ErrorSummary(labelled=400, mae=10.0, abs_error_sd=8.0, mse=164.0, squared_error_sd=300.0)
CURRENT = ErrorSummary(labelled=200, mae=12.0, abs_error_sd=9.0, mse=225.0, squared_error_sd=500.0)


def test_the_mae_increase_is_relative_with_a_delta_method_interval_holding_both_samples():
    result = error_increase(CURRENT, BASELINE, error="mae")

    se = math.sqrt((9 / math.sqrt(200)) ** 2 + (1.2 * 8 / math.sqrt(400)) ** 2) / 10
    assert result.status == "computed"
    assert result.value == pytest.approx(0.2)
    assert result.details["ci_low"] == pytest.approx(0.2 - Z95 * se)
    assert result.details["ci_high"] == pytest.approx(0.2 + Z95 * se)
    assert (result.details["current_mae"], result.details["baseline_mae"]) == (12.0, 10.0)


def test_the_rmse_increase_takes_the_rmse_standard_error_from_the_squared_errors():
    result = error_increase(CURRENT, BASELINE, error="rmse")

    now, before = 15.0, math.sqrt(164.0)
    se_now = 500 / (2 * now * math.sqrt(200))
    se_before = 300 / (2 * before * math.sqrt(400))
    se = math.hypot(se_now, now / before * se_before) / before
    assert result.value == pytest.approx(now / before - 1)
    assert result.details["ci_low"] == pytest.approx(now / before - 1 - Z95 * se)


def test_a_new_versions_error_increase_on_the_same_rows_takes_the_ratio_estimators_interval():
    # |e| old 1, 1, 2, 2 (MAE 1.5), new 2, 1, 3, 2 (MAE 2): Q = 4/3, residuals
    # a - Q b = 2/3, -1/3, 1/3, -2/3 (sd sqrt(10/27)), se(Q) = sd / (2 * 1.5).
    result = paired_error_increase(
        [0.0, 0.0, 0.0, 0.0, np.nan],
        [2.0, 1.0, 3.0, -2.0, 9.0],
        [1.0, -1.0, 2.0, 2.0, 9.0],
        error="mae",
        min_labelled=4,
    )

    se = math.sqrt(10 / 27) / 3
    assert result.value == pytest.approx(1 / 3)
    assert result.details["ci_low"] == pytest.approx(1 / 3 - Z95 * se)
    assert result.details["ci_high"] == pytest.approx(1 / 3 + Z95 * se)
    assert (result.details["labelled"], result.details["baseline_mae"]) == (4, 1.5)


def test_the_paired_rmse_increase_is_the_root_of_the_mse_ratio_and_of_its_interval_ends():
    labels, new, old = [0.0] * 4, [2.0, 1.0, 3.0, 2.0], [1.0, 1.0, 2.0, 2.0]
    result = paired_error_increase(labels, new, old, error="rmse", min_labelled=4)

    ratio = 18 / 10  # mean e^2: new 18/4, old 10/4
    residuals = np.array([4.0, 1.0, 9.0, 4.0]) - ratio * np.array([1.0, 1.0, 4.0, 4.0])
    se = np.std(residuals, ddof=1) / (2 * 2.5)
    assert result.value == pytest.approx(math.sqrt(ratio) - 1)
    assert result.details["ci_low"] == pytest.approx(math.sqrt(ratio - Z95 * se) - 1)
    assert result.details["ci_high"] == pytest.approx(math.sqrt(ratio + Z95 * se) - 1)


def test_pairing_the_rows_narrows_the_interval_when_both_versions_err_alike():
    rng = np.random.default_rng(4)
    labels = rng.normal(100.0, 20.0, 1000)
    old = labels + rng.normal(0.0, 10.0, 1000)
    new = old + rng.normal(0.0, 2.0, 1000)

    paired = paired_error_increase(labels, new, old, error="mae")
    independent = error_increase(
        error_summary(labels, new), error_summary(labels, old), error="mae"
    )

    assert paired.value == pytest.approx(independent.value)
    paired_width = paired.details["ci_high"] - paired.details["ci_low"]
    assert paired_width < (independent.details["ci_high"] - independent.details["ci_low"]) / 4


def test_a_paired_increase_on_too_few_labelled_rows_is_inconclusive():
    result = paired_error_increase([1.0, np.nan], [2.0, 2.0], [1.5, 2.0], error="mae")

    assert (result.status, result.value) == ("inconclusive", None)
    assert result.reason == TOO_FEW_LABELLED.format(labelled=1, required=100)


@pytest.mark.parametrize(
    ("current", "baseline", "reason"),
    [
        (
            ErrorSummary(50, 12.0, 9.0, 225.0, 500.0),
            BASELINE,
            TOO_FEW_LABELLED.format(labelled=50, required=100),
        ),
        (CURRENT, ErrorSummary(400, 0.0, 0.0, 0.0, 0.0), ZERO_BASELINE_ERROR.format(error="MAE")),
    ],
)
def test_an_error_increase_without_enough_labels_or_a_baseline_error_is_inconclusive(
    current, baseline, reason
):
    result = error_increase(current, baseline, error="mae")

    assert (result.status, result.value, result.reason) == ("inconclusive", None, reason)


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (["12.5", "a lot"], NOT_NUMBERS.format(what="predictions")),
        ([1.0, np.nan, np.inf], NOT_FINITE.format(count=2)),
    ],
)
def test_predictions_that_are_not_finite_numbers_are_refused_by_name(predictions, message):
    with pytest.raises(MetricInputError) as refused:
        error_summary([1.0] * len(predictions), predictions)

    assert str(refused.value) == message


def test_the_prediction_shift_is_the_total_variation_over_the_frozen_deciles():
    rng = np.random.default_rng(1)
    reference = numeric_reference(rng.gamma(2.0, 100.0, 2000), method="deciles")
    current = rng.gamma(2.0, 130.0, 500)

    result = prediction_shift(reference, current)

    expected = total_variation_distance(
        reference.bin_counts, bin_counts(current, reference.bin_edges)
    )
    assert result.value == expected
    assert result.value > 0.1


@pytest.mark.parametrize(
    ("baseline_std", "expected", "ratio"),
    [(math.sqrt(1.25), 0.0, 1.0), (math.sqrt(1.25) / 2, 1.0, 2.0), (math.sqrt(1.25) * 2, 0.5, 0.5)],
)
def test_the_output_spread_change_is_the_distance_of_the_std_ratio_from_one(
    baseline_std, expected, ratio
):
    result = output_spread_change([1.0, 2.0, 3.0, 4.0], baseline_std=baseline_std)

    assert result.value == pytest.approx(expected)
    assert result.details["std_ratio"] == pytest.approx(ratio)


def test_a_constant_baseline_has_no_spread_ratio():
    result = output_spread_change([1.0, 2.0], baseline_std=0.0)

    assert (result.status, result.reason) == ("inconclusive", CONSTANT_BASELINE)


def oracle(values: np.ndarray, groups: np.ndarray, min_size: int, confidence: float) -> dict:
    """The group means, extreme ratio and difference with their intervals, in plain numpy."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    stats = {}
    for group in sorted(set(groups.tolist())):
        chosen = values[(groups == group) & np.isfinite(values)]
        if chosen.size >= min_size:
            stats[group] = (chosen.size, chosen.mean(), chosen.std(ddof=1))
    low = min(stats, key=lambda g: stats[g][1])
    high = max(stats, key=lambda g: stats[g][1])
    (n_lo, m_lo, s_lo), (n_hi, m_hi, s_hi) = stats[low], stats[high]
    se_log = math.sqrt(s_lo**2 / (n_lo * m_lo**2) + s_hi**2 / (n_hi * m_hi**2))
    half = z * math.sqrt(s_lo**2 / n_lo + s_hi**2 / n_hi)
    return {
        "ratio": (
            m_lo / m_hi,
            m_lo / m_hi * math.exp(-z * se_log),
            m_lo / m_hi * math.exp(z * se_log),
        ),
        "difference": (m_hi - m_lo, m_hi - m_lo - half, m_hi - m_lo + half),
        "groups": (low, high),
    }


def test_regression_fairness_matches_a_plain_numpy_oracle():
    rng = np.random.default_rng(7)
    rows = 900
    groups = rng.choice(["a", "b", "c", "d"], rows, p=[0.45, 0.35, 0.17, 0.03])
    predictions = rng.gamma(3.0, 100.0, rows) * np.where(groups == "b", 0.8, 1.0)
    labels = predictions + rng.normal(0, 40, rows) * np.where(groups == "c", 2.0, 1.0)
    labels[rng.random(rows) < 0.2] = np.nan  # not yet observed

    metrics = regression_fairness(
        predictions,
        groups,
        errors=absolute_errors(labels, predictions),
        error_groups=groups,
        attribute="region",
        min_group_size=30,
        confidence=0.99,
    )

    errors = np.abs(predictions - labels)
    for prefix, values in (("mean_prediction", predictions), ("mean_absolute_error", errors)):
        expected = oracle(values, groups, 30, 0.99)
        for kind in ("ratio", "difference"):
            metric = metrics[f"{prefix}_{kind}"]
            assert (metric.value, metric.ci_low, metric.ci_high) == pytest.approx(
                expected[kind], rel=1e-12
            )
            assert (metric.min_group, metric.max_group) == expected["groups"]
            assert metric.groups_compared == ("a", "b", "c")
            assert metric.excluded_groups == {
                "d": int(((groups == "d") & np.isfinite(values)).sum())
            }
    assert metrics["mean_prediction_ratio"].min_group == "b"
    assert metrics["mean_absolute_error_ratio"].min_group in ("a", "b")
    assert metrics["mean_absolute_error_ratio"].max_group == "c"
    sizes = metrics["mean_absolute_error_ratio"].details["group_sizes"]
    assert sizes == {g: int(((groups == g) & np.isfinite(labels)).sum()) for g in "abcd"}


def test_fewer_than_two_groups_large_enough_is_inconclusive_with_the_sizes():
    metrics = regression_fairness([1.0, 2.0, 3.0, 4.0], ["a", "a", "a", "b"], min_group_size=3)

    ratio = metrics["mean_prediction_ratio"]
    assert (ratio.status, ratio.value, ratio.reason) == (
        "inconclusive",
        None,
        TOO_FEW_GROUPS.format(size=3, counted="rows"),
    )
    assert ratio.excluded_groups == {"b": 1}
    assert ratio.details["group_sizes"] == {"a": 3, "b": 1}
    assert set(metrics) == {"mean_prediction_ratio", "mean_prediction_difference"}


# Six rows of two groups; three outcomes observed, one of group a's and two of b's.
SIX_PREDICTIONS = [10.0, 20.0, 30.0, 10.0, 20.0, 30.0]
SIX_GROUPS = ["a", "a", "a", "b", "b", "b"]
SIX_LABELS = [12.0, np.nan, np.nan, 11.0, 26.0, np.nan]


@pytest.mark.parametrize(
    ("metric", "sizes", "label", "excluded", "reason"),
    [
        ("mean_prediction_ratio", {"a": 3, "b": 3}, "rows per group", {}, None),
        (
            "mean_absolute_error_ratio",
            {"a": 1, "b": 2},
            "labelled rows per group",
            {"a": 1},
            "fewer than two groups with at least 2 labelled rows",
        ),
        (
            "mean_absolute_error_difference",
            {"a": 1, "b": 2},
            "labelled rows per group",
            {"a": 1},
            "fewer than two groups with at least 2 labelled rows",
        ),
    ],
)
def test_a_group_mean_errors_sizes_count_its_labelled_rows_and_say_so(
    metric, sizes, label, excluded, reason
):
    """A group's mean absolute error rests on its rows whose outcome is known, not on all."""
    found = regression_fairness(
        SIX_PREDICTIONS,
        SIX_GROUPS,
        errors=absolute_errors(SIX_LABELS, SIX_PREDICTIONS),
        error_groups=SIX_GROUPS,
        min_group_size=2,
    )[metric]

    assert found.details["group_sizes"] == sizes
    assert group_sizes_label(found.details) == label
    assert (found.excluded_groups, found.reason) == (excluded, reason)


def test_a_regression_profile_round_trips_through_json():
    from govflow.baselines.profile import RegressionProfile

    profile = RegressionProfile(
        predictions=numeric_reference(np.arange(100.0), method="deciles"), errors=BASELINE
    )

    again = RegressionProfile.from_dict(profile.to_dict())

    assert again == profile
    assert isinstance(again.predictions, NumericReference)
