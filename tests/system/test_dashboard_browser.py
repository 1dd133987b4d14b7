"""The governance dashboard in a real browser, inside the Airflow it is mounted in (issue 16
item 7).

Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser is
downloaded) logs into the Airflow UI of the session's shared stack (SimpleAuthManager's
login page) as each role of seed 004 section 6 and opens the dashboard at /govflow/: the
navigation shows exactly that role's pages, "Analyze Now" only to those who may trigger it,
and every other page answers 403. Eve (ML engineer) presses Analyze Now on the demo's
fairness-drift day and the run records the analysis, started as her; Victor (viewer) is
refused the same request, and the refusal is audited. Carol (compliance officer) then finds
the CRITICAL point of the gender disparate impact on the Fairness Monitor. Screenshots are
kept under the test's tmp_path and copied to test-artifacts/ in the repository.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow import store
from govflow.audit import query_events
from govflow.demo import DemoManifest
from govflow.store.schema import MetricResult, MonitoringRun
from tests.support.airflow_stack import password_of
from tests.support.browser import CHROMIUM, MISSING, VIEWPORT, launch_chromium, log_in
from tests.support.demo_store import private_demo_copy

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
ON_DEMAND = "govflow_monitoring_on_demand"
MODEL = "credit_approval"
ANALYSIS_TIMEOUT_S = 300
PAGES = {
    "Drift Overview": "/drift",
    "Fairness Monitor": "/fairness",
    "Model Health": "/health",
    "Incident Timeline": "/incidents",
    "Deployments": "/deployments",
    "Audit": "/audit",
    "Reports": "/reports",
    "My actions": "/actions",
}
# Seed 004 section 6 as policy.yaml copies it (and the pages govflow adds to its columns):
# (person, the pages their navigation lists, whether they may press Analyze Now).
ACCESS_TABLE = [
    ("admin", list(PAGES), True),
    (
        "eve",
        [
            "Drift Overview",
            "Fairness Monitor",
            "Model Health",
            "Incident Timeline",
            "Deployments",
            "My actions",
        ],
        True,
    ),
    (
        "carol",
        [
            "Drift Overview",
            "Fairness Monitor",
            "Incident Timeline",
            "Deployments",
            "Reports",
            "My actions",
        ],
        False,
    ),
    (
        "audrey",
        [
            "Drift Overview",
            "Fairness Monitor",
            "Model Health",
            "Incident Timeline",
            "Deployments",
            "Audit",
            "Reports",
            "My actions",
        ],
        False,
    ),
    ("victor", ["Drift Overview", "My actions"], False),
]


@pytest.fixture(scope="module")
def dashboard(shared_airflow, seeded_demo, tmp_path_factory) -> Iterator[tuple[Any, str, Any]]:
    """(stack, the demo's store URL, a Chromium, the demo's first fairness-drift day): the
    shared stack leased on a copy of the seeded demo, the on-demand monitoring DAG running."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(MISSING)
    data_dir = tmp_path_factory.mktemp("dashboard-browser") / "data"
    db_url = private_demo_copy(seeded_demo, data_dir)
    env = {
        "GOVFLOW_CONFIG_DIR": str(shared_airflow.config_dir),
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": db_url,
    }
    with (
        shared_airflow.lease(env, dag_ids=[ON_DEMAND]) as stack,
        sync_playwright() as playwright,
    ):
        # The stack pauses DAGs at creation (compose and `make airflow` do not).
        stack.unpause(ON_DEMAND)
        browser = launch_chromium(playwright)
        try:
            yield stack, db_url, browser, DemoManifest.load(data_dir).scenarios["fairness_drift"][0]
        finally:
            browser.close()


