"""Issue 14 items 1 and 2: a team's own model, not the demo's (its own features, groups and
data, no artefact), registered and given a baseline with documented commands, then
monitored; whatever is forgotten, the next command is named in one line."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow import registry, store
from govflow.cli import UNTAGGED_VERSION, app
from govflow.config import load_config
from govflow.flows.monitoring import alert_and_open_incidents
from govflow.monitoring.analysis import UNREADABLE_WINDOW
from govflow.monitoring.prediction_logs import UNREADABLE_PARTITION, partition_path
from govflow.monitoring.quality import NO_ROWS
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Baseline,
    Incident,
    MetricResult,
    MonitoringRun,
)
from tests.support.own_models import (
    REGRESSOR,
    REGRESSOR_ENTRY,
    TENANCY,
    customer_value_rows,
    guide_blocks,
    guide_workspace,
    tenancy_rows,
    with_attributions,
)

MODEL = TENANCY
DAY = date(2024, 6, 3)
ROWS = 1500


@pytest.fixture
def own_model(tmp_path, monkeypatch) -> Path:
    """A config with the team's model beside the demo's, its validation CSV and one day of
    logs; GOVFLOW_* point at a fresh store."""
    rng = guide_workspace(tmp_path, monkeypatch)
    day = tenancy_rows(rng, ROWS, datetime.combine(DAY, datetime.min.time(), tzinfo=UTC))
    log = partition_path(tmp_path / "logs" / MODEL, DAY)
    log.parent.mkdir(parents=True)
    day.to_parquet(log, index=False)
    return tmp_path


def govflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="govflow")


MONITOR = ["monitor", "run", "--model", MODEL, "--start", "2024-06-03"]


def register_with_baseline(own_model: Path) -> None:
    """The guide's first two steps: register the model, make its baseline from validation.csv."""
    assert govflow("model", "register", MODEL).exit_code == 0
    validation = str(own_model / "validation.csv")
    assert govflow("baseline", "create", "--model", MODEL, "--from", validation).exit_code == 0


def test_a_model_that_is_not_registered_is_named_with_the_command_to_run(own_model):
    result = govflow(*MONITOR)

    assert (result.exit_code, result.stdout, result.stderr) == (
        3,
        "",
        f"model {MODEL} is not registered: run 'govflow model register {MODEL}'\n",
    )


def test_a_backfill_of_a_model_that_is_not_registered_could_not_be_carried_out(own_model):
    """Status 3, as the README's table has it: 1 would read as a CRITICAL finding."""
    result = govflow(
        "monitor", "backfill", "--model", MODEL, "--start", "2024-06-03", "--end", "2024-06-03"
    )

    assert (result.exit_code, result.stdout, result.stderr) == (
        3,
        "",
        f"model {MODEL} is not registered: run 'govflow model register {MODEL}'\n",
    )


def untagged(version: str, tag: str) -> str:
    return UNTAGGED_VERSION.format(version=version, tag=tag) + "\n"


@pytest.mark.parametrize(
    ("version", "note"),
    [
        (None, untagged("1", "1.0.0")),  # the default version
        ("2", untagged("2", "2.0.0")),
        ("release-a", untagged("release-a", "1.0.0")),
        ("1.0.0", ""),
        ("2.1.0-rc.1", ""),
    ],
)
def test_register_says_when_a_version_cannot_be_deployed_for_want_of_a_semantic_tag(
    own_model, version, note
):
    """The deployment procedure's checklist refuses such a version at its step 5, after
    approval and baseline: register says so while the version can still be chosen."""
    chosen = [] if version is None else ["--version", version]
    registered = govflow("model", "register", MODEL, *chosen)

    assert (registered.exit_code, registered.stderr) == (0, ""), registered.output
    first, *rest = registered.stdout.splitlines(keepends=True)
    assert first.startswith(f"{MODEL} {version or '1'} registered (draft, black box); next: ")
    assert "".join(rest) == note
    if note:
        tag = note.rsplit(" ", 1)[-1].strip()
        suggested = govflow("model", "register", MODEL, "--version", tag)
        assert suggested.exit_code == 0, suggested.output
        assert "not a semantic version tag" not in suggested.stdout


