"""False-alarm and power benchmark: how often govflow's verdicts fire when nothing changed, and
how often and how soon when something did (issue 17 item 1; seed 004 section 2.2).

Run: ``python benchmarks/false_alarms.py [--null-days 200] [--sequences 20] [--seed 7]
[--models credit_approval,marketing_propensity] [--quick]``.

Everything runs in this one process, through ``analyse_window`` exactly as a monitoring run
calls it, against each demo model's active baseline, on days of 2,000 prediction-log rows with
the columns of ``govflow.monitoring.prediction_logs``. It measures whatever ``analyse_window``
decides: the judgement rule is the library's, never this file's.

1. **The demo**, seeded into a temporary directory (``seed_demo`` at its fewest days and rows:
   only the trained models, their validation sets and their baselines are used).
2. **Null days** (nothing changed), per model, two kinds of ``--null-days`` consecutive days:

   * ``boot``: 2,000 rows drawn with replacement from the model's own validation set, the
     rows its baseline was built from, with their score, prediction and label;
   * ``gen``: a day of the demo's applicants as its stable days are drawn (age band and gender
     of each applicant drawn with the population's shares, nothing balanced), scored by the
     model's registered artefact, outcomes drawn from ``favourable_probability``.

3. **Alternatives**: a ``boot`` day with a known change injected, as ``--sequences``
   sequences of up to 7 consecutive days per alternative (a sequence stops at its first
   detection):

   * ``dp_drift`` 0.05 / 0.10 / 0.15: a group's selection rate lowered until the attribute's
     demographic-parity drift against the baseline's group rates reaches the value;
   * ``di`` 0.85 / 0.75 / 0.65: a group's selection rate lowered to that fraction of the highest
     other group's rate (the disparate impact ratio of the group);
   * each in a group of 40 rows a day (``gender=non_binary``, its share of the population) and
     of 200 and 1,000 rows a day (``gender=female``); the day is composed so the group has
     exactly that many of the 2,000 rows. The change flips each of the group's favourable
     predictions to 0 with the probability that gives the lowered rate, and moves the flipped
     rows' scores just below the decision threshold;
   * ``psi`` 0.15 / 0.35: ``income`` multiplied by the factor whose PSI over the baseline's
     frozen bins, on the validation set, is the value (bisection with govflow's own PSI), and
     the rows rescored by the model.

   A sequence *detects* on its first day with a CRITICAL finding on the injected attribute
   (any fairness metric of the attribute or of an intersection holding it) or, for ``psi``,
   on the shifted feature (any data-drift metric of it). Each day's labels are those of the
   day ``label_delay_days`` earlier (pre-change days come first), as a real run reads them.

Printed per model: a table of WARNING % and CRITICAL % per metric (check/metric/subject) on
each kind of null day and pooled; the run-level (worst finding) WARNING % and CRITICAL % and
the composite CRITICAL %; and per alternative the detection rate within 1, 3 and 7 days, the
median days to detection and how often the same event happens on a null ``boot`` day. Then
the wall time, this process's CPU time and the CPU other processes used meanwhile. Last line:
``false_alarms: critical_pct=<x> warning_pct=<y> power_pct=<z>``: the run-level CRITICAL and
WARNING rates over every null model-day, and the 7-day detection rate of the alternatives seed
004 calls CRITICAL (DP drift 0.15 and DI 0.65 in every group size, PSI 0.35).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from _machine import machine_busy_seconds
from govflow import registry, settings, store
from govflow.baselines.profile import (
    BaselineProfile,
    active_baseline,
    load_profile,
    load_registered_model,
)
from govflow.config import GovflowConfig, load_config
from govflow.config.inventory import ModelEntry
from govflow.demo.applicants import NUMERIC_FEATURE_RANGES
from govflow.demo.cohorts import draw_cohort
from govflow.demo.logs import (
    LABEL_JITTER_HOURS,
    LABEL_NEVER_ARRIVES_FRACTION,
    MINIMUM_ROWS_PER_DAY,
)
from govflow.demo.outcomes import DEMO_MODEL_IDS, favourable_probability
from govflow.demo.scenarios import MINIMUM_DAYS
from govflow.demo.seeding import seed_demo
from govflow.metrics import bin_counts, population_stability_index
from govflow.monitoring.analysis import Analysis, analyse_window, poolable_history
from govflow.monitoring.prediction_logs import (
    LABEL,
    LABEL_OBSERVED_AT,
    MODEL_ID,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    SCORE,
    SCORED_AT,
    log_columns,
)

ROWS_PER_DAY = 2_000
DEFAULT_NULL_DAYS = 200
DEFAULT_SEQUENCES = 20
SEQUENCE_DAYS = 7
DETECTION_HORIZONS = (1, 3, 7)
CHECKS = ("data_drift", "fairness_drift", "model_drift")
NULL_KINDS = ("boot", "gen")
FIRST_WINDOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# Flipped rows land this far below the decision threshold, at most.
BELOW_THRESHOLD = 0.01
SHIFTED_FEATURE = "income"
FAIRNESS_ATTRIBUTE = "gender"
GROUP_OF_SIZE = {40: "non_binary", 200: "female", 1_000: "female"}
DP_DRIFTS = (0.05, 0.10, 0.15)
DI_RATIOS = (0.85, 0.75, 0.65)
PSI_VALUES = (0.15, 0.35)
# The alternatives seed 004 calls CRITICAL, whose detection is the last line's power.
SEED_CRITICAL = {("dp_drift", 0.15), ("di", 0.65), ("psi", 0.35)}
SCAN_STEP = 1e-4
# Wide enough for the longest subject, an intersection of attributes.
METRIC_WIDTH = 64

NULL_HEADER = (
    f"{'check/metric/subject':<{METRIC_WIDTH}}{'boot W%':>9}{'boot C%':>9}"
    f"{'gen W%':>9}{'gen C%':>9}{'all W%':>9}{'all C%':>9}"
)
ALTERNATIVE_HEADER = (
    f"{'alternative':<40}{'expected':>9}{'det 1d%':>9}{'det 3d%':>9}{'det 7d%':>9}"
    f"{'median d':>9}{'null %':>8}"
)
TARGET_UNREACHABLE = "{model_id}: no selection rate of {group} reaches {kind} {target}"

Kind = Literal["dp_drift", "di", "psi"]


@dataclass(frozen=True)
class Alternative:
    """A known change injected into every day of a sequence."""

    kind: Kind
    target: float
    group_rows: int | None = None

    @property
    def group(self) -> str | None:
        return None if self.group_rows is None else GROUP_OF_SIZE[self.group_rows]

    @property
    def label(self) -> str:
        if self.kind == "psi":
            return f"psi {self.target:.2f} {SHIFTED_FEATURE}"
        return (
            f"{self.kind} {self.target:.2f} {FAIRNESS_ATTRIBUTE}={self.group} n={self.group_rows}"
        )

    @property
    def seed_critical(self) -> bool:
        return (self.kind, self.target) in SEED_CRITICAL


def alternatives(*, quick: bool) -> list[Alternative]:
    chosen = [
        *(Alternative("dp_drift", t, n) for t in DP_DRIFTS for n in GROUP_OF_SIZE),
        *(Alternative("di", t, n) for t in DI_RATIOS for n in GROUP_OF_SIZE),
        *(Alternative("psi", t) for t in PSI_VALUES),
    ]
    return [a for a in chosen if a.seed_critical] if quick else chosen


@dataclass
class MonitoredModel:
    """A demo model as a monitoring run sees it: inventory entry, active baseline, artefact."""

    entry: ModelEntry
    baseline: BaselineProfile
    baseline_version: str
    validation: pd.DataFrame
    artifact: Any
    threshold: float

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def features(self) -> list[str]:
        return [feature.name for feature in self.entry.features]

    def decide(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.threshold).astype("int8")

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        return self.artifact.predict_proba(rows[self.features])[:, 1]


def load_models(
    data_dir: Path, db_url: str, config: GovflowConfig, model_ids: list[str]
) -> list[MonitoredModel]:
    models = []
    with store.session_scope(db_url) as session:
        for model_id in model_ids:
            baseline = active_baseline(session, model_id)
            assert baseline is not None, f"the demo seeds a baseline for {model_id}"
            profile = load_profile(baseline)
            version = registry.get_version(session, model_id, profile.model_version)
            assert version.validation_uri is not None
            models.append(
                MonitoredModel(
                    entry=config.models.get(model_id),
                    baseline=profile,
                    baseline_version=baseline.version,
                    validation=pd.read_parquet(data_dir / version.validation_uri),
                    artifact=load_registered_model(
                        session,
                        data_dir=data_dir,
                        model_id=model_id,
                        model_version=profile.model_version,
                    ),
                    threshold=float(version.decision_threshold),
                )
            )
    return models


# --- one day of prediction logs ----------------------------------------------------------------


def prediction_log(
    model: MonitoredModel, rows: pd.DataFrame, window_start: datetime, rng: np.random.Generator
) -> pd.DataFrame:
    """``rows`` (features, protected attributes, score, prediction, label) as the day's log:
    scored inside the window, labels observed ``label_delay_days`` later (some never)."""
    n = len(rows)
    start = pd.Timestamp(window_start)
    scored_at = start + pd.to_timedelta(
        np.sort(rng.integers(0, int(DAY.total_seconds() * 1e6), n)), unit="us"
    )
    arrives = rng.random(n) >= LABEL_NEVER_ARRIVES_FRACTION
    jitter = pd.to_timedelta(rng.integers(0, LABEL_JITTER_HOURS * 3_600_000_000, n), unit="us")
    observed_at = scored_at + timedelta(days=model.entry.label_delay_days) + jitter
    labels = pd.array(rows[LABEL].to_numpy().astype("int8"), dtype="Int8")
    labels[~arrives] = pd.NA
    attributes = [attribute.name for attribute in model.entry.protected_attributes]
    # Unique within the stream: the day's window start and the row's position.
    prefix = f"{start:%Y%m%d}-"
    columns: dict[str, Any] = {
        PREDICTION_ID: [f"{prefix}{i}" for i in range(n)],
        MODEL_ID: model.id,
        MODEL_VERSION: model.baseline.model_version,
        SCORED_AT: scored_at,
        **{column: rows[column].to_numpy() for column in (*model.features, *attributes)},
        SCORE: rows[SCORE].to_numpy(dtype="float64"),
        PREDICTION: rows[PREDICTION].to_numpy().astype("int8"),
        LABEL: labels,
        LABEL_OBSERVED_AT: observed_at.where(arrives),
    }
    return pd.DataFrame(columns)[log_columns(model.features, attributes)]


def bootstrap_rows(model: MonitoredModel, rng: np.random.Generator) -> pd.DataFrame:
    """A null day of kind ``boot``: the validation set resampled, as already scored."""
    chosen = rng.integers(0, len(model.validation), ROWS_PER_DAY)
    return model.validation.iloc[chosen].reset_index(drop=True)


def generated_rows(model: MonitoredModel, rng: np.random.Generator) -> pd.DataFrame:
    """A null day of kind ``gen``: a day of the demo's applicants as its stable days are
    drawn, scored by the model, outcomes from the demo's ground truth."""
    cohort = draw_cohort(rng, ROWS_PER_DAY, draws=1)
    applicants = cohort.applicants
    applicants[SCORE] = model.score(applicants)
    applicants[PREDICTION] = model.decide(applicants[SCORE].to_numpy())
    favourable = favourable_probability(model.id, applicants)
    applicants[LABEL] = (cohort.outcome_draws[:, 0] < favourable).astype("int8")
    return applicants


