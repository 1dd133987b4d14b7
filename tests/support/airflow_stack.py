"""A real Airflow on 127.0.0.1 for system tests and benchmarks (../shared/AIRFLOW-FACTS.md).

``running_airflow_stack`` starts ``airflow api-server``, ``airflow scheduler`` and
``airflow dag-processor`` (plus ``airflow celery worker`` processes for CeleryExecutor), each
in its own process group, against a throw-away AIRFLOW_HOME, and stops them all by pid at the
end. Nothing listens beyond loopback: the api-server binds 127.0.0.1, the scheduler does not
serve logs, and Celery workers are started without their log server.

Users are the people of ``people.yaml`` (SimpleAuthManager, user id = username), each with
the password ``password_of(user)``; ``AirflowStack.client(user)`` is a REST client logged in
as that user. The DAGs see the governance store, data and config directories given in
``govflow_env`` and, when given, ``slack_default`` pointing at a local webhook receiver and
``smtp_default`` at a local SMTP server.

Typical use::

    with running_airflow_stack(tmp_path, govflow_env=env, slack_webhook_url=slack.url,
                               dag_ids=["govflow_incident_response"]) as stack:
        run_id = stack.trigger("govflow_incident_response", conf={...})
        stack.wait_for_task(dag_id, run_id, "acknowledge", {"awaiting_input"})
        stack.answer_hitl_and_confirm("carol", dag_id, run_id, "acknowledge", ["Acknowledge"])
        assert stack.wait_for_run(dag_id, run_id) == "success"
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 5
POLL_INTERVAL_S = 0.5
FINAL_RUN_STATES = frozenset({"success", "failed"})
FINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# A try in these states has not taken the answer given to it (yet): still parked, or failed by
# the answer race and about to be tried again (which asks again).
LOST_ANSWER_STATES = frozenset({"awaiting_input", "up_for_retry"})
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
# SimpleAuthManager roles (viewer < user < op < admin) for the roles of people.yaml: read-only
# roles see, everybody else may trigger runs and answer the actions assigned to them.
READ_ONLY_ROLES = frozenset({"auditor", "viewer"})


def password_of(user: str) -> str:
    """The password every test user logs in with."""
    return f"{user}-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def simple_auth_users(config_dir: Path) -> dict[str, str]:
    """people.yaml user id -> SimpleAuthManager role."""
    people = yaml.safe_load((config_dir / "people.yaml").read_text())
    users = {}
    for person in people["users"]:
        roles = set(person["roles"])
        if "admin" in roles:
            users[person["id"]] = "admin"
        elif roles <= READ_ONLY_ROLES:
            users[person["id"]] = "viewer"
        else:
            users[person["id"]] = "user"
    return users


SERVER_ERROR_RETRIES = 2
SERVER_ERROR_PAUSE_S = 3.0


class RestClient:
    """Airflow's REST API over loopback, as one user."""

    def __init__(self, base: str, username: str | None = None) -> None:
        self.base = base
        self.username = username
        self.token: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, parsed body) without raising on HTTP errors.

        A 500 is asked again, twice, after a pause: on a loaded machine the api-server's SQLite
        metadata DB can stay locked past its 5 s timeout, and the request is rolled back whole
        (a person would press the button again)."""
        for _ in range(SERVER_ERROR_RETRIES):
            status, answer = self._request_once(method, path, body)
            if status != HTTPStatus.INTERNAL_SERVER_ERROR:
                return status, answer
            time.sleep(SERVER_ERROR_PAUSE_S)
        return self._request_once(method, path, body)

    def _request_once(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _parsed(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _parsed(error.read())

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The parsed body of a successful call; an AssertionError naming the answer otherwise."""
        status, answer = self.request(method, path, body)
        if status >= 400:
            raise AssertionError(f"{method} {path} as {self.username}: {status} {answer}")
        return answer

    def log_in(self, password: str) -> None:
        answer = self.call("POST", "/auth/token", {"username": self.username, "password": password})
        self.token = answer["access_token"]


