"""The steps of govflow_incident_response (seed 004 section 3), called as its tasks call them,
on a copy of the seeded demo analysed on its first fairness-drift day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.demo import DemoManifest
from govflow.flows import Refused, incident_response
from govflow.flows.monitoring import run_monitoring
from govflow.incidents.lifecycle import (
    ILLEGAL_TRANSITION,
    accept_risk,
    format_timeline,
    get_incident,
    open_incidents_for_run,
    reopen,
    resolve,
)
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Incident,
    IncidentEvent,
    KillSwitch,
    MonitoringRun,
)
from tests.support.demo_store import seeded_store_copy
from tests.support.incidents import reopened_incident

RUN = "incident__test"
CARE_OF = "govflow_incident_response/incident__test"


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def _day_start(day) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


@pytest.fixture
def demo(seeded_demo, tmp_path, config):
    """A copy of the seeded store with the fairness-drift day of both CRITICAL models
    analysed; yields (data_dir, db_url, manifest, {model: disparate impact incident id})."""
    data_dir, _ = seeded_demo
    db_url = seeded_store_copy(seeded_demo, tmp_path / "govflow.db")
    manifest = DemoManifest.load(Path(data_dir))
    start = _day_start(manifest.scenarios["fairness_drift"][0])
    incidents = {}
    for model_id in ("credit_approval", "marketing_propensity"):
        summary = run_monitoring(
            model_id,
            start=start,
            end=start + timedelta(days=1),
            checks=["fairness_drift"],
            cadence="on_demand",
            run_key=f"test_incident_response/{model_id}",
            config=config,
            data_dir=Path(data_dir),
            db_url=db_url,
            write_report=False,
        )
        with store.session_scope(db_url) as session:
            run = session.get_one(MonitoringRun, summary.run_id)
            opened = open_incidents_for_run(session, config, run)
            incidents[model_id] = next(i.id for i in opened if i.metric == "disparate_impact_ratio")
    return Path(data_dir), db_url, manifest, incidents


def _ref(db_url: str, incident_id: int) -> str:
    with store.session_scope(db_url) as session:
        return session.get_one(Incident, incident_id).ref


def test_a_critical_fairness_incident_is_answered_by_compliance_and_told_to_the_ceo_at_once(
    demo, config
):
    _, db_url, _, incidents = demo
    plan = incident_response.plan_response(
        _ref(db_url, incidents["credit_approval"]), dag_run_id=RUN, config=config, db_url=db_url
    )
    assignments = ("primary", "secondary", "executive", "at_once", "responders", "documentation")
    ids = {key: [user["id"] for user in plan[key]["users"]] for key in assignments}
    assert ids == {
        "primary": ["carol"],
        "secondary": ["tom", "carol"],
        "executive": ["cathy", "tom", "carol"],
        "at_once": ["carol", "cathy"],
        "responders": ["carol", "tom", "cathy"],
        "documentation": ["carol", "tom", "cathy"],
    }
    assert plan["primary"]["timeout_minutes"] == config.policy.escalation.acknowledgement_minutes
    assert plan["secondary"]["timeout_minutes"] is None  # the CEO already knows
    with store.session_scope(db_url) as session:
        opened_at = session.get_one(Incident, incidents["credit_approval"]).opened_at
    # The acknowledgement SLA counts from the opening, however late the run asks.
    ack = timedelta(minutes=config.policy.escalation.acknowledgement_minutes)
    assert plan["primary"]["due_at"] == (opened_at + ack).isoformat()
    assert plan["secondary"]["due_at"] is None
    assert plan["documentation"]["timeout_minutes"] == 24 * 60
    assert (plan["severity"], plan["priority"], plan["runbook"]) == (
        "CRITICAL",
        "P0",
        "fairness_drift_response",
    )
    # The containment form offers "Accept risk" to every incident; its text says the policy
    # refuses it for this CRITICAL one.
    assert plan["body"].endswith(
        "\n\n**Accept risk** would be refused now: CRITICAL disparate_impact_ratio on "
        "credit_approval cannot be accepted: policy.yaml exceptions.applies_to_severities "
        "allows only WARNING"
    )
    # models.yaml: credit_approval freezes on CRITICAL fairness drift, marketing does not.
    assert plan["freeze_automatically"] is True
    other = incident_response.plan_response(
        _ref(db_url, incidents["marketing_propensity"]),
        dag_run_id=RUN,
        config=config,
        db_url=db_url,
    )
    assert other["freeze_automatically"] is False


def test_escalating_twice_notifies_once_and_freezing_twice_leaves_one_switch(demo, config):
    _, db_url, _, incidents = demo
    incident_id = incidents["credit_approval"]
    first = incident_response.escalate_to_level(
        incident_id, "secondary", actor=CARE_OF, config=config, db_url=db_url
    )
    again = incident_response.escalate_to_level(
        incident_id, "secondary", actor=CARE_OF, config=config, db_url=db_url
    )
    frozen = incident_response.freeze_model(
        incident_id, actor=CARE_OF, automatic=True, config=config, db_url=db_url
    )
    refrozen = incident_response.freeze_model(
        incident_id, actor=CARE_OF, automatic=True, config=config, db_url=db_url
    )
    assert first and again == []
    assert (frozen["created"], refrozen["created"]) == (True, False)
    with store.session_scope(db_url) as session:
        switches = session.scalars(select(KillSwitch)).all()
        escalations = session.scalars(select(Alert).where(Alert.id.in_(first))).all()
        events = session.scalar(
            select(func.count())
            .select_from(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "containment")
        )
    assert [(s.scope, s.target) for s in switches] == [("model_type", "credit_approval")]
    assert {alert.channel for alert in escalations} == {"slack", "email"}
    assert events == 1


def test_escalating_to_a_level_the_path_lacks_tells_nobody_and_lets_the_run_go_on(
    demo, config, capsys
):
    _, db_url, _, incidents = demo
    incident_id = incidents["marketing_propensity"]
    with store.session_scope(db_url) as session:
        # Seed 004's WARNING path stops at the secondary: there is no executive to tell.
        session.get_one(Incident, incident_id).severity = "WARNING"

    told = incident_response.escalate_to_level(
        incident_id, "executive", actor=CARE_OF, config=config, db_url=db_url
    )

    ref = _ref(db_url, incident_id)
    assert told == []
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{ref}: escalation path warning has no executive step, so nobody more is told; the "
        "next question goes to those already responsible"
    )
    with store.session_scope(db_url) as session:
        escalations = session.scalar(
            select(func.count())
            .select_from(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "escalated")
        )
    assert escalations == 0


def test_an_escalation_of_a_reopened_incident_tells_the_on_call_of_its_reopening(
    sqlite_url, config
):
    """A reopening is a new episode whose SLA clock starts then (sla_clock_start), as the
    sweeper counts it: the rotation of that week is told, not the first opening's."""
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        incident = reopened_incident(session, config)
        incident_id = incident.id

    told = incident_response.escalate_to_level(
        incident_id, "at_once", actor=CARE_OF, config=config, db_url=sqlite_url
    )

    with store.session_scope(sqlite_url) as session:
        escalated = session.scalars(
            select(IncidentEvent).where(IncidentEvent.kind == "escalated")
        ).one()
        emails = session.scalars(
            select(Alert.destination).where(Alert.id.in_(told), Alert.channel == "email")
        ).all()
    assert escalated.payload["people"] == ["mike"]
    assert emails == [config.people.user("mike").email]


