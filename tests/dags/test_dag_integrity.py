"""Every DAG file imports cleanly, and parsing one opens no connection and runs no query."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))

# Run in a fresh interpreter so that nothing imported by other tests hides a parse-time
# side effect. Any database connection or socket opened while the file executes raises.
PARSE_PURITY_PROBE = r"""
import runpy, socket, sqlite3, sys
import airflow.sdk  # the SDK itself may touch files; DAG files must not touch more

def refuse(*args, **kwargs):
    raise RuntimeError("DAG file opened a connection at parse time")

sqlite3.connect = refuse
socket.socket.connect = refuse
socket.create_connection = refuse
import sqlalchemy.engine
sqlalchemy.engine.Engine.connect = refuse
runpy.run_path(sys.argv[1], run_name="dag_file")
print("PARSED")
"""


def test_there_are_dag_files_to_check():
    assert DAG_FILES, f"no DAG files found in {DAGS_DIR}"


def test_the_dag_bag_has_no_import_errors_and_every_dag_is_tagged_and_documented():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    assert bag.dags, "no DAGs were loaded"
    for dag_id, dag in bag.dags.items():
        assert dag_id.startswith("govflow_"), dag_id
        assert "govflow" in dag.tags, dag_id
        assert dag.doc_md, f"{dag_id} has no doc_md"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_a_dag_file_opens_no_connection(dag_file: Path):
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PURITY_PROBE, str(dag_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("PARSED")


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_files_import_only_airflow_and_the_standard_library_at_top_level(dag_file: Path):
    import ast

    allowed_roots = {
        "airflow",
        "govflow_airflow",
        "__future__",
        "datetime",
        "pendulum",
        "typing",
        "pathlib",
        "json",
    }
    tree = ast.parse(dag_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert roots <= allowed_roots, f"{dag_file.name}: top-level import of {roots}"


def test_the_monitoring_schedules_are_the_policys_runs_in_utc():
    from airflow.dag_processing.dagbag import DagBag

    from govflow import settings
    from govflow.config import load_config

    runs = load_config(settings.config_dir()).policy.monitoring.scheduled_runs
    bag = DagBag(dag_folder=str(DAGS_DIR))
    schedules = {
        dag_id: (bag.dags[dag_id].timetable.expression, str(bag.dags[dag_id].timetable.timezone))
        for dag_id in (
            "govflow_monitoring_daily",
            "govflow_monitoring_weekly",
            "govflow_monitoring_monthly",
        )
    }
    assert schedules == {
        "govflow_monitoring_daily": ("0 2 * * *", "UTC"),
        "govflow_monitoring_weekly": ("0 3 * * 0", "UTC"),
        "govflow_monitoring_monthly": ("0 4 1 * *", "UTC"),
    }
    assert runs["daily_drift_analysis"].cron == "0 2 * * *"
