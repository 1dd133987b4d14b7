"""Issue 14 item 4: a regressor's rollout stage gates and rollback criteria (the README
guide's customer_value): fairness on the ratio of group mean predictions, model drift on
its predictions and, once labelled, its errors against the previous version's, with the
evidence rule of every gate: no rollback on an inconclusive metric."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from govflow.rollout import checks
from tests.support.own_models import REGRESSOR, config_with_regressor, customer_value_rows

NEW, OLD = "1.1.0", "1.0.0"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return config_with_regressor(tmp_path_factory.mktemp("regressor-rollout") / "config")


class Stage:
    """A stage's logs as the checks read them: each version's rows of customer_value."""

    def __init__(self, config, new: pd.DataFrame, old: pd.DataFrame) -> None:
        self.config, self.model = config, config.models.get(REGRESSOR)
        self.candidate, self.active = NEW, OLD
        self.scored, self.previous = new, old

    def rows_of(self, version: str) -> pd.DataFrame:
        return self.scored if version == NEW else self.previous


def traffic(
    rows: int,
    *,
    seed: int,
    noise: float = 150.0,
    female_scale: float = 1.0,
    labelled: int | None = None,
) -> pd.DataFrame:
    """A version's stage rows: the guide's subscribers, labels off by ``noise``, women's
    predictions scaled by ``female_scale``, only the first ``labelled`` rows labelled."""
    frame = customer_value_rows(
        np.random.default_rng(seed), rows, datetime(2024, 6, 3, tzinfo=UTC), noise=noise
    )
    women = frame["sex"] == "female"
    frame.loc[women, "prediction"] *= female_scale
    if labelled is not None:
        frame.loc[labelled:, "label"] = np.nan
    return frame


def test_a_regressor_fair_on_the_stage_traffic_passes_its_fairness_gate(config):
    result = checks.fairness_within_bounds(Stage(config, traffic(900, seed=1), traffic(9, seed=2)))

    assert result.outcome == "passed"
    assert result.summary.startswith(
        "no fairness metric is CRITICAL on 900 rows; lowest mean prediction ratio "
    )
    assert {f["metric"] for f in result.evidence["findings"]} == {"mean_prediction_ratio"}


def test_a_regressor_predicting_far_less_for_women_on_the_stage_rolls_back(config):
    stage = Stage(config, traffic(900, seed=1, female_scale=0.5), traffic(9, seed=2))

    result = checks.fairness_within_bounds(stage)

    assert result.outcome == "failed"
    assert result.summary.startswith("mean_prediction_ratio of sex is 0.")
    worst = next(f for f in result.evidence["findings"] if f["verdict"] == "CRITICAL")
    assert (worst["min_group"], worst["max_group"]) == ("female", "male")
    assert worst["ci_high"] < 0.80
    assert sum(worst["group_sizes"].values()) == 900


def test_a_regressor_stage_too_small_to_judge_fairness_holds_the_gate_but_never_rolls_back(
    config,
):
    stage = Stage(config, traffic(40, seed=1, female_scale=0.5), traffic(9, seed=2))

    result = checks.fairness_within_bounds(stage)

    assert result.outcome == "inconclusive"


def test_a_new_regressor_whose_labelled_errors_grew_fails_its_model_drift_check(config):
    stage = Stage(config, traffic(1500, seed=1, noise=400.0), traffic(1500, seed=2))

    result = checks.model_drift_within_bounds(stage)

    assert result.outcome == "failed"
    verdicts = {f["metric"]: f["verdict"] for f in result.evidence["error_increases"]}
    assert verdicts == {"mae_increase": "CRITICAL", "rmse_increase": "CRITICAL"}
    assert result.evidence["severity"] == "INFO"  # the predictions themselves did not move


def test_a_regressor_stage_without_labels_is_judged_on_its_predictions_and_says_so(config):
    stage = Stage(config, traffic(1500, seed=1, noise=400.0, labelled=0), traffic(1500, seed=2))

    result = checks.model_drift_within_bounds(stage)

    assert result.outcome == "passed"
    assert result.summary.endswith(
        f"mae_increase not judged: only 0 labelled rows of {NEW}, fewer than 100; "
        f"rmse_increase not judged: only 0 labelled rows of {NEW}, fewer than 100"
    )


def test_an_error_increase_too_uncertain_to_decide_holds_the_gate_and_rolls_nothing_back(
    config,
):
    # 150 labelled rows a version and a 10% larger error: the interval spans no change and
    # the critical bound alike.
    stage = Stage(
        config,
        traffic(1500, seed=1, noise=165.0, labelled=150),
        traffic(1500, seed=2, labelled=150),
    )

    result = checks.model_drift_within_bounds(stage)

    assert result.outcome == "inconclusive"
    assert {f["verdict"] for f in result.evidence["error_increases"]} == {"INCONCLUSIVE"}
