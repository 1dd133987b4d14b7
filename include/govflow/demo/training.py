"""The four demo models, trained for real, and their validation sets (seed 004 section 4.2:
a new model's baseline is created from its validation set).

Each model is a scikit-learn pipeline (monetary amounts log-scaled, other numbers
standardised, categories one-hot encoded with unknown categories ignored) around a gradient
boosting classifier for ``credit_approval``, a logistic regression for
``marketing_propensity`` and ``product_recommendation``, and a gradient boosting regressor
for ``customer_lifetime_value``. A classifier's saved artifact wraps the pipeline in a
``FixedThresholdClassifier`` so that ``predict`` applies the recorded decision threshold and
``predict_proba`` gives the score; the regressor's wraps it in a ``CappedRegressor`` so that
``predict`` answers an amount in [0, the outcome's maximum], as the serving gateway would.

Scores and fitted models are the same bits on every machine, so that the demo's logs and
findings are too. The logistic regression is ``FixedOrderLogisticRegression``: Newton's
method written with ``govflow.demo.arithmetic`` (IEEE basic operations in a fixed order, no
BLAS, no vendor ``exp``), so neither its coefficients nor its scores can depend on the
OpenBLAS kernel or the CPU. Gradient boosting uses no BLAS: a tree's split is chosen from
histograms summed in Cython, and a score is the sum of one leaf per tree in tree order; only
its final logistic function came from the C library, and ``PortableGradientBoosting`` swaps
that for the portable one. The regressor's squared-error loss has the identity link, so its
prediction is that sum of leaves itself, with no library function on the path. The
remaining inputs (log of amounts, standardisation) are portable or plain numpy reductions,
whose summation order numpy fixes, not the CPU.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from govflow.demo import arithmetic
from govflow.demo.applicants import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
)
from govflow.demo.outcomes import (
    CREDIT_APPROVAL,
    CUSTOMER_LIFETIME_VALUE,
    LIFETIME_VALUE_MAX,
    MARKETING_PROPENSITY,
    PRODUCT_RECOMMENDATION,
    favourable_probability,
    lifetime_value,
)

FEATURE_VERSION = "credit-applicants-v1"
CURRENT_VERSION = "1.0.0"
PREVIOUS_VERSION = "0.9.0"
MONETARY_FEATURES = ("income", "loan_amount", "savings_balance")
REGRESSOR_BOOSTING_ROUNDS = 100


@dataclass(frozen=True)
class DemoModel:
    """One demo model as the shared demo facts describe it: a classifier with the share of
    favourable decisions its threshold aims at, or a regressor (no classes, no rate)."""

    id: str
    risk_tier: str
    purpose: str
    owner: str
    label_delay_days: int
    target_positive_rate: float | None
    type: Literal["binary_classifier", "regressor"] = "binary_classifier"

    @property
    def is_regressor(self) -> bool:
        return self.type == "regressor"


DEMO_MODELS = (
    DemoModel(
        CREDIT_APPROVAL,
        "high",
        "Approve or decline consumer credit applications (credit lending)",
        "olivia",
        5,
        0.70,
    ),
    DemoModel(
        MARKETING_PROPENSITY,
        "medium",
        "Rank customers for a credit-card marketing offer (marketing optimization)",
        "sam",
        2,
        0.40,
    ),
    DemoModel(
        PRODUCT_RECOMMENDATION,
        "low",
        "Recommend a savings product (non-sensitive recommendation)",
        "priya",
        1,
        0.50,
    ),
    DemoModel(
        CUSTOMER_LIFETIME_VALUE,
        "medium",
        "Estimate a customer's lifetime value in euros for retention offers (marketing)",
        "sam",
        3,
        None,
        "regressor",
    ),
)


@dataclass(frozen=True)
class TrainedModel:
    """A fitted artifact with the threshold it applies and the data it was trained on."""

    model_id: str
    version: str
    artifact: FixedThresholdClassifier
    decision_threshold: float
    estimator_name: str
    training_rows: int
    training_snapshot_id: str

    def score(self, applicants: pd.DataFrame) -> np.ndarray:
        """Probability of the favourable outcome per applicant."""
        return self.artifact.predict_proba(applicants[list(FEATURE_COLUMNS)])[:, 1]

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """The decision per score: 1 when it reaches the threshold, as the artifact decides."""
        return (scores >= self.decision_threshold).astype("int8")

    def predict(self, applicants: pd.DataFrame) -> np.ndarray:
        """The decision per applicant."""
        return self.decide(self.score(applicants))


class CappedRegressor(RegressorMixin, BaseEstimator):
    """A regressor whose predictions are clipped into [0, ``maximum``]: a sum of tree leaves
    can leave the range of the amount it estimates (seed 003: non-negative with a maximum)."""

    def __init__(self, estimator, maximum: float):
        self.estimator = estimator
        self.maximum = maximum

    def fit(self, X, y) -> CappedRegressor:
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def predict(self, X) -> np.ndarray:
        return np.clip(self.estimator_.predict(X), 0.0, self.maximum)


@dataclass(frozen=True)
class TrainedRegressor:
    """A fitted regressor with the data it was trained on; it has no threshold."""

    model_id: str
    version: str
    artifact: CappedRegressor
    estimator_name: str
    training_rows: int
    training_snapshot_id: str
    decision_threshold: None = None

    def predict(self, applicants: pd.DataFrame) -> np.ndarray:
        """The amount per applicant."""
        return self.artifact.predict(applicants[list(FEATURE_COLUMNS)])


class FixedOrderLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-regularised logistic regression (``C`` as in scikit-learn, intercept not penalised)
    whose fit and scores are the same bits on every machine.

    Newton's method: the gradient and Hessian are sums over rows in ``fixed_order_sum``'s
    order, the step solves the normal equations by ``fixed_order_solve``, and the logit is
    ``fixed_order_dot``; the logistic function is ``arithmetic.expit``. Each of these is a
    fixed sequence of exactly rounded IEEE operations, so every iterate, the stopping test
    and the fitted coefficients are identical whatever BLAS kernel or SIMD unit the machine
    has; with no BLAS call there is no reduction whose order a kernel could choose.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 50, tol: float = 1e-10):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y) -> FixedOrderLogisticRegression:
        features = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        target = (labels == self.classes_[-1]).astype(np.float64)
        design = np.column_stack([np.ones(len(features)), features])
        penalty = np.full(design.shape[1], 1.0 / self.C)
        penalty[0] = 0.0
        weights = np.zeros(design.shape[1])
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            self.n_iter_ += 1
            probability = arithmetic.expit(arithmetic.fixed_order_dot(design, weights))
            gradient = arithmetic.fixed_order_sum(design * (probability - target)[:, None])
            gradient = gradient + penalty * weights
            curvature = probability * (1.0 - probability)
            hessian = np.diag(penalty)
            for column in range(design.shape[1]):
                weighted = (design[:, column] * curvature)[:, None]
                row = arithmetic.fixed_order_sum(design[:, column:] * weighted)
                hessian[column, column:] += row
                hessian[column + 1 :, column] = hessian[column, column + 1 :]
            step = arithmetic.fixed_order_solve(hessian, gradient)
            weights = weights - step
            if np.max(np.abs(step)) < self.tol:
                break
        self.intercept_ = weights[:1]
        self.coef_ = weights[None, 1:]
        self.n_features_in_ = features.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """The logit per row, summed feature by feature in column order."""
        features = np.asarray(X, dtype=np.float64)
        return self.intercept_[0] + arithmetic.fixed_order_dot(features, self.coef_[0])

    def predict_proba(self, X) -> np.ndarray:
        """Columns: probability of ``classes_[0]`` and of ``classes_[1]``."""
        probability = arithmetic.expit(self.decision_function(X))
        return np.column_stack([1.0 - probability, probability])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class PortableGradientBoosting(HistGradientBoostingClassifier):
    """Gradient boosting whose probability is ``arithmetic.expit`` of the summed trees, not
    the C library's logistic function, which differs in the last bit between CPUs."""

    def predict_proba(self, X) -> np.ndarray:
        """Columns: probability of ``classes_[0]`` and of ``classes_[1]``."""
        probability = arithmetic.expit(self.decision_function(X))
        return np.column_stack([1.0 - probability, probability])


