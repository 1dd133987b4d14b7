"""Seed 004 sections 4.1 and 10: SHAP attributions and explanation drift (rank correlation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from govflow.config import load_config
from govflow.metrics import Severity, Threshold
from govflow.metrics.explanation_drift import (
    BAD_ROW_COUNT,
    CONSTANT_ATTRIBUTIONS,
    FEATURE_MISMATCH,
    MISSING_FEATURES,
    NO_COMPLETE_ROWS,
    NO_FEATURES,
    NOT_NUMERIC,
    ExplanationBackground,
    ExplanationInputError,
    FeatureAttributions,
    explanation_background,
    explanation_drift,
    feature_attributions,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
FEATURES = ("x0", "x1", "x2", "colour")
COLOURS = ("blue", "green", "red")
SMALL = {"sample_rows": 60}


def policy_threshold() -> Threshold:
    """policy.yaml's shap_rank_correlation threshold, the one analysis judges on."""
    return load_config(CONFIG_DIR).policy.threshold("shap_rank_correlation")


@pytest.fixture(scope="module")
def threshold() -> Threshold:
    return policy_threshold()


def applicants(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x0": rng.normal(size=rows),
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "colour": rng.choice(COLOURS, size=rows),
        }
    )


def logistic_model(data: pd.DataFrame, weights: tuple[float, float, float]) -> Pipeline:
    """A pipeline (one-hot colour) fitted to labels driven by x0, x1, x2 with ``weights``."""
    logit = sum(
        weight * data[name] for weight, name in zip(weights, ("x0", "x1", "x2"), strict=True)
    )
    labels = (np.random.default_rng(1).random(len(data)) < 1 / (1 + np.exp(-logit))).astype(int)
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [("colour", OneHotEncoder(), ["colour"])], remainder="passthrough"
                ),
            ),
            ("classify", LogisticRegression()),
        ]
    )
    return pipeline.fit(data[list(FEATURES)], labels)


