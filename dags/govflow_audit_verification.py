"""
### govflow_audit_verification

Seed 003 (immutable audit trail) and seed 004 section 5 (record-keeping): every day at 01:00
UTC the hash chain of the governance store's audit trail is walked from the first event to
the newest. The task fails, naming the first event that does not fit, if any event was
edited, deleted, inserted or reordered. On success it logs the number of events and the
newest hash, so the chain head is also kept outside the store (in Airflow's task logs).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(
    dag_id="govflow_audit_verification",
    schedule="0 1 * * *",
    start_date=datetime(2025, 3, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["govflow", "audit"],
)
def govflow_audit_verification():
    @task
    def verify_audit_chain() -> dict[str, object]:
        """Walk the hash chain; fail naming the first event that does not fit."""
        from govflow.flows.audit import verify_audit_chain as verify

        return verify()

    verify_audit_chain()


govflow_audit_verification()
