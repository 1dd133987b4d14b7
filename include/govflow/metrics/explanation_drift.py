"""Seed 004 sections 4.1 ("SHAP distributions" in a baseline) and 10 ("SHAP rank correlation
= 0.82" is INFO): per-feature attributions and explanation drift.

Attributions
------------
:func:`feature_attributions` explains the positive-class probability of the whole deployed
estimator (preprocessing included), or a regressor's prediction (``explain="prediction"``,
its ``predict``), on a bounded, deterministic sample of at most
``sample_rows`` rows, against a background of at most ``background_rows`` reference rows
(:func:`explanation_background`), and keeps the mean |SHAP value| of each ORIGINAL feature.
Categorical features are handed to the algorithm as integer codes and decoded back to their
categories before the model sees them, so a one-hot encoded feature gets one attribution
without aggregating its columns.

Why permutation SHAP (shap's ``PermutationExplainer``, batched)
---------------------------------------------------------------
* Model-agnostic: it only calls ``predict_proba`` (or a regressor's ``predict``), so
  gradient boosting, a logistic regression or any scikit-learn pipeline is explained the
  same way, and attributions of two
  different models (or of one model on two windows) are comparable.
* Exact where it can be: with the independent masker, the value of a feature set is the
  model's mean output over the background with the other features replaced. One forward and
  one reverse pass through a permutation (antithetic sampling) gives the exact Shapley values
  of that game for models whose interactions are at most of second order, additive models
  included; for anything else it is a sampled estimate whose noise the mean over rows damps
  (on the demo credit model, two seeds rank the 15 features with a correlation of 0.996).
* Bounded cost: ``permutations * (2 * features + 1)`` masked evaluations per explained row,
  each over the background, whatever the model. 200 rows x 15 features with 100 background
  rows is at most 620,000 model rows (about 510,000 on the demo credit model: a background
  row whose value of the switched feature equals the explained row's is not re-evaluated).
  KernelSHAP needs a regression per row and more evaluations for the same accuracy;
  TreeSHAP would be exact and fast but only for tree models.
* Deterministic: rows and background are drawn with ``numpy.random.default_rng(seed)`` and
  the permutations with ``numpy.random.RandomState(seed)``, so the same inputs and seed give
  the same numbers.

The algorithm is shap's (0.51) ``PermutationExplainer`` over an ``Independent`` masker, step
for step (:func:`_permutation_shap_values`: the same varying features per row, the same
permutations from the same random stream, the same carried-over outputs, the same summation
order), but shap calls the model once per explained row, about 2,500 masked rows at a time,
with Python work per row and numba kernels compiled on a process's first call (about 4 CPU-s).
Here every row's masked rows go to the model in calls of about 50,000 (issue 18 item 3, the
weekly run over 200 models). The SHAP values are the same bits as shap's for a model whose
output for a row does not depend on the rest of its batch (the demo models;
tests/unit/test_explanations_against_shap.py compares both on the demo credit model and on
a regressor), so the attributions and baselines stored before are unchanged. 200 rows
against 100 background rows cost 1.18 CPU-s instead of 3.07 on the demo's gradient-boosted
credit model, nearly all of it the model's own ``predict_proba`` over about 510,000 masked
rows, and 0.42 instead of 1.90 on its logistic marketing model, without the 3.9 CPU-s of
numba compilation of a process's first explanation (measured alone with
``time.process_time``; the weekly fleet's figures are in benchmarks/README.md).

Logged attributions (black-box models, issue 14 item 2)
-------------------------------------------------------
A model without an artefact cannot be explained here, but its serving side may log a
per-row attribution (e.g. a SHAP value) of each feature beside the prediction, in a column
named ``attribution__<feature>`` (:func:`attribution_column`). :func:`logged_attributions`
turns them into the same :class:`FeatureAttributions` (mean |attribution| per feature, over
every row whose attributions are all finite numbers; the others are left out and counted,
:func:`non_finite_attributions` names them per column), marked ``source="logged"`` and
without a background or permutations, so that :func:`explanation_drift` compares them with a
baseline built the same way exactly as it compares SHAP values.

Explanation drift
-----------------
A regressor's attributions are in the prediction's unit (euros of lifetime value), a
classifier's in probability: no bound applies to their size. Explanation drift compares
only the ORDER of the features (a rank correlation is unchanged by any scale), so the same
metric and the same policy thresholds judge both, and a regressor whose predictions all
double has the same rankings and no explanation drift.

:func:`explanation_drift` compares a current window's attributions with the baseline's:
``shap_rank_correlation`` is Spearman's rank correlation (``scipy.stats.spearmanr``, ties
averaged, rounded to 12 decimals) between the two vectors of mean |SHAP| per feature,
classified with the threshold passed in (policy.yaml ``thresholds.explanation_drift``). It
is ``inconclusive`` when either vector is constant (e.g. a model that ignores every
feature), because a rank correlation is then undefined. Each feature also gets its relative
attribution shift ``(current - baseline) / baseline``: 0 when both are 0, None when only
the baseline is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata, spearmanr
from threadpoolctl import threadpool_limits

from govflow.metrics.severity import Severity, Threshold, classify

EXPLANATION_SAMPLE_ROWS = 200
EXPLANATION_BACKGROUND_ROWS = 100
SHAP_RANK_CORRELATION = "shap_rank_correlation"
CORRELATION_DECIMALS = 12

MISSING_FEATURES = "{what} has no column for features: {missing}"
NO_COMPLETE_ROWS = "{what} has no row without missing feature values ({dropped} dropped)"
NO_FEATURES = "explanations need at least one feature"
NOT_NUMERIC = "{what} column {feature} must be numeric like the background, got {dtype}"
BAD_ROW_COUNT = "{name} must be at least 1, got {count}"
FEATURE_MISMATCH = (
    "baseline and current attributions cover different features: {baseline} vs {current}"
)
ATTRIBUTION_PREFIX = "attribution__"
SHAP_PERMUTATION: Final = "shap_permutation"
LOGGED: Final = "logged"
AttributionSource = Literal["shap_permutation", "logged"]
MISSING_ATTRIBUTIONS = "{what} has no attribution column for: {missing}"
NO_FINITE_ATTRIBUTIONS = (
    "{what} has no row whose attributions are all finite numbers ({dropped} left out)"
)
CONSTANT_ATTRIBUTIONS = (
    "the {side} mean |SHAP| is the same for every feature, so a rank correlation is undefined"
)


class ExplanationInputError(ValueError):
    """The data cannot be explained (missing feature columns, no complete rows)."""


class ProbabilisticClassifier(Protocol):
    def predict_proba(self, features: pd.DataFrame) -> Any: ...


class Regressor(Protocol):
    def predict(self, features: pd.DataFrame) -> Any: ...


Explained = Literal["probability", "prediction"]
"""What an explanation attributes: a classifier's probability of class 1, a regressor's
prediction."""


@dataclass(frozen=True)
class ExplanationBackground:
    """Reference rows attributions are measured against, small enough to keep in a profile."""

    columns: dict[str, tuple[Any, ...]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ExplanationBackground:
        return cls({str(name): tuple(frame[name].tolist()) for name in frame.columns})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: list(values) for name, values in self.columns.items()})

    def to_dict(self) -> dict[str, Any]:
        return {name: list(values) for name, values in self.columns.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExplanationBackground:
        return cls({str(name): tuple(values) for name, values in data.items()})


@dataclass(frozen=True)
class FeatureAttributions:
    """Mean |SHAP value| per feature over the explained rows, and how they were drawn."""

    features: tuple[str, ...]
    mean_abs_shap: tuple[float, ...]
    rows_explained: int
    rows_dropped_missing: int
    background_rows: int
    permutations: int
    seed: int
    # "logged": read from the attribution__<feature> columns of the data, not computed.
    source: AttributionSource = SHAP_PERMUTATION

    @property
    def ranks(self) -> dict[str, float]:
        """Rank of each feature, 1 = largest mean |SHAP|, ties averaged."""
        ranks = rankdata(-np.asarray(self.mean_abs_shap), method="average")
        return {feature: float(rank) for feature, rank in zip(self.features, ranks, strict=True)}

    @property
    def ranking(self) -> tuple[str, ...]:
        """Features from the most to the least important (ties keep the feature order)."""
        order = np.argsort(-np.asarray(self.mean_abs_shap), kind="stable")
        return tuple(self.features[index] for index in order)

    def to_dict(self) -> dict[str, Any]:
        # SHAP attributions have no "source" key: their stored JSON (and the sha256 the audit
        # trail holds) is what it was before logged attributions.
        source = {} if self.source == SHAP_PERMUTATION else {"source": self.source}
        return {
            **source,
            "features": list(self.features),
            "mean_abs_shap": list(self.mean_abs_shap),
            "ranking": list(self.ranking),
            "rows_explained": self.rows_explained,
            "rows_dropped_missing": self.rows_dropped_missing,
            "background_rows": self.background_rows,
            "permutations": self.permutations,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureAttributions:
        return cls(
            features=tuple(str(feature) for feature in data["features"]),
            mean_abs_shap=tuple(float(value) for value in data["mean_abs_shap"]),
            rows_explained=int(data["rows_explained"]),
            rows_dropped_missing=int(data["rows_dropped_missing"]),
            background_rows=int(data["background_rows"]),
            permutations=int(data["permutations"]),
            seed=int(data["seed"]),
            source=LOGGED if data.get("source") == LOGGED else SHAP_PERMUTATION,
        )


def _complete_rows(
    data: pd.DataFrame, features: Sequence[str], *, what: str
) -> tuple[npt.NDArray[np.intp], int]:
    """The positions of ``data``'s rows with every feature present, and how many rows miss
    one. One null mask per feature: the rows themselves are not copied (a bi-weekly window
    holds 1.4M of them, of which 200 are explained, issue 18)."""
    if not features:
        raise ExplanationInputError(NO_FEATURES)
    missing = [feature for feature in features if feature not in data.columns]
    if missing:
        raise ExplanationInputError(MISSING_FEATURES.format(what=what, missing=", ".join(missing)))
    incomplete = np.zeros(len(data), dtype=bool)
    for feature in features:
        incomplete |= data[feature].isna().to_numpy(dtype=bool)
    dropped = int(incomplete.sum())
    if dropped == len(data):
        raise ExplanationInputError(NO_COMPLETE_ROWS.format(what=what, dropped=dropped))
    return np.flatnonzero(~incomplete), dropped


def _rows(
    data: pd.DataFrame, positions: npt.NDArray[np.intp], features: Sequence[str]
) -> pd.DataFrame:
    """The ``features`` of ``data``'s rows at ``positions``, indexed from 0."""
    return data.take(positions)[list(features)].reset_index(drop=True)


