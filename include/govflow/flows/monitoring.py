"""Seed 004 sections 1, 2.1, 5.1 and 8: run the analysis of one model and record it.

``run_monitoring`` is what the monitoring DAGs' mapped task and ``govflow monitor run`` both
call. It reads the model's window of prediction logs, analyses it against the active
baseline (govflow.monitoring.analysis) and writes one monitoring record with one row per judged
metric; the drift report (evidently's, on a bounded sample) is then drawn from the stored
record, configured by and opened with its verdicts (govflow.monitoring.drift_report).

The record's natural key is (model, run key); the run key names the DAG run (or the CLI
window), so a retried or cleared task rewrites the same record's results in place and
never adds a second record, and its audit event is written once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govflow import settings, store
from govflow.alerts.messages import format_evidence
from govflow.alerts.outbox import enqueue_alert
from govflow.audit import record_event
from govflow.baselines.profile import active_baseline, load_profile
from govflow.config import GovflowConfig, load_config
from govflow.flows import A_DATE_TIME, Refused, form_moment
from govflow.metrics.severity import severity_rank
from govflow.monitoring import analysis, drift_report
from govflow.monitoring.analysis import Analysis, CheckType, Finding
from govflow.monitoring.cadence import cadence_window, due_targets
from govflow.monitoring.drift_report import (
    NO_MONITORING_RECORD,
    UnknownRecord,
    severity_text,
    threshold_text,
    value_text,
)
from govflow.monitoring.prediction_logs import PredictionLogError, SqlLogSource
from govflow.reports import unwritten_stem
from govflow.store.keys import bounded_key
from govflow.store.schema import MetricResult, Model, MonitoringRun
from govflow.store.types import utcnow

LOG = logging.getLogger(__name__)
REPORT_SAMPLE_ROWS = 5000
# Beside reports/, never under it: the dashboard serves nothing from here.
REPORT_LOCKS = ".report-locks"
# A report or lock file name: room for "-<n>.html" or ".lock" within the 255 bytes of a name.
FILE_STEM_MAX_CHARS = 200
DRIFT_REPORT_DRAWN = "report.drift_generated"
# Wide enough for the longest bound the policy words: "critical >= 0.25, warning >= 0.1".
THRESHOLD_WIDTH = 32
ACTOR = "govflow-monitoring"
NOTHING_JUDGED = "no metric could be judged, every one inconclusive"
QUALITY_FAILURE = "data quality: {reason}"


# Airflow's DagRunType of a run its own backfill created (the library never imports Airflow).
BACKFILL_RUN_TYPE = "backfill"
NOT_REGISTERED = "model {model_id} is not registered: run 'govflow model register {model_id}'"
WINDOW_ORDER = "param window_end: {end} is not after window_start {start}"
UNKNOWN_MODELS = "param model_ids: unknown model(s) {unknown}; models.yaml has {models}"
WINDOW_NOT_ENDED = (
    "param {param}: the window from {start:%Y-%m-%d %H:%M} UTC has not ended yet (it ends "
    "{end:%Y-%m-%d %H:%M} UTC)"
)
END_WITHOUT_START = (
    "param window_start: none given with window_end {end}: give both, or neither to analyse "
    "each model's newest complete day of logged predictions"
)


class NotReady(RuntimeError):
    """A model cannot be analysed yet; the message names the command to run first."""


@dataclass(frozen=True)
class RunSummary:
    """What a monitoring task hands on through XCom: small and JSON-able."""

    model_id: str
    run_id: int
    run_key: str
    status: str
    severity: str
    composite_score: float | None
    baseline_version: str | None
    report_path: str | None
    counts: dict[str, int]
    notable: list[dict[str, Any]]
    # The checks that could judge nothing (severity INCONCLUSIVE when nothing is above INFO).
    inconclusive: list[str] = field(default_factory=list)
    # Why a failed analysis failed (its record's error, without the traceback).
    reason: str | None = None
    # What the data-quality gate failed, when that alone makes the severity (no rows).
    quality_failure: str | None = None
    # CPU seconds of each part of the analysis: read (the store and the window's logs),
    # analyse (the quality gate and every metric), store (the record), report, alerts.
    cpu_s: dict[str, float] = field(default_factory=dict)
    # The window's rows per model version (empty for a log without the column).
    model_versions: dict[str, int] = field(default_factory=dict)

    @property
    def composite_text(self) -> str:
        """The composite score to four significant digits, as the alerts show a value (a
        float still: 0.0, not 0); n/a when the analysis gave none."""
        score = self.composite_score
        return "n/a" if score is None else str(float(f"{score:.4g}"))

    @property
    def headline(self) -> str:
        """``severity WARNING``, or ``severity INCONCLUSIVE (fairness_drift: no metric could
        be judged)``: an INFO that judged nothing never reads as a pass; ``severity CRITICAL
        (data quality: no rows in window)``: a window the gate failed never reads as drift."""
        if self.quality_failure:
            reason = QUALITY_FAILURE.format(reason=self.quality_failure)
            return f"severity {self.severity} ({reason})"
        if not self.inconclusive:
            return f"severity {self.severity}"
        return f"severity {self.severity} ({', '.join(self.inconclusive)}: {NOTHING_JUDGED})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _retain_until(config: GovflowConfig, moment: datetime) -> datetime | None:
    period = config.policy.retention["monitoring_records"]
    if period.years is not None:
        try:
            return moment.replace(year=moment.year + period.years)
        except ValueError:  # 29 February
            return moment.replace(year=moment.year + period.years, day=28) + timedelta(days=1)
    if period.days is not None:
        return moment + timedelta(days=period.days)
    return None


def run_monitoring(
    model_id: str,
    *,
    start: datetime,
    end: datetime,
    checks: tuple[CheckType, ...] | list[str],
    cadence: str,
    run_key: str,
    config: GovflowConfig,
    data_dir: Path,
    db_url: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    write_report: bool = True,
    historical: bool = False,
) -> RunSummary:
    """Analyse one model over [start, end) and record the result (idempotent on run_key); a
    ``historical`` record (a day long past) is never alerted on and opens no incident."""
    clock = _CpuClock()
    start, end = analysis.utc(start), analysis.utc(end)
    wanted = analysis.validate_checks(checks)
    model = config.models.get(model_id)
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        if session.get(Model, model_id) is None:  # no record can name an unregistered model
            raise NotReady(NOT_REGISTERED.format(model_id=model_id))
        baseline = active_baseline(session, model_id)
        found = (
            None
            if baseline is None
            else (baseline.version, load_profile(baseline), baseline.reference_sample_uri)
        )
        history = fairness_history(
            session, model_id, start, end, max(config.policy.fairness.pooling_days, default=1)
        )
    reference_sample = None if found is None else found[2]
    if found is None:
        result = analysis.failed_analysis(
            model_id, start, end, wanted, None, analysis.NO_BASELINE.format(model_id=model_id)
        )
    else:
        version, profile, _ = found
        try:
            source = analysis.log_source(model, data_dir)
            explainer = (
                load_model(db_url, data_dir, model_id, profile.model_version)
                if "explanation_drift" in wanted
                else None
            )
            common: dict[str, Any] = {
                "model": model,
                "config": config,
                "baseline": profile,
                "baseline_version": version,
                "window_start": start,
                "window_end": end,
                "checks": wanted,
                "explainer": explainer,
                "history": history,
            }
            # A SQL log is analysed inside its database unless its window must be read.
            counted = (
                analysis.analyse_sql_window(source=source, **common)
                if isinstance(source, SqlLogSource)
                else None
            )
            if counted is not None:
                result = counted
            else:
                current, matured = analysis.read_windows(model, data_dir, start, end, checks=wanted)
                clock.lap("read")
                result = analysis.analyse_window(current=current, matured=matured, **common)
        except Exception as error:  # one model's bad data never stops the others
            unreadable = isinstance(error, PredictionLogError)
            if not unreadable:
                # The traceback is for the task log; the record (what the CLI, dashboard and
                # incidents show) keeps one line. INFO: a CLI user is shown that line alone.
                LOG.info("the analysis of %s raised", model_id, exc_info=True)
            message = (
                analysis.UNREADABLE_WINDOW.format(error=error)
                if unreadable
                else f"analysis raised {type(error).__name__}: {error}"
            )
            result = analysis.failed_analysis(
                model_id, start, end, wanted, version, first_line(message)
            )
    clock.lap("analyse")
    with store.session_scope(db_url) as session:
        record = record_analysis(
            session,
            result,
            run_key=run_key,
            cadence=cadence,
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            config=config,
        )
        record.historical = historical
        summary = summarise(record, result)
    clock.lap("store")
    if write_report and result.status == "succeeded" and reference_sample:
        try:
            # A window analysed inside its database is read for its report only now.
            usable = (
                result.usable
                if result.usable is not None
                else _usable_window(model, config, data_dir, start, end)
            )
        except PredictionLogError as error:
            _add_finding(db_url, summary.run_id, report_not_drawn(ReportNotDrawn(str(error))))
        else:
            drawn = render_report(
                model, data_dir, summary.run_id, Path(reference_sample), usable, db_url=db_url
            )
            summary = replace(summary, report_path=drawn)
        clock.lap("report")
    return replace(summary, cpu_s=clock.laps)


def first_line(message: str) -> str:
    """A record's reason is one line: an exception's message may run on (a database's,
    with its SQL), and the rest belongs in the task log."""
    lines = message.strip().splitlines()
    return lines[0] if lines else message


class _CpuClock:
    """This process's CPU seconds, lap by lap (what one analysis costs, part by part)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.process_time()

    def lap(self, name: str) -> None:
        now = time.process_time()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 4)
        self._last = now


