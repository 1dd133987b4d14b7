"""Seed 004 sections 1.1 and 1.2: which checks are due for which model on a scheduled run.

A scheduled run analyses the complete period before it: the daily run at 02:00 the previous
UTC day (two hours' grace for late logs), the weekly run on Sunday the seven days before
Sunday 00:00, bi-weekly checks (on the weekly run of even ISO weeks) the fourteen days before
it, and the monthly run the previous calendar month. Each (model, cadence) pair is one
analysis target, so a model whose weekly and bi-weekly checks are due on the same Sunday is
analysed once for each window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from govflow.config import GovflowConfig
from govflow.config.vocabulary import CHECK_TYPES

RUN_OF_DAG = {
    "govflow_monitoring_daily": "daily_drift_analysis",
    "govflow_monitoring_weekly": "weekly_deep_analysis",
    "govflow_monitoring_monthly": "monthly_baseline_review",
}
CADENCE_ORDER = ("daily", "weekly", "biweekly", "monthly")


@dataclass(frozen=True)
class Target:
    """One analysis a scheduled run performs: a model, its due checks and their window."""

    model_id: str
    risk_tier: str
    cadence: str
    checks: tuple[str, ...]
    start: datetime
    end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "risk_tier": self.risk_tier,
            "cadence": self.cadence,
            "checks": list(self.checks),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(
            model_id=data["model_id"],
            risk_tier=data["risk_tier"],
            cadence=data["cadence"],
            checks=tuple(data["checks"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
        )


def cadence_window(cadence: str, run_time: datetime) -> tuple[datetime, datetime]:
    """The complete period a run at ``run_time`` analyses for checks of ``cadence``."""
    moment = run_time.astimezone(UTC) if run_time.tzinfo else run_time.replace(tzinfo=UTC)
    end = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if cadence == "daily":
        return end - timedelta(days=1), end
    if cadence == "weekly":
        return end - timedelta(days=7), end
    if cadence == "biweekly":
        return end - timedelta(days=14), end
    if cadence == "monthly":
        end = end.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        return start, end
    raise ValueError(f"unknown cadence {cadence!r}")


def due_targets(config: GovflowConfig, dag_id: str, run_time: datetime) -> list[Target]:
    """Every analysis the scheduled DAG ``dag_id`` performs when it runs at ``run_time``."""
    run = RUN_OF_DAG[dag_id]
    day = run_time.astimezone(UTC).date() if run_time.tzinfo else run_time.date()
    cadences = config.policy.monitoring.cadences_of_run(run, day)
    targets = []
    for model in config.models.models:
        for cadence in CADENCE_ORDER:
            if cadence not in cadences:
                continue
            checks = config.policy.checks_due(model.risk_tier, cadence)
            if not checks:
                continue
            start, end = cadence_window(cadence, run_time)
            ordered = tuple(check for check in CHECK_TYPES if check in checks)
            targets.append(Target(model.id, model.risk_tier, cadence, ordered, start, end))
    return targets
