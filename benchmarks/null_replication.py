"""How often the current rule alarms on days when nothing changed, replicated apart.

The false-alarm rates of benchmarks/false_alarms.py, replicated through the documented
commands alone.

    .venv/bin/python benchmarks/null_replication.py                  # 1,100 days per model
    .venv/bin/python benchmarks/null_replication.py --days 30 --models credit_approval

Independent of the benchmark: nothing of benchmarks/false_alarms.py is imported, and govflow
is used as a user would use it (README "Monitor your own model", docs/prediction-logs.md):

1. `govflow demo seed` (a subprocess) into a temporary `GOVFLOW_DATA_DIR` with its own
   SQLite store. Its start is moved back from 2025-03-01 when needed so that the last
   simulated day has ended (`monitor backfill` refuses a window still under way).
2. Per model, its current version's artefact (`models/<id>/<version>/model.pkl`, loaded with
   joblib) and validation set (`validation.parquet` beside it), both named by
   `demo/manifest.json`. Stable days follow the demo's last day: 2,000 rows a day drawn with
   replacement from the validation set, rescored by the artefact (`predict_proba` for the
   score, `predict` for the decision at the version's threshold; the whole set is scored
   once and the day's rows picked from it, which is the same thing for a fixed model), its
   labels observed `label_delay_days` (models.yaml) later plus up to `--label-spread-hours`
   (default 6, as the demo's own labels arrive), 10 % never. A label is counted by a day's
   analysis only if observed by that day's end, so a wider spread leaves fewer labelled rows
   to model drift's accuracy drop, which is judged on its value.
   Each day is written as `prediction_logs/<id>/date=YYYY-MM-DD/part-0.parquet` with the
   columns of docs/prediction-logs.md. The first `label_delay_days` days are a lead-in that
   is written, not analysed: the first analysed days' labels come from them, not from the
   demo's last days (whose scenarios and cut-off labels are no stable traffic).
3. `govflow monitor backfill --model <id> --start <first> --end <last> --checks
   data_drift,fairness_drift,model_drift` (a subprocess per model, one after the other), so
   the fairness checks pool over 3, 7 and 14 days as the daily runs do.
4. The records, read from the store with SQLAlchemy (no govflow command prints monitoring
   records as JSON): `monitoring_runs` (historical records of the backfill: severity,
   composite_score, status) and `metric_results` (each finding above INFO).

Printed per model: the model-days analysed, the share whose record is CRITICAL, WARNING and
whose composite score is above 0.30, each with its Wilson 95 % interval's upper end, failed
days, and which metrics were WARNING or CRITICAL on how many days. Then wall time, the CPU of
this process and its children, and what the machine's other processes used meanwhile; the
last line is `null_replication: critical_pct=<x> warning_pct=<y>` over every model-day.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import yaml
from sqlalchemy import create_engine, text

from _machine import machine_busy_seconds

DEMO_MODELS = ("credit_approval", "marketing_propensity", "product_recommendation")
CHECKS = "data_drift,fairness_drift,model_drift"
ROWS_PER_DAY = 2000
LABEL_NEVER_ARRIVES = 0.10
DEMO_DAYS = 42  # `govflow demo seed`'s default
DEMO_START = date(2025, 3, 1)  # likewise
COMPOSITE_CRITICAL = 0.30  # policy.yaml: the composite is CRITICAL above it
CHECKOUT = Path(__file__).resolve().parent.parent
GOVFLOW = Path(sys.executable).with_name("govflow")
MICROSECONDS_PER_DAY = 86_400_000_000


def wilson_upper(hits: int, n: int, z: float = 1.959964) -> float:
    """Upper end of the Wilson score interval of a rate (95 % two-sided by default)."""
    if n == 0:
        return float("nan")
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def govflow(env: dict[str, str], *args: str, log: Path) -> int:
    """Run a govflow command as a user would, its output appended to ``log``."""
    with log.open("a") as out:
        out.write(f"$ govflow {' '.join(args)}\n")
        out.flush()
        return subprocess.run(
            [str(GOVFLOW), *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


def model_entries(config_dir: Path) -> dict[str, dict]:
    inventory = yaml.safe_load((config_dir / "models.yaml").read_text())
    return {entry["id"]: entry for entry in inventory["models"]}


def write_stable_days(
    data_dir: Path,
    inventory: dict,
    manifest_model: dict,
    *,
    first_day: date,
    days: int,
    rng: np.random.Generator,
    label_spread_hours: float,
) -> float:
    """Write ``days`` stable days of the model's log from ``first_day`` on; returns the
    largest difference between the artefact's scores and those the validation set logs."""
    version = manifest_model["current_version"]
    files = next(v for v in manifest_model["versions"] if v["version"] == version)
    model = joblib.load(data_dir / files["artifact_path"])
    validation = pd.read_parquet(data_dir / files["validation_path"])
    features = [feature["name"] for feature in inventory["features"]]
    protected = [attribute["name"] for attribute in inventory["protected_attributes"]]
    scores = model.predict_proba(validation[features])[:, 1]
    decisions = np.asarray(model.predict(validation[features]), dtype="int8")
    labels = validation["label"].to_numpy(dtype="float64", na_value=np.nan)
    delay = pd.Timedelta(days=inventory["label_delay_days"])
    log_dir = data_dir / inventory["prediction_log"]["path"]
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        rows = rng.integers(0, len(validation), ROWS_PER_DAY)
        midnight = pd.Timestamp(day.isoformat(), tz="UTC")
        scored_at = midnight + pd.to_timedelta(
            np.sort(rng.integers(0, MICROSECONDS_PER_DAY, ROWS_PER_DAY)), unit="us"
        )
        observed_at = (
            scored_at
            + delay
            + pd.to_timedelta(rng.random(ROWS_PER_DAY) * label_spread_hours * 3600, unit="s")
        )
        arrives = (rng.random(ROWS_PER_DAY) >= LABEL_NEVER_ARRIVES) & ~np.isnan(labels[rows])
        frame = pd.DataFrame(
            {
                "prediction_id": [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in rows],
                "model_id": inventory["id"],
                "model_version": version,
                "scored_at": scored_at,
            }
        )
        for column in (*features, *protected):
            frame[column] = validation[column].to_numpy()[rows]
        frame["score"] = scores[rows]
        frame["prediction"] = decisions[rows]
        frame["label"] = pd.array(np.where(arrives, labels[rows], np.nan), dtype="Int8")
        frame["label_observed_at"] = pd.Series(observed_at).where(arrives)
        partition = log_dir / f"date={day:%Y-%m-%d}"
        partition.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(partition / "part-0.parquet", index=False)
    return float(np.abs(scores - validation["score"].to_numpy()).max())