def fairness_history(
    session: Session, model_id: str, start: datetime, end: datetime, days: int
) -> list[dict[str, Any]]:
    """The fairness counts of the consecutive days before a one-day window, newest first (at
    most ``days - 1`` of them, stopping at the first day without a successful record; an
    attribute's stop before its newest CRITICAL fairness finding, ``poolable_history``): what
    a small group is pooled with. Other windows (a week, a month) are not pooled."""
    if end - start != timedelta(days=1) or days < 2:
        return []
    records = session.scalars(
        select(MonitoringRun)
        .where(
            MonitoringRun.model_id == model_id,
            MonitoringRun.status == "succeeded",
            MonitoringRun.interval_end <= start,
            MonitoringRun.interval_end > start - timedelta(days=days - 1),
        )
        .order_by(MonitoringRun.finished_at.desc(), MonitoringRun.id.desc())
    ).all()
    by_day: dict[datetime, MonitoringRun] = {}
    for record in records:
        if analysis.utc(record.interval_end) - analysis.utc(record.interval_start) != timedelta(
            days=1
        ):
            continue
        by_day.setdefault(analysis.utc(record.interval_end), record)
    alarms = _critical_fairness_findings(session, [record.id for record in by_day.values()])
    consecutive = []
    for back in range(days - 1):
        day = by_day.get(start - timedelta(days=back))
        if day is None or not day.fairness_counts:
            break
        consecutive.append((day.fairness_counts, alarms.get(day.id, [])))
    return analysis.poolable_history(consecutive)


def _critical_fairness_findings(
    session: Session, run_ids: list[int]
) -> dict[int, list[tuple[str, str, str]]]:
    """The CRITICAL fairness findings of the runs, as ``poolable_history`` reads them, in one
    query."""
    findings: dict[int, list[tuple[str, str, str]]] = {}
    for run_id, check, subject, severity in session.execute(
        select(
            MetricResult.monitoring_run_id,
            MetricResult.check_type,
            MetricResult.subject,
            MetricResult.severity,
        ).where(
            MetricResult.monitoring_run_id.in_(run_ids),
            MetricResult.check_type == "fairness_drift",
            MetricResult.severity == "CRITICAL",
        )
    ):
        findings.setdefault(run_id, []).append((check, subject, severity))
    return findings


