"""Issue 18 item 5 (seed 004 sections 2.2 and 4.1 on warehouse-sized logs): what data drift
and fairness need of a window of a SQL prediction log, counted inside the database, so that
a few hundred rows of counts travel instead of the window.

Every function here is the database twin of a numpy path, with the same result:

* :func:`numeric_drift` is :func:`govflow.metrics.numeric_feature_drift` of each numerical
  feature: the counts in the baseline's frozen bins (``SUM(CASE WHEN x < edge ...)`` per
  interior edge, the same left-closed bins as ``np.searchsorted(..., side="right")``), the
  missing values (SQL NULL, and Postgres' NaN, which pandas reads as missing) and the
  infinite ones (counted, and in the end bins as numpy puts them). The Wasserstein distance
  is exact too, not estimated from counts: the area between the CDFs of the baseline's
  stored quantiles and the window's finite values, summed by the database over the pooled
  sorted values (window functions ordered by the value: one sort per feature). Each term is
  numpy's to the bit, and so is their sum (see below).
* :func:`categorical_drift` is :func:`govflow.metrics.categorical_feature_drift`: a
  ``GROUP BY`` per feature whose few rows are keyed in Python by ``category_key`` (so 1 and
  1.0 are one category, as in pandas); categories unseen in the baseline keep bins of their
  own and nulls are counted as dropped.
* :func:`fairness_counts` is :func:`govflow.metrics.group_counts` per protected attribute and
  intersection: one ``GROUP BY`` of the attributes, the label observed before ``as_of``, the
  prediction and the score's calibration bin, with the count and the score sum of each cell.
* :func:`model_version_counts` is ``analysis``'s rows per ``model_version``: a ``GROUP BY``
  of the column, each group named in Python by ``version_name``.

The Wasserstein terms and each calibration cell's score sum are added one after the other
in numpy's order (a running SUM: the pooled values ascending; ``read_window``'s row order,
``row_order``), so every number equals numpy's to the bit.

What these functions cannot see: values a typed column cannot hold. They count the table as
the database types it, so they are for a window the data-quality gate has nothing to say
about row by row (a text value in a numeric SQLite column compares above every number
there): ``analysis.analyse_sql_window``, what ``run_monitoring`` calls for a SQL log, calls
them only after ``window_quality.counted_quality_gate`` has found every row usable, and
otherwise reads the window. A label outside 0/1 or a missing or non-binary prediction raises
``MetricInputError`` with ``group_counts``'s message, as the numpy path does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from govflow.metrics import (
    CategoricalReference,
    FeatureDrift,
    GroupCounts,
    MetricInputError,
    NumericReference,
    categorical_drift_from_counts,
    numeric_drift_from_counts,
)
from govflow.metrics.data_drift import category_key
from govflow.metrics.fairness import (
    BAD_LABELS,
    BAD_PREDICTIONS,
    BAD_SCORES,
    DEFAULT_CALIBRATION_BINS,
    EMPTY_ROWS,
    INTERSECTION_SEPARATOR,
    NO_GROUPS,
)
from govflow.monitoring.prediction_logs import (
    LABEL,
    LABEL_OBSERVED_AT,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    SCORE,
    SCORED_AT,
    SqlLogSource,
    counted_versions,
    earlier_than,
)

INFINITY = float("inf")


def missing_value(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """What pandas reads as missing: NULL, and a NaN where the column's type can hold one
    (Postgres stores it in float and numeric columns; SQLite stores a NaN as NULL and binds
    one as NULL, so there the comparison is NULL, taken as false)."""
    holds_nan = isinstance(
        column.type, (sa.Float, sa.Numeric, sa.types.NullType)
    ) and not isinstance(column.type, sa.Integer)
    if not holds_nan:
        return column.is_(None)
    is_nan = sa.func.coalesce(column == sa.literal(math.nan, sa.Float), sa.false())
    return sa.or_(column.is_(None), is_nan)


def count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    """``COUNT(*) FILTER (WHERE condition)``, in both databases."""
    return sa.func.count().filter(condition)


def numeric_drift(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    references: Mapping[str, NumericReference],
) -> dict[str, FeatureDrift | MetricInputError]:
    """Each numerical feature's drift over ``[start, end)`` (see the module docstring), or
    the ``MetricInputError`` numpy raises for it (e.g. a column holding only nulls)."""
    names = list(references)
    if not names:
        return {}

    def counts(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        # COUNT(*) FILTER (WHERE ...): NULL fails every comparison, and so does NaN below an
        # edge (Postgres sorts NaN above every number), so only the present count needs it.
        selected: list[sa.ColumnElement[Any]] = [sa.func.count()]
        for name in names:
            column = table.c[name]
            nan = sa.func.count().filter(column == sa.literal(math.nan, sa.Float))
            selected.append(sa.func.count(column) - nan)
            selected.append(sa.func.count().filter(column.in_([INFINITY, -INFINITY])))
            interior = references[name].bin_edges[1:-1]
            selected += [sa.func.count().filter(column < float(edge)) for edge in interior]
        return sa.select(*selected).where(in_window)

    (row,) = source.query_window(start, end, counts)
    total, *values = (int(value) for value in row)
    found: dict[str, FeatureDrift | MetricInputError] = {}
    position = 0
    for name in names:
        reference = references[name]
        edges = len(reference.bin_edges) - 2
        present, infinite = values[position], values[position + 1]
        below = values[position + 2 : position + 2 + edges]
        position += 2 + edges
        bins = np.diff(np.array([0, *below, present], dtype=np.int64))
        finite = present - infinite
        wasserstein = _wasserstein(source, start, end, name, reference, finite) if finite else None
        try:
            found[name] = numeric_drift_from_counts(
                reference,
                bins,
                feature=name,
                dropped_missing=total - present,
                infinite=infinite,
                wasserstein=wasserstein,
            )
        except MetricInputError as error:
            found[name] = error
    return found


def _wasserstein(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    name: str,
    reference: NumericReference,
    finite: int,
) -> float:
    """W1 between the reference's quantiles and the window's finite values of ``name``: the
    sum, between consecutive pooled values, of |F_reference - F_window| times the width."""
    quantiles = [float(q) for q in reference.quantiles if math.isfinite(q)]

    def area(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        column = table.c[name]
        is_finite = sa.and_(sa.not_(missing_value(column)), column.not_in([INFINITY, -INFINITY]))
        value = sa.cast(column, sa.Float).label("value")
        window = sa.select(
            value, sa.literal(1).label("window"), sa.literal(0).label("reference")
        ).where(in_window, is_finite)
        stored = sa.values(
            sa.column("value", sa.Float),
            sa.column("window", sa.Integer),
            sa.column("reference", sa.Integer),
            name="reference_quantiles",
        ).data([(q, 0, 1) for q in quantiles])
        pooled = sa.union_all(window, sa.select(stored.cte("stored"))).subquery("pooled")
        # The default frame of an ordered window ends with the current row's peers: tied
        # values share one cumulative count, and all but the last have no width to the next.
        order = pooled.c.value
        cdf = sa.select(
            pooled.c.value,
            sa.func.sum(pooled.c.reference).over(order_by=order).label("reference_below"),
            sa.func.sum(pooled.c.window).over(order_by=order).label("window_below"),
            sa.func.lead(pooled.c.value).over(order_by=order).label("next_value"),
        ).subquery("cdf")
        gap = sa.func.abs(
            sa.cast(cdf.c.reference_below, sa.Float) / float(len(quantiles))
            - sa.cast(cdf.c.window_below, sa.Float) / float(finite)
        )
        # NULL after the last value (no width): SUM skips it.
        terms = sa.select(
            cdf.c.value, (gap * (cdf.c.next_value - cdf.c.value)).label("term")
        ).subquery("terms")
        # numpy adds the terms one by one in the pooled order (sequential_sum); so does a
        # running SUM, whose last row is the total. Tied values add 0 but one, so their
        # order does not change the total.
        running = sa.over(sa.func.sum(terms.c.term), order_by=terms.c.value, rows=(None, 0))
        seen = sa.over(sa.func.count(), order_by=terms.c.value, rows=(None, 0))
        return sa.select(running.label("total")).order_by(seen.desc()).limit(1)

    ((distance,),) = source.query_window(start, end, area)
    return float(distance or 0.0)


def categorical_drift(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    references: Mapping[str, CategoricalReference],
) -> dict[str, FeatureDrift | MetricInputError]:
    """Each categorical feature's drift over ``[start, end)``, or numpy's ``MetricInputError``."""
    found: dict[str, FeatureDrift | MetricInputError] = {}
    for name, reference in references.items():

        def grouped(
            table: sa.Table, in_window: sa.ColumnElement[bool], name: str = name
        ) -> sa.Select[Any]:
            column = table.c[name]
            return sa.select(column, sa.func.count()).where(in_window).group_by(column)

        frequencies: dict[str, int] = defaultdict(int)
        missing = 0
        for row in source.query_window(start, end, grouped):
            value, count = list(row)
            if _is_null(value):
                missing += int(count)
            else:
                frequencies[category_key(value)] += int(count)
        try:
            found[name] = categorical_drift_from_counts(
                reference, dict(frequencies), feature=name, dropped_missing=missing
            )
        except MetricInputError as error:
            found[name] = error
    return found


def model_version_counts(source: SqlLogSource, start: datetime, end: datetime) -> dict[str, int]:
    """The rows of ``[start, end)`` per model version (``counted_versions``); empty for a
    table without the column, whose rows say nothing of their version."""
    if MODEL_VERSION not in source.reflected().c:
        return {}

    def grouped(table: sa.Table, in_window: sa.ColumnElement[bool]) -> sa.Select[Any]:
        version = table.c[MODEL_VERSION]
        return sa.select(version, sa.func.count()).where(in_window).group_by(version)

    rows = [tuple(row) for row in source.query_window(start, end, grouped)]
    return counted_versions((value, int(count)) for value, count in rows)


def _is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fairness_counts(
    source: SqlLogSource,
    start: datetime,
    end: datetime,
    attributes: Sequence[Sequence[str]],
    *,
    as_of: datetime,
    favourable_label: int = 1,
    favourable_prediction: int = 1,
    calibration_bins: int = DEFAULT_CALIBRATION_BINS,
) -> dict[str, GroupCounts | MetricInputError]:
    """``group_counts`` of each attribute (or intersection, ``a&b``) over ``[start, end)``,
    labels counted only when observed before ``as_of``; numpy's ``MetricInputError`` in
    place of the counts it would refuse.

    The calibration score sums are numpy's to the bit when the rows are in ``read_window``'s
    order, by ``scored_at`` then a unique ``prediction_id`` (what the data-quality gate
    ensures before the analysis calls this): numpy adds each cell's scores in row order."""
    found: dict[str, GroupCounts | MetricInputError] = {}
    dialect = source.engine.dialect.name
    for names in attributes:
        subject = INTERSECTION_SEPARATOR.join(names)

        def cells(
            table: sa.Table, in_window: sa.ColumnElement[bool], names: Sequence[str] = names
        ) -> sa.Select[Any]:
            return _fairness_cells(
                table, in_window, names, as_of, favourable_prediction, calibration_bins, dialect
            )

        def sums(
            table: sa.Table, in_window: sa.ColumnElement[bool], names: Sequence[str] = names
        ) -> sa.Select[Any]:
            return _calibration_sums(
                table, in_window, names, as_of, favourable_prediction, calibration_bins, dialect
            )

        rows = source.query_window(start, end, cells)
        try:
            counts = _group_counts(
                rows, len(names), favourable_label, favourable_prediction, calibration_bins
            )
        except MetricInputError as error:
            found[subject] = error
            continue
        found[subject] = _with_score_sums(counts, source.query_window(start, end, sums), len(names))
    return found


