"""People, roles, on-call rotation and Slack channels of ``config/people.yaml``.

Seed 004 section 3.2 names the on-call rotation (primary: ML engineers weekly; secondary:
senior ML engineers; the compliance officer always on call for fairness), seed 001
section 2 and seed 004 section 6 the roles. Only names and addresses live here: Slack
webhooks and tokens are Airflow connections, never config.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from govflow.config.vocabulary import SNAKE_CASE, Role, StrictModel, located_error

UserId = Annotated[str, Field(pattern=SNAKE_CASE)]

DUPLICATE_USER = "user {user} is listed more than once"
UNKNOWN_MEMBER = "user {user} is not in users"


class User(StrictModel):
    id: UserId
    name: str
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    slack_member_id: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]+$")] | None = None
    roles: Annotated[list[Role], Field(min_length=1)]


class WeeklyRotation(StrictModel):
    """Members take turns a week at a time, counted from ``start`` (00:00 UTC)."""

    start: date
    members: Annotated[list[str], Field(min_length=1)]

    def on_duty(self, at: datetime) -> str:
        weeks = (at.date() - self.start).days // 7
        return self.members[weeks % len(self.members)]


class OnCallGroup(StrictModel):
    members: Annotated[list[str], Field(min_length=1)]


class OnCall(StrictModel):
    primary: WeeklyRotation
    secondary: OnCallGroup
    fairness: OnCallGroup

    def members_of(self, rotation: Literal["primary", "secondary", "fairness"]) -> list[str]:
        group: WeeklyRotation | OnCallGroup = getattr(self, rotation)
        return list(group.members)


class PeopleFile(StrictModel):
    """The whole of ``config/people.yaml``."""

    users: list[User]
    on_call: OnCall
    slack_channels: dict[
        Annotated[str, Field(pattern=SNAKE_CASE)], Annotated[str, Field(pattern=r"^#[a-z0-9_-]+$")]
    ]

    @model_validator(mode="after")
    def _references_resolve(self) -> PeopleFile:
        ids: set[str] = set()
        for index, user in enumerate(self.users):
            if user.id in ids:
                raise located_error(f"users.{index}.id", DUPLICATE_USER.format(user=user.id))
            ids.add(user.id)
        rotations: tuple[Literal["primary", "secondary", "fairness"], ...] = (
            "primary",
            "secondary",
            "fairness",
        )
        for rotation in rotations:
            for index, member in enumerate(self.on_call.members_of(rotation)):
                if member not in ids:
                    path = f"on_call.{rotation}.members.{index}"
                    raise located_error(path, UNKNOWN_MEMBER.format(user=member))
        return self

    def user(self, user_id: str) -> User:
        for user in self.users:
            if user.id == user_id:
                return user
        raise KeyError(f"no user {user_id!r} in people.yaml")

    def holders(self, role: Role) -> list[str]:
        """Ids of the users holding ``role``, in file order."""
        return [user.id for user in self.users if role in user.roles]

    def channel(self, key: str) -> str:
        return self.slack_channels[key]

    def on_call_primary(self, at: datetime) -> str:
        return self.on_call.primary.on_duty(at)


def distinct_representatives(choices: list[list[str]]) -> dict[str, int] | None:
    """One different person for each role: person -> index of the role they take, or None
    when no such assignment exists (a bipartite matching by Kuhn's augmenting paths).

    Roles are placed in the order given and each role tries its people in the order given,
    so the same choices always give the same answer.
    """
    assigned: dict[str, int] = {}

    def place(role_index: int, tried: set[str]) -> bool:
        for person in choices[role_index]:
            if person in tried:
                continue
            tried.add(person)
            if person not in assigned or place(assigned[person], tried):
                assigned[person] = role_index
                return True
        return False

    if all(place(index, set()) for index in range(len(choices))):
        return assigned
    return None


def one_role_each(choices: list[list[str]]) -> list[list[str]] | None:
    """Who is asked for each role so that nobody is asked twice: one different person per
    role (:func:`distinct_representatives`), then everyone left over joins the first role
    they may take; each role keeps its people in the order given. None when the roles
    cannot each have a person of their own."""
    matched = distinct_representatives(choices)
    if matched is None:
        return None
    for person in dict.fromkeys(p for people in choices for p in people):
        if person not in matched:
            matched[person] = next(i for i, people in enumerate(choices) if person in people)
    return [[p for p in people if matched[p] == index] for index, people in enumerate(choices)]
