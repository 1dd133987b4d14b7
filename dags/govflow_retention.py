"""
### govflow_retention (seed 004 section 7, seed 001 section 8, EU AI Act Art. 19 and 26(6))

Every day at 05:30 UTC, each data type the governance store and the data directory hold is
purged once it is older than its period in policy.yaml `retention` (prediction logs 90 days,
183 for high-risk models; monitoring records 5 years; alerts 1 year; serving counters 1 year,
feedback 5 years, heartbeats 30 days; route history and closed deployments' records 10
years), except what a legal hold covers (`govflow hold add`, or govflow_legal_hold) and the
evidence of every incident not yet closed. Incidents, baselines and the audit trail are
never purged. Each purged batch is an audit event with its counts (`govflow audit query
--action retention.purged`), never the content. Then `airflow db clean` removes Airflow's
own metadata older than `retention.airflow_metadata`. With the Param `dry_run`, both only
list what would go.

A task that fails (the store briefly unreachable) is retried twice, 5 minutes apart; an
invalid config/ fails it at once, in one line naming the file and the key. Each
purged batch commits with its audit event, so a retry purges only what is left and records
no batch twice; `airflow db clean` again removes nothing more.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes


@task
def purge_expired_records(params=None) -> list:
    """Purge (or list) every data type past its retention period, holds excepted. An invalid
    config/ (a data type without a period) fails it once, in one line."""
    from govflow.flows.retention import purge_expired

    with airflow_outcomes():
        return purge_expired(dry_run=bool(params["dry_run"]))


@task
def clean_airflow_metadata(params=None) -> dict:
    """`airflow db clean` before the configured period; its output goes to this log. A
    policy that keeps Airflow's metadata indefinitely fails it once, in one line."""
    from govflow.flows.retention import clean_airflow_metadata as clean

    with airflow_outcomes():
        return clean(dry_run=bool(params["dry_run"]))


@dag(
    dag_id="govflow_retention",
    schedule="30 5 * * *",
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["govflow", "retention"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="List what would be purged per data type; delete nothing.",
        ),
    },
)
def govflow_retention():
    purge_expired_records() >> clean_airflow_metadata()


govflow_retention()
