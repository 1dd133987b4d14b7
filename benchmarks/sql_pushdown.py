"""SQL pushdown: the production analysis of a SQL prediction log (``analyse_sql_window``, what
``run_monitoring`` calls for a SQL source) against reading the window with ``read_sql`` and
analysing it in numpy (``read_window`` + ``analyse_window``, the path every SQL source took
before issue 18 item 5), on one day of the demo credit model's log held by Postgres.

Run: ``python benchmarks/sql_pushdown.py --rows 10000000``.

Both sides are govflow's own code on the same table, with the same model entry (the demo's
``credit_approval``, its label delay set to 0 so that the day's labels count and the labelled
window is the day itself), baseline profile (built from the demo's validation set) and
trained model, and run all four checks:

* **read_sql + numpy**: ``SqlLogSource.read_window`` of the whole window (every column), the
  pandas data-quality gate, data, fairness, model and explanation drift in numpy;
* **pushdown**: ``analysis.analyse_sql_window``: the data-quality gate counted in Postgres
  (``window_quality``), data drift, categories and fairness counted there too
  (``window_counts``), model drift from counted (label, prediction) pairs and the score
  column (streamed, in ``read_window``'s order), explanation drift from the ~200 rows it
  explains. It must not fall back to reading the window; if it does, the run says so.

The data (untimed): the demo's trained credit model scores N synthetic applicants (the
fleet benchmark's ``synthetic_day``, a million at a time, each million in its own stretch of
the day), loaded with COPY into a throw-away Postgres on 127.0.0.1 with warehouse types.
Each side runs in a fresh process; its peak memory is the peak RSS (``VmHWM``, reset when
the analysis starts, the model and the baseline resident). The read_sql side may use
``--memory-limit-gib`` of address space (``read_sql`` holds the driver's result, Python's
rows and the frame at once), and a ``MemoryError`` is reported as its result. The machine
may be shared: the CPU time the whole machine used during each side is printed beside the
benchmark's own (the rest is Postgres and whatever else ran). "Moved" counts the values
(rows x columns) the database sent.

Equality is checked on a second table holding the first million rows (small enough for both
sides): every stored field of the two analyses (findings, data-quality report, composite,
fairness counts) must be equal, floats to the bit. The last line is ``sql_pushdown:
rows=<N> pandas_s=<t or out-of-memory> pushdown_s=<t> speedup=<x> equal=True``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
# The throw-away Postgres of the system tests (tests/support/postgres.py).
sys.path.insert(0, str(REPO))

from tests.support.postgres import running_postgres  # noqa: E402

from _machine import machine_busy_seconds, reset_peak_rss, status_bytes  # noqa: E402

MODEL = "credit_approval"
TABLE = "prediction_log"
CHECK_TABLE = "prediction_log_check"
CHUNK_ROWS = 1_000_000
DAY = date(2025, 6, 2)
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
END = START + timedelta(days=1)
ANALYSED_AT = END + timedelta(hours=1)
CHECKS = ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
MIB = 1024 * 1024
SIDES = ("pushdown", "read_sql")


def demo_model(data_dir: Path) -> None:
    """The demo's trained models and validation sets (a small demo: only the artefacts are
    used), written once into ``data_dir``."""
    from govflow.demo import write_demo

    write_demo(data_dir, days=35, rows_per_day=200)


def _setting(data_dir: Path) -> dict[str, Any]:
    """What both sides analyse with: the model entry (no label delay), its config, the
    trained model and its baseline profile."""
    import joblib
    from threadpoolctl import threadpool_limits

    from govflow import settings
    from govflow.baselines.profile import build_profile
    from govflow.config import load_config
    from govflow.demo.logs import DemoManifest

    config = load_config(settings.config_dir())
    entry = config.models.get(MODEL).model_copy(update={"label_delay_days": 0})
    demo = DemoManifest.load(data_dir).model(MODEL)
    version = next(v for v in demo["versions"] if v["version"] == demo["current_version"])
    model = joblib.load(data_dir / version["artifact_path"])
    with threadpool_limits(limits=1):
        profile = build_profile(
            MODEL,
            version["version"],
            validation=pd.read_parquet(data_dir / version["validation_path"]),
            model=model,
            model_config=entry,
        )
    return {
        "model": entry,
        "config": config,
        "baseline": profile,
        "baseline_version": version["version"],
        "window_start": START,
        "window_end": END,
        "checks": CHECKS,
        "explainer": model,
        "analysed_at": ANALYSED_AT,
        "_version": version["version"],
    }


SQL_TYPES = {
    "object": "text",
    "float64": "double precision",
    "int64": "bigint",
    "int8": "smallint",
    "Int8": "smallint",
    "datetime64[us, UTC]": "timestamptz",
    "datetime64[ns, UTC]": "timestamptz",
}


def load_table(url: str, data_dir: Path, rows: int) -> None:
    """N rows of one day of the credit model's log as a Postgres table, a million rows at a
    time (each million in its own stretch of the day, ids unique), and the first million
    again as the equality check's table. Not timed: the data already lives in the warehouse."""
    import psycopg
    from threadpoolctl import threadpool_limits

    from fleet import synthetic_day

    setting = _setting(data_dir)
    chunks = -(-rows // CHUNK_ROWS)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        for chunk in range(chunks):
            size = min(CHUNK_ROWS, rows - chunk * CHUNK_ROWS)
            # Each million is drawn as a day of its own (its own applicants), then put in
            # its stretch of the analysed day.
            drawn = DAY + timedelta(days=chunk)
            with threadpool_limits(limits=1):
                frame = synthetic_day(
                    drawn,
                    size,
                    model=setting["explainer"],
                    model_id=MODEL,
                    version=setting["_version"],
                    label_delay_days=0,
                ).to_pandas()
            stretch = timedelta(days=1) / chunks
            offset = frame["scored_at"] - pd.Timestamp(drawn.isoformat(), tz="UTC")
            frame["scored_at"] = pd.Timestamp(START) + stretch * chunk + offset / chunks
            frame["label_observed_at"] = frame["scored_at"] + timedelta(minutes=1)
            if chunk == 0:
                columns = ", ".join(
                    f"{name} {SQL_TYPES[str(dtype)]}" for name, dtype in frame.dtypes.items()
                )
                for table in (TABLE, CHECK_TABLE):
                    connection.execute(f"CREATE TABLE {table} ({columns})")
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="")
            del frame
            for table in (TABLE, CHECK_TABLE) if chunk == 0 else (TABLE,):
                with connection.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
        for table in (TABLE, CHECK_TABLE):
            connection.execute(f"ANALYZE {table}")


