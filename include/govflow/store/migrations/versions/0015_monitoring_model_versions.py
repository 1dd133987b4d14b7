"""Which versions a monitoring record's window held: its rows per logged ``model_version``.

During a phased rollout a day's window mixes the candidate's rows with the production
version's; the record keeps how many of each it analysed, so that a finding (its alert, its
incident, the dashboard) says its window held more than one version. Records written before
this revision say nothing of their versions (``{}``).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTERs, as in 0009: SQLite's batch mode would rebuild monitoring_runs, and dropping
# the old table fails on the foreign keys of metric_results and incidents.


def upgrade() -> None:
    op.add_column(
        "monitoring_runs",
        sa.Column("model_versions", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    op.drop_column("monitoring_runs", "model_versions")
