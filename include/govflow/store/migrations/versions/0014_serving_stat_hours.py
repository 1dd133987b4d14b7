"""Model Health at fleet size (issue 16 item 6): the gateway's counts summed per hour.

``serving_stat_hours`` holds the sum of each gateway's ``serving_stats`` rows per model,
version and hour (``govflow.store.serving_hours`` keeps it so), filled here from the minute
rows already stored.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from govflow.store.types import UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision; the schema's constants may move on, this migration may not.
SUMMED = (
    "requests",
    "errors",
    "invalid",
    "clipped",
    "fallbacks",
    "latency_us_sum",
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
KEY = ("instance", "model_id", "version")


def upgrade() -> None:
    hours = op.create_table(
        "serving_stat_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("hour", UTCDateTime(timezone=True), nullable=False),
        *(
            sa.Column(
                name,
                sa.BigInteger() if name == "latency_us_sum" else sa.Integer(),
                nullable=False,
            )
            for name in SUMMED
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_stat_hours")),
        sa.UniqueConstraint(
            *KEY, "hour", name=op.f("uq_serving_stat_hours_instance_model_id_version_hour")
        ),
    )
    op.create_index("ix_serving_stat_hours_model_hour", "serving_stat_hours", ["model_id", "hour"])
    # Summed in Python: truncating a timestamp to its hour differs between SQLite and
    # Postgres, and the minute rows are few (the gateway's retention period's worth).
    minutes = sa.table(
        "serving_stats",
        *(sa.column(name) for name in KEY),
        sa.column("minute", UTCDateTime(timezone=True)),
        *(sa.column(name) for name in SUMMED),
    )
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in op.get_bind().execute(sa.select(minutes)):
        hour = row.minute.replace(minute=0, second=0, microsecond=0)
        total = sums.setdefault((*(getattr(row, name) for name in KEY), hour), [0] * len(SUMMED))
        for index, name in enumerate(SUMMED):
            total[index] += getattr(row, name)
    if sums:
        op.bulk_insert(
            hours,
            [
                {
                    **dict(zip((*KEY, "hour"), key, strict=True)),
                    **dict(zip(SUMMED, total, strict=True)),
                }
                for key, total in sums.items()
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_serving_stat_hours_model_hour", table_name="serving_stat_hours")
    op.drop_table("serving_stat_hours")
