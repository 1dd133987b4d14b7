"""The synthetic credit applicants every demo model scores (seed 004 section 4.1: the population
a baseline profiles).

Applicants are drawn age band by age band. Age moves employment years strongly (nobody has
worked 30 years at 22) and income, savings, tenure and home ownership mildly, as in real
credit files; gender is not drawn here at all, because in the untouched population it is
independent of every feature: it is drawn with the cohort (see ``govflow.demo.cohorts``).
Every uniform draw is stratified (Latin hypercube: one draw per equal-probability slice, in
random order), so a day of a few thousand rows reproduces the population's marginals
closely and drift metrics on stable days stay far from their warning thresholds.

Every transcendental function here (exponential, logarithm, power, normal, Poisson and
Gamma quantiles) comes from ``govflow.demo.arithmetic``, not numpy, scipy or the C library,
whose implementations differ in the last bit between CPUs: the values are rounded to cents
or compared with cut-offs, and a last-bit difference on a rounding boundary would change
the applicant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from govflow.demo import arithmetic

NUMERIC_FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "income": (0.0, 1_000_000.0),
    "loan_amount": (500.0, 500_000.0),
    "loan_term_months": (6, 360),
    "credit_score": (300, 850),
    "debt_to_income": (0.0, 3.0),
    "employment_years": (0.0, 60.0),
    "num_credit_lines": (0, 60),
    "num_delinquencies": (0, 40),
    "savings_balance": (0.0, 5_000_000.0),
    "months_at_address": (0, 600),
}
INTEGER_FEATURES = (
    "loan_term_months",
    "credit_score",
    "num_credit_lines",
    "num_delinquencies",
    "months_at_address",
)
CATEGORICAL_FEATURE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "home_ownership": ("rent", "own", "mortgage", "other"),
    "loan_purpose": (
        "debt_consolidation",
        "home_improvement",
        "car",
        "education",
        "medical",
        "small_business",
        "other",
    ),
    "employment_type": ("salaried", "self_employed", "unemployed", "retired", "student"),
    "region": ("north", "south", "east", "west"),
    "customer_segment": ("standard", "high_value", "new_customer"),
}
NUMERIC_FEATURES = tuple(NUMERIC_FEATURE_RANGES)
CATEGORICAL_FEATURES = tuple(CATEGORICAL_FEATURE_CATEGORIES)
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES

GENDERS = ("female", "male", "non_binary")
GENDER_SHARES = (0.49, 0.49, 0.02)
AGE_BANDS = ("18-25", "26-40", "41-60", "61+")
AGE_BAND_SHARES = (0.18, 0.34, 0.30, 0.18)
AGE_BAND_YEARS = {"18-25": (18, 26), "26-40": (26, 41), "41-60": (41, 61), "61+": (61, 80)}
PROTECTED_ATTRIBUTES = ("gender", "age_band")

# Per age band: salaried, self_employed, unemployed, retired, student.
_EMPLOYMENT_SHARES_BY_BAND = {
    "18-25": (0.78, 0.06, 0.07, 0.00, 0.09),
    "26-40": (0.78, 0.13, 0.06, 0.00, 0.03),
    "41-60": (0.76, 0.16, 0.05, 0.03, 0.00),
    "61+": (0.55, 0.12, 0.03, 0.30, 0.00),
}
_LOG_INCOME_BY_EMPLOYMENT = {
    "salaried": 0.0,
    "self_employed": 0.05,
    "unemployed": -0.3,
    "retired": -0.1,
    "student": -0.15,
}
_LOG_INCOME_BY_BAND = {"18-25": -0.02, "26-40": 0.0, "41-60": 0.02, "61+": 0.0}
_LOAN_PURPOSE_SHARES = (0.35, 0.15, 0.18, 0.08, 0.07, 0.07, 0.10)
_MEDIAN_LOAN_BY_PURPOSE = (15_000, 25_000, 20_000, 18_000, 8_000, 40_000, 10_000)
_TERMS_BY_PURPOSE = (
    (24, 36, 48, 60),
    (60, 120, 180, 240),
    (36, 48, 60, 72),
    (60, 120),
    (12, 24, 36),
    (36, 60, 84, 120),
    (12, 24, 36, 60),
)
_TERM_COUNTS = np.array([len(terms) for terms in _TERMS_BY_PURPOSE])
_TERM_TABLE = np.array([terms + (0,) * (4 - len(terms)) for terms in _TERMS_BY_PURPOSE])
_REGION_SHARES = (0.27, 0.28, 0.22, 0.23)


def stratified_uniform(rng: np.random.Generator, rows: int) -> np.ndarray:
    """One uniform draw from each of ``rows`` equal slices of [0, 1), in random order."""
    return (rng.permutation(rows) + rng.random(rows)) / rows


def _stratified_normal(rng: np.random.Generator, rows: int) -> np.ndarray:
    return arithmetic.ndtri(stratified_uniform(rng, rows))


def _category_codes(uniform: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    cumulative = np.cumsum(shares) / np.sum(shares)
    return np.minimum(np.searchsorted(cumulative, uniform, side="right"), len(shares) - 1)


def draw_categories(uniform: np.ndarray, categories: tuple[str, ...], shares) -> np.ndarray:
    """The category whose slice of the cumulative ``shares`` each uniform draw falls in."""
    return np.asarray(categories, dtype=object)[_category_codes(uniform, shares)]


def age_band_counts(rows: int) -> dict[str, int]:
    """Rows per age band for a sample of ``rows``: the shares, rounded by largest remainder."""
    exact = np.asarray(AGE_BAND_SHARES) * rows
    counts = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - counts), kind="stable")[: rows - counts.sum()]:
        counts[index] += 1
    return dict(zip(AGE_BANDS, counts.tolist(), strict=True))


def generate_applicants(rng: np.random.Generator, counts: dict[str, int]) -> pd.DataFrame:
    """Applicants with the 15 features and ``age_band``, ``counts[band]`` rows per band.

    Rows come out grouped by age band; callers shuffle when order matters.
    """
    bands = [_generate_band(rng, band, rows) for band, rows in counts.items() if rows > 0]
    frame = pd.concat(bands, ignore_index=True)
    return clip_to_ranges(frame)


def _generate_band(rng: np.random.Generator, band: str, rows: int) -> pd.DataFrame:
    low, high = AGE_BAND_YEARS[band]
    age = low + (high - low) * stratified_uniform(rng, rows)
    years_adult = age - 18
    strength = _stratified_normal(rng, rows)

    employment_types = CATEGORICAL_FEATURE_CATEGORIES["employment_type"]
    employment_code = _category_codes(
        stratified_uniform(rng, rows), _EMPLOYMENT_SHARES_BY_BAND[band]
    )
    employment_type = np.asarray(employment_types, dtype=object)[employment_code]
    employment_effect = np.array([_LOG_INCOME_BY_EMPLOYMENT[kind] for kind in employment_types])[
        employment_code
    ]
    log_income = (
        10.85
        + 0.25 * strength
        + _LOG_INCOME_BY_BAND[band]
        + employment_effect
        + 0.35 * _stratified_normal(rng, rows)
    )
    income = np.round(arithmetic.exp(log_income), 2)

    tenure_fraction = arithmetic.power(stratified_uniform(rng, rows), 0.7)
    employment_years = np.select(
        [employment_type == "student", employment_type == "unemployed"],
        [2.0 * tenure_fraction, 0.3 * years_adult * tenure_fraction],
        default=np.minimum(years_adult, 45.0) * tenure_fraction,
    )

    credit_score = np.round(690 + 52 * strength + 28 * _stratified_normal(rng, rows))
    delinquency_rate = arithmetic.exp(-1.3 - 0.75 * strength)
    num_delinquencies = arithmetic.poisson_quantile(stratified_uniform(rng, rows), delinquency_rate)
    debt_to_income = np.round(
        arithmetic.exp(
            arithmetic.log(0.30) - 0.12 * strength + 0.38 * _stratified_normal(rng, rows)
        ),
        4,
    )
    num_credit_lines = arithmetic.poisson_quantile(
        stratified_uniform(rng, rows), 4.0 + 0.04 * np.minimum(years_adult, 35)
    )

    purpose_index = _category_codes(stratified_uniform(rng, rows), _LOAN_PURPOSE_SHARES)
    loan_purpose = np.asarray(CATEGORICAL_FEATURE_CATEGORIES["loan_purpose"], dtype=object)[
        purpose_index
    ]
    median_loan = np.asarray(_MEDIAN_LOAN_BY_PURPOSE, dtype=float)[purpose_index]
    loan_amount = np.round(
        median_loan
        * np.sqrt(income / 52_000)
        * arithmetic.exp(0.45 * _stratified_normal(rng, rows)),
        -2,
    )
    terms_offered = _TERM_COUNTS[purpose_index]
    term_choice = np.minimum(
        (stratified_uniform(rng, rows) * terms_offered).astype(int), terms_offered - 1
    )
    loan_term_months = _TERM_TABLE[purpose_index, term_choice]

    savings_balance = np.round(
        arithmetic.exp(
            8.4 + 0.45 * strength + 0.6 * (log_income - 10.85) + 0.9 * _stratified_normal(rng, rows)
        ),
        2,
    )
    months_at_address = np.round(
        (6 + 2.2 * years_adult) * arithmetic.gamma2_quantile(stratified_uniform(rng, rows)) / 2.0
    )

    ownership_latent = (
        0.04 * (age - 35) + 0.8 * (log_income - 10.85) + _stratified_normal(rng, rows)
    )
    home_ownership = np.select(
        [ownership_latent < 0.0, ownership_latent < 1.1],
        ["rent", "mortgage"],
        default="own",
    ).astype(object)
    home_ownership[stratified_uniform(rng, rows) < 0.03] = "other"

    region = draw_categories(
        stratified_uniform(rng, rows), CATEGORICAL_FEATURE_CATEGORIES["region"], _REGION_SHARES
    )
    segment_uniform = stratified_uniform(rng, rows)
    new_customer_share = 0.18 if band == "18-25" else 0.15
    customer_segment = np.where(
        segment_uniform < new_customer_share,
        "new_customer",
        np.where((income > 95_000) | (savings_balance > 40_000), "high_value", "standard"),
    ).astype(object)

    return pd.DataFrame(
        {
            "income": income,
            "loan_amount": loan_amount,
            "loan_term_months": loan_term_months,
            "credit_score": credit_score,
            "debt_to_income": debt_to_income,
            "employment_years": np.round(employment_years, 1),
            "num_credit_lines": num_credit_lines,
            "num_delinquencies": num_delinquencies,
            "savings_balance": savings_balance,
            "months_at_address": months_at_address,
            "home_ownership": home_ownership,
            "loan_purpose": loan_purpose,
            "employment_type": employment_type,
            "region": region,
            "customer_segment": customer_segment,
            "age_band": band,
        }
    )


def clip_to_ranges(applicants: pd.DataFrame) -> pd.DataFrame:
    """The applicants with every numeric feature clipped to its allowed range and dtype."""
    clipped = applicants.copy()
    for column, (low, high) in NUMERIC_FEATURE_RANGES.items():
        values = clipped[column].clip(low, high)
        clipped[column] = values.round().astype("int64") if column in INTEGER_FEATURES else values
    return clipped
