"""Seed 004 sections 1.3, 2.2, 8 and 10: ``govflow monitor run`` and ``run_monitoring`` on the
seeded demo (35 days). Scenario days come from the demo's manifest, never from this file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from govflow import settings, store
from govflow.cli import app
from govflow.config import GovflowConfig, load_config
from govflow.config.inventory import SqlLog
from govflow.demo import DemoManifest
from govflow.flows.monitoring import (
    NOTHING_ABOVE_INFO,
    REPORT_NOT_DRAWN,
    metric_results,
    print_findings,
    record_missing_analyses,
    render_reports,
    run_monitoring,
    target_run_key,
)
from govflow.metrics.severity import Threshold
from govflow.monitoring.analysis import CHECK_TYPES, DATA_QUALITY, UNREADABLE_WINDOW
from govflow.monitoring.prediction_logs import (
    MISSING_TABLE,
    UNREACHABLE_DATABASE,
    UNREADABLE_PARTITION,
    UNSET_URL_ENV,
    partition_path,
)
from govflow.store.keys import KEY_MAX_CHARS
from govflow.store.schema import Alert, AuditEvent, Incident, MetricResult, MonitoringRun
from tests.support.demo_store import seeded_store_copy
from tests.support.registry import high_risk_model
from tests.support.run_ids import LONGEST_RUN_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_IDS = ("credit_approval", "marketing_propensity", "product_recommendation")
TABLE_HEADER = (
    f"{'check':<18} {'metric':<32} {'subject':<22} {'value':>10} {'threshold':<32} severity"
)
# Column slices of a row of monitoring.print_findings, matching TABLE_HEADER.
COLUMNS = {
    "check": slice(0, 18),
    "metric": slice(19, 51),
    "subject": slice(52, 74),
    "value": slice(75, 85),
    "threshold": slice(86, 118),
    "severity": slice(119, None),
}
ROW_CHECKS = (*CHECK_TYPES, DATA_QUALITY)
FAST_CHECKS = ("data_drift", "fairness_drift", "model_drift")
RUN_RECORDED = "monitoring.run_recorded"


def table_rows(output: str) -> list[dict[str, str]]:
    """The finding rows of ``govflow monitor run``'s table, column by column."""
    lines = output.splitlines()
    assert TABLE_HEADER in lines, output
    return [
        {name: line[part].strip() for name, part in COLUMNS.items()}
        for line in lines
        if line.split(" ", 1)[0] in ROW_CHECKS
    ]


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


@pytest.fixture
def manifest(demo_env) -> DemoManifest:
    return DemoManifest.load(Path(demo_env[0]))


@pytest.fixture
def quiet_days(manifest, config) -> list[date]:
    """Stable days whose label-matured windows (the day minus each model's label delay) are
    stable days too, so that every check of every model reads stable data."""
    stable = set(manifest.scenarios["stable"])
    delays = {config.models.get(model_id).label_delay_days for model_id in MODEL_IDS}
    return [
        day
        for day in sorted(stable)
        if all(day - timedelta(days=delay) in stable for delay in delays)
    ]


def govflow_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m govflow`` in a child process, with this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "govflow", *arguments],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=REPO_ROOT,
        check=False,
    )


def monitor(config, data_dir, db_url, model_id, day, run_key, **options):
    start = day_start(day)
    return run_monitoring(
        model_id,
        start=start,
        end=start + timedelta(days=1),
        checks=options.pop("checks", FAST_CHECKS),
        cadence="on_demand",
        run_key=run_key,
        config=config,
        data_dir=Path(data_dir),
        db_url=db_url,
        write_report=options.pop("write_report", False),
    )


def findings_of(db_url: str, run_id: int) -> list[tuple]:
    with store.session_scope(db_url) as session:
        return [
            (row.check_type, row.metric, row.subject, row.value, row.status, row.severity)
            for row in session.scalars(
                select(MetricResult)
                .where(MetricResult.monitoring_run_id == run_id)
                .order_by(MetricResult.id)
            )
        ]


