"""A team's own model, from its models.yaml entry to monitoring: register it, then build its
baseline from its own validation data (``govflow model register``, ``govflow baseline
create``).

* :func:`register_from_config` registers the model as models.yaml describes it (owner,
  business purpose, risk tier) and one version with its lineage: an optional artefact
  (recorded by path and sha256; without one the model is a black box, monitored on its logs
  alone), the training-data snapshot and the feature version. Both steps are idempotent and
  audited by the registry; the version starts as a draft, and the registry's approval
  (never by the model's owner) is a separate step.
* :func:`read_baseline_data` reads the validation data: a parquet or CSV file, a directory
  of them, or a SQL table or query through a URL held in an environment variable.
* :func:`create_baseline_from_data` builds and activates the baseline profile. Its version
  is named after the data's dates (the last ``scored_at`` day, when the data has one) unless
  a name is given; the same data a second time returns the same baseline. A black-box
  classifier's baseline takes its attributions from the data's ``attribution__<feature>``
  columns when every feature has one; with only some, it takes none and
  :func:`attributions_note` names the missing columns in one line.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from govflow import settings
from govflow.baselines.profile import (
    BaselineError,
    build_profile,
    create_baseline,
    draw_reference_sample,
    profile_columns,
    registered_model_or_none,
)
from govflow.config import ModelEntry
from govflow.metrics.explanation_drift import (
    attribution_column,
    missing_attribution_columns,
)
from govflow.monitoring.prediction_logs import SCORED_AT
from govflow.registry import register_model, register_version
from govflow.store.schema import Baseline, Model, ModelVersion

NO_ARTIFACT = ""
NOT_RECORDED = "not recorded"
FROM_DATA_REASON = "baseline created from the model's own validation data ({source})"

NO_SUCH_SOURCE = "baseline data {source}: no such file or directory"
EMPTY_DIRECTORY = "baseline data {source}: no .parquet or .csv file in the directory"
UNKNOWN_FORMAT = "baseline data {source}: expected a .parquet or .csv file or a directory of them"
UNREADABLE_SOURCE = "baseline data {source}: {error}"
NO_ROWS = "baseline data {source}: no rows"
UNSET_URL = "baseline data: the environment variable {variable} (the database URL) is not set"
SQL_FAILED = "baseline data from {variable}: {error}"
NO_VERSION = "model {model_id} has no registered version: run 'govflow model register {model_id}'"
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


def register_from_config(
    session: Session,
    model: ModelEntry,
    *,
    version: str,
    actor: str,
    artifact: Path | None = None,
    training_snapshot: str = NOT_RECORDED,
    feature_version: str = NOT_RECORDED,
) -> tuple[Model, ModelVersion]:
    """Register ``model`` as models.yaml describes it, and ``version`` with its lineage."""
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
    if artifact is not None:
        if not artifact.is_file():
            raise BaselineSourceError(f"artefact {artifact}: no such file")
        uri, sha256 = str(artifact.resolve()), hashlib.sha256(artifact.read_bytes()).hexdigest()
    return registered, register_version(
        session,
        model_id=model.id,
        version=version,
        artifact_uri=uri,
        artifact_sha256=sha256,
        training_snapshot_id=training_snapshot,
        feature_version=feature_version,
        validation_uri=None,
        validation_metrics={},
        decision_threshold=None,
        actor=actor,
    )


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
    model: ModelEntry,
    data: pd.DataFrame,
    source: str,
    created_by: str,
    model_version: str | None = None,
    name: str | None = None,
    seed: int = 0,
) -> Baseline:
    """Build ``model``'s baseline from ``data`` and make it the active one (idempotent on the
    data: the same rows again return the baseline they made)."""
    version = model_version or _newest_version(session, model.id)
    registered = session.get(Model, model.id)
    if registered is None:
        raise BaselineError(NO_VERSION.format(model_id=model.id))
    missing = [column for column in profile_columns(model) if column not in data]
    if missing:
        raise BaselineError(
            f"baseline data {source} has no column for: {', '.join(missing)} "
            f"(models.yaml names them for {model.id})"
        )
    artefact = registered_model_or_none(
        session, data_dir=data_dir, model_id=model.id, model_version=version
    )
    profile = build_profile(
        model.id, version, validation=data, model=artefact, model_config=model, seed=seed
    )
    return create_baseline(
        session,
        model_id=model.id,
        model_version=version,
        profile=profile,
        kind="deploy",
        created_by=created_by,
        reason=FROM_DATA_REASON.format(source=source),
        data_dir=data_dir,
        reference_sample=draw_reference_sample(data[profile_columns(model)], seed=seed),
        created_on=_data_day(data),
        version=name,
        idempotency_key=f"{model.id}:{version}:data:{_fingerprint(data)}:{name or ''}",
        details={
            "source": source,
            "rows": len(data),
            "black_box": artefact is None,
            **attribution_details(model, data, black_box=artefact is None),
        },
    )


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


def _data_day(data: pd.DataFrame) -> date | None:
    """The last day the data covers (its newest ``scored_at``), None without dates."""
    if SCORED_AT not in data:
        return None
    moments = pd.to_datetime(data[SCORED_AT], utc=True, errors="coerce").dropna()
    return None if moments.empty else moments.max().date()


def _fingerprint(data: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(data, index=False).to_numpy()
    columns = ",".join(data.columns).encode()
    return hashlib.sha256(columns + hashed.tobytes()).hexdigest()[:32]
