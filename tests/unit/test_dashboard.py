"""The governance dashboard (seed 004 section 6) over a small store written here.

The app is the plugin's own (govflow_airflow.dashboard: Airflow's ``get_user`` on every
route, govflow's access table). Replaced: Airflow's ``get_user`` dependency, overridden to
return the person a test logs in as; the trigger of "Analyze Now", a recorder instead of
Airflow's trigger_dag (one test uses the plugin's own trigger with a refusing auth manager;
tests/system/test_baseline_rest_api.py triggers a real run). The clock is fixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.api_fastapi.core_api.security import get_user
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from govflow import settings, store
from govflow.audit import query_events, record_event
from govflow.config import load_config
from govflow.dashboard import create_dashboard_app, dashboard_rights, trail
from govflow.dashboard.access import MISSING_PERMISSION, NOT_IN_PEOPLE
from govflow.dashboard.actions import my_actions
from govflow.dashboard.app import (
    BAD_WINDOW,
    CONTROL_CHARACTER,
    CROSS_SITE,
    EMPTY_PERIOD,
    MAX_BODY_BYTES,
    MAX_ROW_NUMBER,
    NO_ORIGIN,
    NOT_JSON,
    NOT_RECORDED,
    REPEATED,
    UNKNOWN_FIELD,
    UNKNOWN_PARAMETER,
    UNKNOWN_RUN,
    WINDOW_NOT_ENDED,
)
from govflow.dashboard.html import SEEN_FAMILIES, SEEN_STATUS
from govflow.dashboard.pages import (
    NO_DATA,
    FailedAnalysis,
    GateFindings,
    LatencySummary,
    ModelOverview,
    Monitor,
    fairness_series,
    model_overviews,
    serving_counters,
)
from govflow.dashboard.reports import UNSAFE_PATH
from govflow.dashboard.timeline import incident_timeline
from govflow.dashboard.trail import DEFAULT_PAGE_SIZE
from govflow.flows.monitoring import draw_report_on_request, render_report
from govflow.monitoring.drift_report import PERMISSION_ATTRIBUTE, verdicts_page
from govflow.rollout.routing import ServingStat as GatewayCounts
from govflow.rollout.routing import record_serving_stats
from govflow.serving.limits import BODY_TOO_LARGE
from govflow.settings import config_dir
from govflow.store.schema import (
    AuditEvent,
    Deployment,
    DeploymentApproval,
    DeploymentStep,
    Incident,
    IncidentEvent,
    KillSwitch,
    MetricResult,
    Model,
    MonitoringRun,
    RiskAcceptance,
    RolloutStage,
    ServingFeedback,
)
from govflow_airflow.dashboard import (
    AIRFLOW_REFUSES,
    NOT_LOADED,
    airflow_user_name,
    run_url,
    trigger_as_user,
)
from tests.support.incidents import REOPENED, reopened_incident

NOW = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PAGE_PATHS = {
    "drift_overview": "/drift",
    "fairness_monitor": "/fairness",
    "model_health": "/health",
    "incident_timeline": "/incidents",
}


class LoggedIn:
    """What Airflow's get_user returns, reduced to what the dashboard reads."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


def _run(session, model_id: str, day: int, checks: list[str], composite: float | None) -> int:
    end = datetime(2025, 3, day, tzinfo=UTC)
    run = MonitoringRun(
        model_id=model_id,
        run_key=f"{model_id}/{day}",
        cadence="daily",
        checks=checks,
        dag_id="govflow_monitoring_daily",
        dag_run_id=f"scheduled__{day}",
        interval_start=end - DAY,
        interval_end=end,
        status="succeeded",
        composite_score=composite,
        finished_at=end + timedelta(hours=2),
    )
    session.add(run)
    session.flush()
    return run.id


def _metric(
    session, run_id, check_type, metric, subject, value, severity, status="computed", **details
):
    session.add(
        MetricResult(
            monitoring_run_id=run_id,
            check_type=check_type,
            metric=metric,
            subject=subject,
            value=value,
            status=status,
            severity=severity,
            details=details,
        )
    )


@pytest.fixture
def dashboard_store(fresh_store_env) -> str:
    """credit_approval analysed daily up to 2025-03-30 (fresh); marketing_propensity last
    analysed for January (stale); product_recommendation never; one P1 incident."""
    url = fresh_store_env
    store.ensure_schema(url)
    with store.session_scope(url) as session:
        for model_id, tier in (
            ("credit_approval", "high"),
            ("marketing_propensity", "medium"),
            ("product_recommendation", "low"),
        ):
            session.add(
                Model(
                    id=model_id,
                    model_type="binary_classifier",
                    risk_tier=tier,
                    owner="olivia",
                    business_purpose="test",
                    created_by="test",
                )
            )
        session.flush()
        checks = ["data_drift", "fairness_drift", "model_drift"]
        for day, composite in ((28, 0.10), (29, 0.20)):
            run = _run(session, "credit_approval", day, checks, composite)
            _metric(session, run, "fairness_drift", "disparate_impact_ratio", "gender", 0.9, "INFO")
        run = _run(session, "credit_approval", 30, checks, 0.42)
        _metric(session, run, "data_drift", "psi", "income", 0.12, "WARNING")
        _metric(
            session,
            run,
            "fairness_drift",
            "disparate_impact_ratio",
            "gender",
            0.75,
            "CRITICAL",
            ci_low=0.70,
            ci_high=0.80,
            group_sizes={"female": 480, "male": 510},
        )
        _metric(
            session,
            run,
            "fairness_drift",
            "disparate_impact_ratio",
            "age_band",
            0.85,
            "INFO",
            status="inconclusive",
            group_sizes={"18-25": 12, "26-40": 700},
            message="inconclusive: interval too wide to decide (rows per group: 18-25 12)",
        )
        _metric(session, run, "model_drift", "accuracy_drop", "", 0.02, "INFO")
        _run(session, "marketing_propensity", 1, checks, 0.05)  # 2025-03-01: stale by 03-30
        session.add(
            Incident(
                ref="INC-1",
                model_id="credit_approval",
                category="fairness_drift",
                metric="disparate_impact_ratio",
                severity="CRITICAL",
                priority="P1",
                status="open",
                dedup_key="credit_approval/dir",
                title="<script>alert(1)</script> disparate impact",
                owner="eve",
                opened_at=NOW - timedelta(hours=2),
            )
        )
    return url


def dashboard_on(db_url: str, **options: Any) -> FastAPI:
    """The dashboard app on ``db_url`` as these tests run it: Airflow's user of the request,
    run links, the tests' clock, and an Analyze Now that triggers nothing, unless
    ``options`` (any argument of create_dashboard_app) say otherwise."""
    defaults: dict[str, Any] = {
        "current_user": airflow_user_name,
        "trigger_analysis": lambda *args, **kwargs: "unused",
        "run_url": run_url,
        "clock": lambda: NOW,
    }
    return create_dashboard_app(**{**defaults, "db_url": db_url, **options})


@pytest.fixture
def dashboard(dashboard_store):
    """(app, url, triggered): the plugin's dashboard app with get_user overridden."""
    triggered: list[dict[str, Any]] = []

    def record_trigger(request, *, user: str, dag_id: str, conf: dict[str, Any]) -> str:
        triggered.append({"user": user, "dag_id": dag_id, "conf": conf})
        return f"manual__{len(triggered)}"

    app = dashboard_on(dashboard_store, trigger_analysis=record_trigger)
    return app, dashboard_store, triggered


# What a browser sends with a form it posts from a page of the test client's own server.
OWN_ORIGIN = "http://testserver"


def client_as(app: FastAPI, user: str, origin: str | None = OWN_ORIGIN) -> TestClient:
    """``user`` logged in, as in a browser: every form posted names the page's ``origin``."""
    app.dependency_overrides[get_user] = lambda: LoggedIn(user)
    return TestClient(app, headers={"origin": origin} if origin else {})


# Seed 004 section 6, as policy.yaml copies it: (person, their role, the pages they may see).
SEED_004_TABLE = [
    ("admin", {"drift_overview", "fairness_monitor", "model_health", "incident_timeline"}, True),
    ("eve", {"drift_overview", "fairness_monitor", "model_health", "incident_timeline"}, True),
    ("carol", {"drift_overview", "fairness_monitor", "incident_timeline"}, False),
    ("audrey", {"drift_overview", "fairness_monitor", "model_health", "incident_timeline"}, False),
    ("victor", {"drift_overview"}, False),
]


@pytest.mark.parametrize(("user", "pages", "may_trigger"), SEED_004_TABLE)
def test_each_role_opens_exactly_the_pages_and_actions_seed_004_gives_it(
    dashboard, user, pages, may_trigger
):
    app, _, triggered = dashboard
    client = client_as(app, user)
    statuses = {page: client.get(path).status_code for page, path in PAGE_PATHS.items()}
    assert statuses == {page: 200 if page in pages else 403 for page in PAGE_PATHS}
    status = client.post("/analyze", data={"model": "credit_approval"}).status_code
    assert (status, len(triggered)) == ((200, 1) if may_trigger else (403, 0))


MODEL_HEALTH_FAMILIES = {"model_drift": "model_health", "explanation_drift": "model_health"}


@pytest.mark.parametrize(
    ("user", "withheld"),
    [
        ("admin", {}),
        ("eve", {}),
        ("audrey", {}),
        ("carol", MODEL_HEALTH_FAMILIES),
        ("victor", {"fairness_drift": "fairness_monitor", **MODEL_HEALTH_FAMILIES}),
    ],
)
def test_a_check_familys_verdicts_are_withheld_from_whoever_may_not_open_the_page_showing_them(
    user, withheld
):
    rights = dashboard_rights(load_config(config_dir()), user)
    assert rights.withheld_checks() == withheld


def test_a_refused_page_is_a_403_naming_the_missing_permission_and_is_audited(dashboard):
    app, url, _ = dashboard
    response = client_as(app, "carol").get("/health")
    assert response.status_code == 403
    assert response.json()["detail"] == MISSING_PERMISSION.format(
        permission="model_health",
        user="carol",
        roles="compliance_officer",
        wanted="model_health: read_only or full",
    )
    with store.session_scope(url) as session:
        refused = [
            (e.actor, e.target, e.payload["permission"])
            for e in query_events(session, action="dashboard.refused")
        ]
    assert refused == [("carol", "model_health/all", "model_health")]


def test_a_user_airflow_knows_but_people_yaml_does_not_is_refused_everywhere(dashboard):
    app, url, _ = dashboard
    client = client_as(app, "mallory")
    statuses = [client.get(path).status_code for path in ["/", *PAGE_PATHS.values()]]
    assert statuses == [403] * 5
    assert client.get("/drift").json()["detail"] == NOT_IN_PEOPLE.format(user="mallory")
    with store.session_scope(url) as session:
        assert {e.actor for e in query_events(session, action="dashboard.refused")} == {"mallory"}


def test_the_navigation_lists_only_the_pages_the_person_may_open(dashboard):
    app, _, _ = dashboard
    viewer_page = client_as(app, "victor").get("/drift").text
    assert 'href="/drift"' in viewer_page
    assert "/fairness" not in viewer_page
    assert "/health" not in viewer_page
    assert "Analyze Now" not in viewer_page
    carol_page = client_as(app, "carol").get("/drift").text
    assert ("/fairness" in carol_page, "/health" in carol_page) == (True, False)


def test_the_landing_page_sends_each_person_to_their_first_page(dashboard):
    app, _, _ = dashboard
    response = client_as(app, "victor").get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/drift")


def test_every_page_view_is_an_audit_event_naming_who_which_page_and_which_model(dashboard):
    app, url, _ = dashboard
    client = client_as(app, "audrey")
    client.get("/drift")
    client.get("/fairness")  # the first model of models.yaml
    client.get("/health")
    client.get("/api/incidents?model=credit_approval")
    with store.session_scope(url) as session:
        viewed = [
            (e.actor, e.action, e.target, e.payload["model"], e.payload["format"])
            for e in query_events(session, action="dashboard.*")
        ]
    assert viewed == [
        ("audrey", "dashboard.view", "drift_overview/all", "all", "html"),
        ("audrey", "dashboard.view", "fairness_monitor/credit_approval", "credit_approval", "html"),
        ("audrey", "dashboard.view", "model_health/all", "all", "html"),
        (
            "audrey",
            "dashboard.view",
            "incident_timeline/credit_approval",
            "credit_approval",
            "json",
        ),
    ]


def test_each_page_has_a_json_twin_with_the_same_verdicts_and_the_same_access(dashboard):
    app, _, _ = dashboard
    eve = client_as(app, "eve")
    drift = eve.get("/api/drift").json()["data"]
    assert [(row["model_id"], row["health"]) for row in drift] == [
        ("credit_approval", "Critical"),
        ("marketing_propensity", NO_DATA),
        ("product_recommendation", NO_DATA),
        ("customer_lifetime_value", NO_DATA),
    ]
    assert [m["shown"] for m in drift[1]["monitors"]] == [NO_DATA] * 4
    health = eve.get("/api/health").json()["data"]
    assert health[0]["metrics"]["accuracy_drop"]["value"] == 0.02
    fairness = eve.get("/api/fairness?model=credit_approval").json()["data"]
    assert [(s["subject"], s["metric"], len(s["points"])) for s in fairness] == [
        ("age_band", "disparate_impact_ratio", 1),
        ("gender", "disparate_impact_ratio", 3),
    ]
    victor = client_as(app, "victor")
    assert [victor.get(f"/api/{p}").status_code for p in ("fairness", "health", "incidents")] == [
        403,
        403,
        403,
    ]


