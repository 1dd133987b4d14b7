"""The fleet benchmark runs the daily monitoring DAG end to end on a real Airflow (loopback,
LocalExecutor, SQLite) for a small fleet and prints its figures. Times are measured by hand,
never asserted here."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fleet.py"
MODELS = 3
ROWS = 2000
LAST_LINE = re.compile(
    rf"^fleet: models={MODELS} rows={ROWS} executor=local workers=2 "
    r"wall_s=[0-9]+\.[0-9] per_model_s=[0-9]+\.[0-9]{2}$"
)
SUCCESS_LINE = re.compile(r"^wall time trigger->success: +[0-9]+\.[0-9] s$")
RECORDS_LINE = f"monitoring records:           {MODELS} of {MODELS} expected (succeeded {MODELS})"
TASKS_LINE = re.compile(
    rf"^task instances: +{MODELS + 3} \(.*analyse_model {MODELS}.*; 0 retried\)$"
)


@pytest.mark.system
def test_fleet_benchmark_runs_the_daily_dag_over_every_model_and_prints_the_summary() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--models", str(MODELS), "--rows", str(ROWS)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert any(SUCCESS_LINE.match(line) for line in lines), lines
    assert any(TASKS_LINE.match(line) for line in lines), lines
    assert RECORDS_LINE in lines
