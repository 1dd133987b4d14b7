"""History on day one (issue 14): a monitoring record can be historical.

An analysis of a day long past (``govflow monitor backfill``, or Airflow's own backfill of a
monitoring DAG) is recorded like any other, so it shows in records and reports, but it pages
no one and opens no incident.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("historical", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_runs", schema=None) as batch_op:
        batch_op.drop_column("historical")
