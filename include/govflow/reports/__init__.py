"""Reports rendered from govflow's records for the people who do not read findings tables."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govflow.audit import record_event


def keep_report(
    session: Session,
    *,
    path: Path,
    text: str,
    action: str,
    target: str,
    actor: str,
    payload: dict[str, Any] | None = None,
) -> str:
    """Write a report under the data directory and record its path and sha256 in the audit
    trail, once per content (drawing the same report again adds no event); the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    record_event(
        session,
        actor=actor,
        action=action,
        target=target,
        payload={"path": str(path), "sha256": digest, **(payload or {})},
        idempotency_key=f"{action}:{target}:{digest}",
    )
    return digest
