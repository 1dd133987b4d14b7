"""
### govflow_model_deployment (seed 001 PROC-AI-DEPLOY-001, with seeds 000, 002 and 003)

One run is one deployment of a registered model version: the six phases of the procedure
are the task groups, its twenty steps the tasks. Automated steps run real checks on the
candidate and store their evidence; human steps are "Required actions" assigned to the
people config/ names for the role:

1. **Planning**: the Deployment Manager fills in the deployment plan (FORM-AI-DEPLOY-001;
   a window that is not two ISO date-times, the end after the start, is asked again, the
   problem in the task's log) while the Risk Manager assesses the deployment's risks;
   stakeholders are then notified on Slack with the plan and the on-call standby (skipped
   for an expedited patch).
2. **Preparation**: environment, release package (artefact digest against the registry),
   staging (the validation set scored through the candidate, performance against
   models.yaml, fairness on the validation set: a disparate impact ratio below 0.80 stops
   the deployment here, before anyone is asked to approve).
3. **Readiness verification**: every automatic checklist item (CHK-AI-DEPLOY-001, seed 000
   readiness, seed 002 ML items) is verified, then each attesting role ticks its items
   with an evidence link; a high-risk model adds the section 7 compliance verification
   (and, for a major update, the substantial-change assessment); the final review renders
   the Deployment Readiness Report.
4. **Approval**: one approval per role the risk tier requires (high: 5, medium: 3, low: 2),
   mapped and named by role, never assigned to the requester or the model's owner, one
   approval per person. Each answer is recorded as it is given, and any rejection stops
   the deployment at once with its reason; an approval task that ended without anybody's
   answer (its state set by hand) is refused as a bypass attempt, audited. A malformed
   answer is asked again, never fails the step. An approval still waiting when the
   deployment stops (a rejection, a failed step) is withdrawn within
   `withdrawal_check_minutes`: skipped with the reason, so nobody is asked and the run ends.
5. **Execution**: backup and on-call confirmed, the artefact released to the rollout, the
   release smoke-tested on production logs, then the go-live decision: GREEN proceeds,
   AMBER asks the model's System Owner (go live or roll back), RED records the rollback
   decision and starts `govflow_rollback`.
   Authorisation publishes the Asset `govflow_model_deployed`
   (`{"model_id", "version", "deployment_ref"}`): the rollout and the new baseline follow.
6. **Post-deployment**: verification on live traffic is scheduled for the rollout; the
   documentation (ML Lead) and, for high risk, registration updates (Compliance Officer);
   release notes on Slack; closure by the Deployment Manager.

`finalise` always runs last, a teardown: Airflow runs it even when the run is marked failed
by hand (its other steps are then failed or skipped). It records how the deployment ended
(one nothing decided is blocked, naming the failed tasks), writes the final readiness
report (Markdown and HTML, path on the deployment record), posts its summary to
#ml-deployments and fails the run when the deployment was blocked, rejected or rolled back,
so no deployment stays in progress once its run is over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, TaskGroup, dag, get_current_context, task

from govflow_airflow.connections import deliver_outbox
from govflow_airflow.forms import form_params
from govflow_airflow.hitl import (
    ApprovalRequest,
    AskedAgainIfMalformed,
    HumanForm,
    answers_of,
)
from govflow_airflow.outcomes import airflow_outcomes, failed_steps
from govflow_airflow.parse_time import deployment_choices, model_ids
from govflow_airflow.rollout import RollbackTrigger

DAG_ID = "govflow_model_deployment"
MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
# Mapped human steps are named after the role they ask (subjects start "Role: ...").
ROLE_OF_REQUEST = "{{ task.subject.split(':')[0] }}"
HUMAN_STEP = {"retries": 0, "map_index_template": ROLE_OF_REQUEST}
COMMENT = Param("", type="string", title="Comment", description="Why, in a sentence or two.")
ATTESTATION = {
    "evidence_link": Param(
        "",
        type="string",
        title="Evidence link",
        description="URL of the evidence for the items you tick.",
    ),
    "comment": COMMENT,
}
APPROVAL = {
    "options": ["Approve", "Reject"],
    "defaults": ["Reject"],
    "params": {
        "comment": COMMENT,
        "conditions": Param(
            None,
            type=["null", "string"],
            title="Conditions",
            description="Conditions of your approval, one per line (optional).",
        ),
    },
}
APPROVALS = "deployment_approval.approve_deployment"
MODELS = model_ids()
CHOICES = deployment_choices()


def _run_id() -> str:
    return get_current_context()["run_id"]


@task
def open_deployment(params=None, dag_run=None, run_id=None) -> list[dict]:
    """Record the request and assign everyone the run will ask; returns step 1's request."""
    from govflow.flows.deployment import open_deployment as open_request

    with airflow_outcomes():
        return open_request(params, requested_by=dag_run.triggering_user_name, run_id=run_id)


