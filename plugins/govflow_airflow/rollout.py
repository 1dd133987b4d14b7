"""Operators of the phased rollout: a sensor that watches a stage, and the rollback trigger.

``StageWatchSensor`` checks the rollback criteria of a running stage every poke until one
fails or the stage has lasted its duration, and returns what it found. Short (compressed)
stages poke in place; stages of days reschedule, so no worker slot waits for two weeks.

``RollbackTrigger`` starts ``govflow_rollback`` when the task it reads found rollback
criteria (or a person chose to roll back), and is skipped otherwise. The run id is derived
from the deployment, so a retry or a second path to the same rollback starts one run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSkipException

ROLLBACK_DAG_ID = "govflow_rollback"
# A stage shorter than this is watched by one task that pokes in place.
POKE_IN_PLACE_SECONDS = 900


class StageWatchSensor(BaseSensorOperator):
    """Watch stage ``stage`` of the rollout planned by ``plan_task_id``."""

    def __init__(
        self, *, stage: str, plan_task_id: str, stage_seconds: float, **kwargs: Any
    ) -> None:
        in_place = stage_seconds <= POKE_IN_PLACE_SECONDS
        kwargs.setdefault("mode", "poke" if in_place else "reschedule")
        # The stage's minimum duration plus as long again: a stage the sensor cannot finish
        # in that time (the store unreachable, say) fails loudly instead of waiting forever.
        kwargs.setdefault("timeout", timedelta(seconds=2 * stage_seconds + 600))
        super().__init__(**kwargs)
        self.stage = stage
        self.plan_task_id = plan_task_id

    def poke(self, context: Any) -> PokeReturnValue | bool:
        from govflow.flows.rollout import watch_stage

        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id)
        seen = watch_stage(plan["deployment_ref"], self.stage)
        if seen["rollback"] or seen["over"]:
            return PokeReturnValue(is_done=True, xcom_value=seen)
        return False


class RollbackTrigger(TriggerDagRunOperator):
    """Start govflow_rollback if the dict ``request_task_id`` returned asks for it
    (``{"rollback": [criteria...], "deployment_ref", "model_id", "reason"}``, optionally
    ``requested_by`` and ``incident_ref``; an empty deployment_ref rolls back the deployment
    the model's route serves)."""

    def __init__(self, *, request_task_id: str, source: str = "rollout", **kwargs: Any) -> None:
        super().__init__(trigger_dag_id=ROLLBACK_DAG_ID, skip_when_already_exists=True, **kwargs)
        self.request_task_id = request_task_id
        self.source = source

    def execute(self, context: Any) -> Any:
        request = context["ti"].xcom_pull(task_ids=self.request_task_id) or {}
        if not request.get("rollback"):
            raise AirflowSkipException(f"{self.request_task_id} asked for no rollback")
        self.conf = {
            "model_id": request["model_id"],
            "deployment_ref": request["deployment_ref"],
            "reason": request["reason"],
            "source": self.source,
            "criteria": request["rollback"],
            "requested_by": request.get("requested_by", ""),
            "incident_ref": request.get("incident_ref", ""),
        }
        key = request["deployment_ref"] or request.get("incident_ref") or request["model_id"]
        self.trigger_run_id = f"rollback__{key}"
        print(f"starting {self.trigger_run_id}: {request['reason']}")
        return super().execute(context)
