"""The governance dashboard's pages at fleet size (issue 16 item 6): server time and browser load.

    .venv/bin/python benchmarks/dashboard.py [--models 200] [--days 365] [--requests 30]
    .venv/bin/python benchmarks/dashboard.py --quick --no-browser      # the smoke test's size

1. **Store** (untimed): a fresh SQLite governance store in a temporary directory and a copy of
   config/ whose models.yaml lists ``--models`` clones of the three demo models. Each model is
   registered through the registry, then a year (``--days``) of daily monitoring records is
   written in bulk through the ORM's insert: the checks its tier's cadences make due that
   day, the metric results a real run records (PSI and KL of 15 features, Wasserstein of the
   10 numerical ones, 8 fairness metrics for gender, age_band and their intersection with
   intervals and group sizes, 4 model-drift metrics, SHAP rank correlation), with the
   composite score and the day's per-group counts (``group_counts(...).to_dict()`` per
   subject and window, about 10 KB a record, as the pooling of fairness keeps them).
   Beside them, from the same seeded random generator: incidents with their events (a few
   open, most resolved), risk acceptances, a deployment per model and quarter with its
   steps, approvals and rollout stages (the newest of every fourth model still waiting for
   approvals), two days of the gateway's per-minute counters (with latency buckets, and
   their hourly sums as the gateway's writer keeps them) and feedback, and the
   hash-chained audit trail those writes leave (one event per record, the reports'
   ``report.*_generated`` events), chained by the library's own ``event_hash``.
2. **Server time**: the app of ``create_dashboard_app`` in this process through Starlette's
   TestClient, as ``admin`` (a fixed ``current_user``, as the unit tests do: Airflow's login
   is not in the loop), the clock fixed at the end of the year. Each page and its JSON twin:
   one first request (the Audit page's first view walks the whole chain), then
   ``--requests`` timed requests; median and p95 against the seed's 300 ms, and the median
   CPU time of this process per request (which other work on a shared machine does not
   inflate the way it inflates the wall time).
3. **Browser**: the same app served by uvicorn in a child process on a free 127.0.0.1 port
   (stopped by its pid at the end), each page loaded in headless Chromium
   (/usr/bin/chromium through Playwright) once to warm up and ``--loads`` times measured;
   the navigation timing (responseEnd, domContentLoadedEventEnd, loadEventEnd, from the
   navigation's start) against the seed's 2 s.

Printed at the end: the peak memory of this process and of the server (VmHWM), the CPU time
every other process used meanwhile (the machine may be shared), and the last line
``dashboard: models=<N> days=<D> worst_page=<path> worst_p95_ms=<x> worst_load_ms=<y>``
(``worst_load_ms=skipped`` with ``--no-browser``). ``tests/unit/test_dashboard_benchmark.py``
runs ``--quick --no-browser`` and checks the format, never a time.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_busy_seconds

# Headless Chromium as the browser tests launch it (tests/support/browser.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.browser import CHROMIUM, VIEWPORT, launch_chromium

REPO = Path(__file__).resolve().parents[1]
ADMIN = "admin"
START = datetime(2025, 1, 1, tzinfo=UTC)
SERVER_TARGET_MS = 300.0
BROWSER_TARGET_MS = 2000.0
READY_TIMEOUT_S = 60.0
# The pages as a person opens them; /fairness shows its default 30 days, the extra row a year.
PAGES = (
    "/drift",
    "/fairness",
    "/fairness?days=365",
    "/health",
    "/incidents",
    "/deployments",
    "/audit",
    "/actions",
    "/reports",
)
FAIRNESS_SUBJECTS = {
    "gender": ("female", "male", "non_binary"),
    "age_band": ("18-25", "26-40", "41-60", "61+"),
    "gender&age_band": ("female&18-25", "male&18-25", "female&26-40", "male&26-40"),
}
FAIRNESS = (
    "demographic_parity_drift",
    "equal_opportunity_drift",
    "disparate_impact_ratio",
    "false_positive_rate_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "predictive_parity_difference",
    "calibration_gap",
)
MODEL_DRIFT = (
    "accuracy_drop",
    "prediction_distribution_shift",
    "output_entropy_change",
    "label_drift",
)
INCIDENT_METRICS = (
    ("disparate_impact_ratio", "fairness_drift"),
    ("psi", "data_drift"),
    ("accuracy_drop", "model_drift"),
)
SEVERITIES = ("INFO",) * 17 + ("WARNING", "WARNING", "CRITICAL")


# --- 1. the store -----------------------------------------------------------------------------


def write_config(config_dir: Path, count: int) -> list[str]:
    """A copy of config/ whose models.yaml lists ``count`` clones of the demo models."""
    shutil.copytree(REPO / "config", config_dir)
    demo = yaml.safe_load((config_dir / "models.yaml").read_text())["models"]
    clones = [
        {**demo[i % len(demo)], "id": f"{demo[i % len(demo)]['id']}_{i:03d}"} for i in range(count)
    ]
    (config_dir / "models.yaml").write_text(
        "# Written by benchmarks/dashboard.py: clones of the three demo models.\n"
        + yaml.safe_dump({"models": clones}, sort_keys=False)
    )
    return [clone["id"] for clone in clones]


def due_checks(cadences: Any, day: datetime) -> list[str]:
    """The check families a tier's cadences make due on ``day`` (weekly on Sundays,
    biweekly on even ISO weeks' Sundays, monthly on the 1st)."""
    sunday = day.weekday() == 6
    due = {
        "daily": True,
        "weekly": sunday,
        "biweekly": sunday and day.isocalendar().week % 2 == 0,
        "monthly": day.day == 1,
    }
    return [check for check, cadence in cadences.model_dump().items() if due[cadence]]


