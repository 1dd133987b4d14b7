"""
### govflow_risk_acceptance (seed 004 section 12, "Exceptions & Overrides")

Accept the risk of an incident's drift for a bounded time. Started by hand with the
incident's ref, or by `govflow_incident_response` when its containment chooses "Accept risk".

1. **Check**: the incident's newest measurement must be a severity the policy lets you accept
   (policy.yaml `exceptions.applies_to_severities`: WARNING; a CRITICAL condition is never
   suppressed) and no other acceptance may be pending or in force for it. Refused here,
   before anybody is asked, with the reason on the incident's timeline and an audit event
   `risk_acceptance.refused`.
2. **Document** (ML lead): a form, assigned to the holders of `exceptions.documented_by`,
   with the rationale and the days of suppression (at most
   `exceptions.max_suppression_days`, 30; more is refused). Empty fields take the values
   proposed in the run's parameters.
3. **Review** (compliance officer): Approve or Reject, assigned to the holders of
   `exceptions.approved_by`; the requester can never decide their own request.
4. **Record**: approval moves the incident to `accepted_risk` and suppresses the metric's
   alerts until the end of the period (the metric is still computed and recorded); a
   rejection is recorded with who rejected it and why. At expiry the escalation sweeper
   reopens the incident if the condition persists.
5. **End**: a request the run did not decide (the approval was refused because the metric
   turned CRITICAL meanwhile, the answer came from someone who may not decide, or the
   review failed) ends `refused`, with an audit event saying why, so that a later request
   for the model and metric can be made. A teardown: the run's state is still the
   decision's.

A refused request fails its task once, unretried. A task that fails otherwise (the store
briefly unreachable) is retried twice, 10 seconds apart, and a retry of a step already done
finds it done: the run's request is filed once, the decision recorded once, each with one
audit event. The two required actions are never retried, so nobody is asked twice.

Assignees are read from people.yaml when the run starts. The review is an `HITLOperator`
with the options Approve and Reject rather than an `ApprovalOperator`: on Reject the
latter skips its downstream tasks and returns nothing, so the rejection and the identity
of who rejected could not be recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from govflow_airflow.hitl import AssignedAtRuntime, AssignedEntryOperator
from govflow_airflow.outcomes import airflow_outcomes

DAG_ID = "govflow_risk_acceptance"
CHECK = "check_request"
# A person's step fails without a retry: a retry would ask them again.
HUMAN_STEP = {"retries": 0}
# govflow.flows.risk_acceptances.APPROVE and REJECT
APPROVE, REJECT = "Approve", "Reject"
INCIDENT, RATIONALE, DAYS = (
    "{{ params.incident_ref }}",
    "{{ params.rationale }}",
    "{{ params.days }}",
)
RUN_KEY = "{{ dag.dag_id }}/{{ run_id }}"
SUBJECT = (
    "Accept the risk of {{ params.incident_ref }}: "
    "{{ ti.xcom_pull(task_ids='check_request')['severity'] }} "
    "{{ ti.xcom_pull(task_ids='check_request')['metric'] }} on "
    "{{ ti.xcom_pull(task_ids='check_request')['model_id'] }}"
)
DOCUMENT_BODY = (
    "Seed 004 section 12: document why this drift is acceptable and for how long "
    "(at most {{ ti.xcom_pull(task_ids='check_request')['max_days'] }} days). The alerts of "
    "the metric are suppressed once the compliance officer approves; monitoring goes on.\n\n"
    "Newest value: {{ ti.xcom_pull(task_ids='check_request')['value'] }} "
    "({{ ti.xcom_pull(task_ids='check_request')['subject'] }}).\n\n"
    "Proposed: {{ params.rationale or '(no rationale)' }}, {{ params.days }} days."
)
DOCUMENT_FORM = {
    "rationale": Param("", type="string", title="Rationale"),
    "days": Param(None, type=["null", "integer"], minimum=1, title="Days of suppression"),
}
REVIEW_BODY = (
    "{{ ti.xcom_pull(task_ids='request_acceptance')['requested_by'] }} asks to suppress the "
    "alerts of {{ ti.xcom_pull(task_ids='request_acceptance')['metric'] }} on "
    "{{ ti.xcom_pull(task_ids='request_acceptance')['model_id'] }} for "
    "{{ ti.xcom_pull(task_ids='request_acceptance')['days'] }} days.\n\n"
    "Rationale: {{ ti.xcom_pull(task_ids='request_acceptance')['rationale'] }}"
)


@task(task_id=CHECK)
def check_request(incident_ref: str, run_id=None) -> dict:
    """Refuse at once what the policy would refuse, saying why on the incident's timeline and
    in the audit trail; name who documents and who decides."""
    from govflow.flows.risk_acceptances import check_request as check

    with airflow_outcomes():
        return check(incident_ref, run=f"{DAG_ID}/{run_id}" if run_id else None)


@task
def request_acceptance(incident_ref: str, rationale: str, days: str, form: dict, key: str) -> dict:
    """File the ML lead's request (once per run ``key``, however often retried); empty fields
    of the form take the proposed rationale and days."""
    from govflow.flows.risk_acceptances import request_acceptance as request

    with airflow_outcomes():
        return request(
            incident_ref, form, proposed_rationale=rationale, proposed_days=days, request_key=key
        )


@task
def end_undecided_request(run_id=None, ti=None) -> dict | None:
    """However the run ended, its request does not stay pending: undecided, it ends refused
    (skipped when the run filed none)."""
    from govflow.flows.risk_acceptances import end_undecided_request as end

    request = ti.xcom_pull(task_ids="request_acceptance")
    with airflow_outcomes():
        return end(request, run=f"{DAG_ID}/{run_id}")


@task
def record_decision(request: dict, review: dict) -> dict:
    """Approve or reject as the compliance officer who answered; print the outcome."""
    from govflow.flows.risk_acceptances import record_decision as record

    with airflow_outcomes():
        return record(request, review)


def document_rationale() -> AssignedEntryOperator:
    """The ML lead's form, assigned when the run starts; empty fields take the proposals."""
    return AssignedEntryOperator(
        task_id="document_rationale",
        assignment_task_id=CHECK,
        assignment_key="ml_lead",
        subject=SUBJECT,
        body=DOCUMENT_BODY,
        defaults=None,
        params=DOCUMENT_FORM,
        **HUMAN_STEP,
    )


