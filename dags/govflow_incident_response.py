"""
### govflow_incident_response (seed 004 section 3, seed 000 "Incident Response")

One run per incident, started by the monitoring DAG for every incident its findings open
(run id `incident__<ref>`), or by hand with the incident's ref. It walks the runbook of the
incident (seed 004 3.3 fairness, 3.4 data):

1. **Plan**: who responds, from policy.yaml `escalation.paths` and the on-call rotation of
   people.yaml at this moment. CRITICAL fairness incidents are told to the compliance
   officer and the CEO at once (3.2); the model is frozen through its kill switch when
   models.yaml sets `freeze_on_critical_fairness`.
2. **Diagnose** (automated, posted to the incident's timeline): which features or groups
   moved and by how much, recent deployments and changes, baseline age, data quality.
3. **Acknowledge**: a required action assigned to the primary on-call, timing out when the
   acknowledgement SLA does (15 minutes from the incident's opening, not from the step's
   start). Unanswered, it escalates to the
   secondary (with Slack and e-mail), whose own action, for CRITICAL data and model
   incidents, escalates to the executive when the incident is still open after 4 hours.
   An incident acknowledged already (a run started again by hand) is not asked about again:
   the acknowledgement on record answers, and nobody is escalated to for want of one.
4. **Contain**: the responder picks manual review queue, roll back (starts
   govflow_rollback for the deployment the model's route serves), freeze (kill switch),
   accept risk (starts govflow_risk_acceptance, one run per response run; none while an
   earlier request is pending or in force, or an earlier run has not ended, nor when the
   policy would refuse it, e.g. a CRITICAL condition: the timeline says why, and so does the
   form's text) or monitor only.
5. **Document** within 24 hours: root cause and corrective action (a form, asked again
   when a field is left blank or holds only spaces).
6. **Resolve**: the responder names the window that shows the fix; the analysis is re-run
   over it and the incident is resolved and closed only if it passes (post-mortem due
   within 7 days).

The run ends by handing the incident back to the escalation sweeper, whatever happened: a
teardown, so a step that failed fails the run.

Every step is an incident event and an audit event; retries and cleared tasks add nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task, task_group

from govflow_airflow.connections import deliver_now
from govflow_airflow.hitl import AssignedBranchOperator, AssignedEntryOperator
from govflow_airflow.outcomes import airflow_outcomes
from govflow_airflow.risk_acceptance import RiskAcceptanceTrigger, unended_risk_acceptance_runs
from govflow_airflow.rollout import RollbackTrigger

DAG_ID = "govflow_incident_response"
PLAN = "plan_response"
ACKNOWLEDGE, ESCALATE = "Acknowledge", "Escalate"
ACKNOWLEDGEMENTS = ("acknowledge", "acknowledge_as_secondary", "acknowledge_as_executive")
ACKNOWLEDGED = {ACKNOWLEDGE: "record_acknowledgement"}
ESCALATE_TO_SECONDARY = {**ACKNOWLEDGED, ESCALATE: "escalate_to_secondary"}
ESCALATE_TO_EXECUTIVE = {**ACKNOWLEDGED, ESCALATE: "escalate_to_executive"}
TO_EXECUTIVE = "Escalated to the executive: "
CONTAINMENT = {
    "Manual review queue": "enable_manual_review",
    "Roll back": "request_rollback",
    "Freeze model": "freeze_model",
    "Accept risk": "request_risk_acceptance",
    "Monitor only": "monitor_only",
}
DIAGNOSES = ["moved_features_and_groups", "recent_changes", "baseline_age", "data_quality_status"]
# A form field the responder must fill: empty until answered (the task validates its params
# when it starts), a non-empty string in the answer; one of only spaces is asked again.
REQUIRED_TEXT = ["null", "string"]
SUBJECT = "{{ ti.xcom_pull(task_ids='plan_response')['subject'] }}"
BODY = "{{ ti.xcom_pull(task_ids='plan_response')['body'] }}"
DOCUMENTATION_FORM = {
    "root_cause": Param(None, type=REQUIRED_TEXT, minLength=1, title="Root cause"),
    "corrective_action": Param(
        None,
        type=REQUIRED_TEXT,
        minLength=1,
        title="Corrective action",
        description="Retrain, fix data, update baseline, ...",
    ),
}
RESOLUTION_FORM = {
    "fix": Param(None, type=REQUIRED_TEXT, minLength=1, title="Fix implemented"),
    "verification_start": Param(
        "", type="string", title="Verification window start (UTC, ISO 8601)"
    ),
    "verification_end": Param("", type="string", title="Verification window end (UTC, ISO 8601)"),
}
DOCUMENTATION_BODY = (
    "Root cause and corrective action (seed 004 3.3), within "
    "{{ ti.xcom_pull(task_ids='plan_response')['documentation']['timeout_minutes'] }} minutes."
)
RESOLUTION_BODY = (
    "Name the window whose logs show the fix (default: the window after the "
    "incident's). The analysis is re-run over it; the incident closes only if it passes."
)


def _incident_id() -> int:
    return get_current_context()["ti"].xcom_pull(task_ids=PLAN)["incident_id"]


def _actor() -> str:
    return f"{DAG_ID}/{get_current_context()['run_id']}"


def _containment_actor() -> str:
    """The responder who chose the containment, else the run."""
    from govflow.flows.incident_response import responder_or

    answer = get_current_context()["ti"].xcom_pull(task_ids="contain", key="response")
    return responder_or(answer, _actor())


@task(task_id=PLAN)
def plan_response(params=None, run_id=None) -> dict:
    """Who responds and how, from the policy and the on-call rotation at this moment; a ref
    that names no incident fails once."""
    from govflow.flows.incident_response import plan_response as plan

    with airflow_outcomes():
        return plan(params["incident_ref"], dag_run_id=run_id)


@task
def escalate(level: str) -> dict:
    """Hand the incident to the next level: an incident event, Slack and e-mail, sent now."""
    from govflow.flows.incident_response import escalate_to_level

    with airflow_outcomes():
        escalated = escalate_to_level(_incident_id(), level, actor=_actor())
    return deliver_now(escalated)


@task
def notify_at_once(plan: dict) -> dict:
    """Seed 004 3.2: CRITICAL fairness goes to the compliance officer and the CEO now."""
    from govflow.flows.incident_response import escalate_to_level

    if not plan["at_once"]["users"]:
        return {}
    with airflow_outcomes():
        escalated = escalate_to_level(plan["incident_id"], "at_once", actor=_actor())
    return deliver_now(escalated)


@task
def freeze_automatically(plan: dict) -> dict | None:
    """Freeze the model through its kill switch where models.yaml says so."""
    from govflow.flows.incident_response import freeze_model

    if not plan["freeze_automatically"]:
        return None
    with airflow_outcomes():
        return freeze_model(plan["incident_id"], actor=_actor(), automatic=True)


@task(map_index_template="{{ diagnosis }}")
def run_diagnosis(diagnosis: str) -> dict:
    """Seed 004 3.3 "Diagnosis": one automated diagnosis, posted to the incident."""
    from govflow.flows.incident_response import run_diagnosis as diagnose_incident

    with airflow_outcomes():
        return diagnose_incident(_incident_id(), diagnosis, actor=_actor())


@task(trigger_rule="none_failed_min_one_success")
def record_acknowledgement(ti=None) -> dict:
    """The incident is acknowledged by whoever answered first, and investigated."""
    from govflow.flows.incident_response import first_acknowledgement
    from govflow.flows.incident_response import record_acknowledgement as record

    answers = [ti.xcom_pull(task_ids=task_id, key="response") for task_id in ACKNOWLEDGEMENTS]
    return record(_incident_id(), first_acknowledgement(answers), actor=_actor())


@task
def freeze_model() -> dict:
    """Freeze the model through its kill switch, as the responder chose."""
    from govflow.flows.incident_response import freeze_model as freeze

    with airflow_outcomes():
        return freeze(_incident_id(), actor=_containment_actor(), automatic=False)


@task
def enable_manual_review() -> dict:
    """Route the model's predictions to the manual review queue."""
    from govflow.flows.incident_response import record_containment

    return record_containment(_incident_id(), "manual_review_queue", _containment_actor())


