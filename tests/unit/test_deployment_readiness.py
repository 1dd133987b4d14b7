"""The Deployment Readiness Report (seed 000 "Output"): its recommendation and its renderings."""

from __future__ import annotations

import pytest

from govflow.deployment.readiness import (
    OutstandingItem,
    ReadinessReport,
    recommend,
    render_html,
    render_markdown,
    summary_text,
)

P0_FAIRNESS = {
    "ref": "INC-2026-0007",
    "priority": "P0",
    "severity": "CRITICAL",
    "metric": "disparate_impact_ratio",
    "status": "open",
    "opened": "2026-11-28 06:00 UTC",
}
P2_DRIFT = {
    "ref": "INC-2026-0009",
    "priority": "P2",
    "severity": "WARNING",
    "metric": "psi",
    "status": "acknowledged",
    "opened": "2026-11-29 06:00 UTC",
}
FREEZE = {
    "id": "3",
    "scope": "model_type",
    "target": "credit_approval",
    "by": "govflow-incident-response",
    "since": "2026-11-28 06:05 UTC",
    "reason": "INC-2026-0007 CRITICAL disparate_impact_ratio: disparate impact 0.67",
}
P0_CONDITION = (
    "INC-2026-0007 P0 CRITICAL disparate_impact_ratio open: approvers confirm this version "
    "addresses it"
)
FREEZE_CONDITION = (
    "credit_approval is frozen by kill switch 3 (model_type, govflow-incident-response since "
    "2026-11-28 06:05 UTC): lifting it is a separate decision"
)


@pytest.mark.parametrize(
    ("stop_reason", "incomplete", "rejected", "conditions", "recommendation", "reasons"),
    [
        (None, [], [], [], "APPROVE", []),
        (
            None,
            [],
            [],
            ["weekly fairness review (System Owner priya)"],
            "APPROVE WITH CONDITIONS",
            [],
        ),
        (
            None,
            ["SAFE-TECH-2", "CHK-5.5"],
            [],
            ["weekly fairness review (System Owner priya)"],
            "DO NOT APPROVE",
            ["2 checklist item(s) not complete: SAFE-TECH-2, CHK-5.5"],
        ),
        (
            "Compliance Officer carol blocked the deployment: EU declaration unsigned",
            [],
            ["Compliance Officer"],
            [],
            "DO NOT APPROVE",
            [
                "the deployment stopped: Compliance Officer carol blocked the deployment: EU "
                "declaration unsigned",
                "rejected by Compliance Officer",
            ],
        ),
        (
            "go-live decision RED: deployment_smoke_test: no rows",
            [],
            [],
            [],
            "DO NOT APPROVE",
            ["the deployment stopped: go-live decision RED: deployment_smoke_test: no rows"],
        ),
    ],
)
def test_the_recommendation_follows_stops_incomplete_items_rejections_and_conditions(
    stop_reason, incomplete, rejected, conditions, recommendation, reasons
):
    assert recommend(
        stop_reason=stop_reason,
        incomplete_items=incomplete,
        rejected_roles=rejected,
        conditions=conditions,
    ) == (recommendation, reasons)


@pytest.mark.parametrize(
    ("stop_reason", "conditions", "incidents", "kill_switches", "recommendation", "reasons"),
    [
        (None, [], [P2_DRIFT], [], "APPROVE", []),
        (None, [], [P0_FAIRNESS, P2_DRIFT], [], "APPROVE WITH CONDITIONS", [P0_CONDITION]),
        (None, [], [], [FREEZE], "APPROVE WITH CONDITIONS", [FREEZE_CONDITION]),
        (
            None,
            ["weekly fairness review (System Owner priya)"],
            [P0_FAIRNESS],
            [FREEZE],
            "APPROVE WITH CONDITIONS",
            [P0_CONDITION, FREEZE_CONDITION],
        ),
        (
            "go-live decision RED: deployment_smoke_test: no rows",
            [],
            [P0_FAIRNESS],
            [FREEZE],
            "DO NOT APPROVE",
            [
                "the deployment stopped: go-live decision RED: deployment_smoke_test: no rows",
                P0_CONDITION,
                FREEZE_CONDITION,
            ],
        ),
    ],
)
def test_an_open_critical_incident_or_a_kill_switch_makes_an_approval_conditional_never_plain(
    stop_reason, conditions, incidents, kill_switches, recommendation, reasons
):
    assert recommend(
        stop_reason=stop_reason,
        incomplete_items=[],
        rejected_roles=[],
        conditions=conditions,
        incidents=incidents,
        kill_switches=kill_switches,
    ) == (recommendation, reasons)