def test_the_cli_reports_a_critical_disparate_impact_for_gender_on_the_first_fairness_drift_day(
    manifest,
):
    day = manifest.scenarios["fairness_drift"][0]

    result = govflow_cli(
        "monitor",
        "run",
        "--model",
        "credit_approval",
        "--start",
        day.isoformat(),
        "--no-report",
        "--run-key",
        "test_monitoring/fairness-drift",
    )

    assert result.returncode == 1, result.stderr  # analysed, with a CRITICAL finding
    rows = table_rows(result.stdout)
    (impact,) = [
        row
        for row in rows
        if (row["check"], row["metric"], row["subject"])
        == ("fairness_drift", "disparate_impact_ratio", "gender")
    ]
    # The policy's own comparisons: seed 004 says "0.80 - 0.89" (WARNING) and "< 0.80".
    assert (impact["threshold"], impact["severity"]) == (
        "critical < 0.8, warning <= 0.89",
        "CRITICAL",
    )
    assert float(impact["value"]) < 0.8
    assert "credit_approval: succeeded, severity CRITICAL" in result.stdout
    # The composite to four significant digits, as an alert shows a value.
    composite = result.stdout.split(", composite ")[1].split(",")[0]
    assert composite == str(float(f"{float(composite):.4g}"))


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize("which", [-2, -1])
def test_a_quiet_stable_day_shows_nothing_above_info_for_any_model_or_check(
    demo_env, quiet_days, model_id, which
):
    day = quiet_days[which]

    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "run",
            "--model",
            model_id,
            "--start",
            day.isoformat(),
            "--no-report",
            "--run-key",
            f"test_monitoring/stable/{day}",
        ],
    )

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert {row["check"] for row in rows} == set(CHECK_TYPES)
    above_info = [row for row in rows if row["severity"].split(" ")[0] != "INFO"]
    assert above_info == []
    assert f"{model_id}: succeeded, severity INFO, composite 0.0," in result.output
    # The run's summary (findings above INFO only) says so rather than print an empty table.
    with store.session_scope() as session:
        run_id = session.scalars(
            select(MonitoringRun.id)
            .where(MonitoringRun.model_id == model_id)
            .order_by(MonitoringRun.id.desc())
        ).first()
    shown: list[str] = []
    print_findings(run_id, shown.append, include_info=False)
    assert shown == [NOTHING_ABOVE_INFO]


def raw_disparate_impact(frame: pd.DataFrame, attribute: str, min_group_size: int) -> float:
    """The lowest over the highest selection rate among groups of at least ``min_group_size``."""
    rates = frame.groupby(attribute)["prediction"].agg(["mean", "size"])
    rates = rates.loc[rates["size"] >= min_group_size, "mean"]
    return float(rates.min() / rates.max())


def test_the_noisiest_quiet_days_are_judged_on_their_interval_not_alarmed(
    demo_env, config, quiet_days
):
    """Stable days are drawn as real traffic is (``govflow.demo.cohorts``): on each model's
    quiet day with the lowest raw gender disparate impact, a small group's rate puts the ratio
    inside or below the warning band, yet its interval, with the group sizes it rests on,
    cannot tell that from sampling noise, so nothing above INFO is raised."""
    data_dir, db_url = demo_env
    raw = {}
    for model_id in MODEL_IDS:
        minimum = config.min_group_size(model_id)
        by_day = {
            day: raw_disparate_impact(
                pd.read_parquet(partition_path(Path(data_dir) / "prediction_logs" / model_id, day)),
                "gender",
                minimum,
            )
            for day in quiet_days
        }
        day = min(by_day, key=by_day.__getitem__)
        summary = monitor(
            config,
            data_dir,
            db_url,
            model_id,
            day,
            f"test_monitoring/noisiest/{model_id}",
            checks=("fairness_drift",),
        )
        with store.session_scope(db_url) as session:
            found = session.scalars(
                select(MetricResult).where(MetricResult.monitoring_run_id == summary.run_id)
            ).all()
            impact = next(
                row
                for row in found
                if (row.metric, row.subject) == ("disparate_impact_ratio", "gender")
            )
            raw[model_id] = (impact.value, impact.details["group_sizes"])
            assert [row.severity for row in found if row.severity != "INFO"] == []
        assert impact.value == pytest.approx(by_day[day], abs=1e-9)
        assert impact.details["ci_low"] < impact.value < impact.details["ci_high"]
        assert summary.severity == "INFO"
    # Real noise: at least one of these days shows a raw ratio past the warning bound.
    assert min(value for value, _ in raw.values()) <= 0.89, raw


