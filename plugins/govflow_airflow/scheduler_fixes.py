"""A fix for Airflow 3.3's scheduler that govflow's approvals need, applied by the process
that runs it (``python -P -m govflow_airflow.preload scheduler``).

A task waiting for a person (HITL) defers: its worker process exits and the executor reports
that exit as ``success``. When the answer arrives at once, the trigger fires and the
scheduler queues the task to resume before it has read that stale ``success``; it then finds
the task queued (or already running) under the same try, takes the event for a task killed
from outside and fails it. Airflow 3.3.2 forgives the stale event only while the task is
``scheduled`` (apache/airflow#66374); the ``queued`` and ``running`` cases are
apache/airflow#67287, #71580 and #72716, fixed upstream by the same rule for those states
(#68741, #72767). Seen here: a compliance officer's rejection given the second her
approval task re-deferred failed the task, and the deployment ended "blocked: task failed
before the deployment recorded a reason" instead of rejected with her reason.

The rule: a task instance that is resuming from a deferral (``next_method`` set) while
scheduled, queued or running is the executor's to run again, not a task killed outside.
A resumed attempt that is really killed while running is then failed by the scheduler's
heartbeat check instead of at once, as every other running task is.
"""

from __future__ import annotations

from typing import Any

RESUMING_STATES = ("scheduled", "queued", "running")


def resuming_from_deferral(task_instance: Any) -> bool:
    """The task instance was deferred and is on its way back to a worker."""
    return task_instance.next_method is not None and task_instance.state in RESUMING_STATES


def tolerate_stale_defer_exit_events() -> None:
    """Make the scheduler treat a task resuming from a deferral as one its executor has
    (``BaseExecutor.has_task``, which the scheduler asks only when an executor event finds
    the task instance still scheduled, queued or running under the same try). Idempotent."""
    from airflow.executors.base_executor import BaseExecutor

    has_task = BaseExecutor.has_task
    if getattr(has_task, "tolerates_resumed_deferrals", False):
        return

    def has_task_or_resumes(self: BaseExecutor, task_instance: Any) -> bool:
        return has_task(self, task_instance) or resuming_from_deferral(task_instance)

    has_task_or_resumes.tolerates_resumed_deferrals = True  # type: ignore[attr-defined]
    BaseExecutor.has_task = has_task_or_resumes  # type: ignore[method-assign]
