"""govflow_incident_response's tasks given a request they cannot carry out: a ref that names
no incident, a blank documentation, a resolution form naming no usable window. Each fails
its task once in one line (Airflow's AirflowFailException), never retried with a traceback.

The tasks read the incident from the run's plan, so they are called with the plan's
incident id in place of that lookup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSkipException,
    DagRunTriggerException,
)
from sqlalchemy import select

from govflow import settings, store
from govflow.audit import query_events
from govflow.config import load_config
from govflow.flows.incident_response import (
    ACCEPTANCE_ORPHANED,
    ACCEPTANCE_PENDING,
    ACCEPTANCE_REFUSED,
    ACCEPTANCE_RUNNING,
    ACCEPTANCE_STARTED,
    NOT_ESCALATED,
)
from govflow.incidents.lifecycle import acknowledge, open_incident, start_investigation
from govflow.incidents.risk_acceptances import (
    SEVERITY_NOT_ACCEPTABLE,
    approve_acceptance,
    expire_acceptances,
    refuse_acceptance,
    reject_acceptance,
    request_acceptance,
)
from govflow.store.schema import (
    Alert,
    Incident,
    IncidentEvent,
    RiskAcceptance,
)
from govflow.store.types import utcnow
from tests.support.incidents import measured
from tests.support.registry import high_risk_model

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "govflow_incident_response"
CAROL = {"id": "carol", "name": "Carol Chen"}
ISO = "(ISO 8601, e.g. 2025-03-28T00:00:00+00:00)"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "govflow_incident_response.py")).get_dag(DAG_ID)


@pytest.fixture
def incident(fresh_store_env) -> tuple[int, str]:
    """An open data-drift incident with no analysed window behind it: (id, ref)."""
    store.upgrade(fresh_store_env)
    with store.session_scope(fresh_store_env) as session:
        session.add(high_risk_model())
        opened, _ = open_incident(
            session,
            load_config(settings.config_dir()),
            model_id="credit_approval",
            category="data_drift",
            metric="psi",
            severity="WARNING",
            title="WARNING data drift: psi on credit_approval",
            actor="govflow-monitoring",
        )
        return opened.id, opened.ref


def _task(dag, task_id: str, monkeypatch, incident_id: int):
    """The task's callable, reading ``incident_id`` where the run's plan would give it."""
    function = dag.get_task(task_id).python_callable
    monkeypatch.setitem(function.__globals__, "_incident_id", lambda: incident_id)
    monkeypatch.setitem(function.__globals__, "_actor", lambda: f"{DAG_ID}/manual__test")
    return function


def test_a_run_for_a_ref_that_names_no_incident_fails_its_plan_once_in_one_line(
    dag, fresh_store_env, capsys
):
    store.upgrade(fresh_store_env)

    planned = dag.partial_subset(task_ids=["plan_response"])
    dag_run = planned.test(run_conf={"incident_ref": "INC-2099-0001"})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["plan_response"] == ("failed", 1)
    logged = capsys.readouterr()
    assert "AirflowFailException: no incident 'INC-2099-0001'\n" in logged.out + logged.err


def test_a_run_for_a_ref_that_names_no_incident_fails_once_and_skips_its_end(dag, fresh_store_env):
    store.upgrade(fresh_store_env)

    dag_run = dag.test(run_conf={"incident_ref": "INC-2099-0001"})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert [task for task, (state, _) in states.items() if state == "failed"] == ["plan_response"]
    assert states["end_response_run"] == ("skipped", 1)


def test_a_step_that_failed_fails_the_run_though_its_end_runs(dag, incident):
    """The run's end runs whatever happened; it used to be the run's only leaf, so a failed
    documentation or resolution left the run green."""
    _, ref = incident
    ending = dag.partial_subset(
        task_ids=["plan_response", "verify_resolution", "end_response_run"],
        include_upstream=False,
    )
    # In the run the plan comes first through the steps left out; the resolution form, left
    # out too, names no window, and the incident has none analysed: the check fails once.
    ending.get_task("plan_response") >> ending.get_task("verify_resolution")

    dag_run = ending.test(run_conf={"incident_ref": ref})

    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert states == {
        "plan_response": ("success", 1),
        "verify_resolution": ("failed", 1),
        "end_response_run": ("success", 1),
    }
    assert dag_run.state == "failed"


def test_the_plan_task_refuses_a_ref_that_names_no_incident(dag, fresh_store_env):
    store.upgrade(fresh_store_env)
    plan = dag.get_task("plan_response").python_callable

    with pytest.raises(AirflowFailException) as failed:
        plan(params={"incident_ref": "INC-2099-0001"}, run_id="manual__test")

    assert str(failed.value) == "no incident 'INC-2099-0001'"


def test_a_documentation_left_blank_fails_its_task_once_in_one_line(dag, incident, monkeypatch):
    incident_id, ref = incident
    record = _task(dag, "record_documentation", monkeypatch, incident_id)
    form = {
        "params_input": {"root_cause": " ", "corrective_action": "fix the feed"},
        "responded_by_user": CAROL,
    }

    with pytest.raises(AirflowFailException) as failed:
        record(form)

    assert str(failed.value) == (
        f"documenting incident {ref} needs a root cause and a corrective action"
    )


class _Form:
    """What the documentation form reads and writes of its task instance on resume."""

    def __init__(self, plan: dict) -> None:
        self.id, self.task_id, self.map_index = uuid.uuid4(), "document", -1
        deadline = datetime.now(UTC) + timedelta(hours=23)
        self.stored = {"return_value": plan, "deadline": deadline.isoformat()}
        self.pushed: dict[str, object] = {}

    def xcom_pull(self, *, task_ids: str, key: str = "return_value", **_: object) -> object:
        return self.stored.get(key)

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def test_a_documentation_of_only_spaces_is_asked_again_of_the_responders(dag, monkeypatch):
    """Failing record_documentation instead left the run green and nobody asked (the run's
    end runs whatever happened)."""
    from airflow.sdk.exceptions import TaskAwaitingInput

    asked_again = []
    monkeypatch.setattr(
        "govflow_airflow.hitl.upsert_hitl_detail", lambda **kw: asked_again.append(kw)
    )
    ti = _Form({"documentation": {"users": [CAROL], "timeout_minutes": 24 * 60}})
    answer = {
        "chosen_options": ["OK"],
        "params_input": {"root_cause": "   ", "corrective_action": "fix the feed"},
        "responded_at": datetime.now(UTC),
        "responded_by_user": CAROL,
    }

    with pytest.raises(TaskAwaitingInput) as parked:
        dag.get_task("document").execute_complete({"task_instance": ti, "ti": ti}, answer)

    assert parked.value.method_name == "execute_complete"
    assert timedelta(hours=22, minutes=59) < parked.value.timeout <= timedelta(hours=23)
    assert [call["assigned_users"] for call in asked_again] == [[CAROL]]
    assert ti.pushed["answer_problems"] == [
        {"by": "carol", "problems": ["field 'root_cause' is blank"]}
    ]


def test_an_acknowledgement_naming_an_option_not_offered_is_asked_again_not_failed(
    dag, monkeypatch
):
    """A choice sent over REST is not checked against the options by Airflow's API: the
    branch failed on it, and the run with it."""
    from airflow.sdk.exceptions import TaskAwaitingInput

    asked_again = []
    monkeypatch.setattr(
        "govflow_airflow.hitl.upsert_hitl_detail", lambda **kw: asked_again.append(kw)
    )
    ti = _Form({"primary": {"users": [CAROL], "timeout_minutes": 15}})
    answer = {
        "chosen_options": ["Shrug"],
        "params_input": {},
        "responded_at": datetime.now(UTC),
        "responded_by_user": CAROL,
    }

    with pytest.raises(TaskAwaitingInput) as parked:
        dag.get_task("acknowledge").execute_complete({"task_instance": ti, "ti": ti}, answer)

    assert parked.value.method_name == "execute_complete"
    assert [call["assigned_users"] for call in asked_again] == [[CAROL]]
    problems = ti.pushed["answer_problems"]
    assert [entry["by"] for entry in problems] == ["carol"]
    assert problems[0]["problems"][0].startswith("'Shrug' is not one of the options (")
    assert "response" not in ti.pushed


@pytest.mark.parametrize(
    ("window", "line"),
    [
        (
            {"verification_start": "yesterday", "verification_end": "2025-03-29T00:00:00"},
            f"field 'verification_start': 'yesterday' is not a date and time {ISO}",
        ),
        (
            {"verification_start": "2025-03-29T00:00:00", "verification_end": "2025-03-28"},
            "field 'verification_end': 2025-03-28T00:00:00+00:00 is not after "
            "verification_start 2025-03-29T00:00:00+00:00",
        ),
        (
            {"verification_start": "", "verification_end": ""},
            "incident {ref} names no analysed window; give the verification window in the form",
        ),
        (
            {"verification_start": "2099-01-01T00:00:00", "verification_end": "2099-01-02"},
            "the verification window [2099-01-01 00:00:00+00:00, 2099-01-02 00:00:00+00:00) "
            "has not ended yet; resolve again after 2099-01-02 00:00:00+00:00",
        ),
    ],
)
def test_a_resolution_form_naming_no_usable_window_fails_its_task_once_in_one_line(
    dag, incident, monkeypatch, window, line
):
    incident_id, ref = incident
    verify = _task(dag, "verify_resolution", monkeypatch, incident_id)
    form = {"params_input": {"fix": "feed fixed", **window}, "responded_by_user": CAROL}

    with pytest.raises(AirflowFailException) as failed:
        verify(form)

    assert str(failed.value) == line.format(ref=ref)


def test_a_resolution_check_the_store_failed_is_retried_as_every_step_is(dag):
    # A refusal fails once (above); what a retry can fix, a store briefly unreachable, is
    # retried like the run's other steps.
    assert dag.get_task("verify_resolution").retries == dag.default_args["retries"] == 2


# --- A run started again by hand for an incident acknowledged in an earlier one


def _acknowledged_by_carol(incident_id: int) -> None:
    """What the first response run's acknowledgement left: carol investigating."""
    with store.session_scope() as session:
        incident = session.get_one(Incident, incident_id)
        acknowledge(session, incident, actor="carol")
        start_investigation(session, incident, actor="carol")


