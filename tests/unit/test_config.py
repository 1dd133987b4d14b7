"""config/ as validated policy: every seed number in place, every bad edit refused by name."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govflow.cli import app
from govflow.config import ROLES, ConfigError, GovflowConfig, load_config
from govflow.config.deployment import (
    ATTESTED_NEEDS_ROLE,
    AUTOMATIC_NEEDS_CHECK,
    MANDATORY_STEP,
)
from govflow.config.inventory import (
    EMPTY_ERROR_CEILING,
    FAVOURABLE_OUTCOME,
    LOG_COLUMN,
    NOT_FOR_CLASSIFIER,
    NOT_FOR_REGRESSOR,
    NUMERIC_RANGE,
    OUTPUT_OF_REGRESSOR,
    REQUIRED_FOR_CLASSIFIER,
    SEPARATOR_IN_CATEGORY,
)
from govflow.config.loading import (
    DEPLOYMENT_RECORDS_TOO_SHORT,
    DUPLICATE_KEY,
    FILE_NOT_FOUND,
    LOOKS_LIKE_SECRET,
    NO_CADENCE,
    NO_DISTINCT_APPROVERS,
    NO_INDEPENDENT_APPROVER,
    NO_RETENTION_PERIOD,
    OWNER_NOT_SYSTEM_OWNER,
    ROLE_WITHOUT_HOLDER,
    ROTATION_ROLE,
    UNKNOWN_CHANNEL,
    UNKNOWN_USER,
    YAML_SYNTAX,
)
from govflow.config.policy import (
    FAIRNESS_DAILY,
    RETAINED_DATA_TYPES,
    UNJUDGED_ALPHA_WEIGHT,
    WARNING_ORDER,
    WEIGHTS_SUM,
)
from govflow.config.vocabulary import NOT_A_FRACTION
from govflow.metrics import classify

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
GOVFLOW_SCRIPT = Path(sys.executable).with_name("govflow")

NOT_A_NUMBER = "Input should be a valid number, unable to parse string as a number"
EXTRA_KEY = "Extra inputs are not permitted"
AT_MOST_30 = "Input should be less than or equal to 30"
ROLE_CHOICES = "Input should be " + ", ".join(f"'{role}'" for role in ROLES[:-1])
ROLE_CHOICES += f" or '{ROLES[-1]}'"


@pytest.fixture(scope="module")
def config() -> GovflowConfig:
    return load_config(CONFIG_DIR)


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, copy)
    return copy


# The owner line of marketing_propensity (models.1); sam owns customer_lifetime_value too.
MARKETING_OWNER = "owner: sam\n    business_purpose: Rank customers"


def edit(directory: Path, name: str, old: str, new: str) -> None:
    """Replace the one occurrence of ``old``; a test whose edit misses must fail, not pass."""
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(directory)
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


def value_at(config: GovflowConfig, path: str) -> Any:
    file, _, rest = path.partition(".")
    value: Any = getattr(config, file).model_dump()
    for part in rest.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


# --- every seed number, by key path ----------------------------------------------------

SEED_VALUES = [
    # Seed 004 table 1.1, with the stricter reading for fairness (note: "ALWAYS ... daily").
    ("policy.monitoring.cadence.high.data_drift", "daily"),
    ("policy.monitoring.cadence.high.fairness_drift", "daily"),
    ("policy.monitoring.cadence.high.model_drift", "daily"),
    ("policy.monitoring.cadence.high.explanation_drift", "weekly"),
    ("policy.monitoring.cadence.medium.data_drift", "weekly"),
    ("policy.monitoring.cadence.medium.fairness_drift", "daily"),
    ("policy.monitoring.cadence.medium.model_drift", "weekly"),
    ("policy.monitoring.cadence.medium.explanation_drift", "biweekly"),
    ("policy.monitoring.cadence.low.data_drift", "biweekly"),
    ("policy.monitoring.cadence.low.fairness_drift", "daily"),
    ("policy.monitoring.cadence.low.model_drift", "biweekly"),
    ("policy.monitoring.cadence.low.explanation_drift", "monthly"),
    # Seed 004 table 1.2.
    ("policy.monitoring.scheduled_runs.daily_drift_analysis.cron", "0 2 * * *"),
    ("policy.monitoring.scheduled_runs.weekly_deep_analysis.cron", "0 3 * * 0"),
    ("policy.monitoring.scheduled_runs.monthly_baseline_review.cron", "0 4 1 * *"),
    # Seed 004 table 2.1 and section 11.
    ("policy.severity_levels.INFO.response_time_hours", None),
    ("policy.severity_levels.INFO.notify", ["dashboard"]),
    ("policy.severity_levels.WARNING.response_time_hours", 24),
    ("policy.severity_levels.WARNING.notify", ["slack", "email_digest"]),
    ("policy.severity_levels.WARNING.frequency", "daily_digest"),
    ("policy.severity_levels.CRITICAL.response_time_hours", 1),
    (
        "policy.severity_levels.CRITICAL.notify",
        ["slack", "slack_channel_mention", "instant_email", "sms_on_call"],
    ),
    ("policy.severity_levels.CRITICAL.creates_incident", True),
    ("policy.severity_levels.CRITICAL.slack_channel", "ml_monitoring"),
    # Seed 004 section 2.2: tests/unit/test_metrics_severity.py (SEED_004) holds the bounds.
    # Seed 004 section 2.3.
    (
        "policy.composite.weights",
        {"fairness_drift": 0.4, "data_drift": 0.3, "model_drift": 0.2, "explanation_drift": 0.1},
    ),
    ("policy.composite.critical", {"value": 0.30, "inclusive": False}),
    # Seed 004 sections 2.2 and 3.
    ("policy.incidents.compliance_notification_minutes", 60),
    ("policy.incidents.retraining_within_days", 7),
    ("policy.incidents.post_mortem_within_days", 7),
    ("policy.escalation.acknowledgement_minutes", 15),
    ("policy.escalation.paths.warning.steps.0.role", "ml_engineer"),
    ("policy.escalation.paths.warning.steps.1.role", "ml_lead"),
    ("policy.escalation.paths.warning.steps.1.after_minutes", 60),
    ("policy.escalation.paths.critical_data_model.steps.0.role", "ml_lead"),
    ("policy.escalation.paths.critical_data_model.steps.1.role", "cto"),
    ("policy.escalation.paths.critical_data_model.steps.1.after_minutes", 60),
    ("policy.escalation.paths.critical_data_model.steps.2.role", "ceo"),
    ("policy.escalation.paths.critical_data_model.steps.2.when", "unresolved"),
    ("policy.escalation.paths.critical_data_model.steps.2.after_minutes", 240),
    ("policy.escalation.paths.critical_fairness.steps.0.role", "compliance_officer"),
    ("policy.escalation.paths.critical_fairness.steps.0.rotation", "fairness"),
    ("policy.escalation.paths.critical_fairness.steps.1.role", "cto"),
    ("policy.escalation.paths.critical_fairness.steps.2.role", "ceo"),
    ("policy.escalation.paths.critical_fairness.steps.2.when", "on_alert"),
    ("policy.escalation.paths.critical_fairness.steps.2.after_minutes", 0),
    ("policy.runbooks.fairness_drift_response.phases.0.within_minutes", 15),
    ("policy.runbooks.fairness_drift_response.phases.2.within_minutes", 60),
    ("policy.runbooks.fairness_drift_response.phases.3.within_minutes", 1440),
    # Seed 004 section 4.
    ("policy.baselines.version_format", "YYYY-MM-DD-vN"),
    ("policy.baselines.reset_window_days", 7),
    ("policy.baselines.update_triggers.new_model_deployed.approver_role", None),
    ("policy.baselines.update_triggers.concept_drift_accepted.approver_role", "ml_lead"),
    ("policy.baselines.update_triggers.quarterly_review.approver_role", None),
    ("policy.baselines.update_triggers.major_data_source_change.approver_role", "cto"),
    # Seed 004 section 6.
    ("policy.dashboard_access.compliance_officer.model_health", "none"),
    ("policy.dashboard_access.compliance_officer.can_trigger_analysis", False),
    ("policy.dashboard_access.auditor.incident_timeline", "read_only"),
    ("policy.dashboard_access.viewer.fairness_monitor", "none"),
    ("policy.dashboard_access.ml_engineer.can_trigger_analysis", True),
    # Seed 004 section 7, plus audit events (strictest applicable: indefinite).
    ("policy.retention.prediction_logs.days", 90),
    ("policy.retention.monitoring_records.years", 5),
    ("policy.retention.incidents.indefinite", True),
    ("policy.retention.baselines.indefinite", True),
    ("policy.retention.alerts.years", 1),
    ("policy.retention.audit_events.indefinite", True),
    # Seed 004 section 8.
    ("policy.performance_slas.alert_delivery_max_minutes", 5),
    ("policy.performance_slas.dashboard_load_max_seconds", 2),
    ("policy.performance_slas.drift_analysis_max_minutes", 10),
    ("policy.performance_slas.api_response_p95_max_ms", 500),
    ("policy.performance_slas.monitor_the_monitor.max_hours_without_completed_analysis", 12),
    ("policy.performance_slas.monitor_the_monitor.slack_channel", "engineering"),
    # Seed 004 sections 9 and 12.
    ("policy.policy_change_approvers", ["ml_lead", "compliance_officer", "cto"]),
    ("policy.exceptions.max_suppression_days", 30),
    ("policy.exceptions.documented_by", "ml_lead"),
    ("policy.exceptions.approved_by", "compliance_officer"),
    ("policy.exceptions.applies_to_severities", ["WARNING"]),
    # Seed 000 P0-P3 (response time: the shorter of seed 000 and seed 004).
    ("policy.incidents.classes.P0.response_time_hours", 0),
    ("policy.incidents.classes.P0.escalate_to", ["ceo", "cto", "compliance_officer"]),
    ("policy.incidents.classes.P1.response_time_hours", 1),
    ("policy.incidents.classes.P1.escalate_to", ["cto", "ai_governance_committee"]),
    ("policy.incidents.classes.P2.response_time_hours", 24),
    ("policy.incidents.classes.P3.response_time_hours", 24),
    ("policy.incidents.classes.P0.pause_system", True),
    ("policy.incidents.classes.P1.pause_system", True),
    ("policy.incidents.classes.P2.pause_system", False),
    # Seed 001 step 10 and section 2.1.
    (
        "deployment.approvals.required_by_tier.high",
        [
            "system_owner",
            "compliance_officer",
            "risk_manager",
            "qa_lead",
            "ai_governance_committee",
        ],
    ),
    (
        "deployment.approvals.required_by_tier.medium",
        ["system_owner", "qa_lead", "deployment_manager"],
    ),
    ("deployment.approvals.required_by_tier.low", ["system_owner", "deployment_manager"]),
    ("deployment.approvals.blocking_roles", ["risk_manager", "compliance_officer"]),
    ("deployment.approvals.owner_may_approve", False),
    # Seed 001 sections 4-8.
    ("deployment.go_live.GREEN.action", "proceed"),
    ("deployment.go_live.AMBER.action", "assess_and_decide"),
    ("deployment.go_live.RED.action", "rollback"),
    ("deployment.post_deployment_monitoring_hours", {"min": 24, "max": 72}),
    ("deployment.rollback.approver_role", "system_owner"),
    ("deployment.deployment_types.patch.skipped_steps", [3, 9]),
    ("deployment.deployment_types.major.substantial_change_assessment", True),
    ("deployment.deployment_types.major.conformity_gate_for_high_risk", True),
    ("deployment.deployment_types.rollback.procedure", "rollback"),
    *[(f"deployment.records.{index}.retention_years", 10) for index in range(4)],
    # Seed 000 rollout stages.
    *[
        (f"deployment.rollout.stages.{index}.{key}", value)
        for index, stage in enumerate(
            [
                {
                    "name": "alpha",
                    "audience": "internal",
                    "traffic_share": 0.0,
                    "duration_days_min": 14,
                    "duration_days_max": 14,
                },
                {
                    "name": "beta",
                    "traffic_share_max": 0.009,
                    "traffic_share": 0.005,
                    "duration_days_min": 14,
                    "duration_days_max": 28,
                },
                {
                    "name": "limited",
                    "traffic_share_min": 0.05,
                    "traffic_share_max": 0.10,
                    "duration_days_min": 14,
                    "duration_days_max": 28,
                },
                {
                    "name": "general",
                    "traffic_share": 0.5,
                    "duration_days_min": 14,
                    "duration_days_max": 28,
                },
                {
                    "name": "full",
                    "traffic_share": 1.0,
                    "duration_days_min": None,
                    "duration_days_max": None,
                },
            ]
        )
        for key, value in stage.items()
    ],
    # models.yaml and people.yaml: the shared demo facts.
    ("models.models.0.id", "credit_approval"),
    ("models.models.0.risk_tier", "high"),
    ("models.models.0.owner", "olivia"),
    ("models.models.0.label_delay_days", 5),
    ("models.models.0.freeze_on_critical_fairness", True),
    ("models.models.0.intersections", [["gender", "age_band"]]),
    (
        "models.models.0.prediction_log",
        {"kind": "parquet", "path": "prediction_logs/credit_approval"},
    ),
    ("models.models.1.risk_tier", "medium"),
    ("models.models.1.owner", "sam"),
    ("models.models.1.label_delay_days", 2),
    ("models.models.1.freeze_on_critical_fairness", False),
    ("models.models.2.risk_tier", "low"),
    ("models.models.2.owner", "priya"),
    ("models.models.2.label_delay_days", 1),
    ("models.models.2.expected_daily_volume", 2000),
    ("models.models.2.binning", {"method": "reference_quantiles", "bins": 10}),
    ("people.on_call.primary.members", ["eve", "mike"]),
    ("people.on_call.secondary.members", ["lena"]),
    ("people.on_call.fairness.members", ["carol"]),
    (
        "people.slack_channels",
        {
            "ml_monitoring": "#ml-monitoring",
            "engineering": "#engineering",
            "deployments": "#ml-deployments",
            "compliance": "#compliance",
        },
    ),
]


@pytest.mark.parametrize(("path", "expected"), SEED_VALUES, ids=[p for p, _ in SEED_VALUES])
def test_the_shipped_config_holds_each_seed_value(config, path, expected):
    assert value_at(config, path) == expected


def test_the_deployment_procedure_has_six_phases_and_steps_one_to_twenty(config):
    phases = config.deployment.phases
    assert [phase.name for phase in phases] == [
        "Deployment Planning",
        "Preparation",
        "Readiness Verification",
        "Deployment Approval",
        "Deployment Execution",
        "Post-Deployment",
    ]
    assert [[step.number for step in phase.steps] for phase in phases] == [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [10, 11],
        [12, 13, 14, 15],
        [16, 17, 18, 19, 20],
    ]
    assert [step.number for step in config.deployment.steps() if step.high_risk_only] == [8, 18]


@pytest.mark.parametrize(
    ("kind", "tier", "skipped"),
    [
        ("initial", "high", []),
        ("initial", "low", [8, 18]),
        ("minor", "medium", [8, 18]),
        ("patch", "high", [3, 9]),
        ("patch", "low", [3, 8, 9, 18]),
    ],
)
def test_a_deployment_runs_every_step_its_type_and_tier_do_not_skip(config, kind, tier, skipped):
    run = [step.number for step in config.deployment.steps_for(kind, tier)]
    assert run == [number for number in range(1, 21) if number not in skipped]


def test_a_rollback_follows_the_three_stage_rollback_process_instead_of_the_steps(config):
    assert config.deployment.steps_for("rollback", "high") == []
    assert [stage.name for stage in config.deployment.rollback.process] == [
        "Rollback Decision",
        "Execute Rollback",
        "Post-Rollback",
    ]


# --- thresholds applied exactly as the seed words them -----------------------------------


@pytest.mark.parametrize(("score", "expected"), [(0.30, "INFO"), (0.3001, "CRITICAL")])
def test_the_composite_score_is_critical_only_above_030(config, score, expected):
    assert classify(score, config.policy.composite.threshold).name == expected


def test_every_seed_000_fairness_metric_is_marked_as_a_govflow_default(config):
    fairness = config.policy.thresholds.fairness_drift
    defaults = [
        "false_positive_rate_difference",
        "equal_opportunity_difference",
        "equalized_odds_difference",
        "predictive_parity_difference",
        "calibration_gap",
    ]
    for metric in defaults:
        assert "govflow default, seed 000 leaves [X] open" in fairness[metric].source
    assert config.policy.thresholds.check_type_of("calibration_gap") == "fairness_drift"


def test_an_unknown_metric_has_no_threshold(config):
    with pytest.raises(KeyError, match=re.escape("no threshold for metric 'psi2' in policy.yaml")):
        config.policy.threshold("psi2")


# --- lookups ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "cadence", "checks"),
    [
        ("high", "daily", {"data_drift", "fairness_drift", "model_drift"}),
        ("high", "weekly", {"explanation_drift"}),
        ("high", "monthly", set()),
        ("medium", "daily", {"fairness_drift"}),
        ("medium", "weekly", {"data_drift", "model_drift"}),
        ("medium", "biweekly", {"explanation_drift"}),
        ("low", "daily", {"fairness_drift"}),
        ("low", "weekly", set()),
        ("low", "biweekly", {"data_drift", "model_drift"}),
        ("low", "monthly", {"explanation_drift"}),
    ],
)
def test_checks_due_lists_the_check_types_of_a_tier_at_a_cadence(config, tier, cadence, checks):
    assert config.policy.checks_due(tier, cadence) == checks


@pytest.mark.parametrize(
    ("run", "day", "cadences"),
    [
        ("weekly_deep_analysis", date(2025, 1, 12), {"weekly", "biweekly"}),  # ISO week 2
        ("weekly_deep_analysis", date(2025, 1, 19), {"weekly"}),  # ISO week 3
        ("daily_drift_analysis", date(2025, 1, 12), {"daily"}),
        ("monthly_baseline_review", date(2025, 2, 1), {"monthly"}),
    ],
)
def test_biweekly_checks_ride_on_the_weekly_run_of_even_iso_weeks(config, run, day, cadences):
    assert config.policy.monitoring.cadences_of_run(run, day) == cadences


@pytest.mark.parametrize(
    ("severity", "source", "path", "klass"),
    [
        ("INFO", "data_drift", None, None),
        ("WARNING", "fairness_drift", "warning", "P2"),
        ("WARNING", "data_quality", "warning", "P3"),
        ("CRITICAL", "data_drift", "critical_data_model", "P1"),
        ("CRITICAL", "composite", "critical_data_model", "P1"),
        ("CRITICAL", "fairness_drift", "critical_fairness", "P0"),
    ],
)
def test_each_alert_has_one_escalation_path_and_incident_class(
    config, severity, source, path, klass
):
    found = config.policy.escalation_path(severity, source)
    paths = config.policy.escalation.paths
    assert (found is None and path is None) or found == paths[path]
    assert config.policy.incidents.class_for(severity, source) == klass


@pytest.mark.parametrize(
    ("role", "holders"),
    [
        ("system_owner", ["olivia", "sam", "priya"]),
        ("ml_engineer", ["eve", "mike"]),
        ("qa_lead", ["quinn"]),
        ("ai_governance_committee", ["quinn", "gina"]),
        ("ceo", ["cathy"]),
        ("admin", ["admin"]),
    ],
)
def test_holders_lists_who_holds_a_role(config, role, holders):
    assert config.people.holders(role) == holders


@pytest.mark.parametrize(
    ("at", "on_duty"),
    [
        (datetime(2025, 1, 6, 0, 0), "eve"),
        (datetime(2025, 1, 12, 23, 59), "eve"),
        (datetime(2025, 1, 13, 0, 0), "mike"),
        (datetime(2025, 1, 20, 9, 0), "eve"),
    ],
)
def test_the_primary_on_call_rotates_weekly_from_the_start_date(config, at, on_duty):
    assert config.people.on_call_primary(at) == on_duty


def test_a_model_owner_never_appears_among_its_approvers(config):
    assert config.approvers_for("credit_approval") == {
        "system_owner": ["sam", "priya"],
        "compliance_officer": ["carol"],
        "risk_manager": ["rick"],
        "qa_lead": ["quinn"],
        "ai_governance_committee": ["quinn", "gina"],
    }
    assert config.approvers_for("product_recommendation") == {
        "system_owner": ["olivia", "sam"],
        "deployment_manager": ["dave"],
    }


def test_every_model_has_the_fifteen_demo_features_and_two_protected_attributes(config):
    for model in config.models.models:
        dtypes = [feature.dtype for feature in model.features]
        assert (dtypes.count("numeric"), dtypes.count("integer")) == (5, 5)
        assert dtypes.count("categorical") == 5
        assert model.feature("credit_score").model_dump() == {
            "name": "credit_score",
            "dtype": "integer",
            "min": 300,
            "max": 850,
            "categories": None,
            "null_tolerance": 0.01,
        }
        assert model.feature("region").categories == ["north", "south", "east", "west"]
        assert [(a.name, a.categories) for a in model.protected_attributes] == [
            ("gender", ["female", "male", "non_binary"]),
            ("age_band", ["18-25", "26-40", "41-60", "61+"]),
        ]


def test_a_model_without_an_override_uses_the_policy_group_size_and_null_tolerance(config):
    assert config.min_group_size("marketing_propensity") == 30
    assert config.null_tolerance("marketing_propensity", "income") == 0.01


@pytest.mark.parametrize(
    ("item_id", "verification", "verifier", "high_risk_only"),
    [
        ("CHK-1.3", "attested", "qa_lead", False),
        ("CHK-1.5", "automatic", "version_tagged", False),
        ("CHK-4.1", "attested", "compliance_officer", True),
        ("CHK-5.5", "automatic", "rollback_dry_run", False),
        ("SAFE-TECH-1", "automatic", "model_performance_meets_requirement", False),
        ("SAFE-TECH-2", "automatic", "fairness_across_groups", False),
        ("SAFE-OPS-3", "automatic", "oncall_rotation_established", False),
        ("SAFE-GOV-2", "attested", "ai_governance_committee", False),
        ("PROD-MV-2", "automatic", "fairness_across_groups", False),
        ("PROD-MV-5", "automatic", "model_versioning", False),
        ("PROD-DP-2", "automatic", "drift_detection_configured", False),
        ("PROD-MLO-2", "automatic", "prediction_logging_enabled", False),
        ("HIGHRISK-3", "attested", "compliance_officer", True),
        ("GATE-2", "automatic", "fairness_within_bounds", False),
        ("RBT-4", "attested", "risk_manager", False),
    ],
)
def test_checklist_items_keep_their_id_and_verifier(
    config, item_id, verification, verifier, high_risk_only
):
    item = config.deployment.criterion(item_id)
    assert item.verification == verification
    assert (item.check or item.attested_by) == verifier
    assert item.high_risk_only is high_risk_only


def test_the_compliance_section_of_the_checklist_applies_only_to_high_risk(config):
    low = [item.id for item in config.deployment.checklist_items("chk_ai_deploy_001", "low")]
    high = [item.id for item in config.deployment.checklist_items("chk_ai_deploy_001", "high")]
    assert len(high) == 28
    assert sorted(set(high) - set(low)) == ["CHK-4.1", "CHK-4.2", "CHK-4.3", "CHK-4.4"]


def test_the_readiness_checklist_has_seed_000s_five_areas(config):
    sections = config.deployment.checklists["readiness"].sections
    assert {name: len(section.items) for name, section in sections.items()} == {
        "governance": 5,
        "technical": 6,
        "operational": 5,
        "documentation": 4,
        "human_oversight": 4,
    }


@pytest.mark.parametrize(
    ("years", "now", "cutoff"),
    [
        (5, datetime(2030, 6, 1), datetime(2025, 6, 1)),
        (1, datetime(2028, 2, 29), datetime(2027, 2, 28)),
    ],
)
def test_a_retention_in_years_counts_calendar_years(config, years, now, cutoff):
    period = config.policy.retention["monitoring_records" if years == 5 else "alerts"]
    assert period.cutoff(now) == cutoff


def test_indefinite_retention_has_no_cutoff(config):
    assert config.policy.retention["incidents"].cutoff(datetime(2030, 1, 1)) is None


# --- bad configs refused with exact messages -------------------------------------------------


def test_a_threshold_that_is_not_a_number_is_named_by_file_and_key(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "critical: {value: 0.25, inclusive: true}",
        "critical: {value: high, inclusive: true}",
    )
    assert problems_of(config_copy) == [
        f"policy.yaml: thresholds.data_drift.psi.critical.value: {NOT_A_NUMBER}"
    ]


def test_an_unknown_role_is_refused_with_the_allowed_roles(config_copy):
    edit(config_copy, "people.yaml", "roles: [risk_manager]", "roles: [risk_boss]")
    assert problems_of(config_copy) == [f"people.yaml: users.7.roles.0: {ROLE_CHOICES}"]


def test_an_unknown_key_is_refused(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "    label_delay_days: 2\n",
        "    label_delay_days: 2\n    colour: red\n",
    )
    assert problems_of(config_copy) == [f"models.yaml: models.1.colour: {EXTRA_KEY}"]


@pytest.mark.parametrize(
    ("categories", "problem"),
    [
        # gender "female&18-25" x age_band "26-40" would read as female x "18-25&26-40".
        (
            "[female&18-25, male, non_binary]",
            SEPARATOR_IN_CATEGORY.format(category="female&18-25", separator="&"),
        ),
        ("[female, male, female]", "category female is listed more than once"),
        ("[]", "a protected attribute needs its categories"),
    ],
)
def test_a_protected_attribute_whose_categories_cannot_name_its_groups_is_refused(
    config_copy, categories, problem
):
    edit(
        config_copy,
        "models.yaml",
        "categories: [female, male, non_binary]",
        f"categories: {categories}",
    )
    # The four models share the demo's attributes (a YAML anchor): each is refused.
    assert problems_of(config_copy) == [
        f"models.yaml: models.{index}.protected_attributes.0: {problem}" for index in range(4)
    ]


def test_a_categorical_feature_listing_a_category_twice_is_refused(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "categories: [north, south, east, west]",
        "categories: [north, south, north, west]",
    )
    # The demo models share their features (a YAML anchor); region is the fourteenth.
    assert problems_of(config_copy) == [
        f"models.yaml: models.{index}.features.13: category north is listed more than once"
        for index in range(4)
    ]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "{name: region, dtype: categorical",
            "{name: score, dtype: categorical",
            LOG_COLUMN.format(what="feature", name="score", key="score"),
        ),
        (
            "{name: customer_segment, dtype: categorical",
            "{name: scored_at, dtype: categorical",
            LOG_COLUMN.format(what="feature", name="scored_at", key="scored_at"),
        ),
        (
            "{name: gender, categories",
            "{name: label, categories",
            LOG_COLUMN.format(what="protected attribute", name="label", key="label"),
        ),
    ],
)
def test_a_feature_or_attribute_named_like_a_prediction_log_column_is_refused(
    config_copy, old, new, problem
):
    edit(config_copy, "models.yaml", old, new)
    assert problems_of(config_copy) == [f"models.yaml: models.{i}: {problem}" for i in range(4)]


@pytest.mark.parametrize("value", [".nan", "1.5", "-0.1", ".inf"])
def test_a_decision_threshold_outside_zero_to_one_is_refused_as_such(config_copy, value):
    edit(
        config_copy,
        "models.yaml",
        "    decision_threshold: 0.5\n    performance_requirement: {min_accuracy: 0.70",
        f"    decision_threshold: {value}\n    performance_requirement: {{min_accuracy: 0.70",
    )
    assert problems_of(config_copy) == [
        f"models.yaml: models.0.decision_threshold: {NOT_A_FRACTION}"
    ]


def test_an_owner_missing_from_people_is_refused(config_copy):
    edit(config_copy, "models.yaml", MARKETING_OWNER, MARKETING_OWNER.replace("sam", "zed"))
    assert problems_of(config_copy) == [
        f"models.yaml: models.1.owner: {UNKNOWN_USER.format(user='zed')}"
    ]


def test_an_owner_who_is_not_a_system_owner_is_refused(config_copy):
    edit(config_copy, "models.yaml", MARKETING_OWNER, MARKETING_OWNER.replace("sam", "eve"))
    assert problems_of(config_copy) == [
        f"models.yaml: models.1.owner: {OWNER_NOT_SYSTEM_OWNER.format(user='eve')}"
    ]


def test_a_missing_file_is_named(config_copy):
    (config_copy / "people.yaml").unlink()
    assert problems_of(config_copy) == [
        f"people.yaml: {FILE_NOT_FOUND.format(directory=config_copy)}"
    ]


def test_a_yaml_syntax_error_message_names_line_column_and_problem(config_copy):
    (config_copy / "people.yaml").write_text("users:\n  - id: a\n   name: b\n", encoding="utf-8")
    problem = YAML_SYNTAX.format(
        line=3, column=4, problem="expected <block end>, but found '<block mapping start>'"
    )
    assert problems_of(config_copy) == [f"people.yaml: {problem}"]


def test_a_repeated_key_is_refused_instead_of_silently_overriding(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "  reset_window_days: 7 ",
        "  reset_window_days: 7\n  reset_window_days: 70 ",
    )
    problems = problems_of(config_copy)
    assert len(problems) == 1
    assert problems[0].startswith("policy.yaml: line ")
    assert problems[0].endswith(DUPLICATE_KEY.format(key="reset_window_days"))


def test_an_exception_longer_than_30_days_is_refused(config_copy):
    edit(config_copy, "policy.yaml", "max_suppression_days: 30 ", "max_suppression_days: 45 ")
    assert problems_of(config_copy) == [
        f"policy.yaml: exceptions.max_suppression_days: {AT_MOST_30}"
    ]


def test_composite_weights_that_do_not_sum_to_one_are_refused(config_copy):
    edit(config_copy, "policy.yaml", "    explanation_drift: 0.1\n", "    explanation_drift: 0.0\n")
    assert problems_of(config_copy) == [
        f"policy.yaml: composite.weights: {WEIGHTS_SUM.format(total=0.9)}"
    ]


def test_an_alpha_weight_of_a_metric_that_is_not_a_judged_fairness_metric_is_refused(
    config_copy,
):
    edit(config_copy, "policy.yaml", "    disparate_impact_ratio: 4\n", "    psi: 4\n")
    judged = ", ".join(load_config(CONFIG_DIR).policy.thresholds.fairness_drift)
    message = UNJUDGED_ALPHA_WEIGHT.format(metric="psi", judged=judged)
    assert problems_of(config_copy) == [f"policy.yaml: {message}"]


def test_an_alpha_weight_that_is_not_positive_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "    disparate_impact_ratio: 4\n",
        "    disparate_impact_ratio: 0\n",
    )
    (problem,) = problems_of(config_copy)
    assert problem.startswith("policy.yaml: fairness.alpha_weights.disparate_impact_ratio: ")


def test_fairness_checked_less_than_daily_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "      fairness_drift: daily\n      model_drift: biweekly",
        "      fairness_drift: weekly\n      model_drift: biweekly",
    )
    assert problems_of(config_copy) == [
        f"policy.yaml: monitoring.cadence.low.fairness_drift: {FAIRNESS_DAILY}"
    ]


def test_a_warning_bound_beyond_the_critical_bound_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        'warning: {value: 0.10, inclusive: true}      # seed: "0.10 - 0.24"',
        "warning: {value: 0.30, inclusive: true}",
    )
    message = WARNING_ORDER.format(
        warning=0.3, relation="below", critical=0.25, direction="higher_is_worse"
    )
    assert problems_of(config_copy) == [f"policy.yaml: thresholds.data_drift.psi: {message}"]


def test_a_lower_is_worse_warning_below_its_critical_bound_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        'warning: {value: 0.89, inclusive: true}      # seed: "0.80 - 0.89"',
        "warning: {value: 0.70, inclusive: true}",
    )
    message = WARNING_ORDER.format(
        warning=0.7, relation="above", critical=0.8, direction="lower_is_worse"
    )
    assert problems_of(config_copy) == [
        f"policy.yaml: thresholds.fairness_drift.disparate_impact_ratio: {message}"
    ]


def test_an_approval_role_held_only_by_the_model_owner_breaks_separation_of_duties(config_copy):
    edit(
        config_copy,
        "people.yaml",
        "roles: [qa_lead, ai_governance_committee]",
        "roles: [ai_governance_committee]",
    )
    edit(
        config_copy,
        "people.yaml",
        "email: olivia@example.com, roles: [system_owner]",
        "email: olivia@example.com, roles: [system_owner, qa_lead]",
    )
    expected = NO_INDEPENDENT_APPROVER.format(
        role="qa_lead", owner="olivia", model="credit_approval"
    )
    assert problems_of(config_copy) == [
        f"deployment.yaml: approvals.required_by_tier.high.3: {expected}"
    ]


def test_one_person_cannot_give_two_approvals_of_the_same_deployment(config_copy):
    edit(
        config_copy,
        "people.yaml",
        "email: gina@example.com, roles: [ai_governance_committee]",
        "email: gina@example.com, roles: [viewer]",
    )
    expected = NO_DISTINCT_APPROVERS.format(
        model="credit_approval",
        roles="system_owner, compliance_officer, risk_manager, qa_lead, ai_governance_committee",
        owner="olivia",
    )
    assert problems_of(config_copy) == [
        f"deployment.yaml: approvals.required_by_tier.high: {expected}"
    ]


def test_a_role_nobody_holds_is_refused_where_the_policy_needs_it(config_copy):
    edit(
        config_copy,
        "people.yaml",
        "email: cathy@example.com, roles: [ceo]",
        "email: cathy@example.com, roles: [viewer]",
    )
    message = ROLE_WITHOUT_HOLDER.format(role="ceo")
    assert problems_of(config_copy) == [
        f"policy.yaml: escalation.paths.critical_data_model.steps.2.role: {message}",
        f"policy.yaml: escalation.paths.critical_fairness.steps.2.role: {message}",
        f"policy.yaml: incidents.classes.P0.escalate_to.0: {message}",
    ]


def test_an_on_call_member_without_the_paged_role_is_refused(config_copy):
    edit(config_copy, "people.yaml", "members: [eve, mike]", "members: [eve, dave]")
    message = ROTATION_ROLE.format(
        user="dave", role="ml_engineer", path="escalation.paths.warning.steps.0", rotation="primary"
    )
    assert problems_of(config_copy) == [f"people.yaml: on_call.primary.members.1: {message}"]


def test_a_slack_channel_missing_from_people_is_refused(config_copy):
    edit(config_copy, "policy.yaml", "    slack_channel: engineering", "    slack_channel: ops")
    message = UNKNOWN_CHANNEL.format(channel="ops")
    assert problems_of(config_copy) == [
        f"policy.yaml: performance_slas.monitor_the_monitor.slack_channel: {message}"
    ]


@pytest.mark.parametrize("period", ["{years: 9, reason: r}", "{days: 3650, reason: r}"])
def test_deployment_records_kept_shorter_than_deployment_yaml_says_are_refused(config_copy, period):
    edit(
        config_copy,
        "policy.yaml",
        'deployment_records: {years: 10, reason: "Deployment records (seed 001 section 8.1)"}',
        f"deployment_records: {period}",
    )
    message = DEPLOYMENT_RECORDS_TOO_SHORT.format(years=10)
    assert problems_of(config_copy) == [f"policy.yaml: retention.deployment_records: {message}"]


@pytest.mark.parametrize("data_type", RETAINED_DATA_TYPES)
def test_a_data_type_govflow_purges_without_a_retention_period_is_refused(config_copy, data_type):
    policy = config_copy / "policy.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"  {data_type}: {{")]
    assert len(kept) == len(lines) - 1
    policy.write_text("".join(kept))

    assert problems_of(config_copy) == [
        f"policy.yaml: retention.{data_type}: " + NO_RETENTION_PERIOD.format(data_type=data_type)
    ]


def test_a_report_summary_channel_missing_from_people_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "govflow_report: executive, slack_channel: ml_monitoring}",
        "govflow_report: executive, slack_channel: board}",
    )
    message = UNKNOWN_CHANNEL.format(channel="board")
    assert problems_of(config_copy) == [
        f"policy.yaml: external_reporting.0.slack_channel: {message}"
    ]


def test_a_cadence_for_an_unknown_risk_tier_is_refused(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "    low:\n      data_drift: biweekly\n",
        "    lowest:\n      data_drift: biweekly\n",
    )
    assert problems_of(config_copy) == [
        "policy.yaml: monitoring.cadence.lowest.[key]: Input should be 'high', 'medium' or 'low'"
    ]


def test_a_model_tier_without_a_cadence_entry_is_refused(config_copy):
    text = (config_copy / "policy.yaml").read_text()
    start = text.index("    low:\n      data_drift: biweekly")
    end = text.index("      explanation_drift: monthly\n") + len(
        "      explanation_drift: monthly\n"
    )
    (config_copy / "policy.yaml").write_text(text[:start] + text[end:])
    assert problems_of(config_copy) == [
        f"models.yaml: models.2.risk_tier: {NO_CADENCE.format(tier='low')}"
    ]


def test_a_webhook_url_in_config_is_refused_as_a_secret(config_copy):
    edit(
        config_copy,
        "policy.yaml",
        "criteria: Metrics within normal range",
        "criteria: https://hooks.slack.com/services/T0/B0/x",
    )
    assert problems_of(config_copy) == [
        f"policy.yaml: severity_levels.INFO.criteria: {LOOKS_LIKE_SECRET}"
    ]


def test_a_patch_may_not_skip_a_mandatory_step(config_copy):
    edit(config_copy, "deployment.yaml", "skipped_steps: [3, 9]", "skipped_steps: [3, 10]")
    message = MANDATORY_STEP.format(kind="patch", step=10)
    assert problems_of(config_copy) == [
        f"deployment.yaml: deployment_types.patch.skipped_steps: {message}"
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "{id: CHK-1.5, text: Version tagged, verification: automatic, check: version_tagged}",
            "{id: CHK-1.5, text: Version tagged, verification: automatic}",
            AUTOMATIC_NEEDS_CHECK,
        ),
        (
            "{id: CHK-1.5, text: Version tagged, verification: automatic, check: version_tagged}",
            "{id: CHK-1.5, text: Version tagged, verification: attested, check: version_tagged}",
            ATTESTED_NEEDS_ROLE,
        ),
    ],
)
def test_a_checklist_item_must_name_how_it_is_verified(config_copy, old, new, message):
    edit(config_copy, "deployment.yaml", old, new)
    assert problems_of(config_copy) == [
        f"deployment.yaml: checklists.chk_ai_deploy_001.sections.development.items.4: {message}"
    ]


def test_every_problem_of_every_file_is_reported_at_once(config_copy):
    edit(config_copy, "policy.yaml", "max_suppression_days: 30 ", "max_suppression_days: 45 ")
    edit(config_copy, "models.yaml", "    label_delay_days: 2\n", "    label_delay_days: two\n")
    assert problems_of(config_copy) == [
        f"policy.yaml: exceptions.max_suppression_days: {AT_MOST_30}",
        "models.yaml: models.1.label_delay_days: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


# --- the command line ---------------------------------------------------------------------------


def test_config_check_accepts_the_shipped_config():
    result = CliRunner().invoke(app, ["config", "check", "--config-dir", str(CONFIG_DIR)])
    assert result.exit_code == 0
    assert result.stdout == f"config OK: {CONFIG_DIR} (4 models, 16 people)\n"


def test_config_check_prints_each_problem_to_stderr_and_exits_1(config_copy):
    edit(config_copy, "policy.yaml", "max_suppression_days: 30 ", "max_suppression_days: 45 ")
    result = CliRunner().invoke(app, ["config", "check", "--config-dir", str(config_copy)])
    assert result.exit_code == 1
    assert result.stderr == f"policy.yaml: exceptions.max_suppression_days: {AT_MOST_30}\n"
    assert result.stdout == ""


def test_the_installed_govflow_command_refuses_a_bad_config(config_copy):
    edit(config_copy, "models.yaml", MARKETING_OWNER, MARKETING_OWNER.replace("sam", "zed"))
    completed = subprocess.run(
        [str(GOVFLOW_SCRIPT), "config", "check", "--config-dir", str(config_copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr == f"models.yaml: models.1.owner: {UNKNOWN_USER.format(user='zed')}\n"


def test_a_sql_log_table_is_a_table_or_schema_dot_table_and_nothing_deeper(config_copy):
    log = "prediction_log: {kind: parquet, path: prediction_logs/marketing_propensity}"
    sql = "prediction_log: {kind: sql, url_env: GOVFLOW_LOGS_URL, table: %s}"
    edit(config_copy, "models.yaml", log, sql % "scoring.predictions")
    assert load_config(config_copy).models.get("marketing_propensity").prediction_log.table == (
        "scoring.predictions"
    )
    edit(config_copy, "models.yaml", sql % "scoring.predictions", sql % "ml.scoring.predictions")
    (problem,) = problems_of(config_copy)
    assert problem.startswith("models.yaml: models.1.prediction_log.sql.table: ")


def test_the_favourable_label_defaults_to_the_favourable_prediction(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "favourable_prediction: 1\n    label_delay_days: 2",
        ("favourable_prediction: 0\n    label_delay_days: 2"),
    )
    models = load_config(config_copy).models
    assert (
        models.get("credit_approval").favourable_label,
        models.get("credit_approval").favourable_prediction,
    ) == (1, 1)
    marketing = models.get("marketing_propensity")
    assert (marketing.favourable_prediction, marketing.favourable_label) == (0, 0)


def test_a_favourable_label_may_differ_from_the_favourable_prediction(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "favourable_prediction: 1\n    label_delay_days: 2",
        ("favourable_prediction: 1\n    favourable_label: 0\n    label_delay_days: 2"),
    )
    marketing = load_config(config_copy).models.get("marketing_propensity")
    assert (marketing.favourable_prediction, marketing.favourable_label) == (1, 0)


@pytest.mark.parametrize("value", ["2", "-1", "true", "yes"])
def test_a_favourable_outcome_other_than_zero_or_one_is_refused(config_copy, value):
    edit(
        config_copy,
        "models.yaml",
        "favourable_prediction: 1\n    label_delay_days: 2",
        (f"favourable_prediction: {value}\n    label_delay_days: 2"),
    )
    assert problems_of(config_copy) == [
        f"models.yaml: models.1.favourable_prediction: {FAVOURABLE_OUTCOME}"
    ]


REGRESSOR_ENTRY = """
  - id: customer_value
    type: regressor
    risk_tier: low
    owner: sam
    business_purpose: Estimate a customer's lifetime value
    prediction_log: {kind: parquet, path: logs/customer_value}
    columns:
      {prediction_id: prediction_id, model_version: model_version, scored_at: scored_at,
       prediction: prediction, label: label, label_observed_at: label_observed_at}
    label_delay_days: 30
    freeze_on_critical_fairness: false
    expected_daily_volume: 100
    binning: {method: reference_quantiles, bins: 10}
    features:
      - {name: tenure_months, dtype: integer, min: 0, max: 240}
    protected_attributes:
      - {name: sex, categories: [female, male]}
    serving:
      output: {kind: non_negative, max: 20000}
