"""A version that served before govflow governed its model, declared in production once
(``registry.declare_in_production``): recorded as the deployment procedure records a version
it took to production, so that routing and a later major deployment find it; declared
again it changes nothing; refused in one line once govflow governs what serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from govflow import registry, store
from govflow.cli import app
from govflow.config import load_config
from govflow.config.deployment import DeploymentKind
from govflow.deployment import procedure
from govflow.registry import (
    DECLARE_DEPLOYED,
    DECLARE_DEPRECATED,
    DECLARE_HAS_PRODUCTION,
    DECLARE_NOT_FIRST,
    DECLARED_IN_PRODUCTION,
    OWNER_CANNOT_APPROVE,
    RegistryError,
)
from govflow.rollout.routing import StoreTarget
from govflow.store.schema import (
    AuditEvent,
    Model,
    ModelVersion,
    RegistryDecision,
    StageHistory,
)
from tests.support.own_models import CONFIG_DIR, TENANCY, guide_workspace
from tests.support.registry import register_models

MODEL = "credit_approval"
OWNER = "olivia"
# The declaration approves the version: someone other than its owner makes it.
DECLARER = "lena"
CONFIG = load_config(CONFIG_DIR)


@pytest.fixture
def registered(sqlite_url) -> str:
    """credit_approval with its first version 1.0.0 and a later 2.0.0, both drafts."""
    return register_models(sqlite_url, CONFIG, {MODEL: ["1.0.0", "2.0.0"]})


def declare(url: str, version: str = "1.0.0", actor: str = DECLARER) -> bool:
    with store.session_scope(url) as session:
        _, declared = registry.declare_in_production(
            session, model_id=MODEL, version=version, actor=actor
        )
    return declared


def recorded(url: str) -> dict[str, object]:
    """What a declaration could change: statuses, stages, decisions, audit events."""
    with store.session_scope(url) as session:
        return {
            "model": session.get_one(Model, MODEL).status,
            "versions": {
                version: status
                for version, status in session.execute(
                    select(ModelVersion.version, ModelVersion.status)
                )
            },
            "stages": [
                tuple(row)
                for row in session.execute(
                    select(ModelVersion.version, StageHistory.stage, StageHistory.notes).join(
                        ModelVersion, StageHistory.model_version_id == ModelVersion.id
                    )
                )
            ],
            "decisions": session.scalars(select(RegistryDecision.action)).all(),
            "events": session.scalar(select(func.count()).select_from(AuditEvent)),
        }


def major(version: str = "2.0.0", kind: DeploymentKind = "major") -> procedure.DeploymentRequest:
    return procedure.DeploymentRequest(
        MODEL, version, kind, "production", "v2", "sam", f"run/{kind}/{version}"
    )


def test_a_declared_version_is_approved_and_in_production_with_who_declared_it(registered):
    assert declare(registered) is True

    assert recorded(registered) | {"events": None} == {
        "model": "approved",
        "versions": {"1.0.0": "approved", "2.0.0": "draft"},
        "stages": [("1.0.0", "production", DECLARED_IN_PRODUCTION)],
        "decisions": ["declared"],
        "events": None,
    }
    with store.session_scope(registered) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registry.production_declared")
        ).one()
        assert (event.actor, event.target, event.payload) == (
            DECLARER,
            f"model:{MODEL}:1.0.0",
            {"stage": "production", "declared": True, "deployed": False},
        )
        assert registry.production_version(session, MODEL) == "1.0.0"
        assert registry.serving_version(session, MODEL) == "1.0.0"


def test_declaring_the_same_version_again_changes_nothing(registered):
    declare(registered)
    before = recorded(registered)

    assert declare(registered) is False
    assert recorded(registered) == before


def test_a_major_deployment_after_the_declaration_replaces_the_declared_version(registered):
    with store.session_scope(registered) as session:
        assert procedure.request_problems(session, major()) == [
            procedure.NEEDS_PRODUCTION.format(kind="major", model_id=MODEL)
        ]
    declare(registered)

    with store.session_scope(registered) as session:
        # Asked before the major deployment opens: once open, it is live and refuses another.
        assert procedure.request_problems(session, major(kind="initial")) == [
            procedure.INITIAL_HAS_PRODUCTION.format(model_id=MODEL, previous="1.0.0")
        ]
        deployment, _ = procedure.open_deployment(session, CONFIG, major())
        assert procedure.request_problems(session, major()) == []
        assert procedure.previous_version(deployment) == "1.0.0"
        route = StoreTarget(session).current(MODEL)
    assert {split.active for split in route.splits.values()} == {"1.0.0"}


def deprecated(session: Session) -> None:
    registry.deprecate_model(
        session,
        model_id=MODEL,
        actor=OWNER,
        reason="replaced",
        actor_roles=[],
        retired_by=[],
    )


def in_production(session: Session) -> None:
    registry.log_stage(
        session, model_id=MODEL, version="1.0.0", stage="production", deployed_by="mike"
    )


def deployed(session: Session) -> None:
    deployment, _ = procedure.open_deployment(session, CONFIG, major("1.0.0", "initial"))
    deployment.ref = "DEP-20240603-ABC123"


@pytest.mark.parametrize(
    ("before", "version", "refusal"),
    [
        (deprecated, "1.0.0", DECLARE_DEPRECATED.format(model_id=MODEL, reason="replaced")),
        (in_production, "1.0.0", DECLARE_HAS_PRODUCTION.format(model_id=MODEL, current="1.0.0")),
        (in_production, "2.0.0", DECLARE_HAS_PRODUCTION.format(model_id=MODEL, current="1.0.0")),
        (deployed, "1.0.0", DECLARE_DEPLOYED.format(model_id=MODEL, ref="DEP-20240603-ABC123")),
        (None, "2.0.0", DECLARE_NOT_FIRST.format(model_id=MODEL, version="2.0.0", first="1.0.0")),
    ],
    ids=["deprecated", "in-production", "another-in-production", "deployed", "not-first"],
)
def test_a_declaration_is_refused_once_govflow_governs_what_serves_and_changes_nothing(
    registered, before: Callable[[Session], None] | None, version: str, refusal: str
):
    if before is not None:
        with store.session_scope(registered) as session:
            before(session)
    unchanged = recorded(registered)

    with pytest.raises(RegistryError) as refused:
        declare(registered, version)

    assert str(refused.value) == refusal
    assert recorded(registered) == unchanged


def test_the_models_owner_may_not_declare_it_in_production(registered):
    unchanged = recorded(registered)

    with pytest.raises(RegistryError) as refused:
        declare(registered, actor=OWNER)

    assert str(refused.value) == OWNER_CANNOT_APPROVE.format(user=OWNER, model_id=MODEL)
    assert recorded(registered) == unchanged


def test_a_declared_version_declared_again_after_a_deployment_replaced_it_is_refused(
    registered,
):
    declare(registered)
    with store.session_scope(registered) as session:
        registry.log_stage(
            session, model_id=MODEL, version="2.0.0", stage="production", deployed_by="mike"
        )

    with pytest.raises(RegistryError) as refused:
        declare(registered)

    assert str(refused.value) == DECLARE_HAS_PRODUCTION.format(model_id=MODEL, current="2.0.0")


def test_a_model_not_registered_yet_may_have_its_first_version_declared(sqlite_url):
    store.upgrade(sqlite_url)
    with store.session_scope(sqlite_url) as session:
        assert (
            registry.check_production_declaration(
                session, model_id=MODEL, version="1.0.0", actor=DECLARER, owner=OWNER
            )
            is False
        )


# --- govflow model register --in-production, on the README guide's own model ----------------

GUIDE_MODEL = TENANCY
REGISTER = ["model", "register", GUIDE_MODEL, "--validation", "validation.csv"]


@pytest.fixture
def own_model(tmp_path, monkeypatch) -> Path:
    """The guide's model beside the demo's in a copy of config/, its validation.csv in the
    working directory; GOVFLOW_* point at a fresh store."""
    guide_workspace(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def govflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="govflow")


def declarations() -> list[tuple[str, str]]:
    """(actor, target) of every declaration in the audit trail."""
    with store.session_scope() as session:
        return [
            (event.actor, event.target)
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "registry.production_declared")
            )
        ]


def test_register_in_production_declares_the_version_and_its_baseline_and_major_follow(
    own_model,
):
    declared = govflow(*REGISTER, "--in-production", "--actor", "lena")

    assert (declared.exit_code, declared.stderr) == (0, ""), declared.output
    assert declared.stdout.splitlines()[:2] == [
        f"{GUIDE_MODEL} 1 registered (approved, black box); next: govflow baseline create "
        f"--model {GUIDE_MODEL} --from <validation data>",
        f"{GUIDE_MODEL} 1 declared in production (it served before govflow governed the "
        "model); later versions replace it through govflow_model_deployment",
    ]
    assert declarations() == [("lena", f"model:{GUIDE_MODEL}:1")]
    baseline = govflow("baseline", "create", "--model", GUIDE_MODEL, "--from", "validation.csv")
    assert baseline.exit_code == 0, baseline.output
    assert "baseline 2024-05-02-v1 active (4000 rows from validation.csv, model version 1)" in (
        baseline.stdout
    )
    assert govflow(*REGISTER, "--version", "2").exit_code == 0
    with store.session_scope() as session:
        request = procedure.DeploymentRequest(
            GUIDE_MODEL, "2", "major", "production", "v2", "sam", "own/major/2"
        )
        assert procedure.request_problems(session, request) == []


def test_register_in_production_again_changes_nothing(own_model):
    govflow(*REGISTER, "--in-production", "--actor", "lena")

    again = govflow(*REGISTER, "--in-production", "--actor", "mike")

    assert (again.exit_code, again.stderr) == (0, ""), again.output
    assert again.stdout.splitlines()[1] == (
        f"{GUIDE_MODEL} 1 was declared in production already; nothing changed"
    )
    assert declarations() == [("lena", f"model:{GUIDE_MODEL}:1")]
    with store.session_scope() as session:
        stages = session.scalars(select(StageHistory.stage)).all()
    assert stages == ["production"]


@pytest.mark.parametrize(
    ("before", "refusal"),
    [
        (
            [
                [*REGISTER],
                ["registry", "deprecate", GUIDE_MODEL, "--actor", "priya", "--reason", "gone"],
            ],
            DECLARE_DEPRECATED.format(model_id=GUIDE_MODEL, reason="gone"),
        ),
        (
            [[*REGISTER, "--in-production"]],
            DECLARE_HAS_PRODUCTION.format(model_id=GUIDE_MODEL, current="1"),
        ),
        (
            [[*REGISTER]],
            DECLARE_NOT_FIRST.format(model_id=GUIDE_MODEL, version="2", first="1"),
        ),
    ],
    ids=["deprecated", "in-production", "not-first"],
)
def test_register_in_production_refused_is_one_line_and_stores_nothing(
    own_model, before: list[list[str]], refusal: str
):
    for command in before:
        assert govflow(*command).exit_code == 0
    unchanged = recorded_model(own_model)

    refused = govflow(*REGISTER, "--version", "2", "--in-production")

    assert (refused.exit_code, refused.stdout, refused.stderr) == (1, "", refusal + "\n")
    assert recorded_model(own_model) == unchanged
    assert not (own_model / "models" / GUIDE_MODEL / "2").exists()


def recorded_model(data_dir: Path) -> dict[str, object]:
    with store.session_scope() as session:
        return {
            "model": session.get_one(Model, GUIDE_MODEL).status,
            "versions": session.scalars(select(ModelVersion.version)).all(),
            "stages": session.scalars(select(StageHistory.stage)).all(),
            "events": session.scalar(select(func.count()).select_from(AuditEvent)),
            "files": sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.parquet")),
        }


def test_register_in_production_by_the_models_owner_is_refused_and_stores_nothing(own_model):
    refused = govflow(*REGISTER, "--in-production", "--actor", "priya")

    assert (refused.exit_code, refused.stdout, refused.stderr) == (
        1,
        "",
        OWNER_CANNOT_APPROVE.format(user="priya", model_id=GUIDE_MODEL) + "\n",
    )
    with store.session_scope() as session:
        assert session.get(Model, GUIDE_MODEL) is None
    assert not (own_model / "models").exists()
