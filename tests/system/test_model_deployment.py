"""Six high-risk deployments of credit_approval on a real Airflow on 127.0.0.1 (issue 5
item 7, issue 13 item 10): one approved by every assigned approver through the REST API
(after two malformed answers, which the api-server's guard refuses with their problems,
the requests staying open, and a plan whose window starts "tomorrow", which Airflow takes
and the plan's step asks again), one that the compliance officer
rejects, one whose fairness checklist item fails, one whose five approval tasks the
requester marks success over REST instead of anyone answering them, and one whose
compliance approval task an admin marks failed while the other four wait: those are
withdrawn (skipped, no longer asked; an answer given after all is refused with the reason)
and the run ends (approvals look every 15 s here, the config copied with
withdrawal_check_minutes 0.25), and one that an admin marks failed as a whole while its plan
waits, whose record is still closed.

The session's shared stack (api-server, scheduler, dag-processor; Postgres metadata so that
four task processes can write at once), leased with a local Slack webhook behind
`slack_default`, runs the six deployments side by side, all requested by sam, a system
owner: he may not approve them (separation of duties), nor may olivia, credit_approval's
owner. The session's seeded demo is copied while Airflow starts (when this module is the
first to lease it). Every person answers the requests assigned to them as soon as Airflow
can take the answer; the tests then read what the runs, the store and Slack hold.
"""

from __future__ import annotations

import shutil
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from govflow import registry, store
from govflow.audit import query_events
from govflow.cli import app
from govflow.deployment import procedure, readiness
from govflow.store.schema import Deployment, DeploymentStep
from tests.support.demo_store import private_demo_copy
from tests.support.deployment_demo import (
    CANDIDATE,
    PLAN,
    UNFAIR_CANDIDATE,
    RequiredActions,
    form_answer,
    register_candidate,
    with_disparate_impact,
)
from tests.support.slack_receiver import running_slack_receiver

pytestmark = pytest.mark.system

DAG = "govflow_model_deployment"
REJECTED_CANDIDATE = "1.2.0"
FORCED_CANDIDATE = "1.3.0"
WITHDRAWN_CANDIDATE = "1.4.0"
MARKED_FAILED_CANDIDATE = "1.5.0"
PLAN_TASK = "deployment_planning.create_deployment_plan"
# Sent once on the approved run's plan; Airflow takes it (200) and the step asks again.
NOT_A_WINDOW = {**PLAN, "deployment_window_start": "tomorrow"}
CHECK_EVERY_MINUTES = 0.25
# Sent once each on the approved run; Airflow takes them (200) and the step asks again.
MALFORMED = {
    "QA Lead": {"comment": 42, "conditions": None},
    "Risk Manager": {"comment": "ok", "conditions": None, "override": "yes"},
}
REQUESTER, OWNER = "sam", "olivia"
COMPLIANCE_REASON = "EU declaration of conformity is not signed"
APPROVALS = "deployment_approval.approve_deployment"
NEW_SUCCESS = {"new_state": "success"}
NOT_A_RESPONDENT = "User={user} (id={user}) is not a respondent for the task."
DRIVE_TIMEOUT_S = 420


@dataclass
class Observed:
    """What the driver saw while answering: refusals, approval requests, final states."""

    runs: dict[str, str]
    refused: dict[str, tuple[int, Any]] = field(default_factory=dict)
    approval_requests: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    answered: dict[str, list[str]] = field(default_factory=dict)
    malformed: dict[str, tuple[int, Any]] = field(default_factory=dict)
    late: tuple[int, Any] | None = None
    forced: list[tuple[int, Any]] = field(default_factory=list)
    forced_tasks: set[str] = field(default_factory=set)
    failed_by_admin: list[tuple[str, int]] = field(default_factory=list)
    left_waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    still_asked: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, dict[str, str | None]] = field(default_factory=dict)
    assets: list[dict[str, Any]] = field(default_factory=list)
    patched_by: list[tuple[str, str]] = field(default_factory=list)
    bad_window: tuple[int, Any] | None = None
    marked_failed: list[tuple[int, Any]] = field(default_factory=list)


