"""The phased rollout on a real Airflow and a real serving gateway on 127.0.0.1 (issue 6 item 7).

The session's shared stack (api-server, scheduler, dag-processor), leased with a local Slack
webhook receiver behind `slack_default`, and `govflow serve`, all on a private copy of the
seeded demo. The stack's config/ has `rollout.day_seconds` lowered so that a 14-day stage
lasts a few seconds, and the rollback criteria are checked every 2 s
(tests/support/shared_airflow.py `ROLLOUT_CLOCK`: the stages are read when the rollout DAG
is parsed, so the clock is the stack's, not the module's). Traffic comes from
a second process (`python -m tests.support.traffic`), with some requests from internal users.

The deployments start authorised (tests/support/rollout_demo.py leaves the store as phase 4
of govflow_model_deployment does; tests/system/test_model_deployment.py runs that phase).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import store
from govflow.config import load_config
from govflow.rollout import routing
from govflow.store.schema import Incident, RolloutStage
from tests.support.rollout_demo import MODEL, authorised_deployment
from tests.support.serving import running_gateway, serving_copy
from tests.support.slack_receiver import running_slack_receiver

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
ROLLOUT, ROLLBACK = "govflow_rollout", "govflow_rollback"
STAGES = ("alpha", "beta", "limited", "general")


@pytest.fixture(scope="module")
def rollout_stack(shared_airflow, seeded_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("rollout")
    config_dir = shared_airflow.config_dir
    data_dir, db_url = serving_copy(seeded_demo, root / "data")
    env = {
        "GOVFLOW_CONFIG_DIR": str(config_dir),
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": db_url,
    }
    with (
        running_slack_receiver() as slack,
        shared_airflow.lease(
            env, dag_ids=[ROLLOUT, ROLLBACK], slack_webhook_url=slack.url
        ) as stack,
        running_gateway({**os.environ, **env}, refresh_seconds=1, flush_seconds=1) as gateway,
    ):
        # The rollout starts rollbacks: their DAG must be running.
        stack.unpause(ROLLBACK)
        yield stack, gateway, slack, load_config(config_dir), data_dir, db_url, env


@contextmanager
def traffic(gateway, env, population: str, seconds: float) -> Iterator[subprocess.Popen]:
    """The traffic generator in a second process for ``seconds``, stopped by pid after."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.traffic",
            "--url",
            gateway.base_url,
            "--model",
            MODEL,
            "--seconds",
            str(seconds),
            "--batch",
            "40",
            "--concurrency",
            "1",
            "--internal-share",
            "0.3",
            "--population",
            population,
        ],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        out, err = process.communicate(timeout=30)
        print(out.decode()[-2000:], err.decode()[-2000:])


def route_of(db_url: str) -> routing.RouteState:
    with store.session_scope(db_url) as session:
        return routing.StoreTarget(session).current(MODEL)


def served_versions(gateway, audience: str = "external", count: int = 200) -> set[str]:
    instances = [
        {"entity_id": f"probe-{i}", "features": PROBE_FEATURES, "attributes": PROBE_ATTRIBUTES}
        for i in range(count)
    ]
    answer = gateway.predict(MODEL, instances, {"audience": audience})
    return {p["model_version"] for p in answer["predictions"]}


PROBE_FEATURES = {
    "income": 64000.0,
    "loan_amount": 15000.0,
    "loan_term_months": 36,
    "credit_score": 700,
    "debt_to_income": 0.3,
    "employment_years": 6.0,
    "num_credit_lines": 5,
    "num_delinquencies": 0,
    "savings_balance": 12000.0,
    "months_at_address": 40,
    "home_ownership": "rent",
    "loan_purpose": "car",
    "employment_type": "salaried",
    "region": "north",
    "customer_segment": "standard",
}
PROBE_ATTRIBUTES = {"gender": "female", "age_band": "26-40"}


