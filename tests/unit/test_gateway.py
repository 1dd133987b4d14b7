"""The serving gateway on a private copy of the seeded demo, through FastAPI's TestClient:
routing, kill switches in every scope, safeguards, the cache and the circuit breaker with an
injected clock, the logs and counters it writes, and bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from govflow import registry, settings, store
from govflow.baselines.onboarding import NO_ARTIFACT
from govflow.cli import app as cli
from govflow.config import load_config
from govflow.config.inventory import NonNegativeOutput
from govflow.monitoring.prediction_logs import ParquetLogSource, log_columns
from govflow.rollout.routing import RouteState, StoreTarget, latency_bucket
from govflow.serving import kill_switches
from govflow.serving.consumers import (
    MIN_TOKEN_LENGTH,
    NO_TOKEN,
    NOT_A_CONSUMER,
    NOT_AUTHENTICATED,
    SHARED_TOKEN,
    SHORT_TOKEN,
    TWO_SOURCES,
    UNKNOWN_PERSON,
    UNREADABLE_TOKEN_FILE,
)
from govflow.serving.gateway import (
    ARTEFACT_MISMATCH,
    ARTEFACT_UNREADABLE,
    BLACK_BOX,
    CANDIDATE_SWITCHED_OFF,
    CIRCUIT_OPEN,
    FEATURE_NOT_A_NUMBER,
    FEATURE_NOT_FINITE,
    FEATURE_NOT_WHOLE,
    FEATURE_OUT_OF_RANGE,
    INVALID_FIELD,
    KILL_SWITCH,
    MISSING_FEATURE,
    MODEL_FAILED,
    MORE_ERRORS,
    NO_VERSION,
    NO_VERSION_YET,
    NOT_IN_INVENTORY,
    NOT_JSON,
    NOT_LOADED,
    RULE_ANSWER,
    UNKNOWN_ATTRIBUTE_VALUE,
    UNKNOWN_CATEGORY,
    UNKNOWN_MODEL,
    Gateway,
    GatewayError,
    create_app,
)
from govflow.serving.limits import (
    BAD_MAX_BODY_BYTES,
    BODY_TOO_LARGE,
    DEFAULT_MAX_BODY_BYTES,
    BodySizeLimit,
)
from govflow.serving.log_writer import TIMESTAMP, PartitionedLogWriter
from govflow.serving.safeguards import (
    CLIPPED_ABOVE,
    CLIPPED_BELOW,
    NOT_A_NUMBER,
    NOT_FINITE,
    answer_bytes,
)
from govflow.store.schema import (
    LATENCY_BUCKET_COLUMNS,
    AuditEvent,
    GatewayHeartbeat,
    Route,
    ServingFeedback,
    ServingStat,
)
from govflow.store.types import utcnow
from tests.support.deployment_demo import approve_version
from tests.support.serving import (
    RAISE,
    SCRIPTED_FAILURE,
    ScriptedModel,
    applicant_instances,
    register_scripted_version,
    serving_copy,
)

CONFIG = load_config(settings.config_dir())
MODEL = "credit_approval"
INSTANCE = "gw-test"
REASON = "complaints from high-value customers"
MODELS = "credit_approval, customer_lifetime_value, marketing_propensity, product_recommendation"
# A made-up test value: real tokens live in the environment or Airflow connections only.
LOAN_PORTAL_TOKEN = "loan-portal-test-token-0123456789"
FEATURES = [feature.name for feature in CONFIG.models.get(MODEL).features]
PROTECTED = [attribute.name for attribute in CONFIG.models.get(MODEL).protected_attributes]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo_copy(seeded_demo, tmp_path) -> tuple[Path, str]:
    data_dir, url = serving_copy(seeded_demo, tmp_path / "data")
    store.upgrade(url)
    return data_dir, url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture(autouse=True)
def consumer_tokens(monkeypatch) -> None:
    """loan_portal holds a token; no other consumer has one unless a test gives it one."""
    for name in list(os.environ):
        if name.startswith(("GOVFLOW_GATEWAY_TOKEN_", "AIRFLOW_CONN_GOVFLOW_GATEWAY_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GOVFLOW_GATEWAY_TOKEN_LOAN_PORTAL", LOAN_PORTAL_TOKEN)


@pytest.fixture
def serve(demo_copy, clock) -> Iterator[Any]:
    """Start the app (lifespan included) on the copy; the refresher is the test's to call."""
    data_dir, url = demo_copy
    with ExitStack() as stack:

        def start(**options: Any) -> tuple[TestClient, Gateway]:
            app = create_app(
                config=CONFIG,
                db_url=url,
                data_dir=data_dir,
                instance=INSTANCE,
                background=options.pop("background", False),
                clock=clock,
                **options,
            )
            client = stack.enter_context(TestClient(app))
            return client, app.state.gateway

        yield start


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def predict(
    client: TestClient, instances: list[dict[str, Any]], model: str = MODEL, **context: Any
) -> tuple[int, dict[str, Any]]:
    # Sent as raw JSON: NaN is what a careless client sends, and httpx's json= refuses it.
    answer = client.post(
        f"/v1/models/{model}/predict",
        content=json.dumps({"instances": instances, "context": context}),
        headers={"content-type": "application/json"},
    )
    return answer.status_code, answer.json()


def answers(client: TestClient, instances: list[dict[str, Any]], **context: Any) -> list[dict]:
    status, body = predict(client, instances, **context)
    assert status == 200, body
    return body["predictions"]


def activate(url: str, scope: str, target: str, reason: str = REASON) -> None:
    with store.session_scope(url) as session:
        kill_switches.activate(
            session, scope=scope, target=target, reason=reason, actor="eve", config=CONFIG
        )


def deactivate(url: str, scope: str, target: str) -> None:
    with store.session_scope(url) as session:
        kill_switches.deactivate(
            session, scope=scope, target=target, recovery_notes="resolved", actor="eve"
        )


def set_traffic(url: str, candidate: str, shares: dict[str, float]) -> RouteState:
    with store.session_scope(url) as session:
        return StoreTarget(session).set_traffic(
            MODEL,
            candidate=candidate,
            shares=shares,
            actor="dave",
            reason="serving test",
            deployment_ref="DEP-20261123-GWTEST",
        )


def switched(scope: str, target: str, reason: str = REASON) -> str:
    return KILL_SWITCH.format(scope=scope, target=target, actor="eve", reason=reason)


def rule(reason: str, decision: str = "manual_review") -> str:
    return RULE_ANSWER.format(reason=reason, decision=decision)


# --- routing ---------------------------------------------------------------------------------


def test_each_customer_gets_the_version_its_share_routes_it_to_on_every_request(serve, demo_copy):
    data_dir, url = demo_copy
    state = set_traffic(url, "0.9.0", {"external": 0.3, "internal": 1.0})
    client, _ = serve()
    instances = applicant_instances(rng(1), 400)
    expected = [state.version_for("external", i["entity_id"]) for i in instances]
    first = answers(client, instances)
    again = answers(client, instances[::-1])[::-1]
    internal = answers(client, instances, audience="internal")

    assert [(a["model_version"], a["route"]) for a in first] == expected
    assert [(a["model_version"], a["route"]) for a in again] == expected
    assert sum(route == "candidate" for _, route in expected) == 123
    assert {(a["model_version"], a["route"], a["served_by"]) for a in internal} == {
        ("0.9.0", "candidate", "model")
    }
    # The candidate's answers are the 0.9.0 artefact's own scores.
    candidate = [
        i for i, (version, _) in zip(instances, expected, strict=True) if version == "0.9.0"
    ]
    artefact = joblib.load(data_dir / "models" / MODEL / "0.9.0" / "model.pkl")
    frame = pd.DataFrame([i["features"] for i in candidate])[FEATURES]
    scored = [a["score"] for a in first if a["model_version"] == "0.9.0"]
    assert scored == artefact.predict_proba(frame)[:, 1].tolist()


