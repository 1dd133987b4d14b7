"""Seed 004 section 4: the baseline, a versioned and immutable profile of a model version.

Profile (section 4.1)
---------------------
:func:`build_profile` freezes, from a model version's validation set, everything a monitoring
run compares against, so that a run reads the profile and never the reference rows:

* per numeric feature, :class:`~govflow.metrics.NumericReference`: frozen bin edges and
  reference counts (binning from the model's ``binning`` in models.yaml: reference quantiles,
  i.e. deciles for 10 bins, or equal-width bins over the reference range), 1000 quantiles,
  mean and std;
* per categorical feature, :class:`~govflow.metrics.CategoricalReference`: category counts;
* the score distribution (:class:`ScoreProfile`): score deciles and counts, the positive
  prediction rate, the mean binary entropy, the favourable-label rate;
* per protected attribute and per configured intersection (``gender&age_band``), the
  per-group counts of :func:`~govflow.metrics.group_counts` (selection, confusion matrix,
  calibration bins) from which every fairness rate is arithmetic;
* the validation accuracy over labelled rows;
* for a ``regressor`` (no score, no classes) instead of the score distribution, the per-group
  counts and the accuracy: :class:`RegressionProfile`, the prediction's frozen deciles and
  spread and the errors on labelled rows (:mod:`govflow.metrics.regression`); its fairness
  is judged on the window's own group means, so the profile keeps no group counts;
* the mean |SHAP| attribution per feature (:mod:`govflow.metrics.explanation_drift`) of a
  classifier's probability or a regressor's prediction,
  and the background rows they were measured against, so a later window is explained the same way;
  for a black-box model (no artefact) whose data logs an ``attribution__<feature>``
  column for every feature, the mean |logged attribution| per feature instead (``source``
  "logged", no background); with some of those columns missing, or none, no attributions.

``BaselineProfile.to_dict()`` is plain JSON with a ``schema_version``; ``from_dict`` gives the
typed objects back. A bounded reference sample (at most 5000 rows, drawn deterministically)
is written beside it as parquet, ``<data_dir>/baselines/<model_id>/<version>/
reference_sample.parquet``, for visual reports only.

Versions and activation (sections 4.2-4.3)
------------------------------------------
:func:`create_baseline` names a baseline ``YYYY-MM-DD-vN`` (the day of creation, N counting
that model's baselines of the day), archives the active one (``is_active`` false,
``archived_at`` set, never deleted) and activates the new one in the same transaction, and
writes the audit events ``baseline.archived`` and ``baseline.created`` (WARNING when it
replaces an active baseline, :func:`replacement_severity`; INFO for the first). The archive is
flushed before the insert so the one-active-per-model index holds at every statement. A
baseline may instead be stored *pending* (neither active nor archived) and activated later
(:func:`activate_baseline`, audited ``baseline.activated``): a deployed version's baseline
becomes active when the version serves all traffic, not when its rollout starts. With an
idempotency key, a retry finds the ``baseline.created`` event recorded under that key and
returns its baseline instead of creating another. A baseline records who created it, who
approved it (null for the automatic triggers) and, in ``details``, the section 4.2 trigger
and what it was built from; :mod:`govflow.baselines.management` decides when and from what.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import AuditSeverity, event_under, record_event
from govflow.config import ModelEntry
from govflow.metrics import (
    CategoricalReference,
    ErrorSummary,
    GroupCounts,
    MetricInputError,
    NumericReference,
    accuracy,
    binary_labels,
    binary_predictions,
    categorical_reference,
    error_summary,
    finite_values,
    group_counts,
    intersectional_groups,
    mean_binary_entropy,
    numeric_reference,
)
from govflow.metrics.data_drift import BinningMethod
from govflow.metrics.explanation_drift import (
    ExplanationBackground,
    ExplanationInputError,
    FeatureAttributions,
    ProbabilisticClassifier,
    Regressor,
    explanation_background,
    feature_attributions,
    logged_attributions,
    missing_attribution_columns,
)
from govflow.metrics.regression import finite_predictions
from govflow.registry import get_version
from govflow.store.schema import Baseline, Model
from govflow.store.types import utcnow

BaselineKind = Literal["deploy", "refresh", "reset"]
SCHEMA_VERSION = 1
REFERENCE_SAMPLE_ROWS = 5000
BASELINE_DIR = "baselines"
REFERENCE_SAMPLE_FILE = "reference_sample.parquet"
CREATED = "baseline.created"
ARCHIVED = "baseline.archived"
ACTIVATED = "baseline.activated"

MISSING_COLUMNS = "the validation set of {model_id} {version} has no column for: {missing}"
UNKNOWN_KIND = "unknown baseline kind {kind!r}; expected one of deploy, refresh, reset"
UNKNOWN_MODEL = "model {model_id!r} is not registered"
VERSION_TAKEN = "model {model_id} already has a baseline named {version!r}: choose another name"
UNSUPPORTED_SCHEMA = (
    "baseline profile schema_version {found} is not supported (expected {expected})"
)
WRONG_MODEL = "the profile describes {profile_model} {profile_version}, not {model_id} {version}"
BAD_REGRESSION_DATA = "the validation set of {model_id} {version}: {error}"
BAD_LOGGED_ATTRIBUTIONS = (
    "the validation set of {model_id} {version}: {error}; "
    "fix its attribution__ columns or leave them all out"
)
ARTIFACT_UNLOADABLE = (
    "the artefact of {model_id} {version} at {path} cannot be loaded by joblib ({error})"
)
ARTIFACT_NOT_A_MODEL = (
    "the artefact of {model_id} {version} at {path} holds a {held}, not a fitted model "
    "with {method}()"
)
ARTIFACT_CHANGED = (
    "the artefact of {model_id} {version} at {path} does not match its registered sha256"
)


class BaselineError(ValueError):
    """A baseline cannot be built, stored or read; the message says why."""


@dataclass(frozen=True)
class ScoreProfile:
    """The prediction distribution of the reference (seed 004 section 4.1)."""

    deciles: NumericReference
    positive_prediction_rate: float
    mean_binary_entropy: float
    labelled_rows: int
    favourable_label_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "deciles": self.deciles.to_dict(),
            "positive_prediction_rate": self.positive_prediction_rate,
            "mean_binary_entropy": self.mean_binary_entropy,
            "labelled_rows": self.labelled_rows,
            "favourable_label_rate": self.favourable_label_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreProfile:
        return cls(
            deciles=NumericReference.from_dict(data["deciles"]),
            positive_prediction_rate=float(data["positive_prediction_rate"]),
            mean_binary_entropy=float(data["mean_binary_entropy"]),
            labelled_rows=int(data["labelled_rows"]),
            favourable_label_rate=float(data["favourable_label_rate"]),
        )


@dataclass(frozen=True)
class RegressionProfile:
    """What a regressor's baseline keeps of its outputs: the prediction's frozen deciles,
    quantiles and spread, and its errors on the labelled rows."""

    predictions: NumericReference
    errors: ErrorSummary

    def to_dict(self) -> dict[str, Any]:
        return {"predictions": self.predictions.to_dict(), "errors": self.errors.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegressionProfile:
        return cls(
            predictions=NumericReference.from_dict(data["predictions"]),
            errors=ErrorSummary.from_dict(data["errors"]),
        )


@dataclass(frozen=True)
class BaselineProfile:
    """Everything monitoring compares a window against; JSON through ``to_dict``."""

    model_id: str
    model_version: str
    rows: int
    binning: dict[str, Any]
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    # None for a regressor, whose outputs are in ``regression``.
    scores: ScoreProfile | None
    fairness: dict[str, GroupCounts]
    accuracy: float | None
    # None for a black-box model (no artefact registered) unless its data logs attributions
    # (then ``source`` "logged" and no background).
    attributions: FeatureAttributions | None
    explanation_background: ExplanationBackground | None
    seed: int
    schema_version: int = SCHEMA_VERSION
    regression: RegressionProfile | None = None

    @property
    def features(self) -> tuple[str, ...]:
        if self.attributions is None:
            return (*self.numeric, *self.categorical)
        return self.attributions.features

    def to_dict(self) -> dict[str, Any]:
        # A classifier's profile has no "regression" key: its stored JSON (and the sha256
        # the audit trail holds) is what it was before regressors.
        regression = {} if self.regression is None else {"regression": self.regression.to_dict()}
        return {
            **regression,
            "schema_version": self.schema_version,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "rows": self.rows,
            "binning": dict(self.binning),
            "numeric": {name: ref.to_dict() for name, ref in self.numeric.items()},
            "categorical": {name: ref.to_dict() for name, ref in self.categorical.items()},
            "scores": None if self.scores is None else self.scores.to_dict(),
            "fairness": {name: counts.to_dict() for name, counts in self.fairness.items()},
            "accuracy": self.accuracy,
            "attributions": None if self.attributions is None else self.attributions.to_dict(),
            "explanation_background": (
                None
                if self.explanation_background is None
                else self.explanation_background.to_dict()
            ),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineProfile:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise BaselineError(
                UNSUPPORTED_SCHEMA.format(found=data.get("schema_version"), expected=SCHEMA_VERSION)
            )
        return cls(
            model_id=str(data["model_id"]),
            model_version=str(data["model_version"]),
            rows=int(data["rows"]),
            binning=dict(data["binning"]),
            numeric={
                name: NumericReference.from_dict(ref) for name, ref in data["numeric"].items()
            },
            categorical={
                name: CategoricalReference.from_dict(ref)
                for name, ref in data["categorical"].items()
            },
            scores=None if data["scores"] is None else ScoreProfile.from_dict(data["scores"]),
            fairness={
                name: GroupCounts.from_dict(counts) for name, counts in data["fairness"].items()
            },
            accuracy=None if data["accuracy"] is None else float(data["accuracy"]),
            attributions=(
                None
                if data["attributions"] is None
                else FeatureAttributions.from_dict(data["attributions"])
            ),
            explanation_background=(
                None
                if data["explanation_background"] is None
                else ExplanationBackground.from_dict(data["explanation_background"])
            ),
            seed=int(data["seed"]),
            regression=(
                None
                if data.get("regression") is None
                else RegressionProfile.from_dict(data["regression"])
            ),
        )


def _frozen_bins(values: pd.Series, model_config: ModelEntry) -> BinningMethod | list[float]:
    binning = model_config.binning
    if binning.method == "reference_quantiles" and binning.bins == 10:
        return "deciles"
    finite = finite_values(values, name=f"reference values of {values.name}").values
    if binning.method == "reference_quantiles":
        edges = np.quantile(finite, np.linspace(0, 1, binning.bins + 1)[1:-1])
    else:
        edges = np.linspace(finite.min(), finite.max(), binning.bins + 1)[1:-1]
    # Ties (and a constant column) collapse edges; what remains must be strictly increasing.
    return np.unique(edges).tolist()


def profile_columns(model_config: ModelEntry) -> list[str]:
    """The columns a profile is built from: features, protected attributes and outcomes."""
    columns = model_config.columns
    # A regressor has no score: its prediction is the amount.
    score = [] if columns.score is None else [columns.score]
    return [
        *(feature.name for feature in model_config.features),
        *(attribute.name for attribute in model_config.protected_attributes),
        *score,
        columns.prediction,
        columns.label,
    ]


def build_profile(
    model_id: str,
    model_version: str,
    *,
    validation: pd.DataFrame,
    model: ProbabilisticClassifier | Regressor | None,
    model_config: ModelEntry,
    seed: int = 0,
) -> BaselineProfile:
    """The baseline profile of ``model`` on its validation set (see module doc); a
    black-box model (``model`` None) gets attributions only from its logged
    ``attribution__<feature>`` columns, when every feature has one."""
    missing = [name for name in profile_columns(model_config) if name not in validation]
    if missing:
        raise BaselineError(
            MISSING_COLUMNS.format(
                model_id=model_id, version=model_version, missing=", ".join(missing)
            )
        )
    columns = model_config.columns
    features = [feature.name for feature in model_config.features]
    numeric = {
        feature.name: numeric_reference(
            validation[feature.name],
            method=_frozen_bins(validation[feature.name], model_config),
        )
        for feature in model_config.features
        if feature.dtype != "categorical"
    }
    categorical = {
        feature.name: categorical_reference(validation[feature.name])
        for feature in model_config.features
        if feature.dtype == "categorical"
    }
    inputs: dict[str, Any] = {
        "model_id": model_id,
        "model_version": model_version,
        "rows": len(validation),
        "binning": model_config.binning.model_dump(),
        "numeric": numeric,
        "categorical": categorical,
        "seed": seed,
    }
    background = None
    if model is None:
        attributions = _logged_attributions(validation, features, model_id, model_version)
    else:
        background = explanation_background(validation, features=features, seed=seed)
        attributions = feature_attributions(
            model,
            validation,
            background=background,
            features=features,
            explain="prediction" if model_config.is_regressor else "probability",
            seed=seed,
        )
    if model_config.is_regressor:
        return BaselineProfile(
            **inputs,
            scores=None,
            fairness={},
            accuracy=None,
            attributions=attributions,
            explanation_background=background,
            regression=_regression_profile(
                validation[columns.label], validation[columns.prediction], model_id, model_version
            ),
        )
    assert columns.score is not None, "models.yaml requires it of a classifier"
    labels, predictions, scores = (
        validation[columns.label],
        validation[columns.prediction],
        validation[columns.score],
    )
    observed = binary_labels(labels, favourable=model_config.favourable_label)
    observed = observed[~np.isnan(observed)]
    groupings = {
        attribute.name: validation[attribute.name]
        for attribute in model_config.protected_attributes
    }
    for combination in model_config.intersections:
        name, cells = intersectional_groups({column: validation[column] for column in combination})
        groupings[name] = cells
    fairness = {
        name: group_counts(
            labels,
            predictions,
            sensitive_features=groups,
            scores=scores,
            favourable_label=model_config.favourable_label,
            favourable_prediction=model_config.favourable_prediction,
        )
        for name, groups in groupings.items()
    }
    return BaselineProfile(
        **inputs,
        scores=ScoreProfile(
            deciles=numeric_reference(scores, method="deciles"),
            positive_prediction_rate=float(binary_predictions(predictions).mean()),
            mean_binary_entropy=mean_binary_entropy(scores),
            labelled_rows=int(observed.size),
            favourable_label_rate=float(observed.mean()),
        ),
        fairness=fairness,
        accuracy=accuracy(labels, predictions),
        attributions=attributions,
        explanation_background=background,
    )


def _logged_attributions(
    validation: pd.DataFrame, features: list[str], model_id: str, model_version: str
) -> FeatureAttributions | None:
    """A black box's attributions from its logged columns, None unless every feature has one."""
    if missing_attribution_columns(validation.columns, features):
        return None
    try:
        return logged_attributions(validation, features=features, what="the data")
    except ExplanationInputError as error:  # no row whose attributions are all finite
        raise BaselineError(
            BAD_LOGGED_ATTRIBUTIONS.format(model_id=model_id, version=model_version, error=error)
        ) from error


