"""Seed 004 section 12 (exceptions and overrides): accepting an incident's risk for a time."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from govflow import settings, store
from govflow.answers import Answer
from govflow.config import GovflowConfig, load_config
from govflow.flows import refusing
from govflow.incidents import risk_acceptances as acceptances
from govflow.incidents.lifecycle import IncidentError

APPROVE, REJECT = "Approve", "Reject"


def _config(config: GovflowConfig | None) -> GovflowConfig:
    return config or load_config(settings.config_dir())


def _refused() -> AbstractContextManager[None]:
    """What section 12 or the policy does not allow (an incident that is none, more days than
    the policy allows, a decision by the requester) is :class:`Refused` in one line."""
    return refusing(acceptances.RiskAcceptanceError, IncidentError)


def check_request(
    incident_ref: str, *, config: GovflowConfig | None = None, db_url: str | None = None
) -> dict[str, Any]:
    """Refuse at once (:class:`Refused`) what the policy would refuse; name who documents
    (``ml_lead``) and who decides (``compliance_officer``) as the run's assignments."""
    store.ensure_schema(db_url)
    with _refused(), store.session_scope(db_url) as session:
        preview = acceptances.preview_request(session, _config(config), incident=incident_ref)
    return {
        **preview,
        "ml_lead": {"users": preview["documented_by"], "timeout_minutes": None},
        "compliance_officer": {"users": preview["approved_by"], "timeout_minutes": None},
    }


def request_acceptance(
    incident_ref: str,
    form: dict[str, Any],
    *,
    proposed_rationale: str,
    proposed_days: str | int,
    request_key: str,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """File the ML lead's request from the form (empty fields take the proposed values),
    once per ``request_key`` however often retried."""
    answer = Answer.from_xcom(form)
    with _refused(), store.session_scope(db_url) as session:
        acceptance = acceptances.request_acceptance(
            session,
            _config(config),
            incident=incident_ref,
            rationale=answer.params.get("rationale") or proposed_rationale,
            days=int(answer.params.get("days") or proposed_days),
            requested_by=str(answer.responded_by),
            request_key=request_key,
        )
        return acceptances.acceptance_summary(session, acceptance)


def record_decision(
    request: dict[str, Any],
    review: dict[str, Any],
    *,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Approve or reject the request as the compliance officer who answered; print it."""
    answer = Answer.from_xcom(review)
    approve = answer.chose(APPROVE)
    decide = acceptances.approve_acceptance if approve else acceptances.reject_acceptance
    with _refused(), store.session_scope(db_url) as session:
        acceptance = decide(
            session,
            _config(config),
            acceptances.get_acceptance(session, request["id"]),
            approver=str(answer.responded_by),
            comment=answer.params.get("comment", ""),
        )
        summary = acceptances.acceptance_summary(session, acceptance)
    print(
        f"risk acceptance {summary['id']} of {summary['incident_ref']} {summary['status']} by "
        f"{summary['approved_by']}; suppressed until {summary['suppression_until']}"
    )
    return summary


__all__ = ["APPROVE", "REJECT", "check_request", "record_decision", "request_acceptance"]