def _seed(
    seeded_demo: tuple[str, str], data_dir: Path, db_url: str, done: list[BaseException | None]
) -> None:
    try:
        assert private_demo_copy(seeded_demo, data_dir) == db_url
        register_candidate(data_dir, db_url)
        register_candidate(data_dir, db_url, version=REJECTED_CANDIDATE)
        register_candidate(data_dir, db_url, version=FORCED_CANDIDATE)
        register_candidate(data_dir, db_url, version=WITHDRAWN_CANDIDATE)
        register_candidate(data_dir, db_url, version=MARKED_FAILED_CANDIDATE)
        register_candidate(
            data_dir, db_url, version=UNFAIR_CANDIDATE, validation=with_disparate_impact
        )
        done.append(None)
    except BaseException as error:  # reported by the fixture, in the test's thread
        done.append(error)


def _others_approved(actions: RequiredActions, detail: dict[str, Any]) -> bool:
    ti = detail["task_instance"]
    states = actions.stack.task_states(DAG, ti["dag_run_id"])
    others = [
        state
        for task, state in states.items()
        if task.startswith(APPROVALS + "[") and task != f"{APPROVALS}[{ti['map_index']}]"
    ]
    return len(others) == 4 and set(others) == {"success"}


def _approve(observed: Observed, actions: RequiredActions, run: str, detail: dict) -> None:
    """Approve as the assignee; on the approved run try the requester and owner first, and on
    the rejected run the compliance officer says no."""
    role = detail["task_instance"]["rendered_map_index"] or detail["subject"].split(":")[0]
    assignees = [user["id"] for user in detail["assigned_users"]]
    if run == "forced":
        ti = detail["task_instance"]
        # The request stays unanswered once its task is set to success: set it once.
        if ti["id"] in observed.forced_tasks:
            return
        observed.forced_tasks.add(ti["id"])
        run_path = f"/api/v2/dags/{DAG}/dagRuns/{ti['dag_run_id']}/taskInstances"
        if ti["map_index"] % 2:
            # Every other one through the bulk endpoint, which Airflow's event log omits.
            entity = {"task_id": ti["task_id"], "map_index": ti["map_index"]}
            body = {"actions": [{"action": "update", "entities": [entity | NEW_SUCCESS]}]}
            observed.forced.append(actions.stack.client(REQUESTER).request("PATCH", run_path, body))
            return
        observed.forced.append(
            actions.stack.client(REQUESTER).request(
                "PATCH", f"{run_path}/{ti['task_id']}/{ti['map_index']}", NEW_SUCCESS
            )
        )
        return
    if run == "withdrawn":
        ti = detail["task_instance"]
        if role == "Compliance Officer" and not observed.failed_by_admin:
            observed.failed_by_admin.append(
                actions.stack.client().request(
                    "PATCH",
                    f"/api/v2/dags/{DAG}/dagRuns/{ti['dag_run_id']}/taskInstances/"
                    f"{ti['task_id']}/{ti['map_index']}",
                    {"new_state": "failed"},
                )
            )
        elif role != "Compliance Officer":
            observed.left_waiting[role] = detail
        return
    if run == "rejected" and role == "Compliance Officer" and not _others_approved(actions, detail):
        # Answered last: a rejection stops the deployment as it is given and withdraws the
        # approvals still waiting, and this run is about the rejection recorded with the rest.
        return
    if run == "approved" and role in MALFORMED and role not in observed.malformed:
        observed.malformed[role] = actions.answer(
            detail, assignees[0], ["Approve"], MALFORMED[role]
        )
        return
    observed.approval_requests.setdefault(run, []).append((role, assignees))
    if run == "approved" and role == "System Owner":
        for user in (REQUESTER, OWNER):
            observed.refused[user] = actions.answer(detail, user, ["Approve"], {"comment": "mine"})
    if run == "rejected" and role == "Compliance Officer":
        status, _ = actions.answer(
            detail, assignees[0], ["Reject"], {"comment": COMPLIANCE_REASON, "conditions": ""}
        )
    else:
        status, _ = actions.answer(
            detail, assignees[0], ["Approve"], {"comment": "ready", "conditions": ""}
        )
    assert status == 200, (run, role, status)


