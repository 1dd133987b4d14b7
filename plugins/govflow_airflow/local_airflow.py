"""``make airflow``: Airflow's api-server, scheduler and dag-processor on 127.0.0.1 against
this folder's metadata DB, started and stopped together.

Each component runs in its own process group with its log in ``$AIRFLOW_HOME/<name>.log``.
If one exits, the others are stopped and the launcher exits non-zero naming it: half a stack
(an api-server without its scheduler) looks alive in the browser while every run stays
queued. Ctrl-C (or SIGTERM) stops them all. Nothing listens beyond loopback: the api-server
binds 127.0.0.1 and the scheduler serves no logs (the api-server reads them from
``$AIRFLOW_HOME/logs``). No triggerer: no govflow task defers to one (a task waiting for a
person is ``awaiting_input``, watched by the scheduler), and on SQLite every process that
heartbeats is one more writer for the one lock.

On the demo data ``govflow_retention`` and the scheduled monitoring DAGs are paused before the
scheduler starts: the demo's days are fixed (March and April 2025, the same bytes everywhere),
so its whole history is past the 90-day retention of prediction logs and the first run would
purge it, and the scheduled analyses of today's window would find no demo log.

Usage: ``python -P -m govflow_airflow.local_airflow --port 8080``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# The scheduler and the dag-processor wait this long for SQLite's lock before "database is
# locked" (pysqlite's default is 5 s, which a loaded 2-core machine outlasts, and both exit on
# that error). Not the api-server: a request of its own can hold the lock while another
# waits on the event loop, which only the error ends; at 5 s that is one retried 500, at
# 60 s the whole UI and the tasks' execution API stood still for a minute (seen here).
SQLITE_CONNECT_ARGS = {"timeout": 60}
SQLITE_CONNECT_ARGS_ASYNC = {"timeout": 60}
PATIENT_WRITERS = ("scheduler", "dag-processor")
MODULE = "govflow_airflow.local_airflow"  # not __name__: that is __main__ under -m
PATIENT_WRITER_ENV = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{MODULE}.SQLITE_CONNECT_ARGS",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{MODULE}.SQLITE_CONNECT_ARGS_ASYNC",
}

RETENTION_DAG = "govflow_retention"
# Paused on the demo data: retention would purge its days (March-April 2025, past the
# 90-day retention of logs) and the scheduled analyses would analyse today's window, which
# holds no demo log: a CRITICAL "no rows" incident per model, e-mails and pages queued.
PAUSED_ON_DEMO = (
    RETENTION_DAG,
    "govflow_monitoring_daily",
    "govflow_monitoring_weekly",
    "govflow_monitoring_monthly",
)
DEMO_MANIFEST = Path("demo") / "manifest.json"
READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 10
POLL_INTERVAL_S = 1.0

RETENTION_PAUSED = (
    f"on the demo data {', '.join(PAUSED_ON_DEMO)} are paused: the demo's logs (March-April "
    "2025) are past their retention, and today's scheduled windows hold none of them (Analyze "
    "Now analyses the demo's days). To run one anyway: AIRFLOW_HOME={home} {airflow} dags "
    "unpause <dag id>"
)
COMPONENT_DIED = "airflow {name} exited with code {code} (log: {log}); stopping the others"


def components(airflow: str, port: int) -> dict[str, list[str]]:
    """The commands, by name. The scheduler forks the tasks, from govflow's task modules
    imported once (govflow_airflow.preload)."""
    return {
        "dag-processor": [airflow, "dag-processor"],
        "scheduler": [
            sys.executable,
            "-P",
            "-m",
            "govflow_airflow.preload",
            "scheduler",
            "--skip-serve-logs",
        ],
        "api-server": [airflow, "api-server", "-H", "127.0.0.1", "-p", str(port)],
    }


def preparation(airflow: str, data_dir: Path) -> list[list[str]]:
    """What runs before the components: on the demo data, every DAG written to the metadata
    DB and those of ``PAUSED_ON_DEMO`` paused, so the scheduler never sees them unpaused."""
    if not (data_dir / DEMO_MANIFEST).exists():
        return []
    return [
        [airflow, "dags", "reserialize"],
        *([airflow, "dags", "pause", dag_id] for dag_id in PAUSED_ON_DEMO),
    ]


def environments(names: Iterable[str], env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Each component's environment: on SQLite (unless set already) the scheduler and the
    dag-processor wait longer for the lock than the api-server."""
    sqlite = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith("sqlite")
    return {
        name: {**PATIENT_WRITER_ENV, **env} if sqlite and name in PATIENT_WRITERS else dict(env)
        for name in names
    }


def start(
    commands: Mapping[str, Sequence[str]],
    log_dir: Path,
    envs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, subprocess.Popen[bytes]]:
    """Each command in its own process group, its output in ``log_dir/<name>.log``."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in commands.items():
        with (log_dir / f"{name}.log").open("wb") as log:
            processes[name] = subprocess.Popen(
                list(command),
                env=None if envs is None else dict(envs[name]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
    return processes


def first_exit(
    processes: Mapping[str, subprocess.Popen[bytes]], *, timeout_s: float | None = None
) -> tuple[str, int] | None:
    """The first component to exit and its code, or None when all still run after
    ``timeout_s`` (None: wait as long as it takes)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        for name, process in processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL_S)


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every group, one shared wait, then SIGKILL to whatever is left of each and
    of their descendants (a task's process starts a session of its own)."""
    processes = list(processes)
    groups = [process.pid for process in processes]
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    left = [pid for group in groups for pid in _descendants(group)]
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govflow_airflow.local_airflow")
    parser.add_argument("--port", type=int, default=8080)
    options = parser.parse_args(argv)
    home = Path(os.environ["AIRFLOW_HOME"])
    data_dir = Path(os.environ["GOVFLOW_DATA_DIR"])
    airflow = str(Path(sys.executable).parent / "airflow")
    base = f"http://127.0.0.1:{options.port}"
    signal.signal(signal.SIGTERM, _stop_on_signal)
    preparing = preparation(airflow, data_dir)
    for command in preparing:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    commands = components(airflow, options.port)
    processes = start(commands, home, environments(commands, os.environ))
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _healthy(f"{base}/api/v2/monitor/health"):
            if (died := first_exit(processes, timeout_s=0)) is None:
                if time.monotonic() > deadline:
                    print(f"Airflow did not answer on {base} in {READY_TIMEOUT_S} s; stopping")
                    return 1
                time.sleep(POLL_INTERVAL_S)
                continue
            return _report_death(home, *died)
        print(f"Airflow: {base}  governance dashboard: {base}/govflow/", flush=True)
        print(
            "log in as a people.yaml id (eve: ML engineer, carol: compliance, audrey: auditor,"
            " victor: viewer, admin);"
        )
        print(
            f"passwords: {home}/simple_auth_manager_passwords.json.generated  "
            f"logs: {home}/*.log  (Ctrl-C stops)"
        )
        if preparing:
            print(RETENTION_PAUSED.format(home=home, airflow=airflow), flush=True)
        died = first_exit(processes)
        assert died is not None
        return _report_death(home, *died)
    except KeyboardInterrupt:
        return 0
    finally:
        # Ctrl-C again, or make's SIGTERM, must not cut the stopping short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(processes.values())


def _report_death(home: Path, name: str, code: int) -> int:
    print(COMPONENT_DIED.format(name=name, code=code, log=home / f"{name}.log"), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
