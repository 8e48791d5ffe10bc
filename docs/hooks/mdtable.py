"""Markdown helpers shared by the docs hooks: text that stays text, and tables."""

from __future__ import annotations

import html
import re

CODE_SPAN = re.compile(r"(`[^`]*`)")


def text(value: object) -> str:
    """VALUE as one line of Markdown: HTML and pipes escaped outside code spans, which Markdown escapes itself."""
    parts = CODE_SPAN.split(" ".join(str(value).split()))
    return "".join(p if CODE_SPAN.fullmatch(p) else html.escape(p, quote=False).replace("|", "\\|") for p in parts)


def code(value: object) -> str:
    """VALUE as an inline code span (backticks doubled around values that hold one)."""
    shown = str(value)
    fence = "``" if "`" in shown else "`"
    return f"{fence} {shown} {fence}" if fence == "``" else f"`{shown}`"


def table(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; cells must already be Markdown (see text and code)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
