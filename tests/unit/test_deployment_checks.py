"""Checklist evaluation with evidence (seed 001 step 7, seed 000 readiness, seed 002 ML items):
the automated checks on the demo's candidates, and attestations by named people."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from govflow import settings, store
from govflow.audit import query_events, verify_chain
from govflow.config import load_config
from govflow.deployment import checklists, checks, procedure
from govflow.deployment.checks import CheckResult, DeploymentCandidate, go_live_colour, run_check
from govflow.deployment.forms import Answer
from govflow.store.schema import ChecklistEvidence
from tests.support.deployment_demo import (
    CANDIDATE,
    UNFAIR_CANDIDATE,
    copy_demo,
    register_candidate,
    with_disparate_impact,
)
from tests.support.policies import with_equal_alpha_shares, without_fairness_threshold
from tests.support.rollout_demo import applicants, gender_only_decisions


@pytest.fixture(scope="module")
def config():
    return load_config(settings.config_dir())


@pytest.fixture(scope="module")
def demo(seeded_demo, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the seeded demo with candidates 1.1.0 (fair) and 1.1.1 (unfair)."""
    data_dir = tmp_path_factory.mktemp("deployment-checks")
    url = copy_demo(Path(seeded_demo[0]), data_dir)
    register_candidate(data_dir, url)
    register_candidate(data_dir, url, version=UNFAIR_CANDIDATE, validation=with_disparate_impact)
    return data_dir, url


def _evaluate(
    config, demo, version: str, names: list[str], kind: str = "minor"
) -> dict[str, CheckResult]:
    data_dir, url = demo
    request = procedure.DeploymentRequest(
        "credit_approval", version, kind, "production", "test", "sam", f"checks/{version}/{kind}"
    )
    with store.session_scope(url) as session:
        deployment, _ = procedure.open_deployment(session, config, request)
        candidate = DeploymentCandidate(session, config, data_dir, deployment)
        return {name: run_check(name, candidate) for name in names}


def test_every_check_deployment_yaml_names_is_implemented_or_waits_for_traffic(config):
    from govflow.rollout.checks import STAGE_CHECKS

    named = set(config.deployment.automated_checks)
    assert named == set(checks.CHECKS) | set(STAGE_CHECKS)
    assert not set(checks.CHECKS) & checks.TRAFFIC_CHECKS
    # The checks step 14 defers to the rollout are decided on a stage's traffic.
    assert set(STAGE_CHECKS) >= checks.TRAFFIC_CHECKS


@pytest.mark.parametrize(
    ("check", "summary", "evidence"),
    [
        (
            "model_performance_meets_requirement",
            "validation accuracy 0.800683 (min 0.7), AUC 0.861692 (min 0.75)",
            {"accuracy": 0.800683, "roc_auc": 0.861692, "min_accuracy": 0.7, "min_auc": 0.75},
        ),
        (
            "staging_smoke_test",
            "scored 60000 validation rows, scores in [0.003768, 0.997466]",
            {
                "rows": 60000,
                "max_deviation_from_registered_scores": 0.0,
                "scores_outside_valid_outputs": 0,
            },
        ),
        (
            "fairness_across_groups",
            "no fairness metric is CRITICAL on 60000 validation rows; lowest disparate impact "
            "ratio 0.922903 (gender&age_band); 5 INCONCLUSIVE (interval too wide to decide): "
            "disparate_impact_ratio of gender&age_band, equal_opportunity_difference of "
            "gender&age_band, false_positive_rate_difference of gender&age_band and 2 more",
            {"min_group_size": 30, "rows": 60000},
        ),
        (
            "rollback_dry_run",
            "dry run: version 1.0.0 restored from models/credit_approval/1.0.0/model.pkl and "
            "scored 60000 validation rows in [0.003768, 0.997466]",
            {"previous_version": "1.0.0", "rows": 60000},
        ),
        (
            "previous_version_available",
            "previous version 1.0.0: artefact intact, baselines 2025-03-01-v1",
            {"artifact_intact": True, "baselines": ["2025-03-01-v1"]},
        ),
        (
            "prediction_logging_enabled",
            "prediction log of 2025-04-04: 2000 rows, every declared column present",
            {"day": "2025-04-04", "rows": 2000, "missing_columns": []},
        ),
        (
            "deployment_smoke_test",
            "the released artefact scored 2000 production rows of 2025-04-04 in "
            "[0.008807, 0.996676]",
            {"rows": 2000, "non_finite_scores": 0},
        ),
        (
            "baseline_active",
            "1 active baseline(s): 2025-03-01-v1 of version 1.0.0",
            {"active_baselines": ["2025-03-01-v1"]},
        ),
        (
            "data_quality_checks_configured",
            "the quality gate checks 20 columns; on the prediction log of 2025-04-04: data "
            "quality passed: 2000 rows",
            {"rules": 20, "uncovered_columns": []},
        ),
        ("version_tagged", "version '1.1.0' is a semantic version tag", {"version": "1.1.0"}),
        (
            "system_owner_assigned",
            "olivia owns credit_approval and holds the system_owner role",
            {"owner": "olivia"},
        ),
    ],
)
def test_the_candidate_passes_each_check_with_evidence_of_what_it_measured(
    config, demo, check, summary, evidence
):
    result = _evaluate(config, demo, CANDIDATE, [check])[check]
    assert result.outcome == "passed"
    assert result.summary == summary
    assert {key: result.evidence[key] for key in evidence} == evidence