def _escalations(incident_id: int) -> tuple[list, list, list]:
    """The incident's escalation events, its alerts and its incident.escalated audit events."""
    with store.session_scope() as session:
        events = session.scalars(
            select(IncidentEvent.note).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "escalated"
            )
        ).all()
        alerts = session.scalars(select(Alert.id).where(Alert.incident_id == incident_id)).all()
        audit = query_events(session, action="incident.escalated")
        return list(events), list(alerts), list(audit)


def test_a_run_started_again_for_an_acknowledged_incident_asks_nobody_and_escalates_nothing(
    dag, incident
):
    incident_id, ref = incident
    _acknowledged_by_carol(incident_id)

    # The acknowledgement steps of the run, plan_response included, with nobody answering.
    acknowledging = dag.partial_subset(task_ids=["record_acknowledgement"])
    dag_run = acknowledging.test(run_conf={"incident_ref": ref})

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success"
    assert states == {
        "plan_response": "success",
        "acknowledge": "success",
        "escalate_to_secondary": "skipped",
        "acknowledge_as_secondary": "skipped",
        "escalate_to_executive": "skipped",
        "acknowledge_as_executive": "skipped",
        "record_acknowledgement": "success",
    }
    assert _escalations(incident_id) == ([], [], [])
    with store.session_scope() as session:
        investigated = session.get_one(Incident, incident_id)
        assert (investigated.status, investigated.assigned_to) == ("investigating", "carol")


