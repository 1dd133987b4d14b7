"""The seeded demo's store as the seed left it.

The session's `seeded_demo` store gains monitoring records as tests run; a test that counts
records (incidents a run opens, records a quarterly review weighs) works on a private copy
of the snapshot taken right after seeding, so the order tests run in cannot change it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

SEEDED_SNAPSHOT = "govflow-as-seeded.db"


def _backup(source: Path, target: Path) -> None:
    # The backup API copies what the WAL holds too, which copying the file would miss.
    with sqlite3.connect(source) as reader, sqlite3.connect(target) as writer:
        reader.backup(writer)


def snapshot_seeded_store(data_dir: Path) -> None:
    _backup(data_dir / "govflow.db", data_dir / SEEDED_SNAPSHOT)


def seeded_store_copy(seeded_demo: tuple[str, str], target: Path) -> str:
    """A private copy of the seeded store as the seed left it; returns its URL."""
    _backup(Path(seeded_demo[0]) / SEEDED_SNAPSHOT, target)
    return f"sqlite:///{target}"


def private_demo_copy(seeded_demo: tuple[str, str], data_dir: Path) -> str:
    """The whole seeded demo (logs, models, baselines) copied into ``data_dir``, with its store
    as the seed left it, for a test that runs DAGs writing anywhere in it; returns its URL.
    Copying the session's seed takes a second where seeding again takes a minute. The audit
    checkpoints stay behind: they cover events the session's store gained since the seed."""
    shutil.copytree(
        seeded_demo[0],
        data_dir,
        ignore=shutil.ignore_patterns("govflow.db*", SEEDED_SNAPSHOT, "audit-checkpoints.*"),
    )
    return seeded_store_copy(seeded_demo, data_dir / "govflow.db")
