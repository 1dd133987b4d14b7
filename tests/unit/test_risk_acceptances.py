"""Seed 004 section 12: accepted-risk exceptions, from the ML lead's request through the
compliance officer's decision to the suppression's expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.alerts.messages import Links
from govflow.alerts.outbox import SUPPRESSED, is_suppressed, route_findings
from govflow.config import GovflowConfig, load_config
from govflow.dashboard.actions import my_actions
from govflow.flows import Refused, incident_response
from govflow.flows import risk_acceptances as acceptance_flow
from govflow.flows.incident_response import ACCEPTANCE_ORPHANED
from govflow.incidents.lifecycle import (
    escalate_overdue_incidents,
    get_incident,
    open_incident,
    open_incidents_for_run,
)
from govflow.incidents.risk_acceptances import (
    ALREADY_ACTIVE,
    APPROVED,
    DAYS_OUT_OF_RANGE,
    EXPIRED,
    NO_FINDING,
    NOT_APPROVER,
    NOT_DOCUMENTER,
    NOT_PENDING,
    RATIONALE_REQUIRED,
    REFUSED,
    REJECTED,
    REVOKED,
    SELF_APPROVAL,
    SEVERITY_NOT_ACCEPTABLE,
    TARGET_MISMATCH,
    TARGET_REQUIRED,
    UNKNOWN_METRIC,
    UNKNOWN_PERSON,
    RiskAcceptanceError,
    acceptance_summary,
    approve_acceptance,
    expire_acceptances,
    get_acceptance,
    preview_request,
    refuse_acceptance,
    reject_acceptance,
    request_acceptance,
    request_key_of,
)
from govflow.store.keys import bounded_key
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

# Detection on a Monday of eve's on-call week; the suppression ends in mike's week.
DETECTED_AT = datetime(2025, 3, 17, 2, 10, tzinfo=UTC)
APPROVED_AT = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
UNTIL = APPROVED_AT + timedelta(days=10)
RATIONALE = "Seasonal applicant profile change during Q1 tax season"
LINKS = Links(airflow_base_url="http://airflow.test:8080")

WARNING_PSI = ("data_drift", "psi", "income", 0.18, "WARNING")
INFO_PSI = ("data_drift", "psi", "income", 0.04, "INFO")
CRITICAL_PSI = ("data_drift", "psi", "income", 0.31, "CRITICAL")
WARNING_KL = ("data_drift", "kl_divergence", "income", 0.12, "WARNING")


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def prepare(db_url: str) -> str:
    store.upgrade(db_url)
    with store.session_scope(db_url) as session:
        session.add(high_risk_model())
    return db_url


@pytest.fixture
def url(sqlite_url) -> str:
    return prepare(sqlite_url)


@pytest.fixture
def any_url(store_url) -> str:
    return prepare(store_url)


def record_run(url: str, config: GovflowConfig, findings: list[tuple], *, day: int = 0) -> int:
    """A daily monitoring record ``day`` days after the first detection."""
    detected = DETECTED_AT + timedelta(days=day)
    with store.session_scope(url) as session:
        run = MonitoringRun(
            model_id="credit_approval",
            run_key=f"daily/{detected.date()}",
            cadence="daily",
            checks=["data_drift"],
            dag_id="govflow_monitoring_daily",
            dag_run_id=f"scheduled__{detected.date()}",
            interval_start=detected - timedelta(days=1, hours=2, minutes=10),
            interval_end=detected - timedelta(hours=2, minutes=10),
            baseline_version="2025-03-01-v1",
            status="succeeded",
            severity=max((f[4] for f in findings), key=["INFO", "WARNING", "CRITICAL"].index),
            finished_at=detected,
        )
        session.add(run)
        session.flush()
        for check_type, metric, subject, value, severity in findings:
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type=check_type,
                    metric=metric,
                    subject=subject,
                    value=value,
                    status="computed",
                    severity=severity,
                    threshold=config.policy.threshold(metric).to_dict(),
                )
            )
        return run.id


def request(url: str, config: GovflowConfig, **changes: Any) -> int:
    arguments: dict[str, Any] = {
        "model_id": "credit_approval",
        "metric": "psi",
        "rationale": RATIONALE,
        "days": 10,
        "requested_by": "lena",
        "at": DETECTED_AT + timedelta(hours=4),
        **changes,
    }
    with store.session_scope(url) as session:
        return request_acceptance(session, config, **arguments).id


def decide(url: str, config: GovflowConfig, acceptance_id: int, *, approve: bool = True, **kw):
    options = {"approver": "carol", "comment": "ok for the season", "at": APPROVED_AT, **kw}
    with store.session_scope(url) as session:
        acceptance = get_acceptance(session, acceptance_id)
        decided = (approve_acceptance if approve else reject_acceptance)(
            session, config, acceptance, **options
        )
        return acceptance_summary(session, decided)


def events(url: str) -> list[tuple]:
    with store.session_scope(url) as session:
        return [
            (e.kind, e.actor, e.from_status, e.to_status)
            for e in session.scalars(select(IncidentEvent).order_by(IncidentEvent.id))
        ]


def audit_actions(url: str) -> list[str]:
    with store.session_scope(url) as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.startswith("risk_acceptance."))
                .order_by(AuditEvent.seq)
            )
        )


# --- The request -------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "accepted"), [(0, False), (1, True), (30, True), (31, False)])
def test_a_suppression_lasts_at_most_the_thirty_days_the_policy_allows(url, config, days, accepted):
    record_run(url, config, [WARNING_PSI])

    if accepted:
        assert request(url, config, days=days) == 1
    else:
        with pytest.raises(RiskAcceptanceError) as refused:
            request(url, config, days=days)
        assert str(refused.value) == DAYS_OUT_OF_RANGE.format(maximum=30, days=days)


def test_a_form_answer_of_zero_days_is_refused_not_replaced_by_the_proposed_days(url, config):
    critical = record_run(url, config, [CRITICAL_PSI])
    with store.session_scope(url) as session:
        open_incidents_for_run(session, config, session.get_one(MonitoringRun, critical))
    record_run(url, config, [WARNING_PSI], day=1)

    def answer(days: int | None) -> dict[str, Any]:
        return {
            "chosen_options": [],
            "params_input": {"rationale": RATIONALE, "days": days},
            "responded_by_user": {"id": "lena", "name": "Lena Lund"},
        }

    def file(days: int | None, key: str) -> dict[str, Any]:
        return acceptance_flow.request_acceptance(
            "INC-2025-0001",
            answer(days),
            proposed_rationale="",
            proposed_days=10,
            request_key=key,
            config=config,
            db_url=url,
        )

    with pytest.raises(Refused) as refused:
        file(0, "zero")
    filed = file(None, "empty")

    assert str(refused.value) == DAYS_OUT_OF_RANGE.format(maximum=30, days=0)
    assert (filed["id"], filed["days"]) == (1, 10)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"requested_by": "eve"},
            NOT_DOCUMENTER.format(user="eve", role="ml_lead", holders="lena"),
        ),
        ({"requested_by": "zed"}, UNKNOWN_PERSON.format(user="zed")),
        ({"rationale": "  "}, RATIONALE_REQUIRED),
        ({"metric": "accuracy"}, UNKNOWN_METRIC.format(metric="accuracy")),
        (
            {"metric": "wasserstein_distance_normalised"},
            NO_FINDING.format(model_id="credit_approval", metric="wasserstein_distance_normalised"),
        ),
        ({"model_id": None, "metric": None}, TARGET_REQUIRED),
    ],
)
def test_a_request_is_refused_with_the_rule_it_breaks(url, config, changes, expected):
    record_run(url, config, [WARNING_PSI])

    with pytest.raises(RiskAcceptanceError) as refused:
        request(url, config, **changes)

    assert str(refused.value) == expected


def test_a_critical_condition_can_never_be_accepted(url, config):
    record_run(url, config, [WARNING_PSI])
    record_run(url, config, [CRITICAL_PSI, WARNING_KL], day=1)

    with pytest.raises(RiskAcceptanceError) as refused:
        request(url, config)

    assert str(refused.value) == SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )


def test_a_retried_request_with_its_key_files_one_request_and_a_second_one_is_refused(url, config):
    record_run(url, config, [WARNING_PSI])

    first = request(url, config, request_key="govflow_risk_acceptance/manual__1")
    retried = request(url, config, request_key="govflow_risk_acceptance/manual__1")
    with pytest.raises(RiskAcceptanceError) as refused:
        request(url, config, request_key="govflow_risk_acceptance/manual__2")

    assert first == retried == 1
    assert str(refused.value) == ALREADY_ACTIVE.format(
        id=1, model_id="credit_approval", metric="psi", status="requested", until=""
    )
    assert audit_actions(url) == ["risk_acceptance.requested"]


def test_a_response_run_with_the_longest_run_id_starts_files_and_ends_one_request(any_url, config):
    """Accept risk in a response run triggered with a 250-character run id: the
    govflow_risk_acceptance run it starts stays within Airflow's limit, that run files its
    request once however retried, the dashboard links the run, and once the run has ended
    undecided a later response run refuses the request and starts its own."""
    record_run(any_url, config, [WARNING_PSI])
    with store.session_scope(any_url) as session:
        incident, _ = open_incident(
            session,
            config,
            model_id="credit_approval",
            category="data_drift",
            metric="psi",
            severity="WARNING",
            title="WARNING data drift: psi",
            actor="govflow-monitoring",
            opened_at=DETECTED_AT,
        )
        incident_id, ref = incident.id, incident.ref

    def accept(response_run: str, ended: list[str]) -> dict[str, Any]:
        return incident_response.request_risk_acceptance(
            incident_id,
            dag_run_id=response_run,
            running=[],
            ended=ended,
            actor="carol",
            db_url=any_url,
            at=DETECTED_AT + timedelta(hours=5),
        )

    chosen, retried = accept(LONGEST_RUN_ID, []), accept(LONGEST_RUN_ID, [])
    started = chosen["risk_acceptance_run_id"]
    key = f"govflow_risk_acceptance/{started}"
    first = request(any_url, config, request_key=key)
    again = request(any_url, config, request_key=key)
    with store.session_scope(any_url) as session:
        filed = get_acceptance(session, first)
        assert (filed.request_key, request_key_of(filed)) == (bounded_key(key), key)
        links = [
            (action.dag_id, action.dag_run_id)
            for action in my_actions(session, config, "carol", now=DETECTED_AT)
            if action.kind == "risk_acceptance_review"
        ]
    later = accept("manual__second", [started])

    assert retried == chosen
    assert len(started) == 250
    assert first == again
    assert links == [("govflow_risk_acceptance", started)]
    assert later["risk_acceptance_run_id"] == f"risk_acceptance__{ref}__manual__second"
    with store.session_scope(any_url) as session:
        refused = get_acceptance(session, first)
        assert (refused.status, refused.details["refused"]) == (
            REFUSED,
            ACCEPTANCE_ORPHANED.format(run=started),
        )
    assert audit_actions(any_url) == ["risk_acceptance.requested", "risk_acceptance.refused"]


def test_a_preview_says_what_would_be_accepted_and_who_documents_and_decides_it(url, config):
    record_run(url, config, [WARNING_PSI])
    with store.session_scope(url) as session:
        preview = preview_request(session, config, model_id="credit_approval", metric="psi")
        with pytest.raises(RiskAcceptanceError) as refused:
            preview_request(session, config, model_id="credit_approval", metric="kl_divergence")

    assert preview == {
        "incident_ref": None,
        "model_id": "credit_approval",
        "metric": "psi",
        "severity": "WARNING",
        "value": 0.18,
        "subject": "income",
        "max_days": 30,
        "documented_by": [{"id": "lena", "name": "Lena Lund"}],
        "approved_by": [{"id": "carol", "name": "Carol Chen"}],
    }
    assert str(refused.value) == NO_FINDING.format(
        model_id="credit_approval", metric="kl_divergence"
    )


# --- The decision ------------------------------------------------------------------------


def test_approval_logs_an_accepted_risk_incident_and_suppresses_alerts_but_not_monitoring(
    url, config
):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)

    decided = decide(url, config, acceptance_id)

    assert decided == {
        "id": 1,
        "model_id": "credit_approval",
        "metric": "psi",
        "severity": "WARNING",
        "value": 0.18,
        "subject": "income",
        "days": 10,
        "rationale": RATIONALE,
        "requested_by": "lena",
        "status": APPROVED,
        "approved_by": "carol",
        "suppression_until": UNTIL.isoformat(),
        "incident_ref": "INC-2025-0001",
    }
    with store.session_scope(url) as session:
        incident = get_incident(session, "INC-2025-0001")
        logged = session.scalars(
            select(IncidentEvent).where(IncidentEvent.kind == "accepted_risk")
        ).one()
        assert (incident.status, incident.severity, incident.priority, incident.category) == (
            "accepted_risk",
            "WARNING",
            "P3",
            "data_drift",
        )
        assert logged.payload == {
            "risk_acceptance_id": 1,
            "metric": "psi",
            "value": 0.18,
            "severity": "WARNING",
            "rationale": RATIONALE,
            "approved_by": "carol",
            "suppression_until": UNTIL.isoformat(),
        }
        assert is_suppressed(session, "credit_approval", "psi", UNTIL - timedelta(seconds=1))
        assert not is_suppressed(session, "credit_approval", "psi", UNTIL)
    # The next day's WARNING is measured and recorded, its alert suppressed, and tracked on
    # the same incident.
    next_day = record_run(url, config, [WARNING_PSI], day=1)
    with store.session_scope(url) as session:
        run = session.get_one(MonitoringRun, next_day)
        routed = [(a.kind, a.status) for a in route_findings(session, config, run, links=LINKS)]
        tracked = [i.ref for i in open_incidents_for_run(session, config, run)]
        recorded = session.scalars(
            select(MetricResult.value).where(MetricResult.monitoring_run_id == next_day)
        ).all()
    assert routed == [("warning_digest_item", SUPPRESSED)]
    assert tracked == []
    assert recorded == [0.18]
    assert events(url) == [
        ("opened", "carol", None, "open"),
        ("accepted_risk", "carol", "open", "accepted_risk"),
    ]
    assert audit_actions(url) == ["risk_acceptance.requested", "risk_acceptance.approved"]


def test_approving_twice_is_one_decision_one_incident_event_and_one_audit_event(url, config):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)

    first = decide(url, config, acceptance_id)
    second = decide(url, config, acceptance_id, at=APPROVED_AT + timedelta(hours=1))

    assert first == second
    assert [kind for kind, *_ in events(url)] == ["opened", "accepted_risk"]
    assert audit_actions(url) == ["risk_acceptance.requested", "risk_acceptance.approved"]


def _with_lena_also_compliance_officer(config: GovflowConfig) -> GovflowConfig:
    users = [
        user.model_copy(update={"roles": [*user.roles, "compliance_officer"]})
        if user.id == "lena"
        else user
        for user in config.people.users
    ]
    return config.model_copy(update={"people": config.people.model_copy(update={"users": users})})


@pytest.mark.parametrize(
    ("approver", "lena_is_also_compliance_officer", "expected"),
    [
        ("eve", False, NOT_APPROVER.format(user="eve", role="compliance_officer", holders="carol")),
        ("lena", True, SELF_APPROVAL.format(user="lena", id=1)),
    ],
)
def test_only_a_compliance_officer_who_did_not_ask_may_decide(
    url, config, approver, lena_is_also_compliance_officer, expected
):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)
    deciding = (
        _with_lena_also_compliance_officer(config) if lena_is_also_compliance_officer else config
    )

    for decision in (True, False):
        with pytest.raises(RiskAcceptanceError) as refused:
            decide(url, deciding, acceptance_id, approve=decision, approver=approver)
        assert str(refused.value) == expected


def test_a_rejection_suppresses_nothing_and_is_final(url, config):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)

    rejected = decide(url, config, acceptance_id, approve=False, comment="not seasonal")
    with pytest.raises(RiskAcceptanceError) as final:
        decide(url, config, acceptance_id)

    assert (rejected["status"], rejected["approved_by"], rejected["suppression_until"]) == (
        REJECTED,
        "carol",
        None,
    )
    assert str(final.value) == NOT_PENDING.format(id=1, status="rejected")
    with store.session_scope(url) as session:
        assert not is_suppressed(session, "credit_approval", "psi", APPROVED_AT)
    assert audit_actions(url) == ["risk_acceptance.requested", "risk_acceptance.rejected"]


def test_a_critical_incident_whose_metric_fell_to_warning_can_be_accepted_on_the_incident(
    url, config
):
    critical = record_run(url, config, [CRITICAL_PSI])
    with store.session_scope(url) as session:
        open_incidents_for_run(session, config, session.get_one(MonitoringRun, critical))
    with pytest.raises(RiskAcceptanceError) as still_critical:
        request(url, config, model_id=None, metric=None, incident="INC-2025-0001")
    with pytest.raises(RiskAcceptanceError) as mismatch:
        request(url, config, model_id=None, metric="kl_divergence", incident="INC-2025-0001")
    record_run(url, config, [WARNING_PSI], day=1)

    acceptance_id = request(url, config, model_id=None, metric=None, incident="INC-2025-0001")
    decided = decide(url, config, acceptance_id)

    assert str(still_critical.value) == SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )
    assert str(mismatch.value) == TARGET_MISMATCH.format(
        ref="INC-2025-0001",
        model_id="credit_approval",
        metric="psi",
        asked_model="credit_approval",
        asked_metric="kl_divergence",
    )
    assert (decided["incident_ref"], decided["severity"]) == ("INC-2025-0001", "WARNING")
    assert [kind for kind, *_ in events(url)] == [
        "opened",
        "risk_acceptance_requested",
        "accepted_risk",
    ]


def test_an_approval_is_refused_when_the_metric_turned_critical_after_the_request(url, config):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)
    record_run(url, config, [CRITICAL_PSI], day=1)

    with pytest.raises(RiskAcceptanceError) as refused:
        decide(url, config, acceptance_id)

    assert str(refused.value) == SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )


def test_a_request_whose_approval_was_refused_ends_refused_once_and_a_later_one_can_be_made(
    url, config
):
    critical = record_run(url, config, [CRITICAL_PSI])
    with store.session_scope(url) as session:
        open_incidents_for_run(session, config, session.get_one(MonitoringRun, critical))
    record_run(url, config, [WARNING_PSI], day=1)
    first = request(url, config, model_id=None, metric=None, incident="INC-2025-0001")
    record_run(url, config, [CRITICAL_PSI], day=2)
    with pytest.raises(RiskAcceptanceError) as refused:
        decide(url, config, first)
    reason = str(refused.value)

    for _ in range(2):  # a retried task
        with store.session_scope(url) as session:
            ended = refuse_acceptance(
                session, get_acceptance(session, first), reason=reason, actor="carol"
            )
            summary = acceptance_summary(session, ended)
    record_run(url, config, [WARNING_PSI], day=3)
    later = request(url, config, model_id=None, metric=None, incident="INC-2025-0001")

    assert (summary["status"], summary["approved_by"], summary["incident_ref"]) == (
        REFUSED,
        None,
        "INC-2025-0001",
    )
    assert later == first + 1
    assert audit_actions(url) == [
        "risk_acceptance.requested",
        "risk_acceptance.refused",
        "risk_acceptance.requested",
    ]
    assert [kind for kind, *_ in events(url)] == [
        "opened",
        "risk_acceptance_requested",
        "risk_acceptance_refused",
        "risk_acceptance_requested",
    ]
    with store.session_scope(url) as session:
        refusal = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "risk_acceptance.refused")
        ).one()
        assert (refusal.actor, refusal.payload["reason"]) == ("carol", reason)


@pytest.mark.parametrize("approve", [True, False])
def test_refusing_a_decided_request_changes_nothing(url, config, approve):
    record_run(url, config, [WARNING_PSI])
    acceptance_id = request(url, config)
    decided = decide(url, config, acceptance_id, approve=approve)

    with store.session_scope(url) as session:
        acceptance = get_acceptance(session, acceptance_id)
        unchanged = refuse_acceptance(session, acceptance, reason="late", actor="carol")
        summary = acceptance_summary(session, unchanged)

    assert summary == decided
    assert audit_actions(url) == [
        "risk_acceptance.requested",
        "risk_acceptance.approved" if approve else "risk_acceptance.rejected",
    ]


# --- Expiry ------------------------------------------------------------------------------


def expire(url: str, config: GovflowConfig, now: datetime) -> list[dict]:
    with store.session_scope(url) as session:
        return [e.to_dict() for e in expire_acceptances(session, config, now=now, links=LINKS)]


def test_at_expiry_a_persisting_condition_reopens_the_incident_and_tells_the_on_call(url, config):
    record_run(url, config, [WARNING_PSI])
    decide(url, config, request(url, config))
    record_run(url, config, [("data_drift", "psi", "income", 0.21, "WARNING")], day=9)

    early = expire(url, config, UNTIL - timedelta(minutes=1))
    expired = expire(url, config, UNTIL)
    again = expire(url, config, UNTIL + timedelta(minutes=5))

    assert early == again == []
    assert expired == [
        {
            "acceptance_id": 1,
            "model_id": "credit_approval",
            "metric": "psi",
            "incident_ref": "INC-2025-0001",
            "accepted_severity": "WARNING",
            "latest_severity": "WARNING",
            "latest_value": 0.21,
            "action": "reopened",
            "alert_ids": [1, 2],
        }
    ]
    with store.session_scope(url) as session:
        incident = get_incident(session, "INC-2025-0001")
        acceptance = get_acceptance(session, 1)
        alerts = [(a.channel, a.destination) for a in session.scalars(select(Alert))]
        assert (incident.status, incident.acknowledged_at, acceptance.status) == (
            "open",
            None,
            EXPIRED,
        )
        assert not is_suppressed(session, "credit_approval", "psi", UNTIL)
    # 2025-03-27 is in mike's on-call week: he is told, and the SLA runs from the reopening.
    assert alerts == [("slack", "#ml-monitoring"), ("email", "mike@example.com")]
    assert [kind for kind, *_ in events(url)][-2:] == ["reopened", "escalated"]
    with store.session_scope(url) as session:
        swept = escalate_overdue_incidents(
            session, config, now=UNTIL + timedelta(minutes=15), links=LINKS
        )
        assert [(s.ref, s.level, s.people) for s in swept] == [
            ("INC-2025-0001", "secondary", ["lena"])
        ]
    assert audit_actions(url) == [
        "risk_acceptance.requested",
        "risk_acceptance.approved",
        "risk_acceptance.expired",
    ]


def test_at_expiry_a_condition_that_has_gone_resolves_the_incident(url, config):
    record_run(url, config, [WARNING_PSI])
    decide(url, config, request(url, config))
    record_run(url, config, [INFO_PSI], day=9)

    expired = expire(url, config, UNTIL)

    assert [(e["latest_severity"], e["action"]) for e in expired] == [("INFO", "resolved")]
    with store.session_scope(url) as session:
        incident = get_incident(session, "INC-2025-0001")
        assert (incident.status, incident.root_cause, incident.corrective_action) == (
            "resolved",
            f"accepted risk: {RATIONALE}",
            "accepted by carol until 2025-03-27 10:00 UTC; at expiry the newest psi is INFO "
            "(0.04), below the accepted WARNING",
        )
        assert incident.open_dedup_key is None
        assert incident.postmortem_due == UNTIL + timedelta(days=7)


def test_a_critical_finding_revokes_the_acceptance_so_what_follows_is_alerted_again(
    url, config, monkeypatch
):
    from typer.testing import CliRunner

    from govflow.cli import app

    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    record_run(url, config, [WARNING_PSI])
    decide(url, config, request(url, config))
    critical = record_run(url, config, [CRITICAL_PSI], day=2)
    revoked_at = DETECTED_AT + timedelta(days=2)
    for _attempt in range(2):  # a retried task revokes once
        with store.session_scope(url) as session:
            open_incidents_for_run(session, config, session.get_one(MonitoringRun, critical))
    warning_again = record_run(url, config, [WARNING_PSI], day=3)
    with store.session_scope(url) as session:
        run = session.get_one(MonitoringRun, warning_again)
        routed = [(a.kind, a.status) for a in route_findings(session, config, run, links=LINKS)]
        suppressed = is_suppressed(session, "credit_approval", "psi", revoked_at)

    expired = expire(url, config, UNTIL)
    later = request(url, config, at=revoked_at + timedelta(days=1, hours=4))
    shown = CliRunner().invoke(app, ["risk-acceptance", "show", "1"])

    assert expired == []
    assert shown.exit_code == 0, shown.output
    assert (
        f"revoked:           CRITICAL psi finding on INC-2025-0001 at {revoked_at.isoformat()}"
        f" (granted until {UNTIL.isoformat()})"
    ) in shown.output
    assert f"suppression_until: {revoked_at.isoformat()}" in shown.output
    assert routed == [("warning_digest_item", "awaiting_digest")]
    assert not suppressed
    with store.session_scope(url) as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.status, incident.severity, incident.priority) == ("open", "CRITICAL", "P1")
        first = get_acceptance(session, 1)
        assert (first.status, first.suppression_until) == (REVOKED, revoked_at)
        assert first.details["granted_until"] == UNTIL.isoformat()
        assert first.details["revoked_because"] == "CRITICAL psi finding on INC-2025-0001"
        revocation = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "risk_acceptance.revoked")
        ).one()
        assert revocation.payload["finding_severity"] == "CRITICAL"
        assert revocation.payload["source_run_id"] == critical
        assert get_acceptance(session, later).status == "requested"
    assert audit_actions(url) == [
        "risk_acceptance.requested",
        "risk_acceptance.approved",
        "risk_acceptance.revoked",
        "risk_acceptance.requested",
    ]
    assert [kind for kind, *_ in events(url)] == [
        "opened",
        "accepted_risk",
        "recurrence",
        "reopened",
        "risk_acceptance_requested",
    ]


# --- The command line ----------------------------------------------------------------------


def test_the_cli_lists_risk_acceptances_and_shows_one_with_why_it_ended(url, config, monkeypatch):
    from typer.testing import CliRunner

    from govflow.cli import app

    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    record_run(url, config, [WARNING_PSI, WARNING_KL])
    decide(url, config, request(url, config))
    pending = request(url, config, metric="kl_divergence")
    runner = CliRunner()

    listed = runner.invoke(app, ["risk-acceptance", "list"])
    requested = runner.invoke(app, ["risk-acceptance", "list", "--status", "requested"])
    shown = runner.invoke(app, ["risk-acceptance", "show", "1"])
    with store.session_scope(url) as session:
        refuse_acceptance(session, get_acceptance(session, pending), reason="why", actor="lena")
    refused = runner.invoke(app, ["risk-acceptance", "show", str(pending)])

    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert [row[:3] for row in rows] == [
        ["2", "requested", "credit_approval"],
        ["1", "approved", "credit_approval"],
    ]
    assert rows[1][3:] == [
        "psi",
        "WARNING",
        "INC-2025-0001",
        "lena",
        "carol",
        "2025-03-27",
        "10:00",
        "UTC",
    ]
    assert [line.split()[0] for line in requested.output.splitlines()[1:]] == ["2"]
    assert shown.exit_code == 0, shown.output
    assert "status:            approved" in shown.output.splitlines()
    assert f"suppression_until: {UNTIL.isoformat()}" in shown.output.splitlines()
    assert f"rationale:         {RATIONALE}" in shown.output.splitlines()
    assert refused.output.splitlines()[-1] == "refused:           why"


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["show", "42"], 1, "no risk acceptance 42"),
        (["list", "--status", "pending"], 2, "'pending' is not one of requested, approved"),
        (["list", "--model", "nope"], 2, "unknown model 'nope'"),
    ],
)
def test_the_cli_names_what_it_cannot_list_or_show_in_one_line(
    url, monkeypatch, args, status, says
):
    from typer.testing import CliRunner

    from govflow.cli import app

    monkeypatch.setenv("GOVFLOW_DB_URL", url)

    result = CliRunner().invoke(app, ["risk-acceptance", *args])

    assert result.exit_code == status
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1
