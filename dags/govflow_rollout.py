"""
### govflow_rollout (seed 000 "Phased Rollout", "Stage Gates", "Rollback Criteria")

Starts when a deployment is authorised (the Asset `govflow_model_deployed` that
`govflow_model_deployment` publishes), or by hand with the Params below, and moves the new
version through the stages of deployment.yaml `rollout.stages`: **alpha** (internal users
only), **beta** (< 1 % of external traffic), **limited** (5-10 %), **general** (50 %) and
**full** (100 %), through the deployment target (`govflow.rollout.routing`: the routing table the
serving gateway reads).

Each stage:
1. `start_<stage>` moves the traffic and records the stage (registry: shadow, canary).
2. `watch_<stage>` lasts the stage's `duration_days_min` (x `rollout.day_seconds`) and checks
   the rollback criteria every `check_interval_seconds` on the stage's own prediction logs,
   serving counters and recorded feedback.
3. `evaluate_gate_<stage>` decides every stage gate on the stage's traffic.
4. A failed rollback criterion (at the watch or the gate) starts `govflow_rollback` at once
   (`roll_back_at_<stage>`), without waiting for anybody.
5. Otherwise `approve_<stage>` asks the model's System Owner or a Deployment Manager
   (GATE-6, a Required action): **Advance**, **Hold** or **Roll back**. Advancing past a
   gate that did not pass is refused and recorded as a hold; an unanswered request holds.
   A held rollout resumes with a new run from the next stage (Param `from_stage`).

`full` promotes the new version for everybody and retires the previous one (`complete_rollout`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from govflow_airflow.connections import deliver_outbox
from govflow_airflow.hitl import AssignedAtRuntime
from govflow_airflow.rollout import RollbackTrigger, StageWatchSensor

MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
DECISIONS = ["Advance", "Hold", "Roll back"]


def parse_time_stages() -> list[dict]:
    """The stages and their durations, read from deployment.yaml when the file is parsed."""
    from govflow import settings
    from govflow.config import load_config

    rollout = load_config(settings.config_dir()).deployment.rollout
    return [
        {
            "name": stage.name,
            "coverage": stage.coverage,
            # None: the last stage is ongoing (seed 000 "Full ... Ongoing").
            "seconds": None
            if stage.duration_days_min is None
            else stage.duration_days_min * rollout.day_seconds,
            "poke_interval": rollout.check_interval_seconds,
        }
        for stage in rollout.stages
    ]


STAGES = parse_time_stages()


def _call(step, **kwargs):
    from govflow import settings, store
    from govflow.config import load_config

    with store.session_scope() as session:
        return step(session, load_config(settings.config_dir()), **kwargs)


@task
def plan_rollout(params=None, triggering_asset_events=None) -> dict:
    """The deployment to roll out: the Param, else the authorisation's Asset event."""
    from govflow.rollout import stages

    announced = [event.extra for event in triggering_asset_events.get(MODEL_DEPLOYED, [])]
    ref = params["deployment_ref"] or (announced[-1]["deployment_ref"] if announced else "")
    if not ref:
        raise ValueError("no deployment to roll out: give the Param deployment_ref")
    plan = _call(stages.plan, deployment_ref=ref, from_stage=params["from_stage"] or None)
    print(
        f"{plan['deployment_ref']}: {plan['model_id']} {plan['candidate']} replaces "
        f"{plan['previous']}; stages {', '.join(plan['stages'])}"
    )
    return plan


def _start(stage: str, previous_decision_task: str | None):
    @task(task_id=f"start_{stage}", trigger_rule="none_failed")
    def start_stage(plan: dict) -> dict:
        """Move the stage's traffic share to the new version (when the rollout got here)."""
        from govflow.rollout import stages

        ti = get_current_context()["ti"]
        if stage not in plan["stages"]:
            raise AirflowSkipException(f"this run starts at {plan['first']}")
        if stage != plan["first"]:
            decision = ti.xcom_pull(task_ids=previous_decision_task)
            if decision != "advance":
                raise AirflowSkipException(
                    f"the stage before ended with {decision or 'no decision'}"
                )
        started = _call(stages.start_stage, deployment_ref=plan["deployment_ref"], stage=stage)
        deliver_outbox()
        print(f"stage {stage}: {started['traffic_share']:.1%} external, until {started['ends_at']}")
        return started

    return start_stage


