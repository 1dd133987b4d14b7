"""
### govflow_baseline_reset (seed 004 sections 4.2 and 4.4)

The seed's `POST /api/v1/monitoring/baselines/reset`: trigger this DAG (Airflow UI, or
`POST /api/v2/dags/govflow_baseline_reset/dagRuns` with `conf`, see README "REST API") to
replace a model's baseline with one built from its last 7 days of prediction logs.

1. **resolve_request** checks the Params and names the requester: the user who triggered the
   run (`dag_run.triggering_user_name`, a people.yaml id). It reads and gates the window now,
   so nobody is asked to approve a reset that cannot be built (too few rows, no label).
2. **ask_approvers** names who may approve: the holders of the trigger's approver role in
   policy.yaml (`concept_drift_accepted`: ml_lead, `major_data_source_change`: cto) minus
   the requester, since nobody approves their own reset.
3. **approve_reset** waits in "Required actions" for one of them. The assignees depend on
   who asked, so they are computed at run time and handed to the `ApprovalOperator` through
   `expand_kwargs` (one mapped instance, map index 0). A rejection fails the run and leaves
   the baseline untouched.
4. **build_baseline** builds the baseline from the logs that pass the data-quality gate,
   archives the old one, records requester and approver, opens the incident that documents
   the reset, prints the new version and publishes the Asset `govflow_baselines`.

A request that cannot be built as asked fails its task once, unretried. A task that fails
otherwise (the store briefly unreachable) is retried twice, 10 seconds apart: a retry of
build_baseline returns the baseline the run already created, with its one incident and its
audit events, recorded once. approve_reset is never retried, so nobody is asked twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes
from govflow_airflow.parse_time import model_ids

BASELINES = Asset(name="govflow_baselines")
RESET_KINDS = ["concept_drift_accepted", "major_data_source_change"]
MODEL_IDS = model_ids()


@task
def resolve_request(params=None, dag_run=None) -> dict:
    """Check the request, name the requester and who may approve, and describe the reset;
    a request that cannot be built as asked (a requester nobody in people.yaml, a window
    end that is no date and time, too few usable logs) fails once."""
    from govflow.flows.baselines import describe_reset

    with airflow_outcomes():
        return describe_reset(
            params, requested_by=dag_run.triggering_user_name, triggered_at=dag_run.run_after
        )


@task
def ask_approvers(request: dict) -> list[dict]:
    """The one approval to ask for: ApprovalOperator keyword arguments, assignees included."""
    from govflow.flows.baselines import reset_approval_requests

    return reset_approval_requests(request)


@task(outlets=[BASELINES])
def build_baseline(request: dict, approvals: list, run_id=None, outlet_events=None) -> dict:
    """Build the approved baseline from the logs, archive the old one, open the incident;
    an approval the policy does not accept fails once."""
    from govflow.flows.baselines import build_reset_baseline

    (approval,) = approvals
    with airflow_outcomes():
        summary = build_reset_baseline(request, approval, idempotency_key=run_id)
    outlet_events[BASELINES].extra = summary
    return summary


@dag(
    dag_id="govflow_baseline_reset",
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    description="Approved baseline reset from the last 7 days of predictions (seed 004 4.4)",
    tags=["govflow", "baselines"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "model": Param(
            MODEL_IDS[0],
            type="string",
            enum=MODEL_IDS,
            title="Model",
            description="The model whose baseline is reset (models.yaml).",
        ),
        "kind": Param(
            RESET_KINDS[0],
            type="string",
            enum=RESET_KINDS,
            title="Trigger",
            description=(
                "concept_drift_accepted (the ML lead approves) or major_data_source_change "
                "(the CTO approves), seed 004 table 4.2."
            ),
        ),
        "reason": Param(
            type="string",
            minLength=1,
            title="Reason",
            description="Why the baseline must change; it becomes the incident's summary.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window end",
            description=(
                "End (UTC, exclusive) of the 7-day window of predictions; empty means when "
                "the run was triggered."
            ),
        ),
    },
)
def govflow_baseline_reset():
    request = resolve_request()
    approved = ApprovalOperator.partial(
        task_id="approve_reset", fail_on_reject=True, retries=0
    ).expand_kwargs(ask_approvers(request))
    build_baseline(request, approved.output)


govflow_baseline_reset()
