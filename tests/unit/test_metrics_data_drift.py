"""Seed 004 section 2.2 data drift: exact numbers, evidently and scipy as oracles, properties."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from govflow.metrics.data_drift import (
    BAD_EDGES,
    BAD_FILL,
    COUNTS_MISMATCH,
    EMPTY_VALUES,
    FROZEN_BINS_ONLY,
    NEGATIVE_COUNTS,
    NO_FINITE_VALUES,
    NOT_NUMERIC,
    NOT_ONE_DIMENSIONAL,
    STURGES_NEEDS_CURRENT,
    ZERO_TOTAL,
    CategoricalReference,
    NumericReference,
    bin_counts,
    bin_edges_from_reference,
    categorical_feature_drift,
    categorical_reference,
    fill_empty_bins,
    finite_values,
    kl_divergence,
    numeric_feature_drift,
    numeric_reference,
    population_stability_index,
    wasserstein_distance_from_quantiles,
    wasserstein_distance_normalised,
)
from govflow.metrics.severity import MetricInputError

with warnings.catch_warnings():
    # evidently 0.7.23 touches numpy.core at import time (a DeprecationWarning under numpy 2).
    warnings.simplefilter("ignore", DeprecationWarning)
    from evidently.legacy.calculations.stattests.kl_div import _kl_div as evidently_kl
    from evidently.legacy.calculations.stattests.psi import _psi as evidently_psi
    from evidently.legacy.calculations.stattests.wasserstein_distance_norm import (
        _wasserstein_distance_norm as evidently_wasserstein,
    )
    from evidently.legacy.core import ColumnType

INF = math.inf


def sturges_counts(reference, current):
    edges = bin_edges_from_reference(reference, method="sturges_combined", current_values=current)
    return bin_counts(reference, edges), bin_counts(current, edges)


# --- bin edges -----------------------------------------------------------------------------


def test_decile_edges_of_one_to_a_hundred_give_ten_bins_of_ten():
    values = np.arange(1, 101, dtype=float)
    edges = bin_edges_from_reference(values)
    np.testing.assert_allclose(
        edges[1:-1], [10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1], rtol=1e-12
    )
    assert (edges[0], edges[-1]) == (-INF, INF)
    assert bin_counts(values, edges).tolist() == [10] * 10


def test_tied_deciles_collapse_into_fewer_unequal_bins():
    values = np.array([0.0] * 70 + [1.0] * 20 + [2.0] * 10)
    edges = bin_edges_from_reference(values)
    np.testing.assert_allclose(edges[1:-1], [0.0, 0.3, 1.0, 1.1], rtol=1e-12)
    assert bin_counts(values, edges).tolist() == [0, 70, 0, 20, 10]


def test_a_constant_reference_separates_below_equal_and_above():
    edges = bin_edges_from_reference([5.0, 5.0, 5.0])
    assert edges.tolist() == [-INF, 5.0, np.nextafter(5.0, INF), INF]
    assert bin_counts([4.0, 5.0, 5.0, 6.0], edges).tolist() == [1, 2, 1]


def test_out_of_range_and_infinite_current_values_land_in_the_end_bins_and_nan_is_not_counted():
    edges = bin_edges_from_reference(np.arange(1, 101, dtype=float))
    counts = bin_counts([-1000.0, -INF, 1000.0, INF, math.nan, 50.0], edges)
    assert counts.tolist() == [2, 0, 0, 0, 1, 0, 0, 0, 0, 2]


@pytest.mark.parametrize(
    ("given_edges", "expected"),
    [
        ([0.0, 1.0, 2.0], [-INF, 0.0, 1.0, 2.0, INF]),
        ([-INF, 0.0, 1.0, INF], [-INF, 0.0, 1.0, INF]),
        ([3.0], [-INF, 3.0, INF]),
    ],
)
def test_explicit_edges_are_opened_at_both_ends(given_edges, expected):
    assert bin_edges_from_reference([1.0], method=given_edges).tolist() == expected


@pytest.mark.parametrize(
    "given_edges", [[1.0, 1.0], [2.0, 1.0], [0.0, math.nan], [], [-INF, INF], [INF, 0.0]]
)
def test_explicit_edges_must_be_strictly_increasing_finite_numbers(given_edges):
    with pytest.raises(MetricInputError) as raised:
        bin_edges_from_reference([1.0], method=given_edges)
    assert str(raised.value) == BAD_EDGES


def test_sturges_bins_need_the_current_window():
    with pytest.raises(MetricInputError) as raised:
        bin_edges_from_reference([1.0, 2.0], method="sturges_combined")
    assert str(raised.value) == STURGES_NEEDS_CURRENT


def test_a_frozen_reference_refuses_bins_that_depend_on_the_current_window():
    with pytest.raises(MetricInputError) as raised:
        numeric_reference([1.0, 2.0], method="sturges_combined")
    assert str(raised.value) == FROZEN_BINS_ONLY


# --- PSI and KL: exact numbers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref_counts", "cur_counts", "fill", "psi", "kl"),
    [
        ([50, 50], [25, 75], "evidently", 0.25 * math.log(3), 0.5 * math.log(4 / 3)),
        ([10, 10, 10], [10, 10, 10], "evidently", 0.0, 0.0),
        ([100, 0], [50, 50], "evidently", 4.60431846666895, None),
        ([100, 0], [50, 50], 0.001, 0.5 * math.log(2) - 0.499 * math.log(0.002), None),
        ([999_999, 1, 0], [1, 1, 1], "evidently", None, None),
    ],
)
def test_psi_and_kl_of_hand_made_counts(ref_counts, cur_counts, fill, psi, kl):
    got_psi = population_stability_index(ref_counts, cur_counts, empty_bin_fill=fill)
    got_kl = kl_divergence(ref_counts, cur_counts, empty_bin_fill=fill)
    if psi is not None:
        assert got_psi == pytest.approx(psi, abs=1e-12)
    if kl is not None:
        assert got_kl == pytest.approx(kl, abs=1e-12)
    assert got_psi >= 0 and got_kl >= 0


@pytest.mark.parametrize(
    ("proportions", "fill", "expected"),
    [
        ([0.5, 0.5, 0.0], "evidently", [0.5, 0.5, 0.0001]),
        ([0.999999, 0.000001, 0.0], "evidently", [0.999999, 0.000001, 1e-12]),
        ([0.5, 0.5, 0.0], 0.01, [0.5, 0.5, 0.01]),
    ],
)
def test_empty_bins_are_filled_as_evidently_or_with_the_given_proportion(
    proportions, fill, expected
):
    filled = fill_empty_bins(np.array(proportions), empty_bin_fill=fill)
    np.testing.assert_allclose(filled, expected, rtol=1e-12)


@pytest.mark.parametrize("fill", [0.0, 1.0, "zero", -0.1])
def test_an_empty_bin_fill_must_be_evidently_or_a_proportion(fill):
    with pytest.raises(MetricInputError) as raised:
        population_stability_index([1, 0], [1, 1], empty_bin_fill=fill)
    assert str(raised.value) == BAD_FILL.format(fill=fill)


@pytest.mark.parametrize(
    ("ref_counts", "cur_counts", "message"),
    [
        ([1, 2], [1, 2, 3], COUNTS_MISMATCH.format(ref=2, cur=3)),
        ([1, -2], [1, 2], NEGATIVE_COUNTS),
        ([0, 0], [1, 2], ZERO_TOTAL.format(name="reference")),
        ([1, 2], [0, 0], ZERO_TOTAL.format(name="current")),
        ([], [], NOT_ONE_DIMENSIONAL.format(name="reference", shape=(0,))),
    ],
)
def test_psi_refuses_counts_it_cannot_compare(ref_counts, cur_counts, message):
    with pytest.raises(MetricInputError) as raised:
        population_stability_index(ref_counts, cur_counts)
    assert str(raised.value) == message


# --- oracles -------------------------------------------------------------------------------


NUMERIC_CASES = [
    (0, 0.0, 1.0, 5000, 3000),
    (1, 0.3, 1.2, 5000, 3000),
    (2, 2.0, 0.5, 800, 200),
    (3, -0.1, 3.0, 20000, 20000),
]


@pytest.mark.parametrize(("seed", "shift", "scale", "n_ref", "n_cur"), NUMERIC_CASES)
def test_psi_kl_and_wasserstein_agree_with_evidently_given_its_binning(
    seed, shift, scale, n_ref, n_cur
):
    rng = np.random.default_rng(seed)
    reference = pd.Series(rng.lognormal(0.0, 1.0, n_ref))
    current = pd.Series(rng.lognormal(shift, scale, n_cur))
    ref_counts, cur_counts = sturges_counts(reference, current)
    numerical = ColumnType.Numerical
    assert population_stability_index(ref_counts, cur_counts) == pytest.approx(
        evidently_psi(reference, current, numerical, 0.1)[0], abs=1e-9
    )
    assert kl_divergence(ref_counts, cur_counts) == pytest.approx(
        evidently_kl(reference, current, numerical, 0.1)[0], abs=1e-9
    )
    assert wasserstein_distance_normalised(reference, current) == pytest.approx(
        evidently_wasserstein(reference, current, numerical, 0.1)[0], abs=1e-9
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_categorical_psi_and_kl_agree_with_evidently_including_an_unseen_category(seed):
    rng = np.random.default_rng(seed)
    reference = pd.Series(rng.choice(["rent", "own", "mortgage"], 2000, p=[0.5, 0.3, 0.2]))
    current = pd.Series(
        rng.choice(["rent", "own", "mortgage", "other"], 700, p=[0.3, 0.3, 0.3, 0.1])
    )
    drift = categorical_feature_drift(categorical_reference(reference), current, feature="home")
    categorical = ColumnType.Categorical
    assert drift.psi == pytest.approx(
        evidently_psi(reference, current, categorical, 0.1)[0], abs=1e-9
    )
    assert drift.kl_divergence == pytest.approx(
        evidently_kl(reference, current, categorical, 0.1)[0], abs=1e-9
    )
    assert set(drift.unseen_categories) == {"other"}


@pytest.mark.parametrize(("seed", "shift", "scale", "n_ref", "n_cur"), NUMERIC_CASES)
def test_exact_wasserstein_and_kl_agree_with_scipy(seed, shift, scale, n_ref, n_cur):
    rng = np.random.default_rng(seed)
    reference = rng.normal(0.0, 1.0, n_ref)
    current = rng.normal(shift, scale, n_cur)
    expected = scipy.stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein_distance_normalised(reference, current) == pytest.approx(expected, abs=1e-12)
    ref_counts, cur_counts = sturges_counts(reference, current)
    p = fill_empty_bins(ref_counts / ref_counts.sum())
    q = fill_empty_bins(cur_counts / cur_counts.sum())
    assert kl_divergence(ref_counts, cur_counts) == pytest.approx(
        scipy.stats.entropy(p, q), abs=1e-12
    )


@pytest.mark.parametrize(
    ("seed", "n_ref", "n_cur", "levels"),
    [(1, 1, 9, 3), (2, 50, 7, 4), (3, 400, 1000, 12), (4, 1000, 20_000, 40)],
)
def test_exact_wasserstein_of_tied_values_agrees_with_scipy(seed, n_ref, n_cur, levels):
    """Whole numbers shared by both samples: the merged CDF counts must handle every tie."""
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, levels, n_ref).astype(np.float64)
    current = np.concatenate([rng.integers(1, levels + 2, n_cur - 1), [0.5]]).astype(np.float64)
    expected = scipy.stats.wasserstein_distance(reference, current) / max(np.std(reference), 1e-3)
    assert wasserstein_distance_normalised(reference, current) == pytest.approx(expected, abs=1e-12)


def test_wasserstein_of_a_near_constant_reference_is_divided_by_one_thousandth():
    assert wasserstein_distance_normalised([2.0, 2.0], [2.5, 2.5]) == pytest.approx(500.0)


@pytest.mark.parametrize(("seed", "shift", "scale", "n_ref", "n_cur"), NUMERIC_CASES)
def test_wasserstein_from_stored_quantiles_is_within_the_stored_error_bound(
    seed, shift, scale, n_ref, n_cur
):
    rng = np.random.default_rng(seed)
    reference_values = rng.gamma(2.0, 3.0, n_ref)
    current = rng.gamma(2.0, 3.0 * scale, n_cur) + shift
    reference = numeric_reference(reference_values)
    exact = wasserstein_distance_normalised(reference_values, current)
    drift = numeric_feature_drift(reference, current, feature="income")
    assert drift.wasserstein_error_bound is not None
    assert drift.wasserstein_error_bound < 0.01
    assert drift.wasserstein_distance_normalised is not None
    assert abs(drift.wasserstein_distance_normalised - exact) <= drift.wasserstein_error_bound
    assert drift.wasserstein_distance_normalised == pytest.approx(
        wasserstein_distance_from_quantiles(
            reference.quantiles, current, reference_std=reference.std
        ),
        abs=1e-15,
    )


# --- properties ----------------------------------------------------------------------------

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
samples = st.lists(finite_floats, min_size=1, max_size=200)


@settings(database=None, max_examples=150, deadline=None)
@given(reference=samples, current=samples)
def test_psi_and_kl_are_never_negative(reference, current):
    edges = bin_edges_from_reference(reference)
    ref_counts, cur_counts = bin_counts(reference, edges), bin_counts(current, edges)
    assert population_stability_index(ref_counts, cur_counts) >= 0
    assert kl_divergence(ref_counts, cur_counts) >= -1e-15


@settings(database=None, max_examples=150, deadline=None)
@given(values=samples)
def test_identical_windows_have_zero_drift(values):
    drift = numeric_feature_drift(numeric_reference(values), values, feature="x")
    assert drift.psi == 0.0
    assert drift.kl_divergence == 0.0


@settings(database=None, max_examples=100, deadline=None)
@given(reference=samples, current=samples, seed=st.integers(0, 2**32 - 1))
def test_drift_does_not_depend_on_row_order(reference, current, seed):
    shuffled = np.random.default_rng(seed).permutation(np.array(current))
    frozen = numeric_reference(reference)
    in_order = numeric_feature_drift(frozen, current, feature="x")
    reordered = numeric_feature_drift(frozen, shuffled, feature="x")
    assert reordered.psi == in_order.psi
    assert reordered.kl_divergence == in_order.kl_divergence
    assert reordered.wasserstein_distance_normalised == pytest.approx(
        in_order.wasserstein_distance_normalised, rel=1e-12, abs=1e-12
    )


# --- missing, infinite and empty input -----------------------------------------------------


def test_missing_and_infinite_current_values_are_counted_and_reported():
    reference = numeric_reference(np.arange(1, 101, dtype=float))
    current = [math.nan, None, INF, -INF, 50.0, 60.0]
    drift = numeric_feature_drift(reference, pd.Series(current, dtype=object), feature="income")
    assert (drift.dropped_missing, drift.infinite, drift.n_current) == (2, 2, 4)
    assert drift.wasserstein_distance_normalised == pytest.approx(
        wasserstein_distance_from_quantiles(
            reference.quantiles, [50.0, 60.0], reference_std=reference.std
        )
    )


def test_a_current_window_of_only_infinities_has_drift_but_no_wasserstein():
    reference = numeric_reference(np.arange(1, 101, dtype=float))
    drift = numeric_feature_drift(reference, [INF, INF], feature="income")
    assert drift.wasserstein_distance_normalised is None
    assert drift.psi > 1.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], EMPTY_VALUES.format(name="values", dropped=0)),
        ([math.nan, math.nan], EMPTY_VALUES.format(name="values", dropped=2)),
        (np.zeros((2, 2)), NOT_ONE_DIMENSIONAL.format(name="values", shape=(2, 2))),
        (np.array(["a", "b"]), NOT_NUMERIC.format(name="values", dtype="<U1")),
        (pd.Series(["a", 1.0]), NOT_NUMERIC.format(name="values", dtype="object")),
    ],
)
def test_empty_all_missing_or_non_numeric_values_raise_a_clear_error(values, message):
    with pytest.raises(MetricInputError) as raised:
        finite_values(values)
    assert str(raised.value) == message


def test_a_reference_needs_at_least_one_finite_value():
    with pytest.raises(MetricInputError) as raised:
        numeric_reference([INF, math.nan])
    assert str(raised.value) == NO_FINITE_VALUES.format(name="reference values", infinite=1)


def test_wasserstein_refuses_an_empty_current_window():
    with pytest.raises(MetricInputError) as raised:
        wasserstein_distance_normalised([1.0, 2.0], [])
    assert str(raised.value) == EMPTY_VALUES.format(name="current values", dropped=0)


def test_categorical_missing_values_are_dropped_and_unseen_categories_reported():
    reference = categorical_reference(["a", "a", "b", None])
    assert reference == CategoricalReference(("a", "b"), (2, 1), 1)
    drift = categorical_feature_drift(reference, ["a", "c", "c", math.nan, "d"], feature="f")
    assert drift.unseen_categories == {"c": 2, "d": 1}
    assert (drift.dropped_missing, drift.n_current, drift.n_reference) == (1, 4, 3)


def test_an_all_missing_categorical_window_raises_a_clear_error():
    with pytest.raises(MetricInputError) as raised:
        categorical_feature_drift(categorical_reference(["a"]), [None, None], feature="f")
    assert str(raised.value) == EMPTY_VALUES.format(name="current values", dropped=2)


def test_references_survive_a_json_round_trip():
    numeric = numeric_reference(np.arange(1, 101, dtype=float), n_quantiles=4)
    categorical = categorical_reference(["x", "y", "y"])
    assert NumericReference.from_dict(json.loads(json.dumps(numeric.to_dict()))) == numeric
    assert (
        CategoricalReference.from_dict(json.loads(json.dumps(categorical.to_dict()))) == categorical
    )


def test_stored_quantiles_are_slice_midpoints_and_their_error_is_the_exact_w1_to_the_rows():
    numeric = numeric_reference(np.arange(1, 101, dtype=float), n_quantiles=4)
    assert numeric.quantiles == (13.0, 38.0, 63.0, 88.0)
    # Each quarter is 25 consecutive integers around its midpoint: sum |k - 13| = 156 per 100.
    assert numeric.quantile_error == pytest.approx(4 * 1.56, abs=1e-12)


def test_feature_drift_serialises_to_json():
    drift = numeric_feature_drift(numeric_reference([1.0, 2.0, 3.0]), [1.0, 5.0], feature="x")
    assert json.loads(json.dumps(drift.to_dict()))["feature"] == "x"


def test_categories_read_as_floats_are_the_same_categories_as_integers():
    rng = np.random.default_rng(4)
    reference = categorical_reference(rng.choice([1, 2, 3], 1000))
    current = rng.choice([1, 2, 3], 500)

    as_integers = categorical_feature_drift(reference, current, feature="grade")
    as_floats = categorical_feature_drift(reference, current.astype(float), feature="grade")

    assert as_floats.unseen_categories == {}
    assert as_floats.to_dict() == as_integers.to_dict()


@pytest.mark.parametrize("seed", [0, 1])
def test_missing_categories_are_dropped_before_drift_as_evidently_drops_them(seed):
    rng = np.random.default_rng(seed)
    reference = pd.Series(rng.choice(["rent", "own", None], 2000, p=[0.6, 0.3, 0.1]))
    current = pd.Series(rng.choice(["rent", "own", "other", None], 700, p=[0.3, 0.4, 0.1, 0.2]))

    drift = categorical_feature_drift(categorical_reference(reference), current, feature="home")

    categorical = ColumnType.Categorical
    # evidently's get_one_column_drift drops NaN from both columns before its stattest.
    cleaned = reference.dropna(), current.dropna()
    assert drift.psi == pytest.approx(evidently_psi(*cleaned, categorical, 0.1)[0], abs=1e-9)
    assert drift.kl_divergence == pytest.approx(
        evidently_kl(*cleaned, categorical, 0.1)[0], abs=1e-9
    )
    assert drift.dropped_missing == int(current.isna().sum())
