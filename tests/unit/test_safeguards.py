"""Seed 003 prediction safeguards: validation and clipping, last-known-good cache, circuit
breaker, and their settings in models.yaml; exact numbers, an injected clock."""

from __future__ import annotations

import gc
import math
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from govflow import settings
from govflow.config import ConfigError, load_config
from govflow.config.inventory import FALLBACK_SCORE_OUT_OF_RANGE, OUTPUT_OF_TYPE
from govflow.serving import (
    CachedAnswer,
    CircuitBreaker,
    LastKnownGoodCache,
    OutputCheck,
    check_output,
    check_outputs,
    output_range,
)
from govflow.serving.safeguards import (
    ANSWER_OVERHEAD_BYTES,
    BAD_BREAKER,
    BAD_MAX_BYTES,
    BAD_MAX_ENTRIES,
    BAD_TTL,
    CLIPPED_ABOVE,
    CLIPPED_BELOW,
    DEFAULT_MAX_BYTES,
    MAXIMUM_REQUIRED,
    NOT_A_NUMBER,
    NOT_FINITE,
    UNKNOWN_OUTPUT_KIND,
    answer_bytes,
)


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- validation and clipping -----------------------------------------------------------------

PROBABILITY_CASES = [
    (0.37, OutputCheck("ok", 0.37, None)),
    (0.0, OutputCheck("ok", 0.0, None)),
    (1.0, OutputCheck("ok", 1.0, None)),
    (1, OutputCheck("ok", 1.0, None)),
    (np.float64(0.25), OutputCheck("ok", 0.25, None)),
    (np.float32(0.5), OutputCheck("ok", 0.5, None)),
    (1.25, OutputCheck("clipped", 1.0, "the model returned 1.25, above 1.0; clipped to 1.0")),
    (-0.1, OutputCheck("clipped", 0.0, "the model returned -0.1, below 0.0; clipped to 0.0")),
    (
        float("nan"),
        OutputCheck("blocked", None, "the model returned nan, which is not a finite number"),
    ),
    (
        math.inf,
        OutputCheck("blocked", None, "the model returned inf, which is not a finite number"),
    ),
    (
        -math.inf,
        OutputCheck("blocked", None, "the model returned -inf, which is not a finite number"),
    ),
    ("0.5", OutputCheck("blocked", None, "the model returned '0.5', which is not a number")),
    (None, OutputCheck("blocked", None, "the model returned None, which is not a number")),
    (True, OutputCheck("blocked", None, "the model returned True, which is not a number")),
    ([0.5], OutputCheck("blocked", None, "the model returned [0.5], which is not a number")),
]


@pytest.mark.parametrize(("value", "expected"), PROBABILITY_CASES)
def test_a_probability_is_kept_in_zero_one_clipped_into_it_or_blocked(value, expected):
    assert check_output(value, kind="probability") == expected


NON_NEGATIVE_CASES = [
    (1200.5, OutputCheck("ok", 1200.5, None)),
    (0, OutputCheck("ok", 0.0, None)),
    (5000, OutputCheck("ok", 5000.0, None)),
    (-3, OutputCheck("clipped", 0.0, "the model returned -3.0, below 0.0; clipped to 0.0")),
    (
        7500,
        OutputCheck(
            "clipped", 5000.0, "the model returned 7500.0, above 5000.0; clipped to 5000.0"
        ),
    ),
    (
        float("nan"),
        OutputCheck("blocked", None, "the model returned nan, which is not a finite number"),
    ),
    ("n/a", OutputCheck("blocked", None, "the model returned 'n/a', which is not a number")),
]


@pytest.mark.parametrize(("value", "expected"), NON_NEGATIVE_CASES)
def test_a_non_negative_amount_is_clipped_into_zero_and_its_maximum(value, expected):
    assert check_output(value, kind="non_negative", maximum=5000) == expected


def test_the_reasons_are_the_module_constants():
    assert CLIPPED_ABOVE.format(value=1.25, high=1.0) == PROBABILITY_CASES[6][1].reason
    assert CLIPPED_BELOW.format(value=-0.1, low=0.0) == PROBABILITY_CASES[7][1].reason
    assert NOT_FINITE.format(value=math.nan) == PROBABILITY_CASES[8][1].reason
    assert NOT_A_NUMBER.format(value="0.5") == PROBABILITY_CASES[11][1].reason


