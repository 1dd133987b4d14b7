"""The audit trail: every kind of tampering is detected and the first bad event is named."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from govflow import settings, store
from govflow.audit import (
    GENESIS_HASH,
    STATE_SET_BY_HAND,
    UNKNOWN_SEVERITY,
    CheckpointError,
    canonical_event,
    checkpoints_problem,
    event_hash,
    event_under,
    latest_checkpoint,
    query_events,
    record_event,
    run_target,
    signing_key,
    verify_chain,
)
from govflow.audit.checkpoints import (
    BAD_SIGNATURE,
    EVENT_MISSING,
    EVENTS_MISSING,
    HEAD_DIFFERS,
    KEY_FILE_EXPOSED,
    NO_KEY,
    UNREADABLE_LINE,
)
from govflow.flows.audit import AuditChainBroken, verify_audit_chain
from govflow.store.keys import KEY_MAX_CHARS
from govflow.store.schema import AuditEvent
from tests.support.run_ids import LONGEST_RUN_ID

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
        '{"action":"incident.opened","actor":"eve","event_id":"EVENT_ID","hash_version":2,'
        '"idempotency_key":null,"occurred_at":"2025-03-01T02:00:00.000000Z",'
        '"payload":{"groups":["female","male"],"n":0,"value":0.0},"seq":1,"severity":"INFO",'
        '"target":"model:credit_approval:0"}'
    )
    assert canonical_event(event) == expected.replace("EVENT_ID", event.event_id).encode()


def test_a_version_1_event_keeps_the_canonical_form_it_was_hashed_under(sqlite_url):
    event = _seed_chain(sqlite_url, count=1)[0]
    event.hash_version = 1
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


def test_an_event_keyed_and_targeted_by_the_longest_run_id_is_recorded_once_and_found(
    store_url,
):
    store.upgrade(store_url)
    key = f"deployment.requested:{LONGEST_RUN_ID}"
    target = run_target("govflow_deployment_procedure", LONGEST_RUN_ID)

    def record() -> str:
        with store.session_scope(store_url) as session:
            event = record_event(
                session,
                actor="carol",
                action=STATE_SET_BY_HAND,
                target=target,
                idempotency_key=key,
            )
            return event.event_id

    first, retried = record(), record()
    assert retried == first
    with store.session_scope(store_url) as session:
        assert session.scalar(text("SELECT count(*) FROM audit_events")) == 1
        found = event_under(session, key)
        assert found is not None and found.event_id == first
        assert [e.event_id for e in query_events(session, target=target)] == [first]
        assert len(found.idempotency_key or "") == len(found.target) == KEY_MAX_CHARS
        assert verify_chain(session).intact


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
        ({"mentioning": "credit_approval:4"}, [5]),
        ({"mentioning": "female", "actor": "carol", "limit": 2}, [2, 4]),
        ({"newest_first": True, "limit": 2}, [6, 5]),
        ({"newest_first": True, "before_seq": 5, "limit": 2}, [4, 3]),
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


# --- Every stored field is covered; a forged event is the one named ------------------------

COLUMN_EDITS = {
    "seq": ("UPDATE audit_events SET seq = 60 WHERE seq = 6", 60),
    "event_id": ("UPDATE audit_events SET event_id = 'forged-id' WHERE seq = 3", 3),
    "idempotency_key": ("UPDATE audit_events SET idempotency_key = 'retry-1' WHERE seq = 3", 3),
    "occurred_at": (
        "UPDATE audit_events SET occurred_at = '2025-03-01 09:00:00.000000' WHERE seq = 3",
        3,
    ),
    "actor": ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", 3),
    "action": ("UPDATE audit_events SET action = 'baseline.reset' WHERE seq = 3", 3),
    "target": ("UPDATE audit_events SET target = 'model:other' WHERE seq = 3", 3),
    "severity": ("UPDATE audit_events SET severity = 'CRITICAL' WHERE seq = 3", 3),
    "payload": ("UPDATE audit_events SET payload = '{}' WHERE seq = 3", 3),
    "prev_hash": ("UPDATE audit_events SET prev_hash = 'f00d' WHERE seq = 3", 3),
    "hash": ("UPDATE audit_events SET hash = 'beef' WHERE seq = 3", 3),
    "hash_version": ("UPDATE audit_events SET hash_version = 1 WHERE seq = 3", 3),
}


def test_the_column_edits_below_name_every_column_the_store_keeps_for_an_event():
    assert set(COLUMN_EDITS) == {column.name for column in AuditEvent.__table__.columns}


@pytest.mark.parametrize(("column", "edit"), COLUMN_EDITS.items(), ids=list(COLUMN_EDITS))
def test_editing_any_stored_field_of_an_event_breaks_the_chain_at_that_event(
    sqlite_url, column, edit
):
    statement, bad_seq = edit
    _seed_chain(sqlite_url)
    _execute(sqlite_url, statement)
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
        bad = session.scalars(select(AuditEvent).where(AuditEvent.seq == bad_seq)).one()
    assert report.first_break is not None, f"editing {column} went unseen"
    assert (report.first_break.seq, report.first_break.event_id) == (bad_seq, bad.event_id)


def test_events_hashed_under_version_1_verify_under_their_own_rule_and_new_ones_follow(
    sqlite_url,
):
    old = _seed_chain(sqlite_url, count=3)
    # An old store: the same events as version 1 wrote them, then appends under version 2.
    with store.session_scope(sqlite_url) as session:
        prev_hash = GENESIS_HASH
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            event.hash_version, event.prev_hash = 1, prev_hash
            event.hash = prev_hash = event_hash(prev_hash, event)
    with store.session_scope(sqlite_url) as session:
        record_event(session, actor="eve", action="a", target="t", idempotency_key="k")
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
        versions = session.scalars(select(AuditEvent.hash_version).order_by(AuditEvent.seq))
        assert list(versions) == [1, 1, 1, 2]
    assert report.intact and report.events_checked == 4
    assert old[0].hash != report.head_hash


def test_a_version_2_chain_that_goes_back_to_version_1_is_broken_there(sqlite_url):
    _seed_chain(sqlite_url, count=4)
    with store.session_scope(sqlite_url) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.seq == 4)).one()
        event.hash_version = 1
        event.hash = event_hash(event.prev_hash, event)
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
    assert report.first_break is not None
    assert report.first_break.seq == 4
    assert report.first_break.reason == "hash version goes back from 2 to 1"


def test_a_forged_event_with_a_valid_hash_slipped_in_mid_chain_is_the_one_named(sqlite_url):
    events = _seed_chain(sqlite_url)
    # The forger rebuilds the table without its unique constraints, makes room after seq 2
    # and inserts an event that links to seq 2 and hashes correctly.
    _execute(
        sqlite_url,
        "CREATE TABLE audit_copy AS SELECT * FROM audit_events",
        "DROP TABLE audit_events",
        "ALTER TABLE audit_copy RENAME TO audit_events",
        "UPDATE audit_events SET seq = seq + 1 WHERE seq > 2",
    )
    forged = AuditEvent(
        seq=3,
        event_id="forged",
        idempotency_key=None,
        occurred_at=T0 + timedelta(hours=1, minutes=30),
        actor="mallory",
        action="baseline.reset",
        target="model:credit_approval",
        severity="INFO",
        payload={},
        prev_hash=events[1].hash,
        hash_version=2,
    )
    forged.hash = event_hash(forged.prev_hash, forged)
    with store.session_scope(sqlite_url) as session:
        session.add(forged)
    with store.session_scope(sqlite_url) as session:
        report = verify_chain(session)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.event_id) == (3, "forged")
    assert report.first_break.reason == "inserted: the event after it links to the event before it"
    assert report.events_checked == 2


# --- Signed checkpoints: the tail cannot be cut off unseen ---------------------------------


def _checkpoints(url: str) -> Path:
    return settings.audit_checkpoints(url)


def _checkpoint_lines(url: str) -> list[dict]:
    path = _checkpoints(url)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _verify_problem(url: str) -> str:
    with pytest.raises(AuditChainBroken) as broken:
        verify_audit_chain(db_url=url)
    return str(broken.value)


@pytest.mark.parametrize(
    ("deleted", "missing"),
    [
        ("seq > 3", EVENTS_MISSING.format(first=4, last=6, at="AT")),
        ("seq = 6", EVENT_MISSING.format(first=6, at="AT")),
        ("1 = 1", EVENTS_MISSING.format(first=1, last=6, at="AT")),
    ],
    ids=["last-three", "last-one", "all"],
)
def test_deleting_the_newest_events_is_named_against_the_latest_checkpoint(
    sqlite_url, deleted, missing
):
    _seed_chain(sqlite_url)
    at = latest_checkpoint(_checkpoints(sqlite_url)).signed_at
    _execute(sqlite_url, f"DELETE FROM audit_events WHERE {deleted}")
    assert _verify_problem(sqlite_url) == missing.replace("AT", at)


def test_an_empty_table_whose_checkpoint_covered_events_does_not_verify(sqlite_url):
    _seed_chain(sqlite_url)
    at = latest_checkpoint(_checkpoints(sqlite_url)).signed_at
    _execute(sqlite_url, "DROP TABLE audit_events")
    AuditEvent.__table__.create(store.engine_for(sqlite_url))
    assert _verify_problem(sqlite_url) == EVENTS_MISSING.format(first=1, last=6, at=at)


def test_a_chain_rewritten_from_its_first_event_is_caught_by_the_checkpoint(sqlite_url):
    _seed_chain(sqlite_url)
    at = latest_checkpoint(_checkpoints(sqlite_url)).signed_at
    with store.session_scope(sqlite_url) as session:
        prev_hash = GENESIS_HASH
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            event.actor = "mallory" if event.seq == 2 else event.actor
            event.prev_hash = prev_hash
            event.hash = prev_hash = event_hash(prev_hash, event)
    with store.session_scope(sqlite_url) as session:
        assert verify_chain(session).intact
    assert _verify_problem(sqlite_url) == HEAD_DIFFERS.format(seq=6, at=at)


def test_a_checkpoint_signed_without_the_key_is_refused(sqlite_url):
    _seed_chain(sqlite_url)
    path = _checkpoints(sqlite_url)
    forged = {**_checkpoint_lines(sqlite_url)[-1], "events": 9}
    with path.open("a") as lines:
        lines.write(json.dumps(forged) + "\n")
    assert _verify_problem(sqlite_url) == BAD_SIGNATURE.format(at=forged["signed_at"], path=path)


def test_a_checkpoint_signed_with_another_key_is_refused(sqlite_url, monkeypatch):
    _seed_chain(sqlite_url)
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "another key")
    at = latest_checkpoint(_checkpoints(sqlite_url)).signed_at
    assert _verify_problem(sqlite_url) == BAD_SIGNATURE.format(at=at, path=_checkpoints(sqlite_url))


def test_each_committed_batch_advances_the_checkpoint_once_and_a_rollback_never(sqlite_url):
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        for i in range(3):
            record_event(session, actor="eve", action="a", target=f"t{i}")
    assert [line["events"] for line in _checkpoint_lines(sqlite_url)] == [3]
    with pytest.raises(RuntimeError), store.session_scope(sqlite_url) as session:
        record_event(session, actor="eve", action="a", target="rolled back")
        raise RuntimeError("the caller fails after recording")
    with pytest.raises(RuntimeError), store.session_scope(sqlite_url) as session:
        with session.begin_nested():
            record_event(session, actor="eve", action="a", target="savepoint released")
        raise RuntimeError("the transaction around the savepoint fails")
    with store.session_scope(sqlite_url) as session:
        with session.begin_nested():
            record_event(session, actor="eve", action="a", target="kept")
        nested = session.begin_nested()
        record_event(session, actor="eve", action="a", target="savepoint rolled back")
        nested.rollback()
    lines = _checkpoint_lines(sqlite_url)
    assert [line["events"] for line in lines] == [3, 4]
    with store.session_scope(sqlite_url) as session:
        head = session.scalars(select(AuditEvent).where(AuditEvent.seq == 4)).one()
        assert head.target == "kept"
    assert lines[-1]["head_hash"] == head.hash
    verify_audit_chain(db_url=sqlite_url)


def test_concurrent_writers_leave_checkpoints_that_only_grow(sqlite_url):
    store.upgrade(sqlite_url)

    def append(writer: int) -> None:
        for i in range(10):
            with store.session_scope(sqlite_url) as session:
                record_event(session, actor=f"w{writer}", action="a", target=str(i))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append, range(4)))
    counts = [line["events"] for line in _checkpoint_lines(sqlite_url)]
    assert counts == sorted(set(counts))
    assert counts[-1] == 40
    verify_audit_chain(db_url=sqlite_url)


def test_without_a_key_in_the_environment_one_is_generated_once_readable_by_its_owner_only(
    sqlite_url, capsys
):
    _seed_chain(sqlite_url, count=2)
    key_file = _checkpoints(sqlite_url).with_suffix(".key")
    key = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) == 64
    _seed_chain(sqlite_url, count=2)
    assert key_file.read_text() == key
    verify_audit_chain(db_url=sqlite_url, advance=True)
    assert key not in capsys.readouterr().out
    assert key not in _checkpoints(sqlite_url).read_text()


def test_a_key_in_the_environment_signs_and_no_key_file_is_written(sqlite_url, monkeypatch):
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "the operator's key")
    _seed_chain(sqlite_url, count=2)
    assert not _checkpoints(sqlite_url).with_suffix(".key").exists()
    assert latest_checkpoint(_checkpoints(sqlite_url)).signs_correctly(b"the operator's key")


def test_a_key_file_others_can_read_is_refused(sqlite_url):
    _seed_chain(sqlite_url, count=1)
    key_file = _checkpoints(sqlite_url).with_suffix(".key")
    key_file.chmod(0o644)
    with pytest.raises(CheckpointError) as error:
        verify_audit_chain(db_url=sqlite_url)
    assert str(error.value) == KEY_FILE_EXPOSED.format(path=key_file)


def test_checkpoints_without_their_key_cannot_be_checked(sqlite_url):
    _seed_chain(sqlite_url, count=1)
    path = _checkpoints(sqlite_url)
    path.with_suffix(".key").unlink()
    with pytest.raises(CheckpointError) as error:
        verify_audit_chain(db_url=sqlite_url)
    assert str(error.value) == NO_KEY.format(
        path=path, env=settings.AUDIT_KEY_ENV, key=path.with_suffix(".key")
    )


def test_a_lost_key_is_never_replaced_while_its_checkpoints_exist(sqlite_url):
    _seed_chain(sqlite_url, count=1)
    path = _checkpoints(sqlite_url)
    path.with_suffix(".key").unlink()
    # The event is committed; the checkpoint that would vouch for it is refused, loudly.
    with pytest.raises(CheckpointError) as error, store.session_scope(sqlite_url) as session:
        record_event(session, actor="eve", action="a", target="after the key was lost")
    assert str(error.value) == NO_KEY.format(
        path=path, env=settings.AUDIT_KEY_ENV, key=path.with_suffix(".key")
    )
    assert not path.with_suffix(".key").exists()
    with pytest.raises(CheckpointError):
        verify_audit_chain(db_url=sqlite_url, advance=True)
    assert [line["events"] for line in _checkpoint_lines(sqlite_url)] == [1]


def test_the_daily_verification_checkpoints_a_chain_that_had_none(sqlite_url):
    _seed_chain(sqlite_url, count=3)
    _checkpoints(sqlite_url).unlink()
    read_only = verify_audit_chain(db_url=sqlite_url)
    assert read_only["checkpoint"] is None
    assert not _checkpoints(sqlite_url).exists()
    advanced = verify_audit_chain(db_url=sqlite_url, advance=True)
    assert advanced["checkpoint"]["events"] == 3
    assert [line["events"] for line in _checkpoint_lines(sqlite_url)] == [3]


def test_on_postgres_the_checkpoint_follows_the_chain_too(postgres_url):
    _seed_chain(postgres_url)
    assert [line["events"] for line in _checkpoint_lines(postgres_url)] == [6]
    assert verify_audit_chain(db_url=postgres_url)["checkpoint"]["events"] == 6


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_deleting_the_last_rows_with_sqlite3_makes_the_cli_verify_fail_naming_them(tmp_path):
    env = {**os.environ, "GOVFLOW_DATA_DIR": str(tmp_path)}
    env.pop("GOVFLOW_DB_URL", None)
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    _seed_chain(url)
    at = latest_checkpoint(_checkpoints(url)).signed_at
    subprocess.run(
        ["sqlite3", str(tmp_path / "govflow.db"), "DELETE FROM audit_events WHERE seq > 3"],
        check=True,
    )
    govflow = [sys.executable, "-m", "govflow", "audit", "verify"]
    broken = subprocess.run(govflow, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert broken.stderr == (
        f"FAILED after 3 good events: events 4-6 covered by the checkpoint of {at} are missing\n"
    )


def test_a_resumed_walk_checks_only_the_new_events_and_walks_it_all_when_its_head_changed(
    sqlite_url,
):
    _seed_chain(sqlite_url, count=4)
    with store.session_scope(sqlite_url) as session:
        first = verify_chain(session)
        record_event(session, actor="eve", action="dashboard.view", target="audit/all")
    # An edit of an event the first walk covered is not looked at again by a resumed walk...
    _execute(sqlite_url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with store.session_scope(sqlite_url) as session:
        resumed = verify_chain(session, resume=first)
        whole = verify_chain(session)
    assert (resumed.intact, resumed.events_checked) == (True, 5)
    assert (whole.intact, whole.first_break.seq if whole.first_break else None) == (False, 2)
    # ...but an edit of the event it ended on makes it walk from the first event.
    _execute(sqlite_url, "UPDATE audit_events SET hash = 'x' WHERE seq = 4")
    with store.session_scope(sqlite_url) as session:
        assert not verify_chain(session, resume=first).intact


def test_newest_events_deleted_then_written_over_are_caught_by_the_checkpoint_that_signed_them(
    sqlite_url,
):
    """The next write after a deletion appends new events where the deleted ones were and
    signs a checkpoint of that chain: the latest checkpoint passes, the one before does not."""
    _seed_chain(sqlite_url)
    at = latest_checkpoint(_checkpoints(sqlite_url)).signed_at
    _execute(sqlite_url, "DELETE FROM audit_events WHERE seq > 3")
    with store.session_scope(sqlite_url) as session:
        for n in range(4):
            record_event(session, actor="eve", action="report.executive_generated", target=f"r{n}")

    assert [line["events"] for line in _checkpoint_lines(sqlite_url)] == [6, 7]
    assert _verify_problem(sqlite_url) == HEAD_DIFFERS.format(seq=6, at=at)


def test_an_earlier_checkpoint_line_that_is_not_one_is_named_by_its_line(sqlite_url):
    _seed_chain(sqlite_url, count=2)
    with store.session_scope(sqlite_url) as session:
        record_event(session, actor="eve", action="dashboard.view", target="audit/all")
    path = _checkpoints(sqlite_url)
    first, latest = path.read_text().splitlines()
    path.write_text(f"{first[:20]}\n{latest}\n")

    with pytest.raises(CheckpointError) as unreadable:
        verify_audit_chain(db_url=sqlite_url)
    assert str(unreadable.value) == UNREADABLE_LINE.format(number=1, path=path)


def test_a_checkpoint_written_after_the_walk_began_is_not_held_against_it(sqlite_url):
    """A writer commits while the chain is walked: the walk saw 2 events, the checkpoint read
    before it covers 2, and the line appended since covers 3. That is no event missing."""
    _seed_chain(sqlite_url, count=2)
    path = _checkpoints(sqlite_url)
    before_the_walk = latest_checkpoint(path)
    with store.session_scope(sqlite_url) as session:
        record_event(session, actor="eve", action="dashboard.view", target="audit/all")
    key = signing_key(path, create=False)

    with store.session_scope(sqlite_url) as session:
        problem = checkpoints_problem(session, path, before_the_walk, key, events=2)

    assert [line["events"] for line in _checkpoint_lines(sqlite_url)] == [2, 3]
    assert problem is None


def _audit_query(*args: str) -> list[dict]:
    from typer.testing import CliRunner

    from govflow.cli import app

    result = CliRunner().invoke(app, ["audit", "query", "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--actor", "mallory"], "no audit event matches\n"),
        (["--until", "2025-02-28"], "no audit event matches\n"),
        (["--until", "2025-02-28", "--json"], ""),  # JSON lines of no event: no line at all
    ],
)
def test_an_audit_query_matching_no_event_says_so_and_succeeds(fresh_store_env, args, expected):
    from typer.testing import CliRunner

    from govflow.cli import NO_AUDIT_EVENT, app

    _seed_chain(fresh_store_env)

    result = CliRunner().invoke(app, ["audit", "query", *args])

    assert (result.exit_code, result.stdout, result.stderr) == (0, expected, "")
    assert NO_AUDIT_EVENT not in CliRunner().invoke(app, ["audit", "query"]).stdout


@pytest.mark.parametrize("option", ["--actor", "--severity", "--limit"])
def test_every_audit_query_filter_has_help(option):
    import typer

    from govflow.cli import app

    query = typer.main.get_command(app).commands["audit"].commands["query"]

    assert next(param for param in query.params if option in param.opts).help


@pytest.mark.parametrize(
    ("until", "expected_seqs"),
    [
        ("2025-03-01", [1, 2, 3, 4, 5, 6]),  # events at 02:00 to 07:00 on 1 March
        ("20250301", [1, 2, 3, 4, 5, 6]),  # the same date, as Python also reads one
        ("2025-02-28", []),
        ("2025-03-01T04:00", [1, 2]),  # a time: up to that moment, excluded
        ("2025-03-01T04:00:00+00:00", [1, 2]),
    ],
)
def test_audit_query_until_a_date_includes_that_whole_day_and_until_a_time_excludes_it(
    fresh_store_env, until, expected_seqs
):
    _seed_chain(fresh_store_env)

    rows = _audit_query("--until", until)

    assert [row["seq"] for row in rows] == expected_seqs


def test_audit_query_since_and_until_the_same_date_is_that_whole_day(fresh_store_env):
    _seed_chain(fresh_store_env)

    rows = _audit_query("--since", "2025-03-01", "--until", "2025-03-01")

    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6]


def test_audit_query_json_carries_each_events_prev_hash_and_hash_so_the_chain_checks_offline(
    fresh_store_env,
):
    events = _seed_chain(fresh_store_env, count=3)

    rows = _audit_query()

    assert [(row["prev_hash"], row["hash"]) for row in rows] == [
        (GENESIS_HASH, events[0].hash),
        (events[0].hash, events[1].hash),
        (events[1].hash, events[2].hash),
    ]
    for row in rows:  # what an auditor recomputes with no access to the store
        covered = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        canonical = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest() == row["hash"]