def test_the_malformed_day_names_every_broken_column_without_a_traceback(manifest):
    broken = manifest.content["malformed_details"]
    expected = {
        *broken["missing_columns"],
        *broken["non_numeric_strings"],
        *broken["non_finite_values"],
        *broken["out_of_range_values"],
        *broken["unknown_categories"],
        "prediction_id",  # duplicate_prediction_ids
        "score",  # null_scores
    }

    result = govflow_cli(
        "monitor",
        "run",
        "--model",
        "credit_approval",
        "--start",
        broken["date"],
        "--no-report",
        "--run-key",
        "test_monitoring/malformed",
    )

    assert result.returncode == 1, result.stderr  # the broken columns are CRITICAL
    named = {row["subject"] for row in table_rows(result.stdout) if row["check"] == DATA_QUALITY}
    assert expected <= named, f"not named: {sorted(expected - named)}"
    assert "Traceback" not in result.stdout + result.stderr


def test_running_the_same_run_key_twice_keeps_one_record_its_results_and_one_audit_event(
    demo_env, quiet_days, config
):
    data_dir, db_url = demo_env
    key = "test_monitoring/idempotent"

    first = monitor(config, data_dir, db_url, "marketing_propensity", quiet_days[0], key)
    results_after_first = findings_of(db_url, first.run_id)
    second = monitor(config, data_dir, db_url, "marketing_propensity", quiet_days[0], key)

    with store.session_scope(db_url) as session:
        records = session.scalars(
            select(MonitoringRun.id).where(
                MonitoringRun.model_id == "marketing_propensity", MonitoringRun.run_key == key
            )
        ).all()
        events = [
            event
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action == RUN_RECORDED)
            )
            if event.payload.get("run_key") == key
        ]
        stored = session.scalar(
            select(func.count())
            .select_from(MetricResult)
            .where(MetricResult.monitoring_run_id == second.run_id)
        )
    assert records == [first.run_id] == [second.run_id]
    assert stored == len(results_after_first) > 0
    assert findings_of(db_url, second.run_id) == results_after_first
    assert len(events) == 1
    verified = CliRunner().invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("audit chain intact: ")


@pytest.fixture
def demo_copy(demo_env, tmp_path) -> Path:
    """The demo's files (not its store) copied, to break or to write into."""
    copy = tmp_path / "data"
    shutil.copytree(demo_env[0], copy, ignore=shutil.ignore_patterns("govflow.db*", "reports"))
    return copy


def rewrite_day(data_dir: Path, model_id: str, day: date, **columns: object) -> None:
    """Set whole columns of one day of a model's logs in a copy of the demo's files."""
    partition = partition_path(data_dir / "prediction_logs" / model_id, day)
    frame = pd.read_parquet(partition)
    for name, value in columns.items():
        frame[name] = value
    frame.to_parquet(partition, index=False)


def test_an_unreadable_window_is_a_failed_record_and_the_next_model_runs_as_usual(
    demo_env, demo_copy, quiet_days, config
):
    _, db_url = demo_env
    day = quiet_days[0]
    corrupt = partition_path(demo_copy / "prediction_logs" / "credit_approval", day)
    corrupt.write_bytes(b"this is not parquet")

    failed = monitor(config, demo_copy, db_url, "credit_approval", day, "test_monitoring/corrupt")
    after = monitor(
        config, demo_copy, db_url, "marketing_propensity", day, "test_monitoring/corrupt"
    )
    untouched = monitor(
        config, demo_env[0], db_url, "marketing_propensity", day, "test_monitoring/intact"
    )

    message = UNREADABLE_WINDOW.format(error=UNREADABLE_PARTITION.format(path=corrupt))
    with store.session_scope(db_url) as session:
        record = session.get(MonitoringRun, failed.run_id)
        assert (record.status, record.severity, record.error) == ("failed", "CRITICAL", message)
    assert findings_of(db_url, failed.run_id) == [
        (DATA_QUALITY, "analysis_failed", "", None, "failed", "CRITICAL")
    ]
    assert (after.status, after.severity) == ("succeeded", untouched.severity)
    assert findings_of(db_url, after.run_id) == findings_of(db_url, untouched.run_id)


def test_monitor_run_exits_3_when_the_analysis_failed_and_its_record_says_why(
    demo_env, demo_copy, quiet_days, monkeypatch
):
    day = quiet_days[0]
    partition_path(demo_copy / "prediction_logs" / "credit_approval", day).write_bytes(b"nonsense")
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(demo_copy))

    result = CliRunner().invoke(
        app,
        [
            *("monitor", "run", "--model", "credit_approval", "--start", day.isoformat()),
            *("--no-report", "--run-key", "test_monitoring/cli-failed"),
        ],
    )

    assert (result.exit_code, result.stderr) == (3, "")
    assert "\ncredit_approval: failed, severity CRITICAL, composite n/a" in result.stdout


