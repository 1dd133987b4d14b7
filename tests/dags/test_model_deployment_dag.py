"""The structure of govflow_model_deployment: six phases of twenty steps, typed Params, and
for each risk tier exactly the seed's approvals, assigned to the right people."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from govflow import settings
from govflow.config import load_config
from govflow.deployment.approvals import approval_requests, assign_approvers
from govflow.store.schema import Deployment
from govflow_airflow.hitl import ApprovalRequest, AskedAgainIfMalformed, HumanForm
from tests.support.deployment_demo import PLAN

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "govflow_model_deployment.py"
DAG_ID = "govflow_model_deployment"

# Seed 001 section 4: phase -> {step: task}.
STEP_TASKS = {
    "deployment_planning": {
        1: "create_deployment_plan",
        2: "assess_deployment_risk",
        3: "coordinate_stakeholders",
    },
    "preparation": {
        4: "prepare_environment",
        5: "prepare_release_package",
        6: "deploy_to_staging",
    },
    "readiness_verification": {
        7: "complete_checklist",
        8: "verify_compliance",
        9: "review_readiness",
    },
    "deployment_approval": {10: "approve_deployment", 11: "document_approval"},
    "deployment_execution": {
        12: "prepare_go_live",
        13: "execute_deployment",
        14: "verify_deployment",
        15: "decide_go_live",
    },
    "post_deployment": {
        16: "plan_post_deployment_verification",
        17: "update_documentation",
        18: "update_registration",
        19: "communicate_to_users",
        20: "close_deployment",
    },
}
HUMAN_STEPS = {
    "deployment_planning.create_deployment_plan": HumanForm,
    "deployment_planning.assess_deployment_risk": HumanForm,
    "readiness_verification.attest_checklist": HumanForm,
    "readiness_verification.verify_compliance": HumanForm,
    "deployment_approval.approve_deployment": ApprovalRequest,
    "deployment_execution.ask_system_owner": AskedAgainIfMalformed,
    "post_deployment.update_documentation": HumanForm,
    "post_deployment.update_registration": HumanForm,
    "post_deployment.close_deployment": HumanForm,
}


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


@pytest.fixture(scope="module")
def config():
    return load_config(settings.config_dir())


def test_the_dag_is_triggered_by_hand_with_typed_params_from_config(dag, config):
    assert dag.schedule is None
    params = {name: dag.params.get_param(name).schema for name in dag.params}
    assert params["model_id"]["enum"] == config.models.ids()
    assert params["deployment_type"]["enum"] == ["initial", "major", "minor", "patch", "rollback"]
    assert params["environment"]["enum"] == ["production", "staging"]
    assert params["version"]["minLength"] == 1
    assert params["justification"]["minLength"] == 1


def test_the_six_phases_are_task_groups_and_the_twenty_steps_are_their_tasks(dag):
    assert [group for group in dag.task_group.children if group != "finalise"] == list(STEP_TASKS)
    steps = {}
    for phase, tasks in STEP_TASKS.items():
        for number, task in tasks.items():
            assert f"{phase}.{task}" in dag.task_dict, f"step {number}"
            steps[number] = task
    assert sorted(steps) == list(range(1, 21))


def test_human_steps_are_mapped_hitl_tasks_named_after_the_role_they_ask(dag):
    for task_id, operator in HUMAN_STEPS.items():
        task = dag.get_task(task_id)
        assert task.operator_class is operator, task_id
        assert task.map_index_template == "{{ task.subject.split(':')[0] }}"
        assert task.partial_kwargs["retries"] == 0


def test_approvals_are_approve_or_reject_with_a_comment_and_reject_on_timeout(dag):
    approvals = dag.get_task("deployment_approval.approve_deployment")
    assert approvals.partial_kwargs["options"] == ["Approve", "Reject"]
    assert approvals.partial_kwargs["defaults"] == ["Reject"]
    assert {"comment", "conditions"} <= set(approvals.params)
    upstream = {task.task_id for task in approvals.upstream_list}
    assert upstream == {"readiness_verification.review_readiness"}


def test_a_failed_automated_step_comes_before_any_approval_request(dag):
    approvals = dag.get_task("deployment_approval.approve_deployment")
    before = {task.task_id for task in approvals.get_flat_relatives(upstream=True)}
    assert {
        "preparation.deploy_to_staging",
        "readiness_verification.complete_checklist",
    } <= before


def test_authorisation_publishes_the_model_deployed_asset(dag):
    task = dag.get_task("deployment_execution.authorise_rollout")
    assert [outlet.name for outlet in task.outlets] == ["govflow_model_deployed"]


def test_finalise_runs_whatever_happened_before_it(dag):
    task = dag.get_task("finalise")
    # A teardown's rule is all_done_setup_success (Airflow allows no other), which without
    # a setup task is all_done; unlike a plain all_done task, Airflow neither skips it nor
    # ends the run before it when the run is marked failed by hand.
    assert (task.trigger_rule, [t.task_id for t in dag.tasks if t.is_setup]) == (
        "all_done_setup_success",
        [],
    )
    assert (task.is_teardown, task.on_failure_fail_dagrun) == (True, True)
    assert {t.task_id for t in task.upstream_list} == {
        "post_deployment.close_deployment",
        "post_deployment.plan_post_deployment_verification",
        "deployment_execution.roll_back",
    }


@pytest.mark.parametrize(
    ("model_id", "requester", "expected"),
    [
        (
            "credit_approval",
            "sam",
            [
                ("System Owner", ["priya"]),
                ("Compliance Officer", ["carol"]),
                ("Risk Manager", ["rick"]),
                ("QA Lead", ["quinn"]),
                ("AI Governance Committee", ["gina"]),
            ],
        ),
        (
            "marketing_propensity",
            "olivia",
            [
                ("System Owner", ["priya"]),
                ("QA Lead", ["quinn"]),
                ("Deployment Manager", ["dave"]),
            ],
        ),
        (
            "product_recommendation",
            "eve",
            [("System Owner", ["olivia", "sam"]), ("Deployment Manager", ["dave"])],
        ),
    ],
)
def test_each_tier_expands_exactly_its_approvals_never_assigned_to_the_requester(
    dag, config, model_id, requester, expected
):
    approvals = dag.get_task("deployment_approval.approve_deployment")
    deployment = Deployment(
        ref="DEP-20261130-ABCDEF",
        model_id=model_id,
        model_version="1.1.0",
        deployment_type="minor",
        environment="production",
        justification="test",
        requested_by=requester,
        details={"risk_tier": config.models.get(model_id).risk_tier},
    )
    requests = approval_requests(
        config,
        deployment,
        assign_approvers(config, model_id=model_id, requested_by=requester),
        readiness_summary="",
    )
    expanded = [
        approvals.operator_class(
            task_id=f"approval_{index}",
            **{key: approvals.partial_kwargs[key] for key in ("options", "defaults")},
            params={name: approvals.params.get_param(name) for name in ("comment", "conditions")},
            **request.operator_kwargs(),
        )
        for index, request in enumerate(requests)
    ]
    assert [
        (task.subject.split(":")[0], [user["id"] for user in task.assigned_users])
        for task in expanded
    ] == expected
    assert all(requester not in [u["id"] for u in task.assigned_users] for task in expanded)


class _TaskInstance:
    """What a human step reads and writes of its task instance on resume."""

    def __init__(self, deadline: datetime) -> None:
        self.id = uuid.uuid4()
        self.task_id, self.map_index = "approval", 1
        self.pushed: dict[str, object] = {}
        self.stored = {"deadline": deadline.isoformat()}

    def xcom_pull(self, *, key: str, **_: object) -> object:
        return self.stored.get(key)

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def _approval_of_carol(dag, **kwargs):
    approvals = dag.get_task("deployment_approval.approve_deployment")
    return approvals.operator_class(
        task_id="approval",
        **{key: approvals.partial_kwargs[key] for key in ("options", "defaults")},
        # Copies: an answer is written into the operator's Params.
        params={
            name: copy.deepcopy(approvals.params.get_param(name))
            for name in ("comment", "conditions")
        },
        subject="Compliance Officer: approve",
        assigned_users=[{"id": "carol", "name": "Carol Chen"}],
        response_timeout=timedelta(hours=48),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("params_input", "problem"),
    [
        ({"comment": 42, "conditions": None}, "field 'comment' must be a string, not an integer"),
        (
            {"comment": "ok", "conditions": None, "override": "yes"},
            "the form has no field 'override'",
        ),
    ],
)
def test_a_malformed_answer_is_asked_again_with_its_problems_instead_of_failing_the_step(
    dag, monkeypatch, params_input, problem
):
    from airflow.sdk.exceptions import TaskAwaitingInput

    monkeypatch.setattr("govflow.flows.deployment.withdrawal_reason", lambda run_id: None)
    asked_again = []
    monkeypatch.setattr(
        "govflow_airflow.hitl.upsert_hitl_detail", lambda **kw: asked_again.append(kw)
    )
    deadline = datetime.now(UTC) + timedelta(hours=40)
    ti = _TaskInstance(deadline)
    event = {
        "chosen_options": ["Approve"],
        "params_input": params_input,
        "responded_at": datetime.now(UTC),
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
    }
    with pytest.raises(TaskAwaitingInput) as parked:
        _approval_of_carol(dag).execute_complete(
            {"task_instance": ti, "ti": ti, "run_id": "run"}, event
        )
    assert parked.value.method_name == "execute_complete"
    assert timedelta(hours=39, minutes=59) < parked.value.timeout <= timedelta(hours=40)
    assert [call["ti_id"] for call in asked_again] == [ti.id]
    assert ti.pushed["answer_problems"] == [{"by": "carol", "problems": [problem]}]


def test_a_well_formed_answer_is_the_steps_result(dag, monkeypatch):
    monkeypatch.setattr("govflow.flows.deployment.withdrawal_reason", lambda run_id: None)
    monkeypatch.setattr("govflow.flows.deployment.record_approval", lambda *args: None)
    monkeypatch.setattr("govflow_airflow.hitl.upsert_hitl_detail", pytest.fail)
    ti = _TaskInstance(datetime.now(UTC) + timedelta(hours=1))
    event = {
        "chosen_options": ["Approve"],
        "params_input": {"comment": "ready", "conditions": None},
        "responded_at": datetime.now(UTC),
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
    }
    result = _approval_of_carol(dag).execute_complete(
        {"task_instance": ti, "ti": ti, "run_id": "run"}, event
    )
    assert result["chosen_options"] == ["Approve"]
    assert result["responded_by_user"] == {"id": "carol", "name": "Carol Chen"}


def _plan_form_of_dave(dag):
    plan = dag.get_task("deployment_planning.create_deployment_plan")
    return plan.operator_class(
        task_id="plan",
        form_step=plan.partial_kwargs["form_step"],
        params={name: copy.deepcopy(plan.params.get_param(name)) for name in plan.params},
        subject="Deployment Manager: plan",
        assigned_users=[{"id": "dave", "name": "Dave Diaz"}],
        response_timeout=timedelta(hours=48),
    )


def _plan_answer(**window: str) -> dict:
    return {
        "chosen_options": ["OK"],
        "params_input": {**PLAN, **window},
        "responded_at": datetime.now(UTC),
        "responded_by_user": {"id": "dave", "name": "Dave Diaz"},
    }


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        (
            {"deployment_window_start": "tomorrow"},
            "the deployment window is not valid: 'tomorrow' is not an ISO date and time",
        ),
        (
            {"deployment_window_end": "2026-11-30T08:00:00+00:00"},
            "the deployment window is not valid: it ends (2026-11-30 08:00:00+00:00) before it "
            "starts (2026-12-01 08:00:00+00:00)",
        ),
    ],
)
def test_a_plan_whose_window_is_not_valid_is_asked_again_of_the_same_people(
    dag, monkeypatch, window, problem
):
    from airflow.sdk.exceptions import TaskAwaitingInput

    asked_again = []
    monkeypatch.setattr(
        "govflow_airflow.hitl.upsert_hitl_detail", lambda **kw: asked_again.append(kw)
    )
    ti = _TaskInstance(datetime.now(UTC) + timedelta(hours=40))
    with pytest.raises(TaskAwaitingInput) as parked:
        _plan_form_of_dave(dag).execute_complete(
            {"task_instance": ti, "ti": ti, "run_id": "run"}, _plan_answer(**window)
        )
    assert timedelta(hours=39, minutes=59) < parked.value.timeout <= timedelta(hours=40)
    assert [(call["ti_id"], call["assigned_users"]) for call in asked_again] == [
        (ti.id, [{"id": "dave", "name": "Dave Diaz"}])
    ]
    assert ti.pushed["answer_problems"] == [{"by": "dave", "problems": [problem]}]


def test_a_plan_with_a_valid_window_is_the_steps_result(dag, monkeypatch):
    monkeypatch.setattr("govflow_airflow.hitl.upsert_hitl_detail", pytest.fail)
    ti = _TaskInstance(datetime.now(UTC) + timedelta(hours=40))
    result = _plan_form_of_dave(dag).execute_complete(
        {"task_instance": ti, "ti": ti, "run_id": "run"}, _plan_answer()
    )
    assert result["params_input"]["deployment_window_start"] == PLAN["deployment_window_start"]
    assert result["responded_by_user"] == {"id": "dave", "name": "Dave Diaz"}


ANSWERED = {
    "chosen_options": ["Approve"],
    "params_input": {"comment": "ok", "conditions": None},
    "responded_at": "2026-11-30T09:00:00+00:00",
    "responded_by_user": {"id": "carol", "name": "Carol Chen"},
}


class _Approvals:
    """The return values of three mapped approval tasks: 0 answered, 1 marked success by hand
    (nothing returned), 2 with something else than an answer written under its key."""

    def xcom_pull(self, *, task_ids: str, map_indexes: int):
        assert task_ids == "deployment_approval.approve_deployment"
        return {0: ANSWERED, 2: {"chosen_options": ["Approve"]}}.get(map_indexes)


def test_approvals_are_read_task_by_task_and_one_without_a_human_answer_is_none(dag):
    from govflow_airflow.hitl import answers_of

    answers = answers_of(_Approvals(), "deployment_approval.approve_deployment", 3)
    assert answers == [ANSWERED, None, None]
    document = dag.get_task("deployment_approval.document_approval")
    assert {t.task_id for t in document.upstream_list} == {
        "deployment_approval.approve_deployment",
        "readiness_verification.review_readiness",
    }


WITHDRAWN_REASON = "the deployment was blocked: task deployment_approval.approve_deployment failed"


def _waiting_approval(dag, monkeypatch, *, stopped: str | None, left: timedelta):
    """Carol's approval, checking every 5 minutes, woken without an answer: the operator and
    its context."""
    monkeypatch.setattr("govflow.flows.deployment.withdrawal_reason", lambda run_id: stopped)
    monkeypatch.setattr("govflow.flows.deployment.record_approval", lambda *args: None)
    monkeypatch.setattr("govflow_airflow.hitl.upsert_hitl_detail", pytest.fail)
    ti = _TaskInstance(datetime.now(UTC) + left)
    operator = _approval_of_carol(dag, check_every=timedelta(minutes=5))
    return operator, {"task_instance": ti, "ti": ti, "run_id": "run"}


NO_ANSWER_YET = {"error": "no response", "error_type": "timeout"}


def test_an_approval_still_waiting_when_the_deployment_stops_is_withdrawn(dag, monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    operator, context = _waiting_approval(
        dag, monkeypatch, stopped=WITHDRAWN_REASON, left=timedelta(hours=40)
    )
    with pytest.raises(AirflowSkipException) as skipped:
        operator.execute_complete(context, NO_ANSWER_YET)
    assert str(skipped.value) == f"withdrawn, nobody needs to answer: {WITHDRAWN_REASON}"


def test_an_approval_waiting_on_a_deployment_in_progress_looks_again_in_five_minutes(
    dag, monkeypatch
):
    from airflow.sdk.exceptions import TaskAwaitingInput

    operator, context = _waiting_approval(dag, monkeypatch, stopped=None, left=timedelta(hours=40))
    with pytest.raises(TaskAwaitingInput) as parked:
        operator.execute_complete(context, NO_ANSWER_YET)
    assert parked.value.timeout == timedelta(minutes=5)


def test_an_approval_unanswered_at_its_deadline_is_a_rejection_by_nobody(dag, monkeypatch):
    operator, context = _waiting_approval(
        dag, monkeypatch, stopped=None, left=-timedelta(seconds=1)
    )
    result = operator.execute_complete(context, NO_ANSWER_YET)
    assert (result["chosen_options"], result["responded_by_user"]) == (["Reject"], None)
    assert result["params_input"] == {"comment": "", "conditions": None}


def test_an_approval_request_has_no_default_for_airflow_to_apply_and_wakes_to_check(
    dag, monkeypatch
):
    from airflow.sdk.exceptions import TaskAwaitingInput

    asked: list[dict] = []
    monkeypatch.setattr("govflow_airflow.hitl.upsert_hitl_detail", lambda **kw: asked.append(kw))
    ti = _TaskInstance(datetime.now(UTC))
    operator = _approval_of_carol(dag, check_every=timedelta(minutes=5))
    with pytest.raises(TaskAwaitingInput) as parked:
        operator.execute({"task_instance": ti, "ti": ti, "run_id": "run"})
    assert parked.value.timeout == timedelta(minutes=5)
    assert [call["defaults"] for call in asked] == [None]
    assert ti.pushed["deadline"] > datetime.now(UTC).isoformat()


def test_an_approval_answer_is_recorded_as_it_is_given_so_a_rejection_stops_at_once(
    dag, monkeypatch
):
    recorded = []
    monkeypatch.setattr("govflow.flows.deployment.withdrawal_reason", lambda run_id: None)
    monkeypatch.setattr(
        "govflow.flows.deployment.record_approval",
        lambda run_id, index, answer: recorded.append((run_id, index, answer["chosen_options"])),
    )
    ti = _TaskInstance(datetime.now(UTC) + timedelta(hours=1))
    event = {
        "chosen_options": ["Reject"],
        "params_input": {"comment": "EU declaration unsigned", "conditions": None},
        "responded_at": datetime.now(UTC),
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
    }
    _approval_of_carol(dag).execute_complete(
        {"task_instance": ti, "ti": ti, "run_id": "run"}, event
    )
    assert recorded == [("run", 1, ["Reject"])]
