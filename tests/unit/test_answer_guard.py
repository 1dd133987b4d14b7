"""The api-server's guard on govflow's runs (govflow_airflow.answer_guard), as ASGI middleware
around a stand-in for Airflow's app: what it refuses, what it audits and what it lets through
untouched. The user and the request's row in Airflow's database are given; the refusals'
audit events go to a real store. The whole path on a real Airflow is exercised by
tests/system/test_model_deployment.py (malformed, late and forced answers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from govflow import store
from govflow.audit import query_events
from govflow_airflow import answer_guard

RUN = "/api/v2/dags/govflow_incident_response/dagRuns/manual__1"
ANSWER = f"{RUN}/taskInstances/acknowledge/-1/hitlDetails"


class User:
    def get_id(self) -> str:
        return "carol"

    def get_name(self) -> str:
        return "carol"


class Airflow:
    """Records what reached it and answers ``status`` with ``answer`` (JSON)."""

    def __init__(self, status: int = 200, answer: Any = None) -> None:
        self.status = status
        self.answer = {} if answer is None else answer
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(self.answer).encode()})


def call(app: Any, path: str, body: dict[str, Any], method: str = "PATCH") -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []
    chunks = [json.dumps(body).encode()[:5], json.dumps(body).encode()[5:]]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    asyncio.run(answer_guard.AnswerGuard(app)(scope, receive, send))
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(payload) if payload else None


def waiting_request(**changes: Any) -> dict[str, Any]:
    return {
        "answered": False,
        "assignees": ["carol"],
        "options": ["Acknowledge"],
        "multiple": False,
        "fields": {"note": {"type": ["string", "null"]}},
        "ti_state": "deferred",
        "run_state": "running",
        **changes,
    }


@pytest.fixture
def guard_env(monkeypatch, fresh_store_env):
    store.upgrade(fresh_store_env)
    state = {"user": User(), "request": waiting_request()}

    async def user(scope):
        return state["user"]

    monkeypatch.setattr(answer_guard, "_user", user)
    monkeypatch.setattr(answer_guard, "_request_of", lambda where: state["request"])
    return state


def refused(url: str) -> list[tuple[str, str]]:
    with store.session_scope(url) as session:
        return [
            (e.actor, e.payload["reason"])
            for e in query_events(session, action="airflow.answer_refused")
        ]


def state_sets(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    with store.session_scope(url) as session:
        return [
            (e.actor, e.target, e.payload)
            for e in query_events(session, action="airflow.task_state_set")
        ]


def test_a_well_formed_answer_reaches_airflow_with_its_whole_body(guard_env, fresh_store_env):
    airflow = Airflow()
    answer = {"chosen_options": ["Acknowledge"], "params_input": {"note": "on it"}}

    assert call(airflow, ANSWER, answer) == (200, {})
    assert airflow.bodies == [json.dumps(answer).encode()]
    assert refused(fresh_store_env) == []


def test_a_malformed_answer_is_a_422_naming_its_problems_and_never_reaches_airflow(
    guard_env, fresh_store_env
):
    airflow = Airflow()

    status, body = call(airflow, ANSWER, {"chosen_options": ["Yes"], "params_input": {"note": 4}})

    assert status == 422
    assert body["detail"].startswith("the answer does not fit the request: ")
    assert "'Yes'" in body["detail"] and "note" in body["detail"]
    assert body["detail"].endswith("; answer again")
    assert airflow.bodies == []
    assert refused(fresh_store_env) == [("carol", body["detail"])]


@pytest.mark.parametrize(
    ("request_changes", "detail"),
    [
        (
            {"run_state": "failed"},
            "the run manual__1 has ended (failed): its requests take no answer any more",
        ),
        (
            {"ti_state": "skipped"},
            "this request no longer waits for an answer: its task is skipped",
        ),
    ],
    ids=["run-ended", "withdrawn"],
)
def test_an_answer_nobody_waits_for_is_a_409_with_the_reason(
    guard_env, fresh_store_env, request_changes, detail
):
    guard_env["request"] = waiting_request(**request_changes)
    airflow = Airflow()

    status, body = call(airflow, ANSWER, {"chosen_options": ["Acknowledge"], "params_input": {}})

    assert (status, body) == (409, {"detail": detail})
    assert airflow.bodies == []


@pytest.mark.parametrize(
    "request_changes",
    [{"assignees": ["rick"]}, {"answered": True}],
    ids=["not-assigned", "already-answered"],
)
def test_what_airflow_refuses_itself_is_left_to_airflow(guard_env, request_changes):
    guard_env["request"] = waiting_request(run_state="failed", **request_changes)
    airflow = Airflow(status=403)

    assert call(airflow, ANSWER, {"chosen_options": ["Acknowledge"]})[0] == 403
    assert len(airflow.bodies) == 1


def test_without_a_valid_user_everything_goes_to_airflow_untouched(guard_env):
    guard_env["user"] = None
    airflow = Airflow(status=401)

    assert call(airflow, ANSWER, {"chosen_options": ["Nope"]})[0] == 401
    assert call(airflow, f"{RUN}/taskInstances/acknowledge", {"new_state": "success"})[0] == 401
    assert len(airflow.bodies) == 2


def test_a_task_state_set_by_hand_is_audited_with_the_user_once_airflow_took_it(
    guard_env, fresh_store_env
):
    for status in (200, 409):
        call(Airflow(status), f"{RUN}/taskInstances/acknowledge/2", {"new_state": "success"})
    call(Airflow(), f"{RUN}/taskGroupInstances/response", {"new_state": "failed", "note": "n"})
    call(Airflow(), f"{RUN}/taskInstances/acknowledge/dry_run", {"new_state": "success"})

    target = "dag_run:govflow_incident_response/manual__1"
    assert state_sets(fresh_store_env) == [
        ("carol", target, {"task_id": "acknowledge", "map_index": 2, "new_state": "success"}),
        ("carol", target, {"group_id": "response", "new_state": "failed", "note": "n"}),
    ]


def test_a_bulk_change_audits_each_of_govflows_task_instances_airflow_updated(
    guard_env, fresh_store_env
):
    """The bulk endpoint, on one run or on ``~``: each govflow task instance Airflow lists as
    updated is audited; its errors, other DAGs' entities and a refused request are not."""
    deployment = "/api/v2/dags/govflow_model_deployment/dagRuns/manual__7"
    approve = {"task_id": "approvals.approve", "new_state": "success"}
    body = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {**approve, "map_index": 0},
                    {**approve, "map_index": 1},
                    {
                        "task_id": "t",
                        "dag_id": "example",
                        "dag_run_id": "r",
                        "new_state": "success",
                    },
                ],
            }
        ]
    }
    answer = {
        "update": {
            "success": [
                "govflow_model_deployment.manual__7.approvals.approve[0]",
                "example.r.t[-1]",
            ],
            "errors": [{"error": "the task instance is not found", "status_code": 404}],
        }
    }
    assert call(Airflow(answer=answer), f"{deployment}/taskInstances", body)[0] == 200
    assert call(Airflow(status=403), f"{deployment}/taskInstances", body)[0] == 403
    anywhere = {
        "actions": [
            {
                "action": "update",
                "update_mask": ["new_state"],
                "entities": [
                    {
                        "task_id": "acknowledge",
                        "dag_id": "govflow_incident_response",
                        "dag_run_id": "manual__1",
                        "new_state": "success",
                        "note": "masked out",
                    }
                ],
            },
            {"action": "delete", "entities": ["whatever"]},
        ]
    }
    answer = {"update": {"success": ["govflow_incident_response.manual__1.acknowledge[-1]"]}}
    assert (
        call(Airflow(answer=answer), "/api/v2/dags/~/dagRuns/~/taskInstances", anywhere)[0] == 200
    )

    assert state_sets(fresh_store_env) == [
        (
            "carol",
            "dag_run:govflow_model_deployment/manual__7",
            {"task_id": "approvals.approve", "map_index": 0, "new_state": "success"},
        ),
        (
            "carol",
            "dag_run:govflow_incident_response/manual__1",
            {"task_id": "acknowledge", "new_state": "success"},
        ),
    ]


def test_a_bulk_change_of_other_dags_only_passes_untouched(guard_env, fresh_store_env):
    airflow = Airflow(answer={"update": {"success": ["example.r.t[-1]"]}})
    body = {
        "actions": [{"action": "update", "entities": [{"task_id": "t", "new_state": "failed"}]}]
    }

    assert call(airflow, "/api/v2/dags/example/dagRuns/r/taskInstances", body)[0] == 200
    assert airflow.bodies == [json.dumps(body).encode()]
    assert state_sets(fresh_store_env) == []


def test_requests_on_other_dags_and_methods_pass_untouched(guard_env, fresh_store_env):
    airflow = Airflow()
    other = "/api/v2/dags/example/dagRuns/r/taskInstances/t/-1/hitlDetails"

    assert call(airflow, other, {"chosen_options": ["whatever"]})[0] == 200
    assert call(airflow, ANSWER, {"chosen_options": ["whatever"]}, method="GET")[0] == 200
    assert len(airflow.bodies) == 2
    assert refused(fresh_store_env) == []
