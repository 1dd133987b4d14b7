"""Seed 004 sections 2.1, 8 and 11: alert routing, the daily digest and outbox delivery,
against a real local Slack webhook receiver and a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from govflow import settings, store
from govflow.alerts.messages import (
    SLACK_API_REJECTED,
    SLACK_API_UNREACHABLE,
    SLACK_REJECTED,
    Links,
    SlackBot,
    SmtpSettings,
    format_threshold,
)
from govflow.alerts.outbox import (
    ABANDONED,
    AWAITING_DIGEST,
    CRITICAL_MAX_BACKOFF,
    DELIVERED,
    DIGESTED,
    FAILED,
    GAVE_UP,
    NOT_CONFIGURED,
    NOT_WAITING,
    PENDING,
    REASON_REQUIRED,
    SENDING,
    SUPPRESSED,
    UNKNOWN_ALERT,
    AlertRequestError,
    abandon_alert,
    build_daily_digests,
    deliver_pending,
    enqueue_alert,
    instant_email_recipients,
    is_suppressed,
    resend_alerts,
    route_findings,
)
from govflow.config import GovflowConfig, load_config
from govflow.flows import Overdue
from govflow.flows.alerts import UNDELIVERED, deliver_outbox, escalate_undelivered
from govflow.store.keys import KEY_MAX_CHARS
from govflow.store.schema import (
    Alert,
    AuditEvent,
    MetricResult,
    MonitoringRun,
    RiskAcceptance,
)
from govflow.store.types import utcnow
from tests.support.registry import high_risk_model
from tests.support.run_ids import LONGEST_RUN_ID
from tests.support.slack_receiver import BOT_TOKEN, SlackReceiver, running_slack_receiver

# A Monday: the 10th week of the rotation that starts on 2025-01-06, so eve is on call.
DETECTED_AT = datetime(2025, 3, 17, 2, 10, tzinfo=UTC)
DAY = DETECTED_AT.date()
LINKS = Links(
    airflow_base_url="http://airflow.test:8080",
    report_base_url="http://airflow.test:8080/govflow/reports",
    runbook_base_url="http://docs.test/runbooks",
)
DAG_ID = "govflow_monitoring_daily"
DAG_RUN_ID = "scheduled__2025-03-17T02:00:00+00:00"
SMTP_SENDER = "govflow@example.com"
MODELS = ("credit_approval", "marketing_propensity")


@dataclass
class CapturedMail:
    mail_from: str
    recipients: list[str]
    subject: str
    body: str
    message_id: str


@dataclass
class MailSink:
    """aiosmtpd handler that keeps every accepted message."""

    received: list[CapturedMail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(
            CapturedMail(
                mail_from=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                # Python folds a long Subject right after the colon; the blank is not the value.
                subject=str(message["Subject"]).lstrip(),
                body=message.get_content(),
                message_id=str(message["Message-ID"]),
            )
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def with_models(db_url: str) -> str:
    store.upgrade(db_url)
    with store.session_scope(db_url) as session:
        for model_id in MODELS:
            session.add(high_risk_model(model_id))
    return db_url


@pytest.fixture
def url(tmp_path) -> str:
    return with_models(f"sqlite:///{tmp_path}/g.db")


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with running_slack_receiver() as receiver:
        yield receiver


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, SmtpSettings]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, SmtpSettings(host="127.0.0.1", port=port, sender=SMTP_SENDER)
    finally:
        controller.stop()


def record_run(
    url: str,
    config: GovflowConfig,
    findings: list[tuple[str, str, str, float, str]],
    *,
    model_id: str = "credit_approval",
    run_key: str = DAG_RUN_ID,
    detected_at: datetime = DETECTED_AT,
    model_versions: dict[str, int] | None = None,
) -> int:
    """A monitoring record with (check type, metric, subject, value, severity) rows."""
    with store.session_scope(url) as session:
        run = MonitoringRun(
            model_versions=model_versions or {},
            model_id=model_id,
            run_key=run_key,
            cadence="daily",
            checks=["data_drift", "fairness_drift"],
            dag_id=DAG_ID,
            dag_run_id=run_key,
            interval_start=detected_at - timedelta(days=1, hours=2, minutes=10),
            interval_end=detected_at - timedelta(hours=2, minutes=10),
            baseline_version="2025-03-01-v1",
            status="succeeded",
            severity="CRITICAL",
            report_path=f"/data/reports/{model_id}/{run_key}.html",
            finished_at=detected_at,
        )
        session.add(run)
        session.flush()
        for check_type, metric, subject, value, severity in findings:
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type=check_type,
                    metric=metric,
                    subject=subject,
                    value=value,
                    severity=severity,
                    threshold=config.policy.threshold(metric).to_dict(),
                )
            )
        return run.id


def route(url: str, config: GovflowConfig, run_id: int) -> list[Alert]:
    with store.session_scope(url) as session:
        return route_findings(session, config, session.get_one(MonitoringRun, run_id), links=LINKS)


def alerts(url: str) -> list[Alert]:
    with store.session_scope(url) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)).all())


CRITICAL_DI = ("fairness_drift", "disparate_impact_ratio", "gender", 0.72, "CRITICAL")
CRITICAL_PSI = ("data_drift", "psi", "income", 0.31, "CRITICAL")
WARNING_PSI = ("data_drift", "psi", "income", 0.18, "WARNING")
WARNING_KL = ("data_drift", "kl_divergence", "credit_score", 0.12, "WARNING")
WARNING_DP = ("fairness_drift", "demographic_parity_drift", "gender", 0.07, "WARNING")
INFO_PSI = ("data_drift", "psi", "loan_amount", 0.02, "INFO")


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (
            {
                "warning": 0.1,
                "warning_inclusive": True,
                "critical": 0.25,
                "critical_inclusive": True,
                "direction": "higher_is_worse",
            },
            "critical >= 0.25, warning >= 0.1",
        ),
        (
            {
                "warning": 0.89,
                "warning_inclusive": True,
                "critical": 0.8,
                "critical_inclusive": False,
                "direction": "lower_is_worse",
            },
            "critical < 0.8, warning <= 0.89",
        ),
        (
            {
                "warning": None,
                "critical": 0.3,
                "critical_inclusive": False,
                "direction": "higher_is_worse",
            },
            "critical > 0.3",
        ),
        (
            {"gate": "great_expectations", "failed_gate_severity": "CRITICAL"},
            "data-quality gate failed (CRITICAL)",
        ),
        ({}, "n/a"),
    ],
)
def test_thresholds_are_worded_as_the_policy_words_them(threshold, expected):
    assert format_threshold(threshold) == expected


@pytest.mark.parametrize(
    ("finding", "recipients"),
    [
        # Fairness: primary on-call, the compliance officer and the CEO (immediate).
        (CRITICAL_DI, ["eve@example.com", "carol@example.com", "cathy@example.com"]),
        # Data drift: primary on-call and the ML lead.
        (CRITICAL_PSI, ["eve@example.com", "lena@example.com"]),
    ],
)
def test_a_critical_finding_sends_one_channel_mention_to_slack_and_one_instant_email(
    url, config, slack, mail, finding, recipients
):
    sink, smtp = mail
    created = route(url, config, record_run(url, config, [finding]))
    assert [(a.channel, a.kind, a.status) for a in created] == [
        ("slack", "critical", PENDING),
        ("email", "critical", PENDING),
    ]

    report = deliver_pending(url, slack_webhook_url=slack.url, smtp=smtp)

    assert len(report.delivered) == 2
    [message] = slack.wait_for(1, timeout=5)
    assert message.payload["text"].startswith("<!channel> CRITICAL")
    headline = message.payload["blocks"][1]["text"]["text"]
    check_type, metric, subject, value, _ = finding
    assert headline.startswith(f"<!channel> *CRITICAL {check_type.replace('_', ' ')}*")
    fields = {
        item["text"].split("\n")[0].strip("*"): item["text"].split("\n")[1]
        for item in message.payload["blocks"][2]["fields"]
    }
    assert fields == {
        "Model": "credit_approval",
        "Metric": metric,
        "Subject": subject,
        "Value": f"{value:.4g}",
        "Threshold": format_threshold(config.policy.threshold(metric).to_dict()),
        "Baseline": "2025-03-01-v1",
        "Severity": "CRITICAL",
        "Run": DAG_RUN_ID,
    }
    buttons = {
        element["action_id"]: element["url"]
        for block in message.payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    runbook = "fairness_drift_response" if check_type == "fairness_drift" else "data_drift_response"
    assert buttons == {
        "open_airflow_run": (
            "http://airflow.test:8080/dags/govflow_monitoring_daily/runs/"
            "scheduled__2025-03-17T02%3A00%3A00%2B00%3A00"
        ),
        "open_drift_report": (
            "http://airflow.test:8080/govflow/reports/credit_approval/"
            "scheduled__2025-03-17T02%3A00%3A00%2B00%3A00.html"
        ),
        "open_runbook": f"http://docs.test/runbooks#{runbook}",
    }
    [email] = sink.received
    assert email.recipients == recipients
    assert email.mail_from == SMTP_SENDER
    assert (
        email.subject == f"[govflow CRITICAL] credit_approval: {metric} ({subject}) = {value:.4g}"
    )
    assert "Baseline:  2025-03-01-v1" in email.body
    assert [a.status for a in alerts(url)] == [DELIVERED, DELIVERED]


CANARY_LINE = (
    "window rows by model version: 1.0.0 1,900 · 1.1.0 100 (more than one version in this "
    "window: a finding may come from one version's traffic)"
)


@pytest.mark.parametrize(
    ("model_versions", "line"),
    [
        ({"1.0.0": 1900, "1.1.0": 100}, CANARY_LINE),
        (
            {"1.0.0": 1995, "unknown": 5},
            "window rows by model version: 1.0.0 1,995 · unknown 5 (more than one version in "
            "this window: a finding may come from one version's traffic)",
        ),
        ({"1.0.0": 2000}, None),
        ({}, None),
    ],
)
def test_an_alert_names_the_windows_versions_only_when_it_held_more_than_one(
    url, config, model_versions, line
):
    run_id = record_run(url, config, [CRITICAL_DI, WARNING_PSI], model_versions=model_versions)
    slack_alert, email_alert, _ = route(url, config, run_id)
    with store.session_scope(url) as session:
        slack_digest, email_digest = build_daily_digests(session, config, DAY, links=LINKS)
        digests = [slack_digest.payload, email_digest.payload]
    blocks = [
        block["text"]["text"]
        for block in [*slack_alert.payload["blocks"], *digests[0]["blocks"]]
        if block["type"] == "section" and "text" in block
    ]
    texts = [
        slack_alert.payload["text"],
        "\n".join(blocks),
        email_alert.payload["body"],
        digests[1]["body"],
    ]
    if line is None:
        assert not [text for text in texts if "model version" in text]
    else:
        assert [text.count(line) for text in texts] == [1, 2, 1, 1]


def test_a_warning_only_day_produces_one_slack_digest_and_one_email_digest(
    url, config, slack, mail
):
    sink, smtp = mail
    first = record_run(url, config, [WARNING_PSI, WARNING_KL, INFO_PSI])
    second = record_run(url, config, [WARNING_DP], model_id="marketing_propensity")
    items = route(url, config, first) + route(url, config, second)
    assert [(a.kind, a.status, a.destination) for a in items] == [
        ("warning_digest_item", AWAITING_DIGEST, "digest:2025-03-17")
    ] * 3

    before_digest = deliver_pending(url, slack_webhook_url=slack.url, smtp=smtp)
    assert before_digest.delivered == []

    with store.session_scope(url) as session:
        digests = build_daily_digests(session, config, DAY, links=LINKS)
        assert [(d.channel, d.destination) for d in digests] == [
            ("slack", "#ml-monitoring"),
            ("email", "eve@example.com,mike@example.com,lena@example.com"),
        ]
    with store.session_scope(url) as session:
        assert build_daily_digests(session, config, DAY, links=LINKS) == []
    deliver_pending(url, slack_webhook_url=slack.url, smtp=smtp)
    deliver_pending(url, slack_webhook_url=slack.url, smtp=smtp)

    [message] = slack.wait_for(1, timeout=5)
    assert message.payload["text"] == "WARNING digest 2025-03-17: 3 findings on 2 models"
    assert "<!channel>" not in str(message.payload)
    sections = "\n".join(
        block["text"]["text"] for block in message.payload["blocks"] if block["type"] == "section"
    )
    assert sections.count("• ") == 3
    assert "psi (income) = 0.18" in sections
    assert "kl_divergence (credit_score) = 0.12" in sections
    assert "demographic_parity_drift (gender) = 0.07" in sections
    [email] = sink.received
    assert email.recipients == ["eve@example.com", "mike@example.com", "lena@example.com"]
    assert email.subject == "[govflow] WARNING digest 2025-03-17: 3 findings on 2 models"
    assert email.body.count("  - ") == 3
    assert (
        sorted(a.status for a in alerts(url) if a.kind == "warning_digest_item") == [DIGESTED] * 3
    )


def test_a_warning_recorded_after_the_digest_goes_out_in_a_second_part(url, config, slack):
    route(url, config, record_run(url, config, [WARNING_PSI]))
    with store.session_scope(url) as session:
        build_daily_digests(session, config, DAY, links=LINKS)
    route(url, config, record_run(url, config, [WARNING_KL], run_key="manual__late"))
    with store.session_scope(url) as session:
        late = build_daily_digests(session, config, DAY, links=LINKS)
        assert [d.idempotency_key for d in late] == [
            "warning-digest:2025-03-17:slack:#ml-monitoring#2",
            "warning-digest:2025-03-17:email:eve@example.com,mike@example.com,lena@example.com#2",
        ]
    deliver_pending(url, slack_webhook_url=slack.url, smtp=None)
    texts = [m.payload["text"] for m in slack.wait_for(2, timeout=5)]
    assert texts == [
        "WARNING digest 2025-03-17: 1 finding on 1 model",
        "WARNING digest 2025-03-17 (part 2): 1 finding on 1 model",
    ]


def test_late_parts_of_a_digest_to_a_destination_longer_than_a_key_are_numbered_on(
    store_url, config
):
    """Recipients whose addresses join to more than a key (and a VARCHAR(255)) holds: each
    late part is its own alert, numbered 2, then 3, never the second part's key again."""
    url = with_models(store_url)
    people = config.people.model_copy(
        update={
            "users": [
                user.model_copy(update={"email": f"{user.id}.{'x' * 80}@example.com"})
                for user in config.people.users
            ]
        }
    )
    long = config.model_copy(update={"people": people})
    parts = []
    late_psi = ("data_drift", "psi", "age", 0.2, "WARNING")
    for number, finding in enumerate([WARNING_PSI, WARNING_KL, late_psi]):
        route(url, long, record_run(url, long, [finding], run_key=f"manual__{number}"))
        with store.session_scope(url) as session:
            built = build_daily_digests(session, long, DAY, links=LINKS)
            parts += [
                (d.payload["subject"], d.idempotency_key) for d in built if d.channel == "email"
            ]

    subjects = [subject for subject, _ in parts]
    keys = [key for _, key in parts]
    assert len(keys) == len(set(keys)) == 3
    assert all(len(key) <= KEY_MAX_CHARS for key in keys)
    assert keys[1:] == [f"{keys[0]}#2", f"{keys[0]}#3"]
    assert [subject.split(": ")[0] for subject in subjects] == [
        "[govflow] WARNING digest 2025-03-17",
        "[govflow] WARNING digest 2025-03-17 (part 2)",
        "[govflow] WARNING digest 2025-03-17 (part 3)",
    ]


