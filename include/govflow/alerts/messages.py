"""Seed 004 sections 2.1, 8 and 11: what an alert says, and the two ways it leaves govflow.

Messages are Slack Block Kit payloads (with the plain ``text`` fallback Slack shows in
notifications and on clients that cannot render blocks) and plain-text e-mails. Each names
the model, metric, subject, value, threshold, baseline version and severity, and links to the
Airflow run, the drift report and the runbook.

A bot token (``SlackBot``) posts with ``chat.postMessage`` and puts the alert's
idempotency key in the message's metadata, so that ``slack_bot_message_posted`` can look
for it in ``conversations.history`` (scopes ``chat:write``, ``channels:history`` and, for
``#name`` destinations, ``channels:read``) before a message whose first post went
unanswered is posted again. A webhook allows no such check.

The senders take a webhook URL, a bot token and SMTP settings as arguments: the Airflow
connection that holds them is looked up by the DAG, never here. A sender either returns
(the far side accepted the message) or raises ``DeliveryError``; retrying is the outbox's
job, so the Slack client is built without retry handlers of its own.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError

from govflow.metrics.fairness import group_sizes_text
from govflow.metrics.severity import Threshold

AIRFLOW_BASE_URL_ENV = "GOVFLOW_AIRFLOW_BASE_URL"
REPORT_BASE_URL_ENV = "GOVFLOW_REPORT_BASE_URL"
RUNBOOK_BASE_URL_ENV = "GOVFLOW_RUNBOOK_BASE_URL"
DEFAULT_AIRFLOW_BASE_URL = "http://localhost:8080"

SLACK_REJECTED = "Slack webhook answered HTTP {status}: {body}"
SLACK_UNREACHABLE = "Slack webhook unreachable: {error}"
SLACK_API_REJECTED = "Slack {method} answered {error}"
SLACK_API_UNREACHABLE = "Slack {method} unreachable: {error}"
SLACK_CHANNEL_UNREADABLE = "Slack channel {channel} is not among the bot's (conversations.list)"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The message metadata event that carries an alert's idempotency key to Slack and back.
MARKER_EVENT_TYPE = "govflow_alert"
SMTP_FAILED = "SMTP delivery to {host}:{port} failed: {error}"

CHANNEL_MENTION = "<!channel>"
# Slack refuses a message with more than 50 blocks or a section over 3000 characters; the
# digest e-mail carries every finding, the Slack digest the first ones.
DIGEST_SLACK_MAX_FINDINGS = 40
SECTION_MAX_CHARS = 2900
NOT_APPLICABLE = "n/a"
VERSIONS_LABEL = "window rows by model version"
MIXED_VERSIONS = (
    "more than one version in this window: a finding may come from one version's traffic"
)


class DeliveryError(Exception):
    """The far side did not accept the message; the outbox will try again later."""


@dataclass(frozen=True)
class Links:
    """Base URLs of the places an alert links to; ``None`` shows the place as text instead."""

    airflow_base_url: str = DEFAULT_AIRFLOW_BASE_URL
    report_base_url: str | None = None
    runbook_base_url: str | None = None

    @classmethod
    def from_env(cls) -> Links:
        return cls(
            airflow_base_url=os.environ.get(AIRFLOW_BASE_URL_ENV) or DEFAULT_AIRFLOW_BASE_URL,
            report_base_url=os.environ.get(REPORT_BASE_URL_ENV) or None,
            runbook_base_url=os.environ.get(RUNBOOK_BASE_URL_ENV) or None,
        )

    def airflow_run(self, dag_id: str | None, dag_run_id: str | None) -> str | None:
        if not dag_id or not dag_run_id:
            return None
        base = self.airflow_base_url.rstrip("/")
        return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(dag_run_id, safe='')}"

    def report(self, report_path: str | None) -> str | None:
        """Reports are written as ``<data_dir>/reports/<model>/<run>.html``: under
        ``report_base_url`` when one is given, else as the governance dashboard serves the
        path recorded (relative to the data directory); never a path on the server."""
        if not report_path:
            return None
        path = Path(report_path)
        if self.report_base_url:
            base = self.report_base_url.rstrip("/")
            return f"{base}/{quote(path.parent.name)}/{quote(path.name)}"
        return None if path.is_absolute() else self.dashboard_report(report_path)

    def dashboard_report(self, report_path: str | None) -> str | None:
        """A report govflow wrote (its path relative to the data directory) as the governance
        dashboard serves it on the api-server: its reader's permission checked, the view
        audited; never a path on the server."""
        if not report_path:
            return None
        return f"{self.airflow_base_url.rstrip('/')}/govflow/reports/{quote(report_path)}"

    def runbook(self, runbook_key: str | None) -> str | None:
        if not runbook_key or not self.runbook_base_url:
            return None
        return f"{self.runbook_base_url.rstrip('/')}#{runbook_key}"


@dataclass(frozen=True)
class AlertFinding:
    """One judged metric as an alert tells it: JSON-able, so the outbox can store it."""

    model_id: str
    check_type: str
    metric: str
    subject: str
    value: float | None
    severity: str
    threshold: dict[str, Any]
    baseline_version: str | None
    run_key: str
    dag_id: str | None
    dag_run_id: str | None
    report_path: str | None
    detected_at: str
    runbook_key: str | None = None
    runbook_title: str | None = None
    first_steps: list[str] = field(default_factory=list)
    # The record's window rows per model version (empty in alerts stored before it was kept).
    model_versions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertFinding:
        return cls(**data)

    @property
    def what(self) -> str:
        return f"{self.metric} ({self.subject})" if self.subject else self.metric

    @property
    def family(self) -> str:
        return self.check_type.replace("_", " ")


@dataclass(frozen=True)
class EmailContent:
    subject: str
    body: str


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes out; the DAG fills it from an Airflow SMTP connection."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0


def format_value(value: float | None) -> str:
    return NOT_APPLICABLE if value is None else f"{value:.4g}"


def format_threshold(stored: dict[str, Any]) -> str:
    """A result's stored threshold in words: its bounds as the policy compares them
    (``critical >= 0.25, warning >= 0.1``), or what else the result was judged on."""
    threshold = Threshold.from_dict(stored)
    if threshold is not None:
        return threshold.describe()
    if "failed_gate_severity" in stored:
        return f"data-quality gate failed ({stored['failed_gate_severity']})"
    return NOT_APPLICABLE


def versions_text(model_versions: dict[str, int]) -> str:
    """A window's rows per model version in words (``1.0.0 1,900 · 1.1.0 100``), as stored
    (most rows first); empty when nothing was counted."""
    return " · ".join(f"{version} {rows:,}" for version, rows in model_versions.items())


def mixed_versions_line(model_versions: dict[str, int]) -> str:
    """What a finding says of a window that held more than one model version (a phased
    rollout's candidate beside the production version, or rows that name none), since the
    finding may come from one version's share of the traffic; empty for one version."""
    if len(model_versions) < 2:
        return ""
    return f"{VERSIONS_LABEL}: {versions_text(model_versions)} ({MIXED_VERSIONS})"


def format_evidence(details: dict[str, Any]) -> str:
    """What a metric judged on evidence was judged on, in words: its interval, the rows per
    group and the span of days (``interval 0.55-0.79, rows per group female 960, male 1003,
    over the day``), with the metric's own interval beside the model-day's when it was
    stored (it sizes an effect the model-day's interval has shown: a CRITICAL may rest on
    it); empty for a metric judged on its value alone."""
    low, high = details.get("ci_low"), details.get("ci_high")
    if low is None or high is None or "group_sizes" not in details:
        return ""
    days = details.get("pooled_days", 1)
    span = "the day" if days == 1 else f"the last {days} days"
    interval = f"interval {format_value(low)}-{format_value(high)}"
    own_low, own_high = details.get("plausible_ci_low"), details.get("plausible_ci_high")
    if own_low is not None and own_high is not None and (own_low, own_high) != (low, high):
        interval += f" (the metric's own {format_value(own_low)}-{format_value(own_high)})"
    return f"{interval}, {group_sizes_text(details)}, over {span}"


def _without_label(label: str, text: str | None) -> str | None:
    """A runbook title already reads "Runbook: ..."; the label is not repeated."""
    return text.removeprefix(f"{label}: ") if text else text


def _link_or_text(label: str, url: str | None, fallback: str | None) -> str:
    if url:
        return f"<{url}|{label}>"
    return f"{label}: {_without_label(label, fallback) or NOT_APPLICABLE}"


def _plain_link(label: str, url: str | None, fallback: str | None) -> str:
    return f"{label}: {url or _without_label(label, fallback) or NOT_APPLICABLE}"


def _buttons(finding: AlertFinding, links: Links) -> list[dict[str, Any]]:
    targets = [
        ("open_airflow_run", "Airflow run", links.airflow_run(finding.dag_id, finding.dag_run_id)),
        ("open_drift_report", "Drift report", links.report(finding.report_path)),
        ("open_runbook", "Runbook", links.runbook(finding.runbook_key)),
    ]
    return [
        {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label},
            "url": url,
        }
        for action_id, label, url in targets
        if url and url.startswith(("http://", "https://"))
    ]


