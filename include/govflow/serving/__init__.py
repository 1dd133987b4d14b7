"""Serving (seed 003 documents 13.2-13.3, issue 6): the prediction safeguards here, and the
reference serving gateway in ``govflow.serving.gateway`` (imported on its own, as it brings
FastAPI with it).
"""

from govflow.serving.safeguards import (
    OUTPUT_KINDS,
    CachedAnswer,
    CircuitBreaker,
    CircuitState,
    LastKnownGoodCache,
    OutputCheck,
    OutputKind,
    Safeguard,
    check_output,
    check_outputs,
    output_range,
)

__all__ = [
    "OUTPUT_KINDS",
    "CachedAnswer",
    "CircuitBreaker",
    "CircuitState",
    "LastKnownGoodCache",
    "OutputCheck",
    "OutputKind",
    "Safeguard",
    "check_output",
    "check_outputs",
    "output_range",
]