def test_register_says_nothing_of_the_tag_of_a_version_in_production(own_model):
    """A version declared in production is not deployed again: its tag does not matter."""
    declared = govflow("model", "register", MODEL, "--in-production", "--actor", "lena")
    again = govflow("model", "register", MODEL)

    assert (declared.exit_code, again.exit_code) == (0, 0), declared.output + again.output
    assert "not a semantic version tag" not in declared.stdout + again.stdout


def test_register_then_baseline_then_monitor_a_black_box_model_of_ones_own(own_model):
    registered = govflow("model", "register", MODEL)
    again = govflow("model", "register", MODEL)
    assert registered.exit_code == 0, registered.output
    assert registered.stdout == again.stdout
    assert "(draft, black box)" in registered.stdout

    forgot = govflow(*MONITOR)
    assert forgot.exit_code == 3
    assert (
        f"model {MODEL} has no active baseline: run 'govflow baseline create --model {MODEL} "
        "--from <validation data>'" in forgot.stdout
    )

    created = govflow(
        "baseline", "create", "--model", MODEL, "--from", str(own_model / "validation.csv")
    )
    repeated = govflow(
        "baseline", "create", "--model", MODEL, "--from", str(own_model / "validation.csv")
    )
    assert created.exit_code == 0, created.output
    # Named after the data's last day, not today's; the same data again is the same baseline.
    assert f"{MODEL}: baseline 2024-05-02-v1 active (4000 rows" in created.stdout
    assert repeated.stdout == created.stdout

    monitored = govflow(*MONITOR)
    assert monitored.exit_code in (0, 1), monitored.output
    db_url = f"sqlite:///{own_model / 'govflow.db'}"
    with store.session_scope(db_url) as session:
        record = session.scalars(
            select(MonitoringRun).where(
                MonitoringRun.model_id == MODEL, MonitoringRun.status == "succeeded"
            )
        ).one()
        findings = {
            (row.check_type, row.metric, row.subject): row
            for row in session.scalars(
                select(MetricResult).where(MetricResult.monitoring_run_id == record.id)
            )
        }
        baselines = session.scalars(select(Baseline).where(Baseline.model_id == MODEL)).all()
        created_events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "baseline.created")
        ).all()
    assert record.baseline_version == "2024-05-02-v1"
    assert ("data_drift", "psi", "monthly_rent") in findings
    assert ("fairness_drift", "disparate_impact_ratio", "nationality") in findings
    shap = findings[("explanation_drift", "shap_rank_correlation", "")]
    assert shap.status == "skipped"
    assert len(baselines) == 1
    assert [e.target for e in created_events] == [f"baseline:{MODEL}:2024-05-02-v1"]
    # A risk score: its 1 declines, so each group's selection counts its 0s (favourable 0).
    day = pd.read_parquet(partition_path(own_model / "logs" / MODEL, DAY))
    by_sex = record.fairness_counts["sex"]["current"]["groups"]
    approved = day[day["prediction"] == 0].groupby("sex").size().to_dict()
    assert {group: counts["selected"] for group, counts in by_sex.items()} == approved


def test_an_analysis_that_raises_records_one_line_and_keeps_the_traceback_for_the_task_log(
    own_model, monkeypatch, caplog
):
    register_with_baseline(own_model)

    def raises(**_: object) -> None:
        raise ValueError("the first line\nand more that no record shows")

    monkeypatch.setattr("govflow.monitoring.analysis.analyse_window", raises)
    with caplog.at_level(logging.INFO, logger="govflow.flows.monitoring"):
        monitored = govflow(*MONITOR, "--no-report")

    assert (monitored.exit_code, monitored.stderr) == (3, "")
    reason = "analysis raised ValueError: the first line"
    assert f"    {reason}\n" in monitored.stdout
    with store.session_scope(f"sqlite:///{own_model / 'govflow.db'}") as session:
        record = session.scalars(select(MonitoringRun)).one()
        assert (record.status, record.error) == ("failed", reason)
    (logged,) = [r for r in caplog.records if r.name == "govflow.flows.monitoring"]
    assert logged.exc_info is not None and logged.exc_info[0] is ValueError