def test_before_a_first_version_is_in_production_the_rule_answers_what_it_does_not_take(
    serve, demo_copy
):
    _, url = demo_copy
    set_traffic(url, "0.9.0", {"external": 0.3, "internal": 1.0})
    with store.session_scope(url) as session:
        # The route an initial deployment's rollout writes: no version serves the rest.
        route = session.get(Route, MODEL)
        route.splits = {name: {**split, "active": None} for name, split in route.splits.items()}
    client, gateway = serve()
    instances = applicant_instances(rng(21), 200)
    first = answers(client, instances)
    gateway.flush()

    reason = rule(NO_VERSION_YET.format(model_id=MODEL, candidate="0.9.0"))
    by_route = {(a["route"], a["model_version"], a["served_by"]) for a in first}
    assert by_route == {("candidate", "0.9.0", "model"), ("active", None, "rule")}
    assert {a["reason"] for a in first if a["route"] == "active"} == {reason}
    # Withdrawn (a rollback of the first version): no rollout under way, none is named.
    with store.session_scope(url) as session:
        route = session.get(Route, MODEL)
        route.splits = {
            name: {"active": None, "candidate": None, "candidate_share": 0.0}
            for name in route.splits
        }
    gateway.refresh()
    withdrawn = answers(client, instances[:3])
    assert {(a["served_by"], a["reason"]) for a in withdrawn} == {
        ("rule", rule(NO_VERSION.format(model_id=MODEL)))
    }
    with store.session_scope(url) as session:
        counted = {
            stat.version: (stat.requests, stat.fallbacks)
            for stat in session.scalars(select(ServingStat).where(ServingStat.model_id == MODEL))
        }
    taken = sum(a["route"] == "candidate" for a in first)
    assert counted == {"0.9.0": (taken, 0), "": (200 - taken, 200 - taken)}


# --- kill switches -----------------------------------------------------------------------------


def test_a_switch_on_one_customer_segment_sends_only_that_segment_to_the_fallbacks(
    serve, demo_copy
):
    _, url = demo_copy
    client, gateway = serve()
    high = applicant_instances(rng(2), 3, entity_prefix="high", customer_segment="high_value")
    standard = applicant_instances(rng(3), 3, entity_prefix="std", customer_segment="standard")
    earlier = answers(client, high[:2])

    activate(url, "customer_segment", "high_value")
    gateway.refresh()
    during = answers(client, high + standard)
    deactivate(url, "customer_segment", "high_value")
    gateway.refresh()
    after = answers(client, high + standard)

    reason = switched("customer_segment", "high_value")
    assert [(a["served_by"], a["model_version"], a["reason"]) for a in during] == [
        ("cache", "1.0.0", reason),
        ("cache", "1.0.0", reason),
        ("rule", None, rule(reason)),
        ("model", "1.0.0", None),
        ("model", "1.0.0", None),
        ("model", "1.0.0", None),
    ]
    assert [(a["score"], a["prediction"]) for a in during[:3]] == [
        (earlier[0]["score"], earlier[0]["prediction"]),
        (earlier[1]["score"], earlier[1]["prediction"]),
        (None, None),
    ]
    assert {a["served_by"] for a in after} == {"model"}


# (scope, target, context and features a covered request has, one that is not covered)
SCOPES = [
    ("model_type", MODEL, ({}, {}), ("marketing_propensity", {}, {})),
    (
        "inference_endpoint",
        f"/v1/models/{MODEL}/predict",
        ({}, {}),
        ("product_recommendation", {}, {}),
    ),
    ("model_version", f"{MODEL}:1.0.0", ({}, {}), ("marketing_propensity", {}, {})),
    ("region", "north", ({}, {"region": "north"}), (MODEL, {}, {"region": "south"})),
    (
        "region",
        "north",
        ({"region": "north"}, {"region": "south"}),
        (MODEL, {"region": "south"}, {"region": "north"}),
    ),
    (
        "customer_segment",
        "new_customer",
        ({"customer_segment": "new_customer"}, {"customer_segment": "standard"}),
        (MODEL, {}, {"customer_segment": "standard"}),
    ),
    (
        "downstream_consumer",
        "loan_portal",
        ({"consumer": "loan_portal"}, {}),
        (MODEL, {"consumer": "branch_app"}, {}),
    ),
]


@pytest.mark.parametrize(("scope", "target", "covered", "uncovered"), SCOPES)
def test_a_switch_in_any_scope_stops_the_model_for_exactly_the_requests_it_covers(
    serve, demo_copy, scope, target, covered, uncovered
):
    _, url = demo_copy
    client, gateway = serve()
    activate(url, scope, target)
    gateway.refresh()
    context, features = covered
    stopped = answers(client, applicant_instances(rng(4), 2, **features), **context)
    model, other_context, other_features = uncovered
    status, body = predict(
        client, applicant_instances(rng(5), 2, **other_features), model, **other_context
    )

    assert [(a["served_by"], a["reason"]) for a in stopped] == [
        ("rule", rule(switched(scope, target)))
    ] * 2
    assert (status, [a["served_by"] for a in body["predictions"]]) == (200, ["model", "model"])
    assert client.get("/health").json()["kill_switches"] == 1


def test_a_switch_on_the_candidate_sends_its_customers_to_the_active_version(serve, demo_copy):
    _, url = demo_copy
    set_traffic(url, "0.9.0", {"external": 1.0})
    client, gateway = serve()
    instances = applicant_instances(rng(6), 3)
    activate(url, "model_version", f"{MODEL}:0.9.0")
    gateway.refresh()
    rerouted = answers(client, instances)
    activate(url, "model_version", f"{MODEL}:1.0.0", reason="both versions suspect")
    gateway.refresh()
    stopped = answers(client, instances)

    note = CANDIDATE_SWITCHED_OFF.format(
        target=f"{MODEL}:0.9.0", actor="eve", reason=REASON, active="1.0.0"
    )
    assert [(a["model_version"], a["route"], a["served_by"], a["reason"]) for a in rerouted] == [
        ("1.0.0", "active", "model", note)
    ] * 3
    # With the active version switched off too, nothing may answer but the rule (the cache
    # holds answers of a switched-off version).
    assert [(a["route"], a["served_by"], a["reason"]) for a in stopped] == [
        ("candidate", "rule", rule(switched("model_version", f"{MODEL}:0.9.0")))
    ] * 3


def test_a_model_type_switch_answers_from_the_rule_even_with_a_fresh_cached_answer(
    serve, demo_copy
):
    _, url = demo_copy
    client, gateway = serve()
    instance = applicant_instances(rng(7), 1)
    assert answers(client, instance)[0]["served_by"] == "model"
    activate(url, "model_type", MODEL, reason="INC-2026-0001 freeze")
    gateway.refresh()
    frozen = answers(client, instance)[0]
    assert (frozen["served_by"], frozen["reason"]) == (
        "rule",
        rule(switched("model_type", MODEL, "INC-2026-0001 freeze")),
    )