def review_acceptance() -> AssignedAtRuntime:
    """The compliance officer's Approve or Reject, assigned when the run starts."""
    return AssignedAtRuntime(
        task_id="review_acceptance",
        assignment_task_id=CHECK,
        assignment_key="compliance_officer",
        subject="Review: " + SUBJECT,
        body=REVIEW_BODY,
        options=[APPROVE, REJECT],
        params={"comment": Param("", type="string", title="Comment")},
        **HUMAN_STEP,
    )


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["govflow", "incidents"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "incident_ref": Param(
            "INC-2025-0001",
            type="string",
            title="Incident",
            description="The ref of the incident whose risk is accepted (govflow incident list).",
        ),
        "rationale": Param(
            "",
            type="string",
            title="Proposed rationale",
            description="Shown to the ML lead, who documents the rationale in the form.",
        ),
        "days": Param(
            30,
            type="integer",
            minimum=1,
            title="Proposed days of suppression",
            description="Policy maximum: exceptions.max_suppression_days (30); more is refused.",
        ),
    },
)
def govflow_risk_acceptance():
    document = document_rationale()
    check_request(INCIDENT) >> document
    requested = request_acceptance(INCIDENT, RATIONALE, DAYS, document.output, RUN_KEY)
    review = review_acceptance()
    requested >> review
    record_decision(requested, review.output) >> end_undecided_request().as_teardown()


govflow_risk_acceptance()
