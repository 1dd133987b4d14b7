"""govflow's two outcomes that are not results, as Airflow's: a skipped task, a failed one.

``govflow.flows.Skipped`` (nothing to do in this run) skips the task;
``govflow.flows.Refused`` (the policy refuses the request, or the deployment stopped) fails
it without a retry, since retrying cannot change the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


@contextmanager
def airflow_outcomes() -> Iterator[None]:
    """Run a govflow flow; its Skipped and Refused become Airflow's skip and failure."""
    from govflow.flows import Refused, Skipped

    try:
        yield
    except Skipped as skipped:
        raise AirflowSkipException(str(skipped)) from None
    except Refused as refused:
        raise AirflowFailException(str(refused)) from None
