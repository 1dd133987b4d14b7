"""Reading prediction logs: window filtering, partition pruning, parquet and SQL giving the
same frame, and clear errors for what cannot be read."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import joblib
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from govflow.baselines.profile import BaselineProfile, build_profile
from govflow.config import GovflowConfig, load_config
from govflow.config.inventory import SqlLog
from govflow.demo import write_demo
from govflow.monitoring.analysis import analyse_window, log_source, read_windows
from govflow.monitoring.prediction_logs import (
    BAD_URL,
    BAD_WINDOW,
    MISDATED_ROWS,
    MISSING_DIRECTORY,
    MISSING_TABLE,
    NOT_A_PARTITION,
    NOT_PARQUET,
    REQUIRED_COLUMNS,
    ROWS_WITHOUT_SCORED_AT,
    SQLITE_SCHEMA,
    UNDATED_ROWS,
    UNDATED_TABLE_ROWS,
    UNKNOWN_VERSION,
    UNREADABLE_PARTITION,
    ParquetLogSource,
    PredictionLogError,
    PredictionLogSource,
    SqlLogSource,
    counted_versions,
    log_columns,
    partition_path,
)

DAYS = (date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3))
HOURS = (0, 6, 12, 18)


def hand_written_log(day: date) -> pd.DataFrame:
    """Four predictions a day, at 00:00, 06:00, 12:00 and 18:00 UTC."""
    scored_at = [datetime(day.year, day.month, day.day, hour, tzinfo=UTC) for hour in HOURS]
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{hour:02d}" for hour in HOURS],
            "model_id": "credit_approval",
            "model_version": "1.0.0",
            "scored_at": pd.to_datetime(scored_at, utc=True),
            "income": [40_000.0, 52_000.5, 61_000.0, 75_000.25],
            "region": ["north", "south", "east", "west"],
            "gender": ["female", "male", "female", "non_binary"],
            "score": [0.2, 0.55, 0.7, 0.9],
            "prediction": pd.array([0, 1, 1, 1], dtype="int8"),
            "label": pd.array([0, None, 1, None], dtype="Int8"),
            "label_observed_at": pd.to_datetime(
                [scored_at[0] + timedelta(days=5), None, scored_at[2] + timedelta(days=5), None],
                utc=True,
            ),
        }
    )


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    for day in DAYS:
        path = partition_path(tmp_path, day)
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(hand_written_log(day), preserve_index=False), path)
    return tmp_path


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "expected_ids"),
    [
        (at(1), at(2), ["2025-03-01-00", "2025-03-01-06", "2025-03-01-12", "2025-03-01-18"]),
        (at(1, 12), at(2, 6), ["2025-03-01-12", "2025-03-01-18", "2025-03-02-00"]),
        (at(2, 6), at(2, 6), []),
        (at(3, 18), at(4), ["2025-03-03-18"]),
        (at(1, 19), at(2), []),
    ],
)
def test_a_window_returns_exactly_the_predictions_scored_inside_it(
    log_dir: Path, start: datetime, end: datetime, expected_ids: list[str]
) -> None:
    frame = ParquetLogSource(log_dir).read_window(start, end)
    assert frame["prediction_id"].tolist() == expected_ids


def test_only_partitions_overlapping_the_window_are_opened(log_dir: Path) -> None:
    source = ParquetLogSource(log_dir)
    assert source.partitions(at(1, 12), at(2, 6)) == [
        partition_path(log_dir, DAYS[0]),
        partition_path(log_dir, DAYS[1]),
    ]
    assert source.partitions(at(2), at(3)) == [partition_path(log_dir, DAYS[1])]
    partition_path(log_dir, DAYS[2]).write_bytes(b"not parquet at all")
    assert len(source.read_window(at(1), at(3))) == 8


def test_windows_read_together_are_each_the_window_read_alone(log_dir: Path) -> None:
    source = ParquetLogSource(log_dir)
    spans = [(at(2, 6), at(4)), (at(1, 12), at(3, 1)), (at(1), at(1, 1))]
    for together, (start, end) in zip(source.read_windows(spans), spans, strict=True):
        pd.testing.assert_frame_equal(together, source.read_window(start, end))
        assert together.attrs == source.read_window(start, end).attrs


def test_an_unreadable_partition_raises_an_error_naming_the_file(log_dir: Path) -> None:
    broken = partition_path(log_dir, DAYS[1])
    broken.write_bytes(b"PAR1 truncated")
    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(log_dir).read_window(at(1), at(4))
    assert str(raised.value) == UNREADABLE_PARTITION.format(path=broken)
    assert str(raised.value) == f"prediction-log partition {broken} cannot be read as parquet"


@pytest.mark.parametrize("stray", ["part-0.csv", "part-0.parquet.gz", "hour=01"])
def test_anything_but_parquet_in_a_partition_of_the_window_is_named_not_left_out(
    log_dir: Path, stray: str
) -> None:
    """A day logged as CSV beside (or instead of) its parquet would be rows left out of the
    window without a word."""
    partition = partition_path(log_dir, DAYS[1]).parent
    if "=" in stray:
        (partition / stray).mkdir()
    else:
        (partition / stray).write_text("prediction_id,score\n")

    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(log_dir).read_window(at(2), at(3))

    assert str(raised.value) == NOT_PARQUET.format(path=partition / stray)


@pytest.mark.parametrize("name", ["date=2025-3-2", "date=2025-03-02 00%3A00%3A00", "date=x"])
def test_a_partition_named_as_no_day_is_named_not_passed_over(log_dir: Path, name: str) -> None:
    """Its rows would be in no window, and every analysis would say nothing of them."""
    misnamed = log_dir / name
    misnamed.mkdir()
    pd.read_parquet(partition_path(log_dir, DAYS[1])).to_parquet(misnamed / "part-0.parquet")

    for read in (
        lambda source: source.read_window(at(1), at(2)),
        lambda source: source.newest_day(before=DAYS[2]),
    ):
        with pytest.raises(PredictionLogError) as raised:
            read(ParquetLogSource(log_dir))
        assert str(raised.value) == NOT_A_PARTITION.format(path=misnamed)


def test_a_file_named_as_a_partition_is_named_not_passed_over(log_dir: Path) -> None:
    stray = log_dir / "date=2025-03-09"
    stray.write_bytes(b"")

    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(log_dir).read_window(at(1), at(2))

    assert str(raised.value) == NOT_A_PARTITION.format(path=stray)


def test_hidden_files_in_a_partition_are_passed_over_as_pyarrow_passes_them(
    log_dir: Path,
) -> None:
    partition = partition_path(log_dir, DAYS[1]).parent
    for hidden in ("_SUCCESS", ".part-0.parquet.crc", ".gw-1-0.parquet.tmp"):
        (partition / hidden).write_bytes(b"")

    frame = ParquetLogSource(log_dir).read_window(at(2), at(3))

    assert len(frame) == len(pd.read_parquet(partition_path(log_dir, DAYS[1])))


def test_an_empty_window_gives_an_empty_frame_with_the_stored_columns(log_dir: Path) -> None:
    frame = ParquetLogSource(log_dir).read_window(at(10), at(11))
    assert frame.empty
    assert list(frame.columns) == list(hand_written_log(DAYS[0]).columns)
    selected = ParquetLogSource(log_dir).read_window(at(10), at(11), columns=["score"])
    assert list(selected.columns) == ["score"]


def test_an_empty_window_has_the_declared_layout_whatever_a_file_outside_it_holds(
    log_dir: Path,
) -> None:
    partition_path(log_dir, DAYS[0]).write_bytes(b"PAR1 truncated")
    layout = log_columns(["income", "region", "months_at_address"], ["gender"])

    frame = ParquetLogSource(log_dir, layout=layout).read_window(at(10), at(11))
    selected = ParquetLogSource(log_dir, layout=layout).read_window(
        at(10), at(11), columns=["score", "attribution__income"]
    )

    assert frame.empty
    assert list(frame.columns) == layout
    assert list(selected.columns) == ["score"]


def test_an_empty_window_without_a_declared_layout_passes_over_an_unreadable_file(
    log_dir: Path,
) -> None:
    partition_path(log_dir, DAYS[0]).write_bytes(b"PAR1 truncated")

    frame = ParquetLogSource(log_dir).read_window(at(10), at(11))

    assert frame.empty
    assert list(frame.columns) == list(hand_written_log(DAYS[1]).columns)


def test_an_unreadable_file_inside_the_window_is_named_even_with_a_declared_layout(
    log_dir: Path,
) -> None:
    broken = partition_path(log_dir, DAYS[1])
    broken.write_bytes(b"PAR1 truncated")
    layout = log_columns(["income", "region"], ["gender"])

    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(log_dir, layout=layout).read_window(at(2), at(3))

    assert str(raised.value) == UNREADABLE_PARTITION.format(path=broken)


def test_the_frame_has_documented_dtypes_and_only_the_requested_columns(log_dir: Path) -> None:
    frame = ParquetLogSource(log_dir).read_window(at(1), at(2))
    assert str(frame["scored_at"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["label"].dtype) == "Int8"
    assert str(frame["prediction"].dtype) == "int8"
    assert frame["label"].isna().tolist() == [False, True, False, True]
    columns = ParquetLogSource(log_dir).read_window(at(1), at(2), columns=["score", "label"])
    assert list(columns.columns) == ["score", "label"]


def test_a_regressors_amounts_are_read_as_floats_from_parquet_and_sql_never_cast_to_int8(
    tmp_path: Path,
) -> None:
    log = hand_written_log(DAYS[0]).assign(
        prediction=[580.5, 0.0, 127.0, 19999.75], label=[612.0, None, 3.5, None]
    )
    path = partition_path(tmp_path / "parquet", DAYS[0])
    path.parent.mkdir(parents=True)
    log.to_parquet(path, index=False)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    log.to_sql("predictions", engine, index=False)

    for source in (
        ParquetLogSource(tmp_path / "parquet", amounts=True),
        SqlLogSource(engine, "predictions", amounts=True),
    ):
        frame = source.read_window(at(1), at(2))
        assert str(frame["prediction"].dtype) == str(frame["label"].dtype) == "float64"
        assert frame["prediction"].tolist() == [580.5, 0.0, 127.0, 19999.75]
        assert frame["label"].isna().tolist() == [False, True, False, True]
    engine.dispose()


@pytest.mark.parametrize(
    ("column", "stored"),
    [
        ("prediction", [0.2, 0.55, 0.7, 0.9]),  # the score logged as the decision
        ("prediction", [0.0, 0.5, 1.0, 1.0]),
        ("prediction", [0.0, 300.0, 1.0, 1.0]),  # int8 would wrap it to 44
        ("prediction", [0, 256, 1, 1]),  # and this to 0
        ("label", [0.0, float("inf"), 1.0, None]),
        ("label", [0.0, 0.5, None, None]),
    ],
)
def test_outcomes_that_are_not_0_or_1_come_back_as_stored_never_cast_to_int8(
    tmp_path: Path, column: str, stored: list[float | None]
) -> None:
    log = hand_written_log(DAYS[0]).assign(**{column: stored})
    path = partition_path(tmp_path / "parquet", DAYS[0])
    path.parent.mkdir(parents=True)
    log.to_parquet(path, index=False)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    log.to_sql("predictions", engine, index=False)

    for source in (ParquetLogSource(tmp_path / "parquet"), SqlLogSource(engine, "predictions")):
        frame = source.read_window(at(1), at(2))
        assert frame[column].astype("float64").tolist() == pytest.approx(
            pd.Series(stored, dtype="float64").tolist(), nan_ok=True
        )
    engine.dispose()


def test_timestamps_stored_as_text_are_parsed_value_by_value_without_a_warning(
    tmp_path: Path,
) -> None:
    log = hand_written_log(DAYS[0]).assign(
        scored_at=["2025-03-01T00:00:00Z", "yesterday", "2025-03-01 12:00:00+00:00", "03/01/2025"],
        label_observed_at=["2025-03-06T00:00:00Z", None, "soon", "2025-03-06 18:00"],
    )
    path = partition_path(tmp_path, DAYS[0])
    path.parent.mkdir(parents=True)
    log.to_parquet(path, index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' "Could not infer format" would be one
        frame = ParquetLogSource(tmp_path).read_window(at(1), at(2))

    assert frame["prediction_id"].tolist() == ["2025-03-01-00", "2025-03-01-18", "2025-03-01-12"]
    assert frame["scored_at"].tolist() == [at(1), at(1), at(1, 12)]


def test_rows_left_out_for_their_scored_at_are_counted_by_reason(tmp_path: Path) -> None:
    """Unparseable or null times used to be counted as dated outside their partition's day."""
    dated = hand_written_log(DAYS[0]).assign(
        scored_at=["2025-03-01T06:00:00Z", "yesterday", None, "2025-02-20T06:00:00Z"]
    )
    undated = hand_written_log(DAYS[1]).drop(columns=["scored_at"])
    for day, log in ((DAYS[0], dated), (DAYS[1], undated)):
        path = partition_path(tmp_path, day)
        path.parent.mkdir(parents=True)
        log.to_parquet(path, index=False)

    frame = ParquetLogSource(tmp_path).read_window(at(1), at(3))

    assert frame["prediction_id"].tolist() == ["2025-03-01-00"]
    assert frame.attrs == {MISDATED_ROWS: 1, UNDATED_ROWS: 2, ROWS_WITHOUT_SCORED_AT: 4}