@pytest.mark.parametrize("level", ["secondary", "executive"])
def test_a_request_that_timed_out_escalates_nothing_once_the_incident_is_acknowledged(
    dag, incident, monkeypatch, capsys, level
):
    incident_id, ref = incident
    _acknowledged_by_carol(incident_id)
    escalate = _task(dag, f"escalate_to_{level}", monkeypatch, incident_id)

    escalated = escalate(level)

    assert escalated == {}
    assert capsys.readouterr().out.splitlines()[-1] == NOT_ESCALATED.format(
        ref=ref, level=level, status="investigating"
    )
    assert _escalations(incident_id) == ([], [], [])


# --- "Accept risk": one govflow_risk_acceptance run per response run, none while one lasts


class _Airflow:
    """The task instance's view of Airflow: which govflow_risk_acceptance runs are unended,
    and what the containment task returned."""

    def __init__(self, running: set[str] = frozenset(), returned: dict | None = None) -> None:
        self.running, self.returned = running, returned

    def get_dr_count(self, dag_id: str, run_ids: list[str], states: list[str]) -> int:
        assert (dag_id, states) == ("govflow_risk_acceptance", ["queued", "running"])
        return len(self.running & set(run_ids))

    def xcom_pull(self, task_ids: str) -> dict | None:
        assert task_ids == "request_risk_acceptance"
        return self.returned


