"""Fleet benchmark: a scheduled monitoring DAG over N models on a real Airflow, trigger to success.

Run: ``python benchmarks/fleet.py --models 200 --rows 100000 [--executor local|celery]
[--workers 2 | --workers 1,2] [--cadence daily|weekly]``.

Targets of issue 18 (reported, never asserted): the daily run over 200 models of 100,000 rows
in under 180 s on two idle cores with LocalExecutor and SQLite, at most 1.5 CPU-s per model
all included; on the Celery topology the 2-worker run at least 1.8x faster than the
1-worker run; the weekly run over the same fleet in under 10 minutes (seed 004's run SLA).

What it does, in a throw-away directory
---------------------------------------
1. **Fleet** (untimed): a copy of ``config/`` whose models.yaml lists N clones of the three
   demo models (``credit_approval_000``, ``marketing_propensity_001``,
   ``product_recommendation_002``, ...; tiers cycle high/medium/low, and fairness is daily
   for every tier, so the daily run has work for every clone). The demo trains the three
   models once (``write_demo`` at its smallest size); every clone is registered in the
   governance store with the shared artefact of its type, and gets the baseline profile of
   its type (built once per type from the validation set). The logs the run reads, per
   clone: ``--rows`` synthetic applicants a day per type, scored once by the type's model
   and hard-linked into every clone's log folder; one day for the daily run, 14 for the
   weekly one (its bi-weekly checks read two weeks). For ``--cadence weekly`` the copied
   policy.yaml puts the bi-weekly checks on the run's ISO week, so the run does the most
   it ever does: explanation drift for every high-risk clone, and for the medium ones the
   weekly data and model drift and the bi-weekly explanation drift.
2. **Airflow** on 127.0.0.1 only, with the system tests' stack (``tests/support/``: api-server,
   scheduler, dag-processor and, for Celery, the workers, each its own process group, all
   stopped by pid at the end), a fresh AIRFLOW_HOME per ``--workers`` value:

   * ``local``: LocalExecutor with ``core.parallelism = workers``, SQLite metadata DB and
     SQLite governance store;
   * ``celery``: docker-compose.yaml's topology: CeleryExecutor with ``workers`` Celery
     workers of one task slot each (one per core on this machine; ``--workers 2`` gives the
     same two slots as LocalExecutor's parallelism 2) and ``core.parallelism`` 32 (tasks
     wait in Redis for a free worker), a Postgres metadata DB and result backend, a Redis
     broker, and the governance store in its own Postgres database.

   Each ``--workers`` value gets fresh databases and a fresh store with the fleet
   registered, so every run starts from the same state (no incident already open).
3. **The run**: the daily run at D+1 02:00 UTC analyses day D, the day the logs were
   written for (weekly: the run of the latest Sunday 03:00, over the days before it). That
   is the DAG's latest tick, so unpausing the DAG does not make the
   scheduler add a second run of its own (it already exists, and ``max_active_runs`` is 1).
   The run is triggered through the REST API while the DAG is still paused, the DAG is
   unpaused, and the clock runs from the trigger until the run is seen in a final state.

Printed per ``--workers`` value: the figures of the run, the sum and spread of task durations
from the REST API, the CPU time of the Airflow processes with their tasks from the trigger
to the end (read from their process groups) and of every other process meanwhile (on a
shared machine the wall time alone misleads), the per-model CPU split the analysis tasks
log (task start-up, read, analyse, store, alerts, report) with Airflow's own share, and the
number of monitoring records the run left in the governance store. Its last line is
``fleet: models=<N> rows=<R> executor=<e> workers=<w> cadence=<c> wall_s=<t> per_model_s=<t>
per_model_cpu_s=<t> others_cpu_s=<t>``; with several ``--workers`` values a final line
``fleet scaling: executor=<e> workers=<w1>,<w2> wall_s=<t1>,<t2> speedup=<t1/tn>``.
``tests/system/test_fleet_benchmark_smoke.py`` checks their format, never a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from _machine import machine_busy_seconds

REPO = Path(__file__).resolve().parents[1]
# Airflow is started by the system tests' loopback stack, which lives in tests/support/.
sys.path.insert(0, str(REPO))

from tests.support.airflow_stack import AirflowStack, running_airflow_stack  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402
from tests.support.redis import running_redis  # noqa: E402

# The scheduled run each --cadence triggers, and its hour (policy.yaml scheduled_runs, UTC).
DAG_IDS = {"daily": "govflow_monitoring_daily", "weekly": "govflow_monitoring_weekly"}
RUN_HOURS = {"daily": 2, "weekly": 3}
SUNDAY = 6
# A weekly run reads up to the bi-weekly checks' 14 days of logs.
LOG_DAYS = {"daily": 1, "weekly": 14}
ANALYSIS_TASK = "analyse_models"
# The demo models the fleet clones (their logs are scored with predict_proba).
CLASSIFIERS = ("credit_approval", "marketing_propensity", "product_recommendation")
SEED = 2025
DEMO_DAYS = 35
DEMO_ROWS_PER_DAY = 200
# What --prepared keeps in its folder: the fleet's size and day, and its FleetFiles.
PREPARED_FILE = "fleet.pickle"
ACTOR = "govflow-fleet-benchmark"
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
CELERY_PARALLELISM = 32
WORKERS_NOT_POSITIVE = "--workers takes positive integers separated by commas, e.g. 1,2"


# --- 1. the fleet: config, registry, baselines and one day of logs ---------------------------


@dataclasses.dataclass(frozen=True)
class Fleet:
    """The throw-away environment the Airflow processes are pointed at."""

    config_dir: Path
    data_dir: Path
    db_url: str
    model_ids: list[str]
    day: date
    cadence: str = "daily"

    @property
    def dag_id(self) -> str:
        return DAG_IDS[self.cadence]

    @property
    def run_time(self) -> datetime:
        """The run whose window ends with ``day``: D+1 at 02:00 UTC (daily) or 03:00 UTC
        (weekly, D+1 a Sunday)."""
        following = self.day + timedelta(days=1)
        return datetime(
            following.year, following.month, following.day, RUN_HOURS[self.cadence], tzinfo=UTC
        )

    def environment(self) -> dict[str, str]:
        from govflow import settings

        return {
            settings.CONFIG_DIR_ENV: str(self.config_dir),
            settings.DATA_DIR_ENV: str(self.data_dir),
            settings.DB_URL_ENV: self.db_url,
        }


def latest_tick(now: datetime, cadence: str) -> datetime:
    """The most recent run time of ``cadence``'s DAG at or before ``now``: 02:00 UTC daily,
    Sunday 03:00 UTC weekly. Triggering that run while the DAG is paused leaves the
    scheduler no run of its own to add when it is unpaused."""
    tick = now.astimezone(UTC).replace(hour=RUN_HOURS[cadence], minute=0, second=0, microsecond=0)
    if cadence == "weekly":
        tick -= timedelta(days=(tick.weekday() - SUNDAY) % 7)
        return tick if tick <= now else tick - timedelta(days=7)
    return tick if tick <= now else tick - timedelta(days=1)


def clone_inventory(
    demo_models: list[dict[str, Any]], count: int, rows_per_day: int
) -> list[dict[str, Any]]:
    """``count`` models.yaml entries, cloned from the demo entries in turn."""
    clones = []
    for index in range(count):
        base = demo_models[index % len(demo_models)]
        model_id = f"{base['id']}_{index:03d}"
        clones.append(
            {
                **base,
                "id": model_id,
                "prediction_log": {"kind": "parquet", "path": f"prediction_logs/{model_id}"},
                # The volume check compares a day with this; the benchmark sets the day's size.
                "expected_daily_volume": rows_per_day,
            }
        )
    return clones


def write_config(
    config_dir: Path, count: int, rows_per_day: int, run_day: date
) -> list[dict[str, Any]]:
    """A copy of the repository's config/ whose models.yaml lists ``count`` clones, and
    whose bi-weekly checks fall on ``run_day``'s ISO week (a weekly run then does the most
    work it ever does: weekly and bi-weekly checks)."""
    shutil.copytree(REPO / "config", config_dir)
    policy = config_dir / "policy.yaml"
    parity = "even" if run_day.isocalendar().week % 2 == 0 else "odd"
    policy.write_text(
        re.sub(
            r"(?m)^  biweekly_iso_weeks: \w+$",
            f"  biweekly_iso_weeks: {parity}",
            policy.read_text(),
        )
    )
    inventory = yaml.safe_load((config_dir / "models.yaml").read_text())
    # The fleet clones the demo's classifiers: its logs are scored with predict_proba and
    # their outcomes drawn as the demo draws a classifier's (the regressor is not cloned).
    classifiers = [m for m in inventory["models"] if m["id"] in CLASSIFIERS]
    clones = clone_inventory(classifiers, count, rows_per_day)
    (config_dir / "models.yaml").write_text(
        "# Written by benchmarks/fleet.py: clones of the three demo models.\n"
        + yaml.safe_dump({"models": clones}, sort_keys=False)
    )
    return clones


def synthetic_day(
    day: date, rows: int, *, model: Any, model_id: str, version: str, label_delay_days: int
) -> pa.Table:
    """One day of prediction logs of a demo model type, in the shared log schema."""
    from govflow.demo.applicants import (
        FEATURE_COLUMNS,
        GENDER_SHARES,
        GENDERS,
        PROTECTED_ATTRIBUTES,
        age_band_counts,
        generate_applicants,
    )
    from govflow.demo.outcomes import favourable_probability
    from govflow.monitoring.prediction_logs import log_columns

    rng = np.random.default_rng([SEED, day.toordinal()])
    applicants = generate_applicants(rng, age_band_counts(rows))
    applicants = applicants.iloc[rng.permutation(rows)].reset_index(drop=True)
    applicants["gender"] = rng.choice(np.asarray(GENDERS, dtype=object), rows, p=GENDER_SHARES)
    midnight = pd.Timestamp(day.isoformat(), tz="UTC")
    scored_at = midnight + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000_000, rows)), "us")
    frame = pd.DataFrame(
        {
            "prediction_id": [f"{day.isoformat()}-{i:08d}" for i in range(rows)],
            "model_id": model_id,
            "model_version": version,
            "scored_at": scored_at,
        }
    )
    for column in (*FEATURE_COLUMNS, *PROTECTED_ATTRIBUTES):
        frame[column] = applicants[column].to_numpy()
    features = applicants[list(FEATURE_COLUMNS)]
    frame["score"] = model.predict_proba(features)[:, 1]
    frame["prediction"] = model.predict(features).astype("int8")
    outcome = rng.random(rows) < favourable_probability(model_id, applicants)
    frame["label"] = pd.array(outcome.astype("int8"), dtype="Int8")
    frame["label_observed_at"] = scored_at + pd.Timedelta(days=label_delay_days)
    return pa.Table.from_pandas(
        frame[log_columns(FEATURE_COLUMNS, PROTECTED_ATTRIBUTES)], preserve_index=False
    )


@dataclasses.dataclass(frozen=True)
class FleetFiles:
    """The fleet on disk, and what each clone's registration needs from its demo type."""

    config_dir: Path
    data_dir: Path
    model_ids: list[str]
    day: date
    by_type: dict[str, dict[str, Any]]
    cadence: str = "daily"

    def in_store(self, db_url: str) -> Fleet:
        return Fleet(self.config_dir, self.data_dir, db_url, self.model_ids, self.day, self.cadence)


