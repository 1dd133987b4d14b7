"""Seed 004 section 8: the drift report of a monitoring record gives govflow's answer.

govflow judges drift with its own code; evidently draws the per-run HTML report. Left to its
defaults, evidently judged each column by a test and bound of its own choosing, read integer
features as categories and called dataset drift at half the columns, so on the day govflow
raised a CRITICAL Wasserstein on credit_score the report opened with "Dataset Drift is NOT
detected". The report is therefore configured from the stored record:

* each column is drawn with the statistic that decided govflow's verdict on it (the worst of
  its data-drift findings; on a tie the one evidently computes most alike: Wasserstein has no
  bins, evidently's PSI and KL bin the sample its own way), at the bound of that verdict (the
  critical bound of a CRITICAL column, else the warning bound), so that evidently's "drift
  detected" means what a govflow finding above INFO means;
* dataset drift is called at one drifted column: the policy sets no share of drifted columns,
  and govflow's data-drift check is as severe as its worst column;
* column types come from the model's schema (an integer feature is numerical);

and govflow's own verdicts (the record's severity and composite, its findings above INFO, its
fairness findings, each column's verdict beside evidently's) open the page, above evidently's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from html import escape
from typing import Any, Literal

from govflow.config.inventory import ModelEntry
from govflow.metrics.fairness import group_sizes_label
from govflow.metrics.severity import COMPOSITE_FAMILIES, Threshold, severity_rank
from govflow.store.schema import MetricResult, MonitoringRun

# govflow's data-drift metric -> evidently's stat test of the same statistic, the preferred first.
EVIDENTLY_STATISTICS: dict[str, str] = {
    "wasserstein_distance_normalised": "wasserstein",
    "psi": "psi",
    "kl_divergence": "kl_div",
}
VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
CONCLUSION = (
    "govflow's verdicts above are the ones that count: govflow judged the whole window against"
    " the baseline's frozen profile. evidently's report below was drawn on a sample of"
    " {sample} rows of the window against the baseline's reference sample of {reference} rows,"
    " each column with the statistic and bound of govflow's verdict on it (the table above;"
    " evidently calls drift when its value is at or above the bound) and with the types of the"
    " model's schema; it calls dataset drift when at least 1 of its {columns} columns drifts,"
    " since govflow's data-drift check is as severe as its worst column and the policy sets no"
    " share of drifted columns. evidently's PSI and KL bin the sample its own way, not on the"
    " baseline's frozen bins, so their values differ from govflow's; a column whose two"
    " verdicts differ is marked."
)
NO_DRIFT_JUDGED = (
    "This analysis judged no feature's data drift (its checks: {checks}), so no evidently drift"
    " report is drawn beside govflow's verdicts: there is no second answer to compare."
)
LEFT_OUT = "left out of evidently's report, as govflow has no data-drift verdict on them: {names}"
DISAGREES = "differs: govflow's verdict counts"
NO_MONITORING_RECORD = "no monitoring record {record_id}"


# Seed 004 section 6: the figures of these checks are for those who may open the page that
# shows them (a viewer sees the Drift Overview alone). The report marks their rows and
# blocks with the permission, and the dashboard leaves out what a reader may not see, here
# and in the Drift Overview's columns (DashboardRights.withheld_checks).
FigurePermission = Literal["fairness_monitor", "model_health"]
FIGURES_PERMISSION: dict[str, FigurePermission] = {
    "fairness_drift": "fairness_monitor",
    "model_drift": "model_health",
    "explanation_drift": "model_health",
}
# The composite's parts are named by family ("fairness", not "fairness_drift"): its row of
# a withheld family is marked alike, the composite itself (the summary's score) stays.
COMPOSITE_PERMISSION: dict[str, FigurePermission] = {
    COMPOSITE_FAMILIES[check_type]: permission
    for check_type, permission in FIGURES_PERMISSION.items()
}
PERMISSION_ATTRIBUTE = "data-govflow-permission"


class UnknownRecord(LookupError):
    """No monitoring record has this id, so it has no drift report to draw: the dashboard
    answers 404 (not 409, which says the record exists but cannot have one)."""


@dataclass(frozen=True)
class ColumnVerdict:
    """govflow's data-drift verdict on one column, and evidently's on the same terms."""

    column: str
    kind: Literal["numerical", "categorical"]
    metric: str
    value: float
    severity: str
    bound: float
    evidently_value: float | None = None

    @property
    def method(self) -> str:
        return EVIDENTLY_STATISTICS[self.metric]

    @property
    def detected(self) -> bool | None:
        """evidently's verdict: its PSI, KL and Wasserstein tests all call drift at
        ``value >= threshold``."""
        return None if self.evidently_value is None else self.evidently_value >= self.bound


def column_verdicts(
    model: ModelEntry, rows: Sequence[MetricResult], columns: Sequence[str]
) -> list[ColumnVerdict]:
    """The verdict of each of ``columns`` that govflow judged with a statistic evidently has."""
    preference = list(EVIDENTLY_STATISTICS)
    verdicts = []
    for feature in model.features:
        judged = [
            row
            for row in rows
            if row.check_type == "data_drift"
            and row.subject == feature.name
            and row.status == "computed"
            and row.metric in EVIDENTLY_STATISTICS
        ]
        if feature.name not in columns or not judged:
            continue
        decisive = max(
            judged, key=lambda row: (severity_rank(row.severity), -preference.index(row.metric))
        )
        threshold = Threshold.from_dict(decisive.threshold)
        if decisive.value is None or threshold is None:
            continue
        bound = threshold.warning
        if decisive.severity == "CRITICAL" or bound is None:
            bound = threshold.critical
        verdicts.append(
            ColumnVerdict(
                column=feature.name,
                kind="categorical" if feature.dtype == "categorical" else "numerical",
                metric=decisive.metric,
                value=decisive.value,
                severity=decisive.severity,
                bound=bound,
            )
        )
    return verdicts


def column_types(verdicts: Sequence[ColumnVerdict]) -> dict[str, list[str]]:
    """The keyword arguments of evidently's ``DataDefinition``."""
    return {
        "numerical_columns": [v.column for v in verdicts if v.kind == "numerical"],
        "categorical_columns": [v.column for v in verdicts if v.kind == "categorical"],
    }