def read_records(db_url: str, model_id: str, first: date, last: date) -> tuple[pd.DataFrame, ...]:
    """The backfill's records of the model over [first, last] and their findings above INFO."""
    engine = create_engine(db_url)
    window = {
        "model": model_id,
        # As SQLite holds a time (text), so that the comparison is the calendar's.
        "start": f"{first:%Y-%m-%d} 00:00:00",
        "end": f"{last + timedelta(days=1):%Y-%m-%d} 00:00:00",
    }
    with engine.connect() as connection:
        runs = pd.read_sql(
            text(
                "SELECT id, interval_start, status, severity, composite_score "
                "FROM monitoring_runs WHERE model_id = :model AND historical "
                "AND interval_start >= :start AND interval_start < :end"
            ),
            connection,
            params=window,
        )
        findings = pd.read_sql(
            text(
                "SELECT r.monitoring_run_id, r.check_type, r.metric, r.subject, r.severity "
                "FROM metric_results r JOIN monitoring_runs m ON m.id = r.monitoring_run_id "
                "WHERE m.model_id = :model AND m.historical "
                "AND m.interval_start >= :start AND m.interval_start < :end "
                "AND r.severity IN ('WARNING', 'CRITICAL')"
            ),
            connection,
            params=window,
        )
    engine.dispose()
    return runs, findings


