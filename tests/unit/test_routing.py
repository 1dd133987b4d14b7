"""The deployment target's reference implementation: the routing table in the store."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govflow import store
from govflow.rollout import routing
from govflow.store.schema import AuditEvent, RouteChange
from govflow.store.types import utcnow
from tests.support.demo_store import seeded_store_copy
from tests.support.deployment_demo import approve_version, register_candidate

MODEL = "credit_approval"
CANDIDATE = "1.1.0"
REF = "DEP-20261123-ROUTE1"


def approve(url: str, version: str) -> None:
    with store.session_scope(url) as session:
        approve_version(session, MODEL, version, justification="test")


@pytest.fixture
def routed(seeded_demo, tmp_path) -> str:
    url = seeded_store_copy(seeded_demo, tmp_path / "govflow.db")
    from pathlib import Path

    register_candidate(Path(seeded_demo[0]), url, version=CANDIDATE)
    approve(url, CANDIDATE)
    return url


def revisions(url: str) -> int:
    with store.session_scope(url) as session:
        return session.scalar(
            select(func.count()).select_from(RouteChange).where(RouteChange.model_id == MODEL)
        )


def test_a_route_starts_from_the_registry_production_version_for_every_audience(routed):
    with store.session_scope(routed) as session:
        state = routing.StoreTarget(session).current(MODEL)
    assert state.revision == 1
    assert state.splits == {
        "internal": routing.Split("1.0.0"),
        "external": routing.Split("1.0.0"),
    }
    assert state.config == {"decision_thresholds": {"1.0.0": pytest.approx(0.5, abs=0.5)}}


def test_traffic_shares_send_that_share_of_request_keys_to_the_candidate(routed):
    with store.session_scope(routed) as session:
        state = routing.StoreTarget(session).set_traffic(
            MODEL,
            candidate=CANDIDATE,
            shares={"internal": 1.0, "external": 0.1},
            actor="dave",
            reason="limited stage",
            deployment_ref=REF,
        )
    external = Counter(state.version_for("external", f"customer-{i}")[0] for i in range(20_000))
    internal = Counter(state.version_for("internal", f"customer-{i}")[0] for i in range(1_000))
    assert external[CANDIDATE] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert internal == {CANDIDATE: 1_000}
    # The same key always lands on the same version.
    assert {state.version_for("external", "customer-7") for _ in range(5)} == {
        state.version_for("external", "customer-7")
    }


def test_asking_for_the_current_traffic_again_adds_no_revision_and_no_audit_event(routed):
    for _ in range(2):
        with store.session_scope(routed) as session:
            routing.StoreTarget(session).set_traffic(
                MODEL,
                candidate=CANDIDATE,
                shares={"external": 0.05},
                actor="dave",
                reason="beta",
                deployment_ref=REF,
            )
    assert revisions(routed) == 2
    with store.session_scope(routed) as session:
        events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "routing.set_traffic")
        )
    assert events == 1


def test_restore_puts_back_the_versions_and_configuration_before_the_deployment(routed):
    with store.session_scope(routed) as session:
        target = routing.StoreTarget(session)
        before = target.current(MODEL)
        for share in (0.005, 0.1, 0.5):
            target.set_traffic(
                MODEL,
                candidate=CANDIDATE,
                shares={"internal": 1.0, "external": share},
                actor="dave",
                reason="next stage",
                deployment_ref=REF,
            )
        restored = target.restore_previous(
            MODEL, deployment_ref=REF, actor="govflow", reason="RBC-1 fairness"
        )
        again = target.restore_previous(
            MODEL, deployment_ref=REF, actor="govflow", reason="RBC-1 fairness"
        )
    assert restored.splits == before.splits
    assert restored.config == before.config
    assert restored.revision == 5
    assert again.revision == 5


def test_promotion_makes_the_candidate_active_everywhere_and_a_later_rollback_returns_to_it(
    routed,
):
    with store.session_scope(routed) as session:
        target = routing.StoreTarget(session)
        target.set_traffic(
            MODEL,
            candidate=CANDIDATE,
            shares={"internal": 1.0, "external": 1.0},
            actor="dave",
            reason="full",
            deployment_ref=REF,
        )
        promoted = target.promote(MODEL, actor="dave", reason="full", deployment_ref=REF)
        twice = target.promote(MODEL, actor="dave", reason="full", deployment_ref=REF)
    assert promoted.splits["external"] == routing.Split(CANDIDATE)
    assert twice.revision == promoted.revision


@pytest.mark.parametrize(
    ("candidate", "shares", "message"),
    [
        (
            CANDIDATE,
            {"partners": 0.1},
            routing.UNKNOWN_AUDIENCE.format(audience="partners", audiences="internal, external"),
        ),
        (CANDIDATE, {"external": 1.5}, routing.BAD_SHARE.format(audience="external", share=1.5)),
        (
            "1.0.0",
            {"external": 0.1},
            routing.CANDIDATE_IS_ACTIVE.format(model_id=MODEL, version="1.0.0"),
        ),
    ],
)
def test_a_traffic_change_that_cannot_be_made_is_refused_with_its_reason(
    routed, candidate, shares, message
):
    with store.session_scope(routed) as session, pytest.raises(routing.RoutingError) as raised:
        routing.StoreTarget(session).set_traffic(
            MODEL, candidate=candidate, shares=shares, actor="dave", reason="x", deployment_ref=REF
        )
    assert str(raised.value) == message


def test_an_unapproved_version_is_never_routed(seeded_demo, tmp_path):
    from pathlib import Path

    url = seeded_store_copy(seeded_demo, tmp_path / "govflow.db")
    register_candidate(Path(seeded_demo[0]), url, version="1.2.0")
    with store.session_scope(url) as session, pytest.raises(routing.RoutingError) as raised:
        routing.StoreTarget(session).set_traffic(
            MODEL,
            candidate="1.2.0",
            shares={"external": 0.1},
            actor="dave",
            reason="x",
            deployment_ref=REF,
        )
    assert str(raised.value) == routing.NOT_APPROVED.format(
        model_id=MODEL, version="1.2.0", status="draft"
    )


def test_a_second_deployment_cannot_take_over_a_rollout_in_progress(routed):
    with store.session_scope(routed) as session:
        target = routing.StoreTarget(session)
        target.set_traffic(
            MODEL,
            candidate=CANDIDATE,
            shares={"external": 0.1},
            actor="dave",
            reason="x",
            deployment_ref=REF,
        )
        with pytest.raises(routing.RoutingError) as raised:
            target.set_traffic(
                MODEL,
                candidate=CANDIDATE,
                shares={"external": 0.5},
                actor="dave",
                reason="x",
                deployment_ref="DEP-OTHER",
            )
    assert str(raised.value) == routing.ANOTHER_ROLLOUT.format(
        model_id=MODEL, candidate=CANDIDATE, deployment_ref=REF
    )


def test_health_sums_the_counters_of_every_gateway_and_names_the_lowest_revision_served(routed):
    minute = utcnow().replace(second=0, microsecond=0)
    with store.session_scope(routed) as session:
        routing.record_serving_stats(
            session,
            [
                routing.ServingStat("gw-a", MODEL, "1.0.0", minute, requests=90, errors=1),
                routing.ServingStat("gw-b", MODEL, "1.0.0", minute, requests=10, invalid=1),
                routing.ServingStat("gw-a", MODEL, "1.0.0", minute - timedelta(hours=1), 500),
            ],
        )
        # A gateway reports its counters again within the minute: replaced, not added.
        routing.record_serving_stats(
            session, [routing.ServingStat("gw-a", MODEL, "1.0.0", minute, requests=190, errors=3)]
        )
        routing.record_heartbeat(session, instance="gw-a", revisions={MODEL: 3})
        routing.record_heartbeat(session, instance="gw-b", revisions={MODEL: 2})
        routing.record_heartbeat(
            session, instance="gw-gone", revisions={MODEL: 1}, at=utcnow() - timedelta(minutes=5)
        )
        health = routing.StoreTarget(session).health(MODEL, since=minute)
    assert (health.requests, health.errors, health.invalid) == (200, 3, 1)
    assert health.error_rate("1.0.0") == pytest.approx(4 / 200)
    assert (health.gateways, health.revision_served) == (2, 2)


@pytest.mark.parametrize(
    ("kind", "severity", "details", "message"),
    [
        (
            "praise",
            "minor",
            "nice",
            routing.UNKNOWN_FEEDBACK_KIND.format(
                kind="praise", kinds=", ".join(routing.FEEDBACK_KINDS)
            ),
        ),
        (
            "bug",
            "urgent",
            "x",
            routing.UNKNOWN_FEEDBACK_SEVERITY.format(
                severity="urgent", severities="critical, major, minor"
            ),
        ),
        ("bug", "critical", "  ", routing.DETAILS_REQUIRED),
    ],
)
def test_feedback_that_cannot_be_classified_is_refused(routed, kind, severity, details, message):
    with store.session_scope(routed) as session, pytest.raises(routing.RoutingError) as raised:
        routing.record_feedback(
            session,
            model_id=MODEL,
            kind=kind,
            severity=severity,
            details=details,
            recorded_by="quinn",
        )
    assert str(raised.value) == message
