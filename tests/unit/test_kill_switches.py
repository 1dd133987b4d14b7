"""Seed 003 kill switches: scoped, one active per scope and target, every change audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from govflow import store
from govflow.audit import verify_chain
from govflow.kill_switches import (
    NOT_ACTIVE,
    REASON_REQUIRED,
    RECOVERY_NOTES_REQUIRED,
    SCOPES,
    UNKNOWN_SCOPE,
    KillSwitchError,
    activate,
    active_switches,
    blocking_switches,
    deactivate,
)
from govflow.store.schema import AuditEvent, KillSwitch

AT = datetime(2025, 3, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def url(store_url: str) -> str:
    store.upgrade(store_url)
    return store_url


@pytest.fixture
def sqlite_store(sqlite_url: str) -> str:
    store.upgrade(sqlite_url)
    return sqlite_url


def test_activating_twice_leaves_one_active_switch_and_one_audit_event(url):
    with store.session_scope(url) as session:
        first, created = activate(
            session,
            scope="model_type",
            target="credit_approval",
            reason="INC-1",
            actor="carol",
            at=AT,
        )
        again, created_again = activate(
            session, scope="model_type", target="credit_approval", reason="retry", actor="eve"
        )
    assert (created, created_again, first.id == again.id) == (True, False, True)
    with store.session_scope(url) as session:
        switches = session.scalars(select(KillSwitch)).all()
        audited = session.scalars(select(AuditEvent.action)).all()
    assert [(s.scope, s.target, s.activated_by, s.reason) for s in switches] == [
        ("model_type", "credit_approval", "carol", "INC-1")
    ]
    assert audited == ["kill_switch.activated"]


def test_deactivation_records_the_recovery_and_frees_the_scope_for_a_new_switch(url):
    with store.session_scope(url) as session:
        activate(session, scope="region", target="north", reason="outage", actor="eve")
        lifted = deactivate(
            session, scope="region", target="north", recovery_notes="feed restored", actor="lena"
        )
        assert (lifted.active_key, lifted.deactivated_by, lifted.recovery_notes) == (
            None,
            "lena",
            "feed restored",
        )
        _, created = activate(session, scope="region", target="north", reason="again", actor="eve")
        assert created
        assert verify_chain(session).intact
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["kill_switch.activated", "kill_switch.deactivated", "kill_switch.activated"]


def test_only_the_switches_of_the_requests_own_scopes_block_it(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        activate(session, scope="customer_segment", target="high_value", reason="r", actor="eve")
        activate(session, scope="region", target="south", reason="r", actor="eve")
        request = {
            "model_type": "credit_approval",
            "customer_segment": "high_value",
            "region": "north",
        }
        other = {"model_type": "credit_approval", "customer_segment": "standard", "region": "north"}
        assert [(s.scope, s.target) for s in blocking_switches(session, request)] == [
            ("customer_segment", "high_value")
        ]
        assert blocking_switches(session, other) == []
        assert len(active_switches(session)) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: activate(s, scope="planet", target="mars", reason="r", actor="eve"),
            UNKNOWN_SCOPE.format(scope="planet", scopes=", ".join(SCOPES)),
        ),
        (
            lambda s: activate(s, scope="region", target="north", reason=" ", actor="eve"),
            REASON_REQUIRED,
        ),
        (
            lambda s: deactivate(s, scope="region", target="north", recovery_notes="", actor="eve"),
            RECOVERY_NOTES_REQUIRED,
        ),
        (
            lambda s: deactivate(
                s, scope="region", target="north", recovery_notes="ok", actor="eve"
            ),
            NOT_ACTIVE.format(scope="region", target="north"),
        ),
    ],
)
def test_bad_kill_switch_requests_are_refused_with_a_clear_reason(sqlite_store, call, message):
    with store.session_scope(sqlite_store) as session, pytest.raises(KillSwitchError) as raised:
        call(session)
    assert str(raised.value) == message
