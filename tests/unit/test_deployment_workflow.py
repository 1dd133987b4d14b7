"""PROC-AI-DEPLOY-001 run step by step as the DAG's tasks run it, on a copy of the demo:
records, gates, approvals, go-live, the readiness report and its CLI."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from govflow import registry, settings, store
from govflow.alerts.outbox import SLACK
from govflow.audit import query_events
from govflow.cli import app
from govflow.config import load_config
from govflow.dashboard import dashboard_rights
from govflow.dashboard.deployments import deployment_rows, recorded_reports
from govflow.dashboard.html import deployments as deployments_page
from govflow.dashboard.reports import recorded_report
from govflow.deployment import procedure, readiness, workflow
from govflow.deployment.approvals import AIRFLOW_AUDIT_LOG
from govflow.deployment.approvals import decision_rows as approvals_of
from govflow.deployment.checks import CheckResult
from govflow.deployment.forms import DEPLOYMENT_PLAN, RISK_ASSESSMENT
from govflow.deployment.procedure import DeploymentRequest, DeploymentStopped
from govflow.flows import Refused
from govflow.flows import deployment as deployment_flow
from govflow.serving import kill_switches
from govflow.store.schema import Alert, Deployment, DeploymentStep, Incident
from tests.support.demo_store import private_demo_copy
from tests.support.deployment_demo import (
    CANDIDATE,
    CLOSURE,
    DOCUMENTATION,
    PLAN,
    REGISTRATION,
    RISK,
    UNFAIR_CANDIDATE,
    answer,
    attest_everything,
    copy_demo,
    end_live_deployments,
    register_candidate,
    with_disparate_impact,
)


@pytest.fixture(scope="module")
def env(seeded_demo, tmp_path_factory) -> workflow.Environment:
    """The demo with its store as the seed left it: the readiness report names the model's
    open incidents, which other tests' analyses may have added to the session's store."""
    data_dir = tmp_path_factory.mktemp("deployment-workflow") / "data"
    url = private_demo_copy(seeded_demo, data_dir)
    register_candidate(data_dir, url)
    register_candidate(data_dir, url, version=UNFAIR_CANDIDATE, validation=with_disparate_impact)
    return workflow.Environment(load_config(settings.config_dir()), data_dir, url)


def _request(run_id: str, version: str = CANDIDATE, **changes) -> DeploymentRequest:
    fields = {
        "model_id": "credit_approval",
        "version": version,
        "deployment_type": "minor",
        "environment": "production",
        "justification": "faster scoring",
        "requested_by": "sam",
        "dag_run_id": run_id,
    }
    return DeploymentRequest(**{**fields, **changes})


def _start(env, request: DeploymentRequest) -> list[dict]:
    """``workflow.start`` once the deployments other tests left live are over."""
    end_live_deployments(env.db_url, request.model_id)
    return workflow.start(env, request)


def _through_readiness(env, run_id: str, version: str = CANDIDATE) -> list[dict]:
    """Steps 1-9 with everyone answering; returns the approval requests of step 10."""
    plan = _start(env, _request(run_id, version))
    risk = workflow.requests_for(env, run_id, "risk_assessment")
    workflow.coordinate_stakeholders(
        env,
        run_id,
        [answer(plan[0]["assigned_users"][0]["id"], PLAN)],
        [answer(risk[0]["assigned_users"][0]["id"], RISK)],
    )
    for step in (4, 5, 6):
        workflow.check_step(env, run_id, step)
    attestations = workflow.complete_checklist(env, run_id)
    compliance = workflow.requests_for(env, run_id, "compliance_verification")
    return workflow.review_readiness(
        env,
        run_id,
        [attest_everything(r) for r in attestations],
        [attest_everything(r) for r in compliance],
    )


def _approve_all(requests: list[dict], **overrides) -> list[dict]:
    answers = []
    for request in requests:
        role = request["subject"].split(":")[0]
        user = request["assigned_users"][0]["id"]
        answers.append(
            overrides.get(role) or answer(user, {"comment": "ok", "conditions": ""}, ["Approve"])
        )
    return answers


@pytest.fixture(scope="module")
def approved(env) -> str:
    """A high-risk minor deployment approved by everyone, authorised and closed."""
    run_id = "workflow/approved"
    requests = _through_readiness(env, run_id)
    workflow.document_approval(env, run_id, _approve_all(requests))
    workflow.check_step(env, run_id, 12)
    workflow.record_release(env, run_id)
    workflow.verify_deployment(env, run_id)
    assert workflow.decide_go_live(env, run_id) == []
    assert workflow.follow_go_live(env, run_id, []) == "authorise_rollout"
    workflow.authorise_rollout(env, run_id)
    workflow.plan_post_deployment_verification(env, run_id)
    workflow.communicate_to_users(
        env, run_id, [answer("lena", DOCUMENTATION)], [answer("carol", REGISTRATION)]
    )
    workflow.close(env, run_id, [answer("dave", CLOSURE)], [])
    return run_id


@pytest.fixture(scope="module")
def rejected(env) -> tuple[str, str]:
    """The same deployment where the compliance officer rejects; returns (run id, error)."""
    run_id = "workflow/rejected"
    requests = _through_readiness(env, run_id)
    no = answer("carol", {"comment": "EU declaration unsigned", "conditions": ""}, ["Reject"])
    with pytest.raises(DeploymentStopped) as stopped:
        workflow.document_approval(
            env, run_id, _approve_all(requests, **{"Compliance Officer": no})
        )
    workflow.close(env, run_id, [], ["deployment_approval.document_approval"])
    return run_id, str(stopped.value)


def _deployment(env, run_id: str) -> tuple[Deployment, dict[int, tuple[str, str]]]:
    with store.session_scope(env.db_url) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        steps = {
            row.step: (row.status, row.actor)
            for row in session.scalars(
                select(DeploymentStep).where(DeploymentStep.deployment_id == deployment.id)
            )
        }
        return deployment, steps


def _slack_texts(env, deployment: Deployment) -> list[str]:
    with store.session_scope(env.db_url) as session:
        alerts = session.scalars(
            select(Alert).where(Alert.idempotency_key.like(f"deployment:{deployment.ref}:%"))
        ).all()
        assert {(a.channel, a.destination) for a in alerts} == {(SLACK, "#ml-deployments")}
        return [a.payload["text"] for a in alerts]


def test_an_approved_deployment_records_its_twenty_steps_and_is_authorised_to_roll_out(
    env, approved
):
    deployment, steps = _deployment(env, approved)
    assert deployment.status == procedure.AUTHORISED
    assert deployment.go_live == "GREEN"
    assert deployment.recommendation == readiness.APPROVE
    assert deployment.closed_at is not None
    assert {number: status for number, (status, _) in steps.items()} == {
        1: "recorded",
        2: "recorded",
        3: "passed",
        4: "passed",
        5: "passed",
        6: "passed",
        7: "passed",
        8: "passed",
        9: "passed",
        10: "recorded",
        11: "passed",
        12: "passed",
        13: "handed_over",
        14: "passed",
        15: "recorded",
        16: "scheduled",
        17: "recorded",
        18: "recorded",
        19: "passed",
        20: "recorded",
    }
    assert (steps[1][1], steps[2][1], steps[17][1], steps[18][1], steps[20][1]) == (
        "dave",
        "rick",
        "lena",
        "carol",
        "dave",
    )
    assert deployment.retain_until == deployment.created_at.replace(
        year=deployment.created_at.year + 10
    )


def test_the_approved_version_is_approved_in_the_registry_by_the_system_owner(env, approved):
    with store.session_scope(env.db_url) as session:
        lineage = registry.lineage(session, "credit_approval", CANDIDATE)
    assert lineage["status"] == "approved"
    assert [(d["action"], d["actor"]) for d in lineage["registry_decisions"]] == [
        ("requested", "sam"),
        ("approved", "priya"),
    ]
    deployments = [d for d in lineage["deployments"] if d["status"] == procedure.AUTHORISED]
    assert {a["role"]: a["approver"] for a in deployments[0]["approvals"]} == {
        "system_owner": "priya",
        "compliance_officer": "carol",
        "risk_manager": "rick",
        "qa_lead": "quinn",
        "ai_governance_committee": "gina",
    }


def test_the_approved_deployment_reports_approve_with_the_traffic_checks_outstanding(env, approved):
    deployment, _ = _deployment(env, approved)
    with store.session_scope(env.db_url) as session:
        report = readiness.build_report(
            session, env.config, procedure.deployment_of_run(session, approved)
        )
    assert report.recommendation == "APPROVE"
    assert report.conditions == []
    assert all(report.areas.values())
    authorised_at = datetime.fromisoformat(deployment.details["authorised_at"])
    due = (authorised_at + timedelta(hours=72)).strftime("%Y-%m-%d %H:%M UTC")
    assert [(o.item.split(":")[0], o.due, o.status) for o in report.outstanding] == [
        (check, due, "scheduled for the rollout")
        for check in (
            "fairness_within_bounds",
            "model_drift_within_bounds",
            "monitoring_active",
            "monitoring_stable",
        )
    ]
    markdown = (env.data_dir / deployment.report_path).read_text()
    html = (env.data_dir / deployment.details["report_html_path"]).read_text()
    assert "### Recommendation\n\n**APPROVE**\n" in markdown
    assert "<p><strong>APPROVE</strong></p>" in html


def _fairness_incident(number: int, status: str, opened_at: datetime) -> Incident:
    return Incident(
        ref=f"INC-2026-{number:04d}",
        model_id="credit_approval",
        category="fairness",
        metric="disparate_impact_ratio",
        severity="CRITICAL",
        priority="P0",
        status=status,
        dedup_key=f"credit_approval:disparate_impact_ratio:{number}",
        title="disparate impact 0.67",
        opened_at=opened_at,
    )


def test_the_report_names_the_models_open_incidents_and_kill_switches_as_conditions(
    env, approved, tmp_path
):
    """The same approved deployment, on a copy of its store where credit_approval has two
    open P0 fairness incidents and is frozen: the report lists them (not the closed incident,
    nor the switch of another model) and approves only with them as conditions."""
    url = copy_demo(env.data_dir, tmp_path)
    opened = datetime(2026, 11, 28, 6, 0)
    with store.session_scope(url) as session:
        session.add_all(
            [
                _fairness_incident(901, "open", opened),
                _fairness_incident(902, "investigating", opened + timedelta(hours=1)),
                _fairness_incident(903, "closed", opened - timedelta(days=9)),
            ]
        )
        for target in ("credit_approval", "marketing_propensity"):
            kill_switches.activate(
                session,
                scope="model_type",
                target=target,
                reason=f"INC-2026-0901 CRITICAL disparate_impact_ratio: {target}",
                actor="govflow-incident-response",
                config=env.config,
                at=opened + timedelta(minutes=5),
            )
    with store.session_scope(url) as session:
        frozen = kill_switches.active_switch(session, "model_type", "credit_approval")
        assert frozen is not None
        report = readiness.build_report(
            session, env.config, procedure.deployment_of_run(session, approved)
        )
    assert [(i["ref"], i["status"]) for i in report.incidents] == [
        ("INC-2026-0901", "open"),
        ("INC-2026-0902", "investigating"),
    ]
    assert report.kill_switches == [
        {
            "id": str(frozen.id),
            "scope": "model_type",
            "target": "credit_approval",
            "by": "govflow-incident-response",
            "since": "2026-11-28 06:05 UTC",
            "reason": "INC-2026-0901 CRITICAL disparate_impact_ratio: credit_approval",
        }
    ]
    assert report.recommendation == "APPROVE WITH CONDITIONS"
    assert report.reasons == [
        "INC-2026-0901 P0 CRITICAL disparate_impact_ratio open: approvers confirm this version "
        "addresses it",
        "INC-2026-0902 P0 CRITICAL disparate_impact_ratio investigating: approvers confirm this "
        "version addresses it",
        f"credit_approval is frozen by kill switch {frozen.id} (model_type, "
        "govflow-incident-response since 2026-11-28 06:05 UTC): lifting it is a separate "
        "decision",
    ]
    markdown = readiness.render_markdown(report)
    assert "| INC-2026-0901 | P0 | CRITICAL | disparate_impact_ratio | open |" in markdown
    assert "INC-2026-0903" not in markdown
    assert f"| {frozen.id} | model_type | credit_approval | govflow-incident-response |" in (
        markdown
    )
    assert "marketing_propensity" not in markdown


def test_the_report_counts_a_switch_on_the_models_predict_route_as_a_freeze(
    env, approved, tmp_path
):
    """An inference_endpoint switch on credit_approval's route (not on another model's)
    stops its traffic as a model_type freeze does: a condition of the approval too."""
    url = copy_demo(env.data_dir, tmp_path)
    with store.session_scope(url) as session:
        for model_id in ("credit_approval", "marketing_propensity"):
            kill_switches.activate(
                session,
                scope="inference_endpoint",
                target=f"/v1/models/{model_id}/predict",
                reason="scores out of range",
                actor="eve",
                config=env.config,
            )
    with store.session_scope(url) as session:
        report = readiness.build_report(
            session, env.config, procedure.deployment_of_run(session, approved)
        )
    assert [(k["scope"], k["target"]) for k in report.kill_switches] == [
        ("inference_endpoint", "/v1/models/credit_approval/predict")
    ]
    assert report.recommendation == "APPROVE WITH CONDITIONS"


def test_the_report_each_approver_was_shown_is_kept_and_named_by_their_decision(env, approved):
    """Rendered again at go-live and at the end, the report the approvals were asked on stays
    as it was: its files keep the bytes their sha256 recorded, each decision (its record,
    step 10's evidence, its audit event) names them, and the dashboard still serves them
    beside the newest."""
    deployment, _ = _deployment(env, approved)
    asked_on = deployment.details["approvals_report"]
    ref = deployment.ref
    assert [r["path"] for r in asked_on] == [
        f"reports/deployments/{ref}/readiness.md",
        f"reports/deployments/{ref}/readiness.html",
    ]
    for rendering in asked_on:
        kept = (env.data_dir / rendering["path"]).read_bytes()
        assert hashlib.sha256(kept).hexdigest() == rendering["sha256"]
    decision = "| Compliance Officer | carol | approve |"
    assert decision not in (env.data_dir / asked_on[0]["path"]).read_text()
    assert decision in (env.data_dir / deployment.report_path).read_text()
    assert deployment.details["report_html_path"] != asked_on[1]["path"]
    with store.session_scope(env.db_url) as session:
        row = procedure.deployment_of_run(session, approved)
        step10 = session.scalars(
            select(DeploymentStep).where(
                DeploymentStep.deployment_id == row.id, DeploymentStep.step == 10
            )
        ).one()
        events = query_events(session, action="deployment.approval_*", target=f"deployment:{ref}")
        served = [recorded_report(session, r["path"]) for r in asked_on]
        (listed,) = [r for r in deployment_rows(session, env.config) if r.ref == ref]
    assert [d["readiness_report"] for d in step10.evidence["decisions"]] == [asked_on] * 5
    assert [e.payload["readiness_report"] for e in events] == [asked_on] * 5
    assert [(r.path, r.kind) for r in served if r] == [(r["path"], "readiness") for r in asked_on]
    assert listed.reports == [deployment.report_path, deployment.details["report_html_path"]]
    assert listed.approvals_reports == [r["path"] for r in asked_on]
    page = deployments_page("", dashboard_rights(env.config, "audrey"), [listed], lambda d, r: "")
    assert (
        "<p>as put to the approvers: "
        f'<a href="/reports/reports/deployments/{ref}/readiness.md" target="_blank">'
    ) in page
    assert recorded_reports(deployment)[:2] == listed.reports
    assert set(recorded_reports(deployment)) >= {r["path"] for r in asked_on}


def test_govflow_report_readiness_prints_the_report_of_the_records(env, approved, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DB_URL", env.db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(env.data_dir))
    deployment, _ = _deployment(env, approved)
    result = CliRunner().invoke(app, ["report", "readiness", deployment.ref])
    assert result.exit_code == 0, result.output
    with store.session_scope(env.db_url) as session:
        expected = readiness.render_markdown(
            readiness.build_report(
                session, env.config, procedure.find_deployment(session, deployment.ref)
            )
        )
    assert result.output == expected
    lower = CliRunner().invoke(app, ["report", "readiness", deployment.ref.lower()])
    assert (lower.exit_code, lower.output) == (0, expected)
    missing = CliRunner().invoke(app, ["report", "readiness", "DEP-19990101-000000"])
    assert missing.exit_code == 1
    assert missing.output == "no deployment 'DEP-19990101-000000'\n"


def test_every_stage_of_an_approved_deployment_is_announced_on_the_deployments_channel(
    env, approved
):
    deployment, _ = _deployment(env, approved)
    texts = _slack_texts(env, deployment)
    on_call = env.config.people.on_call_primary(
        datetime.fromisoformat(deployment.details["authorised_at"])
    )
    assert [text.splitlines()[0] for text in texts] == [
        f"*Deployment {deployment.ref} planned*: minor deployment of credit_approval 1.1.0 "
        "to production, requested by sam.",
        f"*Deployment Readiness Report {deployment.ref}*: credit_approval 1.1.0 (Approve or "
        "decline consumer credit applications (credit lending))",
        f"*Deployment {deployment.ref} authorised to roll out*: credit_approval 1.1.0, go-live "
        "GREEN, recommendation APPROVE. The rollout starts with stage alpha.",
        "*Release notes*: credit_approval 1.1.0 (Approve or decline consumer credit "
        "applications (credit lending)) is authorised to roll out to production "
        f"({deployment.ref}). faster scoring. Support: {on_call} (primary on-call), owner olivia.",
        f"*Deployment {deployment.ref} authorised*: credit_approval 1.1.0",
    ]


def test_a_compliance_rejection_stops_the_deployment_with_its_reason_and_promotes_nothing(
    env, rejected
):
    run_id, error = rejected
    deployment, steps = _deployment(env, run_id)
    reason = "Compliance Officer carol blocked the deployment: EU declaration unsigned"
    assert error == reason
    assert deployment.status == procedure.REJECTED
    assert deployment.details["stopped"] == {
        "status": "rejected",
        "step": 11,
        "reason": reason,
        "decided_by": "carol",
    }
    assert deployment.recommendation == "DO NOT APPROVE"
    assert max(steps) == 11
    with store.session_scope(env.db_url) as session:
        lineage = registry.lineage(session, "credit_approval", CANDIDATE)
    assert lineage["stages"] == []
    assert f"Reason: {reason}" in _slack_texts(env, deployment)[-1]


def test_a_failed_fairness_item_blocks_at_staging_before_anyone_is_asked_to_approve(env):
    run_id = "workflow/unfair"
    plan = _start(env, _request(run_id, UNFAIR_CANDIDATE))
    workflow.coordinate_stakeholders(
        env, run_id, [answer(plan[0]["assigned_users"][0]["id"], PLAN)], [answer("rick", RISK)]
    )
    workflow.check_step(env, run_id, 4)
    workflow.check_step(env, run_id, 5)
    with pytest.raises(DeploymentStopped) as stopped:
        workflow.check_step(env, run_id, 6)
    assert str(stopped.value).startswith(
        "fairness_across_groups: disparate_impact_ratio of gender is 0.499972 (CRITICAL on "
        "the interval 0.478463-0.518579; lowest female, highest male)"
    )
    outcome = workflow.close(env, run_id, [], ["preparation.deploy_to_staging"])
    deployment, steps = _deployment(env, run_id)
    assert (deployment.status, deployment.details["stopped"]["step"]) == (procedure.BLOCKED, 6)
    assert steps[6][0] == "failed"
    assert "approvals" not in deployment.details["requests"]
    assert outcome["recommendation"] == "DO NOT APPROVE"
    assert "disparate_impact_ratio of gender is 0.499972" in _slack_texts(env, deployment)[-1]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"deployment_type": "initial"},
            "credit_approval already has version 1.0.0 in production: an initial deployment "
            "is the first production release",
        ),
        (
            {"deployment_type": "rollback"},
            "a rollback deployment follows the rollback procedure of seed 001 section 5, not "
            "the twenty steps: use the rollback DAG",
        ),
        (
            {"requested_by": "carol"},
            "no one may give the compliance_officer approval of credit_approval: carol "
            "(neither the model's owner nor the requester may approve)",
        ),
        (
            {"requested_by": None},
            "the run names no triggering user, so nobody requested the deployment",
        ),
    ],
)
def test_a_request_that_cannot_start_the_procedure_is_blocked_with_its_reason(env, changes, reason):
    run_id = f"workflow/refused/{sorted(changes.items())}"
    with pytest.raises(DeploymentStopped) as stopped:
        _start(env, _request(run_id, **changes))
    deployment, steps = _deployment(env, run_id)
    assert str(stopped.value) == reason
    assert (deployment.status, deployment.details["stopped"]["reason"]) == (
        procedure.BLOCKED,
        reason,
    )
    assert steps == {}


def test_a_version_the_registry_does_not_have_is_refused_and_nothing_is_stored(env):
    run_id = "workflow/refused/unregistered"
    with pytest.raises(DeploymentStopped) as stopped:
        _start(env, _request(run_id, version="9.9.9"))
    with store.session_scope(env.db_url) as session:
        stored = session.scalars(select(Deployment).where(Deployment.dag_run_id == run_id)).all()
        events = query_events(session, mentioning=run_id)
    assert str(stopped.value) == "credit_approval 9.9.9 is not in the model registry"
    assert (stored, list(events)) == ([], [])


def test_a_second_deployment_of_the_version_stops_at_its_start_naming_the_live_one(env):
    plan = _start(env, _request("workflow/live/first"))
    with pytest.raises(DeploymentStopped) as stopped:
        workflow.start(env, _request("workflow/live/second"))
    first, _ = _deployment(env, "workflow/live/first")
    second, steps = _deployment(env, "workflow/live/second")
    reason = (
        f"credit_approval has deployment {first.ref} (1.1.0) in progress: finish it first, or"
        " stop it by marking its govflow_model_deployment run workflow/live/first failed"
    )
    assert str(stopped.value) == reason
    assert (second.status, second.details["stopped"]["reason"], steps) == (
        procedure.BLOCKED,
        reason,
        {},
    )
    assert (first.status, first.closed_at) == (procedure.IN_PROGRESS, None)
    assert workflow.start(env, _request("workflow/live/first")) == plan


def test_finalise_of_a_run_that_opened_no_deployment_fails_in_one_line(env, monkeypatch):
    monkeypatch.setattr("govflow.flows.deployment._environment", lambda: env)
    with pytest.raises(Refused) as refused:
        deployment_flow.finalise("workflow/refused/never-opened", [], [], deliver=list)
    assert str(refused.value) == (
        "no deployment record for Airflow run 'workflow/refused/never-opened': "
        "open_deployment refused the request before recording one"
    )


@pytest.mark.parametrize(
    ("failed_tasks", "reason"),
    [
        (
            ["deployment_planning.create_deployment_plan"],
            "task deployment_planning.create_deployment_plan failed before the deployment "
            "recorded a reason",
        ),
        ([], "the run ended before the deployment was decided (its steps were skipped)"),
    ],
)
def test_a_run_marked_failed_by_hand_leaves_its_deployment_blocked_and_closed(
    env, failed_tasks, reason
):
    run_id = f"workflow/marked-failed/{len(failed_tasks)}"
    _start(env, _request(run_id))
    outcome = workflow.close(env, run_id, [], failed_tasks)
    deployment, _ = _deployment(env, run_id)
    assert (outcome["status"], outcome["reason"]) == (procedure.BLOCKED, reason)
    assert (deployment.status, deployment.details["stopped"]["reason"]) == (
        procedure.BLOCKED,
        reason,
    )
    assert deployment.closed_at is not None


def test_opening_the_same_run_twice_keeps_one_record_and_asks_the_same_people(env):
    first = _start(env, _request("workflow/twice"))
    again = _start(env, _request("workflow/twice"))
    assert first == again
    with store.session_scope(env.db_url) as session:
        count = session.scalars(
            select(Deployment).where(Deployment.dag_run_id == "workflow/twice")
        ).all()
    assert len(count) == 1


def test_a_patch_waits_four_hours_and_skips_stakeholder_coordination(env):
    run_id = "workflow/patch"
    plan = _start(env, _request(run_id, deployment_type="patch"))
    assert plan[0]["response_timeout"] == timedelta(hours=4)
    notified = workflow.coordinate_stakeholders(
        env, run_id, [answer("dave", PLAN)], [answer("rick", RISK)]
    )
    _, steps = _deployment(env, run_id)
    assert notified is False
    assert steps[3] == ("skipped", workflow.ACTOR)


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        (
            {**PLAN, "plan_link": "", "communication_plan": " "},
            "FORM-AI-DEPLOY-001 by dave leaves communication_plan, plan_link empty",
        ),
        (
            {**PLAN, "deployment_window_end": "2026-11-30T08:00:00+00:00"},
            "the deployment window is not valid: it ends (2026-11-30 08:00:00+00:00) before it "
            "starts (2026-12-01 08:00:00+00:00)",
        ),
        (
            {**PLAN, "deployment_window_start": "next monday"},
            "the deployment window is not valid: 'next monday' is not an ISO date and time",
        ),
    ],
)
def test_an_incomplete_plan_blocks_the_deployment_at_step_1(env, plan, reason):
    run_id = f"workflow/plan/{reason[:20]}"
    _start(env, _request(run_id))
    with pytest.raises(DeploymentStopped) as stopped:
        workflow.coordinate_stakeholders(
            env, run_id, [answer("dave", plan)], [answer("rick", RISK)]
        )
    deployment, _ = _deployment(env, run_id)
    assert str(stopped.value) == reason
    assert deployment.details["stopped"]["step"] == 1


@pytest.mark.parametrize(
    ("window", "problems"),
    [
        ({}, []),
        ({"deployment_window_start": ""}, []),
        (
            {"deployment_window_start": "tomorrow"},
            ["the deployment window is not valid: 'tomorrow' is not an ISO date and time"],
        ),
        (
            {"deployment_window_end": "2026-12-01T08:00:00+00:00"},
            [
                "the deployment window is not valid: it ends (2026-12-01 08:00:00+00:00) "
                "before it starts (2026-12-01 08:00:00+00:00)"
            ],
        ),
        (
            {"deployment_window_end": "2026-12-01T12:00:00"},
            [
                "the deployment window is not valid: it ends (2026-12-01 12:00:00) before it "
                "starts (2026-12-01 08:00:00+00:00)"
            ],
        ),
    ],
)
def test_the_plans_form_names_a_window_that_is_not_two_iso_times_in_order(window, problems):
    assert DEPLOYMENT_PLAN.answer_problems({**PLAN, **window}) == problems
    assert RISK_ASSESSMENT.answer_problems({**PLAN, **window}) == []


def _verified_with(env, run_id: str, results: list[CheckResult]) -> None:
    _start(env, _request(run_id))
    with store.session_scope(env.db_url) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        procedure.record_step(
            session,
            env.config,
            deployment,
            14,
            status="passed",
            actor="test",
            evidence={"checks": [r.to_dict() for r in results]},
        )


def test_amber_asks_the_models_owner_and_rolling_back_ends_the_deployment(env):
    run_id = "workflow/amber"
    _verified_with(env, run_id, [CheckResult("baseline_active", "failed", "0 active baseline(s)")])
    requests = workflow.decide_go_live(env, run_id)
    assert [(r["assigned_users"], r["options"]) for r in requests] == [
        ([{"id": "olivia", "name": "Olivia Owens"}], ["Go live", "Roll back"])
    ]
    choice = answer("olivia", {"comment": "baseline first"}, ["Roll back"])
    assert workflow.follow_go_live(env, run_id, [choice]) == "roll_back"
    assert workflow.follow_go_live(env, run_id, [choice]) == "roll_back"
    workflow.roll_back(env, run_id)
    deployment, _ = _deployment(env, run_id)
    assert deployment.go_live == "AMBER"
    assert deployment.status == procedure.ROLLED_BACK
    assert deployment.details["stopped"]["reason"] == (
        "go-live decision AMBER (baseline_active: 0 active baseline(s)); olivia chose to roll "
        "back: baseline first"
    )
    with store.session_scope(env.db_url) as session:
        chosen = query_events(
            session, action=workflow.GO_LIVE_CHOSEN, target=f"deployment:{deployment.ref}"
        )
        assert [(e.actor, e.payload) for e in chosen] == [
            ("olivia", {"choice": "Roll back", "comment": "baseline first"})
        ]


def test_red_goes_straight_to_the_rollback_path(env):
    run_id = "workflow/red"
    _verified_with(env, run_id, [CheckResult("deployment_smoke_test", "failed", "no rows")])
    assert workflow.decide_go_live(env, run_id) == []
    assert workflow.follow_go_live(env, run_id, []) == "roll_back"
    workflow.roll_back(env, run_id)
    deployment, _ = _deployment(env, run_id)
    assert (deployment.go_live, deployment.status) == ("RED", procedure.ROLLED_BACK)
    assert deployment.details["rollback"]["restores"] == "1.0.0"


def test_an_approval_task_forced_to_success_over_rest_does_not_authorise_and_is_audited(env):
    """Marked success by hand, an approval task leaves no answer (no XCom, no responded_by):
    the approvals are refused as a bypass attempt, whatever the other answers say."""
    run_id = "workflow/forced-success"
    requests = _through_readiness(env, run_id)
    given = _approve_all(requests)
    given[1] = given[3] = None
    with pytest.raises(DeploymentStopped) as stopped:
        workflow.document_approval(env, run_id, given)
    reason = (
        "the Compliance Officer and QA Lead approvals were marked done without an answer from "
        "anyone assigned to them (their tasks were set to success by hand): refused as an "
        "approval bypass attempt"
    )
    assert str(stopped.value) == reason
    deployment, steps = _deployment(env, run_id)
    assert deployment.status == procedure.BLOCKED
    assert deployment.details["stopped"]["reason"] == reason
    assert 10 not in steps
    with store.session_scope(env.db_url) as session:
        events = query_events(session, target=f"deployment:{deployment.ref}")
        bypass = [e for e in events if e.action == "approval_bypass_attempt"]
        decisions = [e for e in events if e.action.startswith("deployment.approval_")]
    assert decisions == []
    assert [(e.severity, e.payload["roles"]) for e in bypass] == [
        ("CRITICAL", ["compliance_officer", "qa_lead"])
    ]
    assert bypass[0].payload["tasks"] == [
        "deployment_approval.approve_deployment[1]",
        "deployment_approval.approve_deployment[3]",
    ]
    assert bypass[0].payload["changed_by"] == AIRFLOW_AUDIT_LOG


def test_requests_still_waiting_are_withdrawn_once_the_deployment_stopped_and_only_then(
    env, approved, rejected
):
    run_id, _ = rejected
    assert workflow.withdrawal_reason(env, run_id) == (
        "the deployment was rejected: Compliance Officer carol blocked the deployment: "
        "EU declaration unsigned"
    )
    assert workflow.withdrawal_reason(env, approved) is None
    _through_readiness(env, "workflow/waiting")
    assert workflow.withdrawal_reason(env, "workflow/waiting") is None


def test_a_rejection_stops_the_deployment_as_it_is_given_so_the_others_are_withdrawn(env):
    run_id = "workflow/early-rejection"
    requests = _through_readiness(env, run_id)
    approve = _approve_all(requests)
    no = answer("carol", {"comment": "EU declaration unsigned", "conditions": None}, ["Reject"])
    assert workflow.record_approval(env, run_id, 0, approve[0]) is None
    assert workflow.withdrawal_reason(env, run_id) is None
    reason = "Compliance Officer carol blocked the deployment: EU declaration unsigned"
    assert workflow.record_approval(env, run_id, 1, no) == reason
    assert workflow.withdrawal_reason(env, run_id) == f"the deployment was rejected: {reason}"
    deployment, _ = _deployment(env, run_id)
    assert deployment.details["stopped"] == {
        "status": "rejected",
        "step": 10,
        "reason": reason,
        "decided_by": "carol",
    }
    with store.session_scope(env.db_url) as session:
        rows = approvals_of(session, deployment)
    assert [(row["role"], row["decision"]) for row in rows] == [
        ("system_owner", "approve"),
        ("compliance_officer", "reject"),
    ]


def test_approval_requests_link_the_report_through_the_dashboard_which_lists_them_until_answered(
    env, monkeypatch
):
    """Never a path on the server: the approver opens it from the dashboard, whose
    Deployments page and My actions list each approval still to give (issue 16)."""
    monkeypatch.setenv("GOVFLOW_AIRFLOW_BASE_URL", "http://127.0.0.1:8080/")
    run_id = "run-report-link"
    requests = _through_readiness(env, run_id)
    with store.session_scope(env.db_url) as session:
        ref = procedure.deployment_of_run(session, run_id).ref
    link = f"http://127.0.0.1:8080/govflow/reports/reports/deployments/{ref}/readiness.html"
    assert all(f"Full report: {link}" in request["body"] for request in requests)
    assert "data directory" not in requests[0]["body"]

    def still_open() -> list[tuple[str, list[str]]]:
        with store.session_scope(env.db_url) as session:
            (row,) = [r for r in deployment_rows(session, env.config) if r.ref == ref]
            return sorted((r.subject, r.assignees) for r in row.open_requests)

    asked = sorted((r["subject"], [u["id"] for u in r["assigned_users"]]) for r in requests)
    assert still_open() == asked
    assert workflow.record_approval(env, run_id, 0, _approve_all(requests)[0]) is None
    answered = (requests[0]["subject"], [u["id"] for u in requests[0]["assigned_users"]])
    assert still_open() == [a for a in asked if a != answered]
