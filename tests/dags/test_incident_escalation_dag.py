"""govflow_incident_escalation: every five minutes, escalates overdue incidents no response run
covers and expires ended risk acceptances, then sends what it enqueued, once."""

from __future__ import annotations

import json
import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.config import load_config
from govflow.incidents.lifecycle import acknowledge, get_incident, mark_response_run, open_incident
from govflow.store.schema import Alert, IncidentEvent
from govflow.store.types import utcnow
from tests.support.incidents import measured
from tests.support.registry import high_risk_model
from tests.support.slack_receiver import running_slack_receiver

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "govflow_incident_escalation.py"
DAG_ID = "govflow_incident_escalation"


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    store.upgrade(url)
    with store.session_scope(url) as session:
        session.add(high_risk_model())
    return url


def open_critical(url: str, metric: str, minutes_ago: int) -> str:
    with store.session_scope(url) as session:
        incident, _ = open_incident(
            session,
            load_config(settings.config_dir()),
            model_id="credit_approval",
            category="fairness_drift",
            metric=metric,
            severity="CRITICAL",
            title=f"CRITICAL fairness drift: {metric} on credit_approval",
            actor="govflow-monitoring",
            opened_at=utcnow() - timedelta(minutes=minutes_ago),
        )
        return incident.ref


def dag_file() -> dict[str, Any]:
    return runpy.run_path(str(DAG_FILE))


def test_the_sweeper_runs_every_five_minutes_one_run_at_a_time_without_catching_up():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    dag = bag.dags[DAG_ID]

    assert bag.import_errors == {}
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("*/5 * * * *", "UTC")
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "sweep_incidents": [],
        "deliver_notifications": ["sweep_incidents"],
    }


def test_the_sweep_task_escalates_what_is_overdue_and_leaves_the_rest(db_url, capsys):
    overdue = open_critical(db_url, "disparate_impact_ratio", minutes_ago=20)
    open_critical(db_url, "demographic_parity_drift", minutes_ago=5)  # within the SLA
    covered = open_critical(db_url, "equal_opportunity_drift", minutes_ago=30)
    handled = open_critical(db_url, "calibration_gap", minutes_ago=30)
    with store.session_scope(db_url) as session:
        mark_response_run(
            session, get_incident(session, covered), dag_run_id=f"incident__{covered}", actor="r"
        )
        acknowledge(session, get_incident(session, handled), actor="carol")
    sweep = dag_file()["sweep_incidents"].function

    first = sweep()
    second = sweep()

    assert [(e["ref"], e["level"], e["people"]) for e in first["escalated"]] == [
        (overdue, "secondary", ["tom"])
    ]
    assert len(first["alert_ids"]) == 2
    assert (first["expired"], second) == ([], {"escalated": [], "expired": [], "alert_ids": []})
    assert f"{overdue} escalated to secondary ['tom']: not acknowledged within 15 minutes" in (
        capsys.readouterr().out
    )


def test_the_sweep_task_expires_an_ended_acceptance_and_reopens_a_persisting_incident(db_url):
    from govflow.incidents.risk_acceptances import approve_acceptance, request_acceptance

    config = load_config(settings.config_dir())
    now = utcnow()
    with store.session_scope(db_url) as session:
        measured(session, "psi", "WARNING", 0.18, now - timedelta(days=11))
        session.flush()
        acceptance = request_acceptance(
            session,
            config,
            model_id="credit_approval",
            metric="psi",
            rationale="seasonal",
            days=10,
            requested_by="lena",
            at=now - timedelta(days=10, hours=1),
        )
        approve_acceptance(
            session, config, acceptance, approver="carol", at=now - timedelta(days=10)
        )

    swept = dag_file()["sweep_incidents"].function()

    assert [(e["metric"], e["action"]) for e in swept["expired"]] == [("psi", "reopened")]
    assert len(swept["alert_ids"]) == 2


def test_a_dag_run_sends_the_escalation_to_slack_once(db_url, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    ref = open_critical(db_url, "disparate_impact_ratio", minutes_ago=20)
    with running_slack_receiver() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_DEFAULT",
            json.dumps({"conn_type": "slackwebhook", "password": receiver.url}),
        )
        dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]
        assert dag.test().state == "success"
        assert dag.test().state == "success"
        receiver.wait_for(1, timeout=10)
        texts = [message.payload["text"] for message in receiver.messages]

    assert len(texts) == 1
    assert texts[0].startswith(f"@tom (Tom Tran) {ref} escalated to secondary")
    with store.session_scope(db_url) as session:
        statuses = {
            alert.channel: alert.status
            for alert in session.scalars(select(Alert).order_by(Alert.id))
        }
        kinds = session.scalars(select(IncidentEvent.kind).order_by(IncidentEvent.id)).all()
    # No SMTP or PagerDuty connection: the e-mail and the CRITICAL incident's page wait in
    # the outbox for govflow_alert_delivery.
    assert statuses == {"slack": "delivered", "email": "pending", "pagerduty": "pending"}
    assert kinds == ["opened", "escalated"]
