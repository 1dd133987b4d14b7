"""A throw-away Redis on 127.0.0.1 from the installed server (Debian package ``redis-server``).

The Celery broker of the system tests and of the fleet benchmark. The server keeps nothing
on disk (``--save ''``, no append-only file), listens on loopback only, on a free port, and
is stopped by its pid when the block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NO_REDIS = "redis-server not found on PATH (.ci/run installs the Debian package 'redis-server')"
READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers_ping(port: int) -> bool:
    """True when a Redis server on 127.0.0.1:``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis() -> Iterator[str]:
    """Yield the URL (``redis://127.0.0.1:<port>/0``) of a fresh, empty Redis server."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError(NO_REDIS)
    workdir = Path(tempfile.mkdtemp(prefix="govflow-redis-"))
    port = free_port()
    command = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start on port {port}:\n"
                    + (workdir / "redis.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
