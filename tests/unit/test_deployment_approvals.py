"""Approvals by risk tier (seed 001 step 10) with separation of duties (seed 003), and the
decisions of FORM-AI-DEPLOY-002."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govflow import settings, store
from govflow.answers import Answer, answer_problems
from govflow.config import load_config
from govflow.deployment import approvals, checklists
from govflow.deployment.approvals import ApprovalAssignmentError, assign_approvers
from govflow.store.schema import Deployment, DeploymentApproval, Model


@pytest.fixture(scope="module")
def config():
    return load_config(settings.config_dir())


@pytest.mark.parametrize(
    ("model_id", "requested_by", "expected"),
    [
        (
            "credit_approval",
            "sam",
            {
                "system_owner": ("priya",),
                "compliance_officer": ("carol",),
                "risk_manager": ("rick",),
                "qa_lead": ("quinn",),
                "ai_governance_committee": ("gina",),
            },
        ),
        (
            "credit_approval",
            "eve",
            {
                "system_owner": ("sam", "priya"),
                "compliance_officer": ("carol",),
                "risk_manager": ("rick",),
                "qa_lead": ("quinn",),
                "ai_governance_committee": ("gina",),
            },
        ),
        (
            "marketing_propensity",
            "eve",
            {
                "system_owner": ("olivia", "priya"),
                "qa_lead": ("quinn",),
                "deployment_manager": ("dave",),
            },
        ),
        (
            "product_recommendation",
            "eve",
            {"system_owner": ("olivia", "sam"), "deployment_manager": ("dave",)},
        ),
        (
            "product_recommendation",
            "olivia",
            {"system_owner": ("sam",), "deployment_manager": ("dave",)},
        ),
    ],
)
def test_each_tier_asks_exactly_its_roles_of_the_people_who_may_approve(
    config, model_id, requested_by, expected
):
    assignments = assign_approvers(config, model_id=model_id, requested_by=requested_by)
    assert {a.role: a.assignees for a in assignments} == expected
    assert [a.role for a in assignments] == list(expected)


@pytest.mark.parametrize(
    "model_id", ["credit_approval", "marketing_propensity", "product_recommendation"]
)
def test_no_requester_or_owner_is_ever_asked_and_nobody_is_asked_twice(config, model_id):
    owner = config.models.get(model_id).owner
    assigned_runs = 0
    for requester in (user.id for user in config.people.users):
        try:
            assignments = assign_approvers(config, model_id=model_id, requested_by=requester)
        except ApprovalAssignmentError:
            continue
        assigned_runs += 1
        people = [person for a in assignments for person in a.assignees]
        assert requester not in people
        assert owner not in people
        assert len(people) == len(set(people))
        assert all(a.assignees for a in assignments)
    assert assigned_runs >= 10


@pytest.mark.parametrize(
    ("model_id", "requested_by", "message"),
    [
        (
            "credit_approval",
            "carol",
            "no one may give the compliance_officer approval of credit_approval: carol "
            "(neither the model's owner nor the requester may approve)",
        ),
        (
            "product_recommendation",
            "dave",
            "no one may give the deployment_manager approval of product_recommendation: dave "
            "(neither the model's owner nor the requester may approve)",
        ),
        (
            "credit_approval",
            "gina",
            "the qa_lead and ai_governance_committee approvals of credit_approval can only go "
            "to quinn once the owner olivia and the requester gina are left out, and one "
            "person approves once",
        ),
    ],
)
def test_approvals_that_cannot_be_given_independently_stop_before_anyone_is_asked(
    config, model_id, requested_by, message
):
    with pytest.raises(ApprovalAssignmentError) as raised:
        assign_approvers(config, model_id=model_id, requested_by=requested_by)
    assert str(raised.value) == message


def _deployment(kind: str = "minor") -> Deployment:
    return Deployment(
        id=1,
        ref="DEP-20261130-ABCDEF",
        model_id="credit_approval",
        model_version="1.1.0",
        deployment_type=kind,
        environment="production",
        justification="faster scoring",
        requested_by="sam",
        details={"risk_tier": "high"},
    )


@pytest.mark.parametrize(("kind", "hours"), [("minor", 48), ("major", 48), ("patch", 4)])
def test_approval_requests_name_the_role_and_wait_as_long_as_the_deployment_type_allows(
    config, kind, hours
):
    assignments = assign_approvers(config, model_id="credit_approval", requested_by="sam")
    requests = approvals.approval_requests(
        config, _deployment(kind), assignments, readiness_summary="Recommendation: APPROVE"
    )
    kwargs = [request.operator_kwargs() for request in requests]
    assert [k["subject"].split(":")[0] for k in kwargs] == [
        "System Owner",
        "Compliance Officer",
        "Risk Manager",
        "QA Lead",
        "AI Governance Committee",
    ]
    assert kwargs[1]["assigned_users"] == [{"id": "carol", "name": "Carol Chen"}]
    assert {k["response_timeout"] for k in kwargs} == {timedelta(hours=hours)}
    # A waiting approval looks every few minutes whether the deployment stopped meanwhile.
    assert {k["check_every"] for k in kwargs} == {timedelta(minutes=5)}
    assert "(this role may block the deployment)" in kwargs[1]["body"]
    assert "(this role may block the deployment)" not in kwargs[0]["body"]


def _answer(user: str | None, option: str, comment: str = "", conditions: str = "") -> Answer:
    return Answer(
        chosen_options=(option,),
        params={"comment": comment, "conditions": conditions},
        responded_by=user,
        responded_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
    )


@pytest.fixture
def deployment_in_store(sqlite_url):
    store.ensure_schema(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        session.add(
            Model(
                id="credit_approval",
                model_type="binary_classifier",
                risk_tier="high",
                owner="olivia",
                business_purpose="credit lending",
                created_by="test",
            )
        )
        session.flush()
        session.add(_deployment())
    return sqlite_url


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (
            {"compliance_officer": ("carol", "Reject", "EU declaration unsigned")},
            "Compliance Officer carol blocked the deployment: EU declaration unsigned",
        ),
        (
            {"qa_lead": ("quinn", "Reject", "")},
            "QA Lead quinn rejected the deployment: (no comment)",
        ),
        (
            {
                "qa_lead": ("quinn", "Reject", "load tests missing"),
                "risk_manager": ("rick", "Reject", "no human oversight"),
            },
            "Risk Manager rick blocked the deployment: no human oversight",
        ),
        (
            {"system_owner": (None, "Reject", "")},
            "the System Owner approval was not given within 48 h and counts as a rejection",
        ),
        ({}, None),
    ],
)
def test_any_rejection_stops_the_deployment_and_a_blocking_role_is_named_first(
    config, deployment_in_store, answers, reason
):
    assignments = assign_approvers(config, model_id="credit_approval", requested_by="sam")
    with store.session_scope(deployment_in_store) as session:
        deployment = session.get_one(Deployment, 1)
        requests = approvals.approval_requests(
            config, deployment, assignments, readiness_summary=""
        )
        given = [
            _answer(*answers[r.role])
            if r.role in answers
            else _answer(r.assignees[0].id, "Approve")
            for r in requests
        ]
        decisions = approvals.record_decisions(session, config, deployment, requests, given)
        assert approvals.rejection_reason(config, decisions) == reason


def test_form_002_keeps_approver_time_option_comment_and_conditions(config, deployment_in_store):
    assignments = assign_approvers(config, model_id="credit_approval", requested_by="eve")
    with store.session_scope(deployment_in_store) as session:
        deployment = session.get_one(Deployment, 1)
        requests = approvals.approval_requests(
            config, deployment, assignments, readiness_summary=""
        )
        given = [
            _answer("priya", "Approve", "fine", "watch thin-file applicants\n\nweekly review"),
            *(_answer(r.assignees[0].id, "Approve", "ok") for r in requests[1:]),
        ]
        approvals.record_decisions(session, config, deployment, requests, given)
        rows = approvals.decision_rows(session, deployment)
        stored = session.get_one(DeploymentApproval, 1)
    assert rows[0] == {
        "role": "system_owner",
        "approver": "priya",
        "decision": "approve",
        "decided_at": "2026-11-30T09:00:00+00:00",
        "comment": "fine",
        "conditions": ["watch thin-file applicants", "weekly review"],
        "assignees": ["sam", "priya"],
        "readiness_report": [],
    }
    assert stored.details["option"] == "Approve"
    assert stored.details["timed_out"] is False
    assert [row["approver"] for row in rows] == ["priya", "carol", "rick", "quinn", "gina"]


APPROVAL_FIELDS = {"comment": {"type": "string"}, "conditions": {"type": ["null", "string"]}}


@pytest.mark.parametrize(
    ("chosen", "params", "problems"),
    [
        (["Approve"], {"comment": "ok", "conditions": None}, []),
        (["Reject"], {}, []),
        (
            ["Approve"],
            {"comment": 42, "conditions": None},
            ["field 'comment' must be a string, not an integer"],
        ),
        (
            ["Approve"],
            {"comment": "ok", "conditions": ["a", "b"]},
            ["field 'conditions' must be null or a string, not an array"],
        ),
        (
            ["Approve"],
            {"comment": "ok", "conditions": None, "override": True},
            ["the form has no field 'override'"],
        ),
        (["Approve"], {"conditions": "x"}, ["field 'comment' is missing"]),
        ([], {}, ["no option was chosen"]),
        (["Approve", "Reject"], {}, ["choose one option, not 2"]),
        (["Maybe"], {}, ["'Maybe' is not one of the options (Approve, Reject)"]),
        ("Approve", {}, ["chosen_options must be a list of options, not a string"]),
    ],
)
def test_a_malformed_answer_is_explained_field_by_field(chosen, params, problems):
    assert (
        answer_problems(
            chosen,
            params,
            options=["Approve", "Reject"],
            multiple=False,
            fields=APPROVAL_FIELDS,
        )
        == problems
    )


@pytest.mark.parametrize(("kind", "step"), [("minor", 7), ("major", 7), ("major", 8)])
def test_a_person_holding_two_roles_is_asked_once_in_the_attestations_too(config, kind, step):
    requests = checklists.attestation_requests(
        config, _deployment(kind), step=step, timeout_hours=48
    )
    asked = [person.id for request in requests for person in request.assignees]
    assert len(asked) == len(set(asked))
    if step == 7:
        assignees = {r.role: [p.id for p in r.assignees] for r in requests}
        assert (assignees["qa_lead"], assignees["ai_governance_committee"]) == (
            ["quinn"],
            ["gina"],
        )
