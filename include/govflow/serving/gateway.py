"""Issue 6 item 2, seed 003 documents 13.2-13.3: the reference serving gateway.

``create_app()`` is a FastAPI app (``govflow serve`` runs it with uvicorn) that answers
``POST /v1/models/{model_id}/predict`` for the models of models.yaml, as the routing table
(``govflow.rollout.routing``) and the kill switches (``govflow.serving.kill_switches``)
in the governance store say, with the safeguards of ``govflow.serving.safeguards``:

1. Each instance's input is checked against the model's feature schema; a bad instance gets
   its own 422 entry and the others are still answered.
2. The routing key (``entity_id``, else ``id``, else a fresh uuid) picks the active or the
   candidate version (``RouteState.version_for``), so a customer keeps its version. While a
   model's initial deployment rolls out there is no active version: a request the
   candidate does not take goes to the fallback rule (step 5), as before the model existed.
3. Every kill-switch scope that applies is checked: model type, inference endpoint,
   downstream consumer, customer segment, region, and the routed model version. A switched
   off candidate hands the request to the active version (unless that one is switched off
   too); any other switch stops the model for that request.
4. The instances left are scored per version in one ``predict_proba`` call, unless the
   version's circuit breaker is open; each score is validated and clipped
   (``check_output``), and the decision is score >= the version's decision threshold.
5. When the model may not or cannot answer (a switch, a blocked output, a model error, an
   open breaker, an artefact that failed to load), the last-known-good cache answers if it
   holds a fresh answer for the customer from a version that is not switched off (a
   model-type switch stops every version, so the cache too); otherwise the model's fallback
   rule from models.yaml answers. Every such answer names its reason. A cached answer counts
   only from a version the route still sends traffic to (never one rolled back or withdrawn).
   A version the gateway cannot load (a black box registered without an artefact, a file
   missing, changed or unreadable) is answered for this way, and only that version.

Before any of this (issue 13 item 7): a body over ``max_body_bytes`` is refused with 413
(``govflow.serving.limits``), ``id`` and ``entity_id`` over 256 characters with 422, and a
refused value is quoted cut to 40 characters. ``POST /v1/models/{model_id}/feedback``
answers only a consumer of the model showing its bearer token, and records the feedback
by that consumer or by the people.yaml person it names (``govflow.serving.consumers``).

Nothing on the request path touches the database: a background thread re-reads the routes
and active kill switches every ``refresh_seconds`` (a kill switch takes effect within that
time, well inside seed 003's "no redeploy"), loads newly routed versions (refusing an
artefact whose sha256 differs from the registry's, which affects only that version),
writes the gateway heartbeat, and every ``flush_seconds`` writes the per-minute counters
(``serving_stats``) and the buffered prediction-log and fallback-log rows; a last flush
runs on shutdown. Model answers (clipped ones with the clipped score) go to the model's
prediction log, which monitoring reads; fallback answers go to
``<data_dir>/serving_fallbacks/<model_id>/date=YYYY-MM-DD/``.

The per-minute counters include latency (issue 16 item 2): a predict call's latency is the
gateway's time from the parsed request to its answers (validation, routing, scoring,
safeguards, fallbacks; not the HTTP transport), counted once, in the latency buckets of the
version its first routed instance went to. A call whose every instance was refused reached
no version and is not timed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import joblib
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from threadpoolctl import ThreadpoolController

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.config.inventory import Feature, ModelEntry, ParquetLog
from govflow.registry import RegistryError, get_version
from govflow.rollout.routing import (
    COUNTERS,
    FeedbackKind,
    FeedbackSeverity,
    RouteState,
    RoutingError,
    ServingStat,
    all_routes,
    latency_bucket,
    record_feedback,
    record_heartbeat,
    record_serving_stats,
)
from govflow.serving.consumers import (
    NO_TOKEN,
    NOT_A_CONSUMER,
    NOT_AUTHENTICATED,
    ConsumerTokenError,
    ConsumerTokens,
    UnknownPersonError,
    feedback_author,
)
from govflow.serving.kill_switches import GATEWAY_REFRESH_SECONDS, PREDICT_PATH, active_switches
from govflow.serving.limits import (
    BAD_MAX_BODY_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    BodySizeLimit,
    shown,
)
from govflow.serving.log_writer import (
    ENTITY_ID,
    REASON,
    REQUEST_ID,
    ROUTE,
    SAFEGUARD,
    SERVED_BY,
    PartitionedLogWriter,
    fallback_log_schema,
    prediction_log_schema,
)
from govflow.serving.safeguards import (
    CircuitBreaker,
    LastKnownGoodCache,
    Safeguard,
    check_output,
)
from govflow.store.schema import LATENCY_BUCKET_COLUMNS
from govflow.store.types import utcnow

logger = logging.getLogger(__name__)

FEEDBACK_PATH = "/v1/models/{model_id}/feedback"
FALLBACK_LOG_DIR = "serving_fallbacks"
MAX_INSTANCES = 1000
MAX_DETAILS_CHARS = 10_000
MAX_ID_CHARS = 256
ERRORS_NAMED = 3
STOP_TIMEOUT_SECONDS = 10.0
INSTANCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# The whole request. Values a caller sent are quoted through ``shown``: cut to 40 characters.
UNKNOWN_MODEL = "model {model_id} is not served here; served models: {models}"
INVALID_FIELD = "{location}: {message}, got {value}"
MISSING_FIELD = "{location}: {message}"
MORE_ERRORS = "; and {count} more"
NOT_JSON = "the request body is not valid JSON"
# Configuration the gateway refuses at start.
NOT_IN_INVENTORY = "model {model_id!r} is not in models.yaml"
SQL_LOG_UNSUPPORTED = (
    "model {model_id!r} logs predictions to SQL; the gateway writes parquet prediction logs only"
)
BAD_INSTANCE_NAME = (
    "gateway instance name {instance!r} must be 1-64 letters, digits, '.', '_' or '-'"
)
# One instance's input.
MISSING_FEATURE = "feature {name!r} is missing"
FEATURE_NOT_A_NUMBER = "feature {name!r} must be a number, got {value}"
FEATURE_NOT_FINITE = "feature {name!r} must be a finite number, got {value}"
FEATURE_NOT_WHOLE = "feature {name!r} must be a whole number, got {value}"
FEATURE_OUT_OF_RANGE = "feature {name!r} is {value}, outside [{low}, {high}]"
UNKNOWN_CATEGORY = "feature {name!r} has the unknown category {value}; categories: {categories}"
UNKNOWN_ATTRIBUTE_VALUE = "attribute {name!r} has the unknown value {value}; values: {categories}"
# Why the model did not answer, or answered through another version.
KILL_SWITCH = "kill switch on {scope} {target!r} by {actor}: {reason}"
CANDIDATE_SWITCHED_OFF = (
    "kill switch on model_version {target!r} by {actor}: {reason}; answered by the active "
    "version {active}"
)
NO_VERSION = "{model_id} has no version in production"
NO_VERSION_YET = (
    NO_VERSION + " yet ({candidate} answers part of the traffic while its initial deployment "
    "rolls out)"
)
# Requests no version served (before a model's first version reaches production) are
# counted under this version name.
NO_VERSION_COUNTED_AS = ""
NOT_LOADED = "{model_id} {version} is not loaded: {error}"
NOT_LOADED_YET = "no artefact loaded yet"
BLACK_BOX = (
    "{model_id} {version} is a black box (registered without an artefact): this gateway "
    "cannot serve it"
)
MODEL_FAILED = "{model_id} {version} failed: {error_type}: {error}"
WRONG_SCORE_COUNT = "the model returned {scores} scores for {rows} instances"
CIRCUIT_OPEN = "the circuit breaker of {model_id} {version} is open after repeated failures"
RULE_ANSWER = "{reason}; fallback rule {decision}"
# Loading an artefact.
ARTEFACT_MISSING = "artefact {path} does not exist"
ARTEFACT_MISMATCH = (
    "artefact {path} has sha256 {actual} but the registry records {expected}; refusing to load it"
)
# Answers and /health name an artefact by its path under the data directory and a failure by
# its type only: both reach callers who authenticate with nothing, and the server's
# directories and an exception's text (an OSError's names the absolute path) stay in its log.
ARTEFACT_UNREADABLE = "artefact {path} cannot be loaded: {error_type}"

ServedBy = Literal["model", "cache", "rule"]
_REQUESTS, _ERRORS, _INVALID, _CLIPPED, _FALLBACKS = range(len(COUNTERS))


@dataclass
class _MinuteCounts:
    """What one gateway counted for one model version in one minute, until it is stored."""

    counts: list[int] = field(default_factory=lambda: [0] * len(COUNTERS))
    latency_us_sum: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKET_COLUMNS))

    def copy(self) -> _MinuteCounts:
        return _MinuteCounts(list(self.counts), self.latency_us_sum, list(self.latency))

    def stat(self, instance: str, model_id: str, version: str, minute: datetime) -> ServingStat:
        return ServingStat(
            instance,
            model_id,
            version,
            minute,
            **dict(zip(COUNTERS, self.counts, strict=True)),
            latency_us_sum=self.latency_us_sum,
            latency_buckets=tuple(self.latency),
        )


class GatewayError(ValueError):
    """A gateway configuration that cannot be served; the message says why."""


class UnknownModelError(LookupError):
    """A request for a model this gateway does not serve."""


# --- the HTTP API ------------------------------------------------------------------------


class Instance(BaseModel):
    # Both come back in answers and logs, and entity_id is a cache key: bounded.
    id: Annotated[str, Field(max_length=MAX_ID_CHARS)] | None = None
    entity_id: Annotated[str, Field(max_length=MAX_ID_CHARS)] | None = None
    features: dict[str, Any]
    attributes: dict[str, Any] = Field(default_factory=dict)


class RequestContext(BaseModel):
    audience: Literal["internal", "external"] = "external"
    consumer: str | None = None
    # Override the instance's own customer_segment / region feature for kill-switch checks.
    customer_segment: str | None = None
    region: str | None = None


class PredictRequest(BaseModel):
    instances: list[Instance] = Field(min_length=1, max_length=MAX_INSTANCES)
    context: RequestContext = Field(default_factory=RequestContext)


class FeedbackRequest(BaseModel):
    kind: FeedbackKind
    severity: FeedbackSeverity
    version: Annotated[str, Field(max_length=64)] | None = None
    prediction_id: Annotated[str, Field(max_length=64)] | None = None
    details: Annotated[str, Field(max_length=MAX_DETAILS_CHARS)]
    # A person of people.yaml on whose behalf the consumer files it; else the consumer.
    recorded_by: str | None = None


# --- what the refresher hands the request path ---------------------------------------------


@dataclass(frozen=True)
class LoadedVersion:
    model_id: str
    version: str
    estimator: Any
    decision_threshold: float | None


@dataclass(frozen=True)
class ActiveSwitch:
    scope: str
    target: str
    reason: str
    actor: str

    def describe(self) -> str:
        return KILL_SWITCH.format(
            scope=self.scope, target=self.target, actor=self.actor, reason=self.reason
        )


@dataclass(frozen=True)
class Snapshot:
    """Routes, active switches and loaded versions as of one refresh; replaced whole."""

    routes: dict[str, RouteState] = field(default_factory=dict)
    switches: dict[str, ActiveSwitch] = field(default_factory=dict)
    versions: dict[tuple[str, str], LoadedVersion] = field(default_factory=dict)
    unavailable: dict[tuple[str, str], str] = field(default_factory=dict)
    refreshed_at: datetime | None = None

    def switch(self, scope: str, target: str | None) -> ActiveSwitch | None:
        if target is None:
            return None
        return self.switches.get(f"{scope}:{target}")


@dataclass
class ServedModel:
    entry: ModelEntry
    cache: LastKnownGoodCache
    predictions: PartitionedLogWriter
    fallbacks: PartitionedLogWriter
    feature_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.feature_names = [feature.name for feature in self.entry.features]

    @property
    def consumers(self) -> list[str]:
        return list(self.entry.serving.consumers)

    def parse(self, instance: Instance) -> tuple[dict[str, Any], list[str]]:
        """The instance's features as the model takes them (integers as int, numbers as
        float), and everything wrong with its features and attributes, in schema order."""
        features: dict[str, Any] = {}
        problems = []
        for feature in self.entry.features:
            value = instance.features.get(feature.name)
            if value is None:
                problems.append(MISSING_FEATURE.format(name=feature.name))
            elif feature.dtype == "categorical":
                if value in (feature.categories or ()):
                    features[feature.name] = value
                else:
                    problems.append(
                        UNKNOWN_CATEGORY.format(
                            name=feature.name,
                            value=shown(value),
                            categories=", ".join(feature.categories or ()),
                        )
                    )
            else:
                problem = _numeric_problem(feature, value)
                if problem:
                    problems.append(problem)
                else:
                    features[feature.name] = (
                        int(value) if feature.dtype == "integer" else float(value)
                    )
        for attribute in self.entry.protected_attributes:
            value = instance.attributes.get(attribute.name)
            if value is not None and value not in attribute.categories:
                problems.append(
                    UNKNOWN_ATTRIBUTE_VALUE.format(
                        name=attribute.name,
                        value=shown(value),
                        categories=", ".join(attribute.categories),
                    )
                )
        return features, problems


def _numeric_problem(feature: Feature, value: Any) -> str | None:
    name = feature.name
    if isinstance(value, bool) or not isinstance(value, int | float):
        return FEATURE_NOT_A_NUMBER.format(name=name, value=shown(value))
    if not math.isfinite(value):
        return FEATURE_NOT_FINITE.format(name=name, value=value)
    if feature.dtype == "integer" and value != int(value):
        return FEATURE_NOT_WHOLE.format(name=name, value=value)
    assert feature.min is not None and feature.max is not None
    if not feature.min <= value <= feature.max:
        return FEATURE_OUT_OF_RANGE.format(
            name=name, value=shown(value), low=_plain(feature.min), high=_plain(feature.max)
        )
    return None


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass
class _Item:
    """One valid instance on its way through a request."""

    index: int
    instance: Instance
    features: dict[str, Any]
    version: str | None
    route: str
    note: str | None = None


def _default_instance() -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "host"
    return f"{host[:40]}-{os.getpid()}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Gateway:
    """The state behind the app: served models, the current snapshot, caches, breakers,
    counters and log buffers. ``refresh()`` and ``flush()`` are what the background thread
    runs; tests call them directly."""

    def __init__(
        self,
        *,
        config: GovflowConfig,
        db_url: str,
        data_dir: Path,
        model_ids: Sequence[str] | None = None,
        instance: str | None = None,
        refresh_seconds: float = GATEWAY_REFRESH_SECONDS,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.instance = instance or _default_instance()
        if not INSTANCE_PATTERN.match(self.instance):
            raise GatewayError(BAD_INSTANCE_NAME.format(instance=self.instance))
        self.db_url = db_url
        self.data_dir = Path(data_dir)
        self.refresh_seconds = refresh_seconds
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.timer = timer
        self.models = self._served_models(config, model_ids)
        self.people = frozenset(user.id for user in config.people.users)
        try:
            self.consumers = ConsumerTokens.from_environment(
                consumer for served in self.models.values() for consumer in served.consumers
            )
        except ConsumerTokenError as error:
            raise GatewayError(str(error)) from None
        if self.consumers.without_token():
            logger.warning(NO_TOKEN.format(consumers=", ".join(self.consumers.without_token())))
        self._token_problems: list[str] = []
        self.snapshot = Snapshot()
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._failed_loads: dict[tuple[str, str], tuple[tuple[int, int] | None, str]] = {}
        self._counts: dict[tuple[str, str, datetime], _MinuteCounts] = {}
        self._counts_lock = threading.Lock()
        # Which thread pools exist is known only once the artefacts loaded their libraries
        # (scikit-learn's OpenMP comes with the first unpickled model): see refresh().
        self._threads = ThreadpoolController()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _served_models(
        self, config: GovflowConfig, model_ids: Sequence[str] | None
    ) -> dict[str, ServedModel]:
        served = {}
        for model_id in config.models.ids() if model_ids is None else model_ids:
            if model_id not in config.models.ids():
                raise GatewayError(NOT_IN_INVENTORY.format(model_id=model_id))
            entry = config.models.get(model_id)
            if not isinstance(entry.prediction_log, ParquetLog):
                if model_ids is not None:
                    raise GatewayError(SQL_LOG_UNSUPPORTED.format(model_id=model_id))
                # Serving every model of models.yaml: the others are still served.
                logger.warning(SQL_LOG_UNSUPPORTED.format(model_id=model_id))
                continue
            served[entry.id] = ServedModel(
                entry=entry,
                cache=LastKnownGoodCache(
                    entry.serving.cache_ttl_seconds,
                    max_bytes=entry.serving.cache_max_bytes,
                    clock=self.clock,
                ),
                predictions=PartitionedLogWriter(
                    self.data_dir / entry.prediction_log.path,
                    prediction_log_schema(entry),
                    instance=self.instance,
                ),
                fallbacks=PartitionedLogWriter(
                    self.data_dir / FALLBACK_LOG_DIR / entry.id,
                    fallback_log_schema(entry),
                    instance=self.instance,
                ),
            )
        return served

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Bring the store's schema up to date and take the first snapshot before serving."""
        store.ensure_schema(self.db_url)
        self.refresh()
        if background:
            self._thread = threading.Thread(
                target=self._run, name=f"gateway-refresher-{self.instance}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self.flush()

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_seconds
        while not self._stopping.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:
                logger.exception("refresh failed; still serving the previous routes and switches")
            if time.monotonic() >= next_flush:
                next_flush = time.monotonic() + self.flush_seconds
                try:
                    self.flush()
                except Exception:
                    logger.exception("flush failed; the rows and counters are kept for the next")

    # --- the refresher -----------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the consumers' tokens, routes and active switches, load newly routed
        versions, swap the snapshot and report the revisions now served."""
        self.reread_tokens()
        previous = self.snapshot
        to_load: dict[tuple[str, str], tuple[str, str, float | None]] = {}
        unavailable: dict[tuple[str, str], str] = {}
        with store.session_scope(self.db_url) as session:
            routes = {route.model_id: route for route in all_routes(session, list(self.models))}
            switches = {
                f"{switch.scope}:{switch.target}": ActiveSwitch(
                    switch.scope, switch.target, switch.reason, switch.activated_by
                )
                for switch in active_switches(session)
            }
            wanted = {
                (route.model_id, version) for route in routes.values() for version in route.versions
            }
            for key in sorted(wanted - previous.versions.keys()):
                try:
                    record = get_version(session, *key)
                except RegistryError as error:
                    unavailable[key] = str(error)
                    continue
                if not record.artifact_uri:
                    unavailable[key] = BLACK_BOX.format(model_id=key[0], version=key[1])
                    continue
                to_load[key] = (
                    record.artifact_uri,
                    record.artifact_sha256,
                    record.decision_threshold,
                )
        versions = {key: loaded for key, loaded in previous.versions.items() if key in wanted}
        for key, (uri, sha256, threshold) in to_load.items():
            loaded = self._load(key, self.data_dir / uri, sha256, threshold)
            if isinstance(loaded, LoadedVersion):
                versions[key] = loaded
            else:
                unavailable[key] = loaded
        if versions.keys() - previous.versions.keys():
            self._threads = ThreadpoolController()
        self.snapshot = Snapshot(routes, switches, versions, unavailable, utcnow())
        with store.session_scope(self.db_url) as session:
            record_heartbeat(
                session,
                instance=self.instance,
                revisions={model_id: route.revision for model_id, route in routes.items()},
            )

    def reread_tokens(self) -> None:
        """The consumers' tokens as their sources hold them now: a token rotated or revoked
        in its file is the only one that counts from here on. A token that became unusable
        leaves its consumer without one (never the token it replaced); what changed is
        logged once, by consumer and source, never a token."""
        problems: list[str] = []
        tokens = ConsumerTokens.from_environment(self.consumers.consumers, problems=problems)
        for problem in problems:
            if problem not in self._token_problems:
                logger.warning("%s: its consumer cannot file feedback", problem)
        without = tokens.without_token()
        if without != self.consumers.without_token():
            if without:
                logger.warning(NO_TOKEN.format(consumers=", ".join(without)))
            else:
                logger.info("every consumer has a token")
        self.consumers, self._token_problems = tokens, problems

    def _load(
        self, key: tuple[str, str], path: Path, sha256: str, threshold: float | None
    ) -> LoadedVersion | str:
        """The loaded version, or why it cannot be loaded. A failure is retried only once the
        file changes, so a broken artefact costs one stat() per refresh."""
        try:
            status = path.stat()
            signature: tuple[int, int] | None = (status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            signature = None
        failed = self._failed_loads.get(key)
        if failed is not None and failed[0] == signature:
            return failed[1]
        shown = self._shown_artefact(path)
        try:
            error = self._load_error(path, shown, sha256, signature)
            if error is None:
                estimator = joblib.load(path)
        except Exception as raised:  # a directory, no permission, no pickle: this version only
            error = ARTEFACT_UNREADABLE.format(path=shown, error_type=type(raised).__name__)
            logger.error("%s %s not loaded from %s: %r", key[0], key[1], path, raised)
        else:
            if error is None:
                self._failed_loads.pop(key, None)
                logger.info("loaded %s %s from %s", key[0], key[1], path)
                return LoadedVersion(key[0], key[1], estimator, threshold)
            logger.error("%s %s not loaded: %s", key[0], key[1], error)
        self._failed_loads[key] = (signature, error)
        return error

    def _shown_artefact(self, path: Path) -> str:
        """``path`` as callers may read it: under the data directory, else its name."""
        try:
            return str(path.relative_to(self.data_dir))
        except ValueError:
            return path.name

    @staticmethod
    def _load_error(
        path: Path, shown: str, expected: str, signature: tuple[int, int] | None
    ) -> str | None:
        if signature is None:
            return ARTEFACT_MISSING.format(path=shown)
        actual = _sha256(path)
        if actual != expected:
            return ARTEFACT_MISMATCH.format(path=shown, actual=actual, expected=expected)
        return None

    # --- flushing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered log rows and the per-minute counters. A log that cannot be
        written keeps its rows for the next flush and does not hold back the others."""
        for served in self.models.values():
            for writer in (served.predictions, served.fallbacks):
                try:
                    writer.flush()
                except Exception:
                    logger.exception("writing %s failed; its rows stay buffered", writer.directory)
        with self._counts_lock:
            flushed = {key: counted.copy() for key, counted in self._counts.items()}
        if not flushed:
            return
        rows = [counted.stat(self.instance, *key) for key, counted in flushed.items()]
        with store.session_scope(self.db_url) as session:
            record_serving_stats(session, rows)
        current = _minute(utcnow())
        with self._counts_lock:
            # A past minute receives no more requests: once stored as counted, forget it.
            for key, counted in flushed.items():
                if key[2] < current and self._counts.get(key) == counted:
                    del self._counts[key]

    def _count(
        self, model_id: str, minute: datetime, tally: dict[str, list[int]], *, latency_ms: float
    ) -> None:
        with self._counts_lock:
            for position, (version, counts) in enumerate(tally.items()):
                total = self._counts.setdefault((model_id, version, minute), _MinuteCounts())
                for index, count in enumerate(counts):
                    total.counts[index] += count
                if position == 0:
                    total.latency_us_sum += round(latency_ms * 1000)
                    total.latency[latency_bucket(latency_ms)] += 1

    # --- the request path --------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        snapshot = self.snapshot
        return {
            "status": "ok",
            "instance": self.instance,
            "models": {
                model_id: {
                    "revision": route.revision,
                    "versions": route.versions,
                    "unavailable": {
                        version: error
                        for (model, version), error in snapshot.unavailable.items()
                        if model == model_id
                    },
                }
                for model_id, route in snapshot.routes.items()
            },
            "kill_switches": len(snapshot.switches),
            "consumers": {
                "with_token": self.consumers.with_token(),
                "without_token": self.consumers.without_token(),
            },
            "refreshed_at": snapshot.refreshed_at.isoformat() if snapshot.refreshed_at else None,
        }

    def breaker(self, model_id: str, version: str) -> CircuitBreaker:
        key = (model_id, version)
        breaker = self._breakers.get(key)
        if breaker is None:
            limits = self.models[model_id].entry.serving.circuit_breaker
            breaker = self._breakers.setdefault(
                key,
                CircuitBreaker(
                    failures=limits.failures,
                    window_seconds=limits.window_seconds,
                    open_seconds=limits.open_seconds,
                    clock=self.clock,
                ),
            )
        return breaker

    def predict(self, model_id: str, request: PredictRequest) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 when any instance was answered, 422 when none was."""
        started = self.timer()
        snapshot = self.snapshot
        served = self.models.get(model_id)
        route = snapshot.routes.get(model_id)
        if served is None or route is None:
            raise UnknownModelError(
                UNKNOWN_MODEL.format(
                    model_id=shown(model_id), models=", ".join(sorted(snapshot.routes))
                )
            )
        now = utcnow()
        context = request.context
        tally: dict[str, list[int]] = {}
        answers: list[dict[str, Any] | None] = [None] * len(request.instances)
        request_switch = (
            snapshot.switch("model_type", model_id)
            or snapshot.switch("inference_endpoint", PREDICT_PATH.format(model_id=model_id))
            or snapshot.switch("downstream_consumer", context.consumer)
        )
        split = route.splits.get(context.audience) or route.splits["external"]
        by_version: dict[str, list[_Item]] = {}
        for index, instance in enumerate(request.instances):
            features, problems = served.parse(instance)
            if problems:
                answers[index] = _rejected(instance, "; ".join(problems))
                continue
            key = instance.entity_id or instance.id or uuid.uuid4().hex
            version, route_name = route.version_for(context.audience, key)
            item = _Item(index, instance, features, version, route_name)
            switch = (
                request_switch
                or snapshot.switch(
                    "customer_segment",
                    context.customer_segment or features.get("customer_segment"),
                )
                or snapshot.switch("region", context.region or features.get("region"))
            )
            if switch is None:
                switch = snapshot.switch("model_version", f"{model_id}:{version}")
                active_switch = snapshot.switch("model_version", f"{model_id}:{split.active}")
                if (
                    switch is not None
                    and route_name == "candidate"
                    and split.active is not None
                    and active_switch is None
                ):
                    item.note = CANDIDATE_SWITCHED_OFF.format(
                        target=switch.target,
                        actor=switch.actor,
                        reason=switch.reason,
                        active=split.active,
                    )
                    item.version, item.route, switch = split.active, "active", None
            counts = tally.setdefault(item.version or NO_VERSION_COUNTED_AS, [0] * len(COUNTERS))
            counts[_REQUESTS] += 1
            if switch is not None or item.version is None:
                reason = (
                    switch.describe()
                    if switch is not None
                    else (NO_VERSION_YET if split.candidate else NO_VERSION).format(
                        model_id=model_id, candidate=split.candidate
                    )
                )
                counts[_FALLBACKS] += 1
                answers[index] = self._fallback(
                    served,
                    snapshot,
                    item,
                    reason=reason,
                    safeguard="ok",
                    now=now,
                    cache_allowed=switch is None or switch.scope != "model_type",
                )
                continue
            by_version.setdefault(item.version, []).append(item)
        for version, items in by_version.items():
            self._score(served, snapshot, route, version, items, answers, tally[version], now)
        latency_ms = (self.timer() - started) * 1000
        self._count(model_id, _minute(now), tally, latency_ms=latency_ms)
        answered = any(answer["status"] == 200 for answer in answers if answer is not None)
        body = {
            "model_id": model_id,
            "routing_revision": route.revision,
            "predictions": answers,
        }
        return (200 if answered else 422), body

    def _score(
        self,
        served: ServedModel,
        snapshot: Snapshot,
        route: RouteState,
        version: str,
        items: list[_Item],
        answers: list[dict[str, Any] | None],
        counts: list[int],
        now: datetime,
    ) -> None:
        model_id = served.entry.id

        def fall_back(item: _Item, reason: str, safeguard: Safeguard = "ok") -> None:
            counts[_FALLBACKS] += 1
            answers[item.index] = self._fallback(
                served, snapshot, item, reason=reason, safeguard=safeguard, now=now
            )

        loaded = snapshot.versions.get((model_id, version))
        if loaded is None:
            error = snapshot.unavailable.get((model_id, version), NOT_LOADED_YET)
            reason = NOT_LOADED.format(model_id=model_id, version=version, error=error)
            counts[_ERRORS] += len(items)
            for item in items:
                fall_back(item, reason)
            return
        breaker = self.breaker(model_id, version)
        if not breaker.allow():
            reason = CIRCUIT_OPEN.format(model_id=model_id, version=version)
            for item in items:
                fall_back(item, reason)
            return
        try:
            frame = pd.DataFrame(
                {name: [item.features[name] for item in items] for name in served.feature_names}
            )
            # One thread: on one request's rows, OpenMP threads competing with the server and
            # its neighbours cost far more than they save.
            with self._threads.limit(limits=1):
                # A regressor's answer is its predicted amount; a classifier's its score.
                scores = (
                    loaded.estimator.predict(frame)
                    if served.entry.is_regressor
                    else loaded.estimator.predict_proba(frame)[:, 1]
                )
            if len(scores) != len(items):
                raise ValueError(WRONG_SCORE_COUNT.format(scores=len(scores), rows=len(items)))
        except Exception as error:
            breaker.record_failure()
            reason = MODEL_FAILED.format(
                model_id=model_id, version=version, error_type=type(error).__name__, error=error
            )
            counts[_ERRORS] += len(items)
            for item in items:
                fall_back(item, reason)
            return
        output = served.entry.serving.output
        maximum = getattr(output, "max", None)
        threshold = None if served.entry.is_regressor else _threshold(route, loaded, served.entry)
        failed = False
        for item, raw in zip(items, scores, strict=True):
            check = check_output(raw, kind=output.kind, maximum=maximum)
            if check.value is None:
                failed = True
                breaker.record_failure()
                counts[_INVALID] += 1
                fall_back(item, check.reason or "", "blocked")
                continue
            if check.safeguard == "clipped":
                counts[_CLIPPED] += 1
            prediction = check.value if threshold is None else int(check.value >= threshold)
            answer = _answer(
                item,
                model_version=version,
                score=check.value,
                prediction=prediction,
                served_by="model",
                safeguard=check.safeguard,
                reason=check.reason or item.note,
            )
            answers[item.index] = answer
            served.predictions.append(
                {
                    "prediction_id": answer["prediction_id"],
                    "model_id": model_id,
                    "model_version": version,
                    "scored_at": now,
                    **item.features,
                    **_attributes(served, item.instance),
                    "score": check.value,
                    "prediction": prediction,
                    "label": None,
                    "label_observed_at": None,
                }
            )
            if check.safeguard == "ok" and item.instance.entity_id:
                served.cache.remember(
                    model_id,
                    item.instance.entity_id,
                    model_version=version,
                    score=check.value,
                    prediction=prediction,
                )
        if not failed:
            breaker.record_success()

    def _fallback(
        self,
        served: ServedModel,
        snapshot: Snapshot,
        item: _Item,
        *,
        reason: str,
        safeguard: Safeguard,
        now: datetime,
        cache_allowed: bool = True,
    ) -> dict[str, Any]:
        """The cached answer for the customer when fresh and from a version the route still
        sends traffic to (not one rolled back or withdrawn) and not switched off, else the
        model's fallback rule."""
        model_id = served.entry.id
        entity_id = item.instance.entity_id
        cached = served.cache.recall(model_id, entity_id) if cache_allowed and entity_id else None
        route = snapshot.routes.get(model_id)
        if cached is not None and (
            snapshot.switch("model_version", f"{model_id}:{cached.model_version}")
            or route is None
            or cached.model_version not in route.versions
        ):
            cached = None
        if cached is not None:
            answer = _answer(
                item,
                model_version=cached.model_version,
                score=cached.score,
                prediction=cached.prediction,
                served_by="cache",
                safeguard=safeguard,
                reason=reason,
            )
        else:
            rule = served.entry.serving.fallback
            answer = _answer(
                item,
                model_version=None,
                score=rule.score,
                prediction=rule.prediction,
                served_by="rule",
                safeguard=safeguard,
                reason=RULE_ANSWER.format(reason=reason, decision=rule.decision),
            )
        served.fallbacks.append(
            {
                "prediction_id": answer["prediction_id"],
                "model_id": model_id,
                "model_version": answer["model_version"] or item.version,
                ROUTE: item.route,
                "scored_at": now,
                REQUEST_ID: item.instance.id,
                ENTITY_ID: entity_id,
                SERVED_BY: answer["served_by"],
                SAFEGUARD: safeguard,
                REASON: answer["reason"],
                "score": answer["score"],
                "prediction": answer["prediction"],
                **item.features,
                **_attributes(served, item.instance),
            }
        )
        return answer


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _threshold(route: RouteState, loaded: LoadedVersion, entry: ModelEntry) -> float:
    """The route's threshold for the version, else the registry's, else models.yaml's."""
    configured = route.config.get("decision_thresholds", {}).get(loaded.version)
    if configured is not None:
        return float(configured)
    if loaded.decision_threshold is not None:
        return loaded.decision_threshold
    assert entry.decision_threshold is not None, "models.yaml requires it of a classifier"
    return entry.decision_threshold


def _attributes(served: ServedModel, instance: Instance) -> dict[str, Any]:
    return {
        attribute.name: instance.attributes.get(attribute.name)
        for attribute in served.entry.protected_attributes
    }


def _answer(
    item: _Item,
    *,
    model_version: str | None,
    score: float | None,
    prediction: float | None,
    served_by: ServedBy,
    safeguard: Safeguard,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "id": item.instance.id,
        "prediction_id": str(uuid.uuid4()),
        "model_version": model_version,
        "route": item.route,
        "score": score,
        "prediction": prediction,
        "served_by": served_by,
        "safeguard": safeguard,
        "reason": reason,
        "status": 200,
        "error": None,
    }


def _rejected(instance: Instance, error: str) -> dict[str, Any]:
    return {
        "id": instance.id,
        "prediction_id": None,
        "model_version": None,
        "route": None,
        "score": None,
        "prediction": None,
        "served_by": None,
        "safeguard": None,
        "reason": None,
        "status": 422,
        "error": error,
    }


def _invalid_request(errors: Sequence[Any]) -> str:
    """FastAPI's validation errors on one line, the first ``ERRORS_NAMED`` of them, each
    refused value cut by ``shown``: never the request echoed back."""
    if any(error["type"] == "json_invalid" for error in errors):
        return NOT_JSON
    described = []
    for error in errors[:ERRORS_NAMED]:
        location = ".".join(str(part) for part in error["loc"][1:])
        if error["type"] == "missing":
            described.append(MISSING_FIELD.format(location=location, message=error["msg"]))
        else:
            described.append(
                INVALID_FIELD.format(
                    location=location, message=error["msg"], value=shown(error.get("input"))
                )
            )
    more = len(errors) - ERRORS_NAMED
    return "; ".join(described) + (MORE_ERRORS.format(count=more) if more > 0 else "")


def create_app(
    *,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
    data_dir: Path | None = None,
    model_ids: Sequence[str] | None = None,
    instance: str | None = None,
    refresh_seconds: float = GATEWAY_REFRESH_SECONDS,
    flush_seconds: float = 5.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    background: bool = True,
    clock: Callable[[], float] = time.monotonic,
    timer: Callable[[], float] = time.perf_counter,
) -> FastAPI:
    """The gateway app; unset arguments come from ``govflow.settings``. ``background=False``
    leaves refreshing and flushing to the caller (``app.state.gateway``), as tests do. A
    request body over ``max_body_bytes`` is refused with 413 before anything parses it."""
    if max_body_bytes < 1:
        raise GatewayError(BAD_MAX_BODY_BYTES.format(limit=max_body_bytes))
    gateway = Gateway(
        config=config or load_config(settings.config_dir()),
        db_url=db_url or settings.db_url(),
        data_dir=data_dir or settings.data_dir(),
        model_ids=model_ids,
        instance=instance,
        refresh_seconds=refresh_seconds,
        flush_seconds=flush_seconds,
        clock=clock,
        timer=timer,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gateway.start(background=background)
        try:
            yield
        finally:
            gateway.stop()

    # No /docs, /redoc or /openapi.json: the gateway serves its three routes, nothing else.
    app = FastAPI(
        title="govflow serving gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = gateway
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _invalid_request(error.errors())}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return gateway.health()

    @app.post(PREDICT_PATH)
    async def predict(model_id: str, request: PredictRequest) -> JSONResponse:
        try:
            status, body = gateway.predict(model_id, request)
        except UnknownModelError as error:
            return JSONResponse({"detail": str(error)}, status_code=404)
        return JSONResponse(body, status_code=status)

    def authenticated_consumer(authorization: str | None = Header(default=None)) -> str:
        """The consumer showing its token: a dependency, so a caller without one gets the 401
        before the body is validated (a route's own code runs only after)."""
        consumer = gateway.consumers.authenticate(authorization)
        if consumer is None:
            raise HTTPException(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        return consumer

    @app.post(FEEDBACK_PATH)
    def feedback(
        model_id: str,
        request: FeedbackRequest,
        # A default, not Annotated: FastAPI resolves string annotations in the module, and
        # authenticated_consumer is local to create_app.
        consumer: str = Depends(authenticated_consumer),
    ) -> JSONResponse:
        served = gateway.models.get(model_id)
        if served is None or model_id not in gateway.snapshot.routes:
            models = ", ".join(sorted(gateway.snapshot.routes))
            detail = UNKNOWN_MODEL.format(model_id=shown(model_id), models=models)
            return JSONResponse({"detail": detail}, status_code=404)
        if consumer not in served.consumers:
            detail = NOT_A_CONSUMER.format(consumer=consumer, model_id=model_id)
            return JSONResponse({"detail": detail}, status_code=403)
        try:
            recorded_by = feedback_author(consumer, request.recorded_by, gateway.people)
            with store.session_scope(gateway.db_url) as session:
                recorded = record_feedback(
                    session,
                    model_id=model_id,
                    kind=request.kind,
                    severity=request.severity,
                    details=request.details,
                    recorded_by=recorded_by,
                    version=request.version,
                    prediction_id=request.prediction_id,
                    consumer=consumer,
                )
                feedback_id = recorded.id
        except (RoutingError, RegistryError, UnknownPersonError) as error:
            return JSONResponse({"detail": str(error)}, status_code=422)
        return JSONResponse({"id": feedback_id}, status_code=201)

    return app