def critical_slack_message(
    finding: AlertFinding, links: Links, *, mention_channel: bool
) -> dict[str, Any]:
    """One CRITICAL finding as a Slack message; ``mention_channel`` adds ``@channel``."""
    mention = f"{CHANNEL_MENTION} " if mention_channel else ""
    threshold = format_threshold(finding.threshold)
    headline = (
        f"{mention}*{finding.severity} {finding.family}* on `{finding.model_id}`: "
        f"`{finding.what}` is *{format_value(finding.value)}* ({threshold}), "
        f"baseline `{finding.baseline_version or NOT_APPLICABLE}`."
    )
    run_url = links.airflow_run(finding.dag_id, finding.dag_run_id)
    report_url = links.report(finding.report_path)
    runbook_url = links.runbook(finding.runbook_key)
    fields = [
        ("Model", finding.model_id),
        ("Metric", finding.metric),
        ("Subject", finding.subject or NOT_APPLICABLE),
        ("Value", format_value(finding.value)),
        ("Threshold", threshold),
        ("Baseline", finding.baseline_version or NOT_APPLICABLE),
        ("Severity", finding.severity),
        ("Run", finding.run_key),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": f"{finding.severity}: {finding.family} on {finding.model_id}"[:150],
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    mixed = mixed_versions_line(finding.model_versions)
    if mixed:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mixed}})
    if finding.first_steps:
        steps = "\n".join(f"• {step}" for step in finding.first_steps)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{finding.runbook_title}*\n{steps}"},
            }
        )
    buttons = _buttons(finding, links)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": " | ".join(
                        [
                            _link_or_text("Airflow run", run_url, finding.run_key),
                            _link_or_text("Drift report", report_url, finding.report_path),
                            _link_or_text("Runbook", runbook_url, finding.runbook_title),
                        ]
                    ),
                }
            ],
        }
    )
    text = (
        f"{mention}{finding.severity} {finding.family} on {finding.model_id}: {finding.what} = "
        f"{format_value(finding.value)} ({threshold}), baseline "
        f"{finding.baseline_version or NOT_APPLICABLE}. "
        + (f"{mixed}. " if mixed else "")
        + _plain_link("Airflow run", run_url, finding.run_key)
    )
    return {"text": text, "blocks": blocks}