def test_disparate_impact_below_the_80_percent_rule_fails_the_fairness_item(config, demo):
    result = _evaluate(config, demo, UNFAIR_CANDIDATE, ["fairness_across_groups"])[
        "fairness_across_groups"
    ]
    assert result.outcome == "failed"
    assert result.summary.startswith(
        "disparate_impact_ratio of gender is 0.499972 (CRITICAL on the interval "
        "0.478463-0.518579; lowest female, highest male)"
    )
    impact = [f for f in result.evidence["findings"] if f["metric"] == "disparate_impact_ratio"]
    assert [(f["attribute"], f["value"], f["severity"]) for f in impact] == [
        ("gender", 0.499972, "CRITICAL"),
        ("age_band", 0.97498, "INFO"),
        ("gender&age_band", 0.47764, "CRITICAL"),
    ]


def test_an_artefact_that_changed_after_registration_fails_integrity_and_will_not_load(
    config, demo
):
    data_dir, url = demo
    register_candidate(data_dir, url, version="1.2.0")
    with (data_dir / "models/credit_approval/1.2.0/model.pkl").open("ab") as artefact:
        artefact.write(b"tampered")
    results = _evaluate(config, demo, "1.2.0", ["package_integrity_verified", "environment_ready"])
    assert results["package_integrity_verified"].outcome == "failed"
    assert "differs from the registry" in results["package_integrity_verified"].summary
    assert results["environment_ready"].outcome == "failed"
    assert results["environment_ready"].summary.startswith(
        "environment_ready could not be evaluated: the artefact of credit_approval 1.2.0"
    )


def test_a_version_below_the_performance_requirement_fails_with_its_numbers(config, demo):
    data_dir, url = demo
    metrics = register_candidate(
        data_dir,
        url,
        version="1.3.0",
        validation=lambda frame: frame.assign(label=1 - frame["label"]),
    )
    result = _evaluate(config, demo, "1.3.0", ["model_performance_meets_requirement"])[
        "model_performance_meets_requirement"
    ]
    assert result.outcome == "failed"
    assert result.summary == (
        f"validation accuracy {metrics['accuracy']} (min 0.7), AUC {metrics['roc_auc']} (min 0.75)"
    )


@pytest.mark.parametrize(
    ("verification", "colour"),
    [
        ([("deployment_smoke_test", "passed"), ("baseline_active", "passed")], "GREEN"),
        ([("deployment_smoke_test", "passed"), ("baseline_active", "failed")], "AMBER"),
        ([("deployment_smoke_test", "failed"), ("baseline_active", "failed")], "RED"),
        ([("prediction_logging_enabled", "not_applicable")], "GREEN"),
    ],
)
def test_go_live_is_red_when_a_rollback_trigger_check_fails_and_amber_for_other_failures(
    config, verification, colour
):
    results = [CheckResult(name, outcome, f"{name} {outcome}") for name, outcome in verification]
    assert go_live_colour(config, results)[0] == colour