def logged_in(stack: Any, browser: Any, user: str) -> Any:
    """A browser context of its own (its own cookie) logged into the Airflow UI as ``user``."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    log_in(page, stack.base_url, user, password_of(user))
    return page


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)
    return path


@pytest.fixture(scope="module")
def analysed(dashboard) -> dict[str, Any]:
    """Eve presses Analyze Now for credit_approval over the demo's first fairness-drift day,
    and the run ends."""
    stack, _db_url, browser, day = dashboard
    page = logged_in(stack, browser, "eve")
    try:
        page.goto(stack.base_url + "/govflow/drift")
        page.select_option("select[name=model]", MODEL)
        page.fill("input[name=window_start]", day.isoformat())
        page.fill("input[name=window_end]", (day + timedelta(days=1)).isoformat())
        page.get_by_role("button", name="Analyze Now").click()
        requested = page.locator("main p").first.inner_text()
        run_id = page.get_by_role("link", name=re.compile(r"^manual__")).inner_text()
        # The progress page reloads itself until Airflow says the run ended.
        page.get_by_role("link", name="Follow its progress and findings").click()
        page.get_by_text(f"{run_id}: success.").wait_for(timeout=ANALYSIS_TIMEOUT_S * 1000)
        progress = page.locator("main table tr").all_inner_texts()
        state = stack.wait_for_run(ON_DEMAND, run_id, timeout_s=ANALYSIS_TIMEOUT_S)
        return {"requested": requested, "run_id": run_id, "state": state, "progress": progress}
    finally:
        page.context.close()


@pytest.mark.parametrize(("user", "titles", "may_trigger"), ACCESS_TABLE)
def test_each_role_sees_exactly_its_pages_and_buttons_and_the_others_answer_403(
    dashboard, tmp_path, user, titles, may_trigger
):
    stack, _db_url, browser, _ = dashboard
    page = logged_in(stack, browser, user)
    try:
        page.goto(stack.base_url + "/govflow/drift")
        nav = page.locator("nav a").all_inner_texts()
        buttons = page.get_by_role("button", name="Analyze Now").count()
        refused = {
            title: page.request.get(stack.base_url + "/govflow" + path).status
            for title, path in PAGES.items()
            if title not in titles
        }
        allowed = {
            title: page.request.get(stack.base_url + "/govflow" + path).status
            for title, path in PAGES.items()
            if title in titles
        }
        shot = screenshot(page, tmp_path, f"dashboard-{user}.png")
    finally:
        page.context.close()
    assert nav == titles
    assert buttons == (1 if may_trigger else 0)
    assert set(refused.values()) <= {403}
    assert set(allowed.values()) == {200}
    assert shot.stat().st_size > 10_000


def test_analyze_now_as_the_ml_engineer_records_the_analysis_started_as_her(dashboard, analysed):
    stack, db_url, _, _ = dashboard
    assert analysed["requested"].startswith(f"Analysis of {MODEL} requested as eve: ")
    assert analysed["state"] == "success"
    # The progress page lists the record with its severity and links to its findings.
    [header, record] = analysed["progress"]
    assert header.split("\t")[:4] == ["model", "window", "record", "severity"]
    assert record.startswith(MODEL) and "\tsucceeded\tCRITICAL\t" in record
    assert record.endswith("Fairness Monitor drift report")
    run = stack.client().call(
        "GET", f"/api/v2/dags/{ON_DEMAND}/dagRuns/{analysed['run_id'].replace('+', '%2B')}"
    )
    assert run["triggering_user_name"] == "eve"
    with store.session_scope(db_url) as session:
        records = session.scalars(
            select(MonitoringRun).where(MonitoringRun.dag_run_id == analysed["run_id"])
        ).all()
        assert [(r.model_id, r.status) for r in records] == [(MODEL, "succeeded")]
        assert query_events(session, action="dashboard.analyze_now", actor="eve")


def test_analyze_now_as_a_viewer_is_refused_and_audited(dashboard):
    stack, db_url, browser, _ = dashboard
    page = logged_in(stack, browser, "victor")
    try:
        # The Origin the browser sends with the dashboard's own form (a bare request has none).
        response = page.request.post(
            stack.base_url + "/govflow/analyze",
            form={"model": MODEL},
            headers={"Origin": stack.base_url},
        )
        status, detail = response.status, response.json()["detail"]
    finally:
        page.context.close()
    assert status == 403
    assert detail.startswith("missing permission can_trigger_analysis")
    with store.session_scope(db_url) as session:
        refusals = query_events(session, action="dashboard.refused", actor="victor")
        refused = [e.payload for e in refusals if e.target == f"analyze_now/{MODEL}"]
        assert [payload["permission"] for payload in refused] == ["can_trigger_analysis"]


def test_the_compliance_officer_finds_the_critical_gender_disparate_impact(
    dashboard, analysed, tmp_path
):
    stack, db_url, browser, day = dashboard
    with store.session_scope(db_url) as session:
        critical = session.scalars(
            select(MetricResult)
            .join(MonitoringRun, MonitoringRun.id == MetricResult.monitoring_run_id)
            .where(
                MonitoringRun.dag_run_id == analysed["run_id"],
                MetricResult.metric == "disparate_impact_ratio",
                MetricResult.subject == "gender",
            )
        ).one()
        value, severity = critical.value, critical.severity
    page = logged_in(stack, browser, "carol")
    try:
        page.goto(stack.base_url + f"/govflow/fairness?model={MODEL}")
        section = page.locator("h2", has_text="gender: disparate_impact_ratio")
        table = section.locator("xpath=following-sibling::table[1]")
        row = table.locator("tr", has=page.locator("span.sev.CRITICAL")).first
        cells = row.locator("td").all_inner_texts()
        shot = screenshot(page, tmp_path, "dashboard-fairness-critical.png")
    finally:
        page.context.close()
    assert severity == "CRITICAL"
    assert cells[0].startswith((day + timedelta(days=1)).isoformat())  # the window's end
    assert cells[1] == f"{value:.3f}"
    assert re.fullmatch(r"\[0\.\d{3}, 0\.\d{3}\]", cells[2])
    assert cells[3] == "CRITICAL"
    assert "female" in cells[4] and "non_binary" in cells[4]
    assert shot.stat().st_size > 10_000
