"""Seed 001 (PROC-AI-DEPLOY-001), seed 000's readiness and rollout, seed 002's ML checklist.

``config/deployment.yaml`` is validated into ``DeploymentFile``: the six phases and twenty
steps, deployment types, approvals per risk tier, go-live and rollback rules, high-risk
requirements, records and forms, the phased rollout with its stage gates, and every
checklist item with a stable id and how it is verified (an automated check or a role
that attests it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from govflow.config.vocabulary import (
    SNAKE_CASE,
    Fraction,
    RiskTier,
    Role,
    StrictModel,
    located_error,
)

CheckName = Annotated[str, Field(pattern=SNAKE_CASE)]
ItemId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9.]+)+$")]

AUTOMATIC_NEEDS_CHECK = "an automatic item names its check and no attesting role"
ATTESTED_NEEDS_ROLE = "an attested item names its attesting role and no check"
HUMAN_STEP_NEEDS_ROLE = "a human step names the roles that perform it"
STEP_NUMBERS = "steps must be numbered 1 to {count} in order, found {found}"
PHASE_NUMBERS = "phases must be numbered 1 to {count} in order, found {found}"
DUPLICATE_ITEM = "item id {item} is used more than once"
UNKNOWN_CHECK = "check {check} of {item} is not listed in automated_checks"
UNKNOWN_STEP = "deployment type {kind} skips step {step}, which does not exist"
MANDATORY_STEP = "deployment type {kind} may not skip mandatory step {step}"
ONE_ACCOUNTABLE = "RACI activity {activity} has {count} accountable roles (A), at most 1 allowed"
UNKNOWN_ACTIVITY = "step {step} names RACI activity {activity}, which is not in raci"
STAGE_SHARES = "rollout stage {stage} routes {share}, outside its range {low}-{high}"
STAGE_ORDER = "rollout stage {stage} routes less traffic than the stage before it"
LAST_STAGE = "the last rollout stage must route all traffic (1.0)"
DURATION_ORDER = "rollout stage {stage} has duration_days_min above duration_days_max"


class Criterion(StrictModel):
    """A checklist item, stage gate or rollback trigger: verified by code or by a person."""

    id: ItemId
    text: str
    verification: Literal["automatic", "attested"]
    check: CheckName | None = None
    attested_by: Role | None = None
    high_risk_only: bool = False
    if_applicable: bool = False

    @model_validator(mode="after")
    def _names_its_verifier(self) -> Criterion:
        if self.verification == "automatic" and (self.check is None or self.attested_by):
            raise PydanticCustomError("verifier", AUTOMATIC_NEEDS_CHECK)
        if self.verification == "attested" and (self.attested_by is None or self.check):
            raise PydanticCustomError("verifier", ATTESTED_NEEDS_ROLE)
        return self

    def applies_to(self, tier: RiskTier) -> bool:
        return tier == "high" or not self.high_risk_only


class ChecklistSection(StrictModel):
    title: str
    items: list[Criterion]


class Checklist(StrictModel):
    title: str
    source: str
    sections: dict[Annotated[str, Field(pattern=SNAKE_CASE)], ChecklistSection]

    def items(self) -> list[Criterion]:
        return [item for section in self.sections.values() for item in section.items]


class Step(StrictModel):
    number: Annotated[int, Field(ge=1)]
    name: str
    actions: list[str]
    execution: Literal["automated", "human"]
    performed_by: list[Role]
    raci_activity: str | None = None
    checks: list[CheckName] = Field(default_factory=list)
    high_risk_only: bool = False
    mandatory: bool = False

    @model_validator(mode="after")
    def _human_steps_have_performers(self) -> Step:
        if self.execution == "human" and not self.performed_by:
            raise PydanticCustomError("performer", HUMAN_STEP_NEEDS_ROLE)
        return self


class Deliverable(StrictModel):
    name: str
    form: str | None = None


class Phase(StrictModel):
    number: Annotated[int, Field(ge=1)]
    name: str
    steps: list[Step]
    deliverables: list[Deliverable]


DeploymentKind = Literal["initial", "major", "minor", "patch", "rollback"]


class DeploymentType(StrictModel):
    """Seed 001 section 3.2, with what each type changes in the standard procedure."""

    description: str
    requirements: list[str]
    procedure: Literal["standard", "rollback"]
    skipped_steps: list[int] = Field(default_factory=list)
    substantial_change_assessment: bool = False
    conformity_gate_for_high_risk: bool = False
    registration: bool = False
    expedited: bool = False


class Approvals(StrictModel):
    """Seed 001 step 10 and section 2.1, with seed 003's separation of duties."""

    seed_risk_levels: dict[RiskTier, str]
    required_by_tier: dict[RiskTier, list[Role]]
    blocking_roles: list[Role]
    response_timeout_hours: Annotated[float, Field(gt=0)]
    expedited_response_timeout_hours: Annotated[float, Field(gt=0)]
    on_timeout: Literal["reject"]
    withdrawal_check_minutes: Annotated[float, Field(gt=0)]
    owner_may_approve: bool
    distinct_approvers: bool


