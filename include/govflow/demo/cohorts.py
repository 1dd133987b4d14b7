"""A day's cohort of demo applicants, drawn as real traffic arrives (seed 004 section 2.2:
the stable days are ordinary days, noise included).

Each applicant's age band and gender are drawn independently with the population's shares,
so a day's group sizes vary as real traffic does: about 40 non-binary applicants in 2,000,
never exactly 40. Nothing is balanced: a small group's selection and outcome rates wander by
several points from day to day through sampling alone, and the monitoring has to tell that
noise from a real change (the fairness verdicts are judged on intervals with group sizes,
and a group too small for a day is judged over several). Gender is independent of every
feature, as in the untouched population; only the scenario days change that.

The draws compare uniforms with cumulative shares (no binomial or multinomial sampler,
whose ``log``/``exp`` come from the C library and may differ in the last bit between CPUs),
so the same seed gives the same cohort on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from govflow.demo.applicants import (
    AGE_BAND_SHARES,
    AGE_BANDS,
    GENDER_SHARES,
    GENDERS,
    draw_categories,
    generate_applicants,
)


@dataclass(frozen=True)
class Cohort:
    """Applicants (features, ``age_band``, ``gender``) and their uniform outcome draws."""

    applicants: pd.DataFrame
    outcome_draws: np.ndarray


def draw_cohort(rng: np.random.Generator, rows: int, *, draws: int) -> Cohort:
    """``rows`` applicants in random order, each with ``draws`` uniform outcome draws."""
    bands = draw_categories(rng.random(rows), AGE_BANDS, AGE_BAND_SHARES)
    counts = {band: int(np.count_nonzero(bands == band)) for band in AGE_BANDS}
    applicants = generate_applicants(rng, counts)
    applicants = applicants.iloc[rng.permutation(rows)].reset_index(drop=True)
    applicants["gender"] = draw_categories(rng.random(rows), GENDERS, GENDER_SHARES)
    return Cohort(applicants=applicants, outcome_draws=rng.random((rows, draws)))