def _regression_profile(
    labels: pd.Series, predictions: pd.Series, model_id: str, model_version: str
) -> RegressionProfile:
    try:
        values = finite_predictions(predictions)
        return RegressionProfile(
            predictions=numeric_reference(values, method="deciles"),
            errors=error_summary(labels, values),
        )
    except MetricInputError as error:  # non-numeric or non-finite predictions or labels
        raise BaselineError(
            BAD_REGRESSION_DATA.format(model_id=model_id, version=model_version, error=error)
        ) from error


def draw_reference_sample(
    data: pd.DataFrame, *, rows: int = REFERENCE_SAMPLE_ROWS, seed: int = 0
) -> pd.DataFrame:
    """At most ``rows`` rows of ``data`` in their original order, drawn deterministically."""
    if len(data) <= rows:
        return data.reset_index(drop=True)
    chosen: npt.NDArray[np.intp] = np.sort(
        np.random.default_rng(seed).choice(len(data), size=rows, replace=False)
    )
    return data.iloc[chosen].reset_index(drop=True)


def _next_version(session: Session, model_id: str, day: date) -> str:
    prefix = f"{day.isoformat()}-v"
    taken = session.scalars(
        select(Baseline.version).where(
            Baseline.model_id == model_id, Baseline.version.startswith(prefix, autoescape=True)
        )
    ).all()
    numbers = [int(version.removeprefix(prefix)) for version in taken]
    return f"{prefix}{max(numbers, default=0) + 1}"


