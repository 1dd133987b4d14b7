"""Seed 004 section 4: the baseline profile, its versions, archiving and idempotency."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from govflow import registry, store
from govflow.baselines.onboarding import (
    RESET_REQUIRED,
    SAME_DATA_OTHER_NAME,
    GatedData,
    ResetRequired,
    create_baseline_from_data,
    create_baseline_from_validation_set,
    gate_baseline_data,
    minimum_baseline_rows,
    register_from_config,
)
from govflow.baselines.profile import (
    MISSING_COLUMNS,
    UNKNOWN_MODEL,
    UNSUPPORTED_SCHEMA,
    WRONG_MODEL,
    BaselineError,
    BaselineProfile,
    active_baseline,
    build_profile,
    create_baseline,
    draw_reference_sample,
    load_profile,
    load_registered_model,
    profile_columns,
)
from govflow.config import Feature, GovflowConfig, ModelEntry, load_config
from govflow.config.inventory import Binning, ProtectedAttribute
from govflow.metrics import (
    CategoricalReference,
    NumericReference,
    accuracy_drop,
    categorical_feature_drift,
    demographic_parity_drift,
    group_counts,
    numeric_feature_drift,
    output_entropy_change,
    prediction_distribution_shift,
)
from govflow.store.schema import AuditEvent, Baseline
from tests.support.own_models import TENANCY_ENTRY, tenancy_rows

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
MODEL_ID = "credit_approval"
TENANCY = "tenancy_screening"
NOW = datetime(2026, 12, 6, tzinfo=UTC)
INCOME = [float(value) for value in range(1, 21)]


class IncomeScore:
    """A model that scores income / 21 and ignores every other feature."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        score = features["income"].to_numpy(dtype=float) / 21
        return np.column_stack([1 - score, score])


@pytest.fixture(scope="module")
def credit_entry() -> ModelEntry:
    return load_config(CONFIG_DIR).models.get(MODEL_ID)


@pytest.fixture(scope="module")
def toy_entry(credit_entry) -> ModelEntry:
    """credit_approval's inventory entry cut down to three features."""
    return credit_entry.model_copy(
        update={
            "features": [
                Feature(name="income", dtype="numeric", min=0, max=100),
                Feature(name="tenure", dtype="integer", min=0, max=10),
                Feature(name="region", dtype="categorical", categories=["north", "south"]),
            ],
            "protected_attributes": [
                ProtectedAttribute(name="gender", categories=["female", "male"]),
                ProtectedAttribute(name="age_band", categories=["18-25", "26-40"]),
            ],
        }
    )


@pytest.fixture(scope="module")
def validation() -> pd.DataFrame:
    """20 rows: income 1..20, score income / 21, approved from income 11; the labels of
    incomes 1 and 20 disagree with the prediction and income 5 has no label yet."""
    score = np.asarray(INCOME) / 21
    prediction = (score >= 0.5).astype("int8")
    label = pd.array(prediction.astype(int), dtype="Int8")
    label[0], label[19], label[4] = 1, 0, pd.NA
    return pd.DataFrame(
        {
            "income": INCOME,
            "tenure": [0] * 10 + [5] * 10,
            "region": ["north"] * 8 + ["south"] * 12,
            "gender": ["female", "male"] * 10,
            "age_band": ["18-25"] * 10 + ["26-40"] * 10,
            "score": score,
            "prediction": prediction,
            "label": label,
        }
    )


@pytest.fixture(scope="module")
def profile(validation, toy_entry) -> BaselineProfile:
    return build_profile(
        MODEL_ID, "1.0.0", validation=validation, model=IncomeScore(), model_config=toy_entry
    )


@pytest.fixture
def db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store.upgrade(url)
    with store.session_scope(url) as session:
        registry.register_model(
            session,
            model_id=MODEL_ID,
            model_type="binary_classifier",
            risk_tier="high",
            owner="olivia",
            business_purpose="Approve or decline consumer credit applications",
            actor="olivia",
        )
    return url


def store_baseline(url, profile, validation, data_dir, *, day=date(2025, 3, 15), key=None):
    with store.session_scope(url) as session:
        baseline = create_baseline(
            session,
            model_id=MODEL_ID,
            model_version="1.0.0",
            profile=profile,
            kind="deploy",
            created_by="eve",
            reason="new model deployed",
            data_dir=data_dir,
            reference_sample=validation,
            created_on=day,
            idempotency_key=key,
        )
        return baseline.id, baseline.version