def test_a_black_box_that_logs_attributions_gets_explanation_drift_from_them(own_model):
    """Issue 14 item 2 through the guide's commands: attribution__<feature> columns in the
    validation data and in the day's logs are profiled and judged, never taken for
    features."""
    rng = np.random.default_rng(12)
    validation = own_model / "validation.csv"
    with_attributions(pd.read_csv(validation), rng).to_csv(validation, index=False)
    log = partition_path(own_model / "logs" / MODEL, DAY)
    with_attributions(pd.read_parquet(log), rng).to_parquet(log, index=False)
    assert govflow("model", "register", MODEL).exit_code == 0

    created = govflow("baseline", "create", "--model", MODEL, "--from", str(validation))
    monitored = govflow(*MONITOR)

    assert created.exit_code == 0, created.output
    assert created.stdout.splitlines()[-1] == (
        f"{MODEL}: explanation drift from the logged attributions (attribution__monthly_rent, "
        "attribution__prior_tenancies, attribution__tenancy_kind); log them beside every "
        "prediction"
    )
    assert monitored.exit_code in (0, 1), monitored.output
    with store.session_scope(f"sqlite:///{own_model / 'govflow.db'}") as session:
        findings = session.scalars(select(MetricResult)).all()
    shap = [f for f in findings if f.check_type == "explanation_drift"]
    assert [(f.status, f.value, f.severity) for f in shap] == [("computed", 1.0, "INFO")]
    assert not [f for f in findings if f.subject.startswith("attribution__")]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--from", "missing.csv"],
            "baseline data missing.csv: no such file or directory",
        ),
        (
            ["--from", "validation.csv", "--url-env", "GOVFLOW_TEST_UNSET_URL"],
            "baseline data: the environment variable GOVFLOW_TEST_UNSET_URL (the database URL) "
            "is not set",
        ),
    ],
)
def test_baseline_create_refuses_what_it_cannot_read_in_one_line(
    own_model, monkeypatch, args, line
):
    monkeypatch.chdir(own_model)
    monkeypatch.delenv("GOVFLOW_TEST_UNSET_URL", raising=False)
    assert govflow("model", "register", MODEL).exit_code == 0

    result = govflow("baseline", "create", "--model", MODEL, *args)

    assert (result.exit_code, result.stdout, result.stderr) == (3, "", line + "\n")


def test_a_baseline_from_data_missing_a_column_names_it(own_model):
    frame = pd.read_csv(own_model / "validation.csv").drop(columns=["nationality"])
    frame.to_csv(own_model / "short.csv", index=False)
    assert govflow("model", "register", MODEL).exit_code == 0

    result = govflow("baseline", "create", "--model", MODEL, "--from", str(own_model / "short.csv"))

    assert result.exit_code == 3
    assert result.stderr == (
        f"baseline data {own_model / 'short.csv'} has no column for: nationality "
        f"(models.yaml names them for {MODEL})\n"
    )


