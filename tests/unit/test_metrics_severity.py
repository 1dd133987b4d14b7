"""Seed 004 sections 2.2 and 10: every metric's severity bands and their boundaries."""

from __future__ import annotations

import math

import pytest

from govflow.metrics import METRIC_SPECS
from govflow.metrics.severity import (
    INVALID,
    SEED_004_THRESHOLDS,
    THRESHOLD_NOT_FINITE,
    THRESHOLD_ORDER_HIGHER,
    THRESHOLD_ORDER_LOWER,
    Severity,
    Threshold,
    classify,
)

INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("psi", 0.08, INFO),
        ("shap_rank_correlation", 0.82, INFO),
        ("psi", 0.15, WARNING),
        ("demographic_parity_drift", 0.07, WARNING),
        ("prediction_distribution_shift", 0.22, WARNING),
        ("accuracy_drop", 0.06, WARNING),
        ("demographic_parity_drift", 0.12, CRITICAL),
        ("disparate_impact_ratio", 0.75, CRITICAL),
        ("psi", 0.35, CRITICAL),
        ("accuracy_drop", 0.15, CRITICAL),
    ],
)
def test_the_seed_section_10_examples_get_their_stated_severity(metric, value, expected):
    assert classify(value, SEED_004_THRESHOLDS[metric]) is expected


BOUNDARIES = [
    ("psi", 0.0999, INFO),
    ("psi", 0.10, WARNING),
    ("psi", 0.24, WARNING),
    ("psi", 0.245, WARNING),
    ("psi", 0.25, CRITICAL),
    ("kl_divergence", 0.0999, INFO),
    ("kl_divergence", 0.10, WARNING),
    ("kl_divergence", 0.29, WARNING),
    ("kl_divergence", 0.295, WARNING),
    ("kl_divergence", 0.30, CRITICAL),
    ("wasserstein_distance_normalised", 0.1499, INFO),
    ("wasserstein_distance_normalised", 0.15, WARNING),
    ("wasserstein_distance_normalised", 0.30, WARNING),
    ("wasserstein_distance_normalised", 0.3001, CRITICAL),
    ("demographic_parity_drift", 0.05, INFO),
    ("demographic_parity_drift", 0.0501, WARNING),
    ("demographic_parity_drift", 0.10, WARNING),
    ("demographic_parity_drift", 0.1001, CRITICAL),
    ("equal_opportunity_drift", 0.05, INFO),
    ("equal_opportunity_drift", 0.0501, WARNING),
    ("equal_opportunity_drift", 0.10, WARNING),
    ("equal_opportunity_drift", 0.1001, CRITICAL),
    ("disparate_impact_ratio", 1.0, INFO),
    ("disparate_impact_ratio", 0.895, INFO),
    ("disparate_impact_ratio", 0.89, WARNING),
    ("disparate_impact_ratio", 0.85, WARNING),
    ("disparate_impact_ratio", 0.80, WARNING),
    ("disparate_impact_ratio", 0.7999, CRITICAL),
    ("accuracy_drop", -0.2, INFO),
    ("accuracy_drop", 0.05, INFO),
    ("accuracy_drop", 0.0501, WARNING),
    ("accuracy_drop", 0.10, WARNING),
    ("accuracy_drop", 0.1001, CRITICAL),
    ("prediction_distribution_shift", 0.20, INFO),
    ("prediction_distribution_shift", 0.2001, WARNING),
    ("prediction_distribution_shift", 0.40, WARNING),
    ("prediction_distribution_shift", 0.4001, CRITICAL),
    ("output_entropy_change", 0.25, INFO),
    ("output_entropy_change", 0.2501, WARNING),
    ("output_entropy_change", 0.50, WARNING),
    ("output_entropy_change", 0.5001, CRITICAL),
    ("shap_rank_correlation", 0.80, INFO),
    ("shap_rank_correlation", 0.7999, WARNING),
    ("shap_rank_correlation", 0.60, WARNING),
    ("shap_rank_correlation", 0.5999, CRITICAL),
]


@pytest.mark.parametrize(("metric", "value", "expected"), BOUNDARIES)
def test_each_metric_changes_severity_exactly_at_the_seeds_bounds(metric, value, expected):
    assert classify(value, SEED_004_THRESHOLDS[metric]) is expected


def test_every_seed_metric_has_a_boundary_table():
    assert {metric for metric, _, _ in BOUNDARIES} == set(SEED_004_THRESHOLDS)


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("metric", sorted(SEED_004_THRESHOLDS))
def test_a_value_that_is_not_a_finite_number_is_invalid_not_a_severity(metric, value):
    assert classify(value, SEED_004_THRESHOLDS[metric]) is INVALID


def test_severities_are_ordered_so_the_worst_finding_wins():
    assert INFO < WARNING < CRITICAL
    assert max([WARNING, CRITICAL, INFO]) is CRITICAL


@pytest.mark.parametrize(
    ("metric", "spec_direction"),
    [(name, spec.direction) for name, spec in METRIC_SPECS.items() if name in SEED_004_THRESHOLDS],
)
def test_threshold_directions_agree_with_the_metric_specs(metric, spec_direction):
    assert SEED_004_THRESHOLDS[metric].direction == spec_direction


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"warning": 0.3, "critical": 0.2},
            THRESHOLD_ORDER_HIGHER.format(warning=0.3, critical=0.2),
        ),
        (
            {"warning": 0.8, "critical": 0.9, "direction": "lower_is_worse"},
            THRESHOLD_ORDER_LOWER.format(warning=0.8, critical=0.9),
        ),
        (
            {"warning": math.nan, "critical": 0.2},
            THRESHOLD_NOT_FINITE.format(warning=math.nan, critical=0.2),
        ),
    ],
)
def test_a_threshold_with_inverted_or_missing_bounds_is_refused(kwargs, message):
    with pytest.raises(ValueError) as raised:
        Threshold(**kwargs)
    assert str(raised.value) == message


def test_a_threshold_serialises_to_a_plain_dict():
    assert SEED_004_THRESHOLDS["psi"].to_dict() == {
        "warning": 0.10,
        "critical": 0.25,
        "direction": "higher_is_worse",
        "warning_inclusive": True,
        "critical_inclusive": True,
    }
