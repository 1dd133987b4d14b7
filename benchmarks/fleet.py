"""Fleet benchmark: the daily monitoring DAG over N models on a real Airflow, trigger to success.

Run: ``python benchmarks/fleet.py --models 50 --rows 100000 [--executor local] [--workers 2]``.

Target of the issue (reported, never asserted): 50 models of 100,000 rows each in under
3 minutes on 2 cores with LocalExecutor and SQLite; seed 004 allows 10 minutes per run.

What it does, in a throw-away directory
---------------------------------------
1. **Fleet** (untimed): a copy of ``config/`` whose models.yaml lists N clones of the three
   demo models (``credit_approval_000``, ``marketing_propensity_001``,
   ``product_recommendation_002``, ...; tiers cycle high/medium/low, and fairness is daily
   for every tier, so the daily run has work for every clone). The demo trains the three
   models once (``write_demo`` at its smallest size); every clone is registered in the
   governance store with the shared artefact of its type, and gets the baseline profile of
   its type (built once per type from the validation set). One day of prediction logs per
   clone: ``--rows`` synthetic applicants per type scored once by the type's model, written
   per clone under its own ``model_id``.
2. **Airflow** on 127.0.0.1 only: a temporary AIRFLOW_HOME, SQLite metadata DB,
   LocalExecutor with ``parallelism = --workers``, SimpleAuthManager with one admin user;
   ``airflow api-server``, ``airflow scheduler --skip-serve-logs`` and
   ``airflow dag-processor``, each in its own process group, all stopped at the end.
3. **The run**: the daily run at D+1 02:00 UTC analyses day D, the day the logs were
   written for. D+1 02:00 is the latest daily tick, so unpausing the DAG does not make the
   scheduler add a second run of its own (it already exists, and ``max_active_runs`` is 1).
   The run is triggered through the REST API while the DAG is still paused, the DAG is
   unpaused, and the clock runs from the trigger until the run is seen in a final state.

Printed: the figures of the run, the sum and spread of task durations from the REST API,
the CPU time of the Airflow processes with their tasks and of every other process meanwhile
(on a shared machine the wall time alone misleads), and the number of monitoring records
the run left in the governance store. The last line is
``fleet: models=<N> rows=<R> executor=<e> workers=<w> wall_s=<t> per_model_s=<t>``;
``tests/system/test_fleet_benchmark_smoke.py`` checks its format, never a time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
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

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "govflow_monitoring_daily"
DAILY_RUN_HOUR = 2
SEED = 2025
DEMO_DAYS = 35
DEMO_ROWS_PER_DAY = 200
ACTOR = "govflow-fleet-benchmark"
ADMIN = "admin"
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
POLL_INTERVAL_S = 0.5
FINAL_STATES = ("success", "failed")
CELERY_NOT_AVAILABLE = (
    "--executor celery: not available yet: needs the Celery topology (issue: run at scale)"
)


# --- 1. the fleet: config, registry, baselines and one day of logs ---------------------------


@dataclasses.dataclass(frozen=True)
class Fleet:
    """The throw-away environment the Airflow processes are pointed at."""

    config_dir: Path
    data_dir: Path
    db_url: str
    model_ids: list[str]
    day: date

    @property
    def run_time(self) -> datetime:
        """The daily run that analyses ``day``: D+1 at 02:00 UTC."""
        following = self.day + timedelta(days=1)
        return datetime(following.year, following.month, following.day, DAILY_RUN_HOUR, tzinfo=UTC)

    def environment(self) -> dict[str, str]:
        from govflow import settings

        return {
            settings.CONFIG_DIR_ENV: str(self.config_dir),
            settings.DATA_DIR_ENV: str(self.data_dir),
            settings.DB_URL_ENV: self.db_url,
        }


def latest_daily_tick(now: datetime) -> datetime:
    """The most recent 02:00 UTC at or before ``now``."""
    tick = now.astimezone(UTC).replace(hour=DAILY_RUN_HOUR, minute=0, second=0, microsecond=0)
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


def write_config(config_dir: Path, count: int, rows_per_day: int) -> list[dict[str, Any]]:
    """A copy of the repository's config/ whose models.yaml lists ``count`` clones."""
    shutil.copytree(REPO / "config", config_dir)
    inventory = yaml.safe_load((config_dir / "models.yaml").read_text())
    clones = clone_inventory(inventory["models"], count, rows_per_day)
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
    from govflow.prediction_logs import log_columns

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


