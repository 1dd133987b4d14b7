"""The terms every policy file shares: risk tiers, roles, severities, check types, cadences.

Seeds 000-004 each name these differently ("High-Risk", "AI System Owner", "Bi-weekly");
config/ uses one spelling for each, listed here, and every config model derives from
``StrictModel`` so that a misspelt key is an error rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

RiskTier = Literal["high", "medium", "low"]
Role = Literal[
    "system_owner",
    "ml_engineer",
    "ml_lead",
    "compliance_officer",
    "risk_manager",
    "qa_lead",
    "deployment_manager",
    "ai_governance_committee",
    "cto",
    "ceo",
    "auditor",
    "viewer",
    "admin",
]
Severity = Literal["INFO", "WARNING", "CRITICAL"]
CheckType = Literal["data_drift", "fairness_drift", "model_drift", "explanation_drift"]
# Alerts also come from the data-quality gate and the composite score, which run on every
# scheduled analysis instead of on a cadence of their own.
AlertSource = Literal[
    "data_drift", "fairness_drift", "model_drift", "explanation_drift", "data_quality", "composite"
]
Cadence = Literal["daily", "weekly", "biweekly", "monthly"]

RISK_TIERS: tuple[RiskTier, ...] = get_args(RiskTier)
ROLES: tuple[Role, ...] = get_args(Role)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
CHECK_TYPES: tuple[CheckType, ...] = get_args(CheckType)
ALERT_SOURCES: tuple[AlertSource, ...] = get_args(AlertSource)
CADENCES: tuple[Cadence, ...] = get_args(Cadence)

SNAKE_CASE = r"^[a-z][a-z0-9_]*$"
NOT_A_FRACTION = "must be a number in [0, 1]"


def _in_unit_interval(value: float) -> float:
    # Not Field(ge=0, le=1): NaN fails those as "less than or equal to 1", which misleads.
    if not 0 <= value <= 1:
        raise PydanticCustomError("fraction", NOT_A_FRACTION)
    return value


# A share, a rate or a probability: a number in [0, 1].
Fraction = Annotated[float, AfterValidator(_in_unit_interval)]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and loaded policy is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def located_error(path: str, message: str) -> PydanticCustomError:
    """An error found by a whole-file rule, prefixed with the dotted path it concerns.

    Pydantic places a whole-file validator's error at the file's root; the loader prints
    root errors as ``<file>: <message>``, so the path travels at the start of the message.
    """
    return PydanticCustomError("located", "{path}: {message}", {"path": path, "message": message})
