"""Where govflow keeps its data and finds its policy, read from the environment.

Every ``govflow`` command and every DAG task resolves these the same way, so one set of
environment variables points the whole system at a store, a data directory and a policy.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

DATA_DIR_ENV = "GOVFLOW_DATA_DIR"
DB_URL_ENV = "GOVFLOW_DB_URL"
CONFIG_DIR_ENV = "GOVFLOW_CONFIG_DIR"
DB_APP_ROLE_ENV = "GOVFLOW_DB_APP_ROLE"
AUDIT_CHECKPOINTS_ENV = "GOVFLOW_AUDIT_CHECKPOINTS"
AUDIT_KEY_ENV = "GOVFLOW_AUDIT_KEY"
AUDIT_CHECKPOINTS_FILE = "audit-checkpoints.jsonl"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The data directory: ``$GOVFLOW_DATA_DIR``, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").resolve()


def db_url() -> str:
    """The governance store URL: ``$GOVFLOW_DB_URL``, else a SQLite file in the data directory."""
    url = os.environ.get(DB_URL_ENV)
    if url:
        return url
    return f"sqlite:///{data_dir() / 'govflow.db'}"


def db_app_role() -> str | None:
    """The Postgres role govflow runs as, when migrations run as another role:
    ``$GOVFLOW_DB_APP_ROLE``."""
    return os.environ.get(DB_APP_ROLE_ENV) or None


def audit_checkpoints(url: str) -> Path:
    """Where the signed checkpoints of the store at ``url`` are kept:
    ``$GOVFLOW_AUDIT_CHECKPOINTS``, else beside a SQLite store's file, else in the data
    directory.

    Beside the SQLite file, so that two stores never share one file of checkpoints: the
    checkpoints of one would report the other's events as missing.
    """
    explicit = os.environ.get(AUDIT_CHECKPOINTS_ENV)
    if explicit:
        return Path(explicit).resolve()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).resolve().parent / AUDIT_CHECKPOINTS_FILE
    return data_dir() / AUDIT_CHECKPOINTS_FILE


def audit_key() -> str | None:
    """The key that signs audit checkpoints, if the environment holds it: ``$GOVFLOW_AUDIT_KEY``."""
    return os.environ.get(AUDIT_KEY_ENV) or None


def config_dir() -> Path:
    """The policy directory: ``$GOVFLOW_CONFIG_DIR``, else ``config/`` of this checkout or cwd."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    beside_package = _REPO_ROOT / "config"
    if beside_package.is_dir():
        return beside_package
    return Path("config").resolve()
