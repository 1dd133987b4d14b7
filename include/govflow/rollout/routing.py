"""The deployment target (issue 6 item 1): where the phased rollout of seed 000 moves traffic.

One small interface, ``DeploymentTarget``: set the traffic weights between a model's active
and candidate versions, promote the candidate, restore the version and configuration in
effect before a deployment (seed 001 section 5.2 step 2), and read serving health. The
rollout and rollback DAGs call nothing else, so another serving platform is another
implementation of these five methods:

- **MLflow model aliases**: ``set_traffic`` sets the alias ``candidate`` to the version and
  stores the shares as model-version tags that the serving layer reads (MLflow serves one
  version per alias, so the split itself lives in the router in front); ``promote`` moves
  the ``champion`` alias to the candidate; ``restore_previous`` moves ``champion`` back to
  the version this deployment's first change recorded; ``health`` reads the router's
  metrics.
- **KServe**: ``set_traffic`` patches the InferenceService's predictor ``storageUri`` to the
  candidate and ``canaryTrafficPercent`` to the share (KServe keeps the previous revision
  for the rest); ``promote`` sets ``canaryTrafficPercent`` to 100 (or removes it);
  ``restore_previous`` sets it to 0 and the ``storageUri`` back; ``health`` reads the
  InferenceService's ready condition and the revisions' request metrics from Prometheus.

``StoreTarget`` is the reference implementation: a routing table in the governance store
that ``govflow serve`` reads every second. A route has a split per audience (``internal``:
the alpha stage's internal users; ``external``: everyone else): the active version, the
candidate version and the candidate's share of that audience's traffic. Every change is a
new revision kept in ``route_history`` and an audit event; asking for the state the route
is already in changes nothing, so retried tasks add no revision.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govflow.audit import record_event
from govflow.registry import get_version, production_version
from govflow.store.schema import (
    LATENCY_BUCKET_COLUMNS,
    LATENCY_BUCKETS_MS,
    GatewayHeartbeat,
    Model,
    Route,
    RouteChange,
    ServingFeedback,
)
from govflow.store.schema import ServingStat as ServingStatRecord
from govflow.store.serving_hours import MinuteChange, add_to_hours
from govflow.store.types import utcnow

Audience = Literal["internal", "external"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
FeedbackKind = Literal[
    "bug", "complaint", "override", "security_vulnerability", "regulatory_concern"
]
FEEDBACK_KINDS: tuple[FeedbackKind, ...] = get_args(FeedbackKind)
FeedbackSeverity = Literal["critical", "major", "minor"]
FEEDBACK_SEVERITIES: tuple[FeedbackSeverity, ...] = get_args(FeedbackSeverity)
# A gateway that has not reported for this long is taken for gone.
HEARTBEAT_STALE = timedelta(seconds=15)

UNKNOWN_MODEL = "model {model_id!r} is not registered"
# A model with no version in production yet (before its initial deployment reaches full):
# its route sends no request to a version, and the gateway answers by its fallback rule.
NO_PRODUCTION_VERSION = "no version in production yet"
UNKNOWN_AUDIENCE = "unknown audience {audience!r}; audiences are {audiences}"
BAD_SHARE = "the share of {audience} traffic must be between 0 and 1, got {share}"
NOT_APPROVED = "{model_id} {version} is {status} in the registry; only approved versions are routed"
CANDIDATE_IS_ACTIVE = "{model_id} {version} is already the active version"
SUPERSEDED = (
    "{deployment_ref} is not the newest change to {model_id}'s route ({later} changed it "
    "since): restoring it would undo {later} too; roll back {later}"
)
ANOTHER_ROLLOUT = (
    "{model_id} is already rolling out {candidate} for {deployment_ref}; roll it back or "
    "promote it first"
)
NOTHING_TO_PROMOTE = "{model_id} has no candidate version to promote"
UNKNOWN_FEEDBACK_KIND = "unknown feedback kind {kind!r}; kinds are {kinds}"
UNKNOWN_FEEDBACK_SEVERITY = "unknown feedback severity {severity!r}; severities are {severities}"
DETAILS_REQUIRED = "feedback needs details"


class RoutingError(ValueError):
    """A routing change that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Split:
    """One audience's traffic: ``candidate_share`` of it goes to ``candidate``, the rest to
    ``active`` (None before a first version reaches production: no version serves it)."""

    active: str | None
    candidate: str | None = None
    candidate_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "candidate": self.candidate,
            "candidate_share": self.candidate_share,
        }


