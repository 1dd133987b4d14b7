"""Seed 004 sections 2.1, 3.1 and 3.2, seed 000 "Incident Response": incidents, their
lifecycle and timeline, responders, escalation and the escalation sweeper."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from govflow import settings, store
from govflow.alerts.messages import Links
from govflow.audit import verify_chain
from govflow.cli import app
from govflow.config import GovflowConfig, load_config
from govflow.incidents.lifecycle import (
    EMPTY_DOCUMENTATION,
    ILLEGAL_TRANSITION,
    NOBODY_TO_ESCALATE_TO,
    UNDOCUMENTED_RESOLUTION,
    UNKNOWN_INCIDENT,
    UNKNOWN_LEVEL,
    UNKNOWN_PERSON,
    IncidentError,
    ResponsePlan,
    accept_risk,
    acknowledge,
    add_event,
    close,
    covering_response_run,
    escalate,
    escalate_overdue_incidents,
    format_timeline,
    get_incident,
    mark_response_run,
    mitigate,
    open_incident,
    open_incidents_for_run,
    record_documentation,
    release_response_run,
    reopen,
    resolve,
    responders,
    start_investigation,
    timeline,
)
from govflow.monitoring.analysis import quality_gate_threshold
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Incident,
    IncidentEvent,
    MetricResult,
    MonitoringRun,
)
from tests.support.registry import high_risk_model
from tests.support.run_ids import LONGEST_RUN_ID

# A Monday in the 10th week of the rotation that starts on 2025-01-06: eve is on call.
DETECTED_AT = datetime(2025, 3, 17, 2, 10, tzinfo=UTC)
# The week after: mike is on call.
MIKES_WEEK = datetime(2025, 3, 24, 9, 0, tzinfo=UTC)
LINKS = Links(
    airflow_base_url="http://airflow.test:8080",
    runbook_base_url="http://docs.test/runbooks",
)

DAG_ID = "govflow_monitoring_daily"
MODELS = ("credit_approval", "marketing_propensity")
WINDOW = "window 2025-03-16 00:00 to 2025-03-17 00:00 UTC, baseline 2025-03-01-v1"

CRITICAL_DI = ("fairness_drift", "disparate_impact_ratio", "gender", 0.72, "CRITICAL")
CRITICAL_DI_CELL = ("fairness_drift", "disparate_impact_ratio", "gender&age_band", 0.61, "CRITICAL")
CRITICAL_PSI = ("data_drift", "psi", "income", 0.31, "CRITICAL")
WARNING_PSI = ("data_drift", "psi", "credit_score", 0.18, "WARNING")
WARNING_KL = ("data_drift", "kl_divergence", "credit_score", 0.12, "WARNING")
INFO_PSI = ("data_drift", "psi", "loan_amount", 0.02, "INFO")
MISSING_COLUMN = ("data_quality", "column_exists", "months_at_address", 2000.0, "CRITICAL")
NULL_SCORES = ("data_quality", "nulls", "score", 20.0, "WARNING")
UNREADABLE = ("data_quality", "analysis_failed", "", None, "CRITICAL")
QUALITY_MESSAGES = {
    "column_exists": "missing column months_at_address",
    "nulls": "score: 20 of 2000 values null, more than 1% allowed",
    "analysis_failed": "prediction logs could not be read: no partition",
}


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def prepare(db_url: str) -> str:
    store.upgrade(db_url)
    with store.session_scope(db_url) as session:
        for model_id in MODELS:
            session.add(
                high_risk_model(
                    model_id, owner="olivia" if model_id == "credit_approval" else "sam"
                )
            )
    return db_url


@pytest.fixture
def url(sqlite_url) -> str:
    return prepare(sqlite_url)


@pytest.fixture
def any_url(store_url) -> str:
    return prepare(store_url)


def record_run(
    url: str,
    config: GovflowConfig,
    findings: list[tuple[str, str, str, float | None, str]],
    *,
    run_key: str = "scheduled__2025-03-17T02:00:00+00:00",
    detected_at: datetime = DETECTED_AT,
    composite: dict[str, Any] | None = None,
    model_versions: dict[str, int] | None = None,
) -> int:
    """A monitoring record with (check type, metric, subject, value, severity) rows."""
    with store.session_scope(url) as session:
        run = MonitoringRun(
            model_versions=model_versions or {},
            model_id="credit_approval",
            run_key=run_key,
            cadence="daily",
            checks=["data_drift", "fairness_drift"],
            dag_id=DAG_ID,
            dag_run_id=run_key,
            interval_start=detected_at - timedelta(days=1, hours=2, minutes=10),
            interval_end=detected_at - timedelta(hours=2, minutes=10),
            baseline_version="2025-03-01-v1",
            status="succeeded",
            severity="CRITICAL",
            composite_score=(composite or {}).get("score"),
            composite_breakdown=composite or {},
            finished_at=detected_at,
        )
        session.add(run)
        session.flush()
        for check_type, metric, subject, value, severity in findings:
            quality = check_type == "data_quality"
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type=check_type,
                    metric=metric,
                    subject=subject,
                    value=value,
                    status="failed" if quality else "computed",
                    severity=severity,
                    threshold=quality_gate_threshold(config)
                    if quality
                    else config.policy.threshold(metric).to_dict(),
                    details={"message": QUALITY_MESSAGES.get(metric, "")},
                )
            )
        return run.id


def open_for_run(url: str, config: GovflowConfig, run_id: int) -> list[tuple]:
    with store.session_scope(url) as session:
        run = session.get_one(MonitoringRun, run_id)
        return [
            (i.ref, i.category, i.metric, i.severity, i.priority, i.status)
            for i in open_incidents_for_run(session, config, run)
        ]


def rows(url: str, model: type, *columns: str) -> list[tuple]:
    with store.session_scope(url) as session:
        return [
            tuple(getattr(row, column) for column in columns)
            for row in session.scalars(select(model).order_by(model.id))  # type: ignore[attr-defined]
        ]


def audit_actions(url: str, prefix: str = "incident.") -> list[str]:
    with store.session_scope(url) as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.seq)
            )
        )


def new_incident(
    url: str,
    config: GovflowConfig,
    *,
    category: str = "fairness_drift",
    metric: str = "disparate_impact_ratio",
    severity: str = "CRITICAL",
    opened_at: datetime = DETECTED_AT,
    model_id: str = "credit_approval",
) -> int:
    with store.session_scope(url) as session:
        incident, _ = open_incident(
            session,
            config,
            model_id=model_id,
            category=category,
            metric=metric,
            severity=severity,
            title=f"{severity} {metric}",
            actor="govflow-monitoring",
            opened_at=opened_at,
        )
        return incident.id


# --- Opening and deduplication ----------------------------------------------------------


def test_a_critical_run_opens_one_incident_per_metric_with_its_class_owner_and_responder(
    url, config
):
    run_id = record_run(
        url, config, [CRITICAL_DI, CRITICAL_DI_CELL, CRITICAL_PSI, WARNING_KL, INFO_PSI]
    )

    opened = open_for_run(url, config, run_id)

    assert opened == [
        ("INC-2025-0001", "fairness_drift", "disparate_impact_ratio", "CRITICAL", "P0", "open"),
        ("INC-2025-0002", "data_drift", "psi", "CRITICAL", "P1", "open"),
    ]
    assert rows(url, Incident, "title", "summary", "owner", "assigned_to", "opened_at") == [
        (
            "CRITICAL fairness drift: disparate_impact_ratio on credit_approval",
            "disparate_impact_ratio: gender 0.72 (critical < 0.8, warning <= 0.89); "
            f"gender&age_band 0.61 (critical < 0.8, warning <= 0.89); {WINDOW}",
            "olivia",
            "carol",
            DETECTED_AT,
        ),
        (
            "CRITICAL data drift: psi on credit_approval",
            f"psi: income 0.31 (critical >= 0.25, warning >= 0.1); {WINDOW}",
            "olivia",
            "lena",
            DETECTED_AT,
        ),
    ]
    assert rows(url, IncidentEvent, "incident_id", "kind", "actor", "to_status") == [
        (1, "opened", "govflow-monitoring", "open"),
        (2, "opened", "govflow-monitoring", "open"),
    ]
    assert audit_actions(url) == ["incident.opened", "incident.opened"]


@pytest.mark.parametrize(
    ("model_versions", "said"),
    [
        (
            {"1.0.0": 1900, "1.1.0": 100},
            "; window rows by model version: 1.0.0 1,900 · 1.1.0 100 (more than one version "
            "in this window: a finding may come from one version's traffic)",
        ),
        ({"1.0.0": 2000}, ""),
    ],
)
def test_an_incident_keeps_the_windows_versions_and_says_so_when_it_held_more_than_one(
    url, config, model_versions, said
):
    run_id = record_run(url, config, [CRITICAL_PSI], model_versions=model_versions)

    open_for_run(url, config, run_id)

    [(summary, details)] = rows(url, Incident, "summary", "details")
    assert summary == f"psi: income 0.31 (critical >= 0.25, warning >= 0.1); {WINDOW}{said}"
    assert details["model_versions"] == model_versions


def test_running_the_same_run_again_returns_the_same_incidents_and_writes_nothing(url, config):
    run_id = record_run(url, config, [CRITICAL_DI, CRITICAL_PSI])
    first = open_for_run(url, config, run_id)
    counts = (rows(url, Incident, "id"), rows(url, IncidentEvent, "id"), audit_actions(url, ""))

    second = open_for_run(url, config, run_id)

    assert second == first
    assert (rows(url, Incident, "id"), rows(url, IncidentEvent, "id"), audit_actions(url, "")) == (
        counts
    )


def test_a_later_run_with_the_same_finding_adds_one_recurrence_instead_of_an_incident(url, config):
    first_run = record_run(url, config, [CRITICAL_DI])
    open_for_run(url, config, first_run)
    next_day = DETECTED_AT + timedelta(days=1)
    later_run = record_run(
        url,
        config,
        [("fairness_drift", "disparate_impact_ratio", "gender", 0.69, "CRITICAL")],
        run_key="scheduled__2025-03-18T02:00:00+00:00",
        detected_at=next_day,
    )

    recurred = open_for_run(url, config, later_run)
    again = open_for_run(url, config, later_run)

    assert (
        recurred
        == again
        == [("INC-2025-0001", "fairness_drift", "disparate_impact_ratio", "CRITICAL", "P0", "open")]
    )
    assert rows(url, IncidentEvent, "kind", "event_key", "occurred_at") == [
        ("opened", "opened", DETECTED_AT),
        ("recurrence", f"recurrence:run:{later_run}", next_day),
    ]
    assert audit_actions(url) == ["incident.opened", "incident.recurrence"]


def test_a_resolved_incident_frees_its_key_and_the_next_finding_opens_a_new_incident(url, config):
    open_for_run(url, config, record_run(url, config, [CRITICAL_DI]))
    with store.session_scope(url) as session:
        incident = get_incident(session, "INC-2025-0001")
        acknowledge(session, incident, actor="eve")
        start_investigation(session, incident, actor="eve")
        resolve(
            session,
            incident,
            config=config,
            actor="eve",
            root_cause="false positive: a test segment",
            corrective_action="excluded the test segment from the logs",
        )
    later_run = record_run(
        url, config, [CRITICAL_DI], run_key="later", detected_at=DETECTED_AT + timedelta(days=2)
    )

    opened = open_for_run(url, config, later_run)

    assert opened == [
        ("INC-2025-0002", "fairness_drift", "disparate_impact_ratio", "CRITICAL", "P0", "open")
    ]
    assert rows(url, Incident, "ref", "status", "open_dedup_key") == [
        ("INC-2025-0001", "resolved", None),
        ("INC-2025-0002", "open", "credit_approval:disparate_impact_ratio"),
    ]


@pytest.mark.parametrize(
    ("findings", "expected_metric", "expected_summary"),
    [
        (
            [MISSING_COLUMN, NULL_SCORES, WARNING_KL],
            "data_quality_gate",
            "missing column months_at_address; score: 20 of 2000 values null, more than 1% "
            f"allowed; {WINDOW}",
        ),
        (
            [UNREADABLE],
            "analysis_failed",
            f"prediction logs could not be read: no partition; {WINDOW}",
        ),
    ],
)
def test_a_failed_data_quality_gate_opens_one_data_quality_incident(
    url, config, findings, expected_metric, expected_summary
):
    run_id = record_run(url, config, findings)

    opened = open_for_run(url, config, run_id)

    assert opened == [("INC-2025-0001", "data_quality", expected_metric, "CRITICAL", "P1", "open")]
    assert rows(url, Incident, "title", "summary") == [
        ("CRITICAL data quality: the gate failed on credit_approval", expected_summary)
    ]


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        (
            [WARNING_PSI, WARNING_KL],
            [("INC-2025-0001", "composite", "composite_drift_score", "CRITICAL", "P1", "open")],
        ),
        (
            [CRITICAL_PSI, WARNING_KL],
            [("INC-2025-0001", "data_drift", "psi", "CRITICAL", "P1", "open")],
        ),
    ],
)
def test_a_critical_composite_score_opens_an_incident_only_when_no_metric_did(
    url, config, findings, expected
):
    run_id = record_run(url, config, findings, composite={"score": 0.36, "severity": "CRITICAL"})

    assert open_for_run(url, config, run_id) == expected


def test_warning_and_info_findings_open_no_incident(url, config):
    run_id = record_run(
        url, config, [WARNING_PSI, WARNING_KL, INFO_PSI, NULL_SCORES], composite={"score": 0.1}
    )

    assert open_for_run(url, config, run_id) == []
    assert rows(url, Incident, "id") == []


def test_two_writers_racing_for_the_same_model_and_metric_leave_one_incident(any_url, config):
    first_opened, release = threading.Event(), threading.Event()

    def first() -> tuple[int, bool]:
        with store.session_scope(any_url) as session:
            incident, created = open_incident(
                session,
                config,
                model_id="credit_approval",
                category="fairness_drift",
                metric="disparate_impact_ratio",
                severity="CRITICAL",
                title="first",
                actor="writer-1",
                opened_at=DETECTED_AT,
            )
            first_opened.set()
            release.wait(10)  # the second writer now waits on this transaction
            return incident.id, created

    def second() -> tuple[int, bool]:
        first_opened.wait(10)
        with store.session_scope(any_url) as session:
            incident, created = open_incident(
                session,
                config,
                model_id="credit_approval",
                category="fairness_drift",
                metric="disparate_impact_ratio",
                severity="CRITICAL",
                title="second",
                actor="writer-2",
                opened_at=DETECTED_AT,
            )
            return incident.id, created

    with ThreadPoolExecutor(max_workers=2) as pool:
        winner, loser = pool.submit(first), pool.submit(second)
        first_opened.wait(10)
        time.sleep(0.5)
        release.set()
        results = [winner.result(timeout=30), loser.result(timeout=30)]

    assert results == [(1, True), (1, False)]
    assert rows(any_url, Incident, "ref", "title") == [("INC-2025-0001", "first")]
    assert rows(any_url, IncidentEvent, "kind", "actor") == [
        ("opened", "writer-1"),
        ("recurrence", "writer-2"),
    ]
    with store.session_scope(any_url) as session:
        assert verify_chain(session).intact


# --- Lifecycle ------------------------------------------------------------------------------


def test_the_lifecycle_runs_from_open_to_closed_with_one_event_and_one_audit_event_each(
    url, config
):
    incident_id = new_incident(url, config)
    at = DETECTED_AT + timedelta(minutes=5)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="carol", at=at)
        start_investigation(session, incident, actor="carol", at=at + timedelta(minutes=1))
        mitigate(session, incident, actor="carol", at=at + timedelta(minutes=20), note="frozen")
        record_documentation(
            session,
            incident,
            root_cause="upstream credit bureau changed its scoring for women",
            corrective_action="retrain on the corrected feed",
            actor="lena",
            at=at + timedelta(hours=3),
        )
        resolve(session, incident, config=config, actor="lena", at=at + timedelta(days=2))
        close(session, incident, actor="lena", at=at + timedelta(days=3))

    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        events = [
            (e.kind, e.actor, e.from_status, e.to_status) for e in timeline(session, incident)
        ]
        stamps = (
            incident.status,
            incident.acknowledged_at,
            incident.resolved_at,
            incident.postmortem_due,
            incident.closed_at,
            incident.open_dedup_key,
            incident.root_cause,
        )
    assert events == [
        ("opened", "govflow-monitoring", None, "open"),
        ("acknowledged", "carol", "open", "acknowledged"),
        ("investigating", "carol", "acknowledged", "investigating"),
        ("mitigated", "carol", "investigating", "mitigated"),
        ("documented", "lena", None, None),
        ("resolved", "lena", "mitigated", "resolved"),
        ("closed", "lena", "resolved", "closed"),
    ]
    assert stamps == (
        "closed",
        at,
        at + timedelta(days=2),
        at + timedelta(days=9),  # post-mortem within 7 days of resolution
        at + timedelta(days=3),
        None,
        "upstream credit bureau changed its scoring for women",
    )
    assert audit_actions(url) == [
        "incident.opened",
        "incident.acknowledged",
        "incident.investigating",
        "incident.mitigated",
        "incident.documented",
        "incident.resolved",
        "incident.closed",
    ]


def _walk(session, config, incident, steps: list[str]) -> None:
    for step in steps:
        if step == "acknowledge":
            acknowledge(session, incident, actor="eve")
        elif step == "investigate":
            start_investigation(session, incident, actor="eve")
        elif step == "mitigate":
            mitigate(session, incident, actor="eve")
        elif step == "resolve":
            resolve(
                session,
                incident,
                config=config,
                actor="eve",
                root_cause="seasonal",
                corrective_action="none needed",
            )
        elif step == "close":
            close(session, incident, actor="eve")
        elif step == "accept":
            accept_risk(session, incident, actor="carol", event_key="accepted")
        elif step == "acknowledge again":
            acknowledge(session, incident, actor="mike", event_key="second acknowledgement")


@pytest.mark.parametrize(
    ("done", "attempt", "expected"),
    [
        (
            [],
            "mitigate",
            ILLEGAL_TRANSITION.format(
                ref="INC-2025-0001",
                status="open",
                target="mitigated",
                allowed="accepted_risk, acknowledged",
            ),
        ),
        (
            ["acknowledge"],
            "close",
            ILLEGAL_TRANSITION.format(
                ref="INC-2025-0001",
                status="acknowledged",
                target="closed",
                allowed="accepted_risk, investigating",
            ),
        ),
        (
            ["acknowledge", "investigate", "mitigate"],
            "accept",
            ILLEGAL_TRANSITION.format(
                ref="INC-2025-0001", status="mitigated", target="accepted_risk", allowed="resolved"
            ),
        ),
        (
            ["acknowledge", "investigate", "resolve", "close"],
            "acknowledge again",
            ILLEGAL_TRANSITION.format(
                ref="INC-2025-0001",
                status="closed",
                target="acknowledged",
                allowed="nothing, it is final",
            ),
        ),
    ],
)
def test_an_illegal_transition_is_refused_and_leaves_the_incident_as_it_was(
    url, config, done, attempt, expected
):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        _walk(session, config, session.get_one(Incident, incident_id), done)
    events_before = rows(url, IncidentEvent, "kind")

    with pytest.raises(IncidentError) as refused, store.session_scope(url) as session:
        _walk(session, config, session.get_one(Incident, incident_id), [attempt])

    assert str(refused.value) == expected
    assert rows(url, IncidentEvent, "kind") == events_before


def test_resolving_needs_a_root_cause_and_a_corrective_action(url, config):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        _walk(session, config, incident, ["acknowledge", "investigate"])
        with pytest.raises(IncidentError) as refused:
            resolve(session, incident, config=config, actor="eve", root_cause="seasonal")
        with pytest.raises(IncidentError) as empty:
            record_documentation(
                session, incident, root_cause=" ", corrective_action="retrain", actor="eve"
            )

    assert str(refused.value) == UNDOCUMENTED_RESOLUTION.format(ref="INC-2025-0001")
    assert str(empty.value) == EMPTY_DOCUMENTATION.format(ref="INC-2025-0001")


def test_repeating_a_change_with_its_event_key_is_one_event_and_one_audit_event(url, config):
    incident_id = new_incident(url, config)
    for _ in range(2):
        with store.session_scope(url) as session:
            incident = session.get_one(Incident, incident_id)
            acknowledge(session, incident, actor="eve", event_key="ack-by-run-1")
            add_event(
                session,
                incident,
                kind="note",
                actor="eve",
                note="checked the raw logs",
                event_key="note-1",
            )

    assert rows(url, IncidentEvent, "kind", "event_key") == [
        ("opened", "opened"),
        ("acknowledged", "ack-by-run-1"),
        ("note", "note-1"),
    ]
    assert audit_actions(url) == ["incident.opened", "incident.acknowledged", "incident.note"]


def test_a_reopened_incident_starts_a_new_episode_that_needs_a_new_acknowledgement(url, config):
    incident_id = new_incident(url, config, category="data_drift", metric="psi", severity="WARNING")
    reopened_at = DETECTED_AT + timedelta(days=30)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="eve", at=DETECTED_AT + timedelta(minutes=5))
        accept_risk(
            session,
            incident,
            actor="carol",
            event_key="risk_acceptance:1:approved",
            at=DETECTED_AT + timedelta(days=1),
        )
        reopen(session, incident, actor="govflow", event_key="reopened:expiry", at=reopened_at)
        acknowledge(session, incident, actor="mike", at=reopened_at + timedelta(minutes=5))
        keys = [event.event_key for event in timeline(session, incident)]

    assert keys == [
        "opened",
        "acknowledged",
        "risk_acceptance:1:approved",
        "reopened:expiry",
        "acknowledged#1",
    ]
    assert rows(url, Incident, "status", "assigned_to") == [("acknowledged", "mike")]


def test_a_critical_finding_on_an_accepted_warning_reopens_the_incident(url, config):
    warning_run = record_run(url, config, [WARNING_PSI])
    incident_id = new_incident(url, config, category="data_drift", metric="psi", severity="WARNING")
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        accept_risk(session, incident, actor="carol", event_key="risk_acceptance:1:approved")
    critical_run = record_run(
        url,
        config,
        [CRITICAL_PSI],
        run_key="critical",
        detected_at=DETECTED_AT + timedelta(days=3),
    )

    opened = open_for_run(url, config, critical_run)

    assert warning_run != critical_run
    assert opened == [("INC-2025-0001", "data_drift", "psi", "CRITICAL", "P1", "open")]
    assert [kind for (kind,) in rows(url, IncidentEvent, "kind")] == [
        "opened",
        "accepted_risk",
        "recurrence",
        "reopened",
    ]


def test_an_incident_is_found_by_reference_or_id_and_an_unknown_one_is_named(url, config):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        assert get_incident(session, "INC-2025-0001").id == incident_id
        assert get_incident(session, str(incident_id)).ref == "INC-2025-0001"
        with pytest.raises(IncidentError) as unknown:
            get_incident(session, "INC-2025-0099")
    assert str(unknown.value) == UNKNOWN_INCIDENT.format(ref="INC-2025-0099")


@pytest.mark.parametrize("ref", ["inc-2025-0001", "Inc-2025-0001", "INC-2025-0001"])
def test_an_incident_reference_is_found_in_any_case(url, config, ref):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        assert get_incident(session, ref).id == incident_id


# An id past the column's range (a 32-bit integer on Postgres) or digits that are not ASCII
# ("²" is a digit to str.isdigit, not to int): no incident, not a crash of the database driver.
@pytest.mark.parametrize("ref", ["2147483648", "99999999999999999999999", "\u00b2", "\uff11"])
def test_an_id_no_incident_can_have_is_an_unknown_incident(url, config, ref):
    new_incident(url, config)
    with store.session_scope(url) as session, pytest.raises(IncidentError) as unknown:
        get_incident(session, ref)
    assert str(unknown.value) == UNKNOWN_INCIDENT.format(ref=ref)


# --- Responders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "category", "at", "expected"),
    [
        (
            "CRITICAL",
            "fairness_drift",
            DETECTED_AT,
            ResponsePlan(
                "critical_fairness",
                ["carol"],
                ["tom"],
                ["cathy"],
                ["carol", "cathy"],
                15,
                None,
                "fairness_drift_response",
            ),
        ),
        (
            "CRITICAL",
            "data_drift",
            DETECTED_AT,
            ResponsePlan(
                "critical_data_model",
                ["lena"],
                ["tom"],
                ["cathy"],
                ["lena"],
                15,
                240,
                "data_drift_response",
            ),
        ),
        (
            "CRITICAL",
            "data_quality",
            MIKES_WEEK,
            ResponsePlan(
                "critical_data_model",
                ["lena"],
                ["tom"],
                ["cathy"],
                ["lena"],
                15,
                240,
                "data_drift_response",
            ),
        ),
        (
            "WARNING",
            "fairness_drift",
            DETECTED_AT,
            ResponsePlan(
                "warning", ["eve"], ["lena"], [], ["eve"], 15, None, "fairness_drift_response"
            ),
        ),
        (
            "WARNING",
            "model_drift",
            MIKES_WEEK,
            ResponsePlan(
                "warning", ["mike"], ["lena"], [], ["mike"], 15, None, "data_drift_response"
            ),
        ),
        (
            "INFO",
            "baseline_reset",
            DETECTED_AT,
            ResponsePlan(None, ["eve"], [], [], [], 15, None, "data_drift_response"),
        ),
    ],
)
def test_responders_follow_the_escalation_path_and_the_rotation(
    config, severity, category, at, expected
):
    incident = Incident(severity=severity, category=category)

    assert responders(config, incident, at) == expected


# --- Escalation ----------------------------------------------------------------------------


def test_escalating_puts_one_slack_and_one_email_alert_in_the_outbox_however_often_asked(
    url, config
):
    incident_id = new_incident(url, config, category="data_drift", metric="psi")
    at = DETECTED_AT + timedelta(minutes=16)
    created = []
    for actor in ("govflow_incident_response", "govflow-incident-escalation"):
        with store.session_scope(url) as session:
            incident = session.get_one(Incident, incident_id)
            made = escalate(
                session,
                config,
                incident,
                level="secondary",
                people=["tom"],
                at=at,
                actor=actor,
                links=LINKS,
            )
            created.append([(a.channel, a.destination, a.kind) for a in made])

    assert created == [
        [
            ("slack", "#ml-monitoring", "incident_escalation"),
            ("email", "tom@example.com", "incident_escalation"),
        ],
        [],
    ]
    with store.session_scope(url) as session:
        slack = session.scalars(select(Alert).where(Alert.channel == "slack")).one()
        email = session.scalars(select(Alert).where(Alert.channel == "email")).one()
        incident = session.get_one(Incident, incident_id)
        assert (incident.assigned_to, slack.incident_id, slack.severity) == (
            "tom",
            incident_id,
            "CRITICAL",
        )
        assert slack.payload["text"] == (
            "@tom (Tom Tran) INC-2025-0001 escalated to secondary (not acknowledged within 15 "
            "minutes): CRITICAL data drift on credit_approval, metric psi. Now responsible: "
            "Tom Tran. Airflow run: n/a"
        )
        assert slack.payload["blocks"][0]["text"]["text"] == (
            "INC-2025-0001 escalated: CRITICAL data drift on credit_approval"
        )
        fields = [f["text"] for f in slack.payload["blocks"][2]["fields"]]
        assert fields == [
            "*Incident*\nINC-2025-0001 (open)",
            "*Model*\ncredit_approval",
            "*Metric*\npsi",
            "*Severity*\nCRITICAL / P1",
            "*Now responsible*\nTom Tran",
            "*Opened*\n2025-03-17 02:10:00 UTC",
        ]
        assert slack.payload["blocks"][3]["elements"][0]["url"] == (
            "http://docs.test/runbooks#data_drift_response"
        )
        assert email.payload["subject"] == (
            "[govflow CRITICAL] INC-2025-0001 escalated to secondary: credit_approval psi"
        )
    assert rows(url, IncidentEvent, "kind", "event_key") == [
        ("opened", "opened"),
        ("escalated", "escalated:secondary"),
    ]
    assert audit_actions(url) == ["incident.opened", "incident.escalated"]
    # The CRITICAL incident's page to the on-call (opened), then the two escalation alerts.
    assert audit_actions(url, "alert.enqueued") == ["alert.enqueued"] * 3


def test_the_escalation_links_to_the_response_run_once_one_covers_the_incident(url, config):
    run_id = record_run(url, config, [CRITICAL_DI])
    open_for_run(url, config, run_id)
    with store.session_scope(url) as session:
        incident = get_incident(session, "INC-2025-0001")
        mark_response_run(session, incident, dag_run_id="incident__INC-2025-0001", actor="x")
        made = escalate(
            session,
            config,
            incident,
            level="at_once",
            people=["carol", "cathy"],
            at=DETECTED_AT,
            actor="govflow_incident_response",
            links=LINKS,
        )
        slack = made[0].payload

    assert slack["blocks"][3]["elements"][0]["url"] == (
        "http://airflow.test:8080/dags/govflow_incident_response/runs/incident__INC-2025-0001"
    )
    assert slack["text"].startswith("@carol (Carol Chen) @cathy (Cathy Cole) INC-2025-0001")
    assert [alert.destination for alert in made] == [
        "#ml-monitoring",
        "carol@example.com,cathy@example.com",
    ]


@pytest.mark.parametrize(
    ("level", "people", "expected"),
    [
        (
            "cto",
            ["tom"],
            UNKNOWN_LEVEL.format(level="cto", expected="primary, secondary, executive, at_once"),
        ),
        ("secondary", [], NOBODY_TO_ESCALATE_TO.format(ref="INC-2025-0001", level="secondary")),
        ("secondary", ["zed"], UNKNOWN_PERSON.format(user="zed")),
    ],
)
def test_an_escalation_without_a_level_or_known_people_is_refused(
    url, config, level, people, expected
):
    incident_id = new_incident(url, config)
    with pytest.raises(IncidentError) as refused, store.session_scope(url) as session:
        escalate(
            session,
            config,
            session.get_one(Incident, incident_id),
            level=level,
            people=people,
            at=DETECTED_AT,
            actor="x",
        )
    assert str(refused.value) == expected


# --- The sweeper ----------------------------------------------------------------------------


def sweep(url: str, config: GovflowConfig, now: datetime, **options: Any) -> list[tuple]:
    with store.session_scope(url) as session:
        return [
            (record.ref, record.level, record.people, record.reason, len(record.alert_ids))
            for record in escalate_overdue_incidents(
                session, config, now=now, links=LINKS, **options
            )
        ]


ACK_OVERDUE = "not acknowledged within 15 minutes"
UNRESOLVED = "not resolved within 4 hours"


@pytest.mark.parametrize(
    ("category", "acknowledged", "minutes", "expected"),
    [
        ("fairness_drift", False, 14, []),
        ("fairness_drift", False, 15, [("secondary", ["tom"], ACK_OVERDUE)]),
        ("fairness_drift", False, 600, [("secondary", ["tom"], ACK_OVERDUE)]),
        ("fairness_drift", True, 600, []),
        ("data_drift", False, 239, [("secondary", ["tom"], ACK_OVERDUE)]),
        (
            "data_drift",
            False,
            240,
            [("secondary", ["tom"], ACK_OVERDUE), ("executive", ["cathy"], UNRESOLVED)],
        ),
        ("data_drift", True, 240, [("executive", ["cathy"], UNRESOLVED)]),
        ("data_drift", True, 239, []),
    ],
)
def test_the_sweeper_escalates_what_the_acknowledgement_and_resolution_slas_say_is_overdue(
    url, config, category, acknowledged, minutes, expected
):
    incident_id = new_incident(url, config, category=category, metric="m")
    if acknowledged:
        with store.session_scope(url) as session:
            acknowledge(session, session.get_one(Incident, incident_id), actor="eve")
    now = DETECTED_AT + timedelta(minutes=minutes)

    first = sweep(url, config, now)
    second = sweep(url, config, now)

    assert first == [("INC-2025-0001", level, people, why, 2) for level, people, why in expected]
    assert second == []


def test_the_sweeper_leaves_an_incident_to_the_response_run_covering_it_until_it_ends(url, config):
    incident_id = new_incident(url, config)
    overdue = DETECTED_AT + timedelta(minutes=20)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        mark_response_run(session, incident, dag_run_id="incident__INC-2025-0001", actor="r")

    covered = sweep(url, config, overdue)
    covered_by_caller = sweep(url, config, overdue, covered_incident_ids={incident_id})
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        release_response_run(
            session, incident, dag_run_id="incident__INC-2025-0001", actor="r", outcome="failed"
        )
    released = sweep(url, config, overdue, covered_incident_ids={999})

    assert covered == covered_by_caller == []
    assert released == [("INC-2025-0001", "secondary", ["tom"], ACK_OVERDUE, 2)]


def test_a_response_run_with_the_longest_run_id_records_its_events_once_however_retried(
    any_url, config
):
    """A person may trigger the response DAG with a run id of 250 characters."""
    incident_id = new_incident(any_url, config)

    def respond() -> list[int]:
        with store.session_scope(any_url) as session:
            incident = session.get_one(Incident, incident_id)
            marked = mark_response_run(session, incident, dag_run_id=LONGEST_RUN_ID, actor="r")
            contained = add_event(
                session,
                incident,
                kind="containment",
                actor="r",
                event_key=f"containment:accept_risk:{LONGEST_RUN_ID}",
            )
            released = release_response_run(
                session, incident, dag_run_id=LONGEST_RUN_ID, actor="r", outcome="failed"
            )
            return [marked.id, contained.id, released.id]

    first, retried = respond(), respond()

    assert retried == first
    assert [kind for (kind,) in rows(any_url, IncidentEvent, "kind")] == [
        "opened",
        "response_run",
        "containment",
        "response_run_ended",
    ]
    assert audit_actions(any_url) == [
        "incident.opened",
        "incident.response_run",
        "incident.containment",
        "incident.response_run_ended",
    ]
    with store.session_scope(any_url) as session:
        assert covering_response_run(session.get_one(Incident, incident_id)) is None


@pytest.mark.parametrize(
    ("acknowledged", "minutes", "expected"),
    [
        (False, 20, []),  # the run's own required action waits for the acknowledgement
        (True, 239, []),
        (True, 240, [("executive", ["cathy"], UNRESOLVED)]),
        (False, 240, [("executive", ["cathy"], UNRESOLVED)]),
    ],
)
def test_a_covered_incident_still_unresolved_after_four_hours_goes_to_the_executive(
    url, config, acknowledged, minutes, expected
):
    """The response run escalates to the executive only while nobody acknowledges; once
    acknowledged it waits for forms (the resolution's has no timeout), so the sweeper
    keeps table 3.2's "CEO if unresolved in 4h" for the incidents it covers."""
    incident_id = new_incident(url, config, category="data_drift", metric="psi")
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        mark_response_run(session, incident, dag_run_id="incident__INC-2025-0001", actor="r")
        if acknowledged:
            acknowledge(session, incident, actor="lena", at=DETECTED_AT + timedelta(minutes=5))

    now = DETECTED_AT + timedelta(minutes=minutes)
    swept = sweep(url, config, now)
    again = sweep(url, config, now)

    assert swept == [("INC-2025-0001", level, people, why, 2) for level, people, why in expected]
    assert again == []


def test_the_sweeper_and_a_response_run_escalating_the_same_level_notify_once(url, config):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        escalate(
            session,
            config,
            session.get_one(Incident, incident_id),
            level="secondary",
            people=["tom"],
            at=DETECTED_AT + timedelta(minutes=15),
            actor="govflow_incident_response",
            event_key="escalated:secondary",
        )

    assert sweep(url, config, DETECTED_AT + timedelta(minutes=30)) == []
    with store.session_scope(url) as session:
        notices = select(func.count(Alert.id)).where(Alert.channel != "pagerduty")
        assert session.scalar(notices) == 2


def test_a_reopened_incident_is_escalated_again_from_its_reopening(url, config):
    incident_id = new_incident(url, config)
    reopened_at = DETECTED_AT + timedelta(days=10)
    assert sweep(url, config, DETECTED_AT + timedelta(minutes=15))[0][1] == "secondary"
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        accept_risk(session, incident, actor="carol", event_key="accepted")
        reopen(session, incident, actor="govflow", event_key="reopened:expiry", at=reopened_at)

    early = sweep(url, config, reopened_at + timedelta(minutes=14))
    due = sweep(url, config, reopened_at + timedelta(minutes=15))

    assert early == []
    assert due == [("INC-2025-0001", "secondary", ["tom"], ACK_OVERDUE, 2)]
    assert [key for (key,) in rows(url, IncidentEvent, "event_key")][-1] == "escalated:secondary#1"


# --- The command line ----------------------------------------------------------------------


def test_the_cli_lists_incidents_and_shows_a_timeline(url, config, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    open_for_run(url, config, record_run(url, config, [CRITICAL_DI, CRITICAL_PSI]))
    with store.session_scope(url) as session:
        acknowledge(
            session,
            get_incident(session, "INC-2025-0002"),
            actor="eve",
            at=DETECTED_AT + timedelta(minutes=3),
        )
    runner = CliRunner()

    listed = runner.invoke(app, ["incident", "list"])
    only_open = runner.invoke(app, ["incident", "list", "--status", "open"])
    shown = runner.invoke(app, ["incident", "show", "INC-2025-0002"])
    unknown = runner.invoke(app, ["incident", "show", "INC-2025-0042"])
    bad_status = runner.invoke(app, ["incident", "list", "--status", "pending"])

    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()[1:]] == [
        "INC-2025-0002",
        "INC-2025-0001",
    ]
    assert [line.split()[0] for line in only_open.output.splitlines()[1:]] == ["INC-2025-0001"]
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0] == (
        "INC-2025-0002  CRITICAL P1  acknowledged  CRITICAL data drift: psi on credit_approval"
    )
    assert shown.output.splitlines()[-2:] == [
        "2025-03-17 02:10:00 UTC  govflow-monitoring           opened (open): CRITICAL data "
        "drift: psi on credit_approval",
        "2025-03-17 02:13:00 UTC  eve                          acknowledged (open -> acknowledged)",
    ]
    assert (unknown.exit_code, unknown.output.strip()) == (
        1,
        UNKNOWN_INCIDENT.format(ref="INC-2025-0042"),
    )
    assert bad_status.exit_code == 2


