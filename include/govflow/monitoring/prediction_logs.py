"""The prediction logs monitoring reads, and the sources it reads them from (seed 004 sections
1 and 2: every drift check runs over a window of logged predictions; section 7: logs are kept
90 days).

One row per scored request: ``prediction_id``, ``model_id``, ``model_version``,
``scored_at`` (UTC), the model's feature columns, its protected attributes, ``score``
(probability of class 1), ``prediction`` (0/1; models.yaml ``favourable_prediction`` says which
is favourable), ``label`` (the observed outcome, null until known) and ``label_observed_at``
(UTC, null until known). A black-box model may add ``attribution__<feature>`` columns, the
row's attribution of each feature, read only by explanation drift
(:mod:`govflow.metrics.explanation_drift`); ``log_columns`` leaves them out.
Feature and protected-attribute names are per model, so callers pass them in.

A source hands back exactly what is stored: a malformed but readable window comes back as it
is, broken dtypes and all, because judging it is the data-quality gate's job. Only data that
cannot be read at all raises ``PredictionLogError``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from govflow import settings
from govflow.metrics.data_drift import category_key

PREDICTION_ID = "prediction_id"
MODEL_ID = "model_id"
MODEL_VERSION = "model_version"
SCORED_AT = "scored_at"
SCORE = "score"
PREDICTION = "prediction"
LABEL = "label"
LABEL_OBSERVED_AT = "label_observed_at"

IDENTITY_COLUMNS = (PREDICTION_ID, MODEL_ID, MODEL_VERSION, SCORED_AT)
OUTCOME_COLUMNS = (SCORE, PREDICTION, LABEL, LABEL_OBSERVED_AT)
REQUIRED_COLUMNS = IDENTITY_COLUMNS + OUTCOME_COLUMNS
TIMESTAMP_COLUMNS = (SCORED_AT, LABEL_OBSERVED_AT)

PARTITION_PREFIX = "date="
PARTITION_FILE = "part-0.parquet"

UNREADABLE_PARTITION = "prediction-log partition {path} cannot be read as parquet"
MISSING_DIRECTORY = "prediction-log directory {path} does not exist"
NOT_A_PARTITION = (
    "prediction-log partition {path} is not a directory named date=YYYY-MM-DD: no window "
    "would read its rows"
)
NOT_PARQUET = (
    "prediction-log partition {path} is not a parquet file: a day's logs are "
    "date=YYYY-MM-DD/*.parquet"
)
MISSING_TABLE = "prediction-log table {table!r} does not exist in the database"
MISSING_COLUMN = "prediction-log table {table!r} has no column {column!r}"
UNSET_URL_ENV = (
    "the prediction log's database URL is read from the environment variable {name}, "
    "which is not set (models.yaml prediction_log.url_env)"
)
SQLITE_SCHEMA = (
    "prediction_log table {table!r} names a schema, which on SQLite is an ATTACHed database "
    "that a URL cannot attach: keep the log in the URL's own database and name the table alone"
)
BAD_URL = "the prediction log's database URL in {name} is not a usable SQLAlchemy URL: {error}"
UNREACHABLE_DATABASE = "the prediction-log database cannot be reached: {error}"
BAD_WINDOW = "the window end {end} is before its start {start}"
VALUE_BATCH_ROWS = 100_000
MISDATED_ROWS = "misdated_rows"
"""``frame.attrs`` key of ``read_window``'s result: rows of the window's partitions whose
``scored_at`` lies outside the partition's own day, left out of the window and counted so
that the analysis names them."""
UNDATED_ROWS = "undated_rows"
"""``frame.attrs`` key: rows of the window's partitions whose ``scored_at`` is null or not a
timestamp, left out and counted."""
ROWS_WITHOUT_SCORED_AT = "rows_without_scored_at"
"""``frame.attrs`` key: rows of the window's partitions in files without a ``scored_at``
column (no row of them can be placed in a window), left out and counted."""
DATING_COUNTS = (MISDATED_ROWS, UNDATED_ROWS, ROWS_WITHOUT_SCORED_AT)
UNDATED_TABLE_ROWS = "undated_table_rows"
"""``frame.attrs`` key of ``SqlLogSource.read_window``'s result: rows of the log's table whose
``scored_at`` is null or not a timestamp, which no window holds (a table has no partitions to
count them by), and which this window did not let in either; counted so that every analysis
names them."""
UNKNOWN_VERSION = "unknown"
"""The name a window's rows are counted under when their ``model_version`` is missing or
blank: which version scored them the log does not say."""
# What SQLite compares as a time: text beginning with a date, which julianday() reads.
SQLITE_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
# SQLite's own reading of a time as UTC text that sorts as the time does (to the millisecond).
SQLITE_MOMENT = "%Y-%m-%d %H:%M:%f"


class PredictionLogError(Exception):
    """Prediction logs that cannot be read at all (as opposed to read and found wanting)."""


def version_name(value: object) -> str:
    """A logged ``model_version`` as a record names it: text without its surrounding
    blanks, a number as ``category_key`` writes it (SQLite keeps what it is given), and
    ``UNKNOWN_VERSION`` for a missing or blank one."""
    if pd.api.types.is_scalar(value) and pd.isna(value):  # None, NaN of any width, NA, NaT
        return UNKNOWN_VERSION
    name = value.strip() if isinstance(value, str) else category_key(value)
    return name or UNKNOWN_VERSION


def counted_versions(counts: Iterable[tuple[object, int]]) -> dict[str, int]:
    """The rows of each version (``version_name``) from (logged value, rows) pairs, most
    rows first, then by name: what both the read window and the counted one record."""
    rows: Counter[str] = Counter()
    for value, count in counts:
        rows[version_name(value)] += int(count)
    return dict(sorted(rows.items(), key=lambda item: (-item[1], item[0])))


def log_columns(features: Sequence[str], protected_attributes: Sequence[str]) -> list[str]:
    """Every column of a model's prediction log, in the documented order."""
    return [*IDENTITY_COLUMNS, *features, *protected_attributes, *OUTCOME_COLUMNS]


