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

It also runs one tiny explanation (:func:`warm_explanations`): shap compiles its numba
kernels on a process's first explanation, about 4 s of CPU that every task explaining a
model would pay again (a weekly run explains every high-risk model, issue 18). Compiled
here, every fork inherits them. ``GOVFLOW_PRELOAD_EXPLANATIONS=0`` skips it (the test
suite's Airflow stacks, which explain no model in a task, start faster without it).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

WARM_EXPLANATIONS_ENV = "GOVFLOW_PRELOAD_EXPLANATIONS"


def preload_task_modules() -> None:
    """Import every module of ``govflow.flows``, the package the DAGs' tasks call."""
    import govflow.flows

    for module in pkgutil.iter_modules(govflow.flows.__path__):
        importlib.import_module(f"govflow.flows.{module.name}")


def warm_explanations() -> tuple[float, ...]:
    """One permutation-SHAP explanation of a two-feature model on eight rows, through
    govflow's own path (the same masker and explainer as every explanation-drift check):
    its mean |SHAP| per feature."""
    import numpy as np
    import pandas as pd

    from govflow.metrics.explanation_drift import explanation_background, feature_attributions

    class Difference:
        def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
            score = 1 / (1 + np.exp(-(rows["a"] - rows["b"]).to_numpy(dtype=float) / 8))
            return np.column_stack([1 - score, score])

    frame = pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8.0)[::-1]})
    background = explanation_background(frame, features=["a", "b"])
    return feature_attributions(
        Difference(), frame, background=background, features=["a", "b"]
    ).mean_abs_shap


def main() -> None:
    preload_task_modules()
    if os.environ.get(WARM_EXPLANATIONS_ENV, "1") != "0":
        warm_explanations()
    from airflow.__main__ import main as airflow_main

    airflow_main()


if __name__ == "__main__":
    main()
