"""Issue 18 item 5's check: the demo's credit model analysed by ``run_monitoring`` from a SQL
table, inside the database, records exactly what its parquet logs record, on SQLite and on
Postgres; a window the data-quality gate would cut rows from is read and takes the pandas
path; and a clean window never travels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import select

from govflow import settings, store
from govflow.config import load_config
from govflow.demo.scenarios import scenario_of_day
from govflow.flows.monitoring import run_monitoring
from govflow.monitoring import analysis
from govflow.monitoring.prediction_logs import SqlLogSource
from govflow.store.schema import MetricResult, MonitoringRun
from tests.support.demo_store import seeded_store_copy
from tests.support.postgres import create_database

MODEL = "credit_approval"
TABLE = "credit_approval_log"
CHECKS = ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
# Explanation drift reads the same ~200 sampled rows whatever the day holds, and costs about
# 3 s a run (two thirds of each): it is compared on the data-drift day only.
EXPLAINED_SCENARIO = "data_drift"
# What may travel on a clean day: counts, a column of scores, the ~200 explained rows.
WIDE_RESULT_ROWS = 1_000
PARQUET_LOGS = analysis.log_source


def _days(data_dir: str) -> tuple[list[datetime], list[str]]:
    model = load_config(settings.config_dir()).models.get(MODEL)
    assert model is not None
    parquet = analysis.log_source(model, Path(data_dir))
    everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    days = [
        datetime.fromisoformat(path.parent.name.removeprefix("date=")).replace(tzinfo=UTC)
        for path in parquet.partitions(*everything)  # type: ignore[attr-defined]
    ]
    return days, scenario_of_day(len(days))


def _day(data_dir: str, scenario: str) -> datetime:
    """A day of ``scenario`` whose labelled window (five days earlier) is a typed day too;
    ``first`` is the first day, whose labels have not arrived yet."""
    days, scenarios = _days(data_dir)
    if scenario == "first":
        return days[0]
    return next(
        day
        for index, day in enumerate(days)
        if scenarios[index] == scenario and index >= 5 and scenarios[index - 5] != "malformed"
    )


def _sql_log(data_dir: str, url: str) -> SqlLogSource:
    """The credit model's parquet logs in one SQL table, typed as a warehouse types them
    (the demo's malformed day, whose text in a numeric column no typed table holds, left out)."""
    model = load_config(settings.config_dir()).models.get(MODEL)
    assert model is not None
    parquet = analysis.log_source(model, Path(data_dir))
    days, scenarios = _days(data_dir)
    frame = pd.concat(
        [
            parquet.read_window(day, day + timedelta(days=1))
            for day, scenario in zip(days, scenarios, strict=True)
            if scenario != "malformed"
        ],
        ignore_index=True,
    )
    engine = sa.create_engine(url)
    frame.to_sql(TABLE, engine, index=False, chunksize=10_000)
    return SqlLogSource(engine, TABLE)


class _Moved:
    """The rows and columns every Postgres query sends to the client, counted where the
    driver hands them over (psycopg's fetches, streamed or not), per query."""

    def __init__(self, monkeypatch) -> None:
        import psycopg

        self.queries: dict[int, list[Any]] = {}
        for cursor in (psycopg.Cursor, psycopg.ServerCursor):
            for name in ("fetchone", "fetchmany", "fetchall"):
                monkeypatch.setattr(cursor, name, self._counting(getattr(cursor, name)))

    def _counting(self, fetch: Any) -> Any:
        def counted(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            found = fetch(cursor, *args, **kwargs)
            rows = (found is not None) if fetch.__name__ == "fetchone" else len(found)
            # The cursor is kept with its counts: its id is not reused while the test runs.
            query = self.queries.setdefault(id(cursor), [cursor, 0, len(cursor.description or ())])
            query[1] += rows
            return found

        return counted

    @property
    def results(self) -> list[tuple[int, int]]:
        """(rows, columns) of each query."""
        return [(rows, columns) for _, rows, columns in self.queries.values()]

    def widest_long_result(self, rows: int) -> int:
        """The most columns of any result of at least ``rows`` rows (0 if none)."""
        return max((columns for count, columns in self.results if count >= rows), default=0)


def _monitor(
    seeded_demo,
    tmp_path: Path,
    monkeypatch,
    source: SqlLogSource | None,
    day: datetime,
    name: str,
    checks: Sequence[str] = CHECKS,
) -> dict[str, Any]:
    """run_monitoring of the credit model's ``day`` (``checks``) on a private copy of the
    demo's store, reading ``source`` (the parquet logs when None); every field it stored."""
    data_dir, _ = seeded_demo
    db_url = seeded_store_copy(seeded_demo, tmp_path / f"{name}.db")
    monkeypatch.setenv(settings.AUDIT_CHECKPOINTS_ENV, str(tmp_path / f"{name}-audit.jsonl"))
    monkeypatch.setattr(
        analysis,
        "log_source",
        PARQUET_LOGS if source is None else lambda model, data_dir: source,
    )
    summary = run_monitoring(
        MODEL,
        start=day,
        end=day + timedelta(days=1),
        checks=tuple(checks),
        cadence="on_demand",
        run_key=f"sql-pushdown-{name}",
        config=load_config(settings.config_dir()),
        data_dir=Path(data_dir),
        db_url=db_url,
        write_report=False,
    )
    with store.session_scope(db_url) as session:
        record = session.get(MonitoringRun, summary.run_id)
        assert record is not None
        stored = {
            column: getattr(record, column)
            for column in (
                "status",
                "severity",
                "checks",
                "interval_start",
                "interval_end",
                "baseline_version",
                "composite_score",
                "composite_breakdown",
                "fairness_counts",
                "model_versions",
                "error",
            )
        }
        rows = session.scalars(
            select(MetricResult)
            .where(MetricResult.monitoring_run_id == record.id)
            .order_by(MetricResult.id)
        )
        stored["metrics"] = [
            {
                column.name: getattr(row, column.name)
                for column in MetricResult.__table__.columns
                if column.name not in ("id", "monitoring_run_id", "created_at")
            }
            for row in rows
        ]
    return stored


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sql_logs(request, seeded_demo, tmp_path_factory) -> Iterator[SqlLogSource]:
    """The credit model's logs in a SQL table, loaded once per database for the module's
    tests, which only read it (a test that changes rows works on its ``_copy``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sql-logs') / 'logs.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_server_url"), "sql_logs")
    source = _sql_log(seeded_demo[0], url)
    yield source
    source.engine.dispose()


def _copy(source: SqlLogSource, name: str) -> SqlLogSource:
    """A copy of ``source``'s table, with its columns and types, in the same database."""
    table = source.reflected()
    copy = table.to_metadata(sa.MetaData(), name=name)
    with source.engine.begin() as connection:
        copy.create(connection)
        connection.execute(copy.insert().from_select(list(table.columns.keys()), select(table)))
    return SqlLogSource(source.engine, name)


# The parquet path's record of a scenario's day, whichever database the SQL table is in.
_PARQUET_RECORDS: dict[str, dict[str, Any]] = {}


def _checks_of(scenario: str) -> tuple[str, ...]:
    if scenario == EXPLAINED_SCENARIO:
        return CHECKS
    return tuple(check for check in CHECKS if check != "explanation_drift")


def _parquet_record(seeded_demo, tmp_path, monkeypatch, day: datetime, scenario: str):
    if scenario not in _PARQUET_RECORDS:
        _PARQUET_RECORDS[scenario] = _monitor(
            seeded_demo, tmp_path, monkeypatch, None, day, "parquet", _checks_of(scenario)
        )
    return _PARQUET_RECORDS[scenario]


def _pushed_down(monkeypatch) -> list[analysis.Analysis | None]:
    """What each ``analyse_sql_window`` call returns from now on (None: the window was read)."""
    pushed: list[analysis.Analysis | None] = []
    counted = analysis.analyse_sql_window
    monkeypatch.setattr(
        analysis,
        "analyse_sql_window",
        lambda **options: pushed.append(counted(**options)) or pushed[-1],
    )
    return pushed


@pytest.mark.parametrize("scenario", ["data_drift", "fairness_drift", "stable", "first"])
def test_the_credit_models_day_from_a_sql_table_records_what_its_parquet_logs_record(
    seeded_demo, tmp_path, monkeypatch, sql_logs, scenario
):
    data_dir, _ = seeded_demo
    day = _day(data_dir, scenario)
    pushed = _pushed_down(monkeypatch)
    checks = _checks_of(scenario)
    from_sql = _monitor(seeded_demo, tmp_path, monkeypatch, sql_logs, day, "sql", checks)
    from_parquet = _parquet_record(seeded_demo, tmp_path, monkeypatch, day, scenario)
    assert len(pushed) == 1 and pushed[0] is not None, "the window was read, not counted"
    assert from_sql == from_parquet
    assert from_parquet["status"] == "succeeded"
    computed = {(m["check_type"], m["status"]) for m in from_parquet["metrics"]}
    assert {(check, "computed") for check in checks} <= computed
    if scenario in ("stable", "first"):
        assert from_parquet["severity"] in ("INFO", "INCONCLUSIVE")
    else:
        assert from_parquet["severity"] == "CRITICAL"
    if scenario == "first":
        unlabelled = [m for m in from_parquet["metrics"] if m["metric"] == "accuracy_drop"]
        assert [m["status"] for m in unlabelled] == ["inconclusive"]


@pytest.mark.parametrize("sql_logs", ["postgres"], indirect=True)
def test_a_clean_window_moves_counts_a_score_column_and_the_explained_rows_only(
    seeded_demo, tmp_path, monkeypatch, sql_logs
):
    data_dir, _ = seeded_demo
    day = _day(data_dir, "data_drift")
    moved = _Moved(monkeypatch)
    _monitor(seeded_demo, tmp_path, monkeypatch, sql_logs, day, "clean")
    window_rows = 2_000  # the demo's daily volume
    assert moved.widest_long_result(WIDE_RESULT_ROWS) == 1  # the scores, in row order
    assert sum(rows for rows, _ in moved.results) < 2 * window_rows
    assert max(rows for rows, columns in moved.results if columns > 1) <= WIDE_RESULT_ROWS


def test_a_window_the_gate_cuts_rows_from_is_read_and_gives_the_pandas_paths_record(
    seeded_demo, tmp_path, monkeypatch, sql_logs
):
    """A duplicated id makes the pandas gate drop a row: the counted gate cannot promise its
    findings, so run_monitoring reads the window, and records what the pandas path records
    (explanation drift, which the fallback does not touch, left to the tests above)."""
    data_dir, _ = seeded_demo
    day = _day(data_dir, "stable")
    source = _copy(sql_logs, "credit_approval_log_duplicated")
    table = source.reflected()
    with source.engine.begin() as connection:
        first, second = connection.execute(
            select(table.c.prediction_id)
            .where(table.c.scored_at >= day)
            .order_by(table.c.scored_at)
            .limit(2)
        ).scalars()
        connection.execute(
            sa.update(table).where(table.c.prediction_id == second).values(prediction_id=first)
        )
    moved = _Moved(monkeypatch)
    checks = [check for check in CHECKS if check != "explanation_drift"]
    from_sql = _monitor(seeded_demo, tmp_path, monkeypatch, source, day, "fallback", checks)
    wide = moved.widest_long_result(1_999)
    monkeypatch.setattr(analysis, "analyse_sql_window", lambda **options: None)
    pandas_path = _monitor(seeded_demo, tmp_path, monkeypatch, source, day, "pandas", checks)
    assert from_sql == pandas_path
    duplicates = [m for m in from_sql["metrics"] if m["metric"] == "duplicates"]
    assert [m["value"] for m in duplicates] == [1.0]
    if sql_logs.engine.dialect.name == "postgresql":
        assert wide >= 20  # the whole window, every column


def test_a_window_mixing_versions_and_blank_ones_records_the_same_rows_per_version_either_way(
    seeded_demo, tmp_path, monkeypatch, sql_logs
):
    """A canary's day: the window's rows per model_version, a missing or blank one counted
    as "unknown", counted in the database and read give one record."""
    data_dir, _ = seeded_demo
    day = _day(data_dir, "stable")
    source = _copy(sql_logs, "credit_approval_log_canary")
    table = source.reflected()
    with source.engine.begin() as connection:
        ids = (
            connection.execute(
                select(table.c.prediction_id)
                .where(table.c.scored_at >= day, table.c.scored_at < day + timedelta(days=1))
                .order_by(table.c.scored_at)
            )
            .scalars()
            .all()
        )
        for chosen, version in ((ids[:100], "1.1.0"), (ids[100:103], None), (ids[103:105], " ")):
            connection.execute(
                sa.update(table)
                .where(table.c.prediction_id.in_(chosen))
                .values(model_version=version)
            )
    pushed = _pushed_down(monkeypatch)
    checks = ["data_drift"]
    from_sql = _monitor(seeded_demo, tmp_path, monkeypatch, source, day, "canary", checks)
    monkeypatch.setattr(analysis, "analyse_sql_window", lambda **options: None)
    read = _monitor(seeded_demo, tmp_path, monkeypatch, source, day, "canary-read", checks)

    assert len(pushed) == 1 and pushed[0] is not None, "the window was read, not counted"
    assert from_sql["model_versions"] == {
        "1.0.0": len(ids) - 105,
        "1.1.0": 100,
        "unknown": 5,
    }
    assert from_sql == read


def _tenancy(tmp_path: Path) -> tuple[SqlLogSource, dict[str, Any]]:
    """The README's own model (tenancy_screening: no artefact, label delay 0, attributions
    logged by its serving side) with a day whose least important feature became the most
    important, in a SQLite table; and analyse_sql_window's options for that day."""
    import shutil

    import numpy as np

    from govflow.baselines.profile import build_profile
    from tests.support.own_models import (
        CONFIG_DIR,
        TENANCY,
        TENANCY_ENTRY,
        tenancy_rows,
        with_attributions,
    )

    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    models = config_dir / "models.yaml"
    models.write_text(models.read_text() + TENANCY_ENTRY)
    config = load_config(config_dir)
    entry = config.models.get(TENANCY)
    rng = np.random.default_rng(3)
    day = datetime(2024, 6, 3, tzinfo=UTC)
    validation = with_attributions(tenancy_rows(rng, 4000, day - timedelta(days=30)), rng)
    profile = build_profile(TENANCY, "1", validation=validation, model=None, model_config=entry)
    window = with_attributions(tenancy_rows(rng, 1500, day), rng)
    window["attribution__tenancy_kind"] *= 30
    source = SqlLogSource(sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}"), TABLE)
    window.to_sql(TABLE, source.engine, index=False)
    return source, {
        "model": entry,
        "config": config,
        "baseline": profile,
        "baseline_version": "1",
        "window_start": day,
        "window_end": day + timedelta(days=1),
        "checks": CHECKS,
        "analysed_at": day + timedelta(days=2),
    }


def _counted_and_read(
    source: SqlLogSource, options: dict[str, Any]
) -> tuple[analysis.Analysis | None, analysis.Analysis]:
    """The day of ``_tenancy``'s options analysed inside the database, and read."""
    pushed = analysis.analyse_sql_window(source=source, **options)
    day = options["window_start"]
    frame = source.read_window(day, day + timedelta(days=1))
    read = analysis.analyse_window(current=frame, matured=frame, **options)
    source.engine.dispose()
    return pushed, read


def test_a_black_boxs_logged_attributions_from_a_sql_table_give_the_pandas_paths_analysis(
    tmp_path,
):
    """Explanation drift from logged attributions reads only those columns."""
    pushed, expected = _counted_and_read(*_tenancy(tmp_path))
    assert pushed is not None
    assert [f.to_dict() for f in pushed.findings] == [f.to_dict() for f in expected.findings]
    assert (pushed.quality, pushed.composite, pushed.fairness_counts) == (
        expected.quality,
        expected.composite,
        expected.fairness_counts,
    )
    (explained,) = [f for f in expected.findings if f.check_type == "explanation_drift"]
    assert (explained.details["source"], explained.severity) == ("logged", "CRITICAL")


def test_a_baseline_without_a_features_reference_leaves_the_window_to_the_pandas_path(tmp_path):
    from dataclasses import replace

    source, options = _tenancy(tmp_path)
    baseline = options.pop("baseline")
    numeric = {k: v for k, v in baseline.numeric.items() if k != "monthly_rent"}
    pushed = analysis.analyse_sql_window(
        source=source, baseline=replace(baseline, numeric=numeric), **options
    )
    source.engine.dispose()
    assert pushed is None


def test_rows_no_window_holds_for_their_scored_at_are_one_finding_counted_or_read(tmp_path):
    """SQLite keeps any value in a timestamp column: one that is no time, or none, left the
    window without a word on both paths, where a parquet log's are a finding."""
    source, options = _tenancy(tmp_path)
    table = source.reflected()
    with source.engine.begin() as connection:
        for prediction_id, stored in (("t20240603-1498", "yesterday"), ("t20240603-1499", None)):
            connection.execute(
                sa.update(table)
                .where(table.c.prediction_id == prediction_id)
                .values(scored_at=sa.type_coerce(stored, sa.Text))
            )
    pushed, read = _counted_and_read(source, options)

    assert pushed is not None
    for findings in (pushed.findings, read.findings):
        assert [
            (f.metric, f.subject, f.value, f.severity, f.status, f.message)
            for f in findings
            if f.metric == "undated_rows"
        ] == [
            (
                "undated_rows",
                "scored_at",
                2.0,
                "WARNING",
                "failed",
                "2 rows of the log table have a scored_at that is null or not a timestamp, "
                "which places them in no window, and were left out of the analysis",
            )
        ]
    assert [f.to_dict() for f in pushed.findings] == [f.to_dict() for f in read.findings]
