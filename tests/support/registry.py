"""Models and versions registered as models.yaml describes them, for tests that need the
registry to hold something (a kill switch names only what it holds)."""

from __future__ import annotations

from govflow import store
from govflow.config import GovflowConfig
from govflow.registry import register_model, register_version
from govflow.store.schema import Model


def register_models(url: str, config: GovflowConfig, versions: dict[str, list[str]]) -> str:
    """Migrate the store at ``url`` and register each model of ``versions`` with its versions;
    returns ``url``."""
    store.upgrade(url)
    with store.session_scope(url) as session:
        for model_id, numbers in versions.items():
            entry = config.models.get(model_id)
            register_model(
                session,
                model_id=model_id,
                model_type=entry.type,
                risk_tier=entry.risk_tier,
                owner=entry.owner,
                business_purpose=entry.business_purpose,
                actor="test",
            )
            for version in numbers:
                register_version(
                    session,
                    model_id=model_id,
                    version=version,
                    artifact_uri=f"models/{model_id}/{version}/model.pkl",
                    artifact_sha256=version.replace(".", "") * 8,
                    training_snapshot_id="snapshot",
                    feature_version="1",
                    validation_uri=None,
                    validation_metrics={},
                    decision_threshold=0.5,
                    actor="test",
                )
    return url


def high_risk_model(model_id: str = "credit_approval", *, owner: str = "olivia") -> Model:
    """The row of a high-risk classifier for a store that only needs the model to exist (an
    incident, an alert or an acceptance names it), added by the test to its session."""
    return Model(
        id=model_id,
        model_type="binary_classifier",
        risk_tier="high",
        owner=owner,
        business_purpose="credit decisions",
        created_by="test",
    )
