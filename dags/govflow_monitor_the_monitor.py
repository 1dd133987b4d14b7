"""
### govflow_monitor_the_monitor (seed 004 section 8)

Every hour: for each model and cadence, the newest scheduled analysis more than 12 hours
old must have left a completed monitoring record. Each model that has none is reported to
the engineering channel (#engineering), once per missed window, through the alert outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, get_current_context, task


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
        from govflow import settings, store
        from govflow.config import load_config
        from govflow.monitoring.watchdog import alert_overdue

        context = get_current_context()
        now = context.get("data_interval_end") or context["logical_date"]
        config = load_config(settings.config_dir())
        store.ensure_schema()
        with store.session_scope() as session:
            overdue = alert_overdue(session, config, now)
            for item in overdue:
                print(f"OVERDUE: {item.text}")
            if not overdue:
                print(f"every model's analyses completed on time as of {now}")
            return [item.to_dict() for item in overdue]

    alert_overdue_analyses()


govflow_monitor_the_monitor()
