"""Incident response (issue 4): what the incident sweeper and risk acceptances need.

Seed 004 sections 3 and 12. The escalation sweeper selects incidents by status, so the
status gets an index. A risk acceptance records the severity it suppresses (its expiry
reopens the incident only while the condition is still that bad), the days asked for, a
natural key so a retried request task files it once, and the request's and decision's
particulars (``details``).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_status", ["status"], unique=False)
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("severity", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("request_key", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_unique_constraint("uq_risk_acceptances_request_key", ["request_key"])


def downgrade() -> None:
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.drop_constraint("uq_risk_acceptances_request_key", type_="unique")
        batch_op.drop_column("details")
        batch_op.drop_column("request_key")
        batch_op.drop_column("days")
        batch_op.drop_column("severity")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_status")