def test_govflow_audit_query_lists_the_dashboard_events_by_pattern(dashboard):
    app, url, _ = dashboard
    client_as(app, "audrey").get("/drift")
    client_as(app, "victor").get("/health")
    env = {**os.environ, "GOVFLOW_DB_URL": url}
    listed = subprocess.run(
        [sys.executable, "-m", "govflow", "audit", "query", "--action", "dashboard.*"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[3:] for line in listed.stdout.splitlines()]
    assert rows == [
        ["audrey", "dashboard.view", "drift_overview/all"],
        ["victor", "dashboard.refused", "model_health/all"],
    ]


def test_drift_overview_shows_missing_and_stale_monitors_as_no_data_never_as_healthy(
    dashboard_store,
):
    config = load_config(config_dir())
    with store.session_scope(dashboard_store) as session:
        overviews = {o.model_id: o for o in model_overviews(session, config, now=NOW)}
    shown = {
        model_id: ({m.check_type: m.shown for m in o.monitors}, o.health, o.composite, o.trend)
        for model_id, o in overviews.items()
    }
    assert shown == {
        "credit_approval": (
            {
                "data_drift": "WARNING",
                "fairness_drift": "CRITICAL",
                "model_drift": "INFO",
                "explanation_drift": NO_DATA,
            },
            "Critical",
            0.42,
            [0.10, 0.20, 0.42],
        ),
        "marketing_propensity": (
            {
                c: NO_DATA
                for c in ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
            },
            NO_DATA,
            0.05,
            [0.05],
        ),
        "product_recommendation": (
            {
                c: NO_DATA
                for c in ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
            },
            NO_DATA,
            None,
            [],
        ),
        "customer_lifetime_value": (
            {
                c: NO_DATA
                for c in ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
            },
            NO_DATA,
            None,
            [],
        ),
    }
    assert overviews["marketing_propensity"].composite_stale


def test_a_newest_analysis_that_failed_is_shown_never_the_older_health_as_todays(dashboard):
    app, url, _ = dashboard
    config = load_config(config_dir())
    with store.session_scope(url) as session:
        # credit's day 31 failed after its day-30 record (CRITICAL); marketing's day 20
        # failed and then its day 21 succeeded: history, not its state.
        for model_id, day, error in (
            ("credit_approval", 31, "prediction logs could not be read: part-0.parquet\nTrace"),
            ("marketing_propensity", 20, "analysis raised KeyError: 'score'"),
        ):
            run_id = _run(session, model_id, day, ["data_drift"], None)
            session.execute(
                update(MonitoringRun)
                .where(MonitoringRun.id == run_id)
                .values(status="failed", error=error, severity="CRITICAL")
            )
        _run(session, "marketing_propensity", 21, ["fairness_drift"], 0.05)
    with store.session_scope(url) as session:
        overviews = {o.model_id: o for o in model_overviews(session, config, now=NOW)}
    credit = overviews["credit_approval"]
    assert credit.failed_analysis == FailedAnalysis(
        datetime(2025, 3, 31, tzinfo=UTC),
        "prediction logs could not be read: part-0.parquet",
        "govflow_monitoring_daily",
        "scheduled__31",
    )
    assert overviews["marketing_propensity"].failed_analysis is None
    healthy = ModelOverview("m", "high", [_monitor("data_drift", "INFO")], None, True, [], None)
    assert healthy.health == "Healthy"
    assert replace(healthy, failed_analysis=credit.failed_analysis).health == NO_DATA
    page = client_as(app, "eve").get("/drift").text
    assert (
        "<b>analysis failed</b> (window to 2025-03-31 00:00 UTC): prediction logs could not be "
        "read: part-0.parquet"
    ) in page
    drift = client_as(app, "eve").get("/api/drift").json()["data"]
    assert drift[0]["failed_analysis"]["reason"] == (
        "prediction logs could not be read: part-0.parquet"
    )


def test_a_failed_data_quality_gate_of_the_newest_record_is_shown_and_never_healthy(dashboard):
    """The gate's findings are no check family: on a day whose logs lost a column every
    family may read INFO while the record is CRITICAL and its incident escalates like
    CRITICAL data drift (the demo's malformed day). Both pages showed it Healthy or No data."""
    app, url, _ = dashboard
    config = load_config(config_dir())
    checks = ["data_drift", "fairness_drift", "model_drift", "explanation_drift"]
    with store.session_scope(url) as session:
        run_id = _run(session, "product_recommendation", 30, checks, 0.0)
        for check_type in checks:
            _metric(session, run_id, check_type, "a_metric", "", 0.01, "INFO")
        _metric(
            session, run_id, "data_quality", "column_exists", "region", 2000, "CRITICAL", "failed"
        )
        _metric(session, run_id, "data_quality", "nulls", "score", 20, "WARNING", "failed")
        _metric(session, run_id, "data_quality", "freshness", "", 1, "INFO", "computed")
    with store.session_scope(url) as session:
        overviews = {o.model_id: o for o in model_overviews(session, config, now=NOW)}
    product = overviews["product_recommendation"]
    assert [m.shown for m in product.monitors] == ["INFO"] * 4
    assert (product.data_quality, product.health) == (
        GateFindings(
            "CRITICAL",
            ["column_exists region", "nulls score"],
            datetime(2025, 3, 30, tzinfo=UTC),
            False,
            run_id,
            "govflow_monitoring_daily",
            "scheduled__30",
        ),
        "Critical",
    )
    assert overviews["credit_approval"].data_quality is None
    shown = (
        '<span class="sev CRITICAL">CRITICAL</span> <b>data-quality gate</b> (window to '
        "2025-03-30 00:00 UTC): column_exists region; nulls score"
    )
    assert shown in client_as(app, "victor").get("/drift").text
    assert shown in client_as(app, "eve").get("/health").text
    health = client_as(app, "eve").get("/api/health").json()["data"]
    product_health = next(row for row in health if row["model_id"] == "product_recommendation")
    assert (product_health["status"], product_health["data_quality"]["severity"]) == (
        "Critical",
        "CRITICAL",
    )


def test_model_health_marks_the_other_model_types_metrics_not_applicable_never_no_data(
    dashboard,
):
    """A classifier records no MAE and a regressor no accuracy: their columns read "No
    data", as if a monitor had not run, on every row of the page."""
    app, _, _ = dashboard
    page = client_as(app, "eve").get("/health").text
    product = page[page.index("<td>product_recommendation</td>") :].split("</tr>")[0]
    cells = re.split(r"</td><td[^>]*>", product)[2:9]
    no_data = '<span class="sev nodata">No data</span>'
    not_applicable = '<span class="muted">n/a: not a binary_classifier metric</span>'
    assert cells == [no_data] * 4 + [not_applicable] * 3


def test_a_family_read_info_beside_inconclusive_results_says_how_many_could_not_decide(
    dashboard,
):
    """A family's verdict is the worst of its computed results: with one INFO computed and
    the gender disparate impact inconclusive (0.85, below the warning bound), the Drift
    Overview showed a bare INFO, read as a pass."""
    app, url, _ = dashboard
    config = load_config(config_dir())
    with store.session_scope(url) as session:
        run_id = _run(session, "product_recommendation", 30, ["fairness_drift"], 0.0)
        _metric(session, run_id, "fairness_drift", "disparate_impact_ratio", "age", 0.95, "INFO")
        for subject in ("gender", "gender&age"):
            _metric(
                session,
                run_id,
                "fairness_drift",
                "disparate_impact_ratio",
                subject,
                0.85,
                "INFO",
                status="inconclusive",
            )
    with store.session_scope(url) as session:
        overviews = {o.model_id: o for o in model_overviews(session, config, now=NOW)}
    fairness = overviews["product_recommendation"].monitor("fairness_drift")
    assert fairness is not None
    assert (fairness.shown, fairness.inconclusive) == ("INFO", 2)
    credit = overviews["credit_approval"].monitor("data_drift")
    assert credit is not None and credit.inconclusive == 0
    # The auditor: a viewer is shown no fairness verdict at all (seed 004 section 6).
    drift = client_as(app, "audrey").get("/drift").text
    product = drift[drift.index("<td>product_recommendation</td>") :].split("</tr>")[0]
    assert (
        'class="muted">run</a><br><span class="sev INCONCLUSIVE">INCONCLUSIVE</span> '
        '<span class="muted">2 results undecided</span>'
    ) in product
    assert "fairness_drift: INFO (2 inconclusive)" in client_as(app, "eve").get("/health").text
    rows = client_as(app, "audrey").get("/api/drift").json()["data"]
    row = next(r for r in rows if r["model_id"] == "product_recommendation")
    assert [m["inconclusive"] for m in row["monitors"]] == [0, 2, 0, 0]


RUN_30 = (
    ' <a href="/dags/govflow_monitoring_daily/runs/scheduled__30" target="_top" class="muted">'
    "run</a>"
)
# credit_approval's verdicts as everyone who may open every page sees them.
CREDIT_VERDICTS = {
    "data_drift": f'<span class="sev WARNING">WARNING</span>{RUN_30}',
    "fairness_drift": f'<span class="sev CRITICAL">CRITICAL</span>{RUN_30}<br><span class="sev '
    'INCONCLUSIVE">INCONCLUSIVE</span> <span class="muted">1 result undecided</span>',
    "model_drift": f'<span class="sev INFO">INFO</span>{RUN_30}',
    "explanation_drift": '<span class="sev nodata">No data</span>',
}
NEEDS_FAIRNESS = '<span class="muted">withheld: needs Fairness Monitor</span>'
NEEDS_HEALTH = '<span class="muted">withheld: needs Model Health</span>'
HEALTH_WITHHELD = {"model_drift": NEEDS_HEALTH, "explanation_drift": NEEDS_HEALTH}


@pytest.mark.parametrize(
    ("user", "withheld"),
    [
        ("eve", {}),  # ML engineer: every page
        ("audrey", {}),  # auditor: every page
        ("carol", HEALTH_WITHHELD),  # compliance officer: no Model Health
        ("victor", {"fairness_drift": NEEDS_FAIRNESS, **HEALTH_WITHHELD}),  # viewer
    ],
)
def test_the_drift_overview_withholds_the_verdicts_of_pages_its_reader_may_not_open(
    dashboard, user, withheld
):
    """Seed 004 section 6 closes the Fairness Monitor and Model Health to the viewer (Model
    Health to the compliance officer too), yet the Drift Overview showed him credit_approval's
    CRITICAL fairness verdict. The column stays with a note, never a status; the composite and
    its trend, the seed's one number for all families, stay for everyone."""
    app, _, _ = dashboard
    page = client_as(app, user).get("/drift").text

    row = page[page.index("<td>credit_approval</td>") :].split("</tr>")[0]
    cells = row.removeprefix("<td>").split("</td><td>")
    verdicts = dict(zip(CREDIT_VERDICTS, cells[2:6], strict=True))
    assert verdicts == {**CREDIT_VERDICTS, **withheld}
    assert (cells[6], cells[7].startswith("<svg")) == ("0.420", True)
    assert ("CRITICAL" in row) is ("fairness_drift" not in withheld)
    # No model's withheld family reads a status, not even "No data".
    assert page.count(NEEDS_FAIRNESS) == 4 * ("fairness_drift" in withheld)
    assert page.count(NEEDS_HEALTH) == 8 * ("model_drift" in withheld)


@pytest.mark.parametrize(
    ("user", "shown", "withheld"),
    [
        ("eve", ["WARNING", "CRITICAL", "INFO", NO_DATA], None),
        ("audrey", ["WARNING", "CRITICAL", "INFO", NO_DATA], None),
        (
            "carol",
            ["WARNING", "CRITICAL"],
            [
                {"check_type": "model_drift", "permission": "model_health"},
                {"check_type": "explanation_drift", "permission": "model_health"},
            ],
        ),
        (
            "victor",
            ["WARNING"],
            [
                {"check_type": "fairness_drift", "permission": "fairness_monitor"},
                {"check_type": "model_drift", "permission": "model_health"},
                {"check_type": "explanation_drift", "permission": "model_health"},
            ],
        ),
    ],
)
def test_the_drift_overviews_json_twin_leaves_out_withheld_families_and_names_their_permission(
    dashboard, user, shown, withheld
):
    """The JSON twin withholds what the page does, and its health too: the worst of every
    family, credit_approval's "Critical" would tell the viewer its fairness verdict."""
    app, _, _ = dashboard
    credit = client_as(app, user).get("/api/drift").json()["data"][0]

    assert [m["shown"] for m in credit["monitors"]] == shown
    assert (credit.get("withheld"), credit.get("health")) == (
        withheld,
        "Critical" if withheld is None else None,
    )
    assert (credit["composite"], credit["trend"]) == (0.42, [0.10, 0.20, 0.42])
    assert ("CRITICAL" in json.dumps(credit)) is (user != "victor")


def _monitor(check_type: str, severity: str, *, stale: bool = False) -> Monitor:
    return Monitor(check_type, "daily", severity, stale, NOW, 1, "govflow_monitoring_daily", "r")


@pytest.mark.parametrize(
    ("monitors", "health"),
    [
        ([_monitor("data_drift", "INFO"), _monitor("model_drift", "INFO")], "Healthy"),
        ([_monitor("data_drift", "INFO"), _monitor("model_drift", "INFO", stale=True)], NO_DATA),
        (
            [_monitor("data_drift", "WARNING"), _monitor("model_drift", "INFO", stale=True)],
            "Warning",
        ),
        ([_monitor("data_drift", "CRITICAL"), _monitor("model_drift", "WARNING")], "Critical"),
        ([_monitor("data_drift", "INFO"), _monitor("model_drift", "INCONCLUSIVE")], NO_DATA),
        ([_monitor("data_drift", "CRITICAL", stale=True)], NO_DATA),
    ],
)
def test_model_health_is_the_worst_fresh_monitor_and_never_healthy_on_missing_data(
    monitors, health
):
    overview = ModelOverview("m", "high", monitors, None, True, [], None)
    assert overview.health == health


@pytest.mark.parametrize(
    ("withheld", "health"),
    [
        ((), "Critical"),
        (("model_drift",), "Critical"),
        (("fairness_drift",), NO_DATA),  # model drift's record is stale
        (("fairness_drift", "model_drift"), "Healthy"),
    ],
)
def test_model_health_over_the_families_a_reader_may_see_ignores_the_withheld_ones(
    withheld, health
):
    """A withheld family neither raises the status nor, with no fresh data, holds it at No
    data: either would tell its state."""
    monitors = [
        _monitor("data_drift", "INFO"),
        _monitor("fairness_drift", "CRITICAL"),
        _monitor("model_drift", "INFO", stale=True),
    ]
    overview = ModelOverview("m", "high", monitors, None, True, [], None)
    assert overview.health_over(withheld) == health


def test_the_drift_overview_page_draws_the_composite_trend_inline_and_offers_analyze_now(
    dashboard,
):
    app, _, _ = dashboard
    page = client_as(app, "eve").get("/drift").text
    assert page.count("<svg") == 1  # credit_approval's three records; the others have < 2
    assert "<script" not in page and "http" not in page  # offline: nothing fetched
    assert '<option value="__all__">all models</option>' in page
    assert "stale: window to 2025-03-01 00:00 UTC, weekly cadence" in page
    assert (
        '<span class="sev CRITICAL">CRITICAL</span> <a href="/dags/govflow_monitoring_daily/runs/'
        'scheduled__30" target="_top" class="muted">run</a>'
    ) in page


@pytest.mark.parametrize(
    ("model_versions", "shown"),
    [
        (
            {"1.0.0": 1900, "1.1.0": 100},
            '<br><span class="muted">window rows by model version: 1.0.0 1,900 · 1.1.0 100 '
            "(more than one version in this window: a finding may come from one version&#x27;s "
            "traffic)</span>",
        ),
        ({"1.0.0": 2000}, None),
    ],
)
def test_the_drift_overview_names_a_records_versions_under_its_verdict_when_it_held_several(
    dashboard, model_versions, shown
):
    app, url, _ = dashboard
    with store.session_scope(url) as session:
        run_id = _run(session, "credit_approval", 31, ["data_drift"], 0.4)
        session.get_one(MonitoringRun, run_id).model_versions = model_versions

    page = client_as(app, "eve").get("/drift").text
    overview = client_as(app, "eve").get("/api/drift").json()["data"]

    credit = page[page.index("<td>credit_approval</td>") :].split("</tr>")[0]
    data_drift = credit.split("<td>")[3]
    if shown is None:
        assert "model version" not in credit
    else:
        assert data_drift.endswith(f"{shown}</td>")
        assert credit.count("model version") == 1
    monitors = next(m for m in overview if m["model_id"] == "credit_approval")["monitors"]
    assert monitors[0]["model_versions"] == model_versions


def test_analyze_now_over_the_seeds_api_route_starts_the_run_and_its_progress_shows_findings(
    dashboard,
):
    """Seed 004 section 1.3's POST /api/v1/monitoring/analyze-now is the button as JSON; the
    progress page follows the run (reloading until it ends) and links each model's record
    to its findings."""
    app, url, triggered = dashboard
    eve = client_as(app, "eve")

    started = eve.post("/api/v1/monitoring/analyze-now", json={"model": "credit_approval"})
    refused = client_as(app, "victor").post(
        "/api/v1/monitoring/analyze-now", json={"model": "credit_approval"}
    )

    assert started.status_code == 202
    body = started.json()
    assert body["dag_run_id"] == "manual__1" and body["models"] == ["credit_approval"]
    assert body["progress"] == "/api/analysis/manual__1"
    assert triggered == [
        {
            "user": "eve",
            "dag_id": "govflow_monitoring_on_demand",
            "conf": {
                "model_ids": ["credit_approval"],
                "reason": "Analyze Now on the dashboard by eve",
            },
        }
    ]
    assert refused.status_code == 403
    waiting = eve.get("/analysis/manual__1").text
    assert "No record written yet." in waiting
    # The record the run writes, as the on-demand DAG would.
    with store.session_scope(url) as session:
        record = session.get(
            MonitoringRun, _run(session, "credit_approval", 31, ["data_drift"], 0.4)
        )
        record.dag_id, record.dag_run_id = "govflow_monitoring_on_demand", "manual__1"
        record.severity, record.report_path = "CRITICAL", "reports/credit_approval/now.html"
    # The app's user is victor since his refused request above: the progress is eve's again
    # (read as victor's, it now shows the data drift of the record, which has none).
    eve = client_as(app, "eve")
    progress = eve.get(body["progress"]).json()["data"]
    page = eve.get("/analysis/manual__1").text
    assert [(r["model_id"], r["severity"]) for r in progress["records"]] == [
        ("credit_approval", "CRITICAL")
    ]
    assert '<a href="/fairness?model=credit_approval">Fairness Monitor</a>' in page
    assert '<a href="/reports/reports/credit_approval/now.html" target="_blank">' in page
    assert client_as(app, "victor").get("/analysis/manual__1").status_code == 200


def test_the_progress_page_reloads_until_airflow_says_the_run_ended(dashboard_store):
    states = iter(["running", "success"])
    app = dashboard_on(
        dashboard_store,
        trigger_analysis=lambda *args, **kwargs: "manual__9",
        run_state=lambda dag_id, run_id: next(states),
    )
    running = client_as(app, "eve").get("/analysis/manual__9").text
    ended = client_as(app, "eve").get("/analysis/manual__9").text
    assert '<meta http-equiv="refresh" content="5">' in running and ": running.</p>" in running
    assert "refresh" not in ended and ": success.</p>" in ended


def test_model_health_shows_each_status_and_the_newest_model_drift_values(dashboard):
    app, _, _ = dashboard
    page = client_as(app, "audrey").get("/health").text
    credit = page[page.index("<td>credit_approval</td>") :].split("</tr>")[0]
    marketing = page[page.index("<td>marketing_propensity</td>") :].split("</tr>")[0]
    assert credit.startswith(
        '<td>credit_approval</td><td><span class="sev Critical">Critical</span></td>'
        '<td>0.020 <span class="sev INFO">INFO</span><br><span class="muted">'
        "2025-03-30 00:00 UTC</span></td>"
        '<td><span class="sev nodata">No data</span></td>'
    )
    assert '<span class="sev nodata">No data</span>' in marketing
    assert "sev Healthy" not in page


def test_model_health_names_the_versions_its_model_drift_values_were_measured_on(dashboard):
    app, url, _ = dashboard
    with store.session_scope(url) as session:
        runs = session.scalars(
            select(MonitoringRun)
            .where(MonitoringRun.model_id == "credit_approval")
            .order_by(MonitoringRun.interval_end.desc())
        ).all()
        newest = next(run for run in runs if "model_drift" in run.checks)
        newest.model_versions = {"1.0.0": 1900, "1.1.0": 100}

    page = client_as(app, "audrey").get("/health").text

    credit = page[page.index("<td>credit_approval</td>") :].split("</tr>")[0]
    assert (
        '<br><span class="muted">window rows by model version: 1.0.0 1,900 · 1.1.0 100 '
        "(more than one version in this window: a finding may come from one version&#x27;s "
        "traffic)</span></td>"
    ) in credit
    marketing = page[page.index("<td>marketing_propensity</td>") :].split("</tr>")[0]
    assert "model version" not in marketing


VIEWER_ROW = "viewer: {drift_overview: read_only, fairness_monitor: none, model_health: none,"


@pytest.fixture
def health_without_fairness(dashboard_store, tmp_path) -> FastAPI:
    """The dashboard under a policy.yaml whose viewer row opens Model Health but not the
    Fairness Monitor: no row of the seed's table does, policy.yaml lets a deployment's."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    policy = config / "policy.yaml"
    text = policy.read_text()
    assert VIEWER_ROW in text
    opened = VIEWER_ROW.replace("model_health: none", "model_health: read_only")
    policy.write_text(text.replace(VIEWER_ROW, opened))
    return dashboard_on(dashboard_store, config_dir=lambda: config)


NEEDS_FAIRNESS_FAMILY = f"fairness_drift {NEEDS_FAIRNESS}"


@pytest.mark.parametrize(
    ("user", "status", "withheld"),
    [
        ("eve", "Critical", None),  # ML engineer: every page
        ("victor", "Warning", {"fairness_drift": "fairness_monitor"}),  # Model Health, no fairness
    ],
)
def test_model_health_shows_a_reader_without_the_fairness_monitor_no_fairness_verdict(
    health_without_fairness, dashboard_store, user, status, withheld
):
    """Model Health's status is the worst of every family: a role given Model Health but not
    the Fairness Monitor read credit_approval's fairness CRITICAL in it. Such a reader gets the
    status over the families they may see (data drift's WARNING), the fairness monitor named
    as withheld, and the audit event names it."""
    client = client_as(health_without_fairness, user)

    page = client.get("/health").text
    credit = client.get("/api/health").json()["data"][0]

    main = page[page.index("<main") :]
    row = main[main.index("<td>credit_approval</td>") :].split("</tr>")[0]
    assert row.startswith(f'<td>credit_approval</td><td><span class="sev {status}">{status}</span>')
    assert ("fairness_drift: CRITICAL (1 inconclusive)" in row) is (withheld is None)
    assert (NEEDS_FAIRNESS_FAMILY in row) is (withheld is not None)
    assert (f"<p>{SEEN_STATUS} {NEEDS_FAIRNESS_FAMILY}.</p>" in main) is (withheld is not None)
    assert ("CRITICAL" in main or "Critical" in main) is (withheld is None)
    named = [{"check_type": c, "permission": p} for c, p in (withheld or {}).items()] or None
    assert (credit["status"], credit.get("withheld")) == (status, named)
    with store.session_scope(dashboard_store) as session:
        views = query_events(session, action="dashboard.view", actor=user)
        assert [view.payload.get("withheld") for view in views] == [withheld] * 2


def test_fairness_monitor_shows_values_intervals_group_sizes_bounds_and_inconclusive(dashboard):
    app, _, _ = dashboard
    page = client_as(app, "carol").get("/fairness?model=credit_approval&days=30").text
    assert "<h2>gender: disparate_impact_ratio</h2>" in page
    assert "lower_is_worse; critical 0.8, warning 0.89 (policy.yaml)" in page
    assert "<td>0.750</td><td>[0.700, 0.800]</td>" in page
    assert "female: 480, male: 510" in page
    assert '<span class="sev INCONCLUSIVE">INCONCLUSIVE</span>' in page
    assert "rows per group: 18-25 12" in page


def test_a_fairness_metric_not_computed_is_never_shown_with_a_passing_severity(dashboard):
    """An attribute whose column failed the data-quality gate has its disparate impact
    recorded as skipped, with no value and severity INFO: the Fairness Monitor showed it as
    INFO, a pass, where Model Health shows a metric not computed as INCONCLUSIVE."""
    app, url, _ = dashboard
    with store.session_scope(url) as session:
        run_id = _run(session, "credit_approval", 31, ["fairness_drift"], None)
        _metric(
            session,
            run_id,
            "fairness_drift",
            "disparate_impact_ratio",
            "region",
            None,
            "INFO",
            status="skipped",
            message="column region failed the data-quality gate; drift not computed",
        )
    page = client_as(app, "carol").get("/fairness?model=credit_approval").text
    region = page[page.index("<h2>region: disparate_impact_ratio</h2>") :].split("</table>")[0]
    assert (
        "<td>2025-03-31 00:00 UTC</td><td>n/a</td><td>[n/a, n/a]</td>"
        '<td><span class="sev INCONCLUSIVE">INCONCLUSIVE</span></td><td></td>'
        "<td>column region failed the data-quality gate; drift not computed</td>"
    ) in region
    series = client_as(app, "carol").get("/api/fairness?model=credit_approval").json()["data"]
    (skipped,) = [s for s in series if s["subject"] == "region"]
    assert [(p["severity"], p["status"]) for p in skipped["points"]] == [
        ("INCONCLUSIVE", "skipped")
    ]


def test_a_fairness_metric_policy_yaml_no_longer_bounds_shows_the_bounds_it_was_judged_by(
    dashboard_store, tmp_path
):
    """Thresholds are data in policy.yaml: a deployer may take a metric out. The records
    judged by it stay, and the Fairness Monitor answered 500 (a KeyError) for every model
    that had one."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    policy = config / "policy.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    start = lines.index("    disparate_impact_ratio:\n")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("      "))
    # Its alpha weight goes with it: a weight for a metric not judged is refused.
    kept = [line for line in lines[end:] if line != "    disparate_impact_ratio: 4\n"]
    policy.write_text("".join(lines[:start] + kept))
    with store.session_scope(dashboard_store) as session:
        session.execute(
            update(MetricResult)
            .where(MetricResult.metric == "disparate_impact_ratio")
            .values(threshold={"warning": 0.9, "critical": 0.8, "direction": "lower_is_worse"})
        )
    app = dashboard_on(dashboard_store, config_dir=lambda: config)
    response = client_as(app, "carol").get("/fairness?model=credit_approval")
    assert response.status_code == 200
    assert (
        '<h2>gender: disparate_impact_ratio</h2><p class="muted">lower_is_worse; critical 0.8, '
        "warning 0.9 (as recorded: policy.yaml no longer bounds this metric)</p>"
    ) in response.text
    assert "<td>0.750</td><td>[0.700, 0.800]</td>" in response.text


def test_a_regressors_fairness_and_error_increase_are_shown_with_the_bounds_they_are_judged_on(
    dashboard,
):
    app, url, _ = dashboard
    with store.session_scope(url) as session:
        session.add(
            Model(
                id="customer_lifetime_value",
                model_type="regressor",
                risk_tier="medium",
                owner="sam",
                business_purpose="test",
                created_by="test",
            )
        )
        session.flush()
        run = _run(session, "customer_lifetime_value", 29, ["fairness_drift", "model_drift"], 0.5)
        _metric(
            session,
            run,
            "fairness_drift",
            "mean_prediction_ratio",
            "gender",
            0.72,
            "CRITICAL",
            ci_low=0.67,
            ci_high=0.78,
            group_sizes={"female": 935, "male": 1031},
        )
        _metric(session, run, "model_drift", "mae_increase", "", 1.18, "CRITICAL")
    eve = client_as(app, "eve")
    page = eve.get("/fairness?model=customer_lifetime_value&days=30").text
    assert "<h2>gender: mean_prediction_ratio</h2>" in page
    # Judged with disparate_impact_ratio's bounds (metrics.JUDGED_AS).
    assert "lower_is_worse; critical 0.8, warning 0.89 (policy.yaml)" in page
    assert "<td>0.720</td><td>[0.670, 0.780]</td>" in page
    health = eve.get("/api/health").json()["data"]
    [regressor] = [row for row in health if row["model_id"] == "customer_lifetime_value"]
    assert (regressor["metrics"]["mae_increase"]["value"], regressor["status"]) == (
        1.18,
        "Critical",
    )


def test_fairness_and_health_rows_link_the_drift_report_and_the_run_that_recorded_them(
    dashboard, incident_store
):
    app, _, _ = dashboard
    client = client_as(app, "eve")
    report = (
        '<a href="/reports/reports/credit_approval/day30.html" target="_blank">drift report</a>'
    )
    fairness = client.get("/fairness?model=credit_approval").text
    gender = fairness[fairness.index("<h2>gender") :]
    newest, older = gender.split("</tr>")[1:3]
    assert (
        f'{report} <a href="/dags/govflow_monitoring_daily/runs/scheduled__30" target="_top" '
        'class="muted">run</a></td>'
    ) in newest
    assert 'href="/dags/govflow_monitoring_daily/runs/scheduled__29"' in older
    assert "drift report" not in older  # the 29th's run recorded no report
    points = client.get("/api/fairness?model=credit_approval").json()["data"][1]["points"]
    assert [(p["dag_run_id"], p["report_path"]) for p in points] == [
        ("scheduled__28", None),
        ("scheduled__29", None),
        ("scheduled__30", "reports/credit_approval/day30.html"),
    ]
    health = client.get("/health").text
    row = health[health.index("<tr><td>credit_approval") :].split("</tr>")[0]
    assert row.endswith(
        f'<td>{report} <a href="/dags/govflow_monitoring_daily/runs/scheduled__30" '
        'target="_top" class="muted">run</a></td>'
    )
    row = client.get("/api/health").json()["data"][0]
    assert (row["report_path"], row["source_run"]) == (
        "reports/credit_approval/day30.html",
        {"dag_id": "govflow_monitoring_daily", "dag_run_id": "scheduled__30"},
    )


def test_the_fairness_monitor_shows_a_model_analysed_long_ago_up_to_its_newest_window(
    dashboard_store,
):
    """The period ends at the model's newest window with a fairness result, not at the clock
    nor at a newer record without one: after `make demo` (records of March 2025) and the
    scheduled runs `make airflow` then makes over today's empty windows, or after a
    backfill, the Fairness Monitor shows the fairness records."""
    with store.session_scope(dashboard_store) as session:
        today = NOW + timedelta(days=599)
        session.add(
            MonitoringRun(
                model_id="credit_approval",
                run_key="credit_approval/today",
                cadence="daily",
                checks=["fairness_drift"],
                dag_id="govflow_monitoring_daily",
                dag_run_id="scheduled__today",
                interval_start=today - DAY,
                interval_end=today,
                status="succeeded",
                severity="CRITICAL",  # no rows in the window: no fairness metric at all
            )
        )
    app = dashboard_on(dashboard_store, clock=lambda: NOW + timedelta(days=600))
    page = client_as(app, "carol").get("/fairness?model=credit_approval&days=30").text
    assert "<h2>gender: disparate_impact_ratio</h2>" in page
    assert "<td>0.750</td><td>[0.700, 0.800]</td>" in page
    assert "the 30 days up to the newest window with a fairness result, 2025-03-" in page


@pytest.mark.parametrize(("days", "windows"), [(1, [30]), (2, [29, 30]), (30, [28, 29, 30])])
def test_the_fairness_monitor_shows_as_many_daily_windows_as_the_days_asked(
    dashboard_store, days, windows
):
    """?days=1 showed the newest two days' windows: the window ending at the period's first
    instant lies before the period and was counted in it."""
    config = load_config(config_dir())
    with store.session_scope(dashboard_store) as session:
        series = fairness_series(session, config, "credit_approval", now=NOW, days=days)
    gender = next(s for s in series if s.subject == "gender")
    assert [p.window_end.day for p in gender.points] == windows


def test_the_fairness_monitor_bounds_its_period_and_refuses_unknown_models(dashboard):
    app, _, _ = dashboard
    client = client_as(app, "carol")
    assert client.get("/fairness?days=367").status_code == 422
    assert client.get("/fairness?model=nope").status_code == 404
    assert client.get("/fairness?model=" + "x" * 129).status_code == 422


@pytest.fixture
def incident_store(dashboard_store) -> str:
    """dashboard_store plus INC-1's handling so far (raised by the 2025-03-30 record, covered
    by a response run that waits, the CEO told at once, the model frozen) and INC-2, an
    older P3 acknowledged in time, its risk accepted, then resolved with a post-mortem due."""
    url = dashboard_store
    with store.session_scope(url) as session:
        source = session.get(MonitoringRun, 3)
        source.report_path = "reports/credit_approval/day30.html"
        frozen = KillSwitch(
            scope="model_type",
            target="credit_approval",
            active_key="model_type:credit_approval",
            reason="INC-1",
            activated_by="govflow_incident_response",
            activated_at=NOW - timedelta(minutes=100),
        )
        session.add(frozen)
        first = session.scalars(select(Incident).where(Incident.ref == "INC-1")).one()
        first.source_run_id = source.id
        first.assigned_to = "carol"
        first.details = {
            "response_run": {
                "dag_id": "govflow_incident_response",
                "dag_run_id": "incident__INC-1",
                "started_at": (NOW - timedelta(hours=2)).isoformat(),
            }
        }
        second = Incident(
            ref="INC-2",
            model_id="marketing_propensity",
            category="data_drift",
            metric="psi",
            severity="WARNING",
            priority="P3",
            status="resolved",
            dedup_key="marketing_propensity/psi",
            title="psi of income",
            owner="olivia",
            assigned_to="mike",
            opened_at=NOW - 10 * DAY,
            acknowledged_at=NOW - 10 * DAY + timedelta(minutes=5),
            resolved_at=NOW - 8 * DAY,
            postmortem_due=NOW - DAY,
            details={
                "response_run": {
                    "dag_id": "govflow_incident_response",
                    "dag_run_id": "incident__INC-2",
                    "ended_at": (NOW - 8 * DAY).isoformat(),
                }
            },
        )
        session.add(second)
        session.flush()
        events = [
            (
                first,
                "opened",
                "govflow-monitoring",
                NOW - timedelta(hours=2),
                {"assigned_to": "carol"},
            ),
            (
                first,
                "escalated",
                "govflow_incident_response",
                NOW - timedelta(minutes=118),
                {"level": "at_once", "people": ["carol", "cathy"], "reason": "CEO (immediate)"},
            ),
            (
                first,
                "containment",
                "govflow_incident_response",
                NOW - timedelta(minutes=100),
                {"decision": "freeze", "kill_switch_id": frozen.id},
            ),
            (first, "recurrence", "govflow-monitoring", NOW - timedelta(minutes=30), {}),
            (second, "containment", "mike", NOW - 9 * DAY, {"decision": "manual_review_queue"}),
        ]
        for number, (incident, kind, actor, at, payload) in enumerate(events):
            session.add(
                IncidentEvent(
                    incident_id=incident.id,
                    event_key=f"{kind}:{number}",
                    kind=kind,
                    actor=actor,
                    payload=payload,
                    occurred_at=at,
                )
            )
        session.add(
            RiskAcceptance(
                incident_id=second.id,
                model_id="marketing_propensity",
                metric="psi",
                rationale="seasonal campaign",
                requested_by="mike",
                approved_by="carol",
                status="approved",
                days=14,
                suppression_until=NOW + 4 * DAY,
                created_at=NOW - 10 * DAY,
            )
        )
    return url


def test_incident_timeline_shows_the_ack_sla_clock_escalations_containment_and_run_links(
    dashboard, incident_store
):
    app, _, _ = dashboard
    page = client_as(app, "audrey").get("/incidents").text
    first = page[page.index("<td>INC-1") : page.index("<td>INC-2")]
    # Acknowledgement SLA: 15 minutes (policy.yaml escalation) from 10:00; P1 responds in 1 h.
    assert (
        '<span class="sev CRITICAL">CRITICAL</span> <b>overdue</b> by 1 h 45 min<br>'
        "due 2025-03-30 10:15 UTC (15 min SLA)"
    ) in first
    assert "respond by 2025-03-30 11:00 UTC" in first
    assert "owner eve<br>holds it: carol<br>acknowledges: carol" in first
    assert "2025-03-30 10:00 UTC primary: carol" in first
    assert "2025-03-30 10:02 UTC at_once: carol, cathy" in first
    assert "2025-03-30 10:20 UTC freeze by govflow_incident_response" in first
    assert "kill switch 1 (model_type credit_approval): <b>active</b> since" in first
    assert (
        '<a href="/dags/govflow_incident_response/runs/incident__INC-1/required_actions" '
        'target="_top">answer in Airflow</a>'
    ) in first
    assert '<a href="/reports/reports/credit_approval/day30.html" target="_blank">' in first
    assert 'href="/dags/govflow_monitoring_daily/runs/scheduled__30"' in first
    assert "&lt;script&gt;alert(1)&lt;/script&gt; disparate impact" in first
    second = page[page.index("<td>INC-2") :]
    assert "acknowledged 2025-03-20 12:05 UTC" in second
    assert "RA-1 psi approved, expires 2025-04-03 12:00 UTC, approved by carol" in second
    assert "2025-03-29 12:00 UTC <b>overdue</b>" in second  # the post-mortem
    assert 'href="/dags/govflow_incident_response/runs/incident__INC-2"' in second  # ended
    assert "required_actions" not in second


def test_the_incident_timeline_json_twin_carries_the_same_fields(dashboard, incident_store):
    app, _, _ = dashboard
    rows = client_as(app, "eve").get("/api/incidents").json()["data"]
    assert [(r["ref"], r["ack_state"], r["ack_seconds_left"]) for r in rows] == [
        ("INC-1", "overdue", -6300.0),
        ("INC-2", "acknowledged", None),
    ]
    first, second = rows
    assert first["ack_sla_minutes"] == 15
    assert (first["ack_due"], first["response_due"]) == (
        "2025-03-30T10:15:00+00:00",
        "2025-03-30T11:00:00+00:00",
    )
    assert [(e["level"], e["people"]) for e in first["escalations"]] == [
        ("primary", ["carol"]),
        ("at_once", ["carol", "cathy"]),
    ]
    assert [(c["decision"], c["kill_switch_id"]) for c in first["containment"]] == [("freeze", 1)]
    assert [(k["id"], k["deactivated_at"]) for k in first["kill_switches"]] == [(1, None)]
    assert first["response_run"] == {
        "dag_id": "govflow_incident_response",
        "dag_run_id": "incident__INC-1",
        "pending": True,
    }
    assert first["links"] == {
        "pending_action": "/dags/govflow_incident_response/runs/incident__INC-1/required_actions",
        "response_run": None,
        "drift_report": "/reports/reports/credit_approval/day30.html",
        "monitoring_run": "/dags/govflow_monitoring_daily/runs/scheduled__30",
    }
    assert second["links"]["response_run"] == "/dags/govflow_incident_response/runs/incident__INC-2"
    assert (first["source_run"]["dag_run_id"], first["report_path"]) == (
        "scheduled__30",
        "reports/credit_approval/day30.html",
    )
    assert [(a["id"], a["status"], a["expires"]) for a in second["risk_acceptances"]] == [
        (1, "approved", "2025-04-03T12:00:00+00:00")
    ]
    assert (second["postmortem_due"], second["postmortem_overdue"]) == (
        "2025-03-29T12:00:00+00:00",
        True,
    )
    assert second["kill_switches"] == []  # resolved: the model's freeze is not its own


def test_the_acknowledgement_sla_clock_reads_policy_yaml(incident_store, tmp_path):
    policy = tmp_path / "config"
    shutil.copytree(config_dir(), policy)
    text = (policy / "policy.yaml").read_text()
    assert "acknowledgement_minutes: 15 " in text
    (policy / "policy.yaml").write_text(
        text.replace("acknowledgement_minutes: 15 ", "acknowledgement_minutes: 30 ")
    )
    app = dashboard_on(
        incident_store,
        config_dir=lambda: policy,
    )
    first = client_as(app, "eve").get("/api/incidents").json()["data"][0]
    assert (first["ack_due"], first["ack_seconds_left"]) == ("2025-03-30T10:30:00+00:00", -5400.0)
    assert "overdue</b> by 1 h 30 min" in client_as(app, "eve").get("/incidents").text


def test_analyze_now_triggers_the_on_demand_dag_as_the_logged_in_user_and_is_audited(dashboard):
    app, url, triggered = dashboard
    response = client_as(app, "eve").post("/analyze", data={"model": "__all__"})
    assert response.status_code == 200
    assert 'href="/dags/govflow_monitoring_on_demand/runs/manual__1"' in response.text
    assert triggered == [
        {
            "user": "eve",
            "dag_id": "govflow_monitoring_on_demand",
            "conf": {
                "model_ids": [
                    "credit_approval",
                    "marketing_propensity",
                    "product_recommendation",
                    "customer_lifetime_value",
                ],
                "reason": "Analyze Now on the dashboard by eve",
            },
        }
    ]
    with store.session_scope(url) as session:
        events = [
            (e.actor, e.target, e.payload)
            for e in query_events(session, action="dashboard.analyze_now")
        ]
    assert events == [
        (
            "eve",
            "analyze_now/__all__",
            {
                "models": [
                    "credit_approval",
                    "marketing_propensity",
                    "product_recommendation",
                    "customer_lifetime_value",
                ],
                "dag_id": "govflow_monitoring_on_demand",
                "dag_run_id": "manual__1",
            },
        )
    ]


def test_analyze_now_passes_the_chosen_window_and_refuses_a_bad_one(dashboard):
    app, _, triggered = dashboard
    client = client_as(app, "lena")
    chosen = {"model": "credit_approval", "window_start": "2025-03-20", "window_end": "2025-03-27"}
    assert client.post("/analyze", data=chosen).status_code == 200
    assert (triggered[0]["conf"]["window_start"], triggered[0]["conf"]["window_end"]) == (
        "2025-03-20T00:00:00+00:00",
        "2025-03-27T00:00:00+00:00",
    )
    bad_windows = [
        {"window_start": "2025-03-27", "window_end": "2025-03-20"},
        {"window_start": "2025-03-20"},
        {"window_start": "2024-01-01", "window_end": "2025-03-20"},
        {"window_start": "yesterday", "window_end": "2025-03-20"},
    ]
    statuses = [
        client.post("/analyze", data={"model": "credit_approval", **w}).status_code
        for w in bad_windows
    ]
    assert (statuses, len(triggered)) == ([400, 400, 400, 400], 1)


def test_analyze_now_says_which_window_it_requested_and_that_its_end_day_is_not_included(
    dashboard,
):
    """The form's second date is where the window ends (00:00 UTC, as the DAG's
    window_end), yet it read "to", and the page confirming the request named no window: a
    user asking 20 to 27 March for a week was told nothing of 27 March being left out."""
    app, _, _ = dashboard
    client = client_as(app, "lena")
    form = client.get("/drift").text
    assert '<label>up to, not including, <input type="date" name="window_end"></label>' in form
    chosen = {"model": "credit_approval", "window_start": "2025-03-20", "window_end": "2025-03-27"}
    assert (
        "</a>, over the window from 2025-03-20 00:00 UTC up to 2025-03-27 00:00 UTC (not "
        "included).</p>"
    ) in client.post("/analyze", data=chosen).text
    assert (
        "</a>, over each model&#x27;s newest complete day of logged predictions.</p>"
        in client.post("/analyze", data={"model": "credit_approval"}).text
    )


def test_an_analysis_links_its_fairness_findings_only_for_who_may_open_the_fairness_monitor(
    dashboard,
):
    """The progress page of an Analyze Now run is the Drift Overview's: a viewer, to whom
    seed 004 section 6 closes the Fairness Monitor, was offered a link to it (a 403)."""
    app, url, _ = dashboard
    with store.session_scope(url) as session:
        record = session.get(
            MonitoringRun, _run(session, "credit_approval", 31, ["data_drift"], 0.4)
        )
        record.dag_id, record.dag_run_id = "govflow_monitoring_on_demand", "manual__7"
    link = '<a href="/fairness?model=credit_approval">Fairness Monitor</a>'
    assert link in client_as(app, "eve").get("/analysis/manual__7").text
    shown = client_as(app, "victor").get("/analysis/manual__7")
    assert (shown.status_code, link in shown.text, "credit_approval" in shown.text) == (
        200,
        False,
        True,
    )


def _analyze_now_record(url: str, run_id: str, results: list[tuple[Any, ...]]) -> None:
    """A record of the Analyze Now run ``run_id``, CRITICAL as the DAG writes it when any of
    its ``results`` (check type, metric, severity, status) is."""
    with store.session_scope(url) as session:
        record = session.get_one(
            MonitoringRun, _run(session, "credit_approval", 31, list(CHECKS_RUN), 0.4)
        )
        record.dag_id, record.dag_run_id = "govflow_monitoring_on_demand", run_id
        record.severity = "CRITICAL"
        for check_type, metric, severity, status in results:
            _metric(session, record.id, check_type, metric, "", 0.5, severity, status)


CHECKS_RUN = ("data_drift", "fairness_drift", "model_drift", "explanation_drift")
# The run's only CRITICAL is a fairness finding; the data-quality gate's WARNING is no
# family's, and every reader sees it, as on the Drift Overview.
FAIRNESS_CRITICAL = [
    ("data_drift", "psi", "WARNING", "computed"),
    ("fairness_drift", "disparate_impact_ratio", "CRITICAL", "computed"),
    ("model_drift", "accuracy_drop", "WARNING", "computed"),
    ("explanation_drift", "attribution_shift", "INFO", "computed"),
    ("data_quality", "missing_values", "WARNING", "failed"),
]
WITHHELD_FROM = {
    "carol": {"model_drift": "model_health", "explanation_drift": "model_health"},
    "victor": {
        "fairness_drift": "fairness_monitor",
        "model_drift": "model_health",
        "explanation_drift": "model_health",
    },
}


@pytest.mark.parametrize(
    ("user", "severity", "found"),
    [
        ("audrey", "CRITICAL", 4),  # auditor: every family, as the record says
        ("carol", "CRITICAL", 3),  # compliance officer: no model or explanation drift
        ("victor", "WARNING", 2),  # viewer: data drift and the data-quality gate
    ],
)
def test_an_analysis_progress_shows_only_the_severity_of_families_its_reader_may_see(
    dashboard, user, severity, found
):
    """The progress of an Analyze Now run is the Drift Overview's page, yet showed the
    viewer each record's severity and findings above INFO over every family: a fairness
    CRITICAL he may not see on the Drift Overview."""
    app, url, _ = dashboard
    _analyze_now_record(url, "manual__5", FAIRNESS_CRITICAL)
    client = client_as(app, user)

    progress = client.get("/api/analysis/manual__5").json()["data"]
    page = client.get("/analysis/manual__5").text

    (record,) = progress["records"]
    assert (record["severity"], record["findings_above_info"]) == (severity, found)
    withheld = WITHHELD_FROM.get(user, {})
    assert progress.get("withheld") == (
        [{"check_type": c, "permission": p} for c, p in withheld.items()] or None
    )
    row = page[page.index("<td>credit_approval</td>") :].split("</tr>")[0]
    assert f'<td><span class="sev {severity}">{severity}</span></td><td>0.400</td>' in row
    assert f"<td>{found}</td>" in row
    assert ("CRITICAL" in page[page.index("<main") :]) is (severity == "CRITICAL")
    notes = [
        f'{family} <span class="muted">withheld: needs {title}</span>'
        for family, title in (
            ("fairness_drift", "Fairness Monitor"),
            ("model_drift", "Model Health"),
            ("explanation_drift", "Model Health"),
        )
        if family in withheld
    ]
    assert (f"<p>{SEEN_FAMILIES} {', '.join(notes)}.</p>" in page) is bool(withheld)
    assert ("withheld: needs" in page) is bool(withheld)


def test_an_analysis_progress_whose_shown_families_decided_nothing_is_inconclusive_not_info(
    dashboard,
):
    """As a record's own verdict: INFO with a family that judged nothing is no pass."""
    app, url, _ = dashboard
    _analyze_now_record(
        url,
        "manual__6",
        [
            ("data_drift", "psi", "INFO", "inconclusive"),
            ("fairness_drift", "disparate_impact_ratio", "CRITICAL", "computed"),
        ],
    )

    progress = client_as(app, "victor").get("/api/analysis/manual__6").json()["data"]

    assert [(r["severity"], r["findings_above_info"]) for r in progress["records"]] == [
        ("INCONCLUSIVE", 0)
    ]


@pytest.mark.parametrize("user", ["audrey", "carol", "victor"])
def test_the_audit_event_of_a_withholding_page_names_the_families_its_reader_was_not_shown(
    dashboard, user
):
    app, url, _ = dashboard
    _analyze_now_record(url, "manual__5", FAIRNESS_CRITICAL)
    client = client_as(app, user)
    paths = ("/drift", "/api/drift", "/analysis/manual__5", "/api/analysis/manual__5")

    assert [client.get(path).status_code for path in paths] == [200] * 4
    with store.session_scope(url) as session:
        views = query_events(session, action="dashboard.view", actor=user)
        payloads = [(view.payload.get("query"), view.payload.get("withheld")) for view in views]

    withheld = WITHHELD_FROM.get(user)
    assert payloads == [(None, withheld)] * 2 + [({"run": "manual__5"}, withheld)] * 2
    assert all(("withheld" in view.payload) is (user in WITHHELD_FROM) for view in views)


def test_analyze_now_refuses_a_window_that_has_not_ended(dashboard):
    """govflow monitor run refuses a window not ended yet; the button passed one (a year
    typed 2026 for 2025) to the DAG, whose analysis of nothing then stood as the model's
    newest record."""
    app, _, triggered = dashboard
    client = client_as(app, "lena")
    today = {"model": "credit_approval", "window_start": "2025-03-30", "window_end": "2025-03-31"}
    typo = {"model": "credit_approval", "window_start": "2026-03-20", "window_end": "2026-03-27"}
    refused = [client.post("/analyze", data=window) for window in (today, typo)]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (400, WINDOW_NOT_ENDED.format(end=datetime(2025, 3, 31, tzinfo=UTC))),
        (400, WINDOW_NOT_ENDED.format(end=datetime(2026, 3, 27, tzinfo=UTC))),
    ]
    ended = {"model": "credit_approval", "window_start": "2025-03-29", "window_end": "2025-03-30"}
    assert client.post("/api/v1/monitoring/analyze-now", json=ended).status_code == 202
    assert len(triggered) == 1


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_refusal_a_browser_asks_for_is_a_page_saying_why_and_the_api_keeps_json(dashboard):
    """A viewer following a link to the Fairness Monitor, or a form posted with a bad
    window, got a raw JSON document; a script, or a JSON twin, still reads ``detail``."""
    app, _, _ = dashboard
    victor = client_as(app, "victor")
    refused = victor.get("/fairness", headers=BROWSER)
    assert (refused.status_code, refused.headers["content-type"]) == (
        403,
        "text/html; charset=utf-8",
    )
    assert "<h1>403 Forbidden</h1><p>missing permission fairness_monitor: " in refused.text
    bad = client_as(app, "lena").post(
        "/analyze",
        data={"model": "credit_approval", "window_start": "2025-03-27"},
        headers=BROWSER,
    )
    assert (bad.status_code, f"<p>{BAD_WINDOW}</p>" in bad.text) == (400, True)
    invalid = client_as(app, "carol").get("/fairness?days=0", headers=BROWSER)
    assert (invalid.status_code, "<h1>422 Unprocessable" in invalid.text) == (422, True)
    as_api = client_as(app, "victor").get("/api/fairness", headers=BROWSER)
    assert as_api.json()["detail"].startswith("missing permission fairness_monitor")
    assert victor.get("/fairness").json()["detail"].startswith("missing permission")