def row_order(table: sa.Table, dialect: str) -> list[sa.ColumnElement[Any]]:
    """``read_window``'s row order: by ``scored_at``, then ``prediction_id`` compared as
    Python compares it (a text id by code point: Postgres' "C" collation, SQLite's own)."""
    identifier: sa.ColumnElement[Any] = table.c[PREDICTION_ID]
    if dialect == "postgresql" and isinstance(identifier.type, sa.String):
        identifier = identifier.collate("C")
    return [table.c[SCORED_AT], identifier]


def _score_bin(favourable: sa.ColumnElement[Any], bins: int) -> sa.ColumnElement[Any]:
    """numpy's min(int(score * bins), bins - 1) for scores in [0, 1]: how many of 1 .. bins-1
    the product reaches (the same double product in either database)."""
    product = favourable * float(bins)
    return sum(
        (sa.case((product >= float(k), 1), else_=0) for k in range(1, bins)),
        start=sa.literal(0),
    )


def labelled(table: sa.Table, as_of: datetime, dialect: str) -> sa.ColumnElement[Any]:
    """The label where it was observed before ``as_of``, else null (pandas' ``_labelled``)."""
    label: sa.ColumnElement[Any] = table.c[LABEL]
    if LABEL_OBSERVED_AT in table.c:
        arrived = earlier_than(table.c[LABEL_OBSERVED_AT], as_of, dialect)
        label = sa.case((arrived, label), else_=sa.null())
    return label


