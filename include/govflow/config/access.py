"""Seed 004 section 6 "Monitoring Dashboard Access Control": people.yaml roles as Airflow roles.

docker-compose.yaml runs Airflow with the FAB auth manager, whose built-in roles are nested:
Viewer < User < Op < Admin. Each govflow role maps to the least of them that lets its holders
do what the seeds ask of them:

- ``admin`` -> Admin: everything, users and roles included (section 6).
- ``ml_engineer``, ``ml_lead`` -> Op: section 6 gives ML engineers every view and "Analyze
  Now"; on call (section 3.2) they also fix connections, pools and variables.
- ``system_owner``, ``compliance_officer``, ``risk_manager``, ``qa_lead``,
  ``ai_governance_committee``, ``deployment_manager``, ``cto``, ``ceo`` -> User: they answer
  approvals (seed 001) and incident steps, human-in-the-loop tasks whose answer FAB allows
  from User up.
- ``auditor``, ``viewer`` -> Viewer: read-only (section 6).

A person holding several roles gets the highest of their FAB roles. The FAB roles are
coarser than seed 004's table: a User may trigger any DAG, while the seed denies compliance
officers "Can Trigger Analysis"; Airflow enforces only the FAB role.

Passwords are never in config/: the Admin's comes from ``GOVFLOW_ADMIN_PASSWORD``, everyone
else's from ``GOVFLOW_USERS_PASSWORD``; without it each user gets a random password that an
Admin resets (``airflow users reset-password``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from govflow.config.people import PeopleFile
from govflow.config.vocabulary import Role

FabRole = Literal["Admin", "Op", "User", "Viewer"]

FAB_ROLES_BY_PRIVILEGE: tuple[FabRole, ...] = ("Viewer", "User", "Op", "Admin")

FAB_ROLE_OF_ROLE: dict[Role, FabRole] = {
    "admin": "Admin",
    "ml_engineer": "Op",
    "ml_lead": "Op",
    "system_owner": "User",
    "compliance_officer": "User",
    "risk_manager": "User",
    "qa_lead": "User",
    "ai_governance_committee": "User",
    "deployment_manager": "User",
    "cto": "User",
    "ceo": "User",
    "auditor": "Viewer",
    "viewer": "Viewer",
}

ADMIN_PASSWORD_ENV = "GOVFLOW_ADMIN_PASSWORD"
USERS_PASSWORD_ENV = "GOVFLOW_USERS_PASSWORD"

NO_ROLES = "a person needs at least one role to get an Airflow role"
UNEXPECTED_USERS_LIST = "`airflow users list -o json` did not print a JSON list of users: {output}"


def fab_role_of(roles: Iterable[Role]) -> FabRole:
    """The FAB role of someone holding ``roles``: the highest that any of them maps to."""
    mapped = [FAB_ROLE_OF_ROLE[role] for role in roles]
    if not mapped:
        raise ValueError(NO_ROLES)
    return max(mapped, key=FAB_ROLES_BY_PRIVILEGE.index)


@dataclasses.dataclass(frozen=True)
class AirflowUser:
    """One person of people.yaml as an Airflow (FAB) user."""

    username: str
    first_name: str
    last_name: str
    email: str
    role: FabRole

    @property
    def password_env(self) -> str:
        """The environment variable that holds this user's initial password."""
        return ADMIN_PASSWORD_ENV if self.role == "Admin" else USERS_PASSWORD_ENV


def airflow_users(people: PeopleFile) -> list[AirflowUser]:
    """Everyone in people.yaml, in file order; the username is the people.yaml id."""
    users = []
    for person in people.users:
        first_name, _, last_name = person.name.rpartition(" ")
        users.append(
            AirflowUser(
                username=person.id,
                # FAB wants both names: a one-word name serves as both.
                first_name=first_name or last_name,
                last_name=last_name,
                email=person.email,
                role=fab_role_of(person.roles),
            )
        )
    return users


def _create_arguments(user: AirflowUser) -> list[str]:
    return [
        "airflow",
        "users",
        "create",
        "--username",
        user.username,
        "--firstname",
        user.first_name,
        "--lastname",
        user.last_name,
        "--email",
        user.email,
        "--role",
        user.role,
    ]


def users_create_shell_line(user: AirflowUser) -> str:
    """The ``airflow users create`` line for a shell: the password stays a variable reference."""
    return f'{shlex.join(_create_arguments(user))} --password "${user.password_env}"'


def users_create_command(user: AirflowUser, environ: Mapping[str, str]) -> list[str]:
    """The ``airflow users create`` argument list, with the password read from ``environ``
    (a random one when the variable is unset or empty)."""
    password = environ.get(user.password_env)
    if password:
        return [*_create_arguments(user), "--password", password]
    return [*_create_arguments(user), "--use-random-password"]


def usernames_listed(users_list_output: str) -> set[str]:
    """The usernames in the output of ``airflow users list -o json``.

    The JSON is the last line: Airflow may print warnings on stdout before it.
    """
    lines = [line for line in users_list_output.splitlines() if line.startswith("[")]
    try:
        listed = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise ValueError(UNEXPECTED_USERS_LIST.format(output=users_list_output[-200:])) from None
    return {entry["username"] for entry in listed}


def users_to_create(users: Iterable[AirflowUser], existing: Collection[str]) -> list[AirflowUser]:
    """The users Airflow does not know yet: creation is idempotent, roles of existing users
    are left as an Admin set them."""
    return [user for user in users if user.username not in existing]


def simple_auth_manager_users(users: Iterable[AirflowUser]) -> str:
    """``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS`` for ``users``: ``id:role`` pairs with the
    SimpleAuthManager's role names (the FAB roles in lower case: admin, op, user, viewer)."""
    return ",".join(f"{user.username}:{user.role.lower()}" for user in users)
