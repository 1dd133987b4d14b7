"""
### govflow monitoring DAGs (seed 004 sections 1, 2 and 8)

One factory builds the scheduled monitoring DAGs from the runs policy.yaml schedules
(`monitoring.scheduled_runs`, read from the YAML when the file is parsed, without govflow):
**govflow_monitoring_daily** (`0 2 * * *`),
**govflow_monitoring_weekly** (`0 3 * * 0`, bi-weekly checks on even ISO weeks) and
**govflow_monitoring_monthly** (`0 4 1 * *`), all UTC, plus **govflow_monitoring_on_demand**,
the seed's "Analyze Now" (manual trigger with typed Params; without a window, each model's
newest complete UTC day of logged predictions, found when the run starts).

The monthly run also reviews every model's baseline against the previous month's records
(age, drift trend, keep / refresh / reset), stores the review and posts it.

Each run selects the analyses due for every model on that cadence per seed 004 table 1.1
(fairness daily for every tier), maps one task over batches of them
(`monitoring.models_per_task` models each, analysed one after the other, each on its own:
one model's failure is retried after the others and never fails or hides them), and
publishes the summaries as an event of the Asset `govflow_monitoring_results`, which the
alerting and incident DAGs consume.
After the results are published, one task renders evidently's HTML drift report where
someone will read it: every analysis with a finding above INFO, and every on-demand one
(evidently is imported once, and no alert waits for a report); the dashboard draws any
other record's on request. Every analysis
writes one monitoring record keyed by the DAG run, so retries and cleared
tasks rewrite that record instead of adding another. A model whose data is bad gets a failed
record with named data-quality findings; the other models' analyses go on. An analysis whose
task fails after its retries gets a failed record too, #engineering one alert at once, and
the run ends failed naming the model (`confirm_every_analysis_recorded`). A run whose
selection failed (an Analyze Now request refused) analysed nothing: it fails on the selection
and publishes no event (`publish_results` skipped), so no consumer reads an empty result as
a run that found nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from govflow_airflow.connections import deliver_now
from govflow_airflow.outcomes import airflow_outcomes
from govflow_airflow.parse_time import scheduled_run

MONITORING_RESULTS = Asset(name="govflow_monitoring_results")
ON_DEMAND_DAG = "govflow_monitoring_on_demand"
CHECKS = ["data_drift", "fairness_drift", "model_drift", "explanation_drift"]
NOTHING_SELECTED = "no analysis was selected (the selecting task failed): nothing to publish"
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=1)}
SCHEDULED: dict[str, Any] = {
    "start_date": datetime(2025, 3, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "doc_md": __doc__,
    "tags": ["govflow", "monitoring"],
}
# DAG id -> run of policy.yaml monitoring.scheduled_runs (govflow.monitoring.cadence.RUN_OF_DAG).
SCHEDULED_RUNS = {
    "govflow_monitoring_daily": "daily_drift_analysis",
    "govflow_monitoring_weekly": "weekly_deep_analysis",
    "govflow_monitoring_monthly": "monthly_baseline_review",
}


def _run_time(context) -> datetime:
    return context.get("data_interval_end") or context["logical_date"]


def _summaries(batches) -> list:
    """The analyses' summaries, batch after batch (a failed batch task hands on none)."""
    return [summary for batch in batches if batch for summary in batch]


@task(map_index_template="{{ analysis_label }}")
def analyse_models(targets: list, dag_id: str) -> list:
    """Analyse a batch of models one after the other, each on its own: record its result
    (idempotent per DAG run), open the incidents it calls for and send its CRITICAL alerts
    at once; a model that fails is retried after the others and never stops them."""
    from govflow.flows.monitoring import analyse_batch, batch_label

    context = get_current_context()
    context["analysis_label"] = batch_label(targets)  # type: ignore[typeddict-unknown-key]
    with airflow_outcomes():
        return analyse_batch(
            targets, dag_id=dag_id, dag_run=context["dag_run"], deliver=deliver_now
        )


@task(trigger_rule="all_done")
def render_drift_reports(batches: list, dag_id: str) -> dict:
    """evidently's HTML drift report of the analyses someone will read (a finding above
    INFO; every analysis of Analyze Now), rendered in one process after the alerts."""
    from govflow.flows.monitoring import render_drift_reports as render

    with airflow_outcomes():
        return render(_summaries(batches), every=dag_id == ON_DEMAND_DAG)


@task(trigger_rule="all_done")
def select_incident_responses(batches: list) -> list[dict]:
    """One govflow_incident_response run per incident this run's records opened."""
    from govflow.flows.incident_response import incident_responses_to_start

    return incident_responses_to_start([s["run_id"] for s in _summaries(batches)])


def start_incident_responses(batches):
    """Trigger the response runs; an existing run (a retry, a second trigger) is kept."""
    return TriggerDagRunOperator.partial(
        task_id="start_incident_responses",
        trigger_dag_id="govflow_incident_response",
        skip_when_already_exists=True,
    ).expand_kwargs(select_incident_responses(batches))


