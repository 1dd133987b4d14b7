"""`make airflow`'s launcher (govflow_airflow.local_airflow): the components live and die
together, nothing listens beyond loopback, and the demo's history is not purged."""

from __future__ import annotations

import os
import sys
import time

import pytest

from govflow_airflow import local_airflow

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_component_that_exits_is_named_and_the_others_are_stopped(tmp_path):
    processes = local_airflow.start(
        {"api-server": SLEEPER, "scheduler": [sys.executable, "-c", "raise SystemExit(3)"]},
        tmp_path,
    )
    try:
        died = local_airflow.first_exit(processes, timeout_s=30)
    finally:
        local_airflow.stop(processes.values())

    assert died == ("scheduler", 3)
    assert processes["api-server"].poll() is not None
    assert local_airflow._report_death(tmp_path, *died) == 1


def test_stopping_ends_each_components_whole_process_group(tmp_path):
    child_pid = tmp_path / "child.pid"
    spawns_a_child = [
        sys.executable,
        "-c",
        "import subprocess, sys, time; "
        f"child = subprocess.Popen({SLEEPER!r}); "
        f"open({str(child_pid)!r}, 'w').write(str(child.pid)); time.sleep(60)",
    ]
    processes = local_airflow.start({"scheduler": spawns_a_child}, tmp_path)
    deadline = time.monotonic() + 30
    while not child_pid.exists() or not child_pid.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)

    local_airflow.stop(processes.values())

    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the scheduler's child outlived it"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_only_the_scheduler_and_dag_processor_wait_a_minute_for_sqlites_lock():
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////x/airflow.db"}

    envs = local_airflow.environments(["api-server", "scheduler", "dag-processor"], env)
    on_postgres = local_airflow.environments(
        ["scheduler"], {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://x"}
    )

    key = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"
    assert envs["api-server"] == env
    assert (
        envs["scheduler"][key]
        == envs["dag-processor"][key]
        == ("govflow_airflow.local_airflow.SQLITE_CONNECT_ARGS")
    )
    assert key not in on_postgres["scheduler"]
    assert local_airflow.SQLITE_CONNECT_ARGS == {"timeout": 60}


def test_the_api_server_binds_loopback_and_the_scheduler_serves_no_logs():
    commands = local_airflow.components("airflow", 18090)

    assert set(commands) == {"api-server", "scheduler", "dag-processor"}
    assert commands["api-server"][-4:] == ["-H", "127.0.0.1", "-p", "18090"]
    assert commands["scheduler"][-2:] == ["scheduler", "--skip-serve-logs"]


@pytest.mark.parametrize(
    ("demo", "expected"),
    [
        (
            True,
            [
                ["airflow", "dags", "reserialize"],
                ["airflow", "dags", "pause", "govflow_retention"],
                ["airflow", "dags", "pause", "govflow_monitoring_daily"],
                ["airflow", "dags", "pause", "govflow_monitoring_weekly"],
                ["airflow", "dags", "pause", "govflow_monitoring_monthly"],
            ],
        ),
        (False, []),
    ],
)
def test_retention_and_scheduled_monitoring_are_paused_before_the_scheduler_only_on_the_demo(
    tmp_path, demo, expected
):
    if demo:
        (tmp_path / "demo").mkdir()
        (tmp_path / "demo" / "manifest.json").write_text("{}")

    assert local_airflow.preparation("airflow", tmp_path) == expected