def test_numeric_features_keep_decile_edges_and_counts(profile):
    income = profile.numeric["income"]
    assert income.interior_edges == pytest.approx(
        [2.9, 4.8, 6.7, 8.6, 10.5, 12.4, 14.3, 16.2, 18.1]
    )
    assert income.bin_counts == (2,) * 10
    assert (income.n, income.mean, income.std) == (20, 10.5, pytest.approx(np.std(INCOME)))
    assert len(income.quantiles) == 1000


def test_tied_deciles_collapse_into_fewer_bins(profile):
    tenure = profile.numeric["tenure"]
    assert (tenure.interior_edges, tenure.bin_counts) == ((0.0, 2.5, 5.0), (0, 10, 0, 10))


def test_categorical_features_keep_their_category_counts(profile):
    assert profile.categorical == {
        "region": CategoricalReference(("north", "south"), (8, 12), dropped_missing=0)
    }


@pytest.mark.parametrize(
    ("binning", "edges"),
    [
        (Binning(method="reference_quantiles", bins=4), (5.75, 10.5, 15.25)),
        (Binning(method="equal_width", bins=4), (5.75, 10.5, 15.25)),
        (Binning(method="equal_width", bins=5), (4.8, 8.6, 12.4, 16.2)),
    ],
)
def test_numeric_bins_follow_the_models_binning(validation, toy_entry, binning, edges):
    entry = toy_entry.model_copy(update={"binning": binning})
    built = build_profile(
        MODEL_ID, "1.0.0", validation=validation, model=IncomeScore(), model_config=entry
    )
    assert built.numeric["income"].interior_edges == pytest.approx(edges)
    assert sum(built.numeric["income"].bin_counts) == 20
    assert built.binning == binning.model_dump()


def test_the_prediction_distribution_is_profiled(profile, validation):
    scores = validation["score"].to_numpy()
    entropy = -(scores * np.log(scores) + (1 - scores) * np.log(1 - scores)).mean()
    assert profile.scores.deciles.interior_edges == pytest.approx(
        tuple(np.quantile(scores, np.linspace(0.1, 0.9, 9)))
    )
    assert profile.scores.deciles.bin_counts == (2,) * 10
    assert profile.scores.positive_prediction_rate == 0.5
    assert profile.scores.mean_binary_entropy == pytest.approx(entropy, abs=1e-12)
    assert (profile.scores.labelled_rows, profile.scores.favourable_label_rate) == (19, 10 / 19)
    assert profile.accuracy == 17 / 19


@pytest.mark.parametrize(
    ("attribute", "group", "counts"),
    [
        ("gender", "female", {"n": 10, "selected": 5, "labelled": 9, "positives": 6,
                              "tp": 5, "fp": 0, "tn": 3, "fn": 1}),
        ("gender", "male", {"n": 10, "selected": 5, "labelled": 10, "positives": 4,
                            "tp": 4, "fp": 1, "tn": 5, "fn": 0}),
        ("gender&age_band", "female&18-25", {"n": 5, "selected": 0, "labelled": 4,
                                             "positives": 1, "tp": 0, "fp": 0, "tn": 3, "fn": 1}),
        ("gender&age_band", "male&26-40", {"n": 5, "selected": 5, "labelled": 5,
                                           "positives": 4, "tp": 4, "fp": 1, "tn": 0, "fn": 0}),
    ],
)  # fmt: skip
def test_group_counts_per_protected_attribute_and_intersection(profile, attribute, group, counts):
    stored = profile.fairness[attribute].to_dict()["groups"][group]
    assert {key: stored[key] for key in counts} == counts
    assert sorted(profile.fairness) == ["age_band", "gender", "gender&age_band"]


def test_attributions_rank_the_only_feature_the_model_reads_first(profile):
    assert profile.attributions.ranking[0] == "income"
    assert profile.attributions.mean_abs_shap[1:] == (0.0, 0.0)
    assert len(profile.explanation_background.frame()) == 20


def test_the_profile_round_trips_through_json(profile):
    stored = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    restored = BaselineProfile.from_dict(stored)
    assert restored == profile
    assert isinstance(restored.numeric["income"], NumericReference)
    assert stored["schema_version"] == 1