def composed_rows(
    model: MonitoredModel, group: str, group_rows: int, rng: np.random.Generator
) -> pd.DataFrame:
    """A ``boot`` day whose ``group`` has exactly ``group_rows`` of its rows."""
    in_group = (model.validation[FAIRNESS_ATTRIBUTE] == group).to_numpy()
    members, others = np.flatnonzero(in_group), np.flatnonzero(~in_group)
    chosen = np.concatenate(
        [
            rng.choice(members, group_rows, replace=True),
            rng.choice(others, ROWS_PER_DAY - group_rows, replace=True),
        ]
    )
    return model.validation.iloc[rng.permutation(chosen)].reset_index(drop=True)


# --- the injected changes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """How an alternative changes a day: a flip probability, or a feature factor."""

    alternative: Alternative
    flip_probability: float = 0.0
    factor: float = 1.0
    expected: float = math.nan


def baseline_rates(model: MonitoredModel, config: GovflowConfig) -> dict[str, float]:
    """Selection rate per group of the attribute in the baseline, groups large enough only."""
    counts = model.baseline.fairness[FAIRNESS_ATTRIBUTE]
    minimum = config.min_group_size(model.id)
    return {
        group: selected / n
        for group, n, selected in zip(counts.groups, counts.n, counts.selected, strict=True)
        if n >= minimum
    }


