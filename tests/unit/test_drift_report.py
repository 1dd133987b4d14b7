"""Issue 16: evidently's drift report is configured from govflow's verdicts on the record
(govflow.monitoring.drift_report); the report drawn on the demo is tested in test_monitoring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from govflow import settings
from govflow.config import load_config
from govflow.monitoring.drift_report import (
    column_types,
    column_verdicts,
    preset_options,
    verdicts_html,
    with_verdicts,
)
from govflow.store.schema import MetricResult, MonitoringRun

CONFIG = load_config(settings.config_dir())
MODEL = CONFIG.models.get("credit_approval")
METRICS = ("psi", "kl_divergence", "wasserstein_distance_normalised")


def drift_rows(subject: str, *severities: str, status: str = "computed") -> list[MetricResult]:
    """One data-drift row per metric of METRICS (in order), with the policy's threshold."""
    return [
        MetricResult(
            check_type="data_drift",
            metric=metric,
            subject=subject,
            value=0.5,
            status=status,
            severity=severity,
            threshold=CONFIG.policy.threshold(metric).to_dict(),
            details={},
        )
        for metric, severity in zip(METRICS, severities, strict=False)
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # A tie goes to Wasserstein, the statistic evidently computes without bins of its own.
        (
            drift_rows("income", "CRITICAL", "CRITICAL", "CRITICAL"),
            ("wasserstein_distance_normalised", "wasserstein", "CRITICAL", 0.3),
        ),
        (
            drift_rows("credit_score", "CRITICAL", "WARNING", "WARNING"),
            ("psi", "psi", "CRITICAL", 0.25),
        ),
        (
            drift_rows("loan_amount", "INFO", "WARNING", "INFO"),
            ("kl_divergence", "kl_div", "WARNING", 0.1),
        ),
        # A quiet column is drawn at the bound where govflow would start to warn.
        (
            drift_rows("loan_term_months", "INFO", "INFO", "INFO"),
            ("wasserstein_distance_normalised", "wasserstein", "INFO", 0.15),
        ),
        (drift_rows("home_ownership", "INFO", "INFO"), ("psi", "psi", "INFO", 0.1)),
    ],
)
def test_a_column_is_drawn_with_the_statistic_and_bound_of_govflows_verdict_on_it(rows, expected):
    (verdict,) = column_verdicts(MODEL, rows, [rows[0].subject])

    assert (verdict.metric, verdict.method, verdict.severity, verdict.bound) == expected


def test_columns_govflow_did_not_judge_or_the_window_lacks_are_left_out():
    rows = [
        *drift_rows("income", "CRITICAL", "CRITICAL", "CRITICAL"),
        *drift_rows("credit_score", "INFO", "INFO", "INFO", status="skipped"),
        *drift_rows("region", "INFO", "INFO"),
    ]

    verdicts = column_verdicts(MODEL, rows, ["income", "credit_score"])

    assert [v.column for v in verdicts] == ["income"]


def test_evidently_takes_the_schemas_types_and_calls_dataset_drift_at_one_column():
    rows = [
        *drift_rows("loan_term_months", "INFO", "INFO", "INFO"),
        *drift_rows("credit_score", "CRITICAL", "WARNING", "CRITICAL"),
        *drift_rows("region", "INFO", "INFO"),
        *drift_rows("debt_to_income", "INFO", "INFO", "INFO"),
    ]

    verdicts = column_verdicts(
        MODEL, rows, ["loan_term_months", "credit_score", "region", "debt_to_income"]
    )

    assert column_types(verdicts) == {
        "numerical_columns": ["loan_term_months", "credit_score", "debt_to_income"],
        "categorical_columns": ["region"],
    }
    assert preset_options(verdicts) == {
        "columns": ["loan_term_months", "credit_score", "debt_to_income", "region"],
        "drift_share": 0.25,
        "per_column_method": {
            "loan_term_months": "wasserstein",
            "credit_score": "wasserstein",
            "debt_to_income": "wasserstein",
            "region": "psi",
        },
        "per_column_threshold": {
            "loan_term_months": 0.15,
            "credit_score": 0.3,
            "debt_to_income": 0.15,
            "region": 0.1,
        },
    }


def test_the_verdicts_escape_every_text_and_open_the_page_body():
    record = MonitoringRun(
        model_id="credit_approval",
        run_key="manual/<script>alert(1)</script>",
        interval_start=datetime(2025, 3, 18, tzinfo=UTC),
        interval_end=datetime(2025, 3, 19, tzinfo=UTC),
        severity="CRITICAL",
        composite_score=0.5,
        composite_breakdown={"critical_above": 0.3, "components": {}},
    )
    rows = drift_rows("<b>income</b>", "CRITICAL")

    header = verdicts_html(record, rows, [], MODEL, sample_rows=10, reference_rows=20)
    page = with_verdicts("<html><body><div id='root'></div></body></html>", header)

    assert "<script>" not in header and "<b>" not in header
    assert "manual/&lt;script&gt;alert(1)&lt;/script&gt;" in header
    assert "<td>&lt;b&gt;income&lt;/b&gt;</td>" in header
    assert page == f"<html><body>\n{header}<div id='root'></div></body></html>"


def test_a_run_key_analysed_again_draws_its_report_beside_the_earlier_one_never_over_it(
    tmp_path,
):
    """The alerts of the first analysis link its report: the second's is a file of its own."""
    import pandas as pd

    from govflow.flows.monitoring import write_drift_report

    model = load_config(settings.config_dir()).models.get("credit_approval")
    window = pd.DataFrame({feature.name: [1] for feature in model.features})
    record = MonitoringRun(
        model_id="credit_approval",
        run_key="cli/credit_approval/2025-03-30",
        checks=["fairness_drift"],
        interval_start=datetime(2025, 3, 29, tzinfo=UTC),
        interval_end=datetime(2025, 3, 30, tzinfo=UTC),
        severity="CRITICAL",
    )

    first = write_drift_report(model, tmp_path, record, [], tmp_path / "unused", window)
    record.severity = "INFO"
    second = write_drift_report(model, tmp_path, record, [], tmp_path / "unused", window)

    assert (first.name, second.name) == (
        "cli_credit_approval_2025-03-30.html",
        "cli_credit_approval_2025-03-30-2.html",
    )
    assert "CRITICAL" in (tmp_path / first).read_text()
    assert "CRITICAL" not in (tmp_path / second).read_text()
