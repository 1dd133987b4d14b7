"""Retention, enforced (seed 004 section 7, seed 001 section 8, EU AI Act Art. 19 and 26(6)):
each data type the store and the data directory hold is kept for its period in policy.yaml
``retention`` and then purged, except what a legal hold covers.

* ``prediction_logs`` (``prediction_logs_high_risk`` for a high-risk model): a model's daily
  parquet partitions whose day ended before the cutoff; never those of a held model or
  range, nor the window of an incident not yet closed.
* ``monitoring_records``: records (and their metric rows) finished before the cutoff; never
  a held model's or range's, nor a record an incident came from.
* ``alerts``: alerts raised before the cutoff that are done with (delivered, failed,
  abandoned, suppressed, digested); never one still on its way, nor one of an incident not
  yet closed or held.
* ``serving_stats``, ``serving_feedback``: gateway counters and feedback older than the
  cutoff; never a held model's or range's. A purged minute's counts leave its hour's sum
  (``serving_stat_hours``) too, and an hour left with none is deleted.
* ``gateway_heartbeats``: gateways not seen since the cutoff.
* ``route_history``: route revisions older than the cutoff (10 years, the deployment
  records' period); never a model's current revision, nor a held model's, deployment's or
  range's.
* ``deployment_records`` (seed 001 section 8.1, REC-AI-DEPLOY-001..004): deployments closed
  before the cutoff, with their steps, approvals, checklist evidence, rollout stages and
  readiness report files (the registry's stage history stays, without the link); never one
  still open, the one a model's route serves now, nor a held model's, deployment's or
  range's.

Incidents, baselines and the audit trail are kept indefinitely and never purged. Each purge
runs in batches of at most ``batch`` rows (or partitions), each batch one transaction with
its audit event ``retention.purged`` (the type, its period and cutoff, the ids' range and
count; never the purged content), so a purge that stops half-way loses no event and running
it again purges only what is left. Nothing younger than its period is ever selected: the
cutoff is computed from the period and checked again on every partition. The dry run
selects exactly the same and deletes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.orm import Session

from govflow import store
from govflow.audit import record_event
from govflow.config import GovflowConfig
from govflow.config.inventory import ParquetLog
from govflow.deployment.readiness import REPORT_DIR as READINESS_DIR
from govflow.monitoring.prediction_logs import PARTITION_PREFIX
from govflow.retention.holds import ActiveHolds, active_holds
from govflow.store.schema import (
    SERVING_COUNT_COLUMNS,
    Alert,
    ChecklistEvidence,
    Deployment,
    DeploymentApproval,
    DeploymentStep,
    GatewayHeartbeat,
    Incident,
    MetricResult,
    MonitoringRun,
    RolloutStage,
    Route,
    RouteChange,
    ServingFeedback,
    ServingStat,
    StageHistory,
)
from govflow.store.serving_hours import add_to_hours
from govflow.store.types import utcnow

ACTOR = "govflow-retention"
DEFAULT_BATCH = 1000
PURGED = "retention.purged"
DONE_ALERT_STATUSES = ("delivered", "failed", "abandoned", "suppressed", "digested")
KEPT_INDEFINITELY = ("incidents", "baselines", "audit_events")
HIGH_RISK_LOGS = "prediction_logs_high_risk"


@dataclass
class Purge:
    """What one data type's purge found (or, in a dry run, would remove)."""

    data_type: str
    period: str
    cutoff: str | None
    eligible: int = 0
    held: int = 0
    purged: int = 0
    dry_run: bool = False
    examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.cutoff is None:
            return f"{self.data_type:<24} {self.period:<12} kept indefinitely"
        verb = "would purge" if self.dry_run else "purged"
        count = self.eligible if self.dry_run else self.purged
        return (
            f"{self.data_type:<24} {self.period:<12} older than {self.cutoff[:10]}: "
            f"{verb} {count}, held {self.held}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _period(config: GovflowConfig, data_type: str) -> Any:
    """Its period; load_config refuses a policy without one (RETAINED_DATA_TYPES)."""
    return config.policy.retention[data_type]


def _describe(period: Any) -> str:
    if period.indefinite:
        return "indefinite"
    count, unit = (period.days, "day") if period.days is not None else (period.years, "year")
    return f"{count} {unit}" + ("" if count == 1 else "s")


def run_retention(
    config: GovflowConfig,
    *,
    data_dir: Path,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = DEFAULT_BATCH,
    db_url: str | None = None,
) -> list[Purge]:
    """Purge (or with ``dry_run`` only count) every data type past its retention period."""
    now = now or utcnow()
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        holds = active_holds(session)
    results = [_prediction_logs(config, data_dir, now, holds, dry_run, batch, db_url)]
    row_types = {
        **_ROW_TYPES,
        "deployment_records": (_deployments, _deleting_deployments(data_dir)),
    }
    for data_type, selector in row_types.items():
        period = _period(config, data_type)
        cutoff = period.cutoff(now)
        result = Purge(data_type, _describe(period), _iso(cutoff), dry_run=dry_run)
        if cutoff is not None:
            _purge_rows(result, selector, cutoff, holds, dry_run, batch, db_url)
        results.append(result)
    for data_type in KEPT_INDEFINITELY:
        results.append(Purge(data_type, "indefinite", None, dry_run=dry_run))
    return results


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- prediction logs (files) -----------------------------------------------------------------


def _prediction_logs(
    config: GovflowConfig,
    data_dir: Path,
    now: datetime,
    holds: ActiveHolds,
    dry_run: bool,
    batch: int,
    db_url: str | None,
) -> Purge:
    """Each parquet-logged model's partitions, by the model's risk tier's period (a SQL log
    is the team's own database, not govflow's to purge)."""
    standard, high = _period(config, "prediction_logs"), _period(config, HIGH_RISK_LOGS)
    result = Purge(
        "prediction_logs",
        f"{_describe(standard)} ({_describe(high)} high risk)",
        _iso(standard.cutoff(now)),
        dry_run=dry_run,
    )
    doomed: list[tuple[date, str, Path]] = []
    for model in config.models.models:
        if not isinstance(model.prediction_log, ParquetLog):
            continue
        period = high if model.risk_tier == "high" else standard
        cutoff = period.cutoff(now)
        if cutoff is None:
            continue
        for partition in sorted(
            (data_dir / model.prediction_log.path).glob(f"{PARTITION_PREFIX}*")
        ):
            day = _partition_day(partition)
            if day is None:
                continue
            start = datetime.combine(day, time(), tzinfo=now.tzinfo)
            end = start + timedelta(days=1)
            if end > cutoff:  # younger than the period: never selected
                continue
            result.eligible += 1
            if holds.holds_log_day(model.id, start, end):
                result.held += 1
                continue
            doomed.append((day, model.id, partition))
    # Oldest day first across models (each model's partitions were listed on their own), so
    # that every batch's audit event spans its first to its last day, in that order.
    doomed.sort()
    result.examples = [str(path) for _, _, path in doomed[:3]]
    if dry_run:
        result.eligible -= result.held
        return result
    for first in range(0, len(doomed), batch):
        chunk = doomed[first : first + batch]
        with store.session_scope(db_url) as session:
            record_event(
                session,
                actor=ACTOR,
                action=PURGED,
                target="retention:prediction_logs",
                payload={
                    "data_type": "prediction_logs",
                    "period": result.period,
                    "partitions": len(chunk),
                    "models": sorted({model_id for _, model_id, _ in chunk}),
                    "first_day": str(chunk[0][0]),
                    "last_day": str(chunk[-1][0]),
                },
            )
        _remove_files(partition for _, _, partition in chunk)
        result.purged += len(chunk)
    result.eligible -= result.held
    return result


def _partition_day(partition: Path) -> date | None:
    try:
        return date.fromisoformat(partition.name.removeprefix(PARTITION_PREFIX))
    except ValueError:
        return None


# --- rows of the store -----------------------------------------------------------------------

# A data type's rows: (the candidate ids older than the cutoff with their model and time, the
# rows to delete for a batch of ids).
Selector = tuple[
    Callable[[Session, datetime, ActiveHolds], Sequence[tuple[Any, str | None, datetime]]],
    Callable[[Session, list[Any]], list[Path]],
]


def _remove_files(paths: Iterable[Path]) -> None:
    """Delete a purged batch's files, only once its audit event has committed: a failed
    commit then leaves the files (the next run purges them), never files gone unrecorded."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _runs(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
    cited = select(Incident.source_run_id).where(Incident.source_run_id.is_not(None))
    return session.execute(
        select(MonitoringRun.id, MonitoringRun.model_id, MonitoringRun.interval_start)
        .where(
            func.coalesce(MonitoringRun.finished_at, MonitoringRun.started_at) < cutoff,
            MonitoringRun.id.not_in(cited),
        )
        .order_by(MonitoringRun.id)
    ).all()


def _delete_runs(session: Session, ids: list[Any]) -> list[Path]:
    session.execute(delete(MetricResult).where(MetricResult.monitoring_run_id.in_(ids)))
    session.execute(delete(MonitoringRun).where(MonitoringRun.id.in_(ids)))
    return []


def _alerts(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
    live = select(Incident.id).where(
        (Incident.status != "closed") | Incident.ref.in_(holds.incidents)
    )
    return session.execute(
        select(Alert.id, Alert.model_id, Alert.created_at)
        .where(
            Alert.created_at < cutoff,
            Alert.status.in_(DONE_ALERT_STATUSES),
            Alert.incident_id.is_(None) | Alert.incident_id.not_in(live),
        )
        .order_by(Alert.id)
    ).all()


def _older_than_cutoff(
    table: Any, moment: Any
) -> Callable[[Session, datetime, ActiveHolds], Sequence[Any]]:
    """The rows of a per-model table whose ``moment`` column is before the cutoff."""

    def candidates(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
        return session.execute(
            select(table.id, table.model_id, moment).where(moment < cutoff).order_by(table.id)
        ).all()

    return candidates


def _heartbeats(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
    return session.execute(
        select(GatewayHeartbeat.instance, literal(None), GatewayHeartbeat.last_seen)
        .where(GatewayHeartbeat.last_seen < cutoff)
        .order_by(GatewayHeartbeat.instance)
    ).all()


def _routes(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
    current = select(func.max(RouteChange.id)).group_by(RouteChange.model_id)
    return session.execute(
        select(RouteChange.id, RouteChange.model_id, RouteChange.recorded_at)
        .where(
            RouteChange.recorded_at < cutoff,
            RouteChange.id.not_in(current),
            RouteChange.deployment_ref.is_(None)
            | RouteChange.deployment_ref.not_in(list(holds.deployments)),
        )
        .order_by(RouteChange.id)
    ).all()


def _deleting(model: Any, key: Any) -> Callable[[Session, list[Any]], list[Path]]:
    def remove(session: Session, ids: list[Any]) -> list[Path]:
        session.execute(delete(model).where(key.in_(ids)))
        return []

    return remove


def _deployments(session: Session, cutoff: datetime, holds: ActiveHolds) -> Sequence[Any]:
    served = select(Route.deployment_ref).where(Route.deployment_ref.is_not(None))
    return session.execute(
        select(Deployment.id, Deployment.model_id, Deployment.closed_at)
        .where(
            Deployment.closed_at < cutoff,
            Deployment.ref.not_in(served),
            Deployment.ref.not_in(list(holds.deployments)),
        )
        .order_by(Deployment.id)
    ).all()


def _deleting_serving_stats(session: Session, ids: list[Any]) -> list[Path]:
    """Minute counters, and their counts from their hours' sums (``serving_stat_hours``)."""
    doomed = session.execute(
        select(
            ServingStat.instance,
            ServingStat.model_id,
            ServingStat.version,
            ServingStat.minute,
            *(getattr(ServingStat, name) for name in SERVING_COUNT_COLUMNS),
        ).where(ServingStat.id.in_(ids))
    ).all()
    add_to_hours(
        session,
        (
            (
                *row[:4],
                {name: -value for name, value in zip(SERVING_COUNT_COLUMNS, row[4:], strict=True)},
            )
            for row in doomed
        ),
    )
    session.execute(delete(ServingStat).where(ServingStat.id.in_(ids)))
    return []


def _deleting_deployments(data_dir: Path) -> Callable[[Session, list[Any]], list[Path]]:
    def remove(session: Session, ids: list[Any]) -> list[Path]:
        refs = session.scalars(select(Deployment.ref).where(Deployment.id.in_(ids))).all()
        for child in (DeploymentStep, DeploymentApproval, ChecklistEvidence, RolloutStage):
            session.execute(delete(child).where(child.deployment_id.in_(ids)))
        session.execute(
            update(StageHistory)
            .where(StageHistory.deployment_id.in_(ids))
            .values(deployment_id=None)
        )
        session.execute(delete(Deployment).where(Deployment.id.in_(ids)))
        return [Path(data_dir) / READINESS_DIR / ref for ref in refs]

    return remove


_ROW_TYPES: dict[str, Selector] = {
    "monitoring_records": (_runs, _delete_runs),
    "alerts": (_alerts, _deleting(Alert, Alert.id)),
    "serving_stats": (
        _older_than_cutoff(ServingStat, ServingStat.minute),
        _deleting_serving_stats,
    ),
    "serving_feedback": (
        _older_than_cutoff(ServingFeedback, ServingFeedback.recorded_at),
        _deleting(ServingFeedback, ServingFeedback.id),
    ),
    "gateway_heartbeats": (_heartbeats, _deleting(GatewayHeartbeat, GatewayHeartbeat.instance)),
    "route_history": (_routes, _deleting(RouteChange, RouteChange.id)),
}


def _purge_rows(
    result: Purge,
    selector: Selector,
    cutoff: datetime,
    holds: ActiveHolds,
    dry_run: bool,
    batch: int,
    db_url: str | None,
) -> None:
    select_candidates, remove = selector
    with store.session_scope(db_url) as session:
        candidates = select_candidates(session, cutoff, holds)
    doomed = []
    for key, model_id, moment in candidates:
        assert moment < cutoff  # never younger than its period
        if holds.holds_model_at(model_id, moment):
            result.held += 1
        else:
            doomed.append(key)
    result.eligible = len(doomed)
    result.examples = [str(key) for key in doomed[:3]]
    if dry_run:
        return
    for first in range(0, len(doomed), batch):
        chunk = doomed[first : first + batch]
        # The delete and its audit event commit together, or neither does.
        with store.session_scope(db_url) as session:
            files = remove(session, chunk)
            record_event(
                session,
                actor=ACTOR,
                action=PURGED,
                target=f"retention:{result.data_type}",
                payload={
                    "data_type": result.data_type,
                    "period": result.period,
                    "cutoff": result.cutoff,
                    "count": len(chunk),
                    "first": str(chunk[0]),
                    "last": str(chunk[-1]),
                },
            )
        _remove_files(files)
        result.purged += len(chunk)
