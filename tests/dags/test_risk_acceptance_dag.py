"""govflow_risk_acceptance: the ML lead's form, the compliance officer's review, the record.

The two required actions wait for people, so the DAG is checked by its structure, by
``dag.test()`` of its first task, and by calling its task functions with the answers the
required actions return."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from sqlalchemy import select

from govflow import settings, store
from govflow.config import load_config
from govflow.flows.risk_acceptances import NO_REQUEST, UNDECIDED
from govflow.incidents.lifecycle import open_incident
from govflow.incidents.risk_acceptances import (
    DAYS_OUT_OF_RANGE,
    NOT_APPROVER,
    NOT_PENDING,
    SEVERITY_NOT_ACCEPTABLE,
)
from govflow.store.schema import (
    AuditEvent,
    Incident,
    IncidentEvent,
    RiskAcceptance,
)
from govflow.store.types import utcnow
from tests.support.incidents import measured
from tests.support.registry import high_risk_model

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "govflow_risk_acceptance.py"
DAG_ID = "govflow_risk_acceptance"
LENA = {"id": "lena", "name": "Lena Lund"}
CAROL = {"id": "carol", "name": "Carol Chen"}


def answer(user: dict[str, str], options: list[str], **params_input: Any) -> dict[str, Any]:
    """What a required action returns once ``user`` answered."""
    return {
        "chosen_options": options,
        "params_input": params_input,
        "responded_at": utcnow().isoformat(),
        "responded_by_user": user,
    }


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    store.upgrade(url)
    with store.session_scope(url) as session:
        session.add(high_risk_model())
    return url


def incident_with(url: str, metric: str, severity: str, value: float) -> str:
    """An incident on ``metric`` whose newest measurement has ``severity``."""
    with store.session_scope(url) as session:
        measured(session, metric, severity, value, utcnow())
        incident, _ = open_incident(
            session,
            load_config(settings.config_dir()),
            model_id="credit_approval",
            category="data_drift",
            metric=metric,
            severity=severity,
            title=f"{severity} data drift: {metric} on credit_approval",
            actor="govflow-monitoring",
        )
        return incident.ref


def measure_again(url: str, metric: str, severity: str, value: float) -> None:
    """A newer measurement of ``metric`` on credit_approval, with ``severity``."""
    with store.session_scope(url) as session:
        measured(session, metric, severity, value, utcnow() + timedelta(hours=1))


def task_function(name: str):
    return runpy.run_path(str(DAG_FILE))[name].function


def test_the_form_and_the_review_follow_the_check_and_the_record_follows_both():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.operators.hitl import HITLEntryOperator, HITLOperator
    from airflow.sdk.definitions.timetables.simple import NullTimetable

    bag = DagBag(dag_folder=str(DAG_FILE))
    dag = bag.dags[DAG_ID]
    document, review = dag.get_task("document_rationale"), dag.get_task("review_acceptance")

    assert bag.import_errors == {}
    assert isinstance(dag.timetable, NullTimetable)  # schedule=None: started on demand
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "check_request": [],
        "document_rationale": ["check_request"],
        "request_acceptance": ["document_rationale"],
        "review_acceptance": ["request_acceptance"],
        "record_decision": ["request_acceptance", "review_acceptance"],
        "end_undecided_request": ["record_decision"],
    }
    assert {name: dag.params[name] for name in dag.params} == {
        "incident_ref": "INC-2025-0001",
        "rationale": "",
        "days": 30,
    }
    assert isinstance(document, HITLEntryOperator)
    assert (document.assignment_key, sorted(document.params)) == ("ml_lead", ["days", "rationale"])
    assert isinstance(review, HITLOperator)
    assert (review.assignment_key, review.options) == ("compliance_officer", ["Approve", "Reject"])


def test_the_check_names_the_ml_lead_and_the_compliance_officer_for_a_warning(db_url):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)

    checked = task_function("check_request")(ref)

    assert (checked["incident_ref"], checked["severity"], checked["max_days"]) == (
        ref,
        "WARNING",
        30,
    )
    assert checked["ml_lead"] == {"users": [LENA], "timeout_minutes": None}
    assert checked["compliance_officer"] == {"users": [CAROL], "timeout_minutes": None}


def test_the_check_refuses_a_critical_condition_before_anybody_is_asked(db_url):
    ref = incident_with(db_url, "psi", "CRITICAL", 0.31)

    # AirflowFailException: the task fails once, unretried, in this one line.
    with pytest.raises(AirflowFailException) as refused:
        task_function("check_request")(ref)

    assert str(refused.value) == SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )


def test_a_dag_run_of_the_check_alone_succeeds_for_a_warning_incident(db_url):
    from airflow.dag_processing.dagbag import DagBag

    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]

    dag_run = dag.partial_subset(task_ids=["check_request"]).test(run_conf={"incident_ref": ref})

    assert dag_run.state == "success"


def test_a_dag_run_for_a_critical_condition_fails_its_check_once_in_one_line(db_url, capsys):
    from airflow.dag_processing.dagbag import DagBag

    ref = incident_with(db_url, "psi", "CRITICAL", 0.31)
    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]

    dag_run = dag.partial_subset(task_ids=["check_request"]).test(run_conf={"incident_ref": ref})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert states["check_request"] == ("failed", 1)
    line = SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )
    logged = capsys.readouterr()
    assert f"AirflowFailException: {line}\n" in logged.out + logged.err


def _refusals(url: str) -> tuple[list, list]:
    """The incidents' risk_acceptance_refused events and the risk_acceptance.refused audit
    events: (actor, note or reason) each."""
    with store.session_scope(url) as session:
        events = session.scalars(
            select(IncidentEvent).where(IncidentEvent.kind == "risk_acceptance_refused")
        ).all()
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "risk_acceptance.refused")
        ).all()
        return (
            [(event.actor, event.note) for event in events],
            [(event.actor, event.payload["reason"]) for event in audit],
        )


def test_a_refused_check_is_on_the_incidents_timeline_and_in_the_audit_trail_once(db_url):
    from airflow.dag_processing.dagbag import DagBag

    ref = incident_with(db_url, "psi", "CRITICAL", 0.31)
    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]

    dag_run = dag.partial_subset(task_ids=["check_request"]).test(run_conf={"incident_ref": ref})
    # A cleared task runs the check again in the same run: nothing more is recorded.
    with pytest.raises(AirflowFailException):
        task_function("check_request")(ref, run_id=dag_run.run_id)

    line = SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )
    run = f"{DAG_ID}/{dag_run.run_id}"
    assert _refusals(db_url) == (
        [(run, f"request refused before it was filed: {line}")],
        [(run, line)],
    )


def test_the_check_refuses_a_ref_that_names_no_incident_in_one_line(db_url):
    with pytest.raises(AirflowFailException) as refused:
        task_function("check_request")("INC-2099-0001")

    assert str(refused.value) == "no incident 'INC-2099-0001'"


def test_a_decision_by_someone_who_may_not_decide_fails_the_record_once_in_one_line(db_url):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    requested = task_function("request_acceptance")(ref, "", "30", form, "r4")

    with pytest.raises(AirflowFailException) as refused:
        task_function("record_decision")(requested, answer(LENA, ["Approve"], comment="fine"))

    assert str(refused.value) == NOT_APPROVER.format(
        user="lena", role="compliance_officer", holders="carol"
    )


def test_the_ml_leads_form_files_one_request_with_the_proposal_filling_empty_fields(db_url):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    request = task_function("request_acceptance")
    form = answer(LENA, ["OK"], rationale="", days=None)

    first = request(ref, "Seasonal tax-season applicants", "21", form, "govflow_risk_acceptance/r1")
    retried = request(ref, "ignored on retry", "5", form, "govflow_risk_acceptance/r1")

    assert first == retried
    assert (first["rationale"], first["days"], first["requested_by"], first["status"]) == (
        "Seasonal tax-season applicants",
        21,
        "lena",
        "requested",
    )


def test_the_form_refuses_more_days_than_the_policy_allows(db_url):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=45)

    with pytest.raises(AirflowFailException) as refused:
        task_function("request_acceptance")(ref, "", "30", form, "govflow_risk_acceptance/r2")

    assert str(refused.value) == DAYS_OUT_OF_RANGE.format(maximum=30, days=45)


@pytest.mark.parametrize(
    ("options", "status", "incident_status"),
    [(["Approve"], "approved", "accepted_risk"), (["Reject"], "rejected", "open")],
)
def test_the_record_applies_the_compliance_officers_answer(
    db_url, capsys, options, status, incident_status
):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    requested = task_function("request_acceptance")(ref, "", "30", form, "r3")

    recorded = task_function("record_decision")(
        requested, answer(CAROL, options, comment="reviewed")
    )

    assert (recorded["status"], recorded["approved_by"]) == (status, "carol")
    with store.session_scope(db_url) as session:
        incident = session.scalars(select(Incident).where(Incident.ref == ref)).one()
        assert incident.status == incident_status
    assert f"risk acceptance 1 of {ref} {status} by carol" in capsys.readouterr().out


def recorded(url: str) -> tuple[list[tuple[int, str]], list[str], list[str]]:
    """The acceptances (id, status), the audit actions and the incident timeline's kinds."""
    with store.session_scope(url) as session:
        rows = session.execute(select(RiskAcceptance.id, RiskAcceptance.status)).all()
        audited = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        timeline = session.scalars(select(IncidentEvent.kind).order_by(IncidentEvent.id)).all()
    return [tuple(row) for row in rows], list(audited), list(timeline)