def partition_path(directory: Path, day: date) -> Path:
    """Where the log of ``day`` lives in a date-partitioned parquet directory."""
    return directory / f"{PARTITION_PREFIX}{day.isoformat()}" / PARTITION_FILE


class PredictionLogSource(Protocol):
    """Anything that returns the predictions scored in a half-open window ``[start, end)``."""

    def read_window(
        self, start: datetime, end: datetime, *, columns: Sequence[str] | None = None
    ) -> pd.DataFrame: ...

    def read_windows(
        self, spans: Sequence[tuple[datetime, datetime]], *, columns: Sequence[str] | None = None
    ) -> list[pd.DataFrame]:
        """``read_window`` of each span, in order."""
        ...

    def newest_day(self, *, before: date) -> date | None:
        """The newest UTC day before ``before`` on which a prediction is logged, or None."""
        ...


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime is read as UTC, the time zone the logs are written in.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _as_utc(start), _as_utc(end)
    if end < start:
        raise ValueError(BAD_WINDOW.format(start=start.isoformat(), end=end.isoformat()))
    return start, end


def _normalise(
    frame: pd.DataFrame, *, amounts: bool = False, ordered: bool = False
) -> pd.DataFrame:
    """The same frame whichever store it came from: UTC nanosecond timestamps, ``label`` as
    nullable Int8, ``prediction`` as int8 (with ``amounts``, a regressor's log, both as
    float64: an int8 cast would truncate and wrap its amounts), rows ordered by
    ``scored_at`` then id.

    A column whose values do not fit its documented type is left as it came, never cast
    into it: a prediction of 0.5 truncated to 0, 300 wrapped to 44 or an infinite label would
    be silently different data, where the data-quality gate names them. ``frame`` is
    the reader's own, just read: its columns are replaced, never copied whole (a day of
    100,000 rows and 30 columns, 14 of them for a bi-weekly window, issue 18); ``ordered``
    says its rows are already in order (days read in order, each sorted).
    """
    for column in TIMESTAMP_COLUMNS:
        if column in frame.columns and frame[column].dtype != UTC_NANOSECONDS:
            try:
                frame[column] = pd.to_datetime(
                    frame[column], utc=True, format=TIMESTAMP_FORMAT
                ).astype(UTC_NANOSECONDS)
            except (ValueError, TypeError):
                continue
    outcome_types = ("float64", "float64") if amounts else ("Int8", "int8")
    for column, dtype in zip((LABEL, PREDICTION), outcome_types, strict=True):
        if column in frame.columns and frame[column].dtype != dtype:
            cast = _cast_exactly(frame[column], dtype)
            if cast is not None:
                frame[column] = cast
    order = [column for column in (SCORED_AT, PREDICTION_ID) if column in frame.columns]
    if (
        order
        and not ordered
        and not _strictly_increasing(frame[SCORED_AT] if SCORED_AT in order else None)
    ):
        frame = frame.sort_values(order, kind="stable")
    frame.index = pd.RangeIndex(len(frame))
    return frame


