"""A throw-away Postgres cluster on 127.0.0.1 from the installed binaries, for tests.

initdb refuses to run as root, so when the tests run as root (CI) the cluster is created
and started as the ``postgres`` system user. The server listens on loopback only, on a free
port, and is stopped by its data directory (``pg_ctl stop``) when the fixture ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NO_POSTGRES = (
    "Postgres server binaries not found under /usr/lib/postgresql/*/bin "
    "(.ci/run installs the Debian package 'postgresql')"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(NO_POSTGRES)
    return Path(found[-1]).parent


def _run(command: list[str], as_postgres: bool) -> None:
    if as_postgres:
        command = ["su", "postgres", "-s", "/bin/bash", "-c", " ".join(command)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh database ``govflow`` owned by user ``govflow``."""
    bin_dir = _bin_dir()
    as_postgres = os.geteuid() == 0
    workdir = Path(tempfile.mkdtemp(prefix="govflow-pg-"))
    if as_postgres:
        pw = pwd.getpwnam("postgres")
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    port = free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "govflow"], as_postgres)
    options = f"-k {workdir} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off"
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            f"'{options}'",
            "-l",
            str(workdir / "log"),
            "-w",
            "-t",
            "30",
            "start",
        ],
        as_postgres,
    )
    try:
        _run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "govflow",
                "govflow",
            ],
            as_postgres,
        )
        yield f"postgresql+psycopg://govflow@127.0.0.1:{port}/govflow"
    finally:
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], as_postgres)
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(server_url: str, name: str, driver: str = "postgresql+psycopg") -> str:
    """A new, empty database ``name`` on the cluster of ``server_url`` (e.g. the session's
    server, one database per test module); its SQLAlchemy URL with ``driver`` (Airflow's
    metadata DB wants ``postgresql+psycopg2``)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(server_url).set(drivername=driver, database=name)
    return url.render_as_string(hide_password=False)
