"""govflow's outcomes that are not results, as Airflow's: a skipped task, a failed one.

``govflow.flows.Skipped`` (nothing to do in this run) skips the task;
``govflow.flows.Refused`` (the policy refuses the request, or the deployment stopped),
``govflow.flows.Overdue`` (a deadline was missed: a CRITICAL alert still undelivered) and
``govflow.flows.Broken`` (what the run checks is broken: the audit trail) fail it without a
retry, since retrying within the run cannot change the answer. So does
``govflow.config.ConfigError`` (config/ is invalid), in one line naming the file and the key:
a retry reads the same files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


@contextmanager
def airflow_outcomes() -> Iterator[None]:
    """Run a govflow flow; its Skipped, and Refused, Overdue or Broken, become Airflow's skip
    and failure; so does a ConfigError, in its one line."""
    from govflow.config import ConfigError
    from govflow.flows import Broken, Overdue, Refused, Skipped

    try:
        yield
    except Skipped as skipped:
        raise AirflowSkipException(str(skipped)) from None
    except (Refused, Overdue, Broken) as failed:
        raise AirflowFailException(str(failed)) from None
    except ConfigError as invalid:
        raise AirflowFailException(invalid.one_line()) from None


def failed_steps(ti, run_id: str) -> list[str]:
    """The tasks of ``ti``'s run that failed so far, sorted (for a run's last step)."""
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
    return sorted(task_id for task_id, state in states.items() if state == "failed")
