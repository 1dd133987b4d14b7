"""Seed 004 sections 4.2 and 4.4: when a model's baseline changes, who approves it, and what
it is built from.

Table 4.2 has four triggers (policy.yaml ``baselines.update_triggers``):

* **new model deployed** (automatic): :func:`create_baseline_for_deployment` builds the
  baseline from the deployed version's registered validation set, once per deployment,
  through the data-quality gate of ``govflow baseline create``
  (:mod:`govflow.baselines.onboarding`). It becomes active when the version serves all
  traffic: at once for a deployment made outside govflow, when govflow's rollout reaches
  full (:func:`promote_deployment_baseline`) for its own; a rollback before that archives
  it unused (:func:`withdraw_deployment_baseline`) and one after it restores the previous
  version's (:func:`restore_version_baseline`).
* **concept drift accepted** (ML lead) and **major data source change** (CTO):
  :func:`reset_baseline_from_logs` (section 4.4) builds the baseline from the last
  ``reset_window_days`` (7) days of prediction logs once a holder of the trigger's approver
  role who is not the requester has approved it, archives the old baseline, and opens an
  incident documenting the reset.
* **quarterly review** (automatic): :func:`refresh_baseline_if_stabilised` applies the rule
  below and, when it holds, refreshes the baseline from the last 7 days of logs.

A baseline built from logs
--------------------------
The window ``[end - 7 days, end)`` is read from the model's prediction-log source and put
through the same data-quality gate monitoring runs; only the rows it keeps are profiled, and
a column it finds unusable refuses the reset. The rows are those of the version that scored
the window's latest prediction (the version serving now). The logs already hold each row's
score and prediction, so nothing is re-scored; the registered artefact is loaded (its sha256
checked) only to measure the SHAP attributions the profile carries. A label counts only if
it was observed before ``end``, as monitoring counts labels. A reset needs at least as many
usable rows as the gate's volume floor for a 7-day window (``expected_daily_volume`` x 7 x
``volume_ratio_min``: 7,000 rows for the demo models) and at least one observed label. The
version is named after the day of ``end``, the day the baseline takes effect.

The quarterly refresh rule
--------------------------
On the first day of each quarter (``as_of``), the active baseline is refreshed when all of
these hold, and kept otherwise (the first that fails is the recorded reason):

1. Evidence: at least 2 successful scheduled (daily, weekly or bi-weekly) monitoring records
   judged against the active baseline with a computed PSI end in the 28 days before
   ``as_of``, the first and last at least 14 days apart. A record's drift is its worst
   feature PSI.
2. No CRITICAL: no monitoring record of the model ending in the 30 days before ``as_of`` is
   CRITICAL (drift that still crosses the critical bound has not stabilised; it needs an
   incident or an approved reset).
3. No fairness shift: no fairness-drift finding above INFO in those 30 days. A refresh resets
   the fairness reference, so only an approved reset may absorb a fairness shift.
4. Drift present: the mean of the records' worst PSI reaches the PSI WARNING bound of
   policy.yaml (0.10). Below it the baseline still describes the data.
5. Stable: the records' worst PSI lie within 0.05 of each other (max - min).

The decision is recorded as the audit event ``baseline.quarterly_review`` keyed by model and
quarter (``2025-Q2`` for a review held on 2025-04-01), and the refreshed baseline is created
under the same key, so a second run in the quarter returns the recorded decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from govflow.audit import event_under, record_event
from govflow.baselines.onboarding import create_baseline_from_validation_set
from govflow.baselines.profile import (
    BaselineError,
    activate_baseline,
    archive_pending_baseline,
    baseline_created_under,
    build_profile,
    create_baseline,
    draw_reference_sample,
    lock_model,
    profile_columns,
    registered_model_or_none,
    replacement_severity,
)
from govflow.config import GovflowConfig, ModelEntry
from govflow.config.vocabulary import Role
from govflow.metrics import Severity, classify
from govflow.metrics.explanation_drift import attribution_column
from govflow.monitoring.analysis import column_rules, log_source, quality_policy, utc
from govflow.monitoring.prediction_logs import (
    LABEL_OBSERVED_AT,
    MODEL_VERSION,
    SCORED_AT,
    utc_timestamps,
)
from govflow.monitoring.quality import run_quality_gate
from govflow.store.schema import Baseline, MetricResult, MonitoringRun

ResetKind = Literal["concept_drift_accepted", "major_data_source_change"]
RESET_KINDS: tuple[ResetKind, ...] = get_args(ResetKind)
RefreshOutcome = Literal["refresh", "keep"]

NEW_MODEL_DEPLOYED = "new_model_deployed"
QUARTERLY_REVIEW = "quarterly_review"
RESET = "baseline.reset"
QUARTERLY_DECISION = "baseline.quarterly_review"
RESET_INCIDENT_CATEGORY = "baseline_reset"
# What a deployed version serves when its baseline is made (create_baseline_for_deployment).
DeployedTraffic = Literal["all", "rolling_out", "rolled_back"]
REFRESH_ACTOR = "govflow-baselines"

EVIDENCE_DAYS = 28
MIN_EVIDENCE_RECORDS = 2
MIN_EVIDENCE_SPAN_DAYS = 14
QUIET_DAYS = 30
STABLE_PSI_BAND = 0.05
SCHEDULED_CADENCES = ("daily", "weekly", "biweekly")

MODEL_NOT_IN_INVENTORY = "model {model_id!r} is not in models.yaml"
UNKNOWN_RESET_KIND = (
    "unknown reset kind {kind!r}; expected concept_drift_accepted or major_data_source_change"
)
REASON_REQUIRED = "a baseline reset needs a reason"
UNKNOWN_REQUESTER = "{user!r} is not in people.yaml: a reset is requested by a named person"
NO_APPROVER = "no holder of {role} other than the requester {user} can approve a {kind} reset"
NOT_AN_APPROVER = "{user} does not hold the {role} role that approves a {kind} reset"
SELF_APPROVAL = "separation of duties: {user} requested this reset and cannot approve it"
UNUSABLE_COLUMNS = (
    "the data-quality gate found columns of {model_id} unusable in [{start}, {end}): "
    "{columns}; fix the prediction logs before building a baseline from them"
)
TOO_FEW_ROWS = (
    "{model_id} has {rows} usable predictions in [{start}, {end}); a baseline from logs "
    "needs at least {minimum}"
)
# A reset reads the rows of the version serving last in the window, never another's.
OF_VERSION = " (counted for version {version}, the one serving at the window's end)"
NO_OBSERVED_LABELS = (
    "no label of {model_id} in [{start}, {end}) was observed by {end}; a baseline needs "
    "observed outcomes for its accuracy and fairness rates"
)

NO_ACTIVE_BASELINE = "{model_id} has no active baseline; its deployment creates the first one"
TOO_LITTLE_EVIDENCE = (
    "{records} scheduled data-drift records against {version} in the last {days} days, "
    "spanning {span} days; the rule needs {minimum} spanning {min_span} days"
)
RECENT_CRITICAL = (
    "{count} CRITICAL monitoring records in the last {days} days: drift has not stabilised"
)
RECENT_FAIRNESS_SHIFT = (
    "{count} fairness-drift findings above INFO in the last {days} days: only an approved "
    "reset may absorb a fairness shift"
)
NO_DRIFT = (
    "mean worst PSI {mean:.4f} is below the WARNING bound {bound:g}: the baseline still "
    "describes the data"
)
NOT_STABLE = "worst PSI spread {spread:.4f} exceeds the {band:g} band: drift has not stabilised"
STABILISED = (
    "drift present (mean worst PSI {mean:.4f}) and stable (spread {spread:.4f}) over "
    "{records} records, no CRITICAL record in {days} days: refreshed from the last "
    "{window} days"
)


@dataclass(frozen=True)
class LogWindow:
    """The usable rows of a prediction-log window, ready to be profiled."""

    model_version: str
    # The profiled columns, and a black box's attribution__<feature> columns when logged.
    rows: pd.DataFrame
    start: datetime
    end: datetime
    read_rows: int
    labelled_rows: int
    quality_summary: str

    def details(self) -> dict[str, Any]:
        return {
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "rows_read": self.read_rows,
            "rows_profiled": len(self.rows),
            "labelled_rows": self.labelled_rows,
            "data_quality": self.quality_summary,
        }


def read_log_window(
    config: GovflowConfig, *, model_id: str, end: datetime, data_dir: Path
) -> LogWindow:
    """The last ``reset_window_days`` of ``model_id``'s logs before ``end`` (module doc)."""
    model = _model_entry(config, model_id)
    end = utc(end)
    start = end - timedelta(days=config.policy.baselines.reset_window_days)
    window = log_source(model, data_dir).read_window(start, end)
    policy = quality_policy(model, config, end - start)
    report = run_quality_gate(
        window,
        rules=column_rules(model, config),
        policy=policy,
        window_start=start,
        window_end=end,
        engine=config.policy.data_quality.engine,
    )
    bounds = {"model_id": model_id, "start": start.isoformat(), "end": end.isoformat()}
    # The gate judges the profiled columns; the version and label time are only read here.
    missing = {MODEL_VERSION, LABEL_OBSERVED_AT} - set(window.columns) if len(window) else set()
    unusable = sorted(set(report.unusable_columns) & set(profile_columns(model)) | missing)
    if unusable:
        raise BaselineError(UNUSABLE_COLUMNS.format(**bounds, columns=", ".join(unusable)))
    usable = report.usable_frame()
    serving = str(usable.sort_values(SCORED_AT)[MODEL_VERSION].iloc[-1]) if len(usable) else ""
    rows = usable[usable[MODEL_VERSION] == serving] if len(usable) else usable
    # Where the window holds other versions' rows too, say which version was counted.
    counted = OF_VERSION.format(version=serving) if usable[MODEL_VERSION].nunique() > 1 else ""
    if len(rows) < policy.min_rows:
        raise BaselineError(
            TOO_FEW_ROWS.format(**bounds, rows=len(rows), minimum=policy.min_rows) + counted
        )
    label = model.columns.label
    observed_at = utc_timestamps(rows[LABEL_OBSERVED_AT])
    labels = pd.to_numeric(rows[label], errors="coerce").astype("float64")
    labels = labels.where(observed_at < pd.Timestamp(end))
    labelled = int(labels.notna().sum())
    if labelled == 0:
        raise BaselineError(NO_OBSERVED_LABELS.format(**bounds) + counted)
    # A black box's logged attributions go with the rows: its baseline is built from them.
    logged = [
        column
        for column in (attribution_column(feature.name) for feature in model.features)
        if column in rows.columns
    ]
    profiled = rows[[*profile_columns(model), *logged]].copy()
    profiled[label] = labels
    return LogWindow(
        model_version=serving,
        rows=profiled.reset_index(drop=True),
        start=start,
        end=end,
        read_rows=len(window),
        labelled_rows=labelled,
        quality_summary=report.summary,
    )


