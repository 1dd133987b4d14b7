"""`govflow demo seed`: the demo's models land in the registry, approved by someone else."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from govflow import registry, settings, store
from govflow.config import load_config
from govflow.demo.seeding import seed_demo
from govflow.store.schema import AuditEvent, Model, ModelVersion, StageHistory

GOVFLOW = [sys.executable, "-m", "govflow"]
SMALL = {"days": 35, "rows_per_day": 200, "seed": 3, "start": date(2025, 3, 1)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Path, str]:
    """`govflow demo seed` (SMALL) run as a user runs it, into a data directory of its own,
    with the store where the CLI puts it by default."""
    data_dir = tmp_path_factory.mktemp("cli-demo")
    seed = subprocess.run(
        [
            *GOVFLOW,
            "demo",
            "seed",
            *("--days", str(SMALL["days"]), "--rows-per-day", str(SMALL["rows_per_day"])),
            *("--seed", str(SMALL["seed"]), "--start", SMALL["start"].isoformat()),
        ],
        env=_cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seed.returncode == 0, seed.stderr[-2000:]
    return data_dir, f"sqlite:///{data_dir / 'govflow.db'}"


def test_every_demo_model_is_registered_with_the_inventory_owner_and_tier(seeded):
    _, url = seeded
    with store.session_scope(url) as session:
        models = {m.id: (m.risk_tier, m.owner, m.status) for m in session.scalars(select(Model))}
    assert models == {
        "credit_approval": ("high", "olivia", "approved"),
        "marketing_propensity": ("medium", "sam", "approved"),
        "product_recommendation": ("low", "priya", "approved"),
        "customer_lifetime_value": ("medium", "sam", "approved"),
    }


def test_the_current_version_is_in_production_approved_by_the_ml_lead_not_the_owner(seeded):
    _, url = seeded
    with store.session_scope(url) as session:
        lineage = registry.lineage(session, "credit_approval", "1.0.0")
        previous = registry.lineage(session, "credit_approval", "0.9.0")
    assert [(d["action"], d["actor"]) for d in lineage["registry_decisions"]] == [
        ("requested", "olivia"),
        ("approved", "lena"),
    ]
    assert [s["stage"] for s in lineage["stages"]] == ["production"]
    assert [s["stage"] for s in previous["stages"]] == ["retired"]
    assert lineage["data"]["training_snapshot_id"].startswith("credit_approval-train-")
    assert lineage["validation"]["metrics"]["accuracy"] > 0.7


def test_the_regressor_is_registered_with_its_errors_and_no_threshold(seeded):
    _, url = seeded
    with store.session_scope(url) as session:
        model = session.get(Model, "customer_lifetime_value")
        lineage = registry.lineage(session, "customer_lifetime_value", "1.0.0")
    assert model is not None and model.model_type == "regressor"
    assert [s["stage"] for s in lineage["stages"]] == ["production"]
    metrics = lineage["validation"]["metrics"]
    assert set(metrics) == {"rows", "mae", "rmse", "mean_prediction", "mean_label"}
    assert 0 < metrics["mae"] < metrics["rmse"] < metrics["mean_label"]


def test_seeding_again_with_the_same_seed_adds_no_record(seeded):
    data_dir, url = seeded

    def counts() -> tuple[int, int, int]:
        with store.session_scope(url) as session:
            return (
                session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
                session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
                session.scalar(select(func.count()).select_from(StageHistory)) or 0,
            )

    before = counts()
    summary = seed_demo(data_dir, load_config(settings.config_dir()), db_url=url, **SMALL)
    assert counts() == before
    assert summary.audit_events == before[0]


def test_reseeding_with_another_seed_is_refused_before_any_registered_artefact_is_replaced(
    seeded, tmp_path
):
    # A copy of the module's seeded demo, so that this test does not seed one more.
    data_dir = tmp_path / "demo"
    shutil.copytree(seeded[0], data_dir)
    files = {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and p.suffix != ".db"}
    reseed = subprocess.run(
        [*GOVFLOW, "demo", "seed", "--days", "35", "--rows-per-day", "200", "--seed", "4"],
        env=_cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reseed.returncode == 1  # refused
    (line,) = reseed.stderr.strip().splitlines()
    assert line.startswith(f"{data_dir} holds the demo of seed 3, whose ")
    assert "seeding it with seed 4 would overwrite the registered artefacts" in line
    assert {p: p.read_bytes() for p in files} == files
    with store.session_scope(f"sqlite:///{data_dir / 'govflow.db'}") as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 5


def test_reseeding_where_the_store_registers_other_bytes_is_refused_before_anything_is_written(
    seeded, tmp_path
):
    # The store registered credit_approval 0.9.0 from another environment (another
    # scikit-learn writes the same seed's model with other bytes): seeding it again here
    # would leave the store's hash pointing at a file that no longer matches it.
    data_dir = tmp_path / "demo"
    data_dir.mkdir()
    url = f"sqlite:///{_store_copy(seeded[0], data_dir)}"
    elsewhere = "e" * 64
    with store.session_scope(url) as session:
        version = registry.find_version(session, "credit_approval", "0.9.0")
        assert version is not None
        version.artifact_sha256 = elsewhere
    with pytest.raises(registry.RegistryError) as refused:
        seed_demo(data_dir, load_config(settings.config_dir()), db_url=url, **SMALL)
    assert str(refused.value).startswith(
        f"{data_dir}: this environment writes the demo's credit_approval 0.9.0 with sha256 "
    )
    assert f"the governance store registers it with {elsewhere}" in str(refused.value)
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "audit-checkpoints.jsonl",
        "audit-checkpoints.key",
        "govflow.db",
    ]


def _cli_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "GOVFLOW_DATA_DIR": str(data_dir)}
    env.pop("GOVFLOW_DB_URL", None)
    return env


def _store_copy(seeded: Path, data_dir: Path) -> Path:
    """The seeded store with its audit checkpoints and their key, for one test to tamper with."""
    with (
        sqlite3.connect(seeded / "govflow.db") as reader,
        sqlite3.connect(data_dir / "govflow.db") as writer,
    ):
        reader.backup(writer)
    for name in ("audit-checkpoints.jsonl", "audit-checkpoints.key"):
        shutil.copy2(seeded / name, data_dir / name)
    return data_dir / "govflow.db"


def _audit_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVFLOW, "audit", "verify"],
        env=_cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _sqlite3(database: Path, statement: str) -> str:
    return subprocess.run(
        ["sqlite3", str(database), statement], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_after_the_demo_seed_a_row_edited_with_sqlite3_is_named_by_audit_verify(seeded, tmp_path):
    database = _store_copy(seeded[0], tmp_path)
    event_id = _sqlite3(database, "SELECT event_id FROM audit_events WHERE seq = 7")
    _sqlite3(database, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
    verify = _audit_verify(tmp_path)
    assert verify.returncode == 1
    assert f"event seq=7 id={event_id}" in verify.stderr
    assert "(edited)" in verify.stderr


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_after_the_demo_seed_the_last_three_rows_deleted_with_sqlite3_are_named_by_audit_verify(
    seeded, tmp_path
):
    database = _store_copy(seeded[0], tmp_path)
    count = int(_sqlite3(database, "SELECT count(*) FROM audit_events"))
    _sqlite3(database, f"DELETE FROM audit_events WHERE seq > {count - 3}")
    verify = _audit_verify(tmp_path)
    assert verify.returncode == 1
    (line,) = verify.stderr.splitlines()
    assert f"events {count - 2}-{count} covered by the checkpoint of " in line
    assert line.endswith(" are missing")