class LinearScore:
    """A model whose probability is additive: 0.5 + 0.1 x0 - 0.05 x1 + 0.02 [colour=red]."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        score = (
            0.5
            + 0.1 * features["x0"].to_numpy()
            - 0.05 * features["x1"].to_numpy()
            + 0.02 * (features["colour"].to_numpy() == "red")
        )
        return np.column_stack([1 - score, score])


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return applicants(400, seed=0)


@pytest.fixture(scope="module")
def background(reference) -> ExplanationBackground:
    return explanation_background(reference, features=FEATURES, rows=20)


@pytest.fixture(scope="module")
def x0_model(reference) -> Pipeline:
    return logistic_model(reference, (3.0, 1.5, 0.5))


def attributions(values: list[float]) -> FeatureAttributions:
    return FeatureAttributions(
        features=tuple(f"f{index}" for index in range(len(values))),
        mean_abs_shap=tuple(values),
        rows_explained=200,
        rows_dropped_missing=0,
        background_rows=100,
        permutations=1,
        seed=0,
    )


def test_an_additive_model_gets_its_exact_shapley_values(reference, background):
    # For an additive model under the independent masker, phi_j(x) = f_j(x_j) - mean over
    # the background of f_j, so the mean |SHAP| has a closed form.
    result = feature_attributions(
        LinearScore(), reference, background=background, features=FEATURES, **SMALL
    )
    sample = reference.iloc[np.sort(np.random.default_rng(0).choice(400, 60, replace=False))]
    rows = background.frame()
    red = (sample["colour"] == "red").to_numpy()
    expected = (
        np.mean(np.abs(0.1 * (sample["x0"] - rows["x0"].mean()))),
        np.mean(np.abs(0.05 * (sample["x1"] - rows["x1"].mean()))),
        0.0,
        np.mean(np.abs(0.02 * (red - (rows["colour"] == "red").mean()))),
    )
    assert result.mean_abs_shap == pytest.approx(expected, abs=1e-12)
    assert result.ranking == ("x0", "x1", "colour", "x2")
    assert (result.rows_explained, result.background_rows) == (60, 20)


def test_a_model_that_reads_only_the_categorical_feature_attributes_everything_to_it(
    reference, background
):
    colour_only = Pipeline(
        [
            ("encode", ColumnTransformer([("colour", OneHotEncoder(), ["colour"])])),
            ("classify", LogisticRegression()),
        ]
    ).fit(reference[list(FEATURES)], (reference["colour"] == "red").astype(int))
    result = feature_attributions(
        colour_only, reference, background=background, features=FEATURES, **SMALL
    )
    assert result.mean_abs_shap[:3] == (0.0, 0.0, 0.0)
    assert result.mean_abs_shap[3] > 0.1


def test_the_same_data_and_model_give_a_rank_correlation_of_one(
    reference, background, x0_model, threshold
):
    baseline = feature_attributions(
        x0_model, reference, background=background, features=FEATURES, **SMALL
    )
    current = feature_attributions(
        x0_model, reference, background=background, features=FEATURES, **SMALL
    )
    drift = explanation_drift(baseline, current, threshold=threshold)
    assert (drift.status, drift.rank_correlation, drift.severity) == (
        "computed",
        1.0,
        Severity.INFO,
    )
    assert [shift.relative_change for shift in drift.features] == [0.0, 0.0, 0.0, 0.0]
    assert baseline.ranking == ("x0", "x1", "x2", "colour")


def test_a_model_whose_important_feature_swapped_has_a_low_rank_correlation(
    reference, background, x0_model, threshold
):
    x2_model = logistic_model(reference, (0.5, 1.5, 3.0))
    baseline = feature_attributions(
        x0_model, reference, background=background, features=FEATURES, **SMALL
    )
    current = feature_attributions(
        x2_model, reference, background=background, features=FEATURES, **SMALL
    )
    drift = explanation_drift(baseline, current, threshold=threshold)
    assert current.ranking == ("x2", "x1", "x0", "colour")
    # Ranks (1, 2, 3, 4) against (3, 2, 1, 4): 1 - 6 * 8 / (4 * 15) = 0.2.
    assert drift.rank_correlation == pytest.approx(0.2, abs=1e-12)
    assert drift.severity is Severity.CRITICAL
    by_feature = {shift.feature: shift for shift in drift.features}
    assert (by_feature["x0"].baseline_rank, by_feature["x0"].current_rank) == (1.0, 3.0)
    assert by_feature["x2"].relative_change > 1.0
    assert by_feature["x0"].relative_change < -0.5


def test_attributions_are_deterministic_and_leave_numpys_global_generator_alone(
    reference, background, x0_model
):
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = feature_attributions(
        x0_model, reference, background=background, features=FEATURES, seed=5, **SMALL
    )
    assert np.random.random() == expected_next
    second = feature_attributions(
        x0_model, reference, background=background, features=FEATURES, seed=5, **SMALL
    )
    assert first == second


def test_rows_with_a_missing_feature_are_left_out_and_counted(reference, background, x0_model):
    data = reference.head(50).copy()
    data.loc[[3, 7], "x1"] = np.nan
    data.loc[9, "colour"] = None
    result = feature_attributions(x0_model, data, background=background, features=FEATURES)
    assert (result.rows_explained, result.rows_dropped_missing) == (47, 3)


def test_a_missing_feature_column_is_a_clear_error(reference, background, x0_model):
    with pytest.raises(ExplanationInputError) as error:
        feature_attributions(
            x0_model,
            reference.drop(columns=["x2", "colour"]),
            background=background,
            features=FEATURES,
        )
    assert str(error.value) == MISSING_FEATURES.format(what="the data", missing="x2, colour")


def test_data_without_a_complete_row_is_a_clear_error(reference, background, x0_model):
    data = reference.head(4).assign(x0=np.nan)
    with pytest.raises(ExplanationInputError) as error:
        feature_attributions(x0_model, data, background=background, features=FEATURES)
    assert str(error.value) == NO_COMPLETE_ROWS.format(what="the data", dropped=4)


def test_a_numeric_feature_holding_text_is_a_clear_error(reference, background, x0_model):
    data = reference.head(10).astype({"x1": object})
    data.loc[2, "x1"] = "n/a"
    with pytest.raises(ExplanationInputError) as error:
        feature_attributions(x0_model, data, background=background, features=FEATURES)
    assert str(error.value) == NOT_NUMERIC.format(what="the data", feature="x1", dtype="object")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"features": ()}, NO_FEATURES),
        ({"sample_rows": 0}, BAD_ROW_COUNT.format(name="sample rows", count=0)),
        ({"permutations": 0}, BAD_ROW_COUNT.format(name="permutations", count=0)),
    ],
)
def test_impossible_explanation_settings_are_refused(
    reference, background, x0_model, options, message
):
    with pytest.raises(ExplanationInputError) as error:
        feature_attributions(
            x0_model, reference, background=background, **{"features": FEATURES, **options}
        )
    assert str(error.value) == message


def test_the_background_is_bounded_deterministic_and_complete(reference):
    data = reference.copy()
    data.loc[0:9, "x0"] = np.nan
    first = explanation_background(data, features=FEATURES, rows=25, seed=3)
    assert first == explanation_background(data, features=FEATURES, rows=25, seed=3)
    frame = first.frame()
    assert len(frame) == 25
    assert not frame.isna().any().any()
    assert ExplanationBackground.from_dict(first.to_dict()) == first


@pytest.mark.parametrize(
    ("baseline", "current", "correlation", "severity"),
    [
        # Five features, two adjacent pairs swapped: sum d^2 = 4, rho = 1 - 24 / 120 = 0.8
        # exactly (scipy alone gives 0.7999999999999999, a WARNING).
        ([5, 4, 3, 2, 1], [4, 5, 2, 3, 1], 0.8, Severity.INFO),
        ([5, 4, 3, 2, 1], [3, 5, 4, 1, 2], 0.6, Severity.WARNING),
        ([5, 4, 3, 2, 1], [5, 3, 2, 1, 4], 0.4, Severity.CRITICAL),
        ([5, 4, 3, 2, 1], [1, 2, 3, 4, 5], -1.0, Severity.CRITICAL),
        # Ties are averaged: ranks (1.5, 1.5, 3, 4, 5) against (1, 2, 3, 4, 5).
        ([5, 5, 3, 2, 1], [5, 4, 3, 2, 1], 0.9746794344808963, Severity.INFO),
        # Fifteen features (the demo), two swaps 5 apart: 1 - 6 * 100 / 3360, INFO in seed 004
        # section 10 ("SHAP rank correlation = 0.82").
        (
            list(range(15, 0, -1)),
            [10, 14, 13, 12, 11, 15, 4, 8, 7, 6, 5, 9, 3, 2, 1],
            1 - 600 / 3360,
            Severity.INFO,
        ),
    ],
)
def test_rank_correlation_and_severity_follow_the_policy_thresholds(
    baseline, current, correlation, severity, threshold
):
    drift = explanation_drift(attributions(baseline), attributions(current), threshold=threshold)
    assert drift.rank_correlation == pytest.approx(correlation, abs=1e-12)
    assert drift.severity is severity
    assert drift.to_dict()["severity"] == severity.name


def test_relative_attribution_shift_per_feature():
    drift = explanation_drift(
        attributions([0.2, 0.1, 0.0, 0.0]),
        attributions([0.1, 0.3, 0.0, 0.05]),
        threshold=policy_threshold(),
    )
    assert [shift.relative_change for shift in drift.features] == [
        pytest.approx(-0.5),
        pytest.approx(2.0),
        0.0,
        None,
    ]


def test_a_constant_attribution_vector_makes_the_correlation_inconclusive(threshold):
    drift = explanation_drift(
        attributions([0.2, 0.1, 0.05]), attributions([0.0, 0.0, 0.0]), threshold=threshold
    )
    assert (drift.status, drift.rank_correlation, drift.severity) == ("inconclusive", None, None)
    assert drift.reason == CONSTANT_ATTRIBUTIONS.format(side="current")


def test_attributions_over_different_features_cannot_be_compared(threshold):
    with pytest.raises(ExplanationInputError) as error:
        explanation_drift(
            attributions([0.2, 0.1]), attributions([0.2, 0.1, 0.0]), threshold=threshold
        )
    assert str(error.value) == FEATURE_MISMATCH.format(baseline="f0, f1", current="f0, f1, f2")


def test_attributions_round_trip_through_json_with_averaged_ranks():
    original = attributions([0.3, 0.1, 0.3, 0.0])
    assert original.ranks == {"f0": 1.5, "f1": 3.0, "f2": 1.5, "f3": 4.0}
    assert original.ranking == ("f0", "f2", "f1", "f3")
    assert FeatureAttributions.from_dict(original.to_dict()) == original
