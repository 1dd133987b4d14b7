"""Seed 003 section 13.3: a person activates or deactivates a kill switch."""

from __future__ import annotations

from typing import Any

from govflow import settings, store
from govflow.config import GovflowConfig, load_config
from govflow.flows import Refused
from govflow.serving import kill_switches


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
            summary = kill_switches.summary(switch)
            told = kill_switches.notice(switch, created=changed)
    except kill_switches.KillSwitchError as error:
        raise Refused(str(error)) from None
    print(told)
    return summary


__all__ = ["change_kill_switch"]
