"""EU AI Act Art. 73: the serious-incident report is the incident as its records stood at
``as_of``, whatever happened to it since: its kind, status, severity, class, assignee and
documentation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.audit import record_event
from govflow.config import GovflowConfig, load_config
from govflow.incidents.lifecycle import (
    acknowledge,
    close,
    escalate,
    get_incident,
    open_incident,
    record_documentation,
    resolve,
    start_investigation,
)
from govflow.incidents.regulator_report import NOT_YET_OPEN, RegulatorReport, build_report
from govflow.reports.executive import ReportError
from govflow.serving.kill_switches import activate
from govflow.store.schema import Deployment, IncidentEvent
from tests.support.registry import register_models

REF = "INC-2025-0001"
# A Monday of the rotation that starts on 2025-01-06: eve is the ML engineer on call.
OPENED_AT = datetime(2025, 3, 17, 2, 10, tzinfo=UTC)
ESCALATED_AT = datetime(2025, 3, 17, 2, 30, tzinfo=UTC)
ACKNOWLEDGED_AT = datetime(2025, 3, 17, 3, 0, tzinfo=UTC)
INVESTIGATING_AT = datetime(2025, 3, 17, 9, 0, tzinfo=UTC)
RAISED_AT = datetime(2025, 3, 18, 2, 10, tzinfo=UTC)
DOCUMENTED_AT = datetime(2025, 3, 19, 10, 0, tzinfo=UTC)
RESOLVED_AT = datetime(2025, 3, 20, 10, 0, tzinfo=UTC)
CLOSED_AT = datetime(2025, 3, 27, 10, 0, tzinfo=UTC)
ROOT_CAUSE = "an upstream bureau changed its income bands"
CORRECTIVE_ACTION = "map the new bands and re-baseline"


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def open_drift_incident(url: str, config: GovflowConfig) -> None:
    """A WARNING data-drift incident on credit_approval, opened at ``OPENED_AT``."""
    register_models(url, config, {"credit_approval": []})
    with store.session_scope(url) as session:
        psi_finding(session, config, "WARNING", OPENED_AT)


def psi_finding(session: Any, config: GovflowConfig, severity: str, at: datetime) -> None:
    """A monitoring finding of ``severity`` on credit_approval's PSI at ``at``: it opens the
    incident, or recurs in it (raising its severity when higher)."""
    open_incident(
        session,
        config,
        model_id="credit_approval",
        category="data_drift",
        metric="psi",
        severity=severity,
        title=f"{severity} data drift: psi on credit_approval",
        actor="govflow-monitoring",
        opened_at=at,
    )


def live(
    url: str, config: GovflowConfig, *, after: datetime = OPENED_AT, until: datetime = CLOSED_AT
) -> None:
    """What happens to the incident after ``after`` up to ``until``: escalated, acknowledged
    and investigated on its first day, raised to CRITICAL by a recurrence on the second,
    documented, resolved and closed, each at its moment."""

    def due(moment: datetime) -> bool:
        return after < moment <= until

    with store.session_scope(url) as session:
        incident = get_incident(session, REF)
        if due(ESCALATED_AT):
            escalate(
                session,
                config,
                incident,
                level="secondary",
                people=["lena"],
                at=ESCALATED_AT,
                actor="govflow-incident-escalation",
            )
        if due(ACKNOWLEDGED_AT):
            acknowledge(session, incident, actor="mike", at=ACKNOWLEDGED_AT)
        if due(INVESTIGATING_AT):
            start_investigation(session, incident, actor="mike", at=INVESTIGATING_AT)
        if due(RAISED_AT):
            psi_finding(session, config, "CRITICAL", RAISED_AT)
        if due(DOCUMENTED_AT):
            record_documentation(
                session,
                incident,
                root_cause=ROOT_CAUSE,
                corrective_action=CORRECTIVE_ACTION,
                actor="mike",
                at=DOCUMENTED_AT,
            )
        if due(RESOLVED_AT):
            resolve(session, incident, actor="mike", config=config, at=RESOLVED_AT)
        if due(CLOSED_AT):
            close(session, incident, actor="lena", at=CLOSED_AT)


def report_as_of(url: str, config: GovflowConfig, as_of: datetime) -> RegulatorReport:
    with store.session_scope(url) as session:
        return build_report(session, config, REF, as_of=as_of)


def told(report: RegulatorReport) -> tuple[str, ...]:
    """The report's kind and the lines that say what the incident was."""
    shown = ("# ", "- Severity", "- Root cause", "INCIDENT ALERT", "Status:", "Contact:")
    lines = report.markdown.splitlines()
    return (report.kind, *(line for line in lines if line.startswith(shown)))


