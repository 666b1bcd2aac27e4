"""Text of an HTML-only message, for search and snippets.

Many messages (newsletters, web mailers, some Outlook setups) carry no text/plain part.
Their text is taken from the HTML: block boundaries become line breaks, then nh3
(ammonia, already the sanitiser of web/bodies.py) drops every tag, comment, script and
style, and the entities are decoded. It is a reading copy, never shown as HTML: the
message's HTML is read from its raw copy and sanitised when it is opened.
"""

from __future__ import annotations

import html
import re

import nh3

# where a line ends when the HTML is rendered
_BREAK = re.compile(
    r"<\s*(?:br|hr)\b[^>]*>"
    r"|<\s*/?\s*(?:p|div|li|tr|h[1-6]|table|blockquote|pre|ul|ol)\b[^>]*>",
    re.IGNORECASE,
)
_HIDDEN = {"head", "title", "style", "script", "template"}  # content never rendered as text
_CELL = re.compile(r"<\s*/\s*t[dh]\s*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{2,}")


def text_from_html(markup: str) -> str:
    """The readable text of `markup`, one paragraph (or line, or table row) per line."""
    marked = _CELL.sub(" ", _BREAK.sub("\n", markup))
    text = html.unescape(nh3.clean(marked, tags=set(), clean_content_tags=_HIDDEN))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip("\n") + "\n" if text.strip() else ""