def _model_entry(config: GovflowConfig, model_id: str) -> ModelEntry:
    if model_id not in config.models.ids():
        raise BaselineError(MODEL_NOT_IN_INVENTORY.format(model_id=model_id))
    return config.models.get(model_id)


def _baseline_from_logs(
    session: Session,
    config: GovflowConfig,
    window: LogWindow,
    *,
    model_id: str,
    kind: Literal["refresh", "reset"],
    created_by: str,
    approved_by: str | None,
    reason: str,
    details: dict[str, Any],
    data_dir: Path,
    idempotency_key: str,
) -> Baseline:
    model = _model_entry(config, model_id)
    profile = build_profile(
        model_id,
        window.model_version,
        validation=window.rows,
        # A black-box model has no artefact: its reset baseline has attributions only if its
        # logs carry them (attribution__<feature>).
        model=registered_model_or_none(
            session, data_dir=data_dir, model_id=model_id, model_version=window.model_version
        ),
        model_config=model,
    )
    return create_baseline(
        session,
        model_id=model_id,
        model_version=window.model_version,
        profile=profile,
        kind=kind,
        created_by=created_by,
        reason=reason,
        data_dir=data_dir,
        reference_sample=draw_reference_sample(window.rows[profile_columns(model)]),
        created_on=window.end.date(),
        idempotency_key=idempotency_key,
        approved_by=approved_by,
        details={**details, **window.details()},
    )