def record_analysis(
    session: Session,
    result: Analysis,
    *,
    run_key: str,
    cadence: str,
    dag_id: str | None,
    dag_run_id: str | None,
    config: GovflowConfig,
) -> MonitoringRun:
    """Write (or rewrite in place) the monitoring record of ``run_key`` (stored bounded, as
    it may hold a run id), without a drift report: the report is drawn from the stored record
    (``render_report``)."""
    run_key = bounded_key(run_key)
    record = session.scalars(
        select(MonitoringRun).where(
            MonitoringRun.model_id == result.model_id, MonitoringRun.run_key == run_key
        )
    ).first()
    now = utcnow()
    if record is None:
        record = MonitoringRun(model_id=result.model_id, run_key=run_key, started_at=now)
        session.add(record)
    else:
        session.execute(delete(MetricResult).where(MetricResult.monitoring_run_id == record.id))
    record.cadence = cadence
    record.checks = list(result.checks)
    record.dag_id = dag_id
    record.dag_run_id = dag_run_id
    record.interval_start = result.window_start
    record.interval_end = result.window_end
    record.baseline_version = result.baseline_version
    record.status = result.status
    record.severity = result.verdict
    record.composite_score = result.composite.get("score")
    record.composite_breakdown = {
        **result.composite,
        "data_quality": result.quality,
        "inconclusive_checks": list(result.inconclusive_checks),
    }
    record.fairness_counts = result.fairness_counts
    record.model_versions = result.model_versions
    record.report_path = None
    record.error = result.error
    record.finished_at = now
    record.retain_until = _retain_until(config, now)
    session.flush()
    seen: Counter[tuple[str, str, str]] = Counter()
    for finding in result.findings:
        key = (finding.check_type, finding.metric, finding.subject)
        seen[key] += 1
        subject = finding.subject if seen[key] == 1 else f"{finding.subject}#{seen[key]}"
        session.add(_metric_row(record.id, finding, subject))
    record_event(
        session,
        actor=ACTOR,
        action="monitoring.run_recorded",
        target=f"model:{result.model_id}",
        payload={
            "run_key": run_key,
            "interval_start": result.window_start,
            "interval_end": result.window_end,
            "severity": result.verdict,
            "status": result.status,
            "baseline_version": result.baseline_version,
        },
        severity="CRITICAL" if result.severity == "CRITICAL" else "INFO",
        idempotency_key=f"monitoring.run_recorded:{result.model_id}:{run_key}",
    )
    return record


def summarise(record: MonitoringRun, result: Analysis, *, limit: int = 20) -> RunSummary:
    counts = Counter(f.severity for f in result.findings if f.status in ("computed", "failed"))
    notable = sorted(
        (f for f in result.findings if f.severity != "INFO"),
        key=lambda f: -severity_rank(f.severity),
    )[:limit]
    return RunSummary(
        model_id=record.model_id,
        run_id=record.id,
        run_key=record.run_key,
        status=record.status,
        severity=record.severity or "INFO",
        composite_score=record.composite_score,
        baseline_version=record.baseline_version,
        report_path=record.report_path,
        counts={level: counts.get(level, 0) for level in ("INFO", "WARNING", "CRITICAL")},
        notable=[_notable(f) for f in notable],
        inconclusive=list(result.inconclusive_checks),
        reason=result.failure,
        quality_failure=result.quality_failure,
        model_versions=dict(record.model_versions or {}),
    )


def _notable(finding: Finding) -> dict[str, Any]:
    return {
        "check_type": finding.check_type,
        "metric": finding.metric,
        "subject": finding.subject,
        "value": finding.value,
        "severity": finding.severity,
        "threshold": finding.threshold,
        "message": finding.message or format_evidence(finding.details),
    }


class ReportNotDrawn(ValueError):
    """The drift report cannot be drawn from what the window holds; the reason is the text."""


REPORT_NOT_DRAWN = "drift report not drawn: {reason}"


def report_not_drawn(reason: ReportNotDrawn) -> Finding:
    """The finding that says why a record has no drift report (the analysis stands)."""
    return Finding(
        "data_drift",
        "drift_report",
        "",
        None,
        "INFO",
        status="skipped",
        message=REPORT_NOT_DRAWN.format(reason=reason),
    )


def report_window(model: Any, usable: pd.DataFrame | None) -> pd.DataFrame:
    """The feature columns of the gate's usable rows that hold a finite value: an empty
    window, or a column left with nothing to draw, is a reason, never evidently's crash."""
    if usable is None or usable.empty:
        raise ReportNotDrawn("no usable rows in the window after the data-quality gate")
    window = usable.loc[:, [f.name for f in model.features if f.name in usable.columns]]
    for feature in model.features:
        if feature.name in window.columns and feature.dtype != "categorical":
            values = pd.to_numeric(window[feature.name], errors="coerce")
            window[feature.name] = values.where(np.isfinite(values))
    empty = [name for name in window.columns if window[name].isna().all()]
    window = window.drop(columns=empty)
    if window.columns.empty:
        raise ReportNotDrawn("no feature column has a usable value")
    if len(window) > REPORT_SAMPLE_ROWS:
        window = window.sample(REPORT_SAMPLE_ROWS, random_state=0)
    return window