def build_fleet(root: Path, count: int, rows: int, day: date, cadence: str) -> FleetFiles:
    """Config, trained demo models, baseline profiles and the logs ``cadence``'s run reads
    (the day before it, or the 14 days before a weekly run) for ``count`` clones."""
    from threadpoolctl import threadpool_limits

    from govflow.baselines.profile import build_profile, draw_reference_sample
    from govflow.config import load_config
    from govflow.demo import write_demo
    from govflow.monitoring.prediction_logs import partition_path

    config_dir, data_dir = root / "config", root / "data"
    clones = write_config(config_dir, count, rows, day + timedelta(days=1))
    demo_config = load_config(REPO / "config")
    manifest = write_demo(data_dir, days=DEMO_DAYS, rows_per_day=DEMO_ROWS_PER_DAY)

    by_type: dict[str, dict[str, Any]] = {}
    with threadpool_limits(limits=1):
        for entry in manifest.content["models"]:
            if entry["id"] not in CLASSIFIERS:
                continue
            current = next(v for v in entry["versions"] if v["version"] == entry["current_version"])
            model = joblib.load(data_dir / current["artifact_path"])
            validation = pd.read_parquet(data_dir / current["validation_path"])
            model_config = demo_config.models.get(entry["id"])
            reference_columns = [
                *(feature.name for feature in model_config.features),
                *(attribute.name for attribute in model_config.protected_attributes),
                "score",
                "prediction",
                "label",
            ]
            by_type[entry["id"]] = {
                "version": current,
                "profile": build_profile(
                    entry["id"],
                    current["version"],
                    validation=validation,
                    model=model,
                    model_config=model_config,
                ),
                "reference_sample": draw_reference_sample(validation[reference_columns]),
            }
            for back in range(LOG_DAYS[cadence]):
                logged = day - timedelta(days=back)
                table = synthetic_day(
                    logged,
                    rows,
                    model=model,
                    model_id=entry["id"],
                    version=current["version"],
                    label_delay_days=entry["label_delay_days"],
                )
                path = partition_path(data_dir / "shared_logs" / entry["id"], logged)
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)

    # Every clone of a type reads its type's day (hard links: no analysis reads the log's
    # model_id, and 200 models x 14 days of 100,000 rows would otherwise fill the disk).
    for clone in clones:
        for back in range(LOG_DAYS[cadence]):
            logged = day - timedelta(days=back)
            shared = partition_path(data_dir / "shared_logs" / model_type_of(clone["id"]), logged)
            path = partition_path(data_dir / "prediction_logs" / clone["id"], logged)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(shared, path)
    model_ids = [clone["id"] for clone in clones]
    return FleetFiles(config_dir, data_dir, model_ids, day, by_type, cadence)


