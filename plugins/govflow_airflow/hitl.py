"""Human-in-the-loop operators whose assignees are known only when the run starts.

`assigned_users` and `response_timeout` are constructor arguments of Airflow's HITL
operators, fixed when the DAG file is parsed. Who must answer an incident depends on the
incident (its path in policy.yaml, the on-call rotation at that moment), so these operators
read both from the return value of an upstream task when they execute:
``{"users": [{"id": "carol", "name": "Carol Chen"}], "timeout_minutes": 15}`` under
``assignment_key`` of the dict that ``assignment_task_id`` returned; ``None`` there skips
the request. The API server then
refuses an answer from anybody else (403), admins included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import (
    HITLBranchOperator,
    HITLEntryOperator,
    HITLOperator,
)
from airflow.sdk.exceptions import AirflowSkipException


class AssignedAtRuntime(HITLOperator):
    """Assignees and response timeout taken from an upstream task's return value."""

    def __init__(self, *, assignment_task_id: str, assignment_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assignment_task_id = assignment_task_id
        self.assignment_key = assignment_key

    def execute(self, context: Any) -> Any:
        plan = context["ti"].xcom_pull(task_ids=self.assignment_task_id)
        assignment = plan[self.assignment_key]
        if assignment is None:
            # The upstream task decided nobody needs to be asked (e.g. a rollback criterion
            # fired before the stage's approval, or a rollback the System Owner requested).
            raise AirflowSkipException(
                f"{self.task_id}: {self.assignment_task_id} asks nobody ({self.assignment_key})"
            )
        if not assignment["users"]:
            raise ValueError(
                f"nobody to assign {self.task_id} to: {self.assignment_key} of "
                f"{self.assignment_task_id} names no user"
            )
        self.assigned_users = assignment["users"]
        minutes = assignment.get("timeout_minutes")
        self.response_timeout = timedelta(minutes=minutes) if minutes else None
        names = ", ".join(user["id"] for user in self.assigned_users)
        print(f"assigned to {names}; response timeout {self.response_timeout or 'none'}")
        return super().execute(context)


class AssignedBranchOperator(AssignedAtRuntime, HITLBranchOperator):
    """`HITLBranchOperator` assigned at run time. A branch operator returns the branch it
    took, so the answer itself (who chose what, or that the timeout did) is pushed as the
    XCom ``response`` for the tasks that record it."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            context["ti"].xcom_push(key="response", value=response_of(event))
        return super().execute_complete(context, event)


class AssignedEntryOperator(AssignedAtRuntime, HITLEntryOperator):
    """`HITLEntryOperator` (a form) assigned at run time."""


def response_of(event: dict[str, Any]) -> dict[str, Any]:
    """The answer in the shape of an HITL operator's XCom, JSON-able (the time as ISO text);
    ``govflow.answers.Answer.from_xcom`` decodes it. ``responded_by_user`` is None when the
    timeout answered."""
    responded_at = event.get("responded_at")
    return {
        "chosen_options": event.get("chosen_options") or [],
        "params_input": event.get("params_input") or {},
        "responded_by_user": event.get("responded_by_user"),
        "responded_at": responded_at.isoformat() if responded_at else None,
    }