def test_the_background_refresher_applies_a_new_switch_without_a_restart(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve(background=True, refresh_seconds=0.1)
    instance = applicant_instances(rng(8), 1, region="west", entity_prefix="fresh")
    assert answers(client, instance)[0]["served_by"] == "model"
    activate(url, "region", "west")
    started = time.monotonic()
    while answers(client, instance)[0]["served_by"] == "model":
        assert time.monotonic() - started < 5, "the switch was not applied within 5 s"
        time.sleep(0.05)
    assert answers(client, instance)[0]["reason"] == switched("region", "west")


# --- safeguards ----------------------------------------------------------------------------------


def test_invalid_outputs_are_blocked_with_their_reason_and_out_of_range_ones_clipped(
    serve, demo_copy
):
    data_dir, url = demo_copy
    scripted = ScriptedModel(
        "loan_purpose",
        {"car": math.nan, "medical": 1.7, "education": "high", "home_improvement": -0.25},
        default=0.6,
    )
    register_scripted_version(url, data_dir, MODEL, "9.0.0", scripted)
    set_traffic(url, "9.0.0", {"external": 1.0})
    client, gateway = serve()
    instances = applicant_instances(rng(9), 5)
    for instance, purpose in zip(
        instances, ["car", "medical", "education", "home_improvement", "other"], strict=True
    ):
        instance["features"]["loan_purpose"] = purpose
    result = answers(client, instances)
    gateway.flush()

    assert [
        (
            a["model_version"],
            a["served_by"],
            a["safeguard"],
            a["score"],
            a["prediction"],
            a["reason"],
        )
        for a in result
    ] == [
        (None, "rule", "blocked", None, None, rule(NOT_FINITE.format(value=math.nan))),
        ("9.0.0", "model", "clipped", 1.0, 1, CLIPPED_ABOVE.format(value=1.7, high=1.0)),
        (None, "rule", "blocked", None, None, rule(NOT_A_NUMBER.format(value="high"))),
        ("9.0.0", "model", "clipped", 0.0, 0, CLIPPED_BELOW.format(value=-0.25, low=0.0)),
        ("9.0.0", "model", "ok", 0.6, 1, None),
    ]
    with store.session_scope(url) as session:
        stats = session.execute(
            select(
                ServingStat.version,
                ServingStat.requests,
                ServingStat.errors,
                ServingStat.invalid,
                ServingStat.clipped,
                ServingStat.fallbacks,
            ).where(ServingStat.instance == INSTANCE)
        ).all()
    assert stats == [("9.0.0", 5, 0, 2, 2, 2)]


class ScriptedTimer:
    """perf_counter for the gateway: each call reads the next of the given seconds."""

    def __init__(self, *readings: float) -> None:
        self.readings = iter(readings)

    def __call__(self) -> float:
        return next(self.readings)


def test_each_predict_call_s_latency_is_counted_in_its_bucket_and_summed(serve, demo_copy):
    # 1.953125 ms, 31.25 ms and 3000 ms (3,033,203 us in all, rounded per call), then a call
    # whose only instance is refused (timed, but no version to count it under).
    timer = ScriptedTimer(0.0, 2**-9, 1.0, 1.0 + 2**-5, 2.0, 5.0, 6.0, 6.5)
    client, gateway = serve(timer=timer)
    for seed in (1, 2, 3):
        answers(client, applicant_instances(rng(seed), 2))
    refused = applicant_instances(rng(4), 1)
    refused[0]["features"]["region"] = "atlantis"
    assert predict(client, refused)[0] == 422
    gateway.flush()

    # Summed over the minute rows: the calls may straddle a minute of the wall clock.
    with store.session_scope(demo_copy[1]) as session:
        stats = session.execute(
            select(
                func.sum(ServingStat.requests),
                func.sum(ServingStat.latency_us_sum),
                *(func.sum(getattr(ServingStat, column)) for column in LATENCY_BUCKET_COLUMNS),
            ).where(ServingStat.instance == INSTANCE)
        ).all()
    assert stats == [(6, 3033203, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1)]


@pytest.mark.parametrize(
    ("milliseconds", "column"),
    [
        (0.0, "latency_le_5ms"),
        (5.0, "latency_le_5ms"),
        (5.001, "latency_le_10ms"),
        (2500.0, "latency_le_2500ms"),
        (2500.5, "latency_over_2500ms"),
    ],
)
def test_a_latency_on_a_bucket_s_bound_counts_in_that_bucket(milliseconds, column):
    assert LATENCY_BUCKET_COLUMNS[latency_bucket(milliseconds)] == column


def as_regressor(config: Any, model_id: str, maximum: float) -> Any:
    """``config`` with ``model_id`` re-declared a regressor whose outputs lie in [0, maximum]."""
    entry = config.models.get(model_id)
    regressor = entry.model_copy(
        update={
            "type": "regressor",
            "decision_threshold": None,
            "performance_requirement": None,
            "serving": entry.serving.model_copy(
                update={"output": NonNegativeOutput(kind="non_negative", max=maximum)}
            ),
        }
    )
    models = [regressor if m.id == model_id else m for m in config.models.models]
    return config.model_copy(update={"models": config.models.model_copy(update={"models": models})})


def test_a_regressor_answers_its_amount_clipped_into_the_bounds_models_yaml_gives_it(
    demo_copy, clock
):
    data_dir, url = demo_copy
    scripted = ScriptedModel(
        "loan_purpose", {"car": 9000.0, "medical": -20.0, "education": math.nan}, default=1234.5
    )
    register_scripted_version(url, data_dir, MODEL, "9.0.0", scripted)
    set_traffic(url, "9.0.0", {"external": 1.0})
    app = create_app(
        config=as_regressor(CONFIG, MODEL, 5000.0),
        db_url=url,
        data_dir=data_dir,
        instance=INSTANCE,
        background=False,
        clock=clock,
    )
    instances = applicant_instances(rng(9), 4)
    for instance, purpose in zip(instances, ["car", "medical", "education", "other"], strict=True):
        instance["features"]["loan_purpose"] = purpose
    with TestClient(app) as client:
        result = answers(client, instances)
        app.state.gateway.flush()

    assert [(a["served_by"], a["safeguard"], a["score"], a["prediction"]) for a in result] == [
        ("model", "clipped", 5000.0, 5000.0),
        ("model", "clipped", 0.0, 0.0),
        ("rule", "blocked", None, None),
        ("model", "ok", 1234.5, 1234.5),
    ]
    assert result[0]["reason"] == CLIPPED_ABOVE.format(value=9000.0, high=5000.0)
    now = utcnow()
    logged = ParquetLogSource(data_dir / "prediction_logs" / MODEL, amounts=True).read_window(
        now - timedelta(hours=1), now
    )
    assert sorted(logged["prediction"]) == [0.0, 1234.5, 5000.0]


def test_a_cached_answer_serves_until_its_ttl_then_the_rule_takes_over(serve, demo_copy, clock):
    _, url = demo_copy
    client, gateway = serve()
    instance = applicant_instances(rng(10), 1, region="north")
    first = answers(client, instance)[0]
    activate(url, "region", "north")
    gateway.refresh()
    served = []
    for elapsed in (0.0, 3599.9, 3600.0):
        clock.now = 1000.0 + elapsed
        answer = answers(client, instance)[0]
        served.append((elapsed, answer["served_by"], answer["score"], answer["prediction"]))

    assert served == [
        (0.0, "cache", first["score"], first["prediction"]),
        (3599.9, "cache", first["score"], first["prediction"]),
        (3600.0, "rule", None, None),
    ]


def test_the_breaker_opens_after_five_failures_and_a_trial_after_thirty_seconds_closes_it(
    serve, demo_copy, clock
):
    data_dir, url = demo_copy
    register_scripted_version(
        url, data_dir, MODEL, "9.1.0", ScriptedModel("loan_purpose", {"small_business": RAISE}, 0.7)
    )
    set_traffic(url, "9.1.0", {"external": 1.0})
    client, gateway = serve()
    failing = applicant_instances(rng(11), 1, entity_prefix="bad", loan_purpose="small_business")
    good = applicant_instances(rng(12), 1, entity_prefix="good", loan_purpose="car")
    timeline = []
    for elapsed, instance in [
        *((t, failing) for t in (0.0, 1.0, 2.0, 3.0, 4.0)),
        (5.0, good),
        (33.9, good),
        (34.0, good),
        (35.0, good),
    ]:
        clock.now = 1000.0 + elapsed
        answer = answers(client, instance)[0]
        state = gateway.breaker(MODEL, "9.1.0").state
        timeline.append((elapsed, answer["served_by"], answer["reason"], state))

    failed = rule(
        MODEL_FAILED.format(
            model_id=MODEL,
            version="9.1.0",
            error_type="RuntimeError",
            error=SCRIPTED_FAILURE.format(value="small_business"),
        )
    )
    circuit_open = rule(CIRCUIT_OPEN.format(model_id=MODEL, version="9.1.0"))
    assert timeline == [
        (0.0, "rule", failed, "closed"),
        (1.0, "rule", failed, "closed"),
        (2.0, "rule", failed, "closed"),
        (3.0, "rule", failed, "closed"),
        (4.0, "rule", failed, "open"),
        (5.0, "rule", circuit_open, "open"),
        (33.9, "rule", circuit_open, "open"),
        (34.0, "model", None, "closed"),
        (35.0, "model", None, "closed"),
    ]


def test_a_tampered_artefact_is_refused_without_affecting_the_other_models(serve, demo_copy):
    data_dir, _ = demo_copy
    path = data_dir / "models" / "marketing_propensity" / "1.0.0" / "model.pkl"
    original = path.read_bytes()
    path.write_bytes(original + b"tampered")
    client, gateway = serve()
    health = client.get("/health").json()
    credit = answers(client, applicant_instances(rng(13), 2))
    _, marketing = predict(client, applicant_instances(rng(13), 2), "marketing_propensity")
    path.write_bytes(original)
    gateway.refresh()
    _, repaired = predict(client, applicant_instances(rng(13), 2), "marketing_propensity")

    error = ARTEFACT_MISMATCH.format(
        path="models/marketing_propensity/1.0.0/model.pkl",
        actual=hashlib.sha256(original + b"tampered").hexdigest(),
        expected=hashlib.sha256(original).hexdigest(),
    )
    assert health["models"]["marketing_propensity"]["unavailable"] == {"1.0.0": error}
    assert health["models"][MODEL]["unavailable"] == {}
    assert [a["served_by"] for a in credit] == ["model", "model"]
    not_loaded = NOT_LOADED.format(model_id="marketing_propensity", version="1.0.0", error=error)
    assert [(a["served_by"], a["prediction"], a["reason"]) for a in marketing["predictions"]] == [
        ("rule", 0, rule(not_loaded, "no_offer"))
    ] * 2
    assert [a["served_by"] for a in repaired["predictions"]] == ["model", "model"]


def test_an_artefact_that_cannot_be_loaded_is_named_to_callers_without_the_servers_paths(
    serve, demo_copy, caplog
):
    """/health and the answers reach callers who authenticate with nothing: they name the
    artefact under the data directory and the failure's type; the log keeps the rest."""
    data_dir, _ = demo_copy
    path = data_dir / "models" / "marketing_propensity" / "1.0.0" / "model.pkl"
    path.unlink()
    path.mkdir()  # reading it raises IsADirectoryError, whose text is the absolute path
    with caplog.at_level(logging.ERROR, logger="govflow.serving.gateway"):
        client, _ = serve()
    health = client.get("/health")
    _, marketing = predict(client, applicant_instances(rng(13), 1), "marketing_propensity")

    error = ARTEFACT_UNREADABLE.format(
        path="models/marketing_propensity/1.0.0/model.pkl", error_type="IsADirectoryError"
    )
    assert health.json()["models"]["marketing_propensity"]["unavailable"] == {"1.0.0": error}
    not_loaded = NOT_LOADED.format(model_id="marketing_propensity", version="1.0.0", error=error)
    assert marketing["predictions"][0]["reason"] == rule(not_loaded, "no_offer")
    assert str(data_dir) not in health.text + json.dumps(marketing)
    assert str(path) in caplog.text


def test_the_gateway_serves_its_three_routes_and_no_generated_documentation(serve):
    client, _ = serve()
    routes = {(method, route.path) for route in client.app.routes for method in route.methods}
    assert routes == {
        ("GET", "/health"),
        ("POST", "/v1/models/{model_id}/predict"),
        ("POST", "/v1/models/{model_id}/feedback"),
    }
    assert [client.get(path).status_code for path in ("/docs", "/redoc", "/openapi.json")] == [
        404
    ] * 3


def test_a_black_box_candidate_is_answered_by_the_rule_and_switches_still_apply(serve, demo_copy):
    """A version registered without an artefact, routed to, holds back neither the
    refresh nor a kill switch, for its model or any other."""
    _, url = demo_copy
    with store.session_scope(url) as session:
        base = registry.get_version(session, MODEL, "1.0.0")
        registry.register_version(
            session,
            model_id=MODEL,
            version="1.2.0",
            artifact_uri=NO_ARTIFACT,
            artifact_sha256=NO_ARTIFACT,
            training_snapshot_id=base.training_snapshot_id,
            feature_version=base.feature_version,
            validation_uri=None,
            validation_metrics={},
            decision_threshold=0.5,
            actor=base.model.owner,
        )
        approve_version(session, MODEL, "1.2.0", justification="a black box candidate")
    set_traffic(url, "1.2.0", {"external": 1.0})
    client, gateway = serve()
    routed = answers(client, applicant_instances(rng(23), 2))
    activate(url, "model_type", "marketing_propensity")
    gateway.refresh()
    _, marketing = predict(client, applicant_instances(rng(23), 2), "marketing_propensity")

    black_box = BLACK_BOX.format(model_id=MODEL, version="1.2.0")
    reason = NOT_LOADED.format(model_id=MODEL, version="1.2.0", error=black_box)
    assert [(a["served_by"], a["reason"]) for a in routed] == [("rule", rule(reason))] * 2
    assert client.get("/health").json()["models"][MODEL]["unavailable"] == {"1.2.0": black_box}
    assert {a["reason"] for a in marketing["predictions"]} == {
        rule(switched("model_type", "marketing_propensity"), "no_offer")
    }


# --- what the gateway writes ---------------------------------------------------------------------


def test_every_answer_is_logged_with_the_declared_columns_and_counted(serve, demo_copy):
    data_dir, url = demo_copy
    client, gateway = serve()
    instances = applicant_instances(rng(14), 5, customer_segment="standard")
    instances[4]["features"]["customer_segment"] = "high_value"
    activate(url, "customer_segment", "high_value")
    gateway.refresh()
    result = answers(client, instances)
    gateway.flush()

    directory = data_dir / "prediction_logs" / MODEL
    day = utcnow().date().isoformat()
    assert [p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()] == [
        f"date={day}/part-gw-{INSTANCE}-000001.parquet"
    ]
    now = utcnow()
    logged = ParquetLogSource(directory).read_window(now - timedelta(hours=1), now)
    assert list(logged.columns) == log_columns(FEATURES, PROTECTED)
    logged = logged.set_index("prediction_id").loc[[a["prediction_id"] for a in result[:4]]]
    assert logged["score"].tolist() == [a["score"] for a in result[:4]]
    assert logged["prediction"].tolist() == [a["prediction"] for a in result[:4]]
    assert set(logged["model_version"]) == {"1.0.0"}
    assert logged[FEATURES].to_dict("records") == [i["features"] for i in instances[:4]]
    assert logged[PROTECTED].to_dict("records") == [i["attributes"] for i in instances[:4]]
    assert (logged["label"].isna().all(), logged["label_observed_at"].isna().all()) == (True, True)

    fallbacks = pq.read_table(
        data_dir
        / "serving_fallbacks"
        / MODEL
        / f"date={day}"
        / f"part-gw-{INSTANCE}-000001.parquet"
    ).to_pylist()
    assert [
        (row["prediction_id"], row["entity_id"], row["served_by"], row["reason"])
        for row in fallbacks
    ] == [
        (
            result[4]["prediction_id"],
            instances[4]["entity_id"],
            "rule",
            rule(switched("customer_segment", "high_value")),
        )
    ]
    with store.session_scope(url) as session:
        stats = session.execute(
            select(
                ServingStat.model_id,
                ServingStat.version,
                ServingStat.requests,
                ServingStat.errors,
                ServingStat.invalid,
                ServingStat.clipped,
                ServingStat.fallbacks,
            ).where(ServingStat.instance == INSTANCE)
        ).all()
        heartbeat = session.get(GatewayHeartbeat, INSTANCE)
        assert heartbeat is not None
        revisions = heartbeat.revisions
    assert stats == [(MODEL, "1.0.0", 5, 0, 0, 0, 1)]
    assert revisions == {
        MODEL: 1,
        "marketing_propensity": 1,
        "product_recommendation": 1,
        "customer_lifetime_value": 1,
    }


def feedback(
    client: TestClient, body: dict[str, Any], token: str | None = LOAN_PORTAL_TOKEN, model=MODEL
) -> Any:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return client.post(f"/v1/models/{model}/feedback", json=body, headers=headers)


def stored_feedback(url: str) -> list[tuple[str, str, str]]:
    with store.session_scope(url) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(ServingFeedback.kind, ServingFeedback.severity, ServingFeedback.recorded_by)
            )
        ]


