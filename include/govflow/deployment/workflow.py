"""Seed 001 section 4: PROC-AI-DEPLOY-001 carried out step by step, as the deployment DAG's
tasks call it (one function per task; each opens its own transaction and returns small,
JSON-able results).

The order of a run: ``start`` records the request and works out every person the run will
ask (phase 1), the forms of steps 1 and 2 come back to ``coordinate_stakeholders`` (step 3);
``check_step`` runs the automated steps 4-6 and 12; ``complete_checklist`` and
``review_readiness`` are steps 7-9; each approval of step 10 is recorded as it is given
(``record_approval``: a rejection stops the deployment there) and all of them come back to
``document_approval`` (step 11); ``record_release``, ``verify_deployment`` and
``decide_go_live`` are steps 13-15, ``follow_go_live`` routes AMBER through the System
Owner's choice to ``authorise_rollout`` or ``roll_back``; steps 16-20 record the
post-deployment work and ``close`` renders the final readiness report and posts it.

A gate that fails records why on the deployment and raises ``DeploymentStopped``; nothing
after it runs, and ``close`` (which always runs) reports the reason. Requests still waiting
then ask ``withdrawal_reason`` and withdraw.

Execution (steps 12-15) stops short of moving traffic: the version is released to the
rollout, which routes traffic stage by stage (seed 000 "Phased Rollout") once this run has
authorised it. A RED go-live decision records the rollback decision (REC-AI-DEPLOY-004) and
ends the deployment as rolled back; restoring the previous version on the deployment target
belongs to the rollback procedure's own run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from govflow import registry, store
from govflow.alerts.messages import Links
from govflow.alerts.outbox import enqueue_alert
from govflow.answers import Answer
from govflow.audit import record_event
from govflow.config import GovflowConfig
from govflow.deployment import approvals, checklists, procedure, readiness
from govflow.deployment.checks import (
    TRAFFIC_CHECKS,
    CheckResult,
    DeploymentCandidate,
    go_live_colour,
    run_check,
)
from govflow.deployment.forms import (
    DEPLOYMENT_CLOSURE,
    DEPLOYMENT_PLAN,
    DOCUMENTATION_UPDATES,
    REGISTRATION_UPDATES,
    RISK_ASSESSMENT,
    FormRequest,
    FormSpec,
    people,
    role_title,
)
from govflow.store.schema import Deployment
from govflow.store.types import utcnow

ACTOR = procedure.ACTOR
SLACK_KIND = "deployment_notice"
GO_LIVE = "Go live"
ROLL_BACK = "Roll back"
GO_LIVE_CHOSEN = "deployment.go_live_chosen"

FORM_INCOMPLETE = "{form} by {person} leaves {fields} empty"
FORM_UNANSWERED = "{form} was not answered"
RED_DECISION = "go-live decision RED: {reasons}"
OWNER_ROLLED_BACK = "go-live decision AMBER ({reasons}); {owner} chose to roll back: {comment}"
TASK_FAILED = "task {tasks} failed before the deployment recorded a reason"
RUN_ENDED = "the run ended before the deployment was decided (its steps were skipped)"
WITHDRAWN = "the deployment was {status}: {reason}"

RequestKey = Literal[
    "deployment_plan",
    "risk_assessment",
    "attestations",
    "compliance_verification",
    "documentation_updates",
    "registration_updates",
    "closure",
    "approvals",
    "go_live",
]


@dataclass(frozen=True)
class Environment:
    """Where a run reads policy and data and writes records."""

    config: GovflowConfig
    data_dir: Path
    db_url: str | None = None


# --- helpers shared by the steps ------------------------------------------------------------


def _deployment(session: Session, run_id: str) -> Deployment:
    return procedure.deployment_of_run(session, run_id)


def _stop(
    env: Environment,
    run_id: str,
    *,
    status: str,
    step: int | None,
    reason: str,
    decided_by: str = ACTOR,
) -> procedure.DeploymentStopped:
    with store.session_scope(env.db_url) as session:
        procedure.stop_deployment(
            session,
            _deployment(session, run_id),
            status=status,
            step=step,
            reason=reason,
            decided_by=decided_by,
        )
    return procedure.DeploymentStopped(reason)


def _notify(
    session: Session,
    env: Environment,
    deployment: Deployment,
    event: str,
    text: str,
    *,
    severity: str = "INFO",
) -> None:
    link = Links.from_env().airflow_run("govflow_model_deployment", deployment.dag_run_id)
    enqueue_alert(
        session,
        idempotency_key=f"deployment:{deployment.ref}:{event}",
        channel="slack",
        destination=env.config.people.channel("deployments"),
        kind=SLACK_KIND,
        severity=severity,
        model_id=deployment.model_id,
        payload={"text": text + (f"\n{link}" if link else ""), "deployment": deployment.ref},
        actor=ACTOR,
    )


def _requests(deployment: Deployment, key: RequestKey) -> list[FormRequest]:
    stored = deployment.details.get("requests", {}).get(key, [])
    return [FormRequest.from_dict(request) for request in stored]


def _store_requests(deployment: Deployment, key: RequestKey, requests: list[FormRequest]) -> None:
    stored = dict(deployment.details.get("requests", {}))
    stored[key] = [request.to_dict() for request in requests]
    procedure.update_details(deployment, requests=stored)


def _form_request(
    env: Environment,
    deployment: Deployment,
    spec: FormSpec,
    key: RequestKey,
    *,
    hours: float,
    intro: str = "",
) -> FormRequest:
    holders = env.config.people.holders(spec.role)  # type: ignore[arg-type]
    fields = "\n".join(f"- **{f.title}**: {f.description}" for f in spec.fields)
    return FormRequest(
        key=key,
        role=spec.role,
        subject=(
            f"{role_title(spec.role)}: {spec.title} ({spec.form_id}) for {deployment.model_id} "
            f"{deployment.model_version} ({deployment.ref})"
        ),
        body=(
            f"Step {spec.step} of PROC-AI-DEPLOY-001 for deployment **{deployment.ref}**: "
            f"{deployment.deployment_type} deployment of {deployment.model_id} "
            f"{deployment.model_version} to {deployment.environment}, requested by "
            f"{deployment.requested_by}: {deployment.justification}\n\n{intro}{fields}"
        ),
        assignees=people(env.config, holders),
        response_timeout_hours=hours,
    )


def _answers(values: list[dict[str, Any]] | None) -> list[Answer]:
    return [Answer.from_xcom(value) for value in values or []]


def _form_problem(spec: FormSpec, answers: list[Answer]) -> str | None:
    if not answers:
        return FORM_UNANSWERED.format(form=spec.form_id)
    missing = spec.missing_fields(answers[0])
    if missing:
        return FORM_INCOMPLETE.format(
            form=spec.form_id, person=answers[0].responded_by, fields=", ".join(missing)
        )
    # The form's own rules (the plan's window): its request asks again before this, but a
    # step recording the answer checks it all the same.
    return "; ".join(spec.answer_problems(answers[0].params)) or None


def _form_evidence(spec: FormSpec, answer: Answer) -> dict[str, Any]:
    return {
        "form": spec.form_id,
        "by": answer.responded_by,
        "at": answer.responded_at.isoformat() if answer.responded_at else None,
        **{f.name: answer.text(f.name) for f in spec.fields},
    }


def _record_checks(
    session: Session,
    env: Environment,
    deployment: Deployment,
    step: int,
    results: list[CheckResult],
) -> list[str]:
    failed = [f"{r.check}: {r.summary}" for r in results if r.outcome == "failed"]
    procedure.record_step(
        session,
        env.config,
        deployment,
        step,
        status="failed" if failed else "passed",
        actor=ACTOR,
        evidence={"checks": [r.to_dict() for r in results]},
    )
    return failed


def _render_report(
    session: Session, env: Environment, deployment: Deployment
) -> tuple[readiness.ReadinessReport, list[dict[str, str]]]:
    """Render the readiness report and keep it; the deployment points at this rendering as
    its newest and lists it with every one kept before (``readiness_renderings``). Returns
    the report and this rendering's files with their sha256."""
    report = readiness.build_report(session, env.config, deployment)
    markdown, html = readiness.write_report(session, env.data_dir, report, actor=ACTOR)
    kept = deployment.details.get("readiness_renderings", [])
    deployment.report_path = markdown["path"]
    deployment.recommendation = report.recommendation
    procedure.update_details(
        deployment,
        report_html_path=html["path"],
        readiness_renderings=kept + [r for r in (markdown, html) if r not in kept],
    )
    return report, [markdown, html]


