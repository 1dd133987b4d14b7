"""The data-quality gate: every broken thing is one named finding with exact counts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from govflow.monitoring import quality
from govflow.monitoring.quality import (
    CHECK_CATEGORIES,
    CHECK_COLUMN_EXISTS,
    CHECK_DUPLICATE_COLUMN_NAMES,
    CHECK_DUPLICATES,
    CHECK_EVALUATION_ERROR,
    CHECK_FRESHNESS,
    CHECK_MIN_ROWS,
    CHECK_NO_ROWS,
    CHECK_NULLS,
    CHECK_RANGE,
    CHECK_TYPE,
    CHECK_VOLUME,
    CHECK_WINDOW,
    ColumnRule,
    QualityPolicy,
    QualityReport,
    run_quality_gate,
)

WINDOW_START = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2025, 3, 2, tzinfo=UTC)
ROWS = 10
POLICY = QualityPolicy(expected_rows=10, volume_tolerance=0.5, max_staleness_hours=6, min_rows=5)
RULES = (
    ColumnRule("income", "numeric", minimum=0, maximum=1_000_000),
    ColumnRule("loan_amount", "numeric", minimum=500, maximum=500_000),
    ColumnRule("credit_score", "integer", minimum=300, maximum=850),
    ColumnRule("employment_years", "numeric", minimum=0, maximum=60, max_null_fraction=0.2),
    ColumnRule("region", "categorical", categories=("north", "south", "east", "west")),
    ColumnRule("label", "label", max_null_fraction=1.0, required=False),
)
ALL_ROWS = list(range(ROWS))


def clean_frame() -> pd.DataFrame:
    """Ten valid predictions scored between 14:00 and 23:00 on the window's day."""
    return pd.DataFrame(
        {
            "prediction_id": [f"p{row}" for row in ALL_ROWS],
            "scored_at": pd.date_range("2025-03-01 14:00", periods=ROWS, freq="h", tz="UTC"),
            "income": [52_000.0, 61_500.5, 0.0, 1_000_000.0, 48_000.0] * 2,
            "loan_amount": [500.0, 12_000.0, 500_000.0, 7_500.0, 20_000.0] * 2,
            "credit_score": [300, 850, 640, 712, 580] * 2,
            "employment_years": [0.0, 3.5, 12.0, 60.0, np.nan] * 2,
            "region": ["north", "south", "east", "west", "north"] * 2,
            "label": pd.array([1, 0, None, 1, 0] * 2, dtype="Int8"),
        }
    )


def gate(frame: pd.DataFrame, policy: QualityPolicy = POLICY, **options) -> QualityReport:
    return run_quality_gate(
        frame,
        rules=RULES,
        policy=policy,
        window_start=options.pop("window_start", WINDOW_START),
        window_end=options.pop("window_end", WINDOW_END),
        **options,
    )


