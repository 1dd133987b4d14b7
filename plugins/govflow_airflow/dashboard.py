"""The Airflow side of the governance dashboard (seed 004 section 6): who is logged in, and
how "Analyze Now" starts a run as them. Everything else is govflow.dashboard.

``get_user`` (airflow.api_fastapi.core_api.security) reads the Bearer token or the UI's
``_token`` cookie and answers 401/403 by itself; ``create_dashboard_app`` puts it on every
route. The run is created by ``airflow.api.common.trigger_dag.trigger_dag`` inside the
api-server, with ``triggering_user_name`` the logged-in user, as the REST trigger route does.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI

TRIGGER_FAILED = "Airflow did not create a run of {dag_id}"


def airflow_user_name(user: Annotated[BaseUser, Depends(get_user)]) -> str:
    """The logged-in user's name: under both SimpleAuthManager and FAB the username, which
    govflow reads as a people.yaml id."""
    return user.get_name()


def trigger_as_user(*, user: str, dag_id: str, conf: dict[str, Any]) -> str:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    run = trigger_dag(
        dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user, conf=conf
    )
    if run is None:
        raise RuntimeError(TRIGGER_FAILED.format(dag_id=dag_id))
    return str(run.run_id)


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in Airflow's UI (the dashboard opens in a frame of it)."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def dashboard_app() -> FastAPI:
    from govflow.dashboard import create_dashboard_app

    return create_dashboard_app(
        current_user=airflow_user_name, trigger_analysis=trigger_as_user, run_url=run_url
    )