def test_analyze_now_refused_to_a_viewer_is_audited_and_triggers_nothing(dashboard):
    app, url, triggered = dashboard
    response = client_as(app, "victor").post("/analyze", data={"model": "credit_approval"})
    assert response.status_code == 403
    assert "missing permission can_trigger_analysis" in response.json()["detail"]
    assert triggered == []
    with store.session_scope(url) as session:
        refused = [(e.actor, e.target) for e in query_events(session, action="dashboard.refused")]
    assert refused == [("victor", "analyze_now/credit_approval")]


def test_airflow_refusing_the_trigger_is_a_403_audited_even_when_govflow_allows_it(
    dashboard, monkeypatch
):
    """govflow's can_trigger_analysis is necessary, never sufficient: the plugin asks
    Airflow's auth manager as the REST trigger route does."""
    import airflow.api_fastapi.app

    asked = []

    class RefusingAuthManager:
        def is_authorized_dag(self, *, method, access_entity, details, user):
            asked.append((method, access_entity.value, details.id, user.get_name()))
            return False

    monkeypatch.setattr(airflow.api_fastapi.app, "get_auth_manager", RefusingAuthManager)
    app, url, _ = dashboard
    app = dashboard_on(url, trigger_analysis=trigger_as_user)
    response = client_as(app, "eve").post("/analyze", data={"model": "credit_approval"})
    assert (response.status_code, response.json()["detail"]) == (
        403,
        AIRFLOW_REFUSES.format(user="eve", dag_id="govflow_monitoring_on_demand"),
    )
    assert asked == [("POST", "RUN", "govflow_monitoring_on_demand", "eve")]
    with store.session_scope(url) as session:
        refused = [(e.actor, e.payload["permission"]) for e in query_events(session)]
    assert refused == [("eve", "airflow:trigger")]