@task
def request_forms(key: str) -> list[dict]:
    """The requests of one human step, as worked out when the deployment opened."""
    from govflow.flows.deployment import requests_for

    with airflow_outcomes():
        return requests_for(_run_id(), key)


@task
def coordinate_stakeholders(plan_answers, risk_answers) -> bool:
    """Step 3: record the plan and the risk assessment, notify stakeholders on Slack."""
    from govflow.flows.deployment import coordinate_stakeholders as coordinate

    answers = (list(plan_answers), list(risk_answers))
    with airflow_outcomes():
        return coordinate(_run_id(), *answers, deliver=deliver_outbox)


@task(trigger_rule="none_failed")
def prepare_environment() -> list[dict]:
    """Step 4: environment, monitoring, alert thresholds, backup, logging."""
    from govflow.flows.deployment import check_step

    with airflow_outcomes():
        return check_step(_run_id(), 4)


@task(trigger_rule="none_failed")
def prepare_release_package() -> list[dict]:
    """Step 5: registered, version-tagged, artefact digest matches the registry."""
    from govflow.flows.deployment import check_step

    with airflow_outcomes():
        return check_step(_run_id(), 5)


@task
def deploy_to_staging() -> list[dict]:
    """Step 6: smoke test, performance and fairness on the validation set."""
    from govflow.flows.deployment import check_step

    with airflow_outcomes():
        return check_step(_run_id(), 6)


@task
def complete_checklist() -> list[dict]:
    """Step 7: every automatic checklist item with its evidence; the attestations."""
    from govflow.flows.deployment import complete_checklist as complete

    with airflow_outcomes():
        return complete(_run_id())


@task(trigger_rule="none_failed")
def review_readiness(attestations, compliance) -> list[dict]:
    """Steps 7-9: record the attestations, final review, readiness report, approvals."""
    from govflow.flows.deployment import review_readiness as review

    with airflow_outcomes():
        requests = review(_run_id(), list(attestations), list(compliance))
    deliver_outbox()
    return requests


@task
def document_approval(requests, ti=None) -> dict:
    """Step 11: FORM-AI-DEPLOY-002 and the registry decision; a rejection stops here, and so
    does an approval task that succeeded without anybody's answer (a bypass attempt)."""
    from govflow.flows.deployment import document_approval as document

    answers = answers_of(ti, APPROVALS, len(requests))
    with airflow_outcomes():
        return document(_run_id(), answers)


@task
def prepare_go_live() -> list[dict]:
    """Step 12: final backup verification and the on-call standing by."""
    from govflow.flows.deployment import check_step

    with airflow_outcomes():
        return check_step(_run_id(), 12)


@task
def execute_deployment() -> dict:
    """Step 13: the verified artefact is released to the phased rollout."""
    from govflow.flows.deployment import record_release

    with airflow_outcomes():
        return record_release(_run_id())


@task
def verify_deployment() -> dict:
    """Step 14: smoke test on production logs, logging, baseline; traffic checks wait."""
    from govflow.flows.deployment import verify_deployment as verify

    with airflow_outcomes():
        return verify(_run_id())


@task
def decide_go_live() -> list[dict]:
    """Step 15: GREEN, AMBER or RED; AMBER asks the model's System Owner."""
    from govflow.flows.deployment import decide_go_live as decide

    with airflow_outcomes():
        return decide(_run_id())


