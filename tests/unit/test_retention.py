"""Issue 15 items 1 and 2: retention per data type, enforced, and legal holds that no purge
passes (an open incident holds its evidence by itself)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner, Result

from govflow import settings, store
from govflow.audit import verify_chain
from govflow.cli import app
from govflow.config import load_config
from govflow.config.policy import RETAINED_DATA_TYPES
from govflow.monitoring.prediction_logs import partition_path
from govflow.retention.purge import run_retention
from govflow.rollout.routing import ServingStat as GatewayCounts
from govflow.rollout.routing import record_serving_stats
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Deployment,
    DeploymentApproval,
    DeploymentStep,
    Incident,
    LegalHold,
    MetricResult,
    Model,
    MonitoringRun,
    Route,
    ServingStat,
    ServingStatHour,
)

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_DAY = date(2025, 3, 1)
DAYS = 10
MODELS = {"credit_approval": "high", "marketing_propensity": "medium"}


def govflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="govflow")


@pytest.fixture
def records(fresh_store_env, tmp_path) -> Path:
    """Ten days of logs for two models (March 2025), an old record per day with its metric,
    old delivered alerts and serving counters, and a CRITICAL incident still open that came
    from the record of 2025-03-05."""
    url = fresh_store_env
    store.upgrade(url)
    with store.session_scope(url) as session:
        for model_id, tier in MODELS.items():
            session.add(
                Model(
                    id=model_id,
                    model_type="binary_classifier",
                    risk_tier=tier,
                    owner="olivia",
                    business_purpose="p",
                    created_by="test",
                )
            )
        session.flush()
        for model_id in MODELS:
            for offset in range(DAYS):
                day = FIRST_DAY + timedelta(days=offset)
                start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                log = partition_path(tmp_path / "prediction_logs" / model_id, day)
                log.parent.mkdir(parents=True)
                pd.DataFrame({"prediction_id": [f"{model_id}-{offset}"]}).to_parquet(log)
                run = MonitoringRun(
                    model_id=model_id,
                    run_key=f"old/{day}",
                    cadence="daily",
                    checks=[],
                    interval_start=start,
                    interval_end=start + timedelta(days=1),
                    status="succeeded",
                    severity="INFO",
                    started_at=start + timedelta(days=1),
                    finished_at=start + timedelta(days=1),
                )
                session.add(run)
                session.flush()
                session.add(
                    MetricResult(
                        monitoring_run_id=run.id,
                        check_type="data_drift",
                        metric="psi",
                        subject="income",
                        severity="INFO",
                        status="computed",
                    )
                )
                # As a gateway writes them: with their hour's sum.
                record_serving_stats(
                    session, [GatewayCounts("g1", model_id, "1", start, requests=1)]
                )
                session.add(
                    Alert(
                        idempotency_key=f"old-alert-{model_id}-{offset}",
                        channel="slack",
                        destination="#ml-monitoring",
                        kind="critical",
                        severity="INFO",
                        model_id=model_id,
                        status="delivered",
                        created_at=start,
                    )
                )
        evidence = session.scalars(
            select(MonitoringRun).where(
                MonitoringRun.model_id == "credit_approval",
                MonitoringRun.run_key == "old/2025-03-05",
            )
        ).one()
        session.add(
            Incident(
                ref="INC-2025-0001",
                model_id="credit_approval",
                category="fairness_drift",
                metric="disparate_impact_ratio",
                severity="CRITICAL",
                priority="P1",
                status="open",
                dedup_key="credit_approval:disparate_impact_ratio",
                open_dedup_key="credit_approval:disparate_impact_ratio",
                title="DI",
                source_run_id=evidence.id,
                opened_at=datetime(2025, 3, 6, tzinfo=UTC),
            )
        )
    return tmp_path


def counts(url: str) -> dict[str, int]:
    with store.session_scope(url) as session:
        return {
            "runs": session.scalar(select(func.count(MonitoringRun.id))),
            "metrics": session.scalar(select(func.count(MetricResult.id))),
            "alerts": session.scalar(select(func.count(Alert.id))),
            "stats": session.scalar(select(func.count(ServingStat.id))),
            "stat_hours": session.scalar(select(func.count(ServingStatHour.id))),
        }


# Past the monitoring records' 5 years: the CLI purges as of no day to come, the library can.
FIVE_YEARS_ON = datetime(2031, 6, 1, tzinfo=UTC)


def purge_as_of(moment: datetime) -> None:
    run_retention(load_config(settings.config_dir()), data_dir=settings.data_dir(), now=moment)


def log_days(data_dir: Path, model_id: str) -> list[str]:
    return sorted(p.name for p in (data_dir / "prediction_logs" / model_id).iterdir())


def test_a_dry_run_lists_per_type_what_would_go_and_deletes_nothing(records, fresh_store_env):
    before = counts(fresh_store_env)

    result = govflow("retention", "run", "--dry-run", "--as-of", "2026-06-01")

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    # credit is high risk: 183 days; the incident's window (2025-03-05) is held.
    assert lines["prediction_logs"].endswith("would purge 19, held 1")
    assert lines["monitoring_records"].endswith("would purge 0, held 0")  # 5 years
    assert lines["alerts"].endswith("would purge 20, held 0")  # 1 year
    assert lines["alerts"].split()[1:3] == ["1", "year"]
    assert lines["monitoring_records"].split()[1:3] == ["5", "years"]
    assert lines["serving_stats"].endswith("would purge 20, held 0")
    assert "kept indefinitely" in lines["audit_events"]
    assert counts(fresh_store_env) == before
    assert len(log_days(records, "credit_approval")) == DAYS


def test_a_purge_removes_what_is_past_its_period_keeps_held_evidence_and_is_audited(
    records, fresh_store_env
):
    config = load_config(settings.config_dir())
    later = AS_OF + timedelta(days=365 * 5 + 30)  # past the records' 5 years too

    first = run_retention(config, data_dir=records, now=later, batch=7)
    second = run_retention(config, data_dir=records, now=later, batch=7)

    purged = {r.data_type: (r.purged, r.held) for r in first}
    assert purged["prediction_logs"] == (19, 1)
    assert purged["monitoring_records"] == (19, 0)  # the incident's record stays
    assert purged["alerts"] == (20, 0)
    assert purged["serving_stats"] == (20, 0)
    assert all(r.purged == 0 for r in second)
    assert log_days(records, "credit_approval") == ["date=2025-03-05"]
    assert counts(fresh_store_env) == {
        "runs": 1,
        "metrics": 1,
        "alerts": 0,
        "stats": 0,
        "stat_hours": 0,
    }
    with store.session_scope(fresh_store_env) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purged")
        ).all()
        assert verify_chain(session).intact
    # Batches of 7: 3 + 3 + 3 + 3 of the four types, never the purged content.
    assert sorted(e.payload.get("count", e.payload.get("partitions")) for e in events) == sorted(
        [7, 7, 5, 7, 7, 5, 7, 7, 6, 7, 7, 6]
    )
    assert all("prediction_id" not in str(e.payload) for e in events)


def test_a_purged_batch_of_logs_names_its_oldest_and_newest_day_across_models(
    records, fresh_store_env
):
    # marketing_propensity (listed after credit_approval in models.yaml) also logged in 2024.
    for day in (date(2024, 6, 11), date(2024, 6, 12)):
        log = partition_path(records / "prediction_logs" / "marketing_propensity", day)
        log.parent.mkdir(parents=True)
        pd.DataFrame({"prediction_id": [f"old-{day}"]}).to_parquet(log)

    run_retention(load_config(settings.config_dir()), data_dir=records, now=AS_OF, batch=100)

    with store.session_scope(fresh_store_env) as session:
        (event,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "retention.purged",
                AuditEvent.target == "retention:prediction_logs",
            )
        ).all()
    # One batch: credit's March (its incident's day held), marketing's June and March.
    assert (event.payload["first_day"], event.payload["last_day"]) == ("2024-06-11", "2025-03-10")
    assert event.payload["partitions"] == (DAYS - 1) + (DAYS + 2)


def test_a_hold_on_a_model_keeps_everything_of_it_and_a_released_hold_stays_on_record(
    records, fresh_store_env
):
    held = govflow(
        "hold",
        "add",
        "--model",
        "marketing_propensity",
        "--reason",
        "litigation",
        "--actor",
        "carol",
    )
    assert held.exit_code == 0, held.output

    purge_as_of(FIVE_YEARS_ON)

    assert len(log_days(records, "marketing_propensity")) == DAYS
    with store.session_scope(fresh_store_env) as session:
        left = session.scalars(select(MonitoringRun.model_id).distinct()).all()
        hours_left = session.execute(
            select(ServingStatHour.model_id, func.sum(ServingStatHour.requests)).group_by(
                ServingStatHour.model_id
            )
        ).all()
    assert set(left) == {"marketing_propensity", "credit_approval"}
    # The purged minutes left their hours' sums; the held model's stayed whole.
    assert hours_left == [("marketing_propensity", DAYS)]

    released = govflow("hold", "release", "1", "--reason", "case closed", "--actor", "carol")
    listed = govflow("hold", "list", "--all")
    purge_as_of(FIVE_YEARS_ON)

    assert released.exit_code == 0, released.output
    assert "litigation (released" in listed.stdout
    assert not (records / "prediction_logs" / "marketing_propensity").exists() or not log_days(
        records, "marketing_propensity"
    )


def test_a_range_hold_keeps_the_days_it_covers(records, fresh_store_env):
    result = govflow(
        "hold",
        "add",
        "--from",
        "2025-03-08",
        "--to",
        "2025-03-09",
        "--reason",
        "audit",
        "--actor",
        "carol",
    )
    assert result.exit_code == 0, result.output

    govflow("retention", "run", "--as-of", "2026-06-01")

    assert log_days(records, "marketing_propensity") == ["date=2025-03-08", "date=2025-03-09"]


def test_a_purge_as_of_a_day_to_come_is_refused_in_one_line_and_deletes_nothing(
    records, fresh_store_env
):
    before = counts(fresh_store_env)

    result = govflow("retention", "run", "--as-of", "2031-06-01")

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Invalid value for --as-of: 2031-06-01 is in the future: ages judged from it would "
        "purge records younger than their retention period (--dry-run previews that day) "
        "(see 'govflow retention run --help')\n"
    )
    assert counts(fresh_store_env) == before
    assert len(log_days(records, "credit_approval")) == DAYS


def test_a_dry_run_may_preview_a_day_to_come(records, fresh_store_env):
    before = counts(fresh_store_env)

    result = govflow("retention", "run", "--dry-run", "--as-of", "2031-06-01")

    assert result.exit_code == 0, result.output
    assert "monitoring_records       5 years      older than 2026-06-01: would purge" in (
        result.stdout
    )
    assert counts(fresh_store_env) == before


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (["--model", "nope"], 1, "no model 'nope' to hold"),
        (["--incident", "INC-1999-0001"], 1, "no incident 'INC-1999-0001' to hold"),
        (
            ["--from", "2025-03-31", "--to", "2025-03-01"],
            2,
            "Invalid value for --to: 2025-03-01 is not after --from 2025-03-31 "
            "(see 'govflow hold add --help')",
        ),
        (
            ["--from", "2025-13-40", "--to", "2025-03-31"],
            2,
            "Invalid value for --from: '2025-13-40' is not a date (YYYY-MM-DD) or an ISO time "
            "(see 'govflow hold add --help')",
        ),
        (
            ["--to", "2025-03-31"],
            2,
            "Invalid value for --from: a range hold needs both --from and --to "
            "(see 'govflow hold add --help')",
        ),
        (
            ["--from", "2025-03-01"],
            2,
            "Invalid value for --to: a range hold needs both --from and --to "
            "(see 'govflow hold add --help')",
        ),
        (
            ["--model", "credit_approval", "--from", "2025-03-01"],
            2,
            "Invalid value for --model: name exactly one of --model, --incident, --deployment "
            "or --from/--to (see 'govflow hold add --help')",
        ),
    ],
)
def test_a_hold_on_nothing_is_refused_in_one_line(records, args, status, line):
    result = govflow("hold", "add", *args, "--reason", "r", "--actor", "carol")

    assert result.exit_code == status
    assert result.stderr == line + "\n"


def test_a_hold_on_an_incident_named_in_lower_case_holds_its_ref(records, fresh_store_env):
    """Refs are written in capitals and found in any case (incident show): a hold too."""
    result = govflow(
        "hold", "add", "--incident", "inc-2025-0001", "--reason", "case 17", "--actor", "carol"
    )

    assert result.exit_code == 0, result.output
    with store.session_scope(fresh_store_env) as session:
        (hold,) = session.scalars(select(LegalHold)).all()
        assert (hold.scope, hold.target) == ("incident", "INC-2025-0001")


def test_a_hold_is_put_or_released_only_by_someone_in_people_yaml(records, fresh_store_env):
    range_hold = ["--from", "2025-03-08", "--to", "2025-03-09", "--reason", "audit"]
    govflow("hold", "add", *range_hold, "--actor", "carol")

    put = govflow("hold", "add", *range_hold, "--actor", "nobody")
    released = govflow("hold", "release", "1", "--reason", "done", "--actor", "nobody")

    refusal = (
        "'nobody' is nobody in people.yaml: only a person named there can put or release a "
        "legal hold\n"
    )
    assert (put.exit_code, put.stdout, put.stderr) == (1, "", refusal)
    assert (released.exit_code, released.stdout, released.stderr) == (1, "", refusal)
    listed = govflow("hold", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["1"]


def test_only_the_compliance_officer_releases_a_hold_the_risk_manager_put(records, fresh_store_env):
    put = govflow(
        "hold", "add", "--model", "credit_approval", "--reason", "case", "--actor", "rick"
    )
    by_engineer = govflow(
        "hold", "add", "--model", "credit_approval", "--reason", "r", "--actor", "mike"
    )
    by_putter = govflow("hold", "release", "1", "--reason", "done", "--actor", "rick")
    by_officer = govflow("hold", "release", "1", "--reason", "done", "--actor", "carol")

    assert put.exit_code == 0, put.output
    assert (by_engineer.exit_code, by_engineer.stdout, by_engineer.stderr) == (
        1,
        "",
        "'mike' may not add a legal hold: policy.yaml legal_holds.added_by allows the roles "
        "compliance_officer, risk_manager, auditor, cto\n",
    )
    assert (by_putter.exit_code, by_putter.stdout, by_putter.stderr) == (
        1,
        "",
        "'rick' may not release a legal hold: policy.yaml legal_holds.released_by allows the "
        "roles compliance_officer\n",
    )
    assert by_officer.exit_code == 0, by_officer.output
    listed = govflow("hold", "list", "--all")
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert listed.stdout.rstrip().endswith(f" case (released {today} by carol: done)"), listed


def test_a_hold_put_or_released_again_changes_nothing_and_says_so(records, fresh_store_env):
    put = ["hold", "add", "--model", "credit_approval", "--reason", "case 17", "--actor", "carol"]
    release = ["hold", "release", "1", "--reason", "case closed", "--actor", "carol"]
    assert govflow(*put).exit_code == 0

    put_again = govflow(*put[:-1], "audrey")
    assert govflow(*release).exit_code == 0
    released_again = govflow(*release)
    released_otherwise = govflow(*release[:3], "--reason", "settled", *release[-2:])

    assert put_again.exit_code == 0, put_again.output
    assert put_again.stdout.startswith(
        "model credit_approval is already held by legal hold 1, put by carol on "
    )
    assert put_again.stdout.endswith(" UTC (case 17); nothing changed\n")
    assert released_again.exit_code == 0, released_again.output
    assert released_again.stdout.startswith(
        "legal hold 1 on model credit_approval was already released by carol on "
    )
    assert released_again.stdout.endswith(" UTC (case closed); nothing changed\n")
    assert (released_otherwise.exit_code, released_otherwise.stdout) == (1, "")
    assert released_otherwise.stderr.startswith("legal hold 1 was already released on ")
    with store.session_scope(fresh_store_env) as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["retention.hold_added", "retention.hold_released"]


def _deployment(session, ref: str, closed: datetime | None) -> None:
    deployment = Deployment(
        ref=ref,
        model_id="credit_approval",
        model_version="1.0.0",
        deployment_type="standard",
        environment="production",
        requested_by="olivia",
        status="closed" if closed else "deploying",
        report_path=f"reports/deployments/{ref}/readiness.md",
        created_at=datetime(2014, 1, 1, tzinfo=UTC),
        closed_at=closed,
    )
    session.add(deployment)
    session.flush()
    session.add(
        DeploymentStep(
            deployment_id=deployment.id, step=1, phase=1, name="plan", status="done", actor="o"
        )
    )
    session.add(DeploymentApproval(deployment_id=deployment.id, role="qa", decision="approved"))


def test_deployment_records_go_ten_years_after_closing_unless_open_served_or_held(
    records, fresh_store_env
):
    refs = ["DEP-OLD", "DEP-RECENT", "DEP-OPEN", "DEP-SERVED", "DEP-HELD"]
    long_ago, recently = datetime(2015, 6, 1, tzinfo=UTC), datetime(2016, 6, 1, tzinfo=UTC)
    closed = [long_ago, recently, None, long_ago, long_ago]
    with store.session_scope(fresh_store_env) as session:
        for ref, when in zip(refs, closed, strict=True):
            _deployment(session, ref, when)
            (records / "reports" / "deployments" / ref).mkdir(parents=True)
        served = Route(model_id="credit_approval", revision=1, splits={}, updated_by="t")
        served.deployment_ref = "DEP-SERVED"
        session.add(served)
    held = govflow("hold", "add", "--deployment", "DEP-HELD", "--reason", "r", "--actor", "carol")
    assert held.exit_code == 0, held.output

    result = govflow("retention", "run", "--as-of", "2026-01-01")

    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("deployment_records"))
    assert line.endswith("older than 2016-01-01: purged 1, held 0")
    with store.session_scope(fresh_store_env) as session:
        assert session.scalars(select(Deployment.ref).order_by(Deployment.id)).all() == refs[1:]
        assert session.scalar(select(func.count(DeploymentStep.id))) == 4
        assert session.scalar(select(func.count(DeploymentApproval.id))) == 4
        assert verify_chain(session).intact
    assert sorted(p.name for p in (records / "reports" / "deployments").iterdir()) == sorted(
        refs[1:]
    )


def test_a_batch_whose_audit_event_fails_to_commit_deletes_no_file(
    records, fresh_store_env, monkeypatch
):
    """Files go only once their batch's delete and audit event committed: a failed commit
    leaves the logs and readiness reports where they were, for the next run to purge."""
    from govflow.retention import purge

    with store.session_scope(fresh_store_env) as session:
        _deployment(session, "DEP-OLD", datetime(2015, 6, 1, tzinfo=UTC))
    (records / "reports" / "deployments" / "DEP-OLD").mkdir(parents=True)

    original = purge.record_event

    def refuse(targets):
        def record(session, **event):
            if targets is None or event["target"] in targets:
                raise RuntimeError("the audit store refused the event")
            return original(session, **event)

        return record

    config = load_config(settings.config_dir())
    monkeypatch.setattr(purge, "record_event", refuse(None))
    with pytest.raises(RuntimeError, match="refused the event"):
        run_retention(config, data_dir=records, now=AS_OF)
    assert len(log_days(records, "credit_approval")) == DAYS

    monkeypatch.setattr(purge, "record_event", refuse({"retention:deployment_records"}))
    with pytest.raises(RuntimeError, match="refused the event"):
        run_retention(config, data_dir=records, now=AS_OF)
    assert (records / "reports" / "deployments" / "DEP-OLD").is_dir()
    with store.session_scope(fresh_store_env) as session:
        assert session.scalars(select(Deployment.ref)).all() == ["DEP-OLD"]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM legal_holds",
        "UPDATE legal_holds SET target = 'marketing_propensity'",
        "UPDATE legal_holds SET released_at = NULL, released_by = NULL",
        "UPDATE legal_holds SET released_by = 'mallory'",
    ],
    ids=["delete", "retarget", "unrelease", "rewrite-release"],
)
def test_a_hold_is_released_once_and_never_deleted_or_rewritten(
    records, fresh_store_env, statement
):
    """Whoever holds the store's file cannot lift a hold unseen: only the first release of
    an active hold changes its row (the CLI's `hold release`)."""
    from sqlalchemy.exc import IntegrityError

    for command in (
        ["hold", "add", "--model", "credit_approval", "--reason", "case 17", "--actor", "carol"],
        ["hold", "release", "1", "--reason", "case closed", "--actor", "carol"],
    ):
        assert govflow(*command).exit_code == 0

    with (
        pytest.raises(IntegrityError, match="legal hold") as refused,
        store.engine_for(fresh_store_env).begin() as connection,
    ):
        connection.execute(text(statement))

    assert "never deleted" in str(refused.value) or "only ever released" in str(refused.value)
    listed = govflow("hold", "list", "--all")
    assert "credit_approval" in listed.stdout and "carol" in listed.stdout


def test_the_purge_reads_no_period_but_those_load_config_requires(fresh_store_env, tmp_path):
    """load_config refuses a policy without a period for one of RETAINED_DATA_TYPES; a data
    type the purge read besides those would fail it with a KeyError, every day."""
    config = load_config(settings.config_dir())
    required = {key: config.policy.retention[key] for key in RETAINED_DATA_TYPES}
    policy = config.policy.model_copy(update={"retention": required})

    results = run_retention(
        config.model_copy(update={"policy": policy}), data_dir=tmp_path, now=AS_OF, dry_run=True
    )

    assert [result.eligible for result in results] == [0] * len(results)
