"""Retention and legal holds as the DAGs run them (govflow_retention, govflow_legal_hold)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from typing import Any

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused, form_moment, known_person
from govflow.retention.holds import (
    ALREADY_HELD,
    RELEASED_BEFORE,
    HoldError,
    add_hold,
    held_subject,
    range_end,
    release_hold,
)
from govflow.retention.purge import run_retention
from govflow.store.types import utcnow

AIRFLOW_METADATA = "airflow_metadata"
# Releasing a hold lets the purge take the evidence it kept: someone must answer for it.
HOLDS = "put or release a legal hold"
NOT_HOLD_AUTHORITY = (
    "{actor!r} may not {action} a legal hold: policy.yaml legal_holds.{key} allows the roles "
    "{roles}"
)


def check_hold_authority(config: GovflowConfig, actor: str | None, action: str) -> None:
    """Refuse (:class:`Refused`, one line) ``actor`` unless people.yaml names them and they
    hold a role policy.yaml ``legal_holds`` lets ``add`` or ``release`` a hold."""
    person = known_person(config, actor, may=HOLDS)
    key = "added_by" if action == "add" else "released_by"
    allowed = getattr(config.policy.legal_holds, key)
    if not set(person.roles) & set(allowed):
        roles = ", ".join(allowed)
        raise Refused(NOT_HOLD_AUTHORITY.format(actor=actor, action=action, key=key, roles=roles))


def purge_expired(
    *, dry_run: bool, now: datetime | None = None, config: GovflowConfig | None = None
) -> list[dict[str, Any]]:
    """Purge (or list) every data type past its period; print one line per type."""
    config = config or load_config(settings.config_dir())
    results = run_retention(config, data_dir=settings.data_dir(), now=now, dry_run=dry_run)
    for result in results:
        print(result.line())
    return [result.to_dict() for result in results]


def airflow_clean_before(config: GovflowConfig | None = None, now: datetime | None = None) -> str:
    """The timestamp before which ``airflow db clean`` removes Airflow's own metadata."""
    config = config or load_config(settings.config_dir())
    cutoff = config.policy.retention[AIRFLOW_METADATA].cutoff(now or utcnow())
    if cutoff is None:
        raise Refused("policy.yaml keeps airflow_metadata indefinitely: nothing to clean")
    return cutoff.isoformat()


def clean_airflow_metadata(*, dry_run: bool, config: GovflowConfig | None = None) -> dict[str, Any]:
    """Run ``airflow db clean`` (Airflow's CLI, in this interpreter) on Airflow's metadata
    older than ``retention.airflow_metadata``; a failure fails the task with its output."""
    before = airflow_clean_before(config)
    command = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp"]
    command += [before, "--skip-archive", "--yes"] + (["--dry-run"] if dry_run else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    print(done.stdout[-4000:], done.stderr[-4000:])
    if done.returncode != 0:
        raise RuntimeError(f"airflow db clean exited {done.returncode}: {done.stderr[-300:]}")
    return {"clean_before": before, "dry_run": dry_run}


def apply_hold_request(params: dict[str, Any], *, actor: str | None) -> dict[str, Any]:
    """The govflow_legal_hold form: add a hold on a model, incident, deployment or range, or
    release one, as the person who triggered the run. A retry of the same request (the task
    retried or cleared after its commit) finds it done and changes nothing."""
    check_hold_authority(load_config(settings.config_dir()), actor, params["action"])
    store.ensure_schema()
    try:
        with store.session_scope() as session:
            if params["action"] == "release":
                hold, changed = release_hold(
                    session, int(params["hold_id"]), actor=str(actor), reason=params["reason"]
                )
                done_before = RELEASED_BEFORE
            else:
                hold, changed = add_hold(
                    session,
                    scope=params["scope"],
                    target=params.get("target") or None,
                    starts_at=_moment(params, "from"),
                    ends_at=_range_end(params),
                    reason=params["reason"],
                    actor=str(actor),
                )
                done_before = ALREADY_HELD
            held = held_subject(hold)
            if changed:
                print(f"legal hold {hold.id}: {params['action']} ({held})")
            else:
                print(done_before.format(hold=hold, held=held))
            return {"hold_id": hold.id, "action": params["action"]}
    except HoldError as error:
        raise Refused(str(error)) from None


def _range_end(params: dict[str, Any]) -> datetime | None:
    """The form's "to", read as ``govflow hold add --to`` reads it: a day is held whole."""
    moment = _moment(params, "to")
    return range_end(moment, params["to"]) if moment is not None else None


def _moment(params: dict[str, Any], field: str) -> datetime | None:
    """The form's day (or ISO time) ``field``, UTC unless it names a zone. A value that is no
    date fails the task once, naming the field: a retry would read the same form."""
    value = params.get(field)
    if not value:
        return None
    moment = form_moment(value, field=f"param {field}")
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