def test_monitor_run_prints_the_windows_rows_per_model_version_and_its_record_keeps_them(
    demo_env, demo_copy, quiet_days, monkeypatch
):
    """A canary's day: the last 100 of the day's rows scored by the candidate."""
    day = quiet_days[0]
    partition = partition_path(demo_copy / "prediction_logs" / "credit_approval", day)
    rows = len(pd.read_parquet(partition, columns=["model_version"]))
    rewrite_day(
        demo_copy, "credit_approval", day, model_version=["1.0.0"] * (rows - 100) + ["1.1.0"] * 100
    )
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(demo_copy))

    result = CliRunner().invoke(
        app,
        [
            *("monitor", "run", "--model", "credit_approval", "--start", day.isoformat()),
            *("--checks", "data_drift", "--no-report", "--run-key", "test_monitoring/versions"),
        ],
    )

    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.endswith(
        f"\nwindow rows by model version: 1.0.0 {rows - 100:,} · 1.1.0 100 (more than one "
        "version in this window: a finding may come from one version's traffic)\n"
    )
    with store.session_scope(demo_env[1]) as session:
        record = session.scalars(
            select(MonitoringRun).where(MonitoringRun.run_key == "test_monitoring/versions")
        ).one()
        assert record.model_versions == {"1.0.0": rows - 100, "1.1.0": 100}


# A record of a run with the longest run id Airflow allows: the key is stored bounded and
# the report's file name fits the 255 bytes a name may have.
@pytest.mark.parametrize(
    "run_key", ["test_monitoring/report", f"govflow_monitoring_on_demand/{LONGEST_RUN_ID}/daily"]
)
def test_the_evidently_report_is_an_html_file_at_the_recorded_path(
    demo_env, demo_copy, quiet_days, config, run_key
):
    _, db_url = demo_env

    summary = monitor(
        config,
        demo_copy,
        db_url,
        "product_recommendation",
        quiet_days[0],
        run_key,
        checks=("data_drift",),
        write_report=True,
    )

    with store.session_scope(db_url) as session:
        recorded = session.get(MonitoringRun, summary.run_id).report_path
    assert recorded == summary.report_path
    report = demo_copy / recorded
    assert report.suffix == ".html"
    assert report.read_text()[:200].lstrip().lower().startswith("<!doctype html>")


def test_an_empty_window_is_recorded_with_its_findings_and_no_report_crash(
    demo_env, demo_copy, quiet_days, config
):
    """Issue 13 item 1: a 0-row day made evidently raise outside the analysis' try."""
    _, db_url = demo_env
    day = quiet_days[0]
    partition = partition_path(demo_copy / "prediction_logs" / "credit_approval", day)
    pd.read_parquet(partition).iloc[:0].to_parquet(partition, index=False)

    summary = monitor(
        config,
        demo_copy,
        db_url,
        "credit_approval",
        day,
        "test_monitoring/empty",
        write_report=True,
    )

    assert (summary.status, summary.severity, summary.report_path) == (
        "succeeded",
        "CRITICAL",
        None,
    )
    found = findings_of(db_url, summary.run_id)
    assert ("data_drift", "drift_report", "", None, "skipped", "INFO") in found
    with store.session_scope(db_url) as session:
        row = session.scalars(
            select(MetricResult).where(
                MetricResult.monitoring_run_id == summary.run_id,
                MetricResult.metric == "drift_report",
            )
        ).one()
        assert row.details["message"] == REPORT_NOT_DRAWN.format(
            reason="no usable rows in the window after the data-quality gate"
        )


def test_a_feature_of_infinities_leaves_it_out_of_the_report_and_the_record_stands(
    demo_env, demo_copy, quiet_days, config
):
    _, db_url = demo_env
    day = quiet_days[0]
    rewrite_day(demo_copy, "marketing_propensity", day, income=float("inf"))

    summary = monitor(
        config,
        demo_copy,
        db_url,
        "marketing_propensity",
        day,
        "test_monitoring/infinite",
        checks=("data_drift",),
        write_report=True,
    )

    assert summary.status == "succeeded"
    assert (demo_copy / summary.report_path).is_file()
    found = findings_of(db_url, summary.run_id)
    assert (DATA_QUALITY, "range", "income", 2000.0, "failed", "CRITICAL") in found
    assert not [row for row in found if row[1] == "drift_report"]


