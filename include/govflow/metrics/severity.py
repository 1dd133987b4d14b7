"""Seed 004 sections 2.1 and 2.2: severity levels, metric thresholds and the one ``classify``.

Every metric family module declares its metrics as :class:`MetricSpec` entries (name,
family, feature types, direction). A :class:`Threshold` holds one metric's bounds; the policy
(``config/policy.yaml``, validated in :mod:`govflow.config.policy`) builds one per metric and
nothing else writes them down. :func:`classify` is the only place a value is compared with a
bound, and :meth:`Threshold.describe` the only place a bound is put into words, so the CLI,
Slack, e-mail and reports all print the comparison the policy decides on.

How the seed's wording maps onto a threshold
--------------------------------------------
``higher_is_worse``: CRITICAL when ``value > critical`` (``>=`` if ``critical_inclusive``),
else WARNING when ``value > warning`` (``>=`` if ``warning_inclusive``), else INFO.
``lower_is_worse``: the mirror image with ``<`` / ``<=``. A threshold without a warning bound
(the composite score) is CRITICAL or INFO.

============================== ========================== ======================= =========
metric                         seed wording               Threshold               boundary
============================== ========================== ======================= =========
psi                            0.10-0.24 / >= 0.25        0.10 incl. / 0.25 incl. 0.245 is WARNING
kl_divergence                  0.10-0.29 / >= 0.30        0.10 incl. / 0.30 incl.
wasserstein_distance_normalised 0.15-0.30 / > 0.30        0.15 incl. / 0.30 excl. 0.30 is WARNING
demographic_parity_drift       > 0.05 / > 0.10            0.05 excl. / 0.10 excl.
equal_opportunity_drift        > 0.05 / > 0.10            0.05 excl. / 0.10 excl.
disparate_impact_ratio         0.80-0.89 / < 0.80         0.89 incl. / 0.80 excl. 0.895 is INFO
accuracy_drop                  > 5% / > 10%               0.05 excl. / 0.10 excl. fractions
prediction_distribution_shift  > 20% / > 40%              0.20 excl. / 0.40 excl. fractions
output_entropy_change          > 25% / > 50%              0.25 excl. / 0.50 excl. fractions
shap_rank_correlation          (section 10: 0.82 is INFO) < 0.80 / < 0.60         our choice
============================== ========================== ======================= =========

A gap in the seed's ranges (PSI 0.245, KL 0.295) belongs to the lower band: the warning band
runs up to the critical bound. Comparisons are exact on the float given; a value computed as
``0.30000000000000004`` is above 0.30.

Values that are not numbers (None, NaN, +-inf) are not a severity: :func:`classify` returns
:data:`INVALID`, which the caller records as a data-quality finding rather than an alert,
because a broken computation is neither "all clear" nor evidence of drift.

Judging on evidence (an interval)
---------------------------------
A metric measured on a sample (a group's selection rate on 40 rows) moves past its bounds
from sampling alone, so a metric that comes with a confidence interval is judged on the
interval as well as on its value (``classify(value, threshold, evidence=Evidence(...))``):

* **CRITICAL**: the value reaches the critical bound **and** the whole interval lies beyond
  the warning bound, i.e. the data show an effect of at least warning size and its best
  estimate is critical. Gatekeeping: once the interval corrected for every test of the
  model-day excludes "no effect" (the day's family of tests has shown an effect), the effect's
  size is read on the metric's own interval (``Evidence.plausible_low``/``plausible_high``,
  corrected for its group pairs, the attributes and the pooled spans, not for the other
  metrics of the same rates), so a critical estimate whose own interval lies beyond
  the warning bound is CRITICAL too. Without it a DI of 0.65 in 1,000 rows a day at a 26 %
  selection rate was CRITICAL on its first day in 65 % of days (``benchmarks/false_alarms.py``).
  For a change from the baseline (``Evidence.change``: a drift, a shift from the baseline's
  gap) "no effect" is no change, which is what a stable day holds: a critical estimate whose
  corrected interval excludes it has moved and is CRITICAL, its size shown or not (the "more
  power" reading: a DP drift of 0.15 in 40 rows a day was CRITICAL within a week on 90 % of
  60 sequences for each demo model, 72-90 % when its size had to be shown);
* **WARNING**: the whole interval lies beyond the warning bound (the data show a
  warning-size effect), or the value of a level (not a change) reaches the critical bound
  and the interval excludes "no effect" (``Evidence.reference``: 0 for a difference between
  groups, 1 for a ratio) but reaches back over the warning bound (a small group, an extreme
  cell of many: an effect is shown, its size is not). A value in the warning band whose
  interval still holds values below the bound is not a WARNING: a population whose true
  disparate impact sits at 0.91 would otherwise be a WARNING on every day its noise dips
  under 0.89;
* **INFO**: the value is within the warning bound and the interval's unfavourable end does not
  reach the critical bound, i.e. the data rule out a critical effect (this end may come from
  a narrower "plausible" interval, ``Evidence.plausible_low``/``plausible_high``);
* :data:`INCONCLUSIVE` otherwise: the interval is too wide to tell (a value beyond a bound
  whose interval still holds "no effect", or a quiet value whose interval still reaches the
  critical bound). Never a pass, never an alarm.

The interval's confidence is the caller's: it corrects it for the number of tests judged at
once (see :func:`govflow.monitoring.analysis.judgement_confidence`).
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Direction = Literal["higher_is_worse", "lower_is_worse"]
Level = Literal["warning", "critical"]
Comparison = Literal[">", ">=", "<", "<="]
LEVELS: tuple[Level, ...] = ("critical", "warning")
_COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
Family = Literal["data", "fairness", "model", "explanation"]
# The composite's family of each check type (the composite's parts are named by family).
COMPOSITE_FAMILIES: dict[str, Family] = {
    "data_drift": "data",
    "fairness_drift": "fairness",
    "model_drift": "model",
    "explanation_drift": "explanation",
}
FeatureType = Literal["numerical", "categorical", "binary_prediction", "score"]

THRESHOLD_ORDER_HIGHER = (
    "critical ({critical}) must not be below warning ({warning}) when higher is worse"
)
THRESHOLD_ORDER_LOWER = (
    "critical ({critical}) must not be above warning ({warning}) when lower is worse"
)
THRESHOLD_NOT_FINITE = "warning and critical must be finite numbers, got {warning} and {critical}"


class MetricInputError(ValueError):
    """The data given to a metric cannot produce a number (empty, wrong shape, wrong values)."""


class Severity(enum.IntEnum):
    """Seed 004 section 2.1, ordered so that ``max()`` over findings gives the overall level."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


