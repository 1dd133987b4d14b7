"""The fleet benchmark runs the daily monitoring DAG end to end on a real Airflow for a small
fleet and prints its figures: on LocalExecutor (SQLite), and on the Celery topology (Postgres,
Redis, one then two workers) with its scaling line. Times are measured by hand, never
asserted here."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fleet.py"
MODELS = 3
ROWS = 2000
SUCCESS_LINE = re.compile(r"^wall time trigger->success: +[0-9]+\.[0-9] s$")
RECORDS_LINE = f"monitoring records:           {MODELS} of {MODELS} expected (succeeded {MODELS})"
TASKS_LINE = re.compile(rf"^task instances: +[0-9]+ \(.*analyse_model {MODELS}.*; 0 retried\)$")
SCALING_LINE = re.compile(
    r"^fleet scaling: executor=celery workers=1,2 wall_s=[0-9]+\.[0-9],[0-9]+\.[0-9] "
    r"speedup=1\.00,[0-9]+\.[0-9]{2}$"
)


def fleet_line(executor: str, workers: int) -> re.Pattern[str]:
    return re.compile(
        rf"^fleet: models={MODELS} rows={ROWS} executor={executor} workers={workers} "
        r"wall_s=[0-9]+\.[0-9] per_model_s=[0-9]+\.[0-9]{2}$"
    )


def run_benchmark(*arguments: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--models", str(MODELS), "--rows", str(ROWS), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout.strip().splitlines()


@pytest.mark.system
def test_fleet_benchmark_runs_the_daily_dag_over_every_model_and_prints_the_summary() -> None:
    lines = run_benchmark()

    assert fleet_line("local", 2).match(lines[-1]), lines[-1]
    assert any(SUCCESS_LINE.match(line) for line in lines), lines
    assert any(TASKS_LINE.match(line) for line in lines), lines
    assert RECORDS_LINE in lines


@pytest.mark.system
def test_fleet_benchmark_on_celery_runs_one_then_two_workers_and_prints_the_scaling() -> None:
    lines = run_benchmark("--executor", "celery", "--workers", "1,2")

    assert SCALING_LINE.match(lines[-1]), lines[-1]
    fleet_lines = [line for line in lines if line.startswith("fleet: ")]
    assert len(fleet_lines) == 2, lines
    assert fleet_line("celery", 1).match(fleet_lines[0]), fleet_lines[0]
    assert fleet_line("celery", 2).match(fleet_lines[1]), fleet_lines[1]
    assert sum(1 for line in lines if SUCCESS_LINE.match(line)) == 2, lines
    assert sum(1 for line in lines if TASKS_LINE.match(line)) == 2, lines
    assert lines.count(RECORDS_LINE) == 2
    assert sum(1 for line in lines if line.startswith("postgres CPU time:")) == 2