def test_a_batch_is_checked_output_by_output_in_order():
    assert check_outputs(np.array([0.2, 1.5, np.nan])) == [
        OutputCheck("ok", 0.2, None),
        OutputCheck("clipped", 1.0, "the model returned 1.5, above 1.0; clipped to 1.0"),
        OutputCheck("blocked", None, "the model returned nan, which is not a finite number"),
    ]


@pytest.mark.parametrize(
    ("kind", "maximum", "expected"),
    [("probability", None, (0.0, 1.0)), ("non_negative", 250, (0.0, 250.0))],
)
def test_each_output_kind_has_its_range(kind, maximum, expected):
    assert output_range(kind, maximum=maximum) == expected


@pytest.mark.parametrize(
    ("kind", "maximum", "message"),
    [
        ("non_negative", None, MAXIMUM_REQUIRED),
        ("non_negative", 0, MAXIMUM_REQUIRED),
        (
            "count",
            None,
            UNKNOWN_OUTPUT_KIND.format(kind="count", kinds="probability, non_negative"),
        ),
    ],
)
def test_an_output_kind_without_a_valid_range_is_refused(kind, maximum, message):
    with pytest.raises(ValueError) as raised:
        check_output(0.5, kind=kind, maximum=maximum)
    assert str(raised.value) == message


# --- last-known-good cache ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read_at", "expected"),
    [
        (100.0, CachedAnswer("1.0.0", 0.81, 1, 100.0)),
        (159.999, CachedAnswer("1.0.0", 0.81, 1, 100.0)),
        (160.0, None),
        (500.0, None),
    ],
)
def test_a_cached_answer_is_recalled_until_its_ttl_has_passed(read_at, expected):
    clock = FakeClock(100.0)
    cache = LastKnownGoodCache(60, clock=clock)
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.81, prediction=1)
    clock.now = read_at
    assert cache.recall("credit_approval", "c-1") == expected
    assert len(cache) == (1 if expected else 0)


def test_a_newer_answer_replaces_the_older_and_restarts_its_ttl():
    clock = FakeClock(0.0)
    cache = LastKnownGoodCache(60, clock=clock)
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.81, prediction=1)
    clock.now = 50.0
    cache.remember("credit_approval", "c-1", model_version="1.1.0", score=0.42, prediction=0)
    clock.now = 100.0
    assert cache.recall("credit_approval", "c-1") == CachedAnswer("1.1.0", 0.42, 0, 50.0)


def test_answers_are_kept_per_model_and_entity():
    cache = LastKnownGoodCache(60, clock=FakeClock())
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.81, prediction=1)
    cache.remember("marketing_propensity", "c-1", model_version="1.0.0", score=0.3, prediction=0)
    assert [
        cache.recall(model, entity)
        for model, entity in (
            ("credit_approval", "c-1"),
            ("marketing_propensity", "c-1"),
            ("credit_approval", "c-2"),
        )
    ] == [
        CachedAnswer("1.0.0", 0.81, 1, 0.0),
        CachedAnswer("1.0.0", 0.3, 0, 0.0),
        None,
    ]


def test_the_least_recently_stored_answer_goes_first_when_the_cache_is_full():
    cache = LastKnownGoodCache(60, max_entries=2, clock=FakeClock())
    for entity in ("c-1", "c-2", "c-1", "c-3"):
        cache.remember("credit_approval", entity, model_version="1.0.0", score=0.5, prediction=1)
    assert [cache.recall("credit_approval", e) is not None for e in ("c-1", "c-2", "c-3")] == [
        True,
        False,
        True,
    ]


def test_an_answer_takes_its_strings_and_a_fixed_overhead_of_room():
    assert answer_bytes("credit_approval", "c-1", "1.0.0") == ANSWER_OVERHEAD_BYTES + 15 + 3 + 5
    assert answer_bytes("m", "é", "1") == ANSWER_OVERHEAD_BYTES + 1 + 2 + 1