def _approver_role(config: GovflowConfig, kind: str, requested_by: str | None) -> Role:
    if kind not in RESET_KINDS:
        raise BaselineError(UNKNOWN_RESET_KIND.format(kind=kind))
    if requested_by not in {user.id for user in config.people.users}:
        raise BaselineError(UNKNOWN_REQUESTER.format(user=requested_by))
    role = config.policy.baselines.update_triggers[kind].approver_role
    assert role is not None, "policy.yaml gives every reset trigger an approver role"
    return role


def check_reset_approval(
    config: GovflowConfig, *, kind: str, requested_by: str, approved_by: str
) -> Role:
    """The approver role of a ``kind`` reset, once ``approved_by`` may give it; else raise."""
    role = _approver_role(config, kind, requested_by)
    if approved_by not in config.people.holders(role):
        raise BaselineError(NOT_AN_APPROVER.format(user=approved_by, role=role, kind=kind))
    if approved_by == requested_by:
        raise BaselineError(SELF_APPROVAL.format(user=approved_by))
    return role


@dataclass(frozen=True)
class ResetRequest:
    """A checked reset request: what will be built, and who may approve it."""

    model_id: str
    kind: ResetKind
    reason: str
    requested_by: str
    approver_role: str
    approvers: list[str]
    end: str
    active_version: str | None
    window: dict[str, Any]
    subject: str
    body: str
    assigned_users: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe_reset_request(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str,
    kind: str,
    reason: str,
    requested_by: str | None,
    end: datetime,
    data_dir: Path,
) -> ResetRequest:
    """Check a reset request before anyone is asked to approve it, and describe it for them.

    The approvers are the holders of the trigger's approver role except the requester; the
    window is read and gated now, so an approver never approves a reset that cannot be built.
    """
    _model_entry(config, model_id)
    role = _approver_role(config, kind, requested_by)
    assert requested_by is not None
    if not reason.strip():
        raise BaselineError(REASON_REQUIRED)
    approvers = [user for user in config.people.holders(role) if user != requested_by]
    if not approvers:
        raise BaselineError(NO_APPROVER.format(role=role, user=requested_by, kind=kind))
    window = read_log_window(config, model_id=model_id, end=end, data_dir=data_dir)
    active = _active_version(session, model_id)
    requester = config.people.user(requested_by)
    details = window.details()
    body = "\n".join(
        [
            f"**{requester.name}** ({requested_by}) asks to reset the baseline of "
            f"**{model_id}**: {kind.replace('_', ' ')} (seed 004 section 4.4).",
            "",
            f"- Reason: {reason}",
            f"- Active baseline: {active or 'none'} (it will be archived, not deleted)",
            f"- New baseline from predictions in [{details['window_start']}, "
            f"{details['window_end']}) of version {window.model_version}: "
            f"{details['rows_profiled']} usable rows of {details['rows_read']}, "
            f"{details['labelled_rows']} with an observed label",
            f"- {window.quality_summary}",
            f"- Approver role: {role}; the requester cannot approve",
        ]
    )
    return ResetRequest(
        model_id=model_id,
        kind=kind,  # type: ignore[arg-type]
        reason=reason,
        requested_by=requested_by,
        approver_role=role,
        approvers=approvers,
        end=window.end.isoformat(),
        active_version=active,
        window=details,
        subject=f"Approve the baseline reset of {model_id} ({kind.replace('_', ' ')})",
        body=body,
        assigned_users=[{"id": user, "name": config.people.user(user).name} for user in approvers],
    )


