"""Writes the whole demo: trained models, validation sets, prediction logs and the manifest
(seed 004 sections 4.2 and 10: a baseline per model, and days that stage each incident
example).

Everything is a deterministic function of ``seed``: the same arguments write byte-identical
files. The regressor draws its values and label arrivals from streams of its own, so the
classifiers' files are the same whether it is there or not. Layout under ``data_dir``::

    models/<model_id>/<version>/model.pkl          joblib: FixedThresholdClassifier (the
                                                   regressor's: CappedRegressor), written
                                                   by ``write_artifact``
    models/<model_id>/<version>/validation.parquet features, gender, age_band, score (not
                                                   the regressor's), prediction, label
    prediction_logs/<model_id>/date=YYYY-MM-DD/part-0.parquet
    demo/manifest.json
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from joblib.numpy_pickle import NumpyPickler
from threadpoolctl import threadpool_limits

from govflow.baselines.onboarding import validation_metrics
from govflow.demo.applicants import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    INTEGER_FEATURES,
    NUMERIC_FEATURES,
    PROTECTED_ATTRIBUTES,
    age_band_counts,
    generate_applicants,
)
from govflow.demo.cohorts import Cohort, draw_cohort
from govflow.demo.outcomes import (
    OUTCOME_DESCRIPTIONS,
    Concept,
    favourable_probability,
    lifetime_value,
)
from govflow.demo.scenarios import (
    DATA_DRIFT_CREDIT_SCORE_OFFSET,
    DATA_DRIFT_INCOME_FACTOR,
    FAIRNESS_DRIFT_CREDIT_SCORE_OFFSET,
    FAIRNESS_DRIFT_DEBT_TO_INCOME_FACTOR,
    FAIRNESS_DRIFT_GROUP,
    DemoTooSmall,
    Scenario,
    outcome_concept,
    scenario_calendar,
    scenario_of_day,
    shift_applicants,
)
from govflow.demo.training import (
    CURRENT_VERSION,
    DEMO_MODELS,
    FEATURE_VERSION,
    PREVIOUS_VERSION,
    DemoModel,
    TrainedModel,
    TrainedRegressor,
    train_model,
    train_regressor,
    validation_frame,
)
from govflow.monitoring.prediction_logs import (
    LABEL,
    LABEL_OBSERVED_AT,
    MODEL_ID,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    SCORE,
    SCORED_AT,
    log_columns,
    partition_path,
)
from govflow.registry import RegistryError

MANIFEST_PATH = Path("demo") / "manifest.json"
PREDICTION_LOG_DIR = "prediction_logs"
LOG_LAYOUT = "prediction_logs/{model_id}/date={date}/part-0.parquet"
TRAINING_ROWS = 30_000
PREVIOUS_TRAINING_ROWS = 12_000
PREVIOUS_BOOSTING_ROUNDS = 60
VALIDATION_ROWS = 60_000
MINIMUM_ROWS_PER_DAY = 200
LABEL_NEVER_ARRIVES_FRACTION = 0.1
LABEL_JITTER_HOURS = 6
TOO_FEW_ROWS = "the demo needs at least {minimum} rows per day, got {rows}"
REPLACES_REGISTERED = (
    "{data_dir}: this environment writes the demo's {model_id} {version} with sha256 "
    "{sha256}, but the governance store registers it with {registered} (trained by "
    "another scikit-learn or seed?); nothing was written: seed into another "
    "GOVFLOW_DATA_DIR and store"
)

_MICROSECONDS_PER_DAY = 86_400_000_000
_MALFORMED_MISSING_COLUMN = "months_at_address"
_MALFORMED_STRING_COLUMN = "income"
_MALFORMED_STRING_VALUE = "n/a"
_MALFORMED_NON_FINITE_COLUMN = "debt_to_income"
_MALFORMED_NEGATIVE_COLUMN = "loan_amount"
_MALFORMED_CATEGORY = ("region", "atlantis")


@dataclass(frozen=True)
class DemoManifest:
    """The manifest ``write_demo`` wrote, as stored in ``<data_dir>/demo/manifest.json``."""

    path: Path
    content: dict[str, Any]

    @classmethod
    def load(cls, data_dir: Path) -> DemoManifest:
        """The manifest of the demo written into ``data_dir``."""
        path = Path(data_dir) / MANIFEST_PATH
        return cls(path=path, content=json.loads(path.read_text()))

    @property
    def scenarios(self) -> dict[str, list[date]]:
        """Scenario name to its days."""
        return {
            name: [date.fromisoformat(day) for day in days]
            for name, days in self.content["scenarios"].items()
        }

    def model(self, model_id: str) -> dict[str, Any]:
        """The manifest entry of ``model_id``."""
        return next(entry for entry in self.content["models"] if entry["id"] == model_id)


def write_demo(
    data_dir: Path,
    *,
    days: int = 42,
    seed: int = 7,
    start: date = date(2025, 3, 1),
    rows_per_day: int = 2000,
    registered: Mapping[tuple[str, str], str] | None = None,
) -> DemoManifest:
    """Trains the demo models and writes their validation sets, ``days`` days of prediction
    logs from ``start`` with ``rows_per_day`` applications a day, and the manifest.

    ``registered`` maps (model id, version) to the artefact hash a governance store keeps
    for it: a version whose artefact would be written with other bytes (another seed, or
    the same seed trained by another scikit-learn) is refused before anything is written,
    so the store's hashes never point at files that no longer match them."""
    if rows_per_day < MINIMUM_ROWS_PER_DAY:
        raise DemoTooSmall(TOO_FEW_ROWS.format(minimum=MINIMUM_ROWS_PER_DAY, rows=rows_per_day))
    # One thread: the models are small, and OpenMP threads competing with other processes
    # on a busy machine slow gradient boosting down by an order of magnitude.
    with threadpool_limits(limits=1):
        return _write_demo(
            Path(data_dir),
            days=days,
            seed=seed,
            start=start,
            rows_per_day=rows_per_day,
            registered=registered or {},
        )