def build_pipeline(model_id: str, *, random_state: int, boosting_rounds: int = 150) -> Pipeline:
    """The unfitted pipeline for ``model_id`` (the regressor's rounds are its own)."""
    other_numeric = [name for name in NUMERIC_FEATURES if name not in MONETARY_FEATURES]
    preprocess = ColumnTransformer(
        [
            (
                "monetary",
                Pipeline(
                    [
                        (
                            "log",
                            FunctionTransformer(arithmetic.log1p, feature_names_out="one-to-one"),
                        ),
                        ("scale", StandardScaler()),
                    ]
                ),
                list(MONETARY_FEATURES),
            ),
            ("numeric", StandardScaler(), other_numeric),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )
    estimator: (
        PortableGradientBoosting | HistGradientBoostingRegressor | FixedOrderLogisticRegression
    )
    if model_id == CREDIT_APPROVAL:
        estimator = PortableGradientBoosting(
            max_iter=boosting_rounds, learning_rate=0.08, random_state=random_state
        )
    elif model_id == CUSTOMER_LIFETIME_VALUE:
        estimator = HistGradientBoostingRegressor(
            max_iter=REGRESSOR_BOOSTING_ROUNDS, random_state=random_state
        )
    else:
        estimator = FixedOrderLogisticRegression()
    step = "regressor" if model_id == CUSTOMER_LIFETIME_VALUE else "classifier"
    return Pipeline([("preprocess", preprocess), (step, estimator)])


def training_snapshot_id(model_id: str, features: pd.DataFrame, labels: np.ndarray) -> str:
    """A content hash naming exactly the rows a model was trained on."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    digest.update(np.asarray(labels).tobytes())
    return f"{model_id}-train-{digest.hexdigest()[:16]}"


def train_model(
    model: DemoModel,
    version: str,
    applicants: pd.DataFrame,
    outcome_draws: np.ndarray,
    *,
    random_state: int,
    boosting_rounds: int = 150,
) -> TrainedModel:
    """Fits ``model`` on applicants whose outcomes come from the original concept.

    The decision threshold is the training-score quantile that gives the model's target
    positive rate, rounded to three decimals so that it reads well in the registry.
    """
    features = applicants[list(FEATURE_COLUMNS)]
    labels = (outcome_draws < favourable_probability(model.id, applicants)).astype("int8")
    pipeline = build_pipeline(model.id, random_state=random_state, boosting_rounds=boosting_rounds)
    pipeline.fit(features, labels)
    scores = pipeline.predict_proba(features)[:, 1]
    assert model.target_positive_rate is not None, "a classifier aims at a positive rate"
    threshold = round(float(np.quantile(scores, 1 - model.target_positive_rate)), 3)
    artifact = FixedThresholdClassifier(
        FrozenEstimator(pipeline), threshold=threshold, response_method="predict_proba"
    ).fit(features, labels)
    return TrainedModel(
        model_id=model.id,
        version=version,
        artifact=artifact,
        decision_threshold=threshold,
        estimator_name=type(pipeline.named_steps["classifier"]).__name__,
        training_rows=len(features),
        training_snapshot_id=training_snapshot_id(model.id, features, labels),
    )


def train_regressor(
    model: DemoModel,
    version: str,
    applicants: pd.DataFrame,
    outcome_draws: np.ndarray,
    *,
    random_state: int,
) -> TrainedRegressor:
    """Fits the lifetime-value regressor on customers whose values come from the original
    concept, its predictions capped at the value's maximum."""
    features = applicants[list(FEATURE_COLUMNS)]
    values = lifetime_value(applicants, outcome_draws)
    pipeline = build_pipeline(model.id, random_state=random_state)
    artifact = CappedRegressor(pipeline, LIFETIME_VALUE_MAX).fit(features, values)
    return TrainedRegressor(
        model_id=model.id,
        version=version,
        artifact=artifact,
        estimator_name=type(pipeline.named_steps["regressor"]).__name__,
        training_rows=len(features),
        training_snapshot_id=training_snapshot_id(model.id, features, values),
    )


def validation_frame(
    trained: TrainedModel | TrainedRegressor, applicants: pd.DataFrame, labels: np.ndarray
) -> pd.DataFrame:
    """The validation set as saved: features, protected attributes, score (a classifier's),
    prediction, label."""
    frame = applicants.reset_index(drop=True).copy()
    if isinstance(trained, TrainedRegressor):
        frame["prediction"] = trained.predict(applicants)
        frame["label"] = np.asarray(labels, dtype=np.float64)
        return frame
    frame["score"] = trained.score(applicants)
    frame["prediction"] = trained.decide(frame["score"].to_numpy())
    frame["label"] = pd.array(labels, dtype="Int8")
    return frame