def test_a_profile_of_another_schema_version_is_refused(profile):
    stored = {**profile.to_dict(), "schema_version": 99}
    with pytest.raises(BaselineError) as error:
        BaselineProfile.from_dict(stored)
    assert str(error.value) == UNSUPPORTED_SCHEMA.format(found=99, expected=1)


def test_a_validation_set_without_the_configured_columns_is_refused(validation, toy_entry):
    with pytest.raises(BaselineError) as error:
        build_profile(
            MODEL_ID,
            "1.0.0",
            validation=validation.drop(columns=["tenure", "label"]),
            model=IncomeScore(),
            model_config=toy_entry,
        )
    assert str(error.value) == MISSING_COLUMNS.format(
        model_id=MODEL_ID, version="1.0.0", missing="tenure, label"
    )


def test_a_daily_run_against_the_stored_profile_finds_no_drift_in_the_validation_set(
    db_url, profile, validation, tmp_path
):
    store_baseline(db_url, profile, validation, tmp_path)
    with store.session_scope(db_url) as session:
        baseline = active_baseline(session, MODEL_ID)
        assert baseline is not None
        stored = load_profile(baseline)
    for name, reference in stored.numeric.items():
        assert numeric_feature_drift(reference, validation[name], feature=name).psi == 0.0
    for name, reference in stored.categorical.items():
        assert categorical_feature_drift(reference, validation[name], feature=name).psi == 0.0
    scores, labels = validation["score"], validation["label"]
    predictions = validation["prediction"]
    assert prediction_distribution_shift(stored.scores.deciles, scores).value == 0.0
    entropy = stored.scores.mean_binary_entropy
    assert output_entropy_change(scores, baseline_mean_entropy=entropy).value == 0.0
    drop = accuracy_drop(labels, predictions, baseline_accuracy=stored.accuracy, min_labelled=1)
    assert drop.value == 0.0
    current = group_counts(labels, predictions, sensitive_features=validation["gender"])
    parity = demographic_parity_drift(current, stored.fairness["gender"], min_group_size=1)
    assert parity.value == 0.0


def test_versions_are_named_by_day_and_count_up_within_a_day(db_url, profile, validation, tmp_path):
    versions = [
        store_baseline(db_url, profile, validation, tmp_path, day=day)[1]
        for day in (date(2025, 3, 15), date(2025, 3, 15), date(2025, 3, 16), date(2025, 3, 15))
    ]
    assert versions == ["2025-03-15-v1", "2025-03-15-v2", "2025-03-16-v1", "2025-03-15-v3"]


def test_a_new_baseline_archives_the_active_one_and_keeps_it(db_url, profile, validation, tmp_path):
    first_id, _ = store_baseline(db_url, profile, validation, tmp_path)
    second_id, second_version = store_baseline(db_url, profile, validation, tmp_path)
    with store.session_scope(db_url) as session:
        rows = session.scalars(select(Baseline).order_by(Baseline.id)).all()
        assert [(row.id, row.is_active) for row in rows] == [(first_id, False), (second_id, True)]
        assert rows[0].archived_at is not None and rows[1].archived_at is None
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        archived = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "baseline.archived")
        ).one()
    assert actions[-3:] == ["baseline.created", "baseline.archived", "baseline.created"]
    assert archived.payload["replaced_by"] == second_version


def test_a_baseline_that_replaces_the_active_one_is_audited_as_a_warning(
    db_url, profile, validation, tmp_path
):
    """A model's first baseline is routine; replacing it changes what every later day is
    judged against, and an auditor filtering on WARNING finds it."""
    store_baseline(db_url, profile, validation, tmp_path)
    store_baseline(db_url, profile, validation, tmp_path)
    with store.session_scope(db_url) as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.severity)
            .where(AuditEvent.action.startswith("baseline."))
            .order_by(AuditEvent.seq)
        ).all()
    assert [tuple(event) for event in events] == [
        ("baseline.created", "INFO"),
        ("baseline.archived", "INFO"),
        ("baseline.created", "WARNING"),
    ]


def test_the_reference_sample_is_written_beside_the_baseline(db_url, profile, validation, tmp_path):
    store_baseline(db_url, profile, validation, tmp_path)
    with store.session_scope(db_url) as session:
        baseline = active_baseline(session, MODEL_ID)
        assert baseline is not None
        uri = baseline.reference_sample_uri
    assert uri == "baselines/credit_approval/2025-03-15-v1/reference_sample.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / uri), validation)


