"""`govflow kill-switch activate|deactivate|list` against a fresh store: exit codes, messages,
and the audit trail that names who did it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow import store
from govflow.config import load_config
from govflow.incidents import lifecycle, regulator_report
from govflow.serving.kill_switches import (
    NOT_ACTIVE,
    NOT_AUTHORISED,
    REASON_REQUIRED,
    RECOVERY_NOTES_REQUIRED,
    SCOPES,
    UNKNOWN_SCOPE,
    UNKNOWN_TARGET,
)
from govflow.store.schema import AuditEvent, KillSwitch
from tests.support.registry import register_models

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SEGMENT = ["--scope", "customer_segment", "--target", "high_value"]
ACTIVATE = ["kill-switch", "activate", *SEGMENT, "--reason", "approvals doubled"]
DEACTIVATE = ["kill-switch", "deactivate", *SEGMENT, "--notes", "segment feed fixed"]
AUTHORISED_ROLES = "ml_engineer, ml_lead, deployment_manager, cto"
TIME = "%Y-%m-%d %H:%M:%S UTC"


@pytest.fixture
def db_url(fresh_store_env) -> str:
    """A store that does not exist yet: the commands create it."""
    return fresh_store_env


def govflow(*args: str) -> Result:
    from govflow.cli import app

    return CliRunner().invoke(app, list(args))


def audit_trail() -> list[tuple[str, str, str]]:
    """(actor, action, target) of every kill-switch event, as `audit query --json` prints them."""
    result = govflow("audit", "query", "--action", "kill_switch.*", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return [(row["actor"], row["action"], row["target"]) for row in rows]


def open_incident(db_url: str) -> str:
    """A live incident of credit_approval, opened in 2025 (INC-2025-0001), to contain."""
    config = load_config(CONFIG_DIR)
    register_models(db_url, config, {"credit_approval": []})
    with store.session_scope(db_url) as session:
        incident, _ = lifecycle.open_incident(
            session,
            config,
            model_id="credit_approval",
            category="fairness_drift",
            metric="disparate_impact_ratio",
            severity="CRITICAL",
            title="CRITICAL fairness drift on credit_approval",
            actor="govflow-monitoring",
            opened_at=datetime(2025, 3, 20, 2, 0, tzinfo=UTC),
        )
        return incident.ref


def activation_payload(db_url: str) -> dict:
    with store.session_scope(db_url) as session:
        return session.scalars(
            select(AuditEvent.payload).where(AuditEvent.action == "kill_switch.activated")
        ).one()


def test_activating_prints_the_switch_and_when_serving_gateways_apply_it(db_url):
    ref = open_incident(db_url)
    result = govflow(*ACTIVATE, "--actor", "eve", "--context", f"incident={ref}")
    assert (result.exit_code, result.stderr) == (0, "")
    with store.session_scope(db_url) as session:
        switch = session.scalars(select(KillSwitch)).one()
    payload = activation_payload(db_url)
    activated_at = switch.activated_at.strftime(TIME)
    applied_by = (switch.activated_at + timedelta(seconds=1)).strftime(TIME)
    assert result.stdout.splitlines() == [
        f"kill switch {switch.id} activated: customer_segment 'high_value' blocked by eve at "
        f"{activated_at}",
        f"serving gateways apply it by {applied_by}: they re-read kill switches every 1 s",
    ]
    assert payload == {
        "scope": "customer_segment",
        "target": "high_value",
        "reason": "approvals doubled",
        "incident": "INC-2025-0001",
    }
    assert audit_trail() == [("eve", "kill_switch.activated", f"kill_switch:{switch.id}")]


def test_a_switch_naming_an_incident_is_on_its_timeline_and_in_its_report_once(db_url):
    ref = open_incident(db_url)

    first = govflow(*ACTIVATE, "--actor", "eve", "--context", f"incident={ref.lower()}")
    again = govflow(*ACTIVATE, "--actor", "eve", "--context", f"incident={ref}")
    shown = govflow("incident", "show", ref)

    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert activation_payload(db_url)["incident"] == ref
    with store.session_scope(db_url) as session:
        switch = session.scalars(select(KillSwitch)).one()
        incident = lifecycle.get_incident(session, ref)
        contained = [
            e for e in regulator_report.timeline(session, incident) if e.kind == "containment"
        ]
        report = regulator_report.build_report(
            session, load_config(CONFIG_DIR), ref, as_of=datetime.now(UTC)
        )
    note = f"customer_segment 'high_value' blocked by kill switch {switch.id}: approvals doubled"
    assert [(e.actor, e.note) for e in contained] == [("eve", note)]
    assert note in shown.stdout
    containment = report.markdown.split("## Containment", 1)[1].split("## Timeline", 1)[0]
    assert f"kill_switch.activated by eve (kill_switch:{switch.id})" in containment


def test_a_switch_naming_an_incident_that_does_not_exist_is_refused_and_records_nothing(db_url):
    result = govflow(*ACTIVATE, "--actor", "eve", "--context", "incident=INC-9999-9999")

    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "no incident 'INC-9999-9999'\n",
    )
    assert audit_trail() == []
    assert govflow("kill-switch", "list", "--all").stdout == "no kill switches yet\n"


def test_activating_an_active_switch_again_changes_and_audits_nothing(db_url):
    assert govflow(*ACTIVATE, "--actor", "eve").exit_code == 0
    again = govflow(*ACTIVATE[:-1], "still doubled", "--actor", "carol")
    with store.session_scope(db_url) as session:
        switch = session.scalars(select(KillSwitch)).one()
    assert (again.exit_code, again.stdout.splitlines()) == (
        0,
        [
            f"kill switch {switch.id} was already active: customer_segment 'high_value' blocked "
            f"by eve since {switch.activated_at.strftime(TIME)}; nothing changed"
        ],
    )
    assert switch.reason == "approvals doubled"
    assert audit_trail() == [("eve", "kill_switch.activated", f"kill_switch:{switch.id}")]


def test_a_switch_is_listed_while_active_and_in_the_history_once_lifted(db_url):
    assert govflow(*ACTIVATE, "--actor", "eve").exit_code == 0
    listed = govflow("kill-switch", "list")
    lifted = govflow(*DEACTIVATE, "--actor", "lena")
    after = govflow("kill-switch", "list")
    history = govflow("kill-switch", "list", "--all")
    with store.session_scope(db_url) as session:
        switch = session.scalars(select(KillSwitch)).one()
    assert switch.deactivated_at is not None
    activated = switch.activated_at.strftime("%Y-%m-%d %H:%M:%S")
    deactivated = switch.deactivated_at.strftime("%Y-%m-%d %H:%M:%S")
    header = (
        "  id  state   scope                target                           activated (UTC)"
        "      by         reason"
    )
    row = (
        f"   {switch.id}  {{state}}  customer_segment     high_value{' ' * 23}{activated}  "
        "eve        approvals doubled"
    )
    assert listed.stdout.splitlines() == [header, row.format(state="active")]
    assert lifted.stdout.splitlines() == [
        f"kill switch {switch.id} deactivated: customer_segment 'high_value' lifted by lena at "
        f"{switch.deactivated_at.strftime(TIME)}",
        "serving gateways apply it by "
        f"{(switch.deactivated_at + timedelta(seconds=1)).strftime(TIME)}: they re-read kill "
        "switches every 1 s",
    ]
    assert after.stdout == "no active kill switches\n"
    assert history.stdout.splitlines() == [
        header,
        row.format(state="lifted"),
        f"      lifted {deactivated} by lena: segment feed fixed",
    ]
    assert audit_trail() == [
        ("eve", "kill_switch.activated", f"kill_switch:{switch.id}"),
        ("lena", "kill_switch.deactivated", f"kill_switch:{switch.id}"),
    ]


def test_an_empty_store_lists_no_switches(db_url):
    assert govflow("kill-switch", "list").stdout == "no active kill switches\n"
    assert govflow("kill-switch", "list", "--all").stdout == "no kill switches yet\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["kill-switch", "activate", "--scope", "planet", "--target", "mars", "--reason", "r"],
            UNKNOWN_SCOPE.format(scope="planet", scopes=", ".join(SCOPES)),
        ),
        (["kill-switch", "activate", *SEGMENT], REASON_REQUIRED),
        (["kill-switch", "deactivate", *SEGMENT], RECOVERY_NOTES_REQUIRED),
        (DEACTIVATE, NOT_ACTIVE.format(scope="customer_segment", target="high_value")),
    ],
)
def test_a_request_the_library_refuses_exits_1_with_its_message(db_url, args, message):
    result = govflow(*args, "--actor", "eve")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message + "\n")
    assert audit_trail() == []


@pytest.mark.parametrize(
    ("actor", "args", "action", "rotations"),
    [
        ("victor", ACTIVATE, "activate", "primary, secondary, fairness"),
        ("olivia", ACTIVATE, "activate", "primary, secondary, fairness"),
        ("carol", DEACTIVATE, "deactivate", "primary, secondary"),
    ],
)
def test_someone_without_kill_switch_authority_is_refused_and_nothing_changes(
    db_url, actor, args, action, rotations
):
    if action == "deactivate":
        assert govflow(*ACTIVATE, "--actor", "carol").exit_code == 0
    result = govflow(*args, "--actor", actor)
    refusal = NOT_AUTHORISED.format(
        actor=actor, action=action, roles=AUTHORISED_ROLES, rotations=rotations
    )
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", refusal + "\n")
    assert [(who, what) for who, what, _ in audit_trail()] == (
        [("carol", "kill_switch.activated")] if action == "deactivate" else []
    )


@pytest.mark.parametrize(
    ("scope", "target", "targets"),
    [
        ("model_type", "credit_aproval", "credit_approval"),
        ("customer_segment", "high_valu", "standard, high_value, new_customer"),
    ],
)
def test_a_misspelt_target_is_refused_in_one_line_listing_the_valid_ones(
    db_url, scope, target, targets
):
    register_models(db_url, load_config(CONFIG_DIR), {"credit_approval": []})
    result = govflow(
        "kill-switch",
        "activate",
        "--scope",
        scope,
        "--target",
        target,
        "--reason",
        "r",
        "--actor",
        "eve",
    )
    refusal = UNKNOWN_TARGET.format(scope=scope, target=target, targets=targets)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", refusal + "\n")
    assert audit_trail() == []
    assert govflow("kill-switch", "list", "--all").stdout == "no kill switches yet\n"


def test_a_context_that_is_not_key_value_is_a_usage_error(db_url):
    result = govflow(*ACTIVATE, "--actor", "eve", "--context", "incident")
    assert result.exit_code == 2
    assert "'incident' is not key=value" in result.stderr
    assert govflow("kill-switch", "list", "--all").stdout == "no kill switches yet\n"


def test_a_context_key_given_twice_is_a_usage_error_and_contains_neither_incident(db_url):
    ref = open_incident(db_url)

    result = govflow(
        *ACTIVATE, "--actor", "eve", "--context", f"incident={ref}", "--context", "incident=x"
    )

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Invalid value for --context: 'incident' is given more than once; it takes one value "
    )
    assert len(result.stderr.splitlines()) == 1
    assert govflow("kill-switch", "list", "--all").stdout == "no kill switches yet\n"
