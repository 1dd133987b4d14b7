"""govflow_kill_switch: a manual form that activates or deactivates a switch as the user who
triggered the run. ``dag.test()`` always triggers as the user "dag_test", who is nobody in
people.yaml, so a test run shows the refusal; the task function, called with the DagRun of a
real user, shows the change and its audit event."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import select

from govflow import store
from govflow.serving.kill_switches import (
    ALREADY_LIFTED,
    NOT_ACTIVE,
    NOT_AUTHORISED,
    REASON_REQUIRED,
    RECOVERY_NOTES_REQUIRED,
    SCOPES,
    UNKNOWN_TARGET,
)
from govflow.store.schema import AuditEvent, KillSwitch

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
DAG_ID = "govflow_kill_switch"
ACTIVATE = {
    "action": "activate",
    "scope": "customer_segment",
    "target": "high_value",
    "reason": "approvals of high_value doubled since 09:00",
    "recovery_notes": "",
}
DEACTIVATE = {**ACTIVATE, "action": "deactivate", "reason": "", "recovery_notes": "feed fixed"}
AUTHORISED_ROLES = "ml_engineer, ml_lead, deployment_manager, cto"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_kill_switch.py")).get_dag(DAG_ID)


@pytest.fixture
def db_url(fresh_store_env) -> str:
    """A store that does not exist yet: the task creates it."""
    return fresh_store_env


def change(dag, params: dict, user: str | None, run_id: str = "manual__1") -> dict:
    """The task as Airflow runs it for a run that ``user`` triggered."""
    task = dag.get_task("change_kill_switch")
    triggered = SimpleNamespace(triggering_user_name=user)
    return task.python_callable(params=params, dag_run=triggered, run_id=run_id)


def test_the_form_is_manual_only_with_typed_titled_params(dag):
    params = dag.params.dump()
    assert dag.schedule is None  # started by hand only
    assert sorted(params) == ["action", "reason", "recovery_notes", "scope", "target"]
    assert dag.params.get_param("action").schema["enum"] == ["activate", "deactivate"]
    assert dag.params.get_param("scope").schema["enum"] == list(SCOPES)
    for name in params:
        param = dag.params.get_param(name)
        assert param.schema["type"] == "string" and param.schema["title"], name
        assert param.description, name
    assert dag.doc_md.lstrip().startswith("### govflow_kill_switch")


def test_a_test_run_is_refused_because_dag_test_has_no_kill_switch_authority(dag, db_url, capsys):
    dag_run = dag.test(run_conf=ACTIVATE)
    (instance,) = dag_run.get_task_instances()
    assert (dag_run.state, instance.state, instance.try_number) == ("failed", "failed", 1)
    refusal = NOT_AUTHORISED.format(
        actor="dag_test",
        action="activate",
        roles=AUTHORISED_ROLES,
        rotations="primary, secondary, fairness",
    )
    logged = capsys.readouterr()
    assert f"AirflowFailException: {refusal}" in logged.out + logged.err
    with store.session_scope(db_url) as session:
        assert session.scalars(select(KillSwitch)).all() == []
        assert session.scalars(select(AuditEvent)).all() == []


def test_the_triggering_user_activates_and_the_audit_event_names_them(dag, db_url):
    first = change(dag, ACTIVATE, "eve", run_id="manual__a")
    again = change(dag, {**ACTIVATE, "reason": "still doubled"}, "carol", run_id="manual__b")
    with store.session_scope(db_url) as session:
        switch = session.scalars(select(KillSwitch)).one()
        events = [(e.actor, e.action, e.payload) for e in session.scalars(select(AuditEvent))]
    assert (switch.scope, switch.target, switch.activated_by, switch.active_key) == (
        "customer_segment",
        "high_value",
        "eve",
        "customer_segment:high_value",
    )
    assert first == again
    assert (first["id"], first["active"], first["activated_by"]) == (switch.id, True, "eve")
    assert events == [
        (
            "eve",
            "kill_switch.activated",
            {
                "scope": "customer_segment",
                "target": "high_value",
                "reason": "approvals of high_value doubled since 09:00",
                "dag_run": "govflow_kill_switch/manual__a",
            },
        )
    ]


def test_the_fairness_rotation_may_activate_but_an_engineer_deactivates(dag, db_url):
    change(dag, ACTIVATE, "carol")
    with pytest.raises(AirflowFailException) as refused:
        change(dag, DEACTIVATE, "carol")
    assert str(refused.value) == NOT_AUTHORISED.format(
        actor="carol", action="deactivate", roles=AUTHORISED_ROLES, rotations="primary, secondary"
    )
    lifted = change(dag, DEACTIVATE, "lena")
    assert (lifted["active"], lifted["deactivated_by"], lifted["recovery_notes"]) == (
        False,
        "lena",
        "feed fixed",
    )
    with store.session_scope(db_url) as session:
        actions = [(e.actor, e.action) for e in session.scalars(select(AuditEvent))]
    assert actions == [("carol", "kill_switch.activated"), ("lena", "kill_switch.deactivated")]


@pytest.mark.parametrize(
    ("params", "user", "message"),
    [
        (
            ACTIVATE,
            "dag_test",
            NOT_AUTHORISED.format(
                actor="dag_test",
                action="activate",
                roles=AUTHORISED_ROLES,
                rotations="primary, secondary, fairness",
            ),
        ),
        (
            ACTIVATE,
            None,
            NOT_AUTHORISED.format(
                actor=None,
                action="activate",
                roles=AUTHORISED_ROLES,
                rotations="primary, secondary, fairness",
            ),
        ),
        ({**ACTIVATE, "reason": ""}, "eve", REASON_REQUIRED),
        ({**DEACTIVATE, "recovery_notes": ""}, "eve", RECOVERY_NOTES_REQUIRED),
        (DEACTIVATE, "eve", NOT_ACTIVE.format(scope="customer_segment", target="high_value")),
        (
            {**ACTIVATE, "target": "high_valu"},
            "eve",
            UNKNOWN_TARGET.format(
                scope="customer_segment",
                target="high_valu",
                targets="standard, high_value, new_customer",
            ),
        ),
    ],
)
def test_a_refused_request_fails_the_task_with_the_reason_and_changes_nothing(
    dag, db_url, params, user, message
):
    with pytest.raises(AirflowFailException) as refused:
        change(dag, params, user)
    assert str(refused.value) == message
    with store.session_scope(db_url) as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_a_retried_deactivation_finds_it_done_and_records_nothing_again(dag, db_url, capsys):
    change(dag, ACTIVATE, "eve")
    first = change(dag, DEACTIVATE, "lena")

    again = change(dag, DEACTIVATE, "lena")

    assert again == first
    assert capsys.readouterr().out.splitlines()[-1] == ALREADY_LIFTED.format(
        id=first["id"],
        scope="customer_segment",
        target="high_value",
        actor="lena",
        at=f"{datetime.fromisoformat(first['deactivated_at']):%Y-%m-%d %H:%M:%S} UTC",
    )
    with store.session_scope(db_url) as session:
        actions = [(e.actor, e.action) for e in session.scalars(select(AuditEvent))]
    assert actions == [("eve", "kill_switch.activated"), ("lena", "kill_switch.deactivated")]


@pytest.mark.parametrize(
    ("params", "user"),
    [(DEACTIVATE, "eve"), ({**DEACTIVATE, "recovery_notes": "rolled back"}, "lena")],
    ids=["another person", "other notes"],
)
def test_another_deactivation_of_a_lifted_switch_is_refused(dag, db_url, params, user):
    change(dag, ACTIVATE, "eve")
    change(dag, DEACTIVATE, "lena")

    with pytest.raises(AirflowFailException) as refused:
        change(dag, params, user)

    assert str(refused.value) == NOT_ACTIVE.format(scope="customer_segment", target="high_value")


def test_a_request_that_fails_otherwise_is_retried(dag):
    assert dag.get_task("change_kill_switch").retries == 2
