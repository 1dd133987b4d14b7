"""PROC-AI-DEPLOY-001 (seed 001) as the steps of one govflow_model_deployment run.

Every step is a function of ``govflow.deployment.workflow`` run against the deployment of
the DAG run ``run_id``; here each one gets the environment (config/, the data directory)
and a stopped deployment becomes :class:`Refused`, so its task fails without a retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govflow import settings
from govflow.config import load_config
from govflow.deployment import workflow
from govflow.deployment.forms import FORMS
from govflow.deployment.procedure import (
    DeploymentRequest,
    DeploymentStopped,
    NoDeploymentForRun,
)
from govflow.flows import Refused, Skipped

EXPEDITED = "an expedited deployment skips step 3"
FINISHED = "{ref} {status}: {reason}"
NOT_OPENED = "{missing}: open_deployment refused the request before recording one"


def _environment() -> workflow.Environment:
    return workflow.Environment(load_config(settings.config_dir()), settings.data_dir())


def _step(step: Callable[..., Any], run_id: str, *args: Any) -> Any:
    try:
        return step(_environment(), run_id, *args)
    except DeploymentStopped as stopped:
        raise Refused(str(stopped)) from None


def open_deployment(params: dict[str, Any], *, requested_by: str | None, run_id: str) -> Any:
    """Record the request (the run's Params) and assign everyone the run will ask; the
    request of step 1 (FORM-AI-DEPLOY-001)."""
    request = DeploymentRequest(
        model_id=params["model_id"],
        version=params["version"],
        deployment_type=params["deployment_type"],
        environment=params["environment"],
        justification=params["justification"],
        requested_by=requested_by,
        dag_run_id=run_id,
    )
    try:
        return workflow.start(_environment(), request)
    except DeploymentStopped as stopped:
        raise Refused(str(stopped)) from None


def form_problems(step: int, params_input: dict[str, Any]) -> list[str]:
    """Why an answer to step ``step``'s form breaks the form's rules (its request then asks
    again): a deployment plan whose window is not two ISO date-times, the end after the start."""
    return FORMS[step].answer_problems(params_input)


def requests_for(run_id: str, key: str) -> Any:
    """The requests of one human step, as worked out when the deployment opened."""
    return _step(workflow.requests_for, run_id, key)


def coordinate_stakeholders(
    run_id: str, plan: list, risk: list, *, deliver: Callable[[], Any]
) -> Any:
    """Step 3: record the plan and the risk assessment, notify stakeholders on Slack through
    ``deliver`` (:class:`Skipped` for an expedited deployment)."""
    notified = _step(workflow.coordinate_stakeholders, run_id, plan, risk)
    deliver()
    if not notified:
        raise Skipped(EXPEDITED)
    return notified


def check_step(run_id: str, step: int) -> Any:
    """The checks deployment.yaml lists for ``step`` (4, 5, 6, 12), recorded."""
    return _step(workflow.check_step, run_id, step)


def complete_checklist(run_id: str) -> Any:
    """Step 7: every automatic checklist item with its evidence; the attestations to ask."""
    return _step(workflow.complete_checklist, run_id)


def review_readiness(run_id: str, attestations: list, compliance: list) -> Any:
    """Steps 7-9: record the attestations, final review, readiness report, approvals."""
    return _step(workflow.review_readiness, run_id, attestations, compliance)


def document_approval(run_id: str, answers: list) -> Any:
    """Step 11: FORM-AI-DEPLOY-002 and the registry decision; a rejection stops here."""
    return _step(workflow.document_approval, run_id, answers)


def record_approval(run_id: str, index: int, answer: dict[str, Any]) -> str | None:
    """Record approval ``index`` as it is given; a rejection stops the deployment at once."""
    return workflow.record_approval(_environment(), run_id, index, answer)


def withdrawal_reason(run_id: str) -> str | None:
    """Why a request of the run still waiting is withdrawn (the deployment stopped), or None."""
    return workflow.withdrawal_reason(_environment(), run_id)


def record_release(run_id: str) -> Any:
    """Step 13: the verified artefact is released to the phased rollout."""
    return _step(workflow.record_release, run_id)


def verify_deployment(run_id: str) -> Any:
    """Step 14: smoke test on production logs, logging, baseline."""
    return _step(workflow.verify_deployment, run_id)


def decide_go_live(run_id: str) -> Any:
    """Step 15: GREEN, AMBER or RED; AMBER asks the model's System Owner."""
    return _step(workflow.decide_go_live, run_id)


def follow_go_live(run_id: str, owner_answers: list) -> str:
    """The step after the go-live decision: ``authorise_rollout`` or ``roll_back``."""
    return str(_step(workflow.follow_go_live, run_id, owner_answers))


def authorise_rollout(run_id: str) -> Any:
    """The extra of the Asset event ``govflow_model_deployed``."""
    return _step(workflow.authorise_rollout, run_id)


def roll_back(run_id: str) -> Any:
    """Record the rollback decision; the rollback itself runs in govflow_rollback."""
    return _step(workflow.roll_back, run_id)


def plan_post_deployment_verification(run_id: str) -> Any:
    """Step 16: the first 24-72 hours on live traffic, verified during the rollout."""
    return _step(workflow.plan_post_deployment_verification, run_id)


def communicate_to_users(run_id: str, documentation: list, registration: list) -> Any:
    """Steps 17-19: documentation and registration updates, release notes; the closure."""
    return _step(workflow.communicate_to_users, run_id, documentation, registration)


def finalise(
    run_id: str, closure: list, failed_tasks: list[str], *, deliver: Callable[[], Any]
) -> dict[str, Any]:
    """Record how the deployment ended, write the final readiness report and post its summary
    through ``deliver``; a deployment blocked, rejected or rolled back is :class:`Refused`
    after that, with its reason, and so is a run that opened no deployment."""
    try:
        outcome = workflow.close(_environment(), run_id, closure, failed_tasks)
    except NoDeploymentForRun as missing:
        # A version the registry does not have leaves nothing to close; the run stays failed.
        raise Refused(NOT_OPENED.format(missing=missing)) from None
    deliver()
    print(f"{outcome['ref']}: {outcome['status']}, {outcome['recommendation']}")
    print(f"readiness report: {outcome['report']}")
    if outcome["reason"]:
        raise Refused(FINISHED.format(**outcome))
    return outcome


__all__ = [
    "authorise_rollout",
    "check_step",
    "communicate_to_users",
    "complete_checklist",
    "coordinate_stakeholders",
    "decide_go_live",
    "document_approval",
    "finalise",
    "follow_go_live",
    "form_problems",
    "open_deployment",
    "plan_post_deployment_verification",
    "record_approval",
    "record_release",
    "requests_for",
    "review_readiness",
    "roll_back",
    "verify_deployment",
    "withdrawal_reason",
]
