"""A day's cohort of demo applicants, with protected groups that are fair by construction
(seed 004 section 2.2, fairness drift: the stable days must raise no fairness alarm).

With 2,000 applications a day, a group of 40 (non-binary applicants) or 360 (one age band)
has selection rates that wander by several points from day to day through sampling alone,
which is enough to cross the 0.05 parity-drift warning now and then. The demo is meant to
show each signal exactly where its scenario puts it, so cohorts are drawn by balanced
sampling: each age band is picked from a larger pool so that its predictions and outcomes
match the band's rates in a large reference sample, and gender is then assigned so that
every gender has the cohort's own rates. Gender thus stays independent of the features, as
the untouched population claims, without the noise of small groups.

The search compares sums of weighted indicators, so it adds them with
``govflow.demo.arithmetic`` in a fixed order rather than with BLAS (``@``), whose kernels
order the additions of a dot product differently per CPU: a last-bit difference between two
nearly equal swaps would pick another row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from govflow.demo.applicants import (
    AGE_BANDS,
    GENDER_SHARES,
    GENDERS,
    age_band_counts,
    generate_applicants,
)
from govflow.demo.arithmetic import fixed_order_dot

OutcomeIndicators = Callable[[pd.DataFrame, np.ndarray], np.ndarray]
"""Maps applicants and their outcome draws to a matrix of (weighted) 0/1 indicators:
decisions, outcomes, whether outcomes are ever observed, and their products."""

POOL_FACTOR = 2


@dataclass(frozen=True)
class Cohort:
    """Applicants (features, ``age_band``, ``gender``) and their uniform outcome draws."""

    applicants: pd.DataFrame
    outcome_draws: np.ndarray


def balanced_subset(
    indicators: np.ndarray, size: int, target_mean: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``size`` rows whose indicator means come as close as possible to the target.

    Starts from a random subset and swaps one row at a time while the squared distance to
    ``size * target_mean`` shrinks; rows are interchangeable within an indicator pattern, so
    the search runs over patterns, not rows.
    """
    patterns, codes = np.unique(indicators, axis=0, return_inverse=True)
    codes = codes.ravel()
    available = np.bincount(codes, minlength=len(patterns))
    order = rng.permutation(len(codes))
    chosen = np.bincount(codes[order[:size]], minlength=len(patterns))
    deviation = fixed_order_dot(patterns.T, chosen) - size * target_mean
    # Swapping a row of pattern a for one of pattern b changes the squared distance by
    # |P_b - P_a|^2 + 2 deviation . (P_b - P_a), computed for all pairs at once.
    gram = np.zeros((len(patterns), len(patterns)))
    for column in patterns.T:
        gram = gram + column[:, None] * column[None, :]
    norms = np.diag(gram)
    pair_distance = norms[:, None] + norms[None, :] - 2 * gram
    while True:
        pull = fixed_order_dot(patterns, deviation)
        change = pair_distance + 2 * (pull[None, :] - pull[:, None])
        change[chosen == 0, :] = np.inf
        change[:, available - chosen == 0] = np.inf
        out_pattern, in_pattern = np.unravel_index(np.argmin(change), change.shape)
        if change[out_pattern, in_pattern] >= -1e-9:
            break
        chosen[out_pattern] -= 1
        chosen[in_pattern] += 1
        deviation += patterns[in_pattern] - patterns[out_pattern]
    codes_in_order = codes[order]
    by_code = np.argsort(codes_in_order, kind="stable")
    sorted_codes = codes_in_order[by_code]
    rank = np.empty(len(codes), dtype=int)
    rank[by_code] = np.arange(len(codes)) - np.searchsorted(sorted_codes, sorted_codes)
    return np.sort(order[rank < chosen[codes_in_order]])


def reference_rates(
    rng: np.random.Generator, rows: int, *, draws: int, indicators: OutcomeIndicators
) -> dict[str, np.ndarray]:
    """Per age band, the mean outcome indicators of a large plain random sample."""
    applicants = generate_applicants(rng, age_band_counts(rows))
    matrix = indicators(applicants, rng.random((len(applicants), draws)))
    bands = applicants["age_band"].to_numpy()
    return {band: matrix[bands == band].mean(axis=0) for band in AGE_BANDS}


def draw_cohort(
    rng: np.random.Generator,
    rows: int,
    *,
    draws: int,
    indicators: OutcomeIndicators,
    band_rates: dict[str, np.ndarray],
    arrival: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Cohort:
    """``rows`` applicants in random order whose age bands and genders are balanced.

    ``arrival`` is a change the applicants undergo before they are scored that does not
    depend on gender (the data-drift shift): genders are then balanced on the decisions
    and outcomes of the applicants as they arrive, so that the shift moves every gender's
    rates alike instead of letting a group of 40 drift apart by chance.
    """
    counts = age_band_counts(rows)
    pool = generate_applicants(rng, {band: POOL_FACTOR * count for band, count in counts.items()})
    pool_draws = rng.random((len(pool), draws))
    pool_indicators = indicators(pool, pool_draws)
    bands = pool["age_band"].to_numpy()
    selected = np.concatenate(
        [
            np.flatnonzero(bands == band)[
                balanced_subset(pool_indicators[bands == band], counts[band], band_rates[band], rng)
            ]
            for band in AGE_BANDS
        ]
    )
    shuffled = rng.permutation(selected)
    applicants = pool.iloc[shuffled].reset_index(drop=True)
    arriving = pool_indicators[shuffled]
    if arrival is not None:
        arriving = indicators(arrival(applicants), pool_draws[shuffled])
    applicants["gender"] = _balanced_genders(arriving, rng)
    return Cohort(applicants=applicants, outcome_draws=pool_draws[shuffled])


def _balanced_genders(indicators: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows = len(indicators)
    overall = indicators.mean(axis=0)
    # Smallest group first, since it has the least room for rounding; the largest takes the rest.
    by_share = sorted(zip(GENDERS, GENDER_SHARES, strict=True), key=lambda pair: pair[1])
    genders = np.full(rows, by_share[-1][0], dtype=object)
    unassigned = np.arange(rows)
    for gender, share in by_share[:-1]:
        picked = unassigned[
            balanced_subset(indicators[unassigned], round(share * rows), overall, rng)
        ]
        genders[picked] = gender
        unassigned = np.setdiff1d(unassigned, picked)
    return genders