def test_the_rollout_moves_through_all_five_stages_to_full_while_the_gateway_serves_traffic(
    rollout_stack,
):
    stack, gateway, _slack, config, data_dir, db_url, env = rollout_stack
    before = route_of(db_url)
    ref = authorised_deployment(config, data_dir, db_url, version="1.1.0")
    with traffic(gateway, env, "stable", seconds=400) as generator:
        run_id = stack.trigger(ROLLOUT, {"deployment_ref": ref}, as_user="dave")
        for stage in STAGES:
            state = stack.wait_for_task(
                ROLLOUT, run_id, f"approve_{stage}", {"awaiting_input", "skipped"}, timeout_s=240
            )
            gate = stack.client().call(
                "GET",
                f"/api/v2/dags/{ROLLOUT}/dagRuns/{run_id}/taskInstances/evaluate_gate_{stage}"
                "/xcomEntries/return_value",
            )["value"]
            assert state == "awaiting_input", f"{stage}: {gate}"
            assert gate["passed"] is True, gate
            # Mid-rollout, the gateway sends internal users to the new version.
            if stage == "limited":
                assert served_versions(gateway, "internal") == {"1.1.0"}
                assert served_versions(gateway, "external", 400) == {
                    before.splits["external"].active,
                    "1.1.0",
                }
            stack.answer_hitl_and_confirm(
                "olivia", ROLLOUT, run_id, f"approve_{stage}", ["Advance"], {"comment": "gate ok"}
            )
        assert stack.wait_for_run(ROLLOUT, run_id, timeout_s=240) == "success", stack.task_states(
            ROLLOUT, run_id
        )
        assert generator.poll() is None, "the traffic generator stopped early"
    route = route_of(db_url)
    assert route.versions == ["1.1.0"]
    deadline = time.monotonic() + 10
    while gateway.health()["models"][MODEL]["revision"] < route.revision:
        assert time.monotonic() < deadline, gateway.health()
        time.sleep(0.5)
    assert served_versions(gateway) == {"1.1.0"}
    with store.session_scope(db_url) as session:
        statuses = {
            stage: status
            for stage, status in session.execute(select(RolloutStage.stage, RolloutStage.status))
        }
    assert statuses == {
        "alpha": "advanced",
        "beta": "advanced",
        "limited": "advanced",
        "general": "advanced",
        "full": "completed",
    }


def test_a_fairness_breach_in_the_limited_stage_rolls_back_to_the_previous_version(rollout_stack):
    stack, gateway, slack, config, data_dir, db_url, env = rollout_stack
    previous = route_of(db_url).splits["external"].active
    ref = authorised_deployment(config, data_dir, db_url, version="1.2.0")
    with traffic(gateway, env, "fairness_drift", seconds=240):
        run_id = stack.trigger(
            ROLLOUT, {"deployment_ref": ref, "from_stage": "limited"}, as_user="dave"
        )
        assert stack.wait_for_run(ROLLOUT, run_id, timeout_s=240) == "success"
        states = stack.task_states(ROLLOUT, run_id)
        assert states["roll_back_at_limited"] == "success", states
        assert states["approve_limited"] == "skipped", states
        rollback_run = f"rollback__{ref}"
        assert stack.wait_for_run(ROLLBACK, rollback_run, timeout_s=240) == "success", (
            stack.task_states(ROLLBACK, rollback_run)
        )
        # The routing table and the running gateway both serve the previous version again.
        route = route_of(db_url)
        assert route.versions == [previous]
        assert served_versions(gateway, "internal") == {previous}
        assert served_versions(gateway, "external") == {previous}
    with store.session_scope(db_url) as session:
        incident = session.scalars(
            select(Incident).where(Incident.metric == f"rollback:{ref}")
        ).one()
        assert (incident.status, incident.category, incident.severity) == (
            "open",
            "fairness_drift",
            "CRITICAL",
        )
        assert "RBC-1" in incident.summary
    texts = [m.payload.get("text", "") for m in slack.messages]
    rolled = [text for text in texts if "Rollback of credit_approval 1.2.0" in text]
    assert len(rolled) == 1, texts
    assert incident.ref in rolled[0]
