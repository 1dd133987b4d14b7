"""dag.test() of the monitoring DAGs on the demo: exactly the checks seed 004 table 1.1 asks."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import func, select

from govflow import store
from govflow.flows import Refused
from govflow.flows.monitoring import draw_report_on_request, resolve_on_demand_request
from govflow.store.schema import Alert, MetricResult, MonitoringRun

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def _records_of(db_url: str, dag_id: str, run_id: str) -> dict[tuple[str, str], list[str]]:
    """(model, cadence) -> checks of the analyses a DAG run recorded (reviews left out)."""
    with store.session_scope(db_url) as session:
        runs = session.scalars(
            select(MonitoringRun).where(
                MonitoringRun.dag_id == dag_id, MonitoringRun.dag_run_id == run_id
            )
        ).all()
        return {
            (run.model_id, run.cadence): list(run.checks)
            for run in runs
            if run.checks != ["baseline_review"]
        }


def _run(dag_bag, dag_id: str, logical_date: datetime):
    dag_run = dag_bag.get_dag(dag_id).test(logical_date=logical_date)
    assert dag_run.state == "success", f"{dag_id} ended {dag_run.state}"
    return dag_run


def test_the_daily_run_checks_data_fairness_and_model_drift_for_high_and_fairness_for_all(
    dag_bag, demo_env
):
    data_dir, db_url = demo_env
    dag_run = _run(dag_bag, "govflow_monitoring_daily", datetime(2025, 3, 20, 2, tzinfo=UTC))
    assert _records_of(db_url, "govflow_monitoring_daily", dag_run.run_id) == {
        ("credit_approval", "daily"): ["data_drift", "fairness_drift", "model_drift"],
        ("marketing_propensity", "daily"): ["fairness_drift"],
        ("product_recommendation", "daily"): ["fairness_drift"],
        ("customer_lifetime_value", "daily"): ["fairness_drift"],
    }
    with store.session_scope(db_url) as session:
        records = session.execute(
            select(
                MonitoringRun.id,
                MonitoringRun.model_id,
                MonitoringRun.severity,
                MonitoringRun.report_path,
            ).where(MonitoringRun.dag_run_id == dag_run.run_id)
        ).all()
    # Issue 18: the run draws the report of a record with a finding above INFO; any other is
    # drawn on request (the dashboard's button).
    drawn = {r.model_id for r in records if r.report_path is not None}
    assert drawn == {r.model_id for r in records if r.severity in ("WARNING", "CRITICAL")}
    assert 0 < len(drawn) < len(records), [(r.model_id, r.severity) for r in records]
    paths = {
        r.model_id: r.report_path or draw_report_on_request(r.id, db_url=db_url) for r in records
    }
    pages = {model: unescape((Path(data_dir) / p).read_text()) for model, p in paths.items()}
    assert len(pages) == 4
    # Only credit's analysis judged data drift: evidently's table beside govflow's verdicts;
    # the fairness-only analyses get govflow's verdicts alone, with no second answer.
    assert 'id="govflow-verdicts"' in pages["credit_approval"]
    assert "evidently" in pages["credit_approval"].lower().split("govflow-verdicts")[-1]
    for model in ("marketing_propensity", "product_recommendation", "customer_lifetime_value"):
        assert "judged no feature's data drift (its checks: fairness_drift)" in pages[model]


def test_the_weekly_run_of_an_even_iso_week_adds_the_biweekly_checks(dag_bag, demo_env):
    _, db_url = demo_env
    sunday_of_week_12 = datetime(2025, 3, 23, 3, tzinfo=UTC)
    assert sunday_of_week_12.isocalendar().week == 12
    dag_run = _run(dag_bag, "govflow_monitoring_weekly", sunday_of_week_12)
    assert _records_of(db_url, "govflow_monitoring_weekly", dag_run.run_id) == {
        ("credit_approval", "weekly"): ["explanation_drift"],
        ("marketing_propensity", "weekly"): ["data_drift", "model_drift"],
        ("marketing_propensity", "biweekly"): ["explanation_drift"],
        ("product_recommendation", "biweekly"): ["data_drift", "model_drift"],
        ("customer_lifetime_value", "weekly"): ["data_drift", "model_drift"],
        ("customer_lifetime_value", "biweekly"): ["explanation_drift"],
    }


def test_the_weekly_run_of_an_odd_iso_week_has_no_biweekly_checks(dag_bag, demo_env):
    _, db_url = demo_env
    sunday_of_week_11 = datetime(2025, 3, 16, 3, tzinfo=UTC)
    dag_run = _run(dag_bag, "govflow_monitoring_weekly", sunday_of_week_11)
    assert _records_of(db_url, "govflow_monitoring_weekly", dag_run.run_id) == {
        ("credit_approval", "weekly"): ["explanation_drift"],
        ("marketing_propensity", "weekly"): ["data_drift", "model_drift"],
        ("customer_lifetime_value", "weekly"): ["data_drift", "model_drift"],
    }


def test_the_monthly_run_checks_low_tier_explanations_and_reviews_every_baseline(dag_bag, demo_env):
    _, db_url = demo_env
    dag_run = _run(dag_bag, "govflow_monitoring_monthly", datetime(2025, 4, 1, 4, tzinfo=UTC))
    analyses = _records_of(db_url, "govflow_monitoring_monthly", dag_run.run_id)
    assert analyses == {("product_recommendation", "monthly"): ["explanation_drift"]}
    with store.session_scope(db_url) as session:
        runs = session.scalars(
            select(MonitoringRun).where(MonitoringRun.dag_run_id == dag_run.run_id)
        ).all()
        reviews = sorted(run.model_id for run in runs if run.checks == ["baseline_review"])
    assert reviews == [
        "credit_approval",
        "customer_lifetime_value",
        "marketing_propensity",
        "product_recommendation",
    ]
    with store.session_scope(db_url) as session:
        posted = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.kind == "baseline_review")
        )
    assert posted == 4


def test_clearing_and_rerunning_an_analysis_task_rewrites_its_record_in_place(dag_bag, demo_env):
    _, db_url = demo_env
    dag = dag_bag.get_dag("govflow_monitoring_daily")
    dag_run = _run(dag_bag, "govflow_monitoring_daily", datetime(2025, 3, 12, 2, tzinfo=UTC))

    def snapshot() -> tuple[int, int]:
        with store.session_scope(db_url) as session:
            ids = session.scalars(
                select(MonitoringRun.id).where(MonitoringRun.dag_run_id == dag_run.run_id)
            ).all()
            results = session.scalar(
                select(func.count())
                .select_from(MetricResult)
                .where(MetricResult.monitoring_run_id.in_(ids))
            )
        return len(ids), results or 0

    before = snapshot()
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import run_monitoring

    # What a retried or cleared mapped task does: the same run key, written again.
    run_monitoring(
        "credit_approval",
        start=datetime(2025, 3, 11, tzinfo=UTC),
        end=datetime(2025, 3, 12, tzinfo=UTC),
        checks=["data_drift", "fairness_drift", "model_drift"],
        cadence="daily",
        run_key=f"{dag.dag_id}/{dag_run.run_id}/daily",
        config=load_config(settings.config_dir()),
        data_dir=settings.data_dir(),
        dag_id=dag.dag_id,
        dag_run_id=dag_run.run_id,
        write_report=False,
    )
    assert snapshot() == before


def test_a_stable_day_of_the_daily_run_records_nothing_above_info(dag_bag, demo_env):
    _, db_url = demo_env
    # Window 2025-03-10, label windows 03-05 (5-day delay) to 03-09: all stable days.
    dag_run = _run(dag_bag, "govflow_monitoring_daily", datetime(2025, 3, 11, 2, tzinfo=UTC))
    with store.session_scope(db_url) as session:
        severities = session.scalars(
            select(MonitoringRun.severity).where(MonitoringRun.dag_run_id == dag_run.run_id)
        ).all()
    assert severities == ["INFO", "INFO", "INFO", "INFO"]


def test_analyze_now_runs_the_requested_checks_for_the_requested_models(dag_bag, demo_env):
    data_dir, db_url = demo_env
    from govflow.demo import DemoManifest

    drift_day = DemoManifest.load(Path(data_dir)).scenarios["data_drift"][0]
    start = datetime(drift_day.year, drift_day.month, drift_day.day, tzinfo=UTC)
    dag_run = dag_bag.get_dag("govflow_monitoring_on_demand").test(
        run_conf={
            "model_ids": ["credit_approval", "product_recommendation"],
            "checks": ["data_drift", "fairness_drift"],
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(days=1)).isoformat(),
            "reason": "after a data pipeline change",
        }
    )
    assert dag_run.state == "success"
    records = _records_of(db_url, "govflow_monitoring_on_demand", dag_run.run_id)
    assert records == {
        ("credit_approval", "on_demand"): ["data_drift", "fairness_drift"],
        ("product_recommendation", "on_demand"): ["data_drift", "fairness_drift"],
    }
    with store.session_scope(db_url) as session:
        severities = dict(
            session.execute(
                select(MonitoringRun.model_id, MonitoringRun.severity).where(
                    MonitoringRun.dag_run_id == dag_run.run_id
                )
            ).all()
        )
    assert severities == {"credit_approval": "CRITICAL", "product_recommendation": "CRITICAL"}


ANALYZE_NOW = {
    "model_ids": ["credit_approval"],
    "checks": ["data_drift"],
    "window_start": "2025-03-28T00:00:00+00:00",
    "window_end": "2025-03-29T00:00:00+00:00",
    "reason": "",
}
ISO = "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"


@pytest.mark.parametrize(
    ("window", "line"),
    [
        (
            {"window_start": "2025-13-40T00:00:00+00:00"},
            f"param window_start: '2025-13-40T00:00:00+00:00' is not a date and time {ISO}",
        ),
        (
            {"window_end": "yesterday"},
            f"param window_end: 'yesterday' is not a date and time {ISO}",
        ),
        ({"window_end": ""}, f"param window_end: '' is not a date and time {ISO}"),
        (
            {"window_end": "2025-03-27T00:00:00+00:00"},
            "param window_end: 2025-03-27T00:00:00+00:00 is not after window_start "
            "2025-03-28T00:00:00+00:00",
        ),
        (
            {"window_end": "2025-03-28T00:00:00"},  # no zone: UTC, as the analysis reads it
            "param window_end: 2025-03-28T00:00:00 is not after window_start "
            "2025-03-28T00:00:00+00:00",
        ),
    ],
)
def test_an_analyze_now_window_that_is_no_window_is_refused_in_one_line(window, line):
    with pytest.raises(Refused) as refused:
        resolve_on_demand_request({**ANALYZE_NOW, **window})
    assert str(refused.value) == line


MODELS = "credit_approval, marketing_propensity, product_recommendation, customer_lifetime_value"
EXPECTED_CHECKS = "data_drift, fairness_drift, model_drift, explanation_drift"


@pytest.mark.parametrize(
    ("request_", "line"),
    [
        (
            {"model_ids": ["credit_aproval"]},
            f"param model_ids: unknown model(s) credit_aproval; models.yaml has {MODELS}",
        ),
        (
            {"model_ids": ["credit_approval", "nope", "churn"]},
            f"param model_ids: unknown model(s) nope, churn; models.yaml has {MODELS}",
        ),
        (
            {"checks": ["data_drift", "psi"]},
            f"param checks: unknown check 'psi'; expected some of {EXPECTED_CHECKS}",
        ),
    ],
)
def test_an_analyze_now_request_naming_an_unknown_model_or_check_is_refused_in_one_line(
    request_, line
):
    with pytest.raises(Refused) as refused:
        resolve_on_demand_request({**ANALYZE_NOW, **request_})
    assert str(refused.value) == line


def test_an_analyze_now_run_for_an_unknown_model_fails_its_first_task_unretried(dag_bag):
    task = dag_bag.get_dag("govflow_monitoring_on_demand").get_task("resolve_request")
    with pytest.raises(AirflowFailException) as failed:
        task.python_callable(params={**ANALYZE_NOW, "model_ids": ["credit_aproval"]})
    assert str(failed.value) == (
        f"param model_ids: unknown model(s) credit_aproval; models.yaml has {MODELS}"
    )


def test_an_analyze_now_run_for_an_unknown_model_fails_once_and_its_last_task_says_why(
    dag_bag, demo_env, capsys
):
    dag = dag_bag.get_dag("govflow_monitoring_on_demand")
    dag_run = dag.test(run_conf={**ANALYZE_NOW, "model_ids": ["credit_aproval"]})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert {task: states[task] for task, (state, _) in states.items() if state == "failed"} == {
        "resolve_request": ("failed", 1),
        "confirm_every_analysis_recorded": ("failed", 1),
    }
    logged = capsys.readouterr()
    line = "no analysis was selected: the task that selects them failed"
    assert f"AirflowFailException: {line}\n" in logged.out + logged.err
    # Nothing was analysed: no results event (the selection's failure fails the run).
    assert states["publish_results"] == ("skipped", 1)


def test_an_analyze_now_window_without_a_zone_is_analysed_as_written():
    window = {"window_start": "2025-03-28T00:00:00", "window_end": "2025-03-29T00:00:00+00:00"}
    ((target,),) = resolve_on_demand_request({**ANALYZE_NOW, **window})
    assert (target["start"], target["end"]) == ("2025-03-28T00:00:00", "2025-03-29T00:00:00+00:00")


def test_an_analyze_now_run_with_no_date_fails_its_first_task_unretried(dag_bag):
    task = dag_bag.get_dag("govflow_monitoring_on_demand").get_task("resolve_request")
    with pytest.raises(AirflowFailException, match="param window_start: 'yesterday' is not"):
        task.python_callable(params={**ANALYZE_NOW, "window_start": "yesterday"})


NO_WINDOW = {**ANALYZE_NOW, "window_start": None, "window_end": None}


def _windows(batches) -> dict[str, tuple[str, str]]:
    return {t["model_id"]: (t["start"], t["end"]) for batch in batches for t in batch}


def _day(day: int) -> tuple[str, str]:
    start = datetime(2025, 3, day, tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def test_analyze_now_without_a_window_analyses_each_models_newest_complete_day_of_logs(
    tmp_path, monkeypatch
):
    """The Params' default window was the demo's 28 March: a team analysing its own model
    without a window had the demo's date analysed, an empty window or a wrong one."""
    import pandas as pd
    import sqlalchemy as sa

    from govflow import settings
    from govflow.monitoring.prediction_logs import partition_path

    def log(day: int, *, hours=(0, 12)) -> pd.DataFrame:
        return pd.DataFrame(
            {"scored_at": [datetime(2025, 3, day, hour, tzinfo=UTC) for hour in hours]}
        )

    for day in (1, 2, 3):  # 3 March is under way at 10:00 on the 3rd
        path = partition_path(
            tmp_path / "prediction_logs" / "product_recommendation", date(2025, 3, day)
        )
        path.parent.mkdir(parents=True)
        log(day).to_parquet(path)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    pd.concat([log(1), log(2, hours=(23,))]).to_sql("predictions", engine, index=False)
    engine.dispose()
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config)
    models = config / "models.yaml"
    parquet = "{kind: parquet, path: prediction_logs/credit_approval}"
    sql = "{kind: sql, url_env: GOVFLOW_CREDIT_LOGS_URL, table: predictions}"
    assert parquet in models.read_text()
    models.write_text(models.read_text().replace(parquet, sql))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config))
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVFLOW_CREDIT_LOGS_URL", f"sqlite:///{tmp_path / 'logs.db'}")
    request = {
        **NO_WINDOW,
        "model_ids": ["credit_approval", "product_recommendation", "marketing_propensity"],
    }

    batches = resolve_on_demand_request(request, now=datetime(2025, 3, 3, 10, tzinfo=UTC))

    assert _windows(batches) == {
        "credit_approval": _day(2),  # its SQL log's newest prediction, 23:00 on 2 March
        "product_recommendation": _day(2),  # its parquet log's newest complete day
        "marketing_propensity": _day(2),  # no log at all: the day before, recorded as failed
    }
    after = resolve_on_demand_request(request, now=datetime(2025, 3, 20, tzinfo=UTC))
    assert _windows(after) == {
        "credit_approval": _day(2),
        "product_recommendation": _day(3),
        "marketing_propensity": _day(19),
    }