def prepared_fleet(
    folder: Path | None, root: Path, count: int, rows: int, day: date, cadence: str
) -> FleetFiles:
    """The fleet built in ``root``, or, with ``--prepared FOLDER``, the one an earlier run with
    the same ``--models``, ``--rows`` and day left in FOLDER (built there and kept if there is
    none): the smoke tests run the benchmark once per executor on the same fleet. Nothing of a
    run is written into it but drift reports named by their run and baselines' reference
    samples identical from run to run; each run registers the fleet in a store of its own."""
    if folder is None:
        return build_fleet(root, count, rows, day, cadence)
    kept = folder / PREPARED_FILE
    if kept.exists():
        size, files = pickle.loads(kept.read_bytes())
        if size == (count, rows, day, cadence):
            return files
        raise SystemExit(
            f"--prepared {folder} holds a {size[3]} fleet of {size[0]} models, {size[1]} rows, "
            f"{size[2]}; give another folder for {count} models, {rows} rows, {day}, {cadence}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = build_fleet(folder, count, rows, day, cadence)
    kept.write_bytes(pickle.dumps(((count, rows, day, cadence), files)))
    return files


def model_type_of(clone_id: str) -> str:
    """``credit_approval_007`` -> ``credit_approval``."""
    return clone_id.rsplit("_", 1)[0]


def register_fleet(files: FleetFiles, db_url: str) -> Fleet:
    """Every clone registered with its type's artefact and baseline in a fresh store at
    ``db_url``; each ``--workers`` value gets its own, so every run starts from the same state
    (no incident already open, no alert already queued)."""
    from govflow import store
    from govflow.baselines.profile import create_baseline
    from govflow.config import load_config
    from govflow.demo.seeding import register_manifest_version, register_model_from_inventory

    config = load_config(files.config_dir)
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        for model_id in files.model_ids:
            shared = files.by_type[model_type_of(model_id)]
            version = shared["version"]
            register_model_from_inventory(session, config.models.get(model_id), actor=ACTOR)
            register_manifest_version(session, model_id, version, actor=ACTOR)
            create_baseline(
                session,
                model_id=model_id,
                model_version=version["version"],
                profile=dataclasses.replace(shared["profile"], model_id=model_id),
                kind="deploy",
                created_by=ACTOR,
                reason="fleet benchmark clone of a demo model",
                data_dir=files.data_dir,
                reference_sample=shared["reference_sample"],
            )
    return files.in_store(db_url)


# --- 2. Airflow on loopback -------------------------------------------------------------------


# --- 2. the topology: Airflow (and for Celery, Postgres and Redis) on loopback ---------------


@dataclasses.dataclass(frozen=True)
class Topology:
    """How one ``--workers`` value runs: the stack's arguments and what to count as its CPU."""

    executor: str
    workers: int
    stack_arguments: dict[str, Any]
    postgres_pid: int | None

    def describe(self) -> str:
        if self.executor == "local":
            return f"LocalExecutor, core.parallelism {self.workers}, SQLite metadata DB and store"
        return (
            f"CeleryExecutor, {self.workers} worker(s) x 1 slot, core.parallelism "
            f"{CELERY_PARALLELISM}, Postgres metadata DB, result backend and governance store "
            "(own databases), Redis broker"
        )


@contextmanager
def postgres_cluster(executor: str) -> Iterator[str | None]:
    """For the Celery topology, a Postgres cluster on loopback (the URL of one of its
    databases); None for LocalExecutor, which keeps everything in SQLite."""
    if executor == "local":
        yield None
        return
    with running_postgres() as url:
        yield url


def create_database(server_url: str, name: str, driver: str) -> str:
    """A fresh database on the cluster of ``server_url``; its URL with ``driver``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(server_url).set(drivername=driver, database=name)
    return url.render_as_string(hide_password=False)


def postgres_server_pid(url: str) -> int:
    """The postmaster of the test cluster at ``url`` (its backends are its children)."""
    port = f"-p {url.rsplit(':', 1)[1].split('/')[0]} "
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if "/postgres " in arguments and port in arguments + " ":
            return int(cmdline.parent.name)
    raise LookupError(f"no postgres server process for {url}")


def _stat_fields(stat: Path) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [2] process
    group, [11:15] utime, stime, cutime, cstime in clock ticks."""
    return stat.read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(fields: list[str]) -> float:
    """A process's CPU time plus that of the children it has waited for."""
    return sum(map(int, fields[11:15])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU time of a live process plus that of the children it has waited for."""
    return _cpu_seconds(_stat_fields(Path(f"/proc/{pid}/stat")))


@contextmanager
def topology(
    executor: str, workers: int, files: FleetFiles, root: Path, server_url: str | None
) -> Iterator[tuple[Topology, Fleet]]:
    """A fresh governance store with the fleet registered, and what ``running_airflow_stack``
    needs, for one ``--workers`` value. Celery: the store, the metadata DB and the result
    backend in databases of their own on the Postgres cluster, and a fresh Redis."""
    root.mkdir(parents=True)
    arguments: dict[str, Any] = {
        "config_dir": files.config_dir,
        "dag_ids": [DAG_IDS[files.cadence]],
        "executor": EXECUTORS[executor],
        # LocalExecutor: the slots themselves. Celery: the workers hold the slots, and the
        # scheduler keeps Redis stocked (Airflow's default parallelism) so that a freed slot
        # takes the next task at once instead of after a scheduler round trip.
        "parallelism": workers if executor == "local" else CELERY_PARALLELISM,
    }
    if server_url is None:
        fleet = register_fleet(files, f"sqlite:///{root / 'govflow.db'}")
        yield (
            Topology(executor, workers, arguments | {"govflow_env": fleet.environment()}, None),
            fleet,
        )
        return
    fleet = register_fleet(
        files, create_database(server_url, f"govflow_{root.name}", "postgresql+psycopg")
    )
    metadata_url = create_database(server_url, f"airflow_{root.name}", "postgresql+psycopg2")
    with running_redis() as broker_url:
        arguments |= {
            "govflow_env": fleet.environment(),
            "metadata_url": metadata_url,
            "broker_url": broker_url,
            "result_backend": "db+" + metadata_url.replace("+psycopg2", ""),
            "celery_workers": workers,
        }
        yield Topology(executor, workers, arguments, postgres_server_pid(server_url)), fleet


def children_cpu_seconds() -> float:
    """User + system CPU of every finished child process of this one and its descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- 3. the run and its figures ----------------------------------------------------------------


@dataclasses.dataclass
class RunOutcome:
    run_id: str
    state: str
    wall_s: float
    task_instances: list[dict[str, Any]]
    records: Counter[str]
    # CPU seconds of the stack's processes and their tasks from the trigger to the end.
    run_cpu_s: float = 0.0
    # The same for the machine's other processes (with Celery, Postgres and Redis too).
    others_cpu_s: float = 0.0
    # What the analysis tasks' logs say each part cost, summed over the run (CPU s).
    parts: dict[str, float] = dataclasses.field(default_factory=dict)
    reports: int = 0


def stack_cpu_seconds(stack: AirflowStack) -> float:
    """CPU time of every live process in the stack's process groups (each Airflow process
    leads its own), plus that of the children each has waited for: a task that ended is
    counted once, in its waiting parent."""
    groups = {process.pid for process in stack.processes.values()}
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) in groups:
            total += _cpu_seconds(fields)
    return total


PART = re.compile(r"(read|analyse|store|report|alerts)=([0-9.]+)")
START_UP = re.compile(r"task start-up cpu_s=([0-9.]+)")
REPORTS = re.compile(r"cpu_s: report=[0-9.]+ for ([0-9]+) reports")


def logged_parts(home: Path, dag_id: str, run_id: str) -> tuple[dict[str, float], int]:
    """CPU seconds per part of the analyses, from the task logs of the run (every attempt):
    start-up (the analysis task's process before its first model), read, analyse, store,
    alerts, and report (the report task); and how many reports were drawn."""
    parts: Counter[str] = Counter()
    reports = 0
    logs = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    for name in (ANALYSIS_TASK, "render_drift_reports"):
        for log in logs.glob(f"task_id={name}/**/attempt=*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if "cpu_s" not in line:
                    continue
                if found := START_UP.search(line):
                    parts["start-up"] += float(found.group(1))
                    continue
                for part, seconds in PART.findall(line):
                    parts[part] += float(seconds)
                if found := REPORTS.search(line):
                    reports += int(found.group(1))
    return dict(parts), reports


def trigger_and_wait(
    stack: AirflowStack, fleet: Fleet, run_id: str, timeout_s: float
) -> RunOutcome:
    """Trigger the run of ``fleet.day`` (DAG still paused), unpause, wait for the end."""
    cpu_before, busy_before = stack_cpu_seconds(stack), machine_busy_seconds()
    started = time.monotonic()
    stack.trigger(fleet.dag_id, run_id=run_id, logical_date=fleet.run_time.isoformat())
    state = stack.wait_for_run(fleet.dag_id, run_id, timeout_s=timeout_s)
    wall = time.monotonic() - started
    run_cpu = stack_cpu_seconds(stack) - cpu_before
    parts, reports = logged_parts(stack.home, fleet.dag_id, run_id)
    return RunOutcome(
        run_id,
        state,
        wall,
        stack.task_instances(fleet.dag_id, run_id),
        monitoring_records(fleet, run_id),
        run_cpu_s=run_cpu,
        others_cpu_s=machine_busy_seconds() - busy_before - run_cpu,
        parts=parts,
        reports=reports,
    )


def expected_records(fleet: Fleet) -> int:
    """The analyses the run is due to record: one per model a day; a weekly run records a
    model's weekly and bi-weekly checks apart."""
    from govflow.config import load_config
    from govflow.monitoring.cadence import due_targets

    return len(due_targets(load_config(fleet.config_dir), fleet.dag_id, fleet.run_time))


def monitoring_records(fleet: Fleet, run_id: str) -> Counter[str]:
    """Status -> count of the monitoring records the run wrote in the governance store."""
    from sqlalchemy import select

    from govflow import store
    from govflow.store.schema import MonitoringRun

    with store.session_scope(fleet.db_url) as session:
        statuses = session.scalars(
            select(MonitoringRun.status).where(
                MonitoringRun.dag_id == fleet.dag_id, MonitoringRun.dag_run_id == run_id
            )
        ).all()
    return Counter(statuses)


def measure(
    args: argparse.Namespace, files: FleetFiles, workers: int, root: Path, server_url: str | None
) -> tuple[Fleet, RunOutcome, dict[str, float], str]:
    """One daily run on a fresh store and a fresh Airflow with ``workers`` task slots."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    with topology(args.executor, workers, files, root, server_url) as (chosen, fleet):
        timings["register"] = time.monotonic() - started
        started = time.monotonic()
        cpu_before, busy_before = children_cpu_seconds(), machine_busy_seconds()
        postgres_before = (
            process_tree_cpu_seconds(chosen.postgres_pid) if chosen.postgres_pid else 0.0
        )
        with running_airflow_stack(root, **chosen.stack_arguments) as stack:
            timings["ready"] = time.monotonic() - started
            run_id = f"fleet_benchmark__{fleet.run_time.isoformat()}"
            outcome = trigger_and_wait(stack, fleet, run_id, args.timeout)
        # Counted once every process has been waited for, tasks included (their supervisors
        # wait for them, the executor or worker waits for the supervisors, the stack for it).
        timings["airflow_cpu"] = children_cpu_seconds() - cpu_before
        timings["postgres_cpu"] = (
            process_tree_cpu_seconds(chosen.postgres_pid) - postgres_before
            if chosen.postgres_pid
            else 0.0
        )
        timings["other_cpu"] = (
            machine_busy_seconds() - busy_before - timings["airflow_cpu"] - timings["postgres_cpu"]
        )
        timings["airflow_alive"] = time.monotonic() - started
    return fleet, outcome, timings, chosen.describe()


def report(
    args: argparse.Namespace,
    fleet: Fleet,
    workers: int,
    outcome: RunOutcome,
    timings: dict[str, float],
    described: str,
) -> None:
    models = len(fleet.model_ids)
    durations = [ti["duration"] or 0.0 for ti in outcome.task_instances]
    per_task = Counter(ti["task_id"] for ti in outcome.task_instances)
    analyses = [
        ti["duration"] or 0.0 for ti in outcome.task_instances if ti["task_id"] == ANALYSIS_TASK
    ]
    retried = sum(1 for ti in outcome.task_instances if (ti.get("try_number") or 1) > 1)
    per_model = outcome.wall_s / models
    recorded = sum(outcome.records.values())

    print(f"models:                       {models}")
    print(f"rows per model:               {args.rows}")
    print(f"executor:                     {args.executor} ({described})")
    print(f"workers:                      {workers}")
    first = fleet.day - timedelta(days=LOG_DAYS[fleet.cadence] - 1)
    print(f"analysed days:                {first} to {fleet.day} (run {outcome.run_id})")
    print(f"fleet prepared in:            {timings['prepare']:.1f} s (not timed)")
    print(f"store registered in:          {timings['register']:.1f} s (not timed)")
    print(f"airflow ready in:             {timings['ready']:.1f} s (not timed)")
    print(f"run state:                    {outcome.state}")
    print(f"wall time trigger->{outcome.state}: {outcome.wall_s:.1f} s")
    print(f"per-model cost:               {per_model:.2f} s (wall / models)")
    print(
        f"task instances:               {len(outcome.task_instances)} "
        f"({', '.join(f'{task} {count}' for task, count in per_task.items())}; "
        f"{retried} retried)"
    )
    print(
        f"sum of task durations:        {sum(durations):.1f} s "
        f"({sum(durations) / (outcome.wall_s * workers):.0%} of wall x workers)"
    )
    if analyses:
        print(
            f"analyse_models duration:      {len(analyses)} tasks of about "
            f"{models / len(analyses):.1f} models, mean {statistics.mean(analyses):.1f} s, "
            f"median {statistics.median(analyses):.1f} s, min {min(analyses):.1f} s, "
            f"max {max(analyses):.1f} s"
        )
    others = sorted(
        ((ti["duration"] or 0.0, ti["task_id"]) for ti in outcome.task_instances),
        reverse=True,
    )
    serial = [f"{task} {duration:.1f} s" for duration, task in others if task != ANALYSIS_TASK]
    print(f"other tasks:                  {', '.join(serial)}")
    latencies = queue_latencies(outcome.task_instances)
    if latencies:
        print(
            f"queued->started:              mean {statistics.mean(latencies):.1f} s, "
            f"max {max(latencies):.1f} s (waiting for a free slot, then the hand-over)"
        )
    print(
        f"run CPU, trigger->end:        {outcome.run_cpu_s:.1f} s for Airflow and its tasks, "
        f"{outcome.run_cpu_s / models:.2f} s per model all included; other processes "
        f"{outcome.others_cpu_s:.1f} s meanwhile"
    )
    if outcome.parts:
        logged = sum(outcome.parts.values())
        split = ", ".join(
            f"{part} {outcome.parts.get(part, 0.0) / models:.3f}"
            for part in ("start-up", "read", "analyse", "store", "alerts", "report")
        )
        print(
            f"per-model CPU split (s):      {split} ({outcome.reports} reports drawn); "
            f"Airflow's own share {(outcome.run_cpu_s - logged) / models:.3f} (scheduler, "
            "executor, task supervisors, api-server, the run's other tasks)"
        )
    print(
        f"airflow + tasks CPU time:     {timings['airflow_cpu']:.1f} s over "
        f"{timings['airflow_alive']:.1f} s alive (start-up and shutdown included)"
    )
    if args.executor == "celery":
        print(f"postgres CPU time:            {timings['postgres_cpu']:.1f} s meanwhile")
    print(
        f"other processes' CPU time:    {timings['other_cpu']:.1f} s meanwhile, on "
        f"{os.cpu_count()} cores (near 0 on a quiet machine; more means the run shared them)"
    )
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(outcome.records.items()))
    expected = expected_records(fleet)
    print(f"monitoring records:           {recorded} of {expected} expected ({statuses or 'none'})")
    print(
        f"fleet: models={models} rows={args.rows} executor={args.executor} "
        f"workers={workers} cadence={fleet.cadence} wall_s={outcome.wall_s:.1f} "
        f"per_model_s={per_model:.2f} "
        f"per_model_cpu_s={outcome.run_cpu_s / models:.2f} "
        f"others_cpu_s={outcome.others_cpu_s:.1f}"
    )


def queue_latencies(task_instances: list[dict[str, Any]]) -> list[float]:
    """Seconds from ``queued`` to ``running`` of every task instance that ran: with Celery
    the tasks wait in Redis for a free worker slot, with LocalExecutor they are queued only
    when a slot is free."""
    return [
        (
            datetime.fromisoformat(ti["start_date"]) - datetime.fromisoformat(ti["queued_when"])
        ).total_seconds()
        for ti in task_instances
        if ti.get("queued_when") and ti.get("start_date")
    ]


def report_scaling(args: argparse.Namespace, walls: dict[int, float]) -> None:
    """How the wall time falls as workers are added, against the fewest workers measured."""
    fewest = min(walls)
    counts = ",".join(str(workers) for workers in walls)
    seconds = ",".join(f"{wall:.1f}" for wall in walls.values())
    speedups = ",".join(f"{walls[fewest] / wall:.2f}" for wall in walls.values())
    print(
        f"fleet scaling: executor={args.executor} workers={counts} wall_s={seconds} "
        f"speedup={speedups}"
    )


def worker_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(WORKERS_NOT_POSITIVE) from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(WORKERS_NOT_POSITIVE)
    return counts


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="clones of the demo models")
    parser.add_argument("--rows", type=int, default=100_000, help="log rows per model")
    parser.add_argument("--executor", choices=tuple(EXECUTORS), default="local")
    parser.add_argument(
        "--cadence",
        choices=tuple(DAG_IDS),
        default="daily",
        help="the scheduled run: daily, or weekly (weekly and bi-weekly checks: explanation "
        "drift for every high-risk model, bi-weekly for medium, over 14 days of logs)",
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[2],
        help="task slots: LocalExecutor parallelism or Celery workers of one slot; "
        "several values (1,2) run one after the other and print the scaling",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for each run to end"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, stores)"
    )
    parser.add_argument(
        "--prepared",
        type=Path,
        help="a folder to build the fleet in once and reuse on later runs of the same size "
        "and day (the fleet's preparation is not timed either way)",
    )
    args = parser.parse_args(argv)
    if args.models < 1 or args.rows < 1:
        parser.error("--models and --rows must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    # A terminated benchmark still stops what it started (Airflow, Redis, Postgres): SIGTERM
    # unwinds through the context managers like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="govflow-fleet-"))
    failed = False
    try:
        with postgres_cluster(args.executor) as server_url:
            started = time.monotonic()
            tick = latest_tick(datetime.now(UTC), args.cadence)
            day = (tick - timedelta(days=1)).date()
            files = prepared_fleet(args.prepared, root, args.models, args.rows, day, args.cadence)
            prepare = time.monotonic() - started
            walls: dict[int, float] = {}
            for workers in args.workers:
                fleet, outcome, timings, described = measure(
                    args, files, workers, root / f"w{workers}", server_url
                )
                report(args, fleet, workers, outcome, {"prepare": prepare, **timings}, described)
                walls[workers] = outcome.wall_s
                recorded = sum(outcome.records.values())
                if outcome.state != "success" or recorded != expected_records(fleet):
                    print(f"run {outcome.state}; Airflow logs kept in {root}", file=sys.stderr)
                    failed = True
            if len(walls) > 1:
                report_scaling(args, walls)
        if failed:
            args.keep = True
            return 1
        return 0
    except BaseException:
        args.keep = True
        raise
    finally:
        if args.keep:
            print(f"kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
