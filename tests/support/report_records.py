"""A store with what the reports draw on: the credit model, a March 2025 daily record and
a CRITICAL fairness incident opened on 2025-03-06, still open."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

from govflow import settings, store
from govflow.config import load_config
from govflow.store.schema import Incident, MonitoringRun
from tests.support.registry import register_models

INCIDENT_REF = "INC-2025-0001"
OPENED_AT = datetime(2025, 3, 6, 9, 30, tzinfo=UTC)


def add_report_records(url: str) -> None:
    register_models(url, load_config(settings.config_dir()), {"credit_approval": []})
    with store.session_scope(url) as session:
        session.add(
            daily_record("credit_approval", datetime(2025, 3, 5, tzinfo=UTC), composite_score=0.8)
        )
        session.add(
            Incident(
                ref=INCIDENT_REF,
                model_id="credit_approval",
                category="fairness_drift",
                metric="disparate_impact_ratio",
                severity="CRITICAL",
                priority="P0",
                status="open",
                dedup_key="credit_approval:disparate_impact_ratio",
                open_dedup_key="credit_approval:disparate_impact_ratio",
                title="CRITICAL fairness drift on credit_approval",
                opened_at=OPENED_AT,
            )
        )


def daily_record(
    model_id: str, day: datetime, *, status: str = "succeeded", **fields: object
) -> MonitoringRun:
    """A scheduled daily analysis of ``day`` with a CRITICAL verdict (a failed one is recorded
    CRITICAL too), written the day after."""
    return MonitoringRun(
        model_id=model_id,
        run_key=f"daily/{day:%Y-%m-%d}",
        cadence="daily",
        checks=[],
        interval_start=day,
        interval_end=day + timedelta(days=1),
        status=status,
        severity="CRITICAL",
        started_at=day + timedelta(days=1),
        finished_at=day + timedelta(days=1),
        **fields,
    )


def pdf_text(pdf: bytes) -> str:
    """The text a PDF written by govflow shows: its page streams inflated, the strings of
    their text operators unescaped, one per line."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        content = zlib.decompress(stream).decode("latin-1")
        for text in re.findall(r"\(((?:\\.|[^\\)])*)\) Tj", content):
            shown.append(re.sub(r"\\(.)", r"\1", text))
    return "\n".join(shown)


def pdf_pages(pdf: bytes) -> int:
    """The number of page objects in a PDF."""
    return len(re.findall(rb"/Type /Page(?![a-z])", pdf))
