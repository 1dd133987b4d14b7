"""Seed 004 section 8, "Monitoring the Monitor": notice analyses that did not complete.

For each model and each cadence at which it has checks (table 1.1), the newest scheduled
run of that cadence that is more than the grace period (12 hours) old must have left a
succeeded monitoring record covering its window. When none did, the model is overdue and
one alert goes to the engineering channel for that missed window (its idempotency key names
the model, cadence and window, so the hourly check alerts once per miss, not once per hour).
A model is watched only from the creation of its active baseline: a model cannot be
monitored before it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.alerts.outbox import enqueue_alert
from govflow.baselines.profile import active_baseline
from govflow.config import GovflowConfig
from govflow.monitoring.cadence import CADENCE_ORDER, cadence_window
from govflow.store.schema import MonitoringRun

RUN_OF_CADENCE = {
    "daily": "daily_drift_analysis",
    "weekly": "weekly_deep_analysis",
    "biweekly": "weekly_deep_analysis",
    "monthly": "monthly_baseline_review",
}
LOOKBACK = timedelta(days=62)
OVERDUE_TEXT = (
    "{model_id}: no completed {cadence} analysis of [{start:%Y-%m-%d}, {end:%Y-%m-%d}) "
    "{hours:.0f} h after its {run_time:%Y-%m-%d %H:%M} UTC run (limit {limit} h)"
)


@dataclass(frozen=True)
class Overdue:
    model_id: str
    cadence: str
    run_time: datetime
    window_start: datetime
    window_end: datetime
    hours_late: float
    limit_hours: float

    @property
    def text(self) -> str:
        return OVERDUE_TEXT.format(
            model_id=self.model_id,
            cadence=self.cadence,
            start=self.window_start,
            end=self.window_end,
            hours=self.hours_late,
            run_time=self.run_time,
            limit=self.limit_hours,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "cadence": self.cadence,
            "run_time": self.run_time.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "hours_late": round(self.hours_late, 2),
            "text": self.text,
        }


def _matches(field: str, value: int) -> bool:
    return field == "*" or any(int(part) == value for part in field.split(","))


def last_scheduled_run(cron: str, before: datetime) -> datetime | None:
    """The newest time at or before ``before`` that a five-field cron (minute, hour,
    day of month, month, day of week; numbers, lists and ``*``) fires, within LOOKBACK."""
    minute, hour, day, month, weekday = cron.split()
    moment = before.astimezone(UTC).replace(second=0, microsecond=0)
    earliest = moment - LOOKBACK
    while moment >= earliest:
        if (
            _matches(minute, moment.minute)
            and _matches(hour, moment.hour)
            and _matches(day, moment.day)
            and _matches(month, moment.month)
            and _matches(weekday, (moment.weekday() + 1) % 7)
        ):
            return moment
        moment -= timedelta(minutes=1) if minute == "*" else _step_back(moment, int(minute))
    return None


def _step_back(moment: datetime, minute: int) -> timedelta:
    """Jump straight to the previous time whose minute matches (cron minute fixed)."""
    if moment.minute > minute:
        return timedelta(minutes=moment.minute - minute)
    return timedelta(minutes=moment.minute - minute + 60)


def overdue_analyses(session: Session, config: GovflowConfig, now: datetime) -> list[Overdue]:
    """Every (model, cadence) whose newest due analysis has no succeeded record."""
    limit = config.policy.performance_slas.monitor_the_monitor.max_hours_without_completed_analysis
    grace = timedelta(hours=limit)
    overdue = []
    for model in config.models.models:
        baseline = active_baseline(session, model.id)
        if baseline is None:
            continue
        for cadence in CADENCE_ORDER:
            if not config.policy.checks_due(model.risk_tier, cadence):  # type: ignore[arg-type]
                continue
            run_time = _last_run_of_cadence(config, cadence, now - grace)
            if run_time is None or run_time < baseline.created_at:
                continue
            start, end = cadence_window(cadence, run_time)
            done = session.scalars(
                select(MonitoringRun.id).where(
                    MonitoringRun.model_id == model.id,
                    MonitoringRun.cadence == cadence,
                    MonitoringRun.status == "succeeded",
                    MonitoringRun.interval_end >= end,
                )
            ).first()
            if done is None:
                late = (now - run_time) / timedelta(hours=1)
                overdue.append(Overdue(model.id, cadence, run_time, start, end, late, limit))
    return overdue


def _last_run_of_cadence(config: GovflowConfig, cadence: str, before: datetime) -> datetime | None:
    run = RUN_OF_CADENCE[cadence]
    cron = config.policy.monitoring.scheduled_runs[run].cron
    moment = before
    for _ in range(3):  # bi-weekly runs are every other weekly run
        found = last_scheduled_run(cron, moment)
        if found is None:
            return None
        if cadence in config.policy.monitoring.cadences_of_run(run, found.date()):
            return found
        moment = found - timedelta(minutes=1)
    return None


def alert_overdue(session: Session, config: GovflowConfig, now: datetime) -> list[Overdue]:
    """Find overdue analyses and put one alert per missed window in the outbox."""
    found = overdue_analyses(session, config, now)
    channel = config.people.channel(
        config.policy.performance_slas.monitor_the_monitor.slack_channel
    )
    for item in found:
        enqueue_alert(
            session,
            idempotency_key=(
                f"monitor-the-monitor:{item.model_id}:{item.cadence}:"
                f"{item.window_start.isoformat()}:{item.window_end.isoformat()}"
            ),
            channel="slack",
            destination=channel,
            kind="monitor_the_monitor",
            severity="WARNING",
            model_id=item.model_id,
            payload={**item.to_dict(), "text": item.text},
            actor="govflow-monitor-the-monitor",
        )
    return found