def fairness_injection(
    model: MonitoredModel, config: GovflowConfig, alternative: Alternative
) -> Injection:
    """The flip probability that lowers the group's rate to the alternative's, in expectation
    over the baseline's group rates (a bootstrap day's rates are the baseline's on average)."""
    rates = baseline_rates(model, config)
    group = alternative.group
    assert group is not None
    own = rates[group]
    others = [rate for name, rate in rates.items() if name != group]
    gap = max(rates.values()) - min(rates.values())

    def metric(rate: float) -> float:
        values = [*others, rate]
        if alternative.kind == "dp_drift":
            return max(values) - min(values) - gap
        return min(values) / max(values)

    if alternative.kind == "di":
        lowered = min(own, alternative.target * max(others))
    else:
        # Scanning down from the group's own rate finds the smallest change that worsens the
        # attribute's parity gap by the target, whichever group is highest or lowest.
        candidates = np.arange(own, -SCAN_STEP, -SCAN_STEP)
        reached = [rate for rate in candidates if metric(rate) >= alternative.target - 1e-12]
        if not reached:
            raise ValueError(
                TARGET_UNREACHABLE.format(
                    model_id=model.id, group=group, kind=alternative.kind, target=alternative.target
                )
            )
        lowered = max(float(reached[0]), 0.0)
    return Injection(alternative, flip_probability=1 - lowered / own, expected=metric(lowered))


