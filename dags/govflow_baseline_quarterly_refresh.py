"""
### govflow_baseline_quarterly_refresh (seed 004 section 4.2, "Quarterly review")

At 05:00 UTC on the first day of each quarter (`0 5 1 1,4,7,10 *`, after the monthly
monitoring run and its baseline review at 04:00), one mapped task per model of models.yaml
applies the quarterly refresh rule of `govflow.baselines.management` and, when drift has
stabilised, refreshes the baseline from the last 7 days of prediction logs. No approval:
table 4.2 makes this trigger automatic (`approved_by` stays empty, the creator is
`govflow-baselines`).

The rule, in short: over the 28 days before the run, at least two scheduled data-drift
records against the active baseline, 14 days apart or more; no CRITICAL record and no
fairness-drift finding above INFO in 30 days; mean worst-feature PSI at or above the PSI
WARNING bound (drift present) and all of them within 0.05 of each other (stable). Anything
else keeps the baseline, with the first unmet condition as the reason.

Each decision is recorded once per model and quarter (audit event
`baseline.quarterly_review`): a retried task or a second run in the quarter returns it.
The decisions are published as the Asset `govflow_baselines`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, dag, task

from govflow_airflow.outcomes import airflow_outcomes

BASELINES = Asset(name="govflow_baselines")


@task
def list_models() -> list[str]:
    """Every model of models.yaml."""
    from govflow.flows.baselines import model_ids

    with airflow_outcomes():
        return model_ids()


@task(map_index_template="{{ task.op_kwargs['model_id'] }}")
def refresh_if_stabilised(model_id: str, logical_date=None, dag_run=None) -> dict:
    """Apply the quarterly rule to one model: refresh its baseline or keep it, and say why."""
    from govflow.flows.baselines import refresh_if_stabilised as refresh

    # A scheduled run reviews at its logical date (the quarter's first day, 05:00 UTC); a
    # manual run without one reviews when it was triggered.
    with airflow_outcomes():
        return refresh(model_id, logical_date or dag_run.run_after)


@task(outlets=[BASELINES])
def publish_decisions(decisions: list, outlet_events=None) -> list:
    """Publish the quarter's decisions as one event of the Asset `govflow_baselines`."""
    from govflow.flows.baselines import quarterly_event

    received = list(decisions)
    outlet_events[BASELINES].extra = quarterly_event(received)
    return received


@dag(
    dag_id="govflow_baseline_quarterly_refresh",
    schedule="0 5 1 1,4,7,10 *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
    description="Quarterly baseline refresh when drift has stabilised (seed 004 4.2)",
    tags=["govflow", "baselines"],
)
def govflow_baseline_quarterly_refresh():
    decisions = refresh_if_stabilised.expand(model_id=list_models())
    publish_decisions(decisions)


govflow_baseline_quarterly_refresh()
