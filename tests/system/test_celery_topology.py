"""docker-compose.yaml's topology, natively on 127.0.0.1: Airflow with CeleryExecutor (api-server,
scheduler, dag-processor, two Celery workers of one slot each) on a Postgres metadata database,
a Redis broker and a Postgres result backend, with the governance store in its own Postgres
database. The daily monitoring DAG runs over the four demo models twice on the same day: once
undisturbed (the reference), once with the worker running an analysis SIGKILLed mid-task.

How a killed worker's task comes back (Airflow 3.3 + Celery): the Celery message is
acknowledged late and the broker would redeliver it only after its visibility timeout (24 h),
so recovery is Airflow's: the task stops heartbeating, the scheduler fails it after
``task_instance_heartbeat_timeout`` (lowered to 20 s here), the DAG's retries (2) put it up for
retry and the surviving worker runs it. The DAG's 1-minute retry delay is shortened to 5 s by
a cluster policy in this test's AIRFLOW_HOME only, to keep the module within its time budget.
The store's natural keys make the retry rewrite the analysis in place: the killed run must end
with exactly the records, metric results, alerts and audit events of the reference run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow import store
from govflow.audit import verify_chain
from govflow.config import load_config
from govflow.demo.scenarios import scenario_day_indexes
from govflow.demo.seeding import seed_demo
from govflow.store.schema import Alert, AuditEvent, MetricResult, MonitoringRun
from tests.support.airflow_stack import AirflowStack, running_airflow_stack
from tests.support.postgres import create_database
from tests.support.redis import running_redis

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "govflow_monitoring_daily"
DEMO_MODELS = (
    "credit_approval",
    "marketing_propensity",
    "product_recommendation",
    "customer_lifetime_value",
)
DEMO_DAYS = 35
WORKERS = ("celery-worker-1", "celery-worker-2")
REFERENCE_RUN = "celery_reference"
KILLED_RUN = "celery_worker_killed"
RUN_TIMEOUT_S = 150
HEARTBEAT_TIMEOUT_S = 20
RETRY_DELAY_S = 5
RETRY_POLICY = f'''"""Test-only cluster policy: the monitoring DAGs' retry delay, shortened."""

from datetime import timedelta


def task_policy(task):
    task.retry_delay = timedelta(seconds={RETRY_DELAY_S})