def test_rendering_a_report_later_of_a_window_now_empty_adds_one_finding(
    demo_env, demo_copy, quiet_days, config
):
    _, db_url = demo_env
    day = quiet_days[1]
    summary = monitor(
        config, demo_copy, db_url, "product_recommendation", day, "test_monitoring/later"
    )
    partition = partition_path(demo_copy / "prediction_logs" / "product_recommendation", day)
    pd.read_parquet(partition).iloc[:0].to_parquet(partition, index=False)

    for _ in range(2):  # a retried rendering adds nothing
        assert (
            render_reports(
                [summary.run_id], config=config, data_dir=demo_copy, db_url=db_url, every=True
            )
            == {}
        )

    skipped = [row for row in findings_of(db_url, summary.run_id) if row[1] == "drift_report"]
    assert skipped == [("data_drift", "drift_report", "", None, "skipped", "INFO")]


def evidently_columns(page: str) -> dict[str, dict]:
    """evidently's own rows of its drift table (column, type, test, verdict, score), read from
    the data its page embeds for its script."""
    embedded = re.search(r"var (metric_\w+) = (.*?);\n\s*var additional_graphs_\1", page, re.S)
    assert embedded is not None

    def rows(node):
        if isinstance(node, dict):
            if "column_name" in node and "data_drift" in node:
                yield node
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                yield from rows(item)

    return {row["column_name"]: row for row in rows(json.loads(embedded.group(2)))}