def _open(config, demo, version: str, run_id: str, model_id: str = "credit_approval"):
    request = procedure.DeploymentRequest(
        model_id, version, "minor", "production", "test", "eve", run_id
    )
    with store.session_scope(demo[1]) as session:
        deployment, _ = procedure.open_deployment(session, config, request)
        return deployment.id


def test_high_risk_attestations_go_to_each_role_and_system_owner_items_to_the_owner(config, demo):
    _open(config, demo, CANDIDATE, "attest/requests")
    with store.session_scope(demo[1]) as session:
        deployment = procedure.deployment_of_run(session, "attest/requests")
        step7 = checklists.attestation_requests(config, deployment, step=7, timeout_hours=48)
        step8 = checklists.attestation_requests(config, deployment, step=8, timeout_hours=48)
        items = checklists.checklist_items(config, deployment)
    assert [(r.role, [p.id for p in r.assignees], len(r.items)) for r in step7] == [
        ("ai_governance_committee", ["gina"], 1),
        ("compliance_officer", ["carol"], 4),
        ("risk_manager", ["rick"], 2),
        ("system_owner", ["olivia"], 8),
        ("qa_lead", ["quinn"], 10),
        ("ml_lead", ["lena"], 13),
        ("deployment_manager", ["dave"], 2),
        ("ml_engineer", ["eve", "mike"], 2),
    ]
    assert [(r.role, len(r.items)) for r in step8] == [
        ("compliance_officer", 5),
        ("system_owner", 1),
        ("risk_manager", 1),
    ]
    assert "PROD-MV-6: not applicable" in step7[5].options  # if applicable: A/B testing
    assert len(items) == 86


def test_a_low_risk_model_has_no_section_7_items_and_no_compliance_verification(config, demo):
    data_dir, url = demo
    register_candidate(data_dir, url, model_id="product_recommendation")
    _open(config, demo, CANDIDATE, "attest/low", model_id="product_recommendation")
    with store.session_scope(url) as session:
        deployment = procedure.deployment_of_run(session, "attest/low")
        items = checklists.checklist_items(config, deployment)
        step8 = checklists.attestation_requests(config, deployment, step=8, timeout_hours=48)
        system_owner = [
            r
            for r in checklists.attestation_requests(config, deployment, step=7, timeout_hours=48)
            if r.role == "system_owner"
        ]
    assert len(items) == 74
    assert not [item for item in items if item.checklist == checklists.HIGH_RISK_CHECKLIST]
    assert step8 == []
    assert [p.id for p in system_owner[0].assignees] == ["priya"]


LINK = "https://evidence.example.com/1"
OTHER_LINK = "https://evidence.example.com/2"


def _tick(
    session, config, deployment, role: str, person: str, ticked, link: str, **params: str
) -> list[str]:
    """``person`` answers the step 7 form of ``role``, ticking the items ``ticked``."""
    requests = [
        r
        for r in checklists.attestation_requests(config, deployment, step=7, timeout_hours=48)
        if r.role == role
    ]
    options = [o for o in requests[0].options or () if o.split(":")[0] in ticked]
    answer = Answer(tuple(options), {"evidence_link": link, **params}, person, None)
    return checklists.record_attestations(session, config, deployment, requests, [answer])


@pytest.mark.parametrize(
    ("ticked", "link", "statuses", "problems"),
    [
        (
            ["SAFE-GOV-4", "SAFE-TECH-4"],
            LINK,
            {"SAFE-GOV-4": "attested", "SAFE-TECH-4": "attested"},
            [],
        ),
        (
            ["SAFE-GOV-4"],
            LINK,
            {"SAFE-GOV-4": "attested", "SAFE-TECH-4": "not_attested"},
            ["SAFE-TECH-4 is not attested: rick left it unticked"],
        ),
        (
            ["SAFE-GOV-4", "SAFE-TECH-4"],
            "",
            {"SAFE-GOV-4": "not_attested", "SAFE-TECH-4": "not_attested"},
            [
                "SAFE-GOV-4 is not attested: rick gave no evidence link",
                "SAFE-TECH-4 is not attested: rick gave no evidence link",
            ],
        ),
    ],
)
def test_an_attestation_needs_every_item_ticked_and_an_evidence_link(
    config, demo, ticked, link, statuses, problems
):
    run_id = f"attest/{len(ticked)}/{bool(link)}"
    _open(config, demo, CANDIDATE, run_id)
    with store.session_scope(demo[1]) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        found = _tick(session, config, deployment, "risk_manager", "rick", ticked, link)
        stored = checklists.item_records(session, deployment)
    assert found == problems
    assert {item: stored[item].status for item in statuses} == statuses
    assert {stored[item].actor for item in statuses} == {"rick"}
    assert stored["SAFE-GOV-4"].evidence["evidence_link"] == link


