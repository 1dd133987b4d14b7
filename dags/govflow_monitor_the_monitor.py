"""
### govflow_monitor_the_monitor (seed 004 section 8)

Every hour: for each model and cadence, the newest scheduled analysis more than 12 hours
old must have left a completed monitoring record. Each model that has none is reported to
the engineering channel (#engineering), once per missed window, through the alert outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from govflow_airflow.outcomes import airflow_outcomes


@dag(
    dag_id="govflow_monitor_the_monitor",
    schedule="@hourly",
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
    tags=["govflow", "monitoring"],
)
def govflow_monitor_the_monitor():
    @task
    def alert_overdue_analyses() -> list[dict]:
        """Find models with no completed analysis 12 hours past their cadence and alert."""
        from govflow.flows.watchdog import alert_overdue_analyses as alert_overdue

        context = get_current_context()
        with airflow_outcomes():
            return alert_overdue(context.get("data_interval_end") or context["logical_date"])

    alert_overdue_analyses()


govflow_monitor_the_monitor()
