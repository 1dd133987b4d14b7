"""Issue 13 item 7: the downstream consumers of models.yaml ``serving.consumers`` as callers
the serving gateway authenticates, and who feedback is recorded by.

Feedback can roll a deployment back (a critical bug, a security vulnerability or a
regulatory concern fails its rollout gate at once; complaints and overrides count towards
theirs), so the gateway takes it only from a consumer that shows its own token as
``Authorization: Bearer <token>``. A consumer's token is read once, at start, from the
environment, never from config/:

1. ``GOVFLOW_GATEWAY_TOKEN_<CONSUMER>`` (e.g. ``GOVFLOW_GATEWAY_TOKEN_LOAN_PORTAL``), else
2. the password of the Airflow connection ``govflow_gateway_<consumer>`` as Airflow reads it
   from the environment, ``AIRFLOW_CONN_GOVFLOW_GATEWAY_<CONSUMER>`` (JSON or URI form).

A consumer without either cannot file feedback. Tokens are compared in constant time
against every consumer's, are at least ``MIN_TOKEN_LENGTH`` characters, are never shared
between consumers, and never appear in a message, a log line or ``/health``.

Who feedback is recorded by (``recorded_by``, the audit event's actor): the authenticated
consumer, unless the body names a person of people.yaml on whose behalf the consumer
files it; then that person, with the consumer kept in the audit event's payload. Any other
name is refused: free text never becomes an actor.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from govflow.serving.limits import shown

TOKEN_VARIABLE = "GOVFLOW_GATEWAY_TOKEN_{consumer}"
CONNECTION_ID = "govflow_gateway_{consumer}"
MIN_TOKEN_LENGTH = 16

NOT_AUTHENTICATED = "feedback needs a consumer's token: Authorization: Bearer <token>"
NOT_A_CONSUMER = "consumer {consumer!r} does not call {model_id!r} and cannot file feedback on it"
UNKNOWN_PERSON = (
    "recorded_by {person} is neither the consumer {consumer!r} nor a person of people.yaml"
)
SHORT_TOKEN = "the token of consumer {consumer!r} in {source} is shorter than {length} characters"
SHARED_TOKEN = "consumers {consumers} have the same token; each needs its own"
NO_PASSWORD = "the Airflow connection in {source} has no password to serve as {consumer!r}'s token"
NO_TOKEN = (
    "no token for the consumers {consumers} (GOVFLOW_GATEWAY_TOKEN_<CONSUMER> or "
    "AIRFLOW_CONN_GOVFLOW_GATEWAY_<CONSUMER>): their feedback is refused"
)


class ConsumerTokenError(ValueError):
    """A consumer token the gateway will not start with; the message names where it is,
    never what it is."""


class UnknownPersonError(ValueError):
    """Feedback naming someone who is neither its consumer nor a person of people.yaml."""


def token_variable(consumer: str) -> str:
    return TOKEN_VARIABLE.format(consumer=consumer.upper())


def connection_variable(consumer: str) -> str:
    return "AIRFLOW_CONN_" + CONNECTION_ID.format(consumer=consumer).upper()


def _connection_password(value: str) -> str | None:
    """The password of an Airflow connection given as JSON or as a URI."""
    if value.lstrip().startswith("{"):
        try:
            fields = json.loads(value)
        except json.JSONDecodeError:
            return None
        password = fields.get("password") if isinstance(fields, dict) else None
        return password if isinstance(password, str) and password else None
    try:
        password = urlsplit(value).password
    except ValueError:
        return None
    return unquote(password) if password else None


class ConsumerTokens:
    """The tokens of the consumers that have one; ``authenticate`` names the caller."""

    def __init__(self, consumers: Iterable[str], tokens: Mapping[str, str]) -> None:
        self.consumers = sorted(set(consumers))
        self._tokens = {name: tokens[name].encode() for name in self.consumers if name in tokens}

    def __repr__(self) -> str:
        return f"ConsumerTokens(with_token={self.with_token()})"

    @classmethod
    def from_environment(
        cls, consumers: Iterable[str], environ: Mapping[str, str] | None = None
    ) -> ConsumerTokens:
        environ = os.environ if environ is None else environ
        names = sorted(set(consumers))
        tokens: dict[str, str] = {}
        for consumer in names:
            source = token_variable(consumer)
            token = environ.get(source)
            if not token:
                source = connection_variable(consumer)
                connection = environ.get(source)
                if not connection:
                    continue
                token = _connection_password(connection)
                if token is None:
                    raise ConsumerTokenError(NO_PASSWORD.format(source=source, consumer=consumer))
            if len(token) < MIN_TOKEN_LENGTH:
                raise ConsumerTokenError(
                    SHORT_TOKEN.format(consumer=consumer, source=source, length=MIN_TOKEN_LENGTH)
                )
            tokens[consumer] = token
        by_token: dict[str, list[str]] = {}
        for consumer, token in tokens.items():
            by_token.setdefault(token, []).append(consumer)
        for sharing in by_token.values():
            if len(sharing) > 1:
                raise ConsumerTokenError(SHARED_TOKEN.format(consumers=", ".join(sharing)))
        return cls(names, tokens)

    def with_token(self) -> list[str]:
        return sorted(self._tokens)

    def without_token(self) -> list[str]:
        return [name for name in self.consumers if name not in self._tokens]

    def authenticate(self, authorization: str | None) -> str | None:
        """The consumer whose token ``authorization`` ("Bearer <token>") carries, else None.
        Every token is compared, in constant time, whichever matches."""
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        offered = credentials.encode()
        found = None
        for consumer, token in self._tokens.items():
            if hmac.compare_digest(offered, token):
                found = consumer
        return found


def feedback_author(consumer: str, recorded_by: str | None, people: Iterable[str]) -> str:
    """Who feedback filed by ``consumer`` is recorded by: the consumer itself, or the person
    of people.yaml the body names."""
    if recorded_by is None or recorded_by == consumer:
        return consumer
    if recorded_by in set(people):
        return recorded_by
    raise UnknownPersonError(UNKNOWN_PERSON.format(person=shown(recorded_by), consumer=consumer))
