"""The governance store: migrations on SQLite and Postgres, and the invariants in its schema."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, inspect, select, text
from sqlalchemy.exc import IntegrityError

from govflow import settings, store
from govflow.audit import record_event, verify_chain
from govflow.store.keys import KEY_MAX_CHARS, bounded_key
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Baseline,
    Incident,
    KillSwitch,
    MonitoringRun,
    ServingStatHour,
)
from govflow.store.types import UTCDateTime
from tests.support.registry import high_risk_model

EXPECTED_TABLES = {
    "legal_holds",
    "models",
    "model_versions",
    "registry_decisions",
    "stage_history",
    "baselines",
    "monitoring_runs",
    "metric_results",
    "incidents",
    "incident_events",
    "alerts",
    "risk_acceptances",
    "deployments",
    "deployment_steps",
    "deployment_approvals",
    "checklist_evidence",
    "rollout_stages",
    "kill_switches",
    "routes",
    "route_history",
    "serving_stats",
    "serving_stat_hours",
    "gateway_heartbeats",
    "serving_feedback",
    "audit_events",
}


def _tables(url: str) -> set[str]:
    return set(inspect(store.engine_for(url)).get_table_names()) - {"alembic_version"}


def _add_model(url: str, model_id: str = "credit_approval") -> None:
    with store.session_scope(url) as session:
        session.add(high_risk_model(model_id))


def _baseline(version: str, active: bool) -> Baseline:
    return Baseline(
        model_id="credit_approval",
        model_version="1.0.0",
        version=version,
        kind="deploy",
        is_active=active,
        created_by="test",
    )


def test_migrations_create_every_table_and_downgrade_removes_them(store_url):
    store.upgrade(store_url)
    assert _tables(store_url) == EXPECTED_TABLES
    assert store.current_revision(store_url) == store.head_revision()
    store.downgrade(store_url)
    assert _tables(store_url) == set()
    assert store.current_revision(store_url) is None
    store.ensure_schema(store_url)
    assert _tables(store_url) == EXPECTED_TABLES


def _hold_a_record(store_url: str, *, historical: bool) -> None:
    """A model, one monitoring record of it and one metric of that record, written as SQL at
    the store's revision (the ``historical`` column exists from 0009 on)."""
    since_0009 = ("historical, ", "false, ") if historical else ("", "")
    with store.engine_for(store_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (id, model_type, risk_tier, owner, business_purpose, status,"
                " created_by, created_at) VALUES ('m', 'binary_classifier', 'low', 'o', 'p',"
                " 'draft', 't', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO monitoring_runs (id, model_id, run_key, cadence, checks,"
                " interval_start, interval_end, status, composite_breakdown, fairness_counts,"
                f" {since_0009[0]}started_at) VALUES (1, 'm', 'k', 'daily', '[]',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'succeeded', '{}', '{}',"
                f" {since_0009[1]}CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO metric_results (monitoring_run_id, check_type, metric, subject,"
                " severity, status, threshold, details) VALUES (1, 'data_drift', 'psi', 'x',"
                " 'INFO', 'computed', '{}', '{}')"
            )
        )


def test_a_store_holding_records_upgrades_across_every_migration(store_url):
    """A migration that rebuilds a table (SQLite's batch mode) fails on a store whose rows
    other tables point at: upgrading a used store must work, not only an empty one."""
    store.upgrade(store_url, "0008")
    _hold_a_record(store_url, historical=False)

    store.upgrade(store_url)

    assert store.current_revision(store_url) == store.head_revision()
    with store.engine_for(store_url).connect() as connection:
        assert connection.execute(text("SELECT historical FROM monitoring_runs")).all() == [
            (False,)
        ]


def test_a_record_kept_before_model_versions_were_counted_says_none_and_survives_a_downgrade(
    store_url,
):
    store.upgrade(store_url, "0014")
    _hold_a_record(store_url, historical=True)

    store.upgrade(store_url)

    with store.session_scope(store_url) as session:
        assert session.scalars(select(MonitoringRun.model_versions)).all() == [{}]
    store.downgrade(store_url, "0014")
    columns = inspect(store.engine_for(store_url)).get_columns("monitoring_runs")
    assert "model_versions" not in {column["name"] for column in columns}
    with store.engine_for(store_url).connect() as connection:
        assert connection.execute(text("SELECT run_key FROM monitoring_runs")).all() == [("k",)]