def write_drift_report(
    model: Any,
    data_dir: Path,
    record: MonitoringRun,
    rows: Sequence[MetricResult],
    reference_sample: Path,
    usable: pd.DataFrame | None,
) -> Path:
    """evidently's drift report of the gate's usable rows (a bounded sample) against the
    baseline's reference sample, configured from the record's verdicts and opened by them
    (govflow.monitoring.drift_report), as a self-contained HTML file; ``ReportNotDrawn``
    when the window leaves nothing to draw or evidently cannot draw it."""
    import warnings

    window = report_window(model, usable)
    verdicts = drift_report.column_verdicts(model, rows, list(window.columns))
    if not verdicts:  # e.g. a fairness-only analysis: govflow's verdicts alone, no evidently
        return _keep_report(
            data_dir, model.id, record, drift_report.verdicts_page(record, rows, model)
        )
    columns = [verdict.column for verdict in verdicts]
    window = window.loc[:, columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        reference = pd.read_parquet(data_dir / reference_sample, columns=columns)
        definition = DataDefinition(**drift_report.column_types(verdicts))
        try:
            snapshot = Report([DataDriftPreset(**drift_report.preset_options(verdicts))]).run(
                current_data=Dataset.from_pandas(window, data_definition=definition),
                reference_data=Dataset.from_pandas(reference, data_definition=definition),
            )
        except Exception as error:  # evidently's own refusal of a window, named
            raise ReportNotDrawn(f"evidently raised {type(error).__name__}: {error}") from error
        page = snapshot.get_html_str(as_iframe=False)
    header = drift_report.verdicts_html(
        record,
        rows,
        drift_report.drawn(verdicts, snapshot.dict()["metrics"]),
        model,
        sample_rows=len(window),
        reference_rows=len(reference),
    )
    return _keep_report(data_dir, model.id, record, drift_report.with_verdicts(page, header))


def _file_name(text: str) -> str:
    """``text`` as a file name: anything but ASCII letters, digits, '-', '_' and '.' becomes
    '_', and a long one is bounded (``FILE_STEM_MAX_CHARS``) so that a run key holding a
    250-character run id still leaves room for a suffix within the 255 bytes of a name."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in text)
    return bounded_key(safe, limit=FILE_STEM_MAX_CHARS)


def _keep_report(data_dir: Path, model_id: str, record: MonitoringRun, page: str) -> Path:
    """Write ``page`` as the record's report. A run key analysed again (its record rewritten
    in place) draws a new report beside the earlier one, never over it: the alerts and audit
    events of the first analysis link the earlier file."""
    safe_key = _file_name(record.run_key)
    folder = data_dir / "reports" / model_id
    path = folder / f"{unwritten_stem(folder, safe_key, {'html': page})}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path.relative_to(data_dir)


def metric_results(session: Session, run_id: int) -> list[MetricResult]:
    """The rows of a stored record, in the order they were judged."""
    return list(
        session.scalars(
            select(MetricResult)
            .where(MetricResult.monitoring_run_id == run_id)
            .order_by(MetricResult.id)
        )
    )


def render_report(
    model: Any,
    data_dir: Path,
    run_id: int,
    reference_sample: Path,
    usable: pd.DataFrame | None,
    *,
    db_url: str | None = None,
) -> str | None:
    """Draw the drift report of a stored record and record its path; None, and a finding
    saying why, when it cannot be drawn. Draws of one model's records take turns (two
    requests from the dashboard, or the dashboard's and the DAG's): a later draw of the same
    record finds the first's report and draws nothing."""
    with _drawing(data_dir, model.id):
        with store.session_scope(db_url) as session:
            record = session.get(MonitoringRun, run_id)
            assert record is not None
            if record.report_path:
                return record.report_path
            rows = metric_results(session, run_id)
        try:
            path = str(write_drift_report(model, data_dir, record, rows, reference_sample, usable))
        except ReportNotDrawn as error:
            _add_finding(db_url, run_id, report_not_drawn(error))
            return None
        digest = hashlib.sha256((data_dir / path).read_bytes()).hexdigest()
        with store.session_scope(db_url) as session:
            drawn = session.get(MonitoringRun, run_id)
            assert drawn is not None
            drawn.report_path = path
            # The path stays servable once a re-analysis of the run key records another
            # report, and the trail holds what it served.
            record_event(
                session,
                actor=ACTOR,
                action=DRIFT_REPORT_DRAWN,
                target=f"report:drift:{path}",
                payload={"path": path, "sha256": digest, "record": run_id},
                idempotency_key=f"{DRIFT_REPORT_DRAWN}:{path}:{digest}",
            )
        return path


