"""Fixtures shared by every test layer: a fresh governance store on SQLite or Postgres, the
seeded demo (seeded once per session, copied by each pytest-xdist worker), and a metadata DB
of its own for each worker."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from tests.support.demo_store import snapshot_seeded_store
from tests.support.postgres import running_postgres


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, each worker gets its own copy of the Airflow metadata DB (SQLite), so that
    two workers' ``dag.test()`` runs do not wait on each other's write lock."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not worker or not url.startswith("sqlite:///"):
        return
    source = Path(url.removeprefix("sqlite:///"))
    if not source.exists():
        return
    target = source.with_name(f"{source.stem}-{worker}{source.suffix}")
    with sqlite3.connect(source) as reader, sqlite3.connect(target) as writer:
        reader.backup(writer)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{target}"


# The files that take longest, in the order the two xdist workers should start them. Under
# `--dist loadfile --no-loadscope-reorder` a worker that runs low takes the next file of the
# collection: the long system modules then run side by side from the start and the many short
# files fill the end. (xdist's default order, by number of tests, started them last, so the
# session ended with one worker alone on a long module.) The first two: one worker seeds the
# session's demo for the deployment module while the other runs the fleet benchmark, which
# needs no demo.
LONGEST_FIRST = (
    "tests/system/test_model_deployment.py",
    "tests/system/test_fleet_benchmark_smoke.py",
    "tests/system/test_incident_response.py",
    "tests/system/test_rollout.py",
    "tests/system/test_celery_topology.py",
    "tests/system/test_baseline_rest_api.py",
    "tests/system/test_serving_gateway.py",
    "tests/system/test_deployment_browser.py",
    "tests/dags/test_monitoring_dags.py",
    "tests/unit/test_demo_seed.py",
    "tests/unit/test_baseline_management.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONGEST_FIRST first, every other file after them in the order collected."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One Postgres cluster for the whole session, on 127.0.0.1, stopped at the end."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'govflow.db'}"


@pytest.fixture
def postgres_url(postgres_server_url: str, tmp_path, monkeypatch) -> Iterator[str]:
    """An empty schema-less database: every test gets the cluster's database wiped clean, and
    a file of audit checkpoints of its own (those of the wiped store would not fit)."""
    from sqlalchemy import create_engine, text

    from govflow import settings

    engine = create_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    monkeypatch.setenv(settings.AUDIT_CHECKPOINTS_ENV, str(tmp_path / "audit-checkpoints.jsonl"))
    yield postgres_server_url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request) -> str:
    """The same test on SQLite and on a real Postgres."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


def _seed_once(directory: Path) -> None:
    """Seed the demo into ``directory`` unless a finished seed is already there."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.demo.seeding import seed_demo

    with FileLock(f"{directory}.lock"):
        if directory.exists():
            return
        seeding = directory.with_name(directory.name + ".partial")
        shutil.rmtree(seeding, ignore_errors=True)
        url = f"sqlite:///{seeding / 'govflow.db'}"
        seed_demo(seeding, load_config(settings.config_dir()), days=35, db_url=url)
        snapshot_seeded_store(seeding)
        seeding.rename(directory)


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory, worker_id: str) -> Iterator[tuple[str, str]]:
    """The demo (35 days, 2000 rows a day, seed 7) seeded once per session into its own store.

    Yields (data_dir, db_url). Tests must not change what it holds; each test that writes
    monitoring records uses its own run keys. Under xdist the first worker seeds it into the
    session's shared temp directory and every worker works on a copy of its own.
    """
    if worker_id == "master":
        data_dir = tmp_path_factory.getbasetemp() / "seeded-demo"
        _seed_once(data_dir)
    else:
        seeded = tmp_path_factory.getbasetemp().parent / "seeded-demo"
        _seed_once(seeded)
        data_dir = tmp_path_factory.getbasetemp() / "seeded-demo"
        shutil.copytree(seeded, data_dir)
    yield str(data_dir), f"sqlite:///{data_dir / 'govflow.db'}"


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
