"""Seed 004 section 2.3: the aggregated drift score.

score = sum_c w_c * component_c, with the policy's weights (seed 004: fairness 0.4, data 0.3,
model 0.2, explanation 0.1); its severity is :func:`~govflow.metrics.severity.classify` against
the policy's composite threshold (seed 004: CRITICAL when score > 0.30, no WARNING band).

Normalising one metric to [0, 1]
--------------------------------
``clip((value - warning) / (critical - warning), 0, 1)``: how far the metric has gone from
its warning bound towards its critical bound (mirrored for lower-is-worse metrics such as
disparate impact: ``(warning - value) / (warning - critical)``). A metric in the INFO range
is 0, so stable data scores 0 however many metrics are computed; PSI 0.175 (warning 0.10,
critical 0.25) is 0.5; DI 0.845 (warning 0.89, critical 0.80) is 0.5; a metric at or past
its critical bound is 1.0 (a threshold without a WARNING band goes from 0 to 1 at its critical
bound). Normalising from the warning bound rather than from the ideal
value is what keeps a day of in-range noise from summing to a CRITICAL score.

A component is the MAX over its metrics
---------------------------------------
The max, not the mean: one critical fairness metric must push the fairness component to
1.0 (seed 004 ranks fairness first), and a mean would dilute one drifted feature among
fifteen stable ones. The metric that gave the max is kept as ``contributing_metric``.

Missing data
------------
A component with no valid metric (labels not arrived, explanation not computed this run)
contributes nothing and is listed in ``missing_components``; the weights are not shared out.
Sharing them out would let one WARNING-level metric of a run that checks only fairness
stand for the whole score. So one critical fairness metric alone scores 0.4 (CRITICAL), one
critical data metric alone 0.3 (already CRITICAL as a metric, not yet as a composite), and
"multiple metrics simultaneously critical" (seed 004 section 10) crosses 0.30.
Metrics judged on evidence
--------------------------
A metric judged on its interval (fairness, see :func:`govflow.metrics.severity.classify`)
brings its verdict: INFO and INCONCLUSIVE count 0 (the data show no effect, or cannot tell),
CRITICAL counts 1, and a WARNING its normalised value capped at ``critical / weight`` of its
component, so one component at WARNING never makes the composite CRITICAL on its own
(fairness, weight 0.4: at most 0.75, a score of 0.30, which is not above 0.30). Two
components at WARNING, or one CRITICAL fairness metric, still cross it.

Values that are not finite are left out and listed in ``invalid_metrics`` (they are
data-quality findings, see :mod:`govflow.metrics.severity`). With no component at all
the result is ``inconclusive`` with ``score=None``. The composite has no WARNING band in
the seed: it is CRITICAL or INFO. The score is rounded to 12 decimals before the
comparison, so 0.4 * 0.5 + 0.2 * 0.5 is 0.30 (INFO), not
0.30000000000000004 (CRITICAL).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from govflow.metrics.severity import (
    Family,
    MetricInputError,
    Severity,
    Threshold,
    classify,
)

SCORE_DECIMALS = 12

BAD_WEIGHTS = "component weights must be finite and non-negative, got {weights}"
UNKNOWN_FAMILY = "metric {name} has family {family!r}, which has no weight"
NO_COMPONENTS = "no component has a valid metric"


@dataclass(frozen=True)
class MetricObservation:
    """A metric value with its family and threshold, as the composite consumes it."""

    name: str
    family: Family
    value: float | None
    threshold: Threshold
    subject: str = ""
    # The metric's verdict when it was judged on evidence (an interval): INFO, WARNING,
    # CRITICAL or INCONCLUSIVE. None: judged on its value alone.
    verdict: str | None = None


def normalised_metric_value(value: float, threshold: Threshold) -> float:
    """Fraction of the way from the warning bound to the critical bound, in [0, 1]."""
    sign = 1.0 if threshold.direction == "higher_is_worse" else -1.0
    warning = threshold.critical if threshold.warning is None else threshold.warning
    past_warning = sign * (value - warning)
    span = sign * (threshold.critical - warning)
    if span <= 0:
        return 1.0 if past_warning > 0 else 0.0
    return min(1.0, max(0.0, past_warning / span))


@dataclass(frozen=True)
class ComponentScore:
    """One component's normalised value, its weights and the metric that set it."""

    family: Family
    normalised: float
    weight: float
    effective_weight: float
    contributing_metric: str
    contributing_subject: str
    contributing_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "normalised": self.normalised,
            "weight": self.weight,
            "effective_weight": self.effective_weight,
            "contributing_metric": self.contributing_metric,
            "contributing_subject": self.contributing_subject,
            "contributing_value": self.contributing_value,
        }


