"""Seed 004 section 6: what the dashboard's pages show, read from the governance store.

Each function returns plain dataclasses for one page; rendering lives in ``html``. A
monitor with no record, or whose newest record is older than its cadence allows, is
"No data": a missing or stale analysis is never shown as healthy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Case, Row, Text, bindparam, case, cast, func, select
from sqlalchemy.orm import Session

from govflow.config import GovflowConfig
from govflow.config.inventory import ModelType
from govflow.config.vocabulary import CHECK_TYPES, Cadence
from govflow.dashboard.access import ViewPermission
from govflow.metrics import JUDGED_AS, MODEL_DRIFT_METRICS
from govflow.metrics.regression import REGRESSION_METRICS
from govflow.rollout.routing import COUNTERS, Health
from govflow.store.schema import (
    LATENCY_BUCKET_COLUMNS,
    LATENCY_BUCKETS_MS,
    MetricResult,
    MonitoringRun,
    ServingFeedback,
    ServingStat,
    ServingStatHour,
)
from govflow.store.serving_hours import hour_of

NO_DATA = "No data"
INCONCLUSIVE = "INCONCLUSIVE"
HEALTH_OF_SEVERITY = {"INFO": "Healthy", "WARNING": "Warning", "CRITICAL": "Critical"}
SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}

# How old the window a record analysed may be before its monitor counts as stale: one
# period of its cadence plus a day for the run's hour, its duration and late logs.
ALLOWED_AGE: dict[Cadence, timedelta] = {
    "daily": timedelta(days=2),
    "weekly": timedelta(days=8),
    "biweekly": timedelta(days=15),
    "monthly": timedelta(days=32),
}
TREND_RECORDS = 14
RECENT_RUNS = 60
# A classifier's judged fairness metrics, then a regressor's (judged with the bounds of the
# policy metric JUDGED_AS names); a model records only its own type's.
FAIRNESS_METRICS = (
    "disparate_impact_ratio",
    "demographic_parity_drift",
    "equal_opportunity_drift",
    "mean_prediction_ratio",
    "mean_absolute_error_ratio",
)
# The model-drift metrics each model type records, from the metrics' own specs: the others
# are not its metrics, and "No data" under them would read as a monitor that did not run. A
# regressor records the classifier's prediction shift too, on its predictions' bins.
HEALTH_METRICS_OF: dict[ModelType, tuple[str, ...]] = {
    "binary_classifier": tuple(m.name for m in MODEL_DRIFT_METRICS),
    "regressor": (
        "prediction_distribution_shift",
        *(m.name for m in REGRESSION_METRICS if m.family == "model"),
    ),
}
# Model Health's columns: every type's, each once.
HEALTH_METRICS = tuple(
    dict.fromkeys(name for names in HEALTH_METRICS_OF.values() for name in names)
)
MAX_DAYS = 366


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def worst(severities: Iterable[str]) -> str | None:
    judged = [s for s in severities if s in SEVERITY_RANK]
    return max(judged, key=SEVERITY_RANK.__getitem__, default=None)


def named_withheld(
    withheld: Mapping[str, ViewPermission], check_types: Iterable[str] | None = None
) -> list[dict[str, str]]:
    """The JSON of the withheld families (those of ``check_types``, or all): each with the
    permission that shows them."""
    return [
        {"check_type": check_type, "permission": withheld[check_type]}
        for check_type in (withheld if check_types is None else check_types)
    ]


@dataclass(frozen=True)
class Monitor:
    """The newest record of one check family of one model."""

    check_type: str
    cadence: Cadence
    severity: str  # INFO / WARNING / CRITICAL / INCONCLUSIVE, or NO_DATA
    stale: bool
    window_end: datetime | None
    run_id: int | None
    dag_id: str | None
    dag_run_id: str | None
    # The record's window rows per model version: more than one, and its findings may come
    # from one version's share (a phased rollout's candidate).
    model_versions: dict[str, int] = field(default_factory=dict)
    # The family's results the record judged inconclusive: beside a computed INFO, a metric
    # whose interval could not decide (a disparate impact of 0.85 on small groups) is no pass.
    inconclusive: int = 0

    @property
    def shown(self) -> str:
        return NO_DATA if self.stale or self.window_end is None else self.severity


@dataclass(frozen=True)
class FailedAnalysis:
    """A model's newest analysis when it failed after its newest successful one: the page
    shows the failure, never the older record's health as if it were today's."""

    window_end: datetime
    reason: str
    dag_id: str | None
    dag_run_id: str | None


# The data-quality gate runs before every analysis and is no check family of its own: its
# findings are recorded beside the families' (check_type "data_quality"). A failed gate is
# CRITICAL (policy.yaml data_quality.failed_gate_severity) and escalates like CRITICAL data
# drift, yet the drift it lets through may all read INFO.
DATA_QUALITY = "data_quality"
GATE_FINDINGS_SHOWN = 5


@dataclass(frozen=True)
class GateFindings:
    """The data-quality findings above INFO of a model's newest successful record."""

    severity: str  # WARNING or CRITICAL: the worst of them
    findings: list[str]  # "<check> <column>" of each, the worst first
    window_end: datetime
    stale: bool
    run_id: int
    dag_id: str | None
    dag_run_id: str | None


