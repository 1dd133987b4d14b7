"""Synthetic prediction-log windows for the benchmarks: 25 features (20 numerical, 5
categorical), the two protected attributes, score, prediction and label, in the
prediction-log schema of the shared facts (prediction_id, scored_at, label as Int8,
prediction as int8).

The current window differs from the reference on purpose, so every metric has something
to measure: four numerical features move (income, credit_score, debt_to_income,
credit_utilisation), two categorical features change their shares (loan_purpose, region),
scores follow credit_score down, the 18-25 band is approved less often than before, and
labels turn more favourable than the scores expect (an accuracy drop).

Values are drawn column by column, so generating a window never holds more than one extra
column of temporaries. Category values are shared string objects, as pyarrow's
``to_pandas`` returns them for a parquet string column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

REFERENCE_START = datetime(2025, 1, 1, tzinfo=UTC)
CURRENT_START = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class NumericFeature:
    """A numerical feature drawn as ``clip(transform(mean + spread * z))``; the current
    window adds ``current_shift`` to ``z``, so a shift is in units of the spread."""

    name: str
    mean: float
    spread: float
    minimum: float
    maximum: float
    whole: bool = False
    log_normal: bool = False
    current_shift: float = 0.0


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature with its category shares in each window."""

    name: str
    categories: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...] | None = None


# Whole-valued features span far more than 20 values, so evidently treats every one of them
# as numerical (it turns integer columns with at most 10 distinct values into categories).
NUMERIC_FEATURES: tuple[NumericFeature, ...] = (
    NumericFeature("income", 10.8, 0.5, 0, 1_000_000, log_normal=True, current_shift=0.15),
    NumericFeature("loan_amount", 9.5, 0.8, 500, 500_000, log_normal=True),
    NumericFeature("loan_term_months", 60, 30, 6, 360, whole=True),
    NumericFeature("credit_score", 680, 60, 300, 850, whole=True, current_shift=-0.25),
    NumericFeature("debt_to_income", 0.35, 0.15, 0, 3, current_shift=0.30),
    NumericFeature("employment_years", 8, 6, 0, 60),
    NumericFeature("num_credit_lines", 12, 6, 0, 60, whole=True),
    NumericFeature("num_delinquencies", 8, 5, 0, 40, whole=True),
    NumericFeature("savings_balance", 9.0, 1.2, 0, 5_000_000, log_normal=True),
    NumericFeature("months_at_address", 60, 45, 0, 600, whole=True),
    NumericFeature("credit_utilisation", 0.30, 0.15, 0, 1, current_shift=0.40),
    NumericFeature("annual_bonus", 7.5, 1.0, 0, 500_000, log_normal=True),
    NumericFeature("monthly_expenses", 7.8, 0.4, 0, 100_000, log_normal=True),
    NumericFeature("account_age_months", 90, 50, 0, 600, whole=True),
    NumericFeature("recent_inquiries", 10, 6, 0, 100, whole=True),
    NumericFeature("average_balance", 8.0, 1.0, 0, 2_000_000, log_normal=True),
    NumericFeature("collateral_value", 11.0, 0.9, 0, 5_000_000, log_normal=True),
    NumericFeature("installment_amount", 6.0, 0.7, 0, 50_000, log_normal=True),
    NumericFeature("years_with_bank", 6, 5, 0, 60),
    NumericFeature("card_spend_ratio", 0.5, 0.2, 0, 2),
)

CATEGORICAL_FEATURES: tuple[CategoricalFeature, ...] = (
    CategoricalFeature(
        "home_ownership", ("rent", "own", "mortgage", "other"), (0.4, 0.2, 0.35, 0.05)
    ),
    CategoricalFeature(
        "loan_purpose",
        (
            "debt_consolidation",
            "home_improvement",
            "car",
            "education",
            "medical",
            "small_business",
            "other",
        ),
        (0.35, 0.15, 0.15, 0.1, 0.08, 0.07, 0.1),
        (0.25, 0.15, 0.2, 0.12, 0.1, 0.08, 0.1),
    ),
    CategoricalFeature(
        "employment_type",
        ("salaried", "self_employed", "unemployed", "retired", "student"),
        (0.6, 0.15, 0.08, 0.1, 0.07),
    ),
    CategoricalFeature(
        "region", ("north", "south", "east", "west"), (0.25, 0.25, 0.25, 0.25), (0.3, 0.2, 0.3, 0.2)
    ),
    CategoricalFeature(
        "customer_segment", ("standard", "high_value", "new_customer"), (0.6, 0.15, 0.25)
    ),
)

