"""The composite's trend as a line: the same scaling for the dashboard's and the executive
summary's inline SVG and for the executive summary's PDF."""

from __future__ import annotations

from collections.abc import Sequence


def trend_points(
    values: Sequence[float], *, width: float, height: float, margin: float = 0.0
) -> list[tuple[float, float]]:
    """``values`` as points in a ``width`` x ``height`` box, oldest on the left, the lowest
    value ``margin`` above the bottom and the highest ``margin`` below the top (y grows
    downwards, as in SVG and PDF page coordinates)."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    return [
        (i * step, height - margin - (v - low) / span * (height - 2 * margin))
        for i, v in enumerate(values)
    ]


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    """An inline SVG line of ``values`` (the composite's trend), oldest on the left."""
    if len(values) < 2:
        return '<span class="muted">-</span>'
    points = " ".join(
        f"{x:.1f},{y:.1f}" for x, y in trend_points(values, width=width, height=height, margin=2)
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="composite trend">'
        f'<polyline fill="none" stroke="#0b5cad" stroke-width="1.5" points="{points}"/></svg>'
    )
