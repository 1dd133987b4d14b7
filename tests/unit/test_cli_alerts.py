"""Issue 13 item 9: `govflow alerts resend|abandon`, a person's way to send a given-up alert
again or to give up on one, against a fresh store: exit codes, messages, and the audit
events that name who did it. Asking twice changes and records nothing more."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from govflow import store
from govflow.alerts.outbox import (
    ABANDONED,
    FAILED,
    NOT_WAITING,
    PENDING,
    REASON_REQUIRED,
    UNKNOWN_ALERT,
    enqueue_alert,
)
from govflow.flows import NOT_A_PERSON
from govflow.flows.alerts import ABANDONERS, DECIDES, NOT_AN_ABANDONER
from govflow.store.schema import Alert, AuditEvent


@pytest.fixture
def db_url(fresh_store_env) -> str:
    store.upgrade(fresh_store_env)
    return fresh_store_env


def govflow(*args: str) -> Result:
    from govflow.cli import app

    return CliRunner().invoke(app, list(args), prog_name="govflow")


def enqueue(db_url: str, key: str, *, severity: str, status: str) -> int:
    with store.session_scope(db_url) as session:
        alert, _ = enqueue_alert(
            session,
            idempotency_key=key,
            channel="slack",
            destination="#ml-monitoring",
            kind="critical",
            severity=severity,
            payload={"text": key},
        )
        session.execute(update(Alert).where(Alert.id == alert.id).values(status=status))
        return alert.id


def state(db_url: str) -> list[tuple[int, str]]:
    with store.session_scope(db_url) as session:
        return [(a.id, a.status) for a in session.scalars(select(Alert).order_by(Alert.id))]


def events(db_url: str) -> list[tuple[str, str, str]]:
    with store.session_scope(db_url) as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("alert.%")).order_by(AuditEvent.seq)
        )
        return [(e.actor, e.action, e.target) for e in found if e.action != "alert.enqueued"]


def test_resend_all_failed_puts_them_back_once_and_names_who_asked(db_url):
    first = enqueue(db_url, "a", severity="WARNING", status=FAILED)
    second = enqueue(db_url, "b", severity="WARNING", status=FAILED)
    result = govflow("alerts", "resend", "--all-failed", "--actor", "eve")
    assert (result.exit_code, result.stdout) == (
        0,
        f"alert {first} back in the outbox, due now\nalert {second} back in the outbox, due now\n",
    )
    again = govflow("alerts", "resend", "--all-failed", "--actor", "eve")
    assert (again.exit_code, again.stdout) == (0, "nothing to resend: no alert changed\n")
    assert state(db_url) == [(first, PENDING), (second, PENDING)]
    assert events(db_url) == [
        ("eve", "alert.resend_requested", f"alert:{first}"),
        ("eve", "alert.resend_requested", f"alert:{second}"),
    ]


def test_abandon_gives_up_a_critical_alert_once_with_the_reason(db_url):
    alert_id = enqueue(db_url, "c", severity="CRITICAL", status=PENDING)
    args = ["alerts", "abandon", str(alert_id), "--reason", "told by phone", "--actor", "lena"]
    result = govflow(*args)
    assert (result.exit_code, result.stdout) == (0, f"alert {alert_id} abandoned\n")
    again = govflow(*args)
    assert (again.exit_code, again.stdout) == (0, f"alert {alert_id} was already abandoned\n")
    assert state(db_url) == [(alert_id, ABANDONED)]
    assert events(db_url) == [("lena", "alert.abandoned", f"alert:{alert_id}")]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["alerts", "resend", "7", "--actor", "eve"], UNKNOWN_ALERT.format(id=7)),
        (["alerts", "abandon", "1", "--reason", " ", "--actor", "eve"], REASON_REQUIRED),
        (
            ["alerts", "abandon", "1", "--reason", "r", "--actor", "zed"],
            NOT_A_PERSON.format(actor="zed", may=DECIDES),
        ),
        (
            ["alerts", "abandon", "2", "--reason", "r", "--actor", "eve"],
            NOT_WAITING.format(id=2, status="delivered"),
        ),
        # a CRITICAL alert given up is a page nobody gets: not the compliance officer's call
        (
            ["alerts", "abandon", "1", "--reason", "r", "--actor", "carol"],
            NOT_AN_ABANDONER.format(
                actor="carol", roles=", ".join(ABANDONERS), held="compliance_officer"
            ),
        ),
    ],
)
def test_a_request_that_cannot_be_carried_out_exits_1_in_one_line_and_changes_nothing(
    db_url, args, line
):
    enqueue(db_url, "d", severity="CRITICAL", status=PENDING)
    enqueue(db_url, "e", severity="CRITICAL", status="delivered")
    result = govflow(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", line + "\n")
    assert state(db_url) == [(1, PENDING), (2, "delivered")]
    assert events(db_url) == []
