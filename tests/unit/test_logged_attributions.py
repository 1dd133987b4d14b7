"""Issue 14 item 2: a black-box model's explanation drift from the per-feature attributions
its serving side logs beside the predictions (``attribution__<feature>``), judged with the
same metric and thresholds as the SHAP attributions of a model with an artefact."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from govflow.baselines.management import read_log_window
from govflow.baselines.onboarding import (
    LOGGED_ATTRIBUTIONS,
    PARTIAL_ATTRIBUTIONS,
    attribution_details,
    attributions_note,
)
from govflow.baselines.profile import BaselineError, BaselineProfile, build_profile
from govflow.config import GovflowConfig, ModelEntry, load_config
from govflow.metrics.explanation_drift import (
    MISSING_ATTRIBUTIONS,
    NO_FINITE_ATTRIBUTIONS,
    ExplanationBackground,
    FeatureAttributions,
    logged_attributions,
    non_finite_attributions,
)
from govflow.monitoring import analysis as analysis_module
from govflow.monitoring.analysis import (
    BLACK_BOX,
    DATA_QUALITY,
    LOGS_WITHOUT_ATTRIBUTIONS,
    NON_FINITE_ATTRIBUTION_ROWS,
    NON_FINITE_ATTRIBUTIONS,
    Analysis,
    Finding,
    analyse_window,
)
from govflow.monitoring.prediction_logs import partition_path
from govflow.store.schema import Baseline
from tests.support.own_models import CONFIG_DIR, TENANCY_ENTRY, tenancy_rows, with_attributions
from tests.support.own_models import TENANCY as MODEL

FEATURES = ("monthly_rent", "prior_tenancies", "tenancy_kind")
COLUMNS = tuple(f"attribution__{feature}" for feature in FEATURES)
DAY = datetime(2024, 6, 3, tzinfo=UTC)
ROWS = 1500


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> GovflowConfig:
    directory = tmp_path_factory.mktemp("attributions") / "config"
    shutil.copytree(CONFIG_DIR, directory)
    models = directory / "models.yaml"
    models.write_text(models.read_text() + TENANCY_ENTRY)
    return load_config(directory)


@pytest.fixture(scope="module")
def entry(config) -> ModelEntry:
    return config.models.get(MODEL)


@pytest.fixture(scope="module")
def validation() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return with_attributions(tenancy_rows(rng, 4000, datetime(2024, 5, 1, tzinfo=UTC)), rng)


@pytest.fixture(scope="module")
def profile(entry, validation) -> BaselineProfile:
    return build_profile(MODEL, "1", validation=validation, model=None, model_config=entry)


@pytest.fixture
def window() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return with_attributions(tenancy_rows(rng, ROWS, DAY), rng)


def analyse(
    config: GovflowConfig,
    entry: ModelEntry,
    profile: BaselineProfile,
    window: pd.DataFrame,
    **options: Any,
) -> Analysis:
    """Data and explanation drift of one day's ``window`` (labels arrived with it)."""
    return analyse_window(
        model=entry,
        config=config,
        baseline=profile,
        baseline_version="2024-05-02-v1",
        current=window,
        matured=window,
        window_start=DAY,
        window_end=DAY + timedelta(days=1),
        checks=("data_drift", "explanation_drift"),
        analysed_at=DAY + timedelta(days=2),
        **options,
    )


def explanation(result: Analysis) -> Finding:
    (found,) = [f for f in result.findings if f.check_type == "explanation_drift"]
    return found


# --- the attributions themselves ------------------------------------------------------------


def test_logged_attributions_are_the_mean_absolute_value_per_feature_over_finite_rows():
    frame = pd.DataFrame(
        {
            "attribution__a": [1.0, -3.0, np.nan, 2.0],
            "attribution__b": [-0.5, 0.5, 9.0, np.inf],
        }
    )

    attributions = logged_attributions(frame, features=["a", "b"])

    assert attributions == FeatureAttributions(
        features=("a", "b"),
        mean_abs_shap=(2.0, 0.5),
        rows_explained=2,
        rows_dropped_missing=2,
        background_rows=0,
        permutations=0,
        seed=0,
        source="logged",
    )
    assert non_finite_attributions(frame, features=["a", "b"]) == {
        "attribution__a": 1,
        "attribution__b": 1,
    }


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pd.DataFrame({"attribution__a": [1.0]}),
            MISSING_ATTRIBUTIONS.format(what="the data", missing="attribution__b"),
        ),
        (
            pd.DataFrame({"attribution__a": [np.inf, 1.0], "attribution__b": [1.0, "n/a"]}),
            NO_FINITE_ATTRIBUTIONS.format(what="the data", dropped=2),
        ),
    ],
)
def test_logged_attributions_that_cannot_be_measured_are_a_clear_error(frame, message):
    with pytest.raises(ValueError) as raised:
        logged_attributions(frame, features=["a", "b"])

    assert str(raised.value) == message


