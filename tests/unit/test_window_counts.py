"""The SQL pushdown (govflow.monitoring.window_counts) gives what the numpy path gives on the
same window read with read_window, on SQLite and on Postgres."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from govflow.metrics import (
    MetricInputError,
    categorical_feature_drift,
    categorical_reference,
    group_counts,
    intersectional_groups,
    numeric_feature_drift,
    numeric_reference,
)
from govflow.monitoring import analysis
from govflow.monitoring.prediction_logs import PredictionLogError, SqlLogSource
from govflow.monitoring.window_counts import (
    categorical_drift,
    fairness_counts,
    labelled,
    model_version_counts,
    numeric_drift,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
AS_OF = START + timedelta(hours=20)
ROWS = 2_000
NUMERIC = ("income", "age")
CATEGORICAL = ("purpose",)
ATTRIBUTES = [["gender"], ["age_band"], ["gender", "age_band"]]


def _window(seed: int = 7) -> pd.DataFrame:
    """A demo-like window: nulls and infinities in the features, categories the baseline never
    saw, a missing attribute, labels missing or observed after AS_OF."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, ROWS)
    income[:15] = np.nan
    income[15:18] = np.inf
    income[18] = -np.inf
    age = rng.integers(18, 80, ROWS).astype("float64")
    age[30:40] = np.nan
    purpose = rng.choice(["car", "home", "education", "boat", "yacht"], ROWS).astype(object)
    purpose[40:60] = None
    gender = rng.choice(["female", "male"], ROWS).astype(object)
    gender[60:65] = None
    label = rng.integers(0, 2, ROWS).astype("float64")
    label[::7] = np.nan
    score = rng.random(ROWS)
    # Scores on the calibration bins' edges (0.3 * 10 is 3.0000000000000004 in doubles).
    score[:10] = [0.0, 1.0, 0.3, 0.7, 0.1, 0.9, 0.5, 0.2, 0.6, 0.8]
    scored_at = START + pd.to_timedelta(np.sort(rng.integers(0, 86_399_000, ROWS)), unit="ms")
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(ROWS)],
            "model_id": "credit_default",
            "model_version": "1",
            "scored_at": scored_at,
            "income": income,
            "age": age,
            "purpose": purpose,
            "gender": gender,
            "age_band": rng.choice(["18-25", "26-40", "41-65", "65+"], ROWS),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
            "label": label,
            "label_observed_at": scored_at + pd.to_timedelta(rng.integers(1, 10, ROWS), unit="h"),
        }
    )


def _references(seed: int = 3) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    numeric = {
        "income": numeric_reference(rng.lognormal(10.1, 0.5, 5_000)),
        "age": numeric_reference(rng.integers(18, 80, 5_000)),
    }
    categorical = {"purpose": categorical_reference(rng.choice(["car", "home", "education"], 500))}
    return numeric, categorical


def _load(url: str, frame: pd.DataFrame) -> SqlLogSource:
    engine = sa.create_engine(url)
    frame.to_sql("prediction_log", engine, index=False)
    return SqlLogSource(engine, "prediction_log")


def _leaves(found: object, path: str = "") -> dict[str, object]:
    """Every number of nested dicts and lists, by its path."""
    if isinstance(found, dict):
        return {k: v for key in found for k, v in _leaves(found[key], f"{path}/{key}").items()}
    if isinstance(found, (list, tuple)):
        return {
            k: v for i, item in enumerate(found) for k, v in _leaves(item, f"{path}/{i}").items()
        }
    return {path: found}


def _assert_same(pushed: dict, expected: dict) -> None:
    """The same keys and values, floats to the bit (sums added in the same order)."""
    pushed, expected = _leaves(pushed), _leaves(expected)
    assert pushed.keys() == expected.keys()
    for path, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(pushed[path]), path
        else:
            assert pushed[path] == value, path


def _numpy_path(source: SqlLogSource, favourable_prediction: int = 1) -> dict:
    frame = source.read_window(START, END)
    numeric, categorical = _references()
    found = {}
    for name, reference in numeric.items():
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
        found[name] = numeric_feature_drift(reference, values, feature=name).to_dict()
    for name, reference in categorical.items():
        found[name] = categorical_feature_drift(
            reference, frame[name].astype("object"), feature=name
        ).to_dict()
    labels = pd.to_numeric(frame["label"], errors="coerce").astype("float64")
    labels = labels.where(frame["label_observed_at"] < pd.Timestamp(AS_OF))
    for names in ATTRIBUTES:
        if len(names) == 1:
            subject, groups = names[0], frame[names[0]].astype("object")
        else:
            subject, groups = intersectional_groups({name: frame[name] for name in names})
        found[subject] = group_counts(
            labels.to_numpy(),
            frame["prediction"].to_numpy(),
            sensitive_features=groups,
            scores=frame["score"].to_numpy(),
            favourable_label=0,
            favourable_prediction=favourable_prediction,
        ).to_dict()
    return found


