"""The seed's `POST /api/v1/monitoring/baselines/reset` and `POST /api/v1/monitoring/analyze-now`
as README documents them: calls to Airflow's REST API on a real Airflow on 127.0.0.1.

The session's shared stack (api-server, scheduler, dag-processor; the people of people.yaml
as users), leased over a private copy of the seeded demo. eve (ml_engineer) requests a concept-drift
reset of credit_approval; only lena (ml_lead) is asked, the requester and the CTO are
refused with 403, lena approves, and the store then holds exactly one active baseline built
from 2025-03-21..27, the old one archived and an incident documenting the reset. An
on-demand analysis triggered the same way is then judged against the new baseline, and a
deployment announced as an event of the Asset `govflow_model_deployed` (posted through
`POST /api/v2/assets/events`, as the deployment DAG would publish it) gets its baseline.
The governance dashboard mounted on the same api-server (plugins/govflow_dashboard.py)
answers no route without a token, shows carol (compliance officer) the Fairness Monitor but
not Model Health, and its "Analyze Now" starts a run whose triggering user is eve.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from govflow import store
from govflow.audit import query_events
from govflow.baselines.profile import active_baseline
from govflow.store.schema import Baseline, Incident, MonitoringRun
from tests.unit.test_baseline_management import copy_demo

pytestmark = pytest.mark.system

RESET, ANALYZE_NOW = "govflow_baseline_reset", "govflow_monitoring_on_demand"
ON_DEPLOY = "govflow_baseline_on_deploy"
MODEL_ID = "credit_approval"
REASON = "applicant incomes rose for good in March: accept the new distribution"


@pytest.fixture(scope="module")
def baseline_stack(shared_airflow, seeded_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline-rest-api")
    data_dir, db_url = copy_demo(seeded_demo, root)
    env = {
        "GOVFLOW_CONFIG_DIR": str(shared_airflow.config_dir),
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": db_url,
    }
    with shared_airflow.lease(env, dag_ids=[RESET, ANALYZE_NOW, ON_DEPLOY]) as stack:
        yield stack, db_url


def _trigger(stack, user: str, dag_id: str, conf: dict) -> str:
    """``POST /api/v2/dags/{dag_id}/dagRuns`` as README shows it, then unpause the DAG."""
    status, run = stack.client(user).request(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
    )
    assert status == 200, run
    stack.unpause(dag_id)
    return run["dag_run_id"]


def test_a_reset_requested_through_rest_waits_for_the_ml_lead_and_replaces_the_baseline(
    baseline_stack,
):
    stack, db_url = baseline_stack
    started = time.monotonic()
    run_id = _trigger(
        stack,
        "eve",
        RESET,
        {
            "model": MODEL_ID,
            "kind": "concept_drift_accepted",
            "reason": REASON,
            "window_end": "2025-03-28T00:00:00+00:00",
        },
    )
    stack.wait_for_task(RESET, run_id, "approve_reset", {"awaiting_input"}, map_index=0)
    detail = stack.hitl_detail(RESET, run_id, "approve_reset", map_index=0)
    assert detail["assigned_users"] == [{"id": "lena", "name": "Lena Lund"}]
    assert detail["subject"] == (
        "Approve the baseline reset of credit_approval (concept drift accepted)"
    )

    for outsider in ("eve", "tom"):
        status, _ = stack.answer_hitl(
            outsider, RESET, run_id, "approve_reset", ["Approve"], map_index=0
        )
        assert (outsider, status) == (outsider, 403)
    status = stack.answer_hitl_and_confirm(
        "lena", RESET, run_id, "approve_reset", ["Approve"], map_index=0
    )
    assert status == 200
    assert stack.wait_for_run(RESET, run_id) == "success"
    print(f"reset: trigger -> success in {time.monotonic() - started:.1f} s")

    with store.session_scope(db_url) as session:
        baselines = {
            b.version: (b.is_active, b.kind, b.created_by, b.approved_by)
            for b in session.scalars(select(Baseline).where(Baseline.model_id == MODEL_ID))
        }
        incident = session.scalars(
            select(Incident).where(Incident.category == "baseline_reset")
        ).one()
        incident_facts = (incident.model_id, incident.summary, incident.details["trigger"])
    assert baselines == {
        "2025-03-01-v1": (False, "deploy", "govflow-demo", None),
        "2025-03-28-v1": (True, "reset", "eve", "lena"),
    }
    assert incident_facts == (MODEL_ID, REASON, "concept_drift_accepted")


def test_analyze_now_through_rest_records_an_analysis_against_the_active_baseline(
    baseline_stack,
):
    stack, db_url = baseline_stack
    run_id = _trigger(
        stack,
        "eve",
        ANALYZE_NOW,
        {
            "model_ids": [MODEL_ID],
            "checks": ["data_drift", "fairness_drift"],
            "window_start": "2025-03-29T00:00:00+00:00",
            "window_end": "2025-03-30T00:00:00+00:00",
            "reason": "validate the new baseline",
        },
    )
    assert stack.wait_for_run(ANALYZE_NOW, run_id) == "success"
    with store.session_scope(db_url) as session:
        records = [
            (r.model_id, r.cadence, r.status, r.checks, r.baseline_version)
            for r in session.scalars(
                select(MonitoringRun).where(
                    MonitoringRun.dag_id == ANALYZE_NOW, MonitoringRun.dag_run_id == run_id
                )
            )
        ]
        active = active_baseline(session, MODEL_ID).version
    # After the reset above, the new baseline: 2025-03-28-v1.
    assert records == [
        (MODEL_ID, "on_demand", "succeeded", ["data_drift", "fairness_drift"], active)
    ]


def test_a_deployment_published_as_an_asset_event_gets_its_validation_set_baseline(
    baseline_stack,
):
    stack, db_url = baseline_stack
    admin = stack.client("admin")
    stack.unpause(ON_DEPLOY)
    (asset,) = admin.call("GET", "/api/v2/assets?name_pattern=govflow_model_deployed")["assets"]
    admin.call(
        "POST",
        "/api/v2/assets/events",
        {
            "asset_id": asset["id"],
            "extra": {
                "model_id": "marketing_propensity",
                "version": "1.0.0",
                "deployment_ref": "DEP-REST-1",
            },
        },
    )
    deadline = time.monotonic() + 120
    while not (runs := admin.call("GET", f"/api/v2/dags/{ON_DEPLOY}/dagRuns")["dag_runs"]):
        assert time.monotonic() < deadline, f"no {ON_DEPLOY} run\n{stack.log_tails()}"
        time.sleep(1)
    (run,) = runs
    assert (run["run_type"], stack.wait_for_run(ON_DEPLOY, run["dag_run_id"])) == (
        "asset_triggered",
        "success",
    )
    with store.session_scope(db_url) as session:
        active = active_baseline(session, "marketing_propensity")
        facts = (active.model_version, active.kind, active.approved_by, active.details)
    assert facts == (
        "1.0.0",
        "deploy",
        None,
        {"trigger": "new_model_deployed", "deployment_ref": "DEP-REST-1"},
    )


# --- The governance dashboard (issue 16) on the same api-server ------------------------------

DASHBOARD_ROUTES = [
    ("GET", "/govflow/"),
    ("GET", "/govflow/drift"),
    ("GET", "/govflow/fairness"),
    ("GET", "/govflow/health"),
    ("GET", "/govflow/incidents"),
    ("POST", "/govflow/analyze"),
    ("GET", "/govflow/api/drift"),
    ("GET", "/govflow/api/fairness"),
    ("GET", "/govflow/api/health"),
    ("GET", "/govflow/api/incidents"),
]


def _dashboard(stack, user: str | None, method: str, path: str, form: dict | None = None):
    """(status, body text, seconds) of one dashboard request, with ``user``'s token or none."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if user is not None:
        headers["Authorization"] = f"Bearer {stack.client(user).token}"
    request = urllib.request.Request(
        stack.base_url + path,
        method=method,
        data=urllib.parse.urlencode(form or {}).encode() if method == "POST" else None,
        headers=headers,
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - started


def test_the_dashboard_refuses_anonymous_requests_and_opens_to_each_person_what_seed_004_says(
    baseline_stack,
):
    stack, db_url = baseline_stack
    anonymous = [(m, p, _dashboard(stack, None, m, p)[0]) for m, p in DASHBOARD_ROUTES]
    assert anonymous == [(m, p, 401) for m, p in DASHBOARD_ROUTES]

    health, health_body, _ = _dashboard(stack, "carol", "GET", "/govflow/health")
    fairness, fairness_body, seconds = _dashboard(
        stack, "carol", "GET", "/govflow/fairness?model=credit_approval"
    )
    print(f"Fairness Monitor as carol: {seconds * 1000:.0f} ms")
    assert (health, fairness) == (403, 200)
    assert "missing permission model_health" in health_body
    assert "Fairness Monitor" in fairness_body

    status, body, _ = _dashboard(stack, "eve", "POST", "/govflow/analyze", {"model": MODEL_ID})
    assert status == 200, body
    with store.session_scope(db_url) as session:
        (requested,) = query_events(session, action="dashboard.analyze_now")
        refused = [(e.actor, e.target) for e in query_events(session, action="dashboard.refused")]
        viewed = [(e.actor, e.target) for e in query_events(session, action="dashboard.view")]
    run_id = requested.payload["dag_run_id"]
    run = stack.client("admin").call("GET", f"/api/v2/dags/{ANALYZE_NOW}/dagRuns/{run_id}")
    assert (requested.actor, run["triggering_user_name"], run["conf"]["model_ids"]) == (
        "eve",
        "eve",
        [MODEL_ID],
    )
    assert refused == [("carol", "model_health/all")]
    assert viewed == [("carol", "fairness_monitor/credit_approval")]
