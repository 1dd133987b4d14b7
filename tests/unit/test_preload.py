"""The task-forking processes' preload (govflow_airflow.preload): govflow's task modules
imported once, before any task is forked (issue 18)."""

from __future__ import annotations

from govflow_airflow import preload


def test_the_preload_imports_every_task_module_and_then_runs_airflow(monkeypatch):
    called = []
    monkeypatch.setattr(
        preload, "tolerate_stale_defer_exit_events", lambda: called.append("scheduler fix")
    )
    monkeypatch.setattr(preload, "preload_task_modules", lambda: called.append("modules"))
    monkeypatch.setattr("airflow.__main__.main", lambda: called.append("airflow"))
    preload.main()
    assert called == ["scheduler fix", "modules", "airflow"]
