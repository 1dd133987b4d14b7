"""Issue 14 item 4: explanation drift of a regressor (the README guide's customer_value):
permutation SHAP of its prediction, in the prediction's unit, judged on the rankings as a
classifier's probability is; logged attributions of a black-box regressor likewise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from govflow.baselines.profile import build_profile
from govflow.metrics.explanation_drift import explanation_background, feature_attributions
from govflow.monitoring.analysis import Finding, analyse_window
from tests.support.own_models import REGRESSOR, config_with_regressor, customer_value_rows

FEATURES = ["tenure_months", "monthly_spend", "plan"]
DAY = datetime(2024, 6, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return config_with_regressor(tmp_path_factory.mktemp("regressor-explained") / "config")


@pytest.fixture(scope="module")
def validation() -> pd.DataFrame:
    return customer_value_rows(np.random.default_rng(8), 2000, datetime(2024, 5, 1, tzinfo=UTC))


def fitted(validation: pd.DataFrame) -> Pipeline:
    """A linear regressor of the lifetime value on tenure, spend and plan."""
    encode = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
    model = Pipeline([("encode", encode), ("regress", LinearRegression())])
    return model.fit(validation[FEATURES], validation["label"])


class Scaled:
    """Another regressor's predictions times ``factor``: the same explanations, in another
    unit."""

    def __init__(self, model: Pipeline, factor: float) -> None:
        self.model, self.factor = model, factor

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.factor * self.model.predict(features)


def explanation_finding(config, profile, window: pd.DataFrame, explainer=None) -> Finding:
    """The explanation drift of a day of customer_value against ``profile``."""
    analysis = analyse_window(
        model=config.models.get(REGRESSOR),
        config=config,
        baseline=profile,
        baseline_version="v1",
        current=window,
        matured=window,
        window_start=DAY,
        window_end=DAY + timedelta(days=1),
        checks=["explanation_drift"],
        explainer=explainer,
        analysed_at=DAY + timedelta(days=1),
    )
    (finding,) = [f for f in analysis.findings if f.check_type == "explanation_drift"]
    return finding


def test_a_linear_regressors_prediction_gets_its_exact_shapley_values_in_its_unit(validation):
    model = fitted(validation)
    background = explanation_background(validation, features=FEATURES, rows=20)

    result = feature_attributions(
        model,
        validation,
        background=background,
        features=FEATURES,
        explain="prediction",
        sample_rows=50,
    )

    coefficients = dict(zip(model[0].get_feature_names_out(), model[1].coef_, strict=True))
    sample = validation.iloc[np.sort(np.random.default_rng(0).choice(2000, 50, replace=False))]
    rows = background.frame()
    expected = [
        np.mean(np.abs(coefficients[f"remainder__{name}"] * (sample[name] - rows[name].mean())))
        for name in ("tenure_months", "monthly_spend")
    ]
    assert result.mean_abs_shap[:2] == pytest.approx(expected, rel=1e-9)
    assert result.ranking[0] == "monthly_spend"


def test_explanation_drift_of_a_regressor_is_judged_on_rankings_whatever_their_unit(
    config, validation
):
    """A baseline of the regressor and a window scored by the same model in cents: every
    attribution is 100 times larger, the rankings are the same, no explanation drift."""
    model = fitted(validation)
    entry = config.models.get(REGRESSOR)
    profile = build_profile(REGRESSOR, "1", validation=validation, model=model, model_config=entry)
    window = customer_value_rows(np.random.default_rng(9), 1500, DAY)

    finding = explanation_finding(config, profile, window, Scaled(model, 100.0))

    assert profile.attributions is not None and profile.attributions.rows_explained == 200
    assert (finding.status, finding.value, finding.severity) == ("computed", 1.0, "INFO")
    shifts = {f["feature"]: f["relative_change"] for f in finding.details["features"]}
    assert shifts["monthly_spend"] == pytest.approx(99.0, rel=0.2)


def test_a_black_box_regressor_that_logs_attributions_gets_explanation_drift_from_them(
    config, validation
):
    def logged(frame: pd.DataFrame, *, swap: bool) -> pd.DataFrame:
        spend, tenure = 20.0 * (frame["monthly_spend"] - 45), 5.0 * (frame["tenure_months"] - 60)
        return frame.assign(
            attribution__tenure_months=spend if swap else tenure,
            attribution__monthly_spend=tenure if swap else spend,
            attribution__plan=1.0,
        )

    entry = config.models.get(REGRESSOR)
    profile = build_profile(
        REGRESSOR, "1", validation=logged(validation, swap=False), model=None, model_config=entry
    )
    window = logged(customer_value_rows(np.random.default_rng(9), 1500, DAY), swap=True)

    finding = explanation_finding(config, profile, window)

    # The two leading features swapped, the third kept: a rank correlation of 0.5, CRITICAL
    # under 0.60.
    assert (finding.status, finding.value, finding.severity) == ("computed", 0.5, "CRITICAL")
    assert finding.details["source"] == "logged"
