"""The data-quality gate counted inside the database (govflow.monitoring.window_quality) gives
the pandas gate's report of the same window read with read_window, or hands the window to
the pandas gate whenever that gate would cut, blank or parse rows; on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from govflow.monitoring.prediction_logs import SqlLogSource
from govflow.monitoring.quality import ColumnRule, QualityPolicy, run_quality_gate
from govflow.monitoring.window_quality import DISTINCT_LIMIT, counted_quality_gate

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
ROWS = 200
RULES = (
    ColumnRule("income", "numeric", minimum=0, maximum=1e6, max_null_fraction=0.01),
    ColumnRule("term", "integer", minimum=6, maximum=360, max_null_fraction=0.01),
    ColumnRule(
        "purpose",
        "categorical",
        categories=("car", "home", "education"),
        max_null_fraction=0.01,
        keep_unexpected=True,
    ),
    ColumnRule("gender", "categorical", categories=("female", "male")),
    ColumnRule("score", "numeric", minimum=0.0, maximum=1.0),
    ColumnRule("prediction", "integer", minimum=0, maximum=1),
    ColumnRule("label", "label", max_null_fraction=1.0, required=False),
)
POLICY = QualityPolicy(
    expected_rows=ROWS,
    volume_tolerance=0.2,
    max_staleness_hours=6,
    min_rows=50,
    unseen_category_fraction_max=0.01,
)


def _window() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    score = rng.random(ROWS)
    label = rng.integers(0, 2, ROWS).astype("float64")
    label[::5] = np.nan
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i:04d}" for i in range(ROWS)],
            "model_id": "m",
            "model_version": "1",
            "scored_at": START + pd.to_timedelta(np.arange(ROWS) * 360, unit="s"),
            "income": rng.lognormal(10, 0.5, ROWS),
            "term": rng.integers(6, 360, ROWS),
            "purpose": rng.choice(["car", "home", "education"], ROWS).astype(object),
            "gender": rng.choice(["female", "male"], ROWS).astype(object),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
            "label": label,
        }
    )


def _set(column: str, rows: slice | list[int], value: object) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        if value is None or isinstance(value, str):
            frame[column] = frame[column].astype(object)
        elif isinstance(value, float) and frame[column].dtype != "float64":
            frame[column] = frame[column].astype("float64")
        frame.loc[frame.index[rows], column] = value

    return change


def _both(*changes: Callable[[pd.DataFrame], None]) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        for each in changes:
            each(frame)

    return change


def _keep(rows: int) -> Callable[[pd.DataFrame], None]:
    """Only the window's last ``rows`` rows (the newest stays as fresh)."""

    def change(frame: pd.DataFrame) -> None:
        frame.drop(frame.index[: len(frame) - rows], inplace=True)

    return change


def _earlier(hours: float) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame["scored_at"] = START + (frame["scored_at"] - START) * (hours / 20)

    return change


# (case, change to the window, what the pandas gate finds: its counted twin gives it too)
COUNTED = [
    ("a clean window", lambda frame: None, []),
    ("too few rows", _keep(40), ["min_rows"]),
    ("a volume below the policy's", _keep(120), ["volume"]),
    ("nulls above a feature's tolerance", _set("income", slice(0, 5), np.nan), ["nulls"]),
    ("a feature with no value at all", _set("income", slice(None), np.nan), ["nulls"]),
    ("nulls in a protected attribute", _set("gender", [3, 9], None), ["nulls"]),
    (
        "unseen categories, most rows first",
        _both(
            _set("purpose", slice(0, 5), "boat"),
            _set("purpose", slice(10, 13), "yacht"),
            _set("purpose", [20], "kayak"),
        ),
        ["categories"],
    ),
    (
        "unseen categories tied in rows, first seen first",
        _both(_set("purpose", [30, 31], "yacht"), _set("purpose", [40, 41], "boat")),
        ["categories"],
    ),
    ("one unseen category, below the policy's share", _set("purpose", [7], "boat"), ["categories"]),
    ("a stale window", _earlier(12), ["freshness"]),
]
# (case, change, what the pandas gate finds that makes the counted gate hand the window over)
READ = [
    ("an empty window", _keep(0), "no_rows"),
    ("a value above its maximum", _set("income", [4], 2e6), "range"),
    ("an infinite value", _set("income", [4], np.inf), "range"),
    ("a fraction in an integer column", _set("term", [4], 12.5), "type"),
    ("a label outside 0 and 1", _set("label", [4], 2.0), "categories"),
    ("a protected attribute outside its groups", _set("gender", [4], "other"), "categories"),
    ("a duplicated id", _set("prediction_id", [4], "p0003"), "duplicates"),
    ("a missing id", _set("prediction_id", [4], None), "nulls"),
    ("a missing score", _set("score", [4], np.nan), "nulls"),
    ("a column the table lacks", lambda frame: frame.drop(columns="term", inplace=True), None),
    ("text in a numeric column", _set("income", [4], "n/a"), "type"),
]


