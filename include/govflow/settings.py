"""Where govflow keeps its data and finds its policy, read from the environment.

Every ``govflow`` command and every DAG task resolves these the same way, so one set of
environment variables points the whole system at a store, a data directory and a policy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DATA_DIR_ENV = "GOVFLOW_DATA_DIR"
DB_URL_ENV = "GOVFLOW_DB_URL"
CONFIG_DIR_ENV = "GOVFLOW_CONFIG_DIR"
DB_APP_ROLE_ENV = "GOVFLOW_DB_APP_ROLE"
AUDIT_CHECKPOINTS_ENV = "GOVFLOW_AUDIT_CHECKPOINTS"
AUDIT_KEY_ENV = "GOVFLOW_AUDIT_KEY"
AUDIT_CHECKPOINTS_FILE = "audit-checkpoints.jsonl"

NOT_A_PORT = "the port {port!r} is not a number"

_REPO_ROOT = Path(__file__).resolve().parents[2]
# The port of a URL as SQLAlchemy reads it (scheme://user:password@host:port/database).
_PORT = re.compile(r"^[^:/]+://(?:[^:/]*(?::[^@]*)?@)?(?:\[[^/?]+\]|[^/:?]+)?:(?P<port>[^/?]*)")


class BadUrl(ValueError):
    """A database URL that cannot be used: the message names the environment variable that
    holds it and what is wrong, never the URL itself (it may carry a password)."""


def parse_url(url: str, variable: str) -> URL:
    """``url``, held by the environment variable ``variable``, parsed; else ``BadUrl``."""
    try:
        return make_url(url)
    except ArgumentError as error:
        raise BadUrl(f"{variable}: {error}") from None
    except ValueError:  # make_url reads the port with int()
        found = _PORT.match(url)
        port = found["port"] if found else "?"
        raise BadUrl(f"{variable}: {NOT_A_PORT.format(port=port)}") from None


def data_dir() -> Path:
    """The data directory: ``$GOVFLOW_DATA_DIR``, else ``data/`` beside the ``config/`` of
    this checkout (as :func:`config_dir` finds the policy: run from another directory, a
    command must not start an empty store of its own), else ``./data``."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    if (_REPO_ROOT / "config").is_dir():
        return _REPO_ROOT / "data"
    return Path("data").resolve()


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
    parsed = parse_url(url, DB_URL_ENV)
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
