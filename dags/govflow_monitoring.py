"""
### govflow monitoring DAGs (seed 004 sections 1, 2 and 8)

One factory builds the scheduled monitoring DAGs from the runs policy.yaml schedules
(`monitoring.scheduled_runs`, read when the file is parsed):
**govflow_monitoring_daily** (`0 2 * * *`),
**govflow_monitoring_weekly** (`0 3 * * 0`, bi-weekly checks on even ISO weeks) and
**govflow_monitoring_monthly** (`0 4 1 * *`), all UTC, plus **govflow_monitoring_on_demand**,
the seed's "Analyze Now" (manual trigger with typed Params).

The monthly run also reviews every model's baseline against the previous month's records
(age, drift trend, keep / refresh / reset), stores the review and posts it.

Each run selects the analyses due for every model on that cadence per seed 004 table 1.1
(fairness daily for every tier), maps one task over them, and publishes the summaries as an
event of the Asset `govflow_monitoring_results`, which the alerting and incident DAGs consume.
After the results are published, one task renders evidently's HTML drift report of every
analysis (evidently is imported once, and no alert waits for a report). Every analysis
writes one monitoring record keyed by the DAG run, so retries and cleared
tasks rewrite that record instead of adding another. A model whose data is bad gets a failed
record with named data-quality findings; the other models' analyses go on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, Param, dag, get_current_context, task

MONITORING_RESULTS = Asset(name="govflow_monitoring_results")
CHECKS = ["data_drift", "fairness_drift", "model_drift", "explanation_drift"]
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=1)}


@task(map_index_template="{{ analysis_label }}")
def analyse_model(target: dict, dag_id: str) -> dict:
    """Analyse one model over its window, record the result (idempotent per DAG run), open
    the incidents it calls for and send its CRITICAL alerts at once."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import alert_and_open_incidents, run_monitoring
    from govflow_airflow.connections import deliver_now

    context = get_current_context()
    config = load_config(settings.config_dir())
    context["analysis_label"] = f"{target['model_id']} ({target['cadence']})"  # type: ignore[typeddict-unknown-key]
    run_id = context["run_id"]
    summary = run_monitoring(
        target["model_id"],
        start=datetime.fromisoformat(target["start"]),
        end=datetime.fromisoformat(target["end"]),
        checks=target["checks"],
        cadence=target["cadence"],
        run_key=f"{dag_id}/{run_id}/{target['cadence']}",
        config=config,
        data_dir=settings.data_dir(),
        dag_id=dag_id,
        dag_run_id=run_id,
    )
    print(
        f"{summary.model_id}: {summary.status}, severity {summary.severity}, "
        f"composite {summary.composite_score}, report {summary.report_path}"
    )
    response = alert_and_open_incidents(summary.run_id, config=config)
    deliver_now(response["send_now"])
    if response["incidents"]:
        print(f"  incidents: {', '.join(response['incidents'])}")
    for finding in summary.notable:
        print(
            f"  {finding['severity']:<8} {finding['check_type']}/{finding['metric']} "
            f"{finding['subject']} = {finding['value']} {finding['message']}"
        )
    return summary.to_dict()


@task(trigger_rule="all_done")
def render_drift_reports(summaries: list) -> dict:
    """evidently's HTML drift report of every analysis, rendered in one process."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import render_reports

    written = render_reports(
        [s["run_id"] for s in summaries if s],
        config=load_config(settings.config_dir()),
        data_dir=settings.data_dir(),
    )
    for run_id, path in written.items():
        print(f"record {run_id}: drift report {path}")
    return {str(run_id): path for run_id, path in written.items()}


@task(trigger_rule="all_done")
def select_incident_responses(summaries: list) -> list[dict]:
    """One govflow_incident_response run per incident this run's records opened."""
    from govflow.flows.incident_response import incident_responses_to_start

    responses = incident_responses_to_start([s["run_id"] for s in summaries if s])
    for response in responses:
        print(f"starting {response['trigger_run_id']}")
    return responses


def start_incident_responses(summaries):
    """Trigger the response runs; an existing run (a retry, a second trigger) is kept."""
    return TriggerDagRunOperator.partial(
        task_id="start_incident_responses",
        trigger_dag_id="govflow_incident_response",
        skip_when_already_exists=True,
    ).expand_kwargs(select_incident_responses(summaries))


@task(outlets=[MONITORING_RESULTS], trigger_rule="all_done")
def publish_results(summaries: list, dag_id: str) -> dict:
    """Publish what every analysis found as one Asset event (failed analyses are absent) and
    put the alerts its findings call for in the outbox, which govflow_alert_delivery sends."""
    received = [s for s in summaries if s]
    extra = {
        "dag_id": dag_id,
        "run_id": get_current_context()["run_id"],
        "runs": [
            {
                "model_id": s["model_id"],
                "run_id": s["run_id"],
                "severity": s["severity"],
                "status": s["status"],
            }
            for s in received
        ],
    }
    get_current_context()["outlet_events"][MONITORING_RESULTS].extra = extra
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import build_warning_digests, route_runs

    config = load_config(settings.config_dir())
    routed = route_runs([s["run_id"] for s in received], config=config)
    digests = build_warning_digests(config=config)
    print(f"alerts put in the outbox: {routed or 'none'}; warning digests built: {digests}")
    extra["alerts"] = routed
    for summary in received:
        print(
            f"{summary['model_id']:<24} {summary['status']:<10} {summary['severity']:<9} "
            f"composite={summary['composite_score']} report={summary['report_path']}"
        )
    return extra