def rate(hits: int, n: int) -> str:
    return f"{100 * hits / n:6.2f} % (<= {100 * wilson_upper(hits, n):5.2f})" if n else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1100, help="analysed days per model")
    parser.add_argument("--models", default=",".join(DEMO_MODELS), help="comma-separated ids")
    parser.add_argument("--seed", type=int, default=7, help="draws of the stable days")
    parser.add_argument(
        "--label-spread-hours",
        type=float,
        default=6.0,
        help="labels arrive up to this long after the label delay",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args(argv)
    models = [model for model in options.models.split(",") if model]
    unknown = sorted(set(models) - set(DEMO_MODELS))
    if unknown or options.days < 1:
        parser.error(f"--models takes demo classifiers ({', '.join(DEMO_MODELS)}), --days >= 1")

    started, busy_started, own_started = time.monotonic(), machine_busy_seconds(), os.times()
    config_dir = Path(os.environ.get("GOVFLOW_CONFIG_DIR", CHECKOUT / "config"))
    inventory = model_entries(config_dir)
    lead_in = max(inventory[model]["label_delay_days"] for model in models)
    # Every simulated day must have ended: the demo starts early enough for that.
    latest_start = datetime.now(UTC).date() - timedelta(days=DEMO_DAYS + lead_in + options.days + 1)
    demo_start = min(DEMO_START, latest_start)
    work = Path(tempfile.mkdtemp(prefix="govflow-null-replication-"))
    env = {
        **os.environ,
        "GOVFLOW_DATA_DIR": str(work),
        "GOVFLOW_DB_URL": f"sqlite:///{work}/govflow.db",
        "GOVFLOW_CONFIG_DIR": str(config_dir),
        # One core for the process chain: the machine may be shared.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    log = work / "govflow-commands.log"
    print(f"work directory {work} (command output: {log})", flush=True)
    if govflow(env, "demo", "seed", "--start", demo_start.isoformat(), log=log) != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
        return 1
    manifest = json.loads((work / "demo" / "manifest.json").read_text())
    demo_last = date.fromisoformat(manifest["end"])
    manifest_models = {entry["id"]: entry for entry in manifest["models"]}
    print(f"demo seeded from {demo_start} to {demo_last} ({time.monotonic() - started:.1f} s)")

    totals: Counter[str] = Counter()
    for model in models:
        entry = inventory[model]
        delay = entry["label_delay_days"]
        first_written = demo_last + timedelta(days=1)
        first = first_written + timedelta(days=delay)
        last = first + timedelta(days=options.days - 1)
        phase = time.monotonic()
        score_diff = write_stable_days(
            work,
            entry,
            manifest_models[model],
            first_day=first_written,
            days=delay + options.days,
            # A stream per model: a model's days do not depend on which others run.
            rng=np.random.default_rng([options.seed, DEMO_MODELS.index(model)]),
            label_spread_hours=options.label_spread_hours,
        )
        written = time.monotonic() - phase
        phase = time.monotonic()
        status = govflow(
            env,
            "monitor",
            "backfill",
            "--model",
            model,
            "--start",
            first.isoformat(),
            "--end",
            last.isoformat(),
            "--checks",
            CHECKS,
            log=log,
        )
        analysed = time.monotonic() - phase
        runs, findings = read_records(env["GOVFLOW_DB_URL"], model, first, last)
        n = len(runs)
        critical = int((runs["severity"] == "CRITICAL").sum())
        warning = int((runs["severity"] == "WARNING").sum())
        composite = int((runs["composite_score"].fillna(0) > COMPOSITE_CRITICAL).sum())
        failed = int((runs["status"] == "failed").sum())
        totals.update(days=n, critical=critical, warning=warning, composite=composite)
        print(
            f"\n== {model} (label delay {delay} days; lead-in from {first_written}, "
            f"analysed {first}..{last}) ==\n"
            f"written {delay + options.days} days in {written:.1f} s (artefact scores vs the "
            f"validation set's: max diff {score_diff:.1e}); backfill {analysed:.1f} s, "
            f"exit {status}"
        )
        print(f"model-days        {n}{f' ({failed} failed)' if failed else ''}")
        print(f"CRITICAL          {rate(critical, n)}")
        print(f"WARNING           {rate(warning, n)}")
        print(f"composite > {COMPOSITE_CRITICAL:.2f}  {rate(composite, n)}")
        fired = (
            findings.groupby(["check_type", "metric", "subject", "severity"])["monitoring_run_id"]
            .nunique()
            .sort_index()
        )
        for (check, metric, subject, severity), days in fired.items():
            print(f"  {severity:<8} {check}/{metric} {subject or '-'}: {days} days")
        if fired.empty:
            print("  no finding above INFO")

    wall = time.monotonic() - started
    own = os.times()
    cpu = sum(
        getattr(own, part) - getattr(own_started, part)
        for part in ("user", "system", "children_user", "children_system")
    )
    others = machine_busy_seconds() - busy_started - cpu
    n = totals["days"]
    print(
        f"\nall models: {n} model-days, CRITICAL {rate(totals['critical'], n)}, "
        f"WARNING {rate(totals['warning'], n)}, composite {rate(totals['composite'], n)}"
    )
    print(f"wall time: {wall:.1f} s")
    print(f"CPU time of this process and its children: {cpu:.1f} s")
    print(
        f"other processes' CPU time meanwhile: {others:.1f} s on {os.cpu_count()} cores "
        f"(load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    if not options.keep:
        shutil.rmtree(work)
    print(
        f"null_replication: critical_pct={100 * totals['critical'] / n:.2f} "
        f"warning_pct={100 * totals['warning'] / n:.2f}"
        if n
        else "null_replication: no model-day recorded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