class Tables(HTMLParser):
    """The cells of every table of a page with an id, row by row, as a reader sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._text: str | None = None
        self.feed(page[: page.index("</section>")])

    def handle_starttag(self, tag, attrs):
        identifier = dict(attrs).get("id")
        if tag == "table":
            self._table = identifier
            self.tables[identifier] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self.tables[self._table][-1].append("")
        elif tag == "p" and identifier:
            self._text = identifier
            self.texts[identifier] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "p":
            self._text = None

    def handle_data(self, data):
        if self._table and self.tables[self._table] and self.tables[self._table][-1]:
            self.tables[self._table][-1][-1] += data
        elif self._text:
            self.texts[self._text] += data


def stored_rows(db_url: str, run_id: int) -> tuple[MonitoringRun, list[MetricResult]]:
    with store.session_scope(db_url) as session:
        return session.get(MonitoringRun, run_id), metric_results(session, run_id)


@pytest.fixture
def data_drift_report(demo_env, demo_copy, manifest, config) -> tuple[str, int, str]:
    """The credit model's first data-drift day, recorded and then drawn as the DAGs draw it
    (render_reports, after the analyses): (db_url, record id, the page)."""
    _, db_url = demo_env
    summary = monitor(
        config,
        demo_copy,
        db_url,
        "credit_approval",
        manifest.scenarios["data_drift"][0],
        "test_monitoring/data-drift-report",
    )
    written = render_reports([summary.run_id], config=config, data_dir=demo_copy, db_url=db_url)
    return db_url, summary.run_id, (demo_copy / written[summary.run_id]).read_text()


def test_the_report_of_a_critical_data_drift_day_draws_each_column_as_govflow_judged_it(
    data_drift_report,
):
    """Issue 16: evidently's defaults said "Dataset Drift is NOT detected" on the day govflow
    raised a CRITICAL Wasserstein on credit_score, and read loan_term_months as categorical."""
    db_url, run_id, page = data_drift_report
    record, rows = stored_rows(db_url, run_id)
    (wasserstein,) = [
        row
        for row in rows
        if (row.metric, row.subject) == ("wasserstein_distance_normalised", "credit_score")
    ]
    evidently = evidently_columns(page)
    columns = {row[0]: row for row in Tables(page).tables["govflow-columns"][1:]}

    assert (record.severity, wasserstein.severity) == ("CRITICAL", "CRITICAL")
    assert "Dataset Drift is NOT detected" not in page
    assert "Dataset Drift is detected" in page
    assert (
        evidently["credit_score"]["stattest_name"],
        evidently["credit_score"]["data_drift"],
    ) == ("Wasserstein distance (normed)", "Detected")
    # evidently's score judged at the bound of govflow's CRITICAL (critical > 0.3).
    assert columns["credit_score"] == [
        "credit_score",
        "numerical",
        "wasserstein_distance_normalised",
        f"{wasserstein.value:.4f}",
        "CRITICAL",
        "wasserstein",
        "0.3",
        f"{evidently['credit_score']['drift_score']:.4f}",
        "drift detected",
    ]
    assert evidently["loan_term_months"]["column_type"] == "num"
    assert columns["loan_term_months"][1] == "numerical"
    assert evidently["home_ownership"]["column_type"] == "cat"


def test_the_report_opens_with_govflows_severity_composite_findings_and_fairness_table(
    data_drift_report,
):
    db_url, run_id, page = data_drift_report
    record, rows = stored_rows(db_url, run_id)
    found = Tables(page)

    assert page.index('<section id="govflow-verdicts"') < page.index('<div id="root_')
    assert found.texts["govflow-summary"] == (
        f"Severity CRITICAL; composite score {record.composite_score:.4f} (CRITICAL above 0.3);"
        f" baseline {record.baseline_version}; run test_monitoring/data-drift-report."
    )
    assert found.texts["govflow-conclusion"].startswith("govflow's verdicts above are the ones")
    assert [row[0] for row in found.tables["govflow-composite"][1:]] == [
        *record.composite_breakdown["components"],
        *record.composite_breakdown["missing_components"],
    ]
    critical = [row for row in rows if row.severity == "CRITICAL"]
    assert critical
    assert [cells[:6] for cells in found.tables["govflow-findings"][1:] if "CRITICAL" in cells] == [
        [
            row.check_type,
            row.metric,
            row.subject,
            f"{row.value:.4f}",
            Threshold.from_dict(row.threshold).describe(),
            "CRITICAL",
        ]
        for row in critical
    ]
    (impact,) = [
        row for row in rows if (row.metric, row.subject) == ("disparate_impact_ratio", "gender")
    ]
    fairness = {(cells[0], cells[1]): cells for cells in found.tables["govflow-fairness"][1:]}
    details = impact.details
    assert fairness["gender", "disparate_impact_ratio"][5:] == [
        f"[{details['ci_low']:.4g}, {details['ci_high']:.4g}]",
        f"{details['max_group']} vs {details['min_group']}",
        "rows per group: "
        + ", ".join(f"{group} {n}" for group, n in details["group_sizes"].items()),
    ]
    # A labelled metric's groups are sized by what its rates rest on: actual positives.
    (opportunity,) = [
        row for row in rows if (row.metric, row.subject) == ("equal_opportunity_drift", "gender")
    ]
    assert opportunity.details["group_sizes_counted"] == "actual positives"
    assert fairness["gender", "equal_opportunity_drift"][-1] == "actual positives per group: " + (
        ", ".join(f"{group} {n}" for group, n in opportunity.details["group_sizes"].items())
    )


def with_sql_log(config: GovflowConfig, model_id: str, url_env: str, table: str):
    """``config`` with ``model_id``'s prediction log read from a SQL table."""
    sql = SqlLog(kind="sql", url_env=url_env, table=table)
    models = [
        model.model_copy(update={"prediction_log": sql}) if model.id == model_id else model
        for model in config.models.models
    ]
    return config.model_copy(update={"models": config.models.model_copy(update={"models": models})})


@pytest.mark.parametrize(
    ("url", "table", "expected"),
    [
        (None, "predictions", UNSET_URL_ENV.format(name="GOVFLOW_TEST_LOGS_URL")),
        (
            "sqlite:////nonexistent-directory/logs.db",
            "predictions",
            UNREACHABLE_DATABASE.format(error="unable to open database file"),
        ),
        ("sqlite://", "predictions", MISSING_TABLE.format(table="predictions")),
    ],
    ids=["url_env unset", "database unreachable", "no such table"],
)
def test_an_unreachable_sql_source_is_a_failed_record_naming_the_cause(
    demo_env, quiet_days, config, monkeypatch, url, table, expected
):
    _, db_url = demo_env
    if url is None:
        monkeypatch.delenv("GOVFLOW_TEST_LOGS_URL", raising=False)
    else:
        monkeypatch.setenv("GOVFLOW_TEST_LOGS_URL", url)
    sql_config = with_sql_log(config, "credit_approval", "GOVFLOW_TEST_LOGS_URL", table)

    summary = monitor(
        sql_config,
        demo_env[0],
        db_url,
        "credit_approval",
        quiet_days[0],
        f"test_monitoring/sql/{expected[:20]}",
    )

    with store.session_scope(db_url) as session:
        record = session.get(MonitoringRun, summary.run_id)
        assert (record.status, record.error) == ("failed", UNREADABLE_WINDOW.format(error=expected))
        assert "\n" not in record.error