class RoleDuty(StrictModel):
    seed_role: str
    responsibility: str
    authority: str


class GoLiveRule(StrictModel):
    condition: str
    action: Literal["proceed", "assess_and_decide", "rollback"]
    decided_by: Role | None


class RollbackStage(StrictModel):
    number: Annotated[int, Field(ge=1)]
    name: str
    actions: list[str]


class Rollback(StrictModel):
    """Seed 001 section 5."""

    approver_role: Role
    verify_timeout_seconds: Annotated[float, Field(gt=0)]
    triggers: list[Criterion]
    process: list[RollbackStage]


class SubstantialChange(StrictModel):
    assessed_by: Role
    question: str
    if_yes: str
    if_no: str


class HighRisk(StrictModel):
    """Seed 001 section 7."""

    requirements: list[Criterion]
    substantial_change: SubstantialChange


class Record(StrictModel):
    id: str
    name: str
    retention_years: Annotated[int, Field(gt=0)]
    owner: Role


class Form(StrictModel):
    id: str
    name: str
    purpose: str


class RolloutStage(StrictModel):
    """A stage of seed 000's phased rollout; govflow routes ``traffic_share``."""

    name: Annotated[str, Field(pattern=SNAKE_CASE)]
    audience: Literal["internal", "external"]
    coverage: str
    traffic_share_min: Fraction
    traffic_share_max: Fraction
    traffic_share: Fraction
    # Both None for an ongoing stage (seed 000: "Full ... Ongoing").
    duration_days_min: Annotated[int, Field(ge=1)] | None
    duration_days_max: Annotated[int, Field(ge=1)] | None
    focus: list[str]

    @model_validator(mode="after")
    def _share_and_duration_are_consistent(self) -> RolloutStage:
        if not self.traffic_share_min <= self.traffic_share <= self.traffic_share_max:
            raise PydanticCustomError(
                "stage_share",
                STAGE_SHARES.format(
                    stage=self.name,
                    share=self.traffic_share,
                    low=self.traffic_share_min,
                    high=self.traffic_share_max,
                ),
            )
        low, high = self.duration_days_min, self.duration_days_max
        if low is not None and high is not None and low > high:
            raise PydanticCustomError("stage_duration", DURATION_ORDER.format(stage=self.name))
        return self


class RolloutThresholds(StrictModel):
    """govflow defaults for seed 000's unnumbered gate and rollback limits."""

    error_rate_gate_max: Fraction
    error_rate_rollback_max: Fraction
    override_rate_max: Fraction
    significant_complaints_max: Annotated[int, Field(ge=0)]


class StageApproval(StrictModel):
    """Who gives seed 000's "Stakeholder approval" at each gate, and how long they have."""

    roles: list[Role]
    model_owner: bool
    response_timeout_hours: Annotated[float, Field(gt=0)]


class Rollout(StrictModel):
    stages: list[RolloutStage]
    stage_gates: list[Criterion]
    rollback_criteria: list[Criterion]
    # A stage's duration in days lasts duration_days x day_seconds; a demo or a test
    # compresses the rollout by lowering day_seconds.
    day_seconds: Annotated[float, Field(gt=0)]
    check_interval_seconds: Annotated[float, Field(gt=0)]
    thresholds: RolloutThresholds
    stage_approval: StageApproval

    @model_validator(mode="after")
    def _stages_grow_to_full_traffic(self) -> Rollout:
        for before, after in zip(self.stages, self.stages[1:], strict=False):
            if after.traffic_share < before.traffic_share:
                raise PydanticCustomError("stage_order", STAGE_ORDER.format(stage=after.name))
        if not self.stages or self.stages[-1].traffic_share != 1.0:
            raise PydanticCustomError("last_stage", LAST_STAGE)
        return self

    def stage(self, name: str) -> RolloutStage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no rollout stage {name!r} in deployment.yaml")


class ReadinessReport(StrictModel):
    status_values: list[str]
    recommendations: list[str]


class HoursRange(StrictModel):
    min: Annotated[float, Field(gt=0)]
    max: Annotated[float, Field(gt=0)]


