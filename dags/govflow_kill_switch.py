"""
### govflow_kill_switch (seed 003 section 13.3, "Kill Switch Infrastructure")

Activate or deactivate a kill switch from the Airflow UI ("Trigger" with the form below), or
`POST /api/v2/dags/govflow_kill_switch/dagRuns` with `conf`. It does what
`govflow kill-switch activate|deactivate` does.

- **Who**: the user who triggered the run (`dag_run.triggering_user_name`, a people.yaml
  id). policy.yaml `kill_switches` says who may activate (ML engineers, the ML lead, the
  deployment manager, the CTO and every on-call rotation, the compliance officer's fairness
  rotation included) and who may deactivate (the same without the fairness rotation).
  Anybody else is refused and the run fails with the reason; nothing changes.
- **What**: a `scope` and a `target` in it: a model id (`model_type`), `<model>:<version>`
  (`model_version`), a route path `/v1/models/<model>/predict` (`inference_endpoint`), a
  `customer_segment`, a `region` or a `downstream_consumer` value. A target its scope cannot
  name (a model or version the registry lacks, a category models.yaml does not list, a
  consumer no model's `serving.consumers` names) is refused with the valid ones.
- **Why**: activation needs a reason, deactivation recovery notes; both are audit events
  with the triggering user as actor (`govflow audit query --action 'kill_switch.*'`).

Serving gateways re-read the switches every second, so the change is in effect within
seconds, without a redeploy. Activating a switch that is already active changes nothing
and records nothing; so does deactivating again what the same person lifted with the same
notes. A refused request is not retried; one that fails otherwise (the store briefly
unreachable) is retried twice, 10 seconds apart, and a retry of a change already made changes
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes

DAG_ID = "govflow_kill_switch"
# govflow.serving.kill_switches.SCOPES (tests/dags asserts they agree); a DAG file imports no
# govflow module when it is parsed.
SCOPES = [
    "model_version",
    "model_type",
    "inference_endpoint",
    "customer_segment",
    "region",
    "downstream_consumer",
]


@task
def change_kill_switch(params=None, dag_run=None, run_id=None) -> dict:
    """Check the triggering user's authority, then activate or deactivate the switch."""
    from govflow.flows.kill_switches import change_kill_switch as change

    change_of = {key: params[key] for key in ("action", "scope", "target", "reason")}
    with airflow_outcomes():
        return change(
            **change_of,
            actor=dag_run.triggering_user_name,
            recovery_notes=params["recovery_notes"],
            context={"dag_run": f"{DAG_ID}/{run_id}"},
        )


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    description="Activate or deactivate a kill switch as the triggering user (seed 003 13.3)",
    tags=["govflow", "safeguards"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "action": Param(
            "activate",
            type="string",
            enum=["activate", "deactivate"],
            title="Action",
            description="activate blocks the target; deactivate lifts its active switch.",
        ),
        "scope": Param(
            "model_type",
            type="string",
            enum=SCOPES,
            title="Scope",
            description="What kind of thing the switch blocks.",
        ),
        "target": Param(
            type="string",
            minLength=1,
            title="Target",
            description=(
                "The thing blocked: credit_approval (model_type), credit_approval:1.1.0 "
                "(model_version), /v1/models/credit_approval/predict (inference_endpoint), "
                "high_value (customer_segment), north (region), loan_portal "
                "(downstream_consumer). A target the scope cannot name is refused with the "
                "list of valid ones."
            ),
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="Why the switch is activated; required to activate.",
        ),
        "recovery_notes": Param(
            "",
            type="string",
            title="Recovery notes",
            description="What was fixed; required to deactivate.",
        ),
    },
)
def govflow_kill_switch():
    change_kill_switch()


govflow_kill_switch()