@task(outlets=[MONITORING_RESULTS], trigger_rule="all_done")
def publish_results(batches: list, selected, dag_id: str, run_id=None, outlet_events=None) -> dict:
    """Publish what every analysis found as one Asset event (failed analyses are absent) and
    put the alerts its findings call for in the outbox, which govflow_alert_delivery sends.
    A run whose selection failed (``selected`` None) analysed nothing and publishes no event."""
    from govflow.flows.monitoring import publish_results as publish

    if selected is None:
        raise AirflowSkipException(NOTHING_SELECTED)
    with airflow_outcomes():
        extra = publish(_summaries(batches), dag_id=dag_id, dag_run_id=run_id)
    outlet_events[MONITORING_RESULTS].extra = extra
    return extra


@task
def select_due_analyses(dag_id: str) -> list[list[dict]]:
    """The analyses due for each model on this run, per seed 004 table 1.1, in the batches
    of models the analysis tasks take (policy.yaml monitoring.models_per_task)."""
    from govflow.flows.monitoring import select_due_analyses as select

    with airflow_outcomes():
        return select(dag_id, _run_time(get_current_context()))


@task(trigger_rule="all_done")
def review_baselines(dag_id: str, run_id=None) -> list:
    """Seed 004 section 1.2: review every model's baseline against last month's records."""
    from govflow.flows.monitoring import review_last_month

    run_time = _run_time(get_current_context())
    with airflow_outcomes():
        return review_last_month(run_time, dag_id=dag_id, dag_run_id=run_id)


@task(trigger_rule="all_done")
def confirm_every_analysis_recorded(batches: list, dag_id: str, run_id=None) -> list:
    """Fail the run, naming them, when an analysis left no record (it failed after its
    retries): each gets a failed record and #engineering one alert at once. A selection
    that failed fails it too, once, in one line."""
    from govflow.flows import monitoring

    with airflow_outcomes():
        targets = monitoring.selected_targets(batches)
        missing = monitoring.record_missing_analyses(targets, dag_id=dag_id, dag_run_id=run_id)
        deliver_now(missing["send_now"])
        monitoring.refuse_unrecorded(missing)
    return missing["models"]


def analyse_and_publish(dag_id, selected):
    """Analyse every target (one task per batch ``selected`` gives), publish the results,
    then render the reports and start the incident responses; the run fails if an analysis
    left no record. Returns the publishing task."""
    batches = analyse_models.partial(dag_id=dag_id).expand(targets=selected)
    batches >> confirm_every_analysis_recorded(selected, dag_id=dag_id)
    published = publish_results(batches, selected, dag_id=dag_id)
    published >> render_drift_reports(batches, dag_id=dag_id)
    start_incident_responses(batches)
    return published


def build_scheduled_monitoring_dag(dag_id: str, run: str) -> DAG:
    """One scheduled monitoring DAG: the run of policy.yaml at its cron, in UTC."""
    schedule = scheduled_run(run)
    with DAG(
        dag_id, schedule=schedule["cron"], description=schedule["description"], **SCHEDULED
    ) as scheduled:
        published = analyse_and_publish(dag_id, select_due_analyses(dag_id))
        if dag_id == "govflow_monitoring_monthly":
            published >> review_baselines(dag_id)
    return scheduled


for _dag_id, _run in SCHEDULED_RUNS.items():
    build_scheduled_monitoring_dag(_dag_id, _run)


@task
def resolve_request(params=None) -> list[list[dict]]:
    """Check the requested models, checks and window and turn them into analysis targets,
    batched as the scheduled runs batch them (no window: each model's newest complete day of
    logs); an unknown model or check, or a window that is none or not over, fails once."""
    from govflow.flows.monitoring import resolve_on_demand_request

    with airflow_outcomes():
        return resolve_on_demand_request(params)


@dag(
    dag_id=ON_DEMAND_DAG,
    schedule=None,
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    description="Analyze Now: on-demand drift analysis (seed 004 section 1.3)",
    tags=["govflow", "monitoring"],
    params={
        "model_ids": Param(
            ["credit_approval"],
            type="array",
            items={"type": "string"},
            minItems=1,
            title="Models",
            description="Model ids from models.yaml.",
        ),
        "checks": Param(
            CHECKS,
            type="array",
            items={"type": "string", "enum": CHECKS},
            minItems=1,
            title="Checks",
            description="Which drift checks to run; the data-quality gate always runs.",
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window start",
            description=(
                "Start of the analysed window (inclusive, UTC); empty: each model's newest "
                "complete day of logged predictions."
            ),
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window end",
            description=(
                "End of the analysed window (exclusive, UTC), which has passed; empty: a day "
                "after the start."
            ),
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="Why: after a deployment, before a board review, after a pipeline change.",
        ),
    },
)
def govflow_monitoring_on_demand():
    analyse_and_publish(ON_DEMAND_DAG, resolve_request())


govflow_monitoring_on_demand()
