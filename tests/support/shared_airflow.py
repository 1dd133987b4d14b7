"""One LocalExecutor Airflow on 127.0.0.1 shared by the system modules that need one (issue 12
item 4): each xdist worker starts it (20-45 s) for the first such module it runs, instead of
once per module, and every later module of that worker leases it. Between leases every
process of the stack is stopped (SIGSTOP to its process group), so a stack a worker no
longer needs costs no CPU while the worker runs other tests; the next lease continues it.

The stack is what every one of them needs: Postgres metadata and a parallelism of 4
(test_model_deployment runs three deployments side by side), the people of people.yaml as
users, and config/ with the rollout's clock compressed (``ROLLOUT_CLOCK``, for test_rollout):
the rollout DAG's stages are read when its file is parsed, so that value is the stack's and
no module's own config may change it (nor anything else parse_time.py reads).

A module takes the stack for its tests with ``SharedAirflowStack.lease``: the Airflow
processes read govflow's config, data and store through three links in the stack's home
that the lease points at the module's own (every task resolves GOVFLOW_* anew, in a process
of its own), and `slack_default` at the module's webhook receiver. Run conf or Variables
would not reach far enough: runs start other runs (monitoring -> incident response, rollout
-> rollback, deployment -> asset -> baseline) and every task opens the store of GOVFLOW_*.
Ending the lease points the links back at an empty store, pauses every DAG, fails every
unfinished run, waits until the tasks that were running have stopped (no task of one module
may write into the next one's store) and deletes every run, so the next module finds the
stack as a fresh one: no run, no asset event, no pending action, no connection, every
DAG paused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.airflow_stack import REPO, AirflowStack, running_airflow_stack
from tests.support.postgres import create_database

# 14 days x 0.6 s: every rollout stage with a duration lasts 8.4 s, its rollback criteria
# checked every 2 s.
ROLLOUT_CLOCK = {"day_seconds": 0.6, "check_interval_seconds": 2}
PARALLELISM = 4
STORE_FILE = "govflow.db"
SLACK_CONNECTION = "slack_default"
# Tasks in these states may have a process running, or about to run, govflow code.
BUSY_TASK_STATES = ("running", "queued")
UNFINISHED_RUN_STATES = ("queued", "running")
STOP_TIMEOUT_S = 120
PAGE = 100


def stack_config(target: Path) -> Path:
    """The repository's config/ copied to ``target``, with ``ROLLOUT_CLOCK``."""
    shutil.copytree(REPO / "config", target)
    path = target / "deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    deployment["rollout"].update(ROLLOUT_CLOCK)
    path.write_text(yaml.safe_dump(deployment, sort_keys=False))
    return target


def _point(link: Path, target: Path) -> None:
    """Re-point ``link`` at ``target`` in one step (a rename over the old link)."""
    new = link.with_name(link.name + ".new")
    new.unlink(missing_ok=True)
    new.symlink_to(target, target_is_directory=True)
    os.replace(new, link)


def _point_links(links: Path, govflow_env: dict[str, str]) -> None:
    """The links ``config``, ``data`` and ``store`` (the store's folder) at ``govflow_env``."""
    url = govflow_env["GOVFLOW_DB_URL"]
    store = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///") or store.name != STORE_FILE:
        raise ValueError(f"the shared stack reads a SQLite store named {STORE_FILE}, not {url}")
    _point(links / "config", Path(govflow_env["GOVFLOW_CONFIG_DIR"]))
    _point(links / "data", Path(govflow_env["GOVFLOW_DATA_DIR"]))
    _point(links / "store", store.parent)


