"""The issue 6 check, end to end: `govflow serve` answers generated traffic from a second
process; `govflow kill-switch activate --scope customer_segment --target high_value` makes it
answer high-value customers from the fallbacks within 5 s while standard customers are still
scored by the model, `govflow audit query` names who did it, and deactivation restores the
model. The effect delay is measured from the switch's own activation time in the store to
the first answer that honours it, and printed with the traffic's latency figures.

And issue 13 item 7 on the same process: an anonymous feedback POST is refused, so is a
recorded_by that names no one, and a body over the limit its environment sets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from govflow import settings, store
from govflow.store.schema import AuditEvent, KillSwitch, ServingFeedback, ServingStat
from tests.support.serving import (
    RunningGateway,
    applicant_instances,
    govflow_command,
    running_gateway,
    serving_copy,
    stop_process_group,
)

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
MODEL = "credit_approval"
EFFECT_LIMIT_S = 5.0
TRAFFIC_SECONDS = 40
POLL_INTERVAL_S = 0.02
REASON = "complaints about high-value decisions"


def _govflow(env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [govflow_command(), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _until(
    gateway: RunningGateway,
    instances: list[dict[str, Any]],
    done: Callable[[list[dict[str, Any]]], bool],
) -> tuple[datetime, list[dict[str, Any]]]:
    """Probe every POLL_INTERVAL_S until ``done(answers)``; when it first held, and the answers."""
    deadline = time.monotonic() + 4 * EFFECT_LIMIT_S
    while time.monotonic() < deadline:
        answers = gateway.predict(MODEL, instances)["predictions"]
        seen_at = datetime.now(UTC)
        if done(answers):
            return seen_at, answers
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"the gateway never changed its answers\n{gateway.log_tail()}")


def _switch_activated_at(url: str) -> datetime:
    with store.session_scope(url) as session:
        switch = session.scalars(
            select(KillSwitch).where(KillSwitch.target == "high_value").order_by(KillSwitch.id)
        ).first()
        assert switch is not None
        return switch.activated_at


def test_a_segment_kill_switch_from_the_cli_reaches_the_running_gateway_within_five_seconds(
    seeded_demo, tmp_path
):
    data_dir, url = serving_copy(seeded_demo, tmp_path / "data")
    env = {
        **os.environ,
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": url,
        "GOVFLOW_CONFIG_DIR": str(settings.config_dir()),
    }
    rng = np.random.default_rng(31)
    high = applicant_instances(rng, 3, entity_prefix="probe-high", customer_segment="high_value")
    standard = applicant_instances(rng, 3, entity_prefix="probe-std", customer_segment="standard")

    with running_gateway(env, models=[MODEL], flush_seconds=2) as gateway:
        traffic = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.traffic",
                *("--url", gateway.base_url, "--model", MODEL),
                *("--seconds", str(TRAFFIC_SECONDS), "--batch", "4", "--concurrency", "2"),
                *("--population", "fairness_drift", "--internal-share", "0.1"),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            before = gateway.predict(MODEL, high + standard)["predictions"]
            time.sleep(3)
            activation = subprocess.Popen(
                [
                    govflow_command(),
                    *("kill-switch", "activate", "--scope", "customer_segment"),
                    *("--target", "high_value", "--reason", REASON, "--actor", "eve"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            stopped_at, during = _until(
                gateway, high + standard, lambda a: all(x["served_by"] != "model" for x in a[:3])
            )
            _, activation_errors = activation.communicate(timeout=60)
            assert activation.returncode == 0, activation_errors
            effect_delay = (stopped_at - _switch_activated_at(url)).total_seconds()
            audit = _govflow(env, "audit", "query", "--action", "kill_switch.*")

            _govflow(
                env,
                *("kill-switch", "deactivate", "--scope", "customer_segment"),
                *("--target", "high_value", "--notes", "decisions reviewed", "--actor", "eve"),
            )
            lifted = time.monotonic()
            _, after = _until(
                gateway, high + standard, lambda a: all(x["served_by"] == "model" for x in a)
            )
            recovery_delay = time.monotonic() - lifted
            # The traffic has seen the model before, the fallbacks during and the model after
            # the switch: it may stop now (SIGTERM ends it early, with its summary).
            traffic.terminate()
            output, _ = traffic.communicate(timeout=TRAFFIC_SECONDS + 30)
        finally:
            stop_process_group(traffic)
    summary = json.loads(output)
    print(
        f"\nkill-switch effect delay: {effect_delay:.3f} s (limit {EFFECT_LIMIT_S} s), "
        f"recovery seen {recovery_delay:.3f} s after the deactivate command returned"
    )
    print(f"traffic: {json.dumps(summary, sort_keys=True)}")

    assert [x["served_by"] for x in before] == ["model"] * 6
    assert 0 <= effect_delay < EFFECT_LIMIT_S
    expected_reason = f"kill switch on customer_segment 'high_value' by eve: {REASON}"
    assert [(x["served_by"], x["reason"]) for x in during[:3]] == [("cache", expected_reason)] * 3
    assert [x["score"] for x in during[:3]] == [x["score"] for x in before[:3]]
    assert [x["served_by"] for x in during[3:]] == ["model"] * 3
    assert [x["served_by"] for x in after] == ["model"] * 6
    audit_lines = [line.split() for line in audit.splitlines()]
    assert [(line[3], line[4]) for line in audit_lines] == [("eve", "kill_switch.activated")]

    assert summary["requests"] > 0
    assert (summary["http_status"].keys(), summary["transport_errors"]) == ({"200"}, 0)
    assert set(summary["by_segment"]["standard"]) == {"model"}
    assert set(summary["by_segment"]["high_value"]) >= {"model", "rule"}

    # The gateway flushed its counters on the way out: the fallbacks are on record.
    with store.session_scope(url) as session:
        fallbacks, requests = session.execute(
            select(func.sum(ServingStat.fallbacks), func.sum(ServingStat.requests)).where(
                ServingStat.model_id == MODEL
            )
        ).one()
    assert 0 < fallbacks < requests
    assert list((data_dir / "prediction_logs" / MODEL).glob("date=*/part-gw-*.parquet"))


def test_the_running_gateway_refuses_anonymous_feedback_free_text_authors_and_large_bodies(
    seeded_demo, tmp_path
):
    """Issue 13 item 7 on `govflow serve` itself: the token and the body limit come from the
    environment, an anonymous feedback POST is refused, and the token never reaches its log."""
    data_dir, url = serving_copy(seeded_demo, tmp_path / "data")
    token = "loan-portal-system-test-token-0123456789"
    env = {
        **os.environ,
        "GOVFLOW_DATA_DIR": str(data_dir),
        "GOVFLOW_DB_URL": url,
        "GOVFLOW_CONFIG_DIR": str(settings.config_dir()),
        "GOVFLOW_GATEWAY_TOKEN_LOAN_PORTAL": token,
        "GOVFLOW_GATEWAY_MAX_BODY_BYTES": "65536",
    }
    bug = {"kind": "bug", "severity": "critical", "details": "approves applicants with no income"}
    bearer = {"authorization": f"Bearer {token}"}

    with running_gateway(env, models=[MODEL]) as gateway:
        feedback = f"{gateway.base_url}/v1/models/{MODEL}/feedback"
        anonymous = httpx.post(feedback, json={**bug, "recorded_by": "ceo"}, timeout=10)
        free_text = httpx.post(feedback, json={**bug, "recorded_by": "ceo"}, headers=bearer)
        by_person = httpx.post(feedback, json={**bug, "recorded_by": "carol"}, headers=bearer)
        too_large = httpx.post(
            feedback, json={**bug, "details": "x" * 65536}, headers=bearer, timeout=10
        )
        health = gateway.health()
        log = gateway.log_path.read_text(errors="replace")

    assert (anonymous.status_code, free_text.status_code) == (401, 422)
    assert (by_person.status_code, too_large.status_code) == (201, 413)
    assert health["consumers"]["with_token"] == ["loan_portal"]
    assert token not in log
    with store.session_scope(url) as session:
        recorded = session.execute(select(ServingFeedback.recorded_by)).scalars().all()
        actors = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "serving.feedback_recorded")
        ).all()
    assert (recorded, actors) == (["carol"], ["carol"])