def feature_psi(model: MonitoredModel, values: np.ndarray) -> float:
    reference = model.baseline.numeric[SHIFTED_FEATURE]
    return population_stability_index(reference.bin_counts, bin_counts(values, reference.bin_edges))


def shifted_feature(values: np.ndarray, factor: float) -> np.ndarray:
    low, high = NUMERIC_FEATURE_RANGES[SHIFTED_FEATURE]
    return np.clip(values * factor, low, high)


def psi_injection(model: MonitoredModel, alternative: Alternative) -> Injection:
    """The factor on the feature whose PSI over the baseline's frozen bins, on the validation
    set, is the target (bisection on its logarithm; PSI grows with the factor)."""
    values = model.validation[SHIFTED_FEATURE].to_numpy(dtype="float64")
    low, high = 0.0, 0.1
    while feature_psi(model, shifted_feature(values, math.exp(high))) < alternative.target:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if feature_psi(model, shifted_feature(values, math.exp(middle))) < alternative.target:
            low = middle
        else:
            high = middle
    factor = math.exp(high)
    return Injection(
        alternative, factor=factor, expected=feature_psi(model, shifted_feature(values, factor))
    )


def injected_rows(
    model: MonitoredModel, injection: Injection, rng: np.random.Generator, *, changed: bool
) -> pd.DataFrame:
    """One day of the alternative's traffic; ``changed`` days carry the injected change."""
    alternative = injection.alternative
    if alternative.kind == "psi":
        rows = bootstrap_rows(model, rng)
        if changed:
            rows[SHIFTED_FEATURE] = shifted_feature(
                rows[SHIFTED_FEATURE].to_numpy(dtype="float64"), injection.factor
            )
            rows[SCORE] = model.score(rows)
            rows[PREDICTION] = model.decide(rows[SCORE].to_numpy())
        return rows
    assert alternative.group is not None and alternative.group_rows is not None
    rows = composed_rows(model, alternative.group, alternative.group_rows, rng)
    if changed:
        favourable = (rows[FAIRNESS_ATTRIBUTE] == alternative.group).to_numpy() & (
            rows[PREDICTION].to_numpy() == 1
        )
        flipped = favourable & (rng.random(len(rows)) < injection.flip_probability)
        rows.loc[flipped, PREDICTION] = 0
        rows.loc[flipped, SCORE] = model.threshold - rng.uniform(
            0, BELOW_THRESHOLD, int(flipped.sum())
        )
    return rows


# --- analysing consecutive days ----------------------------------------------------------------


