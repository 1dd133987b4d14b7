"""
### govflow_legal_hold

A legal hold from the Airflow UI ("Trigger" with the form below), as the user who triggers the
run (a people.yaml id): `add` a hold on a model, an incident (its reference, INC-...), a
deployment (its reference) or a time range (`from`, `to`), with a reason; or `release` hold
`hold_id`, with a reason. A held record is never purged by govflow_retention; a released
hold stays on record. Each change is an audit event (`govflow audit query --action
'retention.hold*'`). Who may put and release a hold is policy.yaml `legal_holds` (releasing:
the compliance officer). A refused request (nobody in people.yaml, a role that may not, no
reason, nothing to hold) fails once, unretried; one that fails otherwise (the store briefly
unreachable) is retried twice, 10 seconds apart, and a retried or cleared run finds its change
made and records nothing again. The same from a terminal: `govflow hold add|release|list`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes


@task
def apply_hold(params=None, dag_run=None) -> dict:
    """Add or release the hold the form describes, as the triggering user."""
    from govflow.flows.retention import apply_hold_request

    with airflow_outcomes():
        return apply_hold_request(dict(params), actor=dag_run.triggering_user_name)


@dag(
    dag_id="govflow_legal_hold",
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["govflow", "retention"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "action": Param(
            "add",
            type="string",
            enum=["add", "release"],
            title="Action",
            description="add: put a hold. release: release hold `hold_id` (kept on record).",
        ),
        "scope": Param(
            "model",
            type="string",
            enum=["model", "incident", "deployment", "range"],
            title="What to hold",
            description="add only: a model, an incident, a deployment, or a time range.",
        ),
        "target": Param(
            "",
            type="string",
            title="Model, incident or deployment",
            description="A model id, an incident reference (INC-...) or a deployment reference.",
        ),
        "from": Param("", type="string", title="From (range)", description="YYYY-MM-DD"),
        "to": Param(
            "",
            type="string",
            title="To (range, included)",
            description="YYYY-MM-DD: that whole day is held (an ISO time: held up to it)",
        ),
        "hold_id": Param(
            0,
            type="integer",
            title="Hold to release",
            description="release only: the hold's number (govflow hold list).",
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="Required: why the records are held, or why the hold is released.",
        ),
    },
)
def govflow_legal_hold():
    apply_hold()


govflow_legal_hold()
