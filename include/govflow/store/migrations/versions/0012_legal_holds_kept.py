"""Legal holds that no one can quietly lift (issue 15 item 2: "released holds stay on record").

A hold is only ever released, once: triggers refuse DELETE and TRUNCATE of ``legal_holds``
and any UPDATE but the first release (setting ``released_at``, ``released_by`` and
``release_reason`` of a hold still active). Without them, whoever holds the store's
credentials could delete a hold, purge what it kept, and leave no trace of either. On
Postgres the application role also loses DELETE and TRUNCATE on the table (see
``govflow.store.roles``), and cannot disable the triggers of a table it does not own.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER_DELETED = "legal holds are never deleted: release one instead"
RELEASED_ONCE = "a legal hold is only ever released, once; nothing else of it changes"
# Everything but the release columns, which only the first release sets.
_FIXED = ("scope", "target", "starts_at", "ends_at", "reason", "created_by", "created_at")
_CHANGED_SQLITE = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED)
_CHANGED_POSTGRES = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FIXED)

SQLITE = [
    f"""CREATE TRIGGER legal_holds_never_deleted BEFORE DELETE ON legal_holds
BEGIN SELECT RAISE(ABORT, '{NEVER_DELETED}'); END""",
    f"""CREATE TRIGGER legal_holds_released_once BEFORE UPDATE ON legal_holds
WHEN OLD.released_at IS NOT NULL OR NEW.released_at IS NULL OR {_CHANGED_SQLITE}
BEGIN SELECT RAISE(ABORT, '{RELEASED_ONCE}'); END""",
]
POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION govflow_legal_holds_kept() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '{NEVER_DELETED}';
    END IF;
    IF OLD.released_at IS NOT NULL OR NEW.released_at IS NULL OR {_CHANGED_POSTGRES} THEN
        RAISE EXCEPTION '{RELEASED_ONCE}';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER legal_holds_kept BEFORE UPDATE OR DELETE ON legal_holds
FOR EACH ROW EXECUTE FUNCTION govflow_legal_holds_kept()""",
    """CREATE TRIGGER legal_holds_no_truncate BEFORE TRUNCATE ON legal_holds
FOR EACH STATEMENT EXECUTE FUNCTION govflow_legal_holds_kept()""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES if dialect == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS legal_holds_no_truncate ON legal_holds")
        op.execute("DROP TRIGGER IF EXISTS legal_holds_kept ON legal_holds")
        op.execute("DROP FUNCTION IF EXISTS govflow_legal_holds_kept()")
    else:
        op.execute("DROP TRIGGER IF EXISTS legal_holds_released_once")
        op.execute("DROP TRIGGER IF EXISTS legal_holds_never_deleted")