def _favourable_score(table: sa.Table, favourable_prediction: int) -> sa.ColumnElement[Any]:
    score = table.c[SCORE]
    return score if favourable_prediction == 1 else sa.literal(1.0, sa.Float) - score


def _fairness_cells(
    table: sa.Table,
    in_window: sa.ColumnElement[bool],
    names: Sequence[str],
    as_of: datetime,
    favourable_prediction: int,
    bins: int,
    dialect: str,
) -> sa.Select[Any]:
    label = labelled(table, as_of, dialect)
    score = table.c[SCORE]
    score_bin = sa.case(
        (missing_value(score), sa.null()),
        else_=_score_bin(_favourable_score(table, favourable_prediction), bins),
    )
    keys = [table.c[name] for name in names]
    outside = count_where(sa.or_(score < 0.0, score > 1.0))
    return (
        sa.select(
            *keys,
            label.label("label"),
            table.c[PREDICTION].label("prediction"),
            score_bin.label("score_bin"),
            sa.func.count().label("rows"),
            outside.label("outside"),
        )
        .where(in_window)
        .group_by(*keys, label, table.c[PREDICTION], score_bin)
    )


def _calibration_sums(
    table: sa.Table,
    in_window: sa.ColumnElement[bool],
    names: Sequence[str],
    as_of: datetime,
    favourable_prediction: int,
    bins: int,
    dialect: str,
) -> sa.Select[Any]:
    """Each (group, score bin)'s favourable-score sum over its labelled, scored rows, added
    in row order: a running SUM per cell, read at the cell's last row."""
    keys = [table.c[name] for name in names]
    favourable = _favourable_score(table, favourable_prediction)
    label = labelled(table, as_of, dialect)
    score_bin = _score_bin(favourable, bins).label("score_bin")
    cell = [*keys, score_bin]
    order = row_order(table, dialect)
    scored = (
        sa.select(
            *keys,
            score_bin,
            sa.over(
                sa.func.sum(favourable), partition_by=cell, order_by=order, rows=(None, 0)
            ).label("running"),
            sa.over(sa.func.count(), partition_by=cell, order_by=order, rows=(None, 0)).label(
                "seen"
            ),
            sa.over(sa.func.count(), partition_by=cell).label("cell_rows"),
        )
        .where(
            in_window,
            sa.not_(missing_value(label)),
            sa.not_(missing_value(table.c[SCORE])),
            *(key.is_not(None) for key in keys),
        )
        .subquery("scored")
    )
    return sa.select(
        *(scored.c[name] for name in names), scored.c.score_bin, scored.c.running
    ).where(scored.c.seen == scored.c.cell_rows)


