"""Fairness judged on evidence (issue 17): each monitoring record keeps the day's group counts.

A group too small to judge on one day is judged on the pooled counts of the last few days;
the counts of each day (per protected attribute and window, ``GroupCounts.to_dict()``) are
kept with the day's record so that pooling reads records, not the days' prediction logs.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fairness_counts", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.drop_column("fairness_counts")