def test_info_findings_produce_no_alert(url, config, slack, mail):
    assert route(url, config, record_run(url, config, [INFO_PSI])) == []
    with store.session_scope(url) as session:
        assert build_daily_digests(session, config, DAY, links=LINKS) == []
    report = deliver_pending(url, slack_webhook_url=slack.url, smtp=mail[1])
    assert (alerts(url), report.delivered, slack.requests, mail[0].received) == ([], [], 0, [])


def test_slack_answering_500_three_times_receives_the_message_exactly_once(url, config, slack):
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    slack.fail_next(3)
    start = datetime.now(UTC)
    backoff = timedelta(seconds=10)
    schedule = []
    for elapsed in (0, 10, 30, 70, 150):
        report = deliver_pending(
            url,
            slack_webhook_url=slack.url,
            smtp=None,
            now=start + timedelta(seconds=elapsed),
            backoff=backoff,
        )
        schedule.append(
            (len(report.retrying), len(report.delivered), len(report.waiting.get("email", [])))
        )
        if report.retrying:
            assert report.retrying[0].error == SLACK_REJECTED.format(
                status=500, body="internal_error"
            )
    # Retries at +10 s, +30 s (10 + 20) and +70 s (30 + 40): exponential backoff.
    assert schedule == [(1, 0, 1), (1, 0, 1), (1, 0, 1), (0, 1, 1), (0, 0, 1)]
    assert slack.requests == 4
    assert len(slack.wait_for(1, timeout=5)) == 1
    [slack_alert] = [a for a in alerts(url) if a.channel == "slack"]
    assert (slack_alert.status, slack_alert.attempts) == (DELIVERED, 4)
    assert slack_alert.last_error == SLACK_REJECTED.format(status=500, body="internal_error")