def metric_rows(rng: random.Random, run_id: int, checks: list[str]) -> Iterator[dict[str, Any]]:
    """The metric results a run of ``checks`` records, in the shapes the pages read."""
    from govflow.demo.applicants import FEATURE_COLUMNS, NUMERIC_FEATURES

    def row(check: str, metric: str, subject: str, **details: Any) -> dict[str, Any]:
        severity = rng.choice(SEVERITIES)
        status = "inconclusive" if rng.random() < 0.03 else "computed"
        return {
            "monitoring_run_id": run_id,
            "check_type": check,
            "metric": metric,
            "subject": subject,
            "value": round(rng.random(), 4),
            "status": status,
            "severity": severity,
            "threshold": {},
            "details": details,
        }

    if "data_drift" in checks:
        for feature in FEATURE_COLUMNS:
            yield row("data_drift", "psi", feature)
            yield row("data_drift", "kl_divergence", feature)
        for feature in NUMERIC_FEATURES:
            yield row("data_drift", "wasserstein_distance_normalised", feature)
    if "fairness_drift" in checks:
        for subject, groups in FAIRNESS_SUBJECTS.items():
            sizes = {group: rng.randint(10, 900) for group in groups}
            for metric in FAIRNESS:
                low = round(rng.random() * 0.8, 3)
                yield row(
                    "fairness_drift",
                    metric,
                    subject,
                    ci_low=low,
                    ci_high=low + 0.1,
                    group_sizes=sizes,
                    message="",
                )
    if "model_drift" in checks:
        for metric in MODEL_DRIFT:
            yield row("model_drift", metric, "")
    if "explanation_drift" in checks:
        yield row("explanation_drift", "shap_rank_correlation", "")


def fairness_counts(rng: random.Random, rows: int = 2000) -> dict[str, Any]:
    """A day's per-group counts as a record keeps them (``group_counts(...).to_dict()`` per
    subject and window), from ``rows`` random applicants: what the ORM loads with a run."""
    import numpy as np

    from govflow.metrics.fairness import group_counts

    draw = np.random.default_rng(rng.randrange(2**32))
    label, prediction, score = (
        draw.integers(0, 2, rows),
        draw.integers(0, 2, rows),
        draw.random(rows),
    )
    counts: dict[str, Any] = {}
    for subject, groups in FAIRNESS_SUBJECTS.items():
        members = draw.choice(np.array(groups, dtype=object), rows)
        found = group_counts(label, prediction, sensitive_features=members, scores=score)
        counts[subject] = {"current": found.to_dict(), "labels_arrived": found.to_dict()}
    return counts