def _profile_sha256(profile: dict[str, Any]) -> str:
    canonical = json.dumps(profile, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _audit_key(idempotency_key: str | None, action: str) -> str | None:
    return None if idempotency_key is None else f"{action}:{idempotency_key}"


def replacement_severity(replaced: str | None) -> AuditSeverity:
    """WARNING for the event of a baseline that replaces an active one (the ``replaced``
    version): every later verdict on the model is judged against another reference, so an
    auditor filtering on severity must find it. INFO for a model's first."""
    return "INFO" if replaced is None else "WARNING"


def baseline_created_under(session: Session, idempotency_key: str) -> Baseline | None:
    """The baseline ``create_baseline`` created under ``idempotency_key``, if any."""
    earlier = event_under(session, f"{CREATED}:{idempotency_key}")
    if earlier is None:
        return None
    baseline = session.get(Baseline, earlier.payload["baseline_id"])
    assert baseline is not None, "an audited baseline is never deleted"
    return baseline


def create_baseline(
    session: Session,
    *,
    model_id: str,
    model_version: str,
    profile: BaselineProfile,
    kind: BaselineKind,
    created_by: str,
    reason: str,
    data_dir: Path,
    reference_sample: pd.DataFrame,
    created_on: date | None = None,
    idempotency_key: str | None = None,
    approved_by: str | None = None,
    details: dict[str, Any] | None = None,
    version: str | None = None,
    activate: bool = True,
) -> Baseline:
    """Store ``profile`` as the model's new active baseline, archiving the previous one;
    named ``version`` when given (refused if the model has one of that name), else
    ``YYYY-MM-DD-vN`` after ``created_on``. With ``activate`` false it is stored pending,
    neither active nor archived, until :func:`activate_baseline` makes it the active one."""
    if kind not in ("deploy", "refresh", "reset"):
        raise BaselineError(UNKNOWN_KIND.format(kind=kind))
    if (profile.model_id, profile.model_version) != (model_id, model_version):
        raise BaselineError(
            WRONG_MODEL.format(
                profile_model=profile.model_id,
                profile_version=profile.model_version,
                model_id=model_id,
                version=model_version,
            )
        )
    if idempotency_key is not None:
        earlier = baseline_created_under(session, idempotency_key)
        if earlier is not None:
            return earlier
    lock_model(session, model_id)
    now = utcnow()
    if version is None:
        version = _next_version(session, model_id, created_on or now.date())
    elif session.scalars(
        select(Baseline).where(Baseline.model_id == model_id, Baseline.version == version)
    ).first():
        raise BaselineError(VERSION_TAKEN.format(model_id=model_id, version=version))
    previous = active_baseline(session, model_id) if activate else None
    if previous is not None:
        _archive(
            session,
            previous,
            actor=created_by,
            replaced_by=version,
            reason=reason,
            idempotency_key=idempotency_key,
        )
    sample_uri = f"{BASELINE_DIR}/{model_id}/{version}/{REFERENCE_SAMPLE_FILE}"
    sample_path = Path(data_dir) / sample_uri
    sample_path.parent.mkdir(parents=True, exist_ok=True)
    reference_sample.to_parquet(sample_path, index=False)
    stored_profile = profile.to_dict()
    baseline = Baseline(
        model_id=model_id,
        model_version=model_version,
        version=version,
        kind=kind,
        is_active=activate,
        profile=stored_profile,
        reference_sample_uri=sample_uri,
        reason=reason,
        created_by=created_by,
        created_at=now,
        approved_by=approved_by,
        details=dict(details or {}),
    )
    session.add(baseline)
    session.flush()
    record_event(
        session,
        actor=created_by,
        action=CREATED,
        target=f"baseline:{model_id}:{version}",
        payload={
            "baseline_id": baseline.id,
            "model_version": model_version,
            "kind": kind,
            "reason": reason,
            "approved_by": approved_by,
            "details": baseline.details,
            "replaces": None if previous is None else previous.version,
            "reference_sample_uri": sample_uri,
            "profile_sha256": _profile_sha256(stored_profile),
            **({} if activate else {"pending": True}),
        },
        severity=replacement_severity(None if previous is None else previous.version),
        idempotency_key=_audit_key(idempotency_key, CREATED),
    )
    return baseline


def lock_model(session: Session, model_id: str) -> None:
    """Lock the model's row, refusing an unknown model: on Postgres this serialises every
    change of a model's baselines (SQLite already serialises every writer), so two creators
    cannot pick the same version nor two activations leave two baselines active."""
    if session.scalars(select(Model).where(Model.id == model_id).with_for_update()).first() is None:
        raise BaselineError(UNKNOWN_MODEL.format(model_id=model_id))


def is_pending(baseline: Baseline) -> bool:
    """Stored with ``activate`` false and neither activated nor archived since."""
    return not baseline.is_active and baseline.archived_at is None


def activate_baseline(
    session: Session, baseline: Baseline, *, actor: str, reason: str, idempotency_key: str
) -> bool:
    """Make ``baseline`` (pending, or archived: the baseline of a version restored by a
    rollback) its model's active one, archiving the active one; False when it already is.
    Audited as ``baseline.activated`` (and ``baseline.archived``) under the key."""
    lock_model(session, baseline.model_id)
    session.refresh(baseline)
    if baseline.is_active:
        return False
    previous = active_baseline(session, baseline.model_id)
    if previous is not None:
        _archive(
            session,
            previous,
            actor=actor,
            replaced_by=baseline.version,
            reason=reason,
            idempotency_key=idempotency_key,
        )
    baseline.is_active = True
    baseline.archived_at = None
    session.flush()
    record_event(
        session,
        actor=actor,
        action=ACTIVATED,
        target=f"baseline:{baseline.model_id}:{baseline.version}",
        payload={
            "baseline_id": baseline.id,
            "model_version": baseline.model_version,
            "replaces": None if previous is None else previous.version,
            "reason": reason,
        },
        severity=replacement_severity(None if previous is None else previous.version),
        idempotency_key=_audit_key(idempotency_key, ACTIVATED),
    )
    return True


def archive_pending_baseline(
    session: Session, baseline: Baseline, *, actor: str, reason: str, idempotency_key: str
) -> bool:
    """Archive a pending baseline that will never be activated (its version was rolled back
    before it served everybody); False when it is not pending."""
    lock_model(session, baseline.model_id)
    session.refresh(baseline)
    if not is_pending(baseline):
        return False
    _archive(
        session,
        baseline,
        actor=actor,
        replaced_by=None,
        reason=reason,
        idempotency_key=idempotency_key,
    )
    return True


def _archive(
    session: Session,
    baseline: Baseline,
    *,
    actor: str,
    replaced_by: str | None,
    reason: str,
    idempotency_key: str | None,
) -> None:
    """Archive ``baseline`` (flushed at once, so the one-active-per-model index holds when
    its replacement is written) and audit it as ``baseline.archived``."""
    baseline.is_active = False
    baseline.archived_at = utcnow()
    session.flush()
    record_event(
        session,
        actor=actor,
        action=ARCHIVED,
        target=f"baseline:{baseline.model_id}:{baseline.version}",
        payload={"baseline_id": baseline.id, "replaced_by": replaced_by, "reason": reason},
        idempotency_key=_audit_key(idempotency_key, ARCHIVED),
    )


def active_baseline(session: Session, model_id: str) -> Baseline | None:
    """The model's active baseline, if it has one."""
    return session.scalars(
        select(Baseline).where(Baseline.model_id == model_id, Baseline.is_active.is_(True))
    ).first()


def load_profile(baseline: Baseline) -> BaselineProfile:
    """The typed profile stored in ``baseline``."""
    return BaselineProfile.from_dict(baseline.profile)


def load_registered_model(
    session: Session, *, data_dir: Path, model_id: str, model_version: str
) -> ProbabilisticClassifier:
    """The registered artefact of a model version, refused unless its sha256 matches.

    Unpickling runs code: only an artefact whose bytes match the registry is loaded.
    """
    registered = get_version(session, model_id, model_version)
    artifact_path = Path(data_dir) / registered.artifact_uri
    if hashlib.sha256(artifact_path.read_bytes()).hexdigest() != registered.artifact_sha256:
        raise BaselineError(
            ARTIFACT_CHANGED.format(model_id=model_id, version=model_version, path=artifact_path)
        )
    try:
        model: ProbabilisticClassifier = joblib.load(artifact_path)
    except Exception as error:  # unpickling arbitrary bytes can raise anything
        raise BaselineError(
            ARTIFACT_UNLOADABLE.format(
                model_id=model_id,
                version=model_version,
                path=artifact_path,
                error=(str(error).splitlines() or [type(error).__name__])[0],
            )
        ) from error
    method = "predict" if registered.model.model_type == "regressor" else "predict_proba"
    if not callable(getattr(model, method, None)):
        raise BaselineError(
            ARTIFACT_NOT_A_MODEL.format(
                model_id=model_id,
                version=model_version,
                path=artifact_path,
                held=type(model).__name__,
                method=method,
            )
        )
    return model


def registered_model_or_none(
    session: Session, *, data_dir: Path, model_id: str, model_version: str
) -> ProbabilisticClassifier | None:
    """``load_registered_model``, or None for a black-box version (registered without an
    artefact: monitored on its logs alone, no attributions)."""
    if not get_version(session, model_id, model_version).artifact_uri:
        return None
    return load_registered_model(
        session, data_dir=data_dir, model_id=model_id, model_version=model_version
    )
