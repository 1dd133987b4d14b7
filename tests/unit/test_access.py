"""people.yaml roles as Airflow (FAB) roles and the `govflow airflow-users` command."""

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govflow.cli import app
from govflow.config import ROLES, load_config
from govflow.config.access import (
    ADMIN_PASSWORD_ENV,
    FAB_ROLE_OF_ROLE,
    NO_ROLES,
    UNEXPECTED_USERS_LIST,
    USERS_PASSWORD_ENV,
    AirflowUser,
    airflow_users,
    fab_role_of,
    usernames_listed,
    users_create_command,
    users_create_shell_line,
    users_to_create,
)
from govflow.config.people import PeopleFile

REPO = Path(__file__).resolve().parents[2]

OLIVIA = AirflowUser("olivia", "Olivia", "Owens", "olivia@example.com", "User")
ADMIN = AirflowUser("admin", "Platform", "Administrator", "admin@example.com", "Admin")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["admin"], "Admin"),
        (["ml_engineer"], "Op"),
        (["ml_lead"], "Op"),
        (["system_owner"], "User"),
        (["compliance_officer"], "User"),
        (["risk_manager"], "User"),
        (["qa_lead"], "User"),
        (["ai_governance_committee"], "User"),
        (["deployment_manager"], "User"),
        (["cto"], "User"),
        (["ceo"], "User"),
        (["auditor"], "Viewer"),
        (["viewer"], "Viewer"),
        (["qa_lead", "ai_governance_committee"], "User"),
        (["viewer", "ml_engineer"], "Op"),
        (["auditor", "compliance_officer"], "User"),
        (["ml_lead", "admin", "viewer"], "Admin"),
    ],
)
def test_a_person_gets_the_highest_fab_role_of_their_roles(roles, expected) -> None:
    assert fab_role_of(roles) == expected


def test_every_govflow_role_has_a_fab_role() -> None:
    assert sorted(FAB_ROLE_OF_ROLE) == sorted(ROLES)


def test_a_person_without_roles_gets_no_fab_role() -> None:
    with pytest.raises(ValueError) as raised:
        fab_role_of([])
    assert str(raised.value) == NO_ROLES


def test_the_people_of_the_repository_config_become_these_airflow_users() -> None:
    users = airflow_users(load_config(REPO / "config").people)

    assert [(user.username, user.role) for user in users] == [
        ("olivia", "User"),
        ("sam", "User"),
        ("priya", "User"),
        ("eve", "Op"),
        ("mike", "Op"),
        ("lena", "Op"),
        ("carol", "User"),
        ("rick", "User"),
        ("quinn", "User"),
        ("gina", "User"),
        ("dave", "User"),
        ("tom", "User"),
        ("cathy", "User"),
        ("audrey", "Viewer"),
        ("victor", "Viewer"),
        ("admin", "Admin"),
    ]
    assert users[0] == OLIVIA
    assert users[-1] == ADMIN


@pytest.mark.parametrize(
    ("name", "first_name", "last_name"),
    [
        ("Olivia Owens", "Olivia", "Owens"),
        ("Mary Ann Smith", "Mary Ann", "Smith"),
        ("Cher", "Cher", "Cher"),
    ],
)
def test_the_last_word_of_a_name_is_the_last_name(name, first_name, last_name) -> None:
    people = PeopleFile.model_validate(
        {
            "users": [{"id": "someone", "name": name, "email": "s@example.com", "roles": ["cto"]}],
            "on_call": {
                "primary": {"start": "2025-01-06", "members": ["someone"]},
                "secondary": {"members": ["someone"]},
                "fairness": {"members": ["someone"]},
            },
            "slack_channels": {},
        }
    )

    (user,) = airflow_users(people)

    assert (user.first_name, user.last_name) == (first_name, last_name)


def test_admins_and_everyone_else_take_their_password_from_different_variables() -> None:
    assert (ADMIN.password_env, OLIVIA.password_env) == (ADMIN_PASSWORD_ENV, USERS_PASSWORD_ENV)


