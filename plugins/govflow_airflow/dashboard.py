"""The Airflow side of the governance dashboard (seed 004 section 6): who is logged in, and
how "Analyze Now" starts a run as them. Everything else is govflow.dashboard.

``get_user`` (airflow.api_fastapi.core_api.security) reads the Bearer token or the UI's
``_token`` cookie and answers 401/403 by itself; ``create_dashboard_app`` puts it on every
route. The run is created by ``airflow.api.common.trigger_dag.trigger_dag`` inside the
api-server, with ``triggering_user_name`` the logged-in user, as the REST trigger route does,
and only when Airflow's auth manager would let that user trigger the DAG too.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, Request

TRIGGER_FAILED = "Airflow did not create a run of {dag_id}"
NOT_LOADED = (
    "Airflow has not loaded the DAG {dag_id} yet (the dag-processor reads dags/ when it starts "
    "and when a file changes): ask again in a minute"
)
AIRFLOW_REFUSES = "missing permission airflow:trigger: Airflow does not let {user} trigger {dag_id}"


def airflow_user_name(request: Request, user: Annotated[BaseUser, Depends(get_user)]) -> str:
    """The logged-in user's name: under both SimpleAuthManager and FAB the username, which
    govflow reads as a people.yaml id. The user is kept on the request for trigger_as_user."""
    request.state.govflow_airflow_user = user
    return user.get_name()


def trigger_as_user(request: Request, *, user: str, dag_id: str, conf: dict[str, Any]) -> str:
    """Start ``dag_id`` as the logged-in user, if Airflow lets them trigger it: govflow's
    can_trigger_analysis is necessary, never sufficient (the REST trigger route asks the
    same of the auth manager)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    from govflow.dashboard import TriggerRefused, TriggerUnavailable

    allowed = get_auth_manager().is_authorized_dag(
        method="POST",
        access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=dag_id),
        user=request.state.govflow_airflow_user,
    )
    if not allowed:
        raise TriggerRefused(AIRFLOW_REFUSES.format(user=user, dag_id=dag_id))
    try:
        run = trigger_dag(
            dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user, conf=conf
        )
    except DagNotFound:
        raise TriggerUnavailable(NOT_LOADED.format(dag_id=dag_id)) from None
    if run is None:
        raise TriggerUnavailable(TRIGGER_FAILED.format(dag_id=dag_id))
    return str(run.run_id)


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in Airflow's UI (the dashboard opens in a frame of it)."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def run_state(dag_id: str, run_id: str) -> str | None:
    """Airflow's state of a run, read from its metadata database (the api-server's own)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        state = session.scalar(
            select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        )
    return None if state is None else str(state)


def draw_report(record_id: int, db_url: str | None) -> str:
    """A monitoring record's drift report, drawn in the api-server on request (evidently is
    imported on the first request only)."""
    from govflow.flows.monitoring import draw_report_on_request

    return draw_report_on_request(record_id, db_url=db_url)


def dashboard_app() -> FastAPI:
    from airflow.configuration import conf

    from govflow.dashboard import create_dashboard_app

    return create_dashboard_app(
        current_user=airflow_user_name,
        trigger_analysis=trigger_as_user,
        run_url=run_url,
        run_state=run_state,
        draw_report=draw_report,
        # Behind a proxy the browser's origin is the public address, not the Host it forwards.
        public_url=conf.get("api", "base_url", fallback="") or None,
    )
