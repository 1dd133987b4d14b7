"""Copies of the loaded config with one policy setting changed, to show what the setting does."""

from __future__ import annotations

from govflow.config import GovflowConfig


def with_equal_alpha_shares(config: GovflowConfig) -> GovflowConfig:
    """``config`` without fairness.alpha_weights: each fairness metric a check judges gets an
    equal share of its alpha."""
    fairness = config.policy.fairness.model_copy(update={"alpha_weights": {}})
    policy = config.policy.model_copy(update={"fairness": fairness})
    return config.model_copy(update={"policy": policy})


def without_fairness_threshold(config: GovflowConfig, metric: str) -> GovflowConfig:
    """``config`` whose policy no longer bounds the fairness metric ``metric``."""
    bounds = {k: v for k, v in config.policy.thresholds.fairness_drift.items() if k != metric}
    thresholds = config.policy.thresholds.model_copy(update={"fairness_drift": bounds})
    policy = config.policy.model_copy(update={"thresholds": thresholds})
    return config.model_copy(update={"policy": policy})
