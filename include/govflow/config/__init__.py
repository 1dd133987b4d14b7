"""Policy as data: config/ validated by pydantic models (seeds 000-004).

``load_config(directory)`` reads policy.yaml (seed 004 monitoring policy), deployment.yaml
(seed 001 PROC-AI-DEPLOY-001 with seeds 000 and 002), models.yaml (the model inventory)
and people.yaml (people, roles, on-call), checks that they agree with each other, and
returns a read-only ``GovflowConfig``; any problem raises ``ConfigError``.
"""

from govflow.config.deployment import Criterion, DeploymentFile, RolloutStage, Step
from govflow.config.inventory import Feature, ModelEntry, ModelsFile, UnknownModel
from govflow.config.loading import ConfigError, GovflowConfig, load_config
from govflow.config.people import PeopleFile, User
from govflow.config.policy import Bound, EscalationPath, MetricThreshold, PolicyFile
from govflow.config.vocabulary import (
    ALERT_SOURCES,
    CADENCES,
    CHECK_TYPES,
    RISK_TIERS,
    ROLES,
    SEVERITIES,
    AlertSource,
    Cadence,
    CheckType,
    RiskTier,
    Role,
    Severity,
)

__all__ = [
    "ALERT_SOURCES",
    "CADENCES",
    "CHECK_TYPES",
    "RISK_TIERS",
    "ROLES",
    "SEVERITIES",
    "AlertSource",
    "Bound",
    "Cadence",
    "CheckType",
    "ConfigError",
    "Criterion",
    "DeploymentFile",
    "EscalationPath",
    "Feature",
    "GovflowConfig",
    "MetricThreshold",
    "ModelEntry",
    "ModelsFile",
    "PeopleFile",
    "PolicyFile",
    "RiskTier",
    "Role",
    "RolloutStage",
    "Severity",
    "Step",
    "UnknownModel",
    "User",
    "load_config",
]