@pytest.mark.parametrize(
    ("options", "status", "audited_decision", "timeline_decision"),
    [
        (
            ["Approve"],
            "approved",
            ["incident.accepted_risk", "risk_acceptance.approved"],
            "accepted_risk",
        ),
        (
            ["Reject"],
            "rejected",
            ["risk_acceptance.rejected", "incident.risk_acceptance_rejected"],
            "risk_acceptance_rejected",
        ),
    ],
)
def test_a_retried_request_and_decision_record_each_once(
    db_url, options, status, audited_decision, timeline_decision
):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    review = answer(CAROL, options, comment="reviewed")
    request, record = task_function("request_acceptance"), task_function("record_decision")

    requested = request(ref, "", "30", form, "govflow_risk_acceptance/r5")
    assert request(ref, "", "30", form, "govflow_risk_acceptance/r5") == requested
    decided = record(requested, review)
    assert record(requested, review) == decided

    acceptances, audited, timeline = recorded(db_url)
    assert acceptances == [(1, status)]
    assert audited == [
        "incident.opened",
        "risk_acceptance.requested",
        "incident.risk_acceptance_requested",
        *audited_decision,
    ]
    assert timeline == ["opened", "risk_acceptance_requested", timeline_decision]


def test_the_tasks_are_retried_and_the_peoples_steps_never():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]

    assert {task.task_id: task.retries for task in dag.tasks} == {
        "check_request": 2,
        "document_rationale": 0,
        "request_acceptance": 2,
        "review_acceptance": 0,
        "record_decision": 2,
        "end_undecided_request": 2,
    }


