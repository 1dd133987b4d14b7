"""The demo data: deterministic, shaped as the manifest says, and each scenario shows what it
claims when checked by hand with plain pandas and numpy."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from govflow.demo import SCENARIOS, DemoManifest, write_demo
from govflow.demo.logs import VALIDATION_ROWS, artifact_bytes
from govflow.demo.outcomes import CREDIT_APPROVAL
from govflow.demo.scenarios import MINIMUM_DAYS, TOO_FEW_DAYS, scenario_day_indexes
from govflow.demo.training import build_pipeline

DAYS = 35
ROWS_PER_DAY = 1000
START = date(2025, 3, 1)
CLASSIFIER_IDS = ("credit_approval", "marketing_propensity", "product_recommendation")
REGRESSOR = "customer_lifetime_value"
MODEL_IDS = (*CLASSIFIER_IDS, REGRESSOR)
NUMERIC = (
    "income",
    "loan_amount",
    "loan_term_months",
    "credit_score",
    "debt_to_income",
    "employment_years",
    "num_credit_lines",
    "num_delinquencies",
    "savings_balance",
    "months_at_address",
)
LABEL_DELAY_DAYS = {
    "credit_approval": 5,
    "marketing_propensity": 2,
    "product_recommendation": 1,
    "customer_lifetime_value": 3,
}


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first = tmp_path_factory.mktemp("demo_first")
    second = tmp_path_factory.mktemp("demo_second")
    for directory in (first, second):
        write_demo(directory, days=DAYS, seed=11, start=START, rows_per_day=ROWS_PER_DAY)
    return first, second


@pytest.fixture(scope="module")
def demo(demo_dirs: tuple[Path, Path]) -> Path:
    return demo_dirs[0]


@pytest.fixture(scope="module")
def manifest(demo: Path) -> DemoManifest:
    return DemoManifest.load(demo)


def read_day(demo: Path, model_id: str, day: date) -> pd.DataFrame:
    return pd.read_parquet(demo / f"prediction_logs/{model_id}/date={day}/part-0.parquet")


def read_validation(demo: Path, manifest: DemoManifest, model_id: str) -> pd.DataFrame:
    current = manifest.model(model_id)["current_version"]
    version = next(v for v in manifest.model(model_id)["versions"] if v["version"] == current)
    return pd.read_parquet(demo / version["validation_path"])


def selection_rate_ratio(frame: pd.DataFrame, attribute: str) -> float:
    rates = {}
    for group in frame[attribute].unique():
        decisions = frame.loc[frame[attribute] == group, "prediction"]
        rates[group] = decisions.sum() / len(decisions)
    return min(rates.values()) / max(rates.values())


def decile_psi(reference: pd.Series, current: pd.Series) -> float:
    edges = np.unique(np.quantile(reference.to_numpy(dtype=float), np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / len(reference)
    actual = np.histogram(current, edges)[0] / len(current)
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def accuracy_of_known_labels(frame: pd.DataFrame) -> float:
    known = frame[frame["label"].notna()]
    return float((known["prediction"].astype(int) == known["label"].astype(int)).mean())


def mean_absolute_error_of_known_labels(frame: pd.DataFrame) -> float:
    known = frame[frame["label"].notna()]
    return float((known["prediction"] - known["label"]).abs().mean())


def mean_prediction_ratio(frame: pd.DataFrame, attribute: str, groups: list[str]) -> float:
    means = frame[frame[attribute].isin(groups)].groupby(attribute)["prediction"].mean()
    return float(means.min() / means.max())


def test_writing_the_demo_twice_with_the_same_seed_gives_byte_identical_files(
    demo_dirs: tuple[Path, Path],
) -> None:
    first, second = demo_dirs
    first_files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    second_files = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert first_files == second_files
    assert len(first_files) == 4 * DAYS + 2 * 5 + 1
    for relative in first_files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_an_artefact_is_written_to_the_same_bytes_whatever_strings_the_process_shares() -> None:
    # The same pipeline twice, but its "drop" is in one the interned string, in the other an
    # equal string of its own, as a process that read it from somewhere else would hold.
    interned = build_pipeline(CREDIT_APPROVAL, random_state=3)
    own = build_pipeline(CREDIT_APPROVAL, random_state=3)
    own.steps[0][1].remainder = "".join(["dr", "op"])
    assert own.steps[0][1].remainder is not interned.steps[0][1].remainder
    assert artifact_bytes(interned) == artifact_bytes(own)
    read_back = joblib.load(io.BytesIO(artifact_bytes(own)))
    assert [name for name, _ in read_back.steps] == [name for name, _ in interned.steps]
    assert read_back.steps[0][1].remainder == "drop"


def test_the_manifest_names_the_four_models_with_their_types_and_risk_tiers(
    manifest: DemoManifest,
) -> None:
    stored = json.loads(manifest.path.read_text())
    assert [(m["id"], m["type"], m["risk_tier"]) for m in stored["models"]] == [
        ("credit_approval", "binary_classifier", "high"),
        ("marketing_propensity", "binary_classifier", "medium"),
        ("product_recommendation", "binary_classifier", "low"),
        ("customer_lifetime_value", "regressor", "medium"),
    ]
    assert stored["label_delay_days"] == LABEL_DELAY_DAYS


def test_the_manifest_puts_every_day_in_exactly_one_scenario(manifest: DemoManifest) -> None:
    scenarios = manifest.scenarios
    assert tuple(scenarios) == SCENARIOS
    every_day = sorted(day for days in scenarios.values() for day in days)
    assert every_day == [START + timedelta(days=index) for index in range(DAYS)]
    assert [len(scenarios[name]) for name in SCENARIOS] == [28, 2, 2, 2, 1]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (
            35,
            {
                "accuracy_drift": [12, 13],
                "data_drift": [17, 18],
                "fairness_drift": [22, 23],
                "malformed": [27],
            },
        ),
        (
            42,
            {
                "accuracy_drift": [15, 16],
                "data_drift": [21, 22],
                "fairness_drift": [27, 28],
                "malformed": [33],
            },
        ),
    ],
)
def test_scenario_days_are_placed_in_proportion_to_the_length_of_the_demo(
    days: int, expected: dict[str, list[int]]
) -> None:
    placed = scenario_day_indexes(days)
    assert {name: placed[name] for name in expected} == expected
    assert len(placed["stable"]) == days - 7


def test_a_demo_shorter_than_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        scenario_day_indexes(MINIMUM_DAYS - 1)
    assert str(raised.value) == TOO_FEW_DAYS.format(minimum=35, days=34)


def test_accuracy_drift_days_are_early_enough_for_their_slowest_labels(
    manifest: DemoManifest,
) -> None:
    last_day = START + timedelta(days=DAYS - 1)
    for day in manifest.scenarios["accuracy_drift"]:
        assert day + timedelta(days=max(LABEL_DELAY_DAYS.values()) + 1) <= last_day


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_manifest_artifacts_exist_with_the_recorded_hashes(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    entry = manifest.model(model_id)
    expected_versions = ["0.9.0", "1.0.0"] if model_id == "credit_approval" else ["1.0.0"]
    assert [v["version"] for v in entry["versions"]] == expected_versions
    assert entry["current_version"] == "1.0.0"
    for version in entry["versions"]:
        artifact = demo / version["artifact_path"]
        assert version["artifact_path"] == f"models/{model_id}/{version['version']}/model.pkl"
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == version["artifact_sha256"]
        validation = demo / version["validation_path"]
        assert hashlib.sha256(validation.read_bytes()).hexdigest() == version["validation_sha256"]
        if model_id == REGRESSOR:
            assert set(version["validation_metrics"]) == {
                "rows",
                "mae",
                "rmse",
                "mean_prediction",
                "mean_label",
            }
            assert version["decision_threshold"] is None
        else:
            assert set(version["validation_metrics"]) == {
                "rows",
                "accuracy",
                "roc_auc",
                "positive_rate",
                "base_rate",
            }
            assert 0 < version["decision_threshold"] < 1
        assert version["training_snapshot_id"].startswith(f"{model_id}-train-")


@pytest.mark.parametrize("model_id", CLASSIFIER_IDS)
def test_the_saved_model_reproduces_its_validation_scores_and_metrics(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    version = manifest.model(model_id)["versions"][-1]
    model = joblib.load(demo / version["artifact_path"])
    validation = read_validation(demo, manifest, model_id)
    features = validation[[*NUMERIC, *manifest.model(model_id)["features"]["categorical"]]]
    assert np.array_equal(model.predict_proba(features)[:, 1], validation["score"].to_numpy())
    assert np.array_equal(model.predict(features), validation["prediction"].to_numpy())
    assert len(validation) == VALIDATION_ROWS
    accuracy = (validation["prediction"] == validation["label"]).mean()
    assert version["validation_metrics"]["accuracy"] == round(float(accuracy), 6)


def test_the_saved_regressor_reproduces_its_validation_predictions_within_the_cap(
    demo: Path, manifest: DemoManifest
) -> None:
    version = manifest.model(REGRESSOR)["versions"][-1]
    model = joblib.load(demo / version["artifact_path"])
    validation = read_validation(demo, manifest, REGRESSOR)
    features = validation[[*NUMERIC, *manifest.model(REGRESSOR)["features"]["categorical"]]]
    assert np.array_equal(model.predict(features), validation["prediction"].to_numpy())
    assert "score" not in validation.columns
    assert validation["prediction"].between(0, 25_000).all()
    assert validation["label"].between(0, 25_000).all()
    assert validation["label"].max() == 25_000  # the cap is reached, not just allowed
    mae = (validation["prediction"] - validation["label"]).abs().mean()
    assert version["validation_metrics"]["mae"] == round(float(mae), 6)
    # Half the error of answering every customer with the mean value.
    assert mae < 0.6 * (validation["label"] - validation["label"].mean()).abs().mean()


def test_stable_days_carry_the_sampling_noise_of_real_traffic(
    demo: Path, manifest: DemoManifest
) -> None:
    """Nothing is balanced: the small group's size and rates vary from day to day, so its raw
    disparate impact crosses the four-fifths line on some stable day; the monitoring judges
    that on its interval (test_monitoring's noisiest quiet day) instead of alarming."""
    stable = manifest.scenarios["stable"]
    non_binary = {
        int((read_day(demo, "credit_approval", day)["gender"] == "non_binary").sum())
        for day in stable
    }
    assert len(non_binary) > 5
    assert min(non_binary) < ROWS_PER_DAY * 0.02 < max(non_binary)
    lowest = min(
        selection_rate_ratio(read_day(demo, model_id, day), "gender")
        for model_id in CLASSIFIER_IDS
        for day in stable
    )
    assert lowest < 0.80


def large_groups_ratio(frame: pd.DataFrame) -> float:
    """The selection-rate ratio of female to male applicants (about 49 % of a day each)."""
    return selection_rate_ratio(frame[frame["gender"].isin(["female", "male"])], "gender")


def test_fairness_drift_days_push_credit_approval_below_the_four_fifths_rule_for_gender_only(
    demo: Path, manifest: DemoManifest
) -> None:
    for day in manifest.scenarios["fairness_drift"]:
        frame = read_day(demo, "credit_approval", day)
        assert selection_rate_ratio(frame, "gender") < 0.80
        assert selection_rate_ratio(frame, "age_band") >= 0.80
        female = frame.loc[frame["gender"] == "female", "prediction"].mean()
        male = frame.loc[frame["gender"] == "male", "prediction"].mean()
        assert female < male


def test_fairness_drift_days_lower_womens_predicted_and_true_lifetime_value_alike(
    demo: Path, manifest: DemoManifest
) -> None:
    """The proxy effect reaches the regressor: women's worse credit files lower their
    predicted value below four fifths of men's, and their true value falls alike, so the
    model errs no more for them (a fairness finding, not a model error)."""
    stable = read_day(demo, REGRESSOR, manifest.scenarios["stable"][0])
    assert mean_prediction_ratio(stable, "gender", ["female", "male"]) > 0.89
    for day in manifest.scenarios["fairness_drift"]:
        frame = read_day(demo, REGRESSOR, day)
        assert mean_prediction_ratio(frame, "gender", ["female", "male"]) < 0.80
        assert mean_prediction_ratio(frame, "age_band", ["18-25", "26-40", "41-60", "61+"]) > 0.89
        known = frame[frame["label"].notna()]
        female, male = (known[known["gender"] == group] for group in ("female", "male"))
        assert female["label"].mean() < 0.85 * male["label"].mean()
        assert mean_absolute_error_of_known_labels(female) < mean_absolute_error_of_known_labels(
            male
        )


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_stable_days_keep_every_numeric_feature_below_the_psi_warning(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    validation = read_validation(demo, manifest, model_id)
    worst = max(
        decile_psi(validation[column], read_day(demo, model_id, day)[column])
        for day in manifest.scenarios["stable"]
        for column in NUMERIC
    )
    assert worst < 0.10


@pytest.mark.parametrize("model_id", CLASSIFIER_IDS)
def test_data_drift_days_make_income_and_credit_score_psi_critical_while_fairness_holds(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    validation = read_validation(demo, manifest, model_id)
    for day in manifest.scenarios["data_drift"]:
        frame = read_day(demo, model_id, day)
        assert decile_psi(validation["income"], frame["income"]) >= 0.25
        assert decile_psi(validation["credit_score"], frame["credit_score"]) >= 0.25
        # Everyone alike: the large groups keep their ratio (the small non-binary group's
        # raw ratio is as noisy as on any day).
        assert large_groups_ratio(frame) >= 0.80
        assert selection_rate_ratio(frame, "age_band") >= 0.80


def test_data_drift_days_shift_the_regressors_inputs_for_everyone_alike(
    demo: Path, manifest: DemoManifest
) -> None:
    validation = read_validation(demo, manifest, REGRESSOR)
    for day in manifest.scenarios["data_drift"]:
        frame = read_day(demo, REGRESSOR, day)
        assert decile_psi(validation["income"], frame["income"]) >= 0.25
        assert decile_psi(validation["credit_score"], frame["credit_score"]) >= 0.25
        assert mean_prediction_ratio(frame, "gender", ["female", "male"]) > 0.89
        assert mean_prediction_ratio(frame, "age_band", ["18-25", "26-40", "41-60", "61+"]) > 0.89


@pytest.mark.parametrize("model_id", CLASSIFIER_IDS)
def test_accuracy_drift_days_lose_over_a_tenth_of_validation_accuracy_with_stable_inputs(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    validation = read_validation(demo, manifest, model_id)
    validation_accuracy = (validation["prediction"] == validation["label"]).mean()
    for day in manifest.scenarios["accuracy_drift"]:
        frame = read_day(demo, model_id, day)
        assert frame["label"].notna().mean() > 0.85
        assert accuracy_of_known_labels(frame) < 0.9 * validation_accuracy
        assert max(decile_psi(validation[c], frame[c]) for c in NUMERIC) < 0.10
    for day in manifest.scenarios["stable"][:10]:
        assert accuracy_of_known_labels(read_day(demo, model_id, day)) > 0.95 * validation_accuracy


def test_accuracy_drift_days_raise_the_regressors_error_by_half_with_stable_inputs(
    demo: Path, manifest: DemoManifest
) -> None:
    validation = read_validation(demo, manifest, REGRESSOR)
    validation_mae = (validation["prediction"] - validation["label"]).abs().mean()
    for day in manifest.scenarios["accuracy_drift"]:
        frame = read_day(demo, REGRESSOR, day)
        assert frame["label"].notna().mean() > 0.85
        assert mean_absolute_error_of_known_labels(frame) > 1.5 * validation_mae
        assert max(decile_psi(validation[c], frame[c]) for c in NUMERIC) < 0.10
    # A day's MAE on a thousand rows wanders by about a tenth (the monitoring judges it on
    # its interval); the shifted concept is far beyond that.
    for day in manifest.scenarios["stable"][:10]:
        frame = read_day(demo, REGRESSOR, day)
        assert mean_absolute_error_of_known_labels(frame) < 1.2 * validation_mae


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_the_malformed_day_is_broken_in_exactly_the_ways_the_manifest_lists(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    details = manifest.content["malformed_details"]
    (day,) = manifest.scenarios["malformed"]
    assert details["date"] == day.isoformat()
    frame = read_day(demo, model_id, day)
    count = ROWS_PER_DAY // 100
    assert len(frame) == details["rows"] == ROWS_PER_DAY
    assert details["missing_columns"] == ["months_at_address"]
    assert "months_at_address" not in frame.columns
    assert details["non_numeric_strings"] == {"income": {"value": "n/a", "rows": count}}
    assert frame["income"].dtype == object
    assert (pd.to_numeric(frame["income"], errors="coerce").isna()).sum() == count
    assert (frame["income"] == "n/a").sum() == count
    assert details["non_finite_values"] == {"debt_to_income": {"nan": count, "inf": count}}
    assert frame["debt_to_income"].isna().sum() == count
    assert np.isinf(frame["debt_to_income"]).sum() == count
    assert details["out_of_range_values"] == {"loan_amount": {"negative": count}}
    assert (frame["loan_amount"] < 0).sum() == count
    assert details["unknown_categories"] == {"region": {"atlantis": count}}
    assert (frame["region"] == "atlantis").sum() == count
    assert details["duplicate_prediction_ids"] == frame["prediction_id"].duplicated().sum()
    assert details["duplicate_prediction_ids"] == count
    if model_id == REGRESSOR:
        assert "score" not in frame.columns
        assert details["null_predictions"] == frame["prediction"].isna().sum() == count
    else:
        assert details["null_scores"] == frame["score"].isna().sum() == count


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_labels_arrive_after_the_model_delay_and_never_after_the_demo_ends(
    demo: Path, manifest: DemoManifest, model_id: str
) -> None:
    frame = pd.concat(
        read_day(demo, model_id, START + timedelta(days=index)) for index in range(DAYS)
    )
    demo_end = pd.Timestamp(START + timedelta(days=DAYS), tz="UTC")
    assert (frame["label"].isna() == frame["label_observed_at"].isna()).all()
    known = frame[frame["label"].notna()]
    delay = known["label_observed_at"] - known["scored_at"]
    assert delay.min() >= pd.Timedelta(days=LABEL_DELAY_DAYS[model_id])
    assert delay.max() < pd.Timedelta(days=LABEL_DELAY_DAYS[model_id], hours=6)
    assert known["label_observed_at"].max() < demo_end
    settled = frame[frame["scored_at"] + pd.Timedelta(days=7) < demo_end]
    assert settled["label"].isna().mean() == pytest.approx(0.10, abs=0.01)
    last_days = frame[
        frame["scored_at"] >= demo_end - pd.Timedelta(days=LABEL_DELAY_DAYS[model_id])
    ]
    assert last_days["label"].isna().all()


def test_a_day_needs_at_least_two_hundred_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        write_demo(tmp_path, days=35, rows_per_day=199)
    assert str(raised.value) == "the demo needs at least 200 rows per day, got 199"
