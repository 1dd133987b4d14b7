"""Seed 003 document 13.2 prediction safeguards: output validation and clipping per model type,
a last-known-good cache with expiry, and a circuit breaker on repeated failures.

Pure and self-contained: the serving gateway composes them, tests drive them with an
injected clock. Which settings apply to a model is ``serving`` in models.yaml
(``govflow.config.inventory.Serving``).

- ``check_output`` judges one model output: a probability must lie in [0, 1], a
  non-negative amount in [0, max]; a number outside the range is clipped into it, and NaN,
  infinity or anything that is not a number is blocked. Every outcome but ``ok`` carries
  its reason.
- ``LastKnownGoodCache`` remembers the last good answer per (model, entity) for
  ``ttl_seconds``, so a stopped model can still answer a customer it has answered lately;
  it holds at most ``max_entries`` answers and ``max_bytes`` bytes (``answer_bytes``), so
  long customer ids cannot grow it past its budget (issue 13 item 7).
- ``CircuitBreaker`` opens after ``failures`` failures within ``window_seconds``, refuses
  calls for ``open_seconds``, then lets one trial call through (half-open): a success
  closes it, a failure opens it again.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Literal, get_args

OutputKind = Literal["probability", "non_negative"]
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
Safeguard = Literal["ok", "clipped", "blocked"]
CircuitState = Literal["closed", "open", "half_open"]

NOT_A_NUMBER = "the model returned {value!r}, which is not a number"
NOT_FINITE = "the model returned {value}, which is not a finite number"
CLIPPED_BELOW = "the model returned {value}, below {low}; clipped to {low}"
CLIPPED_ABOVE = "the model returned {value}, above {high}; clipped to {high}"
UNKNOWN_OUTPUT_KIND = "unknown output kind {kind!r}; kinds are {kinds}"
MAXIMUM_REQUIRED = "a non_negative output needs a maximum above 0"
BAD_TTL = "ttl_seconds must be 0 or more, got {ttl}"
BAD_MAX_ENTRIES = "max_entries must be 1 or more, got {entries}"
BAD_MAX_BYTES = "max_bytes must be 1 or more, got {limit}"
BAD_BREAKER = "a circuit breaker needs failures >= 1 and positive window and open seconds"

DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# What one remembered answer holds besides its strings' characters: the key tuple, the
# answer, the ordered dict's slot and the entity id's string header (about 330 bytes
# measured on CPython 3.11), rounded up so that the count errs on the large side.
ANSWER_OVERHEAD_BYTES = 400

Clock = Callable[[], float]


@dataclass(frozen=True)
class OutputCheck:
    """What the safeguard made of one output: the value to answer with (None when blocked)."""

    safeguard: Safeguard
    value: float | None
    reason: str | None


def output_range(kind: OutputKind, *, maximum: float | None = None) -> tuple[float, float]:
    """The valid range of an output of ``kind``: [0, 1] or [0, maximum]."""
    if kind == "probability":
        return 0.0, 1.0
    if kind == "non_negative":
        if maximum is None or not maximum > 0:
            raise ValueError(MAXIMUM_REQUIRED)
        return 0.0, float(maximum)
    raise ValueError(UNKNOWN_OUTPUT_KIND.format(kind=kind, kinds=", ".join(OUTPUT_KINDS)))


def check_output(
    value: object, *, kind: OutputKind = "probability", maximum: float | None = None
) -> OutputCheck:
    """Validate one model output: ok, clipped into its range, or blocked, with the reason."""
    low, high = output_range(kind, maximum=maximum)
    # bool is an int subclass, but True is an answer to a different question than a score.
    if isinstance(value, bool) or not isinstance(value, Real):
        return OutputCheck("blocked", None, NOT_A_NUMBER.format(value=value))
    number = float(value)
    if not math.isfinite(number):
        return OutputCheck("blocked", None, NOT_FINITE.format(value=number))
    if number < low:
        return OutputCheck("clipped", low, CLIPPED_BELOW.format(value=number, low=low))
    if number > high:
        return OutputCheck("clipped", high, CLIPPED_ABOVE.format(value=number, high=high))
    return OutputCheck("ok", number, None)


def check_outputs(
    values: Sequence[object], *, kind: OutputKind = "probability", maximum: float | None = None
) -> list[OutputCheck]:
    """``check_output`` for each output of a batch, in order."""
    output_range(kind, maximum=maximum)
    return [check_output(value, kind=kind, maximum=maximum) for value in values]


def answer_bytes(model_id: str, entity_id: str, model_version: str) -> int:
    """The room one remembered answer takes in a ``LastKnownGoodCache``'s byte budget."""
    strings = (model_id, entity_id, model_version)
    return ANSWER_OVERHEAD_BYTES + sum(len(text.encode("utf-8")) for text in strings)


