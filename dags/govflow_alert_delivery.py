"""
### govflow_alert_delivery (seed 004 sections 2.1, 8 and 11)

Every minute, sends what waits in the alert outbox of the governance store: CRITICAL alerts
first, then digests and notices (baseline reviews, monitor-the-monitor), each exactly once.
Slack goes through the Airflow connection `slack_default` (a `slackwebhook` connection whose
password is the webhook URL, or the token path under `hooks.slack.com/services`), e-mail
through `smtp_default` (host, port, login, password; `from_email` and `starttls` in its
extra). A channel without a connection keeps its alerts in the outbox, listed in this task's
log, until one is configured: nothing is dropped. A failing channel is retried with backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task

from govflow_airflow.connections import slack_webhook_url, smtp_settings


@dag(
    dag_id="govflow_alert_delivery",
    schedule="* * * * *",
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
    doc_md=__doc__,
    tags=["govflow", "alerts"],
)
def govflow_alert_delivery():
    @task
    def deliver_outbox() -> dict:
        """Claim, send and mark each due alert; report what waits for a connection."""
        from govflow.flows.alerts import deliver_outbox as deliver

        return deliver(slack_webhook_url=slack_webhook_url(), smtp=smtp_settings())

    deliver_outbox()


govflow_alert_delivery()