def test_the_gateway_s_minutes_already_stored_are_summed_into_their_hours_on_upgrade(
    store_url,
):
    store.upgrade(store_url, "0012")
    insert = text(
        "INSERT INTO serving_stats (instance, model_id, version, minute, requests, errors,"
        " invalid, clipped, fallbacks) VALUES ('g1', 'm', '1', :minute, :requests, 1, 0, 0, 0)"
    ).bindparams(bindparam("minute", type_=UTCDateTime()))
    with store.engine_for(store_url).begin() as connection:
        for hour, minute, requests in ((10, 5, 3), (10, 59, 4), (11, 0, 5)):
            at = datetime(2025, 3, 1, hour, minute, tzinfo=UTC)
            connection.execute(insert, {"minute": at, "requests": requests})

    store.upgrade(store_url)

    with store.session_scope(store_url) as session:
        hours = session.execute(
            select(
                ServingStatHour.hour,
                ServingStatHour.requests,
                ServingStatHour.errors,
                ServingStatHour.latency_us_sum,
            ).order_by(ServingStatHour.hour)
        ).all()
    assert hours == [
        (datetime(2025, 3, 1, 10, tzinfo=UTC), 7, 2, 0),
        (datetime(2025, 3, 1, 11, tzinfo=UTC), 5, 1, 0),
    ]


def test_a_model_can_have_only_one_active_baseline(store_url):
    store.upgrade(store_url)
    _add_model(store_url)
    with store.session_scope(store_url) as session:
        session.add_all([_baseline("2025-03-01-v1", False), _baseline("2025-03-02-v1", True)])
    with pytest.raises(IntegrityError), store.session_scope(store_url) as session:
        session.add(_baseline("2025-03-03-v1", True))
    with store.session_scope(store_url) as session:
        active = session.scalars(select(Baseline.version).where(Baseline.is_active)).all()
    assert active == ["2025-03-02-v1"]


def test_an_open_incident_is_unique_per_dedup_key_but_a_closed_one_frees_the_key(store_url):
    store.upgrade(store_url)
    _add_model(store_url)

    def incident(ref: str) -> Incident:
        key = "credit_approval:fairness:disparate_impact"
        return Incident(
            ref=ref,
            model_id="credit_approval",
            category="fairness",
            severity="CRITICAL",
            priority="P1",
            dedup_key=key,
            open_dedup_key=key,
            title="DI below 0.80",
        )

    with store.session_scope(store_url) as session:
        session.add(incident("INC-2025-03-001"))
    with pytest.raises(IntegrityError), store.session_scope(store_url) as session:
        session.add(incident("INC-2025-03-002"))
    with store.session_scope(store_url) as session:
        first = session.scalars(select(Incident)).one()
        first.status, first.open_dedup_key = "closed", None
    with store.session_scope(store_url) as session:
        session.add(incident("INC-2025-03-003"))
        assert session.scalar(select(text("count(*)")).select_from(Incident)) == 2


def test_alert_idempotency_keys_and_active_kill_switches_are_unique(store_url):
    store.upgrade(store_url)

    def alert() -> Alert:
        return Alert(
            idempotency_key="critical:run-1:di",
            channel="slack",
            destination="#ml-monitoring",
            kind="critical",
            severity="CRITICAL",
        )

    with store.session_scope(store_url) as session:
        session.add(alert())
    with pytest.raises(IntegrityError), store.session_scope(store_url) as session:
        session.add(alert())

    def switch() -> KillSwitch:
        return KillSwitch(
            scope="customer_segment",
            target="high_value",
            active_key="customer_segment:high_value",
            reason="spike",
            activated_by="eve",
        )

    with store.session_scope(store_url) as session:
        session.add(switch())
    with pytest.raises(IntegrityError), store.session_scope(store_url) as session:
        session.add(switch())


@pytest.mark.parametrize(
    ("key", "limit", "expected"),
    [
        ("critical:run-1:di", KEY_MAX_CHARS, "critical:run-1:di"),
        ("k" * 255, KEY_MAX_CHARS, "k" * 255),
        (
            "k" * 256,
            KEY_MAX_CHARS,
            "k" * 190 + "~ce16fe78208a4e93f7158e62393680e025b2ad584f4e875ce903a654bb74cf93",
        ),
        (
            "a" * 100,
            80,
            "a" * 15 + "~2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e",
        ),
    ],
)
def test_a_key_that_fits_is_kept_and_a_longer_one_is_cut_to_end_with_its_sha256(
    key, limit, expected
):
    assert bounded_key(key, limit=limit) == expected
    assert bounded_key(expected, limit=limit) == expected