def reset_baseline_from_logs(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str,
    kind: ResetKind,
    reason: str,
    requested_by: str,
    approved_by: str,
    end: datetime,
    data_dir: Path,
    idempotency_key: str,
) -> Baseline:
    """Section 4.4: an approved reset from the last 7 days of logs, documented by an incident.

    Returns the baseline already created under ``idempotency_key`` when there is one.
    """
    from govflow.incidents.lifecycle import open_incident, record_documentation

    _model_entry(config, model_id)
    role = check_reset_approval(
        config, kind=kind, requested_by=requested_by, approved_by=approved_by
    )
    if not reason.strip():
        raise BaselineError(REASON_REQUIRED)
    key = f"baseline-reset:{model_id}:{idempotency_key}"
    earlier = baseline_created_under(session, key)
    if earlier is not None:
        return earlier
    window = read_log_window(config, model_id=model_id, end=end, data_dir=data_dir)
    replaced = _active_version(session, model_id)
    baseline = _baseline_from_logs(
        session,
        config,
        window,
        model_id=model_id,
        kind="reset",
        created_by=requested_by,
        approved_by=approved_by,
        reason=reason,
        details={"trigger": kind, "requested_by": requested_by, "approver_role": role},
        data_dir=data_dir,
        idempotency_key=key,
    )
    # One incident per reset: the baseline version in the metric keeps two resets of a model
    # from being deduplicated into one incident while the first is still open.
    incident, _ = open_incident(
        session,
        config,
        model_id=model_id,
        category=RESET_INCIDENT_CATEGORY,
        metric=f"baseline:{baseline.version}",
        severity="INFO",
        title=f"Baseline of {model_id} reset to {baseline.version} ({kind.replace('_', ' ')})",
        summary=reason,
        details={
            "baseline_version": baseline.version,
            "replaced_version": replaced,
            "trigger": kind,
            "requested_by": requested_by,
            "approved_by": approved_by,
            **window.details(),
        },
        actor=requested_by,
    )
    record_documentation(
        session,
        incident,
        root_cause=reason,
        corrective_action=(
            f"baseline reset to {baseline.version} from the predictions of "
            f"[{window.start.isoformat()}, {window.end.isoformat()}), approved by "
            f"{approved_by} ({role}); {replaced or 'no baseline'} archived"
        ),
        actor=requested_by,
    )
    baseline.details = {**baseline.details, "incident_ref": incident.ref}
    record_event(
        session,
        actor=requested_by,
        action=RESET,
        target=f"baseline:{model_id}:{baseline.version}",
        payload={
            "baseline_id": baseline.id,
            "trigger": kind,
            "reason": reason,
            "approved_by": approved_by,
            "replaces": replaced,
            "incident_ref": incident.ref,
            **window.details(),
        },
        severity=replacement_severity(replaced),
        idempotency_key=f"{RESET}:{key}",
    )
    return baseline