def test_the_least_recently_stored_answers_go_first_when_the_cache_is_out_of_bytes():
    small = answer_bytes("credit_approval", "c-1", "1.0.0")
    cache = LastKnownGoodCache(60, max_bytes=2 * small + 10, clock=FakeClock())
    for entity in ("c-1", "c-2", "c-1", "c-3"):
        cache.remember("credit_approval", entity, model_version="1.0.0", score=0.5, prediction=1)
    kept_small = [cache.recall("credit_approval", e) is not None for e in ("c-1", "c-2", "c-3")]
    large = "c-" + "x" * 9
    cache.remember("credit_approval", large, model_version="1.0.0", score=0.5, prediction=1)
    kept_large = [cache.recall("credit_approval", e) is not None for e in ("c-1", "c-3", large)]
    assert (kept_small, kept_large) == ([True, False, True], [False, True, True])
    assert (len(cache), cache.nbytes) == (
        2,
        small + answer_bytes("credit_approval", large, "1.0.0"),
    )


def test_an_answer_larger_than_the_whole_cache_is_not_kept():
    cache = LastKnownGoodCache(60, max_bytes=ANSWER_OVERHEAD_BYTES + 10, clock=FakeClock())
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.5, prediction=1)
    assert (len(cache), cache.nbytes, cache.recall("credit_approval", "c-1")) == (0, 0, None)


def test_an_expired_or_replaced_answer_gives_its_bytes_back():
    clock = FakeClock()
    cache = LastKnownGoodCache(60, clock=clock)
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.5, prediction=1)
    cache.remember("credit_approval", "c-1", model_version="1.10.0", score=0.5, prediction=1)
    replaced = cache.nbytes
    clock.now = 61.0
    cache.recall("credit_approval", "c-1")
    assert (replaced, cache.nbytes) == (answer_bytes("credit_approval", "c-1", "1.10.0"), 0)


def test_the_bytes_the_cache_counts_cover_the_memory_it_holds():
    cache = LastKnownGoodCache(60, max_entries=10**6, clock=FakeClock())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(5000):
            entity = f"customer-{n:0>200}"
            cache.remember(
                "credit_approval", entity, model_version="1.0.0", score=0.5, prediction=1
            )
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == 5000
    assert held <= cache.nbytes <= 1.5 * held


def test_a_zero_ttl_keeps_nothing():
    cache = LastKnownGoodCache(0, clock=FakeClock())
    cache.remember("credit_approval", "c-1", model_version="1.0.0", score=0.81, prediction=1)
    assert (len(cache), cache.recall("credit_approval", "c-1")) == (0, None)


@pytest.mark.parametrize(
    ("ttl", "entries", "max_bytes", "message"),
    [
        (-1, 10, DEFAULT_MAX_BYTES, BAD_TTL.format(ttl=-1)),
        (60, 0, DEFAULT_MAX_BYTES, BAD_MAX_ENTRIES.format(entries=0)),
        (60, 10, 0, BAD_MAX_BYTES.format(limit=0)),
    ],
)
def test_a_cache_with_a_negative_ttl_or_no_room_is_refused(ttl, entries, max_bytes, message):
    with pytest.raises(ValueError) as raised:
        LastKnownGoodCache(ttl, max_entries=entries, max_bytes=max_bytes)
    assert str(raised.value) == message


# --- circuit breaker -------------------------------------------------------------------------

# (time, action, state after the action, what allow() answered or None)
OPENS_AND_RECOVERS = [
    (0.0, "failure", "closed", None),
    (5.0, "failure", "closed", None),
    # The failure at 0 has left the 10 s window: two failures within it, still closed.
    (11.0, "failure", "closed", None),
    (12.0, "failure", "open", None),
    (12.0, "allow", "open", False),
    (41.9, "allow", "open", False),
    # A report from a call let through before the breaker opened changes nothing.
    (41.9, "success", "open", None),
    (42.0, "allow", "half_open", True),
    # One trial at a time.
    (42.0, "allow", "half_open", False),
    (42.5, "success", "closed", None),
    (42.5, "allow", "closed", True),
    # Past failures were forgotten: two new ones do not open it.
    (43.0, "failure", "closed", None),
    (44.0, "failure", "closed", None),
]