def test_the_printed_command_keeps_the_password_a_variable_reference() -> None:
    assert users_create_shell_line(OLIVIA) == (
        "airflow users create --username olivia --firstname Olivia --lastname Owens "
        '--email olivia@example.com --role User --password "$GOVFLOW_USERS_PASSWORD"'
    )


def test_the_command_takes_the_password_from_the_environment_or_asks_for_a_random_one() -> None:
    head = ["airflow", "users", "create", "--username", "admin", "--firstname", "Platform"]
    head += ["--lastname", "Administrator", "--email", "admin@example.com", "--role", "Admin"]

    assert users_create_command(ADMIN, {ADMIN_PASSWORD_ENV: "s3cret"}) == [
        *head,
        "--password",
        "s3cret",
    ]
    assert users_create_command(ADMIN, {ADMIN_PASSWORD_ENV: ""}) == [
        *head,
        "--use-random-password",
    ]
    assert users_create_command(ADMIN, {USERS_PASSWORD_ENV: "other"}) == [
        *head,
        "--use-random-password",
    ]


def test_the_listed_usernames_are_read_past_the_warnings_airflow_prints_first() -> None:
    output = (
        "2026-01-01T00:00:00Z [warning  ] Using `httpx` with `starlette.testclient` ...\n"
        '[{"id": 1, "username": "admin", "roles": ["Admin"]}, {"id": 2, "username": "eve"}]\n'
    )

    assert usernames_listed(output) == {"admin", "eve"}
    assert usernames_listed("[]\n") == set()


def test_an_unreadable_users_list_is_an_error_that_shows_the_output() -> None:
    with pytest.raises(ValueError) as raised:
        usernames_listed("No data found\n")
    assert str(raised.value) == UNEXPECTED_USERS_LIST.format(output="No data found\n")


def test_only_users_airflow_does_not_know_are_created() -> None:
    assert users_to_create([OLIVIA, ADMIN], {"admin", "victor"}) == [OLIVIA]


def test_airflow_users_prints_one_create_command_per_person() -> None:
    result = CliRunner().invoke(app, ["airflow-users", "--config-dir", str(REPO / "config")])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 16
    assert lines[0] == users_create_shell_line(OLIVIA)
    assert lines[-1] == users_create_shell_line(ADMIN)


FAKE_AIRFLOW = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "{record}"
if [ "$1 $2" = "users list" ]; then
    echo "2026-01-01T00:00:00Z [warning  ] a warning on stdout"
    echo '[{{"username": "admin"}}, {{"username": "victor"}}]'
fi
"""


def test_airflow_users_run_creates_the_missing_users_with_the_passwords_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "airflow"
    fake.parent.mkdir()
    fake.write_text(FAKE_AIRFLOW.format(record=record))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(USERS_PASSWORD_ENV, "users-pw")
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "admin-pw")

    result = CliRunner().invoke(
        app, ["airflow-users", "--run", "--config-dir", str(REPO / "config")]
    )

    assert result.exit_code == 0, result.output
    calls = record.read_text().splitlines()
    assert calls[0] == "users list -o json"
    created = [call.split()[3] for call in calls[1:]]
    assert created == [
        "olivia",
        "sam",
        "priya",
        "eve",
        "mike",
        "lena",
        "carol",
        "rick",
        "quinn",
        "gina",
        "dave",
        "tom",
        "cathy",
        "audrey",
    ]
    assert calls[1] == (
        "users create --username olivia --firstname Olivia --lastname Owens "
        "--email olivia@example.com --role User --password users-pw"
    )
    assert result.output.splitlines()[-1] == "2 of 16 people.yaml users already existed"


def test_make_airflow_gives_everyone_in_people_yaml_a_simple_auth_manager_role() -> None:
    result = CliRunner().invoke(app, ["airflow-users", "--simple"])

    assert result.exit_code == 0, result.output
    pairs = dict(pair.split(":") for pair in result.stdout.strip().split(","))
    people = load_config(Path(__file__).resolve().parents[2] / "config").people.users
    assert set(pairs) == {person.id for person in people}
    assert (pairs["admin"], pairs["eve"], pairs["carol"], pairs["victor"]) == (
        "admin",
        "op",
        "user",
        "viewer",
    )