def test_config_check_warns_about_an_unset_url_env(tmp_path, monkeypatch):
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    models = config_dir / "models.yaml"
    text = models.read_text()
    parquet = "prediction_log: {kind: parquet, path: prediction_logs/credit_approval}"
    assert parquet in text
    models.write_text(
        text.replace(
            parquet,
            "prediction_log: {kind: sql, url_env: GOVFLOW_TEST_LOGS_URL, table: predictions}",
            1,
        )
    )
    monkeypatch.delenv("GOVFLOW_TEST_LOGS_URL", raising=False)

    result = CliRunner().invoke(app, ["config", "check", "--config-dir", str(config_dir)])

    assert result.exit_code == 0, result.output
    assert (
        "warning: credit_approval: prediction_log.url_env GOVFLOW_TEST_LOGS_URL is not set"
        in result.output
    )


def test_rows_dated_outside_their_partition_day_are_counted_in_a_finding(
    demo_env, demo_copy, quiet_days, config
):
    """Issue 13 item 3: 10 % of a day shifted ten years ahead were filtered away unseen."""
    _, db_url = demo_env
    day = quiet_days[0]
    partition = partition_path(demo_copy / "prediction_logs" / "product_recommendation", day)
    frame = pd.read_parquet(partition)
    shifted = frame.index[::10]
    frame.loc[shifted, "scored_at"] = frame.loc[shifted, "scored_at"] + pd.DateOffset(years=10)
    frame.to_parquet(partition, index=False)

    summary = monitor(
        config, demo_copy, db_url, "product_recommendation", day, "test_monitoring/misdated"
    )

    found = findings_of(db_url, summary.run_id)
    assert (DATA_QUALITY, "misdated_rows", "scored_at", 200.0, "failed", "WARNING") in found
    assert summary.severity == "WARNING"


def test_a_day_from_the_future_is_unmonitorable(demo_env, demo_copy, quiet_days, config):
    """Issue 13 item 3: a day dated 2030 analysed in 2026 came out INFO."""
    _, db_url = demo_env
    source = partition_path(demo_copy / "prediction_logs" / "marketing_propensity", quiet_days[0])
    future = date(2030, 1, 15)
    frame = pd.read_parquet(source)
    offset = pd.Timestamp(future, tz="UTC") - pd.Timestamp(quiet_days[0], tz="UTC")
    frame["scored_at"] = frame["scored_at"] + offset
    target = partition_path(demo_copy / "prediction_logs" / "marketing_propensity", future)
    target.parent.mkdir(parents=True)
    frame.to_parquet(target, index=False)

    summary = monitor(
        config, demo_copy, db_url, "marketing_propensity", future, "test_monitoring/future"
    )

    found = findings_of(db_url, summary.run_id)
    assert (DATA_QUALITY, "future_rows", "scored_at", 2000.0, "failed", "CRITICAL") in found
    assert summary.severity == "CRITICAL"


def test_a_run_whose_fairness_metrics_are_all_inconclusive_says_so_not_severity_info(
    demo_env, demo_copy, quiet_days, config
):
    """Issue 13 item 4: one group per attribute leaves nothing to compare, and its INFO
    would read as a pass."""
    _, db_url = demo_env
    day = quiet_days[0]
    # The day and the day whose labels it judges (the label delay earlier).
    delay = config.models.get("marketing_propensity").label_delay_days
    for rewritten in (day, day - timedelta(days=delay)):
        rewrite_day(demo_copy, "marketing_propensity", rewritten, gender="female", age_band="26-40")

    summary = monitor(
        config,
        demo_copy,
        db_url,
        "marketing_propensity",
        day,
        "test_monitoring/inconclusive",
        checks=("fairness_drift",),
    )

    assert summary.severity == "INCONCLUSIVE"
    assert summary.inconclusive == ["fairness_drift"]
    assert summary.headline == (
        "severity INCONCLUSIVE (fairness_drift: no metric could be judged, every one inconclusive)"
    )
    with store.session_scope(db_url) as session:
        record = session.get(MonitoringRun, summary.run_id)
        assert (record.severity, record.composite_breakdown["inconclusive_checks"]) == (
            "INCONCLUSIVE",
            ["fairness_drift"],
        )
    # Nothing is computed: one group per attribute on the day and on its labelled day.
    computed = {f[1] for f in findings_of(db_url, summary.run_id) if f[4] == "computed"}
    assert not computed, computed


