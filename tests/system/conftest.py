"""The LocalExecutor Airflow stack the system modules share (tests/support/shared_airflow.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.shared_airflow import SharedAirflowStack, running_shared_stack


@pytest.fixture(scope="session")
def shared_airflow(postgres_server_url: str, tmp_path_factory) -> Iterator[SharedAirflowStack]:
    """One LocalExecutor stack per xdist worker, started for the first module of that worker
    that needs it, paused between leases, stopped by pid when the session ends."""
    root = tmp_path_factory.mktemp("shared-airflow")
    with running_shared_stack(root, postgres_server_url) as stack:
        yield stack