def feedback_events(url: str) -> list[tuple[str, str, dict]]:
    with store.session_scope(url) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(AuditEvent.actor, AuditEvent.severity, AuditEvent.payload).where(
                    AuditEvent.action == "serving.feedback_recorded"
                )
            )
        ]


CRITICAL_BUG = {"kind": "bug", "severity": "critical", "details": "approves every applicant"}


def test_feedback_is_stored_and_feedback_of_an_unknown_kind_refused(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve()
    stored = feedback(
        client,
        {
            "kind": "complaint",
            "severity": "major",
            "version": "1.0.0",
            "details": "declined twice for the same application",
            "recorded_by": "carol",
        },
    )
    refused = feedback(client, {"kind": "rumour", "severity": "minor", "details": "x"})
    unknown = feedback(client, {"kind": "bug", "severity": "minor", "details": "x"}, model="fraud")
    with store.session_scope(url) as session:
        ids = session.scalars(select(ServingFeedback.id)).all()
    assert (stored.status_code, stored.json()) == (201, {"id": ids[0]})
    assert stored_feedback(url) == [("complaint", "major", "carol")]
    assert (refused.status_code, refused.json()) == (
        422,
        {
            "detail": INVALID_FIELD.format(
                location="kind", message=FEEDBACK_KIND_CHOICES, value="'rumour'"
            )
        },
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": UNKNOWN_MODEL.format(model_id="'fraud'", models=MODELS)},
    )


@pytest.mark.parametrize(
    "token",
    [None, "", "not-the-token-of-any-consumer", LOAN_PORTAL_TOKEN[:-1], LOAN_PORTAL_TOKEN + "x"],
)
def test_an_anonymous_feedback_post_is_refused(serve, demo_copy, token):
    _, url = demo_copy
    client, _ = serve()
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    refused = client.post(
        f"/v1/models/{MODEL}/feedback", json={**CRITICAL_BUG, "recorded_by": "ceo"}, headers=headers
    )
    assert (refused.status_code, refused.json()) == (401, {"detail": NOT_AUTHENTICATED})
    assert refused.headers["www-authenticate"] == "Bearer"
    assert (stored_feedback(url), feedback_events(url)) == ([], [])


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789abcdef"])
def test_feedback_without_a_valid_token_is_refused_before_its_body_is_validated(
    serve, authorization
):
    """An anonymous caller learns nothing of the body's schema: 401, never the 422 naming
    the fields a valid feedback needs."""
    client, _ = serve()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post(f"/v1/models/{MODEL}/feedback", json={"kind": "bug"}, headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": NOT_AUTHENTICATED})
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_is_accepted_only_as_a_bearer_token(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve()
    for header in (
        LOAN_PORTAL_TOKEN,
        f"Basic {LOAN_PORTAL_TOKEN}",
        f"Bearer  {LOAN_PORTAL_TOKEN}x",
    ):
        refused = client.post(
            f"/v1/models/{MODEL}/feedback", json=CRITICAL_BUG, headers={"authorization": header}
        )
        assert refused.status_code == 401
    assert stored_feedback(url) == []


def test_feedback_is_recorded_by_the_authenticated_consumer_or_a_person_it_names(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve()
    by_consumer = feedback(client, CRITICAL_BUG)
    by_person = feedback(client, {**CRITICAL_BUG, "recorded_by": "carol"})
    by_itself = feedback(client, {**CRITICAL_BUG, "recorded_by": "loan_portal"})
    by_free_text = feedback(client, {**CRITICAL_BUG, "recorded_by": "ceo"})
    by_other_consumer = feedback(client, {**CRITICAL_BUG, "recorded_by": "branch_app"})

    assert [r.status_code for r in (by_consumer, by_person, by_itself)] == [201, 201, 201]
    assert (by_free_text.status_code, by_free_text.json()) == (
        422,
        {"detail": UNKNOWN_PERSON.format(person="'ceo'", consumer="loan_portal")},
    )
    assert by_other_consumer.status_code == 422
    assert stored_feedback(url) == [
        ("bug", "critical", "loan_portal"),
        ("bug", "critical", "carol"),
        ("bug", "critical", "loan_portal"),
    ]
    assert [
        (actor, severity, payload["consumer"]) for actor, severity, payload in feedback_events(url)
    ] == [
        ("loan_portal", "CRITICAL", "loan_portal"),
        ("carol", "CRITICAL", "loan_portal"),
        ("loan_portal", "CRITICAL", "loan_portal"),
    ]


def test_a_consumer_may_file_feedback_only_on_the_models_it_consumes(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve()
    refused = feedback(client, CRITICAL_BUG, model="product_recommendation")
    assert (refused.status_code, refused.json()) == (
        403,
        {
            "detail": NOT_A_CONSUMER.format(
                consumer="loan_portal", model_id="product_recommendation"
            )
        },
    )
    assert stored_feedback(url) == []


@pytest.mark.parametrize(
    "connection",
    [
        json.dumps({"conn_type": "generic", "password": "branch-app-token-0123456789"}),
        "generic://:branch-app-token-0123456789@",
        "generic://branch%20app:branch-app-token-0123456789@gateway.example",
    ],
)
def test_a_consumer_token_can_come_from_an_airflow_connection_in_the_environment(
    serve, demo_copy, monkeypatch, connection
):
    _, url = demo_copy
    monkeypatch.setenv("AIRFLOW_CONN_GOVFLOW_GATEWAY_BRANCH_APP", connection)
    client, _ = serve()
    accepted = feedback(client, CRITICAL_BUG, token="branch-app-token-0123456789")
    assert accepted.status_code == 201
    assert stored_feedback(url) == [("bug", "critical", "branch_app")]


def test_the_gateway_refuses_to_start_with_a_short_or_shared_consumer_token(demo_copy, monkeypatch):
    data_dir, url = demo_copy
    options = {"config": CONFIG, "db_url": url, "data_dir": data_dir, "background": False}
    monkeypatch.setenv("GOVFLOW_GATEWAY_TOKEN_BRANCH_APP", "x7-tiny")
    with pytest.raises(GatewayError) as short:
        create_app(**options)
    monkeypatch.setenv("GOVFLOW_GATEWAY_TOKEN_BRANCH_APP", LOAN_PORTAL_TOKEN)
    with pytest.raises(GatewayError) as shared:
        create_app(**options)
    assert str(short.value) == SHORT_TOKEN.format(
        consumer="branch_app", source="GOVFLOW_GATEWAY_TOKEN_BRANCH_APP", length=MIN_TOKEN_LENGTH
    )
    assert str(shared.value) == SHARED_TOKEN.format(consumers="branch_app, loan_portal")
    assert "x7-tiny" not in str(short.value) and LOAN_PORTAL_TOKEN not in str(shared.value)


BRANCH_FILE = "GOVFLOW_GATEWAY_TOKEN_BRANCH_APP_FILE"
FIRST_TOKEN, SECOND_TOKEN = "branch-app-first-token-0123", "branch-app-second-token-456"


def test_a_token_rotated_or_revoked_in_its_file_holds_from_the_next_refresh(
    serve, demo_copy, monkeypatch, tmp_path, caplog
):
    """A mounted secret is rewritten in place: the token read at start kept working until a
    restart, a revoked one included."""
    _, url = demo_copy
    token_file = tmp_path / "branch_app.token"
    token_file.write_text(FIRST_TOKEN + "\n")
    monkeypatch.setenv(BRANCH_FILE, str(token_file))
    client, gateway = serve()
    first = feedback(client, CRITICAL_BUG, token=FIRST_TOKEN).status_code

    token_file.write_text(SECOND_TOKEN + "\n")
    gateway.refresh()
    rotated = [
        feedback(client, CRITICAL_BUG, token=t).status_code for t in (FIRST_TOKEN, SECOND_TOKEN)
    ]
    token_file.unlink()
    gateway.refresh()
    revoked = feedback(client, CRITICAL_BUG, token=SECOND_TOKEN).status_code

    assert (first, rotated, revoked) == (201, [401, 201], 401)
    assert stored_feedback(url) == [("bug", "critical", "branch_app")] * 2
    assert "branch_app" in client.get("/health").json()["consumers"]["without_token"]
    missing = f"{token_file}: No such file or directory"
    assert (
        UNREADABLE_TOKEN_FILE.format(consumer="branch_app", source=BRANCH_FILE, error=missing)
        + ": its consumer cannot file feedback"
    ) in caplog.messages
    assert FIRST_TOKEN not in caplog.text and SECOND_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("written", "problem", "loan_portal_after"),
    [
        (
            "x7-tiny",
            SHORT_TOKEN.format(consumer="branch_app", source=BRANCH_FILE, length=MIN_TOKEN_LENGTH),
            201,
        ),
        # Two consumers with one token cannot be told apart: neither keeps it.
        (LOAN_PORTAL_TOKEN, SHARED_TOKEN.format(consumers="branch_app, loan_portal"), 401),
    ],
)
def test_a_token_that_became_unusable_leaves_its_consumer_without_one_the_gateway_serving(
    serve, monkeypatch, tmp_path, caplog, written, problem, loan_portal_after
):
    token_file = tmp_path / "branch_app.token"
    token_file.write_text(FIRST_TOKEN)
    monkeypatch.setenv(BRANCH_FILE, str(token_file))
    client, gateway = serve()

    token_file.write_text(written)
    gateway.refresh()
    gateway.refresh()  # the same problem again: logged once

    assert feedback(client, CRITICAL_BUG, token=FIRST_TOKEN).status_code == 401
    assert feedback(client, CRITICAL_BUG).status_code == loan_portal_after
    assert caplog.messages.count(f"{problem}: its consumer cannot file feedback") == 1
    assert written not in caplog.text


@pytest.mark.parametrize(
    ("environment", "refusal"),
    [
        (
            {BRANCH_FILE: "/nonexistent/branch_app.token"},
            UNREADABLE_TOKEN_FILE.format(
                consumer="branch_app",
                source=BRANCH_FILE,
                error="/nonexistent/branch_app.token: No such file or directory",
            ),
        ),
        (
            {BRANCH_FILE: "/nonexistent/t", "GOVFLOW_GATEWAY_TOKEN_BRANCH_APP": SECOND_TOKEN},
            TWO_SOURCES.format(
                consumer="branch_app", variable="GOVFLOW_GATEWAY_TOKEN_BRANCH_APP", file=BRANCH_FILE
            ),
        ),
    ],
)
def test_the_gateway_refuses_to_start_with_a_token_file_it_cannot_read_or_two_sources(
    demo_copy, monkeypatch, environment, refusal
):
    data_dir, url = demo_copy
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(GatewayError) as refused:
        create_app(config=CONFIG, db_url=url, data_dir=data_dir, background=False)
    assert str(refused.value) == refusal


def test_consumer_tokens_are_never_logged_nor_reported(serve, demo_copy, caplog):
    caplog.set_level(logging.DEBUG)
    client, _ = serve()
    feedback(client, CRITICAL_BUG)
    feedback(client, CRITICAL_BUG, token=LOAN_PORTAL_TOKEN + "x")
    health = client.get("/health").json()
    assert health["consumers"] == {
        "with_token": ["loan_portal"],
        "without_token": ["branch_app", "campaign_manager", "mobile_app"],
    }
    assert LOAN_PORTAL_TOKEN not in caplog.text + json.dumps(health)
    assert (
        NO_TOKEN.format(
            consumers="branch_app, campaign_manager, mobile_app",
            variables="GOVFLOW_GATEWAY_TOKEN_<CONSUMER>",
        )
        in caplog.messages
    )


# --- request limits --------------------------------------------------------------------------


def test_a_body_larger_than_the_configured_limit_is_refused_unread(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve(max_body_bytes=4096)
    padding = "x" * 4096
    large = feedback(client, {**CRITICAL_BUG, "details": padding})
    small = feedback(client, CRITICAL_BUG)
    large_predict = client.post(
        f"/v1/models/{MODEL}/predict",
        json={"instances": applicant_instances(rng(30), 40)},
    )
    assert (large.status_code, large.json()) == (
        413,
        {"detail": BODY_TOO_LARGE.format(limit=4096)},
    )
    assert (large_predict.status_code, small.status_code) == (413, 201)
    assert stored_feedback(url) == [("bug", "critical", "loan_portal")]


def test_the_body_limit_is_one_mib_unless_configured(serve):
    client, _ = serve()
    body = json.dumps({**CRITICAL_BUG, "details": "x" * DEFAULT_MAX_BODY_BYTES})
    refused = client.post(
        f"/v1/models/{MODEL}/feedback",
        content=body,
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {LOAN_PORTAL_TOKEN}",
        },
    )
    assert DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    assert (refused.status_code, refused.json()) == (
        413,
        {"detail": BODY_TOO_LARGE.format(limit=DEFAULT_MAX_BODY_BYTES)},
    )


def test_a_body_sent_without_a_length_is_cut_off_at_the_limit(serve, demo_copy):
    _, url = demo_copy
    client, _ = serve(max_body_bytes=4096)
    chunks = [
        json.dumps({**CRITICAL_BUG, "details": "x" * 8000}).encode()[i : i + 1000]
        for i in range(0, 8100, 1000)
    ]
    refused = client.post(
        f"/v1/models/{MODEL}/feedback",
        content=iter(chunks),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {LOAN_PORTAL_TOKEN}",
        },
    )
    assert refused.status_code == 413
    assert stored_feedback(url) == []


def test_serve_takes_the_body_limit_from_its_environment_and_refuses_a_limit_below_one():
    result = CliRunner().invoke(cli, ["serve"], env={"GOVFLOW_GATEWAY_MAX_BODY_BYTES": "0"})
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        BAD_MAX_BODY_BYTES.format(limit=0) + "\n",
    )


def test_an_entity_id_longer_than_256_characters_is_refused_and_one_of_256_answered(serve):
    client, _ = serve()
    instances = applicant_instances(rng(32), 2)
    instances[0]["entity_id"] = "e" * 256
    instances[1]["entity_id"] = "e" * 257
    refused = client.post(f"/v1/models/{MODEL}/predict", json={"instances": instances})
    status, body = predict(client, instances[:1])
    assert (refused.status_code, refused.json()) == (
        422,
        {
            "detail": INVALID_FIELD.format(
                location="instances.1.entity_id",
                message="String should have at most 256 characters",
                value="'" + "e" * 39 + "…",
            )
        },
    )
    assert (status, body["predictions"][0]["served_by"]) == (200, "model")


def test_each_models_cache_holds_no_more_bytes_than_models_yaml_allows(demo_copy, clock):
    data_dir, url = demo_copy
    limit = 10 * answer_bytes(MODEL, "x" * 40, "1.0.0")
    models = [
        entry.model_copy(
            update={"serving": entry.serving.model_copy(update={"cache_max_bytes": limit})}
        )
        if entry.id == MODEL
        else entry
        for entry in CONFIG.models.models
    ]
    config = CONFIG.model_copy(
        update={"models": CONFIG.models.model_copy(update={"models": models})}
    )
    app = create_app(
        config=config, db_url=url, data_dir=data_dir, instance=INSTANCE, background=False
    )
    with TestClient(app) as client:
        answered = answers(client, applicant_instances(rng(33), 40))
    cache = app.state.gateway.models[MODEL].cache
    assert {a["served_by"] for a in answered} == {"model"}
    assert cache.max_bytes == limit
    assert 0 < cache.nbytes <= cache.max_bytes
    assert len(cache) < 40


LONG = "z" * 5000


def _refusal(client: TestClient, case: str) -> tuple[int, Any]:
    instance = applicant_instances(rng(31), 1)[0]
    if case == "category":
        instance["features"]["region"] = LONG
    elif case == "number":
        instance["features"]["income"] = LONG
    elif case == "attribute":
        instance["attributes"]["gender"] = LONG
    if case in ("category", "number", "attribute"):
        status, body = predict(client, [instance])
        return status, body["predictions"][0]["error"]
    if case == "audience":
        status, body = predict(client, [instance], audience=LONG)
    elif case == "model":
        status, body = predict(client, [instance], model=LONG[:2000])
    elif case == "kind":
        answer = feedback(client, {**CRITICAL_BUG, "kind": LONG})
        status, body = answer.status_code, answer.json()
    elif case == "version":
        answer = feedback(client, {**CRITICAL_BUG, "version": LONG})
        status, body = answer.status_code, answer.json()
    elif case == "person":
        answer = feedback(client, {**CRITICAL_BUG, "recorded_by": LONG})
        status, body = answer.status_code, answer.json()
    elif case == "json":
        answer = client.post(
            f"/v1/models/{MODEL}/predict",
            content='{"instances": [' + LONG,
            headers={"content-type": "application/json"},
        )
        status, body = answer.status_code, answer.json()
    return status, body["detail"]


SHOWN = "'" + "z" * 39 + "…"
FEEDBACK_KIND_CHOICES = (
    "Input should be 'bug', 'complaint', 'override', 'security_vulnerability' or "
    "'regulatory_concern'"
)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "category",
            (
                422,
                UNKNOWN_CATEGORY.format(
                    name="region", value=SHOWN, categories="north, south, east, west"
                ),
            ),
        ),
        ("number", (422, FEATURE_NOT_A_NUMBER.format(name="income", value=SHOWN))),
        (
            "attribute",
            (
                422,
                UNKNOWN_ATTRIBUTE_VALUE.format(
                    name="gender", value=SHOWN, categories="female, male, non_binary"
                ),
            ),
        ),
        (
            "audience",
            (
                422,
                INVALID_FIELD.format(
                    location="context.audience",
                    message="Input should be 'internal' or 'external'",
                    value=SHOWN,
                ),
            ),
        ),
        ("model", (404, UNKNOWN_MODEL.format(model_id=SHOWN, models=MODELS))),
        (
            "kind",
            (
                422,
                INVALID_FIELD.format(location="kind", message=FEEDBACK_KIND_CHOICES, value=SHOWN),
            ),
        ),
        (
            "version",
            (
                422,
                INVALID_FIELD.format(
                    location="version",
                    message="String should have at most 64 characters",
                    value=SHOWN,
                ),
            ),
        ),
        ("person", (422, UNKNOWN_PERSON.format(person=SHOWN, consumer="loan_portal"))),
        ("json", (422, NOT_JSON)),
    ],
)
def test_a_refused_value_is_shown_cut_to_its_first_forty_characters(serve, case, expected):
    client, _ = serve()
    assert _refusal(client, case) == expected


