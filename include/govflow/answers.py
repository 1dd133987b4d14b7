"""A person's answer to a required action (Airflow's human-in-the-loop request), decoded once.

Airflow hands the answer over as a dict, the HITL operator's XCom:
``{"chosen_options", "params_input", "responded_by_user": {"id", "name"}, "responded_at"}``,
with ``responded_by_user`` empty when the response timeout wrote the defaults. Every
task and step that reads an answer builds an :class:`Answer` with :meth:`Answer.from_xcom`
and reads its fields, so the shape of Airflow's dict is known here only.

Airflow takes an answer over its REST API without checking the form's fields against their
types (only the options), and its operator then fails the task on resume. What a person
sent is therefore checked here first, by :func:`answer_problems`, so that a malformed
answer is asked again with its problems instead of failing the step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NO_OPTION = "no option was chosen"
OPTIONS_NOT_A_LIST = "chosen_options must be a list of options, not {actual}"
ONE_OPTION = "choose one option, not {count}"
NOT_AN_OPTION = "{option!r} is not one of the options ({options})"
UNKNOWN_FIELD = "the form has no field {name!r}"
MISSING_FIELD = "field {name!r} is missing"
WRONG_TYPE = "field {name!r} must be {expected}, not {actual}"
BLANK_FIELD = "field {name!r} is blank"
# JSON Schema's types, named as a sentence names them.
TYPE_NAMES = {
    "null": "null",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
}


def json_type(value: Any) -> str:
    """The JSON Schema type of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def answer_problems(
    chosen_options: Sequence[str],
    params_input: Mapping[str, Any],
    *,
    options: Sequence[str],
    multiple: bool,
    fields: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Why an answer does not fit its request (empty when it does): the options chosen, and
    the form's ``fields`` (name -> JSON Schema) against ``params_input``. An empty
    ``params_input`` keeps every field's default, as Airflow's form does. A text field with
    a ``minLength`` must be filled: JSON Schema counts spaces, but a person who typed only
    spaces has written nothing, so that is blank too."""
    problems = []
    if not isinstance(chosen_options, list | tuple):
        # A string would be read letter by letter ("'O' is not one of the options").
        actual = TYPE_NAMES[json_type(chosen_options)]
        problems.append(OPTIONS_NOT_A_LIST.format(actual=actual))
        chosen_options = []
    elif not chosen_options:
        problems.append(NO_OPTION)
    elif len(chosen_options) > 1 and not multiple:
        problems.append(ONE_OPTION.format(count=len(chosen_options)))
    problems += [
        NOT_AN_OPTION.format(option=option, options=", ".join(options))
        for option in chosen_options
        if option not in options
    ]
    if not params_input:
        return problems
    problems += [UNKNOWN_FIELD.format(name=name) for name in params_input if name not in fields]
    for name, schema in fields.items():
        if name not in params_input:
            problems.append(MISSING_FIELD.format(name=name))
            continue
        if _blank(params_input[name], schema):
            problems.append(BLANK_FIELD.format(name=name))
        allowed = schema.get("type")
        if allowed is None:
            continue
        allowed = [allowed] if isinstance(allowed, str) else list(allowed)
        actual = json_type(params_input[name])
        if actual not in allowed and not (actual == "integer" and "number" in allowed):
            problems.append(
                WRONG_TYPE.format(
                    name=name,
                    expected=" or ".join(TYPE_NAMES.get(t, t) for t in allowed),
                    actual=TYPE_NAMES[actual],
                )
            )
    return problems


def _blank(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether a text field that must be filled (``minLength``) holds only spaces."""
    return isinstance(value, str) and bool(schema.get("minLength")) and not value.strip()


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