# --- Phase 1: planning ----------------------------------------------------------------------


def start(env: Environment, request: procedure.DeploymentRequest) -> list[dict[str, Any]]:
    """Open the deployment record, assign everyone the run will ask, and return the request
    of step 1 (FORM-AI-DEPLOY-001). Refuses, with the reason recorded, a request that cannot
    start the procedure or whose approvals cannot be assigned independently; a version the
    registry does not have is refused with nothing recorded."""
    config = env.config
    store.ensure_schema(env.db_url)
    with store.session_scope(env.db_url) as session:
        problems = procedure.request_problems(session, request)
        if not procedure.is_registered(session, request):
            # A version the registry does not know is no deployment: nothing is recorded.
            raise procedure.DeploymentStopped("; ".join(problems))
        deployment, created = procedure.open_deployment(session, config, request)
        assignments: list[approvals.ApprovalAssignment] = []
        if not problems:
            try:
                assignments = approvals.assign_approvers(
                    config, model_id=request.model_id, requested_by=request.requested_by or ""
                )
            except approvals.ApprovalAssignmentError as error:
                problems.append(str(error))
        if created and not problems:
            _plan_requests(session, env, deployment, assignments)
        requests = _requests(deployment, "deployment_plan")
    if problems:
        raise _stop(
            env, request.dag_run_id, status=procedure.BLOCKED, step=None, reason="; ".join(problems)
        )
    return [r.operator_kwargs() for r in requests]