def test_naive_datetimes_are_read_as_utc(log_dir: Path) -> None:
    frame = ParquetLogSource(log_dir).read_window(datetime(2025, 3, 1, 12), datetime(2025, 3, 2))
    assert frame["prediction_id"].tolist() == ["2025-03-01-12", "2025-03-01-18"]


def test_a_window_ending_before_it_starts_is_refused(log_dir: Path) -> None:
    with pytest.raises(ValueError) as raised:
        ParquetLogSource(log_dir).read_window(at(2), at(1))
    assert str(raised.value) == BAD_WINDOW.format(
        start="2025-03-02T00:00:00+00:00", end="2025-03-01T00:00:00+00:00"
    )


def test_a_missing_directory_is_a_prediction_log_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(missing).read_window(at(1), at(2))
    assert str(raised.value) == MISSING_DIRECTORY.format(path=missing)


def test_a_missing_table_is_a_prediction_log_error(tmp_path: Path) -> None:
    source = SqlLogSource(f"sqlite:///{tmp_path / 'logs.db'}", "predictions")
    with pytest.raises(PredictionLogError) as raised:
        source.read_window(at(1), at(2))
    assert str(raised.value) == MISSING_TABLE.format(table="predictions")


def test_a_table_without_scored_at_is_a_prediction_log_error_naming_the_column(
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    hand_written_log(DAYS[0]).drop(columns=["scored_at"]).to_sql("predictions", engine)

    with pytest.raises(PredictionLogError) as raised:
        SqlLogSource(engine, "predictions").read_window(at(1), at(2))

    assert str(raised.value) == "prediction-log table 'predictions' has no column 'scored_at'"
    engine.dispose()


def test_log_columns_put_identity_first_and_outcomes_last() -> None:
    assert log_columns(["income"], ["gender"]) == [
        "prediction_id",
        "model_id",
        "model_version",
        "scored_at",
        "income",
        "gender",
        "score",
        "prediction",
        "label",
        "label_observed_at",
    ]
    assert log_columns([], []) == list(REQUIRED_COLUMNS)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("demo")
    manifest = write_demo(directory, days=35, rows_per_day=200, start=date(2025, 3, 1))
    return directory, manifest.content


def test_parquet_and_sql_sources_return_the_same_frame_for_the_demo_logs(
    demo: tuple[Path, dict], tmp_path: Path
) -> None:
    directory, _ = demo
    parquet = ParquetLogSource(directory / "prediction_logs" / "credit_approval")
    # The first twenty days: every scenario but the malformed day, whose broken dtypes a
    # database column could not hold.
    everything = parquet.read_window(at(1), at(21))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    everything.to_sql("credit_approval_predictions", engine, index=False)
    sql = SqlLogSource(engine, "credit_approval_predictions")
    sources: list[PredictionLogSource] = [parquet, sql]
    for start, end in [(at(2, 7), at(5, 13)), (at(1), at(21)), (at(19, 23), at(20, 1))]:
        frames = [source.read_window(start, end) for source in sources]
        pd.testing.assert_frame_equal(frames[0], frames[1])
        assert len(frames[0]) > 0
    columns = ["prediction_id", "score", "label"]
    pd.testing.assert_frame_equal(
        parquet.read_window(at(3), at(4), columns=columns),
        sql.read_window(at(3), at(4), columns=columns),
    )


@pytest.mark.parametrize(
    ("checks", "labelled_rows"),
    [(["explanation_drift"], 0), (["data_drift"], 0), (["model_drift"], 1400)],
)
def test_the_window_whose_labels_have_arrived_is_read_only_for_checks_that_read_labels(
    demo: tuple[Path, dict], checks: list[str], labelled_rows: int
) -> None:
    directory, _ = demo
    model = load_config(CONFIG_DIR).models.get("credit_approval")
    current, matured = read_windows(model, directory, at(8), at(15), checks=checks)
    assert (len(current), len(matured)) == (1400, labelled_rows)


def test_a_malformed_but_readable_day_comes_back_as_it_is(demo: tuple[Path, dict]) -> None:
    directory, manifest = demo
    malformed = date.fromisoformat(manifest["malformed_details"]["date"])
    start = datetime(malformed.year, malformed.month, malformed.day, tzinfo=UTC)
    source = ParquetLogSource(directory / "prediction_logs" / "credit_approval")
    day = source.read_window(start, start + timedelta(days=1))
    assert len(day) == 200
    assert "months_at_address" not in day.columns
    assert (day["income"] == "n/a").sum() == 2
    around = source.read_window(start - timedelta(days=1), start + timedelta(days=2))
    assert len(around) == 600
    assert around["months_at_address"].isna().sum() == 200
    assert (around["income"] == "n/a").sum() == 2


CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def demo_baseline(demo: tuple[Path, dict]) -> tuple[GovflowConfig, BaselineProfile, object]:
    """The config, the credit model's baseline profile on its demo validation set, the model."""
    directory, manifest = demo
    config = load_config(CONFIG_DIR)
    entry = config.models.get("credit_approval")
    demo_model = next(m for m in manifest["models"] if m["id"] == entry.id)
    version = next(
        v for v in demo_model["versions"] if v["version"] == demo_model["current_version"]
    )
    model = joblib.load(directory / version["artifact_path"])
    validation = pd.read_parquet(directory / version["validation_path"])
    profile = build_profile(
        entry.id, version["version"], validation=validation, model=model, model_config=entry
    )
    return config, profile, model


@pytest.fixture(params=["sqlite", "postgres"])
def log_database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[sa.Engine, str | None]:
    """An empty database to write prediction logs into, and the schema to write them in: none
    on SQLite (whose schemas are ATTACHed files), ``scoring`` on a real Postgres."""
    if request.param == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}"), None
    engine = sa.create_engine(request.getfixturevalue("postgres_url"))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS scoring CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA scoring"))
    request.addfinalizer(engine.dispose)
    return engine, "scoring"


