"""
### govflow_audit_verification

Seed 003 (immutable audit trail) and seed 004 section 5 (record-keeping): every day at 01:00
UTC the hash chain of the governance store's audit trail is walked from the first event to
the newest and held against the latest signed checkpoint, which every committed batch of
events advances outside the store. The task fails, naming the first event that does not
fit, if any event was edited, deleted, inserted or reordered, and naming the missing range
if events the checkpoint covers are gone. On success it signs a checkpoint of the verified
head and logs the number of events, the newest hash and the checkpoint, so the chain head is
also kept in Airflow's task logs.

A broken chain fails the task at once, unretried: a retry would walk the same chain. A run
that fails otherwise (the store briefly unreachable) is retried twice, 5 minutes apart; it
records no audit event, and a checkpoint is appended only when it covers more events than
the last, so a retry or a cleared task adds nothing the first try wrote.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from govflow_airflow.outcomes import airflow_outcomes


@dag(
    dag_id="govflow_audit_verification",
    schedule="0 1 * * *",
    start_date=datetime(2025, 3, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["govflow", "audit"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
)
def govflow_audit_verification():
    @task
    def verify_audit_chain() -> dict[str, object]:
        """Walk the hash chain against the latest checkpoint, then checkpoint its head; a
        broken chain fails once, in one line."""
        from govflow.flows.audit import verify_audit_chain as verify

        with airflow_outcomes():
            return verify(advance=True)

    verify_audit_chain()


govflow_audit_verification()