def test_analyze_now_before_airflow_has_loaded_the_dag_is_a_503_saying_so(dashboard, monkeypatch):
    """Airflow's own trigger, on its metadata database, for a DAG the dag-processor has not
    read yet (as right after a start): it was a 500."""
    import airflow.api_fastapi.app

    class AllowingAuthManager:
        def is_authorized_dag(self, *, method, access_entity, details, user):
            return True

    monkeypatch.setattr(airflow.api_fastapi.app, "get_auth_manager", AllowingAuthManager)
    app, url, _ = dashboard
    never_read = "govflow_not_loaded_yet"

    def trigger(request, *, user, dag_id, conf):
        return trigger_as_user(request, user=user, dag_id=never_read, conf=conf)

    app = dashboard_on(url, trigger_analysis=trigger)
    response = client_as(app, "eve").post("/analyze", data={"model": "credit_approval"})
    assert (response.status_code, response.json()["detail"]) == (
        503,
        NOT_LOADED.format(dag_id=never_read),
    )
    with store.session_scope(url) as session:
        assert query_events(session, action="dashboard.analyze_now") == []


def test_analyze_now_refuses_a_form_posted_from_another_site_and_unknown_models(dashboard):
    app, _, triggered = dashboard
    client = client_as(app, "eve")
    cross = client.post(
        "/analyze", data={"model": "credit_approval"}, headers={"origin": "https://evil.example"}
    )
    unknown = client.post("/analyze", data={"model": "nope"})
    assert (cross.status_code, unknown.status_code, triggered) == (403, 400, [])


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        ({"origin": OWN_ORIGIN}, None),
        ({"origin": "HTTP://TestServer:80"}, None),  # the same origin, spelled otherwise
        ({"origin": "https://testserver"}, CROSS_SITE),  # another scheme
        ({"origin": "http://testserver:8080"}, CROSS_SITE),  # another port
        ({"origin": "http://testserver.evil.example"}, CROSS_SITE),
        ({"origin": "null"}, CROSS_SITE),  # a sandboxed or privacy-stripped page
        ({"referer": "http://testserver/drift?model=x"}, None),  # a browser too old for Origin
        ({"referer": "https://evil.example/testserver"}, CROSS_SITE),
        ({}, NO_ORIGIN),  # neither header: no browser's form tells its site
        ({"authorization": "Bearer a-script"}, None),  # no other site's page can send this
    ],
)
def test_a_form_is_taken_only_from_this_servers_own_origin(dashboard, headers, refusal):
    app, url, triggered = dashboard
    client = client_as(app, "eve", origin=None)

    response = client.post("/analyze", data={"model": "credit_approval"}, headers=headers)

    if refusal is None:
        assert (response.status_code, len(triggered)) == (200, 1)
    else:
        assert (response.status_code, response.json()["detail"], triggered) == (
            403,
            refusal,
            [],
        )
        with store.session_scope(url) as session:
            (refused,) = query_events(session, action="dashboard.refused")
        assert refused.payload["reason"] == refusal


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://airflow.example.com", 200),
        ("https://airflow.example.com:443", 200),
        ("http://airflow.example.com", 403),
        ("https://airflow.example.com:8443", 403),
        (OWN_ORIGIN, 200),  # the server reached directly, not through its proxy
    ],
)
def test_behind_a_proxy_a_form_from_the_public_address_is_the_servers_own(
    dashboard_store, origin, status
):
    """A proxy forwards its own Host (here the test client's); the browser's page is at the
    public address Airflow's [api] base_url names."""
    app = dashboard_on(
        dashboard_store,
        trigger_analysis=lambda *args, **kwargs: "manual__1",
        public_url="https://airflow.example.com/",
    )

    response = client_as(app, "eve").post(
        "/analyze", data={"model": "credit_approval"}, headers={"origin": origin}
    )

    assert response.status_code == status


