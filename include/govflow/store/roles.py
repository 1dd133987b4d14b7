"""Seed 003 (immutable audit trail) on Postgres: the role govflow runs as may append to the
audit trail and read it, nothing more (issue 13 item 6).

The triggers of the migrations refuse UPDATE, DELETE and TRUNCATE on ``audit_events``, but
the owner of a table can disable its triggers and a superuser bypasses them. So the store
belongs to one role, which runs the migrations (``govflow db upgrade``), and govflow runs
as another, the application role, which ``grant_application_role`` gives:
- SELECT, INSERT, UPDATE and DELETE on every other table and USAGE on their sequences, now
  and on the tables later migrations create;
- SELECT and INSERT on ``audit_events``, SELECT on ``alembic_version``;
- SELECT, INSERT and UPDATE on ``legal_holds`` (a hold is released, never deleted; the
  table's triggers refuse any other change).
It refuses an application role that could take more: a superuser, a role that can create
roles (and so grant itself the owner's), or the owner of the tables, the schema or the
database, or a member of one of them.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

UNKNOWN_ROLE = "the application role {role!r} does not exist"
NOT_POSTGRES = "an application role is a Postgres matter; this store is {dialect}"
TOO_POWERFUL = (
    "the application role {role!r} {why}, so it could disable the audit trail's triggers: "
    "run `govflow db upgrade` as the role that owns the store, and govflow as another"
)

_ROLE_POWERS = """
SELECT r.rolsuper,
       r.rolcreaterole,
       pg_has_role(r.rolname, c.relowner, 'MEMBER'),
       pg_has_role(r.rolname, n.nspowner, 'MEMBER')
FROM pg_roles r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rolname = :role AND c.oid = 'audit_events'::regclass
"""
_WHY = (
    "is a superuser",
    "can create roles",
    "owns the audit table (or is a member of its owner)",
    "owns the schema or the database (or is a member of its owner)",
)


class RoleError(RuntimeError):
    """The application role cannot be confined to appending to the audit trail."""


def grant_application_role(connection: Connection, role: str) -> None:
    """Give ``role`` what govflow needs and no way to alter the audit trail."""
    dialect = connection.dialect.name
    if dialect != "postgresql":
        raise RoleError(NOT_POSTGRES.format(dialect=dialect))
    powers = connection.execute(text(_ROLE_POWERS), {"role": role}).first()
    if powers is None:
        raise RoleError(UNKNOWN_ROLE.format(role=role))
    for held, why in zip(powers, _WHY, strict=True):
        if held:
            raise RoleError(TOO_POWERFUL.format(role=role, why=why))
    grantee = connection.dialect.identifier_preparer.quote(role)
    schema = connection.dialect.identifier_preparer.quote(
        connection.execute(text("SELECT current_schema()")).scalar_one()
    )
    for statement in (
        f"GRANT USAGE ON SCHEMA {schema} TO {grantee}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {grantee}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {grantee}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {grantee}",
        f"REVOKE ALL ON audit_events FROM {grantee}",
        f"GRANT SELECT, INSERT ON audit_events TO {grantee}",
        f"REVOKE ALL ON alembic_version FROM {grantee}",
        f"GRANT SELECT ON alembic_version TO {grantee}",
        f"REVOKE ALL ON legal_holds FROM {grantee}",
        f"GRANT SELECT, INSERT, UPDATE ON legal_holds TO {grantee}",
    ):
        connection.execute(text(statement))
