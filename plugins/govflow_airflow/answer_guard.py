"""The api-server's guard on govflow's runs (a root middleware of the govflow plugin).

Airflow's REST API (and the UI, which uses it) takes things from people that govflow must
refuse or remember (issue 13 item 10):

- an answer to a human-in-the-loop request whose run has ended, whose task no longer waits
  (a withdrawn request is skipped) or whose deployment stopped: Airflow says 200 and the
  answer goes nowhere; here it is a 409 with the reason, audited;
- an answer that does not fit its form (a field of the wrong type, a field the form does not
  have, an option it does not offer): Airflow says 200 and the task would fail on resume;
  here it is a 422 naming each problem, and the request stays open for a proper answer;
- a task state set by hand (``PATCH .../taskInstances/...`` or ``.../taskGroupInstances/...``,
  or in bulk, ``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances``, where ``~``
  stands for any DAG or run and each entity names its own): Airflow logs it in a table
  ``airflow db clean`` purges; here, once Airflow has taken it, it is an audit event naming
  the user, which the deployment's bypass check reads (a bulk change, for each of govflow's
  task instances Airflow reports as updated).

Only requests on govflow's DAGs with a valid Airflow user are looked at: anything else, and
anything the guard cannot decide, goes to Airflow untouched, whose own authentication and
authorisation still apply (an answer from someone not assigned is left for Airflow's 403).
This module imports only the standard library at import time: every task process loads
the plugins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RUN = r"/api/v2/dags/(?P<dag_id>govflow_[^/]+)/dagRuns/(?P<run_id>[^/]+)"
ANSWER = re.compile(RUN + r"/taskInstances/(?P<task_id>[^/]+)/(?P<map_index>-?\d+)/hitlDetails$")
STATE = re.compile(
    RUN + r"/(?:taskInstances/(?P<task_id>[^/]+)(?:/(?P<map_index>-?\d+))?"
    r"|taskGroupInstances/(?P<group_id>[^/]+))$"
)
BULK = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/(?P<run_id>[^/]+)/taskInstances$")
MAX_BODY_BYTES = 64 * 1024
# The most of a bulk change's response read to learn which task instances it updated.
MAX_RESPONSE_BYTES = 1024 * 1024
# Task states after which a request waits for nothing (a withdrawn request is skipped).
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
RUN_ENDED = "the run {run_id} has ended ({state}): its requests take no answer any more"
NOT_WAITING = "this request no longer waits for an answer: its task is {state}"
STOPPED = "{reason}: the answer is not counted"
MALFORMED = "the answer does not fit the request: {problems}; answer again"


class AnswerGuard:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        # Built by the api-server only (never in a task process): govflow's side of the
        # guard is imported now, not on the path of the first answer.
        import govflow.flows.guard  # noqa: F401

        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "PATCH":
            return await self.app(scope, receive, send)
        answer, state, bulk = ANSWER.search(path), STATE.search(path), BULK.search(path)
        # A bulk path may name no DAG (``~``): its entities say whether govflow's are changed.
        if bulk is None and ("/govflow_" not in path or (answer is None and state is None)):
            return await self.app(scope, receive, send)
        body, replay = await _read_body(receive)
        user = await _user(scope)
        if user is None or len(body) > MAX_BODY_BYTES:
            return await self.app(scope, replay, send)
        if bulk is not None:
            return await self._bulk(
                scope, replay, send, _bulk_changes(bulk.groupdict(), body), user
            )
        if answer is not None:
            refusal = await _refusal(answer.groupdict(), user, body)
            if refusal is None:
                return await self.app(scope, replay, send)
            code, detail = refusal
            await _respond(send, code, detail)  # then audited: the answerer never waits for it
            return await _record_refusal(answer.groupdict(), user, detail)
        status: dict[str, int] = {}
        await self.app(scope, replay, _watching(send, status))
        if state is not None and 200 <= status.get("code", 0) < 300:
            await _record_state_set(state.groupdict(), user, body)

    async def _bulk(
        self, scope: Scope, receive: Receive, send: Send, changes: list[BulkChange], user: Any
    ) -> None:
        """A bulk change reaches Airflow as it came; each of govflow's task instances that
        Airflow's response lists as updated is then audited like a change of one."""
        if not changes:
            return await self.app(scope, receive, send)
        status: dict[str, int] = {}
        response = bytearray()
        await self.app(scope, receive, _watching(send, status, response))
        if not 200 <= status.get("code", 0) < 300 or len(response) > MAX_RESPONSE_BYTES:
            return
        updated = _updated_keys(bytes(response))
        taken = [change for change in changes if _was_updated(change, updated)]
        if taken:
            await _record_bulk(taken, user)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The request's body (at most MAX_BODY_BYTES and one chunk more are read) and a
    ``receive`` that hands the app what was read, then the rest."""
    chunks: list[bytes] = []
    more = True
    while more and sum(map(len, chunks)) <= MAX_BODY_BYTES:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, unread = b"".join(chunks), more
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": unread}

    return body, replay


async def _user(scope: Scope) -> Any:
    """The Airflow user of the request's Bearer token or the UI's cookie, or None."""
    from airflow.api_fastapi.core_api.security import (
        COOKIE_NAME_JWT_TOKEN,
        resolve_user_from_token,
    )
    from starlette.requests import Request

    request = Request(scope)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer"
    token = credentials if bearer else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    try:
        return await resolve_user_from_token(token)
    except Exception:  # no or a bad token: Airflow answers it
        return None


def _watching(send: Send, status: dict[str, int], body: bytearray | None = None) -> Send:
    """``send``, noting the response's status (and, into ``body``, the first
    MAX_RESPONSE_BYTES and one chunk more of its body)."""

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
        elif body is not None and len(body) <= MAX_RESPONSE_BYTES:
            body.extend(message.get("body", b""))
        await send(message)

    return watched


BulkChange = tuple[str, str, dict[str, Any]]
"""A task instance of one of govflow's runs that a bulk request changes: DAG, run, change."""


