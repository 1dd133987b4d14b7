"""Issue 14 item 4: the deployment procedure judges a regressor (the README guide's
customer_value): its validation errors against the production version's on the same rows
and against models.yaml's error_ceiling, its fairness on the ratios of group means, each on
its value and interval; an inconclusive verdict is said to be one."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from govflow.deployment import checks
from govflow.deployment.checks import NOTHING_TO_JUDGE_AGAINST, PERFORMANCE_NOT_SHOWN
from tests.support.own_models import REGRESSOR, config_with_regressor, customer_value_rows

ROWS = 3000


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return config_with_regressor(tmp_path_factory.mktemp("regressor") / "config")


def candidate(
    config,
    *,
    new_noise: float = 50.0,
    old_noise: float | None = 50.0,
    female_scale: float = 1.0,
    labelled: int = ROWS,
    ceiling: dict[str, float] | None = None,
) -> SimpleNamespace:
    """A candidate whose validation outputs are the true value off by a normal error of sd
    ``new_noise`` (the production version's by ``old_noise``; None: an initial deployment),
    women's outputs scaled by ``female_scale``, ``labelled`` rows labelled."""
    rng = np.random.default_rng(21)
    validation = customer_value_rows(rng, ROWS, datetime(2024, 5, 1, tzinfo=UTC))
    truth = validation["prediction"].to_numpy()
    validation.loc[labelled:, "label"] = np.nan
    outputs = truth + rng.normal(0.0, new_noise, ROWS)
    outputs = np.where(validation["sex"] == "female", outputs * female_scale, outputs)
    previous = None if old_noise is None else truth + rng.normal(0.0, old_noise, ROWS)
    # The README's entry has a ceiling of its own: each test says which it judges.
    bound = None if ceiling is None else SimpleNamespace(**ceiling)
    model = config.models.get(REGRESSOR).model_copy(update={"error_ceiling": bound})
    return SimpleNamespace(
        config=config,
        model=model,
        validation=validation,
        validation_scores=outputs,
        previous_validation_scores=previous,
        previous=None if old_noise is None else SimpleNamespace(version="1.0.0"),
    )


def performance(candidate: SimpleNamespace) -> checks.CheckResult:
    return checks.model_performance_meets_requirement(candidate)


def test_a_regressor_erring_like_the_production_version_passes_its_performance_item(config):
    result = performance(candidate(config))

    assert result.outcome == "passed"
    assert result.summary.startswith(f"validation errors on {ROWS} labelled rows: mae_increase ")
    verdicts = {f["metric"]: f["verdict"] for f in result.evidence["findings"]}
    assert verdicts == {"mae_increase": "INFO", "rmse_increase": "INFO"}
    assert {f["against"] for f in result.evidence["findings"]} == {"version 1.0.0"}


def test_a_regressor_whose_errors_grew_beyond_the_accuracy_drop_bound_fails_critical(config):
    result = performance(candidate(config, new_noise=300.0))

    assert result.outcome == "failed"
    mae = result.evidence["findings"][0]
    assert (mae["metric"], mae["verdict"]) == ("mae_increase", "CRITICAL")
    # The whole interval lies beyond seed 004's 5% warning bound: proven, not suspected.
    assert mae["ci_low"] > 0.05 and mae["value"] > 0.10
    assert result.summary.startswith(f"mae_increase {mae['value']} against version 1.0.0")


def test_a_regressor_judged_on_too_few_labelled_rows_fails_as_not_shown_not_as_broken(config):
    result = performance(candidate(config, new_noise=300.0, labelled=40))

    assert result.outcome == "failed"
    assert result.summary == PERFORMANCE_NOT_SHOWN + (
        "mae_increase against version 1.0.0: only 40 labelled rows, fewer than 100; "
        "rmse_increase against version 1.0.0: only 40 labelled rows, fewer than 100"
    )
    assert {f["verdict"] for f in result.evidence["findings"]} == {"INCONCLUSIVE"}


def test_an_initial_regressor_deployment_needs_an_error_ceiling_to_be_judged(config):
    result = performance(candidate(config, old_noise=None))

    assert (result.outcome, result.summary) == ("failed", NOTHING_TO_JUDGE_AGAINST)


@pytest.mark.parametrize(
    ("ceiling", "outcome", "verdicts"),
    [
        ({"max_mae": 300.0, "max_rmse": None}, "passed", {"mae": "INFO"}),
        ({"max_mae": 100.0, "max_rmse": 150.0}, "failed", {"mae": "CRITICAL", "rmse": "CRITICAL"}),
        # The MAE is about 126 (normal errors of sd sqrt(150^2 + 50^2)): a ceiling within its
        # interval can be shown neither met nor broken.
        ({"max_mae": 127.0, "max_rmse": None}, "failed", {"mae": "INCONCLUSIVE"}),
    ],
)
def test_an_error_ceiling_is_judged_on_the_errors_interval(config, ceiling, outcome, verdicts):
    result = performance(candidate(config, old_noise=None, ceiling=ceiling))

    assert result.outcome == outcome
    assert {f["metric"]: f["verdict"] for f in result.evidence["findings"]} == verdicts
    if "INCONCLUSIVE" in verdicts.values():
        assert result.summary.startswith(PERFORMANCE_NOT_SHOWN)


def test_a_regressor_fair_across_groups_passes_naming_its_lowest_mean_prediction_ratio(config):
    result = checks.fairness_across_groups(candidate(config))

    assert result.outcome == "passed"
    assert result.summary.startswith(
        f"no fairness metric is CRITICAL on {ROWS} validation rows; lowest mean prediction ratio "
    )
    judged = {
        (f["metric"], f["attribute"]): f["severity"]
        for f in result.evidence["findings"]
        if f["metric"].endswith("_ratio")
    }
    assert set(judged.values()) == {"INFO"}
    assert set(judged) == {
        (metric, attribute)
        for metric in ("mean_prediction_ratio", "mean_absolute_error_ratio")
        for attribute in ("sex", "age_band")
    }
    # A group's error rests on its labelled rows (here every validation row), and says so.
    assert {f["metric"]: f["group_sizes_counted"] for f in result.evidence["findings"]} == {
        "mean_prediction_ratio": "rows",
        "mean_prediction_difference": "rows",
        "mean_absolute_error_ratio": "labelled rows",
        "mean_absolute_error_difference": "labelled rows",
    }


def test_a_regressor_predicting_less_for_women_fails_its_fairness_item_on_the_80_percent_rule(
    config,
):
    result = checks.fairness_across_groups(candidate(config, female_scale=0.6))

    assert result.outcome == "failed"
    assert result.summary.startswith("mean_prediction_ratio of sex is 0.")
    worst = next(f for f in result.evidence["findings"] if f["severity"] == "CRITICAL")
    assert (worst["min_group"], worst["max_group"]) == ("female", "male")
    assert worst["ci_high"] < 0.80
    assert sum(worst["group_sizes"].values()) == ROWS


def test_a_regressor_whose_outputs_leave_its_valid_range_fails_the_smoke_test(config):
    regressor = candidate(config)
    regressor.validation_scores = regressor.validation_scores - 500.0
    regressor.valid_outputs = regressor.model.prediction_bounds

    result = checks.staging_smoke_test(regressor)

    assert result.outcome == "failed"
    assert result.evidence["valid_outputs"] == [0.0, 20000.0]
    assert result.evidence["scores_outside_valid_outputs"] > 0
