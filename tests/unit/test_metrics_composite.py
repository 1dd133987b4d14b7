"""Seed 004 section 2.3: the aggregated drift score and its breakdown."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from govflow.config import load_config
from govflow.metrics.composite import (
    BAD_WEIGHTS,
    NO_COMPONENTS,
    UNKNOWN_FAMILY,
    MetricObservation,
    composite_drift_score,
    normalised_metric_value,
)
from govflow.metrics.severity import MetricInputError, Severity

# The seed's numbers, as policy.yaml holds them (test_metrics_severity pins them to the seed).
POLICY = load_config(Path(__file__).resolve().parents[2] / "config").policy


def observe(name, value, family, subject=""):
    return MetricObservation(name, family, value, POLICY.threshold(name), subject)


def score_of(observations, *, weights=None):
    """The composite score with policy.yaml's weights and bound (seed 004 section 2.3)."""
    return composite_drift_score(
        observations,
        weights=POLICY.composite.weights.by_family() if weights is None else weights,
        threshold=POLICY.composite.threshold,
    )


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("psi", 0.0, 0.0),
        ("psi", 0.09, 0.0),
        ("psi", 0.10, 0.0),
        ("psi", 0.175, 0.5),
        ("psi", 0.25, 1.0),
        ("psi", 0.9, 1.0),
        ("demographic_parity_drift", 0.05, 0.0),
        ("demographic_parity_drift", 0.075, 0.5),
        ("disparate_impact_ratio", 1.0, 0.0),
        ("disparate_impact_ratio", 0.9, 0.0),
        ("disparate_impact_ratio", 0.845, 0.5),
        ("disparate_impact_ratio", 0.8, 1.0),
        ("disparate_impact_ratio", 0.5, 1.0),
        ("accuracy_drop", -0.3, 0.0),
        ("shap_rank_correlation", 0.82, 0.0),
        ("shap_rank_correlation", 0.7, 0.5),
    ],
)
def test_a_metric_is_normalised_from_its_warning_to_its_critical_bound(metric, value, expected):
    assert normalised_metric_value(value, POLICY.threshold(metric)) == pytest.approx(
        expected, abs=1e-12
    )


def test_one_critical_fairness_metric_alone_makes_the_score_critical():
    score = score_of(
        [
            observe("disparate_impact_ratio", 0.75, "fairness", "gender"),
            observe("demographic_parity_drift", 0.01, "fairness", "age_band"),
            observe("psi", 0.0, "data", "income"),
            observe("accuracy_drop", 0.0, "model"),
            observe("shap_rank_correlation", 1.0, "explanation"),
        ]
    )
    assert score.components["fairness"].normalised == 1.0
    assert score.components["fairness"].contributing_metric == "disparate_impact_ratio"
    assert score.components["fairness"].contributing_subject == "gender"
    assert score.score == pytest.approx(0.4, abs=1e-12)
    assert score.severity is Severity.CRITICAL


def test_the_component_is_the_worst_metric_not_the_average():
    stable = [observe("psi", 0.0, "data", f"feature_{i}") for i in range(14)]
    score = score_of([*stable, observe("psi", 0.25, "data", "income")])
    assert score.components["data"].normalised == 1.0
    assert score.components["data"].contributing_subject == "income"


def test_missing_components_contribute_nothing_and_keep_their_weight_out():
    score = score_of([observe("psi", 0.25, "data"), observe("accuracy_drop", 0.0, "model")])
    assert score.missing_components == ("fairness", "explanation")
    assert score.components["data"].effective_weight == pytest.approx(0.3, abs=1e-12)
    assert score.components["model"].effective_weight == pytest.approx(0.2, abs=1e-12)
    assert score.score == pytest.approx(0.3, abs=1e-12)
    assert score.severity is Severity.INFO


def test_a_day_of_in_range_noise_scores_zero():
    score = score_of(
        [
            observe("demographic_parity_drift", 0.049, "fairness", "gender"),
            observe("disparate_impact_ratio", 0.90, "fairness", "age_band"),
            observe("psi", 0.099, "data", "income"),
            observe("accuracy_drop", 0.05, "model"),
            observe("shap_rank_correlation", 0.81, "explanation"),
        ]
    )
    assert (score.score, score.severity) == (0.0, Severity.INFO)


def test_two_families_simultaneously_critical_make_the_score_critical():
    score = score_of(
        [observe("psi", 0.35, "data", "income"), observe("accuracy_drop", 0.15, "model")]
    )
    assert (score.score, score.severity) == (0.5, Severity.CRITICAL)


