"""Seed 004 sections 2.1 and 2.2: severity levels and the metric-specific triggers.

Every metric family module declares its metrics as :class:`MetricSpec` entries (name,
family, feature types, direction); this module turns a metric value into a
:class:`Severity` with :func:`classify` against a :class:`Threshold` the caller passes in
(the thresholds are policy data held in ``config/``; :data:`SEED_004_THRESHOLDS` mirrors the
seed's table for tests and as the documented default).

How the seed's wording maps onto a threshold
--------------------------------------------
``higher_is_worse``: CRITICAL when ``value > critical`` (``>=`` if ``critical_inclusive``),
else WARNING when ``value > warning`` (``>=`` if ``warning_inclusive``), else INFO.
``lower_is_worse``: the mirror image with ``<`` / ``<=``.

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
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

Direction = Literal["higher_is_worse", "lower_is_worse"]
Family = Literal["data", "fairness", "model", "explanation"]
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


class InvalidMetricValue(enum.Enum):
    """Marker for a metric value that is not a finite number."""

    INVALID = "invalid"


INVALID = InvalidMetricValue.INVALID


@dataclass(frozen=True)
class Threshold:
    """Warning and critical bounds of one metric, and which side of them is bad."""

    warning: float
    critical: float
    direction: Direction = "higher_is_worse"
    warning_inclusive: bool = False
    critical_inclusive: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.warning) and math.isfinite(self.critical)):
            raise ValueError(
                THRESHOLD_NOT_FINITE.format(warning=self.warning, critical=self.critical)
            )
        if self.direction == "higher_is_worse" and self.critical < self.warning:
            raise ValueError(
                THRESHOLD_ORDER_HIGHER.format(warning=self.warning, critical=self.critical)
            )
        if self.direction == "lower_is_worse" and self.critical > self.warning:
            raise ValueError(
                THRESHOLD_ORDER_LOWER.format(warning=self.warning, critical=self.critical)
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _beyond(value: float, bound: float, *, inclusive: bool, direction: Direction) -> bool:
    if direction == "higher_is_worse":
        return value >= bound if inclusive else value > bound
    return value <= bound if inclusive else value < bound


def classify(value: float | None, threshold: Threshold) -> Severity | InvalidMetricValue:
    """The seed-004 severity of ``value``, or :data:`INVALID` when it is not a finite number."""
    if value is None or not is_valid_metric_value(value):
        return INVALID
    direction = threshold.direction
    if _beyond(
        value, threshold.critical, inclusive=threshold.critical_inclusive, direction=direction
    ):
        return Severity.CRITICAL
    if _beyond(
        value, threshold.warning, inclusive=threshold.warning_inclusive, direction=direction
    ):
        return Severity.WARNING
    return Severity.INFO


SEED_004_THRESHOLDS: dict[str, Threshold] = {
    "psi": Threshold(0.10, 0.25, warning_inclusive=True, critical_inclusive=True),
    "kl_divergence": Threshold(0.10, 0.30, warning_inclusive=True, critical_inclusive=True),
    "wasserstein_distance_normalised": Threshold(0.15, 0.30, warning_inclusive=True),
    "demographic_parity_drift": Threshold(0.05, 0.10),
    "equal_opportunity_drift": Threshold(0.05, 0.10),
    "disparate_impact_ratio": Threshold(
        0.89, 0.80, direction="lower_is_worse", warning_inclusive=True
    ),
    "accuracy_drop": Threshold(0.05, 0.10),
    "prediction_distribution_shift": Threshold(0.20, 0.40),
    "output_entropy_change": Threshold(0.25, 0.50),
    "shap_rank_correlation": Threshold(0.80, 0.60, direction="lower_is_worse"),
}
"""Seed 004 section 2.2 as :class:`Threshold` values (explanation bounds are govflow's)."""
