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

from airflow.sdk import Connection, dag, task

SLACK_CONNECTION = "slack_default"
SMTP_CONNECTION = "smtp_default"
SLACK_WEBHOOK_BASE = "https://hooks.slack.com/services/"


def _connection(conn_id: str):
    try:
        return Connection.get(conn_id)
    except Exception as error:  # the SDK raises its own "not found" type, by connection
        print(f"connection {conn_id} is not configured ({type(error).__name__})")
        return None


def slack_webhook_url() -> str | None:
    connection = _connection(SLACK_CONNECTION)
    if connection is None or not connection.password:
        return None
    if connection.password.startswith(("http://", "https://")):
        return connection.password
    return SLACK_WEBHOOK_BASE + connection.password.lstrip("/")


def smtp_settings():
    from govflow.notifications import SmtpSettings

    connection = _connection(SMTP_CONNECTION)
    if connection is None or not connection.host:
        return None
    extra = connection.extra_dejson
    return SmtpSettings(
        host=connection.host,
        port=int(connection.port or 25),
        sender=extra.get("from_email", "govflow@localhost"),
        username=connection.login or None,
        password=connection.password or None,
        starttls=bool(extra.get("starttls", False)),
    )


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
        from govflow import store
        from govflow.alerts import deliver_pending

        store.ensure_schema()
        report = deliver_pending(slack_webhook_url=slack_webhook_url(), smtp=smtp_settings())
        for line in report.lines():
            print(line)
        return report.to_dict()

    deliver_outbox()


govflow_alert_delivery()