def _acknowledgement(user: str) -> dict:
    return {"chosen_options": ["Acknowledge"], "responded_by_user": {"id": user, "name": user}}


def test_a_later_acknowledgement_names_the_one_on_record_and_records_nothing(sqlite_url, config):
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        incident_id = reopened_incident(session, config).id

    first = incident_response.record_acknowledgement(
        incident_id, _acknowledgement("mike"), actor=CARE_OF, db_url=sqlite_url
    )
    later = incident_response.record_acknowledgement(
        incident_id, _acknowledgement("lena"), actor=CARE_OF, db_url=sqlite_url
    )

    assert first["acknowledged_by"] == later["acknowledged_by"] == "mike"
    with store.session_scope(sqlite_url) as session:
        actors = session.scalars(
            select(IncidentEvent.actor).where(IncidentEvent.kind == "acknowledged")
        ).all()
    assert actors == ["mike"]


def test_a_containment_choice_reads_once_on_the_timeline(sqlite_url, config):
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        incident_id = reopened_incident(session, config).id
    incident_response.record_acknowledgement(
        incident_id, _acknowledgement("mike"), actor=CARE_OF, db_url=sqlite_url
    )

    incident_response.record_containment(
        incident_id, "manual_review_queue", "mike", db_url=sqlite_url
    )

    with store.session_scope(sqlite_url) as session:
        lines = format_timeline(session, session.get_one(Incident, incident_id))
    assert lines[-2].endswith("mike                         containment: manual review queue")
    assert lines[-1].endswith("mike                         mitigated (investigating -> mitigated)")