def test_the_sql_source_gives_the_parquet_frame_and_the_same_findings_on_the_same_rows(
    demo: tuple[Path, dict],
    demo_baseline,
    log_database: tuple[sa.Engine, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory, _ = demo
    engine, schema = log_database
    config, profile, model = demo_baseline
    parquet = ParquetLogSource(directory / "prediction_logs" / "credit_approval")
    rows = parquet.read_window(at(1), at(21))
    rows.to_sql("predictions", engine, schema=schema, index=False)
    # Reached as models.yaml's own comment shows: kind sql, the URL in url_env, schema.table.
    table = f"{schema}.predictions" if schema else "predictions"
    monkeypatch.setenv("GOVFLOW_CREDIT_LOGS_URL", engine.url.render_as_string(hide_password=False))
    entry = config.models.get("credit_approval").model_copy(
        update={
            "prediction_log": SqlLog(kind="sql", url_env="GOVFLOW_CREDIT_LOGS_URL", table=table)
        }
    )
    sql = log_source(entry, directory)
    assert isinstance(sql, SqlLogSource)
    window, matured = (at(15), at(16)), (at(10), at(11))
    frames = [
        (source.read_window(*window), source.read_window(*matured)) for source in (parquet, sql)
    ]
    for from_parquet, from_sql in zip(*frames, strict=True):
        pd.testing.assert_frame_equal(from_parquet, from_sql)
        # Plain str, not SQLAlchemy's quoted_name: scikit-learn selects columns by name only
        # when every name is exactly a str.
        assert {type(name) for name in from_sql.columns} == {str}

    sql.engine.dispose()
    findings = [
        analyse_window(
            model=config.models.get("credit_approval"),
            config=config,
            baseline=profile,
            baseline_version="1",
            current=current,
            matured=labelled,
            window_start=window[0],
            window_end=window[1],
            checks=("data_drift", "fairness_drift", "model_drift", "explanation_drift"),
            explainer=model,
            analysed_at=at(22),
        ).findings
        for current, labelled in frames
    ]
    assert [f.to_dict() for f in findings[0]] == [f.to_dict() for f in findings[1]]
    assert any(f.check_type == "explanation_drift" and f.status == "computed" for f in findings[1])


def _sql_log_with_scored_at(engine: sa.Engine, schema: str | None, **stored: object) -> str:
    """Two days of the hand-written log in a table, the rows named by id given another stored
    ``scored_at`` (as another program writing the table might have); the table's name."""
    log = pd.concat([hand_written_log(DAYS[0]), hand_written_log(DAYS[1])], ignore_index=True)
    log.to_sql("predictions", engine, schema=schema, index=False)
    table = sa.Table("predictions", sa.MetaData(), schema=schema, autoload_with=engine)
    with engine.begin() as connection:
        for prediction_id, value in stored.items():
            connection.execute(
                sa.update(table)
                .where(table.c.prediction_id == prediction_id)
                .values(scored_at=sa.type_coerce(value, sa.Text))
            )
    return f"{schema}.predictions" if schema else "predictions"


def test_a_sql_logs_rows_no_window_holds_are_counted_by_every_window_not_reading_them(
    tmp_path: Path,
) -> None:
    """SQLite keeps any value in a timestamp column; the window's condition dropped a value
    that is no time without a word, where a parquet log's partitions count theirs."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    table = _sql_log_with_scored_at(
        engine,
        None,
        **{
            "2025-03-01-06": "yesterday",
            "2025-03-01-12": None,
            "2025-03-01-18": "2025-03-01 garbage",  # the first day's window reads it
            "2025-03-02-00": 20250302,
            "2025-03-02-06": "now",
        },
    )
    source = SqlLogSource(engine, table)

    first, second = source.read_windows([(at(1), at(2)), (at(2), at(3))])

    assert first["prediction_id"].tolist() == ["2025-03-01-00", "2025-03-01-18"]
    assert first.attrs == {UNDATED_TABLE_ROWS: 4}
    assert second["prediction_id"].tolist() == ["2025-03-02-12", "2025-03-02-18"]
    assert second.attrs == {UNDATED_TABLE_ROWS: 5}
    engine.dispose()


def test_a_sqlite_log_written_as_iso_text_with_offsets_is_windowed_by_the_moment_it_names(
    tmp_path: Path,
) -> None:
    """SQLite compared the text: "2025-03-01T10:00:00" (Python's isoformat) sorted after every
    time of its day written with a space, so a window that does not end at midnight read none
    of that day's rows, and an offset placed a row in the day its local time reads."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    table = _sql_log_with_scored_at(
        engine,
        None,
        **{
            "2025-03-01-00": "2025-03-01T08:59:59.999",
            "2025-03-01-06": "2025-03-01T10:00:00",
            "2025-03-01-12": "2025-03-01T12:00:00+02:00",  # 10:00 UTC
            "2025-03-01-18": "2025-03-01T20:30:00Z",
            "2025-03-02-00": "2025-03-01T23:30:00-02:00",  # 01:30 UTC on the 2nd
        },
    )
    source = SqlLogSource(engine, table)

    morning, first, second = source.read_windows(
        [(at(1, 9), at(1, 19)), (at(1), at(2)), (at(2), at(3))]
    )

    assert morning["prediction_id"].tolist() == ["2025-03-01-06", "2025-03-01-12"]
    assert morning["scored_at"].tolist() == [at(1, 10), at(1, 10)]
    assert morning.attrs == {UNDATED_TABLE_ROWS: 0}
    assert sorted(first["prediction_id"]) == [f"2025-03-01-{hour:02d}" for hour in HOURS]
    assert sorted(second["prediction_id"]) == [f"2025-03-02-{hour:02d}" for hour in HOURS]
    engine.dispose()


def test_a_sql_logs_rows_without_scored_at_are_counted_on_every_database(
    log_database: tuple[sa.Engine, str | None],
) -> None:
    engine, schema = log_database
    table = _sql_log_with_scored_at(engine, schema, **{"2025-03-02-06": None})
    source = SqlLogSource(engine, table)

    frame = source.read_window(at(1), at(2))

    assert (len(frame), frame.attrs) == (4, {UNDATED_TABLE_ROWS: 1})


def test_a_schema_qualified_table_is_refused_on_sqlite_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError) as raised:
        SqlLogSource(f"sqlite:///{tmp_path / 'logs.db'}", "scoring.predictions")
    assert str(raised.value) == SQLITE_SCHEMA.format(table="scoring.predictions")


def test_a_log_url_whose_port_is_not_a_number_names_its_variable_never_the_password(
    monkeypatch,
):
    monkeypatch.setenv("GOVFLOW_TEST_LOG_URL", "postgresql://u:secretpw@127.0.0.1:x/logs")
    with pytest.raises(PredictionLogError) as refused:
        SqlLogSource.from_environment("GOVFLOW_TEST_LOG_URL", "predictions")
    assert str(refused.value) == BAD_URL.format(
        name="GOVFLOW_TEST_LOG_URL", error="the port 'x' is not a number"
    )
    assert "secretpw" not in str(refused.value)


def test_every_kind_of_missing_version_is_counted_as_unknown_and_numbers_as_written() -> None:
    import numpy as np

    missing = [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, "  ", ""]
    counted = counted_versions([(value, 1) for value in missing] + [(" 1.1.0 ", 2), (2, 3)])
    assert counted == {UNKNOWN_VERSION: 7, "2": 3, "1.1.0": 2}


@pytest.mark.parametrize(
    ("before", "newest"),
    [(date(2025, 3, 10), DAYS[2]), (DAYS[2], DAYS[1]), (DAYS[1], DAYS[0]), (DAYS[0], None)],
)
def test_the_newest_day_logged_before_a_day_is_its_newest_partition_with_a_prediction_in_it(
    log_dir: Path, before: date, newest: date | None
) -> None:
    """What Analyze Now analyses when no window is given: a model's newest complete day."""
    assert ParquetLogSource(log_dir).newest_day(before=before) == newest


def test_a_partition_with_no_prediction_of_its_day_is_no_day_logged_and_an_unreadable_one_is(
    log_dir: Path,
) -> None:
    misdated = hand_written_log(date(2025, 3, 5)).assign(
        scored_at=hand_written_log(DAYS[0])["scored_at"]
    )
    path = partition_path(log_dir, date(2025, 3, 5))
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(misdated, preserve_index=False), path)
    source = ParquetLogSource(log_dir)
    assert source.newest_day(before=date(2025, 3, 10)) == DAYS[2]
    path.write_bytes(b"not parquet at all")  # its analysis names the file, never an older day
    assert source.newest_day(before=date(2025, 3, 10)) == date(2025, 3, 5)


