"""
### govflow_alert_delivery (seed 004 sections 2.1, 8 and 11)

Every minute, sends what waits in the alert outbox of the governance store: CRITICAL alerts
first, then digests and notices (baseline reviews, monitor-the-monitor). Slack goes through
the Airflow connection `slack_default`: a `slack` connection whose password is a bot token
(each post carries the alert's key in its metadata, and a post left unanswered is looked for
in the channel's history before it is posted again: once), or a `slackwebhook` connection
whose password is the webhook URL or the token path under `hooks.slack.com/services` (at
least once: a post Slack accepts after the client gave up waiting is posted again). E-mail
goes through `smtp_default` (host, port, login, password; `from_email` and `starttls` in its
extra). A channel without a connection keeps its alerts in the outbox, listed in this task's
log, until one is configured: nothing is dropped. A failing channel is retried with backoff:
a CRITICAL alert at least every 5 minutes until it is delivered or a person abandons it,
any other alert 5 times, then `failed` until a person resends it.

**Escalation** (seed 004 sections 8 and 11): a CRITICAL alert for a channel with a
connection still undelivered 5 minutes (policy.yaml
`performance_slas.alert_delivery_max_minutes`) after it was raised is escalated
once through the other channel, an instant e-mail to the people its CRITICAL path pages at
once or Slack `@channel` (govflow has no SMS/paging channel yet), and every run fails, with
one line naming the undelivered alerts, until each is delivered or a person abandons it.

**Resend or abandon** ("Trigger" with the form below, or `govflow alerts resend|abandon`):
the user who triggered the run (`dag_run.triggering_user_name`, a people.yaml id) puts the
alerts named in `alert_ids` (or, for `resend`, every failed one) back in the outbox, or gives
up on them for a `reason`. Anyone in people.yaml may resend; only an ML engineer, the ML
lead or an admin may abandon (a CRITICAL alert given up is a page nobody gets; the others are
refused in one line, nothing changed). Each change is an audit event naming that user
(`govflow audit query --action 'alert.*'`); asking again changes nothing. The run then
delivers as a scheduled one does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from govflow_airflow.connections import channel_settings
from govflow_airflow.outcomes import airflow_outcomes


@task
def apply_request(params=None, dag_run=None) -> list[int]:
    """Resend or abandon the alerts the form names, as the triggering user."""
    from govflow.flows.alerts import apply_request as apply

    with airflow_outcomes():
        return apply(dict(params), actor=dag_run.triggering_user_name)


@task
def deliver_outbox() -> dict:
    """Claim, send and mark each due alert; report what waits for a connection."""
    from govflow.flows.alerts import deliver_outbox as deliver

    return deliver(**channel_settings())


@task
def escalate_undelivered_alerts() -> dict:
    """Escalate CRITICAL alerts undelivered after 5 minutes; fail the run while any is."""
    from govflow.flows.alerts import escalate_undelivered

    with airflow_outcomes():
        return escalate_undelivered(**channel_settings())


@dag(
    dag_id="govflow_alert_delivery",
    schedule="* * * * *",
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
    doc_md=__doc__,
    tags=["govflow", "alerts"],
    params={
        "action": Param(
            "deliver",
            type="string",
            enum=["deliver", "resend", "abandon"],
            title="Action",
            description=(
                "deliver: what a scheduled run does. resend: put failed or abandoned alerts "
                "back in the outbox, due now. abandon: give up on alerts still waiting."
            ),
        ),
        "alert_ids": Param(
            [],
            type="array",
            items={"type": "integer"},
            title="Alert ids",
            description="The alerts to resend or abandon (the delivery log names them).",
        ),
        "all_failed": Param(
            False,
            type="boolean",
            title="Every failed alert",
            description="resend only: also every alert that ran out of attempts.",
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="abandon only, required: why nobody needs these alerts sent.",
        ),
    },
)
def govflow_alert_delivery():
    apply_request() >> deliver_outbox() >> escalate_undelivered_alerts()


govflow_alert_delivery()
