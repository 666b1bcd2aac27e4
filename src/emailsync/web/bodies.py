"""Showing a message body safely, and handing out its attachments.

HTML mail is hostile input. Three layers, each enough on its own against script:
  1. nh3 (ammonia) keeps only an allow-list of tags and attributes; every `on*`
     attribute, <script>, <style>, <form>, <svg>, <iframe>, <base> goes.
  2. Remote images are blanked (no tracking pixels, no false "opens") unless the user
     asked to show them for this message; `cid:` images point at our attachment URL.
  3. The result is served as its own document with a Content-Security-Policy of
     default-src 'none' and shown in an <iframe sandbox> without allow-scripts.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import nh3

TAGS = frozenset(nh3.ALLOWED_TAGS | {"font", "big"})
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "align", "valign", "dir", "lang", "title", "width", "height", "bgcolor"},
    "a": {"href", "name"},
    "img": {"src", "alt", "border"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
    "ol": {"start", "type"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})


def sanitize_html(
    body: str, *, show_images: bool, cid_url: Callable[[str], str | None]
) -> tuple[str, bool]:
    """The body reduced to the allow-list. Returns (html, had_remote_images)."""
    blocked: list[str] = []

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "img" and attr == "src":
            if value.lower().startswith("cid:"):
                return cid_url(value[4:].strip("<>"))
            if value.lower().startswith(("http:", "https:", "//")):
                if show_images and value.lower().startswith("https:"):
                    return value
                blocked.append(value)
                return None
            return None
        return value

    cleaned = nh3.clean(
        body,
        tags=set(TAGS),
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return cleaned, bool(blocked)


def text_as_html(text: str) -> str:
    return f'<pre class="plain">{html.escape(text)}</pre>'


def body_csp(*, show_images: bool) -> str:
    images = "img-src 'self' data:" + (" https:" if show_images else "")
    return (
        f"default-src 'none'; {images}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )


BODY_STYLE = (
    "body{margin:0;padding:4px;font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:#1d2330;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
    "pre.plain{white-space:pre-wrap;font:inherit;margin:0}a{color:#2456c7}"
)


def body_document(fragment: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>{BODY_STYLE}</style></head><body>{fragment}</body></html>"
    )


# -- attachments -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentData:
    filename: str
    content_type: str
    data: bytes


def _leaves(msg: EmailMessage) -> list[EmailMessage]:
    out: list[EmailMessage] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack[0:0] = list(part.iter_parts())  # document order
        else:
            out.append(part)
    return out


def _content_id(part: EmailMessage) -> str:
    return str(part.get("content-id", "")).strip().strip("<>").strip()


def find_attachment(
    raw: bytes, stored: Sequence[Mapping[str, Any]], index: int
) -> AttachmentData | None:
    """The payload of the index-th attachment recorded for a message, from its raw bytes.

    Matched by Content-ID, then by file name, then by position among the parts that are
    not the text or HTML body; None when the raw message does not hold it (any more)."""
    if not 0 <= index < len(stored):
        return None
    want = stored[index]
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        leaves = _leaves(msg)
    except Exception:
        return None
    cid = str(want.get("content_id") or "")
    filename = str(want.get("filename") or "")
    match = None
    if cid:
        match = next((p for p in leaves if _content_id(p) == cid), None)
    if match is None and filename:
        match = next((p for p in leaves if p.get_filename() == filename), None)
    if match is None:
        body_like = [
            p
            for p in leaves
            if p.get_content_type() in ("text/plain", "text/html")
            and not p.get_filename()
            and p.get_content_disposition() != "attachment"
        ]
        others = [p for p in leaves if all(p is not b for b in body_like[:2])]
        match = others[index] if index < len(others) else None
    if match is None:
        return None
    try:
        data = match.get_payload(decode=True) or b""
    except Exception:
        return None
    if not isinstance(data, bytes):
        data = str(data).encode("utf-8")
    content_type = str(want.get("content_type") or match.get_content_type())
    return AttachmentData(filename or f"attachment-{index + 1}", content_type, data)


# Types a browser may show inline from our origin; everything else is a download, so an
# attached .html or .svg can never run as our page.
INLINE_SAFE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