def _pushdown(source: SqlLogSource, favourable_prediction: int = 1) -> dict:
    numeric, categorical = _references()
    found = {
        name: drift.to_dict()
        for name, drift in {
            **numeric_drift(source, START, END, numeric),
            **categorical_drift(source, START, END, categorical),
        }.items()
    }
    counts = fairness_counts(
        source,
        START,
        END,
        ATTRIBUTES,
        as_of=AS_OF,
        favourable_label=0,
        favourable_prediction=favourable_prediction,
    )
    return found | {subject: c.to_dict() for subject, c in counts.items()}


@pytest.mark.parametrize("favourable_prediction", [1, 0])
def test_pushdown_counts_equal_the_numpy_path_on_sqlite(tmp_path, favourable_prediction):
    source = _load(f"sqlite:///{tmp_path / 'logs.db'}", _window())
    expected = _numpy_path(source, favourable_prediction)
    assert set(expected["purpose"]["unseen_categories"]) == {"boat", "yacht"}
    assert expected["income"]["infinite"] == 4 and expected["income"]["dropped_missing"] == 15
    _assert_same(_pushdown(source, favourable_prediction), expected)


def test_pushdown_counts_equal_the_numpy_path_on_postgres(postgres_url):
    source = _load(postgres_url, _window())
    with source.engine.begin() as connection:
        # A NaN Postgres stores (pandas writes NaN as NULL): read as missing by both paths.
        connection.execute(
            sa.text("UPDATE prediction_log SET age = 'NaN' WHERE prediction_id = 'p100'")
        )
    expected = _numpy_path(source)
    pushed = _pushdown(source)
    source.engine.dispose()
    assert expected["age"]["dropped_missing"] == 11
    _assert_same(pushed, expected)


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (
            ["1.0.0", "1.1.0", None, "", " 1.1.0 "],
            [("1.1.0", 800), ("unknown", 800), ("1.0.0", 400)],
        ),
        (["1.0.0"], [("1.0.0", ROWS)]),
        (None, []),
    ],
)
def test_rows_per_model_version_counted_are_the_read_windows_and_a_log_without_them_claims_none(
    tmp_path, versions, expected
):
    frame = _window()
    if versions is None:
        frame = frame.drop(columns="model_version")
    else:
        frame["model_version"] = [versions[row % len(versions)] for row in range(ROWS)]
    source = _load(f"sqlite:///{tmp_path / 'logs.db'}", frame)
    read = analysis.model_version_counts(source.read_window(START, END))
    counted = model_version_counts(source, START, END)
    assert list(counted.items()) == list(read.items()) == expected


def test_an_empty_window_gives_the_errors_the_numpy_path_raises(tmp_path):
    source = _load(f"sqlite:///{tmp_path / 'logs.db'}", _window().iloc[0:0])
    frame = source.read_window(START, END)
    numeric, categorical = _references()
    pushed = {
        **numeric_drift(source, START, END, numeric),
        **categorical_drift(source, START, END, categorical),
        **fairness_counts(source, START, END, ATTRIBUTES[:1], as_of=AS_OF),
    }
    expected = {}
    for name, reference in numeric.items():
        with pytest.raises(MetricInputError) as raised:
            numeric_feature_drift(reference, frame[name].to_numpy(dtype="float64"), feature=name)
        expected[name] = str(raised.value)
    with pytest.raises(MetricInputError) as raised:
        categorical_feature_drift(categorical["purpose"], frame["purpose"], feature="purpose")
    expected["purpose"] = str(raised.value)
    with pytest.raises(MetricInputError) as raised:
        group_counts([], [], sensitive_features=frame["gender"], scores=[])
    expected["gender"] = str(raised.value)
    assert {name: str(error) for name, error in pushed.items()} == expected


def test_a_column_of_nulls_gives_numpys_error_and_a_missing_table_one_line(tmp_path):
    frame = _window()
    frame["age"] = math.nan
    source = _load(f"sqlite:///{tmp_path / 'logs.db'}", frame)
    numeric, _ = _references()
    pushed = numeric_drift(source, START, END, {"age": numeric["age"]})["age"]
    with pytest.raises(MetricInputError) as expected:
        numeric_feature_drift(numeric["age"], frame["age"].to_numpy(), feature="age")
    assert str(pushed) == str(expected.value)
    missing = SqlLogSource(source.engine, "no_such_table")
    with pytest.raises(PredictionLogError, match=r"^prediction-log table 'no_such_table' does not"):
        numeric_drift(missing, START, END, numeric)
    with pytest.raises(
        PredictionLogError, match=r"^prediction-log table 'prediction_log' has no column 'tenure'$"
    ):
        numeric_drift(source, START, END, {"tenure": numeric["age"]})