# --- the baseline ----------------------------------------------------------------------------


def test_a_black_box_baseline_takes_its_attributions_from_the_logged_columns(profile, validation):
    expected = tuple(float(validation[column].abs().mean()) for column in COLUMNS)

    assert profile.attributions is not None
    assert profile.attributions.source == "logged"
    assert profile.attributions.features == FEATURES
    assert profile.attributions.mean_abs_shap == pytest.approx(expected, rel=1e-12)
    assert profile.attributions.ranking == FEATURES
    assert profile.explanation_background is None
    stored = profile.to_dict()
    assert stored["attributions"]["source"] == "logged"
    assert BaselineProfile.from_dict(stored) == profile


def test_shap_attributions_are_stored_as_before_without_a_source_key():
    shap = FeatureAttributions(("a", "b"), (0.2, 0.1), 200, 0, 100, 1, 0)

    assert "source" not in shap.to_dict()
    assert FeatureAttributions.from_dict(shap.to_dict()).source == "shap_permutation"


def test_attribution_columns_of_some_features_only_give_no_attributions_and_a_named_line(
    entry, validation
):
    partial = validation.drop(columns=["attribution__tenancy_kind"])

    built = build_profile(MODEL, "1", validation=partial, model=None, model_config=entry)
    details = attribution_details(entry, partial, black_box=True)

    assert built.attributions is None
    assert details == {
        "attributions": None,
        "missing_attribution_columns": ["attribution__tenancy_kind"],
    }
    assert attributions_note(entry, Baseline(details=details)) == PARTIAL_ATTRIBUTIONS.format(
        model_id=MODEL, missing="attribution__tenancy_kind"
    )


@pytest.mark.parametrize(
    ("columns", "black_box", "details", "note"),
    [
        (COLUMNS, True, {"attributions": "logged"}, LOGGED_ATTRIBUTIONS),
        ((), True, {"attributions": None}, None),
        # A model with an artefact: its baseline's details are what they were before.
        (COLUMNS, False, {}, None),
    ],
)
def test_baseline_details_say_where_a_black_boxs_attributions_came_from(
    entry, validation, columns, black_box, details, note
):
    data = validation.drop(columns=[c for c in COLUMNS if c not in columns])

    recorded = attribution_details(entry, data, black_box=black_box)

    assert recorded == details
    assert attributions_note(entry, Baseline(details=recorded)) == (
        None if note is None else note.format(model_id=MODEL, columns=", ".join(COLUMNS))
    )


def test_a_baseline_whose_attributions_are_never_finite_is_refused_in_one_line(entry, validation):
    broken = validation.assign(attribution__monthly_rent=np.nan)

    with pytest.raises(BaselineError, match="attribution__ columns") as raised:
        build_profile(MODEL, "1", validation=broken, model=None, model_config=entry)

    assert "\n" not in str(raised.value)


def test_a_black_box_baseline_reset_from_logs_keeps_their_attributions(config, entry, tmp_path):
    rng = np.random.default_rng(6)
    for offset in range(7, 0, -1):
        start = DAY - timedelta(days=offset)
        log = partition_path(tmp_path / "logs" / MODEL, start.date())
        log.parent.mkdir(parents=True)
        with_attributions(tenancy_rows(rng, ROWS, start), rng).to_parquet(log, index=False)

    window = read_log_window(config, model_id=MODEL, end=DAY, data_dir=tmp_path)
    reset = build_profile(
        MODEL, window.model_version, validation=window.rows, model=None, model_config=entry
    )

    assert reset.attributions is not None
    assert (reset.attributions.source, reset.attributions.ranking) == ("logged", FEATURES)
    assert reset.attributions.rows_explained == 7 * ROWS


# --- monitoring ------------------------------------------------------------------------------


def test_a_stable_window_with_logged_attributions_raises_no_explanation_alarm(
    config, entry, profile, window
):
    result = analyse(config, entry, profile, window)

    found = explanation(result)
    assert (found.status, found.value, found.severity) == ("computed", 1.0, "INFO")
    assert found.details["source"] == "logged"
    assert found.details["rows_explained"] == ROWS


def test_attribution_columns_are_neither_features_nor_data_quality_problems(
    config, entry, profile, window
):
    result = analyse(config, entry, profile, window)

    subjects = {f.subject for f in result.findings if f.check_type != "explanation_drift"}
    assert subjects == {*FEATURES}
    assert not [f for f in result.findings if f.check_type == DATA_QUALITY]