def _mark_failed(observed: Observed, actions: RequiredActions, detail: dict) -> None:
    """An admin marks the whole run failed (the UI's "Mark Dag run as failed") once, while
    its plan waits; nothing of the run is answered."""
    if not observed.marked_failed:
        run_id = urllib.parse.quote(detail["task_instance"]["dag_run_id"], safe="")
        observed.marked_failed.append(
            actions.stack.client().request(
                "PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run_id}", {"state": "failed"}
            )
        )


def _drive(stack: Any, observed: Observed) -> None:
    """Answer every request of the three runs until they end."""
    actions = RequiredActions(stack, DAG)
    name_of = {run_id: name for name, run_id in observed.runs.items()}
    open_runs = set(observed.runs.values())
    deadline = time.monotonic() + DRIVE_TIMEOUT_S
    while open_runs:
        assert time.monotonic() < deadline, {r: stack.task_states(DAG, r) for r in open_runs}
        for detail in actions.pending(open_runs):
            run = name_of[detail["task_instance"]["dag_run_id"]]
            task_id = detail["task_instance"]["task_id"]
            observed.answered.setdefault(run, []).append(task_id)
            if task_id == APPROVALS:
                _approve(observed, actions, run, detail)
                continue
            if run == "marked_failed":
                _mark_failed(observed, actions, detail)
                continue
            options, params = form_answer(task_id, detail)
            if run == "approved" and task_id == PLAN_TASK and observed.bad_window is None:
                params = NOT_A_WINDOW
            status, body = actions.answer(
                detail, detail["assigned_users"][0]["id"], options, params
            )
            assert status == 200, (run, task_id, status, body)
            if params is NOT_A_WINDOW:
                observed.bad_window = (status, body)
        states = stack.run_states(DAG)
        for run_id in list(open_runs):
            state = states[run_id]
            if state in ("success", "failed"):
                observed.states[name_of[run_id]] = state
                open_runs.discard(run_id)
        time.sleep(1)
    for name, run_id in observed.runs.items():
        observed.tasks[name] = stack.task_states(DAG, run_id)


def _config_checking_often(root: Path, stack_config: Path) -> Path:
    """The stack's config/ with approvals that look every 15 s whether the deployment stopped
    (read when the approvals are planned, not when the DAG is parsed)."""
    config = root / "config"
    shutil.copytree(stack_config, config)
    deployment = config / "deployment.yaml"
    text = deployment.read_text()
    assert "  withdrawal_check_minutes: 5\n" in text
    deployment.write_text(
        text.replace(
            "  withdrawal_check_minutes: 5\n",
            f"  withdrawal_check_minutes: {CHECK_EVERY_MINUTES}\n",
        )
    )
    return config


