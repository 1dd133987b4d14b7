"""govflow_incident_response's tasks given a request they cannot carry out: a ref that names
no incident, a blank documentation, a resolution form naming no usable window. Each fails
its task once in one line (Airflow's AirflowFailException), never retried with a traceback.

The tasks read the incident from the run's plan, so they are called with the plan's
incident id in place of that lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from govflow import settings, store
from govflow.config import load_config
from govflow.incidents.lifecycle import open_incident
from tests.support.registry import high_risk_model

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "govflow_incident_response"
CAROL = {"id": "carol", "name": "Carol Chen"}
ISO = "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_incident_response.py")).get_dag(DAG_ID)


@pytest.fixture
def incident(fresh_store_env) -> tuple[int, str]:
    """An open data-drift incident with no analysed window behind it: (id, ref)."""
    store.upgrade(fresh_store_env)
    with store.session_scope(fresh_store_env) as session:
        session.add(high_risk_model())
        opened, _ = open_incident(
            session,
            load_config(settings.config_dir()),
            model_id="credit_approval",
            category="data_drift",
            metric="psi",
            severity="WARNING",
            title="WARNING data drift: psi on credit_approval",
            actor="govflow-monitoring",
        )
        return opened.id, opened.ref


def _task(dag, task_id: str, monkeypatch, incident_id: int):
    """The task's callable, reading ``incident_id`` where the run's plan would give it."""
    function = dag.get_task(task_id).python_callable
    monkeypatch.setitem(function.__globals__, "_incident_id", lambda: incident_id)
    monkeypatch.setitem(function.__globals__, "_actor", lambda: f"{DAG_ID}/manual__test")
    return function


def test_a_run_for_a_ref_that_names_no_incident_fails_its_plan_once_in_one_line(
    dag, fresh_store_env, capsys
):
    store.upgrade(fresh_store_env)

    planned = dag.partial_subset(task_ids=["plan_response"])
    dag_run = planned.test(run_conf={"incident_ref": "INC-2099-0001"})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["plan_response"] == ("failed", 1)
    logged = capsys.readouterr()
    assert "AirflowFailException: no incident 'INC-2099-0001'\n" in logged.out + logged.err


def test_a_run_for_a_ref_that_names_no_incident_fails_once_and_skips_its_end(dag, fresh_store_env):
    store.upgrade(fresh_store_env)

    dag_run = dag.test(run_conf={"incident_ref": "INC-2099-0001"})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert [task for task, (state, _) in states.items() if state == "failed"] == ["plan_response"]
    assert states["end_response_run"] == ("skipped", 1)


def test_the_plan_task_refuses_a_ref_that_names_no_incident(dag, fresh_store_env):
    store.upgrade(fresh_store_env)
    plan = dag.get_task("plan_response").python_callable

    with pytest.raises(AirflowFailException) as failed:
        plan(params={"incident_ref": "INC-2099-0001"}, run_id="manual__test")

    assert str(failed.value) == "no incident 'INC-2099-0001'"


def test_a_documentation_left_blank_fails_its_task_once_in_one_line(dag, incident, monkeypatch):
    incident_id, ref = incident
    record = _task(dag, "record_documentation", monkeypatch, incident_id)
    form = {
        "params_input": {"root_cause": " ", "corrective_action": "fix the feed"},
        "responded_by_user": CAROL,
    }

    with pytest.raises(AirflowFailException) as failed:
        record(form)

    assert str(failed.value) == (
        f"documenting incident {ref} needs a root cause and a corrective action"
    )


@pytest.mark.parametrize(
    ("window", "line"),
    [
        (
            {"verification_start": "yesterday", "verification_end": "2025-03-29T00:00:00"},
            f"field 'verification_start': 'yesterday' is not a date and time {ISO}",
        ),
        (
            {"verification_start": "2025-03-29T00:00:00", "verification_end": "2025-03-28"},
            "field 'verification_end': 2025-03-28T00:00:00+00:00 is not after "
            "verification_start 2025-03-29T00:00:00+00:00",
        ),
        (
            {"verification_start": "", "verification_end": ""},
            "incident {ref} names no analysed window; give the verification window in the form",
        ),
        (
            {"verification_start": "2099-01-01T00:00:00", "verification_end": "2099-01-02"},
            "the verification window [2099-01-01 00:00:00+00:00, 2099-01-02 00:00:00+00:00) "
            "has not ended yet; resolve again after 2099-01-02 00:00:00+00:00",
        ),
    ],
)
def test_a_resolution_form_naming_no_usable_window_fails_its_task_once_in_one_line(
    dag, incident, monkeypatch, window, line
):
    incident_id, ref = incident
    verify = _task(dag, "verify_resolution", monkeypatch, incident_id)
    form = {"params_input": {"fix": "feed fixed", **window}, "responded_by_user": CAROL}

    with pytest.raises(AirflowFailException) as failed:
        verify(form)

    assert str(failed.value) == line.format(ref=ref)


def test_a_resolution_check_the_store_failed_is_retried_as_every_step_is(dag):
    # A refusal fails once (above); what a retry can fix, a store briefly unreachable, is
    # retried like the run's other steps.
    assert dag.get_task("verify_resolution").retries == dag.default_args["retries"] == 2