def _walk_to_resolution(db_url: str, incident_id: int) -> None:
    responded_at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).isoformat()
    answer = {
        "chosen_options": ["Acknowledge"],
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
        "responded_at": responded_at,
    }
    incident_response.record_acknowledgement(incident_id, answer, actor=CARE_OF, db_url=db_url)
    incident_response.record_containment(incident_id, "monitor_only", "carol", db_url=db_url)
    form = {
        "params_input": {"root_cause": "feed changed", "corrective_action": "fix the feed"},
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
    }
    incident_response.record_documentation(incident_id, form, actor=CARE_OF, db_url=db_url)


def _resolution_form(day) -> dict:
    start = _day_start(day)
    return {
        "params_input": {
            "fix": "feed fixed",
            "verification_start": start.isoformat(),
            "verification_end": (start + timedelta(days=1)).isoformat(),
        },
        "responded_by_user": {"id": "carol", "name": "Carol Chen"},
    }


def test_the_incident_closes_when_the_re_run_analysis_of_a_fixed_window_passes(demo, config):
    data_dir, db_url, manifest, incidents = demo
    incident_id = incidents["marketing_propensity"]
    _walk_to_resolution(db_url, incident_id)

    outcome = incident_response.verify_resolution(
        incident_id,
        _resolution_form(manifest.scenarios["stable"][-1]),
        actor=CARE_OF,
        config=config,
        db_url=db_url,
        data_dir=data_dir,
    )

    with store.session_scope(db_url) as session:
        incident = get_incident(session, incident_id)
        kinds = session.scalars(
            select(IncidentEvent.kind)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.id)
        ).all()
        audited = session.scalar(select(func.count()).select_from(AuditEvent))
        assert (incident.status, incident.acknowledged_at.isoformat()) == (
            "closed",
            "2026-11-23T09:00:00+00:00",
        )
        assert incident.postmortem_due == incident.resolved_at + timedelta(days=7)
    assert outcome["status"] == "closed"
    assert [k for k in kinds if k != "opened"][-4:] == [
        "resolution_check",
        "mitigated",
        "resolved",
        "closed",
    ]
    assert audited > len(kinds)


def test_the_incident_stays_open_when_the_re_run_analysis_still_finds_the_drift(demo, config):
    data_dir, db_url, manifest, incidents = demo
    incident_id = incidents["marketing_propensity"]
    _walk_to_resolution(db_url, incident_id)

    with pytest.raises(incident_response.ResolutionError) as raised:
        incident_response.verify_resolution(
            incident_id,
            _resolution_form(manifest.scenarios["fairness_drift"][0]),
            actor=CARE_OF,
            config=config,
            db_url=db_url,
            data_dir=data_dir,
        )

    assert "stays open" in str(raised.value)
    assert "disparate_impact_ratio at CRITICAL" in str(raised.value)
    assert isinstance(raised.value, Refused)  # the task fails once, in this one line
    with store.session_scope(db_url) as session:
        assert get_incident(session, incident_id).status == "investigating"


def test_a_retried_verification_finds_the_incident_it_closed(demo, config):
    data_dir, db_url, manifest, incidents = demo
    incident_id = incidents["marketing_propensity"]
    _walk_to_resolution(db_url, incident_id)
    form = _resolution_form(manifest.scenarios["stable"][-1])
    options = {"actor": CARE_OF, "config": config, "db_url": db_url, "data_dir": data_dir}

    first = incident_response.verify_resolution(incident_id, form, **options)
    retried = incident_response.verify_resolution(incident_id, form, **options)

    assert first == retried
    assert retried["status"] == "closed"


def _reopen_after_expiry(session, incident) -> None:
    accept_risk(session, incident, actor="carol", event_key="risk_acceptance:1:approved")
    reopen(session, incident, actor="expiry", event_key="reopened:risk_acceptance:1")


