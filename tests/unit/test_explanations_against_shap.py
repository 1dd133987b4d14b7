"""Issue 18 item 3: govflow's batched permutation SHAP gives the SHAP values of shap's own
``PermutationExplainer`` (the oracle), row by row, on the demo credit model and on a
regressor, while making a few large model calls instead of one per explained row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from govflow.demo.applicants import FEATURE_COLUMNS, age_band_counts, generate_applicants
from govflow.demo.training import DEMO_MODELS, train_model
from govflow.metrics.explanation_drift import (
    _CategoryCodes,
    _permutation_shap_values,
    explanation_background,
    feature_attributions,
)

SAMPLE_ROWS = 25


def shap_values(output, sample: np.ndarray, background: np.ndarray, *, max_evals: int, seed: int):
    """shap's PermutationExplainer with an Independent masker, as govflow called it before."""
    import shap

    masker = shap.maskers.Independent(background, max_samples=len(background))
    global_state = np.random.get_state()
    try:
        with threadpool_limits(limits=1):
            explainer = shap.Explainer(output, masker, algorithm="permutation", seed=seed)
            return np.asarray(explainer(sample, max_evals=max_evals, silent=True).values)
    finally:
        np.random.set_state(global_state)


def encoded(reference: pd.DataFrame, data: pd.DataFrame, features: list[str]):
    """The background and sample as feature_attributions hands them to the algorithm."""
    background = explanation_background(reference, features=features, seed=3).frame()
    sample = data[features].head(SAMPLE_ROWS).reset_index(drop=True)
    codes = _CategoryCodes(background, sample)
    return codes, codes.encode(sample, what="data"), codes.encode(background, what="background")


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    return generate_applicants(np.random.default_rng(5), age_band_counts(1500))


def test_the_demo_credit_models_shap_values_equal_shaps_own_permutation_explainer(applicants):
    credit = train_model(
        DEMO_MODELS[0],
        "1.0.0",
        applicants,
        np.random.default_rng(6).random(len(applicants)),
        random_state=0,
        boosting_rounds=20,
    ).artifact
    features = list(FEATURE_COLUMNS)
    codes, sample, background = encoded(applicants.head(500), applicants.tail(500), features)

    def probability(rows: np.ndarray) -> np.ndarray:
        return credit.predict_proba(codes.decode(rows))[:, 1]

    max_evals = 2 * len(features) + 1
    ours = _permutation_shap_values(probability, sample, background, max_evals=max_evals, seed=4)
    oracle = shap_values(probability, sample, background, max_evals=max_evals, seed=4)
    difference = float(np.max(np.abs(ours - oracle)))
    print(f"credit_approval: max |govflow - shap| = {difference:.3g} over {ours.size} values")
    assert ours.shape == oracle.shape == (SAMPLE_ROWS, len(features))
    assert difference <= 1e-12


def test_a_regressors_shap_values_equal_shaps_with_several_permutations_and_a_constant_feature():
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "x0": rng.normal(size=600),
            "x1": rng.integers(0, 3, size=600),
            "x2": rng.normal(size=600),
            # Constant in the background: it varies only for the rows where it is 0, so rows
            # walk permutations of 3 or of 4 features, and shap draws more of the shorter.
            "flag": np.r_[np.ones(500), rng.integers(0, 2, size=100)],
        }
    )
    target = frame["x0"] * frame["x1"] + np.sin(frame["x2"]) - frame["flag"]
    regressor = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(frame, target)
    features = list(frame.columns)
    codes, sample, background = encoded(frame.head(500), frame.tail(100), features)

    def prediction(rows: np.ndarray) -> np.ndarray:
        return regressor.predict(codes.decode(rows))

    lengths = {int((~np.isclose(row, background)).any(axis=0).sum()) for row in sample}
    assert lengths == {3, 4}
    ours = _permutation_shap_values(prediction, sample, background, max_evals=18, seed=2)
    oracle = shap_values(prediction, sample, background, max_evals=18, seed=2)
    difference = float(np.max(np.abs(ours - oracle)))
    print(f"regressor: max |govflow - shap| = {difference:.3g} over {ours.size} values")
    assert difference <= 1e-12


def test_attributions_are_the_mean_absolute_shap_values_of_the_sampled_rows(applicants):
    class Difference:
        def predict(self, rows: pd.DataFrame) -> np.ndarray:
            return (rows["income"] - 2 * rows["loan_amount"]).to_numpy(dtype=float)

    features = ["income", "loan_amount", "region"]
    background = explanation_background(applicants, features=features, rows=50)
    attributions = feature_attributions(
        Difference(),
        applicants,
        background=background,
        features=features,
        explain="prediction",
        sample_rows=SAMPLE_ROWS,
    )
    sample = applicants[features].iloc[
        np.sort(np.random.default_rng(0).choice(len(applicants), SAMPLE_ROWS, replace=False))
    ]
    # An additive model's Shapley value is its term minus the term's mean over the background.
    frame = background.frame()
    expected = (
        np.abs(sample["income"] - frame["income"].mean()).mean(),
        np.abs(2 * (sample["loan_amount"] - frame["loan_amount"].mean())).mean(),
        0.0,
    )
    assert attributions.mean_abs_shap == pytest.approx(expected, rel=1e-9)
