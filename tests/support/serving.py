"""The serving gateway for tests: `govflow serve` as a real process, demo applicants as request
instances, a private copy of the seeded demo to serve, and scripted model versions.

- ``running_gateway(env)`` starts ``govflow serve`` on 127.0.0.1 (a free port) in its own
  process group with the environment ``env`` (GOVFLOW_DB_URL, GOVFLOW_DATA_DIR, ...), waits
  for ``/health`` and stops it by pid within a bounded time (SIGTERM, so the gateway writes
  its last counters and logs, then SIGKILL).
- ``applicant_instances`` draws request instances with ``govflow.demo``; the traffic
  generator (``python -m tests.support.traffic``) uses it from another process.
- ``serving_copy`` gives a private store and data directory with the seeded demo's models,
  so a gateway can write prediction logs without touching the session's demo.
- ``ScriptedModel`` and ``register_scripted_version`` add a version whose scores (or
  failures) a test chooses, routed like any other.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd

from govflow import registry, store
from govflow.demo.applicants import (
    FEATURE_COLUMNS,
    GENDER_SHARES,
    GENDERS,
    age_band_counts,
    generate_applicants,
)
from govflow.demo.scenarios import shift_applicants
from tests.support.airflow_stack import free_port
from tests.support.demo_store import seeded_store_copy
from tests.support.deployment_demo import approve_version

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.1
SCRIPTED_FAILURE = "scripted failure for {value!r}"
RAISE = "raise"


@dataclass
class RunningGateway:
    """A started ``govflow serve``: its URL, pid and log file."""

    base_url: str
    pid: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def health(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.base_url}/health", timeout=5)
        answer.raise_for_status()
        return answer.json()

    def predict(
        self,
        model_id: str,
        instances: Sequence[Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.base_url}/v1/models/{model_id}/predict",
            json={"instances": list(instances), "context": dict(context or {})},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()


def govflow_command() -> str:
    """The ``govflow`` script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("govflow")
    return str(beside) if beside.exists() else "govflow"