def _with_score_sums(
    counts: GroupCounts, rows: Sequence[sa.Row[Any]], attributes: int
) -> GroupCounts:
    sums = {group: [0.0] * counts.calibration_bins for group in counts.groups}
    for row in rows:
        keys, score_bin, total = row[:attributes], row[attributes], row[attributes + 1]
        group = INTERSECTION_SEPARATOR.join(category_key(key) for key in keys)
        sums[group][int(score_bin)] = float(total)
    return replace(
        counts, calibration_score_sums=tuple(tuple(sums[group]) for group in counts.groups)
    )


def _group_counts(
    rows: Sequence[sa.Row[Any]],
    attributes: int,
    favourable_label: int,
    favourable_prediction: int,
    bins: int,
) -> GroupCounts:
    if not rows:
        raise MetricInputError(EMPTY_ROWS)
    # cells[group][label state: 0, 1, missing][selected]
    cells: dict[str, np.ndarray] = {}
    calibration: dict[str, np.ndarray] = {}
    positives: dict[str, np.ndarray] = {}
    dropped = 0
    for row in rows:
        keys = row[:attributes]
        label, prediction, score_bin, count, outside = row[attributes:]
        if _is_null(prediction) or float(prediction) not in (0.0, 1.0):
            raise MetricInputError(BAD_PREDICTIONS)
        if not _is_null(label) and float(label) not in (0.0, 1.0):
            raise MetricInputError(BAD_LABELS)
        if outside:
            raise MetricInputError(BAD_SCORES)
        if any(_is_null(key) for key in keys):
            dropped += int(count)
            continue
        group = INTERSECTION_SEPARATOR.join(category_key(key) for key in keys)
        if group not in cells:
            cells[group] = np.zeros((3, 2), dtype=np.int64)
            calibration[group] = np.zeros(bins, dtype=np.int64)
            positives[group] = np.zeros(bins, dtype=np.int64)
        favourable = None if _is_null(label) else int(float(label) == favourable_label)
        selected = int(float(prediction) == favourable_prediction)
        cells[group][2 if favourable is None else favourable, selected] += int(count)
        if favourable is not None and score_bin is not None:
            calibration[group][int(score_bin)] += int(count)
            positives[group][int(score_bin)] += int(count) * favourable
    if not cells:
        raise MetricInputError(NO_GROUPS.format(dropped=dropped))
    groups = tuple(sorted(cells))
    return GroupCounts.from_cells(
        groups,
        np.stack([cells[group] for group in groups]),
        calibration_bins=bins,
        calibration_counts=tuple(tuple(map(int, calibration[group])) for group in groups),
        # Added by _with_score_sums, in row order.
        calibration_score_sums=tuple((0.0,) * bins for _ in groups),
        calibration_positives=tuple(tuple(map(int, positives[group])) for group in groups),
        dropped_missing_attribute=dropped,
    )


__all__ = [
    "categorical_drift",
    "count_where",
    "fairness_counts",
    "missing_value",
    "model_version_counts",
    "numeric_drift",
    "row_order",
]