def _write_demo(
    data_dir: Path,
    *,
    days: int,
    seed: int,
    start: date,
    rows_per_day: int,
    registered: Mapping[tuple[str, str], str],
) -> DemoManifest:
    calendar = scenario_calendar(start, days)
    day_scenarios = scenario_of_day(days)

    trained = _train_models(seed)
    artefacts = {key: artifact_bytes(model.artifact) for key, model in trained.items()}
    _refuse_replacing(data_dir, artefacts, registered)
    deployed = [trained[(model.id, CURRENT_VERSION)] for model in DEMO_MODELS]
    classifiers = len([model for model in DEMO_MODELS if not model.is_regressor])

    def cohort(rng: np.random.Generator, rows: int) -> Cohort:
        # Per classifier: its outcome draw, then whether the outcome is ever observed.
        return draw_cohort(rng, rows, draws=2 * classifiers)

    validation = cohort(np.random.default_rng([seed, 4]), VALIDATION_ROWS)
    versions: dict[str, list[dict[str, Any]]] = {model.id: [] for model in DEMO_MODELS}
    for (model_id, _), model in sorted(trained.items()):
        index = [demo.id for demo in DEMO_MODELS].index(model_id)
        outcome_draws = _model_draws(validation, [seed, 4], index)[0]
        labels = _outcomes(DEMO_MODELS[index], validation.applicants, outcome_draws, "original")
        versions[model_id].append(
            _write_version(
                data_dir,
                model,
                artefacts[(model_id, model.version)],
                validation_frame(model, validation.applicants, labels),
            )
        )

    demo_end = datetime.combine(start + timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    malformed_details: dict[str, Any] = {}
    for day_index, scenario in enumerate(day_scenarios):
        day = start + timedelta(days=day_index)
        rng = np.random.default_rng([seed, 100, day_index])
        day_cohort = cohort(rng, rows_per_day)
        applicants = shift_applicants(day_cohort.applicants, scenario)
        scored_at = _scored_at(rng, day, rows_per_day)
        for index, (demo, model) in enumerate(zip(DEMO_MODELS, deployed, strict=True)):
            generator = [seed, 100, day_index]
            outcome_draws, observed_draws = _model_draws(day_cohort, generator, index)
            # The regressor's ids, label times and defects come from its own stream too.
            model_rng = np.random.default_rng([*generator, index, 1]) if demo.is_regressor else rng
            frame = _prediction_log(
                model_rng,
                demo,
                model,
                applicants,
                outcome_draws,
                label_arrives=observed_draws >= LABEL_NEVER_ARRIVES_FRACTION,
                scenario=scenario,
                scored_at=scored_at,
                demo_end=demo_end,
            )
            path = partition_path(data_dir / PREDICTION_LOG_DIR / demo.id, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            if scenario == "malformed":
                table, details = _malformed_table(model_rng, frame)
                malformed_details = {"date": day.isoformat(), **malformed_details, **details}
            else:
                schema = _log_schema(regressor=demo.is_regressor)
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            pq.write_table(table, path)

    content = {
        "generated_by": "govflow.demo.write_demo",
        "seed": seed,
        "start": start.isoformat(),
        "end": (start + timedelta(days=days - 1)).isoformat(),
        "days": days,
        "rows_per_day": rows_per_day,
        "log_layout": LOG_LAYOUT,
        "labels_known_until": demo_end.isoformat(),
        "label_never_arrives_fraction": LABEL_NEVER_ARRIVES_FRACTION,
        "label_delay_days": {model.id: model.label_delay_days for model in DEMO_MODELS},
        "models": [_model_entry(model, versions[model.id]) for model in DEMO_MODELS],
        "scenarios": {
            name: [day.isoformat() for day in days_of] for name, days_of in calendar.items()
        },
        "scenario_parameters": {
            "data_drift": {
                "income_factor": DATA_DRIFT_INCOME_FACTOR,
                "credit_score_offset": DATA_DRIFT_CREDIT_SCORE_OFFSET,
            },
            "fairness_drift": {
                "attribute": FAIRNESS_DRIFT_GROUP[0],
                "group": FAIRNESS_DRIFT_GROUP[1],
                "credit_score_offset": FAIRNESS_DRIFT_CREDIT_SCORE_OFFSET,
                "debt_to_income_factor": FAIRNESS_DRIFT_DEBT_TO_INCOME_FACTOR,
            },
            "accuracy_drift": {"outcome_concept": "shifted", "inputs": "unchanged"},
        },
        "malformed_details": malformed_details,
    }
    manifest_path = data_dir / MANIFEST_PATH
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(content, indent=2) + "\n")
    return DemoManifest(path=manifest_path, content=content)


def _train_models(seed: int) -> dict[tuple[str, str], TrainedModel | TrainedRegressor]:
    training_rng = np.random.default_rng([seed, 1])
    training = generate_applicants(training_rng, age_band_counts(TRAINING_ROWS))
    classifiers = [model for model in DEMO_MODELS if not model.is_regressor]
    training_draws = training_rng.random((len(training), len(classifiers)))
    trained: dict[tuple[str, str], TrainedModel | TrainedRegressor] = {
        (model.id, CURRENT_VERSION): train_model(
            model, CURRENT_VERSION, training, training_draws[:, index], random_state=seed
        )
        for index, model in enumerate(classifiers)
    }
    for index, model in enumerate(DEMO_MODELS):
        if model.is_regressor:
            values_rng = np.random.default_rng([seed, 1, index])
            trained[(model.id, CURRENT_VERSION)] = train_regressor(
                model,
                CURRENT_VERSION,
                training,
                values_rng.random(len(training)),
                random_state=seed,
            )
    # The previous credit model: a smaller, differently drawn sample and fewer rounds, so
    # that a rollback has a genuinely different artifact to return to.
    previous_rng = np.random.default_rng([seed, 2])
    previous = generate_applicants(previous_rng, age_band_counts(PREVIOUS_TRAINING_ROWS))
    credit = DEMO_MODELS[0]
    trained[(credit.id, PREVIOUS_VERSION)] = train_model(
        credit,
        PREVIOUS_VERSION,
        previous,
        previous_rng.random(len(previous)),
        random_state=seed,
        boosting_rounds=PREVIOUS_BOOSTING_ROUNDS,
    )
    return trained


def _model_draws(cohort: Cohort, generator: list[int], index: int) -> tuple[np.ndarray, np.ndarray]:
    """The uniform draws of the ``index``-th model's outcomes and of whether each outcome is
    ever observed: a classifier's columns of the cohort's draws, the regressor's from a
    generator of its own (``generator`` extended by its index)."""
    if DEMO_MODELS[index].is_regressor:
        own = np.random.default_rng([*generator, index]).random((len(cohort.applicants), 2))
        return own[:, 0], own[:, 1]
    classifiers = cohort.outcome_draws.shape[1] // 2
    return cohort.outcome_draws[:, index], cohort.outcome_draws[:, classifiers + index]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact_bytes(artifact: Any) -> bytes:
    """``artifact`` as ``joblib.dump`` writes it (``joblib.load`` reads it), but without
    pickle's memo, so that the bytes, and the hash the registry keeps of them, depend on the
    model alone. With the memo, a value met twice is written once and referred back to when
    it is the same object both times, and whether two equal strings are one object depends
    on what the process did before (an interned ``"drop"``): the same model, trained twice
    from the same seed, hashed differently in a test worker than in a fresh ``govflow``
    process, and the re-seed was refused. Without it, shared parts are written out each time
    (a larger file, read back as copies)."""
    buffer = io.BytesIO()
    pickler = NumpyPickler(buffer)
    pickler.fast = True
    pickler.dump(artifact)
    return buffer.getvalue()


def _refuse_replacing(
    data_dir: Path,
    artefacts: dict[tuple[str, str], bytes],
    registered: Mapping[tuple[str, str], str],
) -> None:
    for (model_id, version), content in sorted(artefacts.items()):
        sha256 = hashlib.sha256(content).hexdigest()
        if registered.get((model_id, version), sha256) != sha256:
            raise RegistryError(
                REPLACES_REGISTERED.format(
                    data_dir=data_dir,
                    model_id=model_id,
                    version=version,
                    sha256=sha256,
                    registered=registered[(model_id, version)],
                )
            )


def _write_version(
    data_dir: Path,
    model: TrainedModel | TrainedRegressor,
    artefact: bytes,
    validation: pd.DataFrame,
) -> dict[str, Any]:
    directory = Path("models") / model.model_id / model.version
    (data_dir / directory).mkdir(parents=True, exist_ok=True)
    artifact_path = directory / "model.pkl"
    validation_path = directory / "validation.parquet"
    (data_dir / artifact_path).write_bytes(artefact)
    pq.write_table(
        pa.Table.from_pandas(validation, preserve_index=False), data_dir / validation_path
    )
    return {
        "version": model.version,
        "artifact_path": artifact_path.as_posix(),
        "artifact_sha256": _sha256(data_dir / artifact_path),
        "validation_path": validation_path.as_posix(),
        "validation_sha256": _sha256(data_dir / validation_path),
        "validation_metrics": validation_metrics(
            validation, regressor=isinstance(model, TrainedRegressor)
        ),
        "decision_threshold": model.decision_threshold,
        "estimator": model.estimator_name,
        "training_rows": model.training_rows,
        "training_snapshot_id": model.training_snapshot_id,
        "feature_version": FEATURE_VERSION,
    }


def _model_entry(model: DemoModel, versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": model.id,
        "type": model.type,
        "risk_tier": model.risk_tier,
        "purpose": model.purpose,
        "owner": model.owner,
        ("outcome" if model.is_regressor else "favourable_outcome"): OUTCOME_DESCRIPTIONS[model.id],
        "label_delay_days": model.label_delay_days,
        "current_version": CURRENT_VERSION,
        "feature_version": FEATURE_VERSION,
        "features": {"numeric": list(NUMERIC_FEATURES), "categorical": list(CATEGORICAL_FEATURES)},
        "protected_attributes": list(PROTECTED_ATTRIBUTES),
        "prediction_log_dir": f"{PREDICTION_LOG_DIR}/{model.id}",
        "versions": versions,
    }


def _scored_at(rng: np.random.Generator, day: date, rows: int) -> pd.Series:
    offsets = np.sort(rng.integers(0, _MICROSECONDS_PER_DAY, rows))
    midnight = pd.Timestamp(day.isoformat(), tz="UTC")
    return pd.Series(midnight + pd.to_timedelta(offsets, unit="us"))


def _prediction_ids(rng: np.random.Generator, rows: int) -> list[str]:
    raw = rng.bytes(16 * rows)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(rows)]


