"""`govflow rollout feedback`: feedback the rollout's gates read, recorded from the command
line for a model no serving consumer files feedback for; each refusal is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow import registry, store
from govflow.cli import UNKNOWN_FEEDBACK_AUTHOR
from govflow.config import load_config
from govflow.config.inventory import UNKNOWN_MODEL as NOT_IN_MODELS_YAML
from govflow.rollout import routing
from govflow.store.schema import AuditEvent, ServingFeedback
from tests.support.registry import register_models

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
MODEL = "credit_approval"
KINDS = "bug, complaint, override, security_vulnerability, regulatory_concern"
BUG = [
    "rollout",
    "feedback",
    "--model",
    MODEL,
    "--version",
    "1.1.0",
    "--kind",
    "bug",
    "--severity",
    "critical",
    "--details",
    "declines every applicant from one postcode",
    "--actor",
    "quinn",
]


def govflow(*args: str) -> Result:
    from govflow.cli import app

    return CliRunner().invoke(app, list(args))


def with_option(args: list[str], option: str, value: str) -> list[str]:
    changed = list(args)
    changed[changed.index(option) + 1] = value
    return changed


@pytest.fixture
def db_url(fresh_store_env) -> str:
    return register_models(fresh_store_env, load_config(CONFIG_DIR), {MODEL: ["1.0.0", "1.1.0"]})


def recorded(db_url: str) -> list[tuple]:
    with store.session_scope(db_url) as session:
        return [
            (f.model_id, f.version, f.kind, f.severity, f.details, f.recorded_by)
            for f in session.scalars(select(ServingFeedback))
        ]


def test_feedback_is_recorded_against_the_version_with_an_audit_event(db_url):
    result = govflow(*BUG)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "bug (critical) recorded against credit_approval 1.1.0 as feedback 1 by quinn\n"
    )
    assert recorded(db_url) == [
        (MODEL, "1.1.0", "bug", "critical", "declines every applicant from one postcode", "quinn")
    ]
    with store.session_scope(db_url) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "serving.feedback_recorded")
        ).one()
        assert (event.actor, event.target, event.severity) == (
            "quinn",
            "model:credit_approval:1.1.0",
            "CRITICAL",
        )
        assert event.payload == {
            "feedback_id": 1,
            "kind": "bug",
            "severity": "critical",
            "details": "declines every applicant from one postcode",
        }


def test_feedback_without_a_version_is_about_every_version(db_url):
    args = BUG[:4] + BUG[6:]
    result = govflow(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "bug (critical) recorded against credit_approval (every version) as feedback 1 by quinn\n"
    )
    assert recorded(db_url)[0][1] is None


@pytest.mark.parametrize(
    ("option", "value", "line", "status"),
    [
        (
            "--kind",
            "typo",
            "Invalid value for --kind: "
            + routing.UNKNOWN_FEEDBACK_KIND.format(kind="typo", kinds=KINDS),
            2,
        ),
        (
            "--severity",
            "high",
            "Invalid value for --severity: "
            + routing.UNKNOWN_FEEDBACK_SEVERITY.format(
                severity="high", severities="critical, major, minor"
            ),
            2,
        ),
        ("--details", "  ", "Invalid value for --details: " + routing.DETAILS_REQUIRED, 2),
        (
            "--model",
            "no_such_model",
            NOT_IN_MODELS_YAML.format(
                model_id="no_such_model", models=", ".join(load_config(CONFIG_DIR).models.ids())
            ),
            2,
        ),
        (
            "--version",
            "9.9.9",
            registry.UNKNOWN_VERSION.format(model_id=MODEL, version="9.9.9"),
            1,
        ),
        (
            "--actor",
            "mallory",
            "Invalid value for --actor: " + UNKNOWN_FEEDBACK_AUTHOR.format(actor="mallory"),
            2,
        ),
    ],
)
def test_bad_feedback_is_refused_in_one_line_and_records_nothing(
    db_url, option, value, line, status
):
    result = govflow(*with_option(BUG, option, value))
    assert result.exit_code == status
    assert result.stderr.startswith(line)
    assert len(result.stderr.splitlines()) == 1
    assert recorded(db_url) == []


def test_feedback_on_a_model_not_registered_yet_is_refused(db_url):
    result = govflow(*with_option(BUG, "--model", "marketing_propensity"))
    assert result.exit_code == 1
    assert result.stderr == routing.UNKNOWN_MODEL.format(model_id="marketing_propensity") + "\n"
    assert recorded(db_url) == []