def test_a_request_with_many_invalid_values_names_the_first_three_on_one_line(serve):
    client, _ = serve()
    answer = client.post(
        f"/v1/models/{MODEL}/predict",
        json={"instances": [{"features": LONG} for _ in range(5)]},
    )
    errors = [
        INVALID_FIELD.format(
            location=f"instances.{n}.features",
            message="Input should be a valid dictionary",
            value=SHOWN,
        )
        for n in range(3)
    ]
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "; ".join(errors) + MORE_ERRORS.format(count=2)},
    )


async def _run_limited(chunks: list[bytes], declared: object, max_bytes: int) -> tuple:
    """BodySizeLimit around an app that echoes the body: (status, body) as sent back."""
    sent: list[dict] = []
    queue = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]

    async def receive() -> dict:
        return queue.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    async def echo(scope, receive, send) -> None:
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    await BodySizeLimit(echo, max_bytes=max_bytes)(
        {"type": "http", "headers": headers}, receive, send
    )
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.parametrize(
    ("chunks", "declared", "expected"),
    [
        ([b"a" * 8, b"b" * 8], 16, (200, b"a" * 8 + b"b" * 8)),
        (
            [b"a" * 10, b"b" * 10],
            10,
            (413, b'{"detail": "the request body is larger than 16 bytes"}'),
        ),
        ([b"a" * 4], 17, (413, b'{"detail": "the request body is larger than 16 bytes"}')),
        ([b"a" * 16], None, (200, b"a" * 16)),
        ([b"a" * 17], None, (413, b'{"detail": "the request body is larger than 16 bytes"}')),
        ([b"a"], "x", (400, b'{"detail": "the Content-Length header is not a number of bytes"}')),
    ],
)
def test_the_body_limit_counts_the_bytes_read_not_only_the_declared_length(
    chunks, declared, expected
):
    assert asyncio.run(_run_limited(chunks, declared, 16)) == expected


