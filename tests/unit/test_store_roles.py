"""On Postgres the role govflow runs as can append to the audit trail and read it, and can
neither TRUNCATE the table, nor disable, drop or outrun its triggers; the store belongs to
another role, which runs the migrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from govflow import registry, settings, store
from govflow.audit import record_event, verify_chain
from govflow.store.roles import TOO_POWERFUL, RoleError
from govflow.store.schema import AuditEvent, Model

DATABASE = "govflow_roles"
OWNER, APP = "govflow_owner", "govflow_app"


def _as(server_url: str, user: str) -> str:
    url = make_url(server_url).set(username=user, database=DATABASE)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def roles(postgres_server_url, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    """A database owned by OWNER, migrated by OWNER, with APP as the application role;
    yields (owner URL, application URL)."""
    monkeypatch.setenv(settings.AUDIT_CHECKPOINTS_ENV, str(tmp_path / "checkpoints.jsonl"))
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        for role in (OWNER, APP):
            exists = connection.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            )
            if not exists:
                connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f"CREATE DATABASE {DATABASE} OWNER {OWNER}"))
    admin.dispose()
    owner_url, app_url = _as(postgres_server_url, OWNER), _as(postgres_server_url, APP)
    store.upgrade(owner_url, app_role=APP)
    yield owner_url, app_url
    for url in (owner_url, app_url):
        store.engine_for(url).dispose()


def _refusal(url: str, statement: str) -> str:
    with pytest.raises(DBAPIError) as refused, store.engine_for(url).begin() as connection:
        connection.execute(text(statement))
    return str(refused.value.orig)


def _seed(url: str) -> None:
    with store.session_scope(url) as session:
        for i in range(3):
            record_event(session, actor="eve", action="baseline.created", target=f"t{i}")


def test_the_application_role_cannot_truncate_the_audit_table(roles):
    _, app_url = roles
    _seed(app_url)
    assert "permission denied for table audit_events" in _refusal(app_url, "TRUNCATE audit_events")


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "DROP TABLE audit_events",
    ],
    ids=["disable-trigger", "disable-all", "drop-trigger", "drop-table"],
)
def test_the_application_role_cannot_disable_or_drop_the_audit_triggers(roles, statement):
    _, app_url = roles
    refusal = _refusal(app_url, statement)
    # "must be owner of table audit_events", or "of relation" for DROP TRIGGER
    assert refusal.startswith("must be owner of ") and "audit_events" in refusal


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events WHERE seq > 1"],
    ids=["update", "delete"],
)
def test_the_application_role_can_append_and_read_the_audit_trail_but_change_nothing(
    roles, statement
):
    _, app_url = roles
    _seed(app_url)
    assert "permission denied for table audit_events" in _refusal(app_url, statement)
    with store.session_scope(app_url) as session:
        report = verify_chain(session)
    assert report.intact and report.events_checked == 3


def test_even_the_owner_cannot_truncate_the_audit_table(roles):
    owner_url, app_url = roles
    _seed(app_url)
    assert "audit_events is append-only: TRUNCATE refused" in _refusal(
        owner_url, "TRUNCATE audit_events"
    )


def _register_credit_approval(session) -> None:
    registry.register_model(
        session,
        model_id="credit_approval",
        model_type="classification",
        risk_tier="high",
        owner="olivia",
        business_purpose="credit decisions",
        actor="olivia",
    )


def test_the_application_role_does_the_rest_of_govflow_s_work(roles):
    _, app_url = roles
    store.ensure_schema(app_url)  # what every flow calls first: a read of alembic_version
    with store.session_scope(app_url) as session:
        _register_credit_approval(session)
    with store.session_scope(app_url) as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1
    assert "permission denied for table alembic_version" in _refusal(
        app_url, "UPDATE alembic_version SET version_num = '0001'"
    )


def test_the_application_role_releases_a_legal_hold_but_cannot_delete_or_rewrite_one(roles):
    """Issue 15 item 2: a hold is released once and stays on record; the application role
    may not delete it, truncate the table, rewrite it or disable the triggers that keep it."""
    from govflow.retention.holds import add_hold, release_hold

    owner_url, app_url = roles
    with store.session_scope(app_url) as session:
        _register_credit_approval(session)
        hold, _ = add_hold(
            session, scope="model", target="credit_approval", reason="case 17", actor="carol"
        )
        hold_id = hold.id
    with store.session_scope(app_url) as session:
        release_hold(session, hold_id, actor="carol", reason="case closed")

    assert "permission denied for table legal_holds" in _refusal(app_url, "DELETE FROM legal_holds")
    assert "permission denied for table legal_holds" in _refusal(app_url, "TRUNCATE legal_holds")
    assert _refusal(app_url, "ALTER TABLE legal_holds DISABLE TRIGGER ALL").startswith(
        "must be owner of "
    )
    for rewrite in ("SET released_at = NULL", "SET target = 'marketing_propensity'"):
        refusal = _refusal(app_url, f"UPDATE legal_holds {rewrite}")
        assert "a legal hold is only ever released, once" in refusal
    assert "legal holds are never deleted" in _refusal(owner_url, "DELETE FROM legal_holds")


@pytest.mark.parametrize(
    ("role", "why"),
    [
        (OWNER, "owns the audit table (or is a member of its owner)"),
        ("govflow", "is a superuser"),
    ],
    ids=["the-owner", "a-superuser"],
)
def test_an_application_role_that_could_disable_the_triggers_is_refused(roles, role, why):
    owner_url, _ = roles
    with pytest.raises(RoleError) as refused:
        store.upgrade(owner_url, app_role=role)
    assert str(refused.value) == TOO_POWERFUL.format(role=role, why=why)
