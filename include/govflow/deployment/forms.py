"""Seed 001 sections 4 and 8.2: what a human step of PROC-AI-DEPLOY-001 asks, of whom, by when.

A ``FormRequest`` is one "Required action" in the Airflow UI: a subject, a Markdown body, the
people it is assigned to, the options to choose from (``None`` keeps the operator's own)
and how long the request waits. ``operator_kwargs`` turns it into the keyword arguments an
Airflow human-in-the-loop operator is expanded with, so the domain decides who is asked and
the DAG only wires the request to an operator.

The forms with fields of their own (FORM-AI-DEPLOY-001 and the risk assessment of phase 1,
the post-deployment records of steps 17, 18 and 20) are declared here as ``FormSpec``: the
fields a person fills in, which of them must not be empty (``missing_fields``) and the rules
an answer must follow besides (``answer_problems``: the plan's deployment window is two ISO
date-times, the end after the start). The form's request asks again, of the same people,
when an answer breaks a rule; the step that records the answer checks both again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from govflow.answers import Answer
from govflow.config import GovflowConfig

BAD_WINDOW = "the deployment window is not valid: {problem}"
WINDOW_ORDER = "it ends ({end}) before it starts ({start})"
NOT_ISO = "{value!r} is not an ISO date and time"
WINDOW = ("deployment_window_start", "deployment_window_end")
# Roles read better with their acronyms kept: "AI Governance Committee", "ML Lead", "QA Lead".
ACRONYMS = {"ai": "AI", "ml": "ML", "qa": "QA", "cto": "CTO", "ceo": "CEO"}


def role_title(role: str) -> str:
    """``ai_governance_committee`` -> ``AI Governance Committee``."""
    return " ".join(ACRONYMS.get(word, word.capitalize()) for word in role.split("_"))


@dataclass(frozen=True)
class Person:
    id: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


def people(config: GovflowConfig, user_ids: list[str]) -> tuple[Person, ...]:
    return tuple(Person(user_id, config.people.user(user_id).name) for user_id in user_ids)


@dataclass(frozen=True)
class FormRequest:
    """One human-in-the-loop request: whom it asks, what, and how long it waits."""

    key: str
    role: str
    subject: str
    body: str
    assignees: tuple[Person, ...]
    response_timeout_hours: float
    options: tuple[str, ...] | None = None
    items: tuple[str, ...] = ()
    check_every_minutes: float | None = None

    def operator_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``HITLOperator.partial(...).expand_kwargs([...])``; a request
        that checks whether it is still wanted adds ``check_every``."""
        kwargs: dict[str, Any] = {
            "subject": self.subject,
            "body": self.body,
            "assigned_users": [person.to_dict() for person in self.assignees],
            "response_timeout": timedelta(hours=self.response_timeout_hours),
        }
        if self.options is not None:
            kwargs["options"] = list(self.options)
        if self.check_every_minutes is not None:
            kwargs["check_every"] = timedelta(minutes=self.check_every_minutes)
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "role": self.role,
            "subject": self.subject,
            "body": self.body,
            "assignees": [person.to_dict() for person in self.assignees],
            "response_timeout_hours": self.response_timeout_hours,
            "options": None if self.options is None else list(self.options),
            "items": list(self.items),
            "check_every_minutes": self.check_every_minutes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FormRequest:
        return cls(
            key=data["key"],
            role=data["role"],
            subject=data["subject"],
            body=data["body"],
            assignees=tuple(Person(**person) for person in data["assignees"]),
            response_timeout_hours=data["response_timeout_hours"],
            options=None if data["options"] is None else tuple(data["options"]),
            items=tuple(data["items"]),
            check_every_minutes=data.get("check_every_minutes"),
        )


@dataclass(frozen=True)
class FormField:
    name: str
    title: str
    description: str
    required: bool = True


def window_problem(params: Mapping[str, Any]) -> str | None:
    """Why a plan's deployment window is not valid, or None. A bound left blank is
    ``missing_fields``'s to name."""
    bounds = {}
    for name in WINDOW:
        value = str(params.get(name) or "").strip()
        if not value:
            return None
        try:
            bounds[name] = datetime.fromisoformat(value)
        except ValueError:
            return BAD_WINDOW.format(problem=NOT_ISO.format(value=value))
    start, end = (bounds[name] for name in WINDOW)
    if (start.tzinfo is None) != (end.tzinfo is None) or end <= start:
        return BAD_WINDOW.format(problem=WINDOW_ORDER.format(start=start, end=end))
    return None


