"""The model inventory of ``config/models.yaml`` (seed 003 section 14.3.1, seed 004 section 1.1).

Each deployed model has a named owner, a business purpose and a risk tier (which selects
its monitoring cadence and its deployment approvals), the place its prediction logs live,
the schema of its features and protected attributes, and the numbers monitoring needs:
label delay, decision threshold, performance floor, expected volume and binning.
Its ``serving`` block holds the seed 003 prediction safeguards the serving gateway applies.

Two model types: a ``binary_classifier`` (a score in [0, 1] and a 0/1 prediction, with a
favourable outcome, a decision threshold and an accuracy floor) and a ``regressor`` (issue 14
item 4, seed 003's "CLV non-negative with max": its prediction is an amount in
``serving.output``'s [0, max], its label the observed amount). A regressor has no score, no
favourable class, no decision threshold and no accuracy floor: those keys are refused on it.
Its deployment gate may take an ``error_ceiling`` instead (the largest MAE and/or RMSE a
version may show on its validation set); a classifier refuses that key.
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from govflow.config.vocabulary import (
    SNAKE_CASE,
    Fraction,
    RiskTier,
    StrictModel,
    located_error,
)
from govflow.metrics.fairness import INTERSECTION_SEPARATOR

Identifier = Annotated[str, Field(pattern=SNAKE_CASE)]

RELATIVE_PATH = "must be a relative path inside the data directory"
NUMERIC_RANGE = "a {dtype} feature needs finite numbers min <= max and no categories"
CATEGORICAL_VALUES = "a categorical feature needs categories and no min or max"
DUPLICATE_NAME = "{what} {name} is listed more than once"
UNKNOWN_INTERSECTION = "intersection names {name}, which is not a protected attribute"
CLASHING_COLUMN = "column {name} is both a feature and a protected attribute"
# The route a serving gateway answers a model's predictions on: an inference_endpoint kill
# switch's target.
PREDICT_PATH = "/v1/models/{model_id}/predict"
LOG_COLUMN = "{what} {name} has the name of a prediction-log column (columns.{key}); rename it"
SEPARATOR_IN_CATEGORY = (
    "category {category!r} holds {separator!r}, which joins an intersection's groups "
    "(gender&age_band's female&18-25): two groups could read alike; rename it"
)
NO_CATEGORIES = "a protected attribute needs its categories"
RENAMED_COLUMN = (
    "{key}: {name}: govflow reads the log's {key} column by its standard name; rename "
    "{name} to {key} in the log (a SQL view can) and write {key}: {key}"
)
OUTPUT_OF_TYPE = (
    "a {model_type} answers with a probability, so serving.output.kind must be probability"
)
UNKNOWN_MODEL = "unknown model {model_id!r}; models.yaml has {models}"
NO_MODEL_LISTED = "unknown model {model_id!r}; models.yaml lists no model"
FALLBACK_SCORE_OUT_OF_RANGE = (
    "the fallback score {score} lies outside the valid outputs [0, {high}]"
)
OUTPUT_OF_REGRESSOR = (
    "a regressor answers with an amount, so serving.output must be "
    "{{kind: non_negative, max: <largest valid prediction>}} (its clipping bounds)"
)
NOT_FOR_REGRESSOR = "a regressor has no {key}: remove it (it applies to a binary_classifier)"
REQUIRED_FOR_CLASSIFIER = "a binary_classifier needs {key}"
NOT_FOR_CLASSIFIER = "a binary_classifier has no {key}: remove it (it applies to a regressor)"
EMPTY_ERROR_CEILING = "an error_ceiling needs max_mae, max_rmse or both"
CLASSIFIER_ONLY_KEYS = (
    "favourable_prediction",
    "favourable_label",
    "decision_threshold",
    "performance_requirement",
)
FAVOURABLE_OUTCOME = (
    "must be 0 or 1: the value of prediction (or label) that is the favourable outcome"
)


class UnknownModel(KeyError):
    """A model id that models.yaml does not list; the message names the ones it does."""

    def __str__(self) -> str:
        # KeyError would show the message quoted, as if it were the key.
        return str(self.args[0])


class ParquetLog(StrictModel):
    """Day-partitioned parquet: ``<data_dir>/<path>/date=YYYY-MM-DD/*.parquet``."""

    kind: Literal["parquet"]
    path: str

    @field_validator("path")
    @classmethod
    def _stays_inside_data_dir(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise PydanticCustomError("relative_path", RELATIVE_PATH)
        return value


class SqlLog(StrictModel):
    """A table (``table`` or ``schema.table``) reached through a SQLAlchemy URL kept in an
    environment variable, never here."""

    kind: Literal["sql"]
    url_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    table: Annotated[str, Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")]


def _listed_once(categories: list[str]) -> None:
    """A category listed twice would be counted as two values of one group (refused naming
    the first repeated one)."""
    repeated = sorted({name for name in categories if categories.count(name) > 1})
    if repeated:
        raise PydanticCustomError(
            "duplicate", DUPLICATE_NAME.format(what="category", name=repeated[0])
        )


class Feature(StrictModel):
    name: Identifier
    dtype: Literal["numeric", "integer", "categorical"]
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    null_tolerance: Fraction | None = None

    @model_validator(mode="after")
    def _domain_matches_dtype(self) -> Feature:
        if self.dtype == "categorical":
            if not self.categories or self.min is not None or self.max is not None:
                raise PydanticCustomError("feature_domain", CATEGORICAL_VALUES)
            _listed_once(self.categories)
        elif (
            self.min is None
            or self.max is None
            # NaN is no bound (every comparison with it is false) and inf none a gate can use.
            or not (math.isfinite(self.min) and math.isfinite(self.max))
            or self.min > self.max
            or self.categories
        ):
            raise PydanticCustomError("feature_domain", NUMERIC_RANGE.format(dtype=self.dtype))
        return self


class ProtectedAttribute(StrictModel):
    name: Identifier
    categories: list[str]

    @model_validator(mode="after")
    def _categories_name_groups(self) -> ProtectedAttribute:
        """Rows of a category not listed are cut by the data-quality gate, so the listed
        ones are every group fairness compares; an intersection's group is their values
        joined by the separator, which none of them may hold."""
        if not self.categories:
            raise PydanticCustomError("protected_categories", NO_CATEGORIES)
        _listed_once(self.categories)
        for category in self.categories:
            if INTERSECTION_SEPARATOR in category:
                raise PydanticCustomError(
                    "protected_categories",
                    SEPARATOR_IN_CATEGORY.format(
                        category=category, separator=INTERSECTION_SEPARATOR
                    ),
                )
        return self


class Columns(StrictModel):
    """The prediction log's columns. Each must carry its standard name (``score: score``):
    the analysis, the baseline and the gateway's log writer read and write them by those
    names, so a log whose columns are named otherwise is renamed before govflow reads it
    (a SQL view can), never mapped here, where a mapping would be honoured by some readers
    and not by others."""

    prediction_id: str
    model_version: str
    scored_at: str
    # A classifier's probability of class 1; a regressor has none (its prediction is the amount).
    score: str | None = None
    prediction: str
    label: str
    label_observed_at: str

    @model_validator(mode="after")
    def _standard_names(self) -> Columns:
        for key, name in self.model_dump().items():
            if name is not None and name != key:
                raise PydanticCustomError("column_name", RENAMED_COLUMN.format(key=key, name=name))
        return self


class PerformanceRequirement(StrictModel):
    min_accuracy: Fraction
    min_auc: Fraction


class ErrorCeiling(StrictModel):
    """A regressor's deployment floor, read as a ceiling: the largest validation MAE and/or
    RMSE (in the prediction's unit) a version may show to be deployed."""

    max_mae: Annotated[float, Field(gt=0)] | None = None
    max_rmse: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _bounds_something(self) -> ErrorCeiling:
        if self.max_mae is None and self.max_rmse is None:
            raise PydanticCustomError("error_ceiling", EMPTY_ERROR_CEILING)
        return self


class Binning(StrictModel):
    """How numeric features are cut into bins, frozen in the baseline (reference quantiles)."""

    method: Literal["reference_quantiles", "equal_width"]
    bins: Annotated[int, Field(ge=2, le=100)]


class ProbabilityOutput(StrictModel):
    """A probability: valid in [0, 1], clipped into it (seed 003: churn scores 0-1)."""

    kind: Literal["probability"] = "probability"


class NonNegativeOutput(StrictModel):
    """A non-negative amount with a ceiling, clipped into [0, max] (seed 003: CLV)."""

    kind: Literal["non_negative"]
    max: Annotated[float, Field(gt=0)]


class FallbackRule(StrictModel):
    """The configured answer when neither the model nor the last-known-good cache may answer.

    ``decision`` names what the consumer does (``manual_review``: the manual review queue,
    no automatic decision); ``score`` and ``prediction`` are what the gateway returns.
    """

    decision: Identifier = "manual_review"
    score: float | None = None
    prediction: Literal[0, 1] | None = None


class CircuitBreakerSettings(StrictModel):
    """Open after ``failures`` failures within ``window_seconds``; stay open ``open_seconds``."""

    failures: Annotated[int, Field(ge=1)] = 5
    window_seconds: Annotated[float, Field(gt=0)] = 60.0
    open_seconds: Annotated[float, Field(gt=0)] = 30.0


class Serving(StrictModel):
    """Seed 003 section 13.2 prediction safeguards of one model, applied by the gateway."""

    output: Annotated[ProbabilityOutput | NonNegativeOutput, Field(discriminator="kind")] = (
        ProbabilityOutput()
    )
    fallback: FallbackRule = FallbackRule()
    cache_ttl_seconds: Annotated[float, Field(ge=0)] = 3600.0
    # The last-known-good cache's memory budget for the model, per gateway: the least
    # recently stored answers go first once it is spent (an answer takes 400 bytes plus
    # its customer id, model id and version).
    cache_max_bytes: Annotated[int, Field(ge=4096)] = 32 * 1024 * 1024
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    # The downstream systems that call the model (a request's context ``consumer``): what a
    # downstream_consumer kill switch can name.
    consumers: list[Identifier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fallback_score_is_a_valid_output(self) -> Serving:
        high = 1.0 if isinstance(self.output, ProbabilityOutput) else self.output.max
        score = self.fallback.score
        if score is not None and not 0 <= score <= high:
            raise PydanticCustomError(
                "fallback_score", FALLBACK_SCORE_OUT_OF_RANGE.format(score=score, high=high)
            )
        return self


ModelType = Literal["binary_classifier", "regressor"]


class ModelEntry(StrictModel):
    id: Identifier
    type: ModelType
    risk_tier: RiskTier
    owner: str
    business_purpose: str
    prediction_log: Annotated[ParquetLog | SqlLog, Field(discriminator="kind")]
    columns: Columns
    # The value of prediction (favourable_prediction) and of label (favourable_label, the same
    # unless given) that is the favourable outcome: selection rates count it, so a risk score
    # whose 1 means "decline" is measured on its 0s. A regressor has no favourable class: the
    # keys are refused on it and the fields keep 1, which nothing reads for a regressor.
    favourable_prediction: Literal[0, 1]
    favourable_label: Literal[0, 1]
    label_delay_days: Annotated[int, Field(ge=0)]
    # Required of a binary_classifier, refused on a regressor.
    decision_threshold: Fraction | None = None
    performance_requirement: PerformanceRequirement | None = None
    # Optional for a regressor, refused on a binary_classifier.
    error_ceiling: ErrorCeiling | None = None
    freeze_on_critical_fairness: bool
    expected_daily_volume: Annotated[int, Field(gt=0)]
    binning: Binning
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    features: list[Feature]
    protected_attributes: list[ProtectedAttribute]
    intersections: list[list[Identifier]] = Field(default_factory=list)
    serving: Serving = Serving()

    @field_validator("favourable_prediction", "favourable_label", mode="before")
    @classmethod
    def _zero_or_one(cls, value: Any) -> Any:
        # Before pydantic's own check, which would take true for 1 and word its refusal
        # without saying what the value means.
        if type(value) is not int or value not in (0, 1):
            raise PydanticCustomError("favourable_outcome", FAVOURABLE_OUTCOME)
        return value

    @model_validator(mode="before")
    @classmethod
    def _regressor_has_no_classes(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("type") != "regressor":
            return data
        for key in CLASSIFIER_ONLY_KEYS:
            if key in data:
                raise located_error(key, NOT_FOR_REGRESSOR.format(key=key))
        return {**data, "favourable_prediction": 1, "favourable_label": 1}

    @model_validator(mode="before")
    @classmethod
    def _label_favourable_like_the_prediction(cls, data: Any) -> Any:
        regressor = isinstance(data, dict) and data.get("type") == "regressor"
        if isinstance(data, dict) and not regressor and "favourable_label" not in data:
            prediction = data.get("favourable_prediction")
            # A favourable_prediction that is not 0 or 1 is refused on its own key; the label
            # then borrows 1 rather than repeat the same refusal.
            valid = type(prediction) is int and prediction in (0, 1)
            return {**data, "favourable_label": prediction if valid else 1}
        return data

    @model_validator(mode="after")
    def _output_matches_type(self) -> ModelEntry:
        if self.is_regressor:
            if not isinstance(self.serving.output, NonNegativeOutput):
                raise PydanticCustomError("serving_output", OUTPUT_OF_REGRESSOR)
            return self
        if not isinstance(self.serving.output, ProbabilityOutput):
            raise PydanticCustomError("serving_output", OUTPUT_OF_TYPE.format(model_type=self.type))
        if self.error_ceiling is not None:
            raise located_error("error_ceiling", NOT_FOR_CLASSIFIER.format(key="error_ceiling"))
        for key in ("decision_threshold", "performance_requirement"):
            if getattr(self, key) is None:
                raise located_error(key, REQUIRED_FOR_CLASSIFIER.format(key=key))
        if self.columns.score is None:
            raise located_error(
                "columns.score", REQUIRED_FOR_CLASSIFIER.format(key="columns.score")
            )
        return self

    @property
    def is_regressor(self) -> bool:
        return self.type == "regressor"

    @property
    def log_columns(self) -> list[str]:
        """The prediction log's columns this entry names, in the documented order: its
        ``columns`` (a regressor has no score), features and protected attributes."""
        columns = self.columns
        return [
            columns.prediction_id,
            columns.model_version,
            columns.scored_at,
            *(feature.name for feature in self.features),
            *(attribute.name for attribute in self.protected_attributes),
            *([] if columns.score is None else [columns.score]),
            columns.prediction,
            columns.label,
            columns.label_observed_at,
        ]

    @property
    def prediction_bounds(self) -> tuple[float, float]:
        """A regressor's valid predictions, [0, serving.output.max]: the gateway clips into
        them and the data-quality gate counts logged predictions outside them."""
        output = self.serving.output
        if not isinstance(output, NonNegativeOutput):
            raise ValueError(f"model {self.id!r} is not a regressor")
        return 0.0, output.max

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> ModelEntry:
        feature_names = [feature.name for feature in self.features]
        protected_names = [attribute.name for attribute in self.protected_attributes]
        for what, names in (("feature", feature_names), ("protected attribute", protected_names)):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise PydanticCustomError(
                    "duplicate", DUPLICATE_NAME.format(what=what, name=repeated[0])
                )
        for name in protected_names:
            if name in feature_names:
                raise PydanticCustomError("clashing_column", CLASHING_COLUMN.format(name=name))
        # The analysis reads the log's columns under both their own names and their standard
        # ones (score, label, ...): a feature under either would be read as, or over, it.
        log_columns = {
            name: key
            for key, value in self.columns.model_dump().items()
            for name in (key, value)
            if name is not None
        }
        for what, names in (("feature", feature_names), ("protected attribute", protected_names)):
            for name in names:
                if name in log_columns:
                    message = LOG_COLUMN.format(what=what, name=name, key=log_columns[name])
                    raise PydanticCustomError("log_column", message)
        for combination in self.intersections:
            for name in combination:
                if name not in protected_names:
                    raise PydanticCustomError(
                        "intersection", UNKNOWN_INTERSECTION.format(name=name)
                    )
        return self

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"model {self.id!r} has no feature {name!r}")


class ModelsFile(StrictModel):
    """The whole of ``config/models.yaml``."""

    models: list[ModelEntry]

    @model_validator(mode="after")
    def _ids_are_unique(self) -> ModelsFile:
        seen: set[str] = set()
        for index, model in enumerate(self.models):
            if model.id in seen:
                message = DUPLICATE_NAME.format(what="model", name=model.id)
                raise located_error(f"models.{index}.id", message)
            seen.add(model.id)
        return self

    def get(self, model_id: str) -> ModelEntry:
        for model in self.models:
            if model.id == model_id:
                return model
        if not self.models:
            raise UnknownModel(NO_MODEL_LISTED.format(model_id=model_id))
        raise UnknownModel(UNKNOWN_MODEL.format(model_id=model_id, models=", ".join(self.ids())))

    def ids(self) -> list[str]:
        return [model.id for model in self.models]
