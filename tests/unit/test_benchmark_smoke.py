"""The benchmarks run end to end at their smallest size and print their summary lines in the
documented format. Timings, ratios and rates are measured by hand, never asserted here."""

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
LAST_LINE = re.compile(r"^speedup_vs_peers: [0-9.]+ max_abs_diff: ([0-9.e+-]+)$")
SMOKE_ROWS = 20_000
FALSE_ALARMS_LAST_LINE = re.compile(
    r"^false_alarms: critical_pct=\d+\.\d\d warning_pct=\d+\.\d\d power_pct=\d+\.\d\d$"
)
NULL_TABLE_HEADER = re.compile(r"^check/metric/subject +boot W% +boot C% +gen W% +gen C% +all W%")
ALTERNATIVE_TABLE_HEADER = re.compile(
    r"^alternative +expected +det 1d% +det 3d% +det 7d% +median d"
)
EVERY_ALTERNATIVE_KIND = (
    "dp_drift 0.15 gender=non_binary n=40",
    "di 0.65 gender=female",
    "psi 0.35",
)


def run_benchmark(script: str, *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``benchmarks/<script>`` with ``arguments``, in a process of its own."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_single_model_benchmark_ends_with_the_summary_line_and_matching_metrics() -> None:
    completed = run_benchmark("single_model.py", "--rows", str(SMOKE_ROWS), timeout=600)

    assert completed.returncode == 0, completed.stderr
    last_line = completed.stdout.strip().splitlines()[-1]
    match = LAST_LINE.match(last_line)
    assert match is not None, last_line
    assert float(match.group(1)) < 1e-9


def test_false_alarm_benchmark_prints_its_tables_and_ends_with_the_rates_line(
    seeded_demo: tuple[str, str],
) -> None:
    """One null day of each kind and one sequence of each seed-CRITICAL alternative, for the
    model with the shortest label delay, on the session's seeded demo."""
    data_dir, _ = seeded_demo
    completed = run_benchmark(
        "false_alarms.py", "--quick", "--models", "product_recommendation", "--demo-dir", data_dir
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert any(NULL_TABLE_HEADER.match(line) for line in lines), completed.stdout
    assert any(ALTERNATIVE_TABLE_HEADER.match(line) for line in lines), completed.stdout
    for alternative in EVERY_ALTERNATIVE_KIND:
        assert any(line.startswith(alternative) for line in lines), alternative
    assert FALSE_ALARMS_LAST_LINE.match(lines[-1]) is not None, lines[-1]
    # The benchmark's logs are well formed and analysed once their day is over: a
    # data-quality finding would be the benchmark's own artefact counted as a false alarm.
    assert not [line for line in lines if line.startswith("data_quality/")], completed.stdout


DETECTION_BOUND_ENTRY = re.compile(
    r"^(credit_approval|marketing_propensity|product_recommendation) (di_0\.65|dp_drift_0\.15)"
    r" alarm_pct_for_95=\d+\.\d\d$"
)


def test_detection_bound_benchmark_prints_each_chart_and_ends_with_its_summary_line(
    seeded_demo: tuple[str, str],
) -> None:
    """A few charts per model and change, on the session's seeded demo: the format only."""
    data_dir, _ = seeded_demo
    completed = run_benchmark(
        "detection_bound.py", "--chains", "20", "--sequences", "200", "--demo-dir", data_dir
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("detection_bound: "), lines[-1]
    entries = lines[-1].removeprefix("detection_bound: ").split(" | ")
    assert len(entries) == 6, entries
    assert all(DETECTION_BOUND_ENTRY.match(entry) for entry in entries), entries
    assert "marketing_propensity di 0.65 gender=non_binary n=40: rate 0.387 -> 0.263" in (
        completed.stdout
    )