def _source(url: str, frame: pd.DataFrame) -> SqlLogSource:
    engine = sa.create_engine(url)
    frame.to_sql("prediction_log", engine, index=False)
    return SqlLogSource(engine, "prediction_log")


def _reports(source: SqlLogSource) -> tuple[dict | None, dict]:
    counted = counted_quality_gate(
        source, rules=RULES, policy=POLICY, window_start=START, window_end=END
    )
    pandas = run_quality_gate(
        source.read_window(START, END),
        rules=RULES,
        policy=POLICY,
        window_start=START,
        window_end=END,
    )
    source.engine.dispose()
    return (None if counted is None else counted.to_dict()), pandas.to_dict()


@pytest.fixture(params=["sqlite", "postgres"])
def log_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'logs.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize(("case", "change", "checks"), COUNTED, ids=[c[0] for c in COUNTED])
def test_the_counted_gate_gives_the_pandas_gates_report(log_url, case, change, checks):
    frame = _window()
    change(frame)
    counted, pandas = _reports(_source(log_url, frame))
    assert [finding["check"] for finding in pandas["findings"]] == checks
    assert counted == pandas


@pytest.mark.parametrize(("case", "change", "check"), READ, ids=[c[0] for c in READ])
def test_a_window_the_pandas_gate_would_cut_or_parse_is_handed_to_it(log_url, case, change, check):
    frame = _window()
    change(frame)
    counted, pandas = _reports(_source(log_url, frame))
    assert counted is None
    found = [finding["check"] for finding in pandas["findings"]]
    assert check is None or check in found, found


def test_on_sqlite_a_text_value_a_real_column_holds_is_handed_to_the_pandas_gate(tmp_path):
    """Dynamic typing: the declared REAL column keeps 'n/a' as text (typeof), which pandas
    reads and the pandas gate reports as a value that is not a number."""
    source = _source(f"sqlite:///{tmp_path / 'logs.db'}", _window())
    with source.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE prediction_log SET income = 'n/a' WHERE prediction_id = 'p0004'")
        )
    counted, pandas = _reports(source)
    assert counted is None
    assert [finding["check"] for finding in pandas["findings"]] == ["type"]


def test_more_distinct_categories_than_the_limit_are_handed_to_the_pandas_gate(tmp_path):
    frame = pd.concat([_window()] * (DISTINCT_LIMIT // ROWS + 1), ignore_index=True)
    frame["prediction_id"] = [f"p{i:05d}" for i in range(len(frame))]
    frame["scored_at"] = START + pd.to_timedelta(np.arange(len(frame)) * 60, unit="s")
    frame["purpose"] = [f"kind {i}" for i in range(len(frame))]
    counted, pandas = _reports(_source(f"sqlite:///{tmp_path / 'logs.db'}", frame))
    assert counted is None
    assert [finding["check"] for finding in pandas["findings"]] == ["volume", "categories"]


def test_on_postgres_a_stored_nan_is_a_null_to_both_gates(postgres_url):
    """pandas writes NaN as NULL, but Postgres can store one, and pandas reads it as missing."""
    source = _source(postgres_url, _window())
    with source.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE prediction_log SET income = 'NaN' WHERE prediction_id < 'p0005'")
        )
    counted, pandas = _reports(source)
    assert [finding["unexpected_count"] for finding in pandas["findings"]] == [5]
    assert counted == pandas


OBSERVED_AT = ColumnRule("label_observed_at", "timestamp", max_null_fraction=1.0, required=False)


def test_on_sqlite_a_label_time_that_is_not_a_time_is_handed_to_the_pandas_gate(tmp_path):
    """SQLite keeps any text in a TIMESTAMP column; 'soon' compared with the window's bounds
    as text would silently leave its label out, where the pandas gate names it."""
    frame = _window()
    frame["label_observed_at"] = frame["scored_at"] + timedelta(hours=2)
    source = _source(f"sqlite:///{tmp_path / 'logs.db'}", frame)
    rules = (*RULES, OBSERVED_AT)
    gate = {"rules": rules, "policy": POLICY, "window_start": START, "window_end": END}
    clean = counted_quality_gate(source, **gate)
    with source.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE prediction_log SET label_observed_at = 'soon' WHERE prediction_id = 'p0004'"
            )
        )

    counted = counted_quality_gate(source, **gate)
    pandas = run_quality_gate(source.read_window(START, END), **gate)
    source.engine.dispose()

    assert clean is not None and clean.findings == ()
    assert counted is None
    assert [f.message for f in pandas.findings] == [
        "label_observed_at: 1 of 200 values not timestamps ('soon')"
    ]
