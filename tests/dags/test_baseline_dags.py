"""The baseline DAGs on a private copy of the seeded demo: dag.test() where no human answers,
and the reset DAG's tasks called in order with the approval an approver would give."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import select

from govflow import store
from govflow.baselines.profile import active_baseline
from govflow.flows import Refused
from govflow.flows.baselines import describe_reset
from govflow.store.schema import AuditEvent, Baseline, Incident
from tests.unit.test_baseline_management import (
    CANDIDATE,
    CANDIDATE_SOURCE,
    copy_demo,
    register_candidate,
)

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
BASELINES = Asset(name="govflow_baselines")
RESET_CONF = {
    "model": "credit_approval",
    "kind": "concept_drift_accepted",
    "reason": "applicant incomes rose for good in March",
    "window_end": "2025-03-28T00:00:00+00:00",
}
ISO = "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"
# A reset requested by eve, triggered on 2 April 2025 (the DagRun its tasks are given).
REQUESTED_BY_EVE = SimpleNamespace(
    triggering_user_name="eve", run_after=datetime(2025, 4, 2, tzinfo=UTC)
)


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture
def demo_store(seeded_demo, tmp_path, monkeypatch) -> tuple[Path, str]:
    data_dir, url = copy_demo(seeded_demo, tmp_path)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    return data_dir, url


def _callable(dag_bag, dag_id: str, task_id: str):
    return dag_bag.get_dag(dag_id).get_task(task_id).python_callable


def test_a_manual_deployment_run_creates_the_deployed_versions_baseline_once(dag_bag, demo_store):
    _, url = demo_store
    dag = dag_bag.get_dag("govflow_baseline_on_deploy")
    conf = {
        "deployments": [
            {"model_id": "credit_approval", "version": "0.9.0", "deployment_ref": "DEP-1"}
        ]
    }
    states = [dag.test(run_conf=conf).state for _ in range(2)]
    assert states == ["success", "success"]
    with store.session_scope(url) as session:
        active = active_baseline(session, "credit_approval")
        assert (active.model_version, active.kind, active.created_by, active.details) == (
            "0.9.0",
            "deploy",
            "govflow-deployment",
            {"trigger": "new_model_deployed", "deployment_ref": "DEP-1"},
        )
        count = len(session.scalars(select(Baseline).where(Baseline.kind == "deploy")).all())
    assert count == 5  # the four seeded baselines and this deployment's


def test_a_deployment_whose_validation_set_the_gate_refuses_fails_in_one_line_unretried(
    dag_bag, demo_store, capsys
):
    data_dir, url = demo_store
    register_candidate(data_dir, url, lambda frame: frame.head(200))
    deployment = {"model_id": "credit_approval", "version": CANDIDATE, "deployment_ref": "DEP-10"}

    dag_run = dag_bag.get_dag("govflow_baseline_on_deploy").test(
        run_conf={"deployments": [deployment]}
    )

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["create_deployment_baseline"] == ("failed", 1)
    assert states["publish_baselines"][0] == "upstream_failed"
    line = (
        f"baseline data {CANDIDATE_SOURCE}: 200 usable rows, fewer than the 300 a baseline of "
        "credit_approval needs (binning bins 10 x min_group_size 30)"
    )
    logged = capsys.readouterr()
    assert f"AirflowFailException: {line}\n" in logged.out + logged.err
    with store.session_scope(url) as session:
        assert active_baseline(session, "credit_approval").version == "2025-03-01-v1"


def test_deployments_are_read_from_the_triggering_asset_events(dag_bag):
    collect = _callable(dag_bag, "govflow_baseline_on_deploy", "collect_deployments")
    event = SimpleNamespace(
        extra={
            "model_id": "credit_approval",
            "version": "1.0.0",
            "deployment_ref": "DEP-2",
            "environment": "production",
        }
    )
    deployments = collect(
        params={"deployments": []}, triggering_asset_events={MODEL_DEPLOYED: [event]}
    )
    assert deployments == [
        {"model_id": "credit_approval", "version": "1.0.0", "deployment_ref": "DEP-2"}
    ]


def test_an_asset_event_without_a_deployment_reference_is_refused(dag_bag):
    collect = _callable(dag_bag, "govflow_baseline_on_deploy", "collect_deployments")
    event = SimpleNamespace(extra={"model_id": "credit_approval", "version": "1.0.0"})
    # AirflowFailException: the task fails once, unretried (a retry reads the same event).
    with pytest.raises(AirflowFailException) as refused:
        collect(params={"deployments": []}, triggering_asset_events={MODEL_DEPLOYED: [event]})
    assert str(refused.value) == (
        "deployment {'model_id': 'credit_approval', 'version': '1.0.0'} lacks deployment_ref"
    )


def test_a_manual_run_naming_a_deployment_with_an_empty_version_fails_once_in_one_line(
    dag_bag, demo_store, capsys
):
    deployment = {"model_id": "credit_approval", "version": "", "deployment_ref": "DEP-11"}

    dag_run = dag_bag.get_dag("govflow_baseline_on_deploy").test(
        run_conf={"deployments": [deployment]}
    )

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["collect_deployments"] == ("failed", 1)
    line = f"deployment {deployment} lacks version"
    logged = capsys.readouterr()
    assert f"AirflowFailException: {line}\n" in logged.out + logged.err


def test_the_quarterly_run_records_one_decision_per_model(dag_bag, demo_store):
    _, url = demo_store
    dag = dag_bag.get_dag("govflow_baseline_quarterly_refresh")
    assert dag.timetable.expression == "0 5 1 1,4,7,10 *"
    dag_run = dag.test(logical_date=datetime(2025, 4, 1, 5, tzinfo=UTC))
    assert dag_run.state == "success"
    with store.session_scope(url) as session:
        decisions = {
            event.payload["model_id"]: (event.payload["quarter"], event.payload["outcome"])
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "baseline.quarterly_review")
            )
        }
    # The seeded demo has no monitoring record yet: no evidence, so every baseline is kept.
    assert decisions == {
        "credit_approval": ("2025-Q2", "keep"),
        "marketing_propensity": ("2025-Q2", "keep"),
        "product_recommendation": ("2025-Q2", "keep"),
        "customer_lifetime_value": ("2025-Q2", "keep"),
    }


def test_a_reset_triggered_by_nobody_in_people_yaml_fails_before_anyone_is_asked(
    dag_bag, demo_store
):
    _, url = demo_store
    # dag.test() triggers as the user "dag_test", who is not in people.yaml.
    dag_run = dag_bag.get_dag("govflow_baseline_reset").test(run_conf=RESET_CONF)
    assert dag_run.state == "failed"
    with store.session_scope(url) as session:
        assert active_baseline(session, "credit_approval").version == "2025-03-01-v1"


def test_a_reset_triggered_by_nobody_in_people_yaml_fails_once_in_one_line(
    dag_bag, demo_store, capsys
):
    # dag.test() triggers as the user "dag_test", who is not in people.yaml.
    dag_run = dag_bag.get_dag("govflow_baseline_reset").test(run_conf=RESET_CONF)

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert states["resolve_request"] == ("failed", 1)
    line = "'dag_test' is not in people.yaml: a reset is requested by a named person"
    logged = capsys.readouterr()
    assert f"AirflowFailException: {line}\n" in logged.out + logged.err


@pytest.mark.parametrize(
    ("request_", "requested_by", "line"),
    [
        ({}, "mallory", "'mallory' is not in people.yaml: a reset is requested by a named person"),
        ({}, None, "None is not in people.yaml: a reset is requested by a named person"),
        ({"model": "credit_aproval"}, "eve", "model 'credit_aproval' is not in models.yaml"),
        (
            {"window_end": "2025-03-02T00:00:00+00:00"},
            "eve",
            "credit_approval has 2000 usable predictions in [2025-02-23T00:00:00+00:00, "
            "2025-03-02T00:00:00+00:00); a baseline from logs needs at least 7000",
        ),
    ],
)
def test_a_reset_that_cannot_be_built_as_asked_is_refused_in_one_line(
    demo_store, request_, requested_by, line
):
    with pytest.raises(Refused) as refused:
        describe_reset(
            {**RESET_CONF, **request_},
            requested_by=requested_by,
            triggered_at=datetime(2025, 4, 2, tzinfo=UTC),
        )
    assert str(refused.value) == line


def test_a_reset_run_requested_by_nobody_in_people_yaml_fails_its_first_task_unretried(
    dag_bag, demo_store
):
    requested = SimpleNamespace(
        triggering_user_name="mallory", run_after=datetime(2025, 4, 2, tzinfo=UTC)
    )
    resolve = _callable(dag_bag, "govflow_baseline_reset", "resolve_request")
    with pytest.raises(AirflowFailException) as failed:
        resolve(params=RESET_CONF, dag_run=requested)
    assert str(failed.value) == (
        "'mallory' is not in people.yaml: a reset is requested by a named person"
    )


@pytest.mark.parametrize(
    ("window_end", "line"),
    [
        ("2025-13-40", f"param window_end: '2025-13-40' is not a date and time {ISO}"),
        ("yesterday", f"param window_end: 'yesterday' is not a date and time {ISO}"),
    ],
)
def test_a_reset_whose_window_end_is_no_date_is_refused_in_one_line(window_end, line):
    with pytest.raises(Refused) as refused:
        describe_reset(
            {**RESET_CONF, "window_end": window_end},
            requested_by="eve",
            triggered_at=datetime(2025, 4, 2, tzinfo=UTC),
        )
    assert str(refused.value) == line


def test_a_reset_run_whose_window_end_is_no_date_fails_its_first_task_unretried(dag_bag):
    resolve = _callable(dag_bag, "govflow_baseline_reset", "resolve_request")
    with pytest.raises(AirflowFailException, match="param window_end: 'yesterday' is not a date"):
        resolve(params={**RESET_CONF, "window_end": "yesterday"}, dag_run=REQUESTED_BY_EVE)


def test_the_reset_tasks_ask_the_ml_lead_and_build_what_she_approved(dag_bag, demo_store):
    _, url = demo_store
    dag_id = "govflow_baseline_reset"
    request = _callable(dag_bag, dag_id, "resolve_request")(
        params=RESET_CONF, dag_run=REQUESTED_BY_EVE
    )
    approval = _callable(dag_bag, dag_id, "ask_approvers")(request)
    assert [(a["subject"], a["assigned_users"]) for a in approval] == [
        (
            "Approve the baseline reset of credit_approval (concept drift accepted)",
            [{"id": "lena", "name": "Lena Lund"}],
        )
    ]
    answer = {
        "chosen_options": ["Approve"],
        "responded_by_user": {"id": "lena", "name": "Lena Lund"},
    }
    outlet = SimpleNamespace(extra=None)
    summary = _callable(dag_bag, dag_id, "build_baseline")(
        request, [answer], run_id="manual__reset-1", outlet_events={BASELINES: outlet}
    )
    with store.session_scope(url) as session:
        incident_ref = session.scalars(
            select(Incident.ref).where(Incident.category == "baseline_reset")
        ).one()
    assert summary == {
        "model_id": "credit_approval",
        "version": "2025-03-28-v1",
        "replaced_version": "2025-03-01-v1",
        "kind": "concept_drift_accepted",
        "approved_by": "lena",
        "incident_ref": incident_ref,
    }
    assert outlet.extra == summary


def test_a_reset_approved_by_someone_without_the_approver_role_fails_once_and_builds_nothing(
    dag_bag, demo_store
):
    _, url = demo_store
    dag_id = "govflow_baseline_reset"
    request = _callable(dag_bag, dag_id, "resolve_request")(
        params=RESET_CONF, dag_run=REQUESTED_BY_EVE
    )
    own = {"chosen_options": ["Approve"], "responded_by_user": {"id": "eve", "name": "Eve Evans"}}

    with pytest.raises(AirflowFailException) as failed:
        _callable(dag_bag, dag_id, "build_baseline")(
            request, [own], run_id="manual__reset-2", outlet_events={BASELINES: None}
        )

    assert str(failed.value) == "eve does not hold the ml_lead role that approves a " + (
        "concept_drift_accepted reset"
    )
    with store.session_scope(url) as session:
        assert active_baseline(session, "credit_approval").version == "2025-03-01-v1"


def _reset_records(url: str) -> tuple[list[str], list[str], list[str]]:
    """credit_approval's baseline versions, the baseline_reset incidents, the audit actions."""
    with store.session_scope(url) as session:
        versions = session.scalars(
            select(Baseline.version)
            .where(Baseline.model_id == "credit_approval")
            .order_by(Baseline.id)
        ).all()
        incidents = session.scalars(
            select(Incident.ref).where(Incident.category == "baseline_reset")
        ).all()
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    return list(versions), list(incidents), list(actions)


