"""A team's own model, from its models.yaml entry to monitoring: register it, then build its
baseline from its own validation data (``govflow model register``, ``govflow baseline
create``).

* :func:`register_from_config` registers the model as models.yaml describes it (owner,
  business purpose, risk tier) and one version with its lineage: an optional artefact
  (copied to ``models/<model>/<version>/model.joblib``, its own suffix kept, in the data
  directory, where the serving gateway and the rollback's dry run read it, and recorded by
  that path and its sha256; without one the model is a black box, monitored on its logs
  alone), the training-data snapshot and the feature version, and optionally its validation
  set (:func:`gate_validation_set`): the rows the data-quality gate keeps, stored as
  ``models/<model>/<version>/validation.parquet`` in the data directory as the demo stores
  its own, with the validation metrics the deployment procedure judges, computed from the
  data's logged score, prediction and label (a black box needs no scoring). Both steps are
  idempotent and audited by the registry; a registered version does not change, so another
  validation set for it is refused. The version starts as a draft, and the registry's
  approval (never by the model's owner) is a separate step.
* :func:`read_baseline_data` reads the validation data: a parquet or CSV file, a directory
  of them, or a SQL table or query through a URL held in an environment variable.
* :func:`gate_baseline_data` puts the data through the data-quality gate the daily analysis
  runs (:func:`~govflow.monitoring.analysis.column_rules`), since every later day is judged
  against what it keeps. A finding the gate would judge CRITICAL refuses the baseline, as
  do fewer usable rows than :func:`minimum_baseline_rows`, no labelled row, a single label
  class, and (without a name) dates that cannot name it; nothing is stored then. Lesser
  findings are kept as one line each for the caller to show, and only the rows the gate
  keeps are profiled. Three rules differ from a day's: a category models.yaml does not
  declare cuts its row from the baseline instead of becoming a reference category, a null
  in a column the profile needs (a feature, a protected attribute, the score, the
  prediction) cuts its row however few there are, where a day tolerates models.yaml's
  ``null_tolerance``, and ``prediction_id`` and ``scored_at`` are checked only when the
  data has them.
* :func:`create_baseline_from_data` builds and activates the baseline profile. Its version
  is named after the data's dates (the last ``scored_at`` day) unless a name is given; the
  same data a second time returns the same baseline. It takes on a model or a version with
  no active baseline: other data over a version's active baseline is refused
  (:class:`ResetRequired`), since replacing it is a reset the ML lead or the CTO approves
  (seed 004 section 4.2, :func:`~govflow.baselines.management.reset_baseline_from_logs`),
  and so is a version that does not serve all traffic
  (:func:`~govflow.registry.serving_version`) while another version's baseline is active:
  monitoring judges the serving version's traffic against it, and a new version's baseline
  becomes active when its deployment's rollout reaches full.
  :func:`create_baseline_from_validation_set` does the same for a registered version's
  validation set (a deployment's baseline, the demo's), through the same gate: a version
  whose validation set the gate refuses never becomes the active baseline. A black-box
  classifier's baseline takes its attributions from the data's ``attribution__<feature>``
  columns when every feature has one; with only some, it takes none and
  :func:`attributions_note` names the missing columns in one line.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from govflow import settings
from govflow.baselines.profile import (
    BaselineError,
    BaselineKind,
    BaselineProfile,
    active_baseline,
    baseline_created_under,
    build_profile,
    create_baseline,
    draw_reference_sample,
    lock_model,
    profile_columns,
    registered_model_or_none,
)
from govflow.config import GovflowConfig, ModelEntry
from govflow.metrics import MetricInputError
from govflow.metrics.explanation_drift import (
    attribution_column,
    missing_attribution_columns,
)
from govflow.monitoring.analysis import column_rules
from govflow.monitoring.prediction_logs import PREDICTION_ID, SCORED_AT
from govflow.monitoring.quality import (
    ALL_NULL_REQUIRED,
    CHECK_COLUMN_EXISTS,
    ColumnRule,
    QualityFinding,
    QualityPolicy,
    run_quality_gate,
)
from govflow.registry import (
    NOT_RECORDED,
    VALIDATION_EXISTS_DIFFERENTLY,
    RegistryError,
    find_version,
    get_version,
    register_model,
    register_version,
    serving_version,
)
from govflow.store.schema import Baseline, Model, ModelVersion

NO_ARTIFACT = ""
FROM_DATA_REASON = "baseline created from the model's own validation data ({source})"
RESET_REQUIRED = (
    "{model_id} {version} already has the active baseline {active}, made from other data: "
    "replacing it is a baseline reset, which needs approval; trigger the govflow_baseline_reset "
    "DAG (Params model, kind, reason, window_end)"
)
SAME_DATA_OTHER_NAME = (
    "{model_id} {version} already has the active baseline {active}, made from this data: it "
    "is not made again as {name!r} (leave out --name, or give --name {active})"
)
OTHER_THAN_VALIDATION_SET = (
    "{model_id} {version} already has the active baseline {active}, made from its registered "
    "validation set {uri}, and this data holds other rows or values: replacing it is a "
    "baseline reset, which needs approval; trigger the govflow_baseline_reset DAG (Params "
    "model, kind, reason, window_end)"
)
NOT_NEWEST = (
    "{model_id} {version} is not its newest registered version ({newest}): its baseline "
    "would replace the active baseline {active} of {active_version} without approval; going "
    "back to an older version is a rollback (govflow_rollback) or a baseline reset "
    "(govflow_baseline_reset), both approved"
)
NOT_SERVING = (
    "{model_id} {version} does not serve the model's traffic ({serving}): its baseline would "
    "replace the active baseline {active} of {active_version}, against which that traffic is "
    "judged; deploy {version} through govflow_model_deployment (its baseline becomes active "
    "once it serves all traffic) or replace the baseline by a reset (govflow_baseline_reset), "
    "both approved"
)
SERVED_BY = "{version} does"
SERVED_BY_NONE = "no version serves all of it"

NO_SUCH_SOURCE = "baseline data {source}: no such file or directory"
EMPTY_DIRECTORY = "baseline data {source}: no .parquet or .csv file in the directory"
UNKNOWN_FORMAT = "baseline data {source}: expected a .parquet or .csv file or a directory of them"
UNREADABLE_SOURCE = "baseline data {source}: {error}"
NO_ROWS = "baseline data {source}: no rows"
UNSET_URL = "baseline data: the environment variable {variable} (the database URL) is not set"
SQL_FAILED = "baseline data from {variable}: {error}"
NO_SUCH_ARTEFACT = "artefact {path}: no such file"
UNLOADABLE_ARTEFACT = "artefact {path}: joblib cannot load it as a model ({error})"
NOT_A_MODEL = (
    "artefact {path} holds a {held}, not a fitted model with {method}() "
    "(models.yaml makes {model_id} a {model_type})"
)
OTHER_FEATURES = (
    "artefact {path} was not fitted on the features models.yaml lists for {model_id}: {difference}"
)
MISSING_FEATURES = "missing {names}"
EXTRA_FEATURES = "extra {names}"
FEATURES_REORDERED = (
    "artefact {path} was fitted on the features models.yaml lists for {model_id} in another "
    "order ({fitted}); govflow passes them in models.yaml's ({configured})"
)
VALIDATION_SET_FILE = "validation.parquet"
# A registered artefact's file name in its version's directory, with the suffix it came with.
ARTEFACT_STEM = "model"
ARTEFACT_SUFFIX = ".joblib"
UNNAMEABLE_VERSION = (
    "version {version!r} cannot name the directory its artefact and validation set are "
    "stored in "
    "(models/<model>/<version>/): choose one without '/' or '\\' that is not '.' or '..'"
)
ANOTHER_VALIDATION_SET = "with another validation set ({uri})"
WITHOUT_VALIDATION_SET = "without a validation set"
NO_VERSION = "model {model_id} has no registered version: run 'govflow model register {model_id}'"
NO_VALIDATION_SET = "{model_id} {version} was registered without a validation set"
VALIDATION_SET = "{uri} (the validation set of {model_id} {version})"
DEPLOY_REASON = "new model deployed: baseline created from the validation set (seed 004 4.2)"
REFUSED_BY_GATE = "baseline data {source} refused by the data-quality gate: {problem}{more}"
MORE_PROBLEMS = " (and {count} more problems)"
TOO_FEW_BASELINE_ROWS = (
    "baseline data {source}: {rows} usable rows{cut}, fewer than the {minimum} a baseline of "
    "{model_id} needs (binning bins {bins} x min_group_size {group})"
)
ROWS_CUT = " of {read} (the data-quality gate cut the rest: {problems})"
NO_LABELS = (
    "baseline data {source}: {column}: none of the {rows} usable rows has a label; "
    "a baseline needs observed outcomes"
)
ONE_CLASS = (
    "baseline data {source}: {column}: all {rows} labelled rows are {value}; a baseline needs "
    "both outcomes (its accuracy and each group's error rates compare them)"
)
NO_DATES = (
    "baseline data {source}: {problem}, so the baseline cannot be named after the data's "
    "last day; name it with --name"
)
NO_DATE_COLUMN = "no {column} column"
NO_DATE_VALUES = "none of its {rows} {column} values is a timestamp"
FUTURE_DATES = (
    "baseline data {source}: its last {column}, {last}, is in the future, so the baseline "
    "cannot be named after it; correct the dates or name it with --name"
)
GATE_NOTE = "baseline data {source}: {problem}"
ROWS_LEFT_OUT = "baseline data {source}: {rows} of {read} rows profiled; the gate left out the rest"
UNPROFILABLE = "baseline data {source}: {error}"
# Validation data is no window of logs: its dates are bounded only by what a pandas timestamp
# holds, and no volume or freshness is asked of it.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
LOGGED_ATTRIBUTIONS = (
    "{model_id}: explanation drift from the logged attributions ({columns}); "
    "log them beside every prediction"
)
PARTIAL_ATTRIBUTIONS = (
    "{model_id}: no explanation drift: the data logs attributions but has no column for "
    "{missing}; log one per feature (or none) and create the baseline again"
)


class BaselineSourceError(ValueError):
    """The baseline's data cannot be read; the message names the source and the cause."""


