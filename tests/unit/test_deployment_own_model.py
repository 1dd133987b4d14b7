"""The deployment procedure's automated checks on the README guide's own models, registered
and given a baseline as the guide does (no artefact: black boxes), version 2.0.0 deployed
over 1.0.0: a check that needs an artefact says it is not applicable and why, never fails
on a file it could not open; the prediction log is judged on the columns models.yaml
names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from govflow import registry, store
from govflow.baselines.onboarding import create_baseline_from_data, register_from_config
from govflow.config import GovflowConfig
from govflow.deployment import procedure
from govflow.deployment.checks import (
    BLACK_BOX,
    NO_VALIDATION_METRICS,
    CheckResult,
    DeploymentCandidate,
    run_check,
)
from govflow.monitoring.prediction_logs import partition_path
from tests.support.own_models import (
    REGRESSOR,
    TENANCY,
    TENANCY_ENTRY,
    config_with_regressor,
    customer_value_rows,
    tenancy_rows,
)

DAY = date(2024, 6, 3)
OLD, NEW = "1.0.0", "2.0.0"


@pytest.fixture(scope="module")
def own_store(tmp_path_factory) -> tuple[GovflowConfig, Path, str]:
    """Both guide models registered as black boxes (1.0.0 in production, 2.0.0 a draft),
    1.0.0's baseline from its validation data, and a day of logs of each."""
    data_dir = tmp_path_factory.mktemp("own-deployment")
    config = config_with_regressor(data_dir / "config", extra=TENANCY_ENTRY)
    url = f"sqlite:///{data_dir / 'govflow.db'}"
    store.ensure_schema(url)
    rng = np.random.default_rng(4)
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    rows = {TENANCY: tenancy_rows, REGRESSOR: customer_value_rows}
    with store.session_scope(url) as session:
        for model_id, make in rows.items():
            model = config.models.get(model_id)
            for version in (OLD, NEW):
                register_from_config(
                    session,
                    model,
                    version=version,
                    actor=model.owner,
                    training_snapshot=f"snapshot-{version}",
                    feature_version="features-1",
                )
            validation = make(rng, 4000, datetime(2024, 5, 1, tzinfo=UTC))
            create_baseline_from_data(
                session,
                data_dir=data_dir,
                config=config,
                model=model,
                data=validation,
                source="validation.csv",
                created_by=model.owner,
                model_version=OLD,
            )
            registry.log_stage(
                session, model_id=model_id, version=OLD, stage="production", deployed_by="mike"
            )
            log = partition_path(data_dir / "logs" / model_id, DAY)
            log.parent.mkdir(parents=True)
            make(rng, 1500, start).to_parquet(log, index=False)
    return config, data_dir, url


def evaluate(own_store, model_id: str, names: list[str]) -> dict[str, CheckResult]:
    config, data_dir, url = own_store
    request = procedure.DeploymentRequest(
        model_id, NEW, "major", "production", "v2", "sam", f"own/{model_id}"
    )
    with store.session_scope(url) as session:
        deployment, _ = procedure.open_deployment(session, config, request)
        candidate = DeploymentCandidate(session, config, data_dir, deployment)
        return {name: run_check(name, candidate) for name in names}


@pytest.mark.parametrize("model_id", [TENANCY, REGRESSOR])
@pytest.mark.parametrize(
    ("check", "version", "purpose"),
    [
        ("package_integrity_verified", NEW, "verify the sha256 of its package"),
        ("staging_smoke_test", NEW, "score its validation set through it"),
        ("deployment_smoke_test", NEW, "score the newest day of prediction logs through it"),
        (
            "explanations_available",
            NEW,
            "compute SHAP attributions (explanation drift reads its logged "
            "attribution__<feature> columns instead)",
        ),
        ("rollback_dry_run", OLD, "score the validation set with it in a dry run"),
    ],
)
def test_a_check_that_needs_the_artefact_of_a_black_box_is_not_applicable_and_says_why(
    own_store, model_id, check, version, purpose
):
    result = evaluate(own_store, model_id, [check])[check]

    assert (result.outcome, result.summary) == (
        "not_applicable",
        BLACK_BOX.format(model_id=model_id, version=version, purpose=purpose),
    )


@pytest.mark.parametrize("model_id", [TENANCY, REGRESSOR])
def test_a_black_box_is_checked_on_what_it_has_without_an_artefact(own_store, model_id):
    results = evaluate(
        own_store,
        model_id,
        ["environment_ready", "previous_version_available", "model_versioning"],
    )

    assert {name: r.outcome for name, r in results.items()} == {
        "environment_ready": "passed",
        "previous_version_available": "passed",
        "model_versioning": "passed",
    }
    assert results["environment_ready"].summary == (
        f"production is defined in deployment.yaml; {model_id} {NEW} is a black box "
        "(registered without an artefact), so there is no artefact to load"
    )
    assert results["previous_version_available"].summary == (
        f"previous version {OLD}: a black box (no artefact), baselines 2024-05-02-v1"
    )
    assert results["model_versioning"].summary == (
        f"the registry keeps 2 versions of {model_id}, each with lineage"
    )


@pytest.mark.parametrize("model_id", [TENANCY, REGRESSOR])
def test_the_prediction_log_is_checked_for_the_columns_models_yaml_names(own_store, model_id):
    """The guide's logs have no model_id column, and the regressor's no score: neither is a
    column its models.yaml entry names."""
    result = evaluate(own_store, model_id, ["prediction_logging_enabled"])[
        "prediction_logging_enabled"
    ]

    assert (result.outcome, result.summary) == (
        "passed",
        "prediction log of 2024-06-03: 1500 rows, every declared column present",
    )


def test_a_classifier_registered_without_validation_metrics_fails_its_performance_item_saying_so(
    own_store,
):
    """govflow model register records no validation metrics: the item says the requirement
    cannot be shown, not that the accuracy was measured as None."""
    result = evaluate(own_store, TENANCY, ["model_performance_meets_requirement"])[
        "model_performance_meets_requirement"
    ]

    assert (result.outcome, result.summary) == (
        "failed",
        NO_VALIDATION_METRICS.format(model_id=TENANCY, version=NEW),
    )