def with_values(column: str, values: dict[int, object]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        for row, value in values.items():
            frame.at[row, column] = value
        return frame

    return change


def without(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.drop(columns=[column])


def with_repeated_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[7, 8], "prediction_id"] = ["p1", "p2"]
    return frame


def scored_hours_earlier(hours: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame["scored_at"] = frame["scored_at"] - pd.Timedelta(hours=hours)
        return frame

    return change


def with_region_codes(frame: pd.DataFrame) -> pd.DataFrame:
    frame["region"] = [0, 1, 2, 3, 0] * 2
    return frame


def with_ids_as_arrow_lists(frame: pd.DataFrame) -> pd.DataFrame:
    frame["prediction_id"] = pd.Series(
        [[row] for row in ALL_ROWS], dtype=pd.ArrowDtype(pa.list_(pa.int64()))
    )
    return frame


BROKEN_FRAMES = {
    "missing column": (
        without("credit_score"),
        POLICY,
        [(CHECK_COLUMN_EXISTS, "missing column credit_score", 10, "CRITICAL")],
        ALL_ROWS,
    ),
    "strings in a numeric column": (
        with_values("income", {2: "n/a", 5: "n/a", 7: "unknown"}),
        POLICY,
        [(CHECK_TYPE, "income: 3 of 10 values not numeric ('n/a', 'unknown')", 3, "WARNING")],
        [0, 1, 3, 4, 6, 8, 9],
    ),
    "nulls above the column's tolerance": (
        with_values("employment_years", {0: None}),
        POLICY,
        [
            (
                CHECK_NULLS,
                "employment_years: 3 of 10 values null, more than 20% allowed",
                3,
                "WARNING",
            )
        ],
        ALL_ROWS,
    ),
    "a required column without a single value": (
        with_values("credit_score", dict.fromkeys(ALL_ROWS)),
        POLICY,
        [
            (
                CHECK_NULLS,
                "credit_score: 10 of 10 values null, more than 0% allowed; a required column "
                "with no value: the window cannot be monitored",
                10,
                "CRITICAL",
            )
        ],
        ALL_ROWS,
    ),
    "nulls in a column that allows none": (
        with_values("region", {6: None}),
        POLICY,
        [(CHECK_NULLS, "region: 1 of 10 values null, more than 0% allowed", 1, "WARNING")],
        ALL_ROWS,
    ),
    "infinity on both sides": (
        with_values("loan_amount", {4: np.inf, 6: -np.inf}),
        POLICY,
        [
            (
                CHECK_RANGE,
                "loan_amount: 1 of 10 below 500 and 1 of 10 above 500000",
                2,
                "WARNING",
            )
        ],
        [0, 1, 2, 3, 5, 7, 8, 9],
    ),
    "values below the minimum": (
        with_values("loan_amount", {1: 100.0, 3: -7_500.0}),
        POLICY,
        [(CHECK_RANGE, "loan_amount: 2 of 10 below 500", 2, "WARNING")],
        [0, 2, 4, 5, 6, 7, 8, 9],
    ),
    "unknown categories": (
        with_values("region", {0: "atlantis", 8: "mars", 9: "atlantis"}),
        POLICY,
        [
            (
                CHECK_CATEGORIES,
                "region: 3 of 10 not in allowed set ('atlantis', 'mars')",
                3,
                "WARNING",
            )
        ],
        [1, 2, 3, 4, 5, 6, 7],
    ),
    "duplicate prediction ids": (
        with_repeated_ids,
        POLICY,
        [(CHECK_DUPLICATES, "prediction_id: 2 duplicates", 2, "WARNING")],
        [0, 1, 2, 3, 4, 5, 6, 9],
    ),
    "too few rows": (
        lambda frame: frame.iloc[5:9],
        POLICY,
        [(CHECK_MIN_ROWS, "4 rows in window, fewer than the 5 needed", 4, "CRITICAL")],
        [5, 6, 7, 8],
    ),
    "volume below the expected range": (
        lambda frame: frame,
        replace(POLICY, expected_rows=40),
        [(CHECK_VOLUME, "10 rows in window, expected 20 to 60", 10, "WARNING")],
        ALL_ROWS,
    ),
    "stale data": (
        scored_hours_earlier(10),
        POLICY,
        [
            (
                CHECK_FRESHNESS,
                "newest scored_at 2025-03-01T13:00:00+00:00 is 11 h before window end, "
                "more than 6 h",
                1,
                "WARNING",
            )
        ],
        ALL_ROWS,
    ),
    "predictions outside the window": (
        with_values("scored_at", {0: pd.Timestamp("2025-02-28 23:00", tz="UTC")}),
        POLICY,
        [
            (
                CHECK_WINDOW,
                "scored_at: 1 of 10 outside window 2025-03-01T00:00:00+00:00 to "
                "2025-03-02T00:00:00+00:00",
                1,
                "WARNING",
            )
        ],
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
    ),
    "fractional values in an integer column": (
        with_values("credit_score", {3: 700.5}),
        POLICY,
        [(CHECK_TYPE, "credit_score: 1 of 10 values not whole numbers (700.5)", 1, "WARNING")],
        [0, 1, 2, 4, 5, 6, 7, 8, 9],
    ),
    "text that is not a timestamp": (
        with_values("scored_at", {2: "yesterday"}),
        POLICY,
        [(CHECK_TYPE, "scored_at: 1 of 10 values not timestamps ('yesterday')", 1, "WARNING")],
        [0, 1, 3, 4, 5, 6, 7, 8, 9],
    ),
    "a categorical column stored as integer codes": (
        with_region_codes,
        POLICY,
        [
            (
                CHECK_CATEGORIES,
                "region: 10 of 10 not in allowed set (0, 1, 2, 3)",
                10,
                "CRITICAL",
            )
        ],
        ALL_ROWS,
    ),
    "a label that is neither 0 nor 1 in an optional column": (
        with_values("label", {0: 2}),
        POLICY,
        [(CHECK_CATEGORIES, "label: 1 of 10 not in allowed set (2.0)", 1, "WARNING")],
        ALL_ROWS,
    ),
    "ids great-expectations cannot evaluate": (
        with_ids_as_arrow_lists,
        POLICY,
        [
            (
                CHECK_EVALUATION_ERROR,
                "prediction_id: duplicates check could not be evaluated (Function "
                "'dictionary_encode' has no kernel matching input types (list<item: int64>))",
                0,
                "WARNING",
            )
        ],
        ALL_ROWS,
    ),
}


def test_a_clean_window_passes_with_no_finding():
    report = gate(clean_frame())

    assert report.passed
    assert report.findings == ()
    assert report.summary == "data quality passed: 10 rows"
    assert report.severity_hint is None
    assert report.usable_frame().index.tolist() == ALL_ROWS


@pytest.mark.parametrize(
    ("breakage", "policy", "expected", "usable_rows"),
    list(BROKEN_FRAMES.values()),
    ids=list(BROKEN_FRAMES),
)
def test_each_broken_thing_is_one_named_finding_and_only_its_rows_are_dropped(
    breakage, policy, expected, usable_rows
):
    report = gate(breakage(clean_frame()), policy)

    assert not report.passed
    assert [
        (finding.check, finding.message, finding.unexpected_count, finding.severity_hint)
        for finding in report.findings
    ] == expected
    assert report.usable_frame().index.tolist() == usable_rows
    assert report.usable_row_count == len(usable_rows)


OPEN = sys.float_info.max  # models.yaml's open bound: only infinity lies beyond it


@pytest.mark.parametrize(
    ("minimum", "maximum", "message"),
    [
        (-OPEN, OPEN, "income: 1 of 10 -inf and 1 of 10 inf"),  # a regressor's label
        (None, 1_000_000, "income: 1 of 10 -inf and 1 of 10 above 1e+06"),  # not 'above'
        (0, None, "income: 1 of 10 below 0 and 1 of 10 inf"),
    ],
)
def test_infinity_beyond_a_bound_models_yaml_leaves_open_is_called_inf(minimum, maximum, message):
    frame = with_values("income", {4: np.inf, 6: -np.inf})(clean_frame())
    rules = (ColumnRule("income", "numeric", minimum=minimum, maximum=maximum), *RULES[1:])

    report = run_quality_gate(
        frame, rules=rules, policy=POLICY, window_start=WINDOW_START, window_end=WINDOW_END
    )

    assert [(f.check, f.message) for f in report.findings] == [(CHECK_RANGE, message)]


def test_an_empty_window_is_a_single_critical_finding():
    report = gate(clean_frame().iloc[:0])

    assert [(f.check, f.message, f.severity_hint) for f in report.findings] == [
        (CHECK_NO_ROWS, "no rows in window", "CRITICAL")
    ]
    assert report.summary == "data quality FAILED: no rows in window"
    assert report.usable_frame().empty


def test_a_frame_without_any_expected_column_lists_every_missing_column():
    report = gate(pd.DataFrame({"unrelated": range(ROWS)}))

    assert [(f.check, f.columns, f.severity_hint) for f in report.findings] == [
        (CHECK_COLUMN_EXISTS, ("prediction_id",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("scored_at",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("income",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("loan_amount",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("credit_score",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("employment_years",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("region",), "CRITICAL"),
        (CHECK_COLUMN_EXISTS, ("label",), "WARNING"),
    ]
    assert report.unusable_columns == (
        "prediction_id",
        "scored_at",
        "income",
        "loan_amount",
        "credit_score",
        "employment_years",
        "region",
        "label",
    )
    assert report.usable_frame().columns.tolist() == ["unrelated"]


def test_repeated_column_names_are_reported_and_the_first_copy_is_checked():
    frame = pd.concat([clean_frame(), clean_frame()[["region"]]], axis=1)

    report = gate(frame)

    assert [(f.check, f.message, f.severity_hint) for f in report.findings] == [
        (
            CHECK_DUPLICATE_COLUMN_NAMES,
            "column region appears 2 times; only the first is checked",
            "CRITICAL",
        )
    ]
    assert report.usable_frame().columns.tolist().count("region") == 1


def test_several_problems_read_as_one_summary_line_in_a_stable_order():
    frame = clean_frame().drop(columns=["employment_years"])
    frame = with_values("income", {0: "n/a"})(frame)
    frame = with_values("loan_amount", {1: 12.0, 2: 40.0})(frame)
    frame = with_values("region", {3: "atlantis"})(frame)
    frame = with_repeated_ids(frame)

    report = gate(frame)

    assert report.summary == (
        "data quality FAILED: missing column employment_years; prediction_id: 2 duplicates; "
        "income: 1 of 10 values not numeric ('n/a'); loan_amount: 2 of 10 below 500; "
        "region: 1 of 10 not in allowed set ('atlantis')"
    )
    assert report.severity_hint == "CRITICAL"
    assert report.usable_frame().index.tolist() == [4, 5, 6, 9]


def test_an_invalid_value_in_an_optional_column_is_blanked_not_dropped():
    report = gate(with_values("label", {0: 2, 1: 1})(clean_frame()))

    usable = report.usable_frame()
    assert usable.index.tolist() == ALL_ROWS
    assert usable["label"].isna().tolist() == [
        True,
        False,
        True,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
    ]


def test_the_usable_frame_keeps_the_callers_index_and_parses_text_numbers():
    frame = with_values("income", {0: "n/a", 1: "61500.5"})(clean_frame())
    frame.index = [f"row{row}" for row in ALL_ROWS]

    usable = gate(frame).usable_frame()

    assert usable.index.tolist() == [f"row{row}" for row in range(1, ROWS)]
    assert usable["income"].dtype == np.float64
    assert usable.loc["row1", "income"] == 61_500.5


def test_naive_window_bounds_are_read_as_utc():
    report = gate(
        clean_frame(),
        window_start=WINDOW_START.replace(tzinfo=None),
        window_end=WINDOW_END.replace(tzinfo=None),
    )

    assert report.findings == ()


def test_the_report_is_strict_json():
    frame = with_values("loan_amount", {4: np.inf})(clean_frame())

    report = gate(frame)

    encoded = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert encoded["passed"] is False
    assert encoded["findings"] == [
        {
            "check": CHECK_RANGE,
            "columns": ["loan_amount"],
            "message": "loan_amount: 1 of 10 above 500000",
            "unexpected_count": 1,
            "total_count": 10,
            "sample": ["inf"],
            "severity_hint": "WARNING",
        }
    ]


def test_great_expectations_writes_nothing_to_stderr_even_on_first_use(capfd):
    quality._whole_dataframe_batch_definition.cache_clear()

    gate(with_repeated_ids(clean_frame()), engine="great_expectations")

    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def _malformed_day(seeded_demo: tuple[str, str]) -> tuple[dict, datetime, Path, QualityPolicy]:
    """The session demo's malformed day of the credit model: what its manifest says was
    broken, the day, its log, and a gate policy expecting the demo's daily volume."""
    from govflow.demo.logs import LOG_LAYOUT, DemoManifest

    demo = Path(seeded_demo[0])
    manifest = DemoManifest.load(demo)
    broken = manifest.content["malformed_details"]
    expected = manifest.content["rows_per_day"]
    policy = QualityPolicy(
        expected_rows=expected, volume_tolerance=0.5, max_staleness_hours=26, min_rows=expected // 2
    )
    day = datetime.fromisoformat(broken["date"]).replace(tzinfo=UTC)
    log = demo / LOG_LAYOUT.format(model_id="credit_approval", date=broken["date"])
    return broken, day, log, policy


def test_the_malformed_demo_day_fails_on_exactly_what_its_manifest_broke(seeded_demo):
    from govflow.demo.applicants import (
        CATEGORICAL_FEATURE_CATEGORIES,
        INTEGER_FEATURES,
        NUMERIC_FEATURE_RANGES,
    )

    broken, day, log, policy = _malformed_day(seeded_demo)
    rules = [
        ColumnRule(
            name,
            "integer" if name in INTEGER_FEATURES else "numeric",
            minimum=low,
            maximum=high,
        )
        for name, (low, high) in NUMERIC_FEATURE_RANGES.items()
    ]
    rules += [
        ColumnRule(name, "categorical", categories=categories)
        for name, categories in CATEGORICAL_FEATURE_CATEGORIES.items()
    ]
    rules += [
        ColumnRule("score", "numeric", minimum=0, maximum=1),
        ColumnRule("label", "label", max_null_fraction=1.0),
    ]

    report = run_quality_gate(
        pd.read_parquet(log),
        rules=rules,
        policy=policy,
        window_start=day,
        window_end=day + timedelta(days=1),
    )

    per_defect = broken["duplicate_prediction_ids"]
    rows = broken["rows"]
    (missing,) = broken["missing_columns"]
    ((text_column, text),) = broken["non_numeric_strings"].items()
    ((non_finite_column, non_finite),) = broken["non_finite_values"].items()
    ((negative_column, negative),) = broken["out_of_range_values"].items()
    ((category_column, unknown),) = broken["unknown_categories"].items()
    ((category, unknown_count),) = unknown.items()
    high = NUMERIC_FEATURE_RANGES[non_finite_column][1]
    low = NUMERIC_FEATURE_RANGES[negative_column][0]
    assert sorted(finding.message for finding in report.findings) == sorted(
        [
            f"missing column {missing}",
            f"prediction_id: {per_defect} duplicates",
            f"{text_column}: {text['rows']} of {rows} values not numeric ('{text['value']}')",
            f"{non_finite_column}: {non_finite['nan']} of {rows} values null, more than 0% allowed",
            f"{non_finite_column}: {non_finite['inf']} of {rows} above {high:g}",
            f"{negative_column}: {negative['negative']} of {rows} below {low:g}",
            f"{category_column}: {unknown_count} of {rows} not in allowed set ('{category}')",
            f"score: {broken['null_scores']} of {rows} values null, more than 0% allowed",
        ]
    )
    dropped = text["rows"] + non_finite["inf"] + negative["negative"] + unknown_count + per_defect
    assert report.usable_row_count == rows - dropped
    assert report.unusable_columns == (missing,)


ORACLE_FRAMES = {
    "clean": (lambda frame: frame, POLICY),
    **{name: (breakage, policy) for name, (breakage, policy, _, _) in BROKEN_FRAMES.items()},
    "several problems at once": (
        lambda frame: with_repeated_ids(
            with_values("region", {3: "atlantis", 4: None})(
                with_values("loan_amount", {1: 12.0, 2: np.inf})(
                    with_values("income", {0: "n/a", 1: "61500.5"})(
                        frame.drop(columns=["employment_years"])
                    )
                )
            )
        ),
        POLICY,
    ),
    "an optional label with invalid values": (with_values("label", {0: 2, 1: 1, 2: -1}), POLICY),
    "a whole column of text": (with_values("credit_score", dict.fromkeys(ALL_ROWS, "x")), POLICY),
    "every timestamp unparseable": (with_values("scored_at", dict.fromkeys(ALL_ROWS, "?")), POLICY),
    "text nulls beside unparseable text": (
        with_values("income", {0: "n/a", 1: None, 2: "7"}),
        POLICY,
    ),
}


@pytest.mark.parametrize(
    ("breakage", "policy"), list(ORACLE_FRAMES.values()), ids=list(ORACLE_FRAMES)
)
def test_the_pandas_engine_finds_exactly_what_great_expectations_finds(breakage, policy):
    by_pandas = gate(breakage(clean_frame()), policy, engine="pandas")
    by_great_expectations = gate(breakage(clean_frame()), policy, engine="great_expectations")

    assert by_pandas.findings == by_great_expectations.findings
    assert by_pandas.unusable_columns == by_great_expectations.unusable_columns
    pd.testing.assert_frame_equal(by_pandas.usable_frame(), by_great_expectations.usable_frame())


def test_great_expectations_finds_the_same_on_the_malformed_demo_day_as_pandas(seeded_demo):
    _, day, log, policy = _malformed_day(seeded_demo)
    frame = pd.read_parquet(log)
    rules = [
        *RULES,
        ColumnRule("score", "numeric", minimum=0, maximum=1),
        ColumnRule("gender", "categorical", categories=("female", "male", "non_binary")),
    ]

    reports = [
        run_quality_gate(
            frame,
            rules=rules,
            policy=policy,
            window_start=day,
            window_end=day + timedelta(days=1),
            engine=engine,
        )
        for engine in ("pandas", "great_expectations")
    ]

    assert len(reports[0].findings) >= 5
    assert reports[0].findings == reports[1].findings
    pd.testing.assert_frame_equal(reports[0].usable_frame(), reports[1].usable_frame())


def test_adding_or_dropping_columns_of_the_usable_frame_leaves_the_report_alone():
    report = gate(clean_frame())

    usable = report.usable_frame()
    usable["extra"] = 1
    usable.drop(columns=["income"], inplace=True)

    assert report.usable_frame().columns.tolist() == clean_frame().columns.tolist()


CATEGORY_RULES = (
    ColumnRule("region", "categorical", categories=("north", "south", "east", "west")),
    ColumnRule("grade", "categorical", categories=("1", "2", "3")),
)


def category_gate(frame: pd.DataFrame, policy: QualityPolicy, **rule_options) -> QualityReport:
    rules = tuple(replace(rule, **rule_options) for rule in CATEGORY_RULES)
    return run_quality_gate(
        frame, rules=rules, policy=policy, window_start=WINDOW_START, window_end=WINDOW_END
    )


def category_frame(grades: list[object]) -> pd.DataFrame:
    frame = clean_frame()[["prediction_id", "scored_at", "region"]]
    frame["grade"] = grades
    return frame


@pytest.mark.parametrize(
    ("new", "severity"),
    [({3: "atlantis"}, "INFO"), ({3: "atlantis", 4: "lemuria"}, "WARNING")],
    ids=["below the share: noted", "at the share: a warning"],
)
def test_a_new_category_below_the_policys_share_is_noted_at_info(new, severity):
    """Seed 004 section 10: "New category appeared in < 1% of samples" is INFO; here the
    share is 20% so that ten rows can show both sides of it."""
    policy = replace(POLICY, unseen_category_fraction_max=0.2)
    frame = with_values("region", new)(category_frame([1, 2, 3, 1, 2] * 2))

    report = category_gate(frame, policy)

    (finding,) = report.findings
    assert (finding.check, finding.unexpected_count, finding.severity_hint) == (
        CHECK_CATEGORIES,
        len(new),
        severity,
    )
    assert report.passed == (severity == "INFO")
    if severity == "INFO":
        assert report.summary == f"data quality passed: 10 rows (noted: {finding.message})"


def test_a_kept_new_category_stays_in_the_usable_frame_for_drift():
    frame = with_values("region", {3: "atlantis"})(category_frame([1, 2, 3, 1, 2] * 2))

    kept = category_gate(frame, POLICY, keep_unexpected=True)
    dropped = category_gate(frame, POLICY)

    assert [f.check for f in kept.findings] == [CHECK_CATEGORIES]
    assert kept.usable_frame()["region"].tolist()[3] == "atlantis"
    assert 3 not in dropped.usable_frame().index


@pytest.mark.parametrize(
    "grades",
    [[1, 2, 3, 1, 2] * 2, [1.0, 2.0, 3.0, 1.0, 2.0] * 2, ["1", "2", "3", "1", "2"] * 2],
    ids=["integers", "floats", "text"],
)
@pytest.mark.parametrize("engine", ["pandas", "great_expectations"])
def test_categories_are_compared_by_value_not_by_how_they_were_read(grades, engine):
    report = run_quality_gate(
        category_frame(grades),
        rules=CATEGORY_RULES,
        policy=POLICY,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        engine=engine,
    )

    assert report.findings == ()
    assert report.usable_frame()["grade"].tolist() == grades


def test_out_of_range_values_below_the_policys_share_are_noted_at_info():
    frame = with_values("income", {0: -5.0})(clean_frame())

    noted = gate(frame, replace(POLICY, out_of_range_fraction_max=0.2))
    warned = gate(frame)

    assert [(f.check, f.severity_hint) for f in noted.findings] == [(CHECK_RANGE, "INFO")]
    assert [(f.check, f.severity_hint) for f in warned.findings] == [(CHECK_RANGE, "WARNING")]


DECISION = ColumnRule("prediction", "integer", minimum=0, maximum=1, drop_nulls=True)


@pytest.mark.parametrize("engine", ["pandas", "great_expectations"])
def test_a_null_decision_is_named_and_its_row_left_out(engine):
    frame = clean_frame().assign(prediction=[0, None, 1, 1, 0, None, 1, 0, 0, 1])

    report = run_quality_gate(
        frame,
        rules=[*RULES, DECISION],
        policy=POLICY,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        engine=engine,
    )

    assert [(f.check, f.message, f.unexpected_count, f.severity_hint) for f in report.findings] == [
        (
            CHECK_NULLS,
            "prediction: 2 of 10 values null, more than 0% allowed; "
            "their rows are left out of the analysis",
            2,
            "WARNING",
        )
    ]
    assert report.usable_frame().index.tolist() == [0, 2, 3, 4, 6, 7, 8, 9]


@pytest.mark.parametrize("engine", ["pandas", "great_expectations"])
def test_a_decision_column_with_no_value_is_unusable_and_every_row_kept(engine):
    frame = clean_frame().assign(prediction=np.nan)

    report = run_quality_gate(
        frame,
        rules=[*RULES, DECISION],
        policy=POLICY,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        engine=engine,
    )

    assert [(f.check, f.severity_hint) for f in report.findings] == [(CHECK_NULLS, "CRITICAL")]
    assert report.unusable_columns == ("prediction",)
    assert report.usable_frame().index.tolist() == ALL_ROWS
    assert "prediction" not in report.usable_frame().columns