@dataclass(frozen=True)
class ModelOverview:
    model_id: str
    risk_tier: str
    monitors: list[Monitor]
    composite: float | None
    composite_stale: bool
    trend: list[float]
    last_analysis: datetime | None
    # The newest drift report of the model's recent records, relative to the data directory.
    report_path: str | None = None
    # The newest record when it has no report (a quiet day's: drawn on request).
    unreported_run: int | None = None
    failed_analysis: FailedAnalysis | None = None
    data_quality: GateFindings | None = None

    def to_dict(self, *, withheld: Mapping[str, ViewPermission] | None = None) -> dict[str, Any]:
        """The JSON twin of a Drift Overview row: what is shown, not only what is stored.

        The monitors of the ``withheld`` families (check type -> the permission that shows
        them, ``DashboardRights.withheld_checks``) are left out and named under "withheld",
        and so is "health": the worst of every family, it would tell a withheld one's."""
        withheld = withheld or {}
        row = {
            **asdict(self),
            "health": self.health,
            "monitors": [
                {**asdict(m), "shown": m.shown}
                for m in self.monitors
                if m.check_type not in withheld
            ],
        }
        if withheld:
            del row["health"]
            row["withheld"] = self.withheld_monitors(withheld)
        return row

    def withheld_monitors(self, withheld: Mapping[str, ViewPermission]) -> list[dict[str, str]]:
        """The JSON naming this row's monitors of the ``withheld`` families."""
        return named_withheld(
            withheld, [m.check_type for m in self.monitors if m.check_type in withheld]
        )

    def monitor(self, check_type: str) -> Monitor | None:
        return next((m for m in self.monitors if m.check_type == check_type), None)

    @property
    def health(self) -> str:
        """Worst of the fresh monitors; never Healthy while any monitor has no fresh data, nor
        when the newest analysis failed (its window has no verdict)."""
        return self.health_over()

    def health_over(self, withheld: Collection[str] = ()) -> str:
        """``health`` over the monitors of the families not ``withheld`` (and the data-quality
        gate, which is no family): Model Health's status for a reader from whom those are
        hidden, as the worst of every family would tell a withheld one's CRITICAL."""
        seen = [m for m in self.monitors if m.check_type not in withheld]
        fresh = [m.severity for m in seen if m.shown != NO_DATA]
        gate = self.data_quality
        found = worst(fresh + ([gate.severity] if gate is not None and not gate.stale else []))
        if found in ("WARNING", "CRITICAL"):
            return HEALTH_OF_SEVERITY[found]
        if (
            found is None
            or len(fresh) < len(seen)
            or INCONCLUSIVE in fresh
            or self.failed_analysis is not None
        ):
            return NO_DATA
        return HEALTH_OF_SEVERITY[found]


