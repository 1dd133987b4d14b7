"""The fleet benchmark runs the daily monitoring DAG end to end on a real Airflow for a small
fleet and prints its figures: on LocalExecutor (SQLite), and on the Celery topology (Postgres,
Redis, two workers), on one fleet prepared by the first run and reused by the second
(``--prepared``). Each executor's stack starts once: the per-``--workers`` loop and its
scaling line are plain code, checked on given figures. Times are measured by hand, never
asserted here."""

import argparse
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
# Three models: two analysis tasks, so that both slots share even a small run.
TASKS_LINE = re.compile(r"^task instances: +[0-9]+ \(.*analyse_models 2.*; 0 retried\)$")
SPLIT_LINE = re.compile(
    r"^per-model CPU split \(s\): +start-up [0-9.]+, read [0-9.]+, analyse [0-9.]+, "
    r"store [0-9.]+, alerts [0-9.]+, report [0-9.]+ \([0-9]+ reports drawn\); "
)
SCALING_LINE = re.compile(
    r"^fleet scaling: executor=celery workers=1,2 wall_s=[0-9]+\.[0-9],[0-9]+\.[0-9] "
    r"speedup=1\.00,[0-9]+\.[0-9]{2}$"
)


def fleet_line(executor: str, workers: int) -> re.Pattern[str]:
    return re.compile(
        rf"^fleet: models={MODELS} rows={ROWS} executor={executor} workers={workers} "
        "cadence=daily "
        r"wall_s=[0-9]+\.[0-9] per_model_s=[0-9]+\.[0-9]{2} per_model_cpu_s=[0-9]+\.[0-9]{2} "
        r"others_cpu_s=-?[0-9]+\.[0-9]$"
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet both executors' runs analyse, built by the first (``--prepared``)."""
    return tmp_path_factory.mktemp("fleet-prepared")


def run_benchmark(prepared: Path, *arguments: str) -> list[str]:
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--models",
            str(MODELS),
            "--rows",
            str(ROWS),
            "--prepared",
            str(prepared),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout.strip().splitlines()


@pytest.mark.system
def test_fleet_benchmark_runs_the_daily_dag_over_every_model_and_prints_the_summary(
    prepared: Path,
) -> None:
    lines = run_benchmark(prepared)

    assert fleet_line("local", 2).match(lines[-1]), lines[-1]
    assert any(SUCCESS_LINE.match(line) for line in lines), lines
    assert any(TASKS_LINE.match(line) for line in lines), lines
    assert any(SPLIT_LINE.match(line) for line in lines), lines
    assert RECORDS_LINE in lines


@pytest.mark.system
def test_fleet_benchmark_on_celery_runs_the_daily_dag_on_two_workers(prepared: Path) -> None:
    lines = run_benchmark(prepared, "--executor", "celery", "--workers", "2")

    assert fleet_line("celery", 2).match(lines[-1]), lines[-1]
    assert sum(1 for line in lines if SUCCESS_LINE.match(line)) == 1, lines
    assert sum(1 for line in lines if TASKS_LINE.match(line)) == 1, lines
    assert lines.count(RECORDS_LINE) == 1
    assert sum(1 for line in lines if line.startswith("postgres CPU time:")) == 1


def test_the_scaling_line_compares_every_worker_count_with_the_fewest(capsys) -> None:
    sys.path.insert(0, str(BENCHMARK.parent))
    try:
        from fleet import report_scaling
    finally:
        sys.path.remove(str(BENCHMARK.parent))

    report_scaling(argparse.Namespace(executor="celery"), {1: 300.0, 2: 160.25})

    line = capsys.readouterr().out.strip()
    assert SCALING_LINE.match(line), line
    assert line == "fleet scaling: executor=celery workers=1,2 wall_s=300.0,160.2 speedup=1.00,1.87"
