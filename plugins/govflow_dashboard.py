"""The governance dashboard inside the Airflow UI (seed 004 section 6).

Mounts govflow's dashboard app at /govflow on the api-server and adds one "Governance"
entry to the UI's navigation; the dashboard's own navigation shows each person only the
pages policy.yaml's dashboard_access opens to their people.yaml roles.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from govflow_airflow.dashboard import URL_PREFIX, dashboard_app


class GovflowDashboardPlugin(AirflowPlugin):
    name = "govflow_dashboard"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"app": dashboard_app(), "url_prefix": URL_PREFIX, "name": "govflow dashboard"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Governance",
            "href": f"{URL_PREFIX}/",
            "url_route": "govflow",
            "destination": "nav",
            "category": "govflow",
        }
    ]
