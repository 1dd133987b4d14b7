"""Seed 004 sections 2.2 and 10: every metric's severity bands and their boundaries.

``SEED_004`` is the tests' one copy of the seed's thresholds, written from the seed's text;
config/policy.yaml must load to exactly it, and every boundary case below is decided by
``classify`` on the thresholds the policy loads, the ones production decides on.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from govflow.config import load_config
from govflow.metrics import METRIC_SPECS
from govflow.metrics.severity import (
    INCONCLUSIVE,
    INVALID,
    THRESHOLD_NOT_FINITE,
    THRESHOLD_ORDER_HIGHER,
    THRESHOLD_ORDER_LOWER,
    Evidence,
    Severity,
    Threshold,
    classify,
    severity_rank,
)

INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
POLICY = load_config(CONFIG_DIR).policy

# Seed 004 section 2.2, bound by bound as the seed words it (WARNING / CRITICAL).
SEED_004 = {
    # "0.10 - 0.24" / "≥ 0.25"
    "psi": Threshold(0.10, 0.25, warning_inclusive=True, critical_inclusive=True),
    # "0.10 - 0.29" / "≥ 0.30"
    "kl_divergence": Threshold(0.10, 0.30, warning_inclusive=True, critical_inclusive=True),
    # "0.15 - 0.30" / "> 0.30"
    "wasserstein_distance_normalised": Threshold(0.15, 0.30, warning_inclusive=True),
    # "> 0.05" / "> 0.10"
    "demographic_parity_drift": Threshold(0.05, 0.10),
    "equal_opportunity_drift": Threshold(0.05, 0.10),
    # "0.80 - 0.89" / "< 0.80"
    "disparate_impact_ratio": Threshold(
        0.89, 0.80, direction="lower_is_worse", warning_inclusive=True
    ),
    # "> 5%" / "> 10%", "> 20%" / "> 40%", "> 25%" / "> 50%"
    "accuracy_drop": Threshold(0.05, 0.10),
    "prediction_distribution_shift": Threshold(0.20, 0.40),
    "output_entropy_change": Threshold(0.25, 0.50),
    # No seed levels; section 10 calls 0.82 INFO, so govflow warns under 0.80.
    "shap_rank_correlation": Threshold(0.80, 0.60, direction="lower_is_worse"),
}


@pytest.mark.parametrize("metric", sorted(SEED_004))
def test_policy_yaml_loads_exactly_the_seeds_thresholds(metric):
    assert POLICY.threshold(metric) == SEED_004[metric]


@pytest.mark.parametrize(
    ("metric", "words"),
    [
        ("psi", "critical >= 0.25, warning >= 0.1"),
        ("kl_divergence", "critical >= 0.3, warning >= 0.1"),
        ("wasserstein_distance_normalised", "critical > 0.3, warning >= 0.15"),
        ("demographic_parity_drift", "critical > 0.1, warning > 0.05"),
        ("disparate_impact_ratio", "critical < 0.8, warning <= 0.89"),
        ("accuracy_drop", "critical > 0.1, warning > 0.05"),
        ("shap_rank_correlation", "critical < 0.6, warning < 0.8"),
    ],
)
def test_a_threshold_is_worded_with_the_comparison_the_seed_gives_it(metric, words):
    assert POLICY.threshold(metric).describe() == words


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
    assert classify(value, POLICY.threshold(metric)) is expected


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
    ("output_entropy_change", 0.51, CRITICAL),
    ("shap_rank_correlation", 0.80, INFO),
    ("shap_rank_correlation", 0.7999, WARNING),
    ("shap_rank_correlation", 0.79, WARNING),
    ("shap_rank_correlation", 0.60, WARNING),
    ("shap_rank_correlation", 0.5999, CRITICAL),
    ("shap_rank_correlation", 0.59, CRITICAL),
]


@pytest.mark.parametrize(("metric", "value", "expected"), BOUNDARIES)
def test_each_metric_changes_severity_exactly_at_the_seeds_bounds(metric, value, expected):
    assert classify(value, POLICY.threshold(metric)) is expected


def test_every_seed_metric_has_a_boundary_table():
    assert {metric for metric, _, _ in BOUNDARIES} == set(SEED_004)


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("metric", sorted(SEED_004))
def test_a_value_that_is_not_a_finite_number_is_invalid_not_a_severity(metric, value):
    assert classify(value, POLICY.threshold(metric)) is INVALID


def test_severities_are_ordered_so_the_worst_finding_wins():
    assert INFO < WARNING < CRITICAL
    assert max([WARNING, CRITICAL, INFO]) is CRITICAL


@pytest.mark.parametrize(
    ("metric", "spec_direction"),
    [(name, spec.direction) for name, spec in METRIC_SPECS.items() if name in SEED_004],
)
def test_threshold_directions_agree_with_the_metric_specs(metric, spec_direction):
    assert POLICY.threshold(metric).direction == spec_direction


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
    assert POLICY.threshold("psi").to_dict() == {
        "warning": 0.10,
        "critical": 0.25,
        "direction": "higher_is_worse",
        "warning_inclusive": True,
        "critical_inclusive": True,
    }


@pytest.mark.parametrize("metric", sorted(SEED_004))
def test_a_stored_threshold_reads_back_as_the_same_threshold(metric):
    assert Threshold.from_dict(POLICY.threshold(metric).to_dict()) == SEED_004[metric]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        # A bound stored without its inclusivity was an exclusive one.
        (
            {"warning": None, "critical": 0.3, "direction": "higher_is_worse"},
            Threshold(None, 0.3),
        ),
        ({"gate": "great_expectations", "failed_gate_severity": "CRITICAL"}, None),
        ({}, None),
    ],
)
def test_a_stored_threshold_reads_back_in_every_stored_shape(stored, expected):
    assert Threshold.from_dict(stored) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.30, INFO), (0.3001, CRITICAL), (0.9, CRITICAL), (-1.0, INFO)]
)
def test_a_threshold_without_a_warning_bound_is_critical_or_info(value, expected):
    assert classify(value, Threshold(None, 0.30)) is expected


@pytest.mark.parametrize(
    ("name", "rank"),
    [("INFO", 0), ("WARNING", 1), ("CRITICAL", 2), ("INCONCLUSIVE", -1), (None, -1)],
)
def test_a_recorded_severity_ranks_as_its_level_and_anything_else_below_info(name, rank):
    assert severity_rank(name) == rank


# Judged on evidence (issue 17): DI's bounds are 0.89 / 0.80 (lower is worse, parity 1.0),
# DP drift's 0.05 / 0.10 (higher is worse, no change 0).
DI = Threshold(warning=0.89, critical=0.80, direction="lower_is_worse", warning_inclusive=True)
DP_DRIFT = Threshold(warning=0.05, critical=0.10)


@pytest.mark.parametrize(
    ("threshold", "value", "evidence", "expected"),
    [
        (DI, 0.66, Evidence(0.55, 0.79, 1.0), Severity.CRITICAL),
        (DI, 0.79, Evidence(0.70, 0.89, 1.0), Severity.CRITICAL),  # 0.89 is a warning value
        # critical best estimate, but the interval reaches back over the warning bound
        (DI, 0.79, Evidence(0.70, 0.99, 1.0), Severity.WARNING),
        (DI, 0.79, Evidence(0.60, 1.00, 1.0), INCONCLUSIVE),  # parity still inside
        (DI, 0.85, Evidence(0.80, 0.89, 1.0), Severity.WARNING),  # shown beyond 0.89
        (DI, 0.85, Evidence(0.76, 0.95, 1.0), INCONCLUSIVE),  # may still be above 0.89
        (DI, 0.90, Evidence(0.80, 0.88, 1.0), Severity.WARNING),  # the interval decides
        (DI, 0.95, Evidence(0.85, 1.06, 1.0), Severity.INFO),
        (DI, 0.95, Evidence(0.70, 1.30, 1.0), INCONCLUSIVE),  # may still be critical
        # a pass is decided on the plausible interval when one is given
        (
            DI,
            0.95,
            Evidence(0.70, 1.30, 1.0, plausible_low=0.81, plausible_high=1.1),
            Severity.INFO,
        ),
        (DI, 0.95, Evidence(0.70, 1.30, 1.0, plausible_low=0.79, plausible_high=1.1), INCONCLUSIVE),
        # once the model-day's interval shows an effect, the metric's own interval sizes it
        (
            DI,
            0.66,
            Evidence(0.50, 0.95, 1.0, plausible_low=0.57, plausible_high=0.80),
            Severity.CRITICAL,
        ),
        (
            DI,
            0.74,
            Evidence(0.57, 0.97, 1.0, plausible_low=0.62, plausible_high=0.90),
            Severity.WARNING,  # its own interval still reaches the warning band
        ),
        (
            DI,
            0.66,
            Evidence(0.45, 1.01, 1.0, plausible_low=0.57, plausible_high=0.80),
            INCONCLUSIVE,  # no effect is shown once every test of the day is counted
        ),
        # a change from the baseline (a drift) shown, and a critical estimate: CRITICAL,
        # its size (the plausible interval reaches 0.05) not shown
        (DP_DRIFT, 0.15, Evidence(0.02, 0.28, plausible_low=0.05, change=True), Severity.CRITICAL),
        (DP_DRIFT, 0.15, Evidence(0.0, 0.30, change=True), INCONCLUSIVE),  # no move shown
        (DP_DRIFT, 0.08, Evidence(0.01, 0.15, change=True), INCONCLUSIVE),  # not critical
        (DP_DRIFT, 0.08, Evidence(0.06, 0.10, change=True), Severity.WARNING),
        (DP_DRIFT, 0.15, Evidence(0.11, 0.19), Severity.CRITICAL),
        (DP_DRIFT, 0.15, Evidence(0.02, 0.28, plausible_low=0.06), Severity.CRITICAL),
        (DP_DRIFT, 0.15, Evidence(0.02, 0.28, plausible_low=0.05), Severity.WARNING),
        (DP_DRIFT, 0.15, Evidence(0.0, 0.30), INCONCLUSIVE),
        (DP_DRIFT, 0.15, Evidence(0.04, 0.26), Severity.WARNING),
        (DP_DRIFT, 0.15, Evidence(0.05, 0.26), Severity.WARNING),  # 0.05 is not above 0.05
        (DP_DRIFT, 0.07, Evidence(0.01, 0.13), INCONCLUSIVE),
        (DP_DRIFT, 0.08, Evidence(0.06, 0.10), Severity.WARNING),
        (DP_DRIFT, 0.03, Evidence(0.01, 0.05), Severity.INFO),  # significant but quiet
        (DP_DRIFT, 0.03, Evidence(0.0, 0.101), INCONCLUSIVE),
        (DP_DRIFT, 0.03, Evidence(0.0, 0.10), Severity.INFO),  # 0.10 is not above 0.10
        (DP_DRIFT, 0.15, Evidence(math.nan, 0.2), INCONCLUSIVE),
        (DP_DRIFT, math.nan, Evidence(0.1, 0.2), INVALID),
    ],
)
def test_a_verdict_on_evidence_needs_the_interval_clear_of_the_milder_level(
    threshold, value, evidence, expected
):
    assert classify(value, threshold, evidence=evidence) is expected


def test_an_inconclusive_verdict_ranks_below_every_severity():
    assert severity_rank(INCONCLUSIVE.name) == -1