def _active_version(session: Session, model_id: str) -> str | None:
    return session.scalars(
        select(Baseline.version).where(Baseline.model_id == model_id, Baseline.is_active.is_(True))
    ).first()


def _deployment_key(deployment_ref: str, model_id: str, version: str) -> str:
    return f"deployment:{deployment_ref}:{model_id}:{version}"


def _deployment_baseline(
    session: Session, model_id: str, version: str, deployment_ref: str
) -> Baseline | None:
    """The baseline made for ``deployment_ref``, if it was made, with the model locked."""
    lock_model(session, model_id)
    return baseline_created_under(session, _deployment_key(deployment_ref, model_id, version))


def create_baseline_for_deployment(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str,
    version: str,
    deployment_ref: str,
    data_dir: Path,
    actor: str,
    traffic: DeployedTraffic = "all",
) -> Baseline:
    """Section 4.2 "new model deployed": the version's validation-set baseline, once per
    deployment (a redeployment of an older version gets a baseline of its own). A validation
    set the data-quality gate refuses is refused in one line and nothing is stored: the model
    keeps its active baseline.

    ``traffic`` is what the version serves when the baseline is made: ``all`` (a deployment
    made outside govflow, or a rollout already complete) activates it at once;
    ``rolling_out`` stores it pending until :func:`promote_deployment_baseline` (the rollout
    reaching full: until then the previous version serves most traffic and stays the
    reference); ``rolled_back`` stores it archived (the version never served everybody)."""
    _model_entry(config, model_id)
    lock_model(session, model_id)
    baseline = create_baseline_from_validation_set(
        session,
        config,
        data_dir=data_dir,
        model_id=model_id,
        model_version=version,
        created_by=actor,
        reason=f"new model deployed: {model_id} {version} by deployment {deployment_ref}",
        idempotency_key=_deployment_key(deployment_ref, model_id, version),
        details={"trigger": NEW_MODEL_DEPLOYED, "deployment_ref": deployment_ref},
        activate=traffic == "all",
    )
    if traffic == "rolled_back":
        withdraw_deployment_baseline(
            session, model_id=model_id, version=version, deployment_ref=deployment_ref, actor=actor
        )
    return baseline


def promote_deployment_baseline(
    session: Session, *, model_id: str, version: str, deployment_ref: str, actor: str
) -> Baseline | None:
    """The rollout of ``deployment_ref`` reached full: its pending baseline becomes the
    model's active one (None when the deployment has no baseline yet: it is then made
    active, :func:`create_baseline_for_deployment` with ``traffic`` all)."""
    baseline = _deployment_baseline(session, model_id, version, deployment_ref)
    if baseline is None:
        return None
    activate_baseline(
        session,
        baseline,
        actor=actor,
        reason=f"{model_id} {version} serves all traffic (deployment {deployment_ref})",
        idempotency_key=f"promoted:{deployment_ref}",
    )
    return baseline


