"""A person's answer to a required action (Airflow's human-in-the-loop request), decoded once.

Airflow hands the answer over as a dict, the HITL operator's XCom:
``{"chosen_options", "params_input", "responded_by_user": {"id", "name"}, "responded_at"}``,
with ``responded_by_user`` empty when the response timeout wrote the defaults. Every
task and step that reads an answer builds an :class:`Answer` with :meth:`Answer.from_xcom`
and reads its fields, so the shape of Airflow's dict is known here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What a person answered an HITL request (the operator's XCom), or its timeout default."""

    chosen_options: tuple[str, ...]
    params: dict[str, Any]
    responded_by: str | None
    responded_at: datetime | None

    @classmethod
    def from_xcom(cls, value: dict[str, Any] | None) -> Answer:
        """Decode the XCom (``responded_at`` a datetime or its ISO text); None, as a skipped
        request leaves it, is an answer from nobody that chose nothing."""
        value = value or {}
        user = value.get("responded_by_user") or None
        responded_at = value.get("responded_at")
        if isinstance(responded_at, str):
            responded_at = datetime.fromisoformat(responded_at)
        return cls(
            chosen_options=tuple(value.get("chosen_options") or ()),
            params=dict(value.get("params_input") or {}),
            responded_by=user["id"] if user else None,
            responded_at=responded_at,
        )

    def chose(self, option: str) -> bool:
        """Whether ``option`` is exactly what was chosen."""
        return self.chosen_options == (option,)

    def text(self, name: str) -> str:
        """A form field's answer as stripped text ("" when not given)."""
        value = self.params.get(name)
        return "" if value is None else str(value).strip()

    def to_xcom(self) -> dict[str, Any]:
        """The XCom shape again, JSON-able (the time as ISO text)."""
        return {
            "chosen_options": list(self.chosen_options),
            "params_input": dict(self.params),
            "responded_by_user": None
            if self.responded_by is None
            else {"id": self.responded_by, "name": self.responded_by},
            "responded_at": self.responded_at.isoformat() if self.responded_at else None,
        }
