"""Seed 001 step 7 (CHK-AI-DEPLOY-001, appendix A) and step 8 (section 7), seed 000's five
readiness areas and seed 002's model-validation, data-pipeline and MLOps items: each item
verified automatically with stored evidence, or attested by a named person.

An automatic item runs the check deployment.yaml names for it (``govflow.deployment.checks``)
and stores the result as its evidence. An attested item is asked of the people holding its
role (the model's own owner for ``system_owner`` items: the owner is the one accountable for
them), each person once as for the approvals (Quinn, QA lead and committee member, attests
as QA lead and Gina for the committee): one form per role lists that role's items as
options, the person ticks each item they attest and gives one evidence link for them. An
``if_applicable`` item offers a second option, "not applicable". An item left unticked,
ticked both ways, or ticked without an evidence link is not attested, and the deployment
stops.

The seed 001 section 7.2 substantial-change assessment is asked of its assessor as one more
item of step 8 on the deployment types that call for it (a major update): ticking it states
that the change is not a substantial modification, or that the new conformity assessment
it requires is complete and linked.

Each item's outcome, when it is first stored and each time it changes, is an audit event
(``deployment.checklist_item_recorded``) naming whoever attested it: the trail, not only the
row, shows who vouched for which item and on what evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.answers import Answer
from govflow.audit import jsonable, record_event
from govflow.config import Criterion, GovflowConfig
from govflow.config.people import one_role_each
from govflow.deployment import procedure
from govflow.deployment.checks import CheckResult, DeploymentCandidate, run_check
from govflow.deployment.forms import FormRequest, people, role_title
from govflow.store.schema import ChecklistEvidence, Deployment, DeploymentStep
from govflow.store.types import utcnow

ItemStatus = Literal["passed", "failed", "not_applicable", "attested", "not_attested", "pending"]
COMPLETE_STATUSES = frozenset({"passed", "not_applicable", "attested"})
HIGH_RISK_CHECKLIST = "high_risk"
SUBSTANTIAL_CHANGE_ID = "HIGHRISK-SC"
NOT_APPLICABLE_SUFFIX = ": not applicable"
AUTOMATIC_ACTOR = "govflow"
CHECKLIST_ITEM_RECORDED = "deployment.checklist_item_recorded"

ATTEST_ALL = "Tick every item you attest and give one link to the evidence for them."
NO_EVIDENCE_LINK = "{item} is not attested: {person} gave no evidence link"
LEFT_UNTICKED = "{item} is not attested: {person} left it unticked"
TICKED_BOTH_WAYS = "{item} is not attested: {person} ticked it both done and not applicable"
CHECK_FAILED = "{item} ({check}) failed: {summary}"


@dataclass(frozen=True)
class ChecklistItem:
    """One item of one checklist, where it sits and how it is verified."""

    checklist: str
    checklist_title: str
    section: str
    section_title: str
    criterion: Criterion

    @property
    def id(self) -> str:
        return self.criterion.id

    @property
    def label(self) -> str:
        return f"{self.criterion.id}: {self.criterion.text}"


def substantial_change_item(config: GovflowConfig) -> Criterion:
    change = config.deployment.high_risk.substantial_change
    return Criterion(
        id=SUBSTANTIAL_CHANGE_ID,
        text=(
            f"Substantial change assessment (section 7.2): {change.question} "
            f"No: {change.if_no.lower()}; yes: {change.if_yes.lower()}, and it is complete"
        ),
        verification="attested",
        attested_by=change.assessed_by,
        high_risk_only=True,
    )


def checklist_items(config: GovflowConfig, deployment: Deployment) -> list[ChecklistItem]:
    """Every item that applies to the deployment's risk tier and type, checklists first and
    then (high risk) the section 7 requirements of step 8."""
    tier = procedure.risk_tier(deployment)
    items = [
        ChecklistItem(name, checklist.title, key, section.title, criterion)
        for name, checklist in config.deployment.checklists.items()
        for key, section in checklist.sections.items()
        for criterion in section.items
        if criterion.applies_to(tier)  # type: ignore[arg-type]
    ]
    if tier == "high":
        high_risk = list(config.deployment.high_risk.requirements)
        kind = config.deployment.deployment_types[deployment.deployment_type]  # type: ignore[index]
        if kind.substantial_change_assessment:
            high_risk.append(substantial_change_item(config))
        items += [
            ChecklistItem(
                HIGH_RISK_CHECKLIST,
                "High-risk AI deployment requirements (seed 001 section 7)",
                "requirements",
                "Section 7.1 and 7.2",
                criterion,
            )
            for criterion in high_risk
        ]
    return items


def _save(
    session: Session,
    deployment: Deployment,
    item: ChecklistItem,
    *,
    status: ItemStatus,
    evidence: dict[str, Any],
    actor: str,
) -> None:
    record = session.scalars(
        select(ChecklistEvidence).where(
            ChecklistEvidence.deployment_id == deployment.id,
            ChecklistEvidence.item_id == item.id,
        )
    ).first()
    evidence = jsonable(evidence)
    changed = record is None or (record.status, record.evidence, record.actor) != (
        status,
        evidence,
        actor,
    )
    if record is None:
        record = ChecklistEvidence(deployment_id=deployment.id, item_id=item.id)
        session.add(record)
    record.checklist = item.checklist
    record.verification = item.criterion.verification
    record.status = status
    record.evidence = evidence
    record.actor = actor
    record.recorded_at = utcnow()
    session.flush()
    if changed:
        _record_item_event(session, deployment, record)


def _record_item_event(session: Session, deployment: Deployment, record: ChecklistEvidence) -> None:
    # Called for a changed row only, so a retried task that rewrites the same answer records
    # nothing; each change (even back to an earlier outcome) is keyed by the moment it was
    # written, in the same transaction as the row.
    record_event(
        session,
        actor=record.actor,
        action=CHECKLIST_ITEM_RECORDED,
        target=f"deployment:{deployment.ref}",
        payload={
            "item": record.item_id,
            "checklist": record.checklist,
            "verification": record.verification,
            "status": record.status,
            "evidence": record.evidence,
        },
        severity="INFO" if record.status in COMPLETE_STATUSES else "WARNING",
        idempotency_key=(
            f"deployment.checklist_item:{deployment.ref}:{record.item_id}:"
            f"{record.recorded_at.isoformat()}"
        ),
    )


def evaluate_automatic_items(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    candidate: DeploymentCandidate,
    *,
    known: dict[str, CheckResult] | None = None,
) -> tuple[list[CheckResult], list[str]]:
    """Run the check of every automatic item once and store each item's evidence; a check
    in ``known`` (already run by an earlier step of the same deployment) is not run again.

    Returns the check results and why items failed (empty when all passed)."""
    results: dict[str, CheckResult] = dict(known or {})
    problems = []
    for item in checklist_items(config, deployment):
        check = item.criterion.check
        if item.criterion.verification != "automatic" or check is None:
            continue
        if check not in results:
            results[check] = run_check(check, candidate)
        result = results[check]
        _save(
            session,
            deployment,
            item,
            status=result.outcome,
            evidence=result.to_dict(),
            actor=AUTOMATIC_ACTOR,
        )
        if result.outcome == "failed":
            problems.append(CHECK_FAILED.format(item=item.id, check=check, summary=result.summary))
    return list(results.values()), problems


def recorded_results(steps: list[DeploymentStep]) -> dict[str, CheckResult]:
    """The check results earlier steps stored as their evidence (``{"checks": [...]}``)."""
    return {
        item["check"]: CheckResult.from_dict(item)
        for step in steps
        for item in step.evidence.get("checks", [])
    }


def _options(items: list[ChecklistItem]) -> tuple[str, ...]:
    options: list[str] = []
    for item in items:
        options.append(item.label)
        if item.criterion.if_applicable:
            options.append(item.id + NOT_APPLICABLE_SUFFIX)
    return tuple(options)


def attestation_requests(
    config: GovflowConfig,
    deployment: Deployment,
    *,
    step: Literal[7, 8],
    timeout_hours: float,
) -> list[FormRequest]:
    """One form per attesting role: step 7 for the checklists, step 8 for section 7."""
    model = config.models.get(deployment.model_id)
    by_role: dict[str, list[ChecklistItem]] = {}
    for item in checklist_items(config, deployment):
        in_step = (item.checklist == HIGH_RISK_CHECKLIST) == (step == 8)
        if item.criterion.verification == "attested" and in_step:
            by_role.setdefault(str(item.criterion.attested_by), []).append(item)
    holders = [
        [model.owner] if role == "system_owner" else config.people.holders(role)  # type: ignore[arg-type]
        for role in by_role
    ]
    # As for the approvals, a person holding two of the roles is asked once when the roles
    # can each have someone else; otherwise each role asks everyone holding it.
    assigned = one_role_each(holders) or holders
    requests = []
    for (role, items), assignees in zip(by_role.items(), assigned, strict=True):
        what = "Pre-Deployment Checklist" if step == 7 else "Compliance Verification"
        lines = "\n".join(f"- **{item.id}** {item.criterion.text}" for item in items)
        requests.append(
            FormRequest(
                key=f"step{step}:{role}",
                role=role,
                subject=(
                    f"{role_title(role)}: {what} for {deployment.model_id} "
                    f"{deployment.model_version} ({deployment.ref})"
                ),
                body=(
                    f"Step {step} of PROC-AI-DEPLOY-001 for deployment **{deployment.ref}** "
                    f"({deployment.deployment_type} deployment of {deployment.model_id} "
                    f"{deployment.model_version} to {deployment.environment}).\n\n"
                    f"{ATTEST_ALL}\n\n{lines}"
                ),
                assignees=people(config, assignees),
                response_timeout_hours=timeout_hours,
                options=_options(items),
                items=tuple(item.id for item in items),
            )
        )
    return requests


def record_attestations(
    session: Session,
    config: GovflowConfig,
    deployment: Deployment,
    requests: list[FormRequest],
    answers: list[Answer],
) -> list[str]:
    """Store each asked item as attested or not; returns why items are not attested."""
    items = {item.id: item for item in checklist_items(config, deployment)}
    problems = []
    for request, answer in zip(requests, answers, strict=True):
        person = answer.responded_by
        link = answer.text("evidence_link")
        chosen = set(answer.chosen_options)
        for item_id in request.items:
            item = items[item_id]
            done = item.label in chosen
            not_applicable = item.id + NOT_APPLICABLE_SUFFIX in chosen
            problem: str | None = None
            if done and not_applicable:
                problem = TICKED_BOTH_WAYS.format(item=item_id, person=person)
            elif not (done or not_applicable):
                problem = LEFT_UNTICKED.format(item=item_id, person=person)
            elif not link:
                problem = NO_EVIDENCE_LINK.format(item=item_id, person=person)
            status: ItemStatus = (
                "not_attested" if problem else ("not_applicable" if not_applicable else "attested")
            )
            _save(
                session,
                deployment,
                item,
                status=status,
                evidence={
                    "evidence_link": link,
                    "comment": answer.text("comment"),
                    "attested_by": person,
                    "role": request.role,
                    "responded_at": answer.responded_at.isoformat()
                    if answer.responded_at
                    else None,
                    "problem": problem,
                },
                actor=person or "nobody",
            )
            if problem:
                problems.append(problem)
    return problems


def item_records(session: Session, deployment: Deployment) -> dict[str, ChecklistEvidence]:
    rows = session.scalars(
        select(ChecklistEvidence).where(ChecklistEvidence.deployment_id == deployment.id)
    ).all()
    return {row.item_id: row for row in rows}
