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

The run ends with `end_rollout_run`, a teardown: a step that failed after the plan (the
run stays failed) is recorded on the deployment and told to #ml-deployments, since the new
version keeps its share of the traffic with nothing watching its rollback criteria.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, Param, dag, task

from govflow_airflow.connections import deliver_outbox
from govflow_airflow.hitl import AssignedAtRuntime
from govflow_airflow.outcomes import airflow_outcomes, failed_steps
from govflow_airflow.parse_time import rollout_stages
from govflow_airflow.rollout import RollbackTrigger, StageWatchSensor

MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
# GATE-6: an unanswered request holds the rollout.
DECISION = {
    "options": ["Advance", "Hold", "Roll back"],
    "defaults": ["Hold"],
    "params": {"comment": Param("", type="string", title="Comment")},
}
STAGES = rollout_stages()
GATE_SUMMARY = "{{ (ti.xcom_pull(task_ids='evaluate_gate_%s') or {}).get('summary', '') }}"


@task
def plan_rollout(params=None, triggering_asset_events=None) -> dict:
    """The deployment to roll out: the Param, else the authorisation's Asset event; one
    that is unknown, not authorised or stopped fails once."""
    from govflow.flows.rollout import plan_rollout as plan

    announced = [event.extra for event in triggering_asset_events.get(MODEL_DEPLOYED, [])]
    with airflow_outcomes():
        return plan(params["deployment_ref"], announced, from_stage=params["from_stage"])


@task(trigger_rule="none_failed")
def start_stage(plan: dict, stage: str, previous_decision_task: str | None, ti=None) -> dict:
    """Move the stage's traffic share to the new version (when the rollout got here)."""
    from govflow.flows.rollout import start_stage as start

    decision = ti.xcom_pull(task_ids=previous_decision_task) if previous_decision_task else None
    with airflow_outcomes():
        started = start(plan, stage, decision)
    deliver_outbox()
    return started


@task
def evaluate_gate(plan: dict, stage: str, watched: dict) -> dict:
    """Decide the stage gates on the stage's traffic; a failed rollback criterion (now or
    while watching) asks for the rollback instead of the approval."""
    from govflow.flows.rollout import evaluate_gate as evaluate

    with airflow_outcomes():
        return evaluate(plan, stage, watched)


@task
def record_decision(plan: dict, stage: str, answer: dict | None) -> str:
    """GATE-6: advance, hold or roll back, as the approver chose (silence holds)."""
    from govflow.flows.rollout import record_decision as record

    with airflow_outcomes():
        decision = record(plan, stage, answer)
    deliver_outbox()
    return decision


@task(task_id="request_rollback", trigger_rule="none_failed_min_one_success")
def request_rollback(plan: dict, ti=None) -> dict:
    """Turn an approver's "Roll back" into the rollback request (skipped otherwise)."""
    from govflow.flows.rollout import rollback_request

    decisions = {s: ti.xcom_pull(task_ids=f"record_decision_{s}") for s in plan["stages"]}
    answers = {s: ti.xcom_pull(task_ids=f"approve_{s}") for s in plan["stages"]}
    with airflow_outcomes():
        return rollback_request(plan, decisions, answers)


@task(task_id="complete_rollout")
def complete_rollout(plan: dict, started: dict) -> dict:
    """Full: the new version serves everybody; the previous one is retired."""
    from govflow.flows.rollout import complete_rollout as complete

    with airflow_outcomes():
        completed = complete(plan)
    deliver_outbox()
    return completed


@task
def end_rollout_run(ti=None, run_id=None) -> dict | None:
    """Whatever happened: steps that failed after the plan are recorded on the deployment
    and told to #ml-deployments. A teardown: the run's state is still its steps'."""
    from govflow.flows.rollout import end_rollout_run as end

    plan = ti.xcom_pull(task_ids="plan_rollout")
    with airflow_outcomes():
        ended = end(plan, failed_steps(ti, run_id), dag_run_id=run_id)
    deliver_outbox()
    return ended


def start(plan, index: int, decided):
    """``start_<stage>``, after the decision on the stage before (none for the first)."""
    name = STAGES[index]["name"]
    previous = f"record_decision_{STAGES[index - 1]['name']}" if index else None
    started = start_stage.override(task_id=f"start_{name}")(plan, name, previous)
    if decided is not None:
        decided >> started
    return started


def watch(stage: dict) -> StageWatchSensor:
    """``watch_<stage>``: the rollback criteria, every check interval, while the stage lasts."""
    return StageWatchSensor(
        task_id=f"watch_{stage['name']}",
        stage=stage["name"],
        plan_task_id="plan_rollout",
        stage_seconds=stage["seconds"],
        poke_interval=stage["poke_interval"],
    )


def approve(stage: dict, next_stage: dict) -> AssignedAtRuntime:
    """``approve_<stage>``: the System Owner or a Deployment Manager decides (GATE-6)."""
    return AssignedAtRuntime(
        task_id=f"approve_{stage['name']}",
        subject=f"Rollout stage {stage['name']} ({stage['coverage']}): advance to "
        f"{next_stage['name']}?",
        body=GATE_SUMMARY % stage["name"],
        **DECISION,
        assignment_task_id=f"evaluate_gate_{stage['name']}",
        assignment_key="approval",
        retries=0,
    )


def roll_back_at(name: str) -> RollbackTrigger:
    """``roll_back_at_<stage>``: govflow_rollback at once when a criterion of the stage failed."""
    return RollbackTrigger(task_id=f"roll_back_at_{name}", request_task_id=f"evaluate_gate_{name}")


def watch_and_decide(plan, index, started):
    """Watch stage ``index``, decide its gates (rolling back at once on a failed criterion),
    ask for the approval and record the decision, which this returns."""
    stage, name = STAGES[index], STAGES[index]["name"]
    watched = watch(stage)
    started >> watched
    request = evaluate_gate.override(task_id=f"evaluate_gate_{name}")(plan, name, watched.output)
    answer = approve(stage, STAGES[index + 1])
    request >> [roll_back_at(name), answer]
    return record_decision.override(task_id=f"record_decision_{name}")(plan, name, answer.output)


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
    asked = request_rollback(plan)
    decided = None
    for index, stage in enumerate(STAGES):
        started = start(plan, index, decided)
        if stage["seconds"] is None:
            complete_rollout(plan, started) >> end_rollout_run().as_teardown()
            break
        decided = watch_and_decide(plan, index, started)
        decided >> asked
    asked >> RollbackTrigger(task_id="roll_back_on_request", request_task_id="request_rollback")


govflow_rollout()
