"""Issue 15 item 4, seed 004 section 11 "SMS (on-call)": a CRITICAL incident pages the
on-call through PagerDuty's Events API v2 (a local receiver speaking it on 127.0.0.1), the
page follows the incident (acknowledged, resolved), retries never page twice, and an outage
delays the page without reordering it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.alerts.outbox import deliver_pending
from govflow.alerts.paging import PAGERDUTY, PagerDutySettings, page_event
from govflow.config import GovflowConfig, load_config
from govflow.incidents.lifecycle import (
    accept_risk,
    acknowledge,
    close,
    reopen,
    resolve,
    start_investigation,
)
from govflow.store.schema import Alert, AuditEvent, Incident
from tests.support.pagerduty_receiver import ROUTING_KEY, running_pagerduty_receiver
from tests.unit.test_incidents import DETECTED_AT, new_incident, prepare


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


@pytest.fixture
def url(sqlite_url) -> str:
    return prepare(sqlite_url)


@pytest.fixture
def pagerduty():
    with running_pagerduty_receiver() as receiver:
        yield receiver, PagerDutySettings(routing_key=ROUTING_KEY, url=receiver.url)


def deliver(db_url, pagerduty_settings, *, at=None):
    return deliver_pending(
        db_url, slack_webhook_url=None, smtp=None, pagerduty=pagerduty_settings, now=at
    )


def pages(db_url) -> list[tuple[str, str]]:
    with store.session_scope(db_url) as session:
        return [
            (alert.payload["event_action"], alert.status)
            for alert in session.scalars(
                select(Alert).where(Alert.channel == PAGERDUTY).order_by(Alert.id)
            )
        ]


def ref_of(db_url, incident_id) -> str:
    with store.session_scope(db_url) as session:
        return session.get_one(Incident, incident_id).ref


def test_a_critical_incident_pages_once_and_the_page_follows_it_to_resolved(url, config, pagerduty):
    receiver, endpoint = pagerduty
    incident_id = new_incident(url, config)
    new_incident(url, config)  # the same finding again: a recurrence, not a second page
    ref = ref_of(url, incident_id)

    deliver(url, endpoint)
    deliver(url, endpoint)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="carol", at=DETECTED_AT + timedelta(minutes=4))
        acknowledge(session, incident, actor="carol")  # a retried step
    deliver(url, endpoint)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        start_investigation(session, incident, actor="carol")
        resolve(
            session,
            incident,
            config=config,
            actor="lena",
            root_cause="a feed changed",
            corrective_action="retrained",
        )
        close(session, incident, actor="lena")
    deliver(url, endpoint)

    assert receiver.actions() == [("trigger", ref), ("acknowledge", ref), ("resolve", ref)]
    assert receiver.alerts == {ref: "resolved"}
    trigger = receiver.events[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == f"{ref} CRITICAL disparate_impact_ratio"
    assert pages(url) == [
        ("trigger", "delivered"),
        ("acknowledge", "delivered"),
        ("resolve", "delivered"),
    ]


@pytest.mark.parametrize("severity", ["WARNING", "INFO"])
def test_only_a_severity_whose_policy_says_sms_on_call_pages(url, config, pagerduty, severity):
    receiver, endpoint = pagerduty
    new_incident(url, config, severity=severity)

    deliver(url, endpoint)

    assert receiver.requests == 0
    assert pages(url) == []


def test_an_outage_delays_the_page_and_the_acknowledgement_never_overtakes_it(
    url, config, pagerduty
):
    receiver, endpoint = pagerduty
    incident_id = new_incident(url, config)
    ref = ref_of(url, incident_id)
    receiver.fail_next(3)
    start = DETECTED_AT + timedelta(minutes=1)

    deliver(url, endpoint, at=start)  # the trigger fails (500)
    with store.session_scope(url) as session:
        acknowledge(session, session.get_one(Incident, incident_id), actor="carol")
    for minute in range(2, 30):  # every minute, as govflow_alert_delivery runs
        deliver(url, endpoint, at=start + timedelta(minutes=minute))

    assert receiver.requests == 5  # three refused triggers, then trigger and acknowledge
    assert receiver.actions() == [("trigger", ref), ("acknowledge", ref)]
    assert receiver.alerts == {ref: "acknowledged"}
    assert pages(url) == [("trigger", "delivered"), ("acknowledge", "delivered")]


def test_without_a_pagerduty_connection_the_page_waits_in_the_outbox(url, config):
    new_incident(url, config)

    report = deliver(url, None)

    assert list(report.waiting) == [PAGERDUTY]
    assert pages(url) == [("trigger", "pending")]


def test_a_reopened_incident_pages_again(url, config, pagerduty):
    receiver, endpoint = pagerduty
    incident_id = new_incident(url, config)
    ref = ref_of(url, incident_id)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="carol")
        accept_risk(session, incident, actor="carol", event_key="accepted")
        reopen(session, incident, actor="govflow", event_key="reopened:1")

    deliver(url, endpoint)

    assert receiver.actions() == [
        ("trigger", ref),
        ("acknowledge", ref),
        ("resolve", ref),
        ("trigger", ref),
    ]
    assert receiver.alerts == {ref: "triggered"}


def test_the_routing_key_is_never_in_the_outbox_or_the_audit_trail(url, config, pagerduty):
    _, endpoint = pagerduty
    new_incident(url, config)
    deliver(url, endpoint)

    with store.session_scope(url) as session:
        stored = [alert.payload for alert in session.scalars(select(Alert))]
        stored += [event.payload for event in session.scalars(select(AuditEvent))]
    assert ROUTING_KEY not in repr(stored)
    assert ROUTING_KEY not in repr(endpoint)


def test_an_acknowledge_or_resolve_event_carries_only_its_key():
    assert page_event("resolve", dedup_key="INC-2025-0001") == {
        "event_action": "resolve",
        "dedup_key": "INC-2025-0001",
    }
