"""Seed 003 kill switches: scoped, one active per scope and target, every change audited."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import store
from govflow.audit import verify_chain
from govflow.config import ConfigError, GovflowConfig, load_config
from govflow.serving import kill_switches
from govflow.serving.kill_switches import (
    CONTEXT_KEY_RESERVED,
    NOT_ACTIVE,
    NOT_AUTHORISED,
    REASON_REQUIRED,
    RECOVERY_NOTES_REQUIRED,
    SCOPES,
    UNKNOWN_SCOPE,
    UNKNOWN_TARGET,
    KillSwitchError,
    active_switches,
    blocking_switches,
    check_authority,
    deactivate,
    notice,
    request_change,
    summary,
    switch_history,
    valid_targets,
)
from govflow.store.schema import AuditEvent, KillSwitch
from tests.support.registry import register_models

AT = datetime(2025, 3, 24, 9, 30, tzinfo=UTC)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
AUTHORISED_ROLES = "ml_engineer, ml_lead, deployment_manager, cto"
ROTATIONS = {"activate": "primary, secondary, fairness", "deactivate": "primary, secondary"}
CONFIG = load_config(CONFIG_DIR)
# Every activation here is judged against the repository's config/.
activate = partial(kill_switches.activate, config=CONFIG)
# What the registry of the tests' stores holds: the model ids and versions a switch can name.
# The audit events of kill switches, beside those of registering REGISTERED.
KILL_SWITCH_EVENTS = AuditEvent.action.like("kill_switch.%")
REGISTERED = {"credit_approval": ["1.0.0", "1.1.0"], "marketing_propensity": ["1.0.0"]}


def refused(actor: str, action: str) -> str:
    return NOT_AUTHORISED.format(
        actor=actor, action=action, roles=AUTHORISED_ROLES, rotations=ROTATIONS[action]
    )


@pytest.fixture
def url(store_url: str) -> str:
    return register_models(store_url, CONFIG, REGISTERED)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> str:
    return register_models(sqlite_url, CONFIG, REGISTERED)


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
            session,
            scope="model_type",
            target="credit_approval",
            reason="retry",
            actor="eve",
        )
    assert (created, created_again, first.id == again.id) == (True, False, True)
    with store.session_scope(url) as session:
        switches = session.scalars(select(KillSwitch)).all()
        audited = session.scalars(select(AuditEvent.action).where(KILL_SWITCH_EVENTS)).all()
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
        actions = session.scalars(
            select(AuditEvent.action).where(KILL_SWITCH_EVENTS).order_by(AuditEvent.seq)
        ).all()
    assert actions == ["kill_switch.activated", "kill_switch.deactivated", "kill_switch.activated"]


def test_only_the_switches_of_the_requests_own_scopes_block_it(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        activate(
            session,
            scope="customer_segment",
            target="high_value",
            reason="r",
            actor="eve",
        )
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


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return CONFIG


def _activate_all(session, switches: list[tuple[str, str]]) -> None:
    for scope, target in switches:
        activate(session, scope=scope, target=target, reason="test", actor="eve", at=AT)


def _request(model: str, version: str, segment: str, region: str) -> dict[str, str | None]:
    """What a gateway asks about one request of ``model`` at ``version``."""
    return {
        "model_type": model,
        "model_version": f"{model}:{version}",
        "inference_endpoint": f"/v1/models/{model}/predict",
        "customer_segment": segment,
        "region": region,
        "downstream_consumer": None,
    }


@pytest.mark.parametrize(
    ("switches", "request_", "blocked_by"),
    [
        # A segment switch blocks that segment's requests only, whatever the model.
        (
            [("customer_segment", "high_value")],
            _request("credit_approval", "1.0.0", "high_value", "north"),
            [("customer_segment", "high_value")],
        ),
        (
            [("customer_segment", "high_value")],
            _request("credit_approval", "1.0.0", "standard", "north"),
            [],
        ),
        (
            [("customer_segment", "high_value")],
            _request("marketing_propensity", "1.0.0", "high_value", "south"),
            [("customer_segment", "high_value")],
        ),
        # model_type blocks every version of the model, and no other model.
        (
            [("model_type", "credit_approval")],
            _request("credit_approval", "1.1.0", "standard", "north"),
            [("model_type", "credit_approval")],
        ),
        (
            [("model_type", "credit_approval")],
            _request("marketing_propensity", "1.0.0", "standard", "north"),
            [],
        ),
        # model_version blocks that version only: the other version keeps answering.
        (
            [("model_version", "credit_approval:1.1.0")],
            _request("credit_approval", "1.1.0", "standard", "north"),
            [("model_version", "credit_approval:1.1.0")],
        ),
        (
            [("model_version", "credit_approval:1.1.0")],
            _request("credit_approval", "1.0.0", "standard", "north"),
            [],
        ),
        # The endpoint switch blocks its route; every matching switch is reported.
        (
            [("inference_endpoint", "/v1/models/credit_approval/predict"), ("region", "north")],
            _request("credit_approval", "1.0.0", "standard", "north"),
            [("inference_endpoint", "/v1/models/credit_approval/predict"), ("region", "north")],
        ),
    ],
)
def test_a_switch_blocks_only_the_requests_of_its_own_scope_and_target(
    sqlite_store, switches, request_, blocked_by
):
    with store.session_scope(sqlite_store) as session:
        _activate_all(session, switches)
        blocking = blocking_switches(session, request_)
        assert [(switch.scope, switch.target) for switch in blocking] == blocked_by


def test_a_downstream_consumer_switch_blocks_only_that_consumers_requests(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        _activate_all(session, [("downstream_consumer", "loan_portal")])
        portal = blocking_switches(session, {"downstream_consumer": "loan_portal"})
        other = blocking_switches(session, {"downstream_consumer": "branch_app"})
        unnamed = blocking_switches(session, {"downstream_consumer": None})
    assert ([s.target for s in portal], other, unnamed) == (["loan_portal"], [], [])


def test_each_scope_can_name_what_the_registry_and_models_yaml_hold(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        targets = {scope: valid_targets(session, CONFIG, scope) for scope in SCOPES}
    assert targets == {
        "model_version": [
            "credit_approval:1.0.0",
            "credit_approval:1.1.0",
            "marketing_propensity:1.0.0",
        ],
        "model_type": ["credit_approval", "marketing_propensity"],
        "inference_endpoint": [
            "/v1/models/credit_approval/predict",
            "/v1/models/marketing_propensity/predict",
            "/v1/models/product_recommendation/predict",
            "/v1/models/customer_lifetime_value/predict",
        ],
        "customer_segment": ["standard", "high_value", "new_customer"],
        "region": ["north", "south", "east", "west"],
        "downstream_consumer": ["loan_portal", "branch_app", "campaign_manager", "mobile_app"],
    }


UNKNOWN_TARGETS = [
    # A typo, and a name of another scope (a version where a model id belongs and back).
    ("model_type", "credit_aproval", "credit_approval, marketing_propensity"),
    ("model_type", "credit_approval:1.0.0", "credit_approval, marketing_propensity"),
    # In models.yaml but never registered: nothing of it is served.
    ("model_type", "product_recommendation", "credit_approval, marketing_propensity"),
    (
        "model_version",
        "credit_approval",
        "credit_approval:1.0.0, credit_approval:1.1.0, marketing_propensity:1.0.0",
    ),
    (
        "model_version",
        "credit_approval:9.9.9",
        "credit_approval:1.0.0, credit_approval:1.1.0, marketing_propensity:1.0.0",
    ),
    (
        "inference_endpoint",
        "/v1/models/credit_aproval/predict",
        "/v1/models/credit_approval/predict, /v1/models/marketing_propensity/predict, "
        "/v1/models/product_recommendation/predict, /v1/models/customer_lifetime_value/predict",
    ),
    ("customer_segment", "high_valu", "standard, high_value, new_customer"),
    ("region", "North", "north, south, east, west"),
    ("downstream_consumer", "loan_portl", "loan_portal, branch_app, campaign_manager, mobile_app"),
]


@pytest.mark.parametrize(("scope", "target", "targets"), UNKNOWN_TARGETS)
def test_a_target_its_scope_cannot_name_is_refused_listing_the_valid_ones_and_nothing_is_written(
    sqlite_store, scope, target, targets
):
    with store.session_scope(sqlite_store) as session, pytest.raises(KillSwitchError) as raised:
        request_change(
            session,
            CONFIG,
            action="activate",
            scope=scope,
            target=target,
            actor="eve",
            reason="typo",
        )
    assert str(raised.value) == UNKNOWN_TARGET.format(scope=scope, target=target, targets=targets)
    with store.session_scope(sqlite_store) as session:
        assert session.scalars(select(KillSwitch)).all() == []
        assert session.scalars(select(AuditEvent).where(KILL_SWITCH_EVENTS)).all() == []


def test_a_scope_with_nothing_to_name_refuses_every_target(sqlite_url):
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session, pytest.raises(KillSwitchError) as raised:
        activate(
            session,
            scope="model_type",
            target="credit_approval",
            reason="nothing registered yet",
            actor="eve",
        )
    assert str(raised.value) == UNKNOWN_TARGET.format(
        scope="model_type", target="credit_approval", targets="none"
    )


@pytest.mark.parametrize(
    ("actor", "action", "allowed"),
    [
        ("eve", "activate", True),  # ml_engineer, primary rotation
        ("mike", "deactivate", True),  # ml_engineer, primary rotation
        ("lena", "activate", True),  # ml_lead, secondary rotation
        ("lena", "deactivate", True),
        ("dave", "activate", True),  # deployment_manager (MLops)
        ("dave", "deactivate", True),
        ("tom", "activate", True),  # cto
        ("tom", "deactivate", True),
        ("carol", "activate", True),  # compliance_officer, fairness rotation
        ("carol", "deactivate", False),  # the fairness rotation may stop, not restart
        ("olivia", "activate", False),  # system_owner
        ("rick", "activate", False),  # risk_manager
        ("cathy", "activate", False),  # ceo
        ("audrey", "deactivate", False),  # auditor
        ("victor", "activate", False),  # viewer
        ("admin", "activate", False),  # platform administrator, not on call
        ("dag_test", "activate", False),  # nobody in people.yaml
        ("govflow", "activate", False),  # automation asks no authority; a person named so has none
    ],
)
def test_kill_switch_authority_follows_the_policys_roles_and_rotations(
    config, actor, action, allowed
):
    if allowed:
        check_authority(config, actor, action=action)
        return
    with pytest.raises(KillSwitchError) as raised:
        check_authority(config, actor, action=action)
    assert str(raised.value) == refused(actor, action)


def test_membership_of_an_authorised_rotation_is_enough_without_an_authorised_role(config):
    on_call = config.people.on_call.model_copy(
        update={
            "fairness": config.people.on_call.fairness.model_copy(update={"members": ["victor"]})
        }
    )
    people = config.people.model_copy(update={"on_call": on_call})
    moved = config.model_copy(update={"people": people})
    check_authority(moved, "victor", action="activate")
    with pytest.raises(KillSwitchError) as raised:
        check_authority(moved, "carol", action="activate")
    assert str(raised.value) == refused("carol", "activate")


def test_authority_is_checked_before_anything_is_written(sqlite_store, config):
    with store.session_scope(sqlite_store) as session, pytest.raises(KillSwitchError) as raised:
        request_change(
            session,
            config,
            action="activate",
            scope="customer_segment",
            target="high_value",
            actor="victor",
            reason="looks wrong",
        )
    assert str(raised.value) == refused("victor", "activate")
    with store.session_scope(sqlite_store) as session:
        assert session.scalars(select(KillSwitch)).all() == []
        assert session.scalars(select(AuditEvent).where(KILL_SWITCH_EVENTS)).all() == []


def test_a_requested_activation_and_deactivation_record_who_and_why(sqlite_store, config):
    with store.session_scope(sqlite_store) as session:
        switch, created = request_change(
            session,
            config,
            action="activate",
            scope="customer_segment",
            target="high_value",
            actor="carol",
            reason="approval rate of high_value doubled",
            context={"incident": "INC-2025-0007"},
        )
        again, created_again = request_change(
            session,
            config,
            action="activate",
            scope="customer_segment",
            target="high_value",
            actor="eve",
            reason="same spike",
        )
        lifted, lifted_now = request_change(
            session,
            config,
            action="deactivate",
            scope="customer_segment",
            target="high_value",
            actor="lena",
            recovery_notes="segment feature fixed upstream",
        )
        record = summary(lifted)
        events = [
            (event.actor, event.action, event.payload)
            for event in session.scalars(
                select(AuditEvent).where(KILL_SWITCH_EVENTS).order_by(AuditEvent.seq)
            )
        ]
    assert (created, created_again, again.id == switch.id, lifted_now) == (True, False, True, True)
    assert {key: record[key] for key in ("active", "activated_by", "deactivated_by")} == {
        "active": False,
        "activated_by": "carol",
        "deactivated_by": "lena",
    }
    assert events == [
        (
            "carol",
            "kill_switch.activated",
            {
                "scope": "customer_segment",
                "target": "high_value",
                "reason": "approval rate of high_value doubled",
                "incident": "INC-2025-0007",
            },
        ),
        (
            "lena",
            "kill_switch.deactivated",
            {
                "scope": "customer_segment",
                "target": "high_value",
                "recovery_notes": "segment feature fixed upstream",
            },
        ),
    ]


def test_context_cannot_overwrite_what_the_switch_records(sqlite_store):
    with store.session_scope(sqlite_store) as session, pytest.raises(KillSwitchError) as raised:
        activate(
            session,
            scope="region",
            target="north",
            reason="outage",
            actor="eve",
            context={"target": "south", "reason": "other", "ticket": "T-1"},
        )
    assert str(raised.value) == CONTEXT_KEY_RESERVED.format(keys="target, reason")


def test_the_notice_says_what_changed_and_when_gateways_apply_it(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        switch, created = activate(
            session,
            scope="region",
            target="north",
            reason="outage",
            actor="eve",
            at=AT,
        )
        activated = notice(switch, created=created)
        same, created_again = activate(
            session, scope="region", target="north", reason="x", actor="tom"
        )
        already = notice(same, created=created_again)
        lifted = notice(
            deactivate(
                session,
                scope="region",
                target="north",
                recovery_notes="feed back",
                actor="lena",
                at=datetime(2025, 3, 24, 11, 0, 59, tzinfo=UTC),
            )
        )
    assert activated == (
        "kill switch 1 activated: region 'north' blocked by eve at 2025-03-24 09:30:00 UTC\n"
        "serving gateways apply it by 2025-03-24 09:30:01 UTC: "
        "they re-read kill switches every 1 s"
    )
    assert already == (
        "kill switch 1 was already active: region 'north' blocked by eve since "
        "2025-03-24 09:30:00 UTC; nothing changed"
    )
    assert lifted == (
        "kill switch 1 deactivated: region 'north' lifted by lena at 2025-03-24 11:00:59 UTC\n"
        "serving gateways apply it by 2025-03-24 11:01:00 UTC: "
        "they re-read kill switches every 1 s"
    )


def test_the_history_keeps_lifted_switches_beside_active_ones(sqlite_store):
    with store.session_scope(sqlite_store) as session:
        activate(
            session,
            scope="region",
            target="north",
            reason="outage",
            actor="eve",
            at=AT,
        )
        deactivate(session, scope="region", target="north", recovery_notes="ok", actor="lena")
        activate(session, scope="region", target="north", reason="again", actor="mike")
        history = [(s.reason, s.deactivated_by) for s in switch_history(session)]
        active = [s.reason for s in active_switches(session)]
    assert (history, active) == ([("outage", "lena"), ("again", None)], ["again"])


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "    roles: [ml_engineer, ml_lead, deployment_manager, cto]\n"
            "    rotations: [primary, secondary, fairness]",
            "    roles: [ml_engineer, on_call_hero]\n    rotations: [primary, secondary, fairness]",
            "policy.yaml: kill_switches.activate.roles.1: Input should be 'system_owner'",
        ),
        (
            "    rotations: [primary, secondary]\n",
            "    rotations: [primary, weekend]\n",
            "policy.yaml: kill_switches.deactivate.rotations.1: "
            "Input should be 'primary', 'secondary' or 'fairness'",
        ),
    ],
)
def test_a_bad_kill_switch_authority_is_refused_by_file_and_key(tmp_path, old, new, problem):
    copy = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, copy)
    policy = copy / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    assert text.count(old) == 1
    policy.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(copy)
    assert [line[: len(problem)] for line in raised.value.problems] == [problem]