@task
def request_rollback() -> dict:
    """Record the choice; roll_back starts govflow_rollback with it."""
    from govflow.flows.incident_response import request_rollback as requested

    return requested(_incident_id(), _containment_actor())


@task
def request_risk_acceptance(run_id=None, ti=None) -> dict:
    """Choose the risk acceptance run to start: none while an earlier request is pending or
    in force, or an earlier run has not ended (the task's log and result say so); a request
    whose run has ended undecided is refused first."""
    from govflow.flows.incident_response import request_risk_acceptance as request
    from govflow.flows.incident_response import risk_acceptance_runs

    earlier = risk_acceptance_runs(_incident_id())
    running = unended_risk_acceptance_runs(ti, earlier)
    ended = [run for run in earlier if run not in running]
    actor = _containment_actor()
    return request(_incident_id(), dag_run_id=run_id, running=running, ended=ended, actor=actor)


@task
def monitor_only() -> dict:
    """Contain by watching: the incident stays open and monitored."""
    from govflow.flows.incident_response import record_containment

    return record_containment(_incident_id(), "monitor_only", _containment_actor())


@task
def record_documentation(form: dict) -> dict:
    """Root cause and corrective action from the documentation form (which asks again for a
    blank one); a blank one that reaches here all the same fails once."""
    from govflow.flows.incident_response import record_documentation as record

    with airflow_outcomes():
        return record(_incident_id(), form, actor=_actor())