def test_a_request_whose_approval_is_refused_ends_refused_once_and_a_later_run_can_request(
    db_url, capsys
):
    """The metric turned CRITICAL while the compliance officer looked: the approval fails
    once in one line, and the request does not stay pending to block every later one."""
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    request, record = task_function("request_acceptance"), task_function("record_decision")
    requested = request(ref, "", "30", form, "govflow_risk_acceptance/r6")
    measure_again(db_url, "psi", "CRITICAL", 0.31)
    line = SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )

    with pytest.raises(AirflowFailException) as refused:
        record(requested, answer(CAROL, ["Approve"], comment="fine"))
    # Cleared by hand (a refusal is not retried): nothing more is recorded.
    with pytest.raises(AirflowFailException) as cleared:
        record(requested, answer(CAROL, ["Approve"], comment="fine"))
    measure_again(db_url, "psi", "WARNING", 0.17)
    later = request(ref, "", "30", form, "govflow_risk_acceptance/r7")

    assert str(refused.value) == line
    assert str(cleared.value) == NOT_PENDING.format(id=1, status="refused")
    acceptances, audited, timeline = recorded(db_url)
    assert acceptances == [(1, "refused"), (2, "requested")]
    assert later["id"] == 2
    assert audited == [
        "incident.opened",
        "risk_acceptance.requested",
        "incident.risk_acceptance_requested",
        "risk_acceptance.refused",
        "incident.risk_acceptance_refused",
        "risk_acceptance.requested",
        "incident.risk_acceptance_requested",
    ]
    assert timeline[1:4] == [
        "risk_acceptance_requested",
        "risk_acceptance_refused",
        "risk_acceptance_requested",
    ]
    with store.session_scope(db_url) as session:
        refusal = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "risk_acceptance.refused")
        ).one()
        assert (refusal.actor, refusal.payload["reason"]) == ("carol", line)
    assert f"risk acceptance 1 of {ref} is refused: {line}" in capsys.readouterr().out