def _plan_requests(
    session: Session,
    env: Environment,
    deployment: Deployment,
    assignments: list[approvals.ApprovalAssignment],
) -> None:
    """Every human request of the run, worked out once so that each step asks the same people."""
    config = env.config
    hours = approvals.timeout_hours(config, deployment.deployment_type)
    high = procedure.risk_tier(deployment) == "high"
    plan = [_form_request(env, deployment, DEPLOYMENT_PLAN, "deployment_plan", hours=hours)]
    risk = [_form_request(env, deployment, RISK_ASSESSMENT, "risk_assessment", hours=hours)]
    _store_requests(deployment, "deployment_plan", plan)
    _store_requests(deployment, "risk_assessment", risk)
    _store_requests(
        deployment,
        "attestations",
        checklists.attestation_requests(config, deployment, step=7, timeout_hours=hours),
    )
    _store_requests(
        deployment,
        "compliance_verification",
        checklists.attestation_requests(config, deployment, step=8, timeout_hours=hours)
        if high
        else [],
    )
    _store_requests(
        deployment,
        "documentation_updates",
        [
            _form_request(
                env, deployment, DOCUMENTATION_UPDATES, "documentation_updates", hours=hours
            )
        ],
    )
    _store_requests(
        deployment,
        "registration_updates",
        [_form_request(env, deployment, REGISTRATION_UPDATES, "registration_updates", hours=hours)]
        if high
        else [],
    )
    _store_requests(
        deployment,
        "closure",
        [_form_request(env, deployment, DEPLOYMENT_CLOSURE, "closure", hours=hours)],
    )
    procedure.update_details(
        deployment,
        approval_assignments=[
            {"role": a.role, "assignees": list(a.assignees)} for a in assignments
        ],
    )
    version = registry.get_version(session, deployment.model_id, deployment.model_version)
    if version.status in ("draft", "rejected"):
        registry.request_approval(
            session,
            model_id=deployment.model_id,
            version=deployment.model_version,
            requested_by=deployment.requested_by,
            justification=f"{deployment.ref}: {deployment.justification}",
        )


def requests_for(env: Environment, run_id: str, key: RequestKey) -> list[dict[str, Any]]:
    """The operator arguments of the requests ``start`` worked out for ``key``."""
    with store.session_scope(env.db_url) as session:
        return [r.operator_kwargs() for r in _requests(_deployment(session, run_id), key)]


