"""The governance store: engine, sessions, migrations (SQLite default, Postgres in production)."""

from govflow.store.engine import engine_for, session_scope, shown_url
from govflow.store.migrate import (
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    store_exists,
    upgrade,
)
from govflow.store.roles import RoleError

__all__ = [
    "RoleError",
    "current_revision",
    "downgrade",
    "engine_for",
    "ensure_schema",
    "head_revision",
    "session_scope",
    "shown_url",
    "store_exists",
    "upgrade",
]
