"""The gateway's latency (issue 16 item 2): a per-minute histogram beside its counters.

Model Health shows each model's latency from the gateway's counters. Each ``serving_stats``
row gains the total time of the predict calls it counts (whole microseconds, so that sums
stay exact) and their number per latency bucket (``govflow.store.schema.LATENCY_BUCKETS_MS``):
a fixed width per minute, summable over any window. Rows written before this revision count
no call (zero), which the dashboard shows as no latency recorded, not as fast calls.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision; the schema's constants may move on, this migration may not.
BUCKET_COLUMNS = (
    "latency_le_5ms",
    "latency_le_10ms",
    "latency_le_25ms",
    "latency_le_50ms",
    "latency_le_100ms",
    "latency_le_250ms",
    "latency_le_500ms",
    "latency_le_1000ms",
    "latency_le_2500ms",
    "latency_over_2500ms",
)


def upgrade() -> None:
    with op.batch_alter_table("serving_stats", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "latency_us_sum", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            )
        )
        for name in BUCKET_COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
            )


def downgrade() -> None:
    with op.batch_alter_table("serving_stats", schema=None) as batch_op:
        for name in reversed(BUCKET_COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("latency_us_sum")