def heading(kind: str) -> str:
    return f"# Serious-incident report ({kind}) - {REF}"


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        pytest.param(
            OPENED_AT,
            (
                "initial",
                heading("initial"),
                "- Severity WARNING, class P3, status open",
                "INCIDENT ALERT - WARNING",
                "Status: open",
                "Contact: eve",
            ),
            id="at its opening: eve on call",
        ),
        pytest.param(
            ESCALATED_AT + timedelta(minutes=10),
            (
                "initial",
                heading("initial"),
                "- Severity WARNING, class P3, status open",
                "INCIDENT ALERT - WARNING",
                "Status: open",
                "Contact: lena",
            ),
            id="escalated, not yet acknowledged",
        ),
        pytest.param(
            INVESTIGATING_AT + timedelta(hours=3),
            (
                "initial",
                heading("initial"),
                "- Severity WARNING, class P3, status investigating",
                "INCIDENT ALERT - WARNING",
                "Status: investigating",
                "Contact: mike",
            ),
            id="acknowledged and investigated by mike",
        ),
        pytest.param(
            RAISED_AT + timedelta(hours=10),
            (
                "initial",
                heading("initial"),
                "- Severity CRITICAL, class P1, status investigating",
                "INCIDENT ALERT - CRITICAL",
                "Status: investigating",
                "Contact: mike",
            ),
            id="raised to CRITICAL by a recurrence",
        ),
        pytest.param(
            DOCUMENTED_AT + timedelta(hours=2),
            (
                "initial",
                heading("initial"),
                "- Severity CRITICAL, class P1, status investigating",
                f"- Root cause: {ROOT_CAUSE}",
                "INCIDENT ALERT - CRITICAL",
                "Status: investigating",
                "Contact: mike",
            ),
            id="documented, not yet resolved",
        ),
        pytest.param(
            RESOLVED_AT,
            (
                "final",
                heading("final"),
                "- Severity CRITICAL, class P1, status resolved",
                f"- Root cause: {ROOT_CAUSE}",
                "INCIDENT ALERT - CRITICAL",
                "Status: resolved",
                "Contact: mike",
            ),
            id="resolved",
        ),
        pytest.param(
            CLOSED_AT + timedelta(days=1),
            (
                "final",
                heading("final"),
                "- Severity CRITICAL, class P1, status closed",
                f"- Root cause: {ROOT_CAUSE}",
                "INCIDENT ALERT - CRITICAL",
                "Status: closed",
                "Contact: mike",
            ),
            id="closed",
        ),
    ],
)
def test_a_report_tells_the_incident_as_it_stood_at_its_as_of_not_as_it_is_now(
    sqlite_url, config, as_of, expected
):
    open_drift_incident(sqlite_url, config)
    live(sqlite_url, config)

    assert told(report_as_of(sqlite_url, config, as_of)) == expected


def test_a_report_drawn_again_as_of_the_day_it_was_filed_says_what_the_filed_one_said(
    sqlite_url, config
):
    open_drift_incident(sqlite_url, config)
    day_two = RAISED_AT + timedelta(hours=1)
    live(sqlite_url, config, until=day_two)
    filed = report_as_of(sqlite_url, config, day_two)
    live(sqlite_url, config, after=day_two)

    assert filed.kind == "initial"
    assert report_as_of(sqlite_url, config, day_two) == filed
    assert report_as_of(sqlite_url, config, CLOSED_AT).kind == "final"


def test_a_raise_recorded_without_its_class_is_shown_in_the_class_the_policy_gives_it(
    sqlite_url, config
):
    """A recurrence recorded before raises named their class: the report still shows the
    class the raise gave, not the opening's."""
    open_drift_incident(sqlite_url, config)
    live(sqlite_url, config)
    with store.session_scope(sqlite_url) as session:
        raise_ = session.scalars(
            select(IncidentEvent).where(IncidentEvent.kind == "recurrence")
        ).one()
        recorded = raise_.payload["priority"]
        raise_.payload = {k: v for k, v in raise_.payload.items() if k != "priority"}

    assert recorded == "P1"
    assert told(report_as_of(sqlite_url, config, RAISED_AT))[2] == (
        "- Severity CRITICAL, class P1, status investigating"
    )


def test_a_report_as_of_before_the_incident_was_opened_is_refused(sqlite_url, config):
    open_drift_incident(sqlite_url, config)
    a_minute_before = OPENED_AT - timedelta(minutes=1)

    with pytest.raises(ReportError) as refused:
        report_as_of(sqlite_url, config, a_minute_before)
    assert str(refused.value) == NOT_YET_OPEN.format(
        ref=REF, as_of=a_minute_before, opened=OPENED_AT
    )


def changes_listed(report: RegulatorReport) -> list[str]:
    """The lines of the report's containment section."""
    lines = report.markdown.splitlines()
    start = lines.index("## Containment and changes to the system since awareness") + 1
    return lines[start : lines.index("", start)]


def test_the_changes_since_awareness_list_a_kill_switch_on_the_model_and_no_other_models_events(
    sqlite_url, config
):
    """A kill switch's target names no model, and another model's id may contain this one's:
    the model of each change is read from what the change is, not from its text."""
    open_drift_incident(sqlite_url, config)
    with store.session_scope(sqlite_url) as session:
        activate(
            session,
            scope="model_type",
            target="credit_approval",
            reason="DI below the 80 % rule",
            actor="lena",
            config=config,
        )
        record_event(
            session,
            actor="eve",
            action="baseline.created",
            target="baseline:credit_approval_eu:2025-03-18-v1",
        )
        session.add(
            Deployment(
                ref="DEP-20250318-000001",
                model_id="credit_approval",
                model_version="1.1.0",
                deployment_type="rollback",
                environment="production",
                requested_by="dave",
            )
        )
        # A step's event names the deployment, not the model.
        record_event(
            session,
            actor="dave",
            action="rollback.executed",
            target="deployment:DEP-20250318-000001",
        )
    now = datetime.now(UTC)

    listed = changes_listed(report_as_of(sqlite_url, config, now))

    assert [line.split(" ", 3)[3] for line in listed] == [
        "kill_switch.activated by lena (kill_switch:1)",
        "rollback.executed by dave (deployment:DEP-20250318-000001)",
    ]