def test_the_demo_credit_models_drift_and_fairness_from_postgres_equal_its_parquet_ones(
    seeded_demo, postgres_url
):
    """Issue 18 item 5's check on the metrics' inputs: the demo credit model's last day, read
    from its parquet logs by the pandas path and counted inside Postgres by the pushdown."""
    from govflow import settings, store
    from govflow.baselines.profile import active_baseline, load_profile
    from govflow.config import load_config
    from govflow.monitoring.prediction_logs import ParquetLogSource

    data_dir, db_url = seeded_demo
    model = load_config(settings.config_dir()).models.get("credit_approval")
    assert model is not None
    with store.session_scope(db_url) as session:
        profile = load_profile(active_baseline(session, model.id))
    parquet = ParquetLogSource(Path(data_dir) / model.prediction_log.path)
    last = parquet.partitions(START - timedelta(days=3650), START + timedelta(days=3650))[-1]
    day = datetime.fromisoformat(last.parent.name.removeprefix("date=")).replace(tzinfo=UTC)
    start, end = day, day + timedelta(days=1)
    frame = parquet.read_window(start, end)
    source = SqlLogSource(postgres_url, "credit_approval_log")
    frame.to_sql("credit_approval_log", source.engine, index=False)
    attributes = [[a.name] for a in model.protected_attributes] + list(model.intersections)

    expected = {}
    for name, reference in profile.numeric.items():
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
        expected[name] = numeric_feature_drift(reference, values, feature=name).to_dict()
    for name, reference in profile.categorical.items():
        expected[name] = categorical_feature_drift(
            reference, frame[name].astype("object"), feature=name
        ).to_dict()
    labels = pd.to_numeric(frame["label"], errors="coerce").astype("float64")
    labels = labels.where(frame["label_observed_at"] < pd.Timestamp(end))
    for names in attributes:
        subject, groups = (
            (names[0], frame[names[0]].astype("object"))
            if len(names) == 1
            else intersectional_groups({name: frame[name] for name in names})
        )
        expected[subject] = group_counts(
            labels.to_numpy(),
            frame["prediction"].to_numpy(),
            sensitive_features=groups,
            scores=frame["score"].to_numpy(),
            favourable_label=model.favourable_label,
            favourable_prediction=model.favourable_prediction,
        ).to_dict()

    pushed = {
        name: drift.to_dict()
        for name, drift in {
            **numeric_drift(source, start, end, profile.numeric),
            **categorical_drift(source, start, end, profile.categorical),
        }.items()
    }
    counts = fairness_counts(
        source,
        start,
        end,
        attributes,
        as_of=end,
        favourable_label=model.favourable_label,
        favourable_prediction=model.favourable_prediction,
    )
    pushed |= {subject: c.to_dict() for subject, c in counts.items()}
    source.engine.dispose()
    assert len(frame) > 1000 and len(attributes) >= 2
    _assert_same(pushed, expected)


def test_a_label_counts_as_arrived_by_the_moment_its_sqlite_text_names_as_pandas_reads_it(
    tmp_path: Path,
) -> None:
    # Compared as text, "2025-03-05T10:00:00" sorted after 10:30 written with a space, and
    # an offset was not read: an as_of inside the day counted the wrong labels as arrived.
    observed = [
        "2025-03-05T10:00:00",
        "2025-03-05T12:00:00+02:00",  # 10:00 UTC
        "2025-03-05T10:45:00Z",
        "2025-03-05 10:15:00.000000",
        None,
        "soon",
    ]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'labels.db'}")
    frame = pd.DataFrame({"label": [1, 0, 1, 1, 0, 1], "label_observed_at": observed})
    frame.to_sql("labels", engine, index=False)
    table = sa.Table("labels", sa.MetaData(), autoload_with=engine)
    as_of = datetime(2025, 3, 5, 10, 30, tzinfo=UTC)
    with engine.connect() as connection:
        in_database = [
            row[0] for row in connection.execute(sa.select(labelled(table, as_of, "sqlite")))
        ]
    in_pandas = analysis._labelled(frame, as_of).tolist()
    assert in_database == [1, 0, None, 1, None, None]
    assert [None if math.isnan(v) else v for v in in_pandas] == in_database
    engine.dispose()