def critical_email(finding: AlertFinding, links: Links) -> EmailContent:
    """The instant e-mail of a CRITICAL finding."""
    lines = [
        f"{finding.severity} {finding.family} on {finding.model_id}, "
        f"detected {finding.detected_at}.",
        "",
        f"Model:     {finding.model_id}",
        f"Metric:    {finding.metric}",
        f"Subject:   {finding.subject or NOT_APPLICABLE}",
        f"Value:     {format_value(finding.value)}",
        f"Threshold: {format_threshold(finding.threshold)}",
        f"Baseline:  {finding.baseline_version or NOT_APPLICABLE}",
        f"Severity:  {finding.severity}",
        f"Run:       {finding.run_key}",
        *([mixed] if (mixed := mixed_versions_line(finding.model_versions)) else []),
        "",
        _plain_link(
            "Airflow run", links.airflow_run(finding.dag_id, finding.dag_run_id), finding.run_key
        ),
        _plain_link("Drift report", links.report(finding.report_path), finding.report_path),
        _plain_link("Runbook", links.runbook(finding.runbook_key), finding.runbook_title),
    ]
    if finding.first_steps:
        lines += ["", f"{finding.runbook_title}, first steps:"]
        lines += [f"  - {step}" for step in finding.first_steps]
    subject = (
        f"[govflow {finding.severity}] {finding.model_id}: {finding.what} = "
        f"{format_value(finding.value)}"
    )
    return EmailContent(subject=subject, body="\n".join(lines) + "\n")


def _digest_line(finding: AlertFinding) -> str:
    mixed = mixed_versions_line(finding.model_versions)
    return (
        f"{finding.family}: {finding.what} = {format_value(finding.value)} "
        f"({format_threshold(finding.threshold)}), baseline "
        f"{finding.baseline_version or NOT_APPLICABLE}" + (f"; {mixed}" if mixed else "")
    )