def _counting_source(url: str, table: str) -> Any:
    """The production SqlLogSource, counting the values its queries send back."""
    from govflow.monitoring.prediction_logs import SqlLogSource

    class CountingSource(SqlLogSource):
        moved = 0

        def query_window(self, start: Any, end: Any, build: Any) -> list[Any]:
            found = super().query_window(start, end, build)
            self.moved += sum(len(row) for row in found)
            return found

        def query_values(self, start: Any, end: Any, build: Any) -> Any:
            found = super().query_values(start, end, build)
            self.moved += len(found)
            return found

        def read_window(self, start: Any, end: Any, *, columns: Any = None) -> pd.DataFrame:
            frame = super().read_window(start, end, columns=columns)
            self.moved += frame.size
            return frame

    return CountingSource(url, table)


def pushdown(url: str, table: str, setting: dict[str, Any]) -> dict[str, Any]:
    from govflow.monitoring import analysis

    source = _counting_source(url, table)
    started = time.perf_counter()
    found = analysis.analyse_sql_window(source=source, **setting)
    seconds = time.perf_counter() - started
    if found is None:  # the counted gate handed the window over: not the measurement wanted
        return {"seconds": seconds, "moved": "FELL BACK to reading the window", "results": {}}
    return {"seconds": seconds, "moved": f"{source.moved:,} values", "results": _stored(found)}


def read_sql_and_numpy(url: str, table: str, setting: dict[str, Any]) -> dict[str, Any]:
    from govflow.monitoring import analysis

    source = _counting_source(url, table)
    started = time.perf_counter()
    frame = source.read_window(START, END)
    read = time.perf_counter() - started
    found = analysis.analyse_window(current=frame, matured=frame, **setting)
    seconds = time.perf_counter() - started
    moved = f"{source.moved:,} values ({len(frame):,} rows x {frame.shape[1]} columns, "
    moved += f"read_sql {read:.1f} s)"
    return {"seconds": seconds, "moved": moved, "results": _stored(found)}


def _stored(found: Any) -> dict[str, Any]:
    """Every field run_monitoring stores of an analysis."""
    return {
        "findings": [finding.to_dict() for finding in found.findings],
        "quality": found.quality,
        "composite": found.composite,
        "fairness_counts": found.fairness_counts,
        "verdict": found.verdict,
    }


def _measured(side: str, url: str, table: str, data_dir: Path, limit: int | None) -> dict:
    """One side in this (fresh) process: its result, time, CPU and peak memory (the model
    and the baseline profile are loaded first, untimed), or the MemoryError it met."""
    from govflow.monitoring.prediction_logs import PredictionLogError

    setting = _setting(data_dir)
    del setting["_version"]
    run = pushdown if side == "pushdown" else read_sql_and_numpy
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    reset = reset_peak_rss()
    before = resource.getrusage(resource.RUSAGE_SELF)
    busy = machine_busy_seconds()
    started = time.perf_counter()
    try:
        measured = run(url, table, setting)
    except (MemoryError, PredictionLogError) as error:
        # libpq's own "out of memory" arrives as a database error.
        seconds = time.perf_counter() - started
        failed = f"{type(error).__name__} ({str(error)[:80]}) after {seconds:.1f} s"
        measured = {"seconds": None, "moved": failed, "results": {}}
    after = resource.getrusage(resource.RUSAGE_SELF)
    measured["machine_cpu_s"] = machine_busy_seconds() - busy
    measured["own_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # The analysis's own peak (the model and baseline loaded before it are resident), or
    # the process's whole peak where the kernel cannot reset it.
    measured["peak_mib"] = (status_bytes("VmHWM") if reset else after.ru_maxrss * 1024) / MIB
    return measured


def _in_fresh_process(side: str, url: str, table: str, data_dir: Path, limit: int | None) -> Any:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_measured, side, url, table, data_dir, limit).result()


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

    with tempfile.TemporaryDirectory(prefix="sql-pushdown-") as scratch, running_postgres() as url:
        data_dir = Path(scratch)
        demo_model(data_dir)
        load_table(url, data_dir, args.rows)
        runs = {side: _in_fresh_process(side, url, TABLE, data_dir, limit) for side in SIDES}
        checked = {
            side: _in_fresh_process(side, url, CHECK_TABLE, data_dir, None) for side in SIDES
        }
    results = {side: checked[side]["results"] for side in SIDES}
    equal = bool(results["pushdown"]) and results["pushdown"] == results["read_sql"]
    print(f"rows in the window: {args.rows:,}; checks: {', '.join(CHECKS)}")
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
        f"verdict {results['read_sql'].get('verdict')}, every stored field equal: {equal}"
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