UTC_NANOSECONDS = pd.DatetimeTZDtype("ns", "UTC")
# Timestamps stored as text are parsed value by value, whatever their format (pandas would
# otherwise guess one format from the first value and warn on the user's terminal, in
# several lines, when the others do not follow it).
TIMESTAMP_FORMAT = "mixed"


def utc_timestamps(values: pd.Series) -> pd.Series:
    """``values`` as UTC instants, naive ones read as UTC, NaT where a value is none."""
    return pd.to_datetime(values, utc=True, errors="coerce", format=TIMESTAMP_FORMAT)


def _cast_exactly(values: pd.Series, dtype: str) -> pd.Series | None:
    """``values`` as ``dtype`` when every value keeps its number (and every null stays
    null), else None: the casts truncate fractions and wrap integers out of range."""
    try:
        cast = values.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return None
    if pd.api.types.is_bool_dtype(values):
        return cast  # False and True are 0 and 1
    try:
        before = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        return None
    after = cast.to_numpy(dtype="float64", na_value=np.nan)
    same = (before == after) | (np.isnan(before) & np.isnan(after))
    return cast if bool(same.all()) else None


def _strictly_increasing(scored_at: pd.Series | None) -> bool:
    """Whether rows are already in their sorted order: timestamps all known and strictly
    increasing (a log written as requests were scored), so that sorting by time, then id,
    would change nothing."""
    if scored_at is None or scored_at.dtype != UTC_NANOSECONDS or scored_at.isna().any():
        return False
    ticks = scored_at.to_numpy(dtype="datetime64[ns]").view("int64")
    return bool(len(ticks) < 2 or (ticks[1:] > ticks[:-1]).all())


