"""SQL pushdown: a window's data drift and fairness counts computed inside Postgres by
govflow's production path, against reading the window with ``read_sql`` and counting in numpy.

Run: ``python benchmarks/sql_pushdown.py --rows 10000000``.

Both sides are govflow's own code on the same table:

* **read_sql + numpy**: ``SqlLogSource.read_window`` of the columns the metrics need (the
  path every SQL source took before issue 18 item 5), then ``numeric_feature_drift`` (PSI,
  KL, Wasserstein against the baseline's 1,000 quantiles), ``categorical_feature_drift`` and
  ``group_counts`` per protected attribute and their intersection;
* **pushdown**: ``govflow.monitoring.window_counts`` (``numeric_drift``,
  ``categorical_drift``, ``fairness_counts``): the counts, and the Wasserstein areas, are
  computed by Postgres; only they travel.

The data is ``_synthetic.py``'s current window (25 features, two protected attributes),
loaded with COPY in chunks of a million rows into a throw-away Postgres on 127.0.0.1 (not
timed); the baseline is a reference window of 200,000 rows. Each side runs in a fresh
process (its peak memory is its own); the read_sql side may use ``--memory-limit-gib`` of
address space (``read_sql`` holds the driver's result, Python's rows and the frame at once,
about 3.5 GiB a million rows of 31 columns), and a ``MemoryError`` is reported as its result.
The machine may be shared: the CPU time the whole machine used during each side is printed
beside the benchmark's own (the rest is Postgres and whatever else ran).

Equality is checked on the table's first chunk (a second table of a million rows, small
enough for both sides): the results must be the same (floats to 1e-12, sums being added in
another order). The last line is ``sql_pushdown: rows=<N> pandas_s=<t or out-of-memory>
pushdown_s=<t> speedup=<x> equal=True``.
"""

from __future__ import annotations

import argparse
import io
import math
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The throw-away Postgres of the system tests (tests/support/postgres.py).
sys.path.insert(0, str(REPO))

from tests.support.postgres import running_postgres  # noqa: E402

from _machine import machine_busy_seconds  # noqa: E402
from _synthetic import (  # noqa: E402
    ATTRIBUTE_NAMES,
    CATEGORICAL_NAMES,
    NUMERIC_NAMES,
    synthetic_window,
)

TABLE = "prediction_log"
CHECK_TABLE = "prediction_log_check"
REFERENCE_ROWS = 200_000
CHUNK_ROWS = 1_000_000
START = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)
AS_OF = END
OUTCOME_COLUMNS = ("score", "prediction", "label")
COLUMNS = ("scored_at", *NUMERIC_NAMES, *CATEGORICAL_NAMES, *ATTRIBUTE_NAMES, *OUTCOME_COLUMNS)
ATTRIBUTES = [[name] for name in ATTRIBUTE_NAMES] + [list(ATTRIBUTE_NAMES)]
MIB = 1024 * 1024
SIDES = ("pushdown", "read_sql")


def references() -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline's frozen numerical and categorical references."""
    from govflow.metrics import categorical_reference, numeric_reference

    reference = synthetic_window(REFERENCE_ROWS, seed=1, current=False)
    numeric = {name: numeric_reference(reference[name]) for name in NUMERIC_NAMES}
    categorical = {name: categorical_reference(reference[name]) for name in CATEGORICAL_NAMES}
    return numeric, categorical


