"""Issue 18 item 5 (seed 004 section 3.4 on warehouse-sized logs): the data-quality gate of a
window of a SQL prediction log, counted inside the database.

:func:`counted_quality_gate` gives the findings :func:`govflow.monitoring.quality.run_quality_gate`
gives for the same window read with ``read_window``, from aggregates (row count, nulls and
NaNs per column, values below and above each bound, values outside 0/1 or a categorical
column's allowed set with a few distinct values and their counts, duplicate and missing ids,
the oldest and newest ``scored_at``, and on SQLite ``typeof()``) instead of the rows, or
``None`` when it cannot promise the same findings, and then the caller reads the window and
runs the pandas gate. It answers ``None`` whenever the pandas gate would drop or blank rows
or columns, or would judge values as it parses them:

* a missing column, an empty window;
* a value out of range, a fraction in an integer column, a label outside 0/1, a protected
  attribute outside its groups, a duplicate or missing id (each drops or blanks rows);
* a numerical column the database does not type as a number (text, decimal, boolean), or
  on SQLite a text or blob value in one (dynamic typing: pandas would parse it), or values
  of several storage classes in one column;
* a missing score or prediction (the analysis would read them row by row), a timestamp the
  window query let in that lies outside the window, on SQLite a timestamp stored as text
  that is not one;
* a feature's unexpected category that the pandas gate's sample could order otherwise (a
  non-text column, ties in count and first appearance, more than ``DISTINCT_LIMIT`` values).

So its findings are the table checks (too few rows, volume), nulls, a feature's categories
unseen in the baseline, and staleness: the findings of a window whose every row stays usable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from govflow.metrics.data_drift import category_key
from govflow.monitoring.prediction_logs import PREDICTION, SCORE, SqlLogSource
from govflow.monitoring.quality import (
    ALL_NULL_REQUIRED,
    CHECK_CATEGORIES,
    CHECK_FRESHNESS,
    CHECK_MIN_ROWS,
    CHECK_NULLS,
    CHECK_VOLUME,
    LABEL_VALUES,
    LARGEST_FINITE,
    NOT_IN_SET,
    NUMERIC_KINDS,
    SAMPLE_SIZE,
    STALE,
    TOO_FEW_ROWS,
    TOO_MANY_NULLS,
    VOLUME_OUTSIDE,
    ColumnRule,
    QualityFinding,
    QualityPolicy,
    QualityReport,
    finding_order,
    rules_with_key_columns,
)
from govflow.monitoring.window_counts import count_where, missing_value

# More distinct values than this in a categorical column: the pandas gate reads the window.
DISTINCT_LIMIT = 1_000
# Whole numbers a double holds exactly; a fraction lies between them.
EXACT_INTEGERS = 2.0**53
SQLITE_TEXT = ("text", "blob")


def counted_quality_gate(
    source: SqlLogSource,
    *,
    rules: Sequence[ColumnRule],
    policy: QualityPolicy,
    window_start: datetime,
    window_end: datetime,
    id_column: str = "prediction_id",
    time_column: str = "scored_at",
) -> QualityReport | None:
    """The pandas gate's report of ``[window_start, window_end)`` counted in the database, or
    None when only the pandas gate can give it (module docstring). The report holds no rows:
    every row of the window is usable."""
    rules = rules_with_key_columns(rules, id_column, time_column)
    table = source.reflected()
    dialect = source.engine.dialect.name
    if any(
        rule.name not in table.c or not _typed_as_parsed(table.c[rule.name], rule, time_column)
        for rule in rules
    ):
        return None
    (row,) = source.query_window(
        window_start,
        window_end,
        lambda table, in_window: _aggregates(table, in_window, rules, dialect, time_column),
    )
    counted = dict(row._mapping)
    total = int(counted["rows"])
    if not total or _needs_rows(counted, rules, id_column, dialect):
        return None
    start, end = _utc(window_start), _utc(window_end)
    oldest, newest = _utc(counted["oldest"]), _utc(counted["newest"])
    if oldest < start or newest >= end:
        return None
    findings = _table_findings(total, policy)
    for rule in rules:
        nulls = int(counted[f"{rule.name}:nulls"])
        findings += _null_findings(rule, nulls, total)
        if rule.kind == "categorical" and rule.categories is not None:
            found = _category_findings(source, window_start, window_end, rule, policy, total)
            if found is None:
                return None
            findings += found
    stale_before = end - timedelta(hours=policy.max_staleness_hours)
    if newest < stale_before:
        age = round((end - newest) / pd.Timedelta(hours=1), 1)
        message = STALE.format(
            column=time_column,
            newest=newest.isoformat(),
            age=age,
            limit=policy.max_staleness_hours,
        )
        findings.append(
            QualityFinding(CHECK_FRESHNESS, (time_column,), message, 1, 1, (newest.isoformat(),))
        )
    ordered = tuple(sorted(findings, key=lambda finding: finding_order(finding, rules)))
    return QualityReport(ordered, total, total, (), None)


def _utc(moment: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _typed_as_parsed(column: sa.Column[Any], rule: ColumnRule, time_column: str) -> bool:
    """Whether the database's type holds values as the pandas gate parses them: numbers as
    doubles or integers (not decimals, not booleans), the time column as timestamps."""
    if rule.kind in NUMERIC_KINDS:
        return isinstance(column.type, (sa.Float, sa.Integer)) and not isinstance(
            column.type, sa.Boolean
        )
    if rule.name == time_column or rule.kind == "timestamp":
        return isinstance(column.type, sa.DateTime)
    return True


def _aggregates(
    table: sa.Table,
    in_window: sa.ColumnElement[bool],
    rules: Sequence[ColumnRule],
    dialect: str,
    time_column: str,
) -> sa.Select[Any]:
    """One pass over the window: every count the gate's decision needs, labelled by name."""
    time = table.c[time_column]
    selected: list[sa.ColumnElement[Any]] = [
        sa.func.count().label("rows"),
        sa.func.min(time).label("oldest"),
        sa.func.max(time).label("newest"),
    ]
    for rule in rules:
        column = table.c[rule.name]
        missing = missing_value(column)
        present = sa.not_(missing)
        name = rule.name
        selected.append(count_where(missing).label(f"{name}:nulls"))
        if rule.kind == "identifier":
            duplicates = sa.func.count(column) - sa.func.count(sa.distinct(column))
            selected.append(duplicates.label(f"{name}:duplicates"))
        if rule.kind in NUMERIC_KINDS:
            low = -LARGEST_FINITE if rule.minimum is None else float(rule.minimum)
            high = LARGEST_FINITE if rule.maximum is None else float(rule.maximum)
            if rule.kind == "label":
                outside = sa.and_(present, column.not_in([float(v) for v in LABEL_VALUES]))
            elif rule.minimum is not None or rule.maximum is not None:
                outside = sa.and_(present, sa.or_(column < low, column > high))
            else:
                outside = sa.false()
            selected.append(count_where(outside).label(f"{name}:outside"))
            fraction: sa.ColumnElement[bool] = sa.false()
            if rule.kind == "integer" and not isinstance(column.type, sa.Integer):
                fraction = sa.and_(
                    present,
                    column > -EXACT_INTEGERS,
                    column < EXACT_INTEGERS,
                    column != sa.cast(column, sa.BigInteger),
                )
            selected.append(count_where(fraction).label(f"{name}:fractions"))
        if dialect == "sqlite":
            # Dynamic typing: a column holds any storage class whatever its declared type.
            kind = sa.func.typeof(column)
            selected.append(count_where(kind.in_(SQLITE_TEXT)).label(f"{name}:text"))
            storage = sa.func.count(sa.distinct(sa.case((column.is_not(None), kind))))
            selected.append(storage.label(f"{name}:storage_classes"))
            if rule.kind == "timestamp":
                # Text SQLite cannot read as a time, which pandas would not read either.
                unread = sa.and_(column.is_not(None), sa.func.julianday(column).is_(None))
                selected.append(count_where(unread).label(f"{name}:not_timestamps"))
    return sa.select(*selected).where(in_window)


