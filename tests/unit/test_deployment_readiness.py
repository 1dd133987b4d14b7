"""The Deployment Readiness Report (seed 000 "Output"): its recommendation and its renderings."""

from __future__ import annotations

import pytest

from govflow.deployment.readiness import (
    OutstandingItem,
    ReadinessReport,
    recommend,
    render_html,
    render_markdown,
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
