"""A report's Markdown as one self-contained HTML page (no script, no external stylesheet or
font), for the reports that are written as Markdown first (compliance, incident).

markdown-it-py renders CommonMark with tables; raw HTML in the Markdown is not passed
through but shown as text, so a model id, a comment or an incident title taken from the
records can never inject markup into the page a regulator or the board opens.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:1rem 0}"
    "th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}code,pre{background:#f6f6f6}"
)


def markdown_html(markdown: str, *, title: str) -> str:
    """``markdown`` (CommonMark and tables) as a complete HTML document titled ``title``."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{renderer.render(markdown)}</body></html>\n"
    )
