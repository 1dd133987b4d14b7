"""
### govflow_incident_escalation (seed 004 sections 3.1, 3.2 and 12)

The escalation sweeper, every five minutes. Any incident still **open** (unacknowledged)
15 minutes after it was opened or reopened (policy.yaml `escalation.acknowledgement_minutes`)
goes to its path's secondary; a CRITICAL data or model incident still unresolved after
4 hours goes to the executive (seed 004 table 3.2). An incident a `govflow_incident_response`
run covers is left to that run until then: the run escalates to the executive only while
nobody acknowledges, so the 4-hour rule is kept here for it too. Each escalation is an
incident event, an audit event and one Slack message (the severity's channel, mentioning
who is now responsible) plus one e-mail, sent at once through `slack_default` /
`smtp_default`; a failed send stays in the outbox for `govflow_alert_delivery` to retry.

The same run expires accepted-risk exceptions whose suppression has ended (seed 004
section 12): the incident reopens when the condition persists, else it is resolved.

Idempotent: a retried or overlapping sweep finds every escalation already recorded and
sends nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task

from govflow_airflow.outcomes import airflow_outcomes


@task
def sweep_incidents() -> dict:
    """Escalate overdue incidents and expire ended risk acceptances; list what was done."""
    from govflow.flows.escalation import sweep_incidents as sweep

    with airflow_outcomes():
        return sweep()


@task
def deliver_notifications(swept: dict) -> dict:
    """Send the sweep's Slack messages and e-mails now, not at the next delivery run."""
    from govflow_airflow.connections import deliver_now

    return deliver_now(swept["alert_ids"])


@dag(
    dag_id="govflow_incident_escalation",
    schedule="*/5 * * * *",
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    doc_md=__doc__,
    tags=["govflow", "incidents"],
)
def govflow_incident_escalation():
    deliver_notifications(sweep_incidents())


govflow_incident_escalation()
