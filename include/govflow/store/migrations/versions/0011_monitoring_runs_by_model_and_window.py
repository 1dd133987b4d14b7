"""The dashboard at fleet size (issue 16 item 6): monitoring records by model and window.

Drift Overview and Model Health read each model's newest records, newest window first.
Without this index SQLite finds a model's records through (model_id, run_key), then reads and
sorts every one of them, a year of records for each of 200 models on every page view.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_monitoring_runs_model_interval_end", "monitoring_runs", ["model_id", "interval_end"]
    )


def downgrade() -> None:
    op.drop_index("ix_monitoring_runs_model_interval_end", table_name="monitoring_runs")
