"""govflow_alert_delivery sends the outbox through the slack_default connection, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import store
from govflow.alerts.outbox import enqueue_alert
from govflow.store.schema import Alert
from tests.support.slack_receiver import running_slack_receiver

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


def test_without_a_slack_connection_the_alert_waits_in_the_outbox(outbox, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_DEFAULT", raising=False)
    assert _delivery_dag().test().state == "success"
    assert _statuses(outbox) == ["pending"]
