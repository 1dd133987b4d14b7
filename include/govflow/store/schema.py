"""The governance store: every record the seeds ask for, in one SQLAlchemy 2 schema.

Seed 004 sections 4-7 (baselines, monitoring records, incidents, alerts, retention), seed 001
section 8 (deployment records), seed 003 (model registry, kill switches, audit trail).

Invariants live here rather than in application code, so that a retried or cleared Airflow
task cannot write a record twice and two writers cannot break a rule between them:
- natural unique keys (``run_key``, ``idempotency_key``, ``event_key``, ``(deployment, step)``);
- at most one active baseline per model (a partial unique index);
- at most one open incident per dedup key and one active kill switch per scope and target
  (a unique column that is set while open and cleared on close, portable to any backend);
- the audit chain cannot fork (``prev_hash`` is unique).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from govflow.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Json: JSON(),
        list[Any]: JSON(),
    }


class Model(Base):
    """A registered model (seed 003 "Model Registry"): owner and business purpose are required."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(64))
    risk_tier: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128))
    business_purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deprecated_at: Mapped[datetime | None]
    deprecation_reason: Mapped[str | None] = mapped_column(Text)

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model")


class ModelVersion(Base):
    """One trained artefact of a model with its lineage inputs (training snapshot, features)."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    version: Mapped[str] = mapped_column(String(64))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    training_snapshot_id: Mapped[str] = mapped_column(String(128))
    feature_version: Mapped[str] = mapped_column(String(64))
    validation_uri: Mapped[str | None] = mapped_column(Text)
    validation_metrics: Mapped[Json] = mapped_column(default=dict)
    decision_threshold: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions")


class RegistryDecision(Base):
    """Approval workflow of a model version: draft -> pending -> approved / rejected."""

    __tablename__ = "registry_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    justification: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageHistory(Base):
    """Where a model version has been deployed: shadow, canary, production, retired."""

    __tablename__ = "stage_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    deployed_by: Mapped[str] = mapped_column(String(128))
    notes: Mapped[str] = mapped_column(Text, default="")
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Baseline(Base):
    """Seed 004 section 4: a versioned, immutable reference profile; one active per model."""

    __tablename__ = "baselines"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index(
            "uq_baselines_one_active_per_model",
            "model_id",
            unique=True,
            sqlite_where=text("is_active = 1"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    model_version: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    profile: Mapped[Json] = mapped_column(default=dict)
    reference_sample_uri: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]
    # Who approved the change (section 4.2): null for the automatic triggers.
    approved_by: Mapped[str | None] = mapped_column(String(128))
    # The section 4.2 trigger and what the baseline was built from (window, deployment, ...).
    details: Mapped[Json] = mapped_column(default=dict, server_default=text("'{}'"))


class MonitoringRun(Base):
    """One analysis of one model over one data interval (seed 004 section 5.1 record-keeping)."""

    __tablename__ = "monitoring_runs"
    __table_args__ = (
        UniqueConstraint("model_id", "run_key"),
        # A model's newest records first (the dashboard's Drift Overview and Model Health).
        Index("ix_monitoring_runs_model_interval_end", "model_id", "interval_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    run_key: Mapped[str] = mapped_column(String(255))
    cadence: Mapped[str] = mapped_column(String(16))
    checks: Mapped[list[Any]] = mapped_column(default=list)
    dag_id: Mapped[str | None] = mapped_column(String(250))
    dag_run_id: Mapped[str | None] = mapped_column(String(250))
    interval_start: Mapped[datetime]
    interval_end: Mapped[datetime]
    baseline_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    severity: Mapped[str | None] = mapped_column(String(16))
    composite_score: Mapped[float | None] = mapped_column(Float)
    composite_breakdown: Mapped[Json] = mapped_column(default=dict)
    # Per protected attribute and window, the day's group counts (what later days pool).
    fairness_counts: Mapped[Json] = mapped_column(default=dict, server_default=text("'{}'"))
    # The window's rows per logged model version (a phased rollout's candidate among them);
    # empty for a log without the column and for records older than it.
    model_versions: Mapped[Json] = mapped_column(default=dict, server_default=text("'{}'"))
    # An analysis of a day long past (a backfill): recorded and reported, never alerted on.
    historical: Mapped[bool] = mapped_column(default=False, server_default=false())
    report_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    retain_until: Mapped[datetime | None]


class MetricResult(Base):
    """One metric of one monitoring run, with the thresholds and severity it was judged by."""

    __tablename__ = "metric_results"
    __table_args__ = (UniqueConstraint("monitoring_run_id", "check_type", "metric", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    monitoring_run_id: Mapped[int] = mapped_column(ForeignKey("monitoring_runs.id"))
    check_type: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255), default="")
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    severity: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[Json] = mapped_column(default=dict)
    details: Mapped[Json] = mapped_column(default=dict)


class Incident(Base):
    """Seed 004 section 3 and seed 000 "Incident Response": one incident per problem while open."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    model_id: Mapped[str | None] = mapped_column(ForeignKey("models.id"))
    category: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    dedup_key: Mapped[str] = mapped_column(String(255), index=True)
    open_dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(128))
    assigned_to: Mapped[str | None] = mapped_column(String(128))
    source_run_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_runs.id"))
    details: Mapped[Json] = mapped_column(default=dict)
    root_cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    postmortem_due: Mapped[datetime | None]


