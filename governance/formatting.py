"""How the reviewer pages show values: JSON pretty-printed, numbers as people read them, and
the loop's Markdown reports rendered (escape first, then a small safe subset of Markdown)."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def pretty_json(value: Any) -> SafeString:
    """A JSON document as a readable block: sorted keys, indented, never a Python repr."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="json">{}</pre>', text)


def format_number(value: Any) -> str:
    """A metric value as people read it: integers without decimals (``5``, not ``5.0000``),
    small fractions with three significant decimals, others with two."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) < 1:
        return f"{value:.3f}"
    return f"{value:,.2f}"


def percentage_points(delta: float) -> str:
    """A difference of two rates (0.142857) in percentage points: "+14.3 pp"."""
    return f"{delta * 100:+.1f} pp"


# Markdown ------------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _inline(text: str) -> str:
    """Escape first, then mark up code spans and bold: no input can inject HTML."""
    parts = _CODE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{escape(part)}</code>")
        else:
            out.append(_BOLD.sub(r"<strong>\1</strong>", str(escape(part))))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def render_markdown(text: str) -> SafeString:
    """The subset of Markdown the loop's reports use: ``#`` headings, ``-`` lists, pipe
    tables, paragraphs, inline code and bold. Everything is HTML-escaped before markup is
    added, so the output is safe whatever the text holds."""
    html: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = min(len(heading[1]) + 1, 6)  # the page title is the <h1>
            html.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
            i += 1
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            html.append("<ul>" + "".join(items) + "</ul>")
        elif line.startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(line))
            i += 2
            body = []
            while i < len(lines) and lines[i].startswith("|"):
                body.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(lines[i])))
                body[-1] += "</tr>"
                i += 1
            html.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            )
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#|- |\* |\|)", lines[i]):
                paragraph.append(_inline(lines[i].strip()))
                i += 1
            if not paragraph:  # a line such as "|x" that starts no table: show it as text
                paragraph.append(_inline(line.strip()))
                i += 1
            html.append("<p>" + " ".join(paragraph) + "</p>")
    return mark_safe('<div class="markdown">' + "".join(html) + "</div>")