class DeploymentFile(StrictModel):
    """The whole of ``config/deployment.yaml``."""

    procedure_id: str
    roles: dict[Role, RoleDuty]
    raci: dict[Annotated[str, Field(pattern=SNAKE_CASE)], dict[Role, Literal["R", "A", "C", "I"]]]
    phases: list[Phase]
    deployment_types: dict[DeploymentKind, DeploymentType]
    approvals: Approvals
    go_live: dict[Literal["GREEN", "AMBER", "RED"], GoLiveRule]
    post_deployment_monitoring_hours: HoursRange
    rollback: Rollback
    high_risk: HighRisk
    environments: dict[Literal["production", "staging"], dict[str, str]]
    records: list[Record]
    forms: list[Form]
    rollout: Rollout
    readiness_report: ReadinessReport
    automated_checks: dict[CheckName, str]
    checklists: dict[Annotated[str, Field(pattern=SNAKE_CASE)], Checklist]

    @model_validator(mode="after")
    def _procedure_is_consistent(self) -> DeploymentFile:
        # These rules span sections, so pydantic cannot locate them; each message starts
        # with the dotted path of the offending key and the loader prints it as such.
        self._check_numbering()
        self._check_raci()
        self._check_deployment_types()
        self._check_criteria()
        return self

    def _check_numbering(self) -> None:
        phase_numbers = [phase.number for phase in self.phases]
        if phase_numbers != list(range(1, len(self.phases) + 1)):
            found = PHASE_NUMBERS.format(count=len(self.phases), found=phase_numbers)
            raise located_error("phases", found)
        step_numbers = [step.number for step in self.steps()]
        if step_numbers != list(range(1, len(step_numbers) + 1)):
            found = STEP_NUMBERS.format(count=len(step_numbers), found=step_numbers)
            raise located_error("phases", found)

    def _check_raci(self) -> None:
        for activity, assignments in self.raci.items():
            accountable = sum(1 for letter in assignments.values() if letter == "A")
            if accountable > 1:
                message = ONE_ACCOUNTABLE.format(activity=activity, count=accountable)
                raise located_error(f"raci.{activity}", message)
        for phase_index, phase in enumerate(self.phases):
            for step_index, step in enumerate(phase.steps):
                if step.raci_activity is not None and step.raci_activity not in self.raci:
                    message = UNKNOWN_ACTIVITY.format(step=step.number, activity=step.raci_activity)
                    path = f"phases.{phase_index}.steps.{step_index}.raci_activity"
                    raise located_error(path, message)

    def _check_deployment_types(self) -> None:
        steps = {step.number: step for step in self.steps()}
        for kind, deployment_type in self.deployment_types.items():
            path = f"deployment_types.{kind}.skipped_steps"
            for number in deployment_type.skipped_steps:
                if number not in steps:
                    raise located_error(path, UNKNOWN_STEP.format(kind=kind, step=number))
                if steps[number].mandatory:
                    raise located_error(path, MANDATORY_STEP.format(kind=kind, step=number))

    def _check_criteria(self) -> None:
        seen: set[str] = set()
        for path, item in self._located_criteria():
            if item.id in seen:
                raise located_error(f"{path}.id", DUPLICATE_ITEM.format(item=item.id))
            seen.add(item.id)
            if item.check is not None and item.check not in self.automated_checks:
                message = UNKNOWN_CHECK.format(check=item.check, item=item.id)
                raise located_error(f"{path}.check", message)
        for phase_index, phase in enumerate(self.phases):
            for step_index, step in enumerate(phase.steps):
                for check in step.checks:
                    if check not in self.automated_checks:
                        message = UNKNOWN_CHECK.format(check=check, item=f"step {step.number}")
                        raise located_error(
                            f"phases.{phase_index}.steps.{step_index}.checks", message
                        )

    def _located_criteria(self) -> list[tuple[str, Criterion]]:
        located: list[tuple[str, Criterion]] = []
        for name, checklist in self.checklists.items():
            for section_name, section in checklist.sections.items():
                prefix = f"checklists.{name}.sections.{section_name}.items"
                located += [(f"{prefix}.{index}", item) for index, item in enumerate(section.items)]
        for prefix, items in (
            ("high_risk.requirements", self.high_risk.requirements),
            ("rollout.stage_gates", self.rollout.stage_gates),
            ("rollout.rollback_criteria", self.rollout.rollback_criteria),
            ("rollback.triggers", self.rollback.triggers),
        ):
            located += [(f"{prefix}.{index}", item) for index, item in enumerate(items)]
        return located

    def steps(self) -> list[Step]:
        return [step for phase in self.phases for step in phase.steps]

    def step(self, number: int) -> Step:
        for step in self.steps():
            if step.number == number:
                return step
        raise KeyError(f"no step {number} in deployment.yaml")

    def steps_for(self, kind: DeploymentKind, tier: RiskTier) -> list[Step]:
        """The standard-procedure steps a deployment of ``kind`` runs for a ``tier`` model."""
        deployment_type = self.deployment_types[kind]
        if deployment_type.procedure == "rollback":
            return []
        return [
            step
            for step in self.steps()
            if step.number not in deployment_type.skipped_steps
            and (tier == "high" or not step.high_risk_only)
        ]

    def approval_roles(self, tier: RiskTier) -> list[Role]:
        return list(self.approvals.required_by_tier[tier])

    def criteria(self) -> list[Criterion]:
        """Every item with an id: checklists, 7.1 requirements, stage gates, rollback triggers."""
        return [item for _, item in self._located_criteria()]

    def criterion(self, item_id: str) -> Criterion:
        for item in self.criteria():
            if item.id == item_id:
                return item
        raise KeyError(f"no checklist item {item_id!r} in deployment.yaml")

    def checklist_items(self, checklist: str, tier: RiskTier) -> list[Criterion]:
        """The items of ``checklist`` that apply to a model of ``tier``."""
        return [item for item in self.checklists[checklist].items() if item.applies_to(tier)]