def _report(**changes) -> ReadinessReport:
    fields = {
        "ref": "DEP-20261130-ABCDEF",
        "system": "credit_approval 1.1.0 (credit lending)",
        "date": "2026-11-30",
        "reviewer": "Dave Dunn (dave)",
        "deployment": {"type": "minor", "requested by": "sam"},
        "status": "authorised",
        "areas": {"Governance": True, "Technical": False},
        "checklist_counts": [("Deployment Readiness (seed 000)", 23, 24)],
        "outstanding": [
            OutstandingItem(
                "SAFE-TECH-6: Load/stress testing | <b>", "Quinn Quist (quinn)", "-", "pending"
            )
        ],
        "monitoring_plan": ["Metrics tracked: psi"],
        "rollout_plan": ["Stage 1: alpha"],
        "rollback_plan": ["Owner: Olivia Owens (olivia)"],
        "recommendation": "APPROVE WITH CONDITIONS",
        "conditions": ["weekly fairness review (System Owner priya)"],
        "reasons": [],
        "decisions": [],
    }
    return ReadinessReport(**{**fields, **changes})


def test_markdown_follows_the_seed_template_and_escapes_table_cells():
    markdown = render_markdown(_report())
    assert markdown.startswith(
        "## Deployment Readiness Report\n\n### System: credit_approval 1.1.0 (credit lending)\n\n"
        "### Date: 2026-11-30\n\n### Reviewer: Dave Dunn (dave)\n"
    )
    assert "- [x] Governance: Ready\n- [ ] Technical: Not Ready\n" in markdown
    assert (
        "| Item | Owner | Due Date | Status |\n|---|---|---|---|\n"
        "| SAFE-TECH-6: Load/stress testing \\| <b> | Quinn Quist (quinn) | - | pending |\n"
    ) in markdown
    assert "### Recommendation\n\n**APPROVE WITH CONDITIONS**\n" in markdown
    assert (
        "### Conditions (if applicable)\n\n1. weekly fairness review (System Owner priya)\n"
        in markdown
    )


def test_html_says_the_same_with_every_value_escaped():
    html = render_html(_report())
    assert html.startswith("<!DOCTYPE html>")
    assert "<li>&#9745; Governance: Ready</li><li>&#9744; Technical: Not Ready</li>" in html
    assert "<td>SAFE-TECH-6: Load/stress testing | &lt;b&gt;</td>" in html
    assert "<p><strong>APPROVE WITH CONDITIONS</strong></p>" in html
    assert "<ol><li>weekly fairness review (System Owner priya)</li></ol>" in html


def test_an_empty_outstanding_list_still_renders_a_table_row_and_no_conditions_say_none():
    markdown = render_markdown(_report(outstanding=[], conditions=[], recommendation="APPROVE"))
    assert "|---|---|---|---|\n| - | - | - | - |\n" in markdown
    assert "### Conditions (if applicable)\n\n1. None.\n" in markdown


def test_the_models_open_incidents_and_kill_switches_have_a_section_of_their_own():
    report = _report(
        incidents=[P0_FAIRNESS, P2_DRIFT],
        kill_switches=[FREEZE],
        reasons=[P0_CONDITION, FREEZE_CONDITION],
    )
    markdown = render_markdown(report)
    assert (
        "### Open Incidents and Kill Switches\n\n"
        "| Incident | Priority | Severity | Metric | Status | Opened |\n|---|---|---|---|---|---|\n"
        "| INC-2026-0007 | P0 | CRITICAL | disparate_impact_ratio | open | 2026-11-28 06:00 UTC |\n"
        "| INC-2026-0009 | P2 | WARNING | psi | acknowledged | 2026-11-29 06:00 UTC |\n\n"
        "| Kill Switch | Scope | Target | By | Since | Reason |\n|---|---|---|---|---|---|\n"
        "| 3 | model_type | credit_approval | govflow-incident-response | 2026-11-28 06:05 UTC "
        "| INC-2026-0007 CRITICAL disparate_impact_ratio: disparate impact 0.67 |\n\n"
        "### Monitoring Plan\n"
    ) in markdown
    assert (
        f"### Recommendation\n\n**APPROVE WITH CONDITIONS**\n\n- {P0_CONDITION}\n"
        f"- {FREEZE_CONDITION}\n"
    ) in markdown
    html = render_html(report)
    assert "<h3>Open Incidents and Kill Switches</h3>" in html
    assert "<td>INC-2026-0007</td><td>P0</td><td>CRITICAL</td>" in html
    assert "<td>3</td><td>model_type</td><td>credit_approval</td>" in html
    assert summary_text(report).splitlines()[-2:] == [
        f"Reason: {P0_CONDITION}",
        f"Reason: {FREEZE_CONDITION}",
    ]


def test_without_incidents_or_kill_switches_the_report_has_no_such_section():
    markdown = render_markdown(_report())
    assert "Incident" not in markdown
    assert "Kill Switch" not in markdown
    assert "<h3>Open Incidents" not in render_html(_report())