def withdraw_deployment_baseline(
    session: Session, *, model_id: str, version: str, deployment_ref: str, actor: str
) -> Baseline | None:
    """The rollout of ``deployment_ref`` was rolled back before it reached full: its pending
    baseline is archived without ever being active."""
    baseline = _deployment_baseline(session, model_id, version, deployment_ref)
    if baseline is None:
        return None
    archive_pending_baseline(
        session,
        baseline,
        actor=actor,
        reason=f"{model_id} {version} was rolled back before it served all traffic "
        f"(deployment {deployment_ref})",
        idempotency_key=f"withdrawn:{deployment_ref}",
    )
    return baseline


def restore_version_baseline(
    session: Session, *, model_id: str, version: str, deployment_ref: str, actor: str
) -> Baseline | None:
    """A rollback of ``deployment_ref`` after its rollout completed put ``version`` back in
    production: the newest baseline of that version becomes the active one again (None,
    and the active baseline kept, when the version never had one)."""
    lock_model(session, model_id)
    baseline = session.scalars(
        select(Baseline)
        .where(Baseline.model_id == model_id, Baseline.model_version == version)
        .order_by(Baseline.id.desc())
    ).first()
    if baseline is None:
        return None
    activate_baseline(
        session,
        baseline,
        actor=actor,
        reason=f"rollback of deployment {deployment_ref} restored {model_id} {version}",
        idempotency_key=f"restored:{deployment_ref}",
    )
    return baseline


