"""Issue 15 item 3: every report as PDF too, laid out from its own Markdown so the PDF says
what the Markdown says (headings, paragraphs, bullets, tables and code blocks), with fpdf2.

Reproducible: the same Markdown and the same ``created`` give the same bytes. fpdf2 would
stamp the wall clock as the creation date and its own version as the producer; the creation
date is set to the report's own moment instead (the end of its period, or the ``as_of`` of an
incident report), the producer to govflow, and the file identifier fpdf2 derives from the
content and that date. Nothing else in the file depends on when or where it is written.

The PDF's standard fonts (Helvetica, Courier) carry Latin-1 only: the few other characters
govflow writes are spelled in Latin-1 (``UNICODE_SPELLING``), anything else becomes ``?``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from govflow.reports.charts import trend_points

PRODUCER = "govflow"
UNICODE_SPELLING = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2022": "-",
    "\u2026": "...",
    "\u2192": "->",
    "\u2264": "<=",
    "\u2265": ">=",
}
HEADING_SIZES = {"# ": 16, "## ": 13, "### ": 11}
BODY_SIZE = 10
TABLE_SIZE = 8
LINE_HEIGHT = 5
CHART_WIDTH = 60
CHART_HEIGHT = 12


def latin1(text: str) -> str:
    """``text`` as the standard PDF fonts can show it."""
    spelled = "".join(UNICODE_SPELLING.get(char, char) for char in text)
    return spelled.encode("latin-1", "replace").decode("latin-1")


def _cells(line: str) -> list[str]:
    return [latin1(cell.strip()) for cell in line.strip().strip("|").split("|")]


def _is_rule(line: str) -> bool:
    return set(line.replace("|", "").split()) <= {"---"}


class _Document:
    def __init__(self, title: str, created: datetime) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_title(latin1(title))
        self.pdf.set_creator(PRODUCER)
        self.pdf.set_producer(PRODUCER)
        self.pdf.set_creation_date(created)
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.add_page()

    def text(self, text: str, *, size: int = BODY_SIZE, style: str = "", family="Helvetica"):
        self.pdf.set_font(family, style, size)
        self.pdf.multi_cell(
            0, LINE_HEIGHT, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def table(self, lines: list[str]) -> None:
        self.pdf.set_font("Helvetica", "", TABLE_SIZE)
        with self.pdf.table(text_align="LEFT", line_height=4) as table:
            for line in lines:
                if not _is_rule(line):
                    table.row(_cells(line))
        self.pdf.ln(2)

    def chart(self, label: str, values: Sequence[float]) -> None:
        """One line chart: ``label``, then ``values`` from left to right, min to max."""
        self.text(label, size=TABLE_SIZE)
        x, y = self.pdf.get_x(), self.pdf.get_y()
        self.pdf.rect(x, y, CHART_WIDTH, CHART_HEIGHT)
        points = [
            (x + dx, y + dy)
            for dx, dy in trend_points(values, width=CHART_WIDTH, height=CHART_HEIGHT, margin=1)
        ]
        self.pdf.polyline(points if len(points) > 1 else points * 2)
        self.pdf.set_y(y + CHART_HEIGHT + 2)


def markdown_pdf(
    markdown: str,
    *,
    title: str,
    created: datetime,
    charts: Mapping[str, Sequence[float]] | None = None,
) -> bytes:
    """The PDF of a report written as ``markdown``; ``charts`` (label -> values) are drawn as
    line charts after it, in their order, those without values left out."""
    document = _Document(title, created)
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = next((mark for mark in HEADING_SIZES if line.startswith(mark)), None)
        if line.startswith("|"):
            block = []
            while index < len(lines) and lines[index].startswith("|"):
                block.append(lines[index])
                index += 1
            document.table(block)
            continue
        if line.startswith("```"):
            index += 1
            while index < len(lines) and not lines[index].startswith("```"):
                document.text(lines[index] or " ", size=TABLE_SIZE + 1, family="Courier")
                index += 1
        elif heading:
            document.text(line.removeprefix(heading), size=HEADING_SIZES[heading], style="B")
        elif line.strip():
            document.text(line)
        else:
            document.pdf.ln(2)
        index += 1
    for label, values in (charts or {}).items():
        if values:
            document.chart(label, values)
    return bytes(document.pdf.output())
