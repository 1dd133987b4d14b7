"""Seed 000 "Phased Rollout", "Stage Gates" and "Rollback Criteria": one rollout run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govflow import settings, store
from govflow.answers import Answer
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused, Skipped, refusing
from govflow.rollout import stages

NO_DEPLOYMENT = "no deployment to roll out: give the Param deployment_ref"
NOT_THIS_RUN = "this run starts at {first}"
STAGE_BEFORE = "the stage before ended with {decision}"
NOBODY_ROLLED_BACK = "no approver chose to roll back"


def _call(step: Callable[..., Any], config: GovflowConfig | None, **kwargs: Any) -> Any:
    with store.session_scope() as session:
        return step(session, config or load_config(settings.config_dir()), **kwargs)


def plan_rollout(
    deployment_ref: str,
    announced: list[dict[str, Any]],
    *,
    from_stage: str | None,
    config: GovflowConfig | None = None,
) -> dict[str, Any]:
    """The deployment to roll out (the Param, else the newest authorisation's Asset event)
    and the stages this run walks. None named, one that does not exist, or one not
    authorised or already stopped is :class:`Refused` in one line: a retry would read the
    same request."""
    ref = deployment_ref or (announced[-1]["deployment_ref"] if announced else "")
    if not ref:
        raise Refused(NO_DEPLOYMENT)
    config = config or load_config(settings.config_dir())
    with refusing(ValueError, LookupError):  # stages.plan's refusals, UnknownDeployment
        plan = _call(stages.plan, config, deployment_ref=ref, from_stage=from_stage or None)
    replaces = (
        f"replaces {plan['previous']}"
        if plan["previous"]
        else "is its first version in production (the rest of the traffic has none)"
    )
    print(
        f"{plan['deployment_ref']}: {plan['model_id']} {plan['candidate']} {replaces}; "
        f"stages {', '.join(plan['stages'])}"
    )
    return plan


def start_stage(
    plan: dict[str, Any],
    stage: str,
    previous_decision: str | None,
    *,
    config: GovflowConfig | None = None,
) -> dict[str, Any]:
    """Move the stage's traffic share to the new version, when the rollout got here: the
    run starts at this stage or the stage before advanced (else :class:`Skipped`)."""
    if stage not in plan["stages"]:
        raise Skipped(NOT_THIS_RUN.format(first=plan["first"]))
    if stage != plan["first"] and previous_decision != "advance":
        raise Skipped(STAGE_BEFORE.format(decision=previous_decision or "no decision"))
    started = _call(stages.start_stage, config, deployment_ref=plan["deployment_ref"], stage=stage)
    print(f"stage {stage}: {started['traffic_share']:.1%} external, until {started['ends_at']}")
    return started


def watch_stage(
    deployment_ref: str, stage: str, *, config: GovflowConfig | None = None
) -> dict[str, Any]:
    """One look at a running stage: the rollback criteria that failed, whether it is over."""
    seen = _call(
        stages.watch_stage,
        config,
        data_dir=settings.data_dir(),
        deployment_ref=deployment_ref,
        stage=stage,
    )
    for item in seen["rollback"]:
        print(f"rollback criterion {item['id']} failed: {item['summary']}")
    if not (seen["rollback"] or seen["over"]):
        print(f"stage {stage} runs until {seen['ends_at']}; no rollback criterion failed")
    return seen


def evaluate_gate(
    plan: dict[str, Any],
    stage: str,
    watched: dict[str, Any],
    *,
    config: GovflowConfig | None = None,
) -> dict[str, Any]:
    """Decide the stage gates on the stage's traffic; a failed rollback criterion (now or
    while watching) asks for the rollback (``rollback``, ``reason``) instead of the approval."""
    request: dict[str, Any] = {
        "deployment_ref": plan["deployment_ref"],
        "model_id": plan["model_id"],
        "approval": None,
    }
    fired = watched["rollback"]
    if not fired:
        gate = _call(
            stages.evaluate_gate,
            config,
            data_dir=settings.data_dir(),
            deployment_ref=plan["deployment_ref"],
            stage=stage,
        )
        print(stages.gate_summary(gate))
        fired = gate["rollback"]
        request.update(
            passed=gate["passed"],
            summary=stages.gate_summary(gate),
            approval=None if fired else gate["approval"],
        )
    if fired:
        request.update(
            rollback=fired,
            reason=f"stage {stage}: "
            + "; ".join(f"{item['id']} {item['text']}: {item['summary']}" for item in fired),
        )
        print(f"rolling back: {request['reason']}")
    return request


def record_decision(
    plan: dict[str, Any],
    stage: str,
    answer: dict[str, Any] | None,
    *,
    config: GovflowConfig | None = None,
) -> str:
    """GATE-6: advance, hold or roll back, as the approver chose (silence holds)."""
    decision = _call(
        stages.record_decision,
        config,
        deployment_ref=plan["deployment_ref"],
        stage=stage,
        answer=Answer.from_xcom(answer),
    )
    print(f"stage {stage}: {decision}")
    return str(decision)


def rollback_request(
    plan: dict[str, Any],
    decisions: dict[str, str | None],
    answers: dict[str, dict[str, Any] | None],
) -> dict[str, Any]:
    """An approver's "Roll back" (``decisions`` and ``answers`` by stage) as the rollback
    request for govflow_rollback; :class:`Skipped` when nobody chose it."""
    for stage in plan["stages"]:
        if decisions.get(stage) != "rollback":
            continue
        answer = Answer.from_xcom(answers.get(stage))
        comment = answer.params.get("comment", "")
        return {
            "deployment_ref": plan["deployment_ref"],
            "model_id": plan["model_id"],
            "reason": f"stage {stage}: {answer.responded_by or 'an approver'} chose to roll back"
            + (f" ({comment})" if comment else ""),
            "rollback": [{"id": "GATE-6", "text": "Stakeholder approval", "summary": comment}],
        }
    raise Skipped(NOBODY_ROLLED_BACK)


def complete_rollout(plan: dict[str, Any], *, config: GovflowConfig | None = None) -> Any:
    """Full: the new version serves everybody; the previous one is retired."""
    return _call(stages.complete, config, deployment_ref=plan["deployment_ref"])


def end_rollout_run(
    plan: dict[str, Any] | None,
    failed: list[str],
    *,
    dag_run_id: str,
    config: GovflowConfig | None = None,
) -> Any:
    """Whatever happened: a run whose steps failed after the plan is recorded on the
    deployment and told to #ml-deployments (nothing when the plan itself refused)."""
    if plan is None:
        return None
    return _call(
        stages.report_failure,
        config,
        deployment_ref=plan["deployment_ref"],
        failed=failed,
        dag_run_id=dag_run_id,
    )


__all__ = [
    "complete_rollout",
    "end_rollout_run",
    "evaluate_gate",
    "plan_rollout",
    "record_decision",
    "rollback_request",
    "start_stage",
    "watch_stage",
]