def test_the_analyze_now_run_without_a_window_analyses_the_demos_newest_day(dag_bag, demo_env):
    """Triggered with no window (Analyze Now's button without dates, the REST API without
    window Params), the run's first task reads each model's log for its window."""
    dag = dag_bag.get_dag("govflow_monitoring_on_demand")
    defaults = {name: dag.params[name] for name in ("window_start", "window_end")}
    assert defaults == {"window_start": None, "window_end": None}
    task = dag.get_task("resolve_request")
    batches = task.python_callable(params={**NO_WINDOW, "model_ids": ["credit_approval"]})
    # The seeded demo logs 35 days from 1 March 2025: its newest is 4 April.
    assert _windows(batches) == {
        "credit_approval": ("2025-04-04T00:00:00+00:00", "2025-04-05T00:00:00+00:00")
    }


@pytest.mark.parametrize(
    ("window", "line"),
    [
        (
            {"window_end": "2025-03-29T00:00:00+00:00"},
            "param window_end: the window from 2025-03-28 00:00 UTC has not ended yet (it ends "
            "2025-03-29 00:00 UTC)",
        ),
        (
            {"window_start": "2025-03-28T06:00:00+02:00", "window_end": "2025-03-28T14:00:00"},
            "param window_end: the window from 2025-03-28 04:00 UTC has not ended yet (it ends "
            "2025-03-28 14:00 UTC)",
        ),
        (
            {"window_end": None},  # a start alone is the day from it
            "param window_start: the window from 2025-03-28 00:00 UTC has not ended yet (it "
            "ends 2025-03-29 00:00 UTC)",
        ),
        (
            {"window_start": None},
            "param window_start: none given with window_end 2025-03-29T00:00:00+00:00: give "
            "both, or neither to analyse each model's newest complete day of logged predictions",
        ),
    ],
)
def test_an_analyze_now_window_not_ended_yet_is_refused_in_one_line(window, line):
    """As `govflow monitor run` refuses it: its logs are not all written, and its record
    would judge part of a day as the whole."""
    with pytest.raises(Refused) as refused:
        resolve_on_demand_request(
            {**ANALYZE_NOW, **window}, now=datetime(2025, 3, 28, 13, tzinfo=UTC)
        )
    assert str(refused.value) == line


