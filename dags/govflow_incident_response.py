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
3. **Acknowledge**: a required action assigned to the primary on-call with a response
   timeout equal to the acknowledgement SLA (15 minutes). Unanswered, it escalates to the
   secondary (with Slack and e-mail), whose own action, for CRITICAL data and model
   incidents, escalates to the executive when the incident is still open after 4 hours.
4. **Contain**: the responder picks manual review queue, roll back (starts
   govflow_rollback for the deployment the model's route serves), freeze (kill switch),
   accept risk (starts govflow_risk_acceptance) or monitor only.
5. **Document** within 24 hours: root cause and corrective action (a form).
6. **Resolve**: the responder names the window that shows the fix; the analysis is re-run
   over it and the incident is resolved and closed only if it passes (post-mortem due
   within 7 days).

Every step is an incident event and an audit event; retries and cleared tasks add nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task, task_group

from govflow_airflow.hitl import AssignedBranchOperator, AssignedEntryOperator
from govflow_airflow.rollout import RollbackTrigger

DAG_ID = "govflow_incident_response"
PLAN = "plan_response"
ACKNOWLEDGE, ESCALATE = "Acknowledge", "Escalate"
CONTAINMENT = {
    "Manual review queue": "enable_manual_review",
    "Roll back": "request_rollback",
    "Freeze model": "freeze_model",
    "Accept risk": "start_risk_acceptance",
    "Monitor only": "monitor_only",
}
# A form field the responder must fill: empty until answered (the task validates its params
# when it starts), a non-empty string in the answer.
REQUIRED_TEXT = ["null", "string"]
SUBJECT = "{{ ti.xcom_pull(task_ids='plan_response')['subject'] }}"
BODY = "{{ ti.xcom_pull(task_ids='plan_response')['body'] }}"


def _incident_id() -> int:
    return get_current_context()["ti"].xcom_pull(task_ids=PLAN)["incident_id"]


def _actor() -> str:
    return f"{DAG_ID}/{get_current_context()['run_id']}"


@task
def escalate(level: str) -> list[str]:
    """Hand the incident to the next level: an incident event, Slack and e-mail, sent now."""
    from govflow.flows.incident_response import escalate_to_level
    from govflow_airflow.connections import deliver_now

    alert_ids = escalate_to_level(_incident_id(), level, actor=_actor())
    return deliver_now(alert_ids)


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
    @task(task_id=PLAN)
    def plan_response() -> dict:
        """Who responds and how, from the policy and the on-call rotation at this moment."""
        from govflow.flows.incident_response import plan_response as plan

        context = get_current_context()
        return plan(context["params"]["incident_ref"], dag_run_id=context["run_id"])

    @task
    def notify_at_once(plan: dict) -> list[str]:
        """Seed 004 3.2: CRITICAL fairness goes to the compliance officer and the CEO now."""
        from govflow.flows.incident_response import escalate_to_level
        from govflow_airflow.connections import deliver_now

        if not plan["at_once"]["users"]:
            return []
        return deliver_now(escalate_to_level(plan["incident_id"], "at_once", actor=_actor()))

    @task
    def freeze_automatically(plan: dict) -> dict | None:
        """Freeze the model through its kill switch where models.yaml says so."""
        from govflow.flows.incident_response import freeze_model

        if not plan["freeze_automatically"]:
            return None
        return freeze_model(plan["incident_id"], actor=_actor(), automatic=True)

    @task_group
    def diagnose():
        """Seed 004 3.3 "Diagnosis": automated, each posted to the incident."""

        @task.python(map_index_template="{{ diagnosis }}")
        def run_diagnosis(diagnosis: str) -> dict:
            from govflow.flows.incident_response import run_diagnosis as diagnose_incident

            return diagnose_incident(_incident_id(), diagnosis, actor=_actor())

        run_diagnosis.expand(
            diagnosis=[
                "moved_features_and_groups",
                "recent_changes",
                "baseline_age",
                "data_quality_status",
            ]
        )

    acknowledge = AssignedBranchOperator(
        task_id="acknowledge",
        assignment_task_id=PLAN,
        assignment_key="primary",
        subject=SUBJECT,
        body=BODY,
        options=[ACKNOWLEDGE, ESCALATE],
        defaults=[ESCALATE],
        options_mapping={ACKNOWLEDGE: "record_acknowledgement", ESCALATE: "escalate_to_secondary"},
    )
    acknowledge_as_secondary = AssignedBranchOperator(
        task_id="acknowledge_as_secondary",
        assignment_task_id=PLAN,
        assignment_key="secondary",
        subject="Escalated: " + SUBJECT,
        body=BODY,
        options=[ACKNOWLEDGE, ESCALATE],
        defaults=[ESCALATE],
        options_mapping={ACKNOWLEDGE: "record_acknowledgement", ESCALATE: "escalate_to_executive"},
    )
    acknowledge_as_executive = AssignedBranchOperator(
        task_id="acknowledge_as_executive",
        assignment_task_id=PLAN,
        assignment_key="executive",
        subject="Escalated to the executive: " + SUBJECT,
        body=BODY,
        options=[ACKNOWLEDGE],
        options_mapping={ACKNOWLEDGE: "record_acknowledgement"},
    )

    @task(trigger_rule="none_failed_min_one_success")
    def record_acknowledgement() -> dict:
        """The incident is acknowledged by whoever answered first, and investigated."""
        from govflow.flows.incident_response import record_acknowledgement as record

        ti = get_current_context()["ti"]
        answers = [
            ti.xcom_pull(task_ids=task_id, key="response")
            for task_id in ("acknowledge", "acknowledge_as_secondary", "acknowledge_as_executive")
        ]
        answer = next(a for a in answers if a and a["chosen_options"] == [ACKNOWLEDGE])
        return record(_incident_id(), answer, actor=_actor())

    contain = AssignedBranchOperator(
        task_id="contain",
        assignment_task_id=PLAN,
        assignment_key="responders",
        subject="Containment: " + SUBJECT,
        body=BODY,
        options=list(CONTAINMENT),
        options_mapping=CONTAINMENT,
    )

    @task
    def freeze_model() -> dict:
        from govflow.flows.incident_response import freeze_model as freeze

        return freeze(_incident_id(), actor=_containment_actor(), automatic=False)

    @task
    def enable_manual_review() -> dict:
        from govflow.flows.incident_response import record_containment

        return record_containment(_incident_id(), "manual_review_queue", _containment_actor())

    @task
    def request_rollback() -> dict:
        """Record the choice; roll_back starts govflow_rollback with it."""
        from govflow.flows.incident_response import request_rollback as requested

        return requested(_incident_id(), _containment_actor())

    @task
    def monitor_only() -> dict:
        from govflow.flows.incident_response import record_containment

        return record_containment(_incident_id(), "monitor_only", _containment_actor())

    start_risk_acceptance = TriggerDagRunOperator(
        task_id="start_risk_acceptance",
        trigger_dag_id="govflow_risk_acceptance",
        trigger_run_id="risk_acceptance__{{ params.incident_ref }}",
        conf={"incident_ref": "{{ params.incident_ref }}"},
        skip_when_already_exists=True,
    )

    document = AssignedEntryOperator(
        task_id="document",
        assignment_task_id=PLAN,
        assignment_key="documentation",
        subject="Document: " + SUBJECT,
        body="Root cause and corrective action, within 24 hours (seed 004 3.3).",
        defaults=None,
        params={
            "root_cause": Param(None, type=REQUIRED_TEXT, minLength=1, title="Root cause"),
            "corrective_action": Param(
                None,
                type=REQUIRED_TEXT,
                minLength=1,
                title="Corrective action",
                description="Retrain, fix data, update baseline, ...",
            ),
        },
        trigger_rule="none_failed_min_one_success",
    )

    @task
    def record_documentation(form: dict) -> dict:
        from govflow.flows.incident_response import record_documentation as record

        return record(_incident_id(), form, actor=_actor())

    resolve = AssignedEntryOperator(
        task_id="resolve",
        assignment_task_id=PLAN,
        assignment_key="responders",
        subject="Resolve: " + SUBJECT,
        body=(
            "Name the window whose logs show the fix (default: the window after the "
            "incident's). The analysis is re-run over it; the incident closes only if it passes."
        ),
        defaults=None,
        params={
            "fix": Param(None, type=REQUIRED_TEXT, minLength=1, title="Fix implemented"),
            "verification_start": Param(
                "", type="string", title="Verification window start (UTC, ISO 8601)"
            ),
            "verification_end": Param(
                "", type="string", title="Verification window end (UTC, ISO 8601)"
            ),
        },
    )

    @task(retries=0)
    def verify_resolution(form: dict) -> dict:
        """Re-run the incident's analysis over the named window; close only if it passes."""
        from govflow.flows.incident_response import verify_resolution as verify

        return verify(_incident_id(), form, actor=_actor())

    @task(trigger_rule="all_done")
    def end_response_run() -> None:
        """Whatever happened, the escalation sweeper watches the incident again."""
        from govflow.flows.incident_response import end_response_run as end

        context = get_current_context()
        verified = context["ti"].xcom_pull(task_ids="verify_resolution")
        outcome = f"closed: {verified}" if verified else "ended without a verified resolution"
        end(_incident_id(), dag_run_id=context["run_id"], outcome=outcome)

    plan = plan_response()
    plan >> [notify_at_once(plan), freeze_automatically(plan), diagnose(), acknowledge]
    escalate_to_secondary = escalate.override(task_id="escalate_to_secondary")("secondary")
    escalate_to_executive = escalate.override(task_id="escalate_to_executive")("executive")
    acknowledged = record_acknowledgement()
    acknowledge >> [acknowledged, escalate_to_secondary]
    escalate_to_secondary >> acknowledge_as_secondary >> [acknowledged, escalate_to_executive]
    escalate_to_executive >> acknowledge_as_executive >> acknowledged
    acknowledged >> contain
    rollback_requested = request_rollback()
    rollback_requested >> RollbackTrigger(
        task_id="roll_back", request_task_id="request_rollback", source="incident"
    )
    containment = [
        freeze_model(),
        enable_manual_review(),
        rollback_requested,
        monitor_only(),
        start_risk_acceptance,
    ]
    contain >> containment
    containment >> document
    record_documentation(document.output) >> resolve
    verify_resolution(resolve.output) >> end_response_run()


def _containment_actor() -> str:
    """The responder who chose the containment, else the run."""
    answer = get_current_context()["ti"].xcom_pull(task_ids="contain", key="response")
    return (answer or {}).get("responded_by") or _actor()


govflow_incident_response()
