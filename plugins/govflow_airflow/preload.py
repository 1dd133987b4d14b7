"""``airflow`` with govflow's task modules imported first, for the processes that task
processes are forked from: the scheduler under the LocalExecutor (its workers are forked
from it) and Celery workers (issue 18 item 1: modules imported once before the fork).

Every task instance runs in a process forked from its executor's worker, which then imports
what the task calls (../shared/AIRFLOW-FACTS.md, task process model): govflow's flows bring
pandas, SQLAlchemy, evidently, great-expectations and fairlearn, 3-10 s per task on a busy
2-core machine, paid again by every task. Imported once here, every fork inherits them.

Usage: ``python -P -m govflow_airflow.preload scheduler`` or ``... celery worker``, exactly
the arguments of ``airflow``: `make airflow`, docker-compose.yaml's worker and the tests'
Airflow stacks start their task-forking processes this way.

The scheduler started this way also has the fix of ``govflow_airflow.scheduler_fixes`` (an
answer given as its approval task re-defers must not fail the task): docker-compose.yaml's
scheduler, which forks no task under Celery, is started this way for that alone.

Explanations need no warm-up here any more: they no longer go through shap, whose numba
kernels each process compiled on its first explanation (issue 18 item 3).
"""

from __future__ import annotations

import importlib
import pkgutil

from govflow_airflow.scheduler_fixes import tolerate_stale_defer_exit_events


def preload_task_modules() -> None:
    """Import every module of ``govflow.flows``, the package the DAGs' tasks call, and load
    Airflow's plugins as each task process does when it starts (1.2 CPU-s on a warm machine,
    2 s for the first task of a fresh worker: the providers' plugins import FastAPI's app
    and test-client modules)."""
    import govflow.flows

    for module in pkgutil.iter_modules(govflow.flows.__path__):
        importlib.import_module(f"govflow.flows.{module.name}")
    from airflow.sdk.plugins_manager import integrate_macros_plugins

    integrate_macros_plugins()  # cached: the task runner's own call finds the plugins loaded


def main() -> None:
    tolerate_stale_defer_exit_events()
    preload_task_modules()
    from airflow.__main__ import main as airflow_main

    airflow_main()


if __name__ == "__main__":
    main()
