"""A task that reads an invalid config/ fails once, in one line naming the file and the key:
a retry would read the same files (airflow_outcomes maps govflow's ConfigError to
AirflowFailException, which Airflow never retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from govflow.config.loading import FILE_NOT_FOUND

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
QUARTER = datetime(2025, 4, 1, 5, tzinfo=UTC)
PLAN = {"deployment_ref": "DEP-1", "model_id": "credit_approval"}
EXECUTED = {"deployment_ref": "DEP-1", "model_id": "credit_approval"}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture
def no_config(fresh_store_env, tmp_path, monkeypatch) -> Path:
    """GOVFLOW_CONFIG_DIR names a folder without config/'s four files."""
    missing = tmp_path / "no-config"
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(missing))
    return missing


def _one_line(missing: Path) -> str:
    first = "policy.yaml: " + FILE_NOT_FOUND.format(directory=missing)
    return first + " (and 3 more: govflow config check lists them)"


@pytest.mark.parametrize(
    ("dag_id", "task_id", "kwargs"),
    [
        ("govflow_baseline_quarterly_refresh", "list_models", {}),
        (
            "govflow_baseline_quarterly_refresh",
            "refresh_if_stabilised",
            {"model_id": "credit_approval", "logical_date": QUARTER},
        ),
        ("govflow_incident_escalation", "sweep_incidents", {}),
        ("govflow_retention", "purge_expired_records", {"params": {"dry_run": True}}),
        ("govflow_retention", "clean_airflow_metadata", {"params": {"dry_run": True}}),
        ("govflow_rollback", "verify_rollback", {"executed": EXECUTED}),
        ("govflow_rollback", "conclude_rollback", {"executed": EXECUTED, "verification": {}}),
        ("govflow_rollout", "complete_rollout", {"plan": PLAN, "started": {}}),
    ],
)
def test_a_task_reading_an_invalid_config_fails_once_in_one_line(
    dag_bag, no_config, dag_id, task_id, kwargs
):
    task = dag_bag.get_dag(dag_id).get_task(task_id)

    with pytest.raises(AirflowFailException) as failed:
        task.python_callable(**kwargs)

    assert str(failed.value) == _one_line(no_config)
    assert task.retries > 0  # retried otherwise: the failure, not the DAG, says "once"


def test_an_invalid_config_fails_the_watchdogs_run_without_a_retry(dag_bag, no_config):
    run = dag_bag.get_dag("govflow_monitor_the_monitor").test()

    assert run.state == "failed"
    (instance,) = run.get_task_instances()
    assert (instance.state, instance.try_number) == ("failed", 1)
