"""govflow_airflow.connections: an analysis that queued no alert asks Airflow for nothing."""

from __future__ import annotations

from govflow_airflow import connections


def test_no_alert_to_send_looks_up_no_connection(monkeypatch):
    looked_up: list[str] = []
    monkeypatch.setattr(connections, "_connection", looked_up.append)

    assert connections.deliver_now([]) == {}
    assert looked_up == []


def test_alerts_to_send_look_up_every_channel_once(monkeypatch):
    looked_up: list[str] = []

    def connection(conn_id):
        looked_up.append(conn_id)

    sent: list[dict] = []
    monkeypatch.setattr(connections, "_connection", connection)
    monkeypatch.setattr(
        "govflow.flows.alerts.deliver_outbox", lambda **kwargs: sent.append(kwargs) or {}
    )

    connections.deliver_now([7])

    assert sorted(set(looked_up)) == [
        connections.PAGERDUTY_CONNECTION,
        connections.SLACK_CONNECTION,
        connections.SMTP_CONNECTION,
    ]
    assert [kwargs["only_ids"] for kwargs in sent] == [[7]]