class ResetRequired(BaselineError):
    """The model version already has an active baseline made from other data: replacing it
    is a reset (seed 004 sections 4.2 and 4.4), approved by a named person, never a new
    baseline of one's own data."""


@dataclass(frozen=True)
class GatedData:
    """What the data-quality gate leaves of a baseline's data, and what it noted."""

    rows: pd.DataFrame
    read_rows: int
    last_day: date | None
    summary: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ValidationSet:
    """A version's validation set as it is registered: the rows the data-quality gate kept,
    what it noted of the others, and the validation metrics of the labelled rows."""

    rows: pd.DataFrame
    notes: tuple[str, ...]
    metrics: dict[str, float | int]


@dataclass(frozen=True)
class GatedProfile:
    """The profile of the rows the data-quality gate kept of a baseline's data."""

    gated: GatedData
    profile: BaselineProfile
    black_box: bool


def register_from_config(
    session: Session,
    model: ModelEntry,
    *,
    version: str,
    actor: str,
    artifact: Path | None = None,
    training_snapshot: str = NOT_RECORDED,
    feature_version: str = NOT_RECORDED,
    validation: ValidationSet | None = None,
    data_dir: Path | None = None,
) -> tuple[Model, ModelVersion]:
    """Register ``model`` as models.yaml describes it, and ``version`` with its lineage and,
    given one, its ``validation`` set, stored under ``data_dir``. Again with the same values
    it changes nothing; another validation set for a registered version is a
    ``RegistryError``."""
    stored = None if validation is None else _stored_validation(validation, model.id, version)
    artefact = None if artifact is None else _stored_artefact(artifact, model, version)
    registered = register_model(
        session,
        model_id=model.id,
        model_type=model.type,
        risk_tier=model.risk_tier,
        owner=model.owner,
        business_purpose=model.business_purpose,
        actor=actor,
    )
    uri, sha256 = NO_ARTIFACT, NO_ARTIFACT
    if artefact is not None:
        uri, sha256 = artefact[0], hashlib.sha256(artefact[1]).hexdigest()
    existing = find_version(session, model.id, version)
    if stored is not None and existing is not None:
        assert data_dir is not None, "a validation set is stored in the data directory"
        _refuse_another_validation_set(existing, stored, data_dir)
    record = register_version(
        session,
        model_id=model.id,
        version=version,
        artifact_uri=uri,
        artifact_sha256=sha256,
        training_snapshot_id=training_snapshot,
        feature_version=feature_version,
        validation_uri=None if stored is None else stored[0],
        validation_metrics={} if validation is None else validation.metrics,
        decision_threshold=None,
        actor=actor,
    )
    if existing is None:
        # Written once the registry took the version, so that a refused one leaves no file.
        for relative, content in (item for item in (stored, artefact) if item is not None):
            assert data_dir is not None, "a version's files are stored in the data directory"
            path = data_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    return registered, record


