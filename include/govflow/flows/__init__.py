"""The application layer: one module per DAG family, the functions its tasks and the CLI call.

Each function opens its own session, reads config/ and takes and returns small JSON-able
values (ids, summaries). Two outcomes are not results: :class:`Skipped` (nothing to do in
this run; the task is skipped), :class:`Refused` (the policy refuses the request; the
task fails without a retry) and :class:`Overdue` (a deadline was missed; the task fails
without a retry, the next run tries again). ``govflow_airflow.outcomes`` turns them into Airflow's.
"""


class Skipped(Exception):
    """Nothing to do in this run; the message says why."""


class Refused(Exception):
    """The request is refused (by the policy, or the deployment stopped); retrying won't help."""


class Overdue(Exception):
    """Work the policy gives a deadline missed it (a CRITICAL alert still undelivered): the
    task fails to say so, and the next scheduled run tries again."""


__all__ = ["Overdue", "Refused", "Skipped"]
