"""Baseline management (issue 4 item 6): columns approved resets and refreshes need.

Seed 004 section 4.2: a reset records who approved it (the ML lead or the CTO; null for the
automatic triggers), and every baseline records which trigger created it and from what data
(the prediction-log window, the deployment) in ``details``.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("baselines", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("approved_by")
