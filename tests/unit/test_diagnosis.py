"""Seed 004 sections 3.3 and 3.4: the automated diagnoses of an incident, on the seeded demo
(35 days, seed 7). Scenario days come from the demo's manifest, never from this file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.demo import DemoManifest
from govflow.flows.monitoring import run_monitoring
from govflow.incidents.diagnosis import (
    NO_SOURCE_RUN,
    UNKNOWN_DIAGNOSIS,
    baseline_age,
    data_quality_status,
    diagnose,
    moved_features_and_groups,
    recent_changes,
)
from govflow.incidents.lifecycle import open_incident, open_incidents_for_run
from govflow.store.schema import AuditEvent, Incident, IncidentEvent, MonitoringRun
from tests.support.demo_store import seeded_store_copy

CHECKS = ("data_drift", "fairness_drift", "model_drift")


@dataclass(frozen=True)
class Demo:
    db_url: str
    incidents: dict[str, int]


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(settings.config_dir())


def analyse(config: GovflowConfig, data_dir: str, db_url: str, day, run_key: str) -> list[tuple]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    summary = run_monitoring(
        "credit_approval",
        start=start,
        end=start + timedelta(days=1),
        checks=CHECKS,
        cadence="on_demand",
        run_key=run_key,
        config=config,
        data_dir=Path(data_dir),
        db_url=db_url,
        write_report=False,
    )
    with store.session_scope(db_url) as session:
        run = session.get_one(MonitoringRun, summary.run_id)
        return [
            (i.id, i.metric, i.category, i.priority, i.severity, i.status, i.assigned_to)
            for i in open_incidents_for_run(session, config, run)
        ]


@pytest.fixture(scope="module")
def demo(seeded_demo, tmp_path_factory, config) -> Demo:
    """The seeded store copied (its logs are only read), analysed on the first
    fairness-drift day and then on the malformed day; each opens its incidents."""
    data_dir, _ = seeded_demo
    db_url = seeded_store_copy(seeded_demo, tmp_path_factory.mktemp("diagnosis") / "govflow.db")
    manifest = DemoManifest.load(Path(data_dir))
    fairness_day = manifest.scenarios["fairness_drift"][0]
    malformed_day = manifest.scenarios["malformed"][0]
    opened = analyse(config, data_dir, db_url, fairness_day, "test_diagnosis/fairness")
    opened += analyse(config, data_dir, db_url, malformed_day, "test_diagnosis/malformed")
    return Demo(db_url, {metric: incident_id for incident_id, metric, *_ in opened})


def findings_of(demo: Demo, config: GovflowConfig, diagnosis, metric: str) -> dict:
    with store.session_scope(demo.db_url) as session:
        return diagnosis(session, config, session.get_one(Incident, demo.incidents[metric]))


def test_the_fairness_drift_and_malformed_days_open_the_incidents_the_policy_calls_for(demo):
    with store.session_scope(demo.db_url) as session:
        opened = [
            (i.metric, i.category, i.priority, i.severity, i.status, i.assigned_to)
            for i in session.scalars(select(Incident).order_by(Incident.id))
        ]

    assert opened == [
        ("wasserstein_distance_normalised", "data_drift", "P1", "CRITICAL", "open", "lena"),
        ("disparate_impact_ratio", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        ("demographic_parity_drift", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        # The malformed day judges the labels that arrived for the second fairness-drift day
        # (credit's label delay is 5 days): the shift shows in the gaps of TPR and FPR.
        ("equal_opportunity_difference", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        ("false_positive_rate_difference", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        ("equalized_odds_difference", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        ("equal_opportunity_drift", "fairness_drift", "P0", "CRITICAL", "open", "carol"),
        ("data_quality_gate", "data_quality", "P1", "CRITICAL", "open", "lena"),
    ]


def test_the_moved_features_and_groups_of_the_fairness_drift_day_are_ranked_worst_first(
    demo, config
):
    found = findings_of(demo, config, moved_features_and_groups, "disparate_impact_ratio")

    assert [
        (
            f["feature"],
            f["severity"],
            f["worst_metric"],
            f["band_position"],
            f["psi"],
            f["kl_divergence"],
            f["wasserstein_distance_normalised"],
        )
        for f in found["features"]
    ] == [
        (
            "credit_score",
            "CRITICAL",
            "wasserstein_distance_normalised",
            1.522207,
            0.126857,
            0.061243,
            0.378331,
        ),
        (
            "debt_to_income",
            "WARNING",
            "wasserstein_distance_normalised",
            0.60061,
            0.049176,
            0.024265,
            0.240091,
        ),
    ]
    assert found["stable_features"] == 13
    assert [
        (
            g["attribute"],
            g["metric"],
            g["severity"],
            g["value"],
            g["band_position"],
            g["min_group"],
            g["max_group"],
            g["baseline"],
        )
        for g in found["groups"]
    ] == [
        # gender's own parity drift: its extreme pair is female with the non-binary
        # applicants of the day (34 rows), but female against male (935 and 1,031 rows)
        # shows the change
        (
            "gender",
            "demographic_parity_drift",
            "CRITICAL",
            0.288504,
            4.770081,
            "female",
            "non_binary",
            0.014269,
        ),
        (
            "gender&age_band",
            "demographic_parity_drift",
            "CRITICAL",
            0.286037,
            4.720739,
            "female&61+",
            "male&61+",
            0.017837,
        ),
        (
            "gender&age_band",
            "disparate_impact_ratio",
            "CRITICAL",
            0.586102,
            3.37664,
            "female&61+",
            "male&61+",
            None,
        ),
        (
            "gender",
            "disparate_impact_ratio",
            "CRITICAL",
            0.602611,
            3.193211,
            "female",
            "non_binary",
            None,
        ),
    ]
    assert found["model"] == []
    assert found["summary"] == (
        "2 features and 4 group metrics moved; features: credit_score "
        "(wasserstein_distance_normalised CRITICAL), debt_to_income "
        "(wasserstein_distance_normalised WARNING); groups: demographic_parity_drift "
        "gender = 0.288504, demographic_parity_drift gender&age_band = 0.286037, "
        "disparate_impact_ratio gender&age_band = 0.586102"
    )


def test_recent_changes_name_the_demo_registrations_stage_changes_and_baseline(demo, config):
    found = findings_of(demo, config, recent_changes, "disparate_impact_ratio")
    with store.session_scope(demo.db_url) as session:
        incident = session.get_one(Incident, demo.incidents["disparate_impact_ratio"])
        nothing = recent_changes(session, config, incident, days=0)

    assert [(v["version"], v["status"], v["created_by"]) for v in found["model_versions"]] == [
        ("0.9.0", "approved", "olivia"),
        ("1.0.0", "approved", "olivia"),
    ]
    assert [(s["version"], s["stage"], s["deployed_by"]) for s in found["stage_changes"]] == [
        ("0.9.0", "retired", "govflow-demo"),
        ("1.0.0", "production", "govflow-demo"),
    ]
    assert [(b["version"], b["kind"], b["is_active"]) for b in found["baselines"]] == [
        ("2025-03-01-v1", "deploy", True)
    ]
    assert (found["deployments"], found["config_changes"]) == ([], [])
    assert found["counts"] == {
        "model_versions": 2,
        "stage_changes": 2,
        "deployments": 0,
        "baselines": 1,
        "config_changes": 0,
    }
    assert nothing["counts"] == dict.fromkeys(found["counts"], 0)


def test_the_baseline_is_23_days_old_at_the_end_of_the_fairness_drift_day(demo, config):
    found = findings_of(demo, config, baseline_age, "disparate_impact_ratio")

    assert {key: value for key, value in found.items() if key != "created_by"} == {
        "model_id": "credit_approval",
        "active_version": "2025-03-01-v1",
        "kind": "deploy",
        "model_version": "1.0.0",
        "created_on": "2025-03-01",
        "as_of": "2025-03-24",
        "age_days": 23,
        "next_quarterly_review": "2025-04-01",
        "days_to_quarterly_review": 8,
        "judged_against": "2025-03-01-v1",
        "judged_against_active": True,
        "summary": "baseline 2025-03-01-v1 (deploy) is 23 days old on 2025-03-24; next "
        "quarterly review 2025-04-01",
    }


def test_the_data_quality_status_names_every_problem_of_the_malformed_day(demo, config):
    malformed = findings_of(demo, config, data_quality_status, "data_quality_gate")
    fairness = findings_of(demo, config, data_quality_status, "disparate_impact_ratio")

    gate = malformed["source_run"]
    # The 20 rows of an unknown region stay usable: drift counts them in a bin of their own.
    assert (gate["passed"], gate["row_count"], gate["usable_row_count"]) == (False, 2000, 1920)
    assert gate["unusable_columns"] == ["months_at_address"]
    assert [
        (f["check"], f["columns"], f["unexpected_count"], f["severity_hint"])
        for f in gate["findings"]
    ] == [
        ("column_exists", ["months_at_address"], 2000, "CRITICAL"),
        ("duplicates", ["prediction_id"], 20, "WARNING"),
        ("type", ["income"], 20, "WARNING"),
        ("range", ["loan_amount"], 20, "WARNING"),
        ("range", ["debt_to_income"], 20, "WARNING"),
        ("categories", ["region"], 20, "WARNING"),
        ("nulls", ["score"], 20, "WARNING"),
    ]
    assert malformed["summary"] == (
        "gate of the incident's run: failed (7 findings); newest run: failed (7 findings)"
    )
    assert fairness["source_run"]["passed"] is True
    assert fairness["latest_is_source"] is False
    assert fairness["summary"] == (
        "gate of the incident's run: passed; newest run: failed (7 findings)"
    )


def test_posting_a_diagnosis_twice_keeps_one_event_and_one_audit_event(demo, config):
    incident_id = demo.incidents["demographic_parity_drift"]
    posted = []
    for _ in range(2):
        with store.session_scope(demo.db_url) as session:
            incident = session.get_one(Incident, incident_id)
            posted.append(diagnose(session, config, incident, "baseline_age", actor="govflow"))

    with store.session_scope(demo.db_url) as session:
        events = session.scalars(
            select(IncidentEvent).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "diagnosis"
            )
        ).all()
        audits = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "incident.diagnosis",
                AuditEvent.idempotency_key == f"incident:{incident_id}:diagnosis:baseline_age",
            )
        ).all()
        stored = [(e.event_key, e.payload["name"], e.payload["findings"]) for e in events]
        note = events[0].note
    assert posted[0] == posted[1]
    assert stored == [("diagnosis:baseline_age", "baseline_age", posted[0])]
    assert note == f"baseline_age: {posted[0]['summary']}"
    assert len(audits) == 1


def test_an_unknown_diagnosis_is_refused_by_name(demo, config):
    with pytest.raises(ValueError) as refused, store.session_scope(demo.db_url) as session:
        incident = session.get_one(Incident, demo.incidents["disparate_impact_ratio"])
        diagnose(session, config, incident, "horoscope", actor="govflow")

    assert str(refused.value) == UNKNOWN_DIAGNOSIS.format(
        name="horoscope",
        expected="moved_features_and_groups, recent_changes, baseline_age, data_quality_status",
    )


def test_an_incident_no_monitoring_run_raised_has_nothing_to_compare(demo, config):
    with store.session_scope(demo.db_url) as session:
        incident, _ = open_incident(
            session,
            config,
            model_id="credit_approval",
            category="baseline_reset",
            metric="baseline:2025-03-24-v1",
            severity="INFO",
            title="Baseline reset",
            actor="lena",
        )
        found = moved_features_and_groups(session, config, incident)

    assert found == {
        "source_run": None,
        "features": [],
        "stable_features": 0,
        "groups": [],
        "model": [],
        "summary": NO_SOURCE_RUN,
    }


def test_the_art_73_report_of_the_fairness_incident_shows_its_15_day_deadline(
    demo, monkeypatch, tmp_path
):
    """Issue 15 item 3 (the incident report only): drawn from the records, reproducible."""
    from typer.testing import CliRunner

    from govflow.cli import app

    with store.session_scope(demo.db_url) as session:
        incident = session.get_one(Incident, demo.incidents["disparate_impact_ratio"])
        ref, opened_at = incident.ref, incident.opened_at
    as_of = (opened_at + timedelta(days=3)).isoformat()
    # Drawn three days after awareness: an --as-of still to come is refused.
    monkeypatch.setattr("govflow.flows.reports.utcnow", lambda: opened_at + timedelta(days=3))
    monkeypatch.setenv("GOVFLOW_DB_URL", demo.db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))

    first = CliRunner().invoke(app, ["report", "incident", ref, "--as-of", as_of])
    again = CliRunner().invoke(app, ["report", "incident", ref, "--as-of", as_of])
    urgent = CliRunner().invoke(
        app, ["report", "incident", ref, "--as-of", as_of, "--gravity", "widespread"]
    )

    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    report = first.stdout
    assert f"# Serious-incident report (initial) - {ref}" in report
    deadline = opened_at + timedelta(days=15)
    assert f"- Deadline: {deadline:%Y-%m-%d %H:%M} UTC (Art. 73(2): 15 days" in report
    assert "- Days left: 12.0" in report
    assert "fairness_drift disparate_impact_ratio of gender:" in report
    assert "rows per group female" in report
    assert "INCIDENT ALERT - CRITICAL" in report
    assert "- Days left: OVERDUE by 1.0 days" in urgent.stdout
    # Each report drawn is a file, its path and hash audited: the newest beside the first,
    # which is never drawn over (an earlier alert links it).
    kept = tmp_path / "reports" / "incidents"
    assert (kept / f"{ref}-initial-2.md").read_text() in urgent.stdout
    assert (kept / f"{ref}-initial.md").read_text() in first.stdout


def test_the_monthly_executive_summary_names_the_critical_model_and_the_incidents(
    demo, monkeypatch, tmp_path
):
    """Issue 15 item 3 (the executive summary): the records' month and the incidents' month."""
    from typer.testing import CliRunner

    from govflow.cli import app

    with store.session_scope(demo.db_url) as session:
        incident = session.get_one(Incident, demo.incidents["disparate_impact_ratio"])
        ref, opened_month = incident.ref, f"{incident.opened_at:%Y-%m}"
    monkeypatch.setenv("GOVFLOW_DB_URL", demo.db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))

    march = CliRunner().invoke(app, ["report", "executive", "--month", "2025-03"])
    detected = CliRunner().invoke(app, ["report", "executive", "--month", opened_month])
    wrong = CliRunner().invoke(app, ["report", "executive", "--month", "March"])

    assert march.exit_code == 0, march.output
    rows = {line.split(" | ")[0].strip("| "): line for line in march.stdout.splitlines()}
    assert re.search(r"\| CRITICAL [1-9]", rows["credit_approval"]), rows["credit_approval"]
    assert "CRITICAL findings on credit_approval" in march.stdout
    named = f"- {ref} P0 CRITICAL credit_approval disparate_impact_ratio: "
    assert f"{named}open at the month's end" in detected.stdout
    # Opened today about March's data: listed, but not counted open at March's end.
    assert f"{named}not yet open at the month's end; open now" in march.stdout
    assert "<svg" in (tmp_path / "reports" / "executive" / "2025-03.html").read_text()
    assert (wrong.exit_code, wrong.stderr) == (
        2,
        "Invalid value for --month: 'March' is not a month (YYYY-MM) "
        "(see 'root report executive --help')\n",
    )


def test_the_quarterly_compliance_report_names_coverage_gaps_the_80_rule_and_the_incidents(
    demo, monkeypatch, tmp_path
):
    """Issue 15 item 3 (the compliance report): Art. 72 coverage with its gaps, Art. 10's 80 %
    rule table, Art. 73's incidents with their SLA figures, Art. 12's audit chain."""
    from typer.testing import CliRunner

    from govflow.cli import app

    with store.session_scope(demo.db_url) as session:
        incident = session.get_one(Incident, demo.incidents["disparate_impact_ratio"])
        ref, opened = incident.ref, incident.opened_at
    detected = f"{opened.year}Q{(opened.month - 1) // 3 + 1}"
    monkeypatch.setenv("GOVFLOW_DB_URL", demo.db_url)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))

    first = CliRunner().invoke(app, ["report", "compliance", "--quarter", "2025Q1"])
    incidents = CliRunner().invoke(app, ["report", "compliance", "--quarter", detected])
    wrong = CliRunner().invoke(app, ["report", "compliance", "--quarter", "2025-Q5"])

    assert first.exit_code == 0, first.output
    report = first.stdout
    # The fixture's analyses are on demand, not the scheduled daily monitoring: from the
    # model's first analysed day to the quarter's end, every day is named as missing.
    row = next(line for line in report.splitlines() if line.startswith("| credit_approval | high"))
    assert row.endswith(
        "| 0 | 0.0 % | 03-23, 03-24, 03-25, 03-26, 03-27, 03-28, 03-29, 03-30, 03-31 |"
    )
    # The lowest DI with the evidence its verdict rested on.
    assert re.search(
        r"\| credit_approval \| gender \| \d+ \| 0\.\d{3} \(interval 0\.\d{3}-[01]\.\d{3}, "
        r"smallest group compared non_binary \d+ rows(, \d+ days pooled)?\) \| 0\.\d{3} \| "
        r".*CRITICAL",
        report,
    )
    assert "audit chain intact" in report
    # The incident is opened today about a window of March 2025: the quarter of the data
    # and the quarter of the opening both name it, with its opening time for the SLA figures.
    # Each as it stood at the quarter's end: the quarter of the data ended before it was open.
    named = f"  - {ref} CRITICAL credit_approval disparate_impact_ratio: "
    opening = f", opened {opened:%Y-%m-%d}"
    assert f"{named}not yet open at the quarter's end; open now{opening}" in report
    assert f"{named}open at the quarter's end{opening}" in incidents.stdout
    assert "none acknowledged" in incidents.stdout
    assert (wrong.exit_code, wrong.stderr) == (
        2,
        "Invalid value for --quarter: '2025-Q5' is not a quarter (YYYYQ1 to YYYYQ4) "
        "(see 'root report compliance --help')\n",
    )