@dataclass
class DayResult:
    """What one analysed day found: severity per metric, the run's, the composite's."""

    severities: dict[str, str]
    run: str
    composite: str | None


def metric_key(check_type: str, metric: str, subject: str) -> str:
    return f"{check_type}/{metric}/{subject or '-'}"


def day_result(analysis: Analysis) -> DayResult:
    return DayResult(
        severities={
            metric_key(f.check_type, f.metric, f.subject): f.severity for f in analysis.findings
        },
        run=analysis.severity,
        composite=analysis.composite.get("severity"),
    )


@dataclass
class Timer:
    calls: int = 0
    cpu: float = 0.0
    wall: float = 0.0


def analysed_days(
    model: MonitoredModel,
    config: GovflowConfig,
    rows_of_day: Callable[[int], pd.DataFrame],
    days: int,
    rng: np.random.Generator,
    timer: Timer,
    prior: Sequence[dict] = (),
) -> Iterator[Analysis]:
    """Analyses days 0..days-1 of one stream as consecutive daily windows, each with the
    labels of the day ``label_delay_days`` earlier (those days come first, unanalysed).

    Each day gets the fairness counts of the stream's earlier days, newest first, as a daily
    run reads them from the records of the days before (``fairness_history``); ``prior``
    holds the counts of the days before the stream's first day (the null days before a
    change), so pooling mixes them in as it would in production.
    """
    delay = model.entry.label_delay_days
    logs: dict[int, pd.DataFrame] = {}
    # Each earlier day's counts and findings, newest first (``prior``'s days have none).
    recent: list[tuple[dict, list[tuple[str, str, str]]]] = [(counts, []) for counts in prior]
    pooled_days = max(config.policy.fairness.pooling_days, default=1) - 1
    for day in range(-delay, days):
        start = FIRST_WINDOW + (day + delay) * DAY
        logs[day] = prediction_log(model, rows_of_day(day), start, rng)
        logs.pop(day - delay - 1, None)
        if day < 0:
            continue
        cpu, wall = time.process_time(), time.perf_counter()
        analysis = analyse_window(
            model=model.entry,
            config=config,
            baseline=model.baseline,
            baseline_version=model.baseline_version,
            current=logs[day],
            matured=logs[day - delay],
            window_start=start,
            window_end=start + DAY,
            checks=CHECKS,
            history=poolable_history(recent[:pooled_days]),
            analysed_at=start + DAY,  # the daily run, once its window has closed
        )
        timer.calls += 1
        timer.cpu += time.process_time() - cpu
        timer.wall += time.perf_counter() - wall
        findings = [(f.check_type, f.subject, f.severity) for f in analysis.findings]
        recent = [(analysis.fairness_counts, findings), *recent[: pooled_days - 1]]
        yield analysis


def detector(alternative: Alternative) -> Callable[[Analysis], bool]:
    """Whether an analysis is CRITICAL on what the alternative changed."""

    def detects(analysis: Analysis) -> bool:
        for finding in analysis.findings:
            if finding.severity != "CRITICAL":
                continue
            if alternative.kind == "psi":
                if finding.check_type == "data_drift" and finding.subject == SHIFTED_FEATURE:
                    return True
            elif finding.check_type == "fairness_drift" and FAIRNESS_ATTRIBUTE in (
                finding.subject.split("&")
            ):
                return True
        return False

    return detects


@dataclass
class ModelFigures:
    model: MonitoredModel
    null: dict[str, list[DayResult]] = field(default_factory=dict)
    detection_days: dict[Alternative, list[int | None]] = field(default_factory=dict)
    injections: dict[Alternative, Injection] = field(default_factory=dict)
    timer: Timer = field(default_factory=Timer)


