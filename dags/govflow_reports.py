"""
### govflow_report_executive, _compliance, _incident (issue 15 item 3; seed 004 sections 5, 11)

The reports of policy.yaml `external_reporting`, drawn from govflow's records only (the same
records give the same report), the same as `govflow report executive|compliance|incident`:

- **govflow_report_executive**, at 06:00 UTC on the 1st of each month: the monthly drift
  summary and incidents of the month before (Param `month` to draw another one).
- **govflow_report_compliance**, at 06:30 UTC on the first day of each quarter: the compliance
  report of the quarter before, along seed 004's EU AI Act table (Param `quarter`).
- **govflow_report_incident**, on demand: the Art. 73 serious-incident report of the incident
  named in the form, as of the run's time, with the deadline that applies (Param `gravity`).

Each report is written under the data directory as Markdown, HTML and PDF
(`reports/executive/2025-03.md|html|pdf`, `reports/compliance/2025Q1.md|html|pdf`,
`reports/incidents/INC-...-initial.md|html|pdf`), each file's path and sha256 an audit
event (`govflow audit query --action 'report.*'`), and a short summary naming the report
goes to Slack through the alert outbox (govflow_alert_delivery sends it, retrying through
an outage). A retried or cleared task draws the same report:
nothing is audited or posted twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes

COMMON: dict[str, Any] = {
    "start_date": datetime(2025, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {"retries": 2, "retry_delay": timedelta(minutes=5)},
    "doc_md": __doc__,
    "tags": ["govflow", "reports"],
}


@task
def draw_executive_summary(params=None, dag_run=None) -> dict:
    """The month's executive summary: kept, audited, its summary queued for Slack."""
    from govflow.flows.reports import scheduled_executive_report

    with airflow_outcomes():
        return scheduled_executive_report(dag_run.run_after, params["month"])


@task
def draw_compliance_report(params=None, dag_run=None) -> dict:
    """The quarter's compliance report: kept, audited, its summary queued for Slack."""
    from govflow.flows.reports import scheduled_compliance_report

    with airflow_outcomes():
        return scheduled_compliance_report(dag_run.run_after, params["quarter"])


@task
def draw_incident_report(params=None, dag_run=None) -> dict:
    """The incident's Art. 73 report as of the run: kept, audited, summary queued for Slack."""
    from govflow.flows.reports import requested_incident_report

    with airflow_outcomes():
        return requested_incident_report(dict(params), run_after=dag_run.run_after)


@dag(
    dag_id="govflow_report_executive",
    schedule="0 6 1 * *",
    params={
        "month": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2})?$",
            title="Month",
            description="YYYY-MM, one that has begun; empty: the month before the run.",
        ),
    },
    **COMMON,
)
def govflow_report_executive():
    draw_executive_summary()


@dag(
    dag_id="govflow_report_compliance",
    schedule="30 6 1 1,4,7,10 *",
    params={
        "quarter": Param(
            "",
            type="string",
            pattern=r"^(\d{4}Q[1-4])?$",
            title="Quarter",
            description="YYYYQn (2025Q1), one that has begun; empty: the quarter before the run.",
        ),
    },
    **COMMON,
)
def govflow_report_compliance():
    draw_compliance_report()


@dag(
    dag_id="govflow_report_incident",
    schedule=None,
    params={
        "incident_ref": Param(
            type="string",
            pattern=r"^INC-\d{4}-\d+$",
            title="Incident",
            description="Required: the incident's reference, INC-YYYY-NNNN.",
        ),
        "gravity": Param(
            "standard",
            type="string",
            enum=["standard", "death", "widespread"],
            title="Gravity (Art. 73 deadline)",
            description="standard: 15 days; death: 10 days, a death may be involved; "
            "widespread: 2 days, widespread infringement or critical-infrastructure disruption.",
        ),
    },
    **COMMON,
)
def govflow_report_incident():
    draw_incident_report()


govflow_report_executive()
govflow_report_compliance()
govflow_report_incident()