@contextmanager
def running_gateway(
    env: Mapping[str, str],
    port: int | None = None,
    *,
    models: Sequence[str] | None = None,
    refresh_seconds: float | None = None,
    flush_seconds: float | None = None,
    instance: str | None = None,
    log_path: Path | None = None,
) -> Iterator[RunningGateway]:
    """``govflow serve`` on 127.0.0.1, ready to answer, stopped by pid when the block ends."""
    port = port or free_port()
    command = [govflow_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    for option, value in (
        ("--models", ",".join(models) if models else None),
        ("--refresh-seconds", refresh_seconds),
        ("--flush-seconds", flush_seconds),
        ("--instance", instance),
    ):
        if value is not None:
            command += [option, str(value)]
    log_path = log_path or Path(env.get("GOVFLOW_DATA_DIR", ".")) / f"gateway-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gateway = RunningGateway(f"http://127.0.0.1:{port}", process.pid, process, log_path)
    try:
        _wait_until_healthy(gateway)
        yield gateway
    finally:
        stop_process_group(process)


def _wait_until_healthy(gateway: RunningGateway) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(
                f"govflow serve exited with {gateway.process.returncode}\n{gateway.log_tail()}"
            )
        try:
            if httpx.get(f"{gateway.base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(
        f"govflow serve not healthy after {STARTUP_TIMEOUT_S} s\n{gateway.log_tail()}"
    )


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process's own group, SIGKILL if it is still there after ``timeout``."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)


# --- request instances -----------------------------------------------------------------------


def applicant_frame(
    rng: np.random.Generator, rows: int, *, population: str = "stable"
) -> pd.DataFrame:
    """``rows`` demo applicants with gender drawn at the demo's shares, shuffled; the
    ``fairness_drift`` population is shifted as on the demo's fairness-drift days."""
    applicants = generate_applicants(rng, age_band_counts(rows))
    applicants["gender"] = np.asarray(GENDERS, dtype=object)[
        rng.choice(len(GENDERS), size=len(applicants), p=GENDER_SHARES)
    ]
    if population != "stable":
        applicants = shift_applicants(applicants, population)  # type: ignore[arg-type]
    return applicants.sample(frac=1.0, random_state=rng.integers(2**31)).reset_index(drop=True)


def applicant_instances(
    rng: np.random.Generator,
    rows: int,
    *,
    population: str = "stable",
    entity_prefix: str = "customer",
    **fixed: Any,
) -> list[dict[str, Any]]:
    """Request instances (``id``, ``entity_id``, ``features``, ``attributes``) of demo
    applicants; ``fixed`` sets a feature on every instance (e.g. customer_segment="standard")."""
    frame = applicant_frame(rng, rows, population=population)
    instances = []
    for index, row in enumerate(frame.to_dict("records")):
        features = {name: _plain(row[name]) for name in FEATURE_COLUMNS}
        features.update(fixed)
        instances.append(
            {
                "id": f"request-{index}",
                "entity_id": f"{entity_prefix}-{index}",
                "features": features,
                "attributes": {"gender": row["gender"], "age_band": row["age_band"]},
            }
        )
    return instances


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- a private demo to serve ------------------------------------------------------------------


def serving_copy(seeded_demo: tuple[str, str], target: Path) -> tuple[Path, str]:
    """A data directory with the seeded demo's model artefacts and manifest, and a private
    copy of the store as seeded: (data_dir, db_url)."""
    source = Path(seeded_demo[0])
    target.mkdir(parents=True, exist_ok=True)
    for folder in ("models", "demo"):
        shutil.copytree(source / folder, target / folder)
    return target, seeded_store_copy(seeded_demo, target / "govflow.db")


# --- scripted versions ------------------------------------------------------------------------


class ScriptedModel:
    """A model artefact whose score is chosen by the value of one feature: ``scores[value]``
    (``default`` otherwise); a value scripted as ``RAISE`` makes the call fail. Scores may be
    anything, NaN and strings included, so tests can feed the safeguards invalid outputs."""

    def __init__(self, feature: str, scores: Mapping[str, Any], default: float = 0.6) -> None:
        self.feature = feature
        self.scores = dict(scores)
        self.default = default

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        column = self.predict(frame)
        return np.column_stack([np.zeros(len(column), dtype=object), column])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The scripted values themselves: a regressor's answers (an amount each)."""
        chosen = []
        for value in frame[self.feature]:
            score = self.scores.get(value, self.default)
            if isinstance(score, str) and score == RAISE:
                raise RuntimeError(SCRIPTED_FAILURE.format(value=value))
            chosen.append(score)
        column = np.empty(len(chosen), dtype=object)
        column[:] = chosen
        return column


def register_scripted_version(
    db_url: str,
    data_dir: Path,
    model_id: str,
    version: str,
    artefact: Any,
    *,
    decision_threshold: float = 0.5,
) -> str:
    """Save ``artefact`` under the data directory and register it as an approved version of
    ``model_id`` (requested by the owner, approved by the ML lead); its sha256."""
    relative = Path("models") / model_id / version / "model.pkl"
    (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(artefact, data_dir / relative)
    sha256 = hashlib.sha256((data_dir / relative).read_bytes()).hexdigest()
    with store.session_scope(db_url) as session:
        owner = registry.get_version(session, model_id, "1.0.0").model.owner
        registry.register_version(
            session,
            model_id=model_id,
            version=version,
            artifact_uri=relative.as_posix(),
            artifact_sha256=sha256,
            training_snapshot_id=f"{model_id}-scripted",
            feature_version="credit-applicants-v1",
            validation_uri=None,
            validation_metrics={},
            decision_threshold=decision_threshold,
            actor=owner,
        )
        approve_version(
            session, model_id, version, justification="scripted version for a serving test"
        )
    return sha256