class _Run:
    """The task instance of a run whose request_acceptance returned ``request``."""

    def __init__(self, request: dict[str, Any] | None) -> None:
        self.request = request

    def xcom_pull(self, task_ids: str) -> dict[str, Any] | None:
        assert task_ids == "request_acceptance"
        return self.request


def test_a_request_the_run_ended_without_deciding_ends_refused_once(db_url):
    """The review failed (or was marked failed), so record_decision never ran: the
    teardown ends the request, however often it is retried."""
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    requested = task_function("request_acceptance")(ref, "", "30", form, "r8")
    end = task_function("end_undecided_request")

    ended = end(run_id="manual__r8", ti=_Run(requested))
    again = end(run_id="manual__r8", ti=_Run(requested))

    assert ended == again
    assert (ended["status"], ended["approved_by"]) == ("refused", None)
    acceptances, audited, _ = recorded(db_url)
    assert acceptances == [(1, "refused")]
    assert audited[-2:] == ["risk_acceptance.refused", "incident.risk_acceptance_refused"]
    assert audited.count("risk_acceptance.refused") == 1
    with store.session_scope(db_url) as session:
        refusal = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "risk_acceptance.refused")
        ).one()
        assert refusal.payload["reason"] == UNDECIDED.format(run=f"{DAG_ID}/manual__r8")


@pytest.mark.parametrize(
    ("options", "status"), [(["Approve"], "approved"), (["Reject"], "rejected")]
)
def test_the_end_of_a_decided_run_leaves_its_decision_as_it_is(db_url, options, status):
    ref = incident_with(db_url, "psi", "WARNING", 0.18)
    form = answer(LENA, ["OK"], rationale="Seasonal", days=10)
    requested = task_function("request_acceptance")(ref, "", "30", form, "r9")
    decided = task_function("record_decision")(requested, answer(CAROL, options, comment="ok"))

    ended = task_function("end_undecided_request")(run_id="manual__r9", ti=_Run(requested))

    assert ended == decided
    assert ended["status"] == status
    assert "risk_acceptance.refused" not in recorded(db_url)[1]


def test_the_end_of_a_run_that_filed_no_request_is_skipped(db_url):
    with pytest.raises(AirflowSkipException) as skipped:
        task_function("end_undecided_request")(run_id="manual__r10", ti=_Run(None))

    assert str(skipped.value) == NO_REQUEST


def test_the_end_is_a_teardown_so_the_runs_state_is_still_its_decisions():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]

    assert dag.get_task("end_undecided_request").is_teardown
    assert [task.task_id for task in dag.leaves] == ["end_undecided_request"]