def load_table(url: str, rows: int) -> None:
    """The window as a Postgres table, through COPY, a million rows at a time, and its first
    chunk again as the equality check's table (the data already lives in the warehouse in a
    real deployment, so this is not timed)."""
    import psycopg

    types = {name: "double precision" for name in (*NUMERIC_NAMES, "score")}
    types |= {name: "text" for name in (*CATEGORICAL_NAMES, *ATTRIBUTE_NAMES)}
    types |= {"scored_at": "timestamptz", "prediction": "smallint", "label": "smallint"}
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        for table in (TABLE, CHECK_TABLE):
            connection.execute(
                f"CREATE TABLE {table} ({', '.join(f'{c} {types[c]}' for c in COLUMNS)})"
            )
        for chunk, first in enumerate(range(0, rows, CHUNK_ROWS)):
            window = synthetic_window(min(CHUNK_ROWS, rows - first), seed=2 + chunk, current=True)
            buffer = io.StringIO()
            window[list(COLUMNS)].to_csv(buffer, index=False, header=False, na_rep="")
            del window
            for table in (TABLE, CHECK_TABLE) if chunk == 0 else (TABLE,):
                with connection.cursor().copy(
                    f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv)"
                ) as copy:
                    copy.write(buffer.getvalue())
        for table in (TABLE, CHECK_TABLE):
            connection.execute(f"ANALYZE {table}")


class CountingSource:
    """A ``SqlLogSource`` that counts the rows its queries send back."""

    def __init__(self, url: str, table: str) -> None:
        from govflow.monitoring.prediction_logs import SqlLogSource

        self.source = SqlLogSource(url, table)
        self.rows = 0

    def query_window(self, start: datetime, end: datetime, build: Any) -> list[Any]:
        found = self.source.query_window(start, end, build)
        self.rows += len(found)
        return found


def pushdown(
    url: str, table: str, numeric: dict[str, Any], categorical: dict[str, Any]
) -> dict[str, Any]:
    from govflow.monitoring.window_counts import categorical_drift, fairness_counts, numeric_drift

    source: Any = CountingSource(url, table)
    found: dict[str, Any] = {}
    parts = {}
    for part, count in (
        (
            "numerical, exact Wasserstein included",
            lambda: numeric_drift(source, START, END, numeric),
        ),
        ("categorical", lambda: categorical_drift(source, START, END, categorical)),
        ("fairness", lambda: fairness_counts(source, START, END, ATTRIBUTES, as_of=AS_OF)),
    ):
        started = time.perf_counter()
        found |= count()
        parts[part] = time.perf_counter() - started
    moved = f"{source.rows} rows ({', '.join(f'{p} {s:.1f} s' for p, s in parts.items())})"
    return {"seconds": sum(parts.values()), "moved": moved, "results": _dicts(found)}


def read_sql_and_numpy(
    url: str, table: str, numeric: dict[str, Any], categorical: dict[str, Any]
) -> dict[str, Any]:
    from govflow.metrics import (
        categorical_feature_drift,
        group_counts,
        intersectional_groups,
        numeric_feature_drift,
    )
    from govflow.monitoring.prediction_logs import SqlLogSource

    started = time.perf_counter()
    frame = SqlLogSource(url, table).read_window(START, END, columns=COLUMNS)
    read = time.perf_counter() - started
    found: dict[str, Any] = {}
    for name, reference in numeric.items():
        found[name] = numeric_feature_drift(reference, frame[name].to_numpy(), feature=name)
    for name, reference in categorical.items():
        found[name] = categorical_feature_drift(
            reference, frame[name].astype("object"), feature=name
        )
    for names in ATTRIBUTES:
        if len(names) == 1:
            subject, groups = names[0], frame[names[0]].astype("object")
        else:
            subject, groups = intersectional_groups({name: frame[name] for name in names})
        found[subject] = group_counts(
            frame["label"].to_numpy(dtype="float64", na_value=np.nan),
            frame["prediction"].to_numpy(),
            sensitive_features=groups,
            scores=frame["score"].to_numpy(),
        )
    seconds = time.perf_counter() - started
    moved = f"{len(frame)} rows x {len(COLUMNS)} columns (read_sql {read:.1f} s)"
    return {"seconds": seconds, "moved": moved, "results": _dicts(found)}


def _dicts(found: dict[str, Any]) -> dict[str, Any]:
    return {key: value.to_dict() for key, value in found.items()}