@dataclass(frozen=True)
class CachedAnswer:
    """A good model answer as remembered: the version that gave it and when (clock time)."""

    model_version: str
    score: float | None
    prediction: float | None
    stored_at: float


class LastKnownGoodCache:
    """The last good answer per (model_id, entity_id), valid for ``ttl_seconds``.

    An answer stored at t is recalled while the clock reads less than t + ttl_seconds;
    ``ttl_seconds=0`` keeps nothing. At most ``max_entries`` answers taking at most
    ``max_bytes`` bytes (``answer_bytes`` each) are kept: the least recently stored go
    first, so a gateway's memory stays bounded under any traffic and any customer ids; an
    answer larger than the whole budget is not kept. Safe to use from several threads.
    """

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Clock = time.monotonic,
    ) -> None:
        if not ttl_seconds >= 0:
            raise ValueError(BAD_TTL.format(ttl=ttl_seconds))
        if max_entries < 1:
            raise ValueError(BAD_MAX_ENTRIES.format(entries=max_entries))
        if max_bytes < 1:
            raise ValueError(BAD_MAX_BYTES.format(limit=max_bytes))
        self.ttl_seconds = float(ttl_seconds)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._answers: OrderedDict[tuple[str, str], tuple[CachedAnswer, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def nbytes(self) -> int:
        """The room the answers kept take, by ``answer_bytes``."""
        return self._bytes

    def remember(
        self,
        model_id: str,
        entity_id: str,
        *,
        model_version: str,
        score: float | None,
        prediction: float | None,
    ) -> None:
        if self.ttl_seconds == 0:
            return
        answer = CachedAnswer(model_version, score, prediction, self._clock())
        key = (model_id, entity_id)
        size = answer_bytes(model_id, entity_id, model_version)
        with self._lock:
            self._forget(key)
            if size > self.max_bytes:
                return
            self._answers[key] = (answer, size)
            self._bytes += size
            while len(self._answers) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted) = self._answers.popitem(last=False)
                self._bytes -= evicted

    def _forget(self, key: tuple[str, str]) -> None:
        kept = self._answers.pop(key, None)
        if kept is not None:
            self._bytes -= kept[1]

    def recall(self, model_id: str, entity_id: str) -> CachedAnswer | None:
        """The remembered answer, or None when there is none or it has expired."""
        key = (model_id, entity_id)
        with self._lock:
            kept = self._answers.get(key)
            if kept is None:
                return None
            answer = kept[0]
            if self._clock() - answer.stored_at >= self.ttl_seconds:
                self._forget(key)
                return None
            return answer


class CircuitBreaker:
    """Closed, open after ``failures`` failures within ``window_seconds``, half-open after
    ``open_seconds``; one breaker per model version.

    ``allow()`` asks whether a call may go to the model: always when closed, never while
    open, and for exactly one trial call when half-open. The caller reports every call it
    was allowed with ``record_success()`` or ``record_failure()``; the trial's report closes
    the breaker (forgetting past failures) or opens it again. Reports of calls that were let
    through before the breaker opened change nothing while it is open. Safe to use from
    several threads.
    """

    def __init__(
        self,
        *,
        failures: int,
        window_seconds: float,
        open_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        if failures < 1 or not window_seconds > 0 or not open_seconds > 0:
            raise ValueError(BAD_BREAKER)
        self.failures = failures
        self.window_seconds = float(window_seconds)
        self.open_seconds = float(open_seconds)
        self._clock = clock
        self._failed_at: deque[float] = deque()
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state(self._clock())

    def _state(self, now: float) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if now - self._opened_at < self.open_seconds:
            return "open"
        return "half_open"

    def allow(self) -> bool:
        with self._lock:
            state = self._state(self._clock())
            if state == "closed":
                return True
            if state == "open" or self._trial_running:
                return False
            self._trial_running = True
            return True

    def record_success(self) -> None:
        with self._lock:
            if self._trial_running:
                self._opened_at = None
                self._trial_running = False
                self._failed_at.clear()

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._trial_running:
                self._opened_at = now
                self._trial_running = False
                return
            if self._opened_at is not None:
                return
            self._failed_at.append(now)
            while self._failed_at and self._failed_at[0] <= now - self.window_seconds:
                self._failed_at.popleft()
            if len(self._failed_at) >= self.failures:
                self._opened_at = now
                self._failed_at.clear()