def _bucket(model_id: str, key: str) -> float:
    # A request key always lands in the same place in [0, 1), so a customer keeps its version
    # for the whole stage, and raising the share only moves customers towards the candidate.
    digest = hashlib.sha256(f"{model_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class RouteState:
    """A model's route at one revision."""

    model_id: str
    revision: int
    splits: dict[str, Split]
    config: dict[str, Any]
    deployment_ref: str | None
    updated_by: str
    updated_at: datetime

    def version_for(self, audience: str, key: str) -> tuple[str | None, str]:
        """(version, "active" or "candidate") that serves request ``key`` of ``audience``;
        the version is None where no version is in production yet."""
        split = self.splits.get(audience) or self.splits["external"]
        if split.candidate is not None and _bucket(self.model_id, key) < split.candidate_share:
            return split.candidate, "candidate"
        return split.active, "active"

    @property
    def candidate(self) -> str | None:
        return next((s.candidate for s in self.splits.values() if s.candidate), None)

    @property
    def versions(self) -> list[str]:
        """Every version the route can send a request to."""
        found = {s.active for s in self.splits.values() if s.active}
        found |= {s.candidate for s in self.splits.values() if s.candidate}
        return sorted(found)

    def shares(self) -> dict[str, float]:
        return {audience: split.candidate_share for audience, split in self.splits.items()}


@dataclass(frozen=True)
class Health:
    """What live gateways report for a model since a moment."""

    model_id: str
    revision_served: int | None
    gateways: int
    requests: int = 0
    errors: int = 0
    invalid: int = 0
    clipped: int = 0
    fallbacks: int = 0
    by_version: dict[str, dict[str, int]] = field(default_factory=dict)

    def error_rate(self, version: str | None = None) -> float | None:
        """(errors + invalid outputs) / requests, of one version or of all; None without
        requests."""
        if version is not None:
            counts = self.by_version.get(version, {})
            requests, failures = counts.get("requests", 0), counts.get("errors", 0)
            failures += counts.get("invalid", 0)
        else:
            requests, failures = self.requests, self.errors + self.invalid
        return failures / requests if requests else None


@dataclass(frozen=True)
class ServingStat:
    """A gateway's counters for one model version and minute, cumulative within the minute."""

    instance: str
    model_id: str
    version: str
    minute: datetime
    requests: int = 0
    errors: int = 0
    invalid: int = 0
    clipped: int = 0
    fallbacks: int = 0
    # The predict calls counted under this version: their total time and their number per
    # latency bucket, in LATENCY_BUCKET_COLUMNS' order.
    latency_us_sum: int = 0
    latency_buckets: tuple[int, ...] = (0,) * len(LATENCY_BUCKET_COLUMNS)


COUNTERS = ("requests", "errors", "invalid", "clipped", "fallbacks")


def latency_bucket(milliseconds: float) -> int:
    """The index of the latency bucket a call of ``milliseconds`` falls in: the first whose
    upper bound it does not exceed, or the last (slower than every bound)."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, milliseconds)


class DeploymentTarget(Protocol):
    """What a rollout needs from the platform that serves the model."""

    def current(self, model_id: str) -> RouteState: ...

    def set_traffic(
        self,
        model_id: str,
        *,
        candidate: str,
        shares: Mapping[str, float],
        actor: str,
        reason: str,
        deployment_ref: str,
    ) -> RouteState: ...

    def promote(
        self, model_id: str, *, actor: str, reason: str, deployment_ref: str
    ) -> RouteState: ...

    def restore_previous(
        self, model_id: str, *, deployment_ref: str, actor: str, reason: str
    ) -> RouteState: ...

    def health(self, model_id: str, *, since: datetime) -> Health: ...


def _state(route: Route) -> RouteState:
    return RouteState(
        model_id=route.model_id,
        revision=route.revision,
        splits={audience: Split(**split) for audience, split in route.splits.items()},
        config=dict(route.config),
        deployment_ref=route.deployment_ref,
        updated_by=route.updated_by,
        updated_at=route.updated_at,
    )


def _thresholds(session: Session, model_id: str, versions: Iterable[str]) -> dict[str, Any]:
    return {
        "decision_thresholds": {
            version: get_version(session, model_id, version).decision_threshold
            for version in sorted(set(versions))
        }
    }


def _refuse_another_rollout(state: RouteState, deployment_ref: str) -> None:
    """A route rolling out a candidate takes changes only from that candidate's deployment."""
    if state.deployment_ref != deployment_ref:
        raise RoutingError(
            ANOTHER_ROLLOUT.format(
                model_id=state.model_id,
                candidate=state.candidate,
                deployment_ref=state.deployment_ref,
            )
        )


class StoreTarget:
    """The reference deployment target: the routing table in the governance store."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _route(self, model_id: str) -> Route:
        route = self.session.get(Route, model_id)
        if route is not None:
            return route
        if self.session.get(Model, model_id) is None:
            raise RoutingError(UNKNOWN_MODEL.format(model_id=model_id))
        active = production_version(self.session, model_id)
        splits = {audience: Split(active).to_dict() for audience in AUDIENCES}
        route = Route(
            model_id=model_id,
            revision=0,
            splits=splits,
            config=_thresholds(self.session, model_id, [active] if active else []),
            deployment_ref=None,
            updated_by="govflow",
        )
        self.session.add(route)
        reason = "registry production version" if active else NO_PRODUCTION_VERSION
        self._record(route, "initialise", actor="govflow", reason=reason)
        return route

    def _record(self, route: Route, change: str, *, actor: str, reason: str) -> None:
        route.revision += 1
        route.updated_by = actor
        route.updated_at = utcnow()
        self.session.add(
            RouteChange(
                model_id=route.model_id,
                revision=route.revision,
                change=change,
                splits=route.splits,
                config=route.config,
                deployment_ref=route.deployment_ref,
                actor=actor,
                reason=reason,
                recorded_at=route.updated_at,
            )
        )
        self.session.flush()
        record_event(
            self.session,
            actor=actor,
            action=f"routing.{change}",
            target=f"model:{route.model_id}",
            payload={
                "revision": route.revision,
                "splits": route.splits,
                "deployment_ref": route.deployment_ref,
                "reason": reason,
            },
            severity="WARNING" if change == "restore" else "INFO",
            idempotency_key=f"routing:{route.model_id}:{route.revision}",
        )

    def current(self, model_id: str) -> RouteState:
        return _state(self._route(model_id))

    def set_traffic(
        self,
        model_id: str,
        *,
        candidate: str,
        shares: Mapping[str, float],
        actor: str,
        reason: str,
        deployment_ref: str,
    ) -> RouteState:
        """Route ``shares[audience]`` of each audience to ``candidate`` (0 where not given)."""
        for audience, share in shares.items():
            if audience not in AUDIENCES:
                raise RoutingError(
                    UNKNOWN_AUDIENCE.format(audience=audience, audiences=", ".join(AUDIENCES))
                )
            if not 0.0 <= share <= 1.0:
                raise RoutingError(BAD_SHARE.format(audience=audience, share=share))
        version = get_version(self.session, model_id, candidate)
        if version.status != "approved":
            raise RoutingError(
                NOT_APPROVED.format(model_id=model_id, version=candidate, status=version.status)
            )
        route = self._route(model_id)
        state = _state(route)
        is_active = any(split.active == candidate for split in state.splits.values())
        if is_active and not state.candidate:
            raise RoutingError(CANDIDATE_IS_ACTIVE.format(model_id=model_id, version=candidate))
        if state.candidate is not None:
            _refuse_another_rollout(state, deployment_ref)
        wanted = {
            audience: Split(split.active, candidate, float(shares.get(audience, 0.0))).to_dict()
            for audience, split in state.splits.items()
        }
        if wanted == route.splits and route.deployment_ref == deployment_ref:
            return state
        route.splits = wanted
        route.config = _thresholds(self.session, model_id, _state(route).versions)
        route.deployment_ref = deployment_ref
        self._record(route, "set_traffic", actor=actor, reason=reason)
        return _state(route)

    def promote(self, model_id: str, *, actor: str, reason: str, deployment_ref: str) -> RouteState:
        """The candidate becomes the active version of every audience."""
        route = self._route(model_id)
        state = _state(route)
        if state.candidate is None:
            if route.deployment_ref == deployment_ref and self._last_change(model_id) == "promote":
                return state
            raise RoutingError(NOTHING_TO_PROMOTE.format(model_id=model_id))
        _refuse_another_rollout(state, deployment_ref)
        route.splits = {audience: Split(state.candidate).to_dict() for audience in state.splits}
        route.config = _thresholds(self.session, model_id, [state.candidate])
        self._record(route, "promote", actor=actor, reason=reason)
        return _state(route)

    def _last_change(self, model_id: str) -> str | None:
        return self.session.scalar(
            select(RouteChange.change)
            .where(RouteChange.model_id == model_id)
            .order_by(RouteChange.revision.desc())
            .limit(1)
        )

    def _restored(self, model_id: str, deployment_ref: str) -> bool:
        """Whether ``deployment_ref``'s changes were restored once already (whatever came
        after: a restore is never made twice)."""
        found = self.session.scalar(
            select(RouteChange.revision).where(
                RouteChange.model_id == model_id,
                RouteChange.deployment_ref == deployment_ref,
                RouteChange.change == "restore",
            )
        )
        return found is not None

    def restore_previous(
        self, model_id: str, *, deployment_ref: str, actor: str, reason: str
    ) -> RouteState:
        """Put back the route (versions, shares and configuration) in effect before the first
        change ``deployment_ref`` made. A deployment that never changed the route, or one
        already restored, leaves it as it is; one whose changes another deployment changed
        since is refused (restoring it would undo the later one too)."""
        route = self._route(model_id)
        before = route_before(self.session, model_id, deployment_ref)
        if before is None or self._restored(model_id, deployment_ref):
            return _state(route)
        later = later_deployment(self.session, model_id, deployment_ref)
        if later is not None:
            raise RoutingError(
                SUPERSEDED.format(deployment_ref=deployment_ref, model_id=model_id, later=later)
            )
        route.splits = dict(before.splits)
        route.config = dict(before.config)
        route.deployment_ref = deployment_ref
        self._record(route, "restore", actor=actor, reason=f"{reason} (revision {before.revision})")
        return _state(route)

    def health(self, model_id: str, *, since: datetime) -> Health:
        """Counters of every gateway since ``since`` (to the minute) and the lowest route
        revision any live gateway serves."""
        minute = since.replace(second=0, microsecond=0)
        rows = self.session.execute(
            select(
                ServingStatRecord.version,
                *(func.sum(getattr(ServingStatRecord, name)) for name in COUNTERS),
            )
            .where(ServingStatRecord.model_id == model_id, ServingStatRecord.minute >= minute)
            .group_by(ServingStatRecord.version)
        ).all()
        by_version = {
            row[0]: {name: int(value or 0) for name, value in zip(COUNTERS, row[1:], strict=True)}
            for row in rows
        }
        totals = {name: sum(v[name] for v in by_version.values()) for name in COUNTERS}
        recent = GatewayHeartbeat.last_seen >= utcnow() - HEARTBEAT_STALE
        live = [
            beat
            for beat in self.session.scalars(select(GatewayHeartbeat).where(recent))
            if model_id in beat.revisions
        ]
        served = min((int(beat.revisions[model_id]) for beat in live), default=None)
        return Health(
            model_id=model_id,
            revision_served=served,
            gateways=len(live),
            by_version=by_version,
            **totals,
        )


def route_before(session: Session, model_id: str, deployment_ref: str) -> RouteChange | None:
    """The route as it was before ``deployment_ref`` first changed it (what restoring it puts
    back), or None when it never changed it."""
    first = session.scalar(
        select(func.min(RouteChange.revision)).where(
            RouteChange.model_id == model_id, RouteChange.deployment_ref == deployment_ref
        )
    )
    if first is None:
        return None
    before = session.scalar(
        select(RouteChange).where(
            RouteChange.model_id == model_id, RouteChange.revision == first - 1
        )
    )
    assert before is not None, "revision 1 of a route is always its initialisation"
    return before


def later_deployment(session: Session, model_id: str, deployment_ref: str) -> str | None:
    """The deployment that changed ``model_id``'s route after ``deployment_ref``'s last
    change, if any (None also when ``deployment_ref`` never changed it)."""
    last = session.scalar(
        select(func.max(RouteChange.revision)).where(
            RouteChange.model_id == model_id, RouteChange.deployment_ref == deployment_ref
        )
    )
    if last is None:
        return None
    return session.scalar(
        select(RouteChange.deployment_ref)
        .where(
            RouteChange.model_id == model_id,
            RouteChange.revision > last,
            RouteChange.deployment_ref.is_not(None),
            RouteChange.deployment_ref != deployment_ref,
        )
        .order_by(RouteChange.revision)
        .limit(1)
    )


def all_routes(session: Session, model_ids: Iterable[str] | None = None) -> list[RouteState]:
    """The routes of ``model_ids`` (default: every registered, not deprecated model with a
    production version), created from the registry where missing: what a gateway polls."""
    target = StoreTarget(session)
    if model_ids is None:
        model_ids = session.scalars(
            select(Model.id).where(Model.deprecated_at.is_(None)).order_by(Model.id)
        ).all()
    states = []
    for model_id in model_ids:
        try:
            states.append(target.current(model_id))
        except RoutingError:
            continue
    return states


def record_serving_stats(session: Session, rows: Iterable[ServingStat]) -> None:
    """Store a gateway's per-minute counters and latency, replacing what it reported for
    the same minute, and add the difference to the minute's hour (``serving_stat_hours``)."""
    changes: list[MinuteChange] = []
    for row in rows:
        counts = {
            **{name: getattr(row, name) for name in COUNTERS},
            "latency_us_sum": row.latency_us_sum,
            **dict(zip(LATENCY_BUCKET_COLUMNS, row.latency_buckets, strict=True)),
        }
        stored = session.scalar(
            select(ServingStatRecord).where(
                ServingStatRecord.instance == row.instance,
                ServingStatRecord.model_id == row.model_id,
                ServingStatRecord.version == row.version,
                ServingStatRecord.minute == row.minute,
            )
        )
        if stored is None:
            change = counts
            session.add(
                ServingStatRecord(
                    instance=row.instance,
                    model_id=row.model_id,
                    version=row.version,
                    minute=row.minute,
                    **counts,
                )
            )
        else:
            change = {name: value - getattr(stored, name) for name, value in counts.items()}
            for name, value in counts.items():
                setattr(stored, name, value)
        changes.append((row.instance, row.model_id, row.version, row.minute, change))
    session.flush()
    add_to_hours(session, changes)