def test_a_baseline_is_read_from_a_sql_table_through_an_environment_variable(
    own_model, monkeypatch
):
    from sqlalchemy import create_engine

    url = f"sqlite:///{own_model / 'validation.db'}"
    engine = create_engine(url)
    pd.read_csv(own_model / "validation.csv").to_sql("applications", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("TENANCY_VALIDATION_URL", url)
    assert govflow("model", "register", MODEL).exit_code == 0

    from_table = govflow(
        "baseline",
        "create",
        "--model",
        MODEL,
        "--from",
        "applications",
        "--url-env",
        "TENANCY_VALIDATION_URL",
    )
    # Other data over version 1's active baseline would be a reset: the query's rows are
    # the validation data of version 2, deployed (it serves all traffic).
    assert govflow("model", "register", MODEL, "--version", "2").exit_code == 0
    with store.session_scope() as session:
        registry.log_stage(
            session, model_id=MODEL, version="2", stage="production", deployed_by="mike"
        )
    from_query = govflow(
        "baseline",
        "create",
        "--model",
        MODEL,
        "--from",
        "SELECT * FROM applications WHERE sex = 'female'",
        "--url-env",
        "TENANCY_VALIDATION_URL",
        "--model-version",
        "2",
    )

    assert from_table.exit_code == 0, from_table.output
    assert from_query.exit_code == 0, from_query.output
    assert "4000 rows from applications" in from_table.stdout
    assert "baseline 2024-05-02-v2 active" in from_query.stdout


def test_the_readme_guide_runs_as_printed_on_a_model_of_ones_own(own_model):
    """Each command of the guide's shell block, in a shell, from the directory holding the
    reader's validation.csv; every one succeeds, register declares version 1 in production
    and the last records the day."""
    commands = guide_blocks("sh")[0]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    outputs = []
    for command in commands.strip().splitlines():
        done = subprocess.run(
            command,
            shell=True,
            cwd=own_model,
            env={**os.environ, "PATH": path},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)

    assert len(outputs) <= 6
    assert (
        f"validation set models/{MODEL}/1/validation.parquet: 4000 labelled rows, "
        "accuracy 0.714, AUC 0.715"
    ) in outputs[1]
    assert f"{MODEL} 1 declared in production" in outputs[1]
    assert f"{MODEL}: succeeded" in outputs[-1]
    assert "baseline 2024-05-02-v1" in outputs[-1]


def write_days(data_dir: Path, first: date, days: int, *, drifted: date) -> None:
    """``days`` days of logs from ``first``; on ``drifted`` the rents triple."""
    rng = np.random.default_rng(5)
    for offset in range(days):
        day = first + timedelta(days=offset)
        rows = tenancy_rows(rng, ROWS, datetime.combine(day, datetime.min.time(), tzinfo=UTC))
        if day == drifted:
            rows["monthly_rent"] *= 3
        log = partition_path(data_dir / "logs" / MODEL, day)
        log.parent.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(log, index=False)


def test_a_year_of_history_is_recorded_day_by_day_and_pages_no_one(own_model):
    """Issue 14 item 5, on a week: a drifted day long past is recorded CRITICAL, opens no
    incident and puts nothing in the outbox; backfilling again rewrites the same records."""
    write_days(own_model, date(2023, 9, 1), 7, drifted=date(2023, 9, 4))
    register_with_baseline(own_model)
    backfill = ["monitor", "backfill", "--model", MODEL, "--start", "2023-09-01"]

    first = govflow(*backfill, "--end", "2023-09-07")
    again = govflow(*backfill, "--end", "2023-09-07")

    assert first.exit_code == 0, first.output
    assert "2023-09-04  succeeded  CRITICAL" in first.stdout
    # A drifted day keeps its bare line: only a day the data-quality gate failed says so.
    assert "2023-09-04  succeeded  CRITICAL" in first.stdout.splitlines()
    assert f"{MODEL}: 7 days recorded as history" in first.stdout
    assert again.stdout == first.stdout
    db_url = f"sqlite:///{own_model / 'govflow.db'}"
    with store.session_scope(db_url) as session:
        records = session.scalars(
            select(MonitoringRun).where(MonitoringRun.model_id == MODEL)
        ).all()
        ids = [record.id for record in records]
        assert {record.historical for record in records} == {True}
    assert len(ids) == 7
    config = load_config(own_model / "config")
    opened = [alert_and_open_incidents(run_id, config=config, db_url=db_url) for run_id in ids]
    assert opened == [{"send_now": [], "incidents": []}] * 7
    with store.session_scope(db_url) as session:
        assert session.scalars(select(Incident)).all() == []
        assert session.scalars(select(Alert)).all() == []


def test_a_backfilled_day_that_failed_is_printed_with_its_reason(own_model):
    """The record says why a day failed; so does the line of that day, not only the store."""
    unreadable = partition_path(own_model / "logs" / MODEL, DAY + timedelta(days=1))
    unreadable.parent.mkdir(parents=True)
    unreadable.write_bytes(b"not parquet")
    register_with_baseline(own_model)

    result = govflow(
        *("monitor", "backfill", "--model", MODEL, "--start", "2024-06-03", "--end", "2024-06-04"),
        *("--checks", "data_drift"),
    )

    reason = UNREADABLE_WINDOW.format(error=UNREADABLE_PARTITION.format(path=unreadable))
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines()[:2] == [
        "2024-06-03  succeeded  INFO",
        f"2024-06-04  failed     CRITICAL  {reason}",
    ]


def test_an_unreadable_day_outside_the_window_leaves_an_empty_window_judged_as_no_rows(
    own_model,
):
    unreadable = partition_path(own_model / "logs" / MODEL, DAY - timedelta(days=30))
    unreadable.parent.mkdir(parents=True)
    unreadable.write_bytes(b"not parquet")
    register_with_baseline(own_model)

    result = govflow("monitor", "run", "--model", MODEL, "--start", "2024-06-10", "--no-report")

    assert (result.exit_code, result.stderr) == (1, ""), result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["data_quality", "no_rows", "0.0000", "-", "CRITICAL", "(failed)"]
    assert lines[2].strip() == NO_ROWS
    assert f"{MODEL}: succeeded, severity CRITICAL" in result.stdout


def test_a_backfilled_day_without_logs_is_printed_with_the_gates_reason(own_model):
    register_with_baseline(own_model)
    days = ("--start", "2024-06-03", "--end", "2024-06-04", "--checks", "data_drift")

    backfilled = govflow("monitor", "backfill", "--model", MODEL, *days)
    run = govflow("monitor", "run", "--model", MODEL, "--start", "2024-06-04", "--no-report")

    assert backfilled.exit_code == 0, backfilled.output
    assert backfilled.stdout.splitlines()[:2] == [
        "2024-06-03  succeeded  INFO",
        f"2024-06-04  succeeded  CRITICAL  (data quality: {NO_ROWS})",
    ]
    assert run.exit_code == 1, run.output
    assert (
        f"{MODEL}: succeeded, severity CRITICAL (data quality: {NO_ROWS}), composite n/a,"
        in run.stdout
    )


def test_a_backfills_last_day_is_included_in_any_form_of_date_python_reads(own_model):
    """20240604 is the 4th as 2024-06-04 is: its whole day, not the instant it begins."""
    register_with_baseline(own_model)
    days = ("--start", "20240603", "--end", "20240604", "--checks", "data_drift")

    backfilled = govflow("monitor", "backfill", "--model", MODEL, *days)

    assert backfilled.exit_code == 0, backfilled.output
    assert backfilled.stdout.splitlines()[:2] == [
        "2024-06-03  succeeded  INFO",
        f"2024-06-04  succeeded  CRITICAL  (data quality: {NO_ROWS})",
    ]


@pytest.fixture
def regression_model(own_model: Path, monkeypatch) -> Path:
    """The guide's regressor beside the other models, its validation CSV in the working
    directory, and days of logs: 3 June its errors grew, 4 June as at validation."""
    models = own_model / "config" / "models.yaml"
    models.write_text(models.read_text() + REGRESSOR_ENTRY)
    rng = np.random.default_rng(3)
    customer_value_rows(rng, 4000, datetime(2024, 5, 1, tzinfo=UTC)).to_csv(
        own_model / "customer_value.csv", index=False
    )
    for day, noise in ((date(2024, 6, 3), 250.0), (date(2024, 6, 4), 150.0)):
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        log = partition_path(own_model / "logs" / REGRESSOR, day)
        log.parent.mkdir(parents=True)
        customer_value_rows(rng, ROWS, start, noise=noise).to_parquet(log, index=False)
    monkeypatch.chdir(own_model)
    return own_model


# Model drift alone and no HTML report: what these tests check, in less time.
REGRESSOR_MODEL_DRIFT = [
    *("monitor", "run", "--model", REGRESSOR),
    *("--checks", "model_drift", "--no-report"),
]


def recorded_findings(data_dir: Path, day: str) -> dict[tuple[str, str, str], MetricResult]:
    with store.session_scope(f"sqlite:///{data_dir / 'govflow.db'}") as session:
        (record,) = [
            run
            for run in session.scalars(
                select(MonitoringRun).where(
                    MonitoringRun.model_id == REGRESSOR, MonitoringRun.status == "succeeded"
                )
            )
            if run.interval_start.date() == date.fromisoformat(day)
        ]
        return {
            (row.check_type, row.metric, row.subject): row
            for row in session.scalars(
                select(MetricResult).where(MetricResult.monitoring_run_id == record.id)
            )
        }


def test_the_readme_regression_guide_runs_as_printed_and_finds_the_mae_drift(regression_model):
    """The guide's second shell block, each line as printed: the day whose errors grew is
    CRITICAL on MAE and RMSE (their intervals beyond the warning bound), its predictions
    did not move, and each fairness ratio records its interval and group sizes."""
    commands = guide_blocks("sh")[1].strip().splitlines()
    outputs = []
    for command in commands:
        program, *args = shlex.split(command)
        assert program == "govflow"
        done = govflow(*args)
        assert done.exit_code in (0, 1), (command, done.output)
        outputs.append(done.stdout)

    assert len(commands) == 3
    assert f"{REGRESSOR} 1 registered (draft, black box)" in outputs[0]
    assert (
        f"validation set models/{REGRESSOR}/1/validation.parquet: 4000 labelled rows, "
        "MAE 118, RMSE 148"
    ) in outputs[0]
    assert f"{REGRESSOR}: baseline 2024-05-02-v1 active (4000 rows" in outputs[1]
    assert f"{REGRESSOR}: succeeded, severity CRITICAL" in outputs[2]
    findings = recorded_findings(regression_model, "2024-06-03")
    for metric in ("mae_increase", "rmse_increase"):
        found = findings[("model_drift", metric, "")]
        assert (found.severity, found.status) == ("CRITICAL", "computed")
        assert found.value > 0.10
        assert found.details["ci_low"] > 0.05
        assert found.threshold["critical"] == 0.10  # seed 004's accuracy drop
    assert findings[("model_drift", "prediction_distribution_shift", "")].severity == "INFO"
    assert findings[("model_drift", "output_spread_change", "")].severity == "INFO"
    assert findings[("model_drift", "psi", "prediction")].severity == "INFO"
    ratio = findings[("fairness_drift", "mean_prediction_ratio", "age_band")]
    assert ratio.threshold["critical"] == 0.80
    assert set(ratio.details["group_sizes"]) == {"18-34", "35-54", "55+"}
    assert sum(ratio.details["group_sizes"].values()) == ROWS
    assert ratio.details["ci_low"] < ratio.value < ratio.details["ci_high"]
    assert ("fairness_drift", "mean_absolute_error_difference", "sex") in findings
    # A group's error rests on its labelled rows only, and its sizes say so.
    error = findings[("fairness_drift", "mean_absolute_error_ratio", "age_band")]
    assert (ratio.details["group_sizes_counted"], error.details["group_sizes_counted"]) == (
        "rows",
        "labelled rows",
    )
    shap = findings[("explanation_drift", "shap_rank_correlation", "")]
    assert shap.status == "skipped"


def test_a_regressor_day_like_its_validation_passes_and_a_day_without_labels_is_inconclusive(
    regression_model,
):
    day = partition_path(regression_model / "logs" / REGRESSOR, date(2024, 6, 4))
    unlabelled = pd.read_parquet(day).assign(label=np.nan, label_observed_at=pd.NaT)
    later = partition_path(regression_model / "logs" / REGRESSOR, date(2024, 6, 5))
    later.parent.mkdir(parents=True)
    unlabelled.assign(scored_at=unlabelled["scored_at"] + timedelta(days=1)).to_parquet(later)
    assert govflow("model", "register", REGRESSOR).exit_code == 0
    created = govflow("baseline", "create", "--model", REGRESSOR, "--from", "customer_value.csv")
    assert created.exit_code == 0, created.output
    for start in ("2024-06-04", "2024-06-05"):
        govflow(*REGRESSOR_MODEL_DRIFT, "--start", start)

    stable = recorded_findings(regression_model, "2024-06-04")
    without_labels = recorded_findings(regression_model, "2024-06-05")

    assert stable[("model_drift", "mae_increase", "")].severity == "INFO"
    assert stable[("model_drift", "mae_increase", "")].status == "computed"
    blind = without_labels[("model_drift", "mae_increase", "")]
    assert (blind.status, blind.value) == ("inconclusive", None)
    assert blind.details["message"] == "only 0 labelled rows, fewer than 100"


def test_a_regressor_log_with_bad_predictions_is_a_named_finding_not_a_traceback(
    regression_model,
):
    day = partition_path(regression_model / "logs" / REGRESSOR, date(2024, 6, 4))
    frame = pd.read_parquet(day)
    frame.loc[:9, "prediction"] = np.nan
    frame.loc[10:19, "prediction"] = np.inf
    frame.loc[20:29, "prediction"] = -5.0
    frame.to_parquet(day)
    assert govflow("model", "register", REGRESSOR).exit_code == 0
    assert (
        govflow(
            "baseline", "create", "--model", REGRESSOR, "--from", "customer_value.csv"
        ).exit_code
        == 0
    )

    result = govflow(*REGRESSOR_MODEL_DRIFT, "--start", "2024-06-04")

    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    findings = recorded_findings(regression_model, "2024-06-04")
    quality = {key[1]: row for key, row in findings.items() if key[0] == "data_quality"}
    assert quality["nulls"].subject == "prediction"
    assert quality["range"].subject == "prediction"
    assert quality["range"].value == 20.0
    mae = findings[("model_drift", "mae_increase", "")]
    assert (mae.status, mae.details["labelled"]) == ("computed", ROWS - 30)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("lots", "prediction: 1 of 4000 values not numeric ('lots')"),
        # pandas reads "n/a" as a missing value.
        (
            "n/a",
            "prediction: 1 of 4000 values null, more than 0% allowed; their rows are left out "
            "of the analysis",
        ),
    ],
)
def test_a_regressor_prediction_that_is_not_a_number_is_named_and_its_row_left_out(
    regression_model, value, problem
):
    """The data-quality gate cuts the row, as a day's gate would, and says so on stderr."""
    frame = pd.read_csv("customer_value.csv", dtype={"prediction": str})
    frame.loc[7, "prediction"] = value
    frame.to_csv("broken.csv", index=False)
    assert govflow("model", "register", REGRESSOR).exit_code == 0

    result = govflow("baseline", "create", "--model", REGRESSOR, "--from", "broken.csv")

    assert result.exit_code == 0, result.output
    assert f"{REGRESSOR}: baseline 2024-05-02-v1 active (3999 rows from broken.csv" in (
        result.stdout
    )
    assert result.stderr == (
        f"baseline data broken.csv: {problem}\n"
        "baseline data broken.csv: 3999 of 4000 rows profiled; the gate left out the rest\n"
    )