def test_an_item_that_may_not_apply_can_be_attested_not_applicable_but_not_both_ways(config, demo):
    _open(config, demo, CANDIDATE, "attest/not-applicable")
    with store.session_scope(demo[1]) as session:
        deployment = procedure.deployment_of_run(session, "attest/not-applicable")
        lead = [
            r
            for r in checklists.attestation_requests(config, deployment, step=7, timeout_hours=48)
            if r.role == "ml_lead"
        ]
        options = [
            option
            for option in lead[0].options or ()
            if not option.endswith(": not applicable") and not option.startswith("PROD-MV-6:")
        ]
        options += ["PROD-MV-6: not applicable", "PROD-MLO-7: not applicable"]
        answer = Answer(tuple(options), {"evidence_link": LINK}, "lena", None)
        problems = checklists.record_attestations(session, config, deployment, lead, [answer])
        stored = {
            row.item_id: row.status
            for row in session.query(ChecklistEvidence).filter_by(deployment_id=deployment.id)
        }
    assert stored["PROD-MV-6"] == "not_applicable"
    assert stored["PROD-MLO-7"] == "not_attested"
    assert problems == ["PROD-MLO-7 is not attested: lena ticked it both done and not applicable"]


def _attest_as_carol(config, demo, run_id: str, ticked: list[str], link: str) -> list[tuple]:
    """Carol answers her step 7 form; returns her checklist events on the deployment so far."""
    with store.session_scope(demo[1]) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        _tick(session, config, deployment, "compliance_officer", "carol", ticked, link, comment="x")
        assert verify_chain(session).intact
        return [
            (
                e.action,
                e.payload["item"],
                e.payload["status"],
                e.payload["evidence"]["evidence_link"],
            )
            for e in query_events(session, actor="carol", target=f"deployment:{deployment.ref}")
        ]


def test_each_attestation_is_an_audit_event_by_the_attester_once_and_again_when_it_changes(
    config, demo
):
    run_id = "attest/audited"
    _open(config, demo, CANDIDATE, run_id)
    with store.session_scope(demo[1]) as session:
        deployment = procedure.deployment_of_run(session, run_id)
        (carols,) = [
            r.items
            for r in checklists.attestation_requests(config, deployment, step=7, timeout_hours=48)
            if r.role == "compliance_officer"
        ]
    last = carols[-1]
    attested = [(checklists.CHECKLIST_ITEM_RECORDED, item, "attested", LINK) for item in carols]

    assert _attest_as_carol(config, demo, run_id, list(carols), LINK) == attested
    assert _attest_as_carol(config, demo, run_id, list(carols), LINK) == attested
    assert _attest_as_carol(config, demo, run_id, list(carols[:-1]), LINK) == [
        *attested,
        (checklists.CHECKLIST_ITEM_RECORDED, last, "not_attested", LINK),
    ]
    assert _attest_as_carol(config, demo, run_id, list(carols), LINK)[-1:] == [
        (checklists.CHECKLIST_ITEM_RECORDED, last, "attested", LINK)
    ]
    assert len(_attest_as_carol(config, demo, run_id, list(carols), LINK)) == len(carols) + 2
    relinked = _attest_as_carol(config, demo, run_id, list(carols), OTHER_LINK)
    assert relinked[len(carols) + 2 :] == [
        (checklists.CHECKLIST_ITEM_RECORDED, item, "attested", OTHER_LINK) for item in carols
    ]


