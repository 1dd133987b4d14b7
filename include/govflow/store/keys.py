"""Natural keys in the store's String(255) columns: idempotency keys, event keys, run keys.

Keys are built from names govflow does not bound, Airflow run ids among them (a run id typed
by the person who triggers a DAG may be 250 characters). Postgres refuses a value longer
than its column, so a key that fits is kept as it is and a longer one is cut and ends with
its SHA-256: still unique, and the same on every try. What writes a key and what looks it up
bound it alike, with this one rule.
"""

from __future__ import annotations

import hashlib

KEY_MAX_CHARS = 255


def bounded_key(key: str, *, limit: int = KEY_MAX_CHARS) -> str:
    """``key`` when it has at most ``limit`` characters, else its head and ``~<sha256>``."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: limit - len(digest) - 1]}~{digest}"