def coordinate_stakeholders(
    env: Environment,
    run_id: str,
    plan: list[dict[str, Any]],
    risk: list[dict[str, Any]],
) -> bool:
    """Record FORM-AI-DEPLOY-001 and the risk assessment (steps 1, 2), then step 3: notify
    the stakeholders on Slack with the plan and the on-call standby. Returns False when the
    deployment type skips step 3 (a patch: the on-call stands by anyway)."""
    plan_answers, risk_answers = _answers(plan), _answers(risk)
    for spec, answers in ((DEPLOYMENT_PLAN, plan_answers), (RISK_ASSESSMENT, risk_answers)):
        problem = _form_problem(spec, answers)
        if problem:
            raise _stop(env, run_id, status=procedure.BLOCKED, step=spec.step, reason=problem)
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        for spec, answer in (
            (DEPLOYMENT_PLAN, plan_answers[0]),
            (RISK_ASSESSMENT, risk_answers[0]),
        ):
            procedure.record_step(
                session,
                config,
                deployment,
                spec.step,
                status="recorded",
                actor=answer.responded_by or "nobody",
                evidence=_form_evidence(spec, answer),
            )
        procedure.update_details(
            deployment,
            plan=_form_evidence(DEPLOYMENT_PLAN, plan_answers[0]),
            risk_assessment=_form_evidence(RISK_ASSESSMENT, risk_answers[0]),
        )
        if not procedure.step_runs(config, deployment, 3):
            procedure.record_step(
                session,
                config,
                deployment,
                3,
                status="skipped",
                actor=ACTOR,
                evidence={"reason": f"a {deployment.deployment_type} deployment is expedited"},
            )
            return False
        candidate = DeploymentCandidate(session, config, env.data_dir, deployment)
        results = [run_check(name, candidate) for name in config.deployment.step(3).checks]
        failed = [f"{r.check}: {r.summary}" for r in results if r.outcome == "failed"]
        if not failed:
            _notify(session, env, deployment, "planned", _planned_text(deployment, results))
        procedure.record_step(
            session,
            config,
            deployment,
            3,
            status="failed" if failed else "passed",
            actor=ACTOR,
            evidence={
                "notified": None if failed else config.people.channel("deployments"),
                "checks": [r.to_dict() for r in results],
            },
        )
    if failed:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=3, reason="; ".join(failed))
    return True


def _planned_text(deployment: Deployment, standby: list[CheckResult]) -> str:
    """The stakeholders' notice: what is deployed, when, the plan, who stands by."""
    plan = deployment.details["plan"]
    rotations = {r.check: r.evidence for r in standby}.get("oncall_rotation_established")
    support = (
        f"Standby: {rotations['primary_on_duty']} (primary on-call), "
        f"{', '.join(rotations['rotations']['secondary'])} (secondary), "
        f"{', '.join(rotations['rotations']['fairness'])} (fairness)."
        if rotations
        else ""
    )
    return (
        f"*Deployment {deployment.ref} planned*: {deployment.deployment_type} deployment of "
        f"{deployment.model_id} {deployment.model_version} to {deployment.environment}, "
        f"requested by {deployment.requested_by}.\n"
        f"Window: {plan['deployment_window_start']} to {plan['deployment_window_end']}. "
        f"Plan: {plan['plan_link']}\n"
        f"Communication plan: {plan['communication_plan']}\n{support}"
    )


# --- Phases 2 and 5: automated steps -------------------------------------------------------


def check_step(env: Environment, run_id: str, step: int) -> list[dict[str, Any]]:
    """Run the checks deployment.yaml lists for ``step`` and record them; a failed check
    stops the deployment (steps 4, 5, 6 and 12)."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        candidate = DeploymentCandidate(session, env.config, env.data_dir, deployment)
        names = [c for c in env.config.deployment.step(step).checks if c not in TRAFFIC_CHECKS]
        results = [run_check(name, candidate) for name in names]
        failed = _record_checks(session, env, deployment, step, results)
    if failed:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=step, reason="; ".join(failed))
    return [r.to_dict() for r in results]


# --- Phase 3: readiness verification ----------------------------------------------------------


def complete_checklist(env: Environment, run_id: str) -> list[dict[str, Any]]:
    """Step 7, automatic part: every automatic item of the checklists that apply, each with
    its evidence; a failed item stops the deployment before anyone is asked to attest.
    Returns the attestation requests of step 7."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        candidate = DeploymentCandidate(session, env.config, env.data_dir, deployment)
        # Steps 4-6 verified part of the checklist already; their evidence stands.
        earlier = procedure.recorded_steps(session, deployment)
        results, problems = checklists.evaluate_automatic_items(
            session,
            env.config,
            deployment,
            candidate,
            known=checklists.recorded_results([earlier[n] for n in (4, 5, 6) if n in earlier]),
        )
        watch = [
            warning
            for result in results
            if result.check == "fairness_across_groups"
            for warning in result.evidence.get("warnings", [])
        ]
        procedure.update_details(deployment, findings_to_watch=watch)
        requests = _requests(deployment, "attestations")
    if problems:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=7, reason="; ".join(problems))
    return [r.operator_kwargs() for r in requests]


