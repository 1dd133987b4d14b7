"""Signed checkpoints of the audit chain, kept outside the store (issue 13 item 6; seed 003
"immutable audit trail").

A hash chain shows an event edited, deleted, inserted or moved, but not the removal of its
newest events: what is left is still a valid chain, down to an empty one. AWS CloudTrail's
signed digest files and Certificate Transparency's signed tree heads close that gap, and so
does this module: after every committed batch of audit events, a checkpoint (number of
events, hash of the newest, time) signed with HMAC-SHA256 is appended to a file outside the
store, with a key the store does not hold. Verification then fails when events a checkpoint
covers are gone, or differ from the ones it signed.

- The file (``settings.audit_checkpoints``) holds one JSON object a line and is only ever
  appended to. Writers take an exclusive ``flock`` on it and append only a checkpoint that
  covers more events than the last one, so the counts in the file only grow and the last
  line is the latest checkpoint.
- The key is ``$GOVFLOW_AUDIT_KEY``; without it, a random key generated once into
  ``<checkpoints>.key`` beside the file, readable by its owner only (mode 0600), so that the
  demo needs no setup. That file keeps out whoever holds only the database's credentials;
  where people who can reach the data directory are not trusted either, give the key in the
  environment and keep the checkpoints on storage the database's users cannot write.
- What checkpoints cannot show: the removal of the file's own newest lines by someone who
  can write to it. The daily verification DAG logs each checkpoint, a second copy elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from govflow import settings

UNREADABLE = "the last line of {path} is not a checkpoint"
UNREADABLE_LINE = "line {number} of {path} is not a checkpoint"
KEY_FILE_EXPOSED = "the audit key file {path} can be read by other users: chmod 600 it"
NO_KEY = "{path} holds checkpoints but there is no key to check them: set {env} or restore {key}"
BAD_SIGNATURE = (
    "the checkpoint of {at} in {path} has a bad signature: forged, or signed with another key"
)
EVENTS_MISSING = "events {first}-{last} covered by the checkpoint of {at} are missing"
EVENT_MISSING = "event {first} covered by the checkpoint of {at} is missing"
HEAD_DIFFERS = (
    "event {seq} is not the one the checkpoint of {at} signed: the chain up to it was rewritten"
)

_READ_BLOCK = 4096


class CheckpointError(RuntimeError):
    """The checkpoints cannot be read or checked (never a statement about the chain)."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain had ``events`` events, the newest hashing to ``head_hash``, at ``signed_at``."""

    events: int
    head_hash: str
    signed_at: str
    signature: str

    def signs_correctly(self, key: bytes) -> bool:
        expected = _signature(key, self.events, self.head_hash, self.signed_at)
        return hmac.compare_digest(expected, self.signature)


def _signature(key: bytes, events: int, head_hash: str, signed_at: str) -> str:
    body = json.dumps(
        {"events": events, "head_hash": head_hash, "signed_at": signed_at},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def key_path(checkpoints: Path) -> Path:
    return checkpoints.with_suffix(".key")


def signing_key(checkpoints: Path, *, create: bool) -> bytes | None:
    """``$GOVFLOW_AUDIT_KEY``, else the key file beside ``checkpoints``; with ``create``, a
    key is generated into that file the first time. Never printed, never logged.

    A key file missing beside existing checkpoints is an error, never replaced by a new
    key: the next checkpoint would otherwise vouch for whatever the chain holds by then."""
    from_environment = settings.audit_key()
    if from_environment is not None:
        return from_environment.encode()
    path = key_path(checkpoints)
    if not path.exists():
        if checkpoints.exists() and checkpoints.stat().st_size > 0:
            raise _no_key(checkpoints)
        if not create:
            return None
        _generate_key_file(path)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise CheckpointError(KEY_FILE_EXPOSED.format(path=path))
    return path.read_bytes().strip()


def _no_key(checkpoints: Path) -> CheckpointError:
    return CheckpointError(
        NO_KEY.format(path=checkpoints, env=settings.AUDIT_KEY_ENV, key=key_path(checkpoints))
    )


def _generate_key_file(path: Path) -> None:
    # Written in full under a private name, then linked into place: a concurrent writer
    # either wins the link or reads a whole key, never half of one.
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, secrets.token_hex(32).encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def _last_line(descriptor: int) -> bytes | None:
    end = os.lseek(descriptor, 0, os.SEEK_END)
    tail = b""
    position = end
    while position > 0:
        step = min(_READ_BLOCK, position)
        position -= step
        os.lseek(descriptor, position, os.SEEK_SET)
        tail = os.read(descriptor, step) + tail
        stripped = tail.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    stripped = tail.rstrip(b"\n")
    return stripped or None


def _parse(line: bytes | None, path: Path) -> Checkpoint | None:
    if line is None:
        return None
    try:
        fields = json.loads(line)
        return Checkpoint(
            events=int(fields["events"]),
            head_hash=str(fields["head_hash"]),
            signed_at=str(fields["signed_at"]),
            signature=str(fields["signature"]),
        )
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(UNREADABLE.format(path=path)) from None


def latest_checkpoint(checkpoints: Path) -> Checkpoint | None:
    """The newest checkpoint in the file, or None if there is none yet."""
    try:
        descriptor = os.open(checkpoints, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _parse(_last_line(descriptor), checkpoints)
    finally:
        os.close(descriptor)


def all_checkpoints(checkpoints: Path) -> Iterator[Checkpoint]:
    """Every checkpoint in the file, oldest first (none if there is no file yet)."""
    try:
        lines = checkpoints.open("rb")
    except FileNotFoundError:
        return
    with lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                checkpoint = _parse(line, checkpoints)
            except CheckpointError:
                raise CheckpointError(
                    UNREADABLE_LINE.format(number=number, path=checkpoints)
                ) from None
            assert checkpoint is not None
            yield checkpoint


def advance_checkpoint(
    checkpoints: Path, *, events: int, head_hash: str, signed_at: str, key: bytes
) -> Checkpoint | None:
    """Append a signed checkpoint of a chain of ``events`` events ending in ``head_hash``,
    unless the file's latest checkpoint already covers as many; returns the one written."""
    checkpoints.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(checkpoints, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        latest = _parse(_last_line(descriptor), checkpoints)
        if latest is not None and latest.events >= events:
            return None
        checkpoint = Checkpoint(
            events, head_hash, signed_at, _signature(key, events, head_hash, signed_at)
        )
        os.write(descriptor, json.dumps(asdict(checkpoint), sort_keys=True).encode() + b"\n")
        os.fsync(descriptor)
        return checkpoint
    finally:
        os.close(descriptor)


def checkpoint_problem(
    checkpoint: Checkpoint,
    checkpoints: Path,
    key: bytes | None,
    *,
    events: int,
    hash_at_checkpoint: str | None,
) -> str | None:
    """What is wrong with an intact chain of ``events`` events, measured against the
    checkpoint (``hash_at_checkpoint``: the chain's hash at the checkpoint's count)."""
    if key is None:
        raise _no_key(checkpoints)
    at = checkpoint.signed_at
    if not checkpoint.signs_correctly(key):
        return BAD_SIGNATURE.format(at=at, path=checkpoints)
    if events < checkpoint.events:
        template = EVENT_MISSING if events + 1 == checkpoint.events else EVENTS_MISSING
        return template.format(first=events + 1, last=checkpoint.events, at=at)
    if checkpoint.events > 0 and hash_at_checkpoint != checkpoint.head_hash:
        return HEAD_DIFFERS.format(seq=checkpoint.events, at=at)
    return None