@pytest.fixture(scope="module")
def deployments(shared_airflow, seeded_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("model-deployment")
    data_dir = root / "data"
    db_url = f"sqlite:///{data_dir / 'govflow.db'}"
    env = {
        "GOVFLOW_CONFIG_DIR": str(_config_checking_often(root, shared_airflow.config_dir)),
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": db_url,
    }
    seeded: list[BaseException | None] = []
    seeding = threading.Thread(target=_seed, args=(seeded_demo, data_dir, db_url, seeded))
    seeding.start()
    with (
        running_slack_receiver() as slack,
        shared_airflow.lease(env, dag_ids=[DAG], slack_webhook_url=slack.url) as stack,
    ):
        seeding.join()
        if seeded != [None]:
            raise RuntimeError(f"seeding the demo failed: {seeded}")
        conf = {
            "model_id": "credit_approval",
            "deployment_type": "minor",
            "environment": "production",
            "justification": "Faster scoring of credit applications",
        }
        observed = Observed(
            runs={
                name: stack.trigger(DAG, {**conf, "version": version}, as_user=REQUESTER)
                for name, version in (
                    ("approved", CANDIDATE),
                    ("rejected", REJECTED_CANDIDATE),
                    ("unfair", UNFAIR_CANDIDATE),
                    ("forced", FORCED_CANDIDATE),
                    ("withdrawn", WITHDRAWN_CANDIDATE),
                    ("marked_failed", MARKED_FAILED_CANDIDATE),
                )
            }
        )
        _drive(stack, observed)
        # An approver answers the blocked deployment's withdrawn request after all.
        late = observed.left_waiting["Risk Manager"]
        observed.late = RequiredActions(stack, DAG).answer(
            late,
            late["assigned_users"][0]["id"],
            ["Approve"],
            {"comment": "late", "conditions": ""},
        )
        observed.assets = stack.client().call("GET", "/api/v2/assets/events?limit=50")[
            "asset_events"
        ]
        withdrawn_run = urllib.parse.quote(observed.runs["withdrawn"], safe="")
        # What the UI's "Required actions" lists: unanswered requests of parked tasks.
        observed.still_asked = stack.client().call(
            "GET",
            f"/api/v2/dags/{DAG}/dagRuns/{withdrawn_run}/hitlDetails"
            "?response_received=false&state=awaiting_input&state=deferred",
        )["hitl_details"]
        quoted = urllib.parse.quote(observed.runs["forced"], safe="")
        observed.patched_by = [
            (entry["owner"], entry["task_id"])
            for entry in stack.client().call(
                "GET",
                f"/api/v2/eventLogs?dag_id={DAG}&run_id={quoted}&event=patch_task_instance",
            )["event_logs"]
        ]
        yield observed, slack, db_url, data_dir


def _deployment(db_url: str, run_id: str) -> tuple[Deployment, dict[int, DeploymentStep]]:
    with store.session_scope(db_url) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        steps = procedure.recorded_steps(session, deployment)
        session.expunge_all()
        return deployment, steps


def test_the_requesters_own_answer_to_an_approval_is_refused(deployments):
    observed, *_ = deployments
    for user in (REQUESTER, OWNER):
        status, body = observed.refused[user]
        assert status == 403
        assert body == {"detail": NOT_A_RESPONDENT.format(user=user)}


def test_a_high_risk_deployment_asks_five_approvals_named_by_role_never_of_sam_or_olivia(
    deployments,
):
    observed, *_ = deployments
    for run in ("approved", "rejected"):
        assert sorted(observed.approval_requests[run]) == sorted(
            [
                ("System Owner", ["priya"]),
                ("Compliance Officer", ["carol"]),
                ("Risk Manager", ["rick"]),
                ("QA Lead", ["quinn"]),
                ("AI Governance Committee", ["gina"]),
            ]
        )
        mapped = [t for t in observed.tasks[run] if t.startswith(APPROVALS + "[")]
        assert len(mapped) == 5


def test_every_approver_approves_over_rest_and_the_run_is_authorised_to_roll_out(deployments):
    observed, _slack, db_url, data_dir = deployments
    run_id = observed.runs["approved"]
    assert observed.states["approved"] == "success", observed.tasks["approved"]
    assert observed.tasks["approved"]["deployment_execution.authorise_rollout"] == "success"
    deployment, steps = _deployment(db_url, run_id)
    assert (deployment.status, deployment.go_live) == (procedure.AUTHORISED, "GREEN")
    assert deployment.recommendation == readiness.APPROVE
    assert sorted(steps) == list(range(1, 21))
    markdown = (data_dir / str(deployment.report_path)).read_text()
    assert "### Recommendation\n\n**APPROVE**\n" in markdown
    published = [
        event["extra"] for event in observed.assets if event["extra"].get("deployment_ref")
    ]
    assert published == [
        {"model_id": "credit_approval", "version": CANDIDATE, "deployment_ref": deployment.ref}
    ]
    with store.session_scope(db_url) as session:
        assert registry.get_version(session, "credit_approval", CANDIDATE).status == "approved"


def test_govflow_report_readiness_on_the_approved_run_matches_its_records(deployments, monkeypatch):
    observed, _slack, db_url, data_dir = deployments
    monkeypatch.setenv("GOVFLOW_DB_URL", db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    deployment, _ = _deployment(db_url, observed.runs["approved"])
    result = CliRunner().invoke(app, ["report", "readiness", deployment.ref])
    assert result.exit_code == 0, result.output
    assert "### Recommendation\n\n**APPROVE**\n" in result.output
    outstanding = result.output.split("### Outstanding Items\n\n")[1].split("\n\n")[0]
    rows = [row.split(" | ")[0].removeprefix("| ") for row in outstanding.splitlines()[2:]]
    assert [row.split(":")[0] for row in rows] == [
        "fairness_within_bounds",
        "model_drift_within_bounds",
        "monitoring_active",
        "monitoring_stable",
    ]


def test_a_compliance_rejection_promotes_nothing_and_its_reason_reaches_slack(deployments):
    observed, slack, db_url, _ = deployments
    assert observed.states["rejected"] == "failed"
    deployment, steps = _deployment(db_url, observed.runs["rejected"])
    reason = f"Compliance Officer carol blocked the deployment: {COMPLIANCE_REASON}"
    assert deployment.status == procedure.REJECTED
    assert deployment.details["stopped"]["reason"] == reason
    assert deployment.recommendation == readiness.DO_NOT_APPROVE
    assert max(steps) == 11
    assert observed.tasks["rejected"]["deployment_execution.authorise_rollout"] == "upstream_failed"
    with store.session_scope(db_url) as session:
        lineage = registry.lineage(session, "credit_approval", REJECTED_CANDIDATE)
    assert lineage["status"] == "rejected"
    assert lineage["stages"] == []
    assert not [e for e in observed.assets if e["extra"].get("version") == REJECTED_CANDIDATE]
    posted = [m.payload["text"] for m in slack.messages if deployment.ref in m.payload["text"]]
    assert any(f"Reason: {reason}" in text for text in posted), posted


def test_a_failed_fairness_item_blocks_before_any_approval_is_requested(deployments):
    observed, slack, db_url, _ = deployments
    assert observed.states["unfair"] == "failed"
    assert set(observed.answered["unfair"]) == {
        "deployment_planning.create_deployment_plan",
        "deployment_planning.assess_deployment_risk",
    }
    assert observed.tasks["unfair"]["preparation.deploy_to_staging"] == "failed"
    assert observed.tasks["unfair"][APPROVALS] == "upstream_failed"
    deployment, steps = _deployment(db_url, observed.runs["unfair"])
    assert (deployment.status, steps[6].status) == (procedure.BLOCKED, "failed")
    reason = deployment.details["stopped"]["reason"]
    assert reason.startswith(
        "fairness_across_groups: disparate_impact_ratio of gender is 0.499972 (CRITICAL on "
        "the interval 0.478463-0.518579; lowest female, highest male)"
    )
    with store.session_scope(db_url) as session:
        steps_after = session.scalars(
            select(DeploymentStep.step).where(
                DeploymentStep.deployment_id == deployment.id, DeploymentStep.step > 6
            )
        ).all()
    assert steps_after == []
    posted = [m.payload["text"] for m in slack.messages if deployment.ref in m.payload["text"]]
    assert any(reason in text for text in posted), posted


def test_a_malformed_answer_is_refused_with_its_problems_and_asked_again_not_failing_the_step(
    deployments,
):
    observed, _slack, db_url, _ = deployments
    statuses = {role: status for role, (status, _) in observed.malformed.items()}
    assert statuses == {"QA Lead": 422, "Risk Manager": 422}
    qa, risk = (observed.malformed[role][1]["detail"] for role in ("QA Lead", "Risk Manager"))
    assert qa.startswith("the answer does not fit the request: ") and "comment" in qa
    assert "override" in risk and risk.endswith("; answer again")
    with store.session_scope(db_url) as session:
        refused = query_events(session, action="airflow.answer_refused")
        assert {e.payload["reason"] for e in refused} >= {qa, risk}
    mapped = {t: s for t, s in observed.tasks["approved"].items() if t.startswith(APPROVALS)}
    assert set(mapped.values()) == {"success"}, mapped


def test_an_approval_task_forced_to_success_over_rest_does_not_authorise_and_is_audited(
    deployments,
):
    observed, _slack, db_url, _ = deployments
    assert [status for status, _ in observed.forced] == [200] * 5
    bulk = [answer["update"] for _, answer in observed.forced if "update" in answer]
    assert [(len(update["success"]), update["errors"]) for update in bulk] == [(1, [])] * 2
    assert observed.states["forced"] == "failed"
    tasks = observed.tasks["forced"]
    assert tasks["deployment_approval.document_approval"] == "failed"
    assert tasks["deployment_execution.authorise_rollout"] == "upstream_failed"
    deployment, steps = _deployment(db_url, observed.runs["forced"])
    assert deployment.status == procedure.BLOCKED
    assert deployment.details["stopped"]["reason"] == (
        "the System Owner, Compliance Officer, Risk Manager, QA Lead and AI Governance "
        "Committee approvals were marked done without an answer from anyone assigned to them "
        "(their tasks were set to success by hand): refused as an approval bypass attempt"
    )
    assert 10 not in steps
    with store.session_scope(db_url) as session:
        bypass = query_events(
            session, action="approval_bypass_attempt", target=f"deployment:{deployment.ref}"
        )
        assert [event.severity for event in bypass] == ["CRITICAL"]
        # Who set the state: the bypass event names him, as Airflow's own log does.
        assert [event.actor for event in bypass] == [REQUESTER]
        assert bypass[0].payload["changed_by"] == [REQUESTER]
        # Each state set is audited with its user, the bulk ones (1 and 3) included.
        set_by_hand = query_events(
            session,
            action="airflow.task_state_set",
            target=f"dag_run:{DAG}/{observed.runs['forced']}",
        )
        assert sorted(
            (event.actor, event.payload["map_index"], event.payload["new_state"])
            for event in set_by_hand
        ) == [(REQUESTER, index, "success") for index in range(5)]
        assert registry.get_version(session, "credit_approval", FORCED_CANDIDATE).status != (
            "approved"
        )
    # Airflow's own event log has the three set one by one, not the two set in bulk.
    assert observed.patched_by == [(REQUESTER, APPROVALS)] * 3
    assert not [e for e in observed.assets if e["extra"].get("version") == FORCED_CANDIDATE]


def test_approvals_waiting_when_the_deployment_is_blocked_are_withdrawn_and_the_run_ends(
    deployments,
):
    observed, _slack, db_url, _ = deployments
    assert [status for status, _ in observed.failed_by_admin] == [200]
    assert observed.states["withdrawn"] == "failed"
    deployment, _ = _deployment(db_url, observed.runs["withdrawn"])
    assert deployment.status == procedure.BLOCKED
    assert sorted(observed.left_waiting) == [
        "AI Governance Committee",
        "QA Lead",
        "Risk Manager",
        "System Owner",
    ]
    waiting = {
        task: state
        for task, state in observed.tasks["withdrawn"].items()
        if task.startswith(APPROVALS + "[")
    }
    assert sorted(waiting.values()) == ["failed", "skipped", "skipped", "skipped", "skipped"]
    assert observed.still_asked == []
    # An answer to the withdrawn request is refused with the reason, not taken with 200.
    status, body = observed.late
    assert status == 409
    assert body["detail"].startswith("the deployment was blocked: ")
    assert body["detail"].endswith(": the answer is not counted")


def test_a_plan_whose_window_is_not_an_iso_time_is_asked_again_and_the_run_goes_on(
    deployments,
):
    observed, _slack, db_url, _ = deployments
    assert observed.bad_window is not None and observed.bad_window[0] == 200
    assert observed.states["approved"] == "success"
    assert observed.tasks["approved"][f"{PLAN_TASK}[0]"] == "success"
    _, steps = _deployment(db_url, observed.runs["approved"])
    assert steps[1].evidence["deployment_window_start"] == PLAN["deployment_window_start"]


def test_a_run_marked_failed_by_hand_still_closes_its_deployment_blocked(deployments):
    observed, _slack, db_url, _ = deployments
    assert [status for status, _ in observed.marked_failed] == [200]
    assert observed.states["marked_failed"] == "failed"
    assert observed.tasks["marked_failed"]["finalise"] == "failed"
    deployment, _ = _deployment(db_url, observed.runs["marked_failed"])
    assert (deployment.status, deployment.closed_at is not None) == (procedure.BLOCKED, True)
    assert deployment.details["stopped"]["reason"].endswith(
        "failed before the deployment recorded a reason"
    )
