"""Seed 004 section 2.2 model drift: accuracy drop, prediction shift, output entropy change."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from govflow.metrics.data_drift import numeric_reference
from govflow.metrics.fairness import BAD_LABELS, wilson_interval
from govflow.metrics.model_drift import (
    BAD_BASELINE_ACCURACY,
    BAD_BASELINE_ENTROPY,
    BAD_BASELINE_RATE,
    BAD_MIN_LABELLED,
    LENGTH_MISMATCH,
    NO_LABELLED,
    NO_ROWS,
    SCORES_OUT_OF_RANGE,
    TOO_FEW_LABELLED,
    ZERO_BASELINE_ENTROPY,
    ZERO_BASELINE_RATE,
    ZERO_COUNTS,
    accuracy,
    accuracy_drop,
    label_drift,
    mean_binary_entropy,
    output_entropy_change,
    prediction_distribution_shift,
    total_variation_distance,
)
from govflow.metrics.severity import MetricInputError


def labelled_window(correct, wrong, unlabelled=0):
    y_true = [1.0] * (correct + wrong) + [math.nan] * unlabelled
    y_pred = [1] * correct + [0] * wrong + [0] * unlabelled
    return y_true, y_pred


@pytest.mark.parametrize(
    ("baseline", "correct", "wrong", "expected"),
    [
        (0.80, 60, 40, 0.25),
        (0.90, 90, 10, 0.0),
        (0.90, 855, 145, 0.05),
        (0.50, 75, 25, -0.5),
    ],
)
def test_accuracy_drop_is_relative_to_the_baseline_accuracy(baseline, correct, wrong, expected):
    y_true, y_pred = labelled_window(correct, wrong)
    result = accuracy_drop(y_true, y_pred, baseline_accuracy=baseline)
    assert result.status == "computed"
    assert result.value == pytest.approx(expected, abs=1e-12)


def test_only_labelled_rows_count_for_accuracy():
    y_true, y_pred = labelled_window(60, 40, unlabelled=500)
    result = accuracy_drop(y_true, y_pred, baseline_accuracy=0.8)
    assert result.value == pytest.approx(0.25, abs=1e-12)
    assert result.details["labelled"] == 100
    assert (
        result.details["current_accuracy_ci_low"],
        result.details["current_accuracy_ci_high"],
    ) == (wilson_interval(60, 100))


def test_accuracy_agrees_with_scikit_learn_on_the_labelled_rows():
    rng = np.random.default_rng(3)
    y_true = (rng.random(500) < 0.4).astype(float)
    y_pred = (rng.random(500) < 0.5).astype(int)
    y_true[rng.random(500) < 0.25] = np.nan
    labelled = ~np.isnan(y_true)
    assert accuracy(y_true, y_pred) == pytest.approx(
        accuracy_score(y_true[labelled], y_pred[labelled]), abs=1e-15
    )


def test_too_few_labelled_rows_is_inconclusive():
    y_true, y_pred = labelled_window(10, 5, unlabelled=1000)
    result = accuracy_drop(y_true, y_pred, baseline_accuracy=0.9, min_labelled=100)
    assert (result.status, result.value) == ("inconclusive", None)
    assert result.reason == TOO_FEW_LABELLED.format(labelled=15, required=100)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: accuracy_drop([1], [1], baseline_accuracy=0.0),
            BAD_BASELINE_ACCURACY.format(accuracy=0.0),
        ),
        (
            lambda: accuracy_drop([1], [1], baseline_accuracy=0.9, min_labelled=0),
            BAD_MIN_LABELLED.format(count=0),
        ),
        (
            lambda: accuracy_drop([1, 0], [1], baseline_accuracy=0.9),
            LENGTH_MISMATCH.format(true=2, pred=1),
        ),
        (lambda: accuracy_drop([], [], baseline_accuracy=0.9), NO_ROWS),
        (lambda: accuracy_drop([2], [1], baseline_accuracy=0.9), BAD_LABELS),
        (lambda: accuracy([None, None], [1, 0]), NO_LABELLED),
    ],
)
def test_accuracy_refuses_input_it_cannot_use(call, message):
    with pytest.raises(MetricInputError) as raised:
        call()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("reference", "current", "expected"),
    [
        ([50, 50], [25, 75], 0.25),
        ([10, 10, 10, 10], [10, 10, 10, 10], 0.0),
        ([1, 0], [0, 1], 1.0),
        ([30, 30, 40], [60, 60, 80], 0.0),
    ],
)
def test_total_variation_distance_of_hand_made_counts(reference, current, expected):
    assert total_variation_distance(reference, current) == pytest.approx(expected, abs=1e-15)


def test_prediction_shift_is_the_share_of_scores_that_moved_to_another_baseline_decile():
    baseline = numeric_reference(np.linspace(0.005, 0.995, 100))
    # Every current score sits in the top decile: 90% of the mass has moved.
    result = prediction_distribution_shift(baseline, np.full(50, 0.99))
    assert result.value == pytest.approx(0.9, abs=1e-12)
    unchanged = prediction_distribution_shift(baseline, np.linspace(0.005, 0.995, 100))
    assert unchanged.value == 0.0


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [([0, 0], [1, 1], ZERO_COUNTS), ([1, 2], [1, 2, 3], LENGTH_MISMATCH.format(true=2, pred=3))],
)
def test_total_variation_refuses_counts_it_cannot_compare(reference, current, message):
    with pytest.raises(MetricInputError) as raised:
        total_variation_distance(reference, current)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.5], math.log(2)),
        ([0.0, 1.0], 0.0),
        ([0.0, 0.5, 1.0, 0.5], math.log(2) / 2),
        ([0.1], -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))),
    ],
)
def test_mean_binary_entropy_treats_certain_scores_as_zero_entropy(scores, expected):
    assert mean_binary_entropy(scores) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.5, 0.5], 0.0),
        ([0.0, 0.5, 1.0, 0.5], 0.5),
        ([0.0, 1.0], 1.0),
    ],
)
def test_output_entropy_change_is_relative_to_the_baseline_mean_entropy(scores, expected):
    result = output_entropy_change(scores, baseline_mean_entropy=math.log(2))
    assert result.value == pytest.approx(expected, abs=1e-15)


def test_a_baseline_without_uncertainty_makes_entropy_change_inconclusive():
    result = output_entropy_change([0.5], baseline_mean_entropy=0.0)
    assert (result.status, result.value, result.reason) == (
        "inconclusive",
        None,
        ZERO_BASELINE_ENTROPY,
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mean_binary_entropy([0.5, 1.2]), SCORES_OUT_OF_RANGE),
        (lambda: mean_binary_entropy([0.5, math.inf]), SCORES_OUT_OF_RANGE),
        (
            lambda: output_entropy_change([0.5], baseline_mean_entropy=math.nan),
            BAD_BASELINE_ENTROPY.format(entropy=math.nan),
        ),
    ],
)
def test_scores_outside_zero_one_are_refused(call, message):
    with pytest.raises(MetricInputError) as raised:
        call()
    assert str(raised.value) == message


def test_model_drift_results_serialise_to_json():
    y_true, y_pred = labelled_window(90, 10)
    result = accuracy_drop(y_true, y_pred, baseline_accuracy=0.9)
    assert json.loads(json.dumps(result.to_dict()))["name"] == "accuracy_drop"


@pytest.mark.parametrize(
    ("labels", "baseline", "expected"),
    [
        ([1.0] * 50 + [0.0] * 50 + [math.nan] * 30, 0.5, 0.0),
        ([1.0] * 60 + [0.0] * 40, 0.5, 0.2),
        ([1.0] * 30 + [0.0] * 70, 0.5, 0.4),
    ],
)
def test_label_drift_is_the_relative_change_of_the_favourable_label_rate(
    labels, baseline, expected
):
    result = label_drift(labels, baseline_positive_rate=baseline)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.details["labelled"] == 100


def test_label_drift_of_a_model_whose_favourable_label_is_zero_counts_the_zeros():
    # 30 favourable outcomes of 100 against a baseline of 0.5, logged as 0 = favourable.
    result = label_drift([0.0] * 30 + [1.0] * 70, baseline_positive_rate=0.5, favourable_label=0)
    assert result.value == pytest.approx(0.4, abs=1e-12)


@pytest.mark.parametrize(
    ("labels", "baseline", "reason"),
    [
        ([1.0] * 10 + [math.nan] * 200, 0.5, TOO_FEW_LABELLED.format(labelled=10, required=100)),
        ([1.0] * 100, 0.0, ZERO_BASELINE_RATE),
    ],
)
def test_label_drift_without_enough_evidence_is_inconclusive(labels, baseline, reason):
    result = label_drift(labels, baseline_positive_rate=baseline)
    assert (result.status, result.value, result.reason) == ("inconclusive", None, reason)


def test_label_drift_refuses_a_baseline_rate_outside_zero_one():
    with pytest.raises(MetricInputError) as raised:
        label_drift([1.0], baseline_positive_rate=1.5)
    assert str(raised.value) == BAD_BASELINE_RATE.format(rate=1.5)
