"""Issue 18: a monitoring run analyses its models in batches, one task per batch, and each
model stays on its own: one model's failure never fails, delays or hides another's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from govflow.flows import monitoring
from govflow.flows.monitoring import NotReady, analyse_batch, analysis_batches


def _targets(count: int) -> list[dict[str, Any]]:
    return [{"model_id": f"model_{i:03d}", "cadence": "daily"} for i in range(count)]


@pytest.mark.parametrize(
    ("models", "size", "lengths"),
    [
        (0, 10, []),
        (1, 10, [1]),
        (3, 10, [1, 2]),  # two slots share even a small run
        (10, 10, [5, 5]),
        (11, 10, [5, 6]),
        (200, 10, [10] * 20),
        # 21 batches, the fewest of at most 10 models, their lengths spread evenly
        (201, 10, [9, 10, 9, 10, 9, 10, 10, 9, 10, 9, 10, 9, 10, 10, 9, 10, 9, 10, 9, 10, 10]),
        (7, 1, [1] * 7),
    ],
)
def test_models_are_cut_in_order_into_near_equal_batches_of_at_most_the_policy_size(
    models, size, lengths
):
    targets = _targets(models)
    batches = analysis_batches(targets, size)
    assert [len(batch) for batch in batches] == lengths
    assert [target for batch in batches for target in batch] == targets


def test_a_failing_model_is_retried_after_the_others_and_never_stops_or_delays_them(
    monkeypatch, capsys
):
    calls: list[str] = []
    delivered: list[list[int]] = []
    failures = {"model_001": 2}  # raises twice, then succeeds on the third attempt

    config = object()
    loads: list[object] = []

    def policy():
        loads.append(config)
        return config

    def analyse_target(target, *, dag_id, dag_run, config):
        model = target["model_id"]
        assert config is loads[0]
        calls.append(model)
        if model == "model_002":
            raise NotReady(f"{model} is not registered: run `govflow model register {model}`")
        if model == "model_003" or failures.get(model, 0) > 0:
            failures[model] = failures.get(model, 0) - 1
            raise ConnectionError("the governance store went away")
        number = int(model[-3:])
        return {"summary": {"model_id": model, "run_id": number}, "send_now": [number]}

    monkeypatch.setattr(monitoring, "analyse_target", analyse_target)
    monkeypatch.setattr(monitoring, "_policy", policy)
    monkeypatch.setattr(monitoring, "RETRY_PAUSE_S", 0.0)

    summaries = analyse_batch(
        _targets(5), dag_id="d", dag_run=SimpleNamespace(run_id="r"), deliver=delivered.append
    )

    # Order of work: every model once, then the two that raised, then again the two.
    assert calls == [
        "model_000",
        "model_001",
        "model_002",
        "model_003",
        "model_004",
        "model_001",
        "model_003",
        "model_001",
        "model_003",
    ]
    # Each model's alerts go out as soon as its own analysis is recorded.
    assert delivered == [[0], [4], [1]]
    # config/ is read once for the batch, not once per analysis.
    assert len(loads) == 1
    # The summaries in the batch's order; model_003 (three failures) and model_002 (not
    # ready) are left unrecorded for confirm_every_analysis_recorded.
    assert [s["model_id"] for s in summaries] == ["model_000", "model_001", "model_004"]
    out = capsys.readouterr().out
    assert "model_002 (daily): not analysed: model_002 is not registered" in out
    assert "model_003 (daily): attempt 3 of 3 raised ConnectionError" in out
