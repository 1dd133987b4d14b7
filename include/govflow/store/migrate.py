"""Alembic migrations of the governance store, run from code so no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from govflow import settings
from govflow.store.engine import engine_for
from govflow.store.roles import grant_application_role

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _alembic_config(url: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine_for(url)
    return config


def upgrade(url: str | None = None, revision: str = "head", *, app_role: str | None = None) -> None:
    """Migrate the store; with ``app_role`` (Postgres), confine the role govflow runs as to
    appending to the audit trail (``govflow.store.roles``), on every run, so that tables of
    new migrations are granted too and an existing store can be confined later."""
    command.upgrade(_alembic_config(url), revision)
    if app_role is not None:
        with engine_for(url).begin() as connection:
            grant_application_role(connection, app_role)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(_alembic_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def current_revision(url: str | None = None) -> str | None:
    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def store_exists(url: str | None = None) -> bool:
    """Whether govflow has created a store at ``url``, found without creating one (connecting
    to a SQLite file that is not there would make an empty one)."""
    resolved = url or settings.db_url()
    parsed = settings.parse_url(resolved, settings.DB_URL_ENV)
    in_memory = parsed.database in (None, "", ":memory:")
    on_file = parsed.get_backend_name() == "sqlite" and not in_memory
    if on_file and not Path(str(parsed.database)).is_file():
        return False
    return current_revision(resolved) is not None


def ensure_schema(url: str | None = None) -> None:
    """Upgrade the store to the newest schema if it is behind (cheap when it is not)."""
    if current_revision(url) != head_revision():
        upgrade(url)