def test_a_retry_with_the_same_idempotency_key_creates_nothing_new(
    db_url, profile, validation, tmp_path
):
    first = store_baseline(db_url, profile, validation, tmp_path, key="deploy-42")
    retry = store_baseline(db_url, profile, validation, tmp_path, key="deploy-42")
    assert retry == first
    with store.session_scope(db_url) as session:
        baselines = session.scalar(select(func.count()).select_from(Baseline))
        created = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "baseline.created")
        )
    assert (baselines, created) == (1, 1)


def test_a_baseline_for_an_unregistered_model_is_refused(db_url, profile, validation, tmp_path):
    other = BaselineProfile.from_dict({**profile.to_dict(), "model_id": "unknown_model"})
    with store.session_scope(db_url) as session, pytest.raises(BaselineError) as error:
        create_baseline(
            session,
            model_id="unknown_model",
            model_version="1.0.0",
            profile=other,
            kind="deploy",
            created_by="eve",
            reason="test",
            data_dir=tmp_path,
            reference_sample=validation,
        )
    assert str(error.value) == UNKNOWN_MODEL.format(model_id="unknown_model")


def test_a_profile_of_another_model_version_is_refused(db_url, profile, validation, tmp_path):
    with store.session_scope(db_url) as session, pytest.raises(BaselineError) as error:
        create_baseline(
            session,
            model_id=MODEL_ID,
            model_version="2.0.0",
            profile=profile,
            kind="refresh",
            created_by="eve",
            reason="test",
            data_dir=tmp_path,
            reference_sample=validation,
        )
    assert str(error.value) == WRONG_MODEL.format(
        profile_model=MODEL_ID, profile_version="1.0.0", model_id=MODEL_ID, version="2.0.0"
    )


def test_the_reference_sample_is_bounded_deterministic_and_in_order(validation):
    first = draw_reference_sample(validation, rows=5, seed=2)
    assert len(first) == 5
    assert first["income"].is_monotonic_increasing
    pd.testing.assert_frame_equal(first, draw_reference_sample(validation, rows=5, seed=2))
    assert len(draw_reference_sample(validation)) == 20


def demo_version(data_dir: Path) -> dict[str, object]:
    """A small credit_approval version trained by the demo's own code, laid out as
    ``write_demo`` lays it out (write_demo itself trains four full models: over a minute)."""
    from govflow.demo.applicants import GENDER_SHARES, GENDERS, age_band_counts, generate_applicants
    from govflow.demo.outcomes import favourable_probability
    from govflow.demo.training import DEMO_MODELS, train_model, validation_frame

    rng = np.random.default_rng(11)
    training = generate_applicants(rng, age_band_counts(2000))
    trained = train_model(
        DEMO_MODELS[0], "1.0.0", training, rng.random(2000), random_state=0, boosting_rounds=20
    )
    applicants = generate_applicants(rng, age_band_counts(600))
    applicants["gender"] = rng.choice(GENDERS, size=600, p=GENDER_SHARES)
    labels = rng.random(600) < favourable_probability(MODEL_ID, applicants)
    directory = Path("models") / MODEL_ID / "1.0.0"
    (data_dir / directory).mkdir(parents=True)
    joblib.dump(trained.artifact, data_dir / directory / "model.pkl")
    validation_frame(trained, applicants, labels).to_parquet(
        data_dir / directory / "validation.parquet", index=False
    )
    return {
        "artifact_uri": f"{directory.as_posix()}/model.pkl",
        "artifact_sha256": hashlib.sha256(
            (data_dir / directory / "model.pkl").read_bytes()
        ).hexdigest(),
        "validation_uri": f"{directory.as_posix()}/validation.parquet",
        "training_snapshot_id": trained.training_snapshot_id,
    }


