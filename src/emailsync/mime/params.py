"""Content-Type facts read once per part, plain parameters read without the stdlib.

compat32's `get_content_type`, `get_param`, `get_content_charset` and `get_boundary`
re-read the header on every call (`get_param` re-parses every parameter, RFC 2231
included: ~40 µs), and parsing one message asks ten times or more. Here the content type
is computed once per part and kept on it, and parameters of the common shapes
(`; name=token`, `; name="text"`) are read with one regex. Anything else (RFC 2231 `*`,
backslashes, angle brackets, a quote in the type, a line fold inside quotes, 8-bit bytes)
gets None from `simple_params`, and the caller asks the stdlib: the answers are the
stdlib's either way (tests/unit/test_mime_params.py checks that with hypothesis).
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import unquote

__all__ = ["boundary", "charset", "content_type", "simple_params"]

_CACHE = "_emailsync_ctype"  # where a part keeps its content type
_RAW_INDEX = "_emailsync_raw"  # and its headers by name (`first_raw`)
_SPACE = " \t\r\n"
_PARAM = re.compile(
    r"[ \t\r\n]*([!#$%&'+.0-9A-Z^_`a-z|~-]+)[ \t\r\n]*=[ \t\r\n]*"
    r'(?:"([^"\\\r\n]*)"|([^\x00-\x20"\\;<>()*\x7f-\uffff]*))[ \t\r\n]*'
)


def first_raw(part: Message, name: str) -> object | None:
    """The first `name` (lower-case) header as stored (compat32 keeps the raw text), or
    None. The part's headers are indexed on the first call and kept on it, like its
    content type: parsing asks each part for five or six of them."""
    index = part.__dict__.get(_RAW_INDEX)
    if index is None:
        index = {}
        for key, value in part.raw_items():
            index.setdefault(str(key).lower(), value)
        part.__dict__[_RAW_INDEX] = index
    return index.get(name)


def simple_params(value: str) -> dict[str, str] | None:
    """Parameters of a Content-Type value (names lower-cased, the first of a name
    wins), or None when the value is not of the plain shapes this reads."""
    if not value.isascii() or "*" in value or "\\" in value:
        return None
    head, sep, rest = value.partition(";")
    if '"' in head:
        return None
    params: dict[str, str] = {}
    if not sep:
        return params
    for chunk in rest.split(";"):
        if not chunk.strip(_SPACE):
            continue
        match = _PARAM.fullmatch(chunk)
        if match is None:
            return None
        quoted, token = match.group(2), match.group(3)
        params.setdefault(match.group(1).lower(), quoted if quoted is not None else token)
    return params


def content_type(part: Message) -> str:
    """`part.get_content_type()`, computed once per part."""
    known = part.__dict__.get(_CACHE)
    if known is not None:
        return known
    try:
        found = str(part.get_content_type()).lower()
    except Exception:
        found = "application/octet-stream"
    part.__dict__[_CACHE] = found
    return found


_ASK_STDLIB = object()


def _plain_param(part: Message, name: str) -> str | object | None:
    """Content-Type parameter `name` as `get_param` reads it (None: absent), or
    _ASK_STDLIB when the header is not of the plain shapes."""
    raw = first_raw(part, "content-type")
    if raw is None:
        return None
    params = simple_params(raw) if isinstance(raw, str) else None
    return _ASK_STDLIB if params is None else params.get(name)


def charset(part: Message) -> str | None:
    """`part.get_content_charset()`."""
    value = _plain_param(part, "charset")
    if value is _ASK_STDLIB:
        return part.get_content_charset()
    return value.lower() if isinstance(value, str) else None


def boundary(part: Message) -> str | None:
    """`part.get_boundary()`."""
    value = _plain_param(part, "boundary")
    if value is _ASK_STDLIB:
        return part.get_boundary()
    return unquote(value).rstrip() if isinstance(value, str) else None