FOUR_CRITICAL = [
    CRITICAL_DI,
    CRITICAL_PSI,
    ("data_drift", "psi", "age", 0.41, "CRITICAL"),
    ("data_drift", "kl_divergence", "credit_score", 0.52, "CRITICAL"),
]


def test_a_slack_answering_500_for_15_minutes_then_200_receives_every_critical_alert_once(
    url, config, slack, mail
):
    route(url, config, record_run(url, config, FOUR_CRITICAL))
    slack.fail_next(10**6)
    start = datetime.now(UTC)
    delivered_at_minute: dict[int, int] = {}
    for minute in range(31):  # a delivery run every minute, on an injected clock
        if minute == 15:
            slack.fail_next(0)
        report = deliver_pending(
            url, slack_webhook_url=slack.url, smtp=mail[1], now=start + timedelta(minutes=minute)
        )
        assert report.failed == []
        for item in report.delivered:
            delivered_at_minute[item.alert_id] = minute
    texts = [message.payload["text"] for message in slack.wait_for(4, timeout=5)]
    assert len(texts) == len(set(texts)) == 4
    slack_alerts = [a for a in alerts(url) if a.channel == "slack"]
    assert [a.status for a in slack_alerts] == [DELIVERED] * 4
    # Backoff capped at CRITICAL_MAX_BACKOFF: each reached Slack within 5 minutes of recovery.
    assert timedelta(minutes=5) == CRITICAL_MAX_BACKOFF
    assert all(15 <= delivered_at_minute[a.id] <= 20 for a in slack_alerts)