# The columns the pages read: never whole records, whose per-group counts
# (fairness_counts, about 10 KB a day) would be parsed for every one of them. One statement
# per model, read through the connection: at 200 models x 60 records, building a statement
# per model and the ORM's row handling each cost more CPU than the queries. Of each record
# only what decides which records matter is read here (``checks`` as its JSON text, no
# timestamps but the finishing time); the few records shown are read in full afterwards.
NEWEST_RUNS = (
    select(
        MonitoringRun.id,
        cast(MonitoringRun.checks, Text).label("checks"),
        MonitoringRun.composite_score,
        MonitoringRun.finished_at,
        MonitoringRun.report_path,
        MonitoringRun.interval_end,
    )
    .where(MonitoringRun.model_id == bindparam("model_id"), MonitoringRun.status == "succeeded")
    .order_by(MonitoringRun.interval_end.desc(), MonitoringRun.id.desc())
    .limit(RECENT_RUNS)
)
# A model's newest failed analysis, shown when no successful one has come after it.
NEWEST_FAILURE = (
    select(
        MonitoringRun.id,
        MonitoringRun.interval_end,
        MonitoringRun.error,
        MonitoringRun.dag_id,
        MonitoringRun.dag_run_id,
    )
    .where(MonitoringRun.model_id == bindparam("model_id"), MonitoringRun.status == "failed")
    .order_by(MonitoringRun.interval_end.desc(), MonitoringRun.id.desc())
    .limit(1)
)


@dataclass(frozen=True)
class _Recent:
    """What a model's newest records (RECENT_RUNS) decide, kept without the records: read
    and dropped model by model, 12,000 rows do not outlive their model and do not grow the
    heap the garbage collector then walks."""

    newest: dict[str, int | None]  # the newest record of each check family
    newest_run: int | None  # the newest successful record, whatever it checked
    scores: list[tuple[int, float]]  # the newest scored records, newest first
    last_analysis: datetime | None
    report_path: str | None
    unreported_run: int | None
    failed: FailedAnalysis | None


def _recent(session: Session, model_id: str) -> _Recent:
    runs = session.connection().execute(NEWEST_RUNS, {"model_id": model_id}).all()
    failure = session.connection().execute(NEWEST_FAILURE, {"model_id": model_id}).first()
    scored = [(r.id, r.composite_score) for r in runs if r.composite_score is not None]
    return _Recent(
        newest={
            check_type: next((r.id for r in runs if _lists(r.checks, check_type)), None)
            for check_type in CHECK_TYPES
        },
        newest_run=runs[0].id if runs else None,
        scores=scored[:TREND_RECORDS],
        last_analysis=max((r.finished_at for r in runs if r.finished_at is not None), default=None),
        report_path=next((r.report_path for r in runs if r.report_path), None),
        unreported_run=runs[0].id if runs and not runs[0].report_path else None,
        failed=_newer_failure(failure, runs[0] if runs else None),
    )


def _newer_failure(failure: Any, newest: Any) -> FailedAnalysis | None:
    """The failure, when it is newer than the newest successful record (``newest``): its
    window ends later, or the same window failed when analysed again (a failed day later
    analysed again successfully is history, not the model's state)."""
    if failure is None:
        return None
    if newest is not None and (_aware(newest.interval_end), newest.id) > (
        _aware(failure.interval_end),
        failure.id,
    ):
        return None
    reason = (str(failure.error or "").strip().splitlines() or ["no reason recorded"])[0]
    return FailedAnalysis(_aware(failure.interval_end), reason, failure.dag_id, failure.dag_run_id)


def _lists(checks: str | None, check_type: str) -> bool:
    """Whether a record's ``checks`` (a JSON list of CHECK_TYPES names, as text) names
    ``check_type``: a name is quoted in the list, and no name contains a quote or another
    name in quotes, so this is exact without parsing 12,000 lists a page view."""
    return checks is not None and f'"{check_type}"' in checks


ShownRun = Row[int, datetime, str | None, str | None, dict[str, int] | None]


def _run_details(session: Session, run_ids: list[int]) -> dict[int, ShownRun]:
    if not run_ids:
        return {}
    rows = session.connection().execute(
        select(
            MonitoringRun.id,
            MonitoringRun.interval_end,
            MonitoringRun.dag_id,
            MonitoringRun.dag_run_id,
            MonitoringRun.model_versions,
        ).where(MonitoringRun.id.in_(run_ids))
    )
    return {row.id: row for row in rows}


def _ranked(statuses: Sequence[str]) -> Case[Any]:
    """A result's SEVERITY_RANK in SQL when its status is one of ``statuses``, else NULL:
    the worst of a group is its MAX, so a run's results are read as one row per family
    instead of one per metric and subject."""
    return case(
        (
            MetricResult.status.in_(statuses),
            case(SEVERITY_RANK, value=MetricResult.severity, else_=None),
        ),
        else_=None,
    )