def _resolve_after_expiry(session, incident) -> None:
    accept_risk(session, incident, actor="carol", event_key="risk_acceptance:1:approved")
    resolve(session, incident, actor="expiry", event_key="resolved:risk_acceptance:1")


@pytest.mark.parametrize(
    ("change", "status", "allowed"),
    [
        (_reopen_after_expiry, "open", "accepted_risk, acknowledged"),
        (_resolve_after_expiry, "resolved", "closed"),
    ],
)
def test_a_resolution_answered_after_the_incident_was_reopened_or_resolved_is_refused_at_once(
    demo, config, change, status, allowed
):
    """The resolution form has no timeout: while it waits, an accepted risk's expiry can
    reopen the incident (a new episode, to acknowledge again) or resolve it."""
    data_dir, db_url, manifest, incidents = demo
    incident_id = incidents["marketing_propensity"]
    _walk_to_resolution(db_url, incident_id)
    with store.session_scope(db_url) as session:
        change(session, session.get_one(Incident, incident_id))
        runs_before = session.scalar(select(func.count()).select_from(MonitoringRun))
    ref = _ref(db_url, incident_id)

    with pytest.raises(incident_response.ResolutionError) as raised:
        incident_response.verify_resolution(
            incident_id,
            _resolution_form(manifest.scenarios["stable"][-1]),
            actor=CARE_OF,
            config=config,
            db_url=db_url,
            data_dir=data_dir,
        )

    assert str(raised.value) == ILLEGAL_TRANSITION.format(
        ref=ref, status=status, target="resolved", allowed=allowed
    )
    with store.session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(MonitoringRun)) == runs_before
        assert get_incident(session, incident_id).status == status


def test_a_verification_window_that_has_not_ended_is_refused(demo, config):
    data_dir, db_url, _, incidents = demo
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    with pytest.raises(incident_response.ResolutionError) as raised:
        incident_response.verify_resolution(
            incidents["marketing_propensity"],
            _resolution_form(tomorrow),
            actor=CARE_OF,
            config=config,
            db_url=db_url,
            data_dir=data_dir,
        )
    assert "has not ended yet" in str(raised.value)


ISO = "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"


@pytest.mark.parametrize(
    ("window", "line"),
    [
        (
            {"verification_start": "2025-13-40"},
            f"field 'verification_start': '2025-13-40' is not a date and time {ISO}",
        ),
        (
            {"verification_end": "yesterday"},
            f"field 'verification_end': 'yesterday' is not a date and time {ISO}",
        ),
        (
            {"verification_start": "2025-03-29T00:00:00", "verification_end": "2025-03-28"},
            "field 'verification_end': 2025-03-28T00:00:00+00:00 is not after "
            "verification_start 2025-03-29T00:00:00+00:00",
        ),
    ],
)
def test_a_verification_window_that_is_no_window_is_refused_naming_the_field_and_runs_nothing(
    demo, config, window, line
):
    data_dir, db_url, manifest, incidents = demo
    incident_id = incidents["marketing_propensity"]
    form = _resolution_form(manifest.scenarios["stable"][-1])
    form["params_input"].update(window)
    with store.session_scope(db_url) as session:
        runs_before = session.scalar(select(func.count()).select_from(MonitoringRun))

    with pytest.raises(incident_response.ResolutionError) as raised:
        incident_response.verify_resolution(
            incident_id, form, actor=CARE_OF, config=config, db_url=db_url, data_dir=data_dir
        )

    assert str(raised.value) == line
    with store.session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(MonitoringRun)) == runs_before
        assert get_incident(session, incident_id).status == "open"


def test_a_monitoring_run_starts_one_response_per_incident_it_opened(demo):
    _, db_url, _, incidents = demo
    with store.session_scope(db_url) as session:
        run_ids = session.scalars(select(MonitoringRun.id)).all()
        refs = session.scalars(select(Incident.ref).order_by(Incident.id)).all()
    starts = incident_response.incident_responses_to_start(list(run_ids), db_url=db_url)
    assert starts == [
        {"trigger_run_id": f"incident__{ref}", "conf": {"incident_ref": ref}} for ref in refs
    ]
    assert len(incidents) == 2 <= len(starts)
