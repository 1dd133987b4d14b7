"""Deployable candidates on the demo, and the answers people give, for the deployment tests.

The demo registers versions 0.9.0 and 1.0.0 of credit_approval (1.0.0 in production) and
1.0.0 of the two other models. A deployment needs a new registered version: the candidate
here reuses the artefact of the version in production (same bytes, same digest) with its
own copy of the validation set, optionally transformed, e.g. by ``with_disparate_impact``
so that the fairness checklist item fails on it. Its validation metrics are computed from
that validation set as the demo computes them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from govflow import registry, store
from govflow.baselines.onboarding import validation_metrics
from govflow.deployment import procedure
from govflow.store.schema import Deployment
from govflow.store.types import utcnow

CANDIDATE = "1.1.0"
UNFAIR_CANDIDATE = "1.1.1"
PLAN = {
    "scope_and_objectives": "Faster scoring of credit applications",
    "deployment_window_start": "2026-12-01T08:00:00+00:00",
    "deployment_window_end": "2026-12-01T12:00:00+00:00",
    "dependencies": "Applicant feature pipeline v1",
    "resource_requirements": "One ML engineer on call",
    "communication_plan": "#ml-deployments before and after",
    "plan_link": "https://wiki.example.com/deployments/credit-1.1.0",
}
RISK = {
    "deployment_risks": "Score shift for thin-file applicants",
    "mitigation_measures": "Alpha stage on internal traffic first",
    "rollback_plan": "Restore 1.0.0 through the rollback procedure",
    "success_criteria": "No CRITICAL drift in the first 72 hours",
    "go_no_go_criteria": "Smoke tests pass, every approval given",
    "assessment_link": "https://wiki.example.com/risk/credit-1.1.0",
}
DOCUMENTATION = {
    "documentation_link": "https://wiki.example.com/credit/1.1.0",
    "runbooks_link": "https://wiki.example.com/runbooks/credit",
    "notes": "",
}
REGISTRATION = {
    "eu_database_registration": "EU-DB-2026-0042",
    "authorities_notified": "not required",
}
CLOSURE = {"retrospective_link": "https://wiki.example.com/retro/1.1.0", "lessons_learned": "none"}
EVIDENCE_LINK = "https://evidence.example.com/credit-1.1.0"


def copy_demo(source: Path, target: Path) -> str:
    """Copy a seeded demo (data and store) so a test may write to it; returns the store URL."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return f"sqlite:///{target / 'govflow.db'}"


def with_disparate_impact(
    validation: pd.DataFrame,
    *,
    attribute: str = "gender",
    group: str = "female",
    reference: str = "male",
    ratio: float = 0.5,
) -> pd.DataFrame:
    """Keep only as many favourable rows of ``group`` as make its selection rate ``ratio``
    times that of ``reference`` (the first ones, in file order)."""
    reference_rate = validation.loc[validation[attribute] == reference, "prediction"].mean()
    in_group = validation[attribute] == group
    negatives = int((in_group & (validation["prediction"] == 0)).sum())
    wanted_rate = ratio * reference_rate
    keep_positives = round(wanted_rate * negatives / (1 - wanted_rate))
    positive_rows = validation.index[in_group & (validation["prediction"] == 1)]
    dropped = positive_rows[keep_positives:]
    return validation.drop(index=dropped).reset_index(drop=True)


def register_candidate(
    data_dir: Path,
    db_url: str,
    *,
    model_id: str = "credit_approval",
    version: str = CANDIDATE,
    base_version: str = "1.0.0",
    validation: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Register ``version`` of ``model_id`` built from ``base_version``'s artefact."""
    with store.session_scope(db_url) as session:
        base = registry.get_version(session, model_id, base_version)
        directory = Path("models") / model_id / version
        (data_dir / directory).mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / base.artifact_uri, data_dir / directory / "model.pkl")
        frame = pd.read_parquet(data_dir / str(base.validation_uri))
        if validation is not None:
            frame = validation(frame)
        frame.to_parquet(data_dir / directory / "validation.parquet", index=False)
        metrics = validation_metrics(frame, regressor=base.model.model_type == "regressor")
        registry.register_version(
            session,
            model_id=model_id,
            version=version,
            artifact_uri=(directory / "model.pkl").as_posix(),
            artifact_sha256=base.artifact_sha256,
            training_snapshot_id=base.training_snapshot_id,
            feature_version=base.feature_version,
            validation_uri=(directory / "validation.parquet").as_posix(),
            validation_metrics=metrics,
            decision_threshold=base.decision_threshold,
            actor=registry.get_version(session, model_id, base_version).model.owner,
        )
    return metrics


