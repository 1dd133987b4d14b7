"""govflow_report_executive, govflow_report_compliance (scheduled, for the period before the
run) and govflow_report_incident (on demand, with its form)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError
from sqlalchemy import func, select

from govflow import store
from govflow.store.schema import Alert, AuditEvent
from tests.support.report_records import INCIDENT_REF, OPENED_AT, add_report_records

DAGS_FILE = Path(__file__).resolve().parents[2] / "dags" / "govflow_reports.py"
FIRST_OF_APRIL = datetime(2025, 4, 1, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FILE))


@pytest.fixture
def records(fresh_store_env) -> str:
    add_report_records(fresh_store_env)
    return fresh_store_env


def _run(bag, dag_id: str, task_id: str, params: dict, run_after: datetime = FIRST_OF_APRIL):
    task = bag.get_dag(dag_id).get_task(task_id)
    return task.python_callable(params=params, dag_run=SimpleNamespace(run_after=run_after))


def _counts(url: str) -> tuple[int, int]:
    with store.session_scope(url) as session:
        return (
            session.scalar(select(func.count(AuditEvent.seq))),
            session.scalar(select(func.count(Alert.id))),
        )


def test_the_report_dags_run_on_the_first_of_the_month_and_of_the_quarter_in_utc(bag):
    schedules = {
        dag_id: (
            getattr(dag.timetable, "expression", None),
            getattr(dag.timetable, "timezone", None),
        )
        for dag_id, dag in bag.dags.items()
    }

    assert {
        dag_id: (cron, str(zone) if zone else None) for dag_id, (cron, zone) in schedules.items()
    } == {
        "govflow_report_executive": ("0 6 1 * *", "UTC"),
        "govflow_report_compliance": ("30 6 1 1,4,7,10 *", "UTC"),
        "govflow_report_incident": (None, None),
    }


@pytest.mark.parametrize("given", [(), ("",), ("INC-12",), (None,)])
def test_the_incident_form_wants_an_incident_reference(bag, given):
    param = bag.get_dag("govflow_report_incident").params.get_param("incident_ref")

    with pytest.raises(ParamValidationError):
        copy.copy(param).resolve(*given)
    assert copy.copy(param).resolve(INCIDENT_REF) == INCIDENT_REF


@pytest.mark.parametrize(
    ("dag_id", "task_id", "params", "period"),
    [
        ("govflow_report_executive", "draw_executive_summary", {"month": ""}, "2025-03"),
        ("govflow_report_compliance", "draw_compliance_report", {"quarter": ""}, "2025Q1"),
        ("govflow_report_compliance", "draw_compliance_report", {"quarter": "2024Q4"}, "2024Q4"),
        (
            "govflow_report_incident",
            "draw_incident_report",
            {"incident_ref": INCIDENT_REF, "gravity": "death"},
            f"{INCIDENT_REF}-initial",
        ),
    ],
)
def test_a_retried_report_task_returns_the_same_report_and_audits_and_posts_nothing_new(
    bag, records, dag_id, task_id, params, period
):
    first = _run(bag, dag_id, task_id, params)
    after_first = _counts(records)
    retried = _run(bag, dag_id, task_id, params)

    assert retried == first
    assert first["period"] == period
    assert first["slack_alert_id"] == 1
    assert _counts(records) == after_first


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"incident_ref": "INC-2099-0001", "gravity": "standard"}, "no incident 'INC-2099-0001'"),
        ({"incident_ref": INCIDENT_REF, "gravity": "grave"}, "'grave': expected one of standard"),
    ],
)
def test_an_incident_report_of_nothing_fails_without_a_retry_and_writes_nothing(
    bag, records, params, message
):
    before = _counts(records)

    with pytest.raises(AirflowFailException, match=message):
        _run(bag, "govflow_report_incident", "draw_incident_report", params)
    assert _counts(records) == before


@pytest.mark.parametrize(
    ("dag_id", "task_id", "params", "line"),
    [
        (
            "govflow_report_executive",
            "draw_executive_summary",
            {"month": "2999-01"},
            "param month: 2999-01 has not begun yet (it begins 2999-01-01 00:00 UTC)",
        ),
        (
            "govflow_report_executive",
            "draw_executive_summary",
            {"month": "2025-13"},
            "param month: '2025-13' is not a month (YYYY-MM)",
        ),
        (
            "govflow_report_compliance",
            "draw_compliance_report",
            {"quarter": "2999Q2"},
            "param quarter: 2999Q2 has not begun yet (it begins 2999-04-01 00:00 UTC)",
        ),
    ],
)
def test_a_report_of_a_period_to_come_or_of_none_fails_on_one_line_naming_its_param(
    bag, records, tmp_path, dag_id, task_id, params, line
):
    before = _counts(records)

    with pytest.raises(AirflowFailException) as failed:
        _run(bag, dag_id, task_id, params)
    assert str(failed.value) == line
    assert _counts(records) == before
    assert not (tmp_path / "reports").exists()


def test_an_incident_report_as_of_before_the_incident_was_opened_fails_on_one_line(
    bag, records, tmp_path
):
    """A run whose time precedes the incident would draw a report of nothing (and, from the
    incident's records as they are, one that says what was not yet so)."""
    before = _counts(records)

    with pytest.raises(AirflowFailException) as failed:
        _run(
            bag,
            "govflow_report_incident",
            "draw_incident_report",
            {"incident_ref": INCIDENT_REF, "gravity": "standard"},
            run_after=OPENED_AT - timedelta(days=1),
        )
    assert str(failed.value) == (
        "INC-2025-0001 was not yet open at 2025-03-05 09:30:00 UTC (opened 2025-03-06 09:30:00 UTC)"
    )
    assert _counts(records) == before
    assert not (tmp_path / "reports").exists()