@contextmanager
def _drawing(data_dir: Path, model_id: str) -> Iterator[None]:
    """Hold the lock of drawing ``model_id``'s reports, shared by every thread and process of
    this data directory (an flock belongs to its open file, not its process). One lock file
    per model, not per record: the folder stays as small as models.yaml, year after year."""
    locks = data_dir / REPORT_LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(locks / f"{_file_name(model_id)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def load_model(db_url: str | None, data_dir: Path, model_id: str, version: str) -> Any:
    """The registered artefact of a model version, loaded only if its bytes match the
    registry (unpickling runs code); None for a black-box model."""
    from govflow.baselines.profile import registered_model_or_none

    with store.session_scope(db_url) as session:
        return registered_model_or_none(
            session, data_dir=data_dir, model_id=model_id, model_version=version
        )


NO_FINDINGS = "  no findings recorded"
NOTHING_ABOVE_INFO = "  none: every finding is INFO"


def print_findings(
    run_id: int, echo: Any, *, db_url: str | None = None, include_info: bool = True
) -> None:
    """Print a record's table: check, metric, subject, value, threshold, severity."""
    with store.session_scope(db_url) as session:
        rows = [
            row for row in metric_results(session, run_id) if include_info or row.severity != "INFO"
        ]
        if not rows:  # a header over nothing reads like a finding left out
            echo(NO_FINDINGS if include_info else NOTHING_ABOVE_INFO)
            return
        echo(
            f"{'check':<18} {'metric':<32} {'subject':<22} {'value':>10} "
            f"{'threshold':<{THRESHOLD_WIDTH}} severity"
        )
        last_message = None
        for row in rows:
            echo(
                f"{row.check_type:<18} {row.metric:<32} {row.subject[:22]:<22} "
                f"{value_text(row.value):>10} "
                f"{threshold_text(row.threshold):<{THRESHOLD_WIDTH}} {severity_text(row)}"
            )
            message = (row.details or {}).get("message")
            if row.status != "computed" and message and message != last_message:
                echo(f"    {message}")
            elif row.severity != "INFO" and (evidence := format_evidence(row.details or {})):
                echo(f"    judged on the {evidence}")
            last_message = message


def latest_dag_run_records(dag_id: str, *, db_url: str | None = None) -> list[MonitoringRun]:
    """The monitoring records written by the newest run of ``dag_id``."""
    with store.session_scope(db_url) as session:
        newest = session.scalars(
            select(MonitoringRun)
            .where(MonitoringRun.dag_id == dag_id)
            .order_by(MonitoringRun.finished_at.desc())
            .limit(1)
        ).first()
        if newest is None:
            return []
        return list(
            session.scalars(
                select(MonitoringRun)
                .where(MonitoringRun.dag_run_id == newest.dag_run_id)
                .order_by(MonitoringRun.model_id, MonitoringRun.cadence)
            )
        )


def review_baselines(
    *,
    start: datetime,
    end: datetime,
    run_key: str,
    config: GovflowConfig,
    db_url: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
) -> list[dict[str, Any]]:
    """The monthly baseline review of every model: stored as records and posted."""
    from govflow.baselines.review import post_review, review_baseline

    store.ensure_schema(db_url)
    posted = []
    with store.session_scope(db_url) as session:
        for model in config.models.models:
            review = review_baseline(session, config, model.id, start=start, end=end)
            key = f"{run_key}/{model.id}"
            record_analysis(
                session,
                review,
                run_key=key,
                cadence="monthly",
                dag_id=dag_id,
                dag_run_id=dag_run_id,
                config=config,
            )
            post_review(session, config, review, key)
            recommendation = next(f for f in review.findings if f.metric == "recommendation")
            posted.append(
                {
                    "model_id": model.id,
                    "recommendation": recommendation.subject,
                    "text": recommendation.message,
                }
            )
    return posted


# The records whose drift report is drawn without being asked for: someone will read it.
REPORTED_SEVERITIES = ("WARNING", "CRITICAL")


def render_reports(
    run_ids: list[int],
    *,
    config: GovflowConfig,
    data_dir: Path,
    db_url: str | None = None,
    every: bool = False,
) -> dict[int, str]:
    """Render the drift report of each succeeded record that has none yet and that someone
    will read: one with a finding above INFO, or every one when ``every`` (an on-demand
    analysis, a request from the dashboard).

    The DAGs do this in one task after all analyses and off the alert path (issue 18), so
    evidently is imported once per run rather than once per model (it costs ~4 s of CPU), no
    alert waits for a report, and a fleet of quiet models draws none.
    """
    from govflow.store.schema import Baseline

    wanted = [
        MonitoringRun.id.in_(run_ids),
        MonitoringRun.status == "succeeded",
        MonitoringRun.report_path.is_(None),
    ]
    if not every:
        wanted.append(MonitoringRun.severity.in_(REPORTED_SEVERITIES))
    with store.session_scope(db_url) as session:
        pending = session.scalars(select(MonitoringRun).where(*wanted)).all()
        versions = {(r.model_id, r.baseline_version) for r in pending}
        # Only the sample's address, and only of the models with a report to draw: a
        # baseline row carries its whole profile.
        samples = {
            (model_id, version): uri
            for model_id, version, uri in session.execute(
                select(Baseline.model_id, Baseline.version, Baseline.reference_sample_uri).where(
                    Baseline.model_id.in_({model_id for model_id, _ in versions})
                )
            )
            if (model_id, version) in versions
        }
    written: dict[int, str] = {}
    for record in pending:
        sample = samples.get((record.model_id, record.baseline_version or ""))
        if sample is None:
            continue
        model = config.models.get(record.model_id)
        start, end = analysis.utc(record.interval_start), analysis.utc(record.interval_end)
        try:
            usable = _usable_window(model, config, data_dir, start, end)
        except PredictionLogError as error:
            _add_finding(db_url, record.id, report_not_drawn(ReportNotDrawn(str(error))))
            continue
        path = render_report(model, data_dir, record.id, Path(sample), usable, db_url=db_url)
        if path is not None:
            written[record.id] = path
    return written


def _usable_window(
    model: Any, config: GovflowConfig, data_dir: Path, start: datetime, end: datetime
) -> pd.DataFrame:
    """The window's rows and columns the data-quality gate leaves usable, read from its log."""
    current = analysis.log_source(model, data_dir).read_window(start, end)
    return analysis.quality_gate(model, config, current, start, end).usable_frame()


NOT_AN_ANALYSIS = "record {run_id} is not a succeeded analysis: it has no drift report to draw"


def draw_report_on_request(run_id: int, *, db_url: str | None = None) -> str:
    """The drift report of one succeeded record, drawn now if it has none (the DAGs draw only
    those above INFO): its path under the data directory, or ``ReportNotDrawn`` naming why
    (the reason is also kept on the record); ``UnknownRecord`` if there is no such record."""
    with store.session_scope(db_url, read_only=True) as session:
        record = session.get(MonitoringRun, run_id)
        if record is None:
            raise UnknownRecord(NO_MONITORING_RECORD.format(record_id=run_id))
        if record.status != "succeeded":
            raise ReportNotDrawn(NOT_AN_ANALYSIS.format(run_id=run_id))
        if record.report_path:
            return record.report_path
    config, data_dir = _policy(), settings.data_dir()
    render_reports([run_id], config=config, data_dir=data_dir, db_url=db_url, every=True)
    with store.session_scope(db_url, read_only=True) as session:
        record = session.get(MonitoringRun, run_id)
        assert record is not None
        if record.report_path:
            return record.report_path
        reasons = [
            str(row.details.get("message"))
            for row in metric_results(session, run_id)
            if row.metric == "drift_report" and row.details.get("message")
        ]
    raise ReportNotDrawn(reasons[-1] if reasons else NOT_AN_ANALYSIS.format(run_id=run_id))


def _add_finding(db_url: str | None, run_id: int, finding: Finding) -> None:
    """Add a finding to a stored record, once (a rendering retried adds nothing)."""
    with store.session_scope(db_url) as session:
        already = session.scalars(
            select(MetricResult).where(
                MetricResult.monitoring_run_id == run_id,
                MetricResult.check_type == finding.check_type,
                MetricResult.metric == finding.metric,
                MetricResult.subject == finding.subject,
            )
        ).first()
        if already is None:
            session.add(_metric_row(run_id, finding, finding.subject))


def _metric_row(run_id: int, finding: Finding, subject: str) -> MetricResult:
    return MetricResult(
        monitoring_run_id=run_id,
        check_type=finding.check_type,
        metric=finding.metric,
        subject=subject,
        value=finding.value,
        status=finding.status,
        severity=finding.severity,
        threshold=finding.threshold,
        details={**finding.details, "message": finding.message},
    )


def route_runs(
    run_ids: list[int], *, config: GovflowConfig, db_url: str | None = None
) -> dict[str, int]:
    """Put the alerts the records' findings call for in the outbox (seed 004 section 2.1):
    nothing for INFO, a digest item per WARNING, an immediate Slack and e-mail alert per
    CRITICAL. Routing the same records again adds nothing."""
    from govflow.alerts.outbox import route_findings

    created: Counter[str] = Counter()
    alerted = [
        name
        for name, level in config.policy.severity_levels.items()
        if level.frequency != "real_time"
    ]
    with store.session_scope(db_url) as session:
        # Only the records with a finding that calls for an alert: on a quiet fleet, none.
        to_route = session.scalars(
            select(MetricResult.monitoring_run_id)
            .where(
                MetricResult.monitoring_run_id.in_(set(run_ids)),
                MetricResult.severity.in_(alerted),
            )
            .distinct()
        ).all()
        position = {run_id: index for index, run_id in enumerate(run_ids)}
        for run_id in sorted(to_route, key=position.__getitem__):
            record = session.get(MonitoringRun, run_id)
            if record is None:
                continue
            for alert in route_findings(session, config, record):
                created[alert.kind] += 1
    return dict(created)


def alert_and_open_incidents(
    run_id: int, *, config: GovflowConfig, db_url: str | None = None
) -> dict[str, list[Any]]:
    """Right after an analysis (seed 004 section 2.1): the incidents its findings call for
    opened (or recurred), its alerts in the outbox, each CRITICAL alert linked to its
    incident. Returns the ids of the alerts to send now and the refs of the incidents.

    The analysing task sends the CRITICAL alerts itself, so they reach Slack within seconds
    of detection instead of waiting for the next delivery run. A retry finds everything in
    place and adds nothing.
    """
    from govflow.alerts.outbox import CRITICAL_KIND, PENDING, route_findings
    from govflow.incidents.lifecycle import open_incidents_for_run

    with store.session_scope(db_url) as session:
        record = session.get(MonitoringRun, run_id)
        if record is None or record.historical:  # history pages no one
            return {"send_now": [], "incidents": []}
        opened = open_incidents_for_run(session, config, record)
        alerts = route_findings(session, config, record)
        incident_of_metric = {incident.metric: incident.id for incident in opened}
        for alert in alerts:
            if alert.kind == CRITICAL_KIND:
                alert.incident_id = incident_of_metric.get(alert.payload["finding"]["metric"])
        session.flush()
        return {
            "send_now": [
                alert.id
                for alert in alerts
                if alert.kind == CRITICAL_KIND and alert.status == PENDING
            ],
            "incidents": [incident.ref for incident in opened],
        }


def outbox_of_dag_run(
    dag_id: str, dag_run_id: str, *, db_url: str | None = None
) -> list[tuple[str, str, str, str]]:
    """(status, channel, destination, text) of every alert the findings of one DAG run put in
    the outbox, and the pages of the incidents they opened, CRITICAL first: what was sent,
    and what waits for a connection."""
    from govflow.alerts.paging import PAGERDUTY
    from govflow.store.schema import Alert, Incident

    with store.session_scope(db_url) as session:
        runs = select(MonitoringRun.id).where(
            MonitoringRun.dag_id == dag_id, MonitoringRun.dag_run_id == dag_run_id
        )
        opened = set(session.scalars(select(Incident.id).where(Incident.source_run_id.in_(runs))))
        rows = session.scalars(select(Alert).order_by(Alert.id)).all()
        mine = [
            row
            for row in rows
            if (
                (row.payload.get("finding") or {}).get("dag_id") == dag_id
                and (row.payload.get("finding") or {}).get("dag_run_id") == dag_run_id
            )
            or (row.channel == PAGERDUTY and row.incident_id in opened)
        ]
        mine.sort(key=lambda row: row.severity != "CRITICAL")
        return [(row.status, row.channel, row.destination, _alert_text(row)) for row in mine]


def _alert_text(alert: Any) -> str:
    """What an outbox row says: a message's text, a page's event and summary."""
    if "event_action" in alert.payload:
        summary = (alert.payload.get("payload") or {}).get("summary", "")
        return f"{alert.payload['event_action']}: {summary}"
    return str(alert.payload.get("text", ""))


def build_warning_digests(*, config: GovflowConfig, db_url: str | None = None) -> int:
    """Today's WARNING digest (Slack and e-mail), once per day and channel."""
    from govflow.alerts.outbox import build_daily_digests

    with store.session_scope(db_url) as session:
        return len(build_daily_digests(session, config, utcnow().date()))


# The tasks of the monitoring DAGs (govflow_monitoring_daily/weekly/monthly/on_demand), each
# reading config/ itself and passing ids and summaries.


def _policy() -> GovflowConfig:
    return load_config(settings.config_dir())


def select_due_analyses(dag_id: str, run_time: datetime) -> list[list[dict[str, Any]]]:
    """The analyses due for each model on this run of ``dag_id``, per seed 004 table 1.1, in
    batches of policy.yaml ``monitoring.models_per_task`` (one analysis task each)."""
    config = _policy()
    targets = due_targets(config, dag_id, run_time)
    for target in targets:
        print(
            f"due: {target.model_id} ({target.risk_tier}) {target.cadence} "
            f"{', '.join(target.checks)} over [{target.start}, {target.end})"
        )
    return _batched(config, [target.to_dict() for target in targets])


def _batched(config: GovflowConfig, targets: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return analysis_batches(targets, config.policy.monitoring.models_per_task)


def batch_label(targets: list[dict[str, Any]]) -> str:
    """How an analysis task is named in Airflow's UI: its model, or its first and last."""
    first, last = targets[0], targets[-1]
    if len(targets) == 1:
        return f"{first['model_id']} ({first['cadence']})"
    return f"{len(targets)} models: {first['model_id']} .. {last['model_id']}"


def resolve_on_demand_request(
    params: dict[str, Any], *, now: datetime | None = None
) -> list[list[dict[str, Any]]]:
    """ "Analyze Now" (seed 004 section 1.3): check the requested models, checks and window
    (the Params of govflow_monitoring_on_demand) and turn them into analysis targets, in
    batches as ``select_due_analyses`` gives them. A model models.yaml does not list, a
    check that is none, a window bound that is no date and time, an end not after the
    start, or a window that has not ended by ``now`` (its logs are not all written: its
    record would judge a part as the whole, as ``govflow monitor run`` refuses it) is
    :class:`Refused` in one line naming the param: a retry would read the same request. A
    bound without a zone is kept as written and, as the analysis reads it, is UTC.

    No window: each model's newest complete day of logged predictions (``default_window``).
    A start alone: the day from it, as ``govflow monitor run --start`` reads it."""
    config = _policy()
    now = analysis.utc(now or utcnow())
    unknown = [m for m in params["model_ids"] if m not in config.models.ids()]
    if unknown:
        raise Refused(
            UNKNOWN_MODELS.format(unknown=", ".join(unknown), models=", ".join(config.models.ids()))
        )
    try:
        checks = list(analysis.validate_checks(params["checks"]))
    except analysis.UnknownCheck as error:
        raise Refused(f"param checks: {error}") from None
    window = _requested_window(params.get("window_start"), params.get("window_end"), now)
    print(f"on-demand analysis requested: {params['reason'] or '(no reason given)'}")
    targets = []
    for model_id in params["model_ids"]:
        start, end = window or default_window(config.models.get(model_id), settings.data_dir(), now)
        targets.append(
            {
                "model_id": model_id,
                "risk_tier": config.models.get(model_id).risk_tier,
                "cadence": "on_demand",
                "checks": checks,
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
        )
    return _batched(config, targets)


def _requested_window(
    start_param: str | None, end_param: str | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """The window the Params give (None when they give none), refused as
    ``resolve_on_demand_request`` says."""
    if start_param is None and end_param is None:
        return None
    if start_param is None:
        raise Refused(END_WITHOUT_START.format(end=end_param))
    start = form_moment(start_param, field="param window_start", expected=A_DATE_TIME)
    end = (
        start + timedelta(days=1)
        if end_param is None
        else form_moment(end_param, field="param window_end", expected=A_DATE_TIME)
    )
    if analysis.utc(end) <= analysis.utc(start):
        raise Refused(WINDOW_ORDER.format(start=start.isoformat(), end=end.isoformat()))
    if analysis.utc(end) > now:
        raise Refused(
            WINDOW_NOT_ENDED.format(
                param="window_start" if end_param is None else "window_end",
                start=analysis.utc(start),
                end=analysis.utc(end),
            )
        )
    return start, end


def default_window(model: Any, data_dir: Path, now: datetime) -> tuple[datetime, datetime]:
    """The window Analyze Now analyses when none is given: the model's newest complete UTC
    day of logged predictions (the newest day before ``now``'s that holds one). A whole UTC
    day, not the 24 hours up to the newest prediction: its record is a day's, which the
    fairness checks pool with the days before it and the dashboard and reports place beside
    the daily records; the day under way is left out, its logs not all written. A log with
    no such day, or that cannot be read, gives the day before ``now``'s, whose record then
    says what its analysis found wanting ("no rows", the unreadable log)."""
    today = analysis.utc(now).date()
    try:
        day = analysis.log_source(model, data_dir).newest_day(before=today)
    except PredictionLogError as error:
        print(f"{model.id}: its newest day of logged predictions cannot be told: {error}")
        day = None
    if day is None:
        day = today - timedelta(days=1)
        print(f"{model.id}: no window given and no complete day logged: {day}, the day before")
    else:
        print(f"{model.id}: no window given: {day}, its newest complete day of logged predictions")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def target_run_key(target: dict[str, Any], *, dag_id: str, dag_run_id: str) -> str:
    """The natural key of the record an analysis target of a DAG run writes, as stored."""
    return bounded_key(f"{dag_id}/{dag_run_id}/{target['cadence']}")


NO_RECORD = (
    "the analysis of {model_id} ({cadence}, [{start}, {end})) left no monitoring record: its "
    "task failed after its retries (task log of {dag_id} run {dag_run_id})"
)
UNRECORDED = "{count} analysis(es) of this run left no record: {models}"
NOTHING_SELECTED = "no analysis was selected: the task that selects them failed"


def record_missing_analyses(
    targets: list[dict[str, Any]], *, dag_id: str, dag_run_id: str
) -> dict[str, Any]:
    """Seed 004 section 8 at once, not 12 hours later: every target of the run whose
    analysis left no record (its task failed, was killed, or could not reach the store)
    gets a failed record, and the engineering channel one alert naming them all.
    ``{"models", "message", "send_now"}``; running it again adds nothing."""
    missing: list[str] = []
    keys = [target_run_key(target, dag_id=dag_id, dag_run_id=dag_run_id) for target in targets]
    with store.session_scope() as session:
        # One query for the run's records (a query per target cost a 200-model run seconds).
        recorded = {
            (model_id, key)
            for model_id, key in session.execute(
                select(MonitoringRun.model_id, MonitoringRun.run_key).where(
                    MonitoringRun.run_key.in_(set(keys))
                )
            )
        }
        unrecorded = [
            (target, key)
            for target, key in zip(targets, keys, strict=True)
            if (target["model_id"], key) not in recorded
        ]
        if not unrecorded:
            return {"models": [], "message": "", "send_now": []}
        config = _policy()
        for target, key in unrecorded:
            if session.get(Model, target["model_id"]) is None:  # no record can name it
                missing.append(NOT_REGISTERED.format(model_id=target["model_id"]))
                continue
            text = NO_RECORD.format(**target, dag_id=dag_id, dag_run_id=dag_run_id)
            result = analysis.failed_analysis(
                target["model_id"],
                datetime.fromisoformat(target["start"]),
                datetime.fromisoformat(target["end"]),
                target["checks"],
                None,
                text,
            )
            record_analysis(
                session,
                result,
                run_key=key,
                cadence=target["cadence"],
                dag_id=dag_id,
                dag_run_id=dag_run_id,
                config=config,
            )
            missing.append(target["model_id"])
        if not missing:
            return {"models": [], "message": "", "send_now": []}
        message = UNRECORDED.format(count=len(missing), models=", ".join(missing))
        alert, _ = enqueue_alert(
            session,
            idempotency_key=f"analysis-unrecorded:{dag_id}:{dag_run_id}",
            channel="slack",
            destination=config.people.channel(
                config.policy.performance_slas.monitor_the_monitor.slack_channel
            ),
            kind="monitor_the_monitor",
            severity="CRITICAL",
            payload={"text": f"{dag_id} {dag_run_id}: {message}", "models": missing},
            actor=ACTOR,
        )
        return {"models": missing, "message": message, "send_now": [alert.id]}


def selected_targets(batches: list[list[dict[str, Any]]] | None) -> list[dict[str, Any]]:
    """Every analysis target of the run's batches. None means the selection itself failed
    (a refused Analyze Now request, a selection that failed after its retries): that is
    :class:`Refused` in one line, so the run's last task fails once, naming why, and the run
    cannot end green on the analyses it never selected."""
    if batches is None:
        raise Refused(NOTHING_SELECTED)
    return [target for batch in batches for target in batch]


def refuse_unrecorded(missing: dict[str, Any]) -> None:
    """Fail the run's last task, naming the models without a record, so that the run does
    not end green."""
    if missing["models"]:
        raise Refused(missing["message"])


def analyse_target(
    target: dict[str, Any], *, dag_id: str, dag_run: Any, config: GovflowConfig | None = None
) -> dict[str, Any]:
    """Analyse one model over its window, record the result (idempotent per DAG run) and open
    the incidents it calls for: ``{"summary", "send_now"}``, the ids of the CRITICAL
    alerts to send at once. ``dag_run`` is Airflow's (its ``run_id`` and ``run_type``): a
    run of Airflow's own backfill is history, recorded, and opens nothing. ``config`` is
    read from config/ unless the caller has it already."""
    dag_run_id = dag_run.run_id
    config = config or _policy()
    summary = run_monitoring(
        target["model_id"],
        start=datetime.fromisoformat(target["start"]),
        end=datetime.fromisoformat(target["end"]),
        checks=target["checks"],
        cadence=target["cadence"],
        run_key=target_run_key(target, dag_id=dag_id, dag_run_id=dag_run_id),
        config=config,
        data_dir=settings.data_dir(),
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        write_report=False,  # drawn by render_drift_reports, after the alerts are out
        historical=str(dag_run.run_type) == BACKFILL_RUN_TYPE,
    )
    print(
        f"{summary.model_id}: {summary.status}, {summary.headline}, "
        f"composite {summary.composite_text}, report {summary.report_path}"
    )
    before = time.process_time()
    response = alert_and_open_incidents(summary.run_id, config=config)
    cpu_s = {**summary.cpu_s, "alerts": round(time.process_time() - before, 4)}
    if response["incidents"]:
        print(f"  incidents: {', '.join(response['incidents'])}")
    for finding in summary.notable:
        print(
            f"  {finding['severity']:<8} {finding['check_type']}/{finding['metric']} "
            f"{finding['subject']} = {finding['value']} {finding['message']}"
        )
    print(f"  cpu_s: {' '.join(f'{part}={seconds}' for part, seconds in cpu_s.items())}")
    return {"summary": {**summary.to_dict(), "cpu_s": cpu_s}, "send_now": response["send_now"]}


ANALYSIS_RAISED = "{model_id} ({cadence}): attempt {attempt} of {attempts} raised {error}"
NOT_ANALYSED = "{model_id} ({cadence}): not analysed: {error}"
# A model whose analysis raised is tried again after the rest of its batch (the task's own
# retries, per model), this many times in all, this far apart.
ATTEMPTS = 3
RETRY_PAUSE_S = 5.0


def analyse_batch(
    targets: list[dict[str, Any]], *, dag_id: str, dag_run: Any, deliver: Any
) -> list[dict[str, Any]]:
    """Analyse a batch of models in one task, each on its own (issue 18: a task per model
    cost more than its analysis): the summaries of the models analysed, in order.

    One model's failure never fails, delays or hides another's: each model's CRITICAL
    alerts go out (``deliver``) as soon as its own analysis is recorded; a model whose
    analysis raises is tried again after the rest of the batch, ``ATTEMPTS`` times in all,
    ``RETRY_PAUSE_S`` apart; a model that cannot be analysed yet (``NotReady``) is not
    retried.
    A model left unrecorded is found by ``confirm_every_analysis_recorded``, which records
    its failure, tells #engineering and fails the run naming it. Each model's lines are in
    the task log, with the CPU seconds of each part of its analysis."""
    print(f"task start-up cpu_s={time.process_time():.4f} for {len(targets)} models")
    # Read once for the batch: validating models.yaml costs about 1 ms of CPU per model it
    # lists, so reading it per analysis grew with the square of the fleet (0.23 CPU-s per
    # analysis at 200 models).
    config = _policy()
    summaries: dict[int, dict[str, Any]] = {}
    pending = list(enumerate(targets))
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(RETRY_PAUSE_S)
        failed = []
        for position, target in pending:
            names = {"model_id": target["model_id"], "cadence": target["cadence"]}
            try:
                analysed = analyse_target(target, dag_id=dag_id, dag_run=dag_run, config=config)
            except NotReady as error:
                print(NOT_ANALYSED.format(**names, error=error))
                continue
            except Exception as error:  # one model's failure stays its own
                print(
                    ANALYSIS_RAISED.format(
                        **names,
                        attempt=attempt,
                        attempts=ATTEMPTS,
                        error=f"{type(error).__name__}: {error}",
                    )
                )
                traceback.print_exc()
                failed.append((position, target))
                continue
            deliver(analysed["send_now"])
            summaries[position] = analysed["summary"]
        pending = failed
        if not pending:
            break
    return [summaries[position] for position in sorted(summaries)]


# Even a small run is shared by two task slots (a worker per core, or two workers).
MIN_TASKS = 2


def analysis_batches(targets: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """``targets`` cut, in order, into batches of near-equal length (one analysis task
    each): the fewest of at most ``size`` models, but at least two given two models."""
    total = len(targets)
    count = max(-(-total // size), min(total, MIN_TASKS))
    return [targets[i * total // count : (i + 1) * total // count] for i in range(count)]


def publish_results(
    summaries: list[dict[str, Any] | None], *, dag_id: str, dag_run_id: str
) -> dict[str, Any]:
    """What every analysis found (failed analyses are absent), as the extra of the Asset
    event `govflow_monitoring_results`, after putting the alerts its findings call for in
    the outbox (govflow_alert_delivery sends them) and building the WARNING digests."""
    received = [s for s in summaries if s]
    config = _policy()
    routed = route_runs([s["run_id"] for s in received], config=config)
    digests = build_warning_digests(config=config)
    print(f"alerts put in the outbox: {routed or 'none'}; warning digests built: {digests}")
    for summary in received:
        print(
            f"{summary['model_id']:<24} {summary['status']:<10} {summary['severity']:<9} "
            f"composite={summary['composite_score']} report={summary['report_path']}"
        )
    return {
        "dag_id": dag_id,
        "run_id": dag_run_id,
        "runs": [
            {key: s[key] for key in ("model_id", "run_id", "severity", "status")} for s in received
        ],
        "alerts": routed,
    }


def render_drift_reports(
    summaries: list[dict[str, Any] | None], *, every: bool = False
) -> dict[str, str]:
    """evidently's HTML drift report of the analyses someone will read (above INFO, or
    ``every`` one), rendered in one process after the alerts are out."""
    before = time.process_time()
    written = render_reports(
        [s["run_id"] for s in summaries if s],
        config=_policy(),
        data_dir=settings.data_dir(),
        every=every,
    )
    for run_id, path in written.items():
        print(f"record {run_id}: drift report {path}")
    print(f"cpu_s: report={time.process_time() - before:.4f} for {len(written)} reports")
    return {str(run_id): path for run_id, path in written.items()}


def review_last_month(run_time: datetime, *, dag_id: str, dag_run_id: str) -> list[dict]:
    """Seed 004 section 1.2: every model's baseline reviewed against last month's records."""
    start, end = cadence_window("monthly", run_time)
    posted = review_baselines(
        start=start,
        end=end,
        run_key=f"{dag_id}/{dag_run_id}/review",
        config=_policy(),
        dag_id=dag_id,
        dag_run_id=dag_run_id,
    )
    for item in posted:
        print(item["text"])
    return posted
