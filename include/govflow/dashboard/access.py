"""Seed 004 section 6 "Monitoring Dashboard Access Control", decided by govflow.

Airflow authenticates the request; who may see which page and who may press "Analyze Now"
is decided here from the person's roles in people.yaml and policy.yaml's
``dashboard_access``, whatever auth manager Airflow runs (under SimpleAuthManager every
Viewer passes every custom view, so Airflow's roles cannot carry the seed's table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from govflow.config import GovflowConfig
from govflow.config.policy import ViewAccess
from govflow.monitoring.drift_report import FIGURES_PERMISSION

Page = Literal[
    "drift_overview",
    "fairness_monitor",
    "model_health",
    "incident_timeline",
    "deployments",
    "audit",
    "governance_reports",
    "my_actions",
]
ViewPermission = Page
Permission = ViewPermission | Literal["can_trigger_analysis"]

PAGES: tuple[Page, ...] = get_args(Page)
PAGE_TITLES: dict[Page, str] = {
    "drift_overview": "Drift Overview",
    "fairness_monitor": "Fairness Monitor",
    "model_health": "Model Health",
    "incident_timeline": "Incident Timeline",
    "deployments": "Deployments",
    "audit": "Audit",
    "governance_reports": "Reports",
    "my_actions": "My actions",
}
# The columns of policy.yaml's dashboard_access; "My actions" has none: it shows a person
# only what waits for them, so everyone people.yaml lists may open it.
_COLUMNS: tuple[ViewPermission, ...] = tuple(page for page in PAGES if page != "my_actions")
_RANK: dict[ViewAccess, int] = {"none": 0, "read_only": 1, "full": 2}

NOT_IN_PEOPLE = "{user} is not in people.yaml: the governance dashboard is for the people it lists"
MISSING_PERMISSION = (
    "missing permission {permission}: policy.yaml dashboard_access gives none of "
    "{user}'s roles ({roles}) {wanted}"
)


@dataclass(frozen=True)
class DashboardRights:
    """What one person may do on the dashboard: the most any of their roles allows."""

    user: str
    roles: tuple[str, ...]
    pages: dict[ViewPermission, ViewAccess]
    can_trigger_analysis: bool

    def visible_pages(self) -> list[Page]:
        return [page for page in PAGES if self.pages[page] != "none"]

    def withheld_checks(self) -> dict[str, ViewPermission]:
        """The check families whose verdicts and figures this person may not see, each with
        the page that shows them: a family's verdict is that page's content (the viewer opens
        the Drift Overview but neither the Fairness Monitor nor Model Health)."""
        return {
            check_type: page
            for check_type, page in FIGURES_PERMISSION.items()
            if self.pages[page] == "none"
        }

    def refusal(self, permission: Permission) -> str | None:
        """Why ``permission`` is refused (the 403 text), or None when it is granted."""
        if permission == "can_trigger_analysis":
            if self.can_trigger_analysis:
                return None
            wanted = "can_trigger_analysis: true"
        else:
            if self.pages[permission] != "none":
                return None
            wanted = f"{permission}: read_only or full"
        return MISSING_PERMISSION.format(
            permission=permission, user=self.user, roles=", ".join(self.roles), wanted=wanted
        )


class UnknownPerson(Exception):
    """The authenticated user is not a person of people.yaml."""

    def __init__(self, user: str) -> None:
        super().__init__(NOT_IN_PEOPLE.format(user=user))


def dashboard_rights(config: GovflowConfig, user: str) -> DashboardRights:
    """The rights of the people.yaml person ``user`` (the Airflow user name is their id).

    Raises UnknownPerson for anyone else: an Airflow account alone grants nothing here.
    """
    person = next((p for p in config.people.users if p.id == user), None)
    if person is None:
        raise UnknownPerson(user)
    access = config.policy.dashboard_access
    rows = [access[role] for role in person.roles if role in access]
    pages: dict[ViewPermission, ViewAccess] = {"my_actions": "read_only"}
    for column in _COLUMNS:
        granted: list[ViewAccess] = [getattr(row, column) for row in rows]
        pages[column] = max(granted, key=_RANK.__getitem__, default="none")
    return DashboardRights(
        user=user,
        roles=tuple(person.roles),
        pages=pages,
        can_trigger_analysis=any(row.can_trigger_analysis for row in rows),
    )