def preset_options(verdicts: Sequence[ColumnVerdict]) -> dict[str, Any]:
    """The keyword arguments of evidently's ``DataDriftPreset``."""
    return {
        "columns": [v.column for v in verdicts],
        "drift_share": 1 / len(verdicts),
        "per_column_method": {v.column: v.method for v in verdicts},
        "per_column_threshold": {v.column: v.bound for v in verdicts},
    }


def drawn(
    verdicts: Sequence[ColumnVerdict], metrics: Sequence[Mapping[str, Any]]
) -> list[ColumnVerdict]:
    """``verdicts`` with evidently's values, read from its snapshot's ``dict()["metrics"]``."""
    values = {
        metric["config"]["column"]: metric["value"]
        for metric in metrics
        if metric.get("config", {}).get("type") == VALUE_DRIFT
    }
    return [replace(v, evidently_value=values.get(v.column)) for v in verdicts]


def verdicts_page(record: MonitoringRun, rows: Sequence[MetricResult], model: ModelEntry) -> str:
    """The report of a record that judged no feature's drift: govflow's verdicts alone."""
    checks = ", ".join(record.checks or []) or "none"
    header = verdicts_html(
        record,
        rows,
        [],
        model,
        sample_rows=0,
        reference_rows=0,
        conclusion=NO_DRIFT_JUDGED.format(checks=checks),
    )
    title = escape(f"govflow verdict: {record.model_id} {record.run_key}")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>\n{header}\n</body></html>\n"
    )


def with_verdicts(page: str, verdicts: str) -> str:
    """evidently's page with govflow's verdicts at the top of its body."""
    head, body, rest = page.partition("<body>")
    if not body:
        return f"{verdicts}{page}"
    return f"{head}{body}\n{verdicts}{rest}"


def value_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def threshold_text(stored: Mapping[str, Any]) -> str:
    """A stored threshold as the policy words it (``critical >= 0.25, warning >= 0.1``)."""
    threshold = Threshold.from_dict(stored)
    return "-" if threshold is None else threshold.describe()


def severity_text(row: MetricResult) -> str:
    return row.severity if row.status == "computed" else f"{row.severity} ({row.status})"


def verdicts_html(
    record: MonitoringRun,
    rows: Sequence[MetricResult],
    verdicts: Sequence[ColumnVerdict],
    model: ModelEntry,
    *,
    sample_rows: int,
    reference_rows: int,
    conclusion: str | None = None,
) -> str:
    """govflow's verdicts on the record, as plain HTML (no script, nothing fetched)."""
    breakdown = record.composite_breakdown or {}
    drawn_columns = {v.column for v in verdicts}
    left_out = [f.name for f in model.features if f.name not in drawn_columns] if verdicts else []
    conclusion = conclusion or CONCLUSION.format(
        sample=sample_rows, reference=reference_rows, columns=len(verdicts)
    )
    parts = [
        '<section id="govflow-verdicts" style="font-family: sans-serif; margin: 16px 24px;">',
        f"<h1>govflow's verdict: {escape(record.model_id)},"
        f" {record.interval_start:%Y-%m-%d %H:%M} to {record.interval_end:%Y-%m-%d %H:%M} UTC</h1>",
        f'<p id="govflow-summary">Severity <strong>{escape(record.severity or "-")}</strong>;'
        f" composite score {value_text(record.composite_score)}"
        f" ({escape(_composite_bound(breakdown))}); baseline"
        f" {escape(record.baseline_version or '-')}; run {escape(record.run_key)}.</p>",
        f'<p id="govflow-conclusion">{escape(conclusion)}</p>',
        "<h2>Composite score</h2>",
        _table("govflow-composite", COMPOSITE_HEADER, _composite_rows(breakdown), marked=True),
        "<h2>Findings above INFO</h2>",
        _table(
            "govflow-findings",
            FINDINGS_HEADER,
            [_finding_cells(row) for row in rows if severity_rank(row.severity) > 0],
            marked=True,
        ),
        f'<div {PERMISSION_ATTRIBUTE}="{FIGURES_PERMISSION["fairness_drift"]}">',
        "<h2>Fairness</h2>",
        _table(
            "govflow-fairness",
            FAIRNESS_HEADER,
            [_fairness_cells(row) for row in rows if row.check_type == "fairness_drift"],
        ),
        "</div>",
        "<h2>Data drift per column: govflow's verdict and evidently's</h2>",
        _table("govflow-columns", COLUMNS_HEADER, [_column_cells(v) for v in verdicts]),
    ]
    if left_out:
        parts.append(f"<p>{escape(LEFT_OUT.format(names=', '.join(left_out)))}</p>")
    parts.append("</section><hr>")
    return "\n".join(parts)


