"""Fixtures shared by every test layer: a fresh governance store on SQLite or Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import running_postgres


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One Postgres cluster for the whole session, on 127.0.0.1, stopped at the end."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'govflow.db'}"


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """An empty schema-less database: every test gets the cluster's database wiped clean."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield postgres_server_url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request) -> str:
    """The same test on SQLite and on a real Postgres."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
