"""The audit trail: every kind of tampering is detected and the first bad event is named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from govflow import store
from govflow.audit import (
    GENESIS_HASH,
    UNKNOWN_SEVERITY,
    canonical_event,
    query_events,
    record_event,
    verify_chain,
)
from govflow.store.schema import AuditEvent

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def _seed_chain(url: str, count: int = 6) -> list[AuditEvent]:
    store.upgrade(url)
    with store.session_scope(url) as session:
        return [
            record_event(
                session,
                actor=["eve", "carol"][i % 2],
                action=["incident.opened", "baseline.created"][i % 2],
                target=f"model:credit_approval:{i}",
                payload={"value": 0.1 * i, "groups": ["female", "male"], "n": i},
                severity="WARNING" if i == 3 else "INFO",
                occurred_at=T0 + timedelta(hours=i),
            )
            for i in range(count)
        ]


def _execute(url: str, *statements: str) -> None:
    with store.engine_for(url).begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_an_untouched_chain_verifies_and_links_each_event_to_the_one_before(sqlite_url):
    events = _seed_chain(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
    assert report.intact
    assert report.events_checked == 6
    assert report.head_hash == events[-1].hash
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_the_canonical_event_is_sorted_compact_json_of_every_field(sqlite_url):
    event = _seed_chain(sqlite_url, count=1)[0]
    expected = (
        '{"action":"incident.opened","actor":"eve","event_id":"EVENT_ID",'
        '"occurred_at":"2025-03-01T02:00:00.000000Z","payload":{"groups":["female","male"],'
        '"n":0,"value":0.0},"seq":1,"severity":"INFO","target":"model:credit_approval:0"}'
    )
    assert canonical_event(event) == expected.replace("EVENT_ID", event.event_id).encode()


@pytest.mark.parametrize(
    ("tampering", "bad_seq", "reason"),
    [
        (
            ["UPDATE audit_events SET payload = '{\"value\": 0.9}' WHERE seq = 3"],
            3,
            "hash does not match the event's content (edited)",
        ),
        (
            ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 5"],
            5,
            "hash does not match the event's content (edited)",
        ),
        (
            ["UPDATE audit_events SET occurred_at = '2025-03-01 09:00:00.000000' WHERE seq = 2"],
            2,
            "hash does not match the event's content (edited)",
        ),
        (
            ["DELETE FROM audit_events WHERE seq = 4"],
            5,
            "sequence jumps from 3 to 5: 1 event(s) deleted",
        ),
        (
            ["DELETE FROM audit_events WHERE seq = 1"],
            2,
            "sequence jumps from 0 to 2: 1 event(s) deleted",
        ),
        (
            # an event slipped in after seq 2: later events renumbered to make room
            [
                "UPDATE audit_events SET seq = seq + 100 WHERE seq > 2",
                "UPDATE audit_events SET seq = seq - 99 WHERE seq > 100",
                "INSERT INTO audit_events (seq, event_id, occurred_at, actor, action, target, "
                "severity, payload, prev_hash, hash) VALUES (3, 'forged', "
                "'2025-03-01 04:30:00.000000', 'mallory', 'baseline.reset', 'model:x', 'INFO', "
                "'{}', 'f00d', 'beef')",
            ],
            3,
            "previous-hash link does not match the event before it (inserted or reordered)",
        ),
        (
            # two events swapped in place
            [
                "UPDATE audit_events SET seq = 100 WHERE seq = 2",
                "UPDATE audit_events SET seq = 2 WHERE seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE seq = 100",
            ],
            2,
            "previous-hash link does not match the event before it (inserted or reordered)",
        ),
    ],
    ids=[
        "payload-edited",
        "actor-edited",
        "time-edited",
        "middle-deleted",
        "first-deleted",
        "inserted",
        "reordered",
    ],
)
def test_each_kind_of_tampering_is_detected_at_the_first_bad_event(
    sqlite_url, tampering, bad_seq, reason
):
    _seed_chain(sqlite_url)
    _execute(sqlite_url, *tampering)
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
        bad = session.scalars(select(AuditEvent).where(AuditEvent.seq == bad_seq)).one()
    assert not report.intact
    assert report.first_break is not None
    assert report.first_break.seq == bad_seq
    assert report.first_break.event_id == bad.event_id
    assert report.first_break.reason == reason


def test_an_idempotency_key_makes_a_retried_append_return_the_first_event(store_url):
    store.upgrade(store_url)
    with store.session_scope(store_url) as session:
        first = record_event(
            session, actor="eve", action="alert.sent", target="a", idempotency_key="alert-1"
        )
    with store.session_scope(store_url) as session:
        again = record_event(
            session, actor="eve", action="alert.sent", target="a", idempotency_key="alert-1"
        )
        assert again.event_id == first.event_id
        assert session.scalar(text("SELECT count(*) FROM audit_events")) == 1


def test_the_chain_hashes_the_same_on_postgres_as_it_reads_back(postgres_url):
    _seed_chain(postgres_url)
    with store.session_scope(postgres_url) as session:
        report = verify_chain(session)
    assert report.intact and report.events_checked == 6


def test_an_unknown_severity_is_refused(sqlite_url):
    store.upgrade(sqlite_url)
    with pytest.raises(ValueError) as error, store.session_scope(sqlite_url) as session:
        record_event(session, actor="a", action="b", target="c", severity="SEVERE")  # type: ignore[arg-type]
    assert str(error.value) == UNKNOWN_SEVERITY.format(severity="SEVERE")


@pytest.mark.parametrize(
    ("filters", "expected_seqs"),
    [
        ({"action": "incident.opened"}, [1, 3, 5]),
        ({"action": "incident.*"}, [1, 3, 5]),
        ({"actor": "carol"}, [2, 4, 6]),
        ({"target": "model:credit_approval:2"}, [3]),
        ({"severity": "WARNING"}, [4]),
        ({"since": T0 + timedelta(hours=2), "until": T0 + timedelta(hours=4)}, [3, 4]),
        ({"actor": "eve", "since": T0 + timedelta(hours=1)}, [3, 5]),
        ({"limit": 2}, [1, 2]),
    ],
)
def test_query_filters_by_type_actor_target_severity_and_time(sqlite_url, filters, expected_seqs):
    _seed_chain(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        assert [e.seq for e in query_events(session, **filters)] == expected_seqs


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_editing_a_row_with_sqlite3_makes_the_cli_verify_fail_and_name_the_event(tmp_path: Path):
    env = {**os.environ, "GOVFLOW_DATA_DIR": str(tmp_path)}
    env.pop("GOVFLOW_DB_URL", None)
    events = _seed_chain(f"sqlite:///{tmp_path / 'govflow.db'}")
    govflow = [sys.executable, "-m", "govflow", "audit", "verify"]
    intact = subprocess.run(govflow, env=env, capture_output=True, text=True, timeout=60)
    assert intact.returncode == 0, intact.stderr
    assert f"6 events, head {events[-1].hash}" in intact.stdout
    subprocess.run(
        [
            "sqlite3",
            str(tmp_path / "govflow.db"),
            "UPDATE audit_events SET target = 'model:other' WHERE seq = 4",
        ],
        check=True,
    )
    broken = subprocess.run(govflow, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert f"event seq=4 id={events[3].event_id}" in broken.stderr
