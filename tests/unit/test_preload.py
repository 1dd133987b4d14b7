"""The task-forking processes' preload (govflow_airflow.preload): modules imported and shap's
kernels compiled once, before any task is forked (issue 18)."""

from __future__ import annotations

import pytest

from govflow_airflow import preload


def test_the_warm_up_explains_through_govflows_own_path_and_finds_the_symmetric_model():
    """The warm-up explains score(a - b) on rows where b = 7 - a: both features move the
    score by as much, so permutation SHAP gives them the same mean |attribution|."""
    first, second = preload.warm_explanations()
    assert first == pytest.approx(second) and first > 0


def test_the_warm_up_is_skipped_when_the_environment_says_so(monkeypatch):
    called = []
    monkeypatch.setattr(preload, "preload_task_modules", lambda: called.append("modules"))
    monkeypatch.setattr(preload, "warm_explanations", lambda: called.append("explanations"))
    monkeypatch.setattr("airflow.__main__.main", lambda: called.append("airflow"))
    for setting, expected in (
        ("0", ["modules", "airflow"]),
        ("1", ["modules", "explanations", "airflow"]),
    ):
        called.clear()
        monkeypatch.setenv(preload.WARM_EXPLANATIONS_ENV, setting)
        preload.main()
        assert called == expected
