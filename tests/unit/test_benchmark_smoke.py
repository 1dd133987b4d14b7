"""The single-model benchmark runs end to end on a small window and reports identical shared
metrics. Timings and ratios are measured by hand, never asserted here."""

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "single_model.py"
LAST_LINE = re.compile(r"^speedup_vs_peers: [0-9.]+ max_abs_diff: ([0-9.e+-]+)$")
SMOKE_ROWS = 20_000


def test_single_model_benchmark_ends_with_the_summary_line_and_matching_metrics() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--rows", str(SMOKE_ROWS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    last_line = completed.stdout.strip().splitlines()[-1]
    match = LAST_LINE.match(last_line)
    assert match is not None, last_line
    assert float(match.group(1)) < 1e-9