def test_a_critical_alert_undelivered_for_5_minutes_is_escalated_once_and_fails_the_run(
    url, config, slack, mail
):
    sink, smtp = mail
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    [slack_alert] = [a for a in alerts(url) if a.channel == "slack"]
    slack.fail_next(10**6)
    start = datetime.now(UTC)
    outcomes = []
    for minute in range(13):
        if minute == 8:
            slack.fail_next(0)
        now = start + timedelta(minutes=minute)
        deliver_outbox(slack_webhook_url=slack.url, smtp=smtp, now=now, db_url=url)
        try:
            escalate_undelivered(slack_webhook_url=slack.url, smtp=smtp, now=now, db_url=url)
        except Overdue as overdue:
            outcomes.append(str(overdue))
        else:
            outcomes.append("ok")
    undelivered = UNDELIVERED.format(
        count=1,
        minutes=5,
        alerts=f"{slack_alert.id} (slack #ml-monitoring, Slack webhook answered HTTP 500: "
        "internal_error)",
    )
    # Retries at minutes 1, 2, 4 and 8 (30 s doubling): minutes 5, 6 and 7 fail the run, and
    # Slack, back at minute 8, gets the message at the retry due then.
    assert outcomes == ["ok"] * 5 + [undelivered] * 3 + ["ok"] * 5
    assert len(slack.wait_for(1, timeout=5)) == 1
    [instant, escalation] = sink.received
    # The fairness CRITICAL path, with whoever is on call when it escalates.
    assert escalation.recipients == instant_email_recipients(
        config, "fairness_drift", start + timedelta(minutes=5)
    )
    assert (
        escalation.recipients[1:]
        == instant.recipients[1:]
        == [
            "carol@example.com",
            "cathy@example.com",
        ]
    )
    assert escalation.subject == (
        f"[govflow CRITICAL] alert {slack_alert.id} undelivered for 5 minutes: slack #ml-monitoring"
    )
    assert f"govflow alerts resend {slack_alert.id}" in escalation.body
    assert audit_events(url, "alert.escalated") == [
        (
            "govflow-alerts",
            f"alert:{slack_alert.id}",
            {"channel": "slack", "through": ["email"], "attempts": 4},
        )
    ]