def test_the_newest_day_logged_in_a_missing_directory_is_a_prediction_log_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(PredictionLogError) as raised:
        ParquetLogSource(tmp_path / "nowhere").newest_day(before=DAYS[0])
    assert str(raised.value) == MISSING_DIRECTORY.format(path=tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("before", "newest"), [(date(2025, 3, 10), DAYS[1]), (DAYS[1], DAYS[0]), (DAYS[0], None)]
)
def test_the_newest_day_logged_in_a_table_is_the_day_of_its_newest_prediction_before_it(
    log_database: tuple[sa.Engine, str | None], before: date, newest: date | None
) -> None:
    engine, schema = log_database
    source = SqlLogSource(engine, _sql_log_with_scored_at(engine, schema))
    assert source.newest_day(before=before) == newest


def test_the_newest_day_logged_in_sqlite_text_is_the_utc_day_of_the_moment_it_names(
    tmp_path: Path,
) -> None:
    """SQLite's text sorts "2025-03-01T23:30:00-02:00" (01:30 UTC on the 2nd) before
    "2025-03-01 23:00:00": the newest day is that of the newest moment, never of the text."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    table = _sql_log_with_scored_at(
        engine,
        None,
        **{
            "2025-03-02-00": "2025-03-01T23:30:00-02:00",
            "2025-03-02-06": "not a time",
            "2025-03-02-12": None,
            "2025-03-02-18": 20250302,
        },
    )
    source = SqlLogSource(engine, table)
    assert source.newest_day(before=date(2025, 3, 10)) == DAYS[1]
    assert source.newest_day(before=DAYS[1]) == DAYS[0]
    engine.dispose()
