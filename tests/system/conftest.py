"""The Airflow stack the system modules of tests/conftest.py ``SHARED_STACK_MODULES`` share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.shared_airflow import SharedAirflowStack, running_shared_stack


@pytest.fixture(scope="session")
def shared_airflow(postgres_server_url: str, tmp_path_factory) -> Iterator[SharedAirflowStack]:
    """One LocalExecutor stack per session (per xdist worker), started for the first module
    that needs it, stopped by pid when the session ends."""
    root = tmp_path_factory.mktemp("shared-airflow")
    with running_shared_stack(root, postgres_server_url) as stack:
        yield stack