def _by_model(findings: Sequence[AlertFinding]) -> dict[str, list[AlertFinding]]:
    grouped: dict[str, list[AlertFinding]] = {}
    for finding in findings:
        grouped.setdefault(finding.model_id, []).append(finding)
    return grouped


def _digest_title(day: date, findings: Sequence[AlertFinding], part: int) -> str:
    models = len(_by_model(findings))
    suffix = f" (part {part})" if part > 1 else ""
    return (
        f"WARNING digest {day.isoformat()}{suffix}: {len(findings)} "
        f"finding{'s' if len(findings) != 1 else ''} on {models} model{'s' if models != 1 else ''}"
    )


def digest_slack_message(
    day: date, findings: Sequence[AlertFinding], links: Links, *, part: int = 1
) -> dict[str, Any]:
    """All of a day's WARNING findings as one Slack message."""
    title = _digest_title(day, findings, part)
    shown = list(findings)[:DIGEST_SLACK_MAX_FINDINGS]
    lines: list[str] = []
    for model_id, model_findings in _by_model(shown).items():
        lines.append(f"*{model_id}*")
        for finding in model_findings:
            run_url = links.airflow_run(finding.dag_id, finding.dag_run_id)
            run = f" <{run_url}|run>" if run_url else ""
            lines.append(f"• {_digest_line(finding)}{run}")
    hidden = len(findings) - len(shown)
    if hidden:
        lines.append(f"…and {hidden} more in the e-mail digest and the dashboard.")
    sections: list[str] = []
    for line in lines:
        if sections and len(sections[-1]) + len(line) + 1 <= SECTION_MAX_CHARS:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "WARNING findings need a response within 24 hours (seed 004 2.1).",
                }
            ],
        },
    ]
    return {"text": title, "blocks": blocks}


def digest_email(
    day: date, findings: Sequence[AlertFinding], links: Links, *, part: int = 1
) -> EmailContent:
    """All of a day's WARNING findings as one e-mail."""
    title = _digest_title(day, findings, part)
    lines = [title, ""]
    for model_id, model_findings in _by_model(findings).items():
        lines.append(model_id)
        for finding in model_findings:
            lines.append(f"  - {_digest_line(finding)}")
            run_url = links.airflow_run(finding.dag_id, finding.dag_run_id)
            lines.append(f"    {_plain_link('Airflow run', run_url, finding.run_key)}")
        lines.append("")
    lines.append("WARNING findings need a response within 24 hours (seed 004 2.1).")
    return EmailContent(subject=f"[govflow] {title}", body="\n".join(lines) + "\n")


@dataclass(frozen=True)
class UndeliveredAlert:
    """A CRITICAL alert past seed 004 section 8's delivery time, as its escalation tells it."""

    alert_id: int
    channel: str
    destination: str
    kind: str
    text: str
    attempts: int
    last_error: str | None
    created_at: str
    minutes: float

    @property
    def headline(self) -> str:
        return (
            f"alert {self.alert_id} undelivered for {self.minutes:g} minutes: "
            f"{self.channel} {self.destination}"
        )

    def details(self) -> list[str]:
        return [
            f"Raised:    {self.created_at} ({self.kind})",
            f"Attempts:  {self.attempts}",
            f"Last error: {self.last_error or 'none: its channel has no connection'}",
            f"Message:   {self.text}",
            "",
            f"govflow keeps retrying it. Once it has reached people another way: "
            f"govflow alerts abandon {self.alert_id} --reason ... --actor <you>; "
            f"to send it at once after a fix: govflow alerts resend {self.alert_id} "
            "--actor <you> (or the form of govflow_alert_delivery).",
        ]


def escalation_email(undelivered: UndeliveredAlert) -> EmailContent:
    body = [f"A CRITICAL {undelivered.headline}.", "", *undelivered.details()]
    return EmailContent(
        subject=f"[govflow CRITICAL] {undelivered.headline}", body="\n".join(body) + "\n"
    )


def escalation_slack_message(undelivered: UndeliveredAlert) -> dict[str, Any]:
    text = f"{CHANNEL_MENTION} CRITICAL {undelivered.headline}"
    details = "\n".join(undelivered.details())
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": details[:SECTION_MAX_CHARS]}},
        ],
    }