@dataclasses.dataclass
class SharedAirflowStack:
    """The session's stack; ``config_dir`` is the config/ it was started with."""

    stack: AirflowStack
    config_dir: Path
    links: Path
    idle_env: dict[str, str]

    @contextmanager
    def lease(
        self,
        govflow_env: dict[str, str],
        *,
        dag_ids: Iterable[str],
        slack_webhook_url: str | None = None,
    ) -> Iterator[AirflowStack]:
        """The stack with its tasks on ``govflow_env`` (GOVFLOW_CONFIG_DIR, GOVFLOW_DATA_DIR,
        GOVFLOW_DB_URL: a SQLite ``govflow.db``) and `slack_default` on
        ``slack_webhook_url`` (none without), until the block ends; yielded once the stack is
        ready and ``dag_ids`` are parsed."""
        self._signal(signal.SIGCONT)
        # The first lease of a worker finds the processes starting: nothing is asked of the
        # api-server, and nothing left to reset, before it answers.
        self.stack.wait_until_ready(())
        _point_links(self.links, govflow_env)
        try:
            if slack_webhook_url:
                self.stack.client().call(
                    "POST",
                    "/api/v2/connections",
                    {
                        "connection_id": SLACK_CONNECTION,
                        "conn_type": "slackwebhook",
                        "password": slack_webhook_url,
                    },
                )
            self.stack.wait_until_ready(dag_ids)
            yield self.stack
        finally:
            _point_links(self.links, self.idle_env)
            self._reset()
            self._signal(signal.SIGSTOP)

    def _signal(self, number: signal.Signals) -> None:
        """``number`` to every process group of the stack (each process is a group leader)."""
        for process in self.stack.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, number)

    def _reset(self) -> None:
        admin = self.stack.client()
        admin.call(
            "PATCH",
            f"/api/v2/dags?dag_id_pattern=%25&update_mask=is_paused&limit={PAGE}",
            {"is_paused": True},
        )
        admin.request("DELETE", f"/api/v2/connections/{SLACK_CONNECTION}")
        busy = {ti["id"] for ti in self._all("dags/~/dagRuns/~/taskInstances", BUSY_TASK_STATES)}
        for run in self._all("dags/~/dagRuns", UNFINISHED_RUN_STATES):
            admin.call("PATCH", self._run_path(run), {"state": "failed"})
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while running := {ti for ti in busy if not self.stack.executor_event_processed(ti)}:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"tasks {sorted(running)} still running {STOP_TIMEOUT_S} s after their runs "
                    f"were failed\n{self.stack.log_tails()}"
                )
            time.sleep(0.5)
        # A run failed by hand keeps its teardown to run (the incident response's end), which
        # a paused DAG's run never gets: skipped here, the run can be failed and deleted.
        for run in self._all("dags/~/dagRuns", UNFINISHED_RUN_STATES):
            path = self._run_path(run)
            for ti in admin.call("GET", f"{path}/taskInstances?limit={PAGE}")["task_instances"]:
                if ti["state"] in (None, "scheduled", "queued"):
                    where = f"{path}/taskInstances/{ti['task_id']}/{ti['map_index']}"
                    admin.call("PATCH", where, {"new_state": "skipped"})
            admin.call("PATCH", path, {"state": "failed"})
        for run in self._all("dags/~/dagRuns"):
            admin.call("DELETE", self._run_path(run))
        self._forget_asset_events()

    def _forget_asset_events(self) -> None:
        """Delete every asset event in the metadata DB. An asset-triggered run with no earlier
        run of its DAG takes every event ever published (the deployment module's would reach
        the baseline module's on-deploy DAG), and Airflow's REST API cannot delete events."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.stack.environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM asset_dag_run_queue"))
            connection.execute(text("DELETE FROM asset_event"))
        engine.dispose()

    def _all(self, collection: str, states: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Every entry of a REST collection (``dags/~/dagRuns``, ...), page after page."""
        key = "task_instances" if collection.endswith("taskInstances") else "dag_runs"
        query = "".join(f"&state={state}" for state in states)
        found: list[dict[str, Any]] = []
        while True:
            page = self.stack.client().call(
                "GET", f"/api/v2/{collection}?limit={PAGE}&offset={len(found)}{query}"
            )
            found.extend(page[key])
            if not page[key] or len(found) >= page["total_entries"]:
                return found

    @staticmethod
    def _run_path(run: dict[str, Any]) -> str:
        quoted = urllib.parse.quote(run["dag_run_id"], safe="")
        return f"/api/v2/dags/{run['dag_id']}/dagRuns/{quoted}"


@contextmanager
def running_shared_stack(root: Path, postgres_server_url: str) -> Iterator[SharedAirflowStack]:
    """The stack in ``root``, its metadata in a database of its own on ``postgres_server_url``;
    every process stopped by its pid when the block ends. It yields once the processes are
    started: the first lease waits until they are ready, so a module prepares its data
    meanwhile."""
    config_dir = stack_config(root / "config")
    idle_data = root / "idle-data"
    idle_data.mkdir()
    idle_env = {
        "GOVFLOW_CONFIG_DIR": str(config_dir),
        "GOVFLOW_DATA_DIR": str(idle_data),
        "GOVFLOW_DB_URL": f"sqlite:///{idle_data / STORE_FILE}",
    }
    links = root / "lease"
    links.mkdir()
    _point_links(links, idle_env)
    # The processes see only the links; each lease re-points them.
    linked_env = {
        "GOVFLOW_CONFIG_DIR": str(links / "config"),
        "GOVFLOW_DATA_DIR": str(links / "data"),
        "GOVFLOW_DB_URL": f"sqlite:///{links / 'store' / STORE_FILE}",
    }
    with running_airflow_stack(
        root,
        govflow_env=linked_env,
        config_dir=config_dir,
        metadata_url=create_database(postgres_server_url, "shared_airflow"),
        parallelism=PARALLELISM,
        wait=False,
    ) as stack:
        shared = SharedAirflowStack(stack, config_dir, links, idle_env)
        try:
            yield shared
        finally:
            # A stopped process would not act on the SIGTERM that stops it.
            shared._signal(signal.SIGCONT)
