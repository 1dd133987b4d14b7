"""Issue 13 item 7: the downstream consumers of models.yaml ``serving.consumers`` as callers
the serving gateway authenticates, and who feedback is recorded by.

Feedback can roll a deployment back (a critical bug, a security vulnerability or a
regulatory concern fails its rollout gate at once; complaints and overrides count towards
theirs), so the gateway takes it only from a consumer that shows its own token as
``Authorization: Bearer <token>``. A consumer's token is read from the environment, never
from config/:

1. ``GOVFLOW_GATEWAY_TOKEN_<CONSUMER>`` (e.g. ``GOVFLOW_GATEWAY_TOKEN_LOAN_PORTAL``), else
2. the file ``GOVFLOW_GATEWAY_TOKEN_<CONSUMER>_FILE`` names (a mounted secret), else
3. the password of the Airflow connection ``govflow_gateway_<consumer>`` as Airflow reads it
   from the environment, ``AIRFLOW_CONN_GOVFLOW_GATEWAY_<CONSUMER>`` (JSON or URI form).

A consumer without any cannot file feedback. The gateway reads them again on every refresh:
a process's environment is fixed when it starts, but a file can be rewritten, so a token
rotated or revoked in its file holds within a refresh, without a restart. Tokens are
compared in constant time against every consumer's, are at least ``MIN_TOKEN_LENGTH``
characters, are never shared between consumers, and never appear in a message, a log line
or ``/health``.

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
from pathlib import Path
from urllib.parse import unquote, urlsplit

from govflow.serving.limits import shown

TOKEN_VARIABLE = "GOVFLOW_GATEWAY_TOKEN_{consumer}"
TOKEN_FILE_VARIABLE = TOKEN_VARIABLE + "_FILE"
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
TWO_SOURCES = "consumer {consumer!r} has a token in both {variable} and {file}: give one"
UNREADABLE_TOKEN_FILE = (
    "the token file of consumer {consumer!r} in {source} cannot be read: {error}"
)
NO_TOKEN = (
    "no token for the consumers {consumers} (GOVFLOW_GATEWAY_TOKEN_<CONSUMER>, the file "
    "GOVFLOW_GATEWAY_TOKEN_<CONSUMER>_FILE names or AIRFLOW_CONN_GOVFLOW_GATEWAY_<CONSUMER>): "
    "their feedback is refused"
)


class ConsumerTokenError(ValueError):
    """A consumer token the gateway will not start with; the message names where it is,
    never what it is."""


class UnknownPersonError(ValueError):
    """Feedback naming someone who is neither its consumer nor a person of people.yaml."""


def token_variable(consumer: str) -> str:
    return TOKEN_VARIABLE.format(consumer=consumer.upper())


def token_file_variable(consumer: str) -> str:
    return TOKEN_FILE_VARIABLE.format(consumer=consumer.upper())


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


def _token_file(consumer: str, source: str, path: str) -> str | None:
    """The token in the file at ``path`` (surrounding whitespace, a final newline, dropped),
    None when it is empty: a token revoked by emptying its file."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        problem = f"{path}: {error.strerror or type(error).__name__}"
    except UnicodeDecodeError:  # its message would quote a byte of the token
        problem = f"{path}: not UTF-8 text"
    else:
        return token or None
    raise ConsumerTokenError(
        UNREADABLE_TOKEN_FILE.format(consumer=consumer, source=source, error=problem)
    )


def _consumer_token(consumer: str, environ: Mapping[str, str]) -> str | None:
    """``consumer``'s token from the first of its sources that is set, else None."""
    variable, file_variable = token_variable(consumer), token_file_variable(consumer)
    token, path = environ.get(variable), environ.get(file_variable)
    if token and path:
        raise ConsumerTokenError(
            TWO_SOURCES.format(consumer=consumer, variable=variable, file=file_variable)
        )
    source = variable
    if not token and path:
        source, token = file_variable, _token_file(consumer, file_variable, path)
        if token is None:
            return None
    if not token:
        source = connection_variable(consumer)
        connection = environ.get(source)
        if not connection:
            return None
        token = _connection_password(connection)
        if token is None:
            raise ConsumerTokenError(NO_PASSWORD.format(source=source, consumer=consumer))
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConsumerTokenError(
            SHORT_TOKEN.format(consumer=consumer, source=source, length=MIN_TOKEN_LENGTH)
        )
    return token


class ConsumerTokens:
    """The tokens of the consumers that have one; ``authenticate`` names the caller."""

    def __init__(self, consumers: Iterable[str], tokens: Mapping[str, str]) -> None:
        self.consumers = sorted(set(consumers))
        self._tokens = {name: tokens[name].encode() for name in self.consumers if name in tokens}

    def __repr__(self) -> str:
        return f"ConsumerTokens(with_token={self.with_token()})"

    @classmethod
    def from_environment(
        cls,
        consumers: Iterable[str],
        environ: Mapping[str, str] | None = None,
        *,
        problems: list[str] | None = None,
    ) -> ConsumerTokens:
        """The consumers' tokens; the first unusable one raises ``ConsumerTokenError``. Given
        ``problems``, a consumer whose token is unusable is left without one instead and the
        reason added to the list: a re-read must neither stop a running gateway nor keep a
        token its source no longer holds."""
        environ = os.environ if environ is None else environ
        names = sorted(set(consumers))

        def unusable(error: ConsumerTokenError) -> None:
            if problems is None:
                raise error
            problems.append(str(error))

        tokens: dict[str, str] = {}
        for consumer in names:
            try:
                token = _consumer_token(consumer, environ)
            except ConsumerTokenError as error:
                unusable(error)
                continue
            if token is not None:
                tokens[consumer] = token
        by_token: dict[str, list[str]] = {}
        for consumer, token in tokens.items():
            by_token.setdefault(token, []).append(consumer)
        for sharing in by_token.values():
            if len(sharing) > 1:
                unusable(ConsumerTokenError(SHARED_TOKEN.format(consumers=", ".join(sharing))))
                for consumer in sharing:
                    del tokens[consumer]
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