def gate_validation_set(
    config: GovflowConfig, model: ModelEntry, data: pd.DataFrame, *, source: str
) -> ValidationSet:
    """``data`` as a version's validation set: through the data-quality gate a baseline's
    data goes through (refused as it refuses, in one line naming ``source``; the set is
    named after its version, so it needs no dates), with the validation metrics of its
    labelled rows."""
    _require_profile_columns(model, data, source=source)
    gated = gate_baseline_data(config, model, data, source=source, named=True)
    labelled = gated.rows[gated.rows[model.columns.label].notna()]
    return ValidationSet(
        rows=gated.rows,
        notes=gated.notes,
        metrics=validation_metrics(labelled, regressor=model.is_regressor),
    )


def validation_metrics(validation: pd.DataFrame, *, regressor: bool) -> dict[str, float | int]:
    """A classifier's accuracy, ROC AUC, positive rate and base rate, or a regressor's MAE,
    RMSE, mean prediction and mean label, of a labelled validation frame, to 6 decimals."""
    if regressor:
        truth, predicted = validation["label"].to_numpy(float), validation["prediction"]
        return {
            "rows": len(validation),
            "mae": round(float(mean_absolute_error(truth, predicted.to_numpy(float))), 6),
            "rmse": round(float(root_mean_squared_error(truth, predicted.to_numpy(float))), 6),
            "mean_prediction": round(float(validation["prediction"].mean()), 6),
            "mean_label": round(float(validation["label"].mean()), 6),
        }
    labels = validation["label"].to_numpy(dtype=int)
    predictions = validation["prediction"].to_numpy(dtype=int)
    return {
        "rows": len(validation),
        "accuracy": round(float(accuracy_score(labels, predictions)), 6),
        "roc_auc": round(float(roc_auc_score(labels, validation["score"])), 6),
        "positive_rate": round(float(predictions.mean()), 6),
        "base_rate": round(float(labels.mean()), 6),
    }


