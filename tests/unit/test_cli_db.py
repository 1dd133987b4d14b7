"""`govflow db upgrade` names the store it migrated without printing its password."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from govflow import store
from govflow.cli import app

PASSWORD = "s3cret-for-the-test"


@pytest.mark.postgres
def test_db_upgrade_migrates_a_postgres_store_and_hides_the_password_of_its_url(
    postgres_url, monkeypatch
):
    # The test cluster trusts local connections, so any password is accepted.
    url = make_url(postgres_url).set(password=PASSWORD)
    monkeypatch.setenv("GOVFLOW_DB_URL", url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    shown = url.render_as_string(hide_password=True)
    assert result.output == f"governance store at {store.head_revision()}: {shown}\n"
    assert "***" in shown