def test_the_demo_credit_model_gets_its_baseline_from_its_registered_validation_set(
    db_url, credit_entry, tmp_path
):
    config = load_config(CONFIG_DIR)
    version = demo_version(tmp_path)
    with store.session_scope(db_url) as session:
        registry.register_version(
            session,
            model_id=MODEL_ID,
            version="1.0.0",
            feature_version="credit-applicants-v1",
            validation_metrics={},
            decision_threshold=0.5,
            actor="olivia",
            **version,
        )
    arguments = {
        "data_dir": tmp_path,
        "model_id": MODEL_ID,
        "model_version": "1.0.0",
        "created_by": "dave",
        "created_on": date(2025, 3, 15),
    }
    with store.session_scope(db_url) as session:
        baseline = create_baseline_from_validation_set(session, config, **arguments)
        retried = create_baseline_from_validation_set(session, config, **arguments)
        assert retried.id == baseline.id
        profile = load_profile(baseline)
        assert (baseline.version, baseline.kind, baseline.is_active) == (
            "2025-03-15-v1",
            "deploy",
            True,
        )
    validation = pd.read_parquet(tmp_path / str(version["validation_uri"]))
    assert sorted(profile.numeric) == sorted(
        feature.name for feature in credit_entry.features if feature.dtype != "categorical"
    )
    assert len(profile.categorical) == 5
    assert sorted(profile.fairness) == ["age_band", "gender", "gender&age_band"]
    assert profile.attributions.rows_explained == 200
    assert profile.attributions.ranking[0] == "credit_score"
    assert profile.accuracy == pytest.approx(
        (validation["prediction"] == validation["label"]).mean()
    )
    assert len(pd.read_parquet(tmp_path / str(baseline.reference_sample_uri))) == 600


# --- the data-quality gate in front of a baseline of one's own data (baseline create) ------


@pytest.fixture(scope="module")
def tenancy_config(tmp_path_factory) -> GovflowConfig:
    """The repository's config with the README guide's tenancy_screening model."""
    directory = tmp_path_factory.mktemp("tenancy") / "config"
    shutil.copytree(CONFIG_DIR, directory)
    models = directory / "models.yaml"
    models.write_text(models.read_text() + TENANCY_ENTRY)
    return load_config(directory)


@pytest.fixture(scope="module")
def tenancy_data() -> pd.DataFrame:
    """400 clean applications dated 2024-05-01 (10 rows cut still leave 300 or more)."""
    return tenancy_rows(np.random.default_rng(7), 400, datetime(2024, 5, 1, tzinfo=UTC))


def gate(config: GovflowConfig, data: pd.DataFrame, **options: Any) -> GatedData:
    entry = config.models.get(TENANCY)
    return gate_baseline_data(config, entry, data, source="v.csv", now=NOW, **options)


def first(rows: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A change to the first ``rows`` rows' ``column`` (all rows for 400)."""

    def changed(data: pd.DataFrame) -> pd.DataFrame:
        data = data.copy()
        data[column] = data[column].astype(object)
        data.loc[: rows - 1, column] = value
        return data

    return changed


def test_a_baseline_needs_min_group_size_rows_per_bin(tenancy_config):
    assert minimum_baseline_rows(tenancy_config, tenancy_config.models.get(TENANCY)) == 300


def test_clean_data_passes_the_gate_whole_and_silently(tenancy_config, tenancy_data):
    gated = gate(tenancy_config, tenancy_data)

    assert gated.notes == ()
    assert gated.last_day == date(2024, 5, 1)
    # The labels are the gate's, parsed as numbers.
    pd.testing.assert_frame_equal(gated.rows, tenancy_data, check_dtype=False)


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            lambda data: data.head(5),
            "baseline data v.csv: 5 usable rows, fewer than the 300 a baseline of "
            "tenancy_screening needs (binning bins 10 x min_group_size 30)",
        ),
        (
            first(400, "prediction_id", "same"),
            "baseline data v.csv: 1 usable rows of 400 (the data-quality gate cut the rest: "
            "prediction_id: 399 duplicates), fewer than the 300 a baseline of "
            "tenancy_screening needs (binning bins 10 x min_group_size 30)",
        ),
        (
            first(400, "monthly_rent", -5.0),
            "baseline data v.csv refused by the data-quality gate: monthly_rent: 400 of 400 "
            "below 0",
        ),
        (
            first(400, "monthly_rent", np.inf),
            "baseline data v.csv refused by the data-quality gate: monthly_rent: 400 of 400 "
            "above 20000",
        ),
        (
            first(400, "nationality", None),
            "baseline data v.csv refused by the data-quality gate: nationality: 400 of 400 "
            "values null, more than 0% allowed",
        ),
        (
            first(150, "monthly_rent", None),
            "baseline data v.csv: 250 usable rows of 400 (the data-quality gate cut the rest: "
            "monthly_rent: 150 of 400 values null, more than 0% allowed; their rows are left "
            "out of the analysis), fewer than the 300 a baseline of tenancy_screening needs "
            "(binning bins 10 x min_group_size 30)",
        ),
        (
            first(400, "score", 50.0),
            "baseline data v.csv refused by the data-quality gate: score: 400 of 400 above 1",
        ),
        (
            first(400, "label", np.nan),
            "baseline data v.csv: label: none of the 400 usable rows has a label; a baseline "
            "needs observed outcomes",
        ),
        (
            first(400, "label", 7),
            "baseline data v.csv: label: none of the 400 usable rows has a label; a baseline "
            "needs observed outcomes",
        ),
        (
            first(400, "label", 0),
            "baseline data v.csv: label: all 400 labelled rows are 0; a baseline needs both "
            "outcomes (its accuracy and each group's error rates compare them)",
        ),
        (
            lambda data: data.drop(columns=["scored_at"]),
            "baseline data v.csv: no scored_at column, so the baseline cannot be named after "
            "the data's last day; name it with --name",
        ),
        (
            first(400, "scored_at", "garbage"),
            "baseline data v.csv: none of its 400 scored_at values is a timestamp, so the "
            "baseline cannot be named after the data's last day; name it with --name",
        ),
        (
            first(400, "scored_at", pd.Timestamp("2031-01-01", tz="UTC")),
            "baseline data v.csv: its last scored_at, 2031-01-01T00:00:00+00:00, is in the "
            "future, so the baseline cannot be named after it; correct the dates or name it "
            "with --name",
        ),
    ],
)
def test_data_the_gate_would_judge_critical_is_refused_in_one_line_naming_the_column(
    tenancy_config, tenancy_data, change, line
):
    with pytest.raises(BaselineError) as refused:
        gate(tenancy_config, change(tenancy_data))

    assert str(refused.value) == line