def review_readiness(
    env: Environment,
    run_id: str,
    attestations: list[dict[str, Any]],
    compliance: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Record the attestations of steps 7 and 8, then step 9 (final review): every item is
    complete, the window is valid, support stands by. Renders the readiness report the
    approvers read and returns the approval requests of step 10."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        problems = checklists.record_attestations(
            session,
            config,
            deployment,
            _requests(deployment, "attestations"),
            _answers(attestations),
        )
        procedure.record_step(
            session,
            config,
            deployment,
            7,
            status="failed" if problems else "passed",
            actor=ACTOR,
            evidence={"not_attested": problems},
        )
        verification = _requests(deployment, "compliance_verification")
        if verification:
            step8 = checklists.record_attestations(
                session, config, deployment, verification, _answers(compliance)
            )
            procedure.record_step(
                session,
                config,
                deployment,
                8,
                status="failed" if step8 else "passed",
                actor=ACTOR,
                evidence={"not_attested": step8},
            )
            problems += step8
    if problems:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=7, reason="; ".join(problems))
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        if procedure.step_runs(config, deployment, 9):
            support = run_check(
                "oncall_rotation_established",
                DeploymentCandidate(session, config, env.data_dir, deployment),
            )
            procedure.record_step(
                session,
                config,
                deployment,
                9,
                status="passed" if support.passed else "failed",
                actor=ACTOR,
                evidence={
                    "checklist_items": len(checklists.checklist_items(config, deployment)),
                    "deployment_window": [
                        deployment.details["plan"]["deployment_window_start"],
                        deployment.details["plan"]["deployment_window_end"],
                    ],
                    "support": support.to_dict(),
                },
            )
        else:
            procedure.record_step(
                session,
                config,
                deployment,
                9,
                status="skipped",
                actor=ACTOR,
                evidence={"reason": "expedited: the final review is part of the approvals"},
            )
        report, rendering = _render_report(session, env, deployment)
        # The rendering the approvers are asked on: each decision's record names it.
        procedure.update_details(deployment, approvals_report=rendering)
        assignments = [
            approvals.ApprovalAssignment(a["role"], tuple(a["assignees"]))
            for a in deployment.details["approval_assignments"]
        ]
        full_report = Links.from_env().dashboard_report(
            deployment.details.get("report_html_path") or deployment.report_path
        )
        summary = readiness.summary_text(report) + f"\nFull report: {full_report}"
        requests = approvals.approval_requests(
            config, deployment, assignments, readiness_summary=summary
        )
        _store_requests(deployment, "approvals", requests)
        procedure.update_details(deployment, approvals_requested_at=utcnow().isoformat())
        _notify(session, env, deployment, "approvals-requested", summary)
    return [r.operator_kwargs() for r in requests]


# --- Phase 4: approval ------------------------------------------------------------------------


def document_approval(
    env: Environment, run_id: str, answers: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """Steps 10-11: FORM-AI-DEPLOY-002 and the registry decision; a rejection stops here.

    ``answers`` has one entry per approval request, in order: ``None`` where the approval
    task ended without an answer to its request (set to success by hand), which refuses
    every approval as a bypass attempt, audited, before any decision is recorded."""
    config = env.config
    given = [None if value is None else Answer.from_xcom(value) for value in answers]
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        bypassed = approvals.bypassed_requests(_requests(deployment, "approvals"), given)
        bypass = approvals.record_bypass_attempt(session, deployment, bypassed) if bypassed else ""
    if bypass:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=11, reason=bypass)
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        requests = _requests(deployment, "approvals")
        decisions = approvals.record_decisions(
            session, config, deployment, requests, [a for a in given if a is not None]
        )
        reason = approvals.rejection_reason(config, decisions)
        rows = approvals.decision_rows(session, deployment)
        procedure.record_step(
            session,
            config,
            deployment,
            10,
            status="recorded",
            actor=ACTOR,
            evidence={"decisions": rows},
        )
        candidate = DeploymentCandidate(session, config, env.data_dir, deployment)
        recorded = run_check("approvals_recorded", candidate)
        _record_checks(session, env, deployment, 11, [recorded])
        _decide_in_registry(session, deployment, decisions, reason)
    if reason:
        first = next(d for d in decisions if d.decision == approvals.REJECTED)
        raise _stop(
            env,
            run_id,
            status=procedure.REJECTED,
            step=11,
            reason=reason,
            decided_by=first.approver or "timeout",
        )
    if not recorded.passed:
        raise _stop(env, run_id, status=procedure.BLOCKED, step=11, reason=recorded.summary)
    return {"decisions": len(rows)}


