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

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from govflow_airflow.connections import deliver_now
from govflow_airflow.hitl import AssignedAtRuntime, response_of

# How long a live gateway may take to pick up the restored route (it re-reads every second).
VERIFY_TIMEOUT_S = 60
SOURCES = ["manual", "incident", "rollout", "go_live"]


def parse_time_models() -> list[str]:
    from govflow import settings
    from govflow.config import load_config

    return load_config(settings.config_dir()).models.ids()


MODELS = parse_time_models()


def _config():
    from govflow import settings
    from govflow.config import load_config

    return load_config(settings.config_dir())


@task
def decide_rollback(params=None) -> dict:
    """Step 1: record the decision; name the System Owner if the request needs approval."""
    from govflow import store
    from govflow.rollout import rollback

    run = get_current_context()["dag_run"]
    requester = params["requested_by"] or run.triggering_user_name or "unknown"
    if params["source"] in rollback.DECIDED_SOURCES:
        requester = f"govflow ({params['source']})"
    try:
        with store.session_scope() as session:
            decision = rollback.decide(
                session,
                _config(),
                model_id=params["model_id"],
                deployment_ref=params["deployment_ref"] or None,
                reason=params["reason"],
                source=params["source"],
                requested_by=requester,
                criteria=params["criteria"],
                incident_ref=params["incident_ref"] or None,
            )
    except (rollback.RollbackError, LookupError) as refused:
        raise AirflowFailException(str(refused)) from None
    print(f"{decision['deployment_ref']}: roll back {decision['version']}: {decision['reason']}")
    if not decision["needs_approval"]:
        decision["approval"] = None
    return decision


@task(trigger_rule="none_failed")
def execute_rollback(decision: dict) -> dict:
    """Step 2: halt the rollout, restore the previous version and configuration."""
    from govflow import store
    from govflow.rollout import rollback

    ti = get_current_context()["ti"]
    if decision["needs_approval"]:
        answer = ti.xcom_pull(task_ids="approve_rollback")
        with store.session_scope() as session:
            approved = rollback.record_approval(
                session,
                deployment_ref=decision["deployment_ref"],
                response=response_of(answer or {}),
            )
        if not approved:
            raise AirflowSkipException("the System Owner did not approve the rollback")
    with store.session_scope() as session:
        executed = rollback.execute(session, deployment_ref=decision["deployment_ref"])
    print(
        f"restored {executed['model_id']} {executed['restored_version']} "
        f"(route revision {executed['revision']}); halted {executed['halted_stages']}"
    )
    return executed


@task
def verify_rollback(executed: dict) -> dict:
    """Step 2.5: the routing table and every live gateway serve the restored revision."""
    import time

    from govflow import store
    from govflow.rollout import rollback

    deadline = time.monotonic() + VERIFY_TIMEOUT_S
    while True:
        with store.session_scope() as session:
            seen = rollback.verify(
                session, deployment_ref=executed["deployment_ref"], revision=executed["revision"]
            )
        if seen["routing_restored"] and seen["serving"]:
            print(f"verified: {seen}")
            return seen
        if time.monotonic() > deadline:
            raise RuntimeError(f"rollback not verified after {VERIFY_TIMEOUT_S} s: {seen}")
        time.sleep(1)


@task
def conclude_rollback(executed: dict, verification: dict) -> dict:
    """Step 3: notify, document the reason, open the root-cause incident."""
    from govflow import store
    from govflow.rollout import rollback

    with store.session_scope() as session:
        concluded = rollback.conclude(
            session,
            _config(),
            deployment_ref=executed["deployment_ref"],
            verification=verification,
        )
    deliver_now([concluded["alert_id"]])
    print(f"root-cause incident {concluded['incident_ref']}")
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
    approval = AssignedAtRuntime(
        task_id="approve_rollback",
        subject="Roll back {{ params.model_id }}?",
        body="{{ params.reason }}",
        options=["Approve rollback", "Reject"],
        defaults=["Reject"],
        params={"comment": Param("", type="string", title="Comment")},
        assignment_task_id="decide_rollback",
        assignment_key="approval",
        retries=0,
    )
    decision >> approval
    executed = execute_rollback(decision)
    approval >> executed
    conclude_rollback(executed, verify_rollback(executed))


govflow_rollback()
