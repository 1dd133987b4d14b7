"""What really happens to each demo applicant: the ground truth behind the labels (seed 004
section 2.2, model drift: accuracy and error are measured against these outcomes).

Each demo classifier predicts one favourable outcome: ``credit_approval`` that the applicant
repays, ``marketing_propensity`` that the customer responds to the card offer,
``product_recommendation`` that the customer opens the savings product. The regressor
``customer_lifetime_value`` predicts an amount, the customer's lifetime value in euros
(seed 003: non-negative, with a maximum): lognormal around a level set by income, savings,
credit file and segment, capped at ``LIFETIME_VALUE_MAX``. Outcomes depend on the features
only, never on gender or age band directly. The ``shifted`` concept is the
world after a change the features do not show (a downturn, a competitor's offer, a rate
change): the same applicants, different outcomes, which is concept drift.

Probabilities use ``govflow.demo.arithmetic`` for the logarithm and the logistic function,
because a label is a uniform draw compared with them: a vendor ``log1p`` or ``exp`` one ulp
off on another CPU would flip the label of a draw that lands on it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from govflow.demo.arithmetic import exp, expit, log1p, ndtri

Concept = Literal["original", "shifted"]

CREDIT_APPROVAL = "credit_approval"
MARKETING_PROPENSITY = "marketing_propensity"
PRODUCT_RECOMMENDATION = "product_recommendation"
CUSTOMER_LIFETIME_VALUE = "customer_lifetime_value"
DEMO_MODEL_IDS = (CREDIT_APPROVAL, MARKETING_PROPENSITY, PRODUCT_RECOMMENDATION)
LIFETIME_VALUE_MAX = 25_000.0
"""The cap of a customer's lifetime value in euros, and of the regressor's predictions
(models.yaml serving.output.max)."""
_LIFETIME_VALUE_NOISE = 0.3

OUTCOME_DESCRIPTIONS = {
    CREDIT_APPROVAL: "the applicant repays the loan",
    MARKETING_PROPENSITY: "the customer responds to the credit-card offer",
    PRODUCT_RECOMMENDATION: "the customer opens the savings product",
    CUSTOMER_LIFETIME_VALUE: "the customer's lifetime value in euros (an amount, no class)",
}


def _standardised(applicants: pd.DataFrame) -> dict[str, np.ndarray]:
    income = applicants["income"].to_numpy(dtype=float)
    return {
        "credit": (applicants["credit_score"].to_numpy(dtype=float) - 690) / 60,
        "debt": (applicants["debt_to_income"].to_numpy(dtype=float) - 0.32) / 0.13,
        "income": (log1p(income) - 10.8) / 0.45,
        "delinquencies": applicants["num_delinquencies"].to_numpy(dtype=float),
        "loan_to_income": np.clip(
            applicants["loan_amount"].to_numpy(dtype=float) / np.maximum(income, 1.0), 0, 5
        ),
        "savings": (log1p(applicants["savings_balance"].to_numpy(dtype=float)) - 8.4) / 1.1,
        "tenure": (applicants["months_at_address"].to_numpy(dtype=float) - 50) / 45,
    }


def _is(applicants: pd.DataFrame, column: str, value: str) -> np.ndarray:
    return (applicants[column] == value).to_numpy(dtype=float)


def favourable_probability(
    model_id: str, applicants: pd.DataFrame, *, concept: Concept = "original"
) -> np.ndarray:
    """The probability of the favourable outcome ``model_id`` predicts, per applicant."""
    z = _standardised(applicants)
    if model_id == CREDIT_APPROVAL:
        if concept == "original":
            logit = (
                1.5
                + 1.2 * z["credit"]
                - 0.8 * z["debt"]
                - 0.45 * z["delinquencies"]
                + 0.25 * z["income"]
                - 1.5 * (z["loan_to_income"] - 0.3)
                - 0.5 * _is(applicants, "loan_purpose", "small_business")
                - 0.3 * _is(applicants, "loan_purpose", "medical")
                - 0.7 * _is(applicants, "employment_type", "unemployed")
            )
        else:
            # A downturn: defaults follow thin savings and job type, not the credit file.
            logit = (
                -0.6
                + 0.9 * z["savings"]
                - 1.2 * _is(applicants, "employment_type", "self_employed")
                - 0.2 * z["credit"]
                + 0.4 * z["debt"]
            )
    elif model_id == MARKETING_PROPENSITY:
        if concept == "original":
            logit = (
                -1.0
                + 0.35 * z["income"]
                + 0.7 * _is(applicants, "customer_segment", "high_value")
                + 0.4 * _is(applicants, "customer_segment", "new_customer")
                - 0.5 * z["debt"]
                + 0.3 * z["credit"]
            )
        else:
            # A competitor's offer wins the affluent customers; the stretched ones respond.
            logit = (
                -0.9
                - 0.8 * z["income"]
                - 0.9 * _is(applicants, "customer_segment", "high_value")
                + 0.6 * z["debt"]
                - 0.4 * z["credit"]
            )
    elif model_id == PRODUCT_RECOMMENDATION:
        if concept == "original":
            logit = (
                -0.5
                + 0.6 * z["savings"]
                + 0.2 * z["income"]
                - 0.5 * z["debt"]
                + 0.2 * _is(applicants, "region", "north")
            )
        else:
            # A rate change makes the product attractive to new savers, not established ones.
            logit = -0.4 - 0.9 * z["savings"] - 0.3 * z["tenure"] + 0.3 * z["debt"]
    else:
        raise ValueError(f"unknown demo model {model_id!r}; expected one of {DEMO_MODEL_IDS}")
    return expit(logit)


def lifetime_value(
    applicants: pd.DataFrame, draws: np.ndarray, *, concept: Concept = "original"
) -> np.ndarray:
    """Each customer's lifetime value in euros, rounded to cents: ``e ** level`` times a
    lognormal factor drawn from the uniform ``draws``, capped at ``LIFETIME_VALUE_MAX``."""
    z = _standardised(applicants)
    if concept == "original":
        level = (
            8.0
            + 0.12 * z["income"]
            + 0.08 * z["savings"]
            + 0.3 * z["credit"]
            - 0.25 * z["debt"]
            - 0.05 * z["delinquencies"]
            + 0.1 * _is(applicants, "customer_segment", "high_value")
        )
    else:
        # A competitor's cash-back card takes the affluent customers' spending: value now
        # follows steady saving, and income counts against it.
        level = 7.9 - 0.3 * z["income"] + 0.25 * z["savings"]
    value = exp(level + _LIFETIME_VALUE_NOISE * ndtri(draws))
    return np.round(np.minimum(value, LIFETIME_VALUE_MAX), 2)
