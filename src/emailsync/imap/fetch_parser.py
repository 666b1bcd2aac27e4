"""A fast parser for the FETCH responses `ImapSession.fetch_messages` asks for.

imapclient's `parse_fetch_response` lexes every byte of each response in Python, which
costs ~150 µs per message on a big sync. The session only ever asks for UID,
INTERNALDATE, FLAGS, RFC822.SIZE, optionally MODSEQ, and one BODY[...] section, so
this module matches exactly those items with compiled regexes, in whatever order the
server sends them (RFC 3501 §7.4.2 does not fix one).

`parse_fetch(data)` takes the raw list imaplib collects for untagged FETCH responses
(items are bytes lines or `(line ending in {n}, literal bytes)` tuples) and returns
what `parse_fetch_response(data, normalise_times=False, uid_is_key=True)` returns:
`{msg_id: {b"SEQ": seq, b"FLAGS": (...), ...}}` with the same keys, value types and
merge rules. Anything it does not recognise — another item, other whitespace, an
unusual date, a literal size mismatch — makes it hand the whole batch to imapclient,
so correctness never depends on the fast path. `parse_fetch` therefore raises exactly
what imapclient would raise on input imapclient rejects.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from imapclient.datetime_util import parse_to_datetime
from imapclient.response_parser import parse_fetch_response

__all__ = ["parse_fetch", "parse_fetch_fast"]

FetchResult = dict[int, dict[bytes, Any]]


class _Unrecognised(Exception):
    """The fast path does not handle this input; use imapclient's parser."""


