"""govflow_audit_verification: the daily walk checkpoints the verified head and fails when
events a checkpoint covers are gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from govflow import settings, store
from govflow.audit import record_event

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
