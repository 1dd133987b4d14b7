"""Seed 004 sections 2.2 (data drift: PSI, KL divergence, Wasserstein) and 4.1 (baseline
feature distributions), computed per feature with numpy against a FROZEN reference.

A reference is built once from the baseline data (:func:`numeric_reference`,
:func:`categorical_reference`) and stored; a daily run is then one pass over the current
window (:func:`numeric_feature_drift`, :func:`categorical_feature_drift`) and never needs
the raw reference rows.

Bins (numerical features)
-------------------------
:func:`bin_edges_from_reference` returns edges ``[-inf, e_1, ..., e_k, +inf]``; bin ``i`` is
``[e_i, e_{i+1})`` (left-closed), the first bin is ``(-inf, e_1)`` and the last is
``[e_k, +inf)``, so a current value outside the reference range (and +-inf) lands in an end
bin instead of disappearing.

* ``"deciles"`` (default): ``e`` = the distinct values among the reference's 10th, ..., 90th
  percentiles (``numpy.quantile``, linear). Ties collapse edges: a column that is 0 for 70%
  of rows gets fewer than 10 bins and the bins hold unequal shares. A constant reference
  column ``c`` gets edges ``[c, next float above c]``: below / equal to / above ``c``.
* ``"sturges_combined"``: evidently's binning, ``numpy.histogram_bin_edges(concat(reference,
  current), "sturges")``, opened at both ends. It depends on the current window, so it is
  only for reproducing evidently (tests, reports), never for a frozen baseline.
* explicit edges: any strictly increasing finite sequence (an outer -inf/+inf is accepted).

Categorical features
--------------------
One bin per reference category; every category seen in the current window but not in the
reference gets its own bin (reference count 0) and is reported in
``FeatureDrift.unseen_categories``. This is what evidently does (its keys are the union of
both windows' categories). Categories are compared by value (:func:`category_key`): the
number 1, the float 1.0 and numpy's 1 are the category ``"1"``, 1.5 is ``"1.5"``, anything
else is its ``str()``, so a reference read as integers and a window read as floats hold the
same categories.

Missing categorical values are treated as evidently 0.7 treats them: evidently drops NaN
from both columns before its stattest (``get_one_column_drift``) and computes each side's
proportions over the rows that remain, and so does :func:`category_frequencies` (the
dropped count is reported as ``dropped_missing``). A missing value is never a category of
its own; a window whose values are all missing has nothing to compare and raises
:class:`MetricInputError`.

Missing and infinite values
---------------------------
NaN/None are dropped and counted (``dropped_missing``). +-inf are counted (``infinite``) and,
for PSI/KL, land in the end bins; Wasserstein ignores them (a distance to infinity says
nothing). A window that is empty after dropping raises :class:`MetricInputError`.

Empty bins
----------
PSI and KL divide by bin proportions, so zero proportions are replaced before the formula.
``empty_bin_fill="evidently"`` (default) reproduces evidently 0.7 exactly: each side's zero
proportions become 0.0001, or (smallest non-zero proportion of that side) / 1e6 when that
smallest proportion is <= 0.0001. A float fills zeros with that proportion instead.

Definitions (``p`` reference proportions, ``q`` current proportions, after the fill)
-------------------------------------------------------------------------------------
* PSI = sum_i (p_i - q_i) * ln(p_i / q_i)                     (proportions not renormalised)
* KL  = sum_i p'_i * ln(p'_i / q'_i) with p', q' renormalised to sum to 1 after the fill,
  i.e. ``scipy.stats.entropy(p, q)`` = KL(reference || current), in nats.
* Wasserstein = W1(reference, current) / max(std(reference), 0.001), ``std`` with ddof=0,
  W1 the area between the two empirical CDFs (scipy's definition).

Wasserstein from stored quantiles
---------------------------------
The reference keeps ``K`` (default 1000) quantiles at probabilities ``(j + 0.5) / K`` (the
midpoint of each 1/K slice, ``inverted_cdf``). The daily value is W1 between the uniform
distribution on those ``K`` points and the current window. By the triangle inequality it
differs from the exact value by at most ``W1(reference, quantiles)``, which is computed once
from the raw rows when the reference is built and stored as ``quantile_error``; the
normalised bound is reported with each result (``wasserstein_error_bound``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from govflow.metrics.severity import MetricInputError, MetricSpec

BinningMethod = Literal["deciles", "sturges_combined"]
EmptyBinFill = Literal["evidently"] | float

EVIDENTLY_EMPTY_PROPORTION = 0.0001
WASSERSTEIN_MIN_STD = 0.001
DEFAULT_QUANTILE_COUNT = 1000

EMPTY_VALUES = "{name} has no values left after dropping {dropped} missing"
NOT_ONE_DIMENSIONAL = "{name} must be one-dimensional, got shape {shape}"
NOT_NUMERIC = "{name} must be numeric, got dtype {dtype}"
COUNTS_MISMATCH = "reference and current counts must have the same length, got {ref} and {cur}"
NEGATIVE_COUNTS = "bin counts must be non-negative"
ZERO_TOTAL = "{name} counts sum to zero"
NO_FINITE_VALUES = "{name} has no finite values ({infinite} infinite)"
BAD_EDGES = "explicit bin edges must be strictly increasing finite numbers"
STURGES_NEEDS_CURRENT = 'method="sturges_combined" needs current_values'
FROZEN_BINS_ONLY = (
    "a frozen reference cannot use sturges_combined bins: they depend on the current window"
)
BAD_FILL = "empty_bin_fill must be 'evidently' or a proportion in (0, 1), got {fill!r}"
BAD_QUANTILE_COUNT = "n_quantiles must be at least 1, got {count}"

DATA_DRIFT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "psi",
        "data",
        ("numerical", "categorical"),
        "higher_is_worse",
        "Population stability index over frozen reference bins.",
    ),
    MetricSpec(
        "kl_divergence",
        "data",
        ("numerical", "categorical"),
        "higher_is_worse",
        "KL(reference || current) in nats over the same bins as PSI.",
    ),
    MetricSpec(
        "wasserstein_distance_normalised",
        "data",
        ("numerical",),
        "higher_is_worse",
        "W1 distance divided by max(reference std, 0.001).",
    ),
)


@dataclass(frozen=True)
class FiniteValues:
    """A numeric column split into its finite values and the counts of what was set aside."""

    values: npt.NDArray[np.float64]
    dropped_missing: int
    infinite: int


def finite_values(values: npt.ArrayLike, *, name: str = "values") -> FiniteValues:
    """Finite values of a 1-D numeric column; NaN/None dropped, +-inf set aside, both counted."""
    array = _numeric_array(values, name=name)
    missing = np.isnan(array)
    infinite = np.isinf(array)
    if missing.all():
        raise MetricInputError(EMPTY_VALUES.format(name=name, dropped=int(missing.sum())))
    finite = ~(missing | infinite)
    # A column that is all finite (the usual case) is not copied.
    values = array if finite.all() else array[finite]
    return FiniteValues(values, int(missing.sum()), int(infinite.sum()))


def _only_finite(values: npt.ArrayLike, *, name: str) -> FiniteValues:
    split = finite_values(values, name=name)
    if split.values.size == 0:
        raise MetricInputError(NO_FINITE_VALUES.format(name=name, infinite=split.infinite))
    return split


def _numeric_array(values: npt.ArrayLike, *, name: str) -> npt.NDArray[np.float64]:
    array = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values)
    if array.ndim != 1:
        raise MetricInputError(NOT_ONE_DIMENSIONAL.format(name=name, shape=array.shape))
    if array.dtype == object:
        try:
            array = pd.Series(array, dtype="Float64").to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise MetricInputError(NOT_NUMERIC.format(name=name, dtype=array.dtype)) from error
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise MetricInputError(NOT_NUMERIC.format(name=name, dtype=array.dtype))
    if array.size == 0:
        raise MetricInputError(EMPTY_VALUES.format(name=name, dropped=0))
    return array.astype(np.float64, copy=False)


def bin_edges_from_reference(
    values: npt.ArrayLike,
    *,
    method: BinningMethod | Sequence[float] = "deciles",
    current_values: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """Bin edges ``[-inf, e_1, ..., e_k, +inf]`` for a numerical feature (see module doc)."""
    if not isinstance(method, str):
        return _explicit_edges(method)
    finite = _only_finite(values, name="reference values").values
    if method == "sturges_combined":
        if current_values is None:
            raise MetricInputError(STURGES_NEEDS_CURRENT)
        current = _only_finite(current_values, name="current values").values
        interior = np.histogram_bin_edges(np.concatenate([finite, current]), bins="sturges")
        return _open_ended(interior[1:-1])
    interior = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9)))
    if interior.size == 1:
        interior = np.array([interior[0], np.nextafter(interior[0], np.inf)])
    return _open_ended(interior)


def _explicit_edges(edges: Sequence[float]) -> npt.NDArray[np.float64]:
    array = np.asarray(edges, dtype=np.float64)
    if array.ndim != 1:
        raise MetricInputError(BAD_EDGES)
    if array.size and array[0] == -np.inf:
        array = array[1:]
    if array.size and array[-1] == np.inf:
        array = array[:-1]
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(np.diff(array) <= 0):
        raise MetricInputError(BAD_EDGES)
    return _open_ended(array)


def _open_ended(interior: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.concatenate([[-np.inf], interior, [np.inf]])


def bin_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Counts per bin of ``edges`` (from :func:`bin_edges_from_reference`); NaN is not counted."""
    array = _numeric_array(values, name="values")
    edge_array = np.asarray(edges, dtype=np.float64)
    missing = np.isnan(array)
    present = array[~missing] if missing.any() else array
    bins = np.searchsorted(edge_array[1:-1], present, side="right")
    return np.bincount(bins, minlength=edge_array.size - 1).astype(np.int64)