def _parsed(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw.decode(errors="replace")


@dataclasses.dataclass
class AirflowStack:
    """The running processes and the calls tests make against them."""

    home: Path
    port: int
    environment: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]]
    users: dict[str, str]
    _clients: dict[str, RestClient] = dataclasses.field(default_factory=dict)
    _scheduler_log_offset: int = 0
    _finished_in_executor: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def log_tails(self, lines: int = 40) -> str:
        """The end of every process log, for a failing test's message."""
        parts = []
        for name in self.processes:
            text = self.log_path(name).read_text(errors="replace").splitlines()
            parts.append(f"--- {name} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # --- users and REST ------------------------------------------------------------------

    def client(self, user: str = "admin") -> RestClient:
        """A REST client logged in as ``user`` (a people.yaml id)."""
        if user not in self._clients:
            client = RestClient(self.base_url, user)
            client.log_in(password_of(user))
            self._clients[user] = client
        return self._clients[user]

    def wait_until_ready(self, dag_ids: Iterable[str], timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the api-server answers, the scheduler heartbeats and every DAG is parsed."""
        deadline = time.monotonic() + timeout_s
        anonymous = RestClient(self.base_url)
        while True:
            self._fail_if_a_process_died()
            try:
                health = anonymous.call("GET", "/api/v2/monitor/health")
                if health["scheduler"]["status"] == "healthy":
                    admin = self.client("admin")
                    parsed = {
                        dag_id
                        for dag_id in dag_ids
                        if admin.request("GET", f"/api/v2/dags/{dag_id}")[0] == 200
                    }
                    if parsed == set(dag_ids):
                        return
            except (urllib.error.URLError, ConnectionError, KeyError, TimeoutError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow not ready in {timeout_s} s\n{self.log_tails()}")
            time.sleep(1)

    def _fail_if_a_process_died(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited with {process.returncode}\n{self.log_tails()}"
                )

    # --- runs ----------------------------------------------------------------------------

    def unpause(self, dag_id: str, as_user: str = "admin") -> None:
        self.client(as_user).call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: str | None = None,
        as_user: str = "admin",
        unpause: bool = True,
    ) -> str:
        """Trigger a run as ``as_user`` (its triggering user) and return its run id."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        answer = self.client(as_user).call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        if unpause:
            self.unpause(dag_id)
        return answer["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.client().call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")["state"]

    def run_states(self, dag_id: str) -> dict[str, str]:
        """run_id -> state of every run of ``dag_id``: one request, however many runs."""
        found: dict[str, str] = {}
        while True:
            page = self.client().call(
                "GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&offset={len(found)}"
            )
            found.update({run["dag_run_id"]: run["state"] for run in page["dag_runs"]})
            if not page["dag_runs"] or len(found) >= page["total_entries"]:
                return found

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        states: Iterable[str] = FINAL_RUN_STATES,
        timeout_s: float = 180,
    ) -> str:
        wanted = set(states)
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.run_state(dag_id, run_id)
            if state in wanted:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{dag_id} {run_id} still {state}; tasks: {self.task_states(dag_id, run_id)}"
                    f"\n{self.log_tails()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        found: list[dict[str, Any]] = []
        while True:
            page = self.client().call(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances"
                f"?limit=100&offset={len(found)}",
            )
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """task_id (with ``[map_index]`` when mapped) -> state."""
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"]
            for ti in self.task_instances(dag_id, run_id)
        }

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any] | None:
        """The task instance (its current try) as the REST API shows it, None before it exists."""
        for ti in self.task_instances(dag_id, run_id):
            if (ti["task_id"], ti["map_index"]) == (task_id, map_index):
                return ti
        return None

    def executor_event_processed(self, ti_id: str) -> bool:
        """True once the scheduler has processed the executor's event of the try ``ti_id``
        (its log line "TaskInstance Finished ... ti_id=...").

        A human-in-the-loop answer given to a parked task before that event is processed makes
        the scheduler fail the task (AIRFLOW-FACTS: the answer race), however long the task has
        shown ``awaiting_input``: this is the event to wait for, not a number of seconds.
        """
        return self.executor_events(ti_id) > 0

    def executor_events(self, ti_id: str) -> int:
        """How many executor events of the try ``ti_id`` the scheduler has processed: a task
        asked again after an answer parks again under the same id, with one event more."""
        with self.log_path("scheduler").open("rb") as log:
            log.seek(self._scheduler_log_offset)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1
        self._scheduler_log_offset += complete
        for line in chunk[:complete].decode(errors="replace").splitlines():
            if "TaskInstance Finished" in line and "ti_id=" in line:
                self._finished_in_executor[
                    line.split("ti_id=", 1)[1].split(",", 1)[0].split()[0]
                ] += 1
        return self._finished_in_executor[ti_id]

    def wait_for_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        *,
        map_index: int = -1,
        timeout_s: float = 180,
    ) -> str:
        """Until the task instance is in one of ``states``; ``awaiting_input`` counts once the
        scheduler has also processed the parked try's executor event, so that an answer given
        next is taken."""
        wanted = set(states)
        deadline = time.monotonic() + timeout_s
        key = task_id + (f"[{map_index}]" if map_index >= 0 else "")
        while True:
            ti = self.task_instance(dag_id, run_id, task_id, map_index)
            state = ti["state"] if ti else None
            if state in wanted and (
                state != "awaiting_input" or self.executor_event_processed(ti["id"])
            ):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{dag_id} {run_id} {key} is {state}, not {sorted(wanted)}; tasks: "
                    f"{self.task_states(dag_id, run_id)}\n{self.log_tails()}"
                )
            time.sleep(POLL_INTERVAL_S)

    # --- human-in-the-loop ---------------------------------------------------------------

    def _hitl_path(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        return (
            f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/{map_index}"
            "/hitlDetails"
        )

    def hitl_detail(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any]:
        return self.client().call("GET", self._hitl_path(dag_id, run_id, task_id, map_index))

    def answer_hitl(
        self,
        user: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        chosen_options: list[str],
        params_input: dict[str, Any] | None = None,
        *,
        map_index: int = -1,
    ) -> tuple[int, Any]:
        """Answer a waiting task as ``user``: (HTTP status, body); 403 for a non-assignee."""
        return self.client(user).request(
            "PATCH",
            self._hitl_path(dag_id, run_id, task_id, map_index),
            {"chosen_options": chosen_options, "params_input": params_input or {}},
        )

    def answer_hitl_and_confirm(
        self,
        user: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        chosen_options: list[str],
        params_input: dict[str, Any] | None = None,
        *,
        map_index: int = -1,
        timeout_s: float = 120,
    ) -> int:
        """Answer as ``user`` and confirm it: re-read the request and the task until the
        answer is recorded and the task has left ``awaiting_input``; returns the first
        answer's HTTP status.

        Airflow 3.3 can lose an answer given while the parked try's executor event is still
        being processed (AIRFLOW-FACTS): the task then runs again and asks again, with no
        answer recorded. A person would answer again, and so does this, as soon as the new
        try is parked.
        """
        answered = self.task_instance(dag_id, run_id, task_id, map_index)
        status, body = self.answer_hitl(
            user, dag_id, run_id, task_id, chosen_options, params_input, map_index=map_index
        )
        if status != 200 or answered is None:
            return status
        # Each try has an id of its own; the resumed try keeps it (its try_number can move on).
        answered_id = answered["id"]
        key = task_id + (f"[{map_index}]" if map_index >= 0 else "")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ti = self.task_instance(dag_id, run_id, task_id, map_index)
            assert ti is not None
            if ti["id"] == answered_id and ti["state"] not in LOST_ANSWER_STATES:
                return status
            if (
                ti["id"] != answered_id
                and ti["state"] == "awaiting_input"
                and self.executor_event_processed(ti["id"])
                and not self.hitl_detail(dag_id, run_id, task_id, map_index)["response_received"]
            ):
                self.answer_hitl(
                    user,
                    dag_id,
                    run_id,
                    task_id,
                    chosen_options,
                    params_input,
                    map_index=map_index,
                )
                answered_id = ti["id"]
            time.sleep(POLL_INTERVAL_S)
        raise TimeoutError(
            f"{dag_id} {run_id} {key} did not take {user}'s answer: {body}\n{self.log_tails()}"
        )

    # --- processes -----------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL one process group (e.g. a Celery worker in the middle of a task)."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def airflow_environment(
    home: Path,
    port: int,
    *,
    users: dict[str, str],
    password_file: Path,
    executor: str,
    parallelism: int,
    metadata_url: str,
) -> dict[str, str]:
    """Settings shared by every Airflow process (and, through the executor, every task)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{user}:{role}" for user, role in users.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # The DAG folder is parsed once at start and then on changes; tests add no files and
        # change no config/ file while a stack runs, so parsing every file again every 30 s
        # (the default) would only take CPU from the tasks.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        # A task's supervisor waits for its process in select() for up to this many seconds,
        # and when the process closes its sockets just before it can be reaped, the wait runs
        # out in full: 5 s (the default) added to almost every task here, 1 s at most now.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }


def celery_environment(broker_url: str, result_backend: str) -> dict[str, str]:
    return {
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
    }


def connection_environment(
    slack_webhook_url: str | None, smtp: tuple[str, int] | None
) -> dict[str, str]:
    """``slack_default`` and ``smtp_default`` as AIRFLOW_CONN_* variables, when given."""
    environment = {}
    if slack_webhook_url:
        environment["AIRFLOW_CONN_SLACK_DEFAULT"] = json.dumps(
            {"conn_type": "slackwebhook", "password": slack_webhook_url}
        )
    if smtp:
        host, port = smtp
        environment["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
            {
                "conn_type": "smtp",
                "host": host,
                "port": port,
                "extra": {"from_email": "govflow@example.com"},
            }
        )
    return environment


def stop_process_groups(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every group the stack started (each process leads its own), one shared
    wait of at most STOP_TIMEOUT_S, then SIGKILL to whatever is left of each group: a hung
    leader, task supervisors, server workers.

    The stack is thrown away, so nothing is lost by the SIGKILL; waiting for the processes
    one after another cost half a minute per stack (a scheduler with parked tasks does not
    exit on SIGTERM)."""
    processes = list(processes)
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def migrate(environment: dict[str, str]) -> None:
    """``airflow db migrate`` on the metadata DB of ``environment``."""
    airflow = str(Path(sys.executable).parent / "airflow")
    migrated = subprocess.run(
        [airflow, "db", "migrate"], env=environment, capture_output=True, timeout=300
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr.decode()[-3000:]}")


def copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as reader, sqlite3.connect(target) as writer:
        reader.backup(writer)


_SQLITE_TEMPLATE: list[Path] = []


def migrated_sqlite_template(environment: dict[str, str]) -> Path:
    """An empty SQLite metadata DB, migrated once per process and copied by every stack: the
    migration costs tens of seconds on a busy 2-core machine, a copy a fraction of one. It
    holds only the schema (users come from SimpleAuthManager's file, secrets from the
    environment), and is removed when the process exits."""
    if not _SQLITE_TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="govflow-airflow-schema-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        template = directory / "airflow.db"
        migrate({**environment, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{template}"})
        _SQLITE_TEMPLATE.append(template)
    return _SQLITE_TEMPLATE[0]


@contextmanager
def running_airflow_stack(
    root: Path,
    *,
    govflow_env: dict[str, str],
    dag_ids: Iterable[str] = (),
    config_dir: Path | None = None,
    executor: str = "LocalExecutor",
    parallelism: int = 2,
    metadata_url: str | None = None,
    broker_url: str | None = None,
    result_backend: str | None = None,
    celery_workers: int = 0,
    slack_webhook_url: str | None = None,
    smtp: tuple[str, int] | None = None,
    extra_env: dict[str, str] | None = None,
    preload_task_modules: bool = True,
    wait: bool = True,
) -> Iterator[AirflowStack]:
    """Airflow on 127.0.0.1 until the block ends; every process stopped by its pid after.

    ``govflow_env`` holds GOVFLOW_CONFIG_DIR / GOVFLOW_DATA_DIR / GOVFLOW_DB_URL for the tasks;
    ``config_dir`` (default: that config dir, else the repository's) gives the users.
    ``dag_ids`` are waited for until parsed. The metadata DB is SQLite in ``root`` unless
    ``metadata_url`` is given (Postgres for CeleryExecutor). Celery workers are named
    ``celery-worker-1``, ``celery-worker-2``, ... in ``AirflowStack.processes``.
    ``preload_task_modules``: the scheduler and the Celery workers import govflow's task
    modules before they fork task processes (govflow_airflow.preload), so that a
    task does not pay for pandas, evidently & co. each time it runs.
    ``wait``: False yields as soon as the processes are started, for a caller that does
    something else first and then calls ``AirflowStack.wait_until_ready``.
    """
    home = root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    people_dir = config_dir or Path(govflow_env.get("GOVFLOW_CONFIG_DIR", REPO / "config"))
    users = simple_auth_users(people_dir)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({user: password_of(user) for user in users}))
    environment = {
        **os.environ,
        **govflow_env,
        **airflow_environment(
            home,
            port,
            users=users,
            password_file=password_file,
            executor=executor,
            parallelism=parallelism,
            metadata_url=metadata_url or f"sqlite:///{home / 'airflow.db'}",
        ),
        **connection_environment(slack_webhook_url, smtp),
        **(celery_environment(broker_url, result_backend) if broker_url and result_backend else {}),
        **(extra_env or {}),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    if metadata_url is None:
        copy_sqlite(migrated_sqlite_template(environment), home / "airflow.db")
    else:
        migrate(environment)
    forking_airflow = (
        [sys.executable, "-P", "-m", "govflow_airflow.preload"]
        if preload_task_modules
        else [airflow]
    )
    commands = {
        "api-server": [airflow, "api-server", "-H", "127.0.0.1", "-p", str(port)],
        "scheduler": [*forking_airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
    }
    for number in range(1, celery_workers + 1):
        commands[f"celery-worker-{number}"] = [
            *forking_airflow,
            "celery",
            "worker",
            "--skip-serve-logs",
            "--concurrency",
            "1",
            "--celery-hostname",
            f"govflow-worker-{number}@127.0.0.1",
        ]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with (home / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    command,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        stack = AirflowStack(home, port, environment, processes, users)
        if wait:
            stack.wait_until_ready(dag_ids)
        yield stack
    finally:
        stop_process_groups(processes.values())