@dataclass(frozen=True)
class FormSpec:
    """A form of the procedure with its own fields (the DAG renders them as HITL params) and
    the rules its answers follow besides (each returns why an answer breaks it, or None)."""

    form_id: str
    step: int
    role: str
    title: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)
    rules: tuple[Callable[[Mapping[str, Any]], str | None], ...] = ()

    def missing_fields(self, answer: Answer) -> list[str]:
        return [f.name for f in self.fields if f.required and not answer.text(f.name)]

    def answer_problems(self, params: Mapping[str, Any]) -> list[str]:
        """Why the form's answer ``params`` (its ``params_input``) breaks the form's rules."""
        return [problem for rule in self.rules if (problem := rule(params))]


DEPLOYMENT_PLAN = FormSpec(
    form_id="FORM-AI-DEPLOY-001",
    step=1,
    role="deployment_manager",
    title="Deployment Plan",
    fields=(
        FormField("scope_and_objectives", "Scope and objectives", "What changes and why."),
        FormField(
            "deployment_window_start",
            "Deployment window start",
            "ISO date and time (UTC), e.g. 2026-12-01T08:00:00+00:00.",
        ),
        FormField("deployment_window_end", "Deployment window end", "ISO date and time (UTC)."),
        FormField("dependencies", "Dependencies and prerequisites", "Upstream data, services."),
        FormField("resource_requirements", "Resource requirements", "People, compute, budget."),
        FormField("communication_plan", "Communication plan", "Who is told what, when."),
        FormField("plan_link", "Link to the full plan", "URL of the plan document."),
    ),
    rules=(window_problem,),
)
RISK_ASSESSMENT = FormSpec(
    form_id="RISK-ASSESSMENT",
    step=2,
    role="risk_manager",
    title="Deployment Risk Assessment",
    fields=(
        FormField("deployment_risks", "Deployment risks", "What could go wrong."),
        FormField("mitigation_measures", "Mitigation measures", "How each risk is reduced."),
        FormField(
            "rollback_plan", "Rollback plan", "How and when to return to the previous version."
        ),
        FormField("success_criteria", "Success criteria", "What a successful deployment shows."),
        FormField("go_no_go_criteria", "Go/no-go criteria", "What stops the go-live."),
        FormField("assessment_link", "Link to the assessment", "URL of the risk assessment."),
    ),
)
DOCUMENTATION_UPDATES = FormSpec(
    form_id="DOCUMENTATION-UPDATES",
    step=17,
    role="ml_lead",
    title="Documentation Updates",
    fields=(
        FormField("documentation_link", "Technical documentation", "URL of the updated docs."),
        FormField("runbooks_link", "Operational runbooks", "URL of the updated runbooks."),
        FormField("notes", "Notes", "Anything else that was updated.", required=False),
    ),
)
REGISTRATION_UPDATES = FormSpec(
    form_id="REGISTRATION-UPDATES",
    step=18,
    role="compliance_officer",
    title="Registration Updates",
    fields=(
        FormField(
            "eu_database_registration",
            "EU database registration",
            "Reference of the submitted registration.",
        ),
        FormField(
            "authorities_notified",
            "Authorities notified",
            "Which authorities were notified, or 'not required'.",
        ),
    ),
)
DEPLOYMENT_CLOSURE = FormSpec(
    form_id="DEPLOYMENT-CLOSURE",
    step=20,
    role="deployment_manager",
    title="Deployment Closure",
    fields=(
        FormField("retrospective_link", "Retrospective", "URL of the retrospective notes."),
        FormField("lessons_learned", "Lessons learned", "What to keep and what to change."),
    ),
)
FORMS: dict[int, FormSpec] = {
    spec.step: spec
    for spec in (
        DEPLOYMENT_PLAN,
        RISK_ASSESSMENT,
        DOCUMENTATION_UPDATES,
        REGISTRATION_UPDATES,
        DEPLOYMENT_CLOSURE,
    )
}