PROTECTED_ATTRIBUTES: tuple[CategoricalFeature, ...] = (
    CategoricalFeature("gender", ("female", "male", "non_binary"), (0.49, 0.49, 0.02)),
    CategoricalFeature("age_band", ("18-25", "26-40", "41-60", "61+"), (0.15, 0.35, 0.35, 0.15)),
)

NUMERIC_NAMES = tuple(feature.name for feature in NUMERIC_FEATURES)
CATEGORICAL_NAMES = tuple(feature.name for feature in CATEGORICAL_FEATURES)
FEATURE_NAMES = NUMERIC_NAMES + CATEGORICAL_NAMES
ATTRIBUTE_NAMES = tuple(attribute.name for attribute in PROTECTED_ATTRIBUTES)

# Logit weights on the standardised draws, and per-group offsets: the model leans on credit
# score and debt, and (in the current window) approves the youngest band less often.
SCORE_WEIGHTS = {
    "credit_score": 0.9,
    "debt_to_income": -0.6,
    "income": 0.4,
    "credit_utilisation": -0.3,
}
REFERENCE_GROUP_OFFSETS = {"age_band": {"18-25": -0.1}}
CURRENT_GROUP_OFFSETS = {"age_band": {"18-25": -0.5}, "gender": {"non_binary": -0.2}}
SCORE_INTERCEPT = 0.3
CURRENT_LABEL_SHIFT = 0.6


def _shares_codes(rng: np.random.Generator, rows: int, shares: tuple[float, ...]) -> np.ndarray:
    cumulative = np.cumsum(shares)
    return np.minimum(
        np.searchsorted(cumulative / cumulative[-1], rng.random(rows), side="right"),
        len(shares) - 1,
    )


def _categorical_column(
    rng: np.random.Generator, rows: int, feature: CategoricalFeature, *, current: bool
) -> tuple[np.ndarray, np.ndarray]:
    shares = (
        feature.current_shares if current and feature.current_shares else feature.reference_shares
    )
    codes = _shares_codes(rng, rows, shares)
    return codes, np.array(feature.categories, dtype=object)[codes]


def _numeric_column(
    rng: np.random.Generator, rows: int, feature: NumericFeature, *, current: bool
) -> tuple[np.ndarray, np.ndarray]:
    standard = rng.standard_normal(rows)
    if current:
        standard += feature.current_shift
    values = feature.mean + feature.spread * standard
    if feature.log_normal:
        values = np.exp(values)
    values = np.clip(values, feature.minimum, feature.maximum)
    if feature.whole:
        return standard, np.rint(values).astype(np.int64)
    return standard, values


def synthetic_window(rows: int, *, seed: int, current: bool) -> pd.DataFrame:
    """One window of ``rows`` prediction-log rows; ``current=True`` injects the drift."""
    rng = np.random.default_rng([seed, int(current)])
    start = CURRENT_START if current else REFERENCE_START
    prefix = "cur" if current else "ref"
    offsets = np.sort(rng.integers(0, WINDOW // timedelta(microseconds=1), rows))
    columns: dict[str, object] = {
        "prediction_id": (prefix + "-" + pd.Series(np.arange(rows)).astype(str)).to_numpy(
            dtype=object
        ),
        "scored_at": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="us"),
    }
    logit = np.full(rows, SCORE_INTERCEPT)
    for feature in NUMERIC_FEATURES:
        standard, columns[feature.name] = _numeric_column(rng, rows, feature, current=current)
        logit += SCORE_WEIGHTS.get(feature.name, 0.0) * standard
    for feature in CATEGORICAL_FEATURES:
        columns[feature.name] = _categorical_column(rng, rows, feature, current=current)[1]
    offsets_by_group = CURRENT_GROUP_OFFSETS if current else REFERENCE_GROUP_OFFSETS
    for attribute in PROTECTED_ATTRIBUTES:
        codes, columns[attribute.name] = _categorical_column(rng, rows, attribute, current=current)
        group_offsets = offsets_by_group.get(attribute.name, {})
        logit += np.array([group_offsets.get(group, 0.0) for group in attribute.categories])[codes]
    score = 1 / (1 + np.exp(-(logit + 0.5 * rng.standard_normal(rows))))
    label_logit = logit + (CURRENT_LABEL_SHIFT if current else 0.0)
    label = rng.random(rows) < 1 / (1 + np.exp(-label_logit))
    columns["score"] = score
    columns["prediction"] = (score >= 0.5).astype(np.int8)
    columns["label"] = pd.array(label.astype(np.int8), dtype="Int8")
    return pd.DataFrame(columns)
