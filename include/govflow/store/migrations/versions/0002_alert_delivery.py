"""Alert delivery: a claim (token and time) per outbox row, and an index for the outbox poll.

Seed 004 sections 2.1, 8 and 11: a delivery worker claims a row before sending it, so two
workers never both send it, and a claim older than the lease (a killed worker) can be
taken over.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govflow.store.types

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("claimed_at", govflow.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_alerts_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_status_next_attempt_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claim_token")