def end_live_deployments(db_url: str, model_id: str = "credit_approval") -> None:
    """Let a test's deployment of ``model_id`` start after the deployments earlier tests left
    live, ending each as it would end for real: one in progress is stopped (blocked, closed),
    one authorised has its rollout completed (its status stays authorised)."""
    with store.session_scope(db_url) as session:
        for deployment in session.scalars(
            select(Deployment).where(Deployment.model_id == model_id)
        ):
            if procedure.live_state(deployment) is None:
                continue
            if deployment.status == procedure.AUTHORISED:
                rollout = {**deployment.details.get("rollout", {}), "status": "completed"}
                procedure.update_details(deployment, rollout=rollout)
            else:
                procedure.stop_deployment(
                    session,
                    deployment,
                    status=procedure.BLOCKED,
                    step=None,
                    reason="stopped so that a later test's deployment can start",
                    decided_by="test",
                )
                deployment.closed_at = utcnow()


def approve_version(
    session: Any, model_id: str, version: str, *, justification: str, approver: str = "lena"
) -> None:
    """Take a registered draft version through the registry's approval (its owner asks, the
    ML lead approves), as the deployment procedure's step 11 does."""
    owner = registry.get_version(session, model_id, version).model.owner
    registry.request_approval(
        session, model_id=model_id, version=version, requested_by=owner, justification=justification
    )
    registry.decide_approval(
        session,
        model_id=model_id,
        version=version,
        approver=approver,
        approve=True,
        justification=justification,
    )


def answer(
    user: str | None, params: dict[str, Any] | None = None, options: list[str] | None = None
) -> dict[str, Any]:
    """What an HITL task returns once ``user`` answered (None: its timeout default)."""
    return {
        "chosen_options": options or ["OK"],
        "params_input": params or {},
        "responded_at": datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        "responded_by_user": None if user is None else {"id": user, "name": user},
    }


def attest_everything(request: dict[str, Any], *, link: str = EVIDENCE_LINK) -> dict[str, Any]:
    """The first assignee ticks every item as done, with one evidence link."""
    done = [o for o in request["options"] if not o.endswith(": not applicable")]
    return answer(request["assigned_users"][0]["id"], {"evidence_link": link, "comment": ""}, done)


FORM_ANSWERS = {
    "create_deployment_plan": PLAN,
    "assess_deployment_risk": RISK,
    "update_documentation": DOCUMENTATION,
    "update_registration": REGISTRATION,
    "close_deployment": CLOSURE,
}


def form_answer(task_id: str, request: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(chosen options, params) the first assignee gives a form of the deployment DAG."""
    name = task_id.rsplit(".", 1)[-1]
    if name in ("attest_checklist", "verify_compliance"):
        options = [o for o in request["options"] if not o.endswith(": not applicable")]
        return options, {"evidence_link": EVIDENCE_LINK, "comment": ""}
    return ["OK"], FORM_ANSWERS[name]


class RequiredActions:
    """The pending human-in-the-loop requests of DAG runs on a running Airflow stack.

    A request is offered only once the scheduler has processed the executor's event of its
    parked task (``AirflowStack.executor_event_processed``): an answer that arrives before
    that makes the scheduler fail the task, a race that waiting a fixed few seconds does not
    remove on a busy machine.
    """

    def __init__(self, stack: Any, dag_id: str) -> None:
        self.stack = stack
        self.dag_id = dag_id
        # Task instance id -> its executor events when it was last answered: a request asked
        # again (the answer did not fit) is offered once it has parked again.
        self.answered_at: dict[str, int] = {}

    def pending(self, run_ids: set[str]) -> list[dict[str, Any]]:
        """Unanswered requests of ``run_ids`` that may be answered now."""
        details = self.stack.client().call(
            "GET",
            f"/api/v2/dags/{self.dag_id}/dagRuns/~/hitlDetails?response_received=false&limit=200",
        )["hitl_details"]
        return [
            detail
            for detail in details
            if detail["task_instance"]["dag_run_id"] in run_ids
            and self.stack.executor_events(detail["task_instance"]["id"])
            > self.answered_at.get(detail["task_instance"]["id"], 0)
        ]

    def answer(
        self, detail: dict[str, Any], user: str, options: list[str], params: dict[str, Any]
    ) -> tuple[int, Any]:
        ti = detail["task_instance"]
        before = self.answered_at.get(ti["id"])
        self.answered_at[ti["id"]] = self.stack.executor_events(ti["id"])
        status, body = self.stack.answer_hitl(
            user,
            self.dag_id,
            ti["dag_run_id"],
            ti["task_id"],
            options,
            params,
            map_index=ti["map_index"],
        )
        if status >= 300:  # refused, nothing taken: the request is still open as it was
            if before is None:
                self.answered_at.pop(ti["id"])
            else:
                self.answered_at[ti["id"]] = before
        return status, body
