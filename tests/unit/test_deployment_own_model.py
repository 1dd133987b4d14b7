"""The deployment procedure's automated checks on the README guide's own models, registered
and given a baseline as the guide does (no artefact: black boxes), version 2.0.0 deployed
over 1.0.0: a check that needs an artefact says it is not applicable and why, never fails
on a file it could not open; the prediction log is judged on the columns models.yaml
names. 2.0.0 is registered with its validation set (``govflow model register
--validation``): its performance and fairness are judged on the outputs the set logs, and
its deployment gets a baseline of it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from govflow import registry, store
from govflow.baselines.management import create_baseline_for_deployment
from govflow.baselines.onboarding import create_baseline_from_data, register_from_config
from govflow.cli import app
from govflow.config import GovflowConfig
from govflow.deployment import procedure
from govflow.deployment.checks import (
    BLACK_BOX,
    NO_LINEAGE,
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
# Registered as the guide registered a version before --validation: no validation set.
UNVALIDATED = "2.0.1"


@pytest.fixture(scope="module")
def own_store(tmp_path_factory) -> tuple[GovflowConfig, Path, str]:
    """Both guide models registered as black boxes (1.0.0 in production, 2.0.0 a draft
    registered through the command line with its validation set, 2.0.1 one without), 1.0.0's
    baseline from its validation data, and a day of logs of each."""
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
            for version in (OLD, UNVALIDATED):
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
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GOVFLOW_DB_URL", url)
        env.setenv("GOVFLOW_DATA_DIR", str(data_dir))
        env.setenv("GOVFLOW_CONFIG_DIR", str(data_dir / "config"))
        for model_id, make in rows.items():
            validation = data_dir / f"{model_id}-{NEW}.csv"
            make(rng, 4000, datetime(2024, 5, 20, tzinfo=UTC)).to_csv(validation, index=False)
            registered = CliRunner().invoke(
                app,
                [
                    *("model", "register", model_id, "--version", NEW),
                    *(
                        "--validation",
                        str(validation),
                        "--actor",
                        config.models.get(model_id).owner,
                    ),
                    *("--training-snapshot", f"snapshot-{NEW}", "--feature-version", "features-1"),
                ],
            )
            assert registered.exit_code == 0, registered.output
    return config, data_dir, url


def evaluate(
    own_store, model_id: str, names: list[str], *, version: str = NEW
) -> dict[str, CheckResult]:
    config, data_dir, url = own_store
    request = procedure.DeploymentRequest(
        model_id, version, "major", "production", "v2", "sam", f"own/{model_id}/{version}"
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
        f"the registry keeps 3 versions of {model_id}, each with lineage"
    )


def test_a_version_registered_without_its_lineage_fails_model_versioning_naming_what_to_give(
    own_store,
):
    """``model register`` without --training-snapshot and --feature-version records "not
    recorded": no lineage, for the candidate a failed item (it passed as lineage), for an
    older version a name in the summary. Evaluated in a transaction rolled back, so the
    module's store keeps its three versions."""
    config, data_dir, url = own_store
    model = config.models.get(TENANCY)

    def versioning(session, version: str) -> CheckResult:
        request = procedure.DeploymentRequest(
            TENANCY, version, "major", "production", "v2", "sam", f"lineage/{version}"
        )
        deployment, _ = procedure.open_deployment(session, config, request)
        candidate = DeploymentCandidate(session, config, data_dir, deployment)
        return run_check("model_versioning", candidate)

    with store.session_scope(url) as session:
        register_from_config(session, model, version="2.0.2", actor=model.owner)
        untraced = versioning(session, "2.0.2")
        traced = versioning(session, NEW)
        session.rollback()

    assert (untraced.outcome, untraced.summary) == (
        "failed",
        NO_LINEAGE.format(
            model_id=TENANCY, version="2.0.2", missing="training snapshot, feature version"
        ),
    )
    assert (traced.outcome, traced.summary) == (
        "passed",
        f"the registry keeps 4 versions of {TENANCY}; {NEW} with lineage, without: 2.0.2",
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
    result = evaluate(
        own_store, TENANCY, ["model_performance_meets_requirement"], version=UNVALIDATED
    )["model_performance_meets_requirement"]

    assert (result.outcome, result.summary) == (
        "failed",
        NO_VALIDATION_METRICS.format(model_id=TENANCY, version=UNVALIDATED),
    )


# 2.0.0's validation sets, judged on their own logged scores and predictions.
EXPECTED = {
    TENANCY: {
        "model_performance_meets_requirement": (
            "passed",
            "validation accuracy 0.717 (min 0.6), AUC 0.716558 (min 0.6)",
        ),
        "fairness_across_groups": (
            "passed",
            "no fairness metric is CRITICAL on 4000 validation rows; lowest disparate impact "
            "ratio 0.948672 (sex); 8 INCONCLUSIVE (interval too wide to decide): "
            "disparate_impact_ratio of sex, equal_opportunity_difference of sex, "
            "equalized_odds_difference of sex and 5 more",
        ),
    },
    REGRESSOR: {
        # 1.0.0 is a black box too: the errors are judged against models.yaml's ceiling.
        "model_performance_meets_requirement": (
            "passed",
            "validation errors on 4000 labelled rows: mae 117.027611 against error_ceiling "
            "max_mae 400.0 (interval 114.247507 to 119.807715): INFO; mae_increase and "
            "rmse_increase against version 1.0.0: a black box (registered without an "
            "artefact), which cannot score the candidate's validation rows: not judged",
        ),
        "fairness_across_groups": (
            "passed",
            "no fairness metric is CRITICAL on 4000 validation rows; lowest mean prediction "
            "ratio 0.982573 (age_band)",
        ),
    },
}


@pytest.mark.parametrize("model_id", [TENANCY, REGRESSOR])
def test_a_black_box_registered_with_its_validation_set_passes_performance_and_fairness(
    own_store, model_id
):
    results = evaluate(
        own_store, model_id, ["model_performance_meets_requirement", "fairness_across_groups"]
    )

    assert {name: (r.outcome, r.summary) for name, r in results.items()} == EXPECTED[model_id]


@pytest.mark.parametrize("model_id", [TENANCY, REGRESSOR])
def test_a_black_box_registered_with_its_validation_set_gets_its_deployment_baseline(
    own_store, model_id
):
    """Last in the module: the baseline becomes the model's active one."""
    config, data_dir, url = own_store
    with store.session_scope(url) as session:
        baseline = create_baseline_for_deployment(
            session,
            config,
            model_id=model_id,
            version=NEW,
            deployment_ref=f"DEP-OWN-{model_id}",
            data_dir=data_dir,
            actor="mike",
            traffic="all",
        )
        shown = (baseline.model_version, baseline.is_active, baseline.profile["rows"])

    assert shown == (NEW, True, 4000)