def build_fleet(root: Path, count: int, rows: int, day: date) -> Fleet:
    """Config, trained demo models, registry rows, baselines and logs for ``count`` clones."""
    from threadpoolctl import threadpool_limits

    from govflow import store
    from govflow.baselines import build_profile, create_baseline, draw_reference_sample
    from govflow.config import load_config
    from govflow.demo import write_demo
    from govflow.demo.seeding import register_manifest_version, register_model_from_inventory
    from govflow.prediction_logs import partition_path

    config_dir, data_dir = root / "config", root / "data"
    clones = write_config(config_dir, count, rows)
    config = load_config(config_dir)
    db_url = f"sqlite:///{data_dir / 'govflow.db'}"
    demo_config = load_config(REPO / "config")
    manifest = write_demo(data_dir, days=DEMO_DAYS, rows_per_day=DEMO_ROWS_PER_DAY)
    store.ensure_schema(db_url)

    by_type: dict[str, dict[str, Any]] = {}
    with threadpool_limits(limits=1):
        for entry in manifest.content["models"]:
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
                "logs": synthetic_day(
                    day,
                    rows,
                    model=model,
                    model_id=entry["id"],
                    version=current["version"],
                    label_delay_days=entry["label_delay_days"],
                ),
            }

    with store.session_scope(db_url) as session:
        for clone in clones:
            model_type = clone["id"].rsplit("_", 1)[0]
            shared = by_type[model_type]
            version = shared["version"]
            inventory = config.models.get(clone["id"])
            register_model_from_inventory(session, inventory, actor=ACTOR)
            register_manifest_version(session, clone["id"], version, actor=ACTOR)
            create_baseline(
                session,
                model_id=clone["id"],
                model_version=version["version"],
                profile=dataclasses.replace(shared["profile"], model_id=clone["id"]),
                kind="deploy",
                created_by=ACTOR,
                reason="fleet benchmark clone of a demo model",
                data_dir=data_dir,
                reference_sample=shared["reference_sample"],
            )
            logs: pa.Table = shared["logs"]
            logs = logs.set_column(
                logs.schema.get_field_index("model_id"),
                "model_id",
                pa.array(np.full(logs.num_rows, clone["id"], dtype=object), pa.string()),
            )
            path = partition_path(data_dir / "prediction_logs" / clone["id"], day)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(logs, path)
    return Fleet(config_dir, data_dir, db_url, [clone["id"] for clone in clones], day)


# --- 2. Airflow on loopback -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def airflow_environment(home: Path, port: int, workers: int, password_file: Path) -> dict[str, str]:
    """Settings shared by every Airflow process (and, through the executor, every task)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(workers),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    }


@contextmanager
def running_airflow(home: Path, environment: dict[str, str], port: int) -> Iterator[list[str]]:
    """api-server, scheduler and dag-processor, each its own process group, all stopped after.

    Yields the log file paths, so that a failure can point at them.
    """
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run(
        [airflow, "db", "migrate"],
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    commands = {
        "api-server": [airflow, "api-server", "-H", "127.0.0.1", "-p", str(port)],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, command in commands.items():
            log_path = home / f"{name}.log"
            logs.append(str(log_path))
            with log_path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        yield logs
    finally:
        for process in processes:
            stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group this benchmark started (the process leads it), then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    # Whatever is left of the group: a hung leader, task supervisors, server workers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class RestClient:
    """The few Airflow REST calls the benchmark needs, over loopback."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def log_in(self, username: str, password: str) -> None:
        answer = self.call("POST", "/auth/token", {"username": username, "password": password})
        self.token = answer["access_token"]

    def wait_until_ready(self, deadline: float) -> None:
        """Until the scheduler heartbeats and the DAG has been parsed, or ``deadline``."""
        while True:
            try:
                health = self.call("GET", "/api/v2/monitor/health")
                if health["scheduler"]["status"] == "healthy":
                    self.call("GET", f"/api/v2/dags/{DAG_ID}")
                    return
            except (urllib.error.URLError, ConnectionError, KeyError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow was not ready (DAG {DAG_ID} parsed) in time")
            time.sleep(1)

    def all_task_instances(self, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.call(
                "GET",
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
                f"?limit=100&offset={len(found)}",
            )
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used since boot (Linux ``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


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


def trigger_and_wait(client: RestClient, fleet: Fleet, timeout_s: float) -> RunOutcome:
    """Trigger the daily run of ``fleet.day`` (DAG still paused), unpause, wait for the end."""
    run_id = f"fleet_benchmark__{fleet.run_time.isoformat()}"
    started = time.monotonic()
    client.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"dag_run_id": run_id, "logical_date": fleet.run_time.isoformat()},
    )
    client.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    while True:
        state = client.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        if state in FINAL_STATES:
            wall = time.monotonic() - started
            break
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"run {run_id} still {state} after {timeout_s:.0f} s")
        time.sleep(POLL_INTERVAL_S)
    return RunOutcome(
        run_id,
        state,
        wall,
        client.all_task_instances(run_id),
        monitoring_records(fleet, run_id),
    )