class IncidentEvent(Base):
    """The incident timeline: who did what, when; ``event_key`` makes each write idempotent."""

    __tablename__ = "incident_events"
    __table_args__ = (UniqueConstraint("incident_id", "event_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    event_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[Json] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """The alert outbox (seed 004 sections 2.1 and 11): delivered once, retried while failing."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    # Comma-joined e-mail recipients can be long (migration 0016).
    destination: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str | None] = mapped_column(String(128))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    payload: Mapped[Json] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    retain_until: Mapped[datetime | None]
    # The delivery claim: who is sending the row right now, and since when (lease).
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None]


class RiskAcceptance(Base):
    """Seed 004 section 12: an accepted-risk exception, suppressing alerts for at most 30 days."""

    __tablename__ = "risk_acceptances"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    metric: Mapped[str] = mapped_column(String(64))
    rationale: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    suppression_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    # The severity suppressed: at expiry the incident reopens only if it is still reached.
    severity: Mapped[str | None] = mapped_column(String(16))
    days: Mapped[int | None] = mapped_column(Integer)
    # Natural key of the request (e.g. the DAG run), so a retried task files it once.
    request_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    details: Mapped[Json] = mapped_column(default=dict, server_default=text("'{}'"))


class Deployment(Base):
    """Seed 001: one run of PROC-AI-DEPLOY-001 (REC-AI-DEPLOY-001..004, kept 10 years)."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    dag_run_id: Mapped[str | None] = mapped_column(String(250), unique=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    model_version: Mapped[str] = mapped_column(String(64))
    deployment_type: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), default="planning", index=True)
    go_live: Mapped[str | None] = mapped_column(String(8))
    recommendation: Mapped[str | None] = mapped_column(String(32))
    report_path: Mapped[str | None] = mapped_column(Text)
    details: Mapped[Json] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    retain_until: Mapped[datetime | None]


class DeploymentStep(Base):
    """A step (1-20) of a deployment with the evidence it produced."""

    __tablename__ = "deployment_steps"
    __table_args__ = (UniqueConstraint("deployment_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    step: Mapped[int] = mapped_column(Integer)
    phase: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    evidence: Mapped[Json] = mapped_column(default=dict)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentApproval(Base):
    """FORM-AI-DEPLOY-002: one decision per required role of a deployment.

    ``approver`` is empty when the request timed out; ``details`` keeps the assignees, the
    conditions attached to the decision and the request's subject and timeout.
    """

    __tablename__ = "deployment_approvals"
    __table_args__ = (UniqueConstraint("deployment_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    role: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[Json] = mapped_column(default=dict)


class ChecklistEvidence(Base):
    """A checklist item's outcome: verified automatically with evidence, or attested by a person."""

    __tablename__ = "checklist_evidence"
    __table_args__ = (UniqueConstraint("deployment_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    checklist: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    verification: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[Json] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class RolloutStage(Base):
    """Seed 000 "Phased Rollout": one stage of one deployment and its gate decision."""

    __tablename__ = "rollout_stages"
    __table_args__ = (UniqueConstraint("deployment_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    stage: Mapped[str] = mapped_column(String(16))
    traffic_share: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    gate: Mapped[Json] = mapped_column(default=dict)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class Route(Base):
    """Issue 6: the reference deployment target's routing table, one row per model.

    ``splits`` maps each audience (internal, external) to its active version, candidate
    version and the candidate's share of that audience's traffic; ``config`` is the serving
    configuration in effect (the decision threshold of each routed version). Every change
    bumps ``revision`` and is kept in ``route_history``.
    """

    __tablename__ = "routes"

    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    splits: Mapped[Json] = mapped_column()
    config: Mapped[Json] = mapped_column(default=dict)
    deployment_ref: Mapped[str | None] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RouteChange(Base):
    """One revision of a model's route: what it routed, who changed it and why."""

    __tablename__ = "route_history"
    __table_args__ = (UniqueConstraint("model_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    revision: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    splits: Mapped[Json] = mapped_column()
    config: Mapped[Json] = mapped_column(default=dict)
    deployment_ref: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


# The upper bounds (ms) of the gateway's latency buckets, the ``latency_le_<bound>ms``
# columns of ``serving_stats``; ``latency_over_<last>ms`` counts the slower calls.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500)
LATENCY_BUCKET_COLUMNS = (
    *(f"latency_le_{bound}ms" for bound in LATENCY_BUCKETS_MS),
    f"latency_over_{LATENCY_BUCKETS_MS[-1]}ms",
)


class ServingCounts:
    """What one gateway (``instance``) counts for one model version over a period: requests
    and their outcomes, and the latency histogram of the predict calls counted under it.

    Each ``latency_le_<bound>ms`` column counts the calls slower than the previous bound and
    at most ``<bound>`` ms, and ``latency_us_sum`` their total time in whole microseconds: a
    fixed number of columns however much traffic, summable in SQL over any window.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    instance: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    clipped: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    latency_us_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_le_5ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_10ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_25ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_50ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_100ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_250ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_500ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_1000ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_2500ms: Mapped[int] = mapped_column(Integer, default=0)
    latency_over_2500ms: Mapped[int] = mapped_column(Integer, default=0)


SERVING_COUNT_COLUMNS = (
    "requests",
    "errors",
    "invalid",
    "clipped",
    "fallbacks",
    "latency_us_sum",
    *LATENCY_BUCKET_COLUMNS,
)


class ServingStat(ServingCounts, Base):
    """A serving gateway's counts for one model version and one minute (cumulative)."""

    __tablename__ = "serving_stats"
    __table_args__ = (
        UniqueConstraint("instance", "model_id", "version", "minute"),
        Index("ix_serving_stats_model_minute", "model_id", "minute"),
    )

    minute: Mapped[datetime] = mapped_column()


class ServingStatHour(ServingCounts, Base):
    """The sum of one gateway's ``serving_stats`` rows for one model version and one hour,
    kept in step with them by ``govflow.store.serving_hours``: Model Health reads a day of
    a fleet's counts from 24 rows a model and version instead of 1,440."""

    __tablename__ = "serving_stat_hours"
    __table_args__ = (
        UniqueConstraint("instance", "model_id", "version", "hour"),
        Index("ix_serving_stat_hours_model_hour", "model_id", "hour"),
    )

    hour: Mapped[datetime] = mapped_column()


class GatewayHeartbeat(Base):
    """A live serving gateway and the route revision it serves per model."""

    __tablename__ = "gateway_heartbeats"

    instance: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    revisions: Mapped[Json] = mapped_column(default=dict)


class ServingFeedback(Base):
    """Seed 000 stage gates and rollback criteria: a bug, complaint, override, security
    vulnerability or regulatory concern recorded against a model (version)."""

    __tablename__ = "serving_feedback"
    __table_args__ = (Index("ix_serving_feedback_model_recorded", "model_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    version: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    prediction_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class KillSwitch(Base):
    """Seed 003: a scoped kill switch; ``active_key`` keeps one active per scope and target."""

    __tablename__ = "kill_switches"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255))
    active_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    activated_by: Mapped[str] = mapped_column(String(128))
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_by: Mapped[str | None] = mapped_column(String(128))
    deactivated_at: Mapped[datetime | None]
    recovery_notes: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Seed 003 audit logger, seed 004 section 5: an append-only, hash-chained event."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    payload: Mapped[Json] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The rule ``hash`` was computed by (govflow.audit.chain): 1 before idempotency_key was
    # covered, 2 since.
    hash_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class LegalHold(Base):
    """A legal hold (issue 15): what it covers is never purged while it is active. Released
    holds stay on record."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    # model, incident, deployment (target names it) or range (every record of the span).
    scope: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(255))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(128))
    release_reason: Mapped[str | None] = mapped_column(Text)