def _bulk_changes(where: dict[str, str], body: bytes) -> list[BulkChange]:
    """The changes a bulk request asks of govflow's task instances (an entity names its own
    DAG and run where the path has ``~``; an ``update_mask`` limits what is applied)."""
    try:
        requested = json.loads(body or b"{}")
    except ValueError:
        return []
    actions = requested.get("actions") if isinstance(requested, dict) else None
    changes: list[BulkChange] = []
    for action in actions if isinstance(actions, list) else []:
        if not isinstance(action, dict) or action.get("action") != "update":
            continue
        mask = action.get("update_mask")
        for entity in action.get("entities") or []:
            if not isinstance(entity, dict):
                continue
            dag_id = entity.get("dag_id") or where["dag_id"]
            run_id = entity.get("dag_run_id") or where["run_id"]
            task_id, map_index = entity.get("task_id"), entity.get("map_index")
            if not (
                isinstance(dag_id, str)
                and dag_id.startswith("govflow_")
                and isinstance(run_id, str)
                and run_id != "~"
                and isinstance(task_id, str)
            ):
                continue
            change = {
                key: value
                for key, value in {
                    "task_id": task_id,
                    "map_index": map_index if isinstance(map_index, int) else None,
                    "new_state": entity.get("new_state"),
                    "note": entity.get("note"),
                }.items()
                if value is not None and (key in ("task_id", "map_index") or _applied(key, mask))
            }
            if "new_state" in change or "note" in change:
                changes.append((dag_id, run_id, change))
    return changes


def _applied(field: str, mask: Any) -> bool:
    return not isinstance(mask, list) or field in mask


def _updated_keys(response: bytes) -> list[str]:
    """The task instances a bulk response lists as updated (``dag.run.task[map_index]``)."""
    try:
        answered = json.loads(response or b"{}")
    except ValueError:
        return []
    update = answered.get("update") if isinstance(answered, dict) else None
    success = update.get("success") if isinstance(update, dict) else None
    return [key for key in success if isinstance(key, str)] if isinstance(success, list) else []