def test_an_initial_deployment_has_no_rollback_to_test(config, demo):
    data_dir, url = demo
    with store.session_scope(url) as session:
        request = procedure.DeploymentRequest(
            "credit_approval", CANDIDATE, "initial", "production", "test", "sam", "initial"
        )
        deployment, _ = procedure.open_deployment(session, config, request)
        deployment.details = {**deployment.details, "previous_version": None}
        candidate = DeploymentCandidate(session, config, data_dir, deployment)
        results = {
            name: run_check(name, candidate)
            for name in ("rollback_dry_run", "previous_version_available")
        }
    assert {name: r.outcome for name, r in results.items()} == {
        "rollback_dry_run": "not_applicable",
        "previous_version_available": "not_applicable",
    }


def test_the_fairness_item_counts_the_approvals_of_a_model_whose_class_one_declines(config):
    # The same validation decisions, labels and scores, described once with 1 = approve and
    # once by a risk score whose 1 = decline: the same fairness findings.
    frame = applicants(900, seed=5)
    approved = (frame["gender"] != "female").to_numpy() | (frame.index % 3 == 0)
    repaid = frame.index % 4 != 0
    scores = np.where(approved, 0.75, 0.25)
    entry = config.models.get("credit_approval")
    risk = entry.model_copy(update={"favourable_prediction": 0, "favourable_label": 0})
    results = [
        checks.fairness_across_groups(
            SimpleNamespace(
                config=config,
                model=model,
                validation=frame.assign(label=labels.astype("int8")),
                validation_predictions=decisions.astype("int8"),
                validation_scores=probabilities,
            )
        )
        for model, decisions, labels, probabilities in (
            (entry, approved, repaid, scores),
            (risk, ~approved, ~repaid, 1 - scores),
        )
    ]
    assert results[0] == results[1]
    assert results[1].outcome == "failed"


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # The policy's alpha_weights: disparate impact weighs 4 of the item's 8 (its four
        # gaps 1 each), its interval is corrected for 2 tests and lies below the warning
        # bound: the 80% rule is shown broken.
        ("policy", ("failed", "CRITICAL", 0.500351, 0.866561)),
        # Shared equally among the five metrics (5 tests), the interval reaches into the
        # warning band: a warning-size effect, no failure.
        ("equal", ("passed", "WARNING", 0.480137, 0.901726)),
    ],
)
def test_the_fairness_item_shares_its_alpha_among_its_metrics_by_the_policys_weights(
    config, weights, expected
):
    """100 of 200 men approved and 66 of 200 women (disparate impact 0.66), each decision
    its outcome, gender the one attribute."""
    model, frame, approved = gender_only_decisions(config)
    result = checks.fairness_across_groups(
        SimpleNamespace(
            config=config if weights == "policy" else with_equal_alpha_shares(config),
            model=model,
            validation=frame.assign(label=approved),
            validation_predictions=approved,
            validation_scores=np.where(approved == 1, 0.75, 0.25),
        )
    )
    (impact,) = [f for f in result.evidence["findings"] if f["metric"] == "disparate_impact_ratio"]
    assert impact["value"] == 0.66
    assert (result.outcome, impact["severity"], impact["ci_low"], impact["ci_high"]) == expected


def test_a_fairness_metric_the_policy_no_longer_bounds_is_recorded_unjudged_by_the_item(config):
    """policy.yaml without equal_opportunity_difference: the item records its value and
    judges the four metrics still bounded (disparate impact then has 4 of their 7)."""
    model, frame, approved = gender_only_decisions(config)
    result = checks.fairness_across_groups(
        SimpleNamespace(
            config=without_fairness_threshold(config, "equal_opportunity_difference"),
            model=model,
            validation=frame.assign(label=approved),
            validation_predictions=approved,
            validation_scores=np.where(approved == 1, 0.75, 0.25),
        )
    )
    found = {f["metric"]: f for f in result.evidence["findings"]}
    assert found["equal_opportunity_difference"]["value"] is not None
    assert found["equal_opportunity_difference"]["severity"] == "NOT_JUDGED"
    assert (result.outcome, found["disparate_impact_ratio"]["severity"]) == ("failed", "CRITICAL")