def _bounded_sample(
    positions: npt.NDArray[np.intp], rows: int, *, seed: int, name: str
) -> npt.NDArray[np.intp]:
    """At most ``rows`` of ``positions``, drawn deterministically, in order."""
    if rows < 1:
        raise ExplanationInputError(BAD_ROW_COUNT.format(name=name, count=rows))
    if len(positions) <= rows:
        return positions
    chosen = np.sort(np.random.default_rng(seed).choice(len(positions), size=rows, replace=False))
    return positions[chosen]


def explanation_background(
    reference: pd.DataFrame,
    *,
    features: Sequence[str],
    rows: int = EXPLANATION_BACKGROUND_ROWS,
    seed: int = 0,
) -> ExplanationBackground:
    """At most ``rows`` complete reference rows of ``features``, drawn deterministically."""
    complete, _ = _complete_rows(reference, features, what="the reference")
    chosen = _bounded_sample(complete, rows, seed=seed, name="background rows")
    return ExplanationBackground.from_frame(_rows(reference, chosen, features))


class _CategoryCodes:
    """Integer codes for categorical columns: masking compares and copies numbers only."""

    def __init__(self, background: pd.DataFrame, sample: pd.DataFrame) -> None:
        self.features = list(background.columns)
        self.categorical = [
            name for name in self.features if not pd.api.types.is_numeric_dtype(background[name])
        ]
        self.categories = {
            name: np.array(
                sorted(set(background[name].astype(str)) | set(sample[name].astype(str))),
                dtype=object,
            )
            for name in self.categorical
        }
        # Integer columns go back to integers (as the model was fitted), unless the explained
        # rows hold fractions that a cast would truncate.
        self.numeric_dtypes = {
            name: np.int64
            if pd.api.types.is_integer_dtype(background[name])
            and pd.api.types.is_integer_dtype(sample[name])
            else np.float64
            for name in self.features
            if name not in self.categorical
        }

    def encode(self, frame: pd.DataFrame, *, what: str) -> npt.NDArray[np.float64]:
        columns = []
        for name in self.features:
            if name in self.categorical:
                codes = np.searchsorted(self.categories[name], frame[name].astype(str).to_numpy())
                columns.append(codes.astype(np.float64))
                continue
            if not pd.api.types.is_numeric_dtype(frame[name]):
                raise ExplanationInputError(
                    NOT_NUMERIC.format(what=what, feature=name, dtype=frame[name].dtype)
                )
            columns.append(frame[name].to_numpy(dtype=np.float64))
        return np.column_stack(columns)

    def decode(self, encoded: npt.NDArray[np.float64]) -> pd.DataFrame:
        decoded: dict[str, Any] = {}
        for position, name in enumerate(self.features):
            column = encoded[:, position]
            if name in self.categorical:
                decoded[name] = self.categories[name][column.astype(np.intp)]
            else:
                decoded[name] = column.astype(self.numeric_dtypes[name])
        return pd.DataFrame(decoded, columns=self.features)


