"""govflow_rollout's shape: one chain of start, watch, gate, approval and decision per stage
of deployment.yaml, each stage waiting for the decision on the one before, a rollback trigger
at every gate and one for an approver's "Roll back"."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from govflow import settings, store
from govflow.config import load_config

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "govflow_rollout"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_rollout.py")).get_dag(DAG_ID)


@pytest.fixture(scope="module")
def stage_names():
    return [stage.name for stage in load_config(settings.config_dir()).deployment.rollout.stages]


def upstream(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_each_stage_starts_only_after_the_decision_on_the_stage_before(dag, stage_names):
    assert upstream(dag, f"start_{stage_names[0]}") == {"plan_rollout"}
    for before, stage in itertools.pairwise(stage_names):
        assert upstream(dag, f"start_{stage}") == {"plan_rollout", f"record_decision_{before}"}


def test_every_stage_with_a_duration_is_watched_gated_approved_and_can_roll_back(dag, stage_names):
    for stage in stage_names[:-1]:
        assert upstream(dag, f"watch_{stage}") == {f"start_{stage}"}
        assert upstream(dag, f"evaluate_gate_{stage}") == {"plan_rollout", f"watch_{stage}"}
        assert upstream(dag, f"roll_back_at_{stage}") == {f"evaluate_gate_{stage}"}
        assert upstream(dag, f"approve_{stage}") == {f"evaluate_gate_{stage}"}
        assert dag.get_task(f"approve_{stage}").options == ["Advance", "Hold", "Roll back"]
        assert upstream(dag, f"record_decision_{stage}") == {"plan_rollout", f"approve_{stage}"}
    assert upstream(dag, "request_rollback") == {"plan_rollout"} | {
        f"record_decision_{stage}" for stage in stage_names[:-1]
    }
    assert upstream(dag, "roll_back_on_request") == {"request_rollback"}


def test_the_last_stage_promotes_and_the_rollout_starts_on_an_authorised_deployment(
    dag, stage_names
):
    assert upstream(dag, "complete_rollout") == {"plan_rollout", f"start_{stage_names[-1]}"}
    assets = [asset.name for asset in dag.timetable.asset_condition.objects]
    assert assets == ["govflow_model_deployed"]
    assert dag.params.get_param("from_stage").schema["enum"] == stage_names


def test_the_run_ends_with_a_teardown_that_reports_failed_steps_whatever_happened(dag):
    end = dag.get_task("end_rollout_run")

    assert end.is_teardown
    assert upstream(dag, "end_rollout_run") == {"complete_rollout"}
    assert dag.get_task("complete_rollout").downstream_task_ids == {"end_rollout_run"}


@pytest.mark.parametrize(
    ("deployment_ref", "line"),
    [
        ("DEP-20990101-NOSUCH", "no deployment 'DEP-20990101-NOSUCH'"),
        ("", "no deployment to roll out: give the Param deployment_ref"),
    ],
)
def test_a_run_for_no_deployment_it_can_roll_out_fails_its_plan_once_in_one_line(
    dag, fresh_store_env, deployment_ref, line
):
    store.upgrade(fresh_store_env)
    plan = dag.get_task("plan_rollout").python_callable

    with pytest.raises(AirflowFailException) as failed:
        plan(
            params={"deployment_ref": deployment_ref, "from_stage": "alpha"},
            triggering_asset_events={},
        )

    assert str(failed.value) == line
