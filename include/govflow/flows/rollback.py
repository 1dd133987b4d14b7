"""Seed 001 section 5 (rollback procedures): decide, execute, verify, conclude."""

from __future__ import annotations

import time
from typing import Any

from govflow import settings, store
from govflow.answers import Answer
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused, Skipped
from govflow.rollout import rollback

NOT_APPROVED = "the System Owner did not approve the rollback"
ALREADY = "{ref} was rolled back at {at}; this run changes nothing"
NOT_VERIFIED = "rollback not verified after {seconds} s: {seen}"


def _config(config: GovflowConfig | None) -> GovflowConfig:
    return config or load_config(settings.config_dir())


def decide_rollback(
    params: dict[str, Any],
    *,
    triggered_by: str | None,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Step 1: record the decision (the Params of govflow_rollback); ``approval`` names the
    System Owner when the request needs one, else None. A refusal raises :class:`Refused`."""
    requester = params["requested_by"] or triggered_by or "unknown"
    if params["source"] in rollback.DECIDED_SOURCES:
        requester = f"govflow ({params['source']})"
    try:
        with store.session_scope(db_url) as session:
            decision = rollback.decide(
                session,
                _config(config),
                model_id=params["model_id"],
                deployment_ref=params["deployment_ref"] or None,
                reason=params["reason"],
                source=params["source"],
                requested_by=requester,
                criteria=params["criteria"],
                incident_ref=params["incident_ref"] or None,
            )
    except (rollback.RollbackError, LookupError) as refused:
        raise Refused(str(refused)) from None
    if decision["rolled_back_at"]:
        print(ALREADY.format(ref=decision["deployment_ref"], at=decision["rolled_back_at"]))
    else:
        print(
            f"{decision['deployment_ref']}: roll back {decision['version']}: {decision['reason']}"
        )
    if not decision["needs_approval"]:
        decision["approval"] = None
    return decision


def execute_rollback(
    decision: dict[str, Any], approval: dict[str, Any] | None, *, db_url: str | None = None
) -> dict[str, Any]:
    """Step 2: halt the rollout, restore the previous version and configuration, once the
    System Owner approved when the decision needs it (else :class:`Skipped`)."""
    if decision["needs_approval"]:
        with store.session_scope(db_url) as session:
            approved = rollback.record_approval(
                session,
                deployment_ref=decision["deployment_ref"],
                answer=Answer.from_xcom(approval),
            )
        if not approved:
            raise Skipped(NOT_APPROVED)
    with store.session_scope(db_url) as session:
        executed = rollback.execute(session, deployment_ref=decision["deployment_ref"])
    print(
        f"restored {executed['model_id']} {executed['restored_version']} "
        f"(route revision {executed['revision']}); halted {executed['halted_stages']}"
    )
    return executed


def verify_rollback(
    executed: dict[str, Any], *, config: GovflowConfig | None = None, db_url: str | None = None
) -> dict[str, Any]:
    """Step 2.5: wait until the routing table and every live gateway serve the restored
    revision, at most deployment.yaml ``rollback.verify_timeout_seconds``."""
    seconds = _config(config).deployment.rollback.verify_timeout_seconds
    deadline = time.monotonic() + seconds
    while True:
        with store.session_scope(db_url) as session:
            seen = rollback.verify(
                session, deployment_ref=executed["deployment_ref"], revision=executed["revision"]
            )
        if seen["routing_restored"] and seen["serving"]:
            print(f"verified: {seen}")
            return seen
        if time.monotonic() > deadline:
            raise RuntimeError(NOT_VERIFIED.format(seconds=seconds, seen=seen))
        time.sleep(1)


def conclude_rollback(
    executed: dict[str, Any],
    verification: dict[str, Any],
    *,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Step 3: notify, document the reason, open the root-cause incident (its alert's id is
    ``alert_id``, to send at once)."""
    with store.session_scope(db_url) as session:
        concluded = rollback.conclude(
            session,
            _config(config),
            deployment_ref=executed["deployment_ref"],
            verification=verification,
        )
    print(f"root-cause incident {concluded['incident_ref']}")
    return concluded


__all__ = ["conclude_rollback", "decide_rollback", "execute_rollback", "verify_rollback"]