def severity_rank(name: str | None) -> int:
    """The order of a recorded severity (``"INFO"`` 0 to ``"CRITICAL"`` 2), so the worst wins
    a ``max``; -1 for anything that is no severity (None, ``"INCONCLUSIVE"``)."""
    if name is None or name not in Severity.__members__:
        return -1
    return Severity[name].value


class InvalidMetricValue(enum.Enum):
    """Marker for a metric value that is not a finite number."""

    INVALID = "invalid"


INVALID = InvalidMetricValue.INVALID


class InconclusiveVerdict(enum.Enum):
    """Marker for a metric whose interval is too wide to decide (see the module docstring)."""

    INCONCLUSIVE = "INCONCLUSIVE"


INCONCLUSIVE = InconclusiveVerdict.INCONCLUSIVE


@dataclass(frozen=True)
class Evidence:
    """A metric's confidence interval and the value that means "no effect".

    ``low``/``high`` decide an alarm (the caller widens them for every test judged at once);
    ``plausible_low``/``plausible_high``, when given, decide a pass and the size of an effect
    the alarm's interval has shown (the values the data still allow at the confidence of the
    metric alone; a narrower interval, since clearing a metric wrongly is a missed effect,
    which judging more metrics does not make likelier).
    """

    low: float
    high: float
    reference: float = 0.0
    plausible_low: float | None = None
    plausible_high: float | None = None
    change: bool = False
    """Whether the interval is of a change from the baseline (a drift, or a shift from the
    baseline's gap), its ``reference`` no change: a stable day leaves the metric where it
    was, so an interval excluding it shows the metric moved, and a critical estimate that
    moved is CRITICAL, its size shown or not. Disparate impact is judged as a level against
    parity, which a population with a standing disparity never shows (the demo's age bands
    sit at 0.91-0.92): excluding parity says nothing of a change, and its CRITICAL needs the
    effect's size shown."""

    def excludes_no_effect(self, direction: Direction) -> bool:
        """Whether the whole interval lies on the bad side of ``reference``."""
        if direction == "higher_is_worse":
            return self.low > self.reference
        return self.high < self.reference

    def favourable_end(self, direction: Direction) -> float:
        """The mildest value the alarm's interval still allows."""
        return self.low if direction == "higher_is_worse" else self.high

    def plausible_favourable_end(self, direction: Direction) -> float:
        """The mildest value the metric's own interval allows (the alarm's, when not given)."""
        if direction == "higher_is_worse":
            return self.low if self.plausible_low is None else self.plausible_low
        return self.high if self.plausible_high is None else self.plausible_high

    def unfavourable_end(self, direction: Direction) -> float:
        """The worst value the data still allow (the plausible interval's, when given)."""
        if direction == "higher_is_worse":
            return self.high if self.plausible_high is None else self.plausible_high
        return self.low if self.plausible_low is None else self.plausible_low


