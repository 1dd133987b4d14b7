"""Seed 004 section 4.2: baselines made on deployment, refreshed each quarter, reset on request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from govflow import settings, store
from govflow.answers import Answer
from govflow.baselines.management import (
    create_baseline_for_deployment,
    describe_reset_request,
    refresh_baseline_if_stabilised,
    reset_baseline_from_logs,
)
from govflow.baselines.onboarding import BaselineSourceError
from govflow.baselines.profile import BaselineError, lock_model
from govflow.config import GovflowConfig, load_config
from govflow.flows import A_DATE_TIME, Refused, form_moment, refusing
from govflow.registry import RegistryError
from govflow.rollout.stages import deployed_traffic

DEPLOYMENT_KEYS = ("model_id", "version", "deployment_ref")
QUARTERLY_KEYS = ("model_id", "quarter", "outcome", "baseline_version")
LACKS = "deployment {deployment} lacks {missing}"


def _config(config: GovflowConfig | None) -> GovflowConfig:
    return config or load_config(settings.config_dir())


def collect_deployments(announced: list[dict], requested: list[dict]) -> list[dict[str, str]]:
    """The deployments to give a baseline (announced by Asset events, then requested by
    hand), each reduced to its model, version and reference; one lacking any is
    :class:`Refused` in one line naming what it lacks (a retry would read the same)."""
    deployments = [*announced, *requested]
    for deployment in deployments:
        missing = [key for key in DEPLOYMENT_KEYS if not deployment.get(key)]
        if missing:
            raise Refused(LACKS.format(deployment=deployment, missing=", ".join(missing)))
        print(f"deployed: {deployment['model_id']} {deployment['version']}")
    return [{key: deployment[key] for key in DEPLOYMENT_KEYS} for deployment in deployments]


def create_deployment_baseline(
    deployment: dict[str, str], *, config: GovflowConfig | None = None, db_url: str | None = None
) -> dict[str, str]:
    """Build the deployed version's baseline from its validation set (once per deployment),
    printing each note of the data-quality gate: active at once unless govflow's rollout of
    the version has not reached full yet. A version that cannot have one (its validation set
    refused by the gate, unreadable, or not registered) raises :class:`Refused` with the
    one-line reason: retrying cannot change the data."""
    with (
        refusing(BaselineError, BaselineSourceError, RegistryError),
        store.session_scope(db_url) as session,
    ):
        # Locked before reading what the version serves, so a rollout completing
        # meanwhile finds the pending baseline to activate (or this reads it completed).
        lock_model(session, deployment["model_id"])
        traffic = deployed_traffic(session, deployment["deployment_ref"])
        baseline = create_baseline_for_deployment(
            session,
            _config(config),
            model_id=deployment["model_id"],
            version=deployment["version"],
            deployment_ref=deployment["deployment_ref"],
            data_dir=settings.data_dir(),
            actor="govflow-deployment",
            traffic=traffic,
        )
        created = {**deployment, "baseline_version": baseline.version}
        notes = baseline.details.get("data_quality_notes", [])
        state = (
            "active"
            if baseline.is_active
            else "archived unused (the version was rolled back)"
            if baseline.archived_at is not None
            else "pending: active once the rollout reaches full"
        )
    for note in notes:
        print(note)
    made = f"{created['model_id']} {created['version']}: baseline {created['baseline_version']}"
    print(f"{made} {state}")
    return created


def model_ids(*, config: GovflowConfig | None = None) -> list[str]:
    """Every model of models.yaml."""
    return _config(config).models.ids()


def refresh_if_stabilised(
    model_id: str,
    as_of: datetime,
    *,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Apply the quarterly rule to one model: refresh its baseline or keep it, and say why."""
    with store.session_scope(db_url) as session:
        decision = refresh_baseline_if_stabilised(
            session, _config(config), model_id=model_id, as_of=as_of, data_dir=settings.data_dir()
        )
    print(f"{model_id} {decision.quarter}: {decision.outcome} ({decision.reason})")
    return decision.to_dict()


def quarterly_event(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """The extra of the quarter's `govflow_baselines` event."""
    return {
        "trigger": "quarterly_review",
        "decisions": [{key: d[key] for key in QUARTERLY_KEYS} for d in decisions],
    }


def describe_reset(
    params: dict[str, Any],
    *,
    requested_by: str | None,
    triggered_at: datetime,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Check a reset request (the Params of govflow_baseline_reset), name the requester and
    who may approve, and gate the window now, before anybody is asked. A request that cannot
    be built as asked (a ``window_end`` that is no date and time, a requester nobody in
    people.yaml, no approver left, a window the gate refuses) is :class:`Refused` in one
    line: a retry would read the same request and the same logs."""
    window_end = params["window_end"]
    end = (
        form_moment(window_end, field="param window_end", expected=A_DATE_TIME)
        if window_end
        else triggered_at
    )
    with refusing(BaselineError), store.session_scope(db_url) as session:
        request = describe_reset_request(
            session,
            _config(config),
            model_id=params["model"],
            kind=params["kind"],
            reason=params["reason"],
            requested_by=requested_by,
            end=end,
            data_dir=settings.data_dir(),
        )
    print(request.body)
    return request.to_dict()


def reset_approval_requests(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The one approval to ask for: ApprovalOperator keyword arguments, assignees included."""
    print(f"assigned to {', '.join(request['approvers'])} ({request['approver_role']})")
    return [
        {
            "subject": request["subject"],
            "body": request["body"],
            "assigned_users": request["assigned_users"],
        }
    ]


def build_reset_baseline(
    request: dict[str, Any],
    approval: dict[str, Any],
    *,
    idempotency_key: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Build the approved baseline from the logs, archive the old one, open the incident
    that documents the reset; a retry returns the baseline the run already created. An
    approval the policy does not accept (the requester's own, or from someone without the
    approver role) or a window the gate now refuses is :class:`Refused` in one line."""
    with refusing(BaselineError), store.session_scope(db_url) as session:
        baseline = reset_baseline_from_logs(
            session,
            _config(config),
            model_id=request["model_id"],
            kind=request["kind"],
            reason=request["reason"],
            requested_by=request["requested_by"],
            approved_by=str(Answer.from_xcom(approval).responded_by),
            end=datetime.fromisoformat(request["end"]),
            data_dir=settings.data_dir(),
            idempotency_key=idempotency_key,
        )
        summary = {
            "model_id": baseline.model_id,
            "version": baseline.version,
            "replaced_version": request["active_version"],
            "kind": request["kind"],
            "approved_by": baseline.approved_by,
            "incident_ref": baseline.details.get("incident_ref"),
        }
    print(
        f"{summary['model_id']}: new active baseline {summary['version']} "
        f"(replaces {summary['replaced_version']}), approved by {summary['approved_by']}, "
        f"documented by incident {summary['incident_ref']}"
    )
    return summary


__all__ = [
    "build_reset_baseline",
    "collect_deployments",
    "create_deployment_baseline",
    "describe_reset",
    "model_ids",
    "quarterly_event",
    "refresh_if_stabilised",
    "reset_approval_requests",
]
