"""benchmarks/dashboard.py runs end to end at its quick size without the browser and prints
its tables and last line in the documented format. Timings are measured by hand, never
asserted here. It runs in this process: a child would spend most of the test importing
FastAPI, SQLAlchemy and govflow again."""

import importlib.util
import re
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "dashboard.py"
PAGES = ("drift", "fairness", "fairness?days=365", "health", "incidents", "deployments")
PAGES += ("audit", "actions", "reports")
STORE_LINE = re.compile(r"^store: 5 models x 30 days \(seed 7\) in [0-9.]+ s, \d+ MiB: .*")
SERVER_ROW = re.compile(r"^(/\S+) +[0-9.]+ +[0-9.]+ +([0-9.]+) +[0-9.]+ +\d+  (ok|MISSED)$")
LAST_LINE = re.compile(
    r"^dashboard: models=5 days=30 worst_page=(/\S+) worst_p95_ms=([0-9.]+) "
    r"worst_load_ms=skipped$"
)


def test_quick_run_prints_every_page_and_twin_and_ends_with_the_summary_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("dashboard_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)

    assert benchmark.main(["--quick", "--no-browser"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert STORE_LINE.match(lines[0]), lines[0]
    rows = {m.group(1): float(m.group(2)) for m in map(SERVER_ROW.match, lines) if m}
    assert sorted(rows) == sorted([f"/{p}" for p in PAGES] + [f"/api/{p}" for p in PAGES])
    assert any(line.startswith("peak memory (VmHWM): this process ") for line in lines)
    assert any(re.match(r"^CPU time: .* other processes meanwhile [0-9.-]+ s", x) for x in lines)
    last = LAST_LINE.match(lines[-1])
    assert last is not None, lines[-1]
    assert rows[last.group(1)] == max(rows.values()) == float(last.group(2))