class ParquetLogSource:
    """A parquet directory partitioned by day: ``<directory>/date=YYYY-MM-DD/*.parquet``.

    Only partitions whose day overlaps the window are opened, each file on its own so that a
    malformed day cannot break the reading of the others. ``layout`` is the log's columns as
    models.yaml declares them (``log_columns``): a window with no partition has them, with
    no file opened.
    """

    def __init__(
        self, directory: Path | str, *, amounts: bool = False, layout: Sequence[str] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.amounts = amounts
        self.layout = None if layout is None else list(layout)

    def days(self) -> list[tuple[date, Path]]:
        """Each partition directory with its day, oldest first. A ``date=`` entry that is
        none (``date=2024-6-3``, Spark's ``date=2024-06-03 00%3A00%3A00``, a file) is named:
        passed over, its rows would be in no window and no analysis would say so."""
        if not self.directory.is_dir():
            raise PredictionLogError(MISSING_DIRECTORY.format(path=self.directory))
        days = []
        for partition in sorted(self.directory.glob(f"{PARTITION_PREFIX}*")):
            try:
                day = date.fromisoformat(partition.name.removeprefix(PARTITION_PREFIX))
            except ValueError:
                raise PredictionLogError(NOT_A_PARTITION.format(path=partition)) from None
            if not partition.is_dir():
                raise PredictionLogError(NOT_A_PARTITION.format(path=partition))
            days.append((day, partition))
        return days

    def partitions(self, start: datetime, end: datetime) -> list[Path]:
        """The partition files whose day overlaps ``[start, end)``, oldest first."""
        start, end = _check_window(start, end)
        files = []
        for day, partition in self.days():
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if day_start < end and day_start + timedelta(days=1) > start:
                files.extend(_parquet_files(partition))
        return files

    def read_window(
        self, start: datetime, end: datetime, *, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read_windows([(start, end)], columns=columns)[0]

    def read_windows(
        self, spans: Sequence[tuple[datetime, datetime]], *, columns: Sequence[str] | None = None
    ) -> list[pd.DataFrame]:
        """``read_window`` of each span, each partition file read once however many spans
        it overlaps: a window and the same span shifted back by the label delay share most
        of their days (13 of 14 for a bi-weekly window and a one-day delay, issue 18)."""
        checked = [_check_window(start, end) for start, end in spans]
        paths = [self.partitions(start, end) for start, end in checked]
        uses = Counter(path for window in paths for path in window)
        tables: dict[Path, pa.Table] = {}

        def table(path: Path) -> pa.Table:
            if path not in tables:
                tables[path] = _read_table(path)
            uses[path] -= 1
            # A partition no later span reads is let go at once.
            return tables[path] if uses[path] else tables.pop(path)

        return [
            self._read_window(start, end, window, columns, table)
            for (start, end), window in zip(checked, paths, strict=True)
        ]

    def _read_window(
        self,
        start: datetime,
        end: datetime,
        paths: list[Path],
        columns: Sequence[str] | None,
        table: Callable[[Path], pa.Table],
    ) -> pd.DataFrame:
        read = [
            self._read_partition(path, table(path), start, end, columns, amounts=self.amounts)
            for path in paths
        ]
        frames = [frame for frame, _ in read]
        filled = [frame for frame in frames if len(frame)]
        if filled:
            # Each file is sorted and holds only its own day's rows, so files of distinct days
            # read in day order are in order together; two files of one day may interleave.
            one_file_a_day = len({path.parent for path in paths}) == len(paths)
            window = _normalise(
                pd.concat(filled, ignore_index=True, sort=False),
                amounts=self.amounts,
                ordered=one_file_a_day,
            )
        else:
            empty = frames[0] if frames else self._empty_frame(columns)
            window = _normalise(empty, amounts=self.amounts)
        for key in DATING_COUNTS:
            window.attrs[key] = sum(counts[key] for _, counts in read)
        return window

    def newest_day(self, *, before: date) -> date | None:
        """The newest day before ``before`` whose partition holds a prediction dated in that
        day, newest partition first. A partition that cannot be read counts as a day logged:
        its analysis names the file, where skipping it would analyse an older day as the
        newest."""
        days = {day for day, _ in self.days() if day < before}
        for day in sorted(days, reverse=True):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            try:
                logged = self.read_window(start, start + timedelta(days=1), columns=[SCORED_AT])
            except PredictionLogError:
                return day
            if len(logged):
                return day
        return None

    def _empty_frame(self, columns: Sequence[str] | None) -> pd.DataFrame:
        """A window with no partition: the declared layout, else the first readable stored
        file's. A file outside the window is never the window's error: an unreadable one
        is passed over (its own windows name it)."""
        frame = self._stored_layout() if self.layout is None else pd.DataFrame(columns=self.layout)
        if frame is None:
            return pd.DataFrame(columns=list(columns) if columns is not None else [])
        if columns is not None:
            frame = frame[[column for column in columns if column in frame.columns]]
        return frame

    def _stored_layout(self) -> pd.DataFrame | None:
        for path in sorted(self.directory.glob(f"{PARTITION_PREFIX}*/*.parquet")):
            try:
                return pq.read_schema(path).empty_table().to_pandas()
            except (pa.ArrowException, OSError):
                continue
        return None

    @staticmethod
    def _read_partition(
        path: Path,
        table: pa.Table,
        start: datetime,
        end: datetime,
        columns: Sequence[str] | None,
        *,
        amounts: bool,
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """The rows of the partition at ``path`` (read as ``table``) inside the window, and
        how many of its rows were left out for their ``scored_at`` (``DATING_COUNTS``):
        dated outside the partition's own day, not dated, or in a file without the
        column."""
        frame = table.to_pandas()
        counts = dict.fromkeys(DATING_COUNTS, 0)
        if SCORED_AT not in frame.columns:
            counts[ROWS_WITHOUT_SCORED_AT] = len(frame)
            frame = frame.iloc[0:0]
        else:
            scored_at = frame[SCORED_AT]
            if scored_at.dtype != UTC_NANOSECONDS:  # already the instants parsing would give
                scored_at = utc_timestamps(scored_at)
            day = date.fromisoformat(path.parent.name.removeprefix(PARTITION_PREFIX))
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            in_day = (scored_at >= day_start) & (scored_at < day_start + timedelta(days=1))
            undated = scored_at.isna()
            counts[UNDATED_ROWS] = int(undated.sum())
            counts[MISDATED_ROWS] = int((~in_day & ~undated).sum())
            kept = in_day & (scored_at >= start) & (scored_at < end)
            if not kept.all():
                frame = frame.loc[kept].copy()
        if columns is not None:
            frame = frame.loc[:, [column for column in columns if column in frame.columns]]
        # Normalised before concatenation so that every partition brings the same dtypes.
        return _normalise(frame, amounts=amounts), counts


def _parquet_files(partition: Path) -> list[Path]:
    """The partition's parquet files. Anything else in it (a day logged as CSV, a nested
    directory) would be rows left out without a word: it is named instead. Hidden files
    (``.``, ``_``: Spark's ``_SUCCESS`` and checksums) are passed over, as pyarrow does."""
    files = []
    for path in sorted(partition.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.suffix != ".parquet":
            raise PredictionLogError(NOT_PARQUET.format(path=path))
        files.append(path)
    return files


def _read_table(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise PredictionLogError(UNREADABLE_PARTITION.format(path=path)) from error


def sqlite_moment(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The UTC moment SQLite's ``strftime`` reads from a time it keeps as text (ISO with a
    space or a ``T``, with an offset or ``Z`` or none), as text that sorts as the time does,
    to the millisecond; null where it reads none."""
    return sa.func.strftime(SQLITE_MOMENT, sa.type_coerce(column, sa.Text))


def earlier_than(
    column: sa.ColumnElement[Any], moment: datetime, dialect: str
) -> sa.ColumnElement[bool]:
    """``column < moment`` for a column of times: on SQLite compared as the moments
    ``sqlite_moment`` reads (false for a null, a number or text that is no time, as pandas
    compares NaT), elsewhere as the database compares its timestamps."""
    if dialect != "sqlite":
        return column < moment
    return sa.and_(sa.func.typeof(column) == "text", sqlite_moment(column) < _sqlite_moment(moment))


def _sqlite_moment(moment: datetime) -> str:
    """``moment`` as SQLite's ``strftime(SQLITE_MOMENT, ...)`` writes a UTC time."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d}"


class SqlLogSource:
    """A table reachable through a SQLAlchemy URL, read with
    ``SELECT ... WHERE scored_at >= :start AND scored_at < :end``.

    ``table`` may name its schema, ``schema.table``, except on SQLite (see ``SQLITE_SCHEMA``).
    """

    def __init__(self, url: str | sa.Engine, table: str, *, amounts: bool = False) -> None:
        self.amounts = amounts
        self.engine = sa.create_engine(url) if isinstance(url, str) else url
        self.table_name = table
        schema, _, name = table.rpartition(".")
        if schema and self.engine.dialect.name == "sqlite":
            raise PredictionLogError(SQLITE_SCHEMA.format(table=table))
        self.schema, self.table = schema or None, name
        self._reflected: sa.Table | None = None

    @classmethod
    def from_environment(cls, url_env: str, table: str, *, amounts: bool = False) -> SqlLogSource:
        """The source whose URL is in the environment variable ``url_env`` (never in
        config), or a ``PredictionLogError`` naming the variable."""
        url = os.environ.get(url_env)
        if not url:
            raise PredictionLogError(UNSET_URL_ENV.format(name=url_env))
        try:
            settings.parse_url(url, url_env)  # a port that is not a number, named as such
        except settings.BadUrl as error:
            problem = str(error).removeprefix(f"{url_env}: ")
            raise PredictionLogError(BAD_URL.format(name=url_env, error=problem)) from None
        try:
            return cls(url, table, amounts=amounts)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
            raise PredictionLogError(BAD_URL.format(name=url_env, error=error)) from None

    def read_window(
        self, start: datetime, end: datetime, *, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        start, end = _check_window(start, end)
        with self._database_errors():
            frame = self._read(start, end, columns)
        frame.attrs[UNDATED_TABLE_ROWS] = self.undated_rows(start, end)
        return frame

    def undated_rows(self, start: datetime, end: datetime) -> int:
        """How many rows of the table no window holds for their ``scored_at`` (null; on
        SQLite, which keeps any value in any column, also a number, or text that is not a
        timestamp) and ``[start, end)`` did not let in either (those the data-quality gate
        judges). The window's condition would drop them without a word."""
        dialect = self.engine.dialect.name

        def count(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
            scored_at = table.c[SCORED_AT]
            undated: sa.ColumnElement[bool] = scored_at.is_(None)
            if dialect == "sqlite":
                text = sa.type_coerce(scored_at, sa.Text)
                placed = sa.and_(
                    sa.func.typeof(scored_at) == "text",
                    sa.func.glob(SQLITE_DATE_GLOB, text) == 1,
                    sa.func.julianday(text).is_not(None),
                )
                undated = sa.or_(undated, sa.and_(sa.not_(in_window), sa.not_(placed)))
            return sa.select(sa.func.count()).select_from(table).where(undated)

        ((counted,),) = self.query_window(start, end, count)
        return int(counted)

    def query_window(
        self,
        start: datetime,
        end: datetime,
        build: Callable[[sa.Table, sa.ColumnElement[bool]], sa.Select[Any]],
    ) -> list[sa.Row[Any]]:
        """The rows of a query over the window that ``build(table, in_window)`` writes with
        the reflected table and the window's condition (``in_window``); the database's
        errors are ``read_window``'s."""
        query = self._query(start, end, build)
        with self._database_errors(), self.engine.connect() as connection:
            return list(connection.execute(query))

    def query_values(
        self,
        start: datetime,
        end: datetime,
        build: Callable[[sa.Table, sa.ColumnElement[bool]], sa.Select[Any]],
    ) -> npt.NDArray[np.float64]:
        """The one numerical column of a ``query_window`` query as doubles (NULL as NaN),
        fetched in batches: a warehouse-sized window's column never becomes a Python
        object per row all at once."""
        query = self._query(start, end, build)
        with self._database_errors(), self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(query)
            batches = [
                np.array([row[0] for row in batch], dtype=np.float64)
                for batch in result.partitions(VALUE_BATCH_ROWS)
            ]
        return np.concatenate(batches) if batches else np.empty(0)

    def _query(
        self,
        start: datetime,
        end: datetime,
        build: Callable[[sa.Table, sa.ColumnElement[bool]], sa.Select[Any]],
    ) -> sa.Select[Any]:
        start, end = _check_window(start, end)
        table = self.reflected()
        try:
            return build(table, self._in_window(table, start, end))
        except KeyError as error:  # a column the query names is not in the table
            column = error.args[0] if error.args else "?"
            raise PredictionLogError(
                MISSING_COLUMN.format(table=self.table_name, column=column)
            ) from None

    def _in_window(self, table: sa.Table, start: datetime, end: datetime) -> sa.ColumnElement[bool]:
        """``start <= scored_at < end``. SQLite keeps a time as text and compares text: an ISO
        time written with a ``T`` ("2025-03-05T10:00:00", Python's ``isoformat``) sorts after
        every time of its day written with a space (what the bounds are bound as), and an
        offset ("+02:00", "Z") is not read at all, so a window that does not start and end
        at midnight UTC lost such rows without a word, and an offset placed a row in the day
        its local time reads. SQLite's ``strftime`` reads each of those forms as UTC: the
        condition compares that, for text only (a number would be read as a Julian day).
        Text it cannot read ("2025-03-01 garbage") is placed by the text as before, so the
        data-quality gate of the day it names judges it."""
        scored_at = table.c[SCORED_AT]
        as_text = sa.and_(scored_at >= start, scored_at < end)
        if self.engine.dialect.name != "sqlite":
            return as_text
        # Never null: a null would make the condition null, and its negation (the rows no
        # window holds, ``undated_rows``) would miss the row too.
        moment = sa.func.coalesce(sqlite_moment(scored_at), "")
        # Whatever its form, a time's text starts with its local date, at most a day from
        # its UTC one: a range on the text that an index on scored_at serves, so strftime
        # reads the window's rows, not the table's.
        first_day = datetime.combine(start.astimezone(UTC).date() - timedelta(days=1), time())
        after_last = datetime.combine(end.astimezone(UTC).date() + timedelta(days=2), time())
        return sa.and_(
            scored_at >= first_day,
            scored_at < after_last,
            sa.func.typeof(scored_at) == "text",
            sa.or_(
                sa.and_(moment >= _sqlite_moment(start), moment < _sqlite_moment(end)),
                sa.and_(moment == "", as_text),
            ),
        )

    def reflected(self) -> sa.Table:
        """The table as the database describes it (its columns and their types), reflected
        once: a pushed-down analysis sends a query per feature."""
        if self._reflected is None:
            with self._database_errors():
                self._reflected = self._table()
        return self._reflected

    @contextmanager
    def _database_errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.NoSuchTableError as error:
            raise PredictionLogError(MISSING_TABLE.format(table=self.table_name)) from error
        except sa.exc.DBAPIError as error:
            # The driver's own first line (no SQL, no parameters, no URL with a password).
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            raise PredictionLogError(UNREACHABLE_DATABASE.format(error=reason)) from None

    def read_windows(
        self, spans: Sequence[tuple[datetime, datetime]], *, columns: Sequence[str] | None = None
    ) -> list[pd.DataFrame]:
        return [self.read_window(start, end, columns=columns) for start, end in spans]

    def newest_day(self, *, before: date) -> date | None:
        """The UTC day of the newest ``scored_at`` before ``before`` begins, in one query (on
        SQLite the newest of the moments ``sqlite_moment`` reads: its text of a time with a
        ``T`` or an offset sorts otherwise); None for a table with no dated row before it."""
        table = self.reflected()
        if SCORED_AT not in table.c:
            raise PredictionLogError(MISSING_COLUMN.format(table=self.table_name, column=SCORED_AT))
        scored_at = table.c[SCORED_AT]
        dialect = self.engine.dialect.name
        newest = sqlite_moment(scored_at) if dialect == "sqlite" else scored_at
        query = sa.select(sa.func.max(newest)).where(
            earlier_than(scored_at, datetime.combine(before, time(), tzinfo=UTC), dialect)
        )
        with self._database_errors(), self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        return None if found is None else utc_timestamps(pd.Series([found])).iloc[0].date()

    def _table(self) -> sa.Table:
        return sa.Table(self.table, sa.MetaData(), schema=self.schema, autoload_with=self.engine)

    def _as_stored(self, column: sa.Column[Any]) -> sa.ColumnElement[Any]:
        """SQLite keeps a timestamp as text, and any text at all: SQLAlchemy's parsing of it
        raises on the first that is not one, so the text is read as it is and parsed here
        (``_normalise``), leaving what is not a time to the data-quality gate."""
        if self.engine.dialect.name == "sqlite" and isinstance(column.type, sa.DateTime):
            return sa.type_coerce(column, sa.Text).label(column.name)
        return column

    def _read(self, start: datetime, end: datetime, columns: Sequence[str] | None) -> pd.DataFrame:
        table = self._table()
        if SCORED_AT not in table.c:  # no row of it can be placed in a window
            raise PredictionLogError(MISSING_COLUMN.format(table=self.table_name, column=SCORED_AT))
        selected = [
            self._as_stored(column)
            for column in (
                [table.c[name] for name in columns if name in table.c]
                if columns is not None
                else list(table.c)
            )
        ]
        query = sa.select(*selected).where(self._in_window(table, start, end))
        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
        # Reflected names are SQLAlchemy's quoted_name, a str subclass that scikit-learn does
        # not take for a feature name: its transformers would then select by position.
        frame.columns = [str(name) for name in frame.columns]
        return _normalise(frame, amounts=self.amounts)