def _was_updated(change: BulkChange, updated: list[str]) -> bool:
    dag_id, run_id, fields = change
    prefix = f"{dag_id}.{run_id}.{fields['task_id']}["
    if "map_index" in fields:
        return f"{prefix}{fields['map_index']}]" in updated
    return any(key.startswith(prefix) for key in updated)


async def _respond(send: Send, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refusal(where: dict[str, str], user: Any, body: bytes) -> tuple[int, str] | None:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_judge_answer, where, user.get_id(), body)


def _judge_answer(where: dict[str, str], user_id: str, body: bytes) -> Any:
    """(status, reason) refusing the answer, or None to let Airflow take it."""
    request = _request_of(where)
    if request is None or request["answered"]:
        return None
    if request["assignees"] and str(user_id) not in request["assignees"]:
        return None  # not theirs to answer: Airflow's 403
    import govflow.flows.guard as guard
    from govflow.answers import answer_problems

    dag_id, run_id = where["dag_id"], where["run_id"]
    reason = guard.stopped_reason(dag_id, run_id)
    code, detail = 409, STOPPED.format(reason=reason) if reason else None
    if detail is None and request["run_state"] != "running":
        detail = RUN_ENDED.format(run_id=run_id, state=request["run_state"])
    if detail is None and request["ti_state"] in FINISHED:
        detail = NOT_WAITING.format(state=request["ti_state"])
    if detail is None:
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            return None  # not JSON: Airflow's 422
        if not isinstance(answer, dict):
            return None
        problems = answer_problems(
            answer.get("chosen_options") or [],
            answer.get("params_input") or {},
            options=request["options"],
            multiple=request["multiple"],
            fields=request["fields"],
        )
        code, detail = 422, MALFORMED.format(problems="; ".join(problems)) if problems else None
    return None if detail is None else (code, detail)


def _request_of(where: dict[str, str]) -> dict[str, Any] | None:
    """The request's form, assignees and states from Airflow's database, or None."""
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.execute(
            select(HITLDetail, TaskInstance.state, DagRun.state)
            .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
            .join(
                DagRun,
                (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id),
            )
            .where(
                TaskInstance.dag_id == where["dag_id"],
                TaskInstance.run_id == where["run_id"],
                TaskInstance.task_id == where["task_id"],
                TaskInstance.map_index == int(where["map_index"]),
            )
        ).first()
        if found is None:
            return None
        detail, ti_state, run_state = found
        return {
            "answered": bool(detail.response_received),
            "assignees": [str(user["id"]) for user in detail.assignees or []],
            "options": list(detail.options or []),
            "multiple": bool(detail.multiple),
            "fields": {
                name: (param or {}).get("schema", {})
                for name, param in (detail.params or {}).items()
            },
            "ti_state": str(ti_state or ""),
            "run_state": str(run_state or ""),
        }


async def _record_refusal(where: dict[str, str], user: Any, detail: str) -> None:
    from starlette.concurrency import run_in_threadpool

    import govflow.flows.guard as guard

    task = {"task_id": where["task_id"], "map_index": int(where["map_index"])}
    await run_in_threadpool(
        guard.record_refused_answer, user.get_name(), where["dag_id"], where["run_id"], task, detail
    )


async def _record_state_set(where: dict[str, str], user: Any, body: bytes) -> None:
    from starlette.concurrency import run_in_threadpool

    import govflow.flows.guard as guard

    try:
        requested = json.loads(body or b"{}")
    except ValueError:
        requested = {}
    requested = requested if isinstance(requested, dict) else {}
    change = {
        key: value
        for key, value in {
            "task_id": where.get("task_id"),
            "map_index": None if where.get("map_index") is None else int(where["map_index"]),
            "group_id": where.get("group_id"),
            "new_state": requested.get("new_state"),
            "note": requested.get("note"),
        }.items()
        if value is not None
    }
    await run_in_threadpool(
        guard.record_state_set, user.get_name(), where["dag_id"], where["run_id"], change
    )


async def _record_bulk(changes: list[BulkChange], user: Any) -> None:
    from starlette.concurrency import run_in_threadpool

    import govflow.flows.guard as guard

    await run_in_threadpool(guard.record_states_set, user.get_name(), changes)