@dataclass(frozen=True)
class Threshold:
    """Warning and critical bounds of one metric, and which side of them is bad.

    ``warning`` is None for a threshold with no WARNING band (the composite score).
    ``to_dict`` is the shape stored with every monitoring result; ``from_dict`` reads it back.
    """

    warning: float | None
    critical: float
    direction: Direction = "higher_is_worse"
    warning_inclusive: bool = False
    critical_inclusive: bool = False

    def __post_init__(self) -> None:
        warning = self.critical if self.warning is None else self.warning
        if not (math.isfinite(warning) and math.isfinite(self.critical)):
            raise ValueError(
                THRESHOLD_NOT_FINITE.format(warning=self.warning, critical=self.critical)
            )
        if self.direction == "higher_is_worse" and self.critical < warning:
            raise ValueError(
                THRESHOLD_ORDER_HIGHER.format(warning=self.warning, critical=self.critical)
            )
        if self.direction == "lower_is_worse" and self.critical > warning:
            raise ValueError(
                THRESHOLD_ORDER_LOWER.format(warning=self.warning, critical=self.critical)
            )

    def comparison(self, level: Level) -> Comparison:
        """The operator a value must satisfy against the ``level`` bound to reach it."""
        inclusive = self.critical_inclusive if level == "critical" else self.warning_inclusive
        if self.direction == "higher_is_worse":
            return ">=" if inclusive else ">"
        return "<=" if inclusive else "<"

    def reached(self, value: float, level: Level) -> bool:
        """Whether ``value`` reaches the ``level`` bound (False when there is no such bound)."""
        bound = self.critical if level == "critical" else self.warning
        if bound is None:
            return False
        return _COMPARE[self.comparison(level)](value, bound)

    def describe(self) -> str:
        """``critical >= 0.25, warning >= 0.1``: the bounds with the policy's own comparison."""
        levels: tuple[Level, ...] = ("critical",) if self.warning is None else LEVELS
        return ", ".join(
            f"{level} {self.comparison(level)} {getattr(self, level):.4g}" for level in levels
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning": self.warning,
            "warning_inclusive": self.warning_inclusive,
            "critical": self.critical,
            "critical_inclusive": self.critical_inclusive,
            "direction": self.direction,
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Threshold | None:
        """The threshold stored with a result, or None when the result was judged on none
        (a data-quality finding, a metric the policy does not bound)."""
        if "critical" not in stored or "direction" not in stored:
            return None
        return cls(
            warning=stored.get("warning"),
            critical=stored["critical"],
            direction=stored["direction"],
            warning_inclusive=stored.get("warning_inclusive", False),
            critical_inclusive=stored.get("critical_inclusive", False),
        )


@dataclass(frozen=True)
class MetricSpec:
    """Declarative description of a metric, as evidently's ``StatTest`` describes a test."""

    name: str
    family: Family
    feature_types: tuple[FeatureType, ...]
    direction: Direction
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_valid_metric_value(value: float | None) -> bool:
    """True for a finite real number; False for None, NaN and infinities."""
    return value is not None and math.isfinite(value)


def classify(
    value: float | None, threshold: Threshold, *, evidence: Evidence | None = None
) -> Severity | InvalidMetricValue | InconclusiveVerdict:
    """The seed-004 severity of ``value``, :data:`INVALID` when it is not a finite number, and,
    when ``evidence`` is given, :data:`INCONCLUSIVE` when its interval is too wide to decide.

    Every severity govflow records (monitoring, deployment and rollout gates, the composite
    score) is decided here.
    """
    if value is None or not is_valid_metric_value(value):
        return INVALID
    if evidence is None:
        if threshold.reached(value, "critical"):
            return Severity.CRITICAL
        if threshold.reached(value, "warning"):
            return Severity.WARNING
        return Severity.INFO
    if not (is_valid_metric_value(evidence.low) and is_valid_metric_value(evidence.high)):
        return INCONCLUSIVE
    if evidence.excludes_no_effect(threshold.direction):
        # The interval clear of the warning bound: the data show at least a warning-size effect.
        shown = threshold.warning is None or threshold.reached(
            evidence.favourable_end(threshold.direction), "warning"
        )
        if threshold.reached(value, "critical"):
            # Once the model-day's corrected interval shows an effect, a critical estimate is
            # CRITICAL when the metric moved from its baseline (a stable day leaves it where
            # it was) or, read on its own interval (gatekeeping), the effect's size is shown.
            moved_or_sized = (
                shown
                or evidence.change
                or threshold.reached(
                    evidence.plausible_favourable_end(threshold.direction), "warning"
                )
            )
            return Severity.CRITICAL if moved_or_sized else Severity.WARNING
        if shown:
            return Severity.WARNING
    quiet = not threshold.reached(value, "warning") and not threshold.reached(value, "critical")
    if quiet and not threshold.reached(evidence.unfavourable_end(threshold.direction), "critical"):
        return Severity.INFO
    return INCONCLUSIVE