"""


@pytest.mark.parametrize("bound", [".inf", ".nan"])
def test_a_numeric_feature_bound_that_is_not_a_finite_number_is_refused(config_copy, bound):
    # The data-quality gate's range check needs bounds: NaN compares false with everything.
    edit(config_copy, "models.yaml", "min: 0, max: 1000000,", f"min: 0, max: {bound},")
    # The four models share their features (a YAML anchor): each is refused.
    assert problems_of(config_copy) == [
        f"models.yaml: models.{index}.features.0: {NUMERIC_RANGE.format(dtype='numeric')}"
        for index in range(4)
    ]


def test_a_log_column_named_otherwise_is_refused_with_what_to_rename(config_copy):
    # The analysis reads score by that name: a mapping would be honoured nowhere.
    edit(config_copy, "models.yaml", "score: score  ", "score: risk_score  ")
    # The three classifiers share their columns (a YAML anchor): each is refused.
    assert problems_of(config_copy) == [
        f"models.yaml: models.{index}.columns: score: risk_score: govflow reads the log's "
        "score column by its standard name; rename risk_score to score in the log (a SQL view "
        "can) and write score: score"
        for index in range(3)
    ]


def test_a_regressor_is_valid_without_score_or_favourable_outcome_and_clips_from_config(
    config_copy,
):
    (config_copy / "models.yaml").write_text(
        (config_copy / "models.yaml").read_text() + REGRESSOR_ENTRY
    )

    model = load_config(config_copy).models.get("customer_value")

    assert (model.is_regressor, model.prediction_bounds) == (True, (0.0, 20000.0))
    assert (model.columns.score, model.decision_threshold, model.performance_requirement) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "label_delay_days: 30",
            "label_delay_days: 30\n    favourable_prediction: 1",
            "favourable_prediction: " + NOT_FOR_REGRESSOR.format(key="favourable_prediction"),
        ),
        (
            "label_delay_days: 30",
            "label_delay_days: 30\n    decision_threshold: 0.5",
            "decision_threshold: " + NOT_FOR_REGRESSOR.format(key="decision_threshold"),
        ),
        ("{kind: non_negative, max: 20000}", "{kind: probability}", OUTPUT_OF_REGRESSOR),
    ],
)
def test_a_regressor_with_a_classifier_key_or_a_probability_output_is_refused(
    config_copy, old, new, problem
):
    (config_copy / "models.yaml").write_text(
        (config_copy / "models.yaml").read_text() + REGRESSOR_ENTRY.replace(old, new)
    )

    assert problems_of(config_copy) == [f"models.yaml: models.4: {problem}"]


def test_a_regressor_may_bound_its_validation_errors_for_its_deployment_gate(config_copy):
    entry = REGRESSOR_ENTRY.replace(
        "label_delay_days: 30", "label_delay_days: 30\n    error_ceiling: {max_mae: 400}"
    )
    (config_copy / "models.yaml").write_text((config_copy / "models.yaml").read_text() + entry)

    ceiling = load_config(config_copy).models.get("customer_value").error_ceiling

    assert (ceiling.max_mae, ceiling.max_rmse) == (400.0, None)


def test_an_error_ceiling_bounding_nothing_is_refused(config_copy):
    entry = REGRESSOR_ENTRY.replace(
        "label_delay_days: 30", "label_delay_days: 30\n    error_ceiling: {}"
    )
    (config_copy / "models.yaml").write_text((config_copy / "models.yaml").read_text() + entry)

    assert problems_of(config_copy) == [
        f"models.yaml: models.4.error_ceiling: {EMPTY_ERROR_CEILING}"
    ]


def test_a_classifier_refuses_an_error_ceiling(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "label_delay_days: 5\n",
        "label_delay_days: 5\n    error_ceiling: {max_mae: 1}\n",
    )

    assert problems_of(config_copy) == [
        "models.yaml: models.0: error_ceiling: " + NOT_FOR_CLASSIFIER.format(key="error_ceiling")
    ]


def test_a_classifier_still_needs_its_decision_threshold(config_copy):
    edit(
        config_copy,
        "models.yaml",
        "label_delay_days: 5\n    decision_threshold: 0.5\n",
        "label_delay_days: 5\n",
    )

    assert problems_of(config_copy) == [
        "models.yaml: models.0: decision_threshold: "
        + REQUIRED_FOR_CLASSIFIER.format(key="decision_threshold")
    ]