def monitoring_records(fleet: Fleet, run_id: str) -> Counter[str]:
    """Status -> count of the monitoring records the run wrote in the governance store."""
    from sqlalchemy import select

    from govflow import store
    from govflow.store.schema import MonitoringRun

    with store.session_scope(fleet.db_url) as session:
        statuses = session.scalars(
            select(MonitoringRun.status).where(
                MonitoringRun.dag_id == DAG_ID, MonitoringRun.dag_run_id == run_id
            )
        ).all()
    return Counter(statuses)


def report(args: argparse.Namespace, fleet: Fleet, outcome: RunOutcome, timings: dict) -> None:
    models = len(fleet.model_ids)
    durations = [ti["duration"] or 0.0 for ti in outcome.task_instances]
    per_task = Counter(ti["task_id"] for ti in outcome.task_instances)
    analyses = [
        ti["duration"] or 0.0 for ti in outcome.task_instances if ti["task_id"] == "analyse_model"
    ]
    retried = sum(1 for ti in outcome.task_instances if (ti.get("try_number") or 1) > 1)
    per_model = outcome.wall_s / models
    recorded = sum(outcome.records.values())

    print(f"models:                       {models}")
    print(f"rows per model:               {args.rows}")
    print(f"executor:                     {args.executor} (LocalExecutor, SQLite metadata DB)")
    print(f"workers:                      {args.workers} (core.parallelism)")
    print(f"analysed day:                 {fleet.day} (run {outcome.run_id})")
    print(f"fleet prepared in:            {timings['prepare']:.1f} s (not timed)")
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
        f"({sum(durations) / (outcome.wall_s * args.workers):.0%} of wall x workers)"
    )
    if analyses:
        print(
            f"analyse_model duration:       mean {statistics.mean(analyses):.1f} s, "
            f"median {statistics.median(analyses):.1f} s, min {min(analyses):.1f} s, "
            f"max {max(analyses):.1f} s"
        )
    print(
        f"airflow + tasks CPU time:     {timings['airflow_cpu']:.1f} s over "
        f"{timings['airflow_alive']:.1f} s alive (start-up and shutdown included)"
    )
    print(
        f"other processes' CPU time:    {timings['other_cpu']:.1f} s meanwhile, on "
        f"{os.cpu_count()} cores (near 0 on a quiet machine; more means the run shared them)"
    )
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(outcome.records.items()))
    print(f"monitoring records:           {recorded} of {models} expected ({statuses or 'none'})")
    print(
        f"fleet: models={models} rows={args.rows} executor={args.executor} "
        f"workers={args.workers} wall_s={outcome.wall_s:.1f} per_model_s={per_model:.2f}"
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="clones of the demo models")
    parser.add_argument("--rows", type=int, default=100_000, help="log rows per model")
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="LocalExecutor parallelism")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for the run to end"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, stores)"
    )
    args = parser.parse_args(argv)
    if args.models < 1 or args.rows < 1 or args.workers < 1:
        parser.error("--models, --rows and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.executor == "celery":
        print(CELERY_NOT_AVAILABLE, file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="govflow-fleet-"))
    try:
        timings: dict[str, float] = {}
        started = time.monotonic()
        day = (latest_daily_tick(datetime.now(UTC)) - timedelta(days=1)).date()
        fleet = build_fleet(root, args.models, args.rows, day)
        timings["prepare"] = time.monotonic() - started

        home, port = root / "airflow", free_port()
        (home / "plugins").mkdir(parents=True)
        admin_password = secrets.token_urlsafe(16)
        password_file = home / "passwords.json"
        password_file.write_text(json.dumps({ADMIN: admin_password}))
        environment = {
            **os.environ,
            **fleet.environment(),
            **airflow_environment(home, port, args.workers, password_file),
        }
        started = time.monotonic()
        cpu_before, busy_before = children_cpu_seconds(), machine_busy_seconds()
        with running_airflow(home, environment, port) as logs:
            client = RestClient(port)
            deadline = started + READY_TIMEOUT_S
            while True:
                try:
                    client.log_in(ADMIN, admin_password)
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"api-server not up; see {logs}") from None
                    time.sleep(1)
            client.wait_until_ready(deadline)
            timings["ready"] = time.monotonic() - started
            outcome = trigger_and_wait(client, fleet, args.timeout)
        # Counted once every process has been waited for, tasks included (their supervisors
        # wait for them, the executor waits for the supervisors, the scheduler for it).
        timings["airflow_cpu"] = children_cpu_seconds() - cpu_before
        timings["other_cpu"] = machine_busy_seconds() - busy_before - timings["airflow_cpu"]
        timings["airflow_alive"] = time.monotonic() - started
        report(args, fleet, outcome, timings)
        if outcome.state != "success" or sum(outcome.records.values()) != len(fleet.model_ids):
            print(f"run {outcome.state}; Airflow logs kept in {home}", file=sys.stderr)
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
