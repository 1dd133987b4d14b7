"""What each demo day looks like: the seed 004 section 10 incident examples, staged.

- ``stable``: the untouched population, drawn as real traffic is (``govflow.demo.cohorts``):
  raw values wander with sampling noise, and every seed 004 section 2.2 metric is judged INFO
  or inconclusive.
- ``data_drift``: incomes rise and credit scores fall across the board (PSI far above 0.25
  on both), for everyone alike, so fairness holds.
- ``fairness_drift``: female applicants' credit scores fall and their debt-to-income rises
  (a proxy effect: the model never sees gender), so the disparate impact ratio of
  ``credit_approval`` for gender drops below 0.80, and so does the ratio of women's to men's
  mean predicted lifetime value (``customer_lifetime_value``), whose true value, following
  the same credit files, falls alike.
- ``accuracy_drift``: inputs untouched, outcomes follow the shifted concept, so accuracy
  drops (and the regressor's MAE and RMSE rise) by far more than 10% once the labels arrive.
- ``malformed``: a readable file broken in the ways the data-quality gate must catch.

All four models share the same days. Placements scale with the number of days, keep two
quiet weeks first, and put the accuracy drift early enough for its slowest labels (five
days for ``credit_approval``) to arrive before the demo ends.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from govflow.demo.applicants import clip_to_ranges
from govflow.demo.outcomes import Concept

Scenario = Literal["stable", "data_drift", "fairness_drift", "accuracy_drift", "malformed"]
SCENARIOS: tuple[Scenario, ...] = (
    "stable",
    "data_drift",
    "fairness_drift",
    "accuracy_drift",
    "malformed",
)
MINIMUM_DAYS = 35
TOO_FEW_DAYS = "the demo needs at least {minimum} days to stage every scenario, got {days}"


class DemoTooSmall(ValueError):
    """A demo asked for fewer days or rows than its scenarios need (a usage error)."""


DATA_DRIFT_INCOME_FACTOR = 1.9
DATA_DRIFT_CREDIT_SCORE_OFFSET = -40
FAIRNESS_DRIFT_GROUP = ("gender", "female")
FAIRNESS_DRIFT_CREDIT_SCORE_OFFSET = -45
FAIRNESS_DRIFT_DEBT_TO_INCOME_FACTOR = 1.2


def scenario_day_indexes(days: int) -> dict[Scenario, list[int]]:
    """Which day indexes (0 = first day) each scenario occupies in a demo of ``days`` days."""
    if days < MINIMUM_DAYS:
        raise DemoTooSmall(TOO_FEW_DAYS.format(minimum=MINIMUM_DAYS, days=days))
    accuracy = days * 5 // 14
    data = days // 2
    fairness = days * 9 // 14
    malformed = days * 11 // 14
    placed: dict[Scenario, list[int]] = {
        "data_drift": [data, data + 1],
        "fairness_drift": [fairness, fairness + 1],
        "accuracy_drift": [accuracy, accuracy + 1],
        "malformed": [malformed],
    }
    taken = {index for indexes in placed.values() for index in indexes}
    return {"stable": [index for index in range(days) if index not in taken], **placed}


def scenario_calendar(start: date, days: int) -> dict[Scenario, list[date]]:
    """``scenario_day_indexes`` as calendar days counted from ``start``."""
    return {
        scenario: [start + timedelta(days=index) for index in indexes]
        for scenario, indexes in scenario_day_indexes(days).items()
    }


def scenario_of_day(days: int) -> list[Scenario]:
    """The scenario of every day index, in order."""
    by_index: dict[int, Scenario] = {}
    for scenario, indexes in scenario_day_indexes(days).items():
        by_index.update(dict.fromkeys(indexes, scenario))
    return [by_index[index] for index in range(days)]


def outcome_concept(scenario: Scenario) -> Concept:
    """The outcome mechanism in force on a day of ``scenario``."""
    return "shifted" if scenario == "accuracy_drift" else "original"


def shift_applicants(applicants: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The applicants as they arrive on a day of ``scenario``."""
    shifted = applicants.copy()
    if scenario == "data_drift":
        shifted["income"] = np.round(shifted["income"] * DATA_DRIFT_INCOME_FACTOR, 2)
        shifted["credit_score"] = shifted["credit_score"] + DATA_DRIFT_CREDIT_SCORE_OFFSET
    elif scenario == "fairness_drift":
        attribute, group = FAIRNESS_DRIFT_GROUP
        affected = shifted[attribute] == group
        shifted.loc[affected, "credit_score"] += FAIRNESS_DRIFT_CREDIT_SCORE_OFFSET
        shifted.loc[affected, "debt_to_income"] = np.round(
            shifted.loc[affected, "debt_to_income"] * FAIRNESS_DRIFT_DEBT_TO_INCOME_FACTOR, 4
        )
    return clip_to_ranges(shifted)