def test_a_critical_alert_waiting_for_a_channel_with_no_connection_neither_escalates_nor_fails(
    url, config, slack
):
    """No SMTP connection (the demo): the e-mail waits in the outbox, listed in the log."""
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    later = datetime.now(UTC) + timedelta(minutes=6)
    deliver_outbox(slack_webhook_url=slack.url, smtp=None, now=later, db_url=url)
    result = escalate_undelivered(slack_webhook_url=slack.url, smtp=None, now=later, db_url=url)
    assert result["escalations"] == []
    assert [(a.channel, a.status) for a in alerts(url)] == [
        ("slack", DELIVERED),
        ("email", PENDING),
    ]
    assert audit_events(url, "alert.escalated") == []


def enqueue_warning(url: str, text: str = "credit_approval: no completed daily analysis") -> int:
    with store.session_scope(url) as session:
        alert, _ = enqueue_alert(
            session,
            idempotency_key=f"monitor-the-monitor:{text}",
            channel="slack",
            destination="#engineering",
            kind="monitor_the_monitor",
            severity="WARNING",
            model_id="credit_approval",
            payload={"text": text},
        )
        return alert.id


def test_an_alert_keyed_by_the_longest_run_id_is_enqueued_once_however_often_retried(
    store_url,
):
    """The monitor-the-monitor alert of a run triggered with a 250-character run id."""
    store.upgrade(store_url)
    key = f"analysis-unrecorded:govflow_monitoring_daily:{LONGEST_RUN_ID}"

    def enqueue() -> tuple[int, bool]:
        with store.session_scope(store_url) as session:
            alert, created = enqueue_alert(
                session,
                idempotency_key=key,
                channel="slack",
                destination="#engineering",
                kind="monitor_the_monitor",
                severity="CRITICAL",
                payload={"text": "1 analysis(es) of this run left no record: credit_approval"},
            )
            return alert.id, created

    first, retried = enqueue(), enqueue()
    assert first[1] is True
    assert retried == (first[0], False)
    with store.session_scope(store_url) as session:
        assert session.scalars(select(Alert.id)).all() == [first[0]]
    assert [target for _, target, _ in audit_events(store_url, "alert.enqueued")] == [
        f"alert:{first[0]}"
    ]


def audit_events(url: str, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with store.session_scope(url) as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        return [(event.actor, event.target, dict(event.payload)) for event in found]


def test_a_warning_fails_after_max_attempts_and_is_sent_again_only_when_a_person_resends_it(
    url, config, slack, caplog
):
    alert_id = enqueue_warning(url)
    slack.fail_next(2)
    now = datetime.now(UTC)
    for step in range(2):
        deliver_pending(
            url,
            slack_webhook_url=slack.url,
            smtp=None,
            now=now + timedelta(hours=step),
            max_attempts=2,
        )
    later = now + timedelta(days=1)
    assert deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=later).delivered == []
    [failed] = [a for a in alerts(url) if a.channel == "slack"]
    assert (failed.status, failed.attempts, failed.next_attempt_at) == (FAILED, 2, None)
    # Not a quiet "failed 1" in the counts: a warning that says how to send it again.
    error = SLACK_REJECTED.format(status=500, body="internal_error")
    assert GAVE_UP.format(id=alert_id, attempts=2, error=error) in caplog.messages

    with store.session_scope(url) as session:
        assert resend_alerts(session, actor="eve", all_failed=True) == [alert_id]
    with store.session_scope(url) as session:  # a retried request changes nothing more
        assert resend_alerts(session, actor="eve", all_failed=True) == []
        assert resend_alerts(session, actor="eve", alert_ids=[alert_id]) == []
    again = deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=later, max_attempts=2)
    assert [(d.channel, d.attempts) for d in again.delivered] == [("slack", 3)]
    assert len(slack.wait_for(1, timeout=5)) == 1
    assert audit_events(url, "alert.resend_requested") == [
        ("eve", f"alert:{alert_id}", {"from_status": FAILED, "attempts": 2})
    ]