def build_scheduled_monitoring_dag(dag_id: str, cron: str, title: str):
    @dag(
        dag_id=dag_id,
        schedule=cron,
        start_date=datetime(2025, 3, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        doc_md=__doc__,
        description=title,
        tags=["govflow", "monitoring"],
    )
    def scheduled_monitoring():
        @task
        def select_due_analyses() -> list[dict]:
            """The analyses due for each model on this run, per seed 004 table 1.1."""
            from govflow import settings
            from govflow.config import load_config
            from govflow.monitoring.cadence import due_targets

            context = get_current_context()
            run_time = context.get("data_interval_end") or context["logical_date"]
            targets = due_targets(load_config(settings.config_dir()), dag_id, run_time)
            for target in targets:
                print(
                    f"due: {target.model_id} ({target.risk_tier}) {target.cadence} "
                    f"{', '.join(target.checks)} over [{target.start}, {target.end})"
                )
            return [target.to_dict() for target in targets]

        summaries = analyse_model.partial(dag_id=dag_id).expand(target=select_due_analyses())
        published = publish_results(summaries, dag_id=dag_id)
        published >> render_drift_reports(summaries)
        start_incident_responses(summaries)
        if dag_id == "govflow_monitoring_monthly":
            published >> review_baselines()

    return scheduled_monitoring()


@task(trigger_rule="all_done")
def review_baselines() -> list:
    """Seed 004 section 1.2: review every model's baseline against last month's records."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import review_baselines as review
    from govflow.monitoring.cadence import cadence_window

    context = get_current_context()
    run_time = context.get("data_interval_end") or context["logical_date"]
    start, end = cadence_window("monthly", run_time)
    posted = review(
        start=start,
        end=end,
        run_key=f"govflow_monitoring_monthly/{context['run_id']}/review",
        config=load_config(settings.config_dir()),
        dag_id="govflow_monitoring_monthly",
        dag_run_id=context["run_id"],
    )
    for item in posted:
        print(item["text"])
    return posted


def scheduled_runs() -> dict[str, tuple[str, str]]:
    """DAG id -> (cron, title) of every run policy.yaml schedules (seed 004 section 1.2).

    Read from config/ when the file is parsed (a file read, no connection): a new run or a
    changed time is a policy change, and a policy that does not validate fails the import
    loudly in the UI instead of leaving the old schedule running.
    """
    from govflow import settings
    from govflow.config import load_config
    from govflow.monitoring.cadence import RUN_OF_DAG

    runs = load_config(settings.config_dir()).policy.monitoring.scheduled_runs
    return {dag_id: (runs[run].cron, runs[run].description) for dag_id, run in RUN_OF_DAG.items()}


for _dag_id, (_cron, _title) in scheduled_runs().items():
    build_scheduled_monitoring_dag(_dag_id, _cron, _title)


@dag(
    dag_id="govflow_monitoring_on_demand",
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
            "2025-03-28T00:00:00+00:00",
            type="string",
            format="date-time",
            title="Window start",
            description="Start of the analysed window (inclusive, UTC).",
        ),
        "window_end": Param(
            "2025-03-29T00:00:00+00:00",
            type="string",
            format="date-time",
            title="Window end",
            description="End of the analysed window (exclusive, UTC).",
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
    @task
    def resolve_request() -> list[dict]:
        """Check the requested models and checks and turn them into analysis targets."""
        from govflow import settings
        from govflow.config import load_config
        from govflow.monitoring.analysis import validate_checks

        params = get_current_context()["params"]
        config = load_config(settings.config_dir())
        unknown = [m for m in params["model_ids"] if m not in config.models.ids()]
        if unknown:
            raise ValueError(f"unknown model ids {unknown}; models.yaml has {config.models.ids()}")
        checks = list(validate_checks(params["checks"]))
        start = datetime.fromisoformat(params["window_start"])
        end = datetime.fromisoformat(params["window_end"])
        if end <= start:
            raise ValueError(f"window_end {end} must be after window_start {start}")
        print(f"on-demand analysis requested: {params['reason'] or '(no reason given)'}")
        return [
            {
                "model_id": model_id,
                "risk_tier": config.models.get(model_id).risk_tier,
                "cadence": "on_demand",
                "checks": checks,
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
            for model_id in params["model_ids"]
        ]

    dag_id = "govflow_monitoring_on_demand"
    summaries = analyse_model.partial(dag_id=dag_id).expand(target=resolve_request())
    publish_results(summaries, dag_id=dag_id) >> render_drift_reports(summaries)
    start_incident_responses(summaries)


govflow_monitoring_on_demand()