def test_long_keys_that_share_their_head_stay_distinct_within_the_column(postgres_url):
    store.upgrade(postgres_url)
    keys = [f"critical:{'r' * 250}:{channel}" for channel in ("slack", "email")]
    with store.session_scope(postgres_url) as session:
        for key in keys:
            session.add(
                Alert(
                    idempotency_key=bounded_key(key),
                    channel="slack",
                    destination="#ml-monitoring",
                    kind="critical",
                    severity="CRITICAL",
                )
            )
    with store.session_scope(postgres_url) as session:
        stored = session.scalars(select(Alert.idempotency_key).order_by(Alert.id)).all()
    assert stored == [bounded_key(key) for key in keys]
    assert [len(key) for key in stored] == [KEY_MAX_CHARS, KEY_MAX_CHARS]
    assert stored[0] != stored[1]


def test_postgres_refuses_update_and_delete_of_audit_events(postgres_url):
    store.upgrade(postgres_url)
    with store.session_scope(postgres_url) as session:
        record_event(session, actor="eve", action="test.event", target="t")
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with (
            pytest.raises(Exception, match="audit_events is append-only"),
            store.session_scope(postgres_url) as session,
        ):
            session.execute(text(statement))
    with store.session_scope(postgres_url) as session:
        assert session.scalars(select(AuditEvent.actor)).all() == ["eve"]


def _append_events(url: str, writer: int, count: int) -> None:
    for index in range(count):
        with store.session_scope(url) as session:
            record_event(
                session,
                actor=f"writer-{writer}",
                action="test.concurrent",
                target=f"item-{index}",
                idempotency_key=f"writer-{writer}-item-{index}",
            )
            if index % 5 == 0:
                record_event(  # a retry inside the same transaction changes nothing
                    session,
                    actor=f"writer-{writer}",
                    action="test.concurrent",
                    target=f"item-{index}",
                    idempotency_key=f"writer-{writer}-item-{index}",
                )


def _activate_baseline(url: str, version: str) -> bool:
    try:
        with store.session_scope(url) as session:
            session.add(_baseline(version, True))
        return True
    except IntegrityError:
        return False


def test_concurrent_writers_keep_the_audit_chain_and_one_active_baseline(store_url):
    store.upgrade(store_url)
    _add_model(store_url)
    writers, per_writer = 4, 15
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=writers, mp_context=context) as pool:
        appends = [pool.submit(_append_events, store_url, w, per_writer) for w in range(writers)]
        for future in appends:
            future.result()
        activations = [
            pool.submit(_activate_baseline, store_url, f"2025-03-0{w + 1}-v1")
            for w in range(writers)
        ]
        activated = [future.result() for future in activations]
    with store.session_scope(store_url) as session:
        report = verify_chain(session)
        active = session.scalars(select(Baseline).where(Baseline.is_active)).all()
    assert report.intact, report.first_break
    assert report.events_checked == writers * per_writer
    assert activated.count(True) == 1
    assert len(active) == 1
    # Each process checkpoints its own commits: the file's counts only grow, to the head.
    lines = settings.audit_checkpoints(store_url).read_text().splitlines()
    counts = [json.loads(line)["events"] for line in lines]
    assert counts == sorted(set(counts))
    assert json.loads(lines[-1])["head_hash"] == report.head_hash


def test_run_from_another_directory_the_store_is_the_checkouts_as_the_policy_is(
    tmp_path, monkeypatch
):
    """GOVFLOW_DATA_DIR unset: the data directory (and its SQLite store) is data/ beside the
    checkout's config/, wherever the command runs; set, it is the one named."""
    monkeypatch.delenv(settings.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(settings.DB_URL_ENV, raising=False)
    monkeypatch.delenv(settings.CONFIG_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    checkout = settings.config_dir().parent

    assert settings.data_dir() == checkout / "data"
    assert settings.db_url() == f"sqlite:///{checkout / 'data' / 'govflow.db'}"
    monkeypatch.setenv(settings.DATA_DIR_ENV, "elsewhere")
    assert settings.data_dir() == tmp_path / "elsewhere"
