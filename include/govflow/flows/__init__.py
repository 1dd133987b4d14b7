"""The application layer: one module per DAG family, the functions its tasks and the CLI call.

Each function opens its own session, reads config/ and takes and returns small JSON-able
values (ids, summaries). Two outcomes are not results: :class:`Skipped` (nothing to do in
this run; the task is skipped), :class:`Refused` (the policy refuses the request; the
task fails without a retry) and :class:`Overdue` (a deadline was missed; the task fails
without a retry, the next run tries again). ``govflow_airflow.outcomes`` turns them into Airflow's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govflow.config import GovflowConfig
    from govflow.config.people import User

NOT_A_PERSON = "{actor!r} is nobody in people.yaml: only a person named there can {may}"


class Skipped(Exception):
    """Nothing to do in this run; the message says why."""


class Refused(Exception):
    """The request is refused (by the policy, or the deployment stopped); retrying won't help."""


class Overdue(Exception):
    """Work the policy gives a deadline missed it (a CRITICAL alert still undelivered): the
    task fails to say so, and the next scheduled run tries again."""


def known_person(config: GovflowConfig, actor: str | None, *, may: str) -> User:
    """``actor``'s entry in people.yaml; refused when it names nobody there, since the audit
    trail must name someone who answers for what they ``may`` do."""
    try:
        return config.people.user(actor or "")
    except KeyError:
        raise Refused(NOT_A_PERSON.format(actor=actor, may=may)) from None


__all__ = ["NOT_A_PERSON", "Overdue", "Refused", "Skipped", "known_person"]