def test_a_run_of_airflows_own_backfill_is_history_and_opens_nothing(
    demo_env, manifest, config, monkeypatch
):
    """Issue 14 item 5: the demo's first fairness-drift day, analysed by a backfill run of
    the daily DAG, is recorded CRITICAL as history; no incident, no alert."""
    from types import SimpleNamespace

    from govflow.flows.monitoring import analyse_target

    data_dir, db_url = demo_env
    monkeypatch.setenv("GOVFLOW_DB_URL", db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(data_dir))
    start = day_start(manifest.scenarios["fairness_drift"][0])
    target = {
        "model_id": "credit_approval",
        "start": start.isoformat(),
        "end": (start + timedelta(days=1)).isoformat(),
        "checks": ["fairness_drift"],
        "cadence": "daily",
    }
    run = SimpleNamespace(run_id="backfill__2025-03-29T02:00:00+00:00", run_type="backfill")

    analysed = analyse_target(target, dag_id="govflow_monitoring_daily", dag_run=run)

    assert analysed == {"summary": analysed["summary"], "send_now": []}
    assert analysed["summary"]["severity"] == "CRITICAL"
    with store.session_scope(db_url) as session:
        record = session.get_one(MonitoringRun, analysed["summary"]["run_id"])
        assert record.historical
        assert (
            session.scalars(select(Incident).where(Incident.source_run_id == record.id)).all() == []
        )


def test_the_stable_days_after_a_fairness_drift_are_not_alarmed_again_on_its_days(
    seeded_demo, manifest, config, tmp_path
):
    """The credit model's two fairness-drift days are CRITICAL on their own rows; the stable
    days after them pool no day that was already CRITICAL (fairness_history stops before
    it), so the drift is not alarmed again on days that no longer show it."""
    data_dir, _ = seeded_demo
    db_url = seeded_store_copy(seeded_demo, tmp_path / "govflow.db")
    drift = manifest.scenarios["fairness_drift"]
    after = [drift[-1] + timedelta(days=n) for n in (1, 2, 3)]
    assert set(after) <= set(manifest.scenarios["stable"])
    selection = {}
    for day in [*drift, *after]:
        summary = monitor(
            config,
            data_dir,
            db_url,
            "credit_approval",
            day,
            f"pooling-{day}",
            checks=("fairness_drift",),
        )
        with store.session_scope(db_url) as session:
            selection[day] = [
                (row.metric, row.subject, row.severity, row.details["pooled_days"])
                for row in session.scalars(
                    select(MetricResult).where(MetricResult.monitoring_run_id == summary.run_id)
                )
                if row.details.get("window") == "current" and row.status == "computed"
            ]
    for day in drift:
        assert any(found[2:] == ("CRITICAL", 1) for found in selection[day]), selection[day]
    for day in after:
        alarms = [found for found in selection[day] if found[2] in ("WARNING", "CRITICAL")]
        assert alarms == [], (day, alarms)


def test_an_analysis_left_unrecorded_by_a_run_with_the_longest_run_id_is_recorded_once(
    postgres_url, monkeypatch
):
    """A monitoring run triggered with a 250-character run id: its record's key holds the DAG
    id, the run id and the cadence."""
    store.upgrade(postgres_url)
    with store.session_scope(postgres_url) as session:
        session.add(high_risk_model("credit_approval"))
    monkeypatch.setenv(settings.DB_URL_ENV, postgres_url)
    target = {
        "model_id": "credit_approval",
        "cadence": "daily",
        "checks": [],
        "start": "2025-03-08T00:00:00+00:00",
        "end": "2025-03-09T00:00:00+00:00",
    }
    dag_id = "govflow_monitoring_daily"

    first = record_missing_analyses([target], dag_id=dag_id, dag_run_id=LONGEST_RUN_ID)
    again = record_missing_analyses([target], dag_id=dag_id, dag_run_id=LONGEST_RUN_ID)

    assert first["models"] == ["credit_approval"]
    assert again == {"models": [], "message": "", "send_now": []}
    key = target_run_key(target, dag_id=dag_id, dag_run_id=LONGEST_RUN_ID)
    with store.session_scope(postgres_url) as session:
        records = session.execute(select(MonitoringRun.run_key, MonitoringRun.status)).all()
        alerts = session.scalars(select(Alert.id)).all()
    assert [tuple(record) for record in records] == [(key, "failed")]
    assert len(key) == KEY_MAX_CHARS
    assert alerts == first["send_now"]