def test_a_person_abandons_a_critical_alert_once_and_it_is_never_sent_again(url, config, slack):
    route(url, config, record_run(url, config, [CRITICAL_PSI]))
    [slack_alert] = [a for a in alerts(url) if a.channel == "slack"]
    slack.fail_next(1)
    now = datetime.now(UTC)
    deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=now)
    reason = "posted by hand in #ml-monitoring at 02:20"
    with store.session_scope(url) as session:
        with pytest.raises(AlertRequestError) as no_reason:
            abandon_alert(session, slack_alert.id, actor="lena", reason=" ")
        assert str(no_reason.value) == REASON_REQUIRED
        assert abandon_alert(session, slack_alert.id, actor="lena", reason=reason)
    with store.session_scope(url) as session:
        assert not abandon_alert(session, slack_alert.id, actor="lena", reason=reason)
    later = deliver_pending(
        url, slack_webhook_url=slack.url, smtp=None, now=now + timedelta(hours=1)
    )
    assert (later.delivered, slack.requests) == ([], 1)
    [abandoned] = [a for a in alerts(url) if a.channel == "slack"]
    assert (abandoned.status, abandoned.next_attempt_at) == (ABANDONED, None)
    assert audit_events(url, "alert.abandoned") == [
        (
            "lena",
            f"alert:{slack_alert.id}",
            {"from_status": PENDING, "attempts": 1, "reason": reason, "severity": "CRITICAL"},
        )
    ]


def test_a_delivered_or_unknown_alert_cannot_be_resent_or_abandoned(url, config, slack):
    alert_id = enqueue_warning(url)
    deliver_pending(url, slack_webhook_url=slack.url, smtp=None)
    with store.session_scope(url) as session:
        with pytest.raises(AlertRequestError) as delivered:
            abandon_alert(session, alert_id, actor="eve", reason="r")
        assert str(delivered.value) == NOT_WAITING.format(id=alert_id, status=DELIVERED)
        with pytest.raises(AlertRequestError) as resent:
            resend_alerts(session, actor="eve", alert_ids=[alert_id])
        assert str(resent.value) == NOT_WAITING.format(id=alert_id, status=DELIVERED)
        with pytest.raises(AlertRequestError) as unknown:
            resend_alerts(session, actor="eve", alert_ids=[alert_id + 1])
        assert str(unknown.value) == UNKNOWN_ALERT.format(id=alert_id + 1)


def test_delivering_twice_and_routing_the_same_run_again_send_nothing_new(url, config, slack, mail):
    run_id = record_run(url, config, [CRITICAL_DI, WARNING_PSI])
    assert len(route(url, config, run_id)) == 3
    deliver_pending(url, slack_webhook_url=slack.url, smtp=mail[1])
    assert route(url, config, run_id) == []
    second = deliver_pending(url, slack_webhook_url=slack.url, smtp=mail[1])
    assert second.delivered == []
    assert (slack.requests, len(mail[0].received), len(alerts(url))) == (1, 1, 3)


def test_a_claim_left_by_a_killed_worker_is_taken_over_after_the_lease_once(url, config, slack):
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    now = datetime.now(UTC)

    def leave_claim(age: timedelta) -> None:
        with store.session_scope(url) as session:
            session.execute(
                update(Alert)
                .where(Alert.channel == "slack")
                .values(
                    status=SENDING, claim_token="killed-worker", claimed_at=now - age, attempts=1
                )
            )

    leave_claim(timedelta(minutes=1))
    within_lease = deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=now)
    assert (within_lease.delivered, slack.requests) == ([], 0)

    leave_claim(timedelta(minutes=6))
    after_lease = deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=now)
    again = deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=now)
    assert [(d.channel, d.attempts) for d in after_lease.delivered] == [("slack", 2)]
    assert again.delivered == []
    assert len(slack.wait_for(1, timeout=5)) == 1
    assert slack.requests == 1


def test_two_workers_at_once_send_each_alert_once(url, config, slack):
    findings = [("data_drift", "psi", f"feature_{n}", 0.4, "CRITICAL") for n in range(6)]
    route(url, config, record_run(url, config, findings))
    slack.delay_answers(0.05)
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(
            pool.map(
                lambda _: deliver_pending(url, slack_webhook_url=slack.url, smtp=None), range(2)
            )
        )
    assert sum(len(report.delivered) for report in reports) == 6
    assert len(slack.wait_for(6, timeout=5)) == 6
    assert slack.requests == 6