def _gate(stage: str):
    @task(task_id=f"evaluate_gate_{stage}")
    def evaluate_gate(plan: dict, watched: dict) -> dict:
        """Decide the stage gates on the stage's traffic; a failed rollback criterion (now or
        while watching) asks for the rollback instead of the approval."""
        from govflow import settings
        from govflow.rollout import stages

        request = {
            "deployment_ref": plan["deployment_ref"],
            "model_id": plan["model_id"],
            "approval": None,
        }
        fired = watched["rollback"]
        if not fired:
            gate = _call(
                stages.evaluate_gate,
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

    return evaluate_gate


def _decide(stage: str):
    @task(task_id=f"record_decision_{stage}")
    def record_decision(plan: dict, answer: dict) -> str:
        """GATE-6: advance, hold or roll back, as the approver chose (silence holds)."""
        from govflow.rollout import stages
        from govflow_airflow.hitl import response_of

        decision = _call(
            stages.record_decision,
            deployment_ref=plan["deployment_ref"],
            stage=stage,
            response=response_of(answer),
        )
        deliver_outbox()
        print(f"stage {stage}: {decision}")
        return decision

    return record_decision


@task(task_id="request_rollback", trigger_rule="none_failed_min_one_success")
def request_rollback(plan: dict) -> dict:
    """Turn an approver's "Roll back" into the rollback request (skipped otherwise)."""
    ti = get_current_context()["ti"]
    for stage in plan["stages"]:
        if ti.xcom_pull(task_ids=f"record_decision_{stage}") != "rollback":
            continue
        answer = ti.xcom_pull(task_ids=f"approve_{stage}") or {}
        who = (answer.get("responded_by_user") or {}).get("id", "an approver")
        comment = (answer.get("params_input") or {}).get("comment", "")
        return {
            "deployment_ref": plan["deployment_ref"],
            "model_id": plan["model_id"],
            "reason": f"stage {stage}: {who} chose to roll back"
            + (f" ({comment})" if comment else ""),
            "rollback": [{"id": "GATE-6", "text": "Stakeholder approval", "summary": comment}],
        }
    raise AirflowSkipException("no approver chose to roll back")


@task(task_id="complete_rollout")
def complete_rollout(plan: dict, started: dict) -> dict:
    """Full: the new version serves everybody; the previous one is retired."""
    from govflow.rollout import stages

    completed = _call(stages.complete, deployment_ref=plan["deployment_ref"])
    deliver_outbox()
    return completed


@dag(
    dag_id="govflow_rollout",
    schedule=[MODEL_DEPLOYED],
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 1},
    doc_md=__doc__,
    description="Phased rollout with stage gates and automatic rollback (seed 000)",
    tags=["govflow", "deployment", "rollout"],
    params={
        "deployment_ref": Param(
            "",
            type="string",
            title="Deployment",
            description="DEP-YYYYMMDD-XXXXXX of an authorised deployment (empty: the Asset "
            "event that started the run).",
        ),
        "from_stage": Param(
            STAGES[0]["name"],
            type="string",
            enum=[stage["name"] for stage in STAGES],
            title="From stage",
            description="Where this run starts: the first stage, or the stage after a hold.",
        ),
    },
)
def govflow_rollout():
    plan = plan_rollout()
    previous_decision = None
    decided = None
    asked = request_rollback(plan)
    for index, stage in enumerate(STAGES):
        name = stage["name"]
        started = _start(name, previous_decision)(plan)
        if decided is not None:
            decided >> started
        if stage["seconds"] is None:
            complete_rollout(plan, started)
            break
        watched = StageWatchSensor(
            task_id=f"watch_{name}",
            stage=name,
            plan_task_id="plan_rollout",
            stage_seconds=stage["seconds"],
            poke_interval=stage["poke_interval"],
        )
        started >> watched
        request = _gate(name)(plan, watched.output)
        request >> RollbackTrigger(
            task_id=f"roll_back_at_{name}", request_task_id=f"evaluate_gate_{name}"
        )
        answer = AssignedAtRuntime(
            task_id=f"approve_{name}",
            subject=f"Rollout stage {name} ({stage['coverage']}): advance to "
            f"{STAGES[index + 1]['name']}?",
            body="{{ (ti.xcom_pull(task_ids='evaluate_gate_" + name + "') or {})"
            ".get('summary', '') }}",
            options=DECISIONS,
            defaults=["Hold"],
            params={"comment": Param("", type="string", title="Comment")},
            assignment_task_id=f"evaluate_gate_{name}",
            assignment_key="approval",
            retries=0,
        )
        request >> answer
        decided = _decide(name)(plan, answer.output)
        decided >> asked
        previous_decision = f"record_decision_{name}"
    asked >> RollbackTrigger(task_id="roll_back_on_request", request_task_id="request_rollback")


govflow_rollout()
