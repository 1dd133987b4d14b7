"""An initial deployment's rollout: the README guide's own model (``tenancy_screening``, a
black box) registered with its validation set and never in production, deployed as
``initial``. No version serves the traffic the new one does not take (the gateway answers
it by the fallback rule), model drift is judged against the version's own validation set,
reaching full puts it in production with its baseline active, and a rollback withdraws it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from govflow import registry, store
from govflow.baselines.management import create_baseline_for_deployment
from govflow.cli import app
from govflow.config import GovflowConfig
from govflow.deployment import procedure
from govflow.monitoring.prediction_logs import partition_path
from govflow.rollout import rollback, routing, stages
from govflow.store.schema import Alert, Baseline, StageHistory
from govflow.store.types import utcnow
from tests.support.deployment_demo import approve_version
from tests.support.own_models import TENANCY, TENANCY_ENTRY, config_with_regressor, tenancy_rows
from tests.support.rollout_demo import roll_back, rollback_consequence

VERSION = "1.0.0"
FEEDBACK_GATES = ("GATE-1", "GATE-3", "GATE-4")


@pytest.fixture
def first_release(tmp_path, monkeypatch) -> tuple[GovflowConfig, Path, str, str]:
    """(config, data_dir, url, ref): tenancy_screening 1.0.0 registered through the command
    line with its validation set, approved, its initial deployment authorised with the
    pending baseline phase 4 makes."""
    data_dir = tmp_path / "data"
    config = config_with_regressor(tmp_path / "config", extra=TENANCY_ENTRY)
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    store.ensure_schema(url)
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(tmp_path / "config"))
    validation = tmp_path / "validation.csv"
    tenancy_rows(np.random.default_rng(1), 4000, datetime(2024, 5, 1, tzinfo=UTC)).to_csv(
        validation, index=False
    )
    owner = config.models.get(TENANCY).owner
    registered = CliRunner().invoke(
        app,
        [
            *("model", "register", TENANCY, "--version", VERSION),
            *("--validation", str(validation), "--actor", owner),
        ],
    )
    assert registered.exit_code == 0, registered.output
    request = procedure.DeploymentRequest(
        TENANCY, VERSION, "initial", "production", "first release", "sam", "initial__test"
    )
    with store.session_scope(url) as session:
        approve_version(session, TENANCY, VERSION, justification="first release")
        deployment, _ = procedure.open_deployment(session, config, request)
        deployment.status = procedure.AUTHORISED
        procedure.update_details(deployment, authorised_at=utcnow().isoformat())
        create_baseline_for_deployment(
            session,
            config,
            model_id=TENANCY,
            version=VERSION,
            deployment_ref=deployment.ref,
            data_dir=data_dir,
            actor="govflow-deployment",
        )
        return config, data_dir, url, deployment.ref


def start(config: GovflowConfig, url: str, ref: str, stage: str) -> dict:
    with store.session_scope(url) as session:
        planned = stages.plan(session, config, deployment_ref=ref)
        stages.start_stage(session, config, deployment_ref=ref, stage=stage)
        return planned


def route(url: str) -> routing.RouteState:
    with store.session_scope(url) as session:
        return routing.StoreTarget(session).current(TENANCY)


def registry_stages(url: str) -> list[str]:
    with store.session_scope(url) as session:
        return list(
            session.scalars(
                select(StageHistory.stage)
                .order_by(StageHistory.id)
                .where(
                    StageHistory.model_version_id
                    == registry.get_version(session, TENANCY, VERSION).id
                )
            )
        )


def log_stage_traffic(config: GovflowConfig, data_dir: Path, rows: int) -> None:
    """``rows`` applications the new version scored today, as the gateway logs them."""
    frame = tenancy_rows(np.random.default_rng(7), rows, datetime.now(UTC))
    frame["model_version"] = VERSION
    frame["scored_at"] = utcnow()
    frame["prediction_id"] = [uuid.uuid4().hex for _ in range(rows)]
    log = data_dir / config.models.get(TENANCY).prediction_log.path
    target = partition_path(log, utcnow().date())
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target)


def test_the_rest_of_the_traffic_has_no_version_while_the_first_one_rolls_out(first_release):
    config, _data_dir, url, ref = first_release
    planned = start(config, url, ref, "limited")
    state = route(url)

    assert planned["previous"] is None
    split = state.splits["external"]
    assert (split.active, split.candidate, split.candidate_share) == (None, VERSION, 0.1)
    assert state.versions == [VERSION]
    served = [state.version_for("external", f"customer-{key}") for key in range(1000)]
    assert {version for version, _ in served} == {VERSION, None}
    assert sum(version is None for version, _ in served) == sum(
        route == "active" for _, route in served
    )
    assert registry_stages(url) == ["canary"]


def test_model_drift_of_a_first_version_is_judged_against_its_own_validation_set(first_release):
    config, data_dir, url, ref = first_release
    start(config, url, ref, "limited")
    log_stage_traffic(config, data_dir, 600)
    with store.session_scope(url) as session:
        gate = stages.evaluate_gate(session, config, data_dir, deployment_ref=ref, stage="limited")

    drift = next(g for g in gate["gates"] if g["id"] == "model_drift_within_bounds")
    assert drift["outcome"] == "passed", drift["summary"]
    assert drift["summary"].startswith(
        f"prediction distribution shift against {VERSION}'s validation set is "
    )
    assert drift["evidence"]["new_rows"] == 600
    assert drift["evidence"]["previous_rows"] == 4000


def test_reaching_full_puts_the_first_version_in_production_with_its_baseline(first_release):
    config, _data_dir, url, ref = first_release
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        completed = stages.complete(session, config, deployment_ref=ref)
        baseline = session.scalars(select(Baseline).where(Baseline.model_id == TENANCY)).one()
        production = registry.production_version(session, TENANCY)

    state = route(url)
    assert {split.active for split in state.splits.values()} == {VERSION}
    assert state.candidate is None
    assert completed["baseline"] == baseline.version and baseline.is_active
    assert production == VERSION
    assert registry_stages(url) == ["production"]


def test_rolling_back_a_first_version_withdraws_it_and_says_so(first_release):
    config, _data_dir, url, ref = first_release
    start(config, url, ref, "beta")
    _decided, executed, verified, concluded = roll_back(
        config, url, ref, model_id=TENANCY, reason="RBC-2 error rate", criteria=[]
    )
    with store.session_scope(url) as session:
        text = session.get(Alert, concluded["alert_id"]).payload["text"]
        pending = session.scalars(select(Baseline).where(Baseline.model_id == TENANCY)).one()

    assert rollback_consequence(config, url, ref, model_id=TENANCY) == rollback.WITHDRAWS.format(
        ref=ref, model_id=TENANCY
    )
    assert executed["restored_version"] is None
    assert verified["routing_restored"] and verified["versions"] == []
    assert route(url).versions == []
    assert "Withdrawn: no version serves it now (it had none in production before)" in text
    assert registry_stages(url) == ["canary", "retired"]
    # The model's only baseline, active since it was made (nothing else was the reference).
    assert pending.is_active


def evaluate_gate(config: GovflowConfig, data_dir: Path, url: str, ref: str) -> dict[str, dict]:
    with store.session_scope(url) as session:
        gate = stages.evaluate_gate(session, config, data_dir, deployment_ref=ref, stage="limited")
    return {g["id"]: g for g in gate["gates"]}


def test_without_a_serving_consumer_a_passing_feedback_gate_names_the_command_alone(
    first_release,
):
    config, data_dir, url, ref = first_release
    start(config, url, ref, "limited")
    log_stage_traffic(config, data_dir, 600)
    gates = evaluate_gate(config, data_dir, url, ref)

    alone = f"; feedback from govflow rollout feedback alone: {TENANCY} has no serving consumer"
    assert {name: (gates[name]["outcome"], gates[name]["summary"]) for name in FEEDBACK_GATES} == {
        "GATE-1": ("passed", "no critical bug(s) recorded" + alone),
        "GATE-3": ("passed", "0 significant complaint(s) (limit 0)" + alone),
        "GATE-4": ("passed", "override rate 0.0000 (0 of 600; limit 0.05)" + alone),
    }
    assert gates["GATE-1"]["evidence"]["feedback_from"] == ["govflow rollout feedback"]


def test_a_critical_bug_recorded_with_the_command_fails_gate_1_and_rolls_back(first_release):
    config, data_dir, url, ref = first_release
    start(config, url, ref, "limited")
    log_stage_traffic(config, data_dir, 600)
    recorded = CliRunner().invoke(
        app,
        [
            *("rollout", "feedback", "--model", TENANCY, "--version", VERSION),
            *("--kind", "bug", "--severity", "critical", "--actor", "quinn"),
            *("--details", "declines every applicant with a guarantor"),
        ],
    )
    assert recorded.exit_code == 0, recorded.output

    gate_1 = evaluate_gate(config, data_dir, url, ref)["GATE-1"]
    assert (gate_1["outcome"], gate_1["summary"]) == (
        "failed",
        "1 critical bug(s) recorded: declines every applicant with a guarantor",
    )
    with store.session_scope(url) as session:
        watched = stages.watch_stage(session, config, data_dir, deployment_ref=ref, stage="limited")
    assert "RBC-3" in [item["id"] for item in watched["rollback"]]


def test_a_first_version_rolled_back_after_full_leaves_no_version_in_production(first_release):
    """Withdrawn after it served every customer, the model has nothing in production: its
    next deployment is again a first release, never a replacement of the withdrawn version."""
    config, _data_dir, url, ref = first_release
    start(config, url, ref, "full")
    with store.session_scope(url) as session:
        stages.complete(session, config, deployment_ref=ref)
    roll_back(config, url, ref, model_id=TENANCY, reason="RBC-2 error rate", criteria=[])

    def problems(kind: str) -> list[str]:
        request = procedure.DeploymentRequest(
            model_id=TENANCY,
            version=VERSION,
            deployment_type=kind,
            environment="production",
            justification="again, with the error rate fixed",
            requested_by="ml.engineer",
            dag_run_id=f"manual__{uuid.uuid4().hex}",
        )
        with store.session_scope(url) as session:
            return procedure.request_problems(session, request)

    with store.session_scope(url) as session:
        assert registry.production_version(session, TENANCY) is None
        assert registry.serving_version(session, TENANCY) is None
    assert registry_stages(url) == ["production", "retired"]
    assert problems("initial") == []
    assert problems("major") == [procedure.NEEDS_PRODUCTION.format(kind="major", model_id=TENANCY)]
