"""Deployment procedure (issue 5): what FORM-AI-DEPLOY-002 records beyond role and decision.

Seed 001 step 11 ("Record approval decision, Document any conditions"): an approval keeps
who it was assigned to, the conditions attached to it and its request and timeout
(``details``). An approval request that times out is decided by nobody, so ``approver`` may
be empty. A deployment is looked up by status (the open ones, the authorised ones), so the
status gets an index.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment_approvals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.alter_column("approver", existing_type=sa.String(length=128), nullable=True)
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index("ix_deployments_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index("ix_deployments_status")
    with op.batch_alter_table("deployment_approvals", schema=None) as batch_op:
        batch_op.alter_column("approver", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column("details")
