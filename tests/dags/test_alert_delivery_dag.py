"""govflow_alert_delivery sends the outbox through the slack_default connection, once; its
form lets a person resend or abandon alerts, as the user who triggered the run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import select, update

from govflow import store
from govflow.alerts.messages import SLACK_REJECTED
from govflow.alerts.outbox import NOTHING_NAMED, REASON_REQUIRED, enqueue_alert
from govflow.flows.alerts import ABANDONERS, NOT_AN_ABANDONER, UNDELIVERED
from govflow.store.schema import Alert, AuditEvent
from govflow.store.types import utcnow
from tests.support.slack_receiver import BOT_TOKEN, running_slack_receiver

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def outbox(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    store.upgrade(url)
    with store.session_scope(url) as session:
        enqueue_alert(
            session,
            idempotency_key="monitor-the-monitor:credit_approval:daily:2025-03-28",
            channel="slack",
            destination="#engineering",
            kind="monitor_the_monitor",
            severity="WARNING",
            model_id="credit_approval",
            payload={"text": "credit_approval: no completed daily analysis of 2025-03-28"},
        )
    return url


def _delivery_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_alert_delivery.py")).get_dag(
        "govflow_alert_delivery"
    )


def _statuses(url: str) -> list[str]:
    with store.session_scope(url) as session:
        return list(session.scalars(select(Alert.status)))


def test_a_waiting_alert_reaches_the_slack_webhook_of_the_connection_exactly_once(
    outbox, monkeypatch
):
    with running_slack_receiver() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_DEFAULT",
            json.dumps({"conn_type": "slackwebhook", "password": receiver.url}),
        )
        dag = _delivery_dag()
        assert dag.test().state == "success"
        assert dag.test().state == "success"
        receiver.wait_for(1, timeout=10)
        texts = [json.dumps(message.payload) for message in receiver.messages]
    assert len(texts) == 1
    assert "no completed daily analysis of 2025-03-28" in texts[0]
    assert _statuses(outbox) == ["delivered"]


def test_a_slack_bot_connection_posts_the_alert_with_its_key_in_the_metadata(outbox, monkeypatch):
    with running_slack_receiver() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_DEFAULT",
            json.dumps(
                {
                    "conn_type": "slack",
                    "password": BOT_TOKEN,
                    "extra": {"base_url": receiver.api_url},
                }
            ),
        )
        assert _delivery_dag().test().state == "success"
        [message] = receiver.wait_for(1, timeout=10)
    assert (message.path, message.channel) == ("/api/chat.postMessage", "C0ENG")
    assert message.payload["metadata"]["event_payload"] == {
        "idempotency_key": "monitor-the-monitor:credit_approval:daily:2025-03-28"
    }
    assert _statuses(outbox) == ["delivered"]


def test_without_a_slack_connection_the_alert_waits_in_the_outbox(outbox, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_DEFAULT", raising=False)
    assert _delivery_dag().test().state == "success"
    assert _statuses(outbox) == ["pending"]


def _from_the_form(dag, params: dict, user: str) -> list[int]:
    """The form's task as Airflow runs it for a run that ``user`` triggered."""
    task = dag.get_task("apply_request")
    return task.python_callable(params=params, dag_run=SimpleNamespace(triggering_user_name=user))


FORM = {"action": "deliver", "alert_ids": [], "all_failed": False, "reason": ""}


def test_the_form_offers_resend_and_abandon_with_typed_titled_params():
    dag = _delivery_dag()
    params = dag.params.dump()
    assert params == FORM  # a scheduled run delivers and asks nothing else
    assert dag.params.get_param("action").schema["enum"] == ["deliver", "resend", "abandon"]
    for name in params:
        param = dag.params.get_param(name)
        assert param.schema["title"] and param.description, name


def test_a_person_abandons_then_resends_an_alert_from_the_form_named_in_the_audit(outbox):
    dag = _delivery_dag()
    abandon = {**FORM, "action": "abandon", "alert_ids": [1], "reason": "told by phone"}
    assert _from_the_form(dag, abandon, "lena") == [1]
    assert _from_the_form(dag, abandon, "lena") == []  # a retried task changes nothing
    assert _statuses(outbox) == ["abandoned"]
    assert _from_the_form(dag, {**FORM, "action": "resend", "alert_ids": [1]}, "eve") == [1]
    assert _from_the_form(dag, FORM, "eve") == []
    assert _statuses(outbox) == ["pending"]
    with store.session_scope(outbox) as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action != "alert.enqueued").order_by(AuditEvent.seq)
        )
        assert [(e.actor, e.action, e.target) for e in found] == [
            ("lena", "alert.abandoned", "alert:1"),
            ("eve", "alert.resend_requested", "alert:1"),
        ]


def test_a_critical_alert_undelivered_after_5_minutes_fails_the_run_naming_it(
    outbox, monkeypatch, capsys
):
    with store.session_scope(outbox) as session:
        critical, _ = enqueue_alert(
            session,
            idempotency_key="critical:credit_approval:psi:income:manual__1:slack",
            channel="slack",
            destination="#ml-monitoring",
            kind="critical",
            severity="CRITICAL",
            model_id="credit_approval",
            payload={"text": "<!channel> CRITICAL data drift: credit_approval psi (income)"},
        )
        session.execute(
            update(Alert)
            .where(Alert.id == critical.id)
            .values(created_at=utcnow() - timedelta(minutes=6))
        )
    with running_slack_receiver() as receiver:
        receiver.fail_next(10**6, containing="CRITICAL")
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_DEFAULT",
            json.dumps({"conn_type": "slackwebhook", "password": receiver.url}),
        )
        dag_run = _delivery_dag().test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert (dag_run.state, states["escalate_undelivered_alerts"]) == ("failed", "failed")
    line = UNDELIVERED.format(
        count=1,
        minutes=5,
        alerts=f"{critical.id} (slack #ml-monitoring, "
        f"{SLACK_REJECTED.format(status=500, body='internal_error')})",
    )
    logged = capsys.readouterr()
    assert f"AirflowFailException: {line}" in logged.out + logged.err


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"action": "abandon", "reason": "told by phone"}, NOTHING_NAMED.format(verb="abandon")),
        ({"action": "resend"}, NOTHING_NAMED.format(verb="resend")),
        ({"action": "abandon", "alert_ids": [1]}, REASON_REQUIRED),
    ],
)
def test_a_form_that_names_no_alert_or_no_reason_fails_and_changes_nothing(outbox, params, message):
    with pytest.raises(AirflowFailException) as refused:
        _from_the_form(_delivery_dag(), {**FORM, **params}, "lena")
    assert str(refused.value) == message
    assert _statuses(outbox) == ["pending"]


def test_the_compliance_officer_may_not_abandon_an_alert_from_the_form(outbox):
    abandon = {**FORM, "action": "abandon", "alert_ids": [1], "reason": "told by phone"}
    with pytest.raises(AirflowFailException) as refused:
        _from_the_form(_delivery_dag(), abandon, "carol")
    assert str(refused.value) == NOT_AN_ABANDONER.format(
        actor="carol", roles=", ".join(ABANDONERS), held="compliance_officer"
    )
    assert _statuses(outbox) == ["pending"]