def _bin_counts_of_sorted(
    sorted_values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    # bin_counts of sorted values: a value is in bin i when i interior edges are at or below
    # it, so each bin's count is a difference of how many values lie below consecutive edges.
    below = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return np.diff(below, prepend=0, append=sorted_values.size).astype(np.int64)


def _proportions(counts: npt.ArrayLike, *, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(counts, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise MetricInputError(NOT_ONE_DIMENSIONAL.format(name=name, shape=array.shape))
    if np.any(array < 0) or not np.all(np.isfinite(array)):
        raise MetricInputError(NEGATIVE_COUNTS)
    total = array.sum()
    if total == 0:
        raise MetricInputError(ZERO_TOTAL.format(name=name))
    return array / total


def fill_empty_bins(
    proportions: npt.NDArray[np.float64], *, empty_bin_fill: EmptyBinFill = "evidently"
) -> npt.NDArray[np.float64]:
    """Replace zero proportions so that logarithms are defined (rule in the module doc)."""
    if empty_bin_fill == "evidently":
        smallest = proportions[proportions > 0].min()
        fill = (
            smallest / 10**6
            if smallest <= EVIDENTLY_EMPTY_PROPORTION
            else EVIDENTLY_EMPTY_PROPORTION
        )
    elif isinstance(empty_bin_fill, float | int) and 0 < empty_bin_fill < 1:
        fill = float(empty_bin_fill)
    else:
        raise MetricInputError(BAD_FILL.format(fill=empty_bin_fill))
    return np.where(proportions == 0, fill, proportions)


def _filled_pair(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, empty_bin_fill: EmptyBinFill
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    reference = _proportions(ref_counts, name="reference")
    current = _proportions(cur_counts, name="current")
    if reference.size != current.size:
        raise MetricInputError(COUNTS_MISMATCH.format(ref=reference.size, cur=current.size))
    return (
        fill_empty_bins(reference, empty_bin_fill=empty_bin_fill),
        fill_empty_bins(current, empty_bin_fill=empty_bin_fill),
    )


def population_stability_index(
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> float:
    """PSI = sum (p - q) ln(p / q) over the same bins, after the empty-bin fill."""
    reference, current = _filled_pair(ref_counts, cur_counts, empty_bin_fill)
    return float(np.sum((reference - current) * np.log(reference / current)))


def kl_divergence(
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> float:
    """KL(reference || current) in nats, proportions renormalised after the fill (as scipy)."""
    reference, current = _filled_pair(ref_counts, cur_counts, empty_bin_fill)
    reference = reference / reference.sum()
    current = current / current.sum()
    return float(np.sum(reference * np.log(reference / current)))


def _wasserstein_1d(u_values: npt.NDArray[np.float64], v_values: npt.NDArray[np.float64]) -> float:
    return _wasserstein_of_sorted(np.sort(u_values), np.sort(v_values))


def _wasserstein_of_sorted(
    u_sorted: npt.NDArray[np.float64], v_sorted: npt.NDArray[np.float64]
) -> float:
    # The area between the two empirical CDFs, integrated between consecutive pooled values.
    # The two sorted samples are merged in one pass instead of sorting the pooled values, and
    # each CDF is a running count of where the merged values came from instead of a binary
    # search of every pooled value: wherever the width to the next pooled value is not zero,
    # every value tied with this one is at or before it, so the counts equal the searches'
    # (and where it is zero the term is zero either way); the sum is the same to the bit.
    # u's running count is a step function: repeated per step rather than summed per value.
    before = np.searchsorted(v_sorted, u_sorted, side="right")
    pooled = np.insert(v_sorted, before, u_sorted)
    u_slots = before + np.arange(u_sorted.size)
    steps = np.diff(np.concatenate(([0], u_slots, [pooled.size - 1])))
    u_count = np.repeat(np.arange(u_sorted.size + 1), steps)
    v_count = np.arange(1, pooled.size) - u_count
    widths = np.diff(pooled)
    terms = np.abs(u_count / u_sorted.size - v_count / v_sorted.size) * widths
    return sequential_sum(terms)


def sequential_sum(terms: npt.NDArray[np.float64]) -> float:
    """The terms added one after the other, in order: the sum a database's running SUM gives
    (np.sum adds pairwise, which no SQL aggregate reproduces to the bit), so that a distance
    summed inside the database (govflow.monitoring.window_counts) equals this one exactly."""
    return float(np.add.accumulate(terms)[-1]) if terms.size else 0.0


def reference_spread(std: float) -> float:
    """The Wasserstein normaliser: ``max(std, 0.001)`` as evidently."""
    return max(float(std), WASSERSTEIN_MIN_STD)


def wasserstein_distance_normalised(
    reference_values: npt.ArrayLike, current_values: npt.ArrayLike
) -> float:
    """Exact W1(reference, current) / max(std(reference), 0.001) from raw values (the oracle)."""
    reference = _only_finite(reference_values, name="reference values").values
    current = _only_finite(current_values, name="current values").values
    return _wasserstein_1d(reference, current) / reference_spread(float(np.std(reference)))


def wasserstein_distance_from_quantiles(
    reference_quantiles: npt.ArrayLike,
    current_values: npt.ArrayLike,
    *,
    reference_std: float,
) -> float:
    """W1(uniform on stored reference quantiles, current) / max(reference_std, 0.001)."""
    quantiles = _only_finite(reference_quantiles, name="reference quantiles").values
    current = _only_finite(current_values, name="current values").values
    return _wasserstein_1d(quantiles, current) / reference_spread(reference_std)


def reference_quantiles(
    values: npt.ArrayLike, *, n_quantiles: int = DEFAULT_QUANTILE_COUNT
) -> npt.NDArray[np.float64]:
    """Quantiles at the slice midpoints ``(j + 0.5) / n_quantiles`` of the finite values."""
    if n_quantiles < 1:
        raise MetricInputError(BAD_QUANTILE_COUNT.format(count=n_quantiles))
    finite = _only_finite(values, name="reference values").values
    probabilities = (np.arange(n_quantiles) + 0.5) / n_quantiles
    return np.quantile(finite, probabilities, method="inverted_cdf")


@dataclass(frozen=True)
class NumericReference:
    """What a baseline keeps of a numerical feature (seed 004 section 4.1)."""

    interior_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    quantiles: tuple[float, ...]
    mean: float
    std: float
    quantile_error: float
    n: int
    dropped_missing: int
    infinite: int

    @property
    def bin_edges(self) -> npt.NDArray[np.float64]:
        return _open_ended(np.asarray(self.interior_edges, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        # Only interior edges are stored: JSON has no infinity.
        return {
            "interior_edges": list(self.interior_edges),
            "bin_counts": list(self.bin_counts),
            "quantiles": list(self.quantiles),
            "mean": self.mean,
            "std": self.std,
            "quantile_error": self.quantile_error,
            "n": self.n,
            "dropped_missing": self.dropped_missing,
            "infinite": self.infinite,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericReference:
        return cls(
            interior_edges=tuple(float(edge) for edge in data["interior_edges"]),
            bin_counts=tuple(int(count) for count in data["bin_counts"]),
            quantiles=tuple(float(value) for value in data["quantiles"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            quantile_error=float(data["quantile_error"]),
            n=int(data["n"]),
            dropped_missing=int(data["dropped_missing"]),
            infinite=int(data["infinite"]),
        )


def numeric_reference(
    values: npt.ArrayLike,
    *,
    method: BinningMethod | Sequence[float] = "deciles",
    n_quantiles: int = DEFAULT_QUANTILE_COUNT,
) -> NumericReference:
    """Freeze a numerical feature's reference: bin edges and counts, quantiles, spread."""
    if isinstance(method, str) and method == "sturges_combined":
        raise MetricInputError(FROZEN_BINS_ONLY)
    split = _only_finite(values, name="reference values")
    edges = bin_edges_from_reference(split.values, method=method)
    quantiles = reference_quantiles(split.values, n_quantiles=n_quantiles)
    counts = bin_counts(values, edges)
    return NumericReference(
        interior_edges=tuple(edges[1:-1].tolist()),
        bin_counts=tuple(counts.tolist()),
        quantiles=tuple(quantiles.tolist()),
        mean=float(np.mean(split.values)),
        std=float(np.std(split.values)),
        quantile_error=_wasserstein_1d(split.values, quantiles),
        n=int(counts.sum()),
        dropped_missing=split.dropped_missing,
        infinite=split.infinite,
    )


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature's reference: category frequencies (seed 004 section 4.1)."""

    categories: tuple[str, ...]
    counts: tuple[int, ...]
    dropped_missing: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": list(self.categories),
            "counts": list(self.counts),
            "dropped_missing": self.dropped_missing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalReference:
        return cls(
            categories=tuple(str(category) for category in data["categories"]),
            counts=tuple(int(count) for count in data["counts"]),
            dropped_missing=int(data["dropped_missing"]),
        )


def category_key(value: object) -> str:
    """The string a category is compared by: a number by its value (``1``, ``1.0`` and
    ``numpy.int64(1)`` are ``"1"``, ``1.5`` is ``"1.5"``), a bool as ``"True"`` or
    ``"False"``, anything else as its ``str()``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return repr(number)
    return str(value)


def category_keys(values: pd.Series) -> pd.Series:
    """:func:`category_key` of every non-null value (nulls stay null), vectorised for the
    usual dtypes: text is already its own key, and a numeric column is keyed in numpy."""
    if pd.api.types.is_bool_dtype(values):
        return values.map(category_key, na_action="ignore").astype(object)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64").to_numpy()
        null = np.isnan(numbers)
        whole = ~null & np.isfinite(numbers) & (np.abs(numbers) < 2**62)
        whole &= numbers == np.floor(np.where(whole, numbers, 0.0))
        keys = np.empty(len(numbers), dtype=object)
        keys[whole] = numbers[whole].astype(np.int64).astype(str)
        other = ~null & ~whole
        keys[other] = [repr(float(number)) for number in numbers[other]]
        keys[null] = None
        return pd.Series(keys, index=values.index, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        # Text columns are read, never written, by every caller: no copy of an object column.
        return values.astype(object, copy=False)
    return values.map(category_key, na_action="ignore").astype(object)


def category_frequencies(
    values: npt.ArrayLike, *, name: str = "values"
) -> tuple[dict[str, int], int]:
    """Count of each category (keyed by :func:`category_key`) and the number of missing
    values dropped, as evidently drops them."""
    array = (
        values.to_numpy(dtype=object)
        if isinstance(values, pd.Series)
        else np.asarray(values, dtype=object)
    )
    if array.ndim != 1:
        raise MetricInputError(NOT_ONE_DIMENSIONAL.format(name=name, shape=array.shape))
    if array.size == 0:
        raise MetricInputError(EMPTY_VALUES.format(name=name, dropped=0))
    series = pd.Series(array, dtype=object, copy=False)
    # One hashing pass counts the nulls too (keys are null exactly where values are): no
    # separate null mask and no filtered copy, half the time of a million-row column.
    counts = category_keys(series).value_counts(dropna=False, sort=False)
    null = pd.isna(counts.index)
    missing = int(counts[null].sum()) if null.any() else 0
    if missing == array.size:
        raise MetricInputError(EMPTY_VALUES.format(name=name, dropped=missing))
    return {str(key): int(count) for key, count in counts[~null].items()}, missing


def categorical_reference(values: npt.ArrayLike) -> CategoricalReference:
    """Freeze a categorical feature's reference category counts (sorted by category)."""
    frequencies, missing = category_frequencies(values, name="reference values")
    categories = tuple(sorted(frequencies))
    return CategoricalReference(
        categories, tuple(frequencies[category] for category in categories), missing
    )


@dataclass(frozen=True)
class AlignedCategoryCounts:
    """Reference and current counts over the reference categories, then the unseen ones."""

    categories: tuple[str, ...]
    reference_counts: npt.NDArray[np.int64]
    current_counts: npt.NDArray[np.int64]
    unseen_categories: dict[str, int]
    dropped_missing: int


def align_category_counts(
    reference: CategoricalReference, current_values: npt.ArrayLike
) -> AlignedCategoryCounts:
    """Current category counts on the reference's bins; each unseen category gets its own bin."""
    frequencies, missing = category_frequencies(current_values, name="current values")
    return _aligned(reference, frequencies, missing)


def _aligned(
    reference: CategoricalReference, frequencies: Mapping[str, int], missing: int
) -> AlignedCategoryCounts:
    known = set(reference.categories)
    unseen = {
        category: frequencies[category] for category in sorted(frequencies) if category not in known
    }
    categories = (*reference.categories, *unseen)
    return AlignedCategoryCounts(
        categories=categories,
        reference_counts=np.array([*reference.counts, *([0] * len(unseen))], dtype=np.int64),
        current_counts=np.array(
            [frequencies.get(category, 0) for category in categories], dtype=np.int64
        ),
        unseen_categories=unseen,
        dropped_missing=missing,
    )


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature against its frozen reference, ready to store as JSON."""

    feature: str
    feature_type: Literal["numerical", "categorical"]
    psi: float
    kl_divergence: float
    wasserstein_distance_normalised: float | None
    wasserstein_error_bound: float | None
    n_reference: int
    n_current: int
    dropped_missing: int
    infinite: int
    unseen_categories: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "feature_type": self.feature_type,
            "psi": self.psi,
            "kl_divergence": self.kl_divergence,
            "wasserstein_distance_normalised": self.wasserstein_distance_normalised,
            "wasserstein_error_bound": self.wasserstein_error_bound,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "dropped_missing": self.dropped_missing,
            "infinite": self.infinite,
            "unseen_categories": dict(self.unseen_categories),
        }


def numeric_feature_drift(
    reference: NumericReference,
    current_values: npt.ArrayLike,
    *,
    feature: str,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> FeatureDrift:
    """PSI, KL and Wasserstein of one numerical feature's current window against its reference."""
    split = finite_values(current_values, name=f"current values of {feature}")
    # Wasserstein sorts the window anyway; the sorted values give the bin counts with one
    # binary search per edge instead of one per value (infinities are in no sorted value).
    current_sorted = np.sort(split.values)
    current_counts = (
        bin_counts(current_values, reference.bin_edges)
        if split.infinite
        else _bin_counts_of_sorted(current_sorted, reference.bin_edges)
    )
    wasserstein = None
    if split.values.size:
        quantiles = _only_finite(reference.quantiles, name="reference quantiles").values
        wasserstein = _wasserstein_of_sorted(np.sort(quantiles), current_sorted)
    return numeric_drift_from_counts(
        reference,
        current_counts,
        feature=feature,
        dropped_missing=split.dropped_missing,
        infinite=split.infinite,
        wasserstein=wasserstein,
        empty_bin_fill=empty_bin_fill,
    )


def numeric_drift_from_counts(
    reference: NumericReference,
    current_counts: npt.ArrayLike,
    *,
    feature: str,
    dropped_missing: int,
    infinite: int,
    wasserstein: float | None,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> FeatureDrift:
    """:func:`numeric_feature_drift` from what a database can count: the window's counts in
    the reference's bins (``bin_counts``), its missing and infinite values, and the W1
    distance (not normalised) between the reference's quantiles and its finite values,
    None when it has none."""
    counts = np.asarray(current_counts, dtype=np.int64)
    if counts.sum() == 0:
        raise MetricInputError(
            EMPTY_VALUES.format(name=f"current values of {feature}", dropped=dropped_missing)
        )
    spread = reference_spread(reference.std)
    return FeatureDrift(
        feature=feature,
        feature_type="numerical",
        psi=population_stability_index(reference.bin_counts, counts, empty_bin_fill=empty_bin_fill),
        kl_divergence=kl_divergence(reference.bin_counts, counts, empty_bin_fill=empty_bin_fill),
        wasserstein_distance_normalised=None if wasserstein is None else wasserstein / spread,
        wasserstein_error_bound=None if wasserstein is None else reference.quantile_error / spread,
        n_reference=reference.n,
        n_current=int(counts.sum()),
        dropped_missing=dropped_missing,
        infinite=infinite,
    )


def categorical_feature_drift(
    reference: CategoricalReference,
    current_values: npt.ArrayLike,
    *,
    feature: str,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> FeatureDrift:
    """PSI and KL of one categorical feature's current window; unseen categories reported."""
    frequencies, missing = category_frequencies(current_values, name="current values")
    return categorical_drift_from_counts(
        reference,
        frequencies,
        feature=feature,
        dropped_missing=missing,
        empty_bin_fill=empty_bin_fill,
    )


def categorical_drift_from_counts(
    reference: CategoricalReference,
    frequencies: Mapping[str, int],
    *,
    feature: str,
    dropped_missing: int,
    empty_bin_fill: EmptyBinFill = "evidently",
) -> FeatureDrift:
    """:func:`categorical_feature_drift` from the window's count of each category (keyed by
    :func:`category_key`) and of its missing values, as a database counts them."""
    if not frequencies:
        raise MetricInputError(EMPTY_VALUES.format(name="current values", dropped=dropped_missing))
    aligned = _aligned(reference, frequencies, dropped_missing)
    return FeatureDrift(
        feature=feature,
        feature_type="categorical",
        psi=population_stability_index(
            aligned.reference_counts, aligned.current_counts, empty_bin_fill=empty_bin_fill
        ),
        kl_divergence=kl_divergence(
            aligned.reference_counts, aligned.current_counts, empty_bin_fill=empty_bin_fill
        ),
        wasserstein_distance_normalised=None,
        wasserstein_error_bound=None,
        n_reference=int(aligned.reference_counts.sum()),
        n_current=int(aligned.current_counts.sum()),
        dropped_missing=aligned.dropped_missing,
        infinite=0,
        unseen_categories=aligned.unseen_categories,
    )