class AuditTrail:
    """The events the writes leave, chained with the library's own hash, inserted in bulk."""

    def __init__(self, seq: int, head: str) -> None:
        self.seq, self.hash = seq, head
        self.pending: list[Any] = []

    def add(self, when: datetime, actor: str, action: str, target: str, **payload: Any) -> None:
        from govflow.audit.chain import HASH_VERSION, event_hash, jsonable
        from govflow.store.schema import AuditEvent

        self.seq += 1
        event = AuditEvent(
            hash_version=HASH_VERSION,
            seq=self.seq,
            event_id=f"00000000-0000-4000-8000-{self.seq:012d}",
            idempotency_key=None,
            occurred_at=when,
            actor=actor,
            action=action,
            target=target,
            severity="INFO",
            payload=jsonable(payload),
            prev_hash=self.hash,
        )
        event.hash = self.hash = event_hash(event.prev_hash, event)
        self.pending.append(event)

    def flush(self, session: Any) -> None:
        from sqlalchemy import insert

        from govflow.store.schema import AuditEvent

        columns = [column.key for column in AuditEvent.__table__.columns]
        if self.pending:
            session.execute(
                insert(AuditEvent),
                [{name: getattr(event, name) for name in columns} for event in self.pending],
            )
            self.pending = []


def _incidents(
    rng: random.Random, model_id: str, run_ids: list[int], now: datetime, number: int
) -> list[dict[str, Any]]:
    """About one incident every 20 days; those of the last ten days still unresolved."""
    found = []
    for day, run_id in enumerate(run_ids):
        if rng.random() >= 0.05:
            continue
        number += 1
        opened = START + timedelta(days=day + 1, hours=2, minutes=rng.randint(0, 59))
        recent = now - opened < timedelta(days=10)
        status = rng.choice(("open", "acknowledged")) if recent else "closed"
        ref = f"INC-{number:05d}"
        metric, category = rng.choice(INCIDENT_METRICS)
        found.append(
            {
                "ref": ref,
                "model_id": model_id,
                "category": category,
                "metric": metric,
                "severity": "CRITICAL",
                "priority": rng.choice(("P0", "P1", "P2")),
                "status": status,
                "dedup_key": f"{model_id}/{metric}/{ref}",
                "open_dedup_key": f"{model_id}/{metric}/{ref}" if recent else None,
                "title": f"{metric} CRITICAL on {model_id}",
                "summary": "",
                "owner": "olivia",
                "assigned_to": "eve" if status == "acknowledged" else None,
                "source_run_id": run_id,
                "details": {},
                "opened_at": opened,
                "acknowledged_at": None if status == "open" else opened + timedelta(minutes=20),
                "resolved_at": None if recent else opened + timedelta(days=3),
                "closed_at": None if recent else opened + timedelta(days=5),
                "postmortem_due": opened + timedelta(days=7),
            }
        )
    return found


def _deployments(model_id: str, now: datetime, active: bool) -> list[dict[str, Any]]:
    """A deployment per quarter; the newest one of an ``active`` model waits for approvals."""
    found = []
    for quarter in range(4):
        created = START + timedelta(days=91 * quarter + 10)
        waiting = active and quarter == 3
        found.append(
            {
                "ref": f"DEP-{model_id}-{quarter + 1}",
                "dag_run_id": f"manual__{model_id}_{quarter + 1}",
                "model_id": model_id,
                "model_version": f"1.{quarter}.0",
                "deployment_type": "update",
                "environment": "production",
                "justification": "quarterly retraining",
                "requested_by": "eve",
                "status": "in_progress" if waiting else "authorised",
                "go_live": None if waiting else "GREEN",
                "recommendation": None if waiting else "GO",
                "report_path": f"reports/readiness/DEP-{model_id}-{quarter + 1}.md",
                "details": {
                    "approvals_requested_at": created.isoformat(),
                    "requests": {
                        "approvals": [
                            {
                                "role": role,
                                "subject": f"Approve {model_id} 1.{quarter}.0",
                                "assignees": [{"id": person}, {"id": ADMIN}],
                            }
                            for role, person in (("system_owner", "olivia"), ("cto", "tom"))
                        ]
                    },
                    "rollout": {} if waiting else {"stage": "full", "traffic_share": 1.0},
                },
                "created_at": created,
                "closed_at": None if waiting else created + timedelta(days=20),
            }
        )
    return found


