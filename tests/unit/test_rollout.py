"""The phased rollout's steps, gates and rollback criteria, and the rollback procedure, on a
copy of the seeded demo store with candidate 1.1.0 authorised (seed 000, seed 001 sec. 5)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import func, select

from govflow import settings, store
from govflow.answers import Answer
from govflow.config import load_config
from govflow.deployment import procedure
from govflow.flows import Refused
from govflow.flows.baselines import create_deployment_baseline
from govflow.flows.rollout import plan_rollout
from govflow.rollout import checks, rollback, routing, stages
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Baseline,
    Incident,
    RolloutStage,
    StageHistory,
)
from govflow.store.types import utcnow
from tests.support.demo_store import seeded_store_copy
from tests.support.policies import with_equal_alpha_shares
from tests.support.rollout_demo import (
    MODEL,
    applicants,
    authorised_deployment,
    gender_only_decisions,
    roll_back,
    rollback_consequence,
    write_stage_log,
)

CANDIDATE, ACTIVE = "1.1.0", "1.0.0"


@pytest.fixture(scope="module")
def config():
    return load_config(settings.config_dir())


@pytest.fixture
def demo(seeded_demo, tmp_path, config):
    """(data_dir, url, deployment ref): the seeded store and models, an empty log directory."""
    data_dir = tmp_path / "data"
    shutil.copytree(Path(seeded_demo[0]) / "models", data_dir / "models")
    url = seeded_store_copy(seeded_demo, tmp_path / "govflow.db")
    ref = authorised_deployment(config, data_dir, url)
    return data_dir, url, ref


def start(config, url, ref, stage="limited"):
    with store.session_scope(url) as session:
        stages.plan(session, config, deployment_ref=ref)
        return stages.start_stage(session, config, deployment_ref=ref, stage=stage)


def fair_traffic(config, data_dir, rows=900, *, version=CANDIDATE, seed=11):
    frame = applicants(rows, seed=seed)
    # Selection rate 0.6 in every gender: disparate impact 1.0.
    scores = np.where(np.arange(rows) % 5 < 3, 0.8, 0.2)
    write_stage_log(config, data_dir, frame, version=version, scores=scores)
    return frame


def unfair_traffic(config, data_dir, rows=900):
    frame = applicants(rows, seed=12)
    # Women are approved at a third of the others' rate.
    approved = np.where(
        frame["gender"] == "female", np.arange(rows) % 10 < 2, np.arange(rows) % 10 < 6
    )
    write_stage_log(config, data_dir, frame, version=CANDIDATE, scores=np.where(approved, 0.9, 0.1))


def serve(url, version=CANDIDATE, requests=1000, errors=0, invalid=0):
    minute = utcnow().replace(second=0, microsecond=0)
    with store.session_scope(url) as session:
        routing.record_serving_stats(
            session,
            [routing.ServingStat("gw-test", MODEL, version, minute, requests, errors, invalid)],
        )


def feedback(url, kind, severity="critical", details="seen in production"):
    with store.session_scope(url) as session:
        routing.record_feedback(
            session,
            model_id=MODEL,
            version=CANDIDATE,
            kind=kind,
            severity=severity,
            details=details,
            recorded_by="quinn",
        )


def watch(config, data_dir, url, ref, stage="limited", now=None):
    with store.session_scope(url) as session:
        return stages.watch_stage(
            session, config, data_dir, deployment_ref=ref, stage=stage, now=now
        )


def gate(config, data_dir, url, ref, stage="limited"):
    with store.session_scope(url) as session:
        return stages.evaluate_gate(session, config, data_dir, deployment_ref=ref, stage=stage)


def test_a_rollout_only_starts_for_an_authorised_deployment(demo, config):
    _data_dir, url, ref = demo
    with store.session_scope(url) as session:
        deployment = procedure.find_deployment(session, ref)
        procedure.update_details(deployment, authorised_at=None)
        deployment.details = {k: v for k, v in deployment.details.items() if k != "authorised_at"}
    with store.session_scope(url) as session, pytest.raises(ValueError) as refused:
        stages.plan(session, config, deployment_ref=ref)
    assert str(refused.value) == stages.NOT_AUTHORISED.format(ref=ref, status="authorised")


def test_the_rollout_run_refuses_a_deployment_not_yet_authorised_in_one_line(
    demo, config, monkeypatch
):
    _data_dir, url, ref = demo
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    with store.session_scope(url) as session:
        deployment = procedure.find_deployment(session, ref)
        deployment.details = {k: v for k, v in deployment.details.items() if k != "authorised_at"}
    with pytest.raises(Refused) as refused:
        plan_rollout(ref, [], from_stage=None, config=config)
    assert str(refused.value) == stages.NOT_AUTHORISED.format(ref=ref, status="authorised")


def test_each_stage_routes_its_share_to_the_new_version_and_internal_users_see_it_from_alpha(
    demo, config
):
    _data_dir, url, ref = demo
    shares = {}
    for stage in ("alpha", "beta", "limited", "general"):
        started = start(config, url, ref, stage)
        with store.session_scope(url) as session:
            route = routing.StoreTarget(session).current(MODEL)
        shares[stage] = (route.splits["internal"].candidate_share, started["traffic_share"])
        assert route.splits["external"].candidate_share == started["traffic_share"]
    assert shares == {
        "alpha": (1.0, 0.0),
        "beta": (1.0, 0.005),
        "limited": (1.0, 0.10),
        "general": (1.0, 0.5),
    }


def test_starting_a_stage_again_keeps_its_start_and_logs_the_registry_stage_once(demo, config):
    _data_dir, url, ref = demo
    first = start(config, url, ref, "alpha")
    again = start(config, url, ref, "alpha")
    assert again["started_at"] == first["started_at"]
    assert again["revision"] == first["revision"]
    with store.session_scope(url) as session:
        logged = session.scalars(
            select(StageHistory.stage).where(StageHistory.notes.like(f"%{ref}%"))
        ).all()
    assert logged == ["shadow"]


def test_a_stage_ends_after_its_minimum_duration_in_days(demo, config):
    data_dir, url, ref = demo
    started = start(config, url, ref, "limited")
    assert stage_end(started) - stage_start(started) == timedelta(days=14)
    assert watch(config, data_dir, url, ref)["over"] is False
    later = stage_start(started) + timedelta(days=14)
    assert watch(config, data_dir, url, ref, now=later)["over"] is True


def stage_start(started):
    from datetime import datetime

    return datetime.fromisoformat(started["started_at"])


def stage_end(started):
    from datetime import datetime

    return datetime.fromisoformat(started["ends_at"])


@pytest.mark.parametrize(
    ("kind", "criterion"),
    [
        ("bug", "RBC-3"),
        ("security_vulnerability", "RBC-4"),
        ("regulatory_concern", "RBC-5"),
    ],
)
def test_recorded_feedback_that_is_a_rollback_criterion_fires_while_the_stage_runs(
    demo, config, kind, criterion
):
    data_dir, url, ref = demo
    start(config, url, ref)
    assert watch(config, data_dir, url, ref)["rollback"] == []
    feedback(url, kind)
    fired = watch(config, data_dir, url, ref)["rollback"]
    assert [item["id"] for item in fired] == [criterion]
    assert fired[0]["outcome"] == "failed"


def test_a_minor_bug_is_not_a_rollback_criterion(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    feedback(url, "bug", severity="minor")
    assert watch(config, data_dir, url, ref)["rollback"] == []


def test_an_error_rate_above_the_rollback_limit_fires_rbc_2_and_one_below_holds_only_the_gate(
    demo, config
):
    data_dir, url, ref = demo
    start(config, url, ref)
    serve(url, requests=1000, errors=30, invalid=0)
    assert watch(config, data_dir, url, ref)["rollback"] == []
    window_gate = {g["id"]: g for g in gate(config, data_dir, url, ref)["gates"]}
    assert window_gate["GATE-7"]["outcome"] == "failed"
    assert window_gate["GATE-7"]["summary"] == (
        "error rate 0.0300 (30 errors and invalid outputs in 1000 requests; limit 0.01)"
    )
    serve(url, requests=1000, errors=30, invalid=30)
    fired = watch(config, data_dir, url, ref)["rollback"]
    assert [(item["id"], item["evidence"]["rate"]) for item in fired] == [("RBC-2", 0.06)]


def test_a_disparate_impact_below_the_80_percent_rule_on_the_stage_traffic_rolls_back(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    unfair_traffic(config, data_dir)
    fired = watch(config, data_dir, url, ref)["rollback"]
    assert [item["id"] for item in fired] == ["RBC-1"]
    # The rollback names the evidence it acted on: value, interval and rows per group.
    assert fired[0]["summary"] == (
        "disparate_impact_ratio of gender is 0.362209 (interval 0.202837-0.624328) on 900 rows "
        "(CRITICAL; lowest female, highest non_binary; rows per group "
        "{'female': 304, 'male': 277, 'non_binary': 319})"
    )


def test_traffic_too_small_to_judge_fairness_holds_the_gate_but_never_rolls_back(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    frame = applicants(40, seed=3)
    write_stage_log(config, data_dir, frame, version=CANDIDATE, scores=np.full(40, 0.9))
    assert watch(config, data_dir, url, ref)["rollback"] == []
    result = {g["id"]: g for g in gate(config, data_dir, url, ref)["gates"]}["GATE-2"]
    assert result["outcome"] == "inconclusive"
    assert result["summary"].endswith("fewer than two groups of 30 rows in 40 rows")


def test_only_the_new_versions_rows_are_judged(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    frame = applicants(900, seed=5)
    approved = np.where(frame["gender"] == "female", 0.1, 0.9)
    write_stage_log(config, data_dir, frame, version=ACTIVE, scores=approved)
    assert watch(config, data_dir, url, ref)["rollback"] == []


def test_a_clean_stage_passes_every_gate_and_asks_the_owner_or_a_deployment_manager(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    fair_traffic(config, data_dir)
    fair_traffic(config, data_dir, version=ACTIVE, seed=13)
    serve(url)
    result = gate(config, data_dir, url, ref)
    assert {g["id"]: g["outcome"] for g in result["gates"]} == {
        "GATE-1": "passed",
        "GATE-2": "passed",
        "GATE-3": "passed",
        "GATE-4": "passed",
        "GATE-5": "passed",
        "GATE-7": "passed",
        "model_drift_within_bounds": "passed",
        "data_quality_gate_passed": "passed",
    }
    assert result["passed"] is True
    assert result["approval"]["users"] == [
        {"id": "olivia", "name": config.people.user("olivia").name},
        {"id": "dave", "name": config.people.user("dave").name},
    ]
    assert result["approval"]["timeout_minutes"] == 48 * 60


def test_overrides_and_significant_complaints_fail_their_gates(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    fair_traffic(config, data_dir, rows=100)
    for _ in range(6):
        feedback(url, "override", severity="minor", details="underwriter overrode the decline")
    feedback(url, "complaint", severity="major", details="customer says decline is unfair")
    feedback(url, "complaint", severity="minor", details="slow answer")
    result = {g["id"]: g for g in gate(config, data_dir, url, ref)["gates"]}
    assert result["GATE-4"]["summary"] == "override rate 0.0600 (6 of 100; limit 0.05)"
    assert result["GATE-4"]["outcome"] == "failed"
    assert result["GATE-3"]["summary"] == "1 significant complaint(s) (limit 0)"
    assert result["GATE-3"]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("gate_passes", "chosen", "decision", "status"),
    [
        (True, ["Advance"], "advance", "advanced"),
        (False, ["Advance"], "hold", "held"),
        (True, ["Hold"], "hold", "held"),
        (True, ["Roll back"], "rollback", "rolled_back"),
    ],
)
def test_the_stakeholder_decision_advances_only_past_a_passed_gate(
    demo, config, gate_passes, chosen, decision, status
):
    data_dir, url, ref = demo
    start(config, url, ref)
    if gate_passes:
        fair_traffic(config, data_dir)
        fair_traffic(config, data_dir, version=ACTIVE, seed=13)
        serve(url)
    gate(config, data_dir, url, ref)
    answer = Answer(
        chosen_options=tuple(chosen), params={}, responded_by="olivia", responded_at=None
    )
    with store.session_scope(url) as session:
        made = stages.record_decision(
            session, config, deployment_ref=ref, stage="limited", answer=answer
        )
    assert made == decision
    with store.session_scope(url) as session:
        record = session.scalars(select(RolloutStage).where(RolloutStage.stage == "limited")).one()
        assert (record.status, record.decided_by) == (status, "olivia")
        if not gate_passes:
            assert record.gate["note"] == "advance refused: the gate did not pass"


def test_completing_the_rollout_promotes_the_new_version_and_retires_the_previous(demo, config):
    _data_dir, url, ref = demo
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        stages.complete(session, config, deployment_ref=ref)
        stages.complete(session, config, deployment_ref=ref)
        route = routing.StoreTarget(session).current(MODEL)
        logged = session.execute(
            select(StageHistory.stage, func.count())
            .where(StageHistory.notes.like(f"%{ref}%"))
            .group_by(StageHistory.stage)
        ).all()
    assert route.versions == [CANDIDATE]
    assert dict(logged) == {"production": 1, "retired": 1}


def test_a_failed_rollout_run_is_recorded_and_told_once_with_what_it_left_serving(demo, config):
    _data_dir, url, ref = demo
    start(config, url, ref, "limited")
    with store.session_scope(url) as session:
        clean = stages.report_failure(
            session, config, deployment_ref=ref, failed=[], dag_run_id="run-1"
        )
        for _ in range(2):  # a retried teardown
            reported = stages.report_failure(
                session, config, deployment_ref=ref, failed=["watch_limited"], dag_run_id="run-1"
            )
        rollout = procedure.find_deployment(session, ref).details["rollout"]
        alerts = session.scalars(
            select(Alert).where(Alert.idempotency_key == f"rollout:{ref}:failed:run-1")
        ).all()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "rollout.failed")
        ).all()

    assert clean is None
    assert reported == {
        "deployment_ref": ref,
        "failed_steps": ["watch_limited"],
        "stage": "limited",
    }
    assert (rollout["status"], rollout["failed_steps"]) == ("failed", ["watch_limited"])
    assert [(e.severity, e.payload["failed_steps"]) for e in events] == [
        ("CRITICAL", ["watch_limited"])
    ]
    assert len(alerts) == 1 and alerts[0].severity == "CRITICAL"
    assert alerts[0].payload["text"] == (
        f"<!channel> *Rollout {ref} failed* at watch_limited: {MODEL} {CANDIDATE} keeps 10.0% "
        "of external traffic (stage limited) and its rollback criteria are no longer watched. "
        f"Start govflow_rollout again with deployment_ref {ref} and from_stage limited, or "
        "roll it back with govflow_rollback."
    )


def test_a_rollout_that_completed_reports_no_failure_of_a_later_step(demo, config):
    _data_dir, url, ref = demo
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        stages.complete(session, config, deployment_ref=ref)
        reported = stages.report_failure(
            session, config, deployment_ref=ref, failed=["request_rollback"], dag_run_id="run-2"
        )
        status = procedure.find_deployment(session, ref).details["rollout"]["status"]

    assert (reported, status) == (None, "completed")


def deployment_baseline(data_dir, url, ref, monkeypatch, config):
    """What govflow_baseline_on_deploy does for the authorised deployment ``ref``."""
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    deployment = {"model_id": MODEL, "version": CANDIDATE, "deployment_ref": ref}
    return create_deployment_baseline(deployment, config=config, db_url=url)["baseline_version"]


def baselines_of(url, since=None):
    """(model version, active, archived) of the model's baselines, oldest first, and the
    audit actions activating or archiving one after the event numbered ``since``."""
    with store.session_scope(url) as session:
        rows = session.scalars(
            select(Baseline).where(Baseline.model_id == MODEL).order_by(Baseline.id)
        ).all()
        actions = session.scalars(
            select(AuditEvent.action)
            .where(
                AuditEvent.action.in_(("baseline.activated", "baseline.archived")),
                AuditEvent.seq > (since or 0),
            )
            .order_by(AuditEvent.seq)
        ).all()
        if since is None:
            return [(b.model_version, b.is_active, b.archived_at is not None) for b in rows]
        return [(b.model_version, b.is_active, b.archived_at is not None) for b in rows], actions


def audit_mark(url):
    with store.session_scope(url) as session:
        return session.scalar(select(func.max(AuditEvent.seq)))


def test_the_new_versions_baseline_waits_for_full_and_a_rollback_after_it_restores_the_old_one(
    demo, config, monkeypatch, capsys
):
    data_dir, url, ref = demo
    mark = audit_mark(url)
    start(config, url, ref, "limited")
    made = deployment_baseline(data_dir, url, ref, monkeypatch, config)
    printed = capsys.readouterr().out
    assert f"baseline {made} pending: active once the rollout reaches full" in printed
    # During the rollout the version serving most traffic stays the reference.
    assert baselines_of(url, mark) == (
        [(ACTIVE, True, False), (CANDIDATE, False, False)],
        [],
    )
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        completed = stages.complete(session, config, deployment_ref=ref)
        stages.complete(session, config, deployment_ref=ref)
        message = session.scalars(select(Alert).where(Alert.kind == stages.SLACK_KIND)).all()
    assert completed["baseline"] == made
    assert any(f"Its baseline {made} is now the reference" in a.payload["text"] for a in message)
    assert baselines_of(url, mark) == (
        [(ACTIVE, False, True), (CANDIDATE, True, False)],
        ["baseline.archived", "baseline.activated"],
    )
    # Retried, the task makes and activates nothing more.
    assert deployment_baseline(data_dir, url, ref, monkeypatch, config) == made
    _decided, executed, _verified, _concluded = roll_back(config, url, ref)
    assert executed["restored_version"] == ACTIVE
    assert executed["baseline"] == "2025-03-01-v1"
    assert baselines_of(url, mark) == (
        [(ACTIVE, True, False), (CANDIDATE, False, True)],
        ["baseline.archived", "baseline.activated"] * 2,
    )
    # Each activation replaced the active baseline: a WARNING in the audit trail.
    with store.session_scope(url) as session:
        activations = session.scalars(
            select(AuditEvent.severity).where(
                AuditEvent.action == "baseline.activated", AuditEvent.seq > mark
            )
        ).all()
    assert activations == ["WARNING", "WARNING"]


def test_a_rollback_before_full_archives_the_pending_baseline_unused(demo, config, monkeypatch):
    data_dir, url, ref = demo
    mark = audit_mark(url)
    start(config, url, ref, "limited")
    deployment_baseline(data_dir, url, ref, monkeypatch, config)
    _decided, executed, _verified, _concluded = roll_back(config, url, ref)
    assert executed["baseline"] is None
    assert baselines_of(url, mark) == (
        [(ACTIVE, True, False), (CANDIDATE, False, True)],
        ["baseline.archived"],
    )


def test_a_baseline_made_after_the_rollout_ended_is_active_or_archived_at_once(
    demo, config, monkeypatch
):
    data_dir, url, ref = demo
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        assert stages.complete(session, config, deployment_ref=ref)["baseline"] is None
    deployment_baseline(data_dir, url, ref, monkeypatch, config)
    assert baselines_of(url) == [(ACTIVE, False, True), (CANDIDATE, True, False)]


def test_a_baseline_made_after_a_rollback_is_archived_at_once(demo, config, monkeypatch, capsys):
    data_dir, url, ref = demo
    start(config, url, ref, "beta")
    roll_back(config, url, ref)
    made = deployment_baseline(data_dir, url, ref, monkeypatch, config)
    assert f"baseline {made} archived unused" in capsys.readouterr().out
    assert baselines_of(url) == [(ACTIVE, True, False), (CANDIDATE, False, True)]


def test_a_deployment_rolled_back_already_is_not_restored_again_over_a_later_one(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref, "limited")
    first = roll_back(config, url, ref)
    later = authorised_deployment(config, data_dir, url, version="1.2.0")
    start(config, url, later, "limited")
    before = route_of(url)

    decided, executed, _verified, _concluded = roll_back(
        config, url, ref, source="manual", requested_by="eve"
    )

    assert decided["rolled_back_at"] is not None and decided["needs_approval"] is False
    assert executed == first[1]
    assert route_of(url) == before
    assert before.candidate == "1.2.0"


def test_a_rollback_of_a_deployment_another_one_followed_is_refused_in_one_line(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        stages.complete(session, config, deployment_ref=ref)
    later = authorised_deployment(config, data_dir, url, version="1.2.0")
    start(config, url, later, "limited")
    before = route_of(url)

    with pytest.raises(rollback.RollbackError) as refused:
        roll_back(config, url, ref, source="manual", requested_by="olivia")
    with store.session_scope(url) as session, pytest.raises(routing.RoutingError):
        routing.StoreTarget(session).restore_previous(
            MODEL, deployment_ref=ref, actor="olivia", reason="directly"
        )

    assert str(refused.value) == (
        f"{ref} is not the newest change to {MODEL}'s route ({later} changed it since): "
        f"restoring it would undo {later} too; roll back {later}"
    )
    assert route_of(url) == before


def test_the_rollback_decision_says_what_it_does_to_the_traffic(demo, config):
    data_dir, url, ref = demo
    untouched = authorised_deployment(config, data_dir, url, version="1.2.0")
    start(config, url, ref, "limited")
    restores = rollback_consequence(config, url, ref)
    moves_nothing = rollback_consequence(config, url, untouched)
    with store.session_scope(url) as session:
        revision = routing.route_before(session, MODEL, ref).revision

    assert restores == (
        f"Rolling back {ref} restores {ACTIVE} for every customer (route revision {revision})."
    )
    assert moves_nothing == rollback.NO_ROUTE_CHANGE.format(ref=untouched)


def route_of(url):
    with store.session_scope(url) as session:
        return routing.StoreTarget(session).current(MODEL)


def test_a_rollback_restores_the_previous_version_and_opens_a_root_cause_incident_once(
    demo, config
):
    _data_dir, url, ref = demo
    start(config, url, ref, "limited")
    first = roll_back(config, url, ref)
    second = roll_back(config, url, ref)
    decided, executed, verified, concluded = first
    assert decided["needs_approval"] is False
    assert executed["restored_version"] == ACTIVE
    assert verified["routing_restored"] and verified["versions"] == [ACTIVE]
    assert second[1]["revision"] == executed["revision"]
    assert second[3]["incident_ref"] == concluded["incident_ref"]
    with store.session_scope(url) as session:
        incident = session.scalars(
            select(Incident).where(Incident.ref == concluded["incident_ref"])
        ).one()
        assert (incident.category, incident.severity, incident.priority) == (
            "fairness_drift",
            "CRITICAL",
            "P0",
        )
        alerts = session.scalars(select(Alert).where(Alert.kind == rollback.SLACK_KIND)).all()
        assert len(alerts) == 1
        assert "Rollback of credit_approval 1.1.0" in alerts[0].payload["text"]
        deployment = procedure.find_deployment(session, ref)
        assert deployment.status == procedure.ROLLED_BACK
        assert deployment.details["rollback"]["criteria"] == ["RBC-1"]
        executed_events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "rollback.executed")
        )
    assert executed_events == 1


def test_a_manual_rollback_needs_the_system_owner_unless_the_owner_asked(demo, config):
    _data_dir, url, ref = demo
    start(config, url, ref, "beta")
    with store.session_scope(url) as session:
        by_engineer = rollback.decide(
            session,
            config,
            model_id=MODEL,
            reason="odd scores",
            source="manual",
            requested_by="eve",
        )
        by_owner = rollback.decide(
            session,
            config,
            model_id=MODEL,
            reason="odd scores",
            source="manual",
            requested_by="olivia",
        )
    assert by_engineer["deployment_ref"] == ref
    assert by_engineer["needs_approval"] is True
    assert by_engineer["approval"]["users"] == [
        {"id": "olivia", "name": config.people.user("olivia").name}
    ]
    assert by_owner["needs_approval"] is False


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reason": " "}, rollback.REASON_REQUIRED),
        (
            {"source": "intuition"},
            rollback.UNKNOWN_SOURCE.format(
                source="intuition", sources="manual, rollout, go_live, incident"
            ),
        ),
        ({"deployment_ref": None}, rollback.NOTHING_TO_ROLL_BACK.format(model_id=MODEL)),
    ],
)
def test_a_rollback_request_that_cannot_be_carried_out_is_refused(demo, config, arguments, message):
    _data_dir, url, ref = demo
    request = {
        "model_id": MODEL,
        "reason": "x",
        "source": "manual",
        "requested_by": "eve",
        "deployment_ref": ref,
        **arguments,
    }
    with store.session_scope(url) as session, pytest.raises(rollback.RollbackError) as refused:
        rollback.decide(session, config, **request)
    assert str(refused.value) == message


def test_every_stage_check_deployment_yaml_names_is_implemented(config):
    named = {
        item.check
        for item in [
            *config.deployment.rollout.stage_gates,
            *config.deployment.rollout.rollback_criteria,
        ]
        if item.check
    }
    assert named <= set(checks.STAGE_CHECKS)
    assert set(stages.DEFERRED_STAGE_CHECKS) <= set(checks.STAGE_CHECKS)


def test_the_fairness_gate_counts_the_approvals_of_a_model_whose_class_one_declines(config):
    # The same 900 decisions, logged once with 1 = approve and once by a risk score whose
    # 1 = decline (favourable_prediction 0): the gate must see the same approvals.
    frame = applicants(900, seed=5)
    approved = (frame["gender"] != "female") | (frame.index % 3 == 0)
    entry = config.models.get(MODEL)
    risk = entry.model_copy(update={"favourable_prediction": 0, "favourable_label": 0})
    results = [
        checks.fairness_within_bounds(
            SimpleNamespace(
                scored=frame.assign(prediction=decisions.astype("int8")),
                config=config,
                model=model,
                candidate=CANDIDATE,
            )
        )
        for model, decisions in ((entry, approved), (risk, ~approved))
    ]
    assert results[0] == results[1]
    assert results[1].outcome == "failed"


def test_the_fairness_gate_judges_disparate_impact_alone_so_the_weights_leave_it_the_whole_alpha(
    config,
):
    """Monitoring shares its alpha among eight metrics, the gate judges one: 100 of 200 men
    and 66 of 200 women approved are judged on the same interval with the policy's
    alpha_weights and without (corrected for the looks at the stage, not for other metrics)."""
    model, frame, approved = gender_only_decisions(config)
    (weighted, equal) = [
        checks.fairness_within_bounds(
            SimpleNamespace(
                scored=frame.assign(prediction=approved),
                config=judged_with,
                model=model,
                candidate=CANDIDATE,
            )
        )
        for judged_with in (config, with_equal_alpha_shares(config))
    ]
    (impact,) = weighted.evidence["findings"]
    assert weighted == equal
    assert (impact["value"], impact["verdict"], impact["ci_low"], impact["ci_high"]) == (
        0.66,
        "INCONCLUSIVE",
        0.378781,
        1.129322,
    )
    # Not failed, but not read as proof either: the summary names what it could not decide.
    assert weighted.summary.endswith(
        "; 1 INCONCLUSIVE (interval too wide to decide): disparate_impact_ratio of gender"
    ), weighted.summary


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        # The extreme pair (a 75-row cell) at 0.72, but a larger pair's evidence reaches back
        # to 0.86: a warning-size effect is shown, the 80% rule is not: no rollback.
        ((0.48, 0.86), "WARNING"),
        # The whole interval below 0.80: the data show the rule broken: roll back.
        ((0.20, 0.64), "CRITICAL"),
    ],
)
def test_a_rollback_needs_the_whole_interval_beyond_the_critical_bound(config, interval, expected):
    from govflow.metrics.severity import Evidence

    evidence = Evidence(*interval, 1.0, plausible_low=interval[0], plausible_high=interval[1])

    verdict = checks._rollback_needs_the_whole_interval(
        config, "disparate_impact_ratio", "CRITICAL", evidence
    )

    assert verdict == expected


def test_a_passing_feedback_gate_names_the_command_and_the_models_consumers(demo, config):
    data_dir, url, ref = demo
    start(config, url, ref)
    fair_traffic(config, data_dir, rows=100)
    result = {g["id"]: g for g in gate(config, data_dir, url, ref)["gates"]}
    assert result["GATE-1"]["summary"] == (
        "no critical bug(s) recorded; feedback from govflow rollout feedback and the consumers "
        "loan_portal, branch_app"
    )
    assert result["GATE-1"]["evidence"]["feedback_from"] == [
        "govflow rollout feedback",
        "loan_portal",
        "branch_app",
    ]