def test_a_quiet_days_drift_report_is_drawn_on_request_opened_and_audited(
    dashboard_store, tmp_path
):
    """Issue 18: the DAGs draw a report only for a day with a finding above INFO; Drift
    Overview offers the newest day's when it has none, draws it on request and opens it."""
    asked: list[int] = []

    def draw(record: int, db_url: str | None) -> str:
        asked.append(record)
        with store.session_scope(db_url) as session:
            run = session.get(MonitoringRun, record)
            if run is None:
                raise ValueError(f"record {record} is not a succeeded analysis")
            run.report_path = f"reports/{run.model_id}/drawn-{record}.html"
        (tmp_path / run.report_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / run.report_path).write_text("<html>drawn on request</html>")
        return run.report_path

    app = dashboard_on(dashboard_store, draw_report=draw, data_dir=lambda: tmp_path)
    with store.session_scope(dashboard_store) as session:
        newest = session.scalar(
            select(MonitoringRun.id)
            .where(MonitoringRun.model_id == "credit_approval")
            .order_by(MonitoringRun.interval_end.desc())
        )
    eve = client_as(app, "eve")  # ML engineer: may trigger an analysis
    assert f'action="/drift-report/{newest}"' in eve.get("/drift").text
    cross = eve.post(f"/drift-report/{newest}", headers={"origin": "https://evil.example"})
    drawn = eve.post(f"/drift-report/{newest}", follow_redirects=False)
    assert (cross.status_code, drawn.status_code, asked) == (403, 303, [newest])
    location = drawn.headers["location"]
    assert location == f"/reports/reports/credit_approval/drawn-{newest}.html"
    assert eve.get(location).text == "<html>drawn on request</html>"
    assert f'action="/drift-report/{newest}"' not in eve.get("/drift").text
    missing = eve.post("/drift-report/999", follow_redirects=False)
    stranger = client_as(app, "mallory").post(f"/drift-report/{newest}")
    assert (missing.status_code, missing.json()["detail"]) == (
        409,
        "record 999 is not a succeeded analysis",
    )
    assert (stranger.status_code, asked) == (403, [newest, 999])
    with store.session_scope(dashboard_store) as session:
        events = query_events(session, action="dashboard.report_drawn")
        assert [(e.actor, e.payload["record"]) for e in events] == [("eve", newest)]


def test_a_drift_report_asked_of_a_record_that_does_not_exist_is_a_404_in_one_line(
    dashboard_store,
):
    def draw(record: int, db_url: str | None) -> str:  # as the plugin's drawer
        return draw_report_on_request(record, db_url=db_url)

    app = dashboard_on(dashboard_store, draw_report=draw)

    missing = client_as(app, "eve").post("/drift-report/999", follow_redirects=False)

    assert (missing.status_code, missing.json()) == (404, {"detail": "no monitoring record 999"})


@pytest.mark.parametrize("user", ["carol", "audrey", "victor"])
def test_a_role_that_may_only_read_is_offered_no_drift_report_draw_and_refused_one(
    dashboard_store, tmp_path, user
):
    """Seed 004 section 6: "Can Trigger Analysis" is the one action; a draw costs seconds of
    CPU and megabytes of disk, so the compliance officer, auditor and viewer may open the
    reports drawn but have none drawn."""
    asked: list[int] = []
    app = dashboard_on(
        dashboard_store,
        draw_report=lambda record, db_url: asked.append(record) or "reports/x/y.html",
        data_dir=lambda: tmp_path,
    )
    reader = client_as(app, user)

    page = reader.get("/drift").text
    refused = reader.post("/drift-report/3", follow_redirects=False)

    assert ('action="/drift-report/' in page, refused.status_code, asked) == (False, 403, [])
    assert refused.json()["detail"].startswith("missing permission can_trigger_analysis")
    with store.session_scope(dashboard_store) as session:
        events = query_events(session, action="dashboard.refused")
        assert [(e.actor, e.target) for e in events] == [(user, "drift_report/3")]


def test_two_draws_of_one_records_drift_report_at_once_draw_it_once(
    dashboard_store, tmp_path, monkeypatch
):
    """Two people pressing the button together (or the button and the DAG): one draws, the
    other waits for it and gets the same report."""
    drawn: list[int] = []

    def slow_draw(model, data_dir, record, rows, reference_sample, usable):
        drawn.append(record.id)
        time.sleep(0.3)
        path = data_dir / "reports" / record.model_id / f"drawn-{len(drawn)}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<html>drawn</html>")
        return path.relative_to(data_dir)

    monkeypatch.setattr("govflow.flows.monitoring.write_drift_report", slow_draw)
    model = load_config(config_dir()).models.get("credit_approval")

    def draw() -> str | None:
        return render_report(
            model, tmp_path, 3, tmp_path / "sample.parquet", None, db_url=dashboard_store
        )

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: draw(), range(2)))

    assert (drawn, paths) == ([3], ["reports/credit_approval/drawn-1.html"] * 2)
    # One lock file per model, however many of its records are drawn.
    assert [p.name for p in (tmp_path / ".report-locks").iterdir()] == ["credit_approval.lock"]


def test_a_report_superseded_by_a_reanalysis_is_still_served_and_each_draw_is_hashed_in_the_trail(
    dashboard_store, tmp_path, monkeypatch
):
    """A run key analysed again gets a report of its own beside the first (its record names
    only the new one): the first analysis's alerts link the earlier file, which must still
    open, and the trail holds the sha256 of each file drawn."""
    drawn: list[str] = []

    def draw(model, data_dir, record, rows, reference_sample, usable):
        drawn.append(f"<html>analysis {len(drawn) + 1}</html>")
        path = data_dir / "reports" / record.model_id / f"drawn-{len(drawn)}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(drawn[-1])
        return path.relative_to(data_dir)

    monkeypatch.setattr("govflow.flows.monitoring.write_drift_report", draw)
    model = load_config(config_dir()).models.get("credit_approval")
    paths = []
    for _ in range(2):
        with store.session_scope(dashboard_store) as session:
            session.get(MonitoringRun, 3).report_path = None  # as a re-analysis leaves it
        paths.append(
            render_report(
                model, tmp_path, 3, tmp_path / "sample.parquet", None, db_url=dashboard_store
            )
        )
    app = dashboard_on(dashboard_store, data_dir=lambda: tmp_path)
    eve = client_as(app, "eve")

    assert paths == ["reports/credit_approval/drawn-1.html", "reports/credit_approval/drawn-2.html"]
    assert [eve.get(f"/reports/{path}").text for path in paths] == drawn
    assert eve.get("/reports/reports/credit_approval/drawn-3.html").status_code == 404
    with store.session_scope(dashboard_store) as session:
        events = query_events(session, action="report.drift_generated")
        recorded = [(e.target, e.payload["sha256"]) for e in events]
    assert recorded == [
        (f"report:drift:{path}", hashlib.sha256(page.encode()).hexdigest())
        for path, page in zip(paths, drawn, strict=True)
    ]


@pytest.mark.parametrize(
    ("method", "path", "line"),
    [
        ("GET", "/no-such-page", "no page /no-such-page on this dashboard"),
        ("GET", "/docs", "no page /docs on this dashboard"),
        ("GET", "/openapi.json", "no page /openapi.json on this dashboard"),
        ("POST", "/api/v1/nothing/here", "no page /api/v1/nothing/here on this dashboard"),
    ],
)
def test_an_unknown_path_is_a_404_in_one_line_for_a_logged_in_caller(
    dashboard_store, method, path, line
):
    app = dashboard_on(dashboard_store)

    response = client_as(app, "carol").request(method, path, follow_redirects=False)

    assert (response.status_code, response.json()) == (404, {"detail": line})


def test_a_person_holding_several_roles_gets_the_most_any_of_them_allows():
    config = load_config(config_dir())
    quinn = dashboard_rights(config, "quinn")  # qa_lead and ai_governance_committee
    assert (quinn.visible_pages(), quinn.can_trigger_analysis) == (
        [
            "drift_overview",
            "fairness_monitor",
            "model_health",
            "incident_timeline",
            "deployments",
            "governance_reports",  # ai_governance_committee's; qa_lead's row has no such column
            "my_actions",
        ],
        False,
    )


def test_every_route_of_the_mounted_plugin_app_refuses_a_request_without_credentials():
    """The app as Airflow's api-server mounts it (init_plugins over plugins/), nothing
    overridden: no token, no cookie, no route answers."""
    from airflow.api_fastapi.app import init_plugins
    from starlette.routing import Mount

    root = FastAPI()
    init_plugins(root)
    mounted = [r for r in root.routes if isinstance(r, Mount) and r.path == "/govflow"]
    assert len(mounted) == 1
    client = TestClient(root)
    seen = []
    for route in mounted[0].app.routes:  # type: ignore[attr-defined]
        for method in sorted(route.methods):
            response = client.request(method, "/govflow" + route.path, follow_redirects=False)
            seen.append((method, route.path, response.status_code))
    assert {(m, p) for m, p, _ in seen} >= {
        ("GET", "/"),
        ("GET", "/drift"),
        ("GET", "/fairness"),
        ("GET", "/health"),
        ("GET", "/incidents"),
        ("GET", "/deployments"),
        ("GET", "/api/deployments"),
        ("GET", "/audit"),
        ("GET", "/api/audit"),
        ("GET", "/actions"),
        ("GET", "/api/actions"),
        ("GET", "/reports"),
        ("GET", "/api/reports"),
        ("GET", "/reports/{path:path}"),
        ("POST", "/analyze"),
        ("POST", "/api/v1/monitoring/analyze-now"),
        ("GET", "/analysis/{run_id}"),
        ("GET", "/api/analysis/{run_id}"),
    }
    assert [s for s in seen if s[2] not in (401, 403)] == []
    # No docs are served (an authenticated caller gets 404, below); without credentials they
    # answer as every route does, so the answer tells nobody which paths exist.
    known = client.get("/govflow/drift")
    for method, path in [
        ("GET", "/govflow/docs"),
        ("GET", "/govflow/openapi.json"),
        ("GET", "/govflow/redoc"),
        ("GET", "/govflow/no-such-page"),
        ("POST", "/govflow/api/v1/no-such-route"),
        ("DELETE", "/govflow/drift"),
    ]:
        response = client.request(method, path, follow_redirects=False)
        assert (response.status_code, response.json()) == (known.status_code, known.json())


LOAD_PLUGINS_AS_A_TASK_DOES = r"""
import sys
from airflow.sdk.plugins_manager import _get_plugins
names = [p.name for p in _get_plugins()[0]]
print("govflow_dashboard" in names)
print(sorted(m for m in ("govflow.dashboard", "govflow_airflow.dashboard") if m in sys.modules))
"""


def test_a_task_process_loading_the_plugins_does_not_build_the_dashboard_app():
    """Every task loads the plugins (for macros): the app is built only when the api-server
    reads fastapi_apps."""
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_PLUGINS_AS_A_TASK_DOES],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.splitlines()[-2:] == ["True", "[]"]


def test_mounted_at_govflow_a_form_from_another_site_or_from_none_is_refused(dashboard_store):
    """The api-server mounts the app as it is: the Host its browser addressed stays the
    one forms are compared with."""
    from airflow.api_fastapi.app import init_plugins
    from starlette.routing import Mount

    root = FastAPI()
    init_plugins(root)
    (mounted,) = [r for r in root.routes if isinstance(r, Mount) and r.path == "/govflow"]
    overrides = mounted.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_user] = lambda: LoggedIn("carol")  # may not trigger: refused after the check
    try:
        client = TestClient(root)
        posted = [
            client.post(
                "/govflow/analyze", data={"model": "credit_approval"}, headers=headers
            ).json()["detail"]
            for headers in ({"origin": OWN_ORIGIN}, {"origin": "https://evil.example"}, {})
        ]
    finally:
        overrides.clear()
    assert posted[0].startswith("missing permission can_trigger_analysis")
    assert posted[1:] == [CROSS_SITE, NO_ORIGIN]