def _version_directory(model_id: str, version: str) -> Path:
    """Where a version's files are stored, relative to the data directory."""
    if version in (".", "..") or "/" in version or "\\" in version:
        raise BaselineSourceError(UNNAMEABLE_VERSION.format(version=version))
    return Path("models") / model_id / version


def _stored_validation(validation: ValidationSet, model_id: str, version: str) -> tuple[str, bytes]:
    """Where ``version``'s validation set is stored, relative to the data directory, and the
    parquet bytes stored there."""
    buffer = io.BytesIO()
    validation.rows.to_parquet(buffer, index=False)
    path = _version_directory(model_id, version) / VALIDATION_SET_FILE
    return path.as_posix(), buffer.getvalue()


def _stored_artefact(artifact: Path, model: ModelEntry, version: str) -> tuple[str, bytes]:
    """Where ``version``'s artefact is stored, relative to the data directory, and its bytes:
    a copy, since the gateway and the rollback's dry run read the registered path long
    after the file the owner named may have moved."""
    check_artefact(artifact, model)
    name = ARTEFACT_STEM + (artifact.suffix or ARTEFACT_SUFFIX)
    return (_version_directory(model.id, version) / name).as_posix(), artifact.read_bytes()


def _refuse_another_validation_set(
    existing: ModelVersion, stored: tuple[str, bytes], data_dir: Path
) -> None:
    """A registered version keeps the validation set it was registered with: the same rows
    again are accepted, other rows (or a set for a version registered without one) are
    refused. Compared as stored, so that what parquet changes (a CSV's column types) does
    not count as a difference."""
    if existing.validation_uri is None:
        held = WITHOUT_VALIDATION_SET
    else:
        kept = pd.read_parquet(data_dir / existing.validation_uri)
        if _fingerprint(kept) == _fingerprint(pd.read_parquet(io.BytesIO(stored[1]))):
            return
        held = ANOTHER_VALIDATION_SET.format(uri=existing.validation_uri)
    raise RegistryError(
        VALIDATION_EXISTS_DIFFERENTLY.format(
            model_id=existing.model_id, version=existing.version, held=held
        )
    )


def check_artefact(artifact: Path, model: ModelEntry) -> None:
    """Refuse an artefact that is not a fitted model of ``model``'s type: one joblib cannot
    load, without the method its type is called through (``predict_proba`` for a
    classifier, ``predict`` for a regressor), or fitted on other features than models.yaml
    lists, or in another order (sklearn's ``feature_names_in_``; an artefact fitted on an
    array has none and is taken as it is). Loading it unpickles it, which runs code: it
    is the file its owner registers and baseline create would load next."""
    if not artifact.is_file():
        raise BaselineSourceError(NO_SUCH_ARTEFACT.format(path=artifact))
    try:
        estimator = joblib.load(artifact)
    except Exception as error:  # unpickling arbitrary bytes can raise anything
        raise BaselineSourceError(
            UNLOADABLE_ARTEFACT.format(path=artifact, error=_first_line(error))
        ) from error
    method = "predict" if model.is_regressor else "predict_proba"
    if not callable(getattr(estimator, method, None)):
        raise BaselineSourceError(
            NOT_A_MODEL.format(
                path=artifact,
                held=type(estimator).__name__,
                method=method,
                model_id=model.id,
                model_type=model.type,
            )
        )
    _check_feature_names(estimator, artifact, model)