@pytest.mark.parametrize(
    ("change", "correlation"),
    [
        # The least important feature becomes the most important: ranks (1, 2, 3) -> (2, 3, 1).
        (lambda w: w.assign(attribution__tenancy_kind=w["attribution__tenancy_kind"] * 30), -0.5),
        # Rent's and kind's attributions swapped between the columns: the ranking reversed.
        (
            lambda w: w.assign(
                attribution__monthly_rent=w["attribution__tenancy_kind"],
                attribution__tenancy_kind=w["attribution__monthly_rent"],
            ),
            -1.0,
        ),
    ],
)
def test_a_window_whose_attributions_moved_is_critical_explanation_drift(
    config, entry, profile, window, change, correlation
):
    result = analyse(config, entry, profile, change(window))

    found = explanation(result)
    assert (found.status, found.value, found.severity) == ("computed", correlation, "CRITICAL")


def test_a_window_without_some_attribution_columns_is_skipped_naming_them(
    config, entry, profile, window
):
    partial = window.drop(columns=["attribution__monthly_rent", "attribution__tenancy_kind"])

    found = explanation(analyse(config, entry, profile, partial))

    assert (found.status, found.message) == (
        "skipped",
        LOGS_WITHOUT_ATTRIBUTIONS.format(
            missing="attribution__monthly_rent, attribution__tenancy_kind"
        ),
    )


def test_a_black_box_baseline_without_attributions_names_the_columns_that_would_enable_them(
    config, entry, validation, window
):
    bare = build_profile(
        MODEL,
        "1",
        validation=validation.drop(columns=list(COLUMNS)),
        model=None,
        model_config=entry,
    )

    found = explanation(analyse(config, entry, bare, window))

    assert (found.status, found.message) == (
        "skipped",
        BLACK_BOX.format(columns=", ".join(COLUMNS)),
    )


def test_nan_and_inf_attributions_are_named_findings_and_the_rest_is_still_judged(
    config, entry, profile, window
):
    broken = window.copy()
    broken.loc[:9, "attribution__prior_tenancies"] = np.nan
    broken.loc[10:12, "attribution__prior_tenancies"] = np.inf
    broken.loc[:4, "attribution__tenancy_kind"] = -np.inf

    result = analyse(config, entry, profile, broken)

    quality = [f for f in result.findings if f.metric == NON_FINITE_ATTRIBUTIONS]
    assert [(f.check_type, f.subject, f.value, f.severity, f.message) for f in quality] == [
        (
            DATA_QUALITY,
            "attribution__prior_tenancies",
            13.0,
            "WARNING",
            NON_FINITE_ATTRIBUTION_ROWS.format(
                count=13, rows=ROWS, column="attribution__prior_tenancies"
            ),
        ),
        (
            DATA_QUALITY,
            "attribution__tenancy_kind",
            5.0,
            "WARNING",
            NON_FINITE_ATTRIBUTION_ROWS.format(
                count=5, rows=ROWS, column="attribution__tenancy_kind"
            ),
        ),
    ]
    found = explanation(result)
    assert (found.status, found.value, found.severity) == ("computed", 1.0, "INFO")
    assert (found.details["rows_explained"], found.details["rows_dropped_missing"]) == (
        ROWS - 13,
        13,
    )


def test_a_model_with_an_artefact_is_explained_by_shap_even_when_its_logs_hold_attributions(
    config, entry, profile, window, monkeypatch
):
    """The SHAP path is taken as before (the explainer is called, the finding's details carry
    no source); the attribution columns are not read."""
    shap_baseline = FeatureAttributions(FEATURES, (0.5, 0.3, 0.1), 200, 0, 100, 1, 0)
    shap_now = FeatureAttributions(FEATURES, (0.1, 0.3, 0.5), 200, 0, 100, 1, 0)
    with_artefact = replace(
        profile,
        attributions=shap_baseline,
        explanation_background=ExplanationBackground.from_frame(window[list(FEATURES)].head(5)),
    )
    explained = []

    def fake_shap(explainer, frame, **options):
        explained.append(explainer)
        return shap_now

    monkeypatch.setattr(analysis_module, "feature_attributions", fake_shap)
    broken_attributions = window.assign(attribution__monthly_rent=np.nan)
    result = analyse(config, entry, with_artefact, broken_attributions, explainer="the model")

    found = explanation(result)
    assert explained == ["the model"]
    assert (found.status, found.value, found.severity) == ("computed", -1.0, "CRITICAL")
    assert "source" not in found.details
    assert not [f for f in result.findings if f.metric == NON_FINITE_ATTRIBUTIONS]