def test_an_analyze_now_start_alone_is_the_day_from_it():
    window = {"window_start": "2025-03-27T00:00:00+00:00", "window_end": None}
    batches = resolve_on_demand_request({**ANALYZE_NOW, **window})
    assert _windows(batches) == {"credit_approval": _day(27)}


def test_a_fairness_drift_day_puts_critical_alerts_in_the_outbox_once(dag_bag, demo_env):
    data_dir, db_url = demo_env
    from govflow import settings
    from govflow.config import load_config
    from govflow.demo import DemoManifest
    from govflow.flows.monitoring import outbox_of_dag_run, route_runs

    day = DemoManifest.load(Path(data_dir)).scenarios["fairness_drift"][0]
    run_time = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(days=1)
    dag_run = _run(dag_bag, "govflow_monitoring_daily", run_time)

    def critical_alerts() -> list[tuple[str, str, str | None]]:
        """The run's CRITICAL alerts (their keys name the run's records)."""
        with store.session_scope(db_url) as session:
            return sorted(
                (alert.channel, alert.destination, alert.model_id)
                for alert in session.scalars(select(Alert).where(Alert.kind == "critical"))
                if dag_run.run_id in alert.idempotency_key
            )

    first = critical_alerts()
    assert ("slack", "#ml-monitoring", "credit_approval") in first
    assert any(channel == "email" and model == "credit_approval" for channel, _, model in first)
    with store.session_scope(db_url) as session:
        ids = session.scalars(
            select(MonitoringRun.id).where(MonitoringRun.dag_run_id == dag_run.run_id)
        ).all()
    assert route_runs(list(ids), config=load_config(settings.config_dir())) == {}
    assert critical_alerts() == first
    # Each CRITICAL incident the run opened pages the on-call once, shown with the run's
    # alerts (govflow demo summary prints this list).
    pages = [
        row for row in outbox_of_dag_run(dag_run.dag_id, dag_run.run_id) if row[1] == "pagerduty"
    ]
    assert pages and all(text.startswith("trigger: INC-") for _, _, _, text in pages)
    assert len({destination for _, _, destination, _ in pages}) == len(pages)


