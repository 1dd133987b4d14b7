"""Serving and rollout (issue 6): the routing table, serving counters and feedback.

The reference deployment target keeps one route per model (``routes``) and every revision of
it (``route_history``), so a rollback restores the version and configuration in effect
before a deployment. Serving gateways report their counters per minute (``serving_stats``)
and the route revision they serve (``gateway_heartbeats``); bugs, complaints, overrides,
security vulnerabilities and regulatory concerns are recorded in ``serving_feedback`` for
the stage gates and rollback criteria of seed 000.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govflow.store.types

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, govflow.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("splits", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("deployment_ref", sa.String(length=64), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_routes_model_id_models")
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_routes")),
    )
    op.create_table(
        "route_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("splits", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("deployment_ref", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _timestamp("recorded_at"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_route_history_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_history")),
        sa.UniqueConstraint(
            "model_id", "revision", name=op.f("uq_route_history_model_id_revision")
        ),
    )
    op.create_table(
        "serving_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        _timestamp("minute"),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("clipped", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_stats")),
        sa.UniqueConstraint(
            "instance",
            "model_id",
            "version",
            "minute",
            name=op.f("uq_serving_stats_instance_model_id_version_minute"),
        ),
    )
    op.create_index("ix_serving_stats_model_minute", "serving_stats", ["model_id", "minute"])
    op.create_table(
        "gateway_heartbeats",
        sa.Column("instance", sa.String(length=64), nullable=False),
        _timestamp("started_at"),
        _timestamp("last_seen"),
        sa.Column("revisions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_gateway_heartbeats")),
    )
    op.create_table(
        "serving_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("prediction_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        _timestamp("recorded_at"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_serving_feedback_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_feedback")),
    )
    op.create_index(
        "ix_serving_feedback_model_recorded", "serving_feedback", ["model_id", "recorded_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_serving_feedback_model_recorded", table_name="serving_feedback")
    op.drop_table("serving_feedback")
    op.drop_table("gateway_heartbeats")
    op.drop_index("ix_serving_stats_model_minute", table_name="serving_stats")
    op.drop_table("serving_stats")
    op.drop_table("route_history")
    op.drop_table("routes")