def record_approval(
    env: Environment, run_id: str, index: int, answer: dict[str, Any]
) -> str | None:
    """Step 10 as each approval is given: the decision of request ``index`` goes into
    FORM-AI-DEPLOY-002 at once, and a rejection stops the deployment there, so that the
    approvals still waiting are withdrawn instead of asked for nothing. Returns why it
    stopped (None for an approval, or when the deployment had stopped already); step 11
    records every decision again when all are in."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        if deployment.status in procedure.STOPPED_STATUSES:
            return None
        request = _requests(deployment, "approvals")[index]
        decisions = approvals.record_decisions(
            session, config, deployment, [request], [Answer.from_xcom(answer)]
        )
        reason = approvals.rejection_reason(config, decisions)
        if reason:
            _decide_in_registry(session, deployment, decisions, reason)
            procedure.stop_deployment(
                session,
                deployment,
                status=procedure.REJECTED,
                step=10,
                reason=reason,
                decided_by=decisions[0].approver or "timeout",
            )
    return reason


def withdrawal_reason(env: Environment, run_id: str) -> str | None:
    """Why the run's requests still waiting for an answer are withdrawn: the deployment
    stopped (blocked, rejected, rolled back) while they waited. None while it goes on."""
    return stopped_run_reason(env.db_url, run_id)


def stopped_run_reason(db_url: str | None, run_id: str) -> str | None:
    """``withdrawal_reason`` from the store alone, in a read that takes no write lock (the
    api-server asks it on the path of every answer); LookupError for a run with no
    deployment."""
    with store.session_scope(db_url, read_only=True) as session:
        deployment = _deployment(session, run_id)
        if deployment.status not in procedure.STOPPED_STATUSES:
            return None
        return WITHDRAWN.format(
            status=deployment.status.replace("_", " "), reason=procedure.stop_reason(deployment)
        )


def _decide_in_registry(
    session: Session,
    deployment: Deployment,
    decisions: list[Any],
    reason: str | None,
) -> None:
    """Seed 003: the version's approval workflow ends with the deployment's decision."""
    version = registry.get_version(session, deployment.model_id, deployment.model_version)
    if version.status != "pending":
        return
    if reason:
        decider = next(d for d in decisions if d.decision == approvals.REJECTED)
        approver, justification = decider.approver or f"{ACTOR} (timeout)", reason
    else:
        accountable = next((d for d in decisions if d.role == "system_owner"), decisions[0])
        approver = str(accountable.approver)
        justification = f"{deployment.ref}: FORM-AI-DEPLOY-002 approved by " + ", ".join(
            f"{d.approver} ({role_title(d.role)})" for d in decisions
        )
    registry.decide_approval(
        session,
        model_id=deployment.model_id,
        version=deployment.model_version,
        approver=approver,
        approve=reason is None,
        justification=justification,
    )


# --- Phase 5: execution -----------------------------------------------------------------------


def record_release(env: Environment, run_id: str) -> dict[str, Any]:
    """Step 13: the verified artefact is released to the rollout, which deploys it."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        version = registry.get_version(session, deployment.model_id, deployment.model_version)
        evidence = {
            "artifact": version.artifact_uri,
            "sha256": version.artifact_sha256,
            "handed_over_to": "the phased rollout (Asset govflow_model_deployed)",
            "first_stage": env.config.deployment.rollout.stages[0].name,
        }
        procedure.record_step(
            session,
            env.config,
            deployment,
            13,
            status="handed_over",
            actor=ACTOR,
            evidence=evidence,
        )
    return evidence


