"""govflow_retention (the daily purge, then `airflow db clean`) and govflow_legal_hold (a hold
from the UI, as the triggering user)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import select

from govflow import settings, store
from govflow.config.loading import NO_RETENTION_PERIOD
from govflow.flows import Refused
from govflow.flows.retention import apply_hold_request
from govflow.retention.holds import active_holds
from govflow.store.schema import (
    AuditEvent,
    GatewayHeartbeat,
    LegalHold,
    Model,
    ServingFeedback,
)

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
FORM = {
    "action": "add",
    "scope": "model",
    "target": "credit_approval",
    "from": "",
    "to": "",
    "hold_id": 0,
    "reason": "litigation",
}
RANGE_FORM = {**FORM, "scope": "range", "target": "", "from": "2025-03-01", "to": "2025-03-31"}


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py")).get_dag(dag_id)


@pytest.fixture
def governance(fresh_store_env) -> str:
    store.upgrade(fresh_store_env)
    with store.session_scope(fresh_store_env) as session:
        session.add(
            Model(
                id="credit_approval",
                model_type="binary_classifier",
                risk_tier="high",
                owner="olivia",
                business_purpose="p",
                created_by="test",
            )
        )
    return fresh_store_env


def test_a_dry_run_of_the_retention_dag_lists_and_cleans_nothing(governance, capsys):
    run = _dag("govflow_retention").test(run_conf={"dry_run": True})

    assert run.state == "success"
    output = capsys.readouterr().out
    assert "prediction_logs" in output and "would purge 0" in output
    with store.session_scope(governance) as session:
        assert session.scalars(select(AuditEvent.action)).all() == []


def _purged(url: str) -> tuple[list[str], list[str], list[str]]:
    """The heartbeats and feedback left, and the data types of the `retention.purged` events."""
    with store.session_scope(url) as session:
        heartbeats = session.scalars(select(GatewayHeartbeat.instance)).all()
        feedback = session.scalars(select(ServingFeedback.details)).all()
        events = session.scalars(
            select(AuditEvent.payload)
            .where(AuditEvent.action == "retention.purged")
            .order_by(AuditEvent.seq)
        ).all()
    return list(heartbeats), list(feedback), [event["data_type"] for event in events]


def test_a_retried_purge_takes_nothing_more_and_records_each_batch_once(governance):
    now = datetime.now(UTC)
    with store.session_scope(governance) as session:
        session.add_all(
            [
                GatewayHeartbeat(instance="gone", last_seen=now - timedelta(days=31)),
                GatewayHeartbeat(instance="live", last_seen=now),
                *(
                    ServingFeedback(
                        model_id="credit_approval",
                        kind="complaint",
                        severity="low",
                        details=details,
                        recorded_by="olivia",
                        recorded_at=now - timedelta(days=days),
                    )
                    for details, days in (("old", 6 * 366), ("recent", 1))
                ),
            ]
        )
    purge = _dag("govflow_retention").get_task("purge_expired_records").python_callable

    first = purge(params={"dry_run": False})
    retried = purge(params={"dry_run": False})

    purged = {result["data_type"]: result["purged"] for result in first}
    assert (purged["gateway_heartbeats"], purged["serving_feedback"]) == (1, 1)
    assert [result["purged"] for result in retried] == [0] * len(retried)
    assert _purged(governance) == (["live"], ["recent"], ["serving_feedback", "gateway_heartbeats"])


def test_the_retention_tasks_are_retried_minutes_apart():
    dag = _dag("govflow_retention")

    assert {task.task_id: (task.retries, task.retry_delay) for task in dag.tasks} == {
        "purge_expired_records": (2, timedelta(minutes=5)),
        "clean_airflow_metadata": (2, timedelta(minutes=5)),
    }


def _from_the_form(params: dict, user: str):
    task = _dag("govflow_legal_hold").get_task("apply_hold")
    return task.python_callable(params=params, dag_run=SimpleNamespace(triggering_user_name=user))


def test_a_hold_from_the_form_is_put_and_released_in_the_triggering_users_name(governance):
    assert _from_the_form(FORM, "audrey") == {"hold_id": 1, "action": "add"}
    released = {**FORM, "action": "release", "hold_id": 1, "reason": "case closed"}
    assert _from_the_form(released, "carol") == {"hold_id": 1, "action": "release"}

    with store.session_scope(governance) as session:
        hold = session.get_one(LegalHold, 1)
        assert (hold.created_by, hold.released_by) == ("audrey", "carol")
        actions = session.scalars(select(AuditEvent.actor).order_by(AuditEvent.seq)).all()
    assert actions == ["audrey", "carol"]


@pytest.mark.parametrize(
    ("action", "user", "key", "roles"),
    [
        ("add", "mike", "added_by", "compliance_officer, risk_manager, auditor, cto"),
        ("add", "victor", "added_by", "compliance_officer, risk_manager, auditor, cto"),
        ("release", "audrey", "released_by", "compliance_officer"),
        ("release", "olivia", "released_by", "compliance_officer"),
    ],
)
def test_a_hold_put_or_released_by_a_role_the_policy_does_not_allow_is_refused_in_one_line(
    governance, action, user, key, roles
):
    if action == "release":
        apply_hold_request(FORM, actor="carol")
    form = {**FORM, "action": action, "hold_id": 1, "reason": "case closed"}

    with pytest.raises(AirflowFailException) as refused:
        _from_the_form(form, user)

    assert str(refused.value) == (
        f"{user!r} may not {action} a legal hold: policy.yaml legal_holds.{key} allows the "
        f"roles {roles}"
    )
    expected = (
        ([(1, None)], [("retention.hold_added", "carol")]) if action == "release" else ([], [])
    )
    assert _holds_and_events(governance) == expected


@pytest.mark.parametrize(
    ("params", "user", "message"),
    [
        (FORM, "mallory", "'mallory' is nobody in people.yaml"),
        ({**FORM, "target": "nope"}, "carol", "no model 'nope' to hold"),
        ({**FORM, "reason": " "}, "carol", "a legal hold needs a reason"),
        ({**RANGE_FORM, "from": "yesterday"}, "carol", "param from: 'yesterday' is not a date"),
    ],
)
def test_a_hold_the_form_cannot_put_is_refused_and_changes_nothing(
    governance, params, user, message
):
    with pytest.raises(AirflowFailException, match=message):
        _from_the_form(params, user)
    with store.session_scope(governance) as session:
        assert session.scalars(select(LegalHold)).all() == []


@pytest.mark.parametrize(
    ("field", "value", "line"),
    [
        ("from", "2025-13-40", "param from: '2025-13-40' is not a date (YYYY-MM-DD)"),
        ("from", "yesterday", "param from: 'yesterday' is not a date (YYYY-MM-DD)"),
        ("to", "31/03/2025", "param to: '31/03/2025' is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_range_the_form_gives_as_no_date_is_refused_in_one_line_naming_the_field(
    governance, field, value, line
):
    with pytest.raises(Refused) as refused:
        apply_hold_request({**RANGE_FORM, field: value}, actor="carol")

    assert str(refused.value) == line
    with store.session_scope(governance) as session:
        assert session.scalars(select(LegalHold)).all() == []


def test_a_range_the_form_ends_on_a_day_holds_that_whole_day_as_the_command_line_does(
    governance,
):
    apply_hold_request(RANGE_FORM, actor="carol")

    with store.session_scope(governance) as session:
        holds = active_holds(session)
        assert holds.holds_model_at(None, datetime(2025, 3, 31, 23, 59, tzinfo=UTC))
        assert not holds.holds_model_at(None, datetime(2025, 4, 1, tzinfo=UTC))
        assert not holds.holds_model_at(None, datetime(2025, 2, 28, 23, 59, tzinfo=UTC))


def test_a_range_the_form_ends_at_a_time_holds_up_to_that_time(governance):
    apply_hold_request({**RANGE_FORM, "to": "2025-03-31T12:00:00+00:00"}, actor="carol")

    with store.session_scope(governance) as session:
        holds = active_holds(session)
        assert holds.holds_model_at(None, datetime(2025, 3, 31, 11, 59, tzinfo=UTC))
        assert not holds.holds_model_at(None, datetime(2025, 3, 31, 12, 0, tzinfo=UTC))


def _holds_and_events(url: str) -> tuple[list[tuple[int, str | None]], list[tuple[str, str]]]:
    with store.session_scope(url) as session:
        holds = session.execute(select(LegalHold.id, LegalHold.released_by)).all()
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.seq)
        ).all()
    return [tuple(hold) for hold in holds], [tuple(event) for event in events]


def _last_line(capsys) -> str:
    """What the task printed last (Airflow's and alembic's log lines come before it)."""
    return capsys.readouterr().out.splitlines()[-1]


@pytest.mark.parametrize(
    ("form", "held"),
    [
        (FORM, "model credit_approval"),
        (RANGE_FORM, "range 2025-03-01 00:00 to 2025-04-01 00:00"),
    ],
    ids=["model", "range"],
)
def test_a_retried_add_returns_the_hold_it_put_and_records_nothing_again(
    governance, form, held, capsys
):
    assert _from_the_form(form, "carol") == {"hold_id": 1, "action": "add"}

    assert _from_the_form(form, "carol") == {"hold_id": 1, "action": "add"}

    retried = _last_line(capsys)
    assert retried.startswith(f"{held} is already held by legal hold 1, put by carol on ")
    assert retried.endswith(" UTC (litigation); nothing changed")
    assert _holds_and_events(governance) == ([(1, None)], [("retention.hold_added", "carol")])


def test_an_add_like_an_active_hold_names_who_put_that_hold(governance, capsys):
    apply_hold_request(RANGE_FORM, actor="carol")

    apply_hold_request({**RANGE_FORM, "reason": "another case"}, actor="audrey")

    assert _last_line(capsys).startswith(
        "range 2025-03-01 00:00 to 2025-04-01 00:00 is already held by legal hold 1, put by "
        "carol on "
    )
    assert _holds_and_events(governance) == ([(1, None)], [("retention.hold_added", "carol")])


def test_a_hold_like_a_released_one_is_a_new_hold(governance):
    apply_hold_request(FORM, actor="carol")
    apply_hold_request({**FORM, "action": "release", "hold_id": 1, "reason": "done"}, actor="carol")

    assert apply_hold_request(FORM, actor="carol") == {"hold_id": 2, "action": "add"}

    assert _holds_and_events(governance) == (
        [(1, "carol"), (2, None)],
        [
            ("retention.hold_added", "carol"),
            ("retention.hold_released", "carol"),
            ("retention.hold_added", "carol"),
        ],
    )


def test_a_retried_release_returns_the_hold_it_released_and_records_nothing_again(
    governance, capsys
):
    _from_the_form(FORM, "audrey")
    release = {**FORM, "action": "release", "hold_id": 1, "reason": "case closed"}
    assert _from_the_form(release, "carol") == {"hold_id": 1, "action": "release"}

    assert _from_the_form(release, "carol") == {"hold_id": 1, "action": "release"}

    retried = _last_line(capsys)
    assert retried.startswith(
        "legal hold 1 on model credit_approval was already released by carol on "
    )
    assert retried.endswith(" UTC (case closed); nothing changed")
    assert _holds_and_events(governance) == (
        [(1, "carol")],
        [("retention.hold_added", "audrey"), ("retention.hold_released", "carol")],
    )


def test_a_hold_request_that_fails_otherwise_than_refused_is_retried():
    assert _dag("govflow_legal_hold").get_task("apply_hold").retries == 2


@pytest.mark.parametrize(
    ("user", "reason"), [("carol", "case closed"), ("audrey", "settled")], ids=["actor", "reason"]
)
def test_a_release_of_a_hold_released_otherwise_is_refused_and_records_nothing(
    governance, user, reason, tmp_path, monkeypatch
):
    # Two people who may release a hold: the policy's compliance officer and the auditor.
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    policy = config_dir / "policy.yaml"
    allowed = "  released_by: [compliance_officer]\n"
    assert allowed in policy.read_text()
    policy.write_text(
        policy.read_text().replace(allowed, "  released_by: [compliance_officer, auditor]\n")
    )
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config_dir))
    apply_hold_request(FORM, actor="carol")
    release = {**FORM, "action": "release", "hold_id": 1, "reason": "case closed"}
    apply_hold_request(release, actor="audrey")

    with pytest.raises(Refused) as refused:
        apply_hold_request({**release, "reason": reason}, actor=user)

    assert str(refused.value).startswith("legal hold 1 was already released on ")
    assert str(refused.value).endswith(" by audrey")
    assert _holds_and_events(governance) == (
        [(1, "audrey")],
        [("retention.hold_added", "carol"), ("retention.hold_released", "audrey")],
    )


def test_a_policy_keeping_airflow_metadata_indefinitely_fails_the_clean_once_in_one_line(
    tmp_path, monkeypatch
):
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    policy = config_dir / "policy.yaml"
    kept = "airflow_metadata: {indefinite: true, reason: kept}"
    policy.write_text(
        policy.read_text().replace(
            'airflow_metadata: {days: 90, reason: "Operational; govflow keeps its own records"}',
            kept,
        )
    )
    assert kept in policy.read_text()
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config_dir))
    clean = _dag("govflow_retention").get_task("clean_airflow_metadata").python_callable

    with pytest.raises(AirflowFailException) as failed:
        clean(params={"dry_run": True})

    assert str(failed.value) == "policy.yaml keeps airflow_metadata indefinitely: nothing to clean"


def _policy_without(tmp_path: Path, monkeypatch, *data_types: str) -> None:
    """Point GOVFLOW_CONFIG_DIR at a copy of config/ whose policy has no period for these."""
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    policy = config_dir / "policy.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.split(":")[0].strip() not in data_types]
    assert len(lines) - len(kept) == len(data_types)
    policy.write_text("".join(kept))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config_dir))


def _no_period(data_type: str) -> str:
    return f"policy.yaml: retention.{data_type}: " + NO_RETENTION_PERIOD.format(data_type=data_type)


@pytest.mark.parametrize("task_id", ["purge_expired_records", "clean_airflow_metadata"])
def test_a_policy_without_a_retention_period_fails_each_retention_task_once_in_one_line(
    governance, tmp_path, monkeypatch, task_id
):
    old = datetime.now(UTC) - timedelta(days=31)
    with store.session_scope(governance) as session:
        session.add(GatewayHeartbeat(instance="gone", last_seen=old))
    _policy_without(tmp_path, monkeypatch, "gateway_heartbeats")
    task = _dag("govflow_retention").get_task(task_id).python_callable

    with pytest.raises(AirflowFailException) as failed:
        task(params={"dry_run": False})

    assert str(failed.value) == _no_period("gateway_heartbeats")
    assert _purged(governance) == (["gone"], [], [])


def test_a_policy_with_several_problems_fails_the_purge_in_one_line_that_counts_the_others(
    governance, tmp_path, monkeypatch
):
    _policy_without(tmp_path, monkeypatch, "alerts", "route_history")
    purge = _dag("govflow_retention").get_task("purge_expired_records").python_callable

    with pytest.raises(AirflowFailException) as failed:
        purge(params={"dry_run": True})

    assert str(failed.value) == (
        _no_period("alerts") + " (and 1 more: govflow config check lists them)"
    )
