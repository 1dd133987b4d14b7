"""``govflow demo seed``: write the demo data and register its models in the governance store.

The inventory in models.yaml is the source of truth for ownership, purpose and risk tier;
the manifest the generator wrote supplies each trained version's artefact, hash, lineage
inputs and validation metrics. The current version is approved in the registry by a
holder of the ML-lead role (never the model's owner) and logged as in production; older
versions are logged as retired, so a rollback has a registered version to return to. Each
model's first active baseline is built from its current version's validation set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from govflow import registry, store
from govflow.audit import record_event, verify_chain
from govflow.baselines.onboarding import create_baseline_from_validation_set
from govflow.config import ConfigError, GovflowConfig
from govflow.config.inventory import ModelEntry
from govflow.demo.logs import MANIFEST_PATH, DemoManifest, write_demo
from govflow.demo.training import DEMO_MODELS
from govflow.store.schema import ModelVersion

DEMO_ACTOR = "govflow-demo"
NOT_IN_INVENTORY = (
    "models.yaml: models: the demo model {model_id} has no entry (the demo registers "
    "{demo_models}); restore it, or seed with the config/ of the checkout"
)
NO_APPROVER = (
    "people.yaml: users: no holder of ml_lead other than {model_id}'s owner {owner} "
    "can approve the demo's versions"
)
ANOTHER_SEED = (
    "{data_dir} holds the demo of seed {seeded}, whose {model_id} {version} is registered in "
    "the governance store: seeding it with seed {seed} would overwrite the registered "
    "artefacts; seed it into another GOVFLOW_DATA_DIR, or with seed {seeded}"
)


@dataclass(frozen=True)
class SeedSummary:
    manifest: DemoManifest
    models: list[dict[str, Any]]
    audit_events: int
    audit_head: str


def seed_demo(
    data_dir: Path,
    config: GovflowConfig,
    *,
    days: int = 42,
    seed: int = 7,
    start: date = date(2025, 3, 1),
    rows_per_day: int = 2000,
    db_url: str | None = None,
) -> SeedSummary:
    """Write the demo into ``data_dir`` and register its models, idempotently. A data
    directory whose demo of another seed is registered, or whose registered artefacts this
    environment would write with other bytes, is refused before anything is written."""
    _refuse_unseedable_config(config)
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        _refuse_another_seed(session, data_dir, seed)
        registered = _registered_artefacts(session)
    manifest = write_demo(
        data_dir,
        days=days,
        seed=seed,
        start=start,
        rows_per_day=rows_per_day,
        registered=registered,
    )
    rows: list[dict[str, Any]] = []
    with store.session_scope(db_url) as session:
        for entry in manifest.content["models"]:
            rows.append(_register(session, config, entry))
            # Seed 004 section 4.2: a deployed model's baseline comes from its validation set.
            baseline = create_baseline_from_validation_set(
                session,
                config,
                data_dir=data_dir,
                model_id=entry["id"],
                model_version=entry["current_version"],
                created_by=DEMO_ACTOR,
                created_on=start,
            )
            rows[-1]["baseline"] = baseline.version
        record_event(
            session,
            actor=DEMO_ACTOR,
            action="demo.seeded",
            target=f"data:{data_dir}",
            payload={"days": days, "seed": seed, "start": start, "rows_per_day": rows_per_day},
            idempotency_key=f"demo.seeded:{data_dir}:{seed}:{start}:{days}:{rows_per_day}",
        )
        report = verify_chain(session)
    return SeedSummary(manifest, rows, report.events_checked, report.head_hash)


def _refuse_unseedable_config(config: GovflowConfig) -> None:
    """Every demo model in models.yaml with an ml_lead to approve it other than its owner,
    checked before anything is written (a half-written demo registers nothing)."""
    demo_models = [model.id for model in DEMO_MODELS]
    problems = []
    for model_id in demo_models:
        if model_id not in config.models.ids():
            problems.append(
                NOT_IN_INVENTORY.format(model_id=model_id, demo_models=", ".join(demo_models))
            )
            continue
        owner = config.models.get(model_id).owner
        if not [user for user in config.people.holders("ml_lead") if user != owner]:
            problems.append(NO_APPROVER.format(owner=owner, model_id=model_id))
    if problems:
        raise ConfigError(problems)


def _refuse_another_seed(session: Any, data_dir: Path, seed: int) -> None:
    if not (Path(data_dir) / MANIFEST_PATH).exists():
        return
    written = DemoManifest.load(data_dir).content
    if written["seed"] == seed:
        return
    hashes = [v["artifact_sha256"] for m in written["models"] for v in m["versions"]]
    registered = session.scalars(
        select(ModelVersion).where(ModelVersion.artifact_sha256.in_(hashes)).limit(1)
    ).first()
    if registered is not None:
        raise registry.RegistryError(
            ANOTHER_SEED.format(
                data_dir=data_dir,
                seeded=written["seed"],
                model_id=registered.model_id,
                version=registered.version,
                seed=seed,
            )
        )


def _registered_artefacts(session: Any) -> dict[tuple[str, str], str]:
    """The artefact hash the store keeps for each version of a demo model."""
    rows = session.execute(
        select(ModelVersion.model_id, ModelVersion.version, ModelVersion.artifact_sha256).where(
            ModelVersion.model_id.in_([model.id for model in DEMO_MODELS])
        )
    )
    return {(model_id, version): sha256 for model_id, version, sha256 in rows}


def register_model_from_inventory(session: Any, inventory: ModelEntry, *, actor: str) -> None:
    """Register a model as models.yaml describes it."""
    registry.register_model(
        session,
        model_id=inventory.id,
        model_type=inventory.type,
        risk_tier=inventory.risk_tier,
        owner=inventory.owner,
        business_purpose=inventory.business_purpose,
        actor=actor,
    )


def register_manifest_version(
    session: Any, model_id: str, version: dict[str, Any], *, actor: str
) -> ModelVersion:
    """Register a trained version as the demo manifest describes it."""
    return registry.register_version(
        session,
        model_id=model_id,
        version=version["version"],
        artifact_uri=version["artifact_path"],
        artifact_sha256=version["artifact_sha256"],
        training_snapshot_id=version["training_snapshot_id"],
        feature_version=version["feature_version"],
        validation_uri=version["validation_path"],
        validation_metrics=version["validation_metrics"],
        decision_threshold=version["decision_threshold"],
        actor=actor,
    )


def _register(session: Any, config: GovflowConfig, entry: dict[str, Any]) -> dict[str, Any]:
    model_id = entry["id"]
    inventory = config.models.get(model_id)  # in models.yaml: _refuse_unseedable_config
    register_model_from_inventory(session, inventory, actor=inventory.owner)
    approvers = [user for user in config.people.holders("ml_lead") if user != inventory.owner]
    current = entry["current_version"]
    for version in entry["versions"]:
        record = register_manifest_version(session, model_id, version, actor=inventory.owner)
        if record.status != "draft":
            continue
        registry.request_approval(
            session,
            model_id=model_id,
            version=version["version"],
            requested_by=inventory.owner,
            justification="demo model trained on synthetic credit applications",
        )
        registry.decide_approval(
            session,
            model_id=model_id,
            version=version["version"],
            approver=approvers[0],
            approve=True,
            justification="validation metrics meet the inventory's performance requirement",
        )
        registry.log_stage(
            session,
            model_id=model_id,
            version=version["version"],
            stage="production" if version["version"] == current else "retired",
            deployed_by=DEMO_ACTOR,
            notes="seeded by govflow demo",
        )
    metrics = next(v for v in entry["versions"] if v["version"] == current)["validation_metrics"]
    return {
        "id": model_id,
        "risk_tier": inventory.risk_tier,
        "owner": inventory.owner,
        "version": current,
        "versions": len(entry["versions"]),
        "validation_metrics": metrics,
    }
