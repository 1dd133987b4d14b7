"""
### govflow_model_deployment (seed 001 PROC-AI-DEPLOY-001, with seeds 000, 002 and 003)

One run is one deployment of a registered model version: the six phases of the procedure
are the task groups, its twenty steps the tasks. Automated steps run real checks on the
candidate and store their evidence; human steps are "Required actions" assigned to the
people config/ names for the role:

1. **Planning**: the Deployment Manager fills in the deployment plan (FORM-AI-DEPLOY-001)
   while the Risk Manager assesses the deployment's risks; stakeholders are then notified
   on Slack with the plan and the on-call standby (skipped for an expedited patch).
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
   approval per person. Any rejection stops the deployment with its reason.
5. **Execution**: backup and on-call confirmed, the artefact released to the rollout, the
   release smoke-tested on production logs, then the go-live decision: GREEN proceeds,
   AMBER asks the model's System Owner (go live or roll back), RED records the rollback
   decision and starts `govflow_rollback`.
   Authorisation publishes the Asset `govflow_model_deployed`
   (`{"model_id", "version", "deployment_ref"}`): the rollout and the new baseline follow.
6. **Post-deployment**: verification on live traffic is scheduled for the rollout; the
   documentation (ML Lead) and, for high risk, registration updates (Compliance Officer);
   release notes on Slack; closure by the Deployment Manager.

`finalise` always runs last: it records how the deployment ended, writes the final
readiness report (Markdown and HTML, path on the deployment record), posts its summary to
#ml-deployments and fails the run when the deployment was blocked, rejected or rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.hitl import HITLEntryOperator, HITLOperator
from airflow.sdk import Asset, Param, TaskGroup, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from govflow_airflow.connections import deliver_outbox
from govflow_airflow.rollout import RollbackTrigger

DAG_ID = "govflow_model_deployment"
MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
# Mapped human steps are named after the role they ask (subjects start "Role: ...").
ROLE_OF_REQUEST = "{{ task.subject.split(':')[0] }}"
HUMAN_STEP = {"retries": 0, "map_index_template": ROLE_OF_REQUEST}
COMMENT = Param("", type="string", title="Comment", description="Why, in a sentence or two.")


def parse_time_choices() -> dict:
    """Models, deployment types, environments and form fields, read from config/ when the
    file is parsed (file reads, no connection): a new model is a config change."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.deployment.forms import FORMS

    config = load_config(settings.config_dir())
    return {
        "models": config.models.ids(),
        "types": list(config.deployment.deployment_types),
        "environments": list(config.deployment.environments),
        "forms": {
            step: {
                field.name: Param(
                    "" if field.required else None,
                    # The UI marks a plain string as required; null makes the field optional.
                    type="string" if field.required else ["null", "string"],
                    title=field.title,
                    description=field.description + ("" if field.required else " (optional)"),
                )
                for field in spec.fields
            }
            for step, spec in FORMS.items()
        },
    }


CHOICES = parse_time_choices()


def _environment():
    from govflow import settings
    from govflow.config import load_config
    from govflow.deployment.workflow import Environment

    return Environment(load_config(settings.config_dir()), settings.data_dir())


def _run(step, *args):
    """Call a workflow step for this run; a stopped deployment fails the task, no retry."""
    from govflow.deployment.procedure import DeploymentStopped

    try:
        return step(_environment(), get_current_context()["run_id"], *args)
    except DeploymentStopped as stopped:
        raise AirflowFailException(str(stopped)) from None


