"""The governance dashboard inside the Airflow UI (seed 004 section 6).

Mounts govflow's dashboard app at /govflow on the api-server and adds one "Governance"
entry to the UI's navigation; the dashboard's own navigation shows each person only the
pages policy.yaml's dashboard_access opens to their people.yaml roles.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from govflow_airflow.answer_guard import AnswerGuard

URL_PREFIX = "/govflow"


class GovflowDashboardPlugin(AirflowPlugin):
    name = "govflow_dashboard"
    external_views = [  # noqa: RUF012 (Airflow reads these class attributes)
        {
            "name": "Governance",
            "href": f"{URL_PREFIX}/",
            "url_route": "govflow",
            "destination": "nav",
            "category": "govflow",
        }
    ]

    # Refuses answers that stopped runs or malformed forms would lose, and audits task states
    # set by hand on govflow's runs (govflow_airflow.answer_guard; standard library only).
    fastapi_root_middlewares = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"middleware": AnswerGuard, "name": "govflow answer guard"}
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        # Built when first read, i.e. by the api-server: every task process loads the plugins
        # too (for macros) and would otherwise pay ~0.7 s to build an app it never serves.
        from govflow_airflow.dashboard import dashboard_app

        return [{"app": dashboard_app(), "url_prefix": URL_PREFIX, "name": "govflow dashboard"}]
