"""govflow_rollback run with dag.test() on a copy of the seeded demo: a rollout's request
restores the previous version at once and opens the root-cause incident; a manual request
by somebody other than the System Owner waits for the owner's approval."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.config import load_config
from govflow.deployment import procedure
from govflow.rollout import routing, stages
from govflow.store.schema import Incident
from tests.support.rollout_demo import MODEL, authorised_deployment
from tests.support.serving import serving_copy

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
DAG_ID = "govflow_rollback"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_rollback.py")).get_dag(DAG_ID)


@pytest.fixture
def rolling_out(seeded_demo, tmp_path, monkeypatch):
    """A deployment of 1.1.0 in its limited stage; (url, ref)."""
    data_dir, url = serving_copy(seeded_demo, tmp_path / "data")
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(CONFIG_DIR))
    config = load_config(settings.config_dir())
    ref = authorised_deployment(config, data_dir, url)
    with store.session_scope(url) as session:
        stages.plan(session, config, deployment_ref=ref)
        stages.start_stage(session, config, deployment_ref=ref, stage="limited")
    return url, ref


def test_a_rollout_request_restores_the_previous_version_and_opens_the_incident(dag, rolling_out):
    url, ref = rolling_out
    dag_run = dag.test(
        run_conf={
            "model_id": MODEL,
            "deployment_ref": ref,
            "reason": "stage limited: RBC-1 Fairness metric exceeds threshold",
            "source": "rollout",
            "criteria": [{"id": "RBC-1", "summary": "disparate_impact_ratio 0.6"}],
        }
    )
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {
        "decide_rollback": "success",
        "approve_rollback": "skipped",
        "execute_rollback": "success",
        "verify_rollback": "success",
        "conclude_rollback": "success",
    }
    with store.session_scope(url) as session:
        assert routing.StoreTarget(session).current(MODEL).versions == ["1.0.0"]
        assert procedure.find_deployment(session, ref).status == procedure.ROLLED_BACK
        incident = session.scalars(
            select(Incident).where(Incident.metric == f"rollback:{ref}")
        ).one()
        assert (incident.priority, incident.status) == ("P0", "open")


def test_a_rollback_with_no_reason_is_refused_and_changes_nothing(dag, rolling_out):
    url, ref = rolling_out
    dag_run = dag.test(run_conf={"model_id": MODEL, "deployment_ref": ref, "reason": " "})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["decide_rollback"] == "failed"
    with store.session_scope(url) as session:
        assert routing.StoreTarget(session).current(MODEL).versions == ["1.0.0", "1.1.0"]


def test_the_owners_approval_request_says_what_rolling_back_does_to_the_traffic(dag):
    task = dag.get_task("approve_rollback")

    class Decided:
        def xcom_pull(self, task_ids):
            assert task_ids == "decide_rollback"
            return {"consequence": "Rolling back DEP-1 restores 1.0.0 for every customer."}

    body = task.render_template(task.body, {"params": {"reason": "complaints"}, "ti": Decided()})

    assert body == "complaints\n\nRolling back DEP-1 restores 1.0.0 for every customer."
