"""Seed 004 (monitoring policy) sections 1-12 and seed 000's dashboard and incident tables.

``config/policy.yaml`` is validated into ``PolicyFile``: cadence per risk tier (1.1), the
scheduled runs (1.2), severity levels and their notifications (2.1, 11), every metric
threshold with its direction and bound inclusivity (2.2), the composite score (2.3),
escalation (3.2), runbooks (3.3, 3.4), baselines (4), dashboard access (6), retention (7),
performance SLAs (8), reviews (9), exceptions (12), seed 000's P0-P3 incident classes and
seed 003's kill-switch authority (13.3.4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from govflow.config.vocabulary import (
    ALERT_SOURCES,
    CHECK_TYPES,
    SNAKE_CASE,
    AlertSource,
    Cadence,
    CheckType,
    Fraction,
    RiskTier,
    Role,
    Severity,
    StrictModel,
)
from govflow.metrics.severity import Direction, Family, Threshold

Key = Annotated[str, Field(pattern=SNAKE_CASE)]

FAIRNESS_DAILY = (
    "fairness drift is checked at least daily for every risk tier (seed 004 section 1.1 note)"
)
WEIGHTS_SUM = "composite weights must sum to 1, got {total}"
WARNING_ORDER = "warning bound {warning} must be {relation} critical bound {critical} ({direction})"
UNJUDGED_ALPHA_WEIGHT = (
    "fairness.alpha_weights names {metric}, which is not a judged fairness metric ({judged})"
)
DUPLICATE_METRIC = "metric {metric} is defined in both {first} and {second}"
PATH_COVERAGE = "{severity} alerts from {source} must match exactly one {what}, found {count}"


# --- 1. Monitoring cadence --------------------------------------------------------------


class TierCadence(StrictModel):
    """How often each check type runs for one risk tier (seed 004 table 1.1)."""

    data_drift: Cadence
    fairness_drift: Cadence
    model_drift: Cadence
    explanation_drift: Cadence

    @field_validator("fairness_drift")
    @classmethod
    def _fairness_is_daily(cls, value: Cadence) -> Cadence:
        if value != "daily":
            raise PydanticCustomError("fairness_daily", FAIRNESS_DAILY)
        return value


class ScheduledRun(StrictModel):
    """One of the scheduled analyses of seed 004 section 1.2."""

    description: str
    cron: Annotated[str, Field(pattern=r"^\S+ \S+ \S+ \S+ \S+$")]
    cadences: list[Cadence]


class Monitoring(StrictModel):
    cadence: dict[RiskTier, TierCadence]
    scheduled_runs: dict[Key, ScheduledRun]
    biweekly_iso_weeks: Literal["even", "odd"]
    # Models analysed one after the other in one task (issue 18: a task costs more than an
    # analysis); each model stays isolated (govflow.flows.monitoring.analyse_batch).
    models_per_task: Annotated[int, Field(ge=1, le=200)] = 10

    def checks_due(self, tier: RiskTier, cadence: Cadence) -> set[CheckType]:
        """The check types that run at ``cadence`` for models of ``tier``."""
        tier_cadence = self.cadence[tier]
        return {check for check in CHECK_TYPES if getattr(tier_cadence, check) == cadence}

    def cadences_of_run(self, run: str, day: date) -> set[Cadence]:
        """The cadences the scheduled ``run`` covers on ``day``.

        Seed 004 schedules no bi-weekly run, so bi-weekly checks ride on the weekly run
        of every other ISO week.
        """
        cadences = set(self.scheduled_runs[run].cadences)
        week_is_even = day.isocalendar().week % 2 == 0
        if week_is_even != (self.biweekly_iso_weeks == "even"):
            cadences.discard("biweekly")
        return cadences


# --- 2. Alerting rules ------------------------------------------------------------------

NotificationMeans = Literal[
    "dashboard", "slack", "slack_channel_mention", "email_digest", "instant_email", "sms_on_call"
]


class SeverityLevel(StrictModel):
    """Seed 004 table 2.1 joined with the internal notifications of section 11."""

    criteria: str
    response_time_hours: Annotated[float, Field(gt=0)] | None
    notify: list[NotificationMeans]
    slack_channel: str | None
    frequency: Literal["real_time", "daily_digest", "immediate"]
    creates_incident: bool


class Bound(StrictModel):
    """One edge of a severity band: the value and whether reaching it exactly counts."""

    value: float
    inclusive: bool


class MetricThreshold(StrictModel):
    """A metric's WARNING and CRITICAL bounds, worded exactly as the seed words them.

    ``threshold`` is the one :class:`~govflow.metrics.severity.Threshold` of the metric:
    every severity is decided and every bound is printed from it.
    """

    description: str
    direction: Direction
    warning: Bound | None
    critical: Bound
    source: str

    @cached_property
    def threshold(self) -> Threshold:
        return Threshold(
            warning=None if self.warning is None else self.warning.value,
            critical=self.critical.value,
            direction=self.direction,
            warning_inclusive=self.warning is not None and self.warning.inclusive,
            critical_inclusive=self.critical.inclusive,
        )

    @model_validator(mode="after")
    def _warning_comes_before_critical(self) -> MetricThreshold:
        if self.warning is None:
            return self
        higher_is_worse = self.direction == "higher_is_worse"
        in_order = (
            self.warning.value < self.critical.value
            if higher_is_worse
            else self.warning.value > self.critical.value
        )
        if not in_order:
            raise PydanticCustomError(
                "threshold_order",
                WARNING_ORDER.format(
                    warning=self.warning.value,
                    relation="below" if higher_is_worse else "above",
                    critical=self.critical.value,
                    direction=self.direction,
                ),
            )
        return self


class Thresholds(StrictModel):
    """Seed 004 section 2.2 and seed 000's fairness metrics, one mapping per check type."""

    fairness_drift: dict[Key, MetricThreshold]
    data_drift: dict[Key, MetricThreshold]
    model_drift: dict[Key, MetricThreshold]
    explanation_drift: dict[Key, MetricThreshold]

    @model_validator(mode="after")
    def _metric_names_are_unique(self) -> Thresholds:
        seen: dict[str, str] = {}
        for family, metrics in self.by_check_type().items():
            for metric in metrics:
                if metric in seen:
                    raise PydanticCustomError(
                        "duplicate_metric",
                        DUPLICATE_METRIC.format(metric=metric, first=seen[metric], second=family),
                    )
                seen[metric] = family
        return self

    def by_check_type(self) -> dict[CheckType, dict[str, MetricThreshold]]:
        return {
            "fairness_drift": self.fairness_drift,
            "data_drift": self.data_drift,
            "model_drift": self.model_drift,
            "explanation_drift": self.explanation_drift,
        }

    def check_type_of(self, metric: str) -> CheckType:
        for family, metrics in self.by_check_type().items():
            if metric in metrics:
                return family
        raise KeyError(f"no threshold for metric {metric!r} in policy.yaml")

    def get(self, metric: str) -> MetricThreshold:
        return self.by_check_type()[self.check_type_of(metric)][metric]