def _needs_rows(
    counted: dict[str, Any], rules: Sequence[ColumnRule], id_column: str, dialect: str
) -> bool:
    """Whether the pandas gate would drop, blank or parse rows of this window, or the
    analysis would read them (the module docstring's list)."""
    for rule in rules:
        name = rule.name
        if rule.kind in NUMERIC_KINDS and (
            counted[f"{name}:outside"] or counted[f"{name}:fractions"]
        ):
            return True
        if rule.kind == "identifier" and counted[f"{name}:duplicates"]:
            return True
        if name in (id_column, SCORE, PREDICTION) and counted[f"{name}:nulls"]:
            return True
        if dialect == "sqlite":
            if counted[f"{name}:storage_classes"] > 1:
                return True
            if rule.kind in NUMERIC_KINDS and counted[f"{name}:text"]:
                return True
            if rule.kind == "timestamp" and counted[f"{name}:not_timestamps"]:
                return True
            if (
                rule.kind == "timestamp"
                and counted[f"{name}:storage_classes"]
                and (counted[f"{name}:text"] != counted["rows"] - counted[f"{name}:nulls"])
            ):
                return True
    return False


def _table_findings(total: int, policy: QualityPolicy) -> list[QualityFinding]:
    """The pandas gate's row-count findings (``_Gate._interpret``'s first two)."""
    if total < policy.min_rows:
        message = TOO_FEW_ROWS.format(count=total, minimum=policy.min_rows)
        return [
            QualityFinding(
                CHECK_MIN_ROWS, (), message, total, policy.min_rows, severity_hint="CRITICAL"
            )
        ]
    expected, tolerance = policy.expected_rows, policy.volume_tolerance
    low, high = math.ceil(expected * (1 - tolerance)), math.floor(expected * (1 + tolerance))
    if low <= total <= high:
        return []
    message = VOLUME_OUTSIDE.format(count=total, low=low, high=high)
    return [QualityFinding(CHECK_VOLUME, (), message, total, expected)]