@pytest.mark.parametrize(
    ("fairness", "data", "model", "explanation", "expected", "severity"),
    [
        (0.0, 0.0, 0.0, 1.0, 0.1, Severity.INFO),
        (0.5, 0.5, 0.5, 0.5, 0.5, Severity.CRITICAL),
        (0.25, 0.5, 0.0, 1.0, 0.35, Severity.CRITICAL),
        (0.5, 0.0, 0.5, 0.0, 0.30, Severity.INFO),
        (0.5, 0.0, 0.5, 0.01, 0.301, Severity.CRITICAL),
    ],
)
def test_the_score_is_the_seeds_weighted_sum(
    fairness, data, model, explanation, expected, severity
):
    # warning -> critical: DP drift 0.05 -> 0.10, accuracy drop 0.05 -> 0.10,
    # PSI 0.10 -> 0.25, rank correlation 0.80 -> 0.60
    score = score_of(
        [
            observe("demographic_parity_drift", 0.05 + fairness * 0.05, "fairness"),
            observe("psi", 0.10 + data * 0.15, "data"),
            observe("accuracy_drop", 0.05 + model * 0.05, "model"),
            observe("shap_rank_correlation", 0.80 - explanation * 0.20, "explanation"),
        ]
    )
    assert score.score == pytest.approx(expected, abs=1e-12)
    assert score.severity is severity


def test_a_score_exactly_at_the_bound_is_not_critical_despite_float_noise():
    score = score_of(
        [
            observe("demographic_parity_drift", 0.075, "fairness"),
            observe("accuracy_drop", 0.075, "model"),
            observe("psi", 0.0, "data"),
            observe("shap_rank_correlation", 1.0, "explanation"),
        ]
    )
    assert (score.score, score.severity) == (0.3, Severity.INFO)


def test_invalid_values_are_left_out_and_listed():
    score = score_of(
        [observe("psi", math.nan, "data", "income"), observe("accuracy_drop", 0.075, "model")]
    )
    assert score.invalid_metrics == ("psi:income",)
    assert set(score.components) == {"model"}
    assert score.score == pytest.approx(0.1, abs=1e-12)


def test_no_valid_metric_at_all_is_inconclusive():
    score = score_of([observe("psi", None, "data")])
    assert (score.status, score.score, score.severity, score.reason) == (
        "inconclusive",
        None,
        None,
        NO_COMPONENTS,
    )


def test_the_breakdown_serialises_to_json():
    score = score_of(
        [observe("psi", 0.3, "data", "income"), observe("accuracy_drop", 0.2, "model")]
    )
    stored = json.loads(json.dumps(score.to_dict()))
    assert stored["severity"] == "CRITICAL"
    assert stored["components"]["data"] == {
        "family": "data",
        "normalised": 1.0,
        "weight": 0.3,
        "effective_weight": 0.3,
        "contributing_metric": "psi",
        "contributing_subject": "income",
        "contributing_value": 0.3,
    }


@pytest.mark.parametrize(
    ("weights", "observation", "message"),
    [
        ({"data": -1.0}, observe("psi", 0.1, "data"), BAD_WEIGHTS.format(weights={"data": -1.0})),
        (
            {"data": 1.0},
            observe("accuracy_drop", 0.1, "model"),
            UNKNOWN_FAMILY.format(name="accuracy_drop", family="model"),
        ),
    ],
)
def test_bad_weights_or_families_raise_a_clear_error(weights, observation, message):
    with pytest.raises(MetricInputError) as raised:
        score_of([observation], weights=weights)
    assert str(raised.value) == message


def judged(name, value, family, verdict, subject=""):
    return MetricObservation(name, family, value, POLICY.threshold(name), subject, verdict=verdict)


@pytest.mark.parametrize(
    ("observations", "score", "severity"),
    [
        # one fairness WARNING far towards its critical bound: capped at 0.30 / 0.4 = 0.75
        ([judged("disparate_impact_ratio", 0.81, "fairness", "WARNING")], 0.3, Severity.INFO),
        (
            [judged("disparate_impact_ratio", 0.85, "fairness", "WARNING")],
            0.4 * (0.04 / 0.09),
            Severity.INFO,
        ),
        # the data cannot tell, or show no effect: nothing, whatever the value
        ([judged("disparate_impact_ratio", 0.60, "fairness", "INCONCLUSIVE")], 0.0, Severity.INFO),
        ([judged("demographic_parity_drift", 0.04, "fairness", "INFO")], 0.0, Severity.INFO),
        # one CRITICAL fairness metric on evidence: the seed's CRITICAL
        ([judged("disparate_impact_ratio", 0.79, "fairness", "CRITICAL")], 0.4, Severity.CRITICAL),
        # two components at WARNING together cross it
        (
            [
                judged("disparate_impact_ratio", 0.81, "fairness", "WARNING"),
                observe("psi", 0.2, "data"),
            ],
            0.3 + 0.3 * (0.1 / 0.15),
            Severity.CRITICAL,
        ),
    ],
)
def test_a_metric_judged_on_evidence_counts_as_far_as_its_verdict(observations, score, severity):
    result = score_of(observations)
    assert result.score == pytest.approx(score, abs=1e-12)
    assert result.severity is severity
