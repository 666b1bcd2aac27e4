"""Robust parsing of address headers (From, To, Cc, ...) into normalised `Address` values.

Why not `email.utils.getaddresses`: on Python 3.11 it is open to CVE-2023-27043 and reads
`alice@example.org)<bob@example.org>` as two addresses, so a sender can smuggle an address
past a "who is this from" check. Instead this uses the RFC 5322 parser behind
`email.headerregistry.AddressHeader` (`AddressHeader.value_parser`), whose parse tree tells
valid mailboxes from invalid ones, and drops the invalid ones with a defect note rather than
guessing. That parser can still raise on some inputs (an unclosed quote or angle bracket),
so a small, conservative fallback takes over then: it accepts an entry only when it is
unambiguous and refuses the rest, again with a defect note.
"""

from __future__ import annotations

import re
from email.errors import InvalidHeaderDefect
from email.header import decode_header, make_header
from email.headerregistry import AddressHeader
from functools import lru_cache
from typing import Any

from emailsync.domain.addresses import normalize_email
from emailsync.domain.model import Address

__all__ = ["decode_words", "parse_address_header"]

_ENCODED_WORD = "=?"


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words in free text, leaving the text as is when that fails."""
    if _ENCODED_WORD not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # bad charset, bad base64, odd structure: keep what was sent
        return text


@lru_cache(maxsize=8192)
def parse_address_header(field: str, value: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    """Parse one address header's value into addresses plus defect notes. Never raises.

    `field` is the header name used in notes ("invalid address in To"). `value` must
    already be text (8-bit bytes decoded, folding removed). Group syntax is flattened;
    entries that are not a usable address are dropped and noted; duplicates are dropped.

    Cached: a mailbox sees the same From and To lines again and again, and the RFC 5322
    parser costs about half a millisecond a header. The result is immutable.
    """
    simple = _parse_simple(value)
    defects: list[str]
    if simple is not None:
        pairs, defects = simple, []
    else:
        try:
            pairs, defects = _parse_strict(field, value)
        except Exception as exc:  # the stdlib parser raises IndexError etc. on some junk
            pairs, defects = _parse_fallback(field, value)
            defects = [f"address parser failed on {field}: {type(exc).__name__}", *defects]
    return _finish(field, pairs, defects)


# The everyday shapes, `Name <local@domain>` and `local@domain`, in plain ASCII atoms: for
# these the strict parser's answer is known, so it is skipped. Anything else (quotes,
# comments, groups, encoded words, non-ASCII, odd specials) goes to the strict parser.
_ATOMS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDR = rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_QUOTED = r'"(?P<quoted>[ !#-\[\]-~]*)"'  # printable ASCII but for " and \\
_SIMPLE_ENTRY = re.compile(
    rf"\s*(?:(?:{_QUOTED}|(?P<name>{_ATOMS}))\s*<(?P<angle>{_ADDR})>|(?P<bare>{_ADDR}))\s*"
)


def _parse_simple(value: str) -> list[tuple[str, str]] | None:
    if not value.strip() or _ENCODED_WORD in value:
        return None
    pairs = []
    pos, end = 0, len(value)
    while True:
        match = _SIMPLE_ENTRY.match(value, pos)
        if match is None:
            return None
        if match["bare"]:
            pairs.append((match["bare"], ""))
        else:
            name = match["quoted"] if match["quoted"] is not None else match["name"]
            pairs.append((match["angle"], name))
        pos = match.end()
        if pos == end:
            return pairs
        if value[pos] != ",":
            return None
        pos += 1


def _finish(
    field: str, pairs: list[tuple[str, str]], defects: list[str]
) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    seen: set[str] = set()
    out: list[Address] = []
    for raw_email, name in pairs:
        email = normalize_email(raw_email)
        if not email:
            defects.append(f"invalid address in {field}")
            continue
        if email in seen:
            continue
        seen.add(email)
        out.append(Address(email=email, name=" ".join(name.split())))
    return tuple(out), tuple(dict.fromkeys(defects))


# RFC 2047 §6.2: whitespace between adjacent encoded words is not part of the text; the
# stdlib's phrase parser keeps it in some cases (a name folded across two words).
_BETWEEN_ENCODED_WORDS = re.compile(r"(\?=)\s+(?==\?)")


def _parse_strict(field: str, value: str) -> tuple[list[tuple[str, str]], list[str]]:
    address_list = AddressHeader.value_parser(_BETWEEN_ENCODED_WORDS.sub(r"\1", value))
    pairs: list[tuple[str, str]] = []
    defects: list[str] = []
    for address in address_list.addresses:
        for mailbox in address.all_mailboxes:
            if mailbox.token_type != "mailbox" and not _clean_name_addr(mailbox):
                # Covers the CVE-2023-27043 shape: `alice@example.org)<bob@example.org>`
                # is one invalid mailbox here, and we refuse to pick either address.
                defects.append(f"invalid address in {field}")
                continue
            local, domain = mailbox.local_part, mailbox.domain
            if not local or not domain:
                defects.append(f"invalid address in {field}")
                continue
            pairs.append((f"{local}@{domain}", mailbox.display_name or ""))
    return pairs, defects


def _clean_name_addr(mailbox: Any) -> bool:
    """True for an "invalid" mailbox whose only fault is in its display name.

    The stdlib marks a whole mailbox invalid for any defect, including the very common
    `"=?utf-8?...?=" <a@b.example>` (an encoded word inside quotes). When the mailbox is
    exactly `display-name <addr-spec>` and the angle-addr itself is clean, the address is
    unambiguous, so it is kept. Anything with stray specials (the CVE shape) is not.
    """
    if len(mailbox) != 1 or mailbox[0].token_type != "name-addr":
        return False
    angles = [t for t in mailbox[0] if t.token_type == "angle-addr"]
    if len(angles) != 1:
        return False
    return not any(isinstance(d, InvalidHeaderDefect) for d in angles[0].all_defects)


# --- fallback -------------------------------------------------------------------------------

# A bare addr-spec with no quoting, comments or spaces: the only shape accepted without <>.
_BARE_ADDR = re.compile(r"[^\s@<>()\[\]\",;:\\]+@(?:[^\s@<>()\[\]\",;:\\]+|\[[^\s\[\]\\]*\])")


def _split_top_level(value: str) -> list[str] | None:
    """Split on commas (and group `name:` / `;`) outside quotes, comments and <>.

    Returns None when the structure is unbalanced (a stray `)` or `>`, unclosed `<`),
    because that is exactly where readings diverge and one of them is an attack.
    """
    items: list[str] = []
    buf: list[str] = []
    in_quote = False
    depth_comment = 0
    in_angle = False
    escape = False
    for ch in value:
        if escape:
            buf.append(ch)
            escape = False
            continue
        if ch == "\\" and (in_quote or depth_comment):
            buf.append(ch)
            escape = True
            continue
        if in_quote:
            buf.append(ch)
            if ch == '"':
                in_quote = False
            continue
        if depth_comment:
            if ch == "(":
                depth_comment += 1
            elif ch == ")":
                depth_comment -= 1
            continue  # comments are dropped
        if ch == '"':
            in_quote = True
            buf.append(ch)
        elif ch == "(":
            depth_comment = 1
        elif ch == ")":
            return None
        elif ch == "<":
            if in_angle:
                return None
            in_angle = True
            buf.append(ch)
        elif ch == ">":
            if not in_angle:
                return None
            in_angle = False
            buf.append(ch)
        elif ch in ",;" and not in_angle:
            items.append("".join(buf))
            buf = []
        elif ch == ":" and not in_angle:
            buf = []  # group display name: discard it
        else:
            buf.append(ch)
    if in_angle:
        return None
    items.append("".join(buf))
    return [item.strip() for item in items if item.strip()]


def _parse_fallback(field: str, value: str) -> tuple[list[tuple[str, str]], list[str]]:
    items = _split_top_level(value)
    if items is None:
        return [], [f"unparseable {field}"]
    pairs: list[tuple[str, str]] = []
    defects: list[str] = []
    for item in items:
        pair = _parse_item(item)
        if pair is None:
            defects.append(f"invalid address in {field}")
        else:
            pairs.append(pair)
    return pairs, defects


def _parse_item(item: str) -> tuple[str, str] | None:
    if "<" in item:
        start = item.index("<")
        end = item.find(">", start)
        if end < 0 or item[end + 1 :].strip():
            return None  # junk after the angle-addr
        addr = item[start + 1 : end].strip()
        name = item[:start].strip()
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif "@" in name or '"' in name:
            return None  # `a@b.c <d@e.f>`: two candidate addresses, refuse to choose
        if not _BARE_ADDR.fullmatch(addr):
            return None
        return addr, decode_words(name)
    if _BARE_ADDR.fullmatch(item):
        return item, ""
    return None