def verify_deployment(env: Environment, run_id: str) -> dict[str, Any]:
    """Step 14: the checks that need no live traffic; the others wait for the rollout."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        candidate = DeploymentCandidate(session, config, env.data_dir, deployment)
        names = config.deployment.step(14).checks
        results = [run_check(name, candidate) for name in names if name not in TRAFFIC_CHECKS]
        deferred = [
            name for name in [*names, *config.deployment.step(16).checks] if name in TRAFFIC_CHECKS
        ]
        _record_checks(session, env, deployment, 14, results)
        procedure.update_details(deployment, deferred_checks=deferred)
    return {"checks": [r.to_dict() for r in results], "deferred": deferred}


def decide_go_live(env: Environment, run_id: str) -> list[dict[str, Any]]:
    """Step 15: GREEN, AMBER or RED from step 14. AMBER returns the System Owner's request."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        verification = procedure.recorded_steps(session, deployment)[14]
        results = [CheckResult.from_dict(item) for item in verification.evidence["checks"]]
        colour, reasons = go_live_colour(config, results)
        deployment.go_live = colour
        rule = config.deployment.go_live[colour]  # type: ignore[index]
        procedure.record_step(
            session,
            config,
            deployment,
            15,
            status="recorded",
            actor=ACTOR,
            evidence={
                "colour": colour,
                "condition": rule.condition,
                "action": rule.action,
                "reasons": reasons,
            },
        )
        if colour != "AMBER":
            return []
        owner = config.models.get(deployment.model_id).owner
        hours = approvals.timeout_hours(config, deployment.deployment_type)
        request = FormRequest(
            key="go_live",
            role=str(rule.decided_by),
            subject=(
                f"{role_title(str(rule.decided_by))}: go-live decision AMBER for "
                f"{deployment.model_id} {deployment.model_version} ({deployment.ref})"
            ),
            body=(
                "Step 15 of PROC-AI-DEPLOY-001: the verification found minor issues.\n\n"
                + "\n".join(f"- {reason}" for reason in reasons)
                + f"\n\nChoose **{GO_LIVE}** to authorise the rollout or **{ROLL_BACK}**."
            ),
            assignees=people(config, [owner]),
            response_timeout_hours=hours,
            options=(GO_LIVE, ROLL_BACK),
        )
        _store_requests(deployment, "go_live", [request])
    return [request.operator_kwargs()]


def follow_go_live(env: Environment, run_id: str, owner_answers: list[dict[str, Any]]) -> str:
    """``authorise_rollout`` or ``roll_back``: GREEN and RED decide alone, AMBER by the
    System Owner's choice."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        colour = deployment.go_live
        if colour == "AMBER":
            answer = _answers(owner_answers)[0]
            choice = GO_LIVE if answer.chosen_options == (GO_LIVE,) else ROLL_BACK
            procedure.update_details(
                deployment,
                go_live_choice={
                    "choice": choice,
                    "by": answer.responded_by,
                    "comment": answer.text("comment"),
                },
            )
            # Who decided an AMBER go-live belongs in the trail, as an approver's decision does.
            record_event(
                session,
                actor=answer.responded_by or "timeout",
                action=GO_LIVE_CHOSEN,
                target=f"deployment:{deployment.ref}",
                payload={"choice": choice, "comment": answer.text("comment")},
                severity="INFO" if choice == GO_LIVE else "WARNING",
                idempotency_key=f"deployment.go_live_choice:{deployment.ref}:{choice}",
            )
            return "authorise_rollout" if choice == GO_LIVE else "roll_back"
    return "authorise_rollout" if colour == "GREEN" else "roll_back"


def authorise_rollout(env: Environment, run_id: str) -> dict[str, Any]:
    """Authorised to roll out: the rollout takes over (the Asset event carries this extra)."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        deployment.status = procedure.AUTHORISED
        procedure.update_details(deployment, authorised_at=utcnow().isoformat())
        report, _ = _render_report(session, env, deployment)
        _notify(
            session,
            env,
            deployment,
            "authorised",
            f"*Deployment {deployment.ref} authorised to roll out*: {deployment.model_id} "
            f"{deployment.model_version}, go-live {deployment.go_live}, recommendation "
            f"{report.recommendation}. The rollout starts with stage "
            f"{env.config.deployment.rollout.stages[0].name}.",
        )
        return {
            "model_id": deployment.model_id,
            "version": deployment.model_version,
            "deployment_ref": deployment.ref,
        }


def roll_back(env: Environment, run_id: str) -> dict[str, Any]:
    """RED, or AMBER and the owner chose to roll back: record the rollback decision
    (seed 001 section 5.2 step 1, REC-AI-DEPLOY-004) and end the deployment rolled back."""
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        reasons = procedure.recorded_steps(session, deployment)[15].evidence.get("reasons", [])
        choice = deployment.details.get("go_live_choice")
        if choice:
            reason = OWNER_ROLLED_BACK.format(
                reasons="; ".join(reasons), owner=choice["by"], comment=choice["comment"]
            )
            decided_by = str(choice["by"])
        else:
            reason = RED_DECISION.format(reasons="; ".join(reasons))
            decided_by = ACTOR
        procedure.update_details(
            deployment,
            rollback={
                "decision": reason,
                "decided_by": decided_by,
                "restores": procedure.previous_version(deployment),
                "process": [stage.name for stage in env.config.deployment.rollback.process],
            },
        )
        procedure.stop_deployment(
            session,
            deployment,
            status=procedure.ROLLED_BACK,
            step=15,
            reason=reason,
            decided_by=decided_by,
        )
        # govflow_rollback carries out seed 001 5.2 steps 2-3 from this request.
        return {
            "reason": reason,
            "model_id": deployment.model_id,
            "deployment_ref": deployment.ref,
            "rollback": [{"id": "GO-LIVE-RED", "text": "Go-live decision", "summary": reason}],
        }