@dataclass(frozen=True)
class RefreshDecision:
    """The quarterly review of one model's baseline (module doc: the rule)."""

    model_id: str
    quarter: str
    outcome: RefreshOutcome
    reason: str
    baseline_version: str | None
    replaced_version: str | None
    measures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RefreshDecision:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def quarter_of(moment: datetime) -> str:
    """``2025-Q2`` for any moment from 1 April to 30 June 2025."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def refresh_baseline_if_stabilised(
    session: Session,
    config: GovflowConfig,
    *,
    model_id: str,
    as_of: datetime,
    data_dir: Path,
) -> RefreshDecision:
    """Section 4.2 "quarterly review": refresh the baseline when drift has stabilised."""
    _model_entry(config, model_id)
    as_of = utc(as_of)
    quarter = quarter_of(as_of)
    key = f"{QUARTERLY_DECISION}:{model_id}:{quarter}"
    recorded = event_under(session, key)
    if recorded is not None:
        return RefreshDecision.from_dict(recorded.payload)
    version = _active_version(session, model_id)
    outcome, reason, measures = _apply_refresh_rule(session, config, model_id, version, as_of)
    new_version = version
    if outcome == "refresh":
        window = read_log_window(config, model_id=model_id, end=as_of, data_dir=data_dir)
        new_version = _baseline_from_logs(
            session,
            config,
            window,
            model_id=model_id,
            kind="refresh",
            created_by=REFRESH_ACTOR,
            approved_by=None,
            reason=f"quarterly review {quarter}: {reason}",
            details={"trigger": QUARTERLY_REVIEW, "quarter": quarter, **measures},
            data_dir=data_dir,
            idempotency_key=f"{QUARTERLY_REVIEW}:{model_id}:{quarter}",
        ).version
    decision = RefreshDecision(
        model_id=model_id,
        quarter=quarter,
        outcome=outcome,
        reason=reason,
        baseline_version=new_version,
        replaced_version=version if outcome == "refresh" else None,
        measures=measures,
    )
    record_event(
        session,
        actor=REFRESH_ACTOR,
        action=QUARTERLY_DECISION,
        target=f"baseline:{model_id}:{new_version}",
        payload=decision.to_dict(),
        idempotency_key=key,
    )
    return decision


def _apply_refresh_rule(
    session: Session,
    config: GovflowConfig,
    model_id: str,
    version: str | None,
    as_of: datetime,
) -> tuple[RefreshOutcome, str, dict[str, Any]]:
    if version is None:
        return "keep", NO_ACTIVE_BASELINE.format(model_id=model_id), {}
    evidence = _worst_psi_of_records(session, model_id, version, as_of)
    span = (evidence[-1][0] - evidence[0][0]).days if evidence else 0
    quiet_since = as_of - timedelta(days=QUIET_DAYS)
    critical = _critical_records(session, model_id, quiet_since, as_of)
    fairness = _fairness_shifts(session, model_id, quiet_since, as_of)
    values = [psi for _, psi in evidence]
    mean = round(float(np.mean(values)), 6) if values else None
    spread = round(max(values) - min(values), 6) if values else None
    measures: dict[str, Any] = {
        "evidence_records": len(values),
        "evidence_span_days": span,
        "mean_worst_psi": mean,
        "worst_psi_spread": spread,
        "critical_records": critical,
        "fairness_findings": fairness,
    }
    if len(values) < MIN_EVIDENCE_RECORDS or span < MIN_EVIDENCE_SPAN_DAYS:
        return (
            "keep",
            TOO_LITTLE_EVIDENCE.format(
                records=len(values),
                version=version,
                days=EVIDENCE_DAYS,
                span=span,
                minimum=MIN_EVIDENCE_RECORDS,
                min_span=MIN_EVIDENCE_SPAN_DAYS,
            ),
            measures,
        )
    if critical:
        return "keep", RECENT_CRITICAL.format(count=critical, days=QUIET_DAYS), measures
    if fairness:
        return "keep", RECENT_FAIRNESS_SHIFT.format(count=fairness, days=QUIET_DAYS), measures
    assert mean is not None and spread is not None
    psi = config.policy.threshold("psi")
    if classify(mean, psi) is Severity.INFO:
        return "keep", NO_DRIFT.format(mean=mean, bound=psi.warning), measures
    if spread > STABLE_PSI_BAND:
        return "keep", NOT_STABLE.format(spread=spread, band=STABLE_PSI_BAND), measures
    reason = STABILISED.format(
        mean=mean,
        spread=spread,
        records=len(values),
        days=QUIET_DAYS,
        window=config.policy.baselines.reset_window_days,
    )
    return "refresh", reason, measures


def _worst_psi_of_records(
    session: Session, model_id: str, version: str, as_of: datetime
) -> list[tuple[datetime, float]]:
    """(end, worst feature PSI) of each evidence record, oldest first (rule 1, module doc)."""
    rows = session.execute(
        select(MonitoringRun.id, MonitoringRun.interval_end, MetricResult.value)
        .join(MetricResult, MetricResult.monitoring_run_id == MonitoringRun.id)
        .where(
            MonitoringRun.model_id == model_id,
            MonitoringRun.baseline_version == version,
            MonitoringRun.status == "succeeded",
            MonitoringRun.cadence.in_(SCHEDULED_CADENCES),
            MonitoringRun.interval_end > as_of - timedelta(days=EVIDENCE_DAYS),
            MonitoringRun.interval_end <= as_of,
            MetricResult.check_type == "data_drift",
            MetricResult.metric == "psi",
            MetricResult.value.is_not(None),
        )
    ).all()
    worst: dict[int, tuple[datetime, float]] = {}
    for run_id, interval_end, value in rows:
        if value is not None:
            earlier = worst.get(run_id, (interval_end, value))[1]
            worst[run_id] = (interval_end, max(earlier, value))
    return sorted(worst.values())


def _records_ending_in(model_id: str, since: datetime, until: datetime) -> tuple[Any, ...]:
    return (
        MonitoringRun.model_id == model_id,
        MonitoringRun.interval_end > since,
        MonitoringRun.interval_end <= until,
    )


def _critical_records(session: Session, model_id: str, since: datetime, until: datetime) -> int:
    """Rule 2: CRITICAL monitoring records of the model ending in (since, until]."""
    return len(
        session.scalars(
            select(MonitoringRun.id).where(
                *_records_ending_in(model_id, since, until), MonitoringRun.severity == "CRITICAL"
            )
        ).all()
    )


def _fairness_shifts(session: Session, model_id: str, since: datetime, until: datetime) -> int:
    """Rule 3: fairness-drift findings above INFO in records ending in (since, until]."""
    return len(
        session.scalars(
            select(MetricResult.id)
            .join(MonitoringRun, MetricResult.monitoring_run_id == MonitoringRun.id)
            .where(
                *_records_ending_in(model_id, since, until),
                MetricResult.check_type == "fairness_drift",
                MetricResult.severity.in_(("WARNING", "CRITICAL")),
            )
        ).all()
    )