@pytest.mark.parametrize(
    ("change", "notes", "rows"),
    [
        (
            first(10, "monthly_rent", -5.0),
            [
                "monthly_rent: 10 of 400 below 0",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        (
            first(10, "monthly_rent", np.inf),
            [
                "monthly_rent: 10 of 400 above 20000",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        (
            first(10, "monthly_rent", "lots"),
            [
                "monthly_rent: 10 of 400 values not numeric ('lots')",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        (
            first(10, "tenancy_kind", "castle"),
            [
                "tenancy_kind: 10 of 400 not in allowed set ('castle')",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        (
            first(10, "sex", "other"),
            [
                "sex: 10 of 400 not in allowed set ('other')",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        # A null in a column the profile needs cuts its row, however few there are: a day
        # tolerates a share of them (null_tolerance), a baseline's reference does not.
        (
            first(2, "monthly_rent", None),
            [
                "monthly_rent: 2 of 400 values null, more than 0% allowed; their rows are left "
                "out of the analysis",
                "398 of 400 rows profiled; the gate left out the rest",
            ],
            398,
        ),
        (
            first(10, "tenancy_kind", None),
            [
                "tenancy_kind: 10 of 400 values null, more than 0% allowed; their rows are left "
                "out of the analysis",
                "390 of 400 rows profiled; the gate left out the rest",
            ],
            390,
        ),
        (
            first(3, "nationality", None),
            [
                "nationality: 3 of 400 values null, more than 0% allowed; their rows are left "
                "out of the analysis",
                "397 of 400 rows profiled; the gate left out the rest",
            ],
            397,
        ),
        (
            first(4, "score", np.nan),
            [
                "score: 4 of 400 values null, more than 0% allowed; their rows are left out of "
                "the analysis",
                "396 of 400 rows profiled; the gate left out the rest",
            ],
            396,
        ),
        # A label outside 0 and 1 is blanked; its row is kept for everything but accuracy.
        (first(10, "label", 7), ["label: 10 of 400 not in allowed set (7.0)"], 400),
        (
            first(10, "scored_at", "garbage"),
            ["scored_at: 10 of 400 values not timestamps ('garbage')"],
            400,
        ),
    ],
)
def test_a_lesser_problem_is_a_line_each_and_only_the_rows_the_gate_keeps_are_profiled(
    tenancy_config, tenancy_data, change, notes, rows
):
    gated = gate(tenancy_config, change(tenancy_data))

    assert list(gated.notes) == [f"baseline data v.csv: {note}" for note in notes]
    assert len(gated.rows) == rows
    assert set(gated.rows["tenancy_kind"]) <= {"flat", "house", "room"}
    assert set(gated.rows["sex"]) <= {"female", "male"}
    assert set(gated.rows["label"].dropna()) == {0, 1}
    assert np.isfinite(gated.rows["monthly_rent"].astype(float)).all()
    # Nothing the profile needs is missing (a label may be: the row is not labelled yet).
    needed = [c for c in profile_columns(tenancy_config.models.get(TENANCY)) if c != "label"]
    assert not gated.rows[needed].isna().any().any()


def test_a_baseline_of_other_data_over_a_versions_active_one_is_refused_as_a_reset(
    tenancy_config, tenancy_data, tmp_path
):
    """Refused by the library, not only by the command line: whoever calls it."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store.upgrade(url)
    entry = tenancy_config.models.get(TENANCY)
    other = tenancy_rows(np.random.default_rng(8), 400, datetime(2024, 5, 1, tzinfo=UTC))
    arguments = {"data_dir": tmp_path, "config": tenancy_config, "model": entry, "source": "v.csv"}
    with store.session_scope(url) as session:
        register_from_config(session, entry, version="1", actor=entry.owner)
        active = create_baseline_from_data(
            session, data=tenancy_data, created_by=entry.owner, **arguments
        )

    with store.session_scope(url) as session, pytest.raises(ResetRequired) as refused:
        create_baseline_from_data(session, data=other, created_by="nobody", **arguments)

    assert str(refused.value) == RESET_REQUIRED.format(
        model_id=TENANCY, version="1", active=active.version
    )


def test_the_same_data_under_another_name_is_refused_as_the_same_data_not_as_other_data(
    tenancy_config, tenancy_data, tmp_path
):
    """Its own name again, or none, returns the active baseline; another name is refused,
    and the line says the data are the same (not "other data")."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store.upgrade(url)
    entry = tenancy_config.models.get(TENANCY)
    arguments = {"data_dir": tmp_path, "config": tenancy_config, "model": entry, "source": "v.csv"}
    with store.session_scope(url) as session:
        register_from_config(session, entry, version="1", actor=entry.owner)
        active = create_baseline_from_data(
            session, data=tenancy_data, created_by=entry.owner, **arguments
        )

    with store.session_scope(url) as session:
        named_as_it_is = create_baseline_from_data(
            session, data=tenancy_data, created_by="eve", name=active.version, **arguments
        )
        with pytest.raises(ResetRequired) as refused:
            create_baseline_from_data(
                session, data=tenancy_data, created_by="eve", name="renamed", **arguments
            )

    assert named_as_it_is.id == active.id
    assert str(refused.value) == SAME_DATA_OTHER_NAME.format(
        model_id=TENANCY, version="1", active=active.version, name="renamed"
    )


def test_dates_that_cannot_name_a_baseline_are_accepted_when_it_is_named(
    tenancy_config, tenancy_data
):
    for change in (
        first(400, "scored_at", "garbage"),
        first(400, "scored_at", pd.Timestamp("2031-01-01", tz="UTC")),
    ):
        assert gate(tenancy_config, change(tenancy_data), named=True).last_day is None
    assert gate(tenancy_config, tenancy_data.drop(columns=["scored_at"]), named=True).notes == ()


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"not a pickle\n", "cannot be loaded by joblib ("),
        (None, "holds a dict, not a fitted model with predict_proba()"),
    ],
)
def test_an_artefact_registered_before_it_was_checked_is_refused_naming_it(
    db_url, tmp_path, content, line
):
    path = tmp_path / "model.joblib"
    if content is None:
        joblib.dump({"weights": [1, 2]}, path)
    else:
        path.write_bytes(content)
    with store.session_scope(db_url) as session:
        registry.register_version(
            session,
            model_id=MODEL_ID,
            version="1.0.0",
            artifact_uri=str(path),
            artifact_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            training_snapshot_id="s",
            feature_version="f",
            validation_uri=None,
            validation_metrics={},
            decision_threshold=None,
            actor="eve",
        )
        with pytest.raises(BaselineError) as refused:
            load_registered_model(
                session, data_dir=tmp_path, model_id=MODEL_ID, model_version="1.0.0"
            )

    assert str(refused.value).startswith(f"the artefact of {MODEL_ID} 1.0.0 at {path} {line}")
    assert "\n" not in str(refused.value)