def record_heartbeat(
    session: Session, *, instance: str, revisions: Mapping[str, int], at: datetime | None = None
) -> None:
    """A gateway is alive and serves these route revisions."""
    moment = at or utcnow()
    beat = session.get(GatewayHeartbeat, instance)
    if beat is None:
        session.add(
            GatewayHeartbeat(
                instance=instance, started_at=moment, last_seen=moment, revisions=dict(revisions)
            )
        )
    else:
        beat.last_seen = moment
        beat.revisions = dict(revisions)
    session.flush()


def record_feedback(
    session: Session,
    *,
    model_id: str,
    kind: str,
    severity: str,
    details: str,
    recorded_by: str,
    version: str | None = None,
    prediction_id: str | None = None,
    consumer: str | None = None,
    at: datetime | None = None,
) -> ServingFeedback:
    """Record a bug, complaint, override, security vulnerability or regulatory concern;
    ``consumer`` is the authenticated caller that filed it, when it came through a gateway."""
    if kind not in FEEDBACK_KINDS:
        raise RoutingError(UNKNOWN_FEEDBACK_KIND.format(kind=kind, kinds=", ".join(FEEDBACK_KINDS)))
    if severity not in FEEDBACK_SEVERITIES:
        raise RoutingError(
            UNKNOWN_FEEDBACK_SEVERITY.format(
                severity=severity, severities=", ".join(FEEDBACK_SEVERITIES)
            )
        )
    if not details.strip():
        raise RoutingError(DETAILS_REQUIRED)
    if session.get(Model, model_id) is None:
        raise RoutingError(UNKNOWN_MODEL.format(model_id=model_id))
    if version is not None:
        get_version(session, model_id, version)
    feedback = ServingFeedback(
        model_id=model_id,
        version=version,
        kind=kind,
        severity=severity,
        prediction_id=prediction_id,
        details=details,
        recorded_by=recorded_by,
        recorded_at=at or utcnow(),
    )
    session.add(feedback)
    session.flush()
    record_event(
        session,
        actor=recorded_by,
        action="serving.feedback_recorded",
        target=f"model:{model_id}:{version or '*'}",
        payload={
            "feedback_id": feedback.id,
            "kind": kind,
            "severity": severity,
            "details": details,
            **({"consumer": consumer} if consumer is not None else {}),
        },
        severity="CRITICAL" if severity == "critical" else "INFO",
        idempotency_key=f"serving_feedback:{feedback.id}",
    )
    return feedback


def feedback_between(
    session: Session, model_id: str, start: datetime, end: datetime, version: str | None = None
) -> list[ServingFeedback]:
    """Feedback recorded in ``[start, end)`` on ``version`` (or on the model as a whole)."""
    query = select(ServingFeedback).where(
        ServingFeedback.model_id == model_id,
        ServingFeedback.recorded_at >= start,
        ServingFeedback.recorded_at < end,
    )
    if version is not None:
        query = query.where(
            (ServingFeedback.version == version) | ServingFeedback.version.is_(None)
        )
    return list(session.scalars(query.order_by(ServingFeedback.id)))