# --- Phase 6: post-deployment ----------------------------------------------------------------


def plan_post_deployment_verification(env: Environment, run_id: str) -> dict[str, Any]:
    """Step 16: the first 24-72 hours are watched on live traffic, during the rollout."""
    hours = env.config.deployment.post_deployment_monitoring_hours
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        evidence = {
            "monitoring_hours": [hours.min, hours.max],
            "checks": deployment.details.get("deferred_checks", []),
            "from": deployment.details.get("authorised_at"),
        }
        procedure.record_step(
            session, env.config, deployment, 16, status="scheduled", actor=ACTOR, evidence=evidence
        )
    return evidence


def communicate_to_users(
    env: Environment,
    run_id: str,
    documentation: list[dict[str, Any]],
    registration: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Record steps 17 and 18 from their forms, then step 19: release notes on Slack.
    Returns the closure request of step 20."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        for spec, values in (
            (DOCUMENTATION_UPDATES, documentation),
            (REGISTRATION_UPDATES, registration),
        ):
            answers = _answers(values)
            if answers:
                procedure.record_step(
                    session,
                    config,
                    deployment,
                    spec.step,
                    status="recorded",
                    actor=answers[0].responded_by or "nobody",
                    evidence={
                        **_form_evidence(spec, answers[0]),
                        "missing": spec.missing_fields(answers[0]),
                    },
                )
        model = config.models.get(deployment.model_id)
        text = (
            f"*Release notes*: {deployment.model_id} {deployment.model_version} "
            f"({model.business_purpose}) is authorised to roll out to {deployment.environment} "
            f"({deployment.ref}). {deployment.justification}. Support: "
            f"{config.people.on_call_primary(utcnow())} (primary on-call), owner {model.owner}."
        )
        _notify(session, env, deployment, "release-notes", text)
        procedure.record_step(
            session,
            config,
            deployment,
            19,
            status="passed",
            actor=ACTOR,
            evidence={"channel": config.people.channel("deployments"), "text": text},
        )
        return [r.operator_kwargs() for r in _requests(deployment, "closure")]


def close(
    env: Environment,
    run_id: str,
    closure: list[dict[str, Any]],
    failed_tasks: list[str],
) -> dict[str, Any]:
    """Step 20 and the end of every run (a teardown: it runs even when the run is marked
    failed by hand): record the closure, stop a deployment nothing decided with the failed
    tasks as its reason, render the final readiness report and post its summary."""
    config = env.config
    with store.session_scope(env.db_url) as session:
        deployment = _deployment(session, run_id)
        answers = _answers(closure)
        if answers:
            procedure.record_step(
                session,
                config,
                deployment,
                20,
                status="recorded",
                actor=answers[0].responded_by or "nobody",
                evidence=_form_evidence(DEPLOYMENT_CLOSURE, answers[0]),
            )
        if deployment.status == procedure.IN_PROGRESS:
            # Nothing decided it (authorised, rejected, rolled back, blocked at a gate): a step
            # failed, or the run was marked failed by hand and its steps skipped. It stops
            # here, so no deployment stays in progress once its run is over.
            procedure.stop_deployment(
                session,
                deployment,
                status=procedure.BLOCKED,
                step=None,
                reason=TASK_FAILED.format(tasks=", ".join(failed_tasks))
                if failed_tasks
                else RUN_ENDED,
                decided_by=ACTOR,
            )
        deployment.closed_at = utcnow()
        report, _ = _render_report(session, env, deployment)
        stopped = procedure.stop_reason(deployment)
        headline = (
            f"*Deployment {deployment.ref} {deployment.status.replace('_', ' ')}*: "
            f"{deployment.model_id} {deployment.model_version}"
        )
        if stopped:
            headline += f"\nReason: {stopped}"
        _notify(
            session,
            env,
            deployment,
            "closed",
            headline + "\n" + readiness.summary_text(report),
            severity="WARNING" if stopped else "INFO",
        )
        return {
            "ref": deployment.ref,
            "status": deployment.status,
            "recommendation": report.recommendation,
            "reason": stopped,
            "report": deployment.report_path,
        }