def _outcomes(
    demo: DemoModel, applicants: pd.DataFrame, draws: np.ndarray, concept: Concept
) -> np.ndarray:
    """What happens to each applicant: a classifier's 0/1 outcome, the regressor's amount."""
    if demo.is_regressor:
        return lifetime_value(applicants, draws, concept=concept)
    return (draws < favourable_probability(demo.id, applicants, concept=concept)).astype("int8")


def _prediction_log(
    rng: np.random.Generator,
    demo: DemoModel,
    model: TrainedModel | TrainedRegressor,
    applicants: pd.DataFrame,
    outcome_draws: np.ndarray,
    *,
    label_arrives: np.ndarray,
    scenario: Scenario,
    scored_at: pd.Series,
    demo_end: datetime,
) -> pd.DataFrame:
    rows = len(applicants)
    frame = pd.DataFrame(
        {
            PREDICTION_ID: _prediction_ids(rng, rows),
            MODEL_ID: demo.id,
            MODEL_VERSION: model.version,
            SCORED_AT: scored_at,
        }
    )
    for column in (*FEATURE_COLUMNS, *PROTECTED_ATTRIBUTES):
        frame[column] = applicants[column].to_numpy()
    if isinstance(model, TrainedRegressor):
        frame[PREDICTION] = model.predict(applicants)
    else:
        frame[SCORE] = model.score(applicants)
        frame[PREDICTION] = model.decide(frame[SCORE].to_numpy())
    labels = _outcomes(demo, applicants, outcome_draws, outcome_concept(scenario))
    jitter = rng.integers(0, LABEL_JITTER_HOURS * 3_600_000_000, rows)
    observed_at = (
        scored_at + pd.Timedelta(days=demo.label_delay_days) + pd.to_timedelta(jitter, unit="us")
    )
    known = label_arrives & (observed_at < demo_end).to_numpy()
    if demo.is_regressor:
        frame[LABEL] = np.where(known, labels, np.nan)
    else:
        frame[LABEL] = pd.array(np.where(known, labels, 0), dtype="Int8")
        frame.loc[~known, LABEL] = pd.NA
    frame[LABEL_OBSERVED_AT] = observed_at.where(known)
    return frame[_columns(regressor=demo.is_regressor)]


