"""IMAP on the wire, standard library only: constants and pure parsers over bytes.

The one home for what both IMAP clients of emailsync need: `imap.session` (through
imapclient) and the quick no-change check of `sync --once` (sync/quick_check.py, through
imaplib, because importing imapclient costs more than the whole check; see there). Kept
free of imapclient and of everything that imports it, so importing this module costs
only `re` and `base64`.

The parsers read answers as imaplib leaves them (one `bytes` line per untagged answer,
without the leading `* LIST `); they read what imapclient's `response_parser` and
`imap_utf7` read, and tests hold them to it. What they cannot read (a name sent as a
literal, an unusual quoting) raises `WireError`: the caller falls back to the full
client rather than guess.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

TIMEOUT = 30.0  # seconds: connect and every read, for both clients
# LIST attributes of a name that cannot be selected (RFC 3501 §7.2.2, RFC 5258 §3):
# such a folder is never synced. Compared case-insensitively (casefold).
SKIP_ATTRIBUTES = frozenset({"\\noselect", "\\nonexistent"})


class WireError(ValueError):
    """An answer this module cannot read; str(e) says which (never shown to the user)."""


class ListEntry(NamedTuple):
    """One LIST answer (RFC 3501 §7.2.2): attributes, hierarchy delimiter ("" for NIL)
    and the mailbox name, decoded from modified UTF-7."""

    flags: tuple[str, ...]
    delimiter: str
    name: str


_QUOTED = rb'"(?:[^"\\\r\n]|\\["\\])*"'
_LIST_LINE = re.compile(rb"\(([^()]*)\) (NIL|" + _QUOTED + rb") (.+)", re.IGNORECASE)
_STATUS_LINE = re.compile(rb"(.+) \(([^()]*)\)\s*")
_ATOM = re.compile(rb'[^\s"(){}%*\\\]]+')
_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")  # modified UTF-7's base64 runs
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def parse_list(lines: Iterable[Any]) -> list[ListEntry]:
    """LIST answers, in the server's order; empty lines (imaplib's None) are skipped."""
    entries = []
    for line in lines:
        if line in (b"", None):
            continue
        if not isinstance(line, bytes):
            raise WireError("a folder name came as a literal")
        match = _LIST_LINE.fullmatch(line)
        if match is None:
            raise WireError(f"unreadable LIST answer {line!r}")
        flags = tuple(f.decode("utf-8", "replace") for f in match.group(1).split())
        delimiter = "" if match.group(2).upper() == b"NIL" else unquote(match.group(2))
        entries.append(ListEntry(flags, delimiter, mailbox_name(match.group(3))))
    return entries


def parse_status(lines: Iterable[Any]) -> dict[str, dict[str, int]]:
    """STATUS answers (RFC 3501 §7.2.4) by mailbox name: {"UIDNEXT": 31, ...}."""
    found: dict[str, dict[str, int]] = {}
    for line in lines:
        if not isinstance(line, bytes):
            raise WireError("a STATUS answer came with a literal")
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise WireError(f"unreadable STATUS answer {line!r}")
        pairs = match.group(2).split()
        if len(pairs) % 2:
            raise WireError(f"unreadable STATUS answer {line!r}")
        try:
            items = {
                pairs[i].decode("ascii").upper(): int(pairs[i + 1]) for i in range(0, len(pairs), 2)
            }
        except ValueError:
            raise WireError(f"unreadable STATUS answer {line!r}") from None
        found[mailbox_name(match.group(1))] = items
    return found


def parse_capabilities(raw: bytes) -> frozenset[str]:
    """A CAPABILITY answer or response code's text as upper-case names."""
    return frozenset(raw.decode("ascii", "replace").upper().split())


def mailbox_name(raw: bytes) -> str:
    """A mailbox name as imapclient returns it: unquoted, from modified UTF-7, and an
    all-digit name through int (imapclient's parser makes a number of it)."""
    if re.fullmatch(_QUOTED, raw):
        raw = unquote(raw).encode("utf-8", "surrogateescape")
    elif not _ATOM.fullmatch(raw):
        raise WireError(f"unreadable folder name {raw!r}")
    try:
        return str(int(raw)) if raw.isdigit() else decode_modified_utf7(raw)
    except (ValueError, UnicodeError) as e:
        raise WireError(f"unreadable folder name {raw!r}") from e


def decode_modified_utf7(raw: bytes) -> str:
    """A mailbox name from IMAP's modified UTF-7 (RFC 3501 §5.1.3): `&` starts base64
    of UTF-16 with `,` for `/`, `-` ends it, `&-` is `&`. Raises ValueError on a
    name that is not modified UTF-7."""

    def shifted(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        data = chunk.replace(",", "/")
        return base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-16-be")

    text = raw.decode("ascii")
    if "&" in _SHIFTED.sub("", text):
        raise ValueError(f"not modified UTF-7: {text!r}")
    return _SHIFTED.sub(shifted, text)


def encode_modified_utf7(name: str) -> bytes:
    """The other way (imapclient's imap_utf7.encode): printable ASCII stays, `&` is
    `&-`, every run of other characters is `&` + base64 of UTF-16 + `-`."""

    def shifted(match: re.Match[str]) -> str:
        data = base64.b64encode(match.group(0).encode("utf-16-be")).decode("ascii")
        return "&" + data.rstrip("=").replace("/", ",") + "-"

    return _UNPRINTABLE.sub(shifted, name.replace("&", "&-")).encode("ascii")


def quote(name: bytes) -> bytes:
    """A quoted string (RFC 3501 §4.3): only \\ and \" are escaped."""
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def unquote(quoted: bytes) -> str:
    """A quoted string's content (RFC 3501 §4.3: only \\ and \" are escaped)."""
    return re.sub(r'\\(["\\])', r"\1", quoted[1:-1].decode("utf-8", "surrogateescape"))
