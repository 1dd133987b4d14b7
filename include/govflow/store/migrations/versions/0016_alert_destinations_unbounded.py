"""An alert's destination is as long as its recipients make it.

An e-mail alert's destination is its recipients' addresses joined by commas: an escalation
or a digest to a role of many people (or people with long addresses) passes 255 characters,
which Postgres refused (the alert, and the task that enqueued it, failed). The column
becomes TEXT. SQLite does not enforce a VARCHAR's length, so only Postgres is altered.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("alerts", "destination", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    # Fails while an alert's destination is longer than 255 characters: nothing is cut.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("alerts", "destination", type_=sa.String(255), existing_nullable=False)
