"""A deployment ready to roll out, and a stage's worth of prediction logs.

``authorised_deployment`` leaves the store as ``govflow_model_deployment`` leaves it after
phase 4 (tests/dags and tests/system/test_model_deployment.py run that DAG itself): the
candidate version approved in the registry, the deployment record authorised. The rollout
tests start from there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from govflow import registry, store
from govflow.config import GovflowConfig, ModelEntry
from govflow.demo.applicants import age_band_counts, generate_applicants
from govflow.deployment import procedure
from govflow.monitoring.prediction_logs import log_columns, partition_path
from govflow.rollout import rollback
from govflow.store.types import utcnow
from tests.support.deployment_demo import CANDIDATE, approve_version, register_candidate

MODEL = "credit_approval"
GENDERS = ("female", "male", "non_binary")


def authorised_deployment(
    config: GovflowConfig,
    data_dir: Path,
    url: str,
    *,
    version: str = CANDIDATE,
    model_id: str = MODEL,
    requested_by: str = "dave",
) -> str:
    """Register, approve and authorise ``version``; returns the deployment's ref."""
    register_candidate(data_dir, url, model_id=model_id, version=version)
    with store.session_scope(url) as session:
        record = registry.get_version(session, model_id, version)
        if record.status == "draft":
            approve_version(session, model_id, version, justification="rollout test")
        request = procedure.DeploymentRequest(
            model_id,
            version,
            "minor",
            "production",
            "rollout test",
            requested_by,
            f"rollout_test__{version}__{uuid.uuid4().hex[:8]}",
        )
        deployment, _ = procedure.open_deployment(session, config, request)
        deployment.status = procedure.AUTHORISED
        procedure.update_details(deployment, authorised_at=utcnow().isoformat())
        return deployment.ref


def applicants(rows: int, *, seed: int = 11) -> pd.DataFrame:
    """Synthetic applicants with a gender drawn independently of everything else."""
    rng = np.random.default_rng(seed)
    frame = generate_applicants(rng, age_band_counts(rows))
    frame["gender"] = rng.choice(GENDERS, size=len(frame))
    return frame.reset_index(drop=True)


def gender_only_decisions(config: GovflowConfig) -> tuple[ModelEntry, pd.DataFrame, np.ndarray]:
    """Credit approval judged on gender alone, and its decisions on 200 men and 200 women:
    100 men and 66 women approved (disparate impact 0.66), 1 = approve."""
    entry = config.models.get(MODEL)
    gender = [a for a in entry.protected_attributes if a.name == "gender"]
    model = entry.model_copy(update={"protected_attributes": gender, "intersections": []})
    frame = pd.DataFrame({"gender": ["male"] * 200 + ["female"] * 200})
    approved = np.r_[np.arange(200) < 100, np.arange(200) < 66].astype("int8")
    return model, frame, approved


def write_stage_log(
    config: GovflowConfig,
    data_dir: Path,
    frame: pd.DataFrame,
    *,
    version: str,
    scores: np.ndarray,
    at: datetime | None = None,
    model_id: str = MODEL,
) -> Path:
    """Append ``frame`` scored by ``version`` to the model's prediction log, as a gateway
    would; one parquet file per call in today's partition."""
    model = config.models.get(model_id)
    moment = at or utcnow()
    logged = frame.copy()
    logged["prediction_id"] = [uuid.uuid4().hex for _ in range(len(frame))]
    logged["model_id"] = model_id
    logged["model_version"] = version
    logged["scored_at"] = pd.Timestamp(moment)
    logged["score"] = scores
    logged["prediction"] = (scores >= model.decision_threshold).astype("int8")
    logged["label"] = pd.array([None] * len(frame), dtype="Int8")
    logged["label_observed_at"] = pd.Series(pd.NaT, index=logged.index, dtype="datetime64[ns, UTC]")
    columns = log_columns(
        [feature.name for feature in model.features],
        [attribute.name for attribute in model.protected_attributes],
    )
    target = partition_path(data_dir / model.prediction_log.path, moment.date())
    path = target.with_name(f"part-test-{uuid.uuid4().hex[:8]}.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(logged[columns], preserve_index=False), path)
    return path


def roll_back(
    config: GovflowConfig, url: str, ref: str, *, model_id: str = MODEL, **kwargs: Any
) -> tuple[dict[str, Any], ...]:
    """``govflow_rollback``'s steps for ``ref`` as a rollout criterion (RBC-1) asks for it:
    (decided, executed, verified, concluded); ``kwargs`` change the request."""
    arguments = {
        "model_id": model_id,
        "reason": "RBC-1 fairness",
        "source": "rollout",
        "requested_by": "govflow (rollout)",
        "deployment_ref": ref,
        "criteria": [{"id": "RBC-1", "summary": "disparate_impact_ratio of gender is 0.33"}],
        **kwargs,
    }
    with store.session_scope(url) as session:
        decided = rollback.decide(session, config, **arguments)
    with store.session_scope(url) as session:
        executed = rollback.execute(session, deployment_ref=ref)
    with store.session_scope(url) as session:
        verified = rollback.verify(session, deployment_ref=ref, revision=executed["revision"])
    with store.session_scope(url) as session:
        concluded = rollback.conclude(session, config, deployment_ref=ref, verification=verified)
    return decided, executed, verified, concluded


def rollback_consequence(
    config: GovflowConfig, url: str, ref: str, *, model_id: str = MODEL
) -> str:
    """What a manual rollback decision of ``ref`` says it does to the traffic."""
    with store.session_scope(url) as session:
        decided = rollback.decide(
            session,
            config,
            model_id=model_id,
            reason="complaints",
            source="manual",
            requested_by="eve",
            deployment_ref=ref,
        )
    return decided["consequence"]
