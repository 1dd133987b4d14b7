"""The serving gateway's prediction logs: rows buffered in memory, written as day partitions.

Monitoring reads ``<directory>/date=YYYY-MM-DD/*.parquet``
(``govflow.monitoring.prediction_logs``), so a file must never be seen half-written: each
flush writes a hidden temporary name and ``os.replace``-s it to ``part-
gw-<instance>-<seq>.parquet``, an atomic rename on one file system. A name already taken (a
restarted gateway with the same instance name) is skipped, never overwritten. Rows whose
write fails stay buffered for the next flush."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from govflow.config.inventory import ModelEntry
from govflow.monitoring.prediction_logs import (
    LABEL,
    LABEL_OBSERVED_AT,
    MODEL_ID,
    MODEL_VERSION,
    PARTITION_PREFIX,
    PREDICTION,
    PREDICTION_ID,
    SCORE,
    SCORED_AT,
    log_columns,
)

FILE_PREFIX = "part-gw-"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_FEATURE_TYPES = {"numeric": pa.float64(), "integer": pa.int64(), "categorical": pa.string()}

# The fallback log: what answered instead of the model, and why.
SERVED_BY = "served_by"
SAFEGUARD = "safeguard"
REASON = "reason"
ROUTE = "route"
REQUEST_ID = "request_id"
ENTITY_ID = "entity_id"


def prediction_log_schema(model: ModelEntry) -> pa.Schema:
    """The model's prediction-log columns (``log_columns``) with their parquet types."""
    types: dict[str, pa.DataType] = {
        PREDICTION_ID: pa.string(),
        MODEL_ID: pa.string(),
        MODEL_VERSION: pa.string(),
        SCORED_AT: TIMESTAMP,
        SCORE: pa.float64(),
        # A regressor's prediction and label are amounts; a classifier's are 0/1.
        PREDICTION: pa.float64() if model.is_regressor else pa.int8(),
        LABEL: pa.float64() if model.is_regressor else pa.int8(),
        LABEL_OBSERVED_AT: TIMESTAMP,
    }
    types.update({feature.name: _FEATURE_TYPES[feature.dtype] for feature in model.features})
    types.update({attribute.name: pa.string() for attribute in model.protected_attributes})
    features = [feature.name for feature in model.features]
    protected = [attribute.name for attribute in model.protected_attributes]
    return pa.schema([(column, types[column]) for column in log_columns(features, protected)])


def fallback_log_schema(model: ModelEntry) -> pa.Schema:
    """The fallback log: identity, route, who answered and why, the answer, the inputs."""
    identity = [
        (PREDICTION_ID, pa.string()),
        (MODEL_ID, pa.string()),
        (MODEL_VERSION, pa.string()),
        (ROUTE, pa.string()),
        (SCORED_AT, TIMESTAMP),
        (REQUEST_ID, pa.string()),
        (ENTITY_ID, pa.string()),
        (SERVED_BY, pa.string()),
        (SAFEGUARD, pa.string()),
        (REASON, pa.string()),
        (SCORE, pa.float64()),
        (PREDICTION, pa.int8()),
    ]
    inputs = [(feature.name, _FEATURE_TYPES[feature.dtype]) for feature in model.features]
    inputs += [(attribute.name, pa.string()) for attribute in model.protected_attributes]
    return pa.schema(identity + inputs)


class PartitionedLogWriter:
    """Buffers rows (dicts keyed by the schema's columns) and writes them, one file per day
    touched, under ``directory``. ``append`` is cheap and thread-safe; ``flush`` does the I/O."""

    def __init__(self, directory: Path, schema: pa.Schema, *, instance: str) -> None:
        self.directory = Path(directory)
        self.schema = schema
        self.instance = instance
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._seq = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    def append(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)

    def flush(self) -> list[Path]:
        """Write every buffered row; the files written, oldest day first."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return []
            by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                scored_at: datetime = row[SCORED_AT]
                by_day[scored_at.date()].append(row)
            written: list[Path] = []
            for day in sorted(by_day):
                try:
                    written.append(self._write_day(day, by_day[day]))
                except Exception:
                    with self._lock:
                        self._rows[:0] = [
                            row for d in sorted(by_day) if d >= day for row in by_day[d]
                        ]
                    raise
            return written

    def _write_day(self, day: date, rows: Sequence[dict[str, Any]]) -> Path:
        partition = self.directory / f"{PARTITION_PREFIX}{day.isoformat()}"
        partition.mkdir(parents=True, exist_ok=True)
        target = self._next_name(partition)
        temporary = partition / f".{target.name}.tmp"
        table = pa.Table.from_pylist(list(rows), schema=self.schema)
        pq.write_table(table, temporary)
        os.replace(temporary, target)
        return target

    def _next_name(self, partition: Path) -> Path:
        while True:
            self._seq += 1
            target = partition / f"{FILE_PREFIX}{self.instance}-{self._seq:06d}.parquet"
            if not target.exists():
                return target
