"""The trigger of govflow_risk_acceptance from a response run's "Accept risk" containment.

``unended_risk_acceptance_runs`` asks Airflow which earlier runs may still file a request.
``RiskAcceptanceTrigger`` starts the run the containment task chose (one per response run,
so a retry starts nothing new, while a later response run can start its own once the earlier
request has ended), and is skipped, saying why, when it chose none: a request is pending or
in force, or an earlier run may still file one.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowSkipException

RISK_ACCEPTANCE_DAG_ID = "govflow_risk_acceptance"
# Of a govflow_risk_acceptance run that may still file a request.
ACTIVE_STATES = ["queued", "running"]


def unended_risk_acceptance_runs(ti: Any, run_ids: list[str]) -> list[str]:
    """Those of the govflow_risk_acceptance runs ``run_ids`` that Airflow has not ended
    (queued or running: they may still file a request); ids of no run are left out."""
    return [
        run_id
        for run_id in run_ids
        if ti.get_dr_count(RISK_ACCEPTANCE_DAG_ID, run_ids=[run_id], states=ACTIVE_STATES)
    ]


class RiskAcceptanceTrigger(TriggerDagRunOperator):
    """Start govflow_risk_acceptance as the dict ``request_task_id`` returned says
    (``{"ref", "risk_acceptance_run_id", "message"}``; no run id: start nothing)."""

    def __init__(self, *, request_task_id: str, **kwargs: Any) -> None:
        super().__init__(
            trigger_dag_id=RISK_ACCEPTANCE_DAG_ID, skip_when_already_exists=True, **kwargs
        )
        self.request_task_id = request_task_id

    def execute(self, context: Any) -> Any:
        request = context["ti"].xcom_pull(task_ids=self.request_task_id) or {}
        if not request.get("risk_acceptance_run_id"):
            raise AirflowSkipException(
                request.get("message") or f"{self.request_task_id} started no risk acceptance"
            )
        self.trigger_run_id = request["risk_acceptance_run_id"]
        self.conf = {"incident_ref": request["ref"]}
        print(request["message"])
        return super().execute(context)