@task.branch(trigger_rule="none_failed")
def follow_go_live(owner_answers) -> str:
    """GREEN and RED decide alone; AMBER follows the System Owner's choice."""
    from govflow.flows.deployment import follow_go_live as follow

    with airflow_outcomes():
        return f"deployment_execution.{follow(_run_id(), list(owner_answers))}"


@task(outlets=[MODEL_DEPLOYED])
def authorise_rollout(outlet_events=None) -> dict:
    """Authorised to roll out: publish govflow_model_deployed for the rollout."""
    from govflow.flows.deployment import authorise_rollout as authorise

    with airflow_outcomes():
        extra = authorise(_run_id())
    outlet_events[MODEL_DEPLOYED].extra = extra
    deliver_outbox()
    return extra


@task
def roll_back() -> dict:
    """RED (or AMBER and the owner said so): record the rollback decision; the rollback
    itself runs in govflow_rollback."""
    from govflow.flows.deployment import roll_back as record_rollback

    with airflow_outcomes():
        return record_rollback(_run_id())


@task
def plan_post_deployment_verification() -> dict:
    """Step 16: the first 24-72 hours on live traffic, verified during the rollout."""
    from govflow.flows.deployment import plan_post_deployment_verification as plan

    with airflow_outcomes():
        return plan(_run_id())


@task(trigger_rule="none_failed_min_one_success")
def communicate_to_users(documentation_answers, registration_answers) -> list[dict]:
    """Steps 17-19: record the documentation and registration updates, release notes;
    the closure request."""
    from govflow.flows.deployment import communicate_to_users as communicate

    answers = (list(documentation_answers), list(registration_answers))
    with airflow_outcomes():
        sent = communicate(_run_id(), *answers)
    deliver_outbox()
    return sent


@task
def finalise(closure_answers, ti=None, run_id=None) -> dict:
    """Record how the deployment ended, write the final readiness report, post it. A
    teardown: it runs whatever happened before it, a run marked failed by hand included."""
    from govflow.flows.deployment import finalise as close

    failed = failed_steps(ti, run_id)
    with airflow_outcomes():
        return close(run_id, list(closure_answers), failed, deliver=deliver_outbox)


def fill_form(task_id: str, params: dict, **kwargs):
    """A mapped form of the procedure, one per request of its role."""
    return HumanForm.partial(task_id=task_id, params=params, **kwargs, **HUMAN_STEP)


def requests_and_form(key: str, task_id: str, params: dict, **kwargs):
    """The requests of human step ``key`` (``request_<key>``, worked out when the deployment
    opened) and its form, one per request."""
    requests = request_forms.override(task_id=f"request_{key}")(key)
    return requests, fill_form(task_id, params, **kwargs).expand_kwargs(requests)


def start_rollback() -> RollbackTrigger:
    """RED, or AMBER and the owner said so: govflow_rollback starts."""
    return RollbackTrigger(
        task_id="start_rollback", request_task_id="deployment_execution.roll_back", source="go_live"
    )


def plan_deployment():
    """Phase 1 (steps 1-3); returns coordinate_stakeholders."""
    with TaskGroup("deployment_planning", tooltip="Phase 1: steps 1-3"):
        opened = open_deployment()
        plan_form = fill_form("create_deployment_plan", form_params(1), form_step=1)
        plan = plan_form.expand_kwargs(opened)
        risk_request, risk = requests_and_form(
            "risk_assessment", "assess_deployment_risk", form_params(2)
        )
        opened >> risk_request
        return coordinate_stakeholders(plan.output, risk.output)


def prepare(coordinated):
    """Phase 2 (steps 4-6); returns deploy_to_staging."""
    with TaskGroup("preparation", tooltip="Phase 2: steps 4-6"):
        staged = deploy_to_staging()
        coordinated >> [prepare_environment(), prepare_release_package()] >> staged
        return staged