def _check_feature_names(estimator: object, artifact: Path, model: ModelEntry) -> None:
    """Every scorer (baseline, explanations, the gateway) passes the features in models.yaml's
    order, and sklearn refuses a frame whose columns are not the ones it was fitted on."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return
    fitted = [str(name) for name in names]
    configured = [feature.name for feature in model.features]
    missing = [name for name in configured if name not in fitted]
    extra = [name for name in fitted if name not in configured]
    differences = []
    if missing:
        differences.append(MISSING_FEATURES.format(names=", ".join(missing)))
    if extra:
        differences.append(EXTRA_FEATURES.format(names=", ".join(extra)))
    if differences:
        raise BaselineSourceError(
            OTHER_FEATURES.format(
                path=artifact, model_id=model.id, difference="; ".join(differences)
            )
        )
    if fitted != configured:
        raise BaselineSourceError(
            FEATURES_REORDERED.format(
                path=artifact,
                model_id=model.id,
                fitted=", ".join(fitted),
                configured=", ".join(configured),
            )
        )


def _first_line(error: BaseException) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines and lines[0] else "not a joblib or pickle file"


def read_baseline_data(source: str, *, url_env: str | None = None) -> pd.DataFrame:
    """The validation data at ``source``: a file or directory, or with ``url_env`` a table
    name or a SELECT query in the database whose URL that environment variable holds."""
    frame = _read_sql(source, url_env) if url_env is not None else _read_files(Path(source))
    if frame.empty:
        raise BaselineSourceError(NO_ROWS.format(source=source))
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _read_files(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise BaselineSourceError(NO_SUCH_SOURCE.format(source=path))
    files = (
        sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".csv"))
        if path.is_dir()
        else [path]
    )
    if not files:
        raise BaselineSourceError(EMPTY_DIRECTORY.format(source=path))
    frames = []
    for file in files:
        if file.suffix not in (".parquet", ".csv"):
            raise BaselineSourceError(UNKNOWN_FORMAT.format(source=file))
        try:
            frames.append(pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file))
        except (OSError, ValueError) as error:
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise BaselineSourceError(
                UNREADABLE_SOURCE.format(source=file, error=first_line)
            ) from error
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_sql(source: str, variable: str) -> pd.DataFrame:
    url = os.environ.get(variable)
    if not url:
        raise BaselineSourceError(UNSET_URL.format(variable=variable))
    query = source if source.lstrip().lower().startswith("select") else None
    try:
        engine = create_engine(settings.parse_url(url, variable))
    except (ArgumentError, ImportError) as error:  # no such dialect or driver here
        raise settings.BadUrl(f"{variable}: {error}") from None
    try:
        with engine.connect() as connection:
            if query is not None:
                return pd.read_sql_query(text(query), connection)
            schema, _, table = source.rpartition(".")
            return pd.read_sql_table(table, connection, schema=schema or None)
    except (SQLAlchemyError, ValueError) as error:
        cause = getattr(error, "orig", None) or error
        first_line = str(cause).splitlines()[0]
        raise BaselineSourceError(SQL_FAILED.format(variable=variable, error=first_line)) from error
    finally:
        engine.dispose()


def create_baseline_from_data(
    session: Session,
    *,
    data_dir: Path,
    config: GovflowConfig,
    model: ModelEntry,
    data: pd.DataFrame,
    source: str,
    created_by: str,
    model_version: str | None = None,
    name: str | None = None,
    seed: int = 0,
    now: datetime | None = None,
) -> Baseline:
    """Build ``model``'s baseline from the rows of ``data`` the data-quality gate keeps and
    make it the active one (idempotent on the data: the same rows again return the baseline
    they made). Its ``details`` keep the gate's summary and notes.

    It takes on a model, or a version with no active baseline yet that serves all traffic:
    while the version's active baseline was made from other data, or another version's
    baseline is active and this version does not serve, it is a :class:`ResetRequired`,
    and nothing is stored."""
    version = model_version or _newest_version(session, model.id)
    registered = session.get(Model, model.id)
    if registered is None:
        raise BaselineError(NO_VERSION.format(model_id=model.id))
    if model_version is not None:
        get_version(session, model.id, model_version)  # a version never registered is refused
    key = f"{model.id}:{version}:data:{_fingerprint(data)}:{name or ''}"
    # Locked before the active baseline is read, so that of two first baselines made at once
    # the second sees the first and is refused instead of replacing it.
    lock_model(session, model.id)
    active = active_baseline(session, model.id)
    if active is not None and active.model_version == version:
        earlier = baseline_created_under(session, key)
        if earlier is None or earlier.id != active.id:
            made_from = _validation_set_of(session, active)
            # The same rows as the active baseline's, perhaps asked for under another name.
            same_data = (
                _holds_the_rows_of(made_from, config, model, data, source=source, data_dir=data_dir)
                if made_from is not None
                else _made_from_the_same_data(session, key, active)
            )
            if same_data and name in (None, active.version):
                # The demo's baseline, and a deployment's, were profiled from the version's
                # registered validation set: its rows again are the same data.
                return active
            if same_data:
                raise ResetRequired(
                    SAME_DATA_OTHER_NAME.format(
                        model_id=model.id, version=version, active=active.version, name=name
                    )
                )
            if made_from is None:
                raise ResetRequired(
                    RESET_REQUIRED.format(model_id=model.id, version=version, active=active.version)
                )
            raise ResetRequired(
                OTHER_THAN_VALIDATION_SET.format(
                    model_id=model.id,
                    version=version,
                    active=active.version,
                    uri=made_from.validation_uri,
                )
            )
    elif active is not None and version != (newest := _newest_version(session, model.id)):
        # Only a newly registered version is taken on here: going back to an older one
        # replaces the serving version's reference, a rollback or a reset.
        raise ResetRequired(
            NOT_NEWEST.format(
                model_id=model.id,
                version=version,
                newest=newest,
                active=active.version,
                active_version=active.model_version,
            )
        )
    elif active is not None and version != (serving := serving_version(session, model.id)):
        # Monitoring judges the serving version's traffic against the active baseline: a
        # version that does not serve takes it over only once deployed (its pending baseline
        # is activated at full) or by an approved reset.
        raise ResetRequired(
            NOT_SERVING.format(
                model_id=model.id,
                version=version,
                serving=SERVED_BY_NONE if serving is None else SERVED_BY.format(version=serving),
                active=active.version,
                active_version=active.model_version,
            )
        )
    built = _profile_gated_data(
        session,
        config,
        model,
        data,
        source=source,
        model_version=version,
        data_dir=data_dir,
        seed=seed,
        named=name is not None,
        now=now,
    )
    rows = built.gated.rows
    return create_baseline(
        session,
        model_id=model.id,
        model_version=version,
        profile=built.profile,
        kind="deploy",
        created_by=created_by,
        reason=FROM_DATA_REASON.format(source=source),
        data_dir=data_dir,
        reference_sample=draw_reference_sample(rows[profile_columns(model)], seed=seed),
        created_on=built.gated.last_day,
        version=name,
        idempotency_key=key,
        details={
            "source": source,
            "rows": built.gated.read_rows,
            "profiled_rows": len(rows),
            "data_quality": built.gated.summary,
            "data_quality_notes": list(built.gated.notes),
            "black_box": built.black_box,
            **attribution_details(model, rows, black_box=built.black_box),
        },
    )


def create_baseline_from_validation_set(
    session: Session,
    config: GovflowConfig,
    *,
    data_dir: Path,
    model_id: str,
    model_version: str,
    created_by: str,
    kind: BaselineKind = "deploy",
    reason: str = DEPLOY_REASON,
    seed: int = 0,
    created_on: date | None = None,
    idempotency_key: str | None = None,
    details: dict[str, Any] | None = None,
    activate: bool = True,
) -> Baseline:
    """Build and store the baseline of a registered version from the rows of its validation
    set the data-quality gate keeps (stored pending with ``activate`` false, see
    ``profile.create_baseline``); refused in one line naming the set, and nothing stored,
    when the gate refuses it. The gate's notes, when it made any, are kept in ``details``
    (``data_quality_notes``), which are otherwise the caller's.

    The idempotency key defaults to (model, version, kind, validation set): building it
    again, by a retried task or a second seeding, returns the first baseline. A caller for
    whom each occasion deserves its own baseline (each deployment) passes its own key.
    """
    registered = get_version(session, model_id, model_version)
    if registered.validation_uri is None:
        raise BaselineError(NO_VALIDATION_SET.format(model_id=model_id, version=model_version))
    if idempotency_key is None:
        idempotency_key = _validation_set_key(registered, kind)
    earlier = baseline_created_under(session, idempotency_key)
    if earlier is not None:
        return earlier
    model = config.models.get(model_id)
    built = _profile_gated_data(
        session,
        config,
        model,
        read_baseline_data(str(Path(data_dir) / registered.validation_uri)),
        source=VALIDATION_SET.format(
            uri=registered.validation_uri, model_id=model_id, version=model_version
        ),
        model_version=model_version,
        data_dir=data_dir,
        seed=seed,
        # The baseline is named after the day it is created on, not after the data's dates.
        named=True,
    )
    notes = {"data_quality_notes": list(built.gated.notes)} if built.gated.notes else {}
    return create_baseline(
        session,
        model_id=model_id,
        model_version=model_version,
        profile=built.profile,
        kind=kind,
        created_by=created_by,
        reason=reason,
        data_dir=data_dir,
        reference_sample=draw_reference_sample(built.gated.rows[profile_columns(model)], seed=seed),
        created_on=created_on,
        idempotency_key=idempotency_key,
        details={**(details or {}), **notes},
        activate=activate,
    )


def _validation_set_key(registered: ModelVersion, kind: BaselineKind) -> str:
    return (
        f"{registered.model_id}:{registered.version}:{kind}:validation:{registered.validation_uri}"
    )


def _validation_set_of(session: Session, baseline: Baseline) -> ModelVersion | None:
    """The registered version whose validation set ``baseline`` was profiled from (the
    demo's, made under the set's key, or a deployment's), or None."""
    registered = find_version(session, baseline.model_id, baseline.model_version)
    if registered is None or registered.validation_uri is None:
        return None
    made = baseline_created_under(session, _validation_set_key(registered, "deploy"))
    if (made is not None and made.id == baseline.id) or "deployment_ref" in baseline.details:
        return registered
    return None


def _made_from_the_same_data(session: Session, key: str, active: Baseline) -> bool:
    """Whether ``active`` was made from the data of ``key`` (its fingerprint) unnamed or
    under its own name, whatever name ``key`` asks for now."""
    unnamed = key.rsplit(":", 1)[0]
    for named in ("", active.version):
        made = baseline_created_under(session, f"{unnamed}:{named}")
        if made is not None and made.id == active.id:
            return True
    return False


def _holds_the_rows_of(
    registered: ModelVersion,
    config: GovflowConfig,
    model: ModelEntry,
    data: pd.DataFrame,
    *,
    source: str,
    data_dir: Path,
) -> bool:
    """Whether ``data`` is ``registered``'s validation set: the stored file itself, or data
    that registering would store as it (the file it was registered from)."""
    assert registered.validation_uri is not None, "only a registered validation set is compared"
    kept = _fingerprint(pd.read_parquet(Path(data_dir) / registered.validation_uri))
    if _fingerprint(data) == kept:
        return True
    gated = gate_validation_set(config, model, data, source=source)
    stored = _stored_validation(gated, model.id, registered.version)[1]
    return _fingerprint(pd.read_parquet(io.BytesIO(stored))) == kept


def _profile_gated_data(
    session: Session,
    config: GovflowConfig,
    model: ModelEntry,
    data: pd.DataFrame,
    *,
    source: str,
    model_version: str,
    data_dir: Path,
    seed: int = 0,
    named: bool = False,
    now: datetime | None = None,
) -> GatedProfile:
    """The profile of ``model_version`` on the rows of ``data`` that :func:`gate_baseline_data`
    keeps, with the version's registered artefact (none for a black box); a missing column,
    data the gate refuses and rows that cannot be profiled are a ``BaselineError`` in one
    line naming ``source``."""
    _require_profile_columns(model, data, source=source)
    gated = gate_baseline_data(config, model, data, source=source, named=named, now=now)
    artefact = registered_model_or_none(
        session, data_dir=data_dir, model_id=model.id, model_version=model_version
    )
    try:
        profile = build_profile(
            model.id,
            model_version,
            validation=gated.rows,
            model=artefact,
            model_config=model,
            seed=seed,
        )
    except MetricInputError as error:  # what the gate does not judge, named by the source
        raise BaselineError(UNPROFILABLE.format(source=source, error=error)) from error
    return GatedProfile(gated=gated, profile=profile, black_box=artefact is None)


def _require_profile_columns(model: ModelEntry, data: pd.DataFrame, *, source: str) -> None:
    missing = [column for column in profile_columns(model) if column not in data]
    if missing:
        raise BaselineError(
            f"baseline data {source} has no column for: {', '.join(missing)} "
            f"(models.yaml names them for {model.id})"
        )


def minimum_baseline_rows(config: GovflowConfig, model: ModelEntry) -> int:
    """The fewest rows a baseline is built from: ``min_group_size`` (policy.yaml fairness,
    or the model's own in models.yaml) per bin of the model's binning (models.yaml
    ``binning.bins``), so each frozen bin's reference share rests on as many rows as the
    smallest group fairness compares; 300 for ten bins and the shipped policy."""
    return model.binning.bins * config.min_group_size(model.id)


def gate_baseline_data(
    config: GovflowConfig,
    model: ModelEntry,
    data: pd.DataFrame,
    *,
    source: str,
    named: bool = False,
    now: datetime | None = None,
) -> GatedData:
    """The rows of ``data`` a baseline is built from, refused with a ``BaselineError`` whose
    one line names the column, the problem and the count (module doc); ``named`` when the
    caller names the baseline, so its dates need not."""
    data = data.reset_index(drop=True)
    rules = [_baseline_rule(rule) for rule in column_rules(model, config)]
    keys = [
        ColumnRule(PREDICTION_ID, "identifier", required=False),
        ColumnRule(SCORED_AT, "timestamp", required=False),
    ]
    quality = config.policy.data_quality
    report = run_quality_gate(
        data,
        rules=[*keys, *rules],
        policy=QualityPolicy(
            expected_rows=len(data),
            volume_tolerance=0.0,
            max_staleness_hours=(LATEST - EARLIEST).total_seconds() / 3600,
            min_rows=1,
            unseen_category_fraction_max=quality.unseen_category_fraction_max,
            out_of_range_fraction_max=quality.out_of_range_fraction_max,
        ),
        window_start=EARLIEST,
        window_end=LATEST,
        engine=quality.engine,
    )
    # Validation data need not carry the log's keys: they are checked when it has them.
    findings = [
        finding
        for finding in report.findings
        if not (
            finding.check == CHECK_COLUMN_EXISTS
            and finding.columns[0] in (PREDICTION_ID, SCORED_AT)
        )
    ]
    critical = [finding for finding in findings if finding.severity_hint == "CRITICAL"]
    if critical:
        more = MORE_PROBLEMS.format(count=len(critical) - 1) if len(critical) > 1 else ""
        raise BaselineError(
            REFUSED_BY_GATE.format(source=source, problem=_problem(critical[0]), more=more)
        )
    usable = report.usable_frame()
    label = model.columns.label
    # The rows as they were read, but with the gate's labels: it blanks a label outside 0 and
    # 1 (a label is optional) and keeps the rest of its row.
    rows = data.loc[usable.index].assign(**{label: usable.get(label, np.nan)})
    minimum = minimum_baseline_rows(config, model)
    if len(rows) < minimum:
        cut = (
            ROWS_CUT.format(read=len(data), problems="; ".join(map(_problem, findings)))
            if len(rows) < len(data)
            else ""
        )
        raise BaselineError(
            TOO_FEW_BASELINE_ROWS.format(
                source=source,
                rows=len(rows),
                cut=cut,
                minimum=minimum,
                model_id=model.id,
                bins=model.binning.bins,
                group=config.min_group_size(model.id),
            )
        )
    _check_labels(rows[label], model, source=source)
    last_day = _last_day(
        usable,
        has_dates=SCORED_AT in data,
        read_rows=len(data),
        source=source,
        named=named,
        now=now or datetime.now(UTC),
    )
    notes = [GATE_NOTE.format(source=source, problem=_problem(finding)) for finding in findings]
    if len(rows) < len(data):
        notes.append(ROWS_LEFT_OUT.format(source=source, rows=len(rows), read=len(data)))
    return GatedData(
        rows=rows.reset_index(drop=True),
        read_rows=len(data),
        last_day=last_day,
        # Summarised on the findings that count: the keys validation data need not carry
        # are no failure ("data quality FAILED: missing column scored_at" was kept).
        summary=replace(report, findings=tuple(findings)).summary,
        notes=tuple(notes),
    )


def _baseline_rule(rule: ColumnRule) -> ColumnRule:
    """A day's rule for a column as a baseline applies it (module doc): an undeclared
    category, and a null in a required column, cut the row and are named, where a day keeps
    the row (with a note, or below ``null_tolerance`` without one) and the profile would
    silently leave the value out of its column."""
    if not rule.required:
        return replace(rule, keep_unexpected=False)
    return replace(rule, keep_unexpected=False, max_null_fraction=0.0, drop_nulls=True)


def _problem(finding: QualityFinding) -> str:
    """A finding's message; "the window cannot be monitored" is a day's reason, not a
    baseline's."""
    return finding.message.removesuffix(ALL_NULL_REQUIRED)


def _check_labels(labels: pd.Series, model: ModelEntry, *, source: str) -> None:
    observed = pd.to_numeric(labels, errors="coerce").dropna()
    if observed.empty:
        raise BaselineError(NO_LABELS.format(source=source, column=labels.name, rows=len(labels)))
    if not model.is_regressor and observed.nunique() == 1:
        raise BaselineError(
            ONE_CLASS.format(
                source=source, column=labels.name, rows=len(observed), value=f"{observed.iloc[0]:g}"
            )
        )


def _last_day(
    usable: pd.DataFrame,
    *,
    has_dates: bool,
    read_rows: int,
    source: str,
    named: bool,
    now: datetime,
) -> date | None:
    """The day a baseline is named after: the data's last ``scored_at``, refused when there
    is none or it lies in the future, unless the caller names the baseline."""
    # The gate parsed the dates (blanking those that fail) or left the column out, unusable.
    moments = usable[SCORED_AT].dropna() if SCORED_AT in usable else pd.Series([])
    last = moments.max() if len(moments) else None
    if named:
        return None if last is None or last > now else last.date()
    if last is None:
        problem = (
            NO_DATE_COLUMN.format(column=SCORED_AT)
            if not has_dates
            else NO_DATE_VALUES.format(rows=read_rows, column=SCORED_AT)
        )
        raise BaselineError(NO_DATES.format(source=source, problem=problem))
    if last > now:
        raise BaselineError(
            FUTURE_DATES.format(source=source, column=SCORED_AT, last=last.isoformat())
        )
    return last.date()


def attribution_details(
    model: ModelEntry, data: pd.DataFrame, *, black_box: bool
) -> dict[str, Any]:
    """How a black-box classifier's baseline got its attributions (nothing for the others:
    their details are as they were)."""
    if not black_box or model.is_regressor:
        return {}
    features = [feature.name for feature in model.features]
    missing = missing_attribution_columns(data.columns, features)
    if not missing:
        return {"attributions": "logged"}
    if len(missing) < len(features):
        return {"attributions": None, "missing_attribution_columns": missing}
    return {"attributions": None}


def attributions_note(model: ModelEntry, baseline: Baseline) -> str | None:
    """One line on a black box's logged attributions: used, or which columns are missing."""
    details = baseline.details or {}
    if details.get("attributions") == "logged":
        columns = ", ".join(attribution_column(feature.name) for feature in model.features)
        return LOGGED_ATTRIBUTIONS.format(model_id=model.id, columns=columns)
    missing = details.get("missing_attribution_columns")
    if missing:
        return PARTIAL_ATTRIBUTIONS.format(model_id=model.id, missing=", ".join(missing))
    return None


def _newest_version(session: Session, model_id: str) -> str:
    registered = session.get(Model, model_id)
    if registered is None or not registered.versions:
        raise BaselineError(NO_VERSION.format(model_id=model_id))
    return max(registered.versions, key=lambda v: (v.created_at, v.id)).version


def _fingerprint(data: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(data, index=False).to_numpy()
    columns = ",".join(data.columns).encode()
    return hashlib.sha256(columns + hashed.tobytes()).hexdigest()[:32]