TRIAL_FAILS = [
    (0.0, "failure", "closed", None),
    (1.0, "failure", "closed", None),
    (2.0, "failure", "open", None),
    (20.0, "failure", "open", None),
    (32.0, "allow", "half_open", True),
    (32.1, "failure", "open", None),
    (62.0, "allow", "open", False),
    (62.1, "allow", "half_open", True),
    (62.2, "success", "closed", None),
]


@pytest.mark.parametrize("timeline", [OPENS_AND_RECOVERS, TRIAL_FAILS], ids=["recovers", "trial"])
def test_the_breaker_opens_after_three_failures_in_ten_seconds_and_tries_again_after_thirty(
    timeline,
):
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, window_seconds=10, open_seconds=30, clock=clock)
    observed = []
    for at, action, _state, _allowed in timeline:
        clock.now = at
        allowed = None
        if action == "failure":
            breaker.record_failure()
        elif action == "success":
            breaker.record_success()
        else:
            allowed = breaker.allow()
        observed.append((at, action, breaker.state, allowed))
    assert observed == timeline


def test_a_breaker_of_one_failure_opens_at_the_first():
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, window_seconds=60, open_seconds=5, clock=clock)
    breaker.record_failure()
    assert (breaker.state, breaker.allow()) == ("open", False)


@pytest.mark.parametrize(("failures", "window", "open_for"), [(0, 60, 30), (5, 0, 30), (5, 60, -1)])
def test_a_breaker_with_no_failures_window_or_cool_down_is_refused(failures, window, open_for):
    with pytest.raises(ValueError) as raised:
        CircuitBreaker(failures=failures, window_seconds=window, open_seconds=open_for)
    assert str(raised.value) == BAD_BREAKER


# --- the settings in models.yaml -------------------------------------------------------------


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "config"
    shutil.copytree(settings.config_dir(), copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new))


def test_the_credit_model_falls_back_to_manual_review_without_an_automatic_decision():
    serving = load_config(settings.config_dir()).models.get("credit_approval").serving
    assert serving.model_dump() == {
        "output": {"kind": "probability"},
        "fallback": {"decision": "manual_review", "score": None, "prediction": None},
        "cache_ttl_seconds": 3600.0,
        "cache_max_bytes": DEFAULT_MAX_BYTES,
        "circuit_breaker": {"failures": 5, "window_seconds": 60.0, "open_seconds": 30.0},
        "consumers": ["loan_portal", "branch_app"],
    }


def test_a_model_without_a_serving_block_gets_the_defaults(config_copy):
    models = config_copy / "models.yaml"
    text = models.read_text()
    start = text.index("    # Seed 003: without the model the customer sees no recommendation.")
    models.write_text(text[:start])
    serving = load_config(config_copy).models.get("product_recommendation").serving
    assert serving.model_dump() == {
        "output": {"kind": "probability"},
        "fallback": {"decision": "manual_review", "score": None, "prediction": None},
        "cache_ttl_seconds": 3600.0,
        "cache_max_bytes": DEFAULT_MAX_BYTES,
        "circuit_breaker": {"failures": 5, "window_seconds": 60.0, "open_seconds": 30.0},
        "consumers": [],
    }


def test_a_fallback_score_outside_the_valid_outputs_is_refused(config_copy):
    _edit(
        config_copy / "models.yaml",
        "fallback: {decision: manual_review, score: null, prediction: null}",
        "fallback: {decision: manual_review, score: 1.5, prediction: null}",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config_copy)
    message = FALLBACK_SCORE_OUT_OF_RANGE.format(score=1.5, high=1.0)
    assert raised.value.problems == [f"models.yaml: models.0.serving: {message}"]


def test_a_classifier_configured_with_a_non_negative_output_is_refused(config_copy):
    _edit(
        config_copy / "models.yaml",
        "      output: {kind: probability}\n      fallback: {decision: no_offer",
        "      output: {kind: non_negative, max: 10}\n      fallback: {decision: no_offer",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config_copy)
    message = OUTPUT_OF_TYPE.format(model_type="binary_classifier")
    assert raised.value.problems == [f"models.yaml: models.1: {message}"]