@task
def verify_resolution(form: dict) -> dict:
    """Re-run the incident's analysis over the named window; close only if it passes, else
    fail once in one line saying why the incident stays open. A store that could not be
    reached is retried: the re-run rewrites its own record."""
    from govflow.flows.incident_response import verify_resolution as verify

    with airflow_outcomes():
        return verify(_incident_id(), form, actor=_actor())


@task
def end_response_run(run_id=None, ti=None) -> None:
    """Whatever happened, the escalation sweeper watches the incident again (skipped when
    the plan named no incident). A teardown: the run's state is still its steps'."""
    from govflow.flows.incident_response import end_response_run as end
    from govflow.flows.incident_response import response_outcome

    plan = ti.xcom_pull(task_ids=PLAN)
    outcome = response_outcome(ti.xcom_pull(task_ids="verify_resolution"))
    with airflow_outcomes():
        end(plan["incident_id"] if plan else None, dag_run_id=run_id, outcome=outcome)


def ask(task_id: str, key: str, subject: str, branches: dict[str, str]) -> AssignedBranchOperator:
    """A choice assigned to the plan's ``key`` (primary, secondary, ...) that branches."""
    return AssignedBranchOperator(
        task_id=task_id,
        assignment_task_id=PLAN,
        assignment_key=key,
        subject=subject + SUBJECT,
        body=BODY,
        options=list(branches),
        defaults=[ESCALATE] if ESCALATE in branches else None,
        options_mapping=branches,
    )


def form(task_id: str, key: str, subject: str, body: str, fields: dict, **kwargs):
    """A form assigned to the plan's ``key``, with the plan's timeout for it."""
    return AssignedEntryOperator(
        task_id=task_id,
        assignment_task_id=PLAN,
        assignment_key=key,
        subject=subject + SUBJECT,
        body=body,
        defaults=None,
        params=fields,
        **kwargs,
    )


def acknowledge(plan):
    """Step 3: the primary acknowledges or escalates (silence escalates), then the
    secondary, then the executive; returns the recorded acknowledgement."""
    acknowledged = record_acknowledgement()
    to_secondary = escalate.override(task_id="escalate_to_secondary")("secondary")
    to_executive = escalate.override(task_id="escalate_to_executive")("executive")
    secondary = ask("acknowledge_as_secondary", "secondary", "Escalated: ", ESCALATE_TO_EXECUTIVE)
    executive = ask("acknowledge_as_executive", "executive", TO_EXECUTIVE, ACKNOWLEDGED)
    plan >> ask("acknowledge", "primary", "", ESCALATE_TO_SECONDARY) >> [acknowledged, to_secondary]
    to_secondary >> secondary >> [acknowledged, to_executive]
    to_executive >> executive >> acknowledged
    return acknowledged


def contain(acknowledged):
    """Step 4: the responder's choice of containment; returns the containment tasks."""
    rollback_requested = request_rollback()
    rollback_requested >> RollbackTrigger(
        task_id="roll_back", request_task_id="request_rollback", source="incident"
    )
    containment = [freeze_model(), enable_manual_review(), rollback_requested, monitor_only()]
    containment.append(accept_risk())
    acknowledged >> ask("contain", "responders", "Containment: ", CONTAINMENT) >> containment
    return containment


def accept_risk():
    """The "Accept risk" containment: choose the govflow_risk_acceptance run, then start it
    (skipped when none is chosen); returns the choice."""
    requested = request_risk_acceptance()
    requested >> RiskAcceptanceTrigger(
        task_id="start_risk_acceptance", request_task_id="request_risk_acceptance"
    )
    return requested


def document() -> AssignedEntryOperator:
    """Step 5: root cause and corrective action, once containment is under way."""
    return form(
        "document",
        "documentation",
        "Document: ",
        DOCUMENTATION_BODY,
        DOCUMENTATION_FORM,
        trigger_rule="none_failed_min_one_success",
    )


def document_and_resolve(containment):
    """Steps 5 and 6: the documentation form, then the resolution verified by a re-run."""
    documented = document()
    resolve = form("resolve", "responders", "Resolve: ", RESOLUTION_BODY, RESOLUTION_FORM)
    containment >> documented
    record_documentation(documented.output) >> resolve
    verify_resolution(resolve.output) >> end_response_run().as_teardown()


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    doc_md=__doc__,
    tags=["govflow", "incidents"],
    params={
        "incident_ref": Param(
            "INC-2025-0001",
            type="string",
            title="Incident",
            description="The ref of the incident to respond to (govflow incident list).",
        ),
    },
)
def govflow_incident_response():
    plan = plan_response()
    plan >> [notify_at_once(plan), freeze_automatically(plan), diagnose()]
    document_and_resolve(contain(acknowledge(plan)))


@task_group
def diagnose():
    """Seed 004 3.3 "Diagnosis": automated, each posted to the incident."""
    run_diagnosis.expand(diagnosis=DIAGNOSES)


govflow_incident_response()
