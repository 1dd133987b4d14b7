"""Issue 13 item 7: how much of a refused value the serving gateway shows.

- ``shown`` is a refused value as an error message quotes it: its ``repr`` cut to
  ``SHOWN_CHARS`` characters and an ellipsis, so an error never echoes a megabyte back.
"""

from __future__ import annotations

SHOWN_CHARS = 40
ELLIPSIS = "…"


def shown(value: object) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARS`` characters plus an ellipsis when longer."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + ELLIPSIS
