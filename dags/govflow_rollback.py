"""
### govflow_rollback (seed 001 section 5 "Rollback Procedures")

Started by `govflow_rollout` when a rollback criterion fails or an approver chooses to roll
back, by `govflow_model_deployment` on a RED go-live decision, by an incident responder's
"Roll back" containment, or by hand with the Params below.

1. **Rollback decision** (5.2 step 1): the reason, source and criteria are recorded on the
   deployment (REC-AI-DEPLOY-004). A rollback the rollout's criteria or the go-live
   decision called for goes ahead at once; a manual or incident request needs the
   model's System Owner's approval (`approve_rollback`, a Required action) unless the
   System Owner asked for it.
2. **Execute rollback** (step 2): the rollout is halted and the previous version and its
   configuration are restored through the deployment target; `verify_rollback` waits until
   the routing table routes only the restored version and every live serving gateway
   serves that revision.
3. **Post-rollback** (step 3): stakeholders are notified on Slack, the reason is documented
   and a root-cause incident is opened.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from govflow_airflow.connections import deliver_now
from govflow_airflow.hitl import AssignedAtRuntime
from govflow_airflow.outcomes import airflow_outcomes
from govflow_airflow.parse_time import model_ids

SOURCES = ["manual", "incident", "rollout", "go_live"]
MODELS = model_ids()
APPROVAL_QUESTION = {
    "subject": "Roll back {{ params.model_id }}?",
    "body": "{{ params.reason }}\n\n{{ ti.xcom_pull(task_ids='decide_rollback')['consequence'] }}",
    "options": ["Approve rollback", "Reject"],
    "defaults": ["Reject"],
    "params": {"comment": Param("", type="string", title="Comment")},
}


@task
def decide_rollback(params=None, dag_run=None) -> dict:
    """Step 1: record the decision; name the System Owner if the request needs approval."""
    from govflow.flows.rollback import decide_rollback as decide

    with airflow_outcomes():
        return decide(params, triggered_by=dag_run.triggering_user_name)


def approve_rollback() -> AssignedAtRuntime:
    """The System Owner's approval of a manual or incident request (skipped otherwise)."""
    return AssignedAtRuntime(
        task_id="approve_rollback",
        **APPROVAL_QUESTION,
        assignment_task_id="decide_rollback",
        assignment_key="approval",
        retries=0,
    )


@task(trigger_rule="none_failed")
def execute_rollback(decision: dict, ti=None) -> dict:
    """Step 2: halt the rollout, restore the previous version and configuration."""
    from govflow.flows.rollback import execute_rollback as execute

    with airflow_outcomes():
        return execute(decision, ti.xcom_pull(task_ids="approve_rollback"))


@task
def verify_rollback(executed: dict) -> dict:
    """Step 2.5: the routing table and every live gateway serve the restored revision."""
    from govflow.flows.rollback import verify_rollback as verify

    with airflow_outcomes():
        return verify(executed)


@task
def conclude_rollback(executed: dict, verification: dict) -> dict:
    """Step 3: notify, document the reason, open the root-cause incident."""
    from govflow.flows.rollback import conclude_rollback as conclude

    with airflow_outcomes():
        concluded = conclude(executed, verification)
    deliver_now([concluded["alert_id"]])
    return concluded


@dag(
    dag_id="govflow_rollback",
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 1},
    doc_md=__doc__,
    description="Halt, restore the previous version, verify, notify (seed 001 section 5)",
    tags=["govflow", "deployment", "rollback"],
    params={
        "model_id": Param(MODELS[0], type="string", enum=MODELS, title="Model"),
        "deployment_ref": Param(
            "",
            type="string",
            title="Deployment",
            description="DEP-... to roll back (empty: the deployment the model's route serves).",
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="Why: documented on the deployment and in the root-cause incident.",
        ),
        "source": Param(
            "manual",
            type="string",
            enum=SOURCES,
            title="Source",
            description="manual and incident requests need the System Owner's approval.",
        ),
        "requested_by": Param(
            "",
            type="string",
            title="Requested by",
            description="Empty: the user who triggered the run.",
        ),
        "criteria": Param(
            [], type="array", title="Criteria", description="Rollback criteria that failed."
        ),
        "incident_ref": Param("", type="string", title="Incident"),
    },
)
def govflow_rollback():
    decision = decide_rollback()
    approval = approve_rollback()
    decision >> approval
    executed = execute_rollback(decision)
    approval >> executed
    conclude_rollback(executed, verify_rollback(executed))


govflow_rollback()
