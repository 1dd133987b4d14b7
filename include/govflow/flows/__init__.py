"""The application layer: one module per DAG family, the functions its tasks and the CLI call.

Each function opens its own session, reads config/ and takes and returns small JSON-able
values (ids, summaries). Four outcomes are not results: :class:`Skipped` (nothing to do in
this run; the task is skipped), :class:`Refused` (the policy refuses the request; the
task fails without a retry), :class:`Overdue` (a deadline was missed; the task fails
without a retry, the next run tries again) and :class:`Broken` (what the run checks is
broken; the task fails without a retry). ``govflow_airflow.outcomes`` turns them into
Airflow's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govflow.config import GovflowConfig
    from govflow.config.people import User

NOT_A_PERSON = "{actor!r} is nobody in people.yaml: only a person named there can {may}"
NOT_A_MOMENT = "{field}: {value!r} is not {expected}"
A_DAY = "a date (YYYY-MM-DD)"
A_DATE_TIME = "a date and time (ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"


class Skipped(Exception):
    """Nothing to do in this run; the message says why."""


class Refused(Exception):
    """The request is refused (by the policy, or the deployment stopped); retrying won't help."""


class Overdue(Exception):
    """Work the policy gives a deadline missed it (a CRITICAL alert still undelivered): the
    task fails to say so, and the next scheduled run tries again."""


class Broken(Exception):
    """What the run checks is broken (the audit trail edited, cut short or rewritten): the task
    fails to say so at once, since a retry would find the same; the next scheduled run checks
    again."""


def known_person(config: GovflowConfig, actor: str | None, *, may: str) -> User:
    """``actor``'s entry in people.yaml; refused when it names nobody there, since the audit
    trail must name someone who answers for what they ``may`` do."""
    try:
        return config.people.user(actor or "")
    except KeyError:
        raise Refused(NOT_A_PERSON.format(actor=actor, may=may)) from None


@contextmanager
def refusing(*errors: type[Exception]) -> Iterator[None]:
    """Any of ``errors`` (a request the library refuses: an unknown incident, a policy that
    does not allow it) raised inside is :class:`Refused` in its own one line: a retry would
    ask the same. Other exceptions pass as they are, to be retried."""
    try:
        yield
    except errors as error:
        raise Refused(str(error)) from None


def form_moment(value: Any, *, field: str, expected: str = A_DAY) -> datetime:
    """The date or ISO time a form (a DAG's Params, a person's answer) gave as ``field``,
    as written: naive when it names no zone, which each form reads as its description says.
    A value that is none is refused in one line naming ``field`` ("param from") and the
    ``expected`` form, since a retry would read the same form."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise Refused(NOT_A_MOMENT.format(field=field, value=value, expected=expected)) from None


__all__ = [
    "A_DATE_TIME",
    "A_DAY",
    "NOT_A_MOMENT",
    "NOT_A_PERSON",
    "Broken",
    "Overdue",
    "Refused",
    "Skipped",
    "form_moment",
    "known_person",
    "refusing",
]
