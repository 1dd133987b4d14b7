"""Initial governance store: registry, baselines, monitoring, incidents, alerts, deployments,
kill switches and the hash-chained audit trail.

On Postgres a trigger refuses UPDATE and DELETE on audit_events (seed 003: immutable audit
trail); on SQLite the hash chain alone detects tampering (``govflow audit verify``).

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govflow.store.types

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION govflow_audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION govflow_audit_events_append_only()
"""


def upgrade() -> None:
    """Create every table; on Postgres make audit_events append-only."""
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_events_event_id")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_audit_events_idempotency_key")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_events_target"), ["target"], unique=False)

    op.create_table(
        "kill_switches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("active_key", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("activated_by", sa.String(length=128), nullable=False),
        sa.Column("activated_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deactivated_by", sa.String(length=128), nullable=True),
        sa.Column("deactivated_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recovery_notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kill_switches")),
        sa.UniqueConstraint("active_key", name=op.f("uq_kill_switches_active_key")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("model_type", sa.String(length=64), nullable=False),
        sa.Column("risk_tier", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("business_purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deprecated_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deprecation_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
    )
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("reference_sample_uri", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_baselines_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_baselines_model_id_version")),
    )
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.create_index(
            "uq_baselines_one_active_per_model",
            ["model_id"],
            unique=True,
            sqlite_where=sa.text("is_active = 1"),
            postgresql_where=sa.text("is_active"),
        )

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("dag_run_id", sa.String(length=250), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("deployment_type", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("go_live", sa.String(length=8), nullable=True),
        sa.Column("recommendation", sa.String(length=32), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retain_until", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_deployments_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("dag_run_id", name=op.f("uq_deployments_dag_run_id")),
        sa.UniqueConstraint("ref", name=op.f("uq_deployments_ref")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("training_snapshot_id", sa.String(length=128), nullable=False),
        sa.Column("feature_version", sa.String(length=64), nullable=False),
        sa.Column("validation_uri", sa.Text(), nullable=True),
        sa.Column("validation_metrics", sa.JSON(), nullable=False),
        sa.Column("decision_threshold", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_versions_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_model_versions_model_id_version")),
    )
    op.create_table(
        "monitoring_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("run_key", sa.String(length=255), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("dag_run_id", sa.String(length=250), nullable=True),
        sa.Column("interval_start", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("interval_end", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("baseline_version", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("composite_score", sa.Float(), nullable=True),
        sa.Column("composite_breakdown", sa.JSON(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retain_until", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_monitoring_runs_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_runs")),
        sa.UniqueConstraint(
            "model_id", "run_key", name=op.f("uq_monitoring_runs_model_id_run_key")
        ),
    )
    op.create_table(
        "checklist_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("checklist", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("verification", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_checklist_evidence_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_evidence")),
        sa.UniqueConstraint(
            "deployment_id", "item_id", name=op.f("uq_checklist_evidence_deployment_id_item_id")
        ),
    )
    op.create_table(
        "deployment_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_approvals_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_approvals")),
        sa.UniqueConstraint(
            "deployment_id", "role", name=op.f("uq_deployment_approvals_deployment_id_role")
        ),
    )
    op.create_table(
        "deployment_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("completed_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_steps_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_steps")),
        sa.UniqueConstraint(
            "deployment_id", "step", name=op.f("uq_deployment_steps_deployment_id_step")
        ),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("open_dedup_key", sa.String(length=255), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("assigned_to", sa.String(length=128), nullable=True),
        sa.Column("source_run_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("corrective_action", sa.Text(), nullable=True),
        sa.Column("opened_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("postmortem_due", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_incidents_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["source_run_id"],
            ["monitoring_runs.id"],
            name=op.f("fk_incidents_source_run_id_monitoring_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("open_dedup_key", name=op.f("uq_incidents_open_dedup_key")),
        sa.UniqueConstraint("ref", name=op.f("uq_incidents_ref")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_dedup_key"), ["dedup_key"], unique=False)

    op.create_table(
        "metric_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitoring_run_id", sa.Integer(), nullable=False),
        sa.Column("check_type", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitoring_run_id"],
            ["monitoring_runs.id"],
            name=op.f("fk_metric_results_monitoring_run_id_monitoring_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_results")),
        sa.UniqueConstraint(
            "monitoring_run_id",
            "check_type",
            "metric",
            "subject",
            name=op.f("uq_metric_results_monitoring_run_id_check_type_metric_subject"),
        ),
    )
    op.create_table(
        "registry_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("decided_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_registry_decisions_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_decisions")),
    )
    with op.batch_alter_table("registry_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_decisions_model_version_id"), ["model_version_id"], unique=False
        )

    op.create_table(
        "rollout_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("traffic_share", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("started_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_rollout_stages_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_stages")),
        sa.UniqueConstraint(
            "deployment_id", "stage", name=op.f("uq_rollout_stages_deployment_id_stage")
        ),
    )
    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("deployed_by", sa.String(length=128), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("deployed_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_stage_history_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_stage_history_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
    )
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stage_history_model_version_id"), ["model_version_id"], unique=False
        )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retain_until", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_alerts_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_alerts_idempotency_key")),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
        sa.UniqueConstraint(
            "incident_id", "event_key", name=op.f("uq_incident_events_incident_id_event_key")
        ),
    )
    op.create_table(
        "risk_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "suppression_until", govflow.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", govflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_risk_acceptances_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_risk_acceptances_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_acceptances")),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    """Drop every table (and the Postgres trigger)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS govflow_audit_events_append_only()")
    op.drop_table("risk_acceptances")
    op.drop_table("incident_events")
    op.drop_table("alerts")
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_history_model_version_id"))

    op.drop_table("stage_history")
    op.drop_table("rollout_stages")
    with op.batch_alter_table("registry_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_decisions_model_version_id"))

    op.drop_table("registry_decisions")
    op.drop_table("metric_results")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_dedup_key"))

    op.drop_table("incidents")
    op.drop_table("deployment_steps")
    op.drop_table("deployment_approvals")
    op.drop_table("checklist_evidence")
    op.drop_table("monitoring_runs")
    op.drop_table("model_versions")
    op.drop_table("deployments")
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_baselines_one_active_per_model",
            sqlite_where=sa.text("is_active = 1"),
            postgresql_where=sa.text("is_active"),
        )

    op.drop_table("baselines")
    op.drop_table("models")
    op.drop_table("kill_switches")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_target"))
        batch_op.drop_index(batch_op.f("ix_audit_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
