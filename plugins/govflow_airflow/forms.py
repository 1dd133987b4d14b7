"""The forms of the deployment procedure's human steps, as HITL ``params``.

A form is rendered by Airflow from Params fixed when the DAG file is parsed, and parsing
imports no govflow module, so the fields are written here; ``govflow.deployment.forms``
holds the same forms for checking the answers, and tests/dags asserts that both agree.
Fields: (name, title, description, required).
"""

from __future__ import annotations

from airflow.sdk import Param

FIELDS: dict[int, tuple[tuple[str, str, str, bool], ...]] = {
    1: (
        ("scope_and_objectives", "Scope and objectives", "What changes and why.", True),
        (
            "deployment_window_start",
            "Deployment window start",
            "ISO date and time (UTC), e.g. 2026-12-01T08:00:00+00:00.",
            True,
        ),
        ("deployment_window_end", "Deployment window end", "ISO date and time (UTC).", True),
        ("dependencies", "Dependencies and prerequisites", "Upstream data, services.", True),
        ("resource_requirements", "Resource requirements", "People, compute, budget.", True),
        ("communication_plan", "Communication plan", "Who is told what, when.", True),
        ("plan_link", "Link to the full plan", "URL of the plan document.", True),
    ),
    2: (
        ("deployment_risks", "Deployment risks", "What could go wrong.", True),
        ("mitigation_measures", "Mitigation measures", "How each risk is reduced.", True),
        (
            "rollback_plan",
            "Rollback plan",
            "How and when to return to the previous version.",
            True,
        ),
        ("success_criteria", "Success criteria", "What a successful deployment shows.", True),
        ("go_no_go_criteria", "Go/no-go criteria", "What stops the go-live.", True),
        ("assessment_link", "Link to the assessment", "URL of the risk assessment.", True),
    ),
    17: (
        ("documentation_link", "Technical documentation", "URL of the updated docs.", True),
        ("runbooks_link", "Operational runbooks", "URL of the updated runbooks.", True),
        ("notes", "Notes", "Anything else that was updated.", False),
    ),
    18: (
        (
            "eu_database_registration",
            "EU database registration",
            "Reference of the submitted registration.",
            True,
        ),
        (
            "authorities_notified",
            "Authorities notified",
            "Which authorities were notified, or 'not required'.",
            True,
        ),
    ),
    20: (
        ("retrospective_link", "Retrospective", "URL of the retrospective notes.", True),
        ("lessons_learned", "Lessons learned", "What to keep and what to change.", True),
    ),
}


def form_params(step: int) -> dict[str, Param]:
    """The Params of step ``step``'s form; an optional field may stay empty (null)."""
    return {
        name: Param(
            "" if required else None,
            # The UI marks a plain string as required; null makes the field optional.
            type="string" if required else ["null", "string"],
            title=title,
            description=description + ("" if required else " (optional)"),
        )
        for name, title, description, required in FIELDS[step]
    }