@task
def request_forms(key: str) -> list[dict]:
    """The requests of one human step, as worked out when the deployment opened."""
    from govflow.deployment import workflow

    return _run(workflow.requests_for, key)


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
            enum=CHOICES["models"],
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
    with TaskGroup("deployment_planning", tooltip="Phase 1: steps 1-3"):

        @task
        def open_deployment() -> list[dict]:
            """Record the request and assign everyone the run will ask; returns step 1's request."""
            from govflow.deployment import workflow
            from govflow.deployment.procedure import DeploymentRequest, DeploymentStopped

            context = get_current_context()
            params = context["params"]
            request = DeploymentRequest(
                model_id=params["model_id"],
                version=params["version"],
                deployment_type=params["deployment_type"],
                environment=params["environment"],
                justification=params["justification"],
                requested_by=context["dag_run"].triggering_user_name,
                dag_run_id=context["run_id"],
            )
            try:
                return workflow.start(_environment(), request)
            except DeploymentStopped as stopped:
                raise AirflowFailException(str(stopped)) from None

        opened = open_deployment()
        plan = HITLEntryOperator.partial(
            task_id="create_deployment_plan", params=CHOICES["forms"][1], **HUMAN_STEP
        ).expand_kwargs(opened)
        risk_request = request_forms.override(task_id="request_risk_assessment")("risk_assessment")
        risk = HITLEntryOperator.partial(
            task_id="assess_deployment_risk", params=CHOICES["forms"][2], **HUMAN_STEP
        ).expand_kwargs(risk_request)

        @task
        def coordinate_stakeholders(plan_answers, risk_answers) -> bool:
            """Step 3: record the plan and the risk assessment, notify stakeholders on Slack."""
            from govflow.deployment import workflow

            notified = _run(
                workflow.coordinate_stakeholders, list(plan_answers), list(risk_answers)
            )
            deliver_outbox()
            if not notified:
                raise AirflowSkipException("an expedited deployment skips step 3")
            return notified

        coordinated = coordinate_stakeholders(plan.output, risk.output)

    with TaskGroup("preparation", tooltip="Phase 2: steps 4-6"):

        @task(trigger_rule="none_failed")
        def prepare_environment() -> list[dict]:
            """Step 4: environment, monitoring, alert thresholds, backup, logging."""
            from govflow.deployment import workflow

            return _run(workflow.check_step, 4)

        @task(trigger_rule="none_failed")
        def prepare_release_package() -> list[dict]:
            """Step 5: registered, version-tagged, artefact digest matches the registry."""
            from govflow.deployment import workflow

            return _run(workflow.check_step, 5)

        @task
        def deploy_to_staging() -> list[dict]:
            """Step 6: smoke test, performance and fairness on the validation set."""
            from govflow.deployment import workflow

            return _run(workflow.check_step, 6)

        staged = deploy_to_staging()
        coordinated >> [prepare_environment(), prepare_release_package()] >> staged

    with TaskGroup("readiness_verification", tooltip="Phase 3: steps 7-9"):

        @task
        def complete_checklist() -> list[dict]:
            """Step 7: every automatic checklist item with its evidence; the attestations."""
            from govflow.deployment import workflow

            return _run(workflow.complete_checklist)

        checked = complete_checklist()
        staged >> checked
        attestation = {
            "evidence_link": Param(
                "",
                type="string",
                title="Evidence link",
                description="URL of the evidence for the items you tick.",
            ),
            "comment": COMMENT,
        }
        compliance_requests = request_forms.override(task_id="request_compliance_verification")(
            "compliance_verification"
        )
        attested = HITLEntryOperator.partial(
            task_id="attest_checklist", multiple=True, params=attestation, **HUMAN_STEP
        ).expand_kwargs(checked)
        verified = HITLEntryOperator.partial(
            task_id="verify_compliance", multiple=True, params=attestation, **HUMAN_STEP
        ).expand_kwargs(compliance_requests)
        # Worked out while the checklist runs, so that both forms wait for answers together.
        staged >> compliance_requests
        checked >> verified

        @task(trigger_rule="none_failed")
        def review_readiness(attestations, compliance) -> list[dict]:
            """Steps 7-9: record the attestations, final review, readiness report, approvals."""
            from govflow.deployment import workflow

            requests = _run(workflow.review_readiness, list(attestations), list(compliance))
            deliver_outbox()
            return requests

        reviewed = review_readiness(attested.output, verified.output)

    with TaskGroup("deployment_approval", tooltip="Phase 4: steps 10-11"):
        approved = HITLOperator.partial(
            task_id="approve_deployment",
            options=["Approve", "Reject"],
            defaults=["Reject"],
            params={
                "comment": COMMENT,
                "conditions": Param(
                    None,
                    type=["null", "string"],
                    title="Conditions",
                    description="Conditions of your approval, one per line (optional).",
                ),
            },
            **HUMAN_STEP,
        ).expand_kwargs(reviewed)

        @task
        def document_approval(answers) -> dict:
            """Step 11: FORM-AI-DEPLOY-002 and the registry decision; a rejection stops here."""
            from govflow.deployment import workflow

            return _run(workflow.document_approval, list(answers))

        documented = document_approval(approved.output)

    with TaskGroup("deployment_execution", tooltip="Phase 5: steps 12-15"):

        @task
        def prepare_go_live() -> list[dict]:
            """Step 12: final backup verification and the on-call standing by."""
            from govflow.deployment import workflow

            return _run(workflow.check_step, 12)

        @task
        def execute_deployment() -> dict:
            """Step 13: the verified artefact is released to the phased rollout."""
            from govflow.deployment import workflow

            return _run(workflow.record_release)

        @task
        def verify_deployment() -> dict:
            """Step 14: smoke test on production logs, logging, baseline; traffic checks wait."""
            from govflow.deployment import workflow

            return _run(workflow.verify_deployment)

        @task
        def decide_go_live() -> list[dict]:
            """Step 15: GREEN, AMBER or RED; AMBER asks the model's System Owner."""
            from govflow.deployment import workflow

            return _run(workflow.decide_go_live)

        decided = decide_go_live()
        owner_choice = HITLOperator.partial(
            task_id="ask_system_owner", params={"comment": COMMENT}, **HUMAN_STEP
        ).expand_kwargs(decided)

        @task.branch(trigger_rule="none_failed")
        def follow_go_live(owner_answers) -> str:
            """GREEN and RED decide alone; AMBER follows the System Owner's choice."""
            from govflow.deployment import workflow

            return f"deployment_execution.{_run(workflow.follow_go_live, list(owner_answers))}"

        @task(outlets=[MODEL_DEPLOYED])
        def authorise_rollout() -> dict:
            """Authorised to roll out: publish govflow_model_deployed for the rollout."""
            from govflow.deployment import workflow

            extra = _run(workflow.authorise_rollout)
            get_current_context()["outlet_events"][MODEL_DEPLOYED].extra = extra
            deliver_outbox()
            return extra

        @task
        def roll_back() -> dict:
            """RED (or AMBER and the owner said so): record the rollback decision; the
            rollback itself runs in govflow_rollback."""
            from govflow.deployment import workflow

            return _run(workflow.roll_back)

        authorised = authorise_rollout()
        rolled_back = roll_back()
        rolled_back >> RollbackTrigger(
            task_id="start_rollback",
            request_task_id="deployment_execution.roll_back",
            source="go_live",
        )
        (
            documented
            >> prepare_go_live()
            >> execute_deployment()
            >> verify_deployment()
            >> decided
            >> owner_choice
        )
        follow_go_live(owner_choice.output) >> [authorised, rolled_back]

    with TaskGroup("post_deployment", tooltip="Phase 6: steps 16-20"):

        @task
        def plan_post_deployment_verification() -> dict:
            """Step 16: the first 24-72 hours on live traffic, verified during the rollout."""
            from govflow.deployment import workflow

            return _run(workflow.plan_post_deployment_verification)

        documentation_requests = request_forms.override(task_id="request_documentation_updates")(
            "documentation_updates"
        )
        registration_requests = request_forms.override(task_id="request_registration_updates")(
            "registration_updates"
        )
        documentation = HITLEntryOperator.partial(
            task_id="update_documentation", params=CHOICES["forms"][17], **HUMAN_STEP
        ).expand_kwargs(documentation_requests)
        registration = HITLEntryOperator.partial(
            task_id="update_registration", params=CHOICES["forms"][18], **HUMAN_STEP
        ).expand_kwargs(registration_requests)

        @task(trigger_rule="none_failed_min_one_success")
        def communicate_to_users(documentation_answers, registration_answers) -> list[dict]:
            """Steps 17-19: record the documentation and registration updates, release notes;
            the closure request."""
            from govflow.deployment import workflow

            sent = _run(
                workflow.communicate_to_users,
                list(documentation_answers),
                list(registration_answers),
            )
            deliver_outbox()
            return sent

        communicated = communicate_to_users(documentation.output, registration.output)
        closure = HITLEntryOperator.partial(
            task_id="close_deployment", params=CHOICES["forms"][20], **HUMAN_STEP
        ).expand_kwargs(communicated)
        verification_plan = plan_post_deployment_verification()
        documented >> [documentation_requests, registration_requests]
        authorised >> [verification_plan, documentation, registration]

    @task(trigger_rule="all_done")
    def finalise(closure_answers) -> dict:
        """Record how the deployment ended, write the final readiness report, post it."""
        from govflow.deployment import workflow

        context = get_current_context()
        states = context["ti"].get_task_states(dag_id=DAG_ID, run_ids=[context["run_id"]])
        failed = sorted(
            task_id
            for task_id, state in states.get(context["run_id"], {}).items()
            if state == "failed"
        )
        outcome = workflow.close(_environment(), context["run_id"], list(closure_answers), failed)
        deliver_outbox()
        print(f"{outcome['ref']}: {outcome['status']}, {outcome['recommendation']}")
        print(f"readiness report: {outcome['report']}")
        if outcome["reason"]:
            raise AirflowFailException(f"{outcome['ref']} {outcome['status']}: {outcome['reason']}")
        return outcome

    opened >> risk_request
    finalise(closure.output).set_upstream([rolled_back, verification_plan])


govflow_model_deployment()