def run_model(
    model: MonitoredModel,
    model_index: int,
    config: GovflowConfig,
    args: argparse.Namespace,
    chosen: list[Alternative],
) -> ModelFigures:
    figures = ModelFigures(model)
    makers = {"boot": bootstrap_rows, "gen": generated_rows}
    prior: list[dict] = []
    for kind_index, kind in enumerate(NULL_KINDS):
        rng = np.random.default_rng([args.seed, model_index, 0, kind_index])
        days = analysed_days(
            model,
            config,
            lambda _, make=makers[kind], rng=rng: make(model, rng),
            args.null_days,
            rng,
            figures.timer,
        )
        analyses = list(days)
        figures.null[kind] = [day_result(analysis) for analysis in analyses]
        if kind == "boot":
            prior = [analysis.fairness_counts for analysis in reversed(analyses[-14:])]
    for alternative_index, alternative in enumerate(chosen):
        injection = (
            psi_injection(model, alternative)
            if alternative.kind == "psi"
            else fairness_injection(model, config, alternative)
        )
        figures.injections[alternative] = injection
        detects = detector(alternative)
        found: list[int | None] = []
        for sequence in range(args.sequences):
            rng = np.random.default_rng([args.seed, model_index, 1, alternative_index, sequence])
            first: int | None = None
            days = analysed_days(
                model,
                config,
                lambda day, rng=rng, change=injection: injected_rows(
                    model, change, rng, changed=day >= 0
                ),
                SEQUENCE_DAYS,
                rng,
                figures.timer,
                prior,
            )
            # A sequence stops at its first detection: the later days cannot change the figures.
            for day, analysis in enumerate(days, start=1):
                if detects(analysis):
                    first = day
                    break
            found.append(first)
        figures.detection_days[alternative] = found
    return figures


# --- the report --------------------------------------------------------------------------------


def percent(count: int, total: int) -> float:
    return 100.0 * count / total if total else math.nan


def share(days: list[DayResult], test: Callable[[DayResult], bool]) -> float:
    return percent(sum(1 for day in days if test(day)), len(days))


def report_model(figures: ModelFigures) -> None:
    model = figures.model
    boot, gen = figures.null["boot"], figures.null["gen"]
    pooled = boot + gen
    print()
    print(
        f"== {model.id} ({model.entry.risk_tier} risk; baseline {model.baseline_version} of "
        f"{model.baseline.model_version}; label delay {model.entry.label_delay_days} days) =="
    )
    print(f"null model-days: boot {len(boot)}, gen {len(gen)}")
    print(NULL_HEADER)
    keys = sorted({key for day in pooled for key in day.severities})
    quiet = 0
    for key in keys:
        cells = []
        for days in (boot, gen, pooled):
            for severity in ("WARNING", "CRITICAL"):
                cells.append(share(days, lambda d, k=key, s=severity: d.severities.get(k) == s))
        if not any(cells):
            quiet += 1
            continue
        print(f"{key:<{METRIC_WIDTH}}" + "".join(f"{cell:>9.2f}" for cell in cells))
    print(f"({quiet} other metrics: no WARNING and no CRITICAL on any null day)")
    for label, test_warning, test_critical in (
        ("run (worst finding)", lambda d: d.run == "WARNING", lambda d: d.run == "CRITICAL"),
        ("composite", lambda d: d.composite == "WARNING", lambda d: d.composite == "CRITICAL"),
    ):
        cells = [
            value
            for days in (boot, gen, pooled)
            for value in (share(days, test_warning), share(days, test_critical))
        ]
        print(f"{label:<{METRIC_WIDTH}}" + "".join(f"{cell:>9.2f}" for cell in cells))
    print(ALTERNATIVE_HEADER)
    for alternative, found in figures.detection_days.items():
        within = [
            percent(sum(1 for d in found if d is not None and d <= h), len(found))
            for h in DETECTION_HORIZONS
        ]
        detected = sorted(d if d is not None else SEQUENCE_DAYS + 1 for d in found)
        middle = statistics.median_low(detected)
        median = f">{SEQUENCE_DAYS}" if middle > SEQUENCE_DAYS else str(middle)
        null_event = share(boot, lambda d, a=alternative: null_detects(d, a))
        print(
            f"{alternative.label:<40}{figures.injections[alternative].expected:>9.3f}"
            + "".join(f"{cell:>9.2f}" for cell in within)
            + f"{median:>9}{null_event:>8.2f}"
        )
    timer = figures.timer
    print(
        f"analyse_window: {timer.calls} calls at {ROWS_PER_DAY:,} rows, "
        f"{1000 * timer.cpu / timer.calls:.0f} ms CPU and {1000 * timer.wall / timer.calls:.0f} ms "
        "wall each on average"
    )


