"""The tamper-evident audit trail: the hash chain (``chain``) and the signed checkpoints that
show its tail was not cut off (``checkpoints``)."""

from govflow.audit.chain import (
    GENESIS_HASH,
    HASH_VERSION,
    SEVERITIES,
    UNKNOWN_SEVERITY,
    AuditSeverity,
    ChainBreak,
    ChainReport,
    canonical_event,
    canonical_time,
    chain_head,
    checkpoints_problem,
    event_fields,
    event_hash,
    event_under,
    hash_at,
    jsonable,
    query_events,
    record_event,
    verify_chain,
    verify_trail,
)
from govflow.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    advance_checkpoint,
    all_checkpoints,
    checkpoint_problem,
    latest_checkpoint,
    signing_key,
)

# A task state set by hand through Airflow's API or UI, recorded by the api-server's guard
# (govflow_airflow.answer_guard) under the run's target.
STATE_SET_BY_HAND = "airflow.task_state_set"


def run_target(dag_id: str, run_id: str) -> str:
    """The audit target of a DAG run."""
    return f"dag_run:{dag_id}/{run_id}"


__all__ = [
    "GENESIS_HASH",
    "HASH_VERSION",
    "SEVERITIES",
    "STATE_SET_BY_HAND",
    "UNKNOWN_SEVERITY",
    "AuditSeverity",
    "ChainBreak",
    "ChainReport",
    "Checkpoint",
    "CheckpointError",
    "advance_checkpoint",
    "all_checkpoints",
    "canonical_event",
    "canonical_time",
    "chain_head",
    "checkpoint_problem",
    "checkpoints_problem",
    "event_fields",
    "event_hash",
    "event_under",
    "hash_at",
    "jsonable",
    "latest_checkpoint",
    "query_events",
    "record_event",
    "run_target",
    "signing_key",
    "verify_chain",
    "verify_trail",
]