def test_mounted_at_govflow_the_landing_redirect_and_the_navigation_stay_under_it(
    dashboard_store,
):
    from airflow.api_fastapi.app import init_plugins
    from starlette.routing import Mount

    root = FastAPI()
    init_plugins(root)
    (mounted,) = [r for r in root.routes if isinstance(r, Mount) and r.path == "/govflow"]
    # Airflow builds the plugin's app once per process: leave it as found for other tests.
    overrides = mounted.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_user] = lambda: LoggedIn("carol")
    try:
        client = TestClient(root)
        landing = client.get("/govflow/", follow_redirects=False)
        page = client.get("/govflow/drift").text
    finally:
        overrides.clear()
    assert (landing.status_code, landing.headers["location"]) == (303, "/govflow/drift")
    assert (
        '<nav><a href="/govflow/drift" class=here>Drift Overview</a>'
        '<a href="/govflow/fairness">Fairness Monitor</a>'
        '<a href="/govflow/incidents">Incident Timeline</a>'
    ) in page


# --- Deployments, Audit, My actions, reports, gateway counters (issue 16) -----------------

RUN = "manual__dep1"


def _request(key: str, role: str, people: list[str]) -> dict[str, Any]:
    return {
        "key": key,
        "role": role,
        "subject": f"{role}: approve the deployment of credit_approval 2.0.0 (DEP-1)",
        "body": "",
        "assignees": [{"id": p, "name": p} for p in people],
        "response_timeout_hours": 72,
        "options": None,
        "items": [],
        "check_every_minutes": None,
    }


@pytest.fixture
def governance_store(dashboard_store, tmp_path) -> str:
    """dashboard_store plus: DEP-1 waiting for its approvals (the risk manager's is in, the
    compliance officer's is not), DEP-2 whose alpha stage waits for its decision, DEP-0
    rolled back during its beta stage, a risk
    acceptance waiting for review, gateway counters and feedback, and the reports on disk."""
    url = dashboard_store
    with store.session_scope(url) as session:
        waiting = Deployment(
            ref="DEP-1",
            dag_run_id=RUN,
            model_id="credit_approval",
            model_version="2.0.0",
            deployment_type="update",
            environment="production",
            requested_by="eve",
            status="in_progress",
            report_path="reports/deployments/DEP-1/readiness.md",
            created_at=NOW - DAY,
            details={
                "risk_tier": "high",
                "approvals_requested_at": (NOW - timedelta(hours=3)).isoformat(),
                "report_html_path": "reports/deployments/DEP-1/readiness.html",
                "requests": {
                    "approvals": [
                        _request("approval:compliance_officer", "compliance_officer", ["carol"]),
                        _request("approval:risk_manager", "risk_manager", ["rick"]),
                    ]
                },
            },
        )
        rolled_back = Deployment(
            ref="DEP-0",
            dag_run_id="manual__dep0",
            model_id="credit_approval",
            model_version="1.9.0",
            deployment_type="update",
            environment="production",
            requested_by="mike",
            status="rolled_back",
            created_at=NOW - 20 * DAY,
            closed_at=NOW - 15 * DAY,
            details={
                "risk_tier": "high",
                "rollout": {"status": "rolled_back"},
                "rollback": {
                    "decision": "error rate 3.1 % above 2 %",
                    "source": "stage_gate",
                    "requested_by": "govflow-rollout",
                    "requested_at": "2025-03-14T10:00:00+00:00",
                },
                "requests": {"approvals": [_request("approval:cto", "cto", ["tom"])]},
            },
        )
        rolling_out = Deployment(
            ref="DEP-2",
            dag_run_id="manual__dep2",
            model_id="credit_approval",
            model_version="1.9.5",
            deployment_type="update",
            environment="production",
            requested_by="mike",
            status="authorised",
            created_at=NOW - 2 * DAY,
            details={"risk_tier": "high", "rollout": {"status": "rolling_out"}},
        )
        session.add_all([waiting, rolled_back, rolling_out])
        session.flush()
        session.add(
            RolloutStage(
                deployment_id=rolling_out.id,
                stage="alpha",
                traffic_share=0.0,
                status="gate_failed",
                started_at=NOW - DAY,
            )
        )
        for number in range(1, 10):
            session.add(
                DeploymentStep(
                    deployment_id=waiting.id,
                    step=number,
                    phase=(number + 2) // 3,
                    name=f"step {number}",
                    status="passed",
                    actor="govflow-deployment",
                )
            )
        session.add(
            DeploymentApproval(
                deployment_id=waiting.id, role="risk_manager", approver="rick", decision="approve"
            )
        )
        for stage, share, status in (("alpha", 0.0, "advanced"), ("beta", 0.01, "rolled_back")):
            session.add(
                RolloutStage(
                    deployment_id=rolled_back.id,
                    stage=stage,
                    traffic_share=share,
                    status=status,
                    decided_by="dave",
                    started_at=NOW - 18 * DAY,
                )
            )
        session.add(
            RiskAcceptance(
                model_id="marketing_propensity",
                metric="psi",
                rationale="seasonal campaign",
                requested_by="lena",
                status="requested",
                days=14,
                request_key="govflow_risk_acceptance/manual__ra",
                created_at=NOW - timedelta(hours=1),
            )
        )
        # Through the gateway's own writer, which keeps the hours' sums Model Health reads.
        record_serving_stats(
            session,
            [
                *(
                    GatewayCounts(
                        "gw-1",
                        "credit_approval",
                        "1.9.0",
                        minute,
                        requests=requests,
                        errors=errors,
                        invalid=0,
                        clipped=2,
                        fallbacks=4,
                    )
                    for minute, requests, errors in (
                        (NOW - timedelta(hours=2), 900, 9),
                        (NOW - 3 * DAY, 50, 50),
                    )
                ),
                GatewayCounts(
                    "gw-2",
                    "credit_approval",
                    "2.0.0",
                    NOW - timedelta(hours=1),
                    requests=100,
                    errors=0,
                    invalid=1,
                    clipped=0,
                    fallbacks=1,
                ),
            ],
        )
        for kind in ("override", "override", "complaint", "bug"):
            session.add(
                ServingFeedback(
                    model_id="credit_approval",
                    kind=kind,
                    severity="minor",
                    recorded_by="ops",
                    recorded_at=NOW - timedelta(hours=5),
                )
            )
        session.get(MonitoringRun, 3).report_path = "reports/credit_approval/day30.html"
        compliance = tmp_path / "reports" / "compliance" / "2025-Q1.md"
        compliance.parent.mkdir(parents=True)
        compliance.write_text("# Compliance 2025-Q1\n")
        record_event(
            session,
            actor="carol",
            action="report.compliance_generated",
            target="report:compliance:2025-Q1",
            payload={"path": str(compliance), "sha256": "x"},
        )
    for relative, content in (
        ("reports/deployments/DEP-1/readiness.html", "<h1>Readiness DEP-1</h1>"),
        ("reports/deployments/DEP-1/readiness.md", "# Readiness DEP-1"),
        (
            "reports/credit_approval/day30.html",
            '<section id="govflow-verdicts"><h1>drift of 2025-03-30</h1></section><hr>',
        ),
        ("reports/credit_approval/unrecorded.html", "<h1>not a record</h1>"),
    ):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return url


@pytest.fixture
def governance(governance_store, tmp_path) -> FastAPI:
    return dashboard_on(
        governance_store,
        data_dir=lambda: tmp_path,
    )


NEW_PAGES = {
    "deployments": "/deployments",
    "audit": "/audit",
    "governance_reports": "/reports",
    "my_actions": "/actions",
}


@pytest.mark.parametrize(
    ("user", "opens"),
    [
        ("admin", {"deployments", "audit", "governance_reports", "my_actions"}),
        ("eve", {"deployments", "my_actions"}),
        ("carol", {"deployments", "governance_reports", "my_actions"}),
        ("audrey", {"deployments", "audit", "governance_reports", "my_actions"}),
        ("victor", {"my_actions"}),
        ("rick", {"deployments", "governance_reports", "my_actions"}),
    ],
)
def test_deployments_audit_reports_and_my_actions_open_to_exactly_the_roles_policy_yaml_names(
    dashboard, user, opens
):
    client = client_as(dashboard[0], user)
    pages = {page: client.get(path) for page, path in NEW_PAGES.items()}
    statuses = {page: response.status_code for page, response in pages.items()}
    # Offline pages: nothing fetched from elsewhere, no script.
    shown = [r.text for r in pages.values() if r.status_code == 200]
    assert not any("<script" in text or "http" in text for text in shown)
    json_statuses = {
        page: client.get("/api" + path).status_code for page, path in NEW_PAGES.items()
    }
    expected = {page: 200 if page in opens else 403 for page in NEW_PAGES}
    assert (statuses, json_statuses) == (expected, expected)
    navigation = client.get("/actions").text.split("</nav>")[0]
    assert {page for page, path in NEW_PAGES.items() if f'href="{path}"' in navigation} == opens


def test_the_audit_page_refused_to_a_compliance_officer_names_the_audit_permission(governance):
    response = client_as(governance, "carol").get("/audit")
    assert (response.status_code, response.json()["detail"]) == (
        403,
        MISSING_PERMISSION.format(
            permission="audit",
            user="carol",
            roles="compliance_officer",
            wanted="audit: read_only or full",
        ),
    )


def test_deployments_show_phase_open_approvals_with_their_required_action_readiness_and_rollback(
    governance,
):
    page = client_as(governance, "audrey").get("/deployments").text
    dep1 = page[page.index("<h2>DEP-1") : page.index("<h2>DEP-0")]
    assert "status <b>in_progress</b>; phase 3, step 9 step 9 (passed)" in dep1
    assert (
        "<li>step 10 compliance_officer: compliance_officer: approve the deployment of "
        "credit_approval 2.0.0 (DEP-1); assigned to carol "
        '<a href="/dags/govflow_model_deployment/runs/manual__dep1/required_actions" '
        'target="_top">answer in Airflow</a></li>'
    ) in dep1
    assert "risk_manager" not in dep1  # rick's approval is recorded
    assert '<a href="/reports/reports/deployments/DEP-1/readiness.html" target="_blank">' in dep1
    dep0 = page[page.index("<h2>DEP-0") :]
    assert "waiting for" not in dep0  # rolled back: nothing is asked any more
    assert "<tr><td>beta</td><td>0.01</td><td>rolled_back</td>" in dep0
    assert "<b>rollback</b>: error rate 3.1 % above 2 % (source stage_gate" in dep0
    rows = client_as(governance, "audrey").get("/api/deployments?model=credit_approval").json()
    assert [(d["ref"], [r["role"] for r in d["open_requests"]]) for d in rows["data"]] == [
        ("DEP-1", ["compliance_officer"]),
        ("DEP-2", []),
        ("DEP-0", []),
    ]


def test_a_rollout_whose_run_failed_shows_where_it_stopped(governance, governance_store):
    with store.session_scope(governance_store) as session:
        deployment = session.scalars(select(Deployment).where(Deployment.ref == "DEP-2")).one()
        deployment.details = {
            **deployment.details,
            "rollout": {"status": "failed", "failed_steps": ["watch_alpha"], "stage": "alpha"},
        }

    page = client_as(governance, "audrey").get("/deployments").text
    dep2 = page[page.index("<h2>DEP-2") : page.index("<h2>DEP-0")]
    assert "rollout failed at watch_alpha</p>" in dep2


def test_a_blocked_deployment_shows_the_approvals_it_withdrew_and_asks_nobody(
    governance, governance_store
):
    """Issue 13 item 10: approvals still waiting when a deployment stopped are withdrawn,
    visible as such, and no longer in anyone's actions."""
    with store.session_scope(governance_store) as session:
        session.add(
            Deployment(
                ref="DEP-3",
                dag_run_id="manual__dep3",
                model_id="credit_approval",
                model_version="2.1.0",
                deployment_type="update",
                environment="production",
                requested_by="eve",
                status="blocked",
                created_at=NOW - DAY,
                details={
                    "risk_tier": "high",
                    "approvals_requested_at": (NOW - timedelta(hours=3)).isoformat(),
                    "stopped": {"reason": "the Compliance Officer approval task failed"},
                    "requests": {
                        "approvals": [
                            _request("approval:compliance_officer", "compliance_officer", ["carol"])
                        ]
                    },
                },
            )
        )

    page = client_as(governance, "audrey").get("/deployments").text
    dep3 = page[page.index("<h2>DEP-3") : page.index("<h2>DEP-1")]
    assert "withdrawn when it stopped (no longer asked):" in dep3
    assert "compliance_officer: approve the deployment" in dep3 and "was assigned to carol" in dep3
    assert "waiting for" not in dep3
    rows = client_as(governance, "audrey").get("/api/deployments?model=credit_approval").json()
    withdrawn = {d["ref"]: [r["role"] for r in d["withdrawn_requests"]] for d in rows["data"]}
    assert withdrawn == {"DEP-3": ["compliance_officer"], "DEP-1": [], "DEP-2": [], "DEP-0": []}
    carol = client_as(governance, "carol").get("/api/actions").json()["data"]
    assert "DEP-3" not in {a["ref"] for a in carol}


def test_my_actions_lists_what_waits_for_each_person_with_links_to_the_required_action(
    governance,
):
    carol = client_as(governance, "carol").get("/api/actions").json()["data"]
    assert [(a["kind"], a["ref"], a["dag_id"], a["dag_run_id"]) for a in carol] == [
        # INC-1 (CRITICAL fairness: the compliance officer acknowledges), due by the
        # 15-minute acknowledgement SLA (its P1 response time is the timeline's "respond by").
        ("incident_acknowledgement", "INC-1", None, None),
        ("deployment_request", "DEP-1", "govflow_model_deployment", RUN),
        ("risk_acceptance_review", "RA-1", "govflow_risk_acceptance", "manual__ra"),
    ]
    assert carol[0]["due"] == "2025-03-30T10:15:00+00:00"
    page = client_as(governance, "carol").get("/actions").text
    assert 'href="/dags/govflow_risk_acceptance/runs/manual__ra/required_actions"' in page
    # The requester never reviews her own acceptance; rick's approval is in; victor has none.
    assert client_as(governance, "lena").get("/api/actions").json()["data"] == []
    assert client_as(governance, "rick").get("/api/actions").json()["data"] == []
    # The alpha stage of DEP-2 waits for the model's owner or a deployment manager (GATE-6).
    dave = client_as(governance, "dave").get("/api/actions").json()["data"]
    assert [(a["kind"], a["ref"], a["dag_id"], a["dag_run_id"]) for a in dave] == [
        ("rollout_stage_decision", "DEP-2", "govflow_rollout", None)
    ]
    assert 'href="/required_actions"' in client_as(governance, "olivia").get("/actions").text
    assert "Nothing is waiting for you." in client_as(governance, "victor").get("/actions").text


def test_a_reopened_incident_waits_for_the_on_call_of_its_reopening_due_from_then(sqlite_url):
    """A reopening is a new episode (the sweeper's SLA and the reopening's notice count from
    it): the on-call of that week acknowledges it, within the acknowledgement SLA from the
    reopening."""
    reopened = REOPENED  # mike's on-call week; opened in eve's
    store.upgrade(sqlite_url)
    config = load_config(config_dir())
    with store.session_scope(sqlite_url) as session:
        reopened_incident(session, config)

    with store.session_scope(sqlite_url) as session:
        mike = my_actions(session, config, "mike", now=reopened)

    assert [(a.kind, a.ref, a.due) for a in mike] == [
        ("incident_acknowledgement", "INC-2025-0001", reopened + timedelta(minutes=15))
    ]


def test_the_timeline_counts_a_reopened_incidents_response_time_from_its_reopening(sqlite_url):
    """The Incident Timeline's "respond by" counted from the first opening while My actions
    and the acknowledgement clock beside it count from the reopening: a reopened P-class
    incident read as long overdue on one page and due tomorrow on the other."""
    reopened = REOPENED  # mike's on-call week; opened in eve's
    store.upgrade(sqlite_url)
    config = load_config(config_dir())
    with store.session_scope(sqlite_url) as session:
        reopened_incident(session, config)

    with store.session_scope(sqlite_url) as session:
        (row,) = incident_timeline(session, config, now=reopened)
        (action,) = my_actions(session, config, "mike", now=reopened)

    assert (row.ack_due, row.response_due, action.due) == (
        reopened + timedelta(minutes=15),
        reopened + timedelta(hours=24),
        reopened + timedelta(minutes=15),
    )