def _columns(*, regressor: bool) -> list[str]:
    """The log's columns; a regressor's has no score (its prediction is the amount)."""
    columns = log_columns(FEATURE_COLUMNS, PROTECTED_ATTRIBUTES)
    return [column for column in columns if column != SCORE] if regressor else columns


def _log_schema(*, regressor: bool) -> pa.Schema:
    timestamp = pa.timestamp("us", tz="UTC")
    outcome = pa.float64() if regressor else pa.int8()
    types: dict[str, pa.DataType] = {
        PREDICTION_ID: pa.string(),
        MODEL_ID: pa.string(),
        MODEL_VERSION: pa.string(),
        SCORED_AT: timestamp,
        SCORE: pa.float64(),
        PREDICTION: outcome,
        LABEL: outcome,
        LABEL_OBSERVED_AT: timestamp,
    }
    for column in NUMERIC_FEATURES:
        types[column] = pa.int64() if column in INTEGER_FEATURES else pa.float64()
    for column in (*CATEGORICAL_FEATURES, *PROTECTED_ATTRIBUTES):
        types[column] = pa.string()
    return pa.schema([(column, types[column]) for column in _columns(regressor=regressor)])


def _malformed_table(
    rng: np.random.Generator, frame: pd.DataFrame
) -> tuple[pa.Table, dict[str, Any]]:
    """The day's log broken in every way the data-quality gate has to notice; the missing
    model output is a classifier's score or the regressor's prediction."""
    regressor = SCORE not in frame.columns
    output = PREDICTION if regressor else SCORE
    per_defect = max(2, len(frame) // 100)
    rows = rng.permutation(len(frame))
    not_numeric, nan, inf, negative, unknown, duplicate, original, null_output = (
        np.sort(rows[start : start + per_defect]) for start in range(0, 8 * per_defect, per_defect)
    )
    broken = frame.drop(columns=[_MALFORMED_MISSING_COLUMN])
    income_text = broken[_MALFORMED_STRING_COLUMN].map("{:.2f}".format).to_numpy(dtype=object)
    income_text[not_numeric] = _MALFORMED_STRING_VALUE
    broken[_MALFORMED_STRING_COLUMN] = income_text
    loan = broken[_MALFORMED_NEGATIVE_COLUMN].to_numpy(copy=True)
    loan[negative] = -loan[negative]
    broken[_MALFORMED_NEGATIVE_COLUMN] = loan
    category_column, category = _MALFORMED_CATEGORY
    categories = broken[category_column].to_numpy(copy=True)
    categories[unknown] = category
    broken[category_column] = categories
    ids = broken[PREDICTION_ID].to_numpy(copy=True)
    ids[duplicate] = ids[original]
    broken[PREDICTION_ID] = ids
    outputs = broken[output].to_numpy(dtype=np.float64, copy=True)
    outputs[null_output] = np.nan

    schema = _log_schema(regressor=regressor)
    schema = schema.remove(schema.get_field_index(_MALFORMED_MISSING_COLUMN))
    schema = schema.set(
        schema.get_field_index(_MALFORMED_STRING_COLUMN),
        pa.field(_MALFORMED_STRING_COLUMN, pa.string()),
    )
    broken[output] = outputs
    table = pa.Table.from_pandas(broken, schema=schema, preserve_index=False)
    # NaN and inf must survive as values: from_pandas would turn NaN into null.
    non_finite = broken[_MALFORMED_NON_FINITE_COLUMN].to_numpy(copy=True)
    non_finite[nan] = np.nan
    non_finite[inf] = np.inf
    table = table.set_column(
        table.schema.get_field_index(_MALFORMED_NON_FINITE_COLUMN),
        _MALFORMED_NON_FINITE_COLUMN,
        pa.array(non_finite, type=pa.float64(), from_pandas=False),
    )
    details = {
        "rows": len(frame),
        "missing_columns": [_MALFORMED_MISSING_COLUMN],
        "non_numeric_strings": {
            _MALFORMED_STRING_COLUMN: {"value": _MALFORMED_STRING_VALUE, "rows": per_defect}
        },
        "non_finite_values": {_MALFORMED_NON_FINITE_COLUMN: {"nan": per_defect, "inf": per_defect}},
        "out_of_range_values": {_MALFORMED_NEGATIVE_COLUMN: {"negative": per_defect}},
        "unknown_categories": {category_column: {category: per_defect}},
        "duplicate_prediction_ids": per_defect,
        ("null_predictions" if regressor else "null_scores"): per_defect,
    }
    return table, details
