"""govflow_airflow.scheduler_fixes on Airflow's own scheduler code: the stale ``success`` of a
deferring worker's exit, read after the task resumed, no longer fails the task; a task that
was not deferred and is found queued or running after its worker ended is still failed.

The task instances are a real run's (govflow_audit_verification through ``dag.test()``, in
the Airflow metadata DB of the test session), put back as the scheduler would find them."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.executors.base_executor import BaseExecutor
from airflow.executors.local_executor import LocalExecutor
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.taskinstance import TaskInstance
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select

from govflow import store
from govflow_airflow.scheduler_fixes import tolerate_stale_defer_exit_events

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "govflow_audit_verification"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> str:
    from airflow.dag_processing.dagbag import DagBag

    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'govflow.db'}"
    store.upgrade(url)
    dag = DagBag(dag_folder=str(DAGS_DIR / f"{DAG_ID}.py")).get_dag(DAG_ID)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("GOVFLOW_DB_URL", url)
        run = dag.test()
    assert run.state == "success"
    return run.run_id


def _state_after_a_stale_success(run_id: str, state: str, next_method: str | None) -> str:
    """The task instance's state once the scheduler has read its worker's ``success`` while
    the task instance stood at ``state`` (resuming from a deferral when ``next_method``)."""
    from airflow import settings

    session = settings.Session()
    try:
        ti = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).first()
        ti.state, ti.next_method = state, next_method
        session.commit()
        executor = LocalExecutor()
        executor.event_buffer[ti.key] = (TaskInstanceState.SUCCESS, None)
        SchedulerJobRunner.process_executor_events(
            executor=executor,
            job_id=ti.queued_by_job_id,
            scheduler_dag_bag=DBDagBag(),
            session=session,
        )
        session.commit()
        session.refresh(ti)
        return str(ti.state)
    finally:
        session.close()


@pytest.fixture
def fixed_scheduler(monkeypatch):
    monkeypatch.setattr(BaseExecutor, "has_task", BaseExecutor.has_task)  # undone after
    tolerate_stale_defer_exit_events()
    tolerate_stale_defer_exit_events()  # twice: applied once


@pytest.mark.parametrize("state", ["queued", "running"])
def test_a_task_resuming_from_a_deferral_is_not_failed_by_its_stale_exit_event(
    finished_run, fixed_scheduler, state
):
    assert _state_after_a_stale_success(finished_run, state, "execute_complete") == state


def test_without_the_fix_airflow_fails_the_queued_resuming_task(finished_run, monkeypatch):
    monkeypatch.setattr(BaseExecutor, "has_task", BaseExecutor.has_task)
    after = _state_after_a_stale_success(finished_run, "queued", "execute_complete")
    assert after in ("failed", "up_for_retry")


def test_a_queued_task_that_was_not_deferred_is_still_failed(finished_run, fixed_scheduler):
    after = _state_after_a_stale_success(finished_run, "queued", None)
    assert after in ("failed", "up_for_retry")