def test_an_analysis_task_that_fails_after_its_retries_fails_the_run_and_tells_engineering(
    dag_bag, demo_env, monkeypatch
):
    """Issue 13 item 2: the leaf tasks are all_done, so the run ended green with no record
    and no alert for a model whose analysis task failed; only the 12-hour watchdog noticed."""
    from govflow.flows import monitoring
    from govflow.flows.monitoring import record_missing_analyses

    _, db_url = demo_env
    analyse = monitoring.run_monitoring

    def store_down_for_credit(model_id, **arguments):
        if model_id == "credit_approval":
            raise ConnectionError("the governance store went away")
        return analyse(model_id, **arguments)

    monkeypatch.setattr(monitoring, "run_monitoring", store_down_for_credit)
    monkeypatch.setattr(monitoring, "RETRY_PAUSE_S", 0.0)
    dag = dag_bag.get_dag("govflow_monitoring_daily")

    dag_run = dag.test(logical_date=datetime(2025, 3, 9, 2, tzinfo=UTC))

    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["confirm_every_analysis_recorded"] == "failed"
    assert states["publish_results"] == "success"
    with store.session_scope(db_url) as session:
        records = {
            run.model_id: (run.status, run.error)
            for run in session.scalars(
                select(MonitoringRun).where(MonitoringRun.dag_run_id == dag_run.run_id)
            )
        }
        alerts = session.scalars(
            select(Alert).where(Alert.idempotency_key.contains(dag_run.run_id))
        ).all()
    assert (
        records["marketing_propensity"][0] == records["product_recommendation"][0] == ("succeeded")
    )
    status, error = records["credit_approval"]
    assert status == "failed"
    assert error.startswith("the analysis of credit_approval (daily, [2025-03-08")
    assert [(a.kind, a.destination, a.payload["models"]) for a in alerts] == [
        ("monitor_the_monitor", "#engineering", ["credit_approval"])
    ]

    # Run again (a cleared final task): nothing new, the record and the alert stay one.
    window = {"start": "2025-03-08T00:00:00+00:00", "end": "2025-03-09T00:00:00+00:00"}
    target = {"model_id": "credit_approval", "cadence": "daily", "checks": [], **window}
    again = record_missing_analyses([target], dag_id=dag.dag_id, dag_run_id=dag_run.run_id)
    assert again == {"models": [], "message": "", "send_now": []}
