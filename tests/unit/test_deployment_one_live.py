"""One rollout of a model and one deployment of a version at a time: a deployment request is
refused while another deployment of the model rolls out, or of the same version is in the
procedure (``procedure.live_state``), and allowed once it is over; the run's own record and a
rollback request are never refused for it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from govflow import registry, store
from govflow.config import load_config
from govflow.config.deployment import DeploymentKind
from govflow.deployment import procedure
from govflow.store.schema import Deployment
from govflow.store.types import utcnow
from tests.support.own_models import CONFIG_DIR
from tests.support.registry import register_models

MODEL = "credit_approval"
OTHER_MODEL = "marketing_propensity"
EARLIER_RUN = "run/earlier"
CONFIG = load_config(CONFIG_DIR)


@pytest.fixture
def url(sqlite_url) -> str:
    """credit_approval and marketing_propensity, each with 1.0.0 in production and the
    candidates 1.1.0 and 1.2.0 registered."""
    register_models(
        sqlite_url, CONFIG, {MODEL: ["1.0.0", "1.1.0", "1.2.0"], OTHER_MODEL: ["1.0.0", "1.1.0"]}
    )
    with store.session_scope(sqlite_url) as session:
        for model_id in (MODEL, OTHER_MODEL):
            registry.declare_in_production(
                session, model_id=model_id, version="1.0.0", actor="lena"
            )
    return sqlite_url


def request(
    run_id: str,
    version: str = "1.2.0",
    kind: DeploymentKind = "minor",
    model_id: str = MODEL,
) -> procedure.DeploymentRequest:
    return procedure.DeploymentRequest(
        model_id, version, kind, "production", "faster scoring", "sam", run_id
    )


def earlier(url: str, state: Callable[[Session, Deployment], None], model_id: str = MODEL) -> str:
    """Open a deployment of 1.1.0 under ``EARLIER_RUN``, bring it to ``state``; its ref."""
    with store.session_scope(url) as session:
        deployment, _ = procedure.open_deployment(
            session, CONFIG, request(EARLIER_RUN, "1.1.0", model_id=model_id)
        )
        state(session, deployment)
        return deployment.ref


def problems(url: str, asked: procedure.DeploymentRequest) -> list[str]:
    with store.session_scope(url) as session:
        return procedure.request_problems(session, asked)


def in_progress(session: Session, deployment: Deployment) -> None:
    """As ``open_deployment`` leaves it: its run is still asking, checking, approving."""


def authorised(rollout: str | None) -> Callable[[Session, Deployment], None]:
    def state(session: Session, deployment: Deployment) -> None:
        deployment.status = procedure.AUTHORISED
        if rollout is not None:
            procedure.update_details(deployment, rollout={"status": rollout, "stage": "beta"})

    return state


def stopped(status: str) -> Callable[[Session, Deployment], None]:
    def state(session: Session, deployment: Deployment) -> None:
        procedure.stop_deployment(
            session,
            deployment,
            status=status,
            step=10,
            reason="stopped",
            decided_by="carol",
        )
        deployment.closed_at = utcnow()

    return state


def closed(session: Session, deployment: Deployment) -> None:
    deployment.closed_at = utcnow()


def test_a_version_in_the_procedure_refuses_a_second_deployment_of_itself_not_of_another(url):
    ref = earlier(url, in_progress)

    assert problems(url, request("run/later", "1.1.0")) == [
        f"credit_approval has deployment {ref} (1.1.0) in progress: finish it first, or stop it"
        f" by marking its govflow_model_deployment run {EARLIER_RUN} failed"
    ]
    assert problems(url, request("run/later", "1.2.0")) == []


@pytest.mark.parametrize(
    ("state", "described"),
    [
        (authorised(None), "authorised to roll out"),
        (authorised("rolling_out"), "rolling out"),
        (authorised("held"), "rolling out (held)"),
        (authorised("failed"), "rolling out (failed)"),
    ],
    ids=["authorised", "rolling-out", "held", "failed"],
)
@pytest.mark.parametrize("version", ["1.2.0", "1.1.0"], ids=["another-version", "same-version"])
def test_a_deployment_is_refused_while_another_of_its_model_rolls_out_naming_it(
    url, state, described, version
):
    ref = earlier(url, state)

    assert problems(url, request("run/later", version)) == [
        f"credit_approval has deployment {ref} (1.1.0) {described}: let its rollout complete"
        " first, or roll it back with govflow_rollback"
    ]


@pytest.mark.parametrize(
    "state",
    [
        closed,
        stopped(procedure.BLOCKED),
        stopped(procedure.REJECTED),
        stopped(procedure.ROLLED_BACK),
        authorised("completed"),
        authorised("rolled_back"),
    ],
    ids=[
        "closed",
        "blocked",
        "rejected",
        "rolled-back",
        "rollout-completed",
        "rollout-rolled-back",
    ],
)
def test_a_deployment_starts_once_the_earlier_one_is_over(url, state):
    earlier(url, state)

    assert problems(url, request("run/later")) == []


def test_a_retried_start_does_not_count_its_own_record_as_another(url):
    earlier(url, in_progress)

    assert problems(url, request(EARLIER_RUN, "1.1.0")) == []


def test_a_live_deployment_of_another_model_refuses_nothing(url):
    earlier(url, authorised("rolling_out"), model_id=OTHER_MODEL)

    assert problems(url, request("run/later")) == []


def test_a_rollback_request_is_sent_to_the_rollback_procedure_not_refused_for_the_rollout(url):
    earlier(url, authorised("rolling_out"))

    assert problems(url, request("run/rollback", "1.0.0", kind="rollback")) == [
        procedure.ROLLBACK_PROCEDURE
    ]


@pytest.mark.postgres
def test_two_requests_started_at_once_on_postgres_are_checked_one_after_the_other(
    postgres_url,
):
    """The first request's check holds its model until its record is committed: the second,
    started meanwhile, waits and is then refused for it, instead of both passing."""
    register_models(postgres_url, CONFIG, {MODEL: ["1.0.0", "1.2.0"]})
    with store.session_scope(postgres_url) as session:
        registry.declare_in_production(session, model_id=MODEL, version="1.0.0", actor="lena")
    second: list[list[str]] = []
    waiter = threading.Thread(target=lambda: second.append(problems(postgres_url, request("b"))))

    with store.session_scope(postgres_url) as session:
        assert procedure.request_problems(session, request("a")) == []
        first, _ = procedure.open_deployment(session, CONFIG, request("a"))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "the second request was checked before the first committed"
    waiter.join(timeout=30)

    assert second == [
        [
            procedure.LIVE_DEPLOYMENT.format(
                model_id=MODEL,
                ref=first.ref,
                version="1.2.0",
                state=procedure.live_state(first),
                way=procedure.STOP_IN_PROCEDURE.format(run_id="a"),
            )
        ]
    ]
