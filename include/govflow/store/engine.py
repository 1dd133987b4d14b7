"""Engines and sessions for the governance store.

SQLite is the embedded default. Several processes write to it at once (scheduler-launched
tasks, the CLI, the serving gateway), so every SQLite transaction starts with
``BEGIN IMMEDIATE``: writers queue on the database lock (with a busy timeout) instead of
failing half-way through, and WAL lets readers go on while one writes. A session that only
reads (``session_scope(..., read_only=True)``) begins a deferred transaction instead, so a
long-running writer never keeps it waiting (the api-server's guard reads on the path of a
person's answer). SQLite connections are not pooled: each session opens the file the URL
names now, so a long-lived process (the api-server, the gateway) follows a store that was
replaced (``govflow demo seed`` again) instead of writing into the old file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from govflow import settings

SQLITE_BUSY_TIMEOUT_MS = 60_000
_engines: dict[str, Engine] = {}


def engine_for(url: str | None = None) -> Engine:
    """One engine per URL and process; the default URL comes from ``GOVFLOW_DB_URL``."""
    resolved = url or settings.db_url()
    engine = _engines.get(resolved)
    if engine is None:
        engine = _create_engine(resolved)
        _engines[resolved] = engine
    return engine


def _create_engine(url: str) -> Engine:
    parsed = settings.parse_url(url, settings.DB_URL_ENV)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True, future=True)
        except (ArgumentError, ImportError) as error:  # no such dialect or driver here
            raise settings.BadUrl(f"{settings.DB_URL_ENV}: {error}") from None
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    in_memory = not parsed.database or parsed.database == ":memory:"
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({} if in_memory else {"poolclass": NullPool}),
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see _begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "govflow_read_only"


def shown_url(url: str | None = None) -> str:
    """The store URL as it may be printed or logged: with its password masked."""
    parsed = settings.parse_url(url or settings.db_url(), settings.DB_URL_ENV)
    return parsed.render_as_string(hide_password=True)


@contextmanager
def session_scope(url: str | None = None, *, read_only: bool = False) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises; a
    ``read_only`` one takes no write lock on SQLite (it must not write)."""
    engine = engine_for(url)
    bind = engine.execution_options(**{_READ_ONLY: True}) if read_only else engine
    factory = sessionmaker(bind=bind, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
