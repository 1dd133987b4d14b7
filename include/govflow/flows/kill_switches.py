"""Seed 003 section 13.3: a person activates or deactivates a kill switch."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused
from govflow.incidents import lifecycle as incidents
from govflow.serving import kill_switches
from govflow.store.schema import Incident, KillSwitch


def change_kill_switch(
    *,
    action: str,
    scope: str,
    target: str,
    actor: str,
    reason: str = "",
    recovery_notes: str = "",
    context: dict[str, str] | None = None,
    config: GovflowConfig | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Check the actor's authority, then change the switch; print what they are told and
    return the switch. A refusal raises :class:`Refused` with the reason; nothing changes."""
    config = config or load_config(settings.config_dir())
    store.ensure_schema(db_url)
    try:
        with store.session_scope(db_url) as session:
            incident = _incident_contained(session, action, context)
            if incident is not None:
                context = {**(context or {}), "incident": incident.ref}
            switch, changed = kill_switches.request_change(
                session,
                config,
                action=action,  # type: ignore[arg-type]  # checked by request_change
                scope=scope,
                target=target,
                actor=actor,
                reason=reason,
                recovery_notes=recovery_notes,
                context=context,
            )
            if incident is not None and changed:
                _record_containment(session, incident, switch, actor)
            summary = kill_switches.summary(switch)
            told = kill_switches.notice(switch, created=changed)
    except (kill_switches.KillSwitchError, incidents.IncidentError) as error:
        raise Refused(str(error)) from None
    print(told)
    return summary


def _incident_contained(
    session: Session, action: str, context: dict[str, str] | None
) -> Incident | None:
    """The incident an activation's context names (``incident=INC-...``, in any case), which
    must exist: the switch becomes part of its containment."""
    ref = (context or {}).get("incident")
    if action != "activate" or not ref:
        return None
    return incidents.get_incident(session, ref)


def _record_containment(
    session: Session, incident: Incident, switch: KillSwitch, actor: str
) -> None:
    """The switch on the incident's timeline, as a containment (once per switch)."""
    incidents.add_event(
        session,
        incident,
        kind="containment",
        actor=actor,
        note=(
            f"{switch.scope} {switch.target!r} blocked by kill switch {switch.id}: {switch.reason}"
        ),
        payload={"decision": "kill_switch", "kill_switch_id": switch.id},
        event_key=incidents.episode_key(incident, f"containment:kill_switch:{switch.id}"),
    )


__all__ = ["change_kill_switch"]