# Evaluated masked rows per model call: large enough that the model's per-call overhead is
# negligible, small enough to keep a chunk's arrays to a few tens of MB.
MASKED_ROWS_PER_CALL = 50_000


def _permutation_shap_values(
    explained_output: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    sample: npt.NDArray[np.float64],
    background: npt.NDArray[np.float64],
    *,
    max_evals: int,
    seed: int,
) -> npt.NDArray[np.float64]:
    """SHAP values per row of ``sample`` (rows x features), exactly as shap's
    ``PermutationExplainer`` with an ``Independent`` masker over ``background`` computes
    them, but with every row's masked evaluations batched into a few large model calls.

    Per row, as shap does: the varying features are those where the row is not
    ``numpy.isclose`` to at least one background row; ``max_evals // (2 * varying + 1)``
    permutations of them are drawn by successive ``shuffle`` calls of one legacy generator
    seeded with ``seed`` (shap's ``np.random.seed(seed)``), each walked forward (features
    switched from background to row values) and back; a background row's output is only
    recomputed when the switched feature varies for it, and otherwise carried over; the
    value of a mask is the mean output over the background summed in row order.
    """
    rows, features = sample.shape
    variants = ~np.isclose(sample[:, np.newaxis, :], background[np.newaxis, :, :])
    generator = np.random.RandomState(seed)
    units: list[tuple[int, npt.NDArray[np.intp]]] = []
    permutations = np.ones(rows)
    for row in range(rows):
        varying = np.where(variants[row].any(axis=0))[0]
        if len(varying) == 0:
            continue
        permutations[row] = max_evals // (2 * len(varying) + 1)
        for _ in range(int(permutations[row])):
            generator.shuffle(varying)
            units.append((row, varying.copy()))
    values = np.zeros((rows, features))
    units_per_call = max(1, MASKED_ROWS_PER_CALL // ((2 * features + 1) * len(background)))
    for first in range(0, len(units), units_per_call):
        chunk = units[first : first + units_per_call]
        for length in sorted({len(order) for _, order in chunk}):
            same_length = [unit for unit in chunk if len(unit[1]) == length]
            for (row, order), forward, backward in zip(
                same_length,
                *_walk_permutations(explained_output, sample, background, variants, same_length),
                strict=True,
            ):
                values[row, order] += forward
                values[row, order] += backward
    return values / (2 * permutations[:, np.newaxis])


def _walk_permutations(
    explained_output: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    sample: npt.NDArray[np.float64],
    background: npt.NDArray[np.float64],
    variants: npt.NDArray[np.bool_],
    units: Sequence[tuple[int, npt.NDArray[np.intp]]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Forward and backward marginal contributions (units x length) of permutations of one
    length, in permutation order: one model call for all their masked rows."""
    rows = np.array([row for row, _ in units])
    orders = np.array([order for _, order in units])
    count, length = orders.shape
    steps = 2 * length + 1
    # position[u, f]: where feature f comes in unit u's permutation (length: never switched).
    position = np.full((count, sample.shape[1]), length)
    np.put_along_axis(position, orders, np.arange(length)[np.newaxis, :], axis=1)
    step = np.arange(steps)[np.newaxis, :, np.newaxis]
    place = position[:, np.newaxis, :]
    # Step s <= length: the first s features of the permutation hold the row's values;
    # after that, the first s - length are back at the background's.
    uses_row = (place < length) & np.where(step <= length, place < step, place >= step - length)
    toggled = orders[:, (np.arange(1, steps) - 1) % length]
    evaluated = np.empty((count, steps, len(background)), dtype=bool)
    evaluated[:, 0, :] = True
    evaluated[:, 1:, :] = variants[rows[:, np.newaxis], :, toggled]
    unit, at, reference = np.nonzero(evaluated)
    masked = np.where(uses_row[unit, at], sample[rows[unit]], background[reference])
    outputs = np.empty(evaluated.shape)
    outputs[unit, at, reference] = explained_output(masked)
    # A background row whose output was not recomputed keeps the one of its last evaluation.
    last = np.maximum.accumulate(np.where(evaluated, step, 0), axis=1)
    outputs = np.take_along_axis(outputs, last, axis=1)
    means = np.zeros((count, steps))
    for column in range(len(background)):
        means += outputs[:, :, column]
    means /= len(background)
    forward = means[:, 1 : length + 1] - means[:, :length]
    backward = means[:, length : 2 * length] - means[:, length + 1 :]
    return forward, backward


def feature_attributions(
    model: ProbabilisticClassifier | Regressor,
    data: pd.DataFrame,
    *,
    background: ExplanationBackground,
    features: Sequence[str],
    explain: Explained = "probability",
    sample_rows: int = EXPLANATION_SAMPLE_ROWS,
    permutations: int = 1,
    seed: int = 0,
) -> FeatureAttributions:
    """Mean |permutation SHAP value| per feature of ``model``'s positive-class probability
    (a regressor's prediction with ``explain="prediction"``) on at most ``sample_rows``
    complete rows of ``data`` (rows with a missing feature are left out and counted)."""
    complete, dropped = _complete_rows(data, features, what="the data")
    sample = _rows(
        data, _bounded_sample(complete, sample_rows, seed=seed, name="sample rows"), features
    )
    return sample_attributions(
        model,
        sample,
        background=background,
        features=features,
        explain=explain,
        rows_dropped_missing=dropped,
        permutations=permutations,
        seed=seed,
    )


def explained_positions(
    complete: int, *, sample_rows: int = EXPLANATION_SAMPLE_ROWS, seed: int = 0
) -> npt.NDArray[np.intp]:
    """Which of a window's ``complete`` rows (counted in the window's order) feature_attributions
    explains: what a database is asked for instead of the window."""
    return _bounded_sample(np.arange(complete), sample_rows, seed=seed, name="sample rows")


def sample_attributions(
    model: ProbabilisticClassifier | Regressor,
    sample: pd.DataFrame,
    *,
    background: ExplanationBackground,
    features: Sequence[str],
    explain: Explained = "probability",
    rows_dropped_missing: int = 0,
    permutations: int = 1,
    seed: int = 0,
) -> FeatureAttributions:
    """:func:`feature_attributions` of rows already drawn (``explained_positions``), every
    feature present; ``rows_dropped_missing`` counts the window's rows that missed one."""
    if permutations < 1:
        raise ExplanationInputError(BAD_ROW_COUNT.format(name="permutations", count=permutations))
    given = background.frame()
    background_frame = _rows(
        given, _complete_rows(given, features, what="the background")[0], features
    )
    codes = _CategoryCodes(background_frame, sample)

    def explained_output(encoded: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        rows = codes.decode(encoded)
        if explain == "prediction":
            return np.asarray(cast(Regressor, model).predict(rows), dtype=np.float64)
        return np.asarray(
            cast(ProbabilisticClassifier, model).predict_proba(rows), dtype=np.float64
        )[:, 1]

    # One thread per model call: two analyses share a 2-core host, and OpenMP's spin-waiting
    # threads (gradient boosting's predict) made the same work 5-10x slower on a busy one.
    with threadpool_limits(limits=1):
        values = _permutation_shap_values(
            explained_output,
            codes.encode(sample, what="the data"),
            codes.encode(background_frame, what="the background"),
            max_evals=permutations * (2 * len(features) + 1),
            seed=seed,
        )
    mean_abs = np.abs(values).mean(axis=0)
    return FeatureAttributions(
        features=tuple(features),
        mean_abs_shap=tuple(float(value) for value in mean_abs),
        rows_explained=len(sample),
        rows_dropped_missing=rows_dropped_missing,
        background_rows=len(background_frame),
        permutations=permutations,
        seed=seed,
    )


def attribution_column(feature: str) -> str:
    """The log column holding ``feature``'s per-row attribution."""
    return f"{ATTRIBUTION_PREFIX}{feature}"


def missing_attribution_columns(columns: Iterable[str], features: Sequence[str]) -> list[str]:
    """The attribution columns of ``features`` that ``columns`` lacks, in feature order."""
    present = set(columns)
    return [
        attribution_column(feature)
        for feature in features
        if attribution_column(feature) not in present
    ]


def _attribution_values(data: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    # Text, nulls and infinities alike are values that are not finite numbers.
    values = pd.DataFrame(
        {
            attribution_column(feature): pd.to_numeric(
                data[attribution_column(feature)], errors="coerce"
            ).astype("float64")
            for feature in features
        },
        index=data.index,
    )
    return values.where(np.isfinite(values))


def non_finite_attributions(data: pd.DataFrame, *, features: Sequence[str]) -> dict[str, int]:
    """Per attribution column present in ``data``, how many values are not finite numbers
    (null, NaN, inf or text); columns without any are left out."""
    present = [f for f in features if attribution_column(f) in data.columns]
    counts = _attribution_values(data, present).isna().sum()
    return {str(column): int(count) for column, count in counts.items() if count}


def logged_attributions(
    data: pd.DataFrame, *, features: Sequence[str], what: str = "the data"
) -> FeatureAttributions:
    """Mean |logged attribution| per feature over the rows of ``data`` whose
    ``attribution__<feature>`` values are all finite numbers (the others left out, counted)."""
    if not features:
        raise ExplanationInputError(NO_FEATURES)
    missing = missing_attribution_columns(data.columns, features)
    if missing:
        raise ExplanationInputError(
            MISSING_ATTRIBUTIONS.format(what=what, missing=", ".join(missing))
        )
    values = _attribution_values(data, features)
    complete = values.notna().all(axis=1).to_numpy()
    dropped = int((~complete).sum())
    if not complete.any():
        raise ExplanationInputError(NO_FINITE_ATTRIBUTIONS.format(what=what, dropped=dropped))
    mean_abs = values.loc[complete].abs().mean(axis=0).to_numpy(dtype=np.float64)
    return FeatureAttributions(
        features=tuple(features),
        mean_abs_shap=tuple(float(value) for value in mean_abs),
        rows_explained=int(complete.sum()),
        rows_dropped_missing=dropped,
        background_rows=0,
        permutations=0,
        seed=0,
        source=LOGGED,
    )


@dataclass(frozen=True)
class FeatureAttributionShift:
    """One feature's mean |SHAP| and rank at baseline and now."""

    feature: str
    baseline_mean_abs_shap: float
    current_mean_abs_shap: float
    relative_change: float | None
    baseline_rank: float
    current_rank: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "baseline_mean_abs_shap": self.baseline_mean_abs_shap,
            "current_mean_abs_shap": self.current_mean_abs_shap,
            "relative_change": self.relative_change,
            "baseline_rank": self.baseline_rank,
            "current_rank": self.current_rank,
        }


@dataclass(frozen=True)
class ExplanationDrift:
    """``shap_rank_correlation`` of a window against the baseline, with per-feature shifts."""

    status: Literal["computed", "inconclusive"]
    rank_correlation: float | None
    severity: Severity | None
    features: tuple[FeatureAttributionShift, ...]
    rows_explained: int
    rows_dropped_missing: int
    reason: str | None = None
    metric: str = SHAP_RANK_CORRELATION

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "status": self.status,
            "rank_correlation": self.rank_correlation,
            "severity": None if self.severity is None else self.severity.name,
            "reason": self.reason,
            "rows_explained": self.rows_explained,
            "rows_dropped_missing": self.rows_dropped_missing,
            "features": [shift.to_dict() for shift in self.features],
        }


def _relative_change(baseline: float, current: float) -> float | None:
    if baseline == 0:
        return 0.0 if current == 0 else None
    return (current - baseline) / baseline


def explanation_drift(
    baseline: FeatureAttributions, current: FeatureAttributions, *, threshold: Threshold
) -> ExplanationDrift:
    """Spearman correlation of the baseline's and the current mean-|SHAP| feature rankings."""
    if baseline.features != current.features:
        raise ExplanationInputError(
            FEATURE_MISMATCH.format(
                baseline=", ".join(baseline.features), current=", ".join(current.features)
            )
        )
    baseline_ranks, current_ranks = baseline.ranks, current.ranks
    shifts = tuple(
        FeatureAttributionShift(
            feature=feature,
            baseline_mean_abs_shap=before,
            current_mean_abs_shap=after,
            relative_change=_relative_change(before, after),
            baseline_rank=baseline_ranks[feature],
            current_rank=current_ranks[feature],
        )
        for feature, before, after in zip(
            baseline.features, baseline.mean_abs_shap, current.mean_abs_shap, strict=True
        )
    )
    for side, attributions in (("baseline", baseline), ("current", current)):
        if len(set(attributions.mean_abs_shap)) < 2:
            return ExplanationDrift(
                "inconclusive",
                None,
                None,
                shifts,
                current.rows_explained,
                current.rows_dropped_missing,
                reason=CONSTANT_ATTRIBUTIONS.format(side=side),
            )
    # Rounded so that floating-point noise cannot push a correlation across a bound: five
    # features with two adjacent pairs swapped are 0.8 on paper, 0.7999999999999999 in scipy.
    correlation = round(
        float(spearmanr(baseline.mean_abs_shap, current.mean_abs_shap).statistic),
        CORRELATION_DECIMALS,
    )
    severity = classify(correlation, threshold)
    # Two rankings that are not constant always have a finite correlation.
    assert isinstance(severity, Severity)
    return ExplanationDrift(
        "computed",
        correlation,
        severity,
        shifts,
        current.rows_explained,
        current.rows_dropped_missing,
    )
