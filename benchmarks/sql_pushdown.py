"""SQL pushdown prototype: a window's histograms and group counts computed inside Postgres.

Run: ``python benchmarks/sql_pushdown.py --rows 1000000``.

Today a SQL prediction-log source (``govflow.monitoring.prediction_logs.SqlLogSource``)
reads the whole window into pandas and govflow bins it against the baseline's frozen edges.
PSI, KL and the fairness rates need only counts, so the database can compute them and send a
few hundred rows instead of the window. This prototype measures both on the same table:

* **pandas**: ``pd.read_sql`` of the columns the counts need, then ``np.searchsorted`` +
  ``np.bincount`` per numerical feature against frozen decile edges, ``value_counts`` per
  categorical feature, and the (group, prediction, label) counts per protected attribute;
* **pushdown**: one query, one scan: ``width_bucket(column, edges)`` per numerical feature,
  the categorical columns and the fairness triples as ``GROUPING SETS``; only the counts
  travel. Also timed apart: the 1,000 quantiles per numerical feature that govflow's
  Wasserstein estimate uses (``percentile_disc(...) WITHIN GROUP``, a sort per feature).

The data is ``_synthetic.py``'s current window (25 features, two protected attributes),
loaded with COPY into a throw-away Postgres on 127.0.0.1 (not timed); the edges are the
deciles of a reference window. Both paths must give identical counts (checked); the last
line is ``sql_pushdown: rows=<N> pandas_s=<t> pushdown_s=<t> speedup=<x> counts_equal=True``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
# The throw-away Postgres of the system tests (tests/support/postgres.py).
sys.path.insert(0, str(REPO))

from tests.support.postgres import running_postgres  # noqa: E402

from _synthetic import (  # noqa: E402
    ATTRIBUTE_NAMES,
    CATEGORICAL_NAMES,
    NUMERIC_NAMES,
    synthetic_window,
)

TABLE = "prediction_log"
REFERENCE_ROWS = 200_000
QUANTILES = 1000
OUTCOME_COLUMNS = ("prediction", "label")

CountKey = tuple[str, str, object]


def frozen_edges(reference: pd.DataFrame) -> dict[str, list[float]]:
    """Interior decile edges of every numerical feature, as a baseline freezes them."""
    return {
        name: sorted(set(np.quantile(reference[name], np.linspace(0.1, 0.9, 9)).tolist()))
        for name in NUMERIC_NAMES
    }


def load_table(url: str, window: pd.DataFrame) -> None:
    """The window as a Postgres table, through COPY (the data already lives in the warehouse
    in a real deployment, so this is not timed)."""
    import psycopg

    columns = [*NUMERIC_NAMES, *CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS]
    types = {name: "double precision" for name in NUMERIC_NAMES} | {
        name: "text" for name in (*CATEGORICAL_NAMES, *ATTRIBUTE_NAMES)
    }
    types |= {"prediction": "smallint", "label": "smallint"}
    buffer = io.StringIO()
    window[columns].to_csv(buffer, index=False, header=False, na_rep="")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute(
            f"CREATE TABLE {TABLE} ({', '.join(f'{c} {types[c]}' for c in columns)})"
        )
        with connection.cursor().copy(
            f"COPY {TABLE} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getvalue())
        connection.execute(f"ANALYZE {TABLE}")


def pandas_counts(url: str, edges: dict[str, list[float]]) -> tuple[Counter[CountKey], float]:
    """What govflow does today: read the window, count in numpy. (counts, seconds reading)."""
    from sqlalchemy import create_engine

    columns = [*NUMERIC_NAMES, *CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS]
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        frame = pd.read_sql(f"SELECT {', '.join(columns)} FROM {TABLE}", connection)
    read = time.perf_counter() - started
    engine.dispose()
    counts: Counter[CountKey] = Counter()
    for name in NUMERIC_NAMES:
        bins = np.searchsorted(np.asarray(edges[name]), frame[name].to_numpy(), side="right")
        for index, count in enumerate(np.bincount(bins, minlength=len(edges[name]) + 1)):
            if count:
                counts["bin", name, index] += int(count)
    for name in CATEGORICAL_NAMES:
        for category, count in frame[name].value_counts().items():
            counts["category", name, category] += int(count)
    for name in ATTRIBUTE_NAMES:
        triples = frame.groupby([name, *OUTCOME_COLUMNS]).size()
        for (group, prediction, label), count in triples.items():
            counts["fairness", name, (group, int(prediction), int(label))] += int(count)
    return counts, read


def pushdown_query(edges: dict[str, list[float]]) -> str:
    """One scan: every histogram and group count as a grouping set of one query."""
    bins = [
        f"width_bucket({name}, ARRAY[{', '.join(repr(e) for e in edges[name])}]::float8[]) "
        f"AS bin_{name}"
        for name in NUMERIC_NAMES
    ]
    sets = [f"(bin_{name})" for name in NUMERIC_NAMES]
    sets += [f"({name})" for name in CATEGORICAL_NAMES]
    sets += [f"({name}, prediction, label)" for name in ATTRIBUTE_NAMES]
    grouped = [f"bin_{name}" for name in NUMERIC_NAMES]
    grouped += [*CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS]
    flags = ", ".join(f"GROUPING({column}) AS g_{column}" for column in grouped)
    return (
        f"WITH binned AS (SELECT {', '.join(bins)}, "
        f"{', '.join((*CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS))} FROM {TABLE}) "
        f"SELECT {', '.join(grouped)}, {flags}, count(*) FROM binned "
        f"GROUP BY GROUPING SETS ({', '.join(sets)})"
    )


def pushdown_counts(
    url: str, edges: dict[str, list[float]]
) -> tuple[Counter[CountKey], int, float]:
    """The counts computed by Postgres. (counts, rows transferred, seconds)."""
    import psycopg

    query = pushdown_query(edges)
    grouped = [f"bin_{name}" for name in NUMERIC_NAMES]
    grouped += [*CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS]
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        started = time.perf_counter()
        rows = connection.execute(query).fetchall()
        elapsed = time.perf_counter() - started
    counts: Counter[CountKey] = Counter()
    width = len(grouped)
    for row in rows:
        values = dict(zip(grouped, row[:width], strict=True))
        present = {c for c, flag in zip(grouped, row[width : 2 * width], strict=True) if not flag}
        count = row[-1]
        bin_column = next((c for c in present if c.startswith("bin_")), None)
        if bin_column is not None:
            counts["bin", bin_column.removeprefix("bin_"), values[bin_column]] += count
        elif present & set(ATTRIBUTE_NAMES):
            (name,) = present & set(ATTRIBUTE_NAMES)
            triple = (values[name], values["prediction"], values["label"])
            counts["fairness", name, triple] += count
        else:
            (name,) = present
            counts["category", name, values[name]] += count
    return counts, len(rows), elapsed


def quantile_seconds(url: str) -> float:
    """1,000 quantiles of every numerical feature, computed by Postgres (a sort each)."""
    import psycopg

    points = ", ".join(str(q) for q in np.linspace(0, 1, QUANTILES).round(6))
    query = (
        "SELECT "
        + ", ".join(
            f"percentile_disc(ARRAY[{points}]) WITHIN GROUP (ORDER BY {name})"
            for name in NUMERIC_NAMES
        )
        + f" FROM {TABLE}"
    )
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        started = time.perf_counter()
        connection.execute(query).fetchall()
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the window")
    args = parser.parse_args(argv)

    edges = frozen_edges(synthetic_window(REFERENCE_ROWS, seed=1, current=False))
    window = synthetic_window(args.rows, seed=2, current=True)
    with running_postgres() as url:
        load_table(url, window)
        del window
        started = time.perf_counter()
        expected, read = pandas_counts(url, edges)
        pandas_total = time.perf_counter() - started
        counts, transferred, pushdown = pushdown_counts(url, edges)
        quantiles = quantile_seconds(url)

    columns = len(NUMERIC_NAMES) + len(CATEGORICAL_NAMES) + len(ATTRIBUTE_NAMES) + 2
    print(f"rows in the window:           {args.rows}")
    print(
        f"pandas (read + count):        {pandas_total:.2f} s "
        f"(read_sql {read:.2f} s of it; {args.rows} rows x {columns} columns transferred)"
    )
    print(f"pushdown (one query):         {pushdown:.2f} s ({transferred} rows transferred)")
    print(
        f"pushdown quantiles:           {quantiles:.2f} s "
        f"({QUANTILES} per numerical feature, {len(NUMERIC_NAMES)} features)"
    )
    print(f"counts compared:              {len(expected)} (bins, categories, fairness cells)")
    equal = counts == expected
    print(
        f"sql_pushdown: rows={args.rows} pandas_s={pandas_total:.2f} pushdown_s={pushdown:.2f} "
        f"speedup={pandas_total / pushdown:.1f} counts_equal={equal}"
    )
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