COMPOSITE_HEADER = (
    "family",
    "weight",
    "effective weight",
    "normalised",
    "contributing metric",
    "subject",
    "value",
)
FINDINGS_HEADER = (
    "check",
    "metric",
    "subject",
    "value",
    "threshold",
    "severity",
    "interval",
    "group sizes",
)
FAIRNESS_HEADER = (
    "attribute",
    "metric",
    "value",
    "threshold",
    "severity",
    "interval",
    "extreme groups",
    "group sizes",
)
COLUMNS_HEADER = (
    "column",
    "type",
    "govflow statistic",
    "govflow value",
    "govflow severity",
    "evidently test",
    "bound",
    "evidently value",
    "evidently",
)


def _composite_bound(breakdown: Mapping[str, Any]) -> str:
    bound = breakdown.get("critical_above")
    return "no bound recorded" if bound is None else f"CRITICAL above {bound:g}"


def _composite_rows(breakdown: Mapping[str, Any]) -> list[list[str]]:
    rows = [
        [
            str(part.get("family", family)),
            value_text(part.get("weight")),
            value_text(part.get("effective_weight")),
            value_text(part.get("normalised")),
            str(part.get("contributing_metric", "")),
            str(part.get("contributing_subject", "")),
            value_text(part.get("contributing_value")),
        ]
        for family, part in (breakdown.get("components") or {}).items()
    ]
    rows += [
        [str(family), "", "", "", "missing", "", ""]
        for family in breakdown.get("missing_components") or ()
    ]
    return rows


def _interval(details: Mapping[str, Any]) -> str:
    low, high = details.get("ci_low"), details.get("ci_high")
    return "" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"


def _group_sizes(details: Mapping[str, Any]) -> str:
    sizes = ", ".join(f"{group} {n}" for group, n in (details.get("group_sizes") or {}).items())
    return f"{group_sizes_label(details)}: {sizes}" if sizes else ""


def _finding_cells(row: MetricResult) -> list[str]:
    details = row.details or {}
    return [
        row.check_type,
        row.metric,
        row.subject,
        value_text(row.value),
        threshold_text(row.threshold or {}),
        severity_text(row),
        _interval(details),
        _group_sizes(details),
    ]


def _fairness_cells(row: MetricResult) -> list[str]:
    details = row.details or {}
    extremes = [details.get("max_group"), details.get("min_group")]
    return [
        row.subject,
        row.metric,
        value_text(row.value),
        threshold_text(row.threshold or {}),
        severity_text(row),
        _interval(details),
        " vs ".join(str(group) for group in extremes if group is not None),
        _group_sizes(details),
    ]


def _column_cells(verdict: ColumnVerdict) -> list[str]:
    detected = verdict.detected
    agrees = detected is None or detected == (severity_rank(verdict.severity) > 0)
    said = {None: "not computed", True: "drift detected", False: "no drift"}[detected]
    return [
        verdict.column,
        verdict.kind,
        verdict.metric,
        value_text(verdict.value),
        verdict.severity,
        verdict.method,
        f"{verdict.bound:g}",
        value_text(verdict.evidently_value),
        said if agrees else f"{said} ({DISAGREES})",
    ]


def _row_start(family: str, marked: bool) -> str:
    if not marked:
        return "<tr>"
    permission = FIGURES_PERMISSION.get(family, COMPOSITE_PERMISSION.get(family))
    return "<tr>" if permission is None else f'<tr {PERMISSION_ATTRIBUTE}="{permission}">'


def _table(
    table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, marked: bool = False
) -> str:
    """A table of ``rows``; ``marked``: each row whose first cell is a check type or a
    composite family names the dashboard permission its figures need (``FIGURES_PERMISSION``,
    ``COMPOSITE_PERMISSION``)."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join(
        _row_start(row[0], marked) + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(header)}">none</td></tr>'
    return (
        f'<table id="{table_id}" border="1" cellpadding="4" style="border-collapse: collapse;">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
