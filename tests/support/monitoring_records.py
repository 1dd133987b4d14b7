"""What unit tests write as a monitoring record's threshold: the policy's bound for a metric."""

from __future__ import annotations

from typing import Any

from govflow.config import GovflowConfig


def policy_threshold(config: GovflowConfig, metric: str) -> dict[str, Any]:
    """The threshold of ``metric`` in policy.yaml, as analysis stores it with a result."""
    configured = config.policy.threshold(metric)
    assert configured.warning is not None
    return {
        "warning": configured.warning.value,
        "warning_inclusive": configured.warning.inclusive,
        "critical": configured.critical.value,
        "critical_inclusive": configured.critical.inclusive,
        "direction": configured.direction,
    }