def null_detects(day: DayResult, alternative: Alternative) -> bool:
    """The alternative's detection event on a null day, from its recorded severities."""
    for key, severity in day.severities.items():
        if severity != "CRITICAL":
            continue
        check_type, _, subject = key.split("/", 2)
        if alternative.kind == "psi":
            if check_type == "data_drift" and subject == SHIFTED_FEATURE:
                return True
        elif check_type == "fairness_drift" and FAIRNESS_ATTRIBUTE in subject.split("&"):
            return True
    return False


def summary_line(every: list[ModelFigures]) -> str:
    null = [day for figures in every for days in figures.null.values() for day in days]
    critical = share(null, lambda d: d.run == "CRITICAL")
    warning = share(null, lambda d: d.run == "WARNING")
    found = [
        day
        for figures in every
        for alternative, days in figures.detection_days.items()
        if alternative.seed_critical
        for day in days
    ]
    power = percent(sum(1 for d in found if d is not None), len(found))
    return (
        f"false_alarms: critical_pct={critical:.2f} warning_pct={warning:.2f} power_pct={power:.2f}"
    )


# --- the run -----------------------------------------------------------------------------------


def seeded_demo(directory: Path, config: GovflowConfig) -> tuple[Path, str]:
    """The demo's models and baselines, at the fewest days and rows it allows."""
    db_url = f"sqlite:///{directory / 'govflow.db'}"
    seed_demo(
        directory, config, days=MINIMUM_DAYS, rows_per_day=MINIMUM_ROWS_PER_DAY, db_url=db_url
    )
    return directory, db_url


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null-days", type=int, default=None, help="per model and null kind")
    parser.add_argument("--sequences", type=int, default=None, help="per model and alternative")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--models",
        type=lambda value: value.split(","),
        default=list(DEMO_MODEL_IDS),
        help="comma-separated demo model ids",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 null day per kind, 1 sequence, only the seed-CRITICAL alternatives",
    )
    parser.add_argument(
        "--demo-dir",
        type=Path,
        default=None,
        help="an already seeded demo (its store at <dir>/govflow.db) instead of seeding one",
    )
    args = parser.parse_args(argv)
    defaults = (1, 1) if args.quick else (DEFAULT_NULL_DAYS, DEFAULT_SEQUENCES)
    args.null_days = defaults[0] if args.null_days is None else args.null_days
    args.sequences = defaults[1] if args.sequences is None else args.sequences
    unknown = [model_id for model_id in args.models if model_id not in DEMO_MODEL_IDS]
    if unknown:
        parser.error(f"not a demo model: {', '.join(unknown)}")
    if args.null_days < 1 or args.sequences < 1:
        parser.error("--null-days and --sequences must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    started, cpu_started, busy_started = (
        time.perf_counter(),
        time.process_time(),
        machine_busy_seconds(),
    )
    config = load_config(settings.config_dir())
    chosen = alternatives(quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="govflow-false-alarms-") as temporary:
        if args.demo_dir is None:
            data_dir, db_url = seeded_demo(Path(temporary), config)
        else:
            data_dir, db_url = args.demo_dir, f"sqlite:///{args.demo_dir / 'govflow.db'}"
        models = load_models(data_dir, db_url, config, args.models)
    prepared = time.perf_counter() - started
    print(
        f"false-alarm and power benchmark: seed {args.seed}; {ROWS_PER_DAY:,} rows a day; "
        f"{args.null_days} null days per model and kind; {args.sequences} sequences of up to "
        f"{SEQUENCE_DAYS} days per model and alternative; checks {', '.join(CHECKS)}"
    )
    print(f"demo seeded and loaded in {prepared:.1f} s")
    every = []
    for model in models:
        # One thread, as the demo trains: OpenMP threads of the boosted model's predictions
        # competing with other processes on a busy machine are many times slower.
        with threadpool_limits(limits=1):
            figures = run_model(model, DEMO_MODEL_IDS.index(model.id), config, args, chosen)
        report_model(figures)
        every.append(figures)
        sys.stdout.flush()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    other = machine_busy_seconds() - busy_started - cpu
    print()
    print(f"wall time: {wall:.1f} s")
    print(f"CPU time of this process: {cpu:.1f} s")
    print(
        f"other processes' CPU time meanwhile: {other:.1f} s on {os.cpu_count()} cores "
        f"(load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])})"
    )
    print(summary_line(every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