def gateway_latency(rng: random.Random) -> dict[str, int]:
    """One minute's latency columns for its 40 predict calls: 12 within 5 ms, 18 within 10,
    9 within 25 and one within 50, except that about one minute in three has one of the 25 ms
    calls take 180 ms instead."""
    from govflow.store.schema import LATENCY_BUCKET_COLUMNS

    slow = int(rng.random() < 0.3)
    counts = [12, 18, 9 - slow, 1, 0, slow, 0, 0, 0, 0]
    typical_ms = (3, 7, 15, 40, 0, 180, 0, 0, 0, 0)
    return {
        "latency_us_sum": 1000 * sum(n * ms for n, ms in zip(counts, typical_ms, strict=True)),
        **dict(zip(LATENCY_BUCKET_COLUMNS, counts, strict=True)),
    }


def fill_store(db_url: str, config_dir: Path, model_ids: list[str], days: int, seed: int) -> Any:
    """The store of section 1 of the docstring; returns the counts of what it wrote."""
    from collections import Counter

    from sqlalchemy import insert, select

    from govflow import store
    from govflow.audit import record_event
    from govflow.audit.chain import chain_head
    from govflow.config import load_config
    from govflow.registry import register_model
    from govflow.store.schema import (
        SERVING_COUNT_COLUMNS,
        Deployment,
        DeploymentApproval,
        DeploymentStep,
        Incident,
        IncidentEvent,
        MetricResult,
        MonitoringRun,
        RiskAcceptance,
        RolloutStage,
        ServingFeedback,
        ServingStat,
    )
    from govflow.store.serving_hours import add_to_hours

    rng = random.Random(seed)
    now = START + timedelta(days=days, hours=6)
    config = load_config(config_dir)
    store.ensure_schema(db_url)
    with store.session_scope(db_url) as session:
        for model in config.models.models:
            register_model(
                session,
                model_id=model.id,
                model_type=model.type,
                risk_tier=model.risk_tier,
                owner=model.owner,
                business_purpose=model.business_purpose,
                actor="benchmark",
            )
    counts: Counter[str] = Counter()
    run_id = incident_number = 0
    with store.session_scope(db_url) as session:
        trail = AuditTrail(*chain_head(session))
    # A model a transaction: SQLite's WAL stays small.
    for index, model_id in enumerate(model_ids):
        with store.session_scope(db_url) as session:
            cadences = config.policy.monitoring.cadence[config.models.get(model_id).risk_tier]
            counted = fairness_counts(rng)
            runs, metrics, run_ids = [], [], []
            for day in range(days):
                start = START + timedelta(days=day)
                end = start + timedelta(days=1)
                checks = due_checks(cadences, start)
                run_id += 1
                run_ids.append(run_id)
                runs.append(
                    {
                        "id": run_id,
                        "model_id": model_id,
                        "run_key": f"scheduled__{end.date()}",
                        "cadence": "daily",
                        "checks": checks,
                        "dag_id": "govflow_monitoring_daily",
                        "dag_run_id": f"scheduled__{end.isoformat()}",
                        "interval_start": start,
                        "interval_end": end,
                        "baseline_version": "2025-01-01-v1",
                        "status": "succeeded",
                        "severity": rng.choice(SEVERITIES),
                        "composite_score": round(rng.random() * 0.5, 3),
                        "composite_breakdown": {},
                        "fairness_counts": counted,
                        "historical": False,
                        "report_path": f"reports/drift/{model_id}/{end.date()}.html",
                        "started_at": end + timedelta(hours=2),
                        "finished_at": end + timedelta(hours=2, minutes=1),
                    }
                )
                metrics.extend(metric_rows(rng, run_id, checks))
                trail.add(
                    end + timedelta(hours=2, minutes=1),
                    "govflow",
                    "monitoring.run_recorded",
                    f"model:{model_id}",
                    run_key=f"scheduled__{end.date()}",
                    checks=checks,
                )
            session.execute(insert(MonitoringRun), runs)
            session.execute(insert(MetricResult), metrics)
            counts["monitoring_runs"] += len(runs)
            counts["metric_results"] += len(metrics)

            incidents = _incidents(rng, model_id, run_ids, now, incident_number)
            incident_number += len(incidents)
            if incidents:
                session.execute(insert(Incident), incidents)
                ids = dict(
                    session.execute(
                        select(Incident.ref, Incident.id).where(Incident.model_id == model_id)
                    ).all()
                )
                events = []
                for incident in incidents:
                    steps = [("opened", "open", incident["opened_at"])]
                    if incident["acknowledged_at"]:
                        steps.append(("acknowledged", "acknowledged", incident["acknowledged_at"]))
                    if incident["closed_at"]:
                        steps.append(("closed", "closed", incident["closed_at"]))
                    for kind, status, when in steps:
                        events.append(
                            {
                                "incident_id": ids[incident["ref"]],
                                "event_key": kind,
                                "kind": kind,
                                "actor": "govflow",
                                "to_status": status,
                                "note": "",
                                "payload": {},
                                "occurred_at": when,
                            }
                        )
                        trail.add(when, "govflow", f"incident.{kind}", incident["ref"])
                    if incident["closed_at"] and rng.random() < 0.3:
                        trail.add(
                            incident["closed_at"],
                            "govflow",
                            "report.incident_generated",
                            incident["ref"],
                            path=f"/data/reports/incidents/{incident['ref']}.html",
                        )
                session.execute(insert(IncidentEvent), events)
                if index % 5 == 0:
                    last = incidents[-1]
                    session.add(
                        RiskAcceptance(
                            incident_id=ids[last["ref"]],
                            model_id=model_id,
                            metric=last["metric"],
                            rationale="known seasonal shift",
                            requested_by="eve",
                            approved_by="rick" if index % 10 else None,
                            status="approved" if index % 10 else "requested",
                            suppression_until=now + timedelta(days=rng.randint(1, 20)),
                            severity="CRITICAL",
                            days=30,
                            created_at=last["opened_at"],
                        )
                    )
                counts["incidents"] += len(incidents)

            deployments = _deployments(model_id, now, active=index % 4 == 0)
            session.execute(insert(Deployment), deployments)
            for deployment in session.scalars(
                select(Deployment).where(Deployment.model_id == model_id)
            ):
                waiting = deployment.closed_at is None
                created = deployment.created_at
                session.execute(
                    insert(DeploymentStep),
                    [
                        {
                            "deployment_id": deployment.id,
                            "step": step,
                            "phase": (step - 1) // 5 + 1,
                            "name": f"step {step}",
                            "status": "passed",
                            "actor": "eve",
                            "evidence": {},
                            "completed_at": created + timedelta(hours=step),
                        }
                        for step in range(1, 10 if waiting else 21)
                    ],
                )
                for step in range(1, 10 if waiting else 21):
                    trail.add(
                        created + timedelta(hours=step),
                        "eve",
                        "deployment.step_recorded",
                        deployment.ref,
                        step=step,
                    )
                if waiting:
                    continue
                session.execute(
                    insert(DeploymentApproval),
                    [
                        {
                            "deployment_id": deployment.id,
                            "role": role,
                            "approver": person,
                            "decision": "approved",
                            "comment": "",
                            "decided_at": created + timedelta(days=2),
                            "details": {},
                        }
                        for role, person in (("system_owner", "olivia"), ("cto", "tom"))
                    ],
                )
                session.execute(
                    insert(RolloutStage),
                    [
                        {
                            "deployment_id": deployment.id,
                            "stage": stage,
                            "traffic_share": share,
                            "status": "passed",
                            "gate": {},
                            "decided_by": "dave",
                            "started_at": created + timedelta(days=3 + number),
                            "ended_at": created + timedelta(days=4 + number),
                        }
                        for number, (stage, share) in enumerate(
                            (("canary", 0.05), ("early", 0.25), ("half", 0.5), ("full", 1.0))
                        )
                    ],
                )
            counts["deployments"] += len(deployments)

            minutes = [now - timedelta(minutes=m) for m in range(1, 2 * 24 * 60 + 1)]
            stats = [
                {
                    "instance": "gateway-1",
                    "model_id": model_id,
                    "version": "1.3.0",
                    "minute": minute,
                    "requests": 40,
                    "errors": int(rng.random() < 0.02),
                    "invalid": 0,
                    "clipped": 0,
                    "fallbacks": int(rng.random() < 0.01),
                    **gateway_latency(rng),
                }
                for minute in minutes
            ]
            session.execute(insert(ServingStat), stats)
            # The hours' sums the gateway's writer keeps beside its minutes.
            add_to_hours(
                session,
                (
                    (
                        row["instance"],
                        row["model_id"],
                        row["version"],
                        row["minute"],
                        {name: row[name] for name in SERVING_COUNT_COLUMNS},
                    )
                    for row in stats
                ),
            )
            session.execute(
                insert(ServingFeedback),
                [
                    {
                        "model_id": model_id,
                        "version": "1.3.0",
                        "kind": rng.choice(("override", "complaint", "appeal")),
                        "severity": "INFO",
                        "details": "",
                        "recorded_by": "gateway",
                        "recorded_at": now - timedelta(hours=rng.randint(1, 24 * 30)),
                    }
                    for _ in range(30)
                ],
            )
            counts["serving_stats"] += len(minutes)
            trail.flush(session)
    with store.session_scope(db_url) as session:
        for week in range(days // 7):
            written = START + timedelta(days=7 * (week + 1), hours=5)
            for kind in ("compliance", "executive"):
                trail.add(
                    written,
                    "govflow",
                    f"report.{kind}_generated",
                    f"report:{kind}",
                    path=f"/data/reports/{kind}/{kind}-{written.date()}.html",
                )
        trail.flush(session)
    # One event through record_event, so the signed checkpoint covers the whole chain.
    with store.session_scope(db_url) as session:
        record_event(session, actor="benchmark", action="benchmark.store_filled", target="store")
        counts["audit_events"] = trail.seq + 1
    return counts


# --- 2. server time -----------------------------------------------------------------------------


def fixed_admin() -> str:
    """The dashboard's ``current_user``: always admin (Airflow's login is not measured)."""
    return ADMIN


def build_app(db_url: str, config_dir: Path, data_dir: Path, now: datetime) -> Any:
    from govflow.dashboard import create_dashboard_app

    def no_trigger(request: Any, *, user: str, dag_id: str, conf: dict[str, Any]) -> str:
        raise RuntimeError("the benchmark never presses Analyze Now")

    return create_dashboard_app(
        current_user=fixed_admin,
        trigger_analysis=no_trigger,
        run_url=lambda dag_id, run_id: f"/dags/{dag_id}/runs/{run_id}",
        db_url=db_url,
        config_dir=lambda: config_dir,
        data_dir=lambda: data_dir,
        clock=lambda: now,
    )


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 20 values is the 19th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def measure_server(app: Any, requests: int) -> dict[str, dict[str, float]]:
    """Per page and JSON twin: the first request, then the median and p95 of ``requests``."""
    from fastapi.testclient import TestClient

    figures = {}
    with TestClient(app) as client:
        for path in PAGES + tuple("/api" + page for page in PAGES):
            times, cpu = [], []
            for _ in range(requests + 1):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
            first, timed = times[0], times[1:]
            figures[path] = {
                "first": first,
                "median": statistics.median(timed),
                "p95": percentile(timed, 0.95),
                "cpu": statistics.median(cpu[1:]),
                "bytes": len(response.content),
            }
    return figures


def print_server(figures: dict[str, dict[str, float]], requests: int) -> None:
    print(f"\nserver time, in-process (TestClient) as {ADMIN}, {requests} requests per row")
    print(
        f"{'page':<26}{'first ms':>10}{'median ms':>11}{'p95 ms':>9}{'CPU ms':>8}{'KiB':>7}"
        "  300 ms p95"
    )
    for path, row in figures.items():
        verdict = "ok" if row["p95"] <= SERVER_TARGET_MS else "MISSED"
        print(
            f"{path:<26}{row['first']:>10.1f}{row['median']:>11.1f}{row['p95']:>9.1f}"
            f"{row['cpu']:>8.1f}{row['bytes'] / 1024:>7.0f}  {verdict}"
        )


# --- 3. the browser -----------------------------------------------------------------------------


def serve_main(arguments: argparse.Namespace) -> None:
    """The child process of section 3: the app under uvicorn on 127.0.0.1."""
    import uvicorn

    app = build_app(
        arguments.db_url,
        Path(arguments.config_dir),
        Path(arguments.data_dir),
        datetime.fromisoformat(arguments.now),
    )
    uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(db_url: str, config_dir: Path, data_dir: Path, now: datetime) -> Iterator[Any]:
    """(base URL, process) of the uvicorn child, stopped by its pid whatever happens."""
    import signal

    import httpx

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            *("--port", str(port), "--db-url", db_url, "--config-dir", str(config_dir)),
            *("--data-dir", str(data_dir), "--now", now.isoformat()),
        ],
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the dashboard server exited with {process.returncode}")
            try:
                if httpx.get(base + "/drift", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server did not answer in {READY_TIMEOUT_S} s")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


NAVIGATION = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {response: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd};
}"""


def measure_browser(base: str, loads: int) -> dict[str, dict[str, float]]:
    """Per page: the medians and the worst of ``loads`` navigations after one warm-up."""
    from playwright.sync_api import sync_playwright

    figures = {}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            for path in PAGES:
                timings = []
                for _ in range(loads + 1):
                    page.goto(base + path, wait_until="load")
                    timings.append(page.evaluate(NAVIGATION))
                measured = timings[1:]
                figures[path] = {
                    **{k: statistics.median(t[k] for t in measured) for k in ("response", "dom")},
                    "load": statistics.median(t["load"] for t in measured),
                    "worst_load": max(t["load"] for t in measured),
                }
        finally:
            browser.close()
    return figures


def print_browser(figures: dict[str, dict[str, float]], loads: int) -> None:
    print(
        f"\nbrowser: headless Chromium ({CHROMIUM}), uvicorn on 127.0.0.1, as {ADMIN} "
        "(a fixed current_user: Airflow's login is not in the loop), "
        f"median of {loads} loads after one warm-up"
    )
    print(f"{'page':<26}{'responseEnd':>12}{'DOMContentLoaded':>18}{'load':>8}{'worst':>8}  2 s")
    for path, row in figures.items():
        verdict = "ok" if row["worst_load"] <= BROWSER_TARGET_MS else "MISSED"
        print(
            f"{path:<26}{row['response']:>12.0f}{row['dom']:>18.0f}{row['load']:>8.0f}"
            f"{row['worst_load']:>8.0f}  {verdict}"
        )


# --- the run ------------------------------------------------------------------------------------


def peak_memory_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def cpu_seconds(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--loads", type=int, default=5, help="timed browser loads per page")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="5 models, 30 days, 3 requests")
    parser.add_argument("--no-browser", action="store_true", help="server time only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # The server child of section 3.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    for internal in ("--port", "--db-url", "--config-dir", "--data-dir", "--now"):
        parser.add_argument(internal, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.models, arguments.days, arguments.requests, arguments.loads = 5, 30, 3, 2
    return arguments


def run(arguments: argparse.Namespace, root: Path) -> None:
    busy_before, own_before = machine_busy_seconds(), cpu_seconds()
    config_dir, data_dir = root / "config", root / "data"
    data_dir.mkdir()
    db_url = f"sqlite:///{root / 'govflow.db'}"
    now = START + timedelta(days=arguments.days, hours=6)
    started = time.perf_counter()
    model_ids = write_config(config_dir, arguments.models)
    counts = fill_store(db_url, config_dir, model_ids, arguments.days, arguments.seed)
    size = (root / "govflow.db").stat().st_size / 2**20
    print(
        f"store: {arguments.models} models x {arguments.days} days (seed {arguments.seed}) in "
        f"{time.perf_counter() - started:.1f} s, {size:.0f} MiB: "
        + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())),
        flush=True,
    )
    server = measure_server(build_app(db_url, config_dir, data_dir, now), arguments.requests)
    print_server(server, arguments.requests)
    worst_page = max(server, key=lambda path: server[path]["p95"])
    worst_load = "skipped"
    server_peak = None
    if not arguments.no_browser:
        with running_server(db_url, config_dir, data_dir, now) as (base, process):
            browser = measure_browser(base, arguments.loads)
            server_peak = peak_memory_mib(process.pid)
        print_browser(browser, arguments.loads)
        worst_load = f"{max(row['worst_load'] for row in browser.values()):.0f}"
    own = cpu_seconds() - own_before
    others = machine_busy_seconds() - busy_before - own
    print(f"\npeak memory (VmHWM): this process {peak_memory_mib():.0f} MiB", end="")
    print("" if server_peak is None else f", uvicorn server {server_peak:.0f} MiB")
    print(
        f"CPU time: this process {own:.1f} s; other processes meanwhile {others:.1f} s on "
        f"{os.cpu_count()} cores (load average at the end: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + ")"
    )
    print(
        f"dashboard: models={arguments.models} days={arguments.days} worst_page={worst_page} "
        f"worst_p95_ms={server[worst_page]['p95']:.1f} worst_load_ms={worst_load}"
    )


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.serve:
        serve_main(arguments)
        return 0
    root = Path(tempfile.mkdtemp(prefix="govflow-dashbench-"))
    try:
        run(arguments, root)
    finally:
        if arguments.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