def _accept_risk(dag, monkeypatch, incident_id: int, response_run: str, running=frozenset()):
    """What "Accept risk" chooses in response run ``response_run``."""
    request = _task(dag, "request_risk_acceptance", monkeypatch, incident_id)
    monkeypatch.setitem(request.__globals__, "_containment_actor", lambda: "carol")
    return request(run_id=response_run, ti=_Airflow(running))


def _file_request(ref: str, run: str) -> int:
    """The request govflow_risk_acceptance's run ``run`` files for the incident."""
    with store.session_scope() as session:
        return request_acceptance(
            session,
            load_config(settings.config_dir()),
            incident=ref,
            rationale="Seasonal",
            days=10,
            requested_by="lena",
            request_key=f"govflow_risk_acceptance/{run}",
        ).id


def _reject(session, config, acceptance) -> None:
    reject_acceptance(session, config, acceptance, approver="carol", comment="no")


def _refuse(session, config, acceptance) -> None:
    refuse_acceptance(session, acceptance, reason="turned CRITICAL", actor="carol")


def _expire(session, config, acceptance) -> None:
    """Expired while the drift persists: the incident reopens, its risk acceptable again (one
    that expired resolved could not have its risk accepted any more)."""
    approve_acceptance(session, config, acceptance, approver="carol")
    measured(session, "psi", "WARNING", 0.18, utcnow() + timedelta(days=10))
    expire_acceptances(session, config, now=utcnow() + timedelta(days=11))


def _approve(session, config, acceptance) -> None:
    approve_acceptance(session, config, acceptance, approver="carol")


def _end(ending, acceptance_id: int) -> None:
    with store.session_scope() as session:
        ending(
            session, load_config(settings.config_dir()), session.get(RiskAcceptance, acceptance_id)
        )


def test_accept_risk_starts_a_risk_acceptance_run_and_a_retry_chooses_the_same(
    dag, incident, monkeypatch, capsys
):
    incident_id, ref = incident
    started = f"risk_acceptance__{ref}__incident__{ref}"

    first = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")
    _file_request(ref, started)  # the started run files its request before the retry
    retried = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")

    message = ACCEPTANCE_STARTED.format(ref=ref, run=started)
    assert first == retried
    assert first == {
        "ref": ref,
        "decision": "accept_risk",
        "risk_acceptance_run_id": started,
        "message": message,
    }
    assert capsys.readouterr().out.splitlines() == [message, message]
    with store.session_scope() as session:
        chosen = session.scalars(
            select(IncidentEvent).where(IncidentEvent.kind == "containment")
        ).all()
    assert [(event.actor, event.note) for event in chosen] == [("carol", message)]


def test_accept_risk_of_a_critical_incident_starts_no_run_and_its_timeline_says_why(
    dag, incident, monkeypatch
):
    incident_id, ref = incident
    with store.session_scope() as session:
        session.get_one(Incident, incident_id).severity = "CRITICAL"

    chosen = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")

    reason = SEVERITY_NOT_ACCEPTABLE.format(
        severity="CRITICAL", metric="psi", model_id="credit_approval", allowed="WARNING"
    )
    message = ACCEPTANCE_REFUSED.format(ref=ref, reason=reason)
    assert (chosen["risk_acceptance_run_id"], chosen["message"]) == (None, message)
    with store.session_scope() as session:
        chosen_events = session.scalars(
            select(IncidentEvent.note).where(IncidentEvent.kind == "containment")
        ).all()
    assert chosen_events == [message]


@pytest.mark.parametrize(
    "ending", [_reject, _refuse, _expire], ids=["rejected", "refused", "expired"]
)
def test_a_later_response_run_starts_a_new_risk_acceptance_once_the_earlier_one_ended(
    dag, incident, monkeypatch, ending
):
    incident_id, ref = incident
    first = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")
    _end(ending, _file_request(ref, first["risk_acceptance_run_id"]))

    later = _accept_risk(dag, monkeypatch, incident_id, "manual__second")

    assert later["risk_acceptance_run_id"] == f"risk_acceptance__{ref}__manual__second"
    assert later["message"] == ACCEPTANCE_STARTED.format(
        ref=ref, run=f"risk_acceptance__{ref}__manual__second"
    )


