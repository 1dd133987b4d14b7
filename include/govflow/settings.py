"""Where govflow keeps its data and finds its policy, read from the environment.

Every ``govflow`` command and every DAG task resolves these the same way, so one set of
environment variables points the whole system at a store, a data directory and a policy.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "GOVFLOW_DATA_DIR"
DB_URL_ENV = "GOVFLOW_DB_URL"
CONFIG_DIR_ENV = "GOVFLOW_CONFIG_DIR"

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


def config_dir() -> Path:
    """The policy directory: ``$GOVFLOW_CONFIG_DIR``, else ``config/`` of this checkout or cwd."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    beside_package = _REPO_ROOT / "config"
    if beside_package.is_dir():
        return beside_package
    return Path("config").resolve()