# The worst severity of a family's computed results.
_RANKED = _ranked(("computed",))
_SEVERITY_OF_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}


def _severities_by_run(
    session: Session, run_ids: list[int]
) -> dict[tuple[int, str], tuple[str, int]]:
    """The severity of each family of each run (the worst of its computed results, or
    INCONCLUSIVE when none was computed) and how many of its results are inconclusive."""
    if not run_ids:
        return {}
    inconclusive = func.sum(case((MetricResult.status == "inconclusive", 1), else_=0))
    rows = session.execute(
        select(
            MetricResult.monitoring_run_id,
            MetricResult.check_type,
            func.max(_RANKED),
            inconclusive,
        )
        .where(MetricResult.monitoring_run_id.in_(run_ids))
        .group_by(MetricResult.monitoring_run_id, MetricResult.check_type)
    )
    return {
        (run_id, check_type): (
            INCONCLUSIVE if rank is None else _SEVERITY_OF_RANK[rank],
            int(undecided or 0),
        )
        for run_id, check_type, rank, undecided in rows
    }


def _gate_findings(session: Session, run_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Each run's data-quality findings above INFO as (severity, "<check> <column>")."""
    if not run_ids:
        return {}
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for run_id, metric, subject, severity in session.execute(
        select(
            MetricResult.monitoring_run_id,
            MetricResult.metric,
            MetricResult.subject,
            MetricResult.severity,
        )
        .where(
            MetricResult.monitoring_run_id.in_(run_ids),
            MetricResult.check_type == DATA_QUALITY,
            MetricResult.severity.in_(("WARNING", "CRITICAL")),
        )
        .order_by(MetricResult.id)
    ):
        found[run_id].append((severity, f"{metric} {subject}".strip()))
    return found


def model_overviews(
    session: Session,
    config: GovflowConfig,
    *,
    now: datetime,
    model_ids: Sequence[str] | None = None,
) -> list[ModelOverview]:
    """Drift Overview and Model Health: every model of models.yaml (or those asked for)."""
    shown = [m for m in config.models.models if model_ids is None or m.id in model_ids]
    recent = {model.id: _recent(session, model.id) for model in shown}
    # Only the newest record of each family is judged: at most four runs' results a model,
    # read for every model in one query; with the newest scored record, the runs shown.
    judged = {i for r in recent.values() for i in r.newest.values() if i is not None}
    severities = _severities_by_run(session, sorted(judged))
    newest_runs = {r.newest_run for r in recent.values() if r.newest_run is not None}
    gates = _gate_findings(session, sorted(newest_runs))
    details = _run_details(
        session,
        sorted(judged | newest_runs | {r.scores[0][0] for r in recent.values() if r.scores}),
    )
    overviews = []
    for model in shown:
        found = recent[model.id]
        cadences = config.policy.monitoring.cadence[model.risk_tier]
        monitors = []
        for check_type in CHECK_TYPES:
            cadence: Cadence = getattr(cadences, check_type)
            run_id = found.newest[check_type]
            if run_id is None:
                monitors.append(Monitor(check_type, cadence, NO_DATA, True, None, None, None, None))
                continue
            run = details[run_id]
            end = _aware(run.interval_end)
            severity, inconclusive = severities.get((run_id, check_type), (INCONCLUSIVE, 0))
            monitors.append(
                Monitor(
                    check_type,
                    cadence,
                    severity,
                    now - end > ALLOWED_AGE[cadence],
                    end,
                    run_id,
                    run.dag_id,
                    run.dag_run_id,
                    dict(run.model_versions or {}),
                    inconclusive,
                )
            )
        latest = found.scores[0] if found.scores else None
        gate = None
        if found.newest_run is not None and gates.get(found.newest_run):
            findings = sorted(gates[found.newest_run], key=lambda f: -SEVERITY_RANK[f[0]])
            newest = details[found.newest_run]
            gate_end = _aware(newest.interval_end)
            gate = GateFindings(
                severity=findings[0][0],
                findings=[what for _, what in findings],
                window_end=gate_end,
                # Fresh while the most patient of the model's cadences would call it fresh.
                stale=now - gate_end > max(ALLOWED_AGE[getattr(cadences, c)] for c in CHECK_TYPES),
                run_id=found.newest_run,
                dag_id=newest.dag_id,
                dag_run_id=newest.dag_run_id,
            )
        overviews.append(
            ModelOverview(
                model_id=model.id,
                risk_tier=model.risk_tier,
                monitors=monitors,
                composite=None if latest is None else latest[1],
                composite_stale=latest is None
                or now - _aware(details[latest[0]].interval_end) > ALLOWED_AGE["daily"],
                trend=[score for _, score in reversed(found.scores)],
                last_analysis=None if found.last_analysis is None else _aware(found.last_analysis),
                report_path=found.report_path,
                unreported_run=found.unreported_run,
                failed_analysis=found.failed,
                data_quality=gate,
            )
        )
    return overviews


@dataclass(frozen=True)
class HealthMetric:
    metric: str
    value: float | None
    severity: str
    status: str
    window_end: datetime


def health_metrics(
    session: Session, overviews: Sequence[ModelOverview]
) -> dict[str, dict[str, HealthMetric]]:
    """Model Health's model-drift metrics from each model's newest model-drift record."""
    newest: dict[int, tuple[str, datetime]] = {}
    for overview in overviews:
        for monitor in overview.monitors:
            if monitor.check_type == "model_drift" and monitor.run_id and monitor.window_end:
                newest[monitor.run_id] = (overview.model_id, monitor.window_end)
    found: dict[str, dict[str, HealthMetric]] = defaultdict(dict)
    if not newest:
        return found
    results = session.execute(
        select(
            MetricResult.monitoring_run_id,
            MetricResult.metric,
            MetricResult.value,
            MetricResult.severity,
            MetricResult.status,
        ).where(
            MetricResult.monitoring_run_id.in_(list(newest)),
            MetricResult.check_type == "model_drift",
            MetricResult.metric.in_(HEALTH_METRICS),
        )
    )
    for result in results:
        model_id, end = newest[result.monitoring_run_id]
        found[model_id][result.metric] = HealthMetric(
            result.metric, result.value, result.severity, result.status, end
        )
    return found


SERVING_WINDOW = timedelta(hours=24)
FEEDBACK_COUNTED = ("override", "complaint")
LATENCY_EXPLAINED = (
    "the gateway's time answering a predict call (not the HTTP transport), counted in "
    "buckets up to {bounds} ms; a percentile is shown as the upper bound of its bucket "
    "(p95 \u2264 50 ms: 95% of calls took at most 50 ms), so it may overstate, never understate"
).format(bounds=", ".join(str(bound) for bound in LATENCY_BUCKETS_MS))
# What is summed per model: the counters, then the latency sum and its buckets.
_SUMMED = (*COUNTERS, "latency_us_sum", *LATENCY_BUCKET_COLUMNS)


@dataclass(frozen=True)
class LatencySummary:
    """A model's predict calls over SERVING_WINDOW, from the gateway's latency buckets."""

    calls: int
    mean_ms: float
    # Each percentile is known to its bucket: (lower bound, upper bound] in ms, the upper
    # None above the last bound.
    p50_ms: tuple[int, int | None]
    p95_ms: tuple[int, int | None]

    @classmethod
    def of(cls, latency_us_sum: int, buckets: Sequence[int]) -> LatencySummary | None:
        calls = sum(buckets)
        if not calls:
            return None
        return cls(
            calls,
            latency_us_sum / calls / 1000,
            _bucket_of_rank(buckets, math.ceil(0.50 * calls)),
            _bucket_of_rank(buckets, math.ceil(0.95 * calls)),
        )


def _bucket_of_rank(buckets: Sequence[int], rank: int) -> tuple[int, int | None]:
    """The bucket of the ``rank``-th fastest call (1-based)."""
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            lower = (0, *LATENCY_BUCKETS_MS)[index]
            return lower, LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else None
    raise ValueError(f"rank {rank} is beyond the {seen} calls counted")


@dataclass(frozen=True)
class ServingCounters:
    """What the serving gateways counted for one model over SERVING_WINDOW."""

    requests: int
    errors: int
    invalid: int
    clipped: int
    fallbacks: int
    overrides: int
    complaints: int
    latency: LatencySummary | None = None

    @property
    def error_rate(self) -> float | None:
        # The rollout's definition (errors and invalid outputs over requests).
        counts = {name: getattr(self, name) for name in COUNTERS}
        return Health("", None, 0, **counts).error_rate()

    def to_dict(self) -> dict[str, Any]:
        counted = asdict(self)
        latency = counted.pop("latency")
        return {**counted, "error_rate": self.error_rate, "latency": latency}


def _sums_by_model(
    session: Session,
    table: type[ServingStat | ServingStatHour],
    model_ids: Sequence[str],
    *where: Any,
) -> dict[str, list[int]]:
    return {
        row[0]: [int(value or 0) for value in row[1:]]
        for row in session.execute(
            select(table.model_id, *(func.sum(getattr(table, name)) for name in _SUMMED))
            .where(table.model_id.in_(model_ids), *where)
            .group_by(table.model_id)
        )
    }


def serving_counters(
    session: Session, model_ids: Sequence[str], *, now: datetime
) -> dict[str, ServingCounters]:
    """Model Health's gateway counters and latency of the last SERVING_WINDOW per model; a
    model with neither counters nor feedback in the window is absent.

    The window's whole hours come from their sums (``serving_stat_hours``, kept equal to
    the minutes'), the minutes before its first whole hour from ``serving_stats``: the same
    totals as summing every minute since ``now - SERVING_WINDOW``, from about 24 rows a
    model instead of 1,440."""
    since = now - SERVING_WINDOW
    first_hour = hour_of(since)
    if first_hour < since:
        first_hour += timedelta(hours=1)
    counted = _sums_by_model(
        session, ServingStatHour, model_ids, ServingStatHour.hour >= first_hour
    )
    before_first_hour = _sums_by_model(
        session,
        ServingStat,
        model_ids,
        ServingStat.minute >= since,
        ServingStat.minute < first_hour,
    )
    for model_id, sums in before_first_hour.items():
        hours = counted.get(model_id, [0] * len(_SUMMED))
        counted[model_id] = [a + b for a, b in zip(hours, sums, strict=True)]
    feedback: dict[tuple[str, str], int] = {
        (model_id, kind): count
        for model_id, kind, count in session.execute(
            select(ServingFeedback.model_id, ServingFeedback.kind, func.count())
            .where(
                ServingFeedback.model_id.in_(model_ids),
                ServingFeedback.recorded_at >= since,
                ServingFeedback.kind.in_(FEEDBACK_COUNTED),
            )
            .group_by(ServingFeedback.model_id, ServingFeedback.kind)
        )
    }
    served = [m for m in model_ids if m in counted or any(k[0] == m for k in feedback)]
    found = {}
    for model_id in served:
        sums = counted.get(model_id, [0] * len(_SUMMED))
        found[model_id] = ServingCounters(
            **dict(zip(COUNTERS, sums[: len(COUNTERS)], strict=True)),
            overrides=feedback.get((model_id, "override"), 0),
            complaints=feedback.get((model_id, "complaint"), 0),
            latency=LatencySummary.of(sums[len(COUNTERS)], sums[len(COUNTERS) + 1 :]),
        )
    return found


@dataclass(frozen=True)
class FairnessPoint:
    window_end: datetime
    value: float | None
    ci_low: float | None
    ci_high: float | None
    severity: str
    status: str
    group_sizes: dict[str, Any]
    message: str
    # What the sizes count: rows, or a labelled metric's actual positives (EO drift), ...
    group_sizes_counted: str = "rows"
    # The record's run and its drift report (relative to the data directory).
    dag_id: str | None = None
    dag_run_id: str | None = None
    report_path: str | None = None


RECORDED_BOUNDS = "as recorded: policy.yaml no longer bounds this metric"


@dataclass
class FairnessSeries:
    """One metric of one protected attribute (or intersection) of one model over time."""

    model_id: str
    subject: str
    metric: str
    warning: float | None
    critical: float | None
    direction: str
    points: list[FairnessPoint] = field(default_factory=list)
    # Where the bounds come from: policy.yaml, or the threshold the oldest shown point was
    # judged by when policy.yaml no longer bounds the metric (a metric taken out of it).
    bounds_from: str = "policy.yaml"


def fairness_series(
    session: Session, config: GovflowConfig, model_id: str, *, now: datetime, days: int
) -> list[FairnessSeries]:
    """Fairness Monitor: disparate impact, DP drift and EO drift (a regressor's mean
    prediction and MAE ratios) of ``model_id`` over the ``days`` days (at most MAX_DAYS) up
    to its newest window with a fairness result (or ``now``, if that is earlier), oldest
    first, with their bounds. Anchored on the newest
    fairness evidence, not on the clock or on the newest record: a model analysed over past
    data (a backfill, the demo's March 2025) shows it, even after runs over windows with no
    rows (the scheduled runs of `make airflow` on the demo) recorded no fairness at all."""
    newest = session.scalar(
        select(func.max(MonitoringRun.interval_end))
        .join(MetricResult, MetricResult.monitoring_run_id == MonitoringRun.id)
        .where(
            MonitoringRun.model_id == model_id,
            MonitoringRun.status == "succeeded",
            MetricResult.check_type == "fairness_drift",
            MetricResult.metric.in_(FAIRNESS_METRICS),
        )
    )
    if newest is None:
        return []
    until = min(now, newest if newest.tzinfo else newest.replace(tzinfo=UTC))
    since = until - timedelta(days=min(max(days, 1), MAX_DAYS))
    rows = session.execute(
        select(
            MetricResult.subject,
            MetricResult.metric,
            MetricResult.value,
            MetricResult.severity,
            MetricResult.status,
            MetricResult.details,
            MetricResult.threshold,
            MonitoringRun.interval_end,
            MonitoringRun.dag_id,
            MonitoringRun.dag_run_id,
            MonitoringRun.report_path,
        )
        .join(MonitoringRun, MonitoringRun.id == MetricResult.monitoring_run_id)
        .where(
            MonitoringRun.model_id == model_id,
            MonitoringRun.status == "succeeded",
            # A window ending at the period's first instant lies before it.
            MonitoringRun.interval_end > since,
            MetricResult.check_type == "fairness_drift",
            MetricResult.metric.in_(FAIRNESS_METRICS),
        )
        .order_by(MonitoringRun.interval_end, MonitoringRun.id)
    )
    series: dict[tuple[str, str], FairnessSeries] = {}
    bounds = config.policy.thresholds.fairness_drift
    for result in rows:
        key = (result.subject, result.metric)
        if key not in series:
            bound = bounds.get(JUDGED_AS.get(result.metric, result.metric))
            if bound is not None:
                series[key] = FairnessSeries(
                    model_id,
                    result.subject,
                    result.metric,
                    None if bound.warning is None else bound.warning.value,
                    bound.critical.value,
                    bound.direction,
                )
            else:
                recorded = result.threshold or {}
                series[key] = FairnessSeries(
                    model_id,
                    result.subject,
                    result.metric,
                    recorded.get("warning"),
                    recorded.get("critical"),
                    str(recorded.get("direction") or "direction not recorded"),
                    bounds_from=RECORDED_BOUNDS,
                )
        details = result.details or {}
        series[key].points.append(
            FairnessPoint(
                window_end=_aware(result.interval_end),
                value=result.value,
                ci_low=details.get("ci_low"),
                ci_high=details.get("ci_high"),
                # Only a computed value has a verdict: a skipped one (its column failed the
                # data-quality gate) is recorded INFO, which is no pass (as on Model Health).
                severity=result.severity if result.status == "computed" else INCONCLUSIVE,
                status=result.status,
                group_sizes=details.get("group_sizes") or {},
                message=str(details.get("message") or ""),
                group_sizes_counted=str(details.get("group_sizes_counted") or "rows"),
                dag_id=result.dag_id,
                dag_run_id=result.dag_run_id,
                report_path=result.report_path,
            )
        )
    order = {metric: index for index, metric in enumerate(FAIRNESS_METRICS)}
    return sorted(series.values(), key=lambda s: (s.subject, order[s.metric]))


# Airflow's run states in which an analysis may still write records.
UNFINISHED_RUN_STATES = ("queued", "running")


@dataclass(frozen=True)
class AnalysisRecord:
    """One model's record written by an Analyze Now run."""

    model_id: str
    status: str
    severity: str | None
    composite_score: float | None
    report_path: str | None
    interval_start: datetime
    interval_end: datetime
    findings_above_info: int


@dataclass(frozen=True)
class AnalysisProgress:
    """An Analyze Now run as the dashboard shows it: Airflow's state of the run (None when
    Airflow does not say) and the records it has written so far. With ``withheld`` families
    (check type -> the permission that shows them), each record's severity and findings
    above INFO are those of the families its reader may see."""

    dag_id: str
    run_id: str
    state: str | None
    records: list[AnalysisRecord]
    withheld: dict[str, ViewPermission] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """No more records to wait for (an unknown state is not waited for either)."""
        return self.state not in UNFINISHED_RUN_STATES

    def to_dict(self) -> dict[str, Any]:
        shown = {**asdict(self), "finished": self.finished}
        del shown["withheld"]
        if self.withheld:
            shown["withheld"] = named_withheld(self.withheld)
        return shown


ABOVE_INFO = ("WARNING", "CRITICAL")
# The results a record's severity is the worst of (Analysis.severity): computed ones, and
# the data-quality gate's failures.
JUDGED_STATUSES = ("computed", "failed")


def _seen_severities(
    session: Session, run_ids: list[int], withheld: Mapping[str, ViewPermission]
) -> dict[int, tuple[str | None, int]]:
    """Each record's severity and findings above INFO over the families not ``withheld``
    (and the data-quality gate, which is no family), as the record's own are over all: the
    worst judged result, INCONCLUSIVE where that is INFO and a family judged nothing but
    left results undecided (Analysis.verdict), None where nothing shown was recorded."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(
            MetricResult.monitoring_run_id,
            func.max(_ranked(JUDGED_STATUSES)),
            func.sum(case((MetricResult.severity.in_(ABOVE_INFO), 1), else_=0)),
            func.sum(case((MetricResult.status == "inconclusive", 1), else_=0)),
        )
        .where(
            MetricResult.monitoring_run_id.in_(run_ids),
            MetricResult.check_type.not_in(list(withheld)),
        )
        .group_by(MetricResult.monitoring_run_id, MetricResult.check_type)
    )
    families: dict[int, list[tuple[int | None, int, int]]] = defaultdict(list)
    for run_id, rank, above_info, undecided in rows:
        families[run_id].append((rank, int(above_info or 0), int(undecided or 0)))
    seen: dict[int, tuple[str | None, int]] = {}
    for run_id, found in families.items():
        rank = max((r for r, _, _ in found if r is not None), default=0)
        undecided = any(r is None and u for r, _, u in found)
        severity = INCONCLUSIVE if rank == 0 and undecided else _SEVERITY_OF_RANK[rank]
        seen[run_id] = (severity, sum(a for _, a, _ in found))
    return seen


def analysis_progress(
    session: Session,
    dag_id: str,
    run_id: str,
    state: str | None,
    *,
    withheld: Mapping[str, ViewPermission] | None = None,
) -> AnalysisProgress:
    """What an Analyze Now run has recorded so far, model by model; for a reader from whom
    ``withheld`` families are hidden (``DashboardRights.withheld_checks``), the severity and
    findings above INFO of the families they may see: the record's own, the worst and the
    count over every family, would tell a withheld family's CRITICAL."""
    withheld = withheld or {}
    above_info = (
        select(func.count(MetricResult.id))
        .where(
            MetricResult.monitoring_run_id == MonitoringRun.id,
            MetricResult.severity.in_(ABOVE_INFO),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            MonitoringRun.id,
            MonitoringRun.model_id,
            MonitoringRun.status,
            MonitoringRun.severity,
            MonitoringRun.composite_score,
            MonitoringRun.report_path,
            MonitoringRun.interval_start,
            MonitoringRun.interval_end,
            above_info.label("found"),
        )
        .where(MonitoringRun.dag_id == dag_id, MonitoringRun.dag_run_id == run_id)
        .order_by(MonitoringRun.model_id, MonitoringRun.id)
    ).all()
    seen = _seen_severities(session, [row.id for row in rows], withheld) if withheld else {}
    records = []
    for row in rows:
        severity, found = seen.get(row.id, (None, 0)) if withheld else (row.severity, row.found)
        records.append(
            AnalysisRecord(
                row.model_id,
                row.status,
                severity,
                row.composite_score,
                row.report_path,
                _aware(row.interval_start),
                _aware(row.interval_end),
                found,
            )
        )
    return AnalysisProgress(dag_id, run_id, state, records, dict(withheld))