def verify_readiness(staged):
    """Phase 3 (steps 7-9); returns review_readiness, which asks for the approvals."""
    with TaskGroup("readiness_verification", tooltip="Phase 3: steps 7-9"):
        checked = complete_checklist()
        attested = fill_form("attest_checklist", ATTESTATION, multiple=True).expand_kwargs(checked)
        compliance_requests, verified = requests_and_form(
            "compliance_verification", "verify_compliance", ATTESTATION, multiple=True
        )
        # Worked out while the checklist runs, so that both forms wait for answers together.
        staged >> [checked, compliance_requests]
        checked >> verified
        return review_readiness(attested.output, verified.output)


def approve(reviewed):
    """Phase 4 (steps 10-11): one approval per role the risk tier requires."""
    with TaskGroup("deployment_approval", tooltip="Phase 4: steps 10-11"):
        approved = ApprovalRequest.partial(
            task_id="approve_deployment", **APPROVAL, **HUMAN_STEP
        ).expand_kwargs(reviewed)
        # Each approval is read from its own task, so that one without an answer shows.
        documented = document_approval(reviewed)
        approved >> documented
        return documented


def ask_system_owner(decided):
    """AMBER: the model's System Owner chooses to go live or roll back."""
    return AskedAgainIfMalformed.partial(
        task_id="ask_system_owner", params={"comment": COMMENT}, **HUMAN_STEP
    ).expand_kwargs(decided)


def go_live(documented):
    """Phase 5 (steps 12-15); returns authorise_rollout and roll_back."""
    with TaskGroup("deployment_execution", tooltip="Phase 5: steps 12-15"):
        decided = decide_go_live()
        authorised, rolled_back = authorise_rollout(), roll_back()
        rolled_back >> start_rollback()
        documented >> prepare_go_live() >> execute_deployment() >> verify_deployment() >> decided
        owner_choice = ask_system_owner(decided)
        follow_go_live(owner_choice.output) >> [authorised, rolled_back]
        return authorised, rolled_back


def update(documented, authorised, key: str, step: int):
    """Step 17 or 18: the requests of ``key`` once the approval is documented, its form
    (``update_<what>``) once the rollout is authorised."""
    requests, form = requests_and_form(
        key, f"update_{key.removesuffix('_updates')}", form_params(step)
    )
    documented >> requests
    authorised >> form
    return form


def close_out(documented, authorised):
    """Phase 6 (steps 16-20); returns close_deployment and the verification plan."""
    with TaskGroup("post_deployment", tooltip="Phase 6: steps 16-20"):
        verification_plan = plan_post_deployment_verification()
        authorised >> verification_plan
        docs = update(documented, authorised, "documentation_updates", 17)
        registration = update(documented, authorised, "registration_updates", 18)
        communicated = communicate_to_users(docs.output, registration.output)
        closure = fill_form("close_deployment", form_params(20)).expand_kwargs(communicated)
        return closure, verification_plan


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
    doc_md=__doc__,
    description="PROC-AI-DEPLOY-001: plan, prepare, verify, approve, go live, close",
    tags=["govflow", "deployment"],
    params={
        "model_id": Param(
            type="string",
            enum=MODELS,
            title="Model",
            description="The model id in models.yaml.",
        ),
        "version": Param(
            type="string",
            minLength=1,
            title="Version",
            description="The registered version to deploy, e.g. 1.1.0.",
        ),
        "deployment_type": Param(
            "minor",
            type="string",
            enum=CHOICES["types"],
            title="Deployment type",
            description="Seed 001 section 3.2: initial, major, minor, patch (expedited).",
        ),
        "environment": Param(
            "production",
            type="string",
            enum=CHOICES["environments"],
            title="Target environment",
        ),
        "justification": Param(
            type="string",
            minLength=1,
            title="Justification",
            description="Why this version should be deployed (goes to the registry too).",
        ),
    },
)
def govflow_model_deployment():
    documented = approve(verify_readiness(prepare(plan_deployment())))
    authorised, rolled_back = go_live(documented)
    closure, verification_plan = close_out(documented, authorised)
    closed = finalise(closure.output).as_teardown(on_failure_fail_dagrun=True)
    closed.set_upstream([rolled_back, verification_plan])


govflow_model_deployment()