# --- bad input -----------------------------------------------------------------------------------


def test_each_bad_instance_gets_its_own_error_and_the_others_are_still_answered(serve):
    client, _ = serve()
    instances = applicant_instances(rng(15), 6)
    del instances[0]["features"]["income"]
    instances[1]["features"]["debt_to_income"] = math.nan
    instances[2]["features"]["region"] = "atlantis"
    instances[3]["features"].update(credit_score=900, loan_term_months=12.5)
    instances[3]["attributes"]["gender"] = "unknown"
    instances[4]["features"]["savings_balance"] = "n/a"
    status, body = predict(client, instances)

    assert status == 200
    assert [(a["status"], a["error"]) for a in body["predictions"]] == [
        (422, MISSING_FEATURE.format(name="income")),
        (422, FEATURE_NOT_FINITE.format(name="debt_to_income", value=math.nan)),
        (
            422,
            UNKNOWN_CATEGORY.format(
                name="region", value="'atlantis'", categories="north, south, east, west"
            ),
        ),
        (
            422,
            "; ".join(
                [
                    FEATURE_NOT_WHOLE.format(name="loan_term_months", value=12.5),
                    FEATURE_OUT_OF_RANGE.format(name="credit_score", value=900, low=300, high=850),
                    UNKNOWN_ATTRIBUTE_VALUE.format(
                        name="gender", value="'unknown'", categories="female, male, non_binary"
                    ),
                ]
            ),
        ),
        (422, FEATURE_NOT_A_NUMBER.format(name="savings_balance", value="'n/a'")),
        (200, None),
    ]
    assert [a["served_by"] for a in body["predictions"]] == [None] * 5 + ["model"]