def test_without_a_slack_url_alerts_wait_in_the_outbox_and_are_reported(url, config, mail, caplog):
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    report = deliver_pending(url, slack_webhook_url=None, smtp=mail[1])
    assert [d.channel for d in report.delivered] == ["email"]
    expected = NOT_CONFIGURED.format(what="Slack connection", count=1)
    assert expected == "no Slack connection configured: 1 alerts waiting in the outbox"
    assert expected in report.lines()
    assert expected in caplog.messages
    assert report.waiting["slack"][0].startswith("[CRITICAL] slack #ml-monitoring (critical): ")
    [waiting] = [a for a in alerts(url) if a.channel == "slack"]
    assert (waiting.status, waiting.attempts) == (PENDING, 0)


def test_a_suppressed_warning_is_recorded_but_never_sent(url, config, slack, mail):
    with store.session_scope(url) as session:
        session.add(
            RiskAcceptance(
                model_id="credit_approval",
                metric="psi",
                rationale="Seasonal applicant profile change",
                requested_by="lena",
                approved_by="carol",
                status="approved",
                suppression_until=DETECTED_AT + timedelta(days=10),
            )
        )
    with store.session_scope(url) as session:
        assert is_suppressed(session, "credit_approval", "psi", DETECTED_AT)
        assert not is_suppressed(
            session, "credit_approval", "psi", DETECTED_AT + timedelta(days=10)
        )
        assert not is_suppressed(session, "credit_approval", "kl_divergence", DETECTED_AT)
    critical_psi = ("data_drift", "psi", "credit_score", 0.31, "CRITICAL")
    created = route(url, config, record_run(url, config, [WARNING_PSI, critical_psi]))
    # A CRITICAL finding is never suppressed (policy.yaml exceptions.applies_to_severities).
    assert [(a.kind, a.status) for a in created] == [
        ("warning_digest_item", SUPPRESSED),
        ("critical", PENDING),
        ("critical", PENDING),
    ]
    with store.session_scope(url) as session:
        assert build_daily_digests(session, config, DAY, links=LINKS) == []
    deliver_pending(url, slack_webhook_url=slack.url, smtp=mail[1])
    [message] = slack.wait_for(1, timeout=5)
    assert message.payload["text"].startswith("<!channel> CRITICAL data drift")


def test_a_slack_that_answers_after_the_client_gave_up_gets_the_message_twice(url, config, slack):
    """The documented limit: Slack webhooks take no idempotency key."""
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    slack.delay_answers(1.5)
    now = datetime.now(UTC)
    first = deliver_pending(
        url, slack_webhook_url=slack.url, smtp=None, now=now, slack_timeout_seconds=1
    )
    assert len(first.retrying) == 1
    slack.delay_answers(0)
    deliver_pending(url, slack_webhook_url=slack.url, smtp=None, now=now + timedelta(minutes=1))
    assert len(slack.wait_for(2, timeout=5)) == 2


def bot(slack: SlackReceiver) -> SlackBot:
    return SlackBot(token=BOT_TOKEN, base_url=slack.api_url)


def test_a_bot_post_that_timed_out_is_found_in_the_channel_history_and_not_posted_again(
    url, config, slack
):
    route(url, config, record_run(url, config, [CRITICAL_DI]))
    [slack_alert] = [a for a in alerts(url) if a.channel == "slack"]
    slack.hang_next(1, seconds=1.5)  # Slack posts it, but after the client gave up
    now = datetime.now(UTC)
    first = deliver_pending(
        url,
        slack_webhook_url=None,
        slack_bot=bot(slack),
        smtp=None,
        now=now,
        slack_timeout_seconds=1,
    )
    assert [
        item.error.startswith(SLACK_API_UNREACHABLE.split("{")[0]) for item in first.retrying
    ] == [True]
    [posted] = slack.wait_for(1, timeout=5)
    assert (posted.channel, posted.payload["metadata"]) == (
        "C0MLMON",
        {
            "event_type": "govflow_alert",
            "event_payload": {"idempotency_key": slack_alert.idempotency_key},
        },
    )

    again = deliver_pending(
        url,
        slack_webhook_url=None,
        slack_bot=bot(slack),
        smtp=None,
        now=now + timedelta(minutes=1),
    )

    assert [(d.alert_id, d.attempts) for d in again.delivered] == [(slack_alert.id, 2)]
    assert (slack.requests, slack.history_requests, len(slack.messages)) == (1, 1, 1)
    [delivered] = audit_events(url, "alert.delivered")
    assert delivered[2]["found_in_channel_history"] is True


def test_a_bot_post_refused_with_500_is_looked_for_then_posted_once(url, config, slack):
    route(url, config, record_run(url, config, [CRITICAL_PSI]))
    slack.fail_next(1)
    now = datetime.now(UTC)
    first = deliver_pending(url, slack_webhook_url=None, slack_bot=bot(slack), smtp=None, now=now)
    assert [item.error for item in first.retrying] == [
        SLACK_API_REJECTED.format(method="chat.postMessage", error="internal_error")
    ]
    again = deliver_pending(
        url,
        slack_webhook_url=None,
        slack_bot=bot(slack),
        smtp=None,
        now=now + timedelta(minutes=1),
    )
    assert len(again.delivered) == 1
    assert (slack.requests, slack.history_requests, len(slack.wait_for(1, timeout=5))) == (2, 1, 1)