def report_slack_message(title: str, headline: str, name: str, links: Links) -> dict[str, Any]:
    """A generated report in two lines an executive reads: what it says, where it is. The
    report is linked where ``GOVFLOW_REPORT_BASE_URL`` serves reports, else named as it lies
    under the data directory (``reports/executive/2025-03.pdf``), never by a server path."""
    where = _link_or_text("Report", links.report(name), name)
    return {
        "text": f"{title}: {headline} {_plain_link('Report', links.report(name), name)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": headline[:SECTION_MAX_CHARS]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": where}]},
        ],
    }


def send_slack_webhook(url: str, message: dict[str, Any], *, timeout_seconds: int = 10) -> None:
    """Post one message to a Slack incoming webhook; raise ``DeliveryError`` unless HTTP 200.

    Slack webhooks take no idempotency key: a message whose 200 is lost is sent again.
    """
    client = WebhookClient(url=url, timeout=timeout_seconds, retry_handlers=[])
    try:
        response = client.send(text=message["text"], blocks=message.get("blocks"))
    except OSError as error:
        raise DeliveryError(SLACK_UNREACHABLE.format(error=error)) from error
    if response.status_code != 200:
        raise DeliveryError(SLACK_REJECTED.format(status=response.status_code, body=response.body))


@dataclass(frozen=True)
class SlackBot:
    """A Slack app's bot token, and the Web API it talks to."""

    token: str
    base_url: str = DEFAULT_SLACK_API_URL


def _web_client(bot: SlackBot, timeout_seconds: int) -> WebClient:
    return WebClient(
        token=bot.token, base_url=bot.base_url, timeout=timeout_seconds, retry_handlers=[]
    )


def _call_slack(method: str, call: Any, **arguments: Any) -> Any:
    """One Web API call; anything but an ``ok`` answer is a ``DeliveryError``."""
    try:
        return call(**arguments)
    except SlackApiError as error:
        answer = error.response.get("error") if error.response is not None else None
        raise DeliveryError(
            SLACK_API_REJECTED.format(method=method, error=answer or error)
        ) from error
    except (SlackClientError, OSError) as error:
        raise DeliveryError(SLACK_API_UNREACHABLE.format(method=method, error=error)) from error


def send_slack_bot_message(
    bot: SlackBot,
    channel: str,
    message: dict[str, Any],
    *,
    marker: str,
    timeout_seconds: int = 10,
) -> None:
    """Post one message as the bot, with ``marker`` in its metadata; raise ``DeliveryError``
    unless Slack answers ``ok``."""
    client = _web_client(bot, timeout_seconds)
    _call_slack(
        "chat.postMessage",
        client.chat_postMessage,
        channel=channel,
        text=message["text"],
        blocks=message.get("blocks"),
        metadata={"event_type": MARKER_EVENT_TYPE, "event_payload": {"idempotency_key": marker}},
    )


def _channel_id(client: WebClient, channel: str) -> str:
    """``conversations.history`` takes ids only; config/ names channels ``#name``."""
    if not channel.startswith("#"):
        return channel
    cursor = None
    while True:
        page = _call_slack(
            "conversations.list",
            client.conversations_list,
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=1000,
            cursor=cursor,
        )
        for listed in page.get("channels", []):
            if listed.get("name") == channel[1:]:
                return str(listed["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            raise DeliveryError(SLACK_CHANNEL_UNREADABLE.format(channel=channel))


def slack_bot_message_posted(
    bot: SlackBot, channel: str, marker: str, *, since: float, timeout_seconds: int = 10
) -> bool:
    """Whether ``channel`` holds a message posted since ``since`` (a Unix time) whose
    metadata carries ``marker``; a failed look is a ``DeliveryError`` (never a guess)."""
    client = _web_client(bot, timeout_seconds)
    channel_id = _channel_id(client, channel)
    cursor = None
    while True:
        page = _call_slack(
            "conversations.history",
            client.conversations_history,
            channel=channel_id,
            oldest=f"{since:.6f}",
            include_all_metadata=True,
            limit=200,
            cursor=cursor,
        )
        for message in page.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("idempotency_key") == marker:
                return True
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return False


def message_id_for(idempotency_key: str) -> str:
    """The same Message-ID for every attempt, so mail systems that dedupe on it can."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<govflow-{digest}@govflow.alerts.outbox>"


def send_email(
    smtp: SmtpSettings,
    *,
    to: Sequence[str],
    content: EmailContent,
    idempotency_key: str,
) -> None:
    """Hand one e-mail to the SMTP server; raise ``DeliveryError`` if it is not accepted."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = content.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id_for(idempotency_key)
    message.set_content(content.body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(
            SMTP_FAILED.format(host=smtp.host, port=smtp.port, error=error)
        ) from error