def test_the_audit_page_shows_the_chain_intact_and_a_bounded_filtered_query(governance):
    client_as(governance, "eve").get("/drift")
    client = client_as(governance, "audrey")  # the app's user, from here on
    client.get("/drift")
    page = client.get("/audit?action=dashboard.*&actor=audrey").text
    assert 'Hash chain <span class="sev INFO">INFO</span> intact' in page
    data = client.get("/api/audit?action=dashboard.*&actor=audrey&page_size=1").json()["data"]
    assert data["chain"]["intact"] is True
    assert [(e["actor"], e["action"], e["target"]) for e in data["events"]] == [
        ("audrey", "dashboard.view", "audit/all")  # newest first: the page view just before
    ]
    by_model = client.get("/api/audit?model=marketing_propensity").json()["data"]["events"]
    assert by_model == []
    statuses = [
        client.get(f"/audit?{query}").status_code
        for query in ("page_size=201", "page_size=0", "since=yesterday", "action=" + "a" * 65)
    ]
    assert statuses == [422, 422, 422, 422]


CHECKPOINT_WALK = "signed checkpoint and the events after it"


def test_the_first_audit_view_checks_the_signed_checkpoint_not_the_whole_chain_and_says_so(
    governance, governance_store
):
    client = client_as(governance, "admin")
    with store.session_scope(governance_store) as session:
        session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1"))
    first = client.get("/api/audit").json()["data"]["chain"]  # the server's first view
    assert (first["walk"], first["events_walked"], first["intact"]) == (CHECKPOINT_WALK, 0, True)
    assert (first["checkpoint_events"], first["whole_walked_at"]) == (1, None)
    page = client.get("/audit").text
    assert "only the walk of the whole chain finds one edited behind it" in page
    assert "The whole chain has not been walked by this server yet" in page
    whole = client.get("/api/audit?verify=whole").json()["data"]["chain"]
    assert (whole["walk"], whole["intact"]) == ("whole chain", False)
    assert "seq=1" in whole["problem"] and "edited" in whole["problem"]
    # The break the whole walk found stays on the page's quick check.
    after = client.get("/api/audit").json()["data"]["chain"]
    assert (after["walk"], after["intact"], after["whole_walk_intact"]) == (
        CHECKPOINT_WALK,
        False,
        False,
    )
    assert after["problem"].startswith("the whole-chain walk of ") and "seq=1" in after["problem"]
    assert (
        "was last walked by this server 2025-03-30 12:00 UTC: BROKEN" in client.get("/audit").text
    )


def test_the_audit_view_walks_every_event_after_the_signed_checkpoint(governance, governance_store):
    client = client_as(governance, "admin")
    for _ in range(3):
        client.get("/drift")  # events 2-4, each batch checkpointed
    checkpoints = settings.audit_checkpoints(governance_store)
    oldest = checkpoints.read_text().splitlines(keepends=True)[0]
    checkpoints.write_text(oldest)  # as if the newest checkpoints were not written yet
    assert json.loads(oldest)["events"] == 1
    with store.session_scope(governance_store) as session:
        session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"))
    chain = client.get("/api/audit").json()["data"]["chain"]
    assert (chain["walk"], chain["checkpoint_events"], chain["events_walked"]) == (
        CHECKPOINT_WALK,
        1,
        2,  # events 2 and 3 fit; 4 does not
    )
    assert chain["intact"] is False and "seq=4" in chain["problem"]


def test_a_report_opens_by_its_recorded_path_under_its_page_permission_and_is_audited(
    governance, governance_store
):
    audrey = client_as(governance, "audrey")
    readiness = audrey.get("/reports/reports/deployments/DEP-1/readiness.html")
    assert (readiness.status_code, readiness.text) == (200, "<h1>Readiness DEP-1</h1>")
    assert readiness.headers["content-security-policy"] == "sandbox allow-scripts"
    markdown = audrey.get("/reports/reports/deployments/DEP-1/readiness.md")
    assert markdown.headers["content-type"] == "text/plain; charset=utf-8"
    victor = client_as(governance, "victor")
    assert victor.get("/reports/reports/credit_approval/day30.html").status_code == 200
    refused = victor.get("/reports/reports/deployments/DEP-1/readiness.html")
    assert (refused.status_code, "missing permission deployments" in refused.json()["detail"]) == (
        403,
        True,
    )
    assert (
        client_as(governance, "carol").get("/reports/reports/compliance/2025-Q1.md").status_code
        == 200
    )
    eve = client_as(governance, "eve").get("/reports/reports/compliance/2025-Q1.md")
    assert "missing permission governance_reports" in eve.json()["detail"]
    with store.session_scope(governance_store) as session:
        seen = [
            (e.actor, e.action, e.target)
            for e in query_events(session, action="dashboard.*", target="report/*")
        ]
    assert seen == [
        ("audrey", "dashboard.view", "report/reports/deployments/DEP-1/readiness.html"),
        ("audrey", "dashboard.view", "report/reports/deployments/DEP-1/readiness.md"),
        ("victor", "dashboard.view", "report/reports/credit_approval/day30.html"),
        ("victor", "dashboard.refused", "report/reports/deployments/DEP-1/readiness.html"),
        ("carol", "dashboard.view", "report/reports/compliance/2025-Q1.md"),
        ("eve", "dashboard.refused", "report/reports/compliance/2025-Q1.md"),
    ]


def drawn_drift_report(
    marked: bool = True, *, components: tuple[tuple[str, str, str, float], ...] | None = None
) -> str:
    """govflow's page of a record with a data-drift, a fairness and a model-drift finding
    above INFO, each family in its composite; ``components``: its parts as (family, metric,
    subject, value), by default named by check type with the findings' values."""
    record = MonitoringRun(
        model_id="credit_approval",
        run_key="credit_approval/30",
        checks=["data_drift", "fairness_drift", "model_drift"],
        interval_start=datetime(2025, 3, 29, tzinfo=UTC),
        interval_end=datetime(2025, 3, 30, tzinfo=UTC),
        severity="CRITICAL",
        composite_score=0.42,
        composite_breakdown={
            "components": {
                family: {
                    "family": family,
                    "contributing_metric": metric,
                    "contributing_subject": subject,
                    "contributing_value": v,
                }
                for family, metric, subject, v in components
                or (
                    ("data_drift", "psi", "", 0.12),
                    ("fairness_drift", "disparate_impact_ratio", "", 0.7531),
                    ("model_drift", "accuracy_drop", "", 0.0917),
                )
            }
        },
    )
    rows = [
        MetricResult(
            check_type=check,
            metric=metric,
            subject=subject,
            value=value,
            status="computed",
            severity=severity,
            threshold={},
            details=details,
        )
        for check, metric, subject, value, severity, details in (
            ("data_drift", "psi", "income", 0.1234, "WARNING", {}),
            (
                "fairness_drift",
                "disparate_impact_ratio",
                "gender",
                0.7531,
                "CRITICAL",
                {"group_sizes": {"female": 480, "male": 510}},
            ),
            ("model_drift", "accuracy_drop", "", 0.0917, "WARNING", {}),
        )
    ]
    model = load_config(config_dir()).models.get("credit_approval")
    page = verdicts_page(record, rows, model)
    return page if marked else page.replace(f' {PERMISSION_ATTRIBUTE}="', ' class="')


FAIRNESS_FIGURES = ("0.7531", "female 480", "govflow-fairness")
HEALTH_FIGURES = ("accuracy_drop", "0.0917")


@pytest.mark.parametrize(
    ("user", "shown", "left_out"),
    [
        ("audrey", FAIRNESS_FIGURES + HEALTH_FIGURES, ()),  # auditor: every page
        ("carol", FAIRNESS_FIGURES, HEALTH_FIGURES),  # compliance officer: no Model Health
        ("victor", (), FAIRNESS_FIGURES + HEALTH_FIGURES),  # viewer: Drift Overview alone
    ],
)
def test_a_drift_report_is_served_without_the_figures_of_pages_its_reader_may_not_open(
    governance, governance_store, tmp_path, user, shown, left_out
):
    """Seed 004 section 6: a drift report opens under the Drift Overview's permission, but
    govflow's header carries the Fairness Monitor's and Model Health's figures too."""
    drawn = drawn_drift_report()
    (tmp_path / "reports" / "credit_approval" / "day30.html").write_text(drawn)

    served = client_as(governance, user).get("/reports/reports/credit_approval/day30.html")

    assert served.status_code == 200
    assert [figure for figure in shown + left_out if figure in served.text] == list(shown)
    assert all(figure in served.text for figure in ("psi", "income", "0.1234"))  # data drift
    # Whoever may see every figure is served the bytes drawn.
    assert (served.text == drawn) is (not left_out)
    assert ('id="govflow-left-out"' in served.text) is bool(left_out)
    with store.session_scope(governance_store) as session:
        (view,) = query_events(session, action="dashboard.view", target="report/*")
    withheld = {"carol": ["model_health"], "victor": ["fairness_monitor", "model_health"]}
    assert view.payload.get("withheld") == withheld.get(user)


# The composite's parts as the analysis records them: by family, not by check type.
FAMILY_PARTS = (
    ("data", "wasserstein_distance_normalised", "credit_score", 0.3576),
    ("fairness", "disparate_impact_ratio", "gender", 0.6697),
    ("model", "accuracy_drop", "", 0.0226),
)
FAIRNESS_PART = ("<td>fairness</td>", "0.6697", "<td>gender</td>", "disparate_impact_ratio")
HEALTH_PART = ("<td>model</td>", "0.0226", "accuracy_drop")


@pytest.mark.parametrize("parts_marked", [True, False])
@pytest.mark.parametrize(
    ("user", "shown", "left_out"),
    [
        ("audrey", FAIRNESS_PART + HEALTH_PART, ()),
        ("carol", FAIRNESS_PART, HEALTH_PART),
        ("victor", (), FAIRNESS_PART + HEALTH_PART),
    ],
)
def test_a_drift_reports_composite_names_no_family_metric_or_value_its_reader_may_not_open(
    governance, tmp_path, user, shown, left_out, parts_marked
):
    """The composite's score stays for everyone, its parts only for whoever may open the
    page of their family; a report drawn before those parts were marked (its findings were)
    is served alike."""
    drawn = drawn_drift_report(components=FAMILY_PARTS)
    if not parts_marked:
        drawn = re.sub(r"<tr [^>]*>(<td>(?:fairness|model)</td>)", r"<tr>\1", drawn)
    (tmp_path / "reports" / "credit_approval" / "day30.html").write_text(drawn)

    served = client_as(governance, user).get("/reports/reports/credit_approval/day30.html")

    assert served.status_code == 200
    assert [figure for figure in shown + left_out if figure in served.text] == list(shown)
    assert all(f in served.text for f in ("composite score 0.42", "credit_score", "0.3576"))


def test_a_drift_report_drawn_before_its_figures_were_marked_keeps_only_data_drift_for_a_viewer(
    governance, tmp_path
):
    (tmp_path / "reports" / "credit_approval" / "day30.html").write_text(
        drawn_drift_report(marked=False)
    )

    served = client_as(governance, "victor").get("/reports/reports/credit_approval/day30.html")

    assert served.status_code == 200
    assert [f for f in FAIRNESS_FIGURES + HEALTH_FIGURES + ("0.1234",) if f in served.text] == []
    assert 'id="govflow-columns"' in served.text and 'id="govflow-left-out"' in served.text


REFUSED_REPORT_PATHS = [
    ("reports/%2e%2e/govflow.db", 400),
    ("reports/credit_approval/%2e%2e/%2e%2e/govflow.db", 400),
    ("%2Fetc%2Fpasswd", 400),
    ("govflow.db", 400),
    ("reports/credit_approval/day30.html%00.md", 400),
    ("reports/credit_approval/unrecorded.html", 404),  # on disk, but no record names it
    ("reports/deployments/DEP-9/readiness.html", 404),
]


def test_a_report_path_outside_reports_or_not_recorded_is_refused_and_audited(
    governance, governance_store
):
    client = client_as(governance, "admin")
    statuses = [
        (path, client.get("/reports/" + path).status_code) for path, _ in REFUSED_REPORT_PATHS
    ]
    assert statuses == REFUSED_REPORT_PATHS
    with store.session_scope(governance_store) as session:
        refused = query_events(session, action="dashboard.refused")
        assert [e.actor for e in refused] == ["admin"] * len(REFUSED_REPORT_PATHS)


def test_a_symlinked_report_leading_out_of_the_data_directory_is_not_served(
    governance, governance_store, tmp_path
):
    target = tmp_path / "reports" / "credit_approval" / "day30.html"
    target.unlink()
    target.symlink_to(tmp_path / "govflow.db")
    assert (
        client_as(governance, "admin")
        .get("/reports/reports/credit_approval/day30.html")
        .status_code
        == 404
    )


def test_model_health_shows_the_gateway_counters_of_the_last_24_hours(governance):
    health = client_as(governance, "eve").get("/api/health").json()["data"]
    serving = {row["model_id"]: row["serving"] for row in health}
    assert serving["credit_approval"] == {
        "requests": 1000,
        "errors": 9,
        "invalid": 1,
        "clipped": 2,
        "fallbacks": 5,
        "overrides": 2,
        "complaints": 1,
        "error_rate": 0.01,
        "latency": None,
    }
    assert serving["marketing_propensity"] is None
    page = client_as(governance, "eve").get("/health").text
    assert "<td>credit_approval</td><td>1000</td><td>0.0100</td><td>9</td>" in page
    # Counted by gateways that timed no call: no latency is shown, none is made up.
    assert "<td>2</td><td>1</td><td>not recorded</td><td>not recorded</td></tr>" in page


def latency_counts(model_id: str, minute: datetime, buckets: list[int], us: int) -> GatewayCounts:
    return GatewayCounts(
        "gw-3",
        model_id,
        "1.0.0",
        minute,
        requests=sum(buckets),
        latency_us_sum=us,
        latency_buckets=tuple(buckets),
    )


def test_model_health_shows_latency_percentiles_as_the_upper_bounds_of_their_buckets(
    governance, governance_store
):
    with store.session_scope(governance_store) as session:
        record_serving_stats(
            session,
            [
                # 60 calls of at most 5 ms, 30 in (10, 25], 8 in (50, 100], 2 over 2500 ms:
                # the 50th fastest is in (0, 5], the 95th in (50, 100].
                latency_counts(
                    "product_recommendation",
                    NOW - timedelta(hours=1),
                    [60, 0, 30, 0, 8, 0, 0, 0, 0, 2],
                    7_420_000,
                ),
                latency_counts(
                    "marketing_propensity", NOW - timedelta(hours=1), [0] * 9 + [3], 9_000_000
                ),
            ],
        )
    health = client_as(governance, "eve").get("/api/health").json()["data"]
    serving = {row["model_id"]: row["serving"] for row in health}
    assert serving["customer_lifetime_value"] is None  # nothing served, no feedback
    latency = {model: counters["latency"] for model, counters in serving.items() if counters}
    assert latency == {
        "credit_approval": None,
        "marketing_propensity": {
            "calls": 3,
            "mean_ms": 3000.0,
            "p50_ms": [2500, None],
            "p95_ms": [2500, None],
        },
        "product_recommendation": {
            "calls": 100,
            "mean_ms": 74.2,
            "p50_ms": [0, 5],
            "p95_ms": [50, 100],
        },
    }
    page = client_as(governance, "eve").get("/health").text
    assert "<td>&le; 5 ms</td><td>&le; 100 ms</td></tr>" in page
    assert "<td>&gt; 2500 ms</td><td>&gt; 2500 ms</td></tr>" in page
    assert "a percentile is shown as the upper bound of its bucket" in page


def test_model_health_sums_the_window_s_whole_hours_and_the_minutes_before_them(
    governance_store,
):
    # The window starts at 12:30 yesterday: 12:30-12:59 are read from the minutes, the
    # hours from 13:00 on from their sums, 12:29 from neither.
    now = NOW + timedelta(minutes=30)
    minutes = {
        -24 * 60 - 1: [1000] + [0] * 9,
        -24 * 60: [1] + [0] * 9,
        -23 * 60 - 31: [0, 0, 2] + [0] * 7,
        -23 * 60 - 30: [0] * 4 + [4] + [0] * 5,
        0: [8] + [0] * 9,
    }
    with store.session_scope(governance_store) as session:
        for offset, buckets in minutes.items():
            minute = now + timedelta(minutes=offset)
            # Reported twice, as a gateway does within a minute: the second replaces the first.
            for share in (0, 1):
                counts = [count * share for count in buckets]
                record_serving_stats(
                    session,
                    [latency_counts("product_recommendation", minute, counts, 1000 * share)],
                )
        counted = serving_counters(session, ["product_recommendation"], now=now)
    summary = counted["product_recommendation"]
    assert summary.requests == 1 + 2 + 4 + 8
    # 15 calls, 1 ms a minute: the 8th fastest is in (0, 5], the 15th in (50, 100].
    assert summary.latency == LatencySummary(15, 4000 / 15 / 1000, (0, 5), (50, 100))