@pytest.mark.parametrize(
    ("ending", "status"), [(None, "requested"), (_approve, "approved")], ids=["pending", "in_force"]
)
def test_a_later_response_run_starts_nothing_while_the_earlier_request_is_pending_or_in_force(
    dag, incident, monkeypatch, capsys, ending, status
):
    incident_id, ref = incident
    first = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")
    acceptance_id = _file_request(ref, first["risk_acceptance_run_id"])
    if ending is not None:
        _end(ending, acceptance_id)
    with store.session_scope() as session:
        until = session.get_one(RiskAcceptance, acceptance_id).suppression_until
    # A pending request's run is waiting for the compliance officer's review.
    running = {first["risk_acceptance_run_id"]} if ending is None else frozenset()

    later = _accept_risk(dag, monkeypatch, incident_id, "manual__second", running=running)

    message = ACCEPTANCE_PENDING.format(
        ref=ref,
        id=acceptance_id,
        model_id="credit_approval",
        metric="psi",
        status=status,
        until=f" until {until:%Y-%m-%d %H:%M} UTC" if until else "",
    )
    assert (later["risk_acceptance_run_id"], later["message"]) == (None, message)
    assert capsys.readouterr().out.splitlines()[-1] == message


def test_a_request_whose_run_ended_undecided_is_refused_and_a_later_run_starts(
    dag, incident, monkeypatch
):
    """The earlier run was marked failed by hand while its request waited for the compliance
    officer: nothing can decide the request any more, and pending it blocked every later
    "Accept risk" of the model and metric."""
    incident_id, ref = incident
    first = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")
    acceptance_id = _file_request(ref, first["risk_acceptance_run_id"])

    later = _accept_risk(dag, monkeypatch, incident_id, "manual__second")
    again = _accept_risk(dag, monkeypatch, incident_id, "manual__second")

    assert later == again
    assert later["risk_acceptance_run_id"] == f"risk_acceptance__{ref}__manual__second"
    with store.session_scope() as session:
        refused = session.get_one(RiskAcceptance, acceptance_id)
        assert (refused.status, refused.details["refused"]) == (
            "refused",
            ACCEPTANCE_ORPHANED.format(run=first["risk_acceptance_run_id"]),
        )
        events = query_events(session, action="risk_acceptance.refused")
        assert [(e.actor, e.target) for e in events] == [
            ("carol", f"risk_acceptance:{acceptance_id}")
        ]


@pytest.mark.parametrize("earlier", ["theirs", "before_runs_were_per_response"])
def test_a_later_response_run_starts_nothing_while_an_earlier_run_may_still_file_a_request(
    dag, incident, monkeypatch, earlier
):
    """The ML lead has not answered the earlier run's form yet: it has filed nothing."""
    incident_id, ref = incident
    first = _accept_risk(dag, monkeypatch, incident_id, f"incident__{ref}")
    unended = {
        "theirs": first["risk_acceptance_run_id"],
        # Response runs started one run per incident before (govflow 2ae2d76).
        "before_runs_were_per_response": f"risk_acceptance__{ref}",
    }[earlier]

    later = _accept_risk(dag, monkeypatch, incident_id, "manual__second", running={unended})
    after_it_ended = _accept_risk(dag, monkeypatch, incident_id, "manual__third")

    assert (later["risk_acceptance_run_id"], later["message"]) == (
        None,
        ACCEPTANCE_RUNNING.format(ref=ref, run=unended),
    )
    assert after_it_ended["risk_acceptance_run_id"] == f"risk_acceptance__{ref}__manual__third"


def test_the_trigger_starts_the_chosen_run_once_and_is_skipped_saying_why_when_none(dag):
    trigger = dag.get_task("start_risk_acceptance")
    chosen = {
        "ref": "INC-2025-0001",
        "risk_acceptance_run_id": "risk_acceptance__x",
        "message": "m",
    }

    with pytest.raises(DagRunTriggerException) as started:
        trigger.execute({"ti": _Airflow(returned=chosen)})
    with pytest.raises(AirflowSkipException) as skipped:
        trigger.execute({"ti": _Airflow(returned={**chosen, "risk_acceptance_run_id": None})})

    assert (started.value.trigger_dag_id, started.value.dag_run_id) == (
        "govflow_risk_acceptance",
        "risk_acceptance__x",
    )
    assert started.value.conf == {"incident_ref": "INC-2025-0001"}
    assert started.value.skip_when_already_exists is True
    assert str(skipped.value) == "m"
    assert dag.get_task("contain").options_mapping["Accept risk"] == "request_risk_acceptance"
    assert dag.get_task("request_risk_acceptance").downstream_task_ids == {
        "start_risk_acceptance",
        "document",
    }
