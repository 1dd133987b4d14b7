"""What the api-server's guard (``govflow_airflow.answer_guard``) asks of govflow:
whether a request of a run still takes an answer, and the audit events of what people did to
govflow's runs through Airflow's REST API or UI.

Airflow takes an answer to a human-in-the-loop request of a run that has stopped (200, and
the answer goes nowhere), and its log of who set a task's state by hand is purged by
``airflow db clean``. govflow keeps both in its own hash-chained trail: who answered a request
too late or with a malformed answer, and who set which task of which run to which state.
"""

from __future__ import annotations

from typing import Any

from govflow import store
from govflow.audit import STATE_SET_BY_HAND, record_event, run_target
from govflow.deployment import workflow
from govflow.deployment.procedure import DEPLOYMENT_DAG

ANSWER_REFUSED = "airflow.answer_refused"


def stopped_reason(dag_id: str, run_id: str) -> str | None:
    """Why the run's requests take no answer any more (the deployment stopped), or None."""
    if dag_id != DEPLOYMENT_DAG:
        return None
    try:
        return workflow.stopped_run_reason(None, run_id)
    except LookupError:  # a run that opened no deployment: Airflow's own checks decide
        return None


def record_state_set(actor: str, dag_id: str, run_id: str, change: dict[str, Any]) -> None:
    """Audit a task state set by hand (``change``: the task, its map index or group, and
    the new state, as the request named them)."""
    record_states_set(actor, [(dag_id, run_id, change)])


def record_states_set(actor: str, changes: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Audit task states set by hand in one request (Airflow's bulk endpoint): one event
    per (DAG, run, change), written in one transaction."""
    with store.session_scope() as session:
        for dag_id, run_id, change in changes:
            _record(session, actor, STATE_SET_BY_HAND, dag_id, run_id, change)


def record_refused_answer(
    actor: str, dag_id: str, run_id: str, task: dict[str, Any], reason: str
) -> None:
    """Audit an answer the guard refused, with the reason the answerer was given."""
    with store.session_scope() as session:
        _record(session, actor, ANSWER_REFUSED, dag_id, run_id, {**task, "reason": reason})


def _record(
    session: Any, actor: str, action: str, dag_id: str, run_id: str, payload: dict[str, Any]
) -> None:
    record_event(
        session,
        actor=actor,
        action=action,
        target=run_target(dag_id, run_id),
        payload=payload,
        severity="WARNING",
    )