# "<seq> (" at the start of a response line (imaplib has stripped "* " and "FETCH").
_START = re.compile(rb" *(\d+) \(")
# An item name followed by its separating space: a word, or BODY[section]<origin>.
_NAME = re.compile(rb" *([A-Za-z0-9.\-]+(?:\[[^\]]*\](?:<\d+>)?)?) ")
_CLOSE = re.compile(rb" *\)")
# The items as Dovecot and most servers format them, one alternative each; which
# group matched last (`lastindex`) says which item it was.
_ITEM = re.compile(
    rb" *(?:"
    rb"(UID|RFC822\.SIZE) (\d+)(?=[ )])"  # 1, 2
    rb'|FLAGS \(([^\x00-\x1f\x7f-\xff()"%\[{]*)\)'  # 3
    rb'|INTERNALDATE "([^"\\]*)"'  # 4
    rb"|MODSEQ \((\d+)\)"  # 5
    rb"|(BODY\[[^\]a-z]*\](?:<\d+>)?) (?:NIL(?=[ )])|\{(\d+)\}\Z)"  # 6, 7
    rb"|(\)))"  # 8
)
# A number token; must end where imapclient's lexer would end it.
_NUMBER = re.compile(rb"(\d+)(?=[ )])")
_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"', re.DOTALL)
# Flag atoms: anything the lexer would read as plain atoms, without quoting, nesting
# or literal markers; backslashes ("\Seen") and keywords ("$Forwarded") included.
_FLAGS = re.compile(rb'\(([^\x00-\x1f\x7f-\xff()"%\[{]*)\)')
_MODSEQ = re.compile(rb"\((\d+)\)")
_NIL = re.compile(rb"NIL(?=[ )])")
_LITERAL = re.compile(rb"\{(\d+)\}")
_UNESCAPE = re.compile(rb'\\([\\"])')
_DATE = re.compile(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTHS = {
    m: i for i, m in enumerate(b"jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)
}
_ZONES: dict[bytes, timezone] = {}


def parse_fetch(data: list[Any]) -> FetchResult:
    """Parse imaplib's untagged FETCH data, fast when possible, else with imapclient.

    Same result as imapclient's `parse_fetch_response(data, False, True)`.
    """
    result = parse_fetch_fast(data)
    if result is None:
        return dict(parse_fetch_response(data, False, True))
    return result


def parse_fetch_fast(data: list[Any]) -> FetchResult | None:
    """The fast path alone: the parsed responses, or None if it cannot handle `data`."""
    try:
        return _parse(data)
    except (_Unrecognised, StopIteration, ValueError, TypeError, IndexError):
        return None


def _parse(data: list[Any]) -> FetchResult:
    if data == [None]:
        return {}
    out: FetchResult = {}
    records = iter(data)
    for record in records:
        text, literal = _split(record)
        m = _START.match(text)
        if m is None:
            raise _Unrecognised
        seq = int(m.group(1))
        msg_id = seq
        msg: dict[bytes, Any] = {b"SEQ": seq}
        pos = m.end()
        while True:
            # The common, exactly-formed items in one regex match each.
            m = _ITEM.match(text, pos)
            if m is not None:
                kind = m.lastindex
                pos = m.end()
                if kind == 8:  # ")"
                    break
                if kind == 2:
                    if m.group(1) == b"UID":
                        msg_id = int(m.group(2))
                    else:
                        msg[b"RFC822.SIZE"] = _atom(m.group(2))
                elif kind == 3:
                    msg[b"FLAGS"] = tuple(_atom(f) for f in m.group(3).split(b" ") if f)
                elif kind == 4:
                    msg[b"INTERNALDATE"] = _date(m.group(4))
                elif kind == 5:
                    msg[b"MODSEQ"] = (_atom(m.group(5)),)
                elif kind == 7:  # BODY[...] {n} ending the line: the literal
                    if literal is None or len(literal) != int(m.group(7)):
                        raise _Unrecognised
                    msg[m.group(6)] = literal
                    # The rest of the response follows the literal as the next record.
                    text, literal = _split(next(records))
                    pos = 0
                else:  # BODY[...] NIL
                    msg[m.group(6)] = None
                continue
            # Anything else the fast path knows: one item at a time.
            m = _CLOSE.match(text, pos)
            if m is not None:
                pos = m.end()
                break
            m = _NAME.match(text, pos)
            if m is None:
                raise _Unrecognised
            name = m.group(1).upper()
            pos = m.end()
            if name == b"UID":
                m = _NUMBER.match(text, pos)
                if m is None:
                    raise _Unrecognised
                msg_id = int(m.group(1))
                pos = m.end()
            elif name == b"FLAGS":
                m = _FLAGS.match(text, pos)
                if m is None:
                    raise _Unrecognised
                msg[b"FLAGS"] = tuple(_atom(f) for f in m.group(1).split(b" ") if f)
                pos = m.end()
            elif name == b"INTERNALDATE":
                if text.startswith(b"NIL", pos):
                    m = _NIL.match(text, pos)
                    if m is None:
                        raise _Unrecognised
                    msg[b"INTERNALDATE"] = None
                else:
                    m = _QUOTED.match(text, pos)
                    if m is None:
                        raise _Unrecognised
                    msg[b"INTERNALDATE"] = _date(_unquote(m.group(1)))
                pos = m.end()
            elif name == b"RFC822.SIZE":
                m = _NUMBER.match(text, pos)
                if m is None:
                    raise _Unrecognised
                msg[b"RFC822.SIZE"] = _atom(m.group(1))
                pos = m.end()
            elif name == b"MODSEQ":
                m = _MODSEQ.match(text, pos)
                if m is None:
                    raise _Unrecognised
                msg[b"MODSEQ"] = (_atom(m.group(1)),)
                pos = m.end()
            elif name.startswith(b"BODY["):
                if text.startswith(b"{", pos):
                    m = _LITERAL.match(text, pos)
                    if m is None or m.end() != len(text) or literal is None:
                        raise _Unrecognised
                    if len(literal) != int(m.group(1)):
                        raise _Unrecognised
                    msg[name] = literal
                    # The rest of the response follows the literal as the next record.
                    text, literal = _split(next(records))
                    pos = 0
                    continue
                if text.startswith(b'"', pos):
                    m = _QUOTED.match(text, pos)
                    if m is None:
                        raise _Unrecognised
                    msg[name] = _unquote(m.group(1))
                else:
                    m = _NIL.match(text, pos)
                    if m is None:
                        raise _Unrecognised
                    msg[name] = None
                pos = m.end()
            else:
                raise _Unrecognised
        if literal is not None or text[pos:].strip(b" "):
            raise _Unrecognised  # an unused literal, or more after the closing ")"
        existing = out.get(msg_id)
        if existing is None:
            out[msg_id] = msg
        else:
            existing.update(msg)
    return out


def _split(record: object) -> tuple[bytes, bytes | None]:
    if isinstance(record, bytes):
        return record, None
    if (
        isinstance(record, tuple)
        and len(record) == 2
        and isinstance(record[0], bytes)
        and isinstance(record[1], bytes)
    ):
        return record[0], record[1]
    raise _Unrecognised


def _atom(token: bytes) -> Any:
    """A bare token as imapclient's `atom` types it: NIL, integers, else bytes."""
    if token.isdigit() and (token[:1] != b"0" or len(token) == 1):
        return int(token)
    if token == b"NIL":
        return None
    return token


def _unquote(body: bytes) -> bytes:
    return _UNESCAPE.sub(rb"\1", body) if b"\\" in body else body


def _date(value: bytes) -> datetime | None:
    """INTERNALDATE ("17-Jul-1996 02:44:25 -0700") with its own offset, or None if
    unreadable — what imapclient gives with normalise_times off."""
    m = _DATE.fullmatch(value)
    month = _MONTHS.get(m.group(2).lower()) if m is not None else None
    if m is None or month is None or m.group(7, 8, 9) == (b"-", b"00", b"00"):
        return _slow_date(value)  # "-0000" means "no zone" to email.utils
    day, _, year, hour, minute, second, sign, zh, zm = m.groups()
    year_n = int(year)
    offset = int(zh) * 60 + int(zm)
    if year_n < 100 or offset >= 24 * 60:
        return _slow_date(value)
    zone_key = sign + zh + zm
    zone = _ZONES.get(zone_key)
    if zone is None:
        zone = timezone(timedelta(minutes=-offset if sign == b"-" else offset))
        _ZONES[zone_key] = zone
    try:
        return datetime(year_n, month, int(day), int(hour), int(minute), int(second), tzinfo=zone)
    except ValueError:
        return None


def _slow_date(value: bytes) -> datetime | None:
    try:
        return parse_to_datetime(value, normalise=False)
    except ValueError:
        return None
