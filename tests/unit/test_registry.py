"""Seed 003 "Deprecate models": ``govflow registry deprecate`` and what it stops."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from govflow import registry, store
from govflow.cli import DEPRECATES, app
from govflow.deployment.procedure import DEPRECATED_MODEL, DeploymentRequest, request_problems
from govflow.flows import NOT_A_PERSON
from govflow.registry import VERSION_REQUIRED, RegistryError
from govflow.store.schema import AuditEvent, Model

REASON = "replaced by credit_approval_v2"


def register(url: str) -> None:
    store.upgrade(url)
    with store.session_scope(url) as session:
        registry.register_model(
            session,
            model_id="credit_approval",
            model_type="binary_classifier",
            risk_tier="high",
            owner="olivia",
            business_purpose="credit decisions",
            actor="test",
        )


def deprecate(*options: str):
    return CliRunner().invoke(app, ["registry", "deprecate", "credit_approval", *options])


def test_a_deprecated_model_keeps_its_reason_and_no_deployment_of_it_starts(fresh_store_env):
    register(fresh_store_env)

    result = deprecate("--actor", "lena", "--reason", REASON)

    assert result.exit_code == 0, result.output
    assert result.output == f"credit_approval deprecated: {REASON}\n"
    with store.session_scope(fresh_store_env) as session:
        model = session.get_one(Model, "credit_approval")
        assert (model.status, model.deprecation_reason) == ("deprecated", REASON)
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registry.model_deprecated")
        ).one()
        assert (event.actor, event.target) == ("lena", "model:credit_approval")
        request = DeploymentRequest(
            "credit_approval", "1.1.0", "minor", "production", "why", "mike", "run"
        )
        problems = request_problems(session, request)
    assert DEPRECATED_MODEL.format(model_id="credit_approval", reason=REASON) in problems


def test_deprecating_without_a_reason_is_refused(fresh_store_env):
    register(fresh_store_env)

    result = deprecate("--actor", "lena")

    assert result.exit_code == 1
    assert registry.JUSTIFICATION_REQUIRED in result.output
    with store.session_scope(fresh_store_env) as session:
        assert session.get_one(Model, "credit_approval").status != "deprecated"


def test_deprecating_again_keeps_the_first_day_and_reason_and_records_nothing(fresh_store_env):
    register(fresh_store_env)
    deprecate("--actor", "olivia", "--reason", REASON)
    with store.session_scope(fresh_store_env) as session:
        first = session.get_one(Model, "credit_approval").deprecated_at

    again = deprecate("--actor", "tom", "--reason", "another reason")

    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout == (
        f"credit_approval was already deprecated on {first:%Y-%m-%d %H:%M} UTC: {REASON}; "
        "nothing changed\n"
    )
    with store.session_scope(fresh_store_env) as session:
        model = session.get_one(Model, "credit_approval")
        assert (model.deprecated_at, model.deprecation_reason) == (first, REASON)
        events = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "registry.model_deprecated")
        ).all()
    assert events == ["olivia"]


def test_deprecating_as_nobody_in_people_yaml_is_refused_and_changes_nothing(fresh_store_env):
    register(fresh_store_env)

    result = deprecate("--actor", "nobody", "--reason", REASON)

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == NOT_A_PERSON.format(actor="nobody", may=DEPRECATES) + "\n"
    with store.session_scope(fresh_store_env) as session:
        assert session.get_one(Model, "credit_approval").status != "deprecated"


@pytest.mark.parametrize("actor", ["victor", "mike", "carol"])
def test_deprecating_as_neither_its_owner_nor_a_role_allowed_is_refused_in_one_line(
    fresh_store_env, actor
):
    register(fresh_store_env)

    result = deprecate("--actor", actor, "--reason", REASON)

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"{actor!r} may not deprecate credit_approval: its owner olivia may, and the roles "
        "ml_lead, cto, ai_governance_committee (policy.yaml model_retirement.retired_by)\n"
    )
    with store.session_scope(fresh_store_env) as session:
        assert session.get_one(Model, "credit_approval").status != "deprecated"


@pytest.mark.parametrize("version", ["", " "])
def test_a_version_without_a_name_is_refused(fresh_store_env, version):
    register(fresh_store_env)

    with store.session_scope(fresh_store_env) as session, pytest.raises(RegistryError) as refused:
        registry.register_version(
            session,
            model_id="credit_approval",
            version=version,
            artifact_uri="",
            artifact_sha256="",
            training_snapshot_id="not recorded",
            feature_version="not recorded",
            validation_uri=None,
            validation_metrics={},
            decision_threshold=None,
            actor="test",
        )

    assert str(refused.value) == VERSION_REQUIRED
