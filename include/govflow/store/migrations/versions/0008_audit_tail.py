"""An audit trail whose tail cannot be cut off unseen (issue 13 item 6).

- ``audit_events.hash_version``: the events written so far keep hash version 1 (their
  idempotency key is not covered); new events are hashed under version 2, which covers
  every stored field.
- On Postgres, a statement trigger refuses TRUNCATE, which the row trigger of 0001 (UPDATE,
  DELETE) never sees. Who may bypass the triggers is a matter of roles: see
  ``govflow.store.roles``.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The function of 0001 names the refused operation (TG_OP), TRUNCATE included.
NO_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION govflow_audit_events_append_only()
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hash_version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NO_TRUNCATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash_version")
