"""Seed 004 section 3.4 ("Validate data quality (missing values, outliers)") and section 5.2
(Kenya DPA section 26, data accuracy): the data-quality gate in front of every analysis.

The gate checks one window of prediction logs against the columns models.yaml declares and
the volume and freshness policy.yaml asks for. Bad data never raises: every problem becomes a
``QualityFinding``, and ``QualityReport.usable_frame()`` keeps the rows and columns on which
drift can still be computed. pandas parses values first (great-expectations cannot count the
values of a text column that fail to parse); every check after that is one of
great-expectations' expectations (``_Check`` names it), evaluated by one of two engines that
must find exactly the same things:

* ``engine="great_expectations"``: great-expectations 1.x evaluates the expectations. Its
  pandas engine hashes each batch it is given (twice per ``Batch.validate``; no supported
  option skips it below 1 GB) and copies the whole batch for every column metric that
  filters nulls, so each column is validated alone, in one batch for both passes, with the
  table checks in the first batch and the id column handed over as factorisation codes.
* ``engine="pandas"`` (the default): the same expectations as great-expectations' pandas
  engine computes them, vectorised, without fingerprints, dependency graphs or batch copies.

Measured on the benchmark's window (32 columns, 98 checks, warm, one process; 2 cores
shared with other work at a load of about 6, so unloaded times are lower): 2,000 rows:
1.2 s with the former 64 batches, great-expectations 1.1 s, pandas 0.03 s; 200,000 rows:
5.1 s, 2.9 s, 0.35 s; 1,000,000 rows: 24.8 s, 10.0 s, 1.6 s. great-expectations stays
several times over the 1-2 s the analysis can spend at a million rows, mostly hashing, so
pandas is the default and great-expectations is the oracle: the unit tests run both engines on every
broken frame and require identical findings and usable frames. "Prefer a well-kept library
where it is fast enough; where it is not, keep it as the test oracle."
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from govflow.metrics.data_drift import category_key, category_keys

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations import Expectation

Engine = Literal["great_expectations", "pandas"]
ColumnKind = Literal["numeric", "integer", "categorical", "timestamp", "identifier", "label"]
SeverityHint = Literal["INFO", "WARNING", "CRITICAL"]

CHECK_NO_ROWS = "no_rows"
CHECK_DUPLICATE_COLUMN_NAMES = "duplicate_column_names"
CHECK_COLUMN_EXISTS = "column_exists"
CHECK_TYPE = "type"
CHECK_NULLS = "nulls"
CHECK_RANGE = "range"
CHECK_CATEGORIES = "categories"
CHECK_MIN_ROWS = "min_rows"
CHECK_VOLUME = "volume"
CHECK_WINDOW = "window"
CHECK_FRESHNESS = "freshness"
CHECK_DUPLICATES = "duplicates"
CHECK_EVALUATION_ERROR = "evaluation_error"

NO_ROWS = "no rows in window"
DUPLICATE_COLUMN_NAMES = "column {column} appears {count} times; only the first is checked"
MISSING_COLUMN = "missing column {column}"
NOT_NUMERIC = "{column}: {count} of {total} values not numeric{sample}"
NOT_WHOLE = "{column}: {count} of {total} values not whole numbers{sample}"
NOT_TIMESTAMP = "{column}: {count} of {total} values not timestamps{sample}"
TOO_MANY_NULLS = "{column}: {count} of {total} values null, more than {allowed:g}% allowed"
ALL_NULL_REQUIRED = "; a required column with no value: the window cannot be monitored"
NULL_ROWS_DROPPED = "; their rows are left out of the analysis"
BELOW_MINIMUM = "{count} of {total} below {minimum:g}"
ABOVE_MAXIMUM = "{count} of {total} above {maximum:g}"
INFINITE = "{count} of {total} {sign}inf"
NOT_IN_SET = "{column}: {count} of {total} not in allowed set{sample}"
TOO_FEW_ROWS = "{count} rows in window, fewer than the {minimum} needed"
VOLUME_OUTSIDE = "{count} rows in window, expected {low} to {high}"
OUTSIDE_WINDOW = "{column}: {count} of {total} outside window {start} to {end}"
STALE = "newest {column} {newest} is {age:g} h before window end, more than {limit:g} h"
DUPLICATES = "{column}: {count} duplicates"
NOT_EVALUATED = "{column}: {check} check could not be evaluated ({error})"
PASSED = "data quality passed: {rows} rows"
NOTED = " (noted: {notes})"
FAILED = "data quality FAILED: {problems}"
NO_USABLE_FRAME = "the gate counted this window inside its database and holds none of its rows"

ENGINE_GX = "great_expectations"
ENGINE_PANDAS = "pandas"
SAMPLE_SIZE = 5
LABEL_VALUES = (0, 1)
# A bound left open still has to reject infinity, which is never a usable feature value.
LARGEST_FINITE = sys.float_info.max
NUMERIC_KINDS = ("numeric", "integer", "label")
TABLE_CHECKS = (CHECK_NO_ROWS, CHECK_DUPLICATE_COLUMN_NAMES, CHECK_MIN_ROWS, CHECK_VOLUME)
FINDING_ORDER = (
    *TABLE_CHECKS,
    CHECK_COLUMN_EXISTS,
    CHECK_TYPE,
    CHECK_NULLS,
    CHECK_RANGE,
    CHECK_CATEGORIES,
    CHECK_WINDOW,
    CHECK_FRESHNESS,
    CHECK_DUPLICATES,
    CHECK_EVALUATION_ERROR,
)


@dataclass(frozen=True)
class ColumnRule:
    """What one column must hold (derived from models.yaml by the caller)."""

    name: str
    kind: ColumnKind
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    max_null_fraction: float = 0.0
    required: bool = True
    # A category outside ``categories`` stays in the usable frame (drift gives it a bin of
    # its own) instead of invalidating its row; protected attributes leave it False, since
    # a group the policy does not name cannot be compared with the baseline's groups.
    keep_unexpected: bool = False
    # A null value invalidates its row, as an invalid one does: a classifier's decision,
    # which no fairness or accuracy metric can count when it is missing.
    drop_nulls: bool = False


@dataclass(frozen=True)
class QualityPolicy:
    """Volume and freshness expected of a window (from policy.yaml)."""

    expected_rows: int
    volume_tolerance: float
    max_staleness_hours: float
    min_rows: int
    # Seed 004 section 10: "New category appeared in < 1% of samples" is INFO. A share of
    # unexpected categories (or of out-of-range values) below its bound is noted at INFO;
    # at or above it, it is a WARNING. 0 makes every such value a WARNING.
    unseen_category_fraction_max: float = 0.0
    out_of_range_fraction_max: float = 0.0


@dataclass(frozen=True)
class QualityFinding:
    """One problem found in the window; ``sample`` holds up to five distinct bad values."""

    check: str
    columns: tuple[str, ...]
    message: str
    unexpected_count: int
    total_count: int
    sample: tuple[Any, ...] = ()
    severity_hint: SeverityHint = "WARNING"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "columns": list(self.columns),
            "message": self.message,
            "unexpected_count": self.unexpected_count,
            "total_count": self.total_count,
            "sample": list(self.sample),
            "severity_hint": self.severity_hint,
        }


@dataclass(frozen=True)
class QualityReport:
    """The gate's verdict on one window: it passes only with no finding at all."""

    findings: tuple[QualityFinding, ...]
    row_count: int
    usable_row_count: int
    unusable_columns: tuple[str, ...]
    # None when the gate counted the window inside its database (window_quality): no rows.
    usable: pd.DataFrame | None = field(repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """No finding above INFO (an INFO finding is noted, not a failure)."""
        return all(finding.severity_hint == "INFO" for finding in self.findings)

    @property
    def severity_hint(self) -> SeverityHint | None:
        hints = {finding.severity_hint for finding in self.findings}
        worst_first: tuple[SeverityHint, ...] = ("CRITICAL", "WARNING", "INFO")
        return next((hint for hint in worst_first if hint in hints), None)

    @property
    def summary(self) -> str:
        messages = "; ".join(finding.message for finding in self.findings)
        if self.passed:
            noted = NOTED.format(notes=messages) if self.findings else ""
            return PASSED.format(rows=self.row_count) + noted
        return FAILED.format(problems=messages)

    def usable_frame(self) -> pd.DataFrame:
        """The rows without an invalid value in a required column, parsed, minus unusable
        columns; invalid values of optional columns are blanked instead.

        A new frame over the same column data (a deep copy of a million-row window costs
        more than the whole gate): adding, replacing or dropping its columns leaves the
        report alone, but its values are shared with the report, and with the window the
        gate was given where nothing had to be parsed, blanked or dropped, so copy a column
        before editing it in place."""
        if self.usable is None:
            raise ValueError(NO_USABLE_FRAME)
        return self.usable.copy(deep=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "severity_hint": self.severity_hint,
            "summary": self.summary,
            "row_count": self.row_count,
            "usable_row_count": self.usable_row_count,
            "unusable_columns": list(self.unusable_columns),
            "findings": [finding.to_dict() for finding in self.findings],
        }


def run_quality_gate(
    frame: pd.DataFrame,
    *,
    rules: Sequence[ColumnRule],
    policy: QualityPolicy,
    window_start: datetime,
    window_end: datetime,
    id_column: str = "prediction_id",
    time_column: str = "scored_at",
    engine: Engine = "pandas",
) -> QualityReport:
    """Check one window of prediction logs; naive window bounds are taken as UTC.
    ``engine`` evaluates the checks (see the module docstring); both find the same."""
    original_index = frame.index
    # A shallow copy with a fresh index: reset_index would copy every column of the window.
    received = frame.copy(deep=False)
    received.index = pd.RangeIndex(len(frame))
    findings: list[QualityFinding] = []
    if received.columns.has_duplicates:
        findings.extend(_duplicate_column_findings(received))
        received = received.loc[:, ~received.columns.duplicated()]
    if received.empty:
        findings.append(QualityFinding(CHECK_NO_ROWS, (), NO_ROWS, 0, 0, severity_hint="CRITICAL"))
        return QualityReport(tuple(findings), 0, 0, (), received.iloc[0:0])

    gate = _Gate(
        received=received,
        rules=rules_with_key_columns(rules, id_column, time_column),
        policy=policy,
        window_start=_utc(window_start),
        window_end=_utc(window_end),
        id_column=id_column,
        time_column=time_column,
    )
    findings.extend(gate.run(engine))
    usable = gate.usable_frame()
    usable.index = original_index[usable.index]
    return QualityReport(
        findings=tuple(findings),
        row_count=len(received),
        usable_row_count=len(usable),
        unusable_columns=tuple(gate.unusable_columns),
        usable=usable,
    )


def rules_with_key_columns(
    rules: Sequence[ColumnRule], id_column: str = "prediction_id", time_column: str = "scored_at"
) -> list[ColumnRule]:
    """Duplicate and freshness checks need the id and time columns even when models.yaml
    does not list them as rules."""
    named = {rule.name for rule in rules}
    keys = [ColumnRule(id_column, "identifier"), ColumnRule(time_column, "timestamp")]
    return [key for key in keys if key.name not in named] + list(rules)


@dataclass(frozen=True)
class _Check:
    """One expectation of the gate, in the terms of great-expectations' expectation of the
    same name, and what its failure means to the gate (``check``)."""

    check: str
    rule: ColumnRule | None
    expectation: Literal[
        "table_row_count_to_be_between",
        "column_to_exist",
        "column_values_to_not_be_null",
        "column_values_to_be_unique",
        "column_values_to_be_between",
        "column_values_to_be_in_set",
        "column_max_to_be_between",
    ]
    # Parsed values, or the column as it arrived (nulls are counted as received).
    on_parsed: bool = False
    min_value: Any = None
    max_value: Any = None
    strict_max: bool = False
    value_set: tuple[Any, ...] = ()
    mostly: float = 1.0

    @property
    def column(self) -> str | None:
        return self.rule.name if self.rule is not None else None


@dataclass(frozen=True)
class _Outcome:
    """What an engine found for one check: great-expectations' result fields."""

    success: bool
    unexpected_count: int = 0
    unexpected_index_list: Sequence[int] = ()
    unexpected_list: Sequence[Any] = ()
    observed_value: Any = None
    error: str | None = None


class _Gate:
    def __init__(
        self,
        *,
        received: pd.DataFrame,
        rules: list[ColumnRule],
        policy: QualityPolicy,
        window_start: pd.Timestamp,
        window_end: pd.Timestamp,
        id_column: str,
        time_column: str,
    ) -> None:
        self.received = received
        # Parsed copies of the numeric and timestamp columns only; the others are read as
        # they arrived.
        self.parsed: dict[str, pd.Series] = {}
        self.unparseable: set[str] = set()
        self.rules = rules
        self.present = [rule for rule in rules if rule.name in received.columns]
        self.policy = policy
        self.window_start = window_start
        self.window_end = window_end
        self.id_column = id_column
        self.time_column = time_column
        self.total = len(received)
        self.unusable_columns = [rule.name for rule in rules if rule.name not in received]
        self.invalid: dict[str, pd.Series] = {
            rule.name: pd.Series(False, index=received.index) for rule in self.present
        }
        self.surplus_duplicates = pd.Series(False, index=received.index)
        # Categorical columns keyed by value (category_key), for the allowed-set checks.
        self.category_keys: dict[str, pd.Series] = {}

    def run(self, engine: Engine) -> list[QualityFinding]:
        findings = []
        for rule in self.present:
            findings.extend(self._parse(rule))
        checks = self._received_checks() + self._parsed_checks()
        evaluate = (
            _evaluate_with_great_expectations if engine == ENGINE_GX else _evaluate_with_pandas
        )
        for check, outcome in zip(checks, evaluate(self, checks), strict=True):
            if outcome.error is not None:
                findings.append(self._evaluation_error(check, outcome.error))
            elif not outcome.success:
                findings.extend(self._interpret(check, outcome))
        self._mark_unusable_columns()
        return sorted(findings, key=self._finding_order)

    def reads_received(self, check: _Check) -> bool:
        """Received nulls equal parsed nulls unless a value failed to parse, so only then
        does a null check need the column as it arrived. A categorical column's allowed-set
        check reads its keys (see ``values``), never the column as it arrived."""
        if _is_category_check(check):
            return False
        column = check.column
        if column not in self.parsed:
            return True
        return not check.on_parsed and column in self.unparseable

    def values(self, check: _Check) -> pd.Series:
        """The column a check reads; a categorical column's allowed-set check reads its
        values keyed by value, so 1.0 in the window is the category 1 of models.yaml."""
        assert check.column is not None
        if _is_category_check(check):
            if check.column not in self.category_keys:
                self.category_keys[check.column] = category_keys(self.received[check.column])
            return self.category_keys[check.column]
        if self.reads_received(check):
            return self.received[check.column]
        return self.parsed[check.column]

    def usable_frame(self) -> pd.DataFrame:
        dropped = self.surplus_duplicates.copy()
        rules = {rule.name: rule for rule in self.present}
        columns = {}
        for name in self.received.columns:
            if name in self.unusable_columns:
                continue
            values = self.parsed.get(name, self.received[name])
            rule = rules.get(name)
            if rule is not None and rule.required:
                dropped |= self.invalid[name]
            elif rule is not None and self.invalid[name].any():
                values = values.mask(self.invalid[name])
            columns[name] = values
        if not columns:
            return pd.DataFrame(index=self.received.index)
        # Columns side by side without consolidating them into one block: no copy here.
        usable = pd.concat(columns.values(), axis=1, keys=list(columns), copy=False)
        return usable.loc[~dropped] if dropped.any() else usable

    # --- parsing in pandas ----------------------------------------------------------------

    def _parse(self, rule: ColumnRule) -> list[QualityFinding]:
        """great-expectations judges a pandas column's dtype as a whole (a ``string[pyarrow]``
        column fails ``ExpectColumnValuesToBeInTypeList(["str"])``) and cannot count the
        values of a text column that fail to parse as numbers or timestamps, so values are
        parsed here and the parsed values are what the range checks read."""
        values = self.received[rule.name]
        if rule.kind in NUMERIC_KINDS:
            parsed = _as_numbers(values)
            unparseable = values.notna() & parsed.isna()
            findings = self._type_finding(rule, unparseable, NOT_NUMERIC)
            # An integer dtype cannot hold a fraction.
            if rule.kind == "integer" and not pd.api.types.is_integer_dtype(values):
                fractional = np.isfinite(parsed) & (parsed % 1 != 0)
                findings += self._type_finding(rule, fractional, NOT_WHOLE)
                unparseable |= fractional
        elif rule.kind == "timestamp":
            parsed = _as_utc_timestamps(values)
            unparseable = values.notna() & parsed.isna()
            findings = self._type_finding(rule, unparseable, NOT_TIMESTAMP)
        else:
            return []
        # A value that failed to parse is reported once, here, not again as null or range.
        if unparseable.any():
            parsed = parsed.mask(unparseable)
            self.unparseable.add(rule.name)
            self.invalid[rule.name] |= unparseable
        self.parsed[rule.name] = parsed
        return findings

    def _type_finding(
        self, rule: ColumnRule, failing: pd.Series, template: str
    ) -> list[QualityFinding]:
        count = int(failing.sum())
        if not count:
            return []
        sample = _distinct_sample(self.received[rule.name][failing].tolist())
        return [
            QualityFinding(
                CHECK_TYPE,
                (rule.name,),
                template.format(
                    column=rule.name, count=count, total=self.total, sample=_quoted(sample)
                ),
                count,
                self.total,
                sample,
                self._severity(rule, failing),
            )
        ]

    # --- the checks -----------------------------------------------------------------------

    def _received_checks(self) -> list[_Check]:
        """Checks on the frame as it arrived: existence, nulls, uniqueness, row counts."""
        low, high = self._expected_volume()
        checks = [
            _Check(
                CHECK_MIN_ROWS,
                None,
                "table_row_count_to_be_between",
                min_value=self.policy.min_rows,
            ),
            _Check(
                CHECK_VOLUME, None, "table_row_count_to_be_between", min_value=low, max_value=high
            ),
        ]
        checks += [_Check(CHECK_COLUMN_EXISTS, rule, "column_to_exist") for rule in self.rules]
        # Column checks go to present columns only: great-expectations raises on absent ones.
        for rule in self.present:
            if rule.max_null_fraction < 1:
                checks.append(
                    _Check(
                        CHECK_NULLS,
                        rule,
                        "column_values_to_not_be_null",
                        mostly=1 - rule.max_null_fraction,
                    )
                )
            if rule.name == self.id_column:
                checks.append(_Check(CHECK_DUPLICATES, rule, "column_values_to_be_unique"))
        return checks

    def _parsed_checks(self) -> list[_Check]:
        """Checks on parsed values: ranges, allowed sets, the window and freshness."""
        checks = []
        for rule in self.present:
            if rule.kind == "label":
                checks.append(
                    _Check(
                        CHECK_CATEGORIES,
                        rule,
                        "column_values_to_be_in_set",
                        on_parsed=True,
                        value_set=LABEL_VALUES,
                    )
                )
            elif rule.kind in NUMERIC_KINDS and (
                rule.minimum is not None or rule.maximum is not None
            ):
                checks.append(
                    _Check(
                        CHECK_RANGE,
                        rule,
                        "column_values_to_be_between",
                        on_parsed=True,
                        min_value=-LARGEST_FINITE if rule.minimum is None else rule.minimum,
                        max_value=LARGEST_FINITE if rule.maximum is None else rule.maximum,
                    )
                )
            elif rule.kind == "categorical" and rule.categories is not None:
                checks.append(
                    _Check(
                        CHECK_CATEGORIES,
                        rule,
                        "column_values_to_be_in_set",
                        on_parsed=True,
                        value_set=tuple(category_key(value) for value in rule.categories),
                    )
                )
            if rule.name == self.time_column and self.parsed[rule.name].notna().any():
                stale_before = self.window_end - timedelta(hours=self.policy.max_staleness_hours)
                checks.append(
                    _Check(
                        CHECK_WINDOW,
                        rule,
                        "column_values_to_be_between",
                        on_parsed=True,
                        min_value=self.window_start.to_pydatetime(),
                        max_value=self.window_end.to_pydatetime(),
                        strict_max=True,
                    )
                )
                checks.append(
                    _Check(
                        CHECK_FRESHNESS,
                        rule,
                        "column_max_to_be_between",
                        on_parsed=True,
                        min_value=stale_before.to_pydatetime(),
                    )
                )
        return checks

    # --- findings -------------------------------------------------------------------------

    def _evaluation_error(self, check: _Check, error: str) -> QualityFinding:
        column = check.column if check.column is not None else "table"
        return QualityFinding(
            CHECK_EVALUATION_ERROR,
            (column,),
            NOT_EVALUATED.format(column=column, check=check.check, error=error),
            0,
            self.total,
        )

    def _interpret(self, check: _Check, outcome: _Outcome) -> list[QualityFinding]:
        if check.check == CHECK_MIN_ROWS:
            return [
                QualityFinding(
                    CHECK_MIN_ROWS,
                    (),
                    TOO_FEW_ROWS.format(count=self.total, minimum=self.policy.min_rows),
                    self.total,
                    self.policy.min_rows,
                    severity_hint="CRITICAL",
                )
            ]
        if check.check == CHECK_VOLUME:
            low, high = self._expected_volume()
            if self.total < self.policy.min_rows:
                return []  # already reported, more severely, as too few rows
            return [
                QualityFinding(
                    CHECK_VOLUME,
                    (),
                    VOLUME_OUTSIDE.format(count=self.total, low=low, high=high),
                    self.total,
                    self.policy.expected_rows,
                )
            ]
        assert check.rule is not None
        rule = check.rule
        column = rule.name
        if check.check == CHECK_COLUMN_EXISTS:
            return [
                QualityFinding(
                    CHECK_COLUMN_EXISTS,
                    (column,),
                    MISSING_COLUMN.format(column=column),
                    self.total,
                    self.total,
                    severity_hint="CRITICAL" if rule.required else "WARNING",
                )
            ]
        if check.check == CHECK_FRESHNESS:
            newest = pd.Timestamp(outcome.observed_value)
            age = round((self.window_end - newest) / pd.Timedelta(hours=1), 1)
            return [
                QualityFinding(
                    CHECK_FRESHNESS,
                    (column,),
                    STALE.format(
                        column=column,
                        newest=newest.isoformat(),
                        age=age,
                        limit=self.policy.max_staleness_hours,
                    ),
                    1,
                    1,
                    (_json_value(newest),),
                )
            ]
        count = outcome.unexpected_count
        failing = pd.Series(False, index=self.received.index)
        failing.iloc[list(outcome.unexpected_index_list)] = True
        sample = _distinct_sample(outcome.unexpected_list)
        if _is_category_check(check):  # shown as received, not as the key compared
            sample = _distinct_sample(self.received[column][failing].tolist())
        if check.check == CHECK_NULLS:
            message = TOO_MANY_NULLS.format(
                column=column, count=count, total=self.total, allowed=rule.max_null_fraction * 100
            )
            # A required column without a single value leaves nothing to monitor it by.
            empty = rule.required and count == self.total
            if empty:
                message += ALL_NULL_REQUIRED
            elif rule.drop_nulls:
                message += NULL_ROWS_DROPPED
                self.invalid[column] |= failing
            if empty and rule.drop_nulls:
                # Dropping every row would leave nothing for the checks that do not read it.
                self.unusable_columns.append(column)
            return [
                QualityFinding(
                    CHECK_NULLS,
                    (column,),
                    message,
                    count,
                    self.total,
                    severity_hint="CRITICAL" if empty else "WARNING",
                )
            ]
        if check.check == CHECK_DUPLICATES:
            # repr() keeps ids that pandas cannot hash (lists, sets) comparable.
            repeated_ids = self.received[column][failing].map(repr).duplicated(keep="first")
            surplus = pd.Series(False, index=self.received.index)
            surplus[repeated_ids.index[repeated_ids]] = True
            self.surplus_duplicates |= surplus
            repeated = int(surplus.sum())
            return [
                QualityFinding(
                    CHECK_DUPLICATES,
                    (column,),
                    DUPLICATES.format(column=column, count=repeated),
                    repeated,
                    self.total,
                    sample,
                )
            ]
        kept = _is_category_check(check) and rule.keep_unexpected
        if not kept:
            self.invalid[column] |= failing
        severity = self._severity(rule, failing)
        bound = self._noted_below(check)
        if severity == "WARNING" and count < bound * self.total:
            severity = "INFO"
        if check.check == CHECK_RANGE:
            values = self.parsed[column][failing]
            minimum = -LARGEST_FINITE if rule.minimum is None else rule.minimum
            below = int((values < minimum).sum())
            parts = [
                _beyond(template, beyond, self.total, limit)
                for template, beyond, limit in (
                    (BELOW_MINIMUM, below, minimum),
                    (ABOVE_MAXIMUM, count - below, rule.maximum),
                )
                if beyond
            ]
            message = f"{column}: " + " and ".join(parts)
            return [
                QualityFinding(CHECK_RANGE, (column,), message, count, self.total, sample, severity)
            ]
        if check.check == CHECK_WINDOW:
            message = OUTSIDE_WINDOW.format(
                column=column,
                count=count,
                total=self.total,
                start=self.window_start.isoformat(),
                end=self.window_end.isoformat(),
            )
            return [
                QualityFinding(
                    CHECK_WINDOW, (column,), message, count, self.total, sample, severity
                )
            ]
        message = NOT_IN_SET.format(
            column=column, count=count, total=self.total, sample=_quoted(sample)
        )
        return [
            QualityFinding(
                CHECK_CATEGORIES, (column,), message, count, self.total, sample, severity
            )
        ]

    def _noted_below(self, check: _Check) -> float:
        """The share of a column's values below which unexpected categories or out-of-range
        values are noted at INFO (QualityPolicy), 0 for every other check."""
        if _is_category_check(check):
            return self.policy.unseen_category_fraction_max
        if check.check == CHECK_RANGE:
            return self.policy.out_of_range_fraction_max
        return 0.0

    def _expected_volume(self) -> tuple[int, int]:
        expected, tolerance = self.policy.expected_rows, self.policy.volume_tolerance
        return math.ceil(expected * (1 - tolerance)), math.floor(expected * (1 + tolerance))

    # --- verdicts ---------------------------------------------------------------------------

    def _severity(self, rule: ColumnRule, failing: pd.Series) -> SeverityHint:
        """A required column without a single valid value makes the window unmonitorable."""
        present = self.received[rule.name].notna()
        no_valid_value = bool(present.any()) and bool((failing | ~present).all())
        return "CRITICAL" if rule.required and no_valid_value else "WARNING"

    def _mark_unusable_columns(self) -> None:
        """A column with no valid value cannot feed drift, and dropping every row because of
        it would throw away the columns that can."""
        for rule in self.present:
            invalid = self.invalid[rule.name]
            # Without an invalid value a column always has a valid one, or nothing at all.
            if not invalid.any():
                continue
            present = self.received[rule.name].notna()
            if present.any() and (invalid | ~present).all():
                self.unusable_columns.append(rule.name)

    def _finding_order(self, finding: QualityFinding) -> tuple[int, int, int]:
        return finding_order(finding, self.rules)


def finding_order(finding: QualityFinding, rules: Sequence[ColumnRule]) -> tuple[int, int, int]:
    """The gate's order of findings: table-level findings first, then missing columns, then
    each column in rule order."""
    columns = [rule.name for rule in rules]
    named = finding.columns[0] if finding.columns else None
    if named is None or finding.check in TABLE_CHECKS:
        group = 0
    else:
        group = 1 if finding.check == CHECK_COLUMN_EXISTS else 2
    position = columns.index(named) if named in columns else -1
    return (group, position, FINDING_ORDER.index(finding.check))


def _is_category_check(check: _Check) -> bool:
    """The allowed-set check of a categorical column (a label's 0/1 check is not one)."""
    return (
        check.check == CHECK_CATEGORIES
        and check.rule is not None
        and (check.rule.kind == "categorical")
    )


# --- the pandas engine ------------------------------------------------------------------------


def _evaluate_with_pandas(gate: _Gate, checks: list[_Check]) -> list[_Outcome]:
    """Each check as great-expectations' pandas engine computes it, vectorised, without its
    per-batch fingerprint and per-metric frame copies; any error is kept, as
    great-expectations keeps it, in the outcome of its check."""
    outcomes = []
    nulls: dict[tuple[str | None, bool], np.ndarray] = {}
    for check in checks:
        try:
            outcomes.append(_pandas_outcome(gate, check, nulls))
        except Exception as error:  # every error becomes a finding, as in great-expectations
            outcomes.append(_Outcome(False, error=str(error).splitlines()[0]))
    return outcomes


def _beyond(template: str, count: int, total: int, bound: float | None) -> str:
    """``count`` of ``total`` values beyond ``bound``. A bound models.yaml leaves open is the
    largest finite number (only infinity lies beyond it): those values are called inf, not
    'above 1.79769e+308'."""
    if bound is None or abs(bound) == LARGEST_FINITE:
        sign = "-" if template == BELOW_MINIMUM else ""
        return INFINITE.format(count=count, total=total, sign=sign)
    return template.format(count=count, total=total, minimum=bound, maximum=bound)


def _pandas_outcome(
    gate: _Gate, check: _Check, nulls: dict[tuple[str | None, bool], np.ndarray]
) -> _Outcome:
    """``nulls`` keeps each column's null mask for the next check of the same column."""
    if check.expectation == "table_row_count_to_be_between":
        low, high = check.min_value, check.max_value
        success = low <= gate.total and (high is None or gate.total <= high)
        return _Outcome(success, observed_value=gate.total)
    if check.expectation == "column_to_exist":
        return _Outcome(check.column in gate.received.columns)
    values = gate.values(check)
    # A categorical column's keys are null exactly where the column as received is, so its
    # allowed-set check reuses the mask of its null check (a pass over a million objects).
    key = (check.column, gate.reads_received(check) or _is_category_check(check))
    if key not in nulls:
        nulls[key] = values.isna().to_numpy(dtype=bool)
    null = nulls[key]
    if check.expectation == "column_values_to_not_be_null":
        count = int(null.sum())
        # great-expectations' own arithmetic, so a fraction on the boundary rounds alike.
        success = (gate.total - count) / gate.total >= check.mostly
        return _unexpected(values, null, success)
    present = values[~null] if null.any() else values
    if check.expectation == "column_max_to_be_between":
        newest = present.max()
        return _Outcome(bool(newest >= check.min_value), observed_value=newest)
    if check.expectation == "column_values_to_be_unique":
        expected = ~present.duplicated(keep=False).to_numpy(dtype=bool)
    elif check.expectation == "column_values_to_be_in_set":
        expected = present.isin(list(check.value_set)).to_numpy(dtype=bool)
    else:
        above = present >= check.max_value if check.strict_max else present > check.max_value
        expected = ~((present < check.min_value) | above).to_numpy(dtype=bool)
    unexpected = np.zeros(len(values), dtype=bool)
    unexpected[~null] = ~expected
    # A column without a single non-null value passes vacuously, as in great-expectations.
    return _unexpected(values, unexpected, success=bool(expected.all()))


def _unexpected(values: pd.Series, unexpected: np.ndarray, success: bool) -> _Outcome:
    rows = np.flatnonzero(unexpected)
    return _Outcome(
        success,
        unexpected_count=len(rows),
        unexpected_index_list=rows.tolist(),
        unexpected_list=values.iloc[rows].tolist(),
    )


# --- the great-expectations engine ------------------------------------------------------------


def _evaluate_with_great_expectations(gate: _Gate, checks: list[_Check]) -> list[_Outcome]:
    """great-expectations' pandas engine fingerprints (hashes) every batch it is given, twice
    per ``Batch.validate``, and copies the whole batch for each column metric that filters
    nulls, so each column is validated in a batch of its own, holding both passes' checks,
    and the table checks ride along in the first batch. The id column is handed over as
    its factorisation codes: duplicates and nulls are the same on the codes, and hashing
    a million distinct strings costs more than every other column together."""
    batches: dict[tuple[str | None, bool], list[int]] = {}
    table: list[int] = []
    for position, check in enumerate(checks):
        if check.column in gate.received.columns:
            batches.setdefault((check.column, gate.reads_received(check)), []).append(position)
        else:
            table.append(position)
    outcomes: dict[int, _Outcome] = {}
    for positions in batches.values() or [[]]:
        batch_checks = [checks[position] for position in positions + table]
        data, decode = _batch_frame(gate, batch_checks[0])
        outcomes.update(_validate_batch(batch_checks, positions + table, data, decode))
        table = []
    return [outcomes[position] for position in range(len(checks))]


def _batch_frame(gate: _Gate, check: _Check) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The one column ``check`` reads (none for table checks), and for id codes the ids."""
    if check.column not in gate.received.columns:
        return gate.received[[]], None
    values = gate.values(check)
    if check.column == gate.id_column and gate.reads_received(check):
        try:
            codes, uniques = pd.factorize(values)
        except Exception:  # great-expectations then reports the error itself
            return values.to_frame(check.column), None
        coded = np.where(codes < 0, np.nan, codes.astype(np.float64))
        return (
            pd.DataFrame({check.column: coded}, index=values.index),
            np.asarray(uniques, dtype=object),
        )
    return values.to_frame(check.column), None


def _validate_batch(
    checks: list[_Check], positions: list[int], data: pd.DataFrame, decode: np.ndarray | None
) -> dict[int, _Outcome]:
    import great_expectations as gx

    expectations = [_expectation(check) for check in checks]
    for position, expectation in zip(positions, expectations, strict=True):
        expectation.meta = {"govflow_check": position}
    suite = gx.ExpectationSuite(name="govflow_quality_gate", expectations=expectations)
    batch = _whole_dataframe_batch_definition().get_batch(batch_parameters={"dataframe": data})
    validation = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    outcomes = {}
    for result in validation.results:
        configuration = result.expectation_config
        assert configuration is not None  # a suite's results always carry their expectation
        outcome = result.result
        unexpected_list = outcome.get("unexpected_list") or []
        if decode is not None and unexpected_list:
            unexpected_list = decode[np.asarray(unexpected_list, dtype=np.int64)].tolist()
        outcomes[configuration.meta["govflow_check"]] = _Outcome(
            success=bool(result.success),
            unexpected_count=int(outcome.get("unexpected_count") or 0),
            unexpected_index_list=outcome.get("unexpected_index_list") or [],
            unexpected_list=unexpected_list,
            observed_value=outcome.get("observed_value"),
            error=_exception_message(result),
        )
    return outcomes


def _expectation(check: _Check) -> Expectation:
    import great_expectations.expectations as gxe

    column = check.column
    if check.expectation == "table_row_count_to_be_between":
        return gxe.ExpectTableRowCountToBeBetween(
            min_value=check.min_value, max_value=check.max_value
        )
    assert column is not None  # every other expectation names its column
    if check.expectation == "column_to_exist":
        return gxe.ExpectColumnToExist(column=column)
    if check.expectation == "column_values_to_not_be_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=check.mostly)
    if check.expectation == "column_values_to_be_unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column)
    if check.expectation == "column_values_to_be_in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(check.value_set))
    if check.expectation == "column_max_to_be_between":
        return gxe.ExpectColumnMaxToBeBetween(column=column, min_value=check.min_value)
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=check.min_value,
        max_value=check.max_value,
        strict_max=check.strict_max,
    )


@cache
def _whole_dataframe_batch_definition() -> BatchDefinition:
    """One in-memory great-expectations context per process: building it costs more than
    validating a day of predictions, and an ephemeral context leaves nothing on disk.
    great-expectations itself is imported here because importing it takes about 3 s."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        # tqdm bars on stderr would fill every Airflow task log.
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("govflow").add_dataframe_asset("window")
    return asset.add_batch_definition_whole_dataframe("whole_window")


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """great-expectations reports its own failures in ``exception_info``: flat for the
    expectation, or keyed by metric when a metric could not be computed."""
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message")).splitlines()[0]
    return None


def _duplicate_column_findings(frame: pd.DataFrame) -> list[QualityFinding]:
    counts = Counter(frame.columns)
    return [
        QualityFinding(
            CHECK_DUPLICATE_COLUMN_NAMES,
            (str(column),),
            DUPLICATE_COLUMN_NAMES.format(column=column, count=count),
            count - 1,
            count,
            severity_hint="CRITICAL",
        )
        for column, count in counts.items()
        if count > 1
    ]


def _as_numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # A float64 column is its own parse: shared, not copied, as usable_frame shares the
        # columns it does not parse.
        return values.astype("float64", copy=False)
    try:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    except (TypeError, ValueError):
        # pandas refuses whole columns holding lists or dicts; judge value by value instead.
        return values.map(_number_or_nan).astype("float64")


def _number_or_nan(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _as_utc_timestamps(values: pd.Series) -> pd.Series:
    """Naive timestamps are read as UTC, the prediction-log schema's zone; numbers are not
    timestamps (an epoch count is ambiguous in its unit)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values):
        return values.dt.tz_localize("UTC")
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    # to_datetime, not astype: a column of nothing but NaT maps to a naive dtype.
    return pd.to_datetime(values.map(_timestamp_or_nat), utc=True)


def _timestamp_or_nat(value: object) -> pd.Timestamp:
    if isinstance(value, (int, float, np.number)) or not isinstance(value, (str, datetime)):
        return pd.NaT
    try:
        return _utc(pd.Timestamp(value))
    except (TypeError, ValueError):
        return pd.NaT


def _utc(moment: datetime) -> pd.Timestamp:
    timestamp = pd.Timestamp(moment)
    if timestamp.tzinfo is None:
        return timestamp.tz_localize("UTC")
    return timestamp.tz_convert("UTC")


def _distinct_sample(values: Sequence[object]) -> tuple[Any, ...]:
    """Up to five distinct bad values, most frequent first, as JSON-able values."""
    counts: Counter[Hashable] = Counter()
    for value in values:
        counts[_json_value(value) if not isinstance(value, (list, dict)) else repr(value)] += 1
    return tuple(value for value, _ in counts.most_common(SAMPLE_SIZE))


def _json_value(value: object) -> Any:
    if (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    ):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, str):
        return value
    return repr(value)


def _quoted(sample: tuple[Any, ...]) -> str:
    if not sample:
        return ""
    shown = ", ".join(f"'{value}'" if isinstance(value, str) else str(value) for value in sample)
    return f" ({shown})"
