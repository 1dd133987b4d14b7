"""An approver approves a deployment in the Airflow UI, with headless Chromium (issue 5 item 7).

A minimal-risk deployment of product_recommendation, requested by eve, is driven through
its forms over the REST API until its two approvals wait (System Owner, Deployment
Manager). Dave, the deployment manager, then logs into the Airflow UI (SimpleAuthManager's
login page), opens the deployment's pending required action from the "Required Actions"
page, writes his comment and clicks Approve. The screenshot of the answered action is kept
under the test's tmp_path and copied to test-artifacts/ in the repository.

Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), driven by Playwright;
no browser is downloaded.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.support.airflow_stack import password_of
from tests.support.browser import CHROMIUM, MISSING, VIEWPORT, launch_chromium, log_in
from tests.support.demo_store import private_demo_copy
from tests.support.deployment_demo import (
    CANDIDATE,
    RequiredActions,
    form_answer,
    register_candidate,
)

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DAG = "govflow_model_deployment"
APPROVALS = "deployment_approval.approve_deployment"
MODEL, REQUESTER, APPROVER = "product_recommendation", "eve", "dave"
SUBJECT = "Deployment Manager: approve the deployment of product_recommendation 1.1.0"
COMMENT = "Deployment window agreed with the support team"
WAIT_S = 300


def _seed(
    seeded_demo: tuple[str, str], data_dir: Path, db_url: str, done: list[BaseException | None]
) -> None:
    try:
        assert private_demo_copy(seeded_demo, data_dir) == db_url
        register_candidate(data_dir, db_url, model_id=MODEL)
        done.append(None)
    except BaseException as error:  # reported by the fixture, in the test's thread
        done.append(error)


def _until_both_approvals_wait(stack, run_id: str) -> list[dict]:
    """Answer every form of the run over REST until its approval requests are pending."""
    actions = RequiredActions(stack, DAG)
    deadline = time.monotonic() + WAIT_S
    while True:
        assert time.monotonic() < deadline, stack.task_states(DAG, run_id)
        pending = actions.pending({run_id})
        approvals = [d for d in pending if d["task_instance"]["task_id"] == APPROVALS]
        if len(approvals) == 2:
            return sorted(approvals, key=lambda d: d["task_instance"]["map_index"])
        for detail in pending:
            task_id = detail["task_instance"]["task_id"]
            if task_id != APPROVALS:
                options, params = form_answer(task_id, detail)
                status, body = actions.answer(
                    detail, detail["assigned_users"][0]["id"], options, params
                )
                assert status == 200, (task_id, status, body)
        time.sleep(1)


@pytest.fixture(scope="module")
def waiting_approvals(shared_airflow, seeded_demo, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(MISSING)
    root = tmp_path_factory.mktemp("deployment-browser")
    data_dir = root / "data"
    db_url = f"sqlite:///{data_dir / 'govflow.db'}"
    env = {
        "GOVFLOW_CONFIG_DIR": str(shared_airflow.config_dir),
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": db_url,
    }
    seeded: list[BaseException | None] = []
    seeding = threading.Thread(target=_seed, args=(seeded_demo, data_dir, db_url, seeded))
    seeding.start()
    with shared_airflow.lease(env, dag_ids=[DAG]) as stack:
        seeding.join()
        if seeded != [None]:
            raise RuntimeError(f"seeding the demo failed: {seeded}")
        run_id = stack.trigger(
            DAG,
            {
                "model_id": MODEL,
                "version": CANDIDATE,
                "deployment_type": "minor",
                "environment": "production",
                "justification": "Better savings recommendations",
            },
            as_user=REQUESTER,
        )
        yield stack, run_id, _until_both_approvals_wait(stack, run_id)


def test_a_minimal_risk_deployment_waits_for_two_approvals_never_of_its_requester(
    waiting_approvals,
):
    _stack, _run_id, approvals = waiting_approvals
    assert [
        (d["task_instance"]["rendered_map_index"], [u["id"] for u in d["assigned_users"]])
        for d in approvals
    ] == [("System Owner", ["olivia", "sam"]), ("Deployment Manager", ["dave"])]


def test_an_approver_approves_in_the_airflow_ui_and_the_run_moves_on(waiting_approvals, tmp_path):
    from playwright.sync_api import sync_playwright

    stack, run_id, approvals = waiting_approvals
    screenshot = tmp_path / "deployment-approval.png"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            log_in(page, stack.base_url, APPROVER, password_of(APPROVER))
            page.goto(stack.base_url + "/required_actions?response_received=false")
            page.get_by_role("link", name=SUBJECT).first.click()
            # The form's first field is the approval's comment (its label is not tied to it).
            page.get_by_role("textbox").first.fill(COMMENT)
            page.get_by_test_id("hitl-option-Approve").click()
            page.get_by_text(f"from {APPROVER}").wait_for()
            # The task resumes once answered; the page shows it succeed when it polls again.
            page.get_by_text("Success", exact=True).first.wait_for(timeout=120_000)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / screenshot.name)

    answered = stack.hitl_detail(DAG, run_id, APPROVALS, approvals[1]["task_instance"]["map_index"])
    assert (answered["responded_by_user"]["id"], answered["chosen_options"]) == (
        APPROVER,
        ["Approve"],
    )
    assert answered["params_input"]["comment"] == COMMENT
    assert stack.wait_for_task(DAG, run_id, APPROVALS, {"success"}, map_index=1) == "success"
    status, _ = stack.answer_hitl(
        "olivia",
        DAG,
        run_id,
        APPROVALS,
        ["Approve"],
        {"comment": "agreed", "conditions": None},
        map_index=0,
    )
    assert status == 200
    done = stack.wait_for_task(
        DAG,
        run_id,
        "deployment_approval.document_approval",
        {"success", "failed"},
        timeout_s=WAIT_S,
    )
    assert done == "success", stack.task_states(DAG, run_id)
    assert screenshot.stat().st_size > 10_000