def _null_findings(rule: ColumnRule, nulls: int, total: int) -> list[QualityFinding]:
    if rule.max_null_fraction >= 1 or (total - nulls) / total >= 1 - rule.max_null_fraction:
        return []
    message = TOO_MANY_NULLS.format(
        column=rule.name, count=nulls, total=total, allowed=rule.max_null_fraction * 100
    )
    empty = rule.required and nulls == total
    if empty:
        message += ALL_NULL_REQUIRED
    return [
        QualityFinding(
            CHECK_NULLS,
            (rule.name,),
            message,
            nulls,
            total,
            severity_hint="CRITICAL" if empty else "WARNING",
        )
    ]


def _category_findings(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    rule: ColumnRule,
    policy: QualityPolicy,
    total: int,
) -> list[QualityFinding] | None:
    """A categorical column's allowed-set finding from its distinct values, or None when the
    pandas gate must decide (an attribute outside its groups, a sample it could order
    otherwise)."""
    assert rule.categories is not None
    allowed = {category_key(value) for value in rule.categories}

    def distinct(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        column = table.c[rule.name]
        # The first appearance in read_window's order: the earliest scored_at (ties refused).
        first = sa.func.min(table.c["scored_at"])
        return (
            sa.select(column, sa.func.count().label("rows"), first.label("first"))
            .where(in_window, column.is_not(None))
            .group_by(column)
            .order_by(sa.func.count().desc())
            .limit(DISTINCT_LIMIT + 1)
        )

    values: list[tuple[Any, ...]] = [
        tuple(row) for row in source.query_window(start, end, distinct)
    ]
    if len(values) > DISTINCT_LIMIT:
        return None
    unexpected = [row for row in values if category_key(row[0]) not in allowed]
    if not unexpected:
        return []
    if not rule.keep_unexpected or not all(isinstance(row[0], str) for row in unexpected):
        return None
    # Counter.most_common: most rows first, ties in the order of first appearance.
    ranked = sorted(unexpected, key=lambda row: (-row[1], _utc(row[2])))
    keys = [(row[1], _utc(row[2])) for row in ranked[: SAMPLE_SIZE + 1]]
    if len(set(keys)) < len(keys):
        return None
    sample = tuple(str(row[0]) for row in ranked[:SAMPLE_SIZE])
    count = sum(int(row[1]) for row in unexpected)
    present = sum(int(row[1]) for row in values)
    # The pandas gate's _severity and its INFO note below the policy's share.
    if rule.required and count == present:
        severity = "CRITICAL"
    elif count < policy.unseen_category_fraction_max * total:
        severity = "INFO"
    else:
        severity = "WARNING"
    shown = ", ".join(f"'{value}'" for value in sample)
    message = NOT_IN_SET.format(column=rule.name, count=count, total=total, sample=f" ({shown})")
    return [
        QualityFinding(
            CHECK_CATEGORIES,
            (rule.name,),
            message,
            count,
            total,
            sample,
            severity,  # type: ignore[arg-type]
        )
    ]


__all__ = ["counted_quality_gate"]