@dataclass(frozen=True)
class CompositeScore:
    """The aggregated drift score and its breakdown, ready to store."""

    status: Literal["computed", "inconclusive"]
    score: float | None
    severity: Severity | None
    critical_above: float
    components: dict[str, ComponentScore]
    missing_components: tuple[str, ...]
    invalid_metrics: tuple[str, ...] = field(default_factory=tuple)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "score": self.score,
            "severity": None if self.severity is None else self.severity.name,
            "critical_above": self.critical_above,
            "components": {name: part.to_dict() for name, part in self.components.items()},
            "missing_components": list(self.missing_components),
            "invalid_metrics": list(self.invalid_metrics),
            "reason": self.reason,
        }


def _evidence_weighted(normalised: float, verdict: str | None, warning_cap: float) -> float:
    """A metric judged on evidence counts only as far as its verdict goes: nothing when the
    data do not show an effect (INFO, INCONCLUSIVE), everything when they show a critical
    one, and at a WARNING never more than the share that would carry its component alone
    past the composite's critical bound (``critical / weight``)."""
    if verdict is None:
        return normalised
    if verdict in ("INFO", "INCONCLUSIVE"):
        return 0.0
    if verdict == "CRITICAL":
        return 1.0
    return min(normalised, warning_cap)


def _check_weights(weights: Mapping[Family, float]) -> None:
    if any(not math.isfinite(weight) or weight < 0 for weight in weights.values()):
        raise MetricInputError(BAD_WEIGHTS.format(weights=dict(weights)))


def composite_drift_score(
    observations: Iterable[MetricObservation],
    *,
    weights: Mapping[Family, float],
    threshold: Threshold,
) -> CompositeScore:
    """Weighted max-per-component score of seed 004 section 2.3 (definitions in module doc)."""
    _check_weights(weights)
    critical_above = threshold.critical
    best: dict[Family, tuple[float, float, MetricObservation]] = {}
    invalid = []
    for observation in observations:
        if observation.family not in weights:
            raise MetricInputError(
                UNKNOWN_FAMILY.format(name=observation.name, family=observation.family)
            )
        value = observation.value
        if value is None or not math.isfinite(value):
            invalid.append(f"{observation.name}:{observation.subject}")
            continue
        normalised = _evidence_weighted(
            normalised_metric_value(value, observation.threshold),
            observation.verdict,
            critical_above / weights[observation.family] if weights[observation.family] else 1.0,
        )
        current = best.get(observation.family)
        if current is None or normalised > current[0]:
            best[observation.family] = (normalised, value, observation)
    missing = tuple(family for family in weights if family not in best)
    if not best:
        return CompositeScore(
            "inconclusive", None, None, critical_above, {}, missing, tuple(invalid), NO_COMPONENTS
        )
    components: dict[str, ComponentScore] = {
        family: ComponentScore(
            family=family,
            normalised=normalised,
            weight=weights[family],
            effective_weight=weights[family],
            contributing_metric=observation.name,
            contributing_subject=observation.subject,
            contributing_value=value,
        )
        for family, (normalised, value, observation) in best.items()
    }
    # Rounded so that float noise of the weighted sum (0.2 + 0.1) cannot cross the bound.
    score = round(
        math.fsum(part.normalised * part.effective_weight for part in components.values()),
        SCORE_DECIMALS,
    )
    severity = classify(score, threshold)
    assert isinstance(severity, Severity), "a weighted sum of values in [0, 1] is finite"
    return CompositeScore(
        "computed", score, severity, critical_above, components, missing, tuple(invalid)
    )
