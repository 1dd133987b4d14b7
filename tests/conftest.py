"""Fixtures shared by every test layer: a fresh governance store on SQLite or Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.demo_store import snapshot_seeded_store
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


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The demo (35 days, 2000 rows a day, seed 7) seeded once per session into its own store.

    Yields (data_dir, db_url). Tests must not change what it holds; each test that writes
    monitoring records uses its own run keys.
    """
    from govflow import settings
    from govflow.config import load_config
    from govflow.demo.seeding import seed_demo

    data_dir = tmp_path_factory.mktemp("seeded-demo")
    url = f"sqlite:///{data_dir / 'govflow.db'}"
    seed_demo(data_dir, load_config(settings.config_dir()), days=35, db_url=url)
    snapshot_seeded_store(data_dir)
    yield str(data_dir), url


@pytest.fixture
def demo_env(seeded_demo, monkeypatch) -> tuple[str, str]:
    """The seeded demo as the process environment: GOVFLOW_DATA_DIR and GOVFLOW_DB_URL."""
    data_dir, url = seeded_demo
    monkeypatch.setenv("GOVFLOW_DATA_DIR", data_dir)
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    return data_dir, url


@pytest.fixture
def fresh_store_env(tmp_path, monkeypatch) -> str:
    """GOVFLOW_* pointing at a store that does not exist yet, in ``tmp_path``, and the
    repository's config/; returns the store URL."""
    from govflow import settings

    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(settings.config_dir()))
    return url