def test_a_hung_first_post_duplicates_a_webhook_alert_but_not_a_bot_alert(url, config, slack):
    """The measured duplicate rate: at-least-once for a webhook, exactly once for a bot."""
    findings = [("data_drift", "psi", f"feature_{n}", 0.4, "CRITICAL") for n in range(10)]
    route(url, config, record_run(url, config, findings))
    rates = {}
    for transport in ("webhook", "bot"):
        with running_slack_receiver() as receiver:
            with store.session_scope(url) as session:  # the same ten alerts, not yet sent
                session.execute(
                    update(Alert)
                    .where(Alert.channel == "slack")
                    .values(status=PENDING, attempts=0, next_attempt_at=None, created_at=utcnow())
                )
            receiver.hang_next(1, seconds=1.5)
            now = datetime.now(UTC)
            for minute in range(3):
                deliver_pending(
                    url,
                    slack_webhook_url=receiver.url if transport == "webhook" else None,
                    slack_bot=bot(receiver) if transport == "bot" else None,
                    smtp=None,
                    now=now + timedelta(minutes=minute),
                    slack_timeout_seconds=1,
                )
                receiver.wait_for(10, timeout=5)  # the hung post lands before the retry
            texts = [message.payload["text"] for message in receiver.messages]
            assert len(set(texts)) == 10
            rates[transport] = (len(texts) - len(set(texts))) / len(set(texts))
    print(
        f"duplicate rate with the first post hung past the client's timeout: "
        f"webhook {rates['webhook']:.0%} of 10 alerts, bot token {rates['bot']:.0%}"
    )
    assert rates["webhook"] > 0  # the documented at-least-once of a plain webhook
    assert rates["bot"] == 0


def test_a_critical_alert_reaches_slack_well_within_the_delivery_sla(url, config, slack):
    run_id = record_run(url, config, [CRITICAL_DI])
    enqueued = time.time()
    route(url, config, run_id)
    report = deliver_pending(url, slack_webhook_url=slack.url, smtp=None)
    [message] = slack.wait_for(1, timeout=5)
    latency = message.received_at - enqueued
    [delivered] = report.delivered
    print(
        f"CRITICAL alert latency: {latency * 1000:.1f} ms from enqueue to receipt, "
        f"{delivered.latency_seconds * 1000:.1f} ms recorded (delivered_at - created_at)"
    )
    sla_seconds = config.policy.performance_slas.alert_delivery_max_minutes * 60
    assert 0 < latency < min(30, sla_seconds)
    assert 0 < delivered.latency_seconds < 30


DELIVER_IN_A_CHILD = """
import sys
from govflow.alerts.outbox import deliver_pending
deliver_pending(sys.argv[1], slack_webhook_url=sys.argv[2], smtp=None)
"""


def test_killing_the_delivering_process_and_delivering_again_duplicates_no_message(
    url, config, slack
):
    import signal
    import subprocess
    import sys

    findings = [("data_drift", "psi", f"feature_{n}", 0.4, "CRITICAL") for n in range(5)]
    route(url, config, record_run(url, config, findings))
    slack.delay_answers(0.5)
    child = subprocess.Popen([sys.executable, "-c", DELIVER_IN_A_CHILD, url, slack.url])
    deadline = time.monotonic() + 60
    while slack.requests < 3:  # the third message is in flight
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    slack.delay_answers(0)

    again = deliver_pending(url, slack_webhook_url=slack.url, smtp=None)

    texts = [str(message.payload) for message in slack.wait_for(5, timeout=5)]
    assert len(texts) == len(set(texts)) == 5
    assert len(again.delivered) == 2
    statuses = sorted(alert.status for alert in alerts(url) if alert.channel == "slack")
    # The one killed in flight keeps its claim until the lease runs out: it reached Slack
    # here, and taking it over later is the at-least-once case documented in alerts.py.
    assert statuses == [DELIVERED, DELIVERED, DELIVERED, DELIVERED, SENDING]


@pytest.mark.parametrize(
    ("links", "path", "url"),
    [
        (
            LINKS,
            "reports/credit_approval/day.html",
            "http://airflow.test:8080/govflow/reports/credit_approval/day.html",
        ),
        (
            Links(airflow_base_url="http://airflow.test:8080/"),
            "reports/credit_approval/day.html",
            "http://airflow.test:8080/govflow/reports/reports/credit_approval/day.html",
        ),
        (Links(airflow_base_url="http://airflow.test:8080"), "/data/reports/m/day.html", None),
        (Links(airflow_base_url="http://airflow.test:8080"), None, None),
    ],
)
def test_a_drift_report_links_to_the_report_base_url_or_else_through_the_dashboard(
    links, path, url
):
    """Never a path on the server: without a report base URL the dashboard serves the
    recorded path (issue 16); an absolute path is no recorded path and is not linked."""
    assert links.report(path) == url