def test_a_request_whose_every_instance_is_bad_is_refused_as_a_whole(serve):
    client, _ = serve()
    instances = applicant_instances(rng(16), 2)
    for instance in instances:
        del instance["features"]["region"]
    status, body = predict(client, instances)
    assert (status, [a["error"] for a in body["predictions"]]) == (
        422,
        [MISSING_FEATURE.format(name="region")] * 2,
    )


def test_an_unknown_model_is_not_found_and_a_request_without_instances_is_refused(serve):
    client, _ = serve()
    unknown = predict(client, applicant_instances(rng(17), 1), "fraud_detection")
    empty = client.post(f"/v1/models/{MODEL}/predict", json={"instances": []})
    bad_audience = client.post(
        f"/v1/models/{MODEL}/predict",
        json={"instances": applicant_instances(rng(17), 1), "context": {"audience": "partners"}},
    )
    assert unknown == (
        404,
        {"detail": UNKNOWN_MODEL.format(model_id="'fraud_detection'", models=MODELS)},
    )
    assert (empty.status_code, bad_audience.status_code) == (422, 422)


def test_serve_refuses_a_model_missing_from_models_yaml_before_listening():
    result = CliRunner().invoke(cli, ["serve", "--models", "credit_approval,fraud_detection"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        NOT_IN_INVENTORY.format(model_id="fraud_detection") + "\n",
    )


# --- the log writer ------------------------------------------------------------------------------


def _rows(day: str, count: int) -> list[dict[str, Any]]:
    scored_at = datetime.fromisoformat(f"{day}T12:00:00+00:00")
    return [
        {"prediction_id": f"p-{day}-{n}", "scored_at": scored_at, "score": n / 10}
        for n in range(count)
    ]


SMALL_SCHEMA = pa.schema(
    [("prediction_id", pa.string()), ("scored_at", TIMESTAMP), ("score", pa.float64())]
)


def test_the_log_writer_writes_one_file_per_day_and_never_overwrites_a_taken_name(tmp_path):
    writer = PartitionedLogWriter(tmp_path, SMALL_SCHEMA, instance=INSTANCE)
    taken = tmp_path / "date=2026-01-01" / f"part-gw-{INSTANCE}-000001.parquet"
    taken.parent.mkdir()
    taken.write_bytes(b"an earlier gateway's file")
    for row in _rows("2026-01-02", 2) + _rows("2026-01-01", 3):
        writer.append(row)
    written = writer.flush()

    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        f"date=2026-01-01/part-gw-{INSTANCE}-000002.parquet",
        f"date=2026-01-02/part-gw-{INSTANCE}-000003.parquet",
    ]
    assert [pq.read_table(p).column("prediction_id").to_pylist() for p in written] == [
        ["p-2026-01-01-0", "p-2026-01-01-1", "p-2026-01-01-2"],
        ["p-2026-01-02-0", "p-2026-01-02-1"],
    ]
    assert taken.read_bytes() == b"an earlier gateway's file"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_rows_whose_write_fails_stay_buffered_for_the_next_flush(tmp_path):
    writer = PartitionedLogWriter(tmp_path, SMALL_SCHEMA, instance=INSTANCE)
    blocker = tmp_path / "date=2026-01-01"
    blocker.write_text("not a directory")
    for row in _rows("2026-01-01", 2):
        writer.append(row)
    with pytest.raises(FileExistsError):
        writer.flush()
    pending = writer.pending
    blocker.unlink()
    written = writer.flush()

    assert pending == 2
    assert [pq.read_table(p).num_rows for p in written] == [2]
    assert writer.pending == 0