def _measured(side: str, url: str, table: str, memory_limit: int | None) -> dict[str, Any]:
    """One side in this (fresh) process: its result, time, CPU and peak memory (the
    baseline's references are built first, untimed), or the MemoryError it met."""
    from govflow.monitoring.prediction_logs import PredictionLogError

    run = pushdown if side == "pushdown" else read_sql_and_numpy
    numeric, categorical = references()
    if memory_limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    before = resource.getrusage(resource.RUSAGE_SELF)
    busy = machine_busy_seconds()
    started = time.perf_counter()
    try:
        measured = run(url, table, numeric, categorical)
    except (MemoryError, PredictionLogError) as error:
        # libpq's own "out of memory" arrives as a database error.
        seconds = time.perf_counter() - started
        failed = f"{type(error).__name__} ({str(error)[:80]}) after {seconds:.1f} s"
        measured = {"seconds": None, "moved": failed, "results": {}}
    after = resource.getrusage(resource.RUSAGE_SELF)
    measured["machine_cpu_s"] = machine_busy_seconds() - busy
    measured["own_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    measured["peak_mib"] = after.ru_maxrss * 1024 / MIB
    return measured


def _in_fresh_process(side: str, url: str, table: str, memory_limit: int | None) -> Any:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_measured, side, url, table, memory_limit).result()


def _leaves(found: Any, path: str = "") -> dict[str, Any]:
    if isinstance(found, dict):
        return {k: v for key in found for k, v in _leaves(found[key], f"{path}/{key}").items()}
    if isinstance(found, (list, tuple)):
        return {
            k: v for i, item in enumerate(found) for k, v in _leaves(item, f"{path}/{i}").items()
        }
    return {path: found}


def same(pushed: dict[str, Any], expected: dict[str, Any]) -> bool:
    """The same keys and values, floats to 1e-12."""
    pushed, expected = _leaves(pushed), _leaves(expected)
    if pushed.keys() != expected.keys():
        return False
    return all(
        math.isclose(pushed[path], value, rel_tol=1e-12, abs_tol=1e-12)
        if isinstance(value, float)
        else pushed[path] == value
        for path, value in expected.items()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the window")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=12.0,
        help="address space the read_sql side may use (a MemoryError is its result)",
    )
    args = parser.parse_args(argv)
    limit = int(args.memory_limit_gib * 1024**3)

    with running_postgres() as url:
        load_table(url, args.rows)
        runs = {side: _in_fresh_process(side, url, TABLE, limit) for side in SIDES}
        checked = {side: _in_fresh_process(side, url, CHECK_TABLE, None) for side in SIDES}
    equal = same(checked["pushdown"]["results"], checked["read_sql"]["results"])
    print(f"rows in the window: {args.rows:,}; {len(COLUMNS)} columns")
    for side, title in (("read_sql", "read_sql + numpy"), ("pushdown", "pushdown")):
        run = runs[side]
        took = "-" if run["seconds"] is None else f"{run['seconds']:.2f} s"
        print(
            f"{title:17} {took}; moved {run['moved']}; peak memory {run['peak_mib']:,.0f} MiB; "
            f"CPU: this process {run['own_cpu_s']:.1f} s, the machine "
            f"{run['machine_cpu_s']:.1f} s (Postgres and other processes "
            f"{run['machine_cpu_s'] - run['own_cpu_s']:.1f} s)"
        )
    check_rows = min(args.rows, CHUNK_ROWS)
    print(
        f"equality on the first {check_rows:,} rows: read_sql + numpy "
        f"{checked['read_sql']['seconds']:.2f} s, pushdown {checked['pushdown']['seconds']:.2f} s, "
        f"results equal to 1e-12: {equal}"
    )
    pandas_s, pushdown_s = runs["read_sql"]["seconds"], runs["pushdown"]["seconds"]
    pandas = "out-of-memory" if pandas_s is None else f"{pandas_s:.2f}"
    speedup = "-" if pandas_s is None else f"{pandas_s / pushdown_s:.1f}"
    print(
        f"sql_pushdown: rows={args.rows} pandas_s={pandas} pushdown_s={pushdown_s:.2f} "
        f"speedup={speedup} equal={equal}"
    )
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
