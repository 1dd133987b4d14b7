"""The delivery channels as Airflow Connections: `slack_default`, `smtp_default` and
`pagerduty_events_default`.

Secrets live only in Connections (or `AIRFLOW_CONN_*` in the environment), never in config/.
A missing connection is not an error: alerts then stay in the outbox, listed in the task
log, until one is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Connection

if TYPE_CHECKING:
    from govflow.alerts.messages import SlackBot, SmtpSettings
    from govflow.alerts.paging import PagerDutySettings

SLACK_CONNECTION = "slack_default"
SMTP_CONNECTION = "smtp_default"
PAGERDUTY_CONNECTION = "pagerduty_events_default"
SLACK_WEBHOOK_BASE = "https://hooks.slack.com/services/"
# The Slack provider's connection type for a bot token (its password); `slackwebhook` is
# the other one.
SLACK_BOT_CONN_TYPE = "slack"


def _connection(conn_id: str) -> Any:
    try:
        return Connection.get(conn_id)
    except Exception as error:  # the SDK raises its own "not found" type, by connection
        print(f"connection {conn_id} is not configured ({type(error).__name__})")
        return None


def slack_webhook_url() -> str | None:
    """The webhook URL of `slack_default`: a `slackwebhook` connection whose password is the
    full URL, or the token path under `hooks.slack.com/services`."""
    connection = _connection(SLACK_CONNECTION)
    if connection is None or not connection.password:
        return None
    if connection.conn_type == SLACK_BOT_CONN_TYPE:
        return None
    if connection.password.startswith(("http://", "https://")):
        return connection.password
    return SLACK_WEBHOOK_BASE + connection.password.lstrip("/")


def slack_bot() -> SlackBot | None:
    """The bot token of `slack_default` when it is a `slack` connection (token as password,
    `base_url` in its extra for a Slack-compatible API): alerts are then posted with
    chat.postMessage and looked for in the channel's history before being posted again."""
    from govflow.alerts.messages import DEFAULT_SLACK_API_URL, SlackBot

    connection = _connection(SLACK_CONNECTION)
    if connection is None or connection.conn_type != SLACK_BOT_CONN_TYPE:
        return None
    if not connection.password:
        return None
    base_url = connection.extra_dejson.get("base_url") or DEFAULT_SLACK_API_URL
    return SlackBot(token=connection.password, base_url=base_url)


def smtp_settings() -> SmtpSettings | None:
    """`smtp_default`: host, port, login, password; `from_email` and `starttls` in its extra."""
    from govflow.alerts.messages import SmtpSettings

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


def pagerduty_settings() -> PagerDutySettings | None:
    """`pagerduty_events_default`: the service's routing (integration) key as its password,
    and `events_url` in its extra to reach another Events API v2 endpoint than PagerDuty's."""
    from govflow.alerts.paging import EVENTS_URL, PagerDutySettings

    connection = _connection(PAGERDUTY_CONNECTION)
    if connection is None or not connection.password:
        return None
    url = connection.extra_dejson.get("events_url") or EVENTS_URL
    return PagerDutySettings(routing_key=connection.password, url=url)


def channel_settings() -> dict[str, Any]:
    """Every delivery channel's settings, as the outbox's delivery takes them."""
    return {
        "slack_webhook_url": slack_webhook_url(),
        "slack_bot": slack_bot(),
        "smtp": smtp_settings(),
        "pagerduty": pagerduty_settings(),
    }


def deliver_now(alert_ids: list[int]) -> dict[str, Any]:
    """Send these outbox rows at once (a CRITICAL alert must not wait for the next delivery
    run); a failure leaves them in the outbox for govflow_alert_delivery to retry. No ids,
    nothing asked of Airflow: each connection lookup is a call to its API server, and most
    analyses of a fleet queue no CRITICAL alert."""
    if not alert_ids:
        return {}
    from govflow.flows.alerts import deliver_outbox as deliver

    return deliver(**channel_settings(), only_ids=alert_ids)


def deliver_outbox() -> dict[str, Any]:
    """Send everything pending in the outbox through the connections (what a step just queued
    would otherwise wait for the next govflow_alert_delivery run); failures stay queued."""
    from govflow.flows.alerts import deliver_outbox as deliver

    return deliver(**channel_settings())