'''


@dataclasses.dataclass(frozen=True)
class Topology:
    stack: AirflowStack
    store_url: str
    run_time: datetime


@dataclasses.dataclass(frozen=True)
class RunRecords:
    """What one DAG run left in the governance store, counted."""

    statuses: dict[str, str]
    metric_results: dict[str, int]
    metrics: frozenset[tuple[str, str, str, str]]
    alerts: Counter[tuple[str, str]]
    audit_events: Counter[str]


def latest_daily_tick(now: datetime) -> datetime:
    """The most recent 02:00 UTC: triggering it leaves the scheduler no run of its own to add
    when the DAG is unpaused (catchup is off and that run already exists)."""
    tick = now.astimezone(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    return tick if tick <= now else tick - timedelta(days=1)


def demo_start_for_fairness_drift_on(day: date) -> date:
    """The demo start that puts the first fairness-drift day (CRITICAL findings, so alerts)
    on ``day``."""
    return day - timedelta(days=scenario_day_indexes(DEMO_DAYS)["fairness_drift"][0])


@pytest.fixture(scope="module")
def topology(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("celery-topology")
    run_time = latest_daily_tick(datetime.now(UTC))
    analysed_day = run_time.date() - timedelta(days=1)
    # The session's Postgres server, with databases of this module's own.
    store_url = create_database(postgres_server_url, "celery_topology_store")
    metadata_url = create_database(
        postgres_server_url, "celery_topology_airflow", "postgresql+psycopg2"
    )
    with running_redis() as broker_url:
        data_dir = root / "data"
        seed_demo(
            data_dir,
            load_config(REPO / "config"),
            days=DEMO_DAYS,
            start=demo_start_for_fairness_drift_on(analysed_day),
            db_url=store_url,
        )
        policy = root / "airflow" / "config" / "airflow_local_settings.py"
        policy.parent.mkdir(parents=True)
        policy.write_text(RETRY_POLICY)
        with running_airflow_stack(
            root,
            govflow_env={
                "GOVFLOW_CONFIG_DIR": str(REPO / "config"),
                "GOVFLOW_DATA_DIR": str(data_dir),
                "GOVFLOW_DB_URL": store_url,
            },
            dag_ids=[DAG_ID],
            executor="CeleryExecutor",
            parallelism=4,
            metadata_url=metadata_url,
            broker_url=broker_url,
            result_backend="db+" + metadata_url.replace("+psycopg2", ""),
            celery_workers=len(WORKERS),
            extra_env={
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            },
        ) as stack:
            yield Topology(stack, store_url, run_time)


def records_of(store_url: str, run_id: str) -> RunRecords:
    run_key = f"{DAG_ID}/{run_id}/daily"
    with store.session_scope(store_url) as session:
        runs = session.scalars(
            select(MonitoringRun).where(MonitoringRun.dag_run_id == run_id)
        ).all()
        model_of_run = {run.id: run.model_id for run in runs}
        results = session.scalars(
            select(MetricResult).where(MetricResult.monitoring_run_id.in_(model_of_run))
        ).all()
        alerts = [
            alert
            for alert in session.scalars(select(Alert)).all()
            if alert.payload.get("finding", {}).get("dag_run_id") == run_id
        ]
        events = session.scalars(
            select(AuditEvent.action).where(AuditEvent.idempotency_key.contains(run_key))
        ).all()
        return RunRecords(
            statuses={run.model_id: run.status for run in runs},
            metric_results=dict(Counter(model_of_run[r.monitoring_run_id] for r in results)),
            metrics=frozenset(
                (model_of_run[r.monitoring_run_id], r.check_type, r.metric, r.subject)
                for r in results
            ),
            alerts=Counter((alert.kind, alert.channel) for alert in alerts),
            audit_events=Counter(events),
        )


def workers_that_ran(stack: AirflowStack, ti_id: str) -> set[str]:
    """The Celery workers whose log names the task instance (each logs what it executes)."""
    return {name for name in WORKERS if ti_id in stack.log_path(name).read_text()}


def audit_chain_intact(store_url: str) -> bool:
    with store.session_scope(store_url) as session:
        return verify_chain(session).intact


def analyses_of(task_instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ti for ti in task_instances if ti["task_id"] == "analyse_models"]


@pytest.fixture(scope="module")
def reference_run(topology: Topology) -> tuple[str, list[dict[str, Any]], RunRecords]:
    stack = topology.stack
    run_id = stack.trigger(DAG_ID, run_id=REFERENCE_RUN, logical_date=topology.run_time.isoformat())
    state = stack.wait_for_run(DAG_ID, run_id, timeout_s=RUN_TIMEOUT_S)
    return state, stack.task_instances(DAG_ID, run_id), records_of(topology.store_url, run_id)


def test_the_daily_run_on_celery_records_every_demo_model_in_the_postgres_store(
    topology: Topology, reference_run
) -> None:
    state, task_instances, records = reference_run

    assert state == "success", topology.stack.log_tails()
    # The four demo models in two analysis tasks (policy.yaml monitoring.models_per_task),
    # so that both workers share even a small run.
    assert len(analyses_of(task_instances)) == 2
    assert {ti["state"] for ti in task_instances} <= {"success", "skipped"}
    assert max(ti["try_number"] for ti in task_instances) == 1
    ran = [ti["id"] for ti in task_instances if ti["state"] == "success"]
    ran_on = {ti: workers_that_ran(topology.stack, ti) for ti in ran}
    assert [len(workers) for workers in ran_on.values()] == [1] * len(ran)
    assert set().union(*ran_on.values()) == set(WORKERS)
    assert records.statuses == dict.fromkeys(DEMO_MODELS, "succeeded")
    assert sorted(records.metric_results) == sorted(DEMO_MODELS)
    assert min(records.metric_results.values()) > 0
    # The fairness-drift day: CRITICAL findings go to Slack and e-mail at once.
    assert records.alerts[("critical", "slack")] > 0
    assert records.alerts[("critical", "email")] == records.alerts[("critical", "slack")]
    assert records.audit_events["monitoring.run_recorded"] == len(DEMO_MODELS)
    assert records.audit_events["alert.enqueued"] == sum(records.alerts.values())
    assert audit_chain_intact(topology.store_url)


def parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine (Linux ``/proc``)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[int(stat.parent.name)] = int(fields[1])
    return found


def descendants(pid: int) -> set[int]:
    parent_of = parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def worker_of(stack: AirflowStack, pid: int) -> str | None:
    """The Celery worker whose process tree holds ``pid`` (its task runner)."""
    for name in WORKERS:
        if pid in descendants(stack.processes[name].pid):
            return name
    return None


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def kill_worker_host(stack: AirflowStack, name: str) -> None:
    """SIGKILL a worker and every task it runs, as when its machine dies.

    Airflow 3.3 puts each task runner in a process group of its own (so that its supervisor
    can signal the task's whole tree): killing the worker's group alone would leave the
    analysis running headless.
    """
    groups = {os.getpgid(pid) for pid in descendants(stack.processes[name].pid) if alive(pid)}
    for group in groups - {stack.processes[name].pid}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    stack.kill(name)


def kill_a_worker_running_an_analysis(
    stack: AirflowStack, run_id: str
) -> tuple[str, dict[str, Any]]:
    """Kill the worker host running an analysis; (worker, the analysis' task instance)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        for ti in analyses_of(stack.task_instances(DAG_ID, run_id)):
            if ti["state"] == "running" and ti["pid"]:
                worker = worker_of(stack, ti["pid"])
                if worker is not None:
                    kill_worker_host(stack, worker)
                    gone_by = time.monotonic() + 10
                    while alive(ti["pid"]):
                        assert time.monotonic() < gone_by, "the analysis outlived its worker"
                        time.sleep(0.1)
                    return worker, ti
        time.sleep(0.2)
    raise TimeoutError(f"no analysis ran on a worker; tasks: {stack.task_states(DAG_ID, run_id)}")


def test_a_run_survives_a_worker_killed_mid_analysis_with_no_record_duplicated_or_missing(
    topology: Topology, reference_run
) -> None:
    stack = topology.stack
    _, _, reference = reference_run
    run_id = stack.trigger(
        DAG_ID,
        run_id=KILLED_RUN,
        # A minute after the reference run: the same analysed day, another run.
        logical_date=(topology.run_time + timedelta(minutes=1)).isoformat(),
    )

    killed_worker, killed = kill_a_worker_running_an_analysis(stack, run_id)
    state = stack.wait_for_run(DAG_ID, run_id, timeout_s=RUN_TIMEOUT_S)

    assert state == "success", stack.log_tails()
    # Each try of a task instance has an id of its own.
    tries = {
        (ti["task_id"], ti["map_index"]): (ti["state"], ti["try_number"], ti["id"])
        for ti in stack.task_instances(DAG_ID, run_id)
    }
    *retried, retried_id = tries.pop((killed["task_id"], killed["map_index"]))
    assert retried == ["success", 2]
    assert {state for state, _, _ in tries.values()} <= {"success", "skipped"}
    assert max(try_number for _, try_number, _ in tries.values()) == 1
    survivor = next(name for name in WORKERS if name != killed_worker)
    assert workers_that_ran(stack, killed["id"]) == {killed_worker}
    assert workers_that_ran(stack, retried_id) == {survivor}
    timeouts = stack.client().call(
        "GET", f"/api/v2/eventLogs?dag_id={DAG_ID}&run_id={run_id}&event=heartbeat%20timeout"
    )
    assert timeouts["total_entries"] == 1

    records = records_of(topology.store_url, run_id)
    assert records.statuses == reference.statuses
    assert records.metric_results == reference.metric_results
    assert records.metrics == reference.metrics
    assert records.alerts == reference.alerts
    assert records.audit_events == reference.audit_events
    assert audit_chain_intact(topology.store_url)
