"""Seed 004 section 12 (exceptions and overrides): accepting an incident's risk for a time."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from govflow import settings, store
from govflow.answers import Answer
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused, Skipped, refusing
from govflow.incidents import risk_acceptances as acceptances
from govflow.incidents.lifecycle import IncidentError, get_incident
from govflow.incidents.risk_acceptances import REFUSED

APPROVE, REJECT = "Approve", "Reject"
NO_REQUEST = "the run filed no request: nothing to end"
UNDECIDED = "its run {run} ended without a decision"


def _config(config: GovflowConfig | None) -> GovflowConfig:
    return config or load_config(settings.config_dir())


REFUSALS = (acceptances.RiskAcceptanceError, IncidentError)


def _refused() -> AbstractContextManager[None]:
    """What section 12 or the policy does not allow (an incident that is none, more days than
    the policy allows, a decision by the requester) is :class:`Refused` in one line."""
    return refusing(*REFUSALS)


def check_request(
    incident_ref: str,
    *,
    run: str | None = None,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Refuse at once (:class:`Refused`) what the policy would refuse; name who documents
    (``ml_lead``) and who decides (``compliance_officer``) as the run's assignments. The
    refusal of an incident's request is recorded for the ``run`` that asked (an audit event
    and a timeline event, once), so that it is not only in the run's log."""
    store.ensure_schema(db_url)
    try:
        with store.session_scope(db_url) as session:
            preview = acceptances.preview_request(session, _config(config), incident=incident_ref)
    except REFUSALS as refused:
        if run is not None:
            _record_refusal(incident_ref, str(refused), run=run, db_url=db_url)
        raise Refused(str(refused)) from None
    return {
        **preview,
        "ml_lead": {"users": preview["documented_by"], "timeout_minutes": None},
        "compliance_officer": {"users": preview["approved_by"], "timeout_minutes": None},
    }


def _record_refusal(incident_ref: str, reason: str, *, run: str, db_url: str | None) -> None:
    """The refusal on the incident's record; nothing for a ref that names no incident."""
    with store.session_scope(db_url) as session:
        try:
            incident = get_incident(session, incident_ref)
        except IncidentError:
            return
        acceptances.refuse_request(session, incident, reason=reason, actor=run, request_key=run)


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
    days = answer.params.get("days")
    with _refused(), store.session_scope(db_url) as session:
        acceptance = acceptances.request_acceptance(
            session,
            _config(config),
            incident=incident_ref,
            rationale=answer.params.get("rationale") or proposed_rationale,
            # 0 days is an answer (refused by the policy), not an empty field.
            days=int(proposed_days if days in (None, "") else days),
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
    """Approve or reject the request as the compliance officer who answered; print it.

    A decision the policy refuses (the metric turned CRITICAL since the request, an answer
    by someone who may not decide) is :class:`Refused`, and the request ends ``refused``
    with that reason: nobody is asked again, and a request left pending would block every
    later one for the model and metric."""
    answer = Answer.from_xcom(review)
    approve = answer.chose(APPROVE)
    decide = acceptances.approve_acceptance if approve else acceptances.reject_acceptance
    decider = str(answer.responded_by)
    try:
        with store.session_scope(db_url) as session:
            acceptance = decide(
                session,
                _config(config),
                acceptances.get_acceptance(session, request["id"]),
                approver=decider,
                comment=answer.params.get("comment", ""),
            )
            summary = acceptances.acceptance_summary(session, acceptance)
    except REFUSALS as refused:
        end_request(request["id"], reason=str(refused), actor=decider, db_url=db_url)
        raise Refused(str(refused)) from None
    print(
        f"risk acceptance {summary['id']} of {summary['incident_ref']} {summary['status']} by "
        f"{summary['approved_by']}; suppressed until {summary['suppression_until']}"
    )
    return summary


def end_request(
    acceptance_id: int, *, reason: str, actor: str, db_url: str | None = None
) -> dict[str, Any] | None:
    """End the request ``refused`` for ``reason`` unless it was decided, and print what it
    is now; calling again records nothing. None when there is no such request."""
    with store.session_scope(db_url) as session:
        try:
            acceptance = acceptances.get_acceptance(session, acceptance_id)
        except acceptances.RiskAcceptanceError:
            return None
        acceptances.refuse_acceptance(session, acceptance, reason=reason, actor=actor)
        summary = acceptances.acceptance_summary(session, acceptance)
        refused = acceptance.details.get("refused") if acceptance.status == REFUSED else None
    status = f"{summary['status']}: {refused}" if refused else summary["status"]
    print(f"risk acceptance {summary['id']} of {summary['incident_ref']} is {status}")
    return summary


def end_undecided_request(
    request: dict[str, Any] | None, *, run: str, db_url: str | None = None
) -> dict[str, Any] | None:
    """However the run ended, its request does not stay ``requested``: one the run did not
    decide (its review failed or was refused) ends ``refused``. A run that filed no request
    has none to end: :class:`Skipped`."""
    if request is None:
        raise Skipped(NO_REQUEST)
    return end_request(request["id"], reason=UNDECIDED.format(run=run), actor=run, db_url=db_url)


__all__ = [
    "APPROVE",
    "NO_REQUEST",
    "REJECT",
    "UNDECIDED",
    "check_request",
    "end_request",
    "end_undecided_request",
    "record_decision",
    "request_acceptance",
]