def test_the_cli_names_an_id_too_large_for_any_incident_as_unknown(url, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DB_URL", url)

    shown = CliRunner().invoke(app, ["incident", "show", "99999999999999999999999"])

    assert (shown.exit_code, shown.output.strip()) == (
        1,
        UNKNOWN_INCIDENT.format(ref="99999999999999999999999"),
    )


def test_the_timeline_text_names_the_documentation_and_the_post_mortem(url, config):
    incident_id = new_incident(url, config)
    with store.session_scope(url) as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="eve", at=DETECTED_AT + timedelta(minutes=4))
        start_investigation(session, incident, actor="eve")
        resolve(
            session,
            incident,
            config=config,
            actor="eve",
            root_cause="seasonal",
            corrective_action="none needed",
            at=DETECTED_AT + timedelta(hours=2),
        )
        lines = format_timeline(session, incident)

    assert lines[1:5] == [
        "model credit_approval, metric disparate_impact_ratio, category fairness_drift, "
        "owner olivia, assigned to eve",
        "opened 2025-03-17 02:10:00 UTC, acknowledged 2025-03-17 02:14:00 UTC, resolved "
        "2025-03-17 04:10:00 UTC, post-mortem due 2025-03-24 04:10:00 UTC",
        "root cause: seasonal",
        "corrective action: none needed",
    ]