class CompositeWeights(StrictModel):
    fairness_drift: Fraction
    data_drift: Fraction
    model_drift: Fraction
    explanation_drift: Fraction

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> CompositeWeights:
        total = sum(self.model_dump().values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise PydanticCustomError("weights_sum", WEIGHTS_SUM.format(total=round(total, 9)))
        return self

    def by_family(self) -> dict[Family, float]:
        """The weights keyed by the metric families the composite score sums over."""
        return {
            "fairness": self.fairness_drift,
            "data": self.data_drift,
            "model": self.model_drift,
            "explanation": self.explanation_drift,
        }


class Composite(StrictModel):
    """Seed 004 section 2.3: the aggregated drift score."""

    weights: CompositeWeights
    critical: Bound
    action: str

    @cached_property
    def threshold(self) -> Threshold:
        """The score's bound: CRITICAL or INFO, the seed gives the composite no WARNING band."""
        return Threshold(
            warning=None, critical=self.critical.value, critical_inclusive=self.critical.inclusive
        )


class Fairness(StrictModel):
    """Statistical guards on group metrics: small groups give noisy rates."""

    min_group_size: Annotated[int, Field(ge=1)]
    confidence_level: Annotated[float, Field(gt=0, lt=1)]
    # Windows (in days, ascending) a metric too uncertain to judge on one day is judged over.
    pooling_days: tuple[Annotated[int, Field(ge=2, le=90)], ...] = (3, 7, 14)
    # Weighted Bonferroni: a judged fairness metric's share of the model-day's alpha is its
    # weight over the sum of the judged metrics' weights (1 for a metric not named).
    alpha_weights: dict[Key, Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=dict)

    def alpha_share(self, metric: str, judged: Sequence[str]) -> float:
        """``metric``'s share of the alpha of the ``judged`` metrics (1 / len with no weights)."""
        total = sum(self.alpha_weights.get(name, 1.0) for name in judged)
        return self.alpha_weights.get(metric, 1.0) / total


class DataQuality(StrictModel):
    """The gate in front of every analysis: drift on broken data is not drift."""

    null_fraction_max: Fraction
    out_of_range_fraction_max: Fraction
    unseen_category_fraction_max: Fraction
    volume_ratio_min: Annotated[float, Field(ge=0)]
    volume_ratio_max: Annotated[float, Field(gt=0)]
    freshness_hours_max: Annotated[float, Field(gt=0)]
    failed_gate_severity: Severity
    engine: Literal["pandas", "great_expectations"] = "pandas"


# --- 3. Response procedures -------------------------------------------------------------


class EscalationStep(StrictModel):
    level: Literal["primary", "secondary", "executive"]
    role: Role
    rotation: Literal["primary", "secondary", "fairness"] | None = None
    when: Literal["on_alert", "unacknowledged", "unresolved"]
    after_minutes: Annotated[int, Field(ge=0)]


class EscalationPath(StrictModel):
    severity: Severity
    sources: list[AlertSource]
    steps: list[EscalationStep]


class Escalation(StrictModel):
    """Seed 004 section 3.2."""

    acknowledgement_minutes: Annotated[int, Field(gt=0)]
    paths: dict[Key, EscalationPath]

    @model_validator(mode="after")
    def _every_alert_has_one_path(self) -> Escalation:
        _require_exactly_one(
            "escalation path",
            [(path.severity, path.sources) for path in self.paths.values()],
        )
        return self

    def path_for(self, severity: Severity, source: AlertSource) -> EscalationPath | None:
        """The path for an alert; INFO has none (seed 004: "None")."""
        for path in self.paths.values():
            if path.severity == severity and source in path.sources:
                return path
        return None


class RunbookPhase(StrictModel):
    name: str
    within_minutes: Annotated[int, Field(gt=0)] | None
    actions: list[str]


class Runbook(StrictModel):
    title: str
    trigger: str
    sources: list[AlertSource]
    phases: list[RunbookPhase]


class IncidentClass(StrictModel):
    """Seed 000's P0-P3, placed beside seed 004's severities."""

    name: str
    description: str
    response_time_hours: Annotated[float, Field(ge=0)]
    escalate_to: list[Role]
    pause_system: bool
    severity: Severity
    sources: list[AlertSource]


class IncidentStage(StrictModel):
    name: str
    actions: list[str]


class Incidents(StrictModel):
    compliance_notification_minutes: Annotated[int, Field(gt=0)]
    retraining_within_days: Annotated[int, Field(gt=0)]
    post_mortem_within_days: Annotated[int, Field(gt=0)]
    documentation_within_minutes: Annotated[int, Field(gt=0)]
    critical_actions: dict[CheckType, list[str]]
    process: list[IncidentStage]
    classes: dict[Literal["P0", "P1", "P2", "P3"], IncidentClass]

    @model_validator(mode="after")
    def _every_alert_has_one_class(self) -> Incidents:
        _require_exactly_one(
            "incident class",
            [(incident.severity, incident.sources) for incident in self.classes.values()],
        )
        return self

    def class_for(self, severity: Severity, source: AlertSource) -> str | None:
        """The P0-P3 class of an alert; INFO alerts open no incident."""
        for key, incident in self.classes.items():
            if incident.severity == severity and source in incident.sources:
                return key
        return None


# --- 4-12. Baselines, access, retention, SLAs, reviews, exceptions -------------------------


class BaselineTrigger(StrictModel):
    action: str
    approver_role: Role | None

    @property
    def is_automatic(self) -> bool:
        return self.approver_role is None


class Baselines(StrictModel):
    """Seed 004 section 4."""

    version_format: str
    version_pattern: str
    reset_window_days: Annotated[int, Field(gt=0)]
    reset_requested_by: Role
    archive_instead_of_delete: bool
    update_triggers: dict[Key, BaselineTrigger]


ViewAccess = Literal["full", "read_only", "none"]


class DashboardAccess(StrictModel):
    """One row of seed 004 section 6, and the pages issue 16 adds to the seed's four.

    The seed names no access to Deployments, Audit or the reports govflow writes: a row
    without those columns gets none of them (the stricter reading)."""

    drift_overview: ViewAccess
    fairness_monitor: ViewAccess
    model_health: ViewAccess
    incident_timeline: ViewAccess
    can_trigger_analysis: bool
    deployments: ViewAccess = "none"
    audit: ViewAccess = "none"
    governance_reports: ViewAccess = "none"


# The data types whose period govflow reads to purge them (the retention purge, `airflow db
# clean`) or to date a record's end (monitoring records): each needs one in policy.yaml.
RETAINED_DATA_TYPES = (
    "prediction_logs",
    "prediction_logs_high_risk",
    "monitoring_records",
    "alerts",
    "serving_stats",
    "serving_feedback",
    "gateway_heartbeats",
    "route_history",
    "deployment_records",
    "airflow_metadata",
)


class RetentionPeriod(StrictModel):
    """A retention period in days or calendar years; ``indefinite`` keeps records forever."""

    days: Annotated[int, Field(gt=0)] | None = None
    years: Annotated[int, Field(gt=0)] | None = None
    indefinite: bool = False
    reason: str

    @model_validator(mode="after")
    def _exactly_one_period(self) -> RetentionPeriod:
        given = [self.days is not None, self.years is not None, self.indefinite]
        if sum(given) != 1:
            raise PydanticCustomError(
                "retention_period", "give exactly one of days, years or indefinite: true"
            )
        return self

    def cutoff(self, now: datetime) -> datetime | None:
        """Records older than the returned instant may be deleted; None keeps everything."""
        if self.days is not None:
            return now - timedelta(days=self.days)
        if self.years is not None:
            # Calendar years, so a 5-year retention never deletes a record a day early.
            try:
                return now.replace(year=now.year - self.years)
            except ValueError:
                return now.replace(year=now.year - self.years, day=28)
        return None


class MonitorTheMonitor(StrictModel):
    max_hours_without_completed_analysis: Annotated[float, Field(gt=0)]
    slack_channel: str


class PerformanceSlas(StrictModel):
    """Seed 004 section 8."""

    alert_delivery_max_minutes: Annotated[float, Field(gt=0)]
    dashboard_load_max_seconds: Annotated[float, Field(gt=0)]
    drift_analysis_max_minutes: Annotated[float, Field(gt=0)]
    api_response_p95_max_ms: Annotated[float, Field(gt=0)]
    monitor_the_monitor: MonitorTheMonitor


class Review(StrictModel):
    frequency: Literal["weekly", "monthly", "quarterly", "biannually", "annually"]
    owners: list[Role]
    focus: str
    source: str


class Exceptions(StrictModel):
    """Seed 004 section 12: accepting a WARNING for a bounded time."""

    applies_to_severities: list[Severity]
    documented_by: Role
    approved_by: Role
    status: str
    max_suppression_days: Annotated[int, Field(gt=0, le=30)]


OnCallRotation = Literal["primary", "secondary", "fairness"]


class KillSwitchAuthority(StrictModel):
    """Who may take one kill-switch action: holders of ``roles``, members of ``rotations``."""

    roles: list[Role]
    rotations: list[OnCallRotation]


class KillSwitches(StrictModel):
    """Seed 003 13.3.4 "Kill Switch Authority": activation and deactivation apart."""

    activate: KillSwitchAuthority
    deactivate: KillSwitchAuthority


class LegalHolds(StrictModel):
    """Who may put a legal hold and who may release one (not in the seeds)."""

    added_by: list[Role]
    released_by: list[Role]


class ModelRetirement(StrictModel):
    """Who, besides a model's owner, may deprecate it (seed 003 names no role)."""

    retired_by: list[Role]


class ExternalReport(StrictModel):
    stakeholder: str
    report: str
    frequency: str
    # The govflow report that serves it, and the Slack channel its summary is posted to.
    govflow_report: Literal["executive", "compliance", "incident"] | None = None
    slack_channel: str | None = None


class PolicyFile(StrictModel):
    """The whole of ``config/policy.yaml``."""

    monitoring: Monitoring
    severity_levels: dict[Severity, SeverityLevel]
    thresholds: Thresholds
    composite: Composite
    fairness: Fairness
    data_quality: DataQuality
    escalation: Escalation
    runbooks: dict[Key, Runbook]
    incidents: Incidents
    baselines: Baselines
    dashboard_access: dict[Role, DashboardAccess]
    retention: dict[Key, RetentionPeriod]
    performance_slas: PerformanceSlas
    reviews: dict[Key, Review]
    policy_change_approvers: list[Role]
    exceptions: Exceptions
    external_reporting: list[ExternalReport]
    kill_switches: KillSwitches
    legal_holds: LegalHolds
    model_retirement: ModelRetirement

    @model_validator(mode="after")
    def _alpha_weights_name_judged_metrics(self) -> PolicyFile:
        for metric in self.fairness.alpha_weights:
            if metric not in self.thresholds.fairness_drift:
                raise PydanticCustomError(
                    "alpha_weight",
                    UNJUDGED_ALPHA_WEIGHT.format(
                        metric=metric, judged=", ".join(self.thresholds.fairness_drift)
                    ),
                )
        return self

    def report_channel(self, report: str) -> str | None:
        """The Slack channel (a people.yaml key) a generated report's summary goes to."""
        return next(
            (r.slack_channel for r in self.external_reporting if r.govflow_report == report), None
        )

    def threshold(self, metric: str) -> Threshold:
        """The threshold every severity of ``metric`` is decided on (KeyError if none)."""
        return self.thresholds.get(metric).threshold

    def checks_due(self, tier: RiskTier, cadence: Cadence) -> set[CheckType]:
        return self.monitoring.checks_due(tier, cadence)

    def escalation_path(self, severity: Severity, source: AlertSource) -> EscalationPath | None:
        return self.escalation.path_for(severity, source)

    def runbook_for(self, source: str) -> str | None:
        """The key of the runbook for alerts from ``source`` (seed 004 sections 3.3, 3.4)."""
        return next((key for key, book in self.runbooks.items() if source in book.sources), None)


def _require_exactly_one(what: str, rules: list[tuple[Severity, list[AlertSource]]]) -> None:
    """Every WARNING and CRITICAL alert source must be routed by exactly one rule."""
    for severity in ("WARNING", "CRITICAL"):
        for source in ALERT_SOURCES:
            count = sum(
                1
                for rule_severity, sources in rules
                if rule_severity == severity and source in sources
            )
            if count != 1:
                raise PydanticCustomError(
                    "coverage",
                    PATH_COVERAGE.format(severity=severity, source=source, what=what, count=count),
                )