def test_the_reports_page_lists_the_governance_reports_with_links_that_open_them(governance):
    carol = client_as(governance, "carol")
    listed = carol.get("/api/reports").json()["data"]
    assert [(r["kind"], r["path"], r["written_by"]) for r in listed] == [
        ("compliance", "reports/compliance/2025-Q1.md", "carol")
    ]
    page = carol.get("/reports").text
    assert '<a href="/reports/reports/compliance/2025-Q1.md" target="_blank">2025-Q1.md</a>' in page
    assert carol.get("/reports/reports/compliance/2025-Q1.md").text == "# Compliance 2025-Q1\n"


def test_the_audit_page_names_newest_events_deleted_behind_the_signed_checkpoint(
    governance, governance_store
):
    client = client_as(governance, "admin")
    client.get("/drift")
    assert client.get("/api/audit").json()["data"]["chain"]["intact"] is True
    with store.session_scope(governance_store) as session:
        session.execute(
            text("DELETE FROM audit_events WHERE seq >= (SELECT max(seq) - 1 FROM audit_events)")
        )
    chain = client.get("/api/audit?verify=whole").json()["data"]["chain"]
    assert chain["intact"] is False
    assert "covered by the checkpoint" in chain["problem"] and "missing" in chain["problem"]


def test_a_generated_pdf_report_opens_where_its_slack_summary_links(
    governance, governance_store, tmp_path
):
    from govflow.alerts.messages import Links, report_slack_message
    from govflow.reports import keep_renderings

    pdf = b"%PDF-1.4\n% executive summary of 2025-03\n%%EOF\n"
    with store.session_scope(governance_store) as session:
        kept = keep_renderings(
            session,
            "executive",
            "2025-03",
            {"md": "# Executive summary 2025-03\n", "pdf": pdf},
            data_dir=tmp_path,
            actor="carol",
        )
    name = kept.name("pdf")
    message = report_slack_message("Executive summary 2025-03", "1 CRITICAL model", name, Links())
    base = Links().airflow_base_url.rstrip("/") + "/govflow"
    link = f"{base}/reports/{name}"
    assert link in message["text"]
    opened = client_as(governance, "carol").get(link.removeprefix(base))
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "application/pdf"
    assert opened.content == pdf
    assert client_as(governance, "eve").get(link.removeprefix(base)).status_code == 403


# --- Malformed requests: a 4xx naming the problem in one line, never a 500 ----------------

JSON_BODY = {"content-type": "application/json"}


def test_a_refused_value_is_named_on_one_line_never_echoed_and_never_a_500(dashboard):
    app, _, triggered = dashboard
    client = client_as(app, "eve")
    refused = [
        client.get("/fairness?days=367"),
        client.get("/api/fairness?model=" + "x" * 5000),
        # Python's JSON reader takes NaN: FastAPI's own 422 then failed to write it (a 500).
        client.post("/api/v1/monitoring/analyze-now", content=b'{"model": NaN}', headers=JSON_BODY),
        client.post("/api/v1/monitoring/analyze-now", content=b'{"model": ', headers=JSON_BODY),
        client.post("/api/v1/monitoring/analyze-now", content=b"[]", headers=JSON_BODY),
        client.post("/analyze", data={"window_start": "2025-03-20"}),
    ]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (422, "query parameter days: Input should be less than or equal to 366"),
        (422, "query parameter model: String should have at most 128 characters"),
        (422, "field model: Input should be a valid string"),
        (422, NOT_JSON),
        (
            422,
            "the request body: Input should be a valid dictionary or object to extract fields from",
        ),
        (422, "field model: Field required"),
    ]
    assert triggered == []


@pytest.fixture
def bare_dashboard(store_url, tmp_path, monkeypatch) -> FastAPI:
    """The dashboard over an empty store, on SQLite and on Postgres; its drawer of drift
    reports reads the record as the plugin's does."""
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config_dir()))
    store.ensure_schema(store_url)

    def draw_report(record: int, db_url: str | None) -> str:
        with store.session_scope(db_url) as session:
            if session.get(MonitoringRun, record) is None:
                raise ValueError(f"no record {record}")
        return "reports/credit_approval/drawn.html"

    return dashboard_on(
        store_url,
        draw_report=draw_report,
        data_dir=lambda: tmp_path,
    )


def test_a_row_number_in_a_link_is_bounded_by_what_both_stores_can_compare(bare_dashboard):
    client = client_as(bare_dashboard, "admin")
    assert client.get(f"/api/audit?before={MAX_ROW_NUMBER}").status_code == 200
    assert client.post(f"/drift-report/{MAX_ROW_NUMBER}").status_code == 409
    refused = [
        client.get(f"/api/audit?before={MAX_ROW_NUMBER + 1}"),
        client.post(f"/drift-report/{MAX_ROW_NUMBER + 1}"),
    ]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (422, f"query parameter before: Input should be less than or equal to {MAX_ROW_NUMBER}"),
        (422, f"path parameter record: Input should be less than or equal to {MAX_ROW_NUMBER}"),
    ]


def test_a_control_character_in_an_audit_filter_or_a_run_id_is_refused_before_any_query(
    bare_dashboard,
):
    client = client_as(bare_dashboard, "admin")
    refused = [
        client.get(url)
        for url in (
            "/api/audit?actor=admin%00",
            "/audit?action=dashboard.%0Aview",
            "/api/audit?model=credit%7Fapproval",
            "/api/analysis/manual__1%00",
            "/analysis/manual__1%1B",
        )
    ]
    problem = "Value error, " + CONTROL_CHARACTER
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (422, f"query parameter actor: {problem}"),
        (422, f"query parameter action: {problem}"),
        (422, f"query parameter model: {problem}"),
        (422, f"path parameter run_id: {problem}"),
        (422, f"path parameter run_id: {problem}"),
    ]
    assert client.get("/api/audit?actor=admin&action=dashboard.*").status_code == 200


def test_the_audit_form_sent_with_its_dates_and_rows_blank_queries_without_them(governance):
    client = client_as(governance, "audrey")
    sent = client.get("/audit?action=dashboard.*&actor=&model=&since=&until=&page_size=")
    assert sent.status_code == 200
    assert 'name="since" value=""' in sent.text and 'name="until" value=""' in sent.text
    assert f'name="page_size" min="1" max="200" value="{DEFAULT_PAGE_SIZE}"' in sent.text


def test_an_audit_period_ending_before_it_starts_is_refused_not_shown_empty(governance):
    client = client_as(governance, "audrey")
    refused = [client.get(f"/api/audit?since=2025-03-30&until=2025-03-{day}") for day in (29, 30)]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (400, EMPTY_PERIOD.format(since="2025-03-30", until=f"2025-03-{day}")) for day in (29, 30)
    ]
    assert client.get("/api/audit?since=2025-03-30&until=2025-03-31").status_code == 200


def test_a_misspelt_repeated_or_unknown_parameter_is_refused_never_dropped(dashboard):
    """FastAPI alone ignores a name a route does not read and keeps the last of repeated
    values: each of these showed, or started, something other than what was asked."""
    app, _, triggered = dashboard
    client = client_as(app, "eve")
    refused = [
        client.get("/api/incidents?model_id=credit_approval"),
        client.get("/fairness?model=credit_approval&model=marketing_propensity"),
        client.get("/api/drift?model=credit_approval"),
        client.post("/analyze", data={"model": ["marketing_propensity", "credit_approval"]}),
        client.post("/analyze", data={"model": "credit_approval", "window_from": "2025-03-20"}),
        client.post(
            "/api/v1/monitoring/analyze-now",
            json={"model": "credit_approval", "start": "2025-03-20", "end": "2025-03-27"},
        ),
    ]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (400, UNKNOWN_PARAMETER.format(name="model_id", path="/api/incidents", known="model")),
        (400, REPEATED.format(place="query parameter", name="model", count=2)),
        (400, UNKNOWN_PARAMETER.format(name="model", path="/api/drift", known="none")),
        (400, REPEATED.format(place="form field", name="model", count=2)),
        (
            400,
            UNKNOWN_FIELD.format(
                name="window_from", path="/analyze", known="model, window_end, window_start"
            ),
        ),
        (
            422,
            "field start: Extra inputs are not permitted; "
            "field end: Extra inputs are not permitted",
        ),
    ]
    assert triggered == []
    page_size = client_as(app, "audrey").get("/api/audit?page_size=1&page_size=2")
    assert page_size.json()["detail"] == REPEATED.format(
        place="query parameter", name="page_size", count=2
    )


def test_the_progress_of_a_run_neither_airflow_nor_the_store_knows_is_a_404(dashboard_store):
    """Not a page calling a mistyped run id "finished" with no record: a run Airflow forgot
    (its metadata cleaned) still shows what it recorded."""
    app = dashboard_on(
        dashboard_store,
        run_state=lambda dag_id, run_id: "running" if run_id == "manual__9" else None,
    )
    with store.session_scope(dashboard_store) as session:
        record = session.get(MonitoringRun, _run(session, "credit_approval", 31, ["data_drift"], 0))
        record.dag_id, record.dag_run_id = "govflow_monitoring_on_demand", "manual__old"
    client = client_as(app, "victor")
    unknown = [client.get(path) for path in ("/analysis/manual__8", "/api/analysis/manual__8")]
    assert [(r.status_code, r.json()["detail"]) for r in unknown] == [
        (404, UNKNOWN_RUN.format(run_id="manual__8", dag_id="govflow_monitoring_on_demand"))
    ] * 2
    assert client.get("/analysis/manual__9").status_code == 200
    forgotten = client.get("/api/analysis/manual__old").json()["data"]
    assert [r["model_id"] for r in forgotten["records"]] == ["credit_approval"]


def test_a_body_larger_than_any_form_of_the_dashboard_is_refused_unread(dashboard):
    app, _, triggered = dashboard
    client = client_as(app, "eve")
    padded = b'{"model": "credit_approval", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    refused = [
        client.post("/api/v1/monitoring/analyze-now", content=padded, headers=JSON_BODY),
        client.post("/analyze", data={"model": "credit_approval", "pad": "x" * MAX_BODY_BYTES}),
    ]
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (413, BODY_TOO_LARGE.format(limit=MAX_BODY_BYTES))
    ] * 2
    assert triggered == []


@pytest.mark.parametrize(
    ("window_start", "window_end"),
    [("20250320", "20250327"), ("2025-W12", "2025-W13")],
)
def test_an_analysis_window_is_given_as_two_yyyy_mm_dd_dates_only(
    dashboard, window_start, window_end
):
    app, _, triggered = dashboard
    chosen = {"model": "credit_approval", "window_start": window_start, "window_end": window_end}
    response = client_as(app, "eve").post("/api/v1/monitoring/analyze-now", json=chosen)
    assert (response.status_code, response.json()["detail"], triggered) == (400, BAD_WINDOW, [])


def test_an_analysis_window_naming_a_day_the_calendar_lacks_says_which(dashboard):
    app, _, triggered = dashboard
    chosen = {"model": "credit_approval", "window_start": "2025-02-27", "window_end": "2025-02-30"}
    response = client_as(app, "eve").post("/api/v1/monitoring/analyze-now", json=chosen)
    assert (response.status_code, response.json()["detail"], triggered) == (
        400,
        f"window_end 2025-02-30 is not a day of the calendar: {BAD_WINDOW}",
        [],
    )


def test_a_report_path_longer_than_the_audit_target_is_refused_and_audited_cut(
    bare_dashboard, store_url
):
    """Up to reports.MAX_PATH characters pass to the lookup; the audit event names the path
    as far as the target column holds it (Postgres refused a longer one: a 500)."""
    path = "reports/" + "a" * 200 + "/" + "b" * 200 + "/" + "c" * 95 + ".html"
    response = client_as(bare_dashboard, "admin").get(f"/reports/{path}")
    assert (response.status_code, response.json()["detail"]) == (
        404,
        NOT_RECORDED.format(path=path),
    )
    column = AuditEvent.__table__.c.target.type.length
    with store.session_scope(store_url) as session:
        (refused,) = query_events(session, action="dashboard.refused")
    assert refused.target == f"report/{path}"[: column - 1] + "…"


def test_a_control_character_never_reaches_the_audit_trail_of_a_refusal(bare_dashboard, store_url):
    """Refusals are audited with the model or path asked for, and Postgres refused an event
    holding a NUL (a 500): a model is refused first, a report path is audited escaped."""
    victor = client_as(bare_dashboard, "victor")  # refused all but Drift Overview
    refused = [
        victor.get("/fairness?model=credit_approval%00"),
        victor.post("/analyze", data={"model": "credit_approval\x00"}),
        victor.post("/api/v1/monitoring/analyze-now", json={"model": "credit_approval\x00"}),
    ]
    problem = "Value error, " + CONTROL_CHARACTER
    assert [(r.status_code, r.json()["detail"]) for r in refused] == [
        (422, f"query parameter model: {problem}"),
        (422, f"field model: {problem}"),
        (422, f"field model: {problem}"),
    ]
    path = "reports/credit_approval/day30.html\x00.md"
    report = victor.get("/reports/reports/credit_approval/day30.html%00.md")
    assert (report.status_code, report.json()["detail"]) == (400, UNSAFE_PATH.format(path=path))
    with store.session_scope(store_url) as session:
        (audited,) = query_events(session, action="dashboard.refused")
    assert audited.target == "report/reports/credit_approval/day30.html\\x00.md"


class _CountingLock:
    """A lock that counts the threads that asked for it (holding or waiting)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.asked = 0

    def __enter__(self) -> None:
        with self._count:
            self.asked += 1
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def test_audit_views_waiting_for_a_whole_walk_share_the_walk_begun_after_they_asked(
    governance_store, monkeypatch
):
    """Each walk of the whole chain holds a worker thread of the api-server for about 1 s per
    20,000 events: views arriving during one wait for the next and share it."""
    walks: list[int] = []
    release = threading.Event()
    real_walk = trail.verify_chain

    def slow_walk(session, **kwargs):
        walks.append(len(walks) + 1)
        if len(walks) == 1:
            assert release.wait(30)
        return real_walk(session, **kwargs)

    monkeypatch.setattr(trail, "verify_chain", slow_walk)
    watch = trail.ChainWatch()
    lock = _CountingLock()
    monkeypatch.setattr(watch, "_lock", lock)
    checkpoints = settings.audit_checkpoints(governance_store)

    def view() -> trail.ChainStatus:
        with store.session_scope(governance_store) as session:
            return watch.status(session, checkpoints, now=NOW, whole=True)

    with ThreadPoolExecutor(4) as pool:
        views = [pool.submit(view)]
        while not walks:
            time.sleep(0.01)
        views += [pool.submit(view) for _ in range(3)]
        while lock.asked < 4:
            time.sleep(0.01)
        release.set()
        shown = [v.result(timeout=30) for v in views]
    assert walks == [1, 2]
    assert [(s.walk, s.intact, s.events) for s in shown] == [("whole chain", True, 1)] * 4


def test_the_whole_walk_on_the_audit_page_finds_newest_events_deleted_then_written_over(
    governance, governance_store
):
    """As govflow audit verify does: the next write after a deletion signs a checkpoint of
    the cut chain, which the latest checkpoint alone passes; the one before it does not."""
    client = client_as(governance, "admin")
    client.get("/drift")
    client.get("/api/audit")  # one more committed write: one more checkpoint
    with store.session_scope(governance_store) as session:
        session.execute(
            text("DELETE FROM audit_events WHERE seq >= (SELECT max(seq) - 1 FROM audit_events)")
        )
    with store.session_scope(governance_store) as session:
        for n in range(3):
            record_event(session, actor="eve", action="report.executive_generated", target=f"r{n}")

    quick = client.get("/api/audit").json()["data"]["chain"]
    whole = client.get("/api/audit?verify=whole").json()["data"]["chain"]

    assert (quick["walk"], quick["intact"]) == (CHECKPOINT_WALK, True)
    assert (whole["walk"], whole["intact"]) == ("whole chain", False)
    assert "the checkpoint" in whole["problem"], whole["problem"]
