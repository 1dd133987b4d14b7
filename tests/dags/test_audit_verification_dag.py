"""govflow_audit_verification: the daily walk checkpoints the verified head and fails when
events a checkpoint covers are gone."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import func, select, text

from govflow import settings, store
from govflow.audit import record_event
from govflow.store.schema import AuditEvent

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "govflow_audit_verification"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / f"{DAG_ID}.py")).get_dag(DAG_ID)


def _record(url: str, count: int) -> None:
    store.upgrade(url)
    with store.session_scope(url) as session:
        for i in range(count):
            record_event(session, actor="eve", action="baseline.created", target=f"t{i}")


def test_a_run_checkpoints_a_chain_that_had_no_checkpoint(dag, fresh_store_env):
    _record(fresh_store_env, 4)
    checkpoints = settings.audit_checkpoints(fresh_store_env)
    checkpoints.unlink()  # as a store written before checkpoints existed
    dag_run = dag.test()
    assert dag_run.state == "success"
    (line,) = checkpoints.read_text().splitlines()
    assert json.loads(line)["events"] == 4


def test_a_run_fails_when_the_newest_events_were_deleted(dag, fresh_store_env, capsys):
    _record(fresh_store_env, 4)
    with store.engine_for(fresh_store_env).begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > 2"))
    dag_run = dag.test()
    assert dag_run.state == "failed"
    assert "events 3-4 covered by the checkpoint of" in capsys.readouterr().out


def test_a_retried_verification_checkpoints_the_head_once_and_records_no_event(
    dag, fresh_store_env
):
    _record(fresh_store_env, 4)
    checkpoints = settings.audit_checkpoints(fresh_store_env)
    checkpoints.unlink()
    verify = dag.get_task("verify_audit_chain").python_callable

    first = verify()
    retried = verify()

    assert retried == first
    assert [json.loads(line)["events"] for line in checkpoints.read_text().splitlines()] == [4]
    with store.session_scope(fresh_store_env) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 4


def test_a_broken_chain_fails_the_task_at_once_in_one_line(dag, fresh_store_env):
    _record(fresh_store_env, 4)
    with store.engine_for(fresh_store_env).begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > 2"))

    # AirflowFailException: the task fails without a retry.
    with pytest.raises(AirflowFailException) as failed:
        dag.get_task("verify_audit_chain").python_callable()

    assert str(failed.value).startswith("events 3-4 covered by the checkpoint of ")
    assert str(failed.value).endswith(" are missing")


def test_a_verification_that_fails_otherwise_is_retried_minutes_apart(dag):
    task = dag.get_task("verify_audit_chain")

    assert (task.retries, task.retry_delay) == (2, timedelta(minutes=5))