def test_a_retried_build_returns_the_runs_baseline_and_records_nothing_twice(dag_bag, demo_store):
    _, url = demo_store
    dag_id = "govflow_baseline_reset"
    request = _callable(dag_bag, dag_id, "resolve_request")(
        params=RESET_CONF, dag_run=REQUESTED_BY_EVE
    )
    lena = {"chosen_options": ["Approve"], "responded_by_user": {"id": "lena", "name": "Lena"}}
    build = _callable(dag_bag, dag_id, "build_baseline")
    _, _, before = _reset_records(url)

    outlet = {BASELINES: SimpleNamespace(extra=None)}
    first = build(request, [lena], run_id="manual__reset-3", outlet_events=outlet)
    retried = build(request, [lena], run_id="manual__reset-3", outlet_events=outlet)

    versions, incidents, actions = _reset_records(url)
    assert retried == first
    assert versions == ["2025-03-01-v1", "2025-03-28-v1"]
    assert incidents == [first["incident_ref"]]
    assert actions[len(before) :] == [
        "baseline.archived",
        "baseline.created",
        "incident.opened",
        "incident.documented",
        "baseline.reset",
    ]


def test_the_reset_tasks_are_retried_and_the_approval_never(dag_bag):
    dag = dag_bag.get_dag("govflow_baseline_reset")

    assert {task.task_id: task.retries for task in dag.tasks} == {
        "resolve_request": 2,
        "ask_approvers": 2,
        "approve_reset": 0,
        "build_baseline": 2,
    }
