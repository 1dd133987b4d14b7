"""Seed 004 section 6: the governance dashboard (pages, access table, the FastAPI app).

Airflow-free: the Airflow plugin (plugins/govflow_dashboard.py) supplies the authenticated
user and the trigger of "Analyze Now"."""

from govflow.dashboard.access import (
    PAGES,
    DashboardRights,
    UnknownPerson,
    dashboard_rights,
)
from govflow.dashboard.app import (
    ON_DEMAND_DAG,
    AnalysisTrigger,
    TriggerRefused,
    TriggerUnavailable,
    create_dashboard_app,
)

__all__ = [
    "ON_DEMAND_DAG",
    "PAGES",
    "AnalysisTrigger",
    "DashboardRights",
    "TriggerRefused",
    "TriggerUnavailable",
    "UnknownPerson",
    "create_dashboard_app",
    "dashboard_rights",
]
