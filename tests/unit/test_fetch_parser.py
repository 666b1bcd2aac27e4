"""The fast FETCH parser agrees with imapclient's parser on what the session asks for.

Every case is differential: `parse_fetch` must return exactly what imapclient's
`parse_fetch_response(data, normalise_times=False, uid_is_key=True)` returns for the
raw list imaplib collects (bytes lines and `(line ending in {n}, literal)` tuples),
including each INTERNALDATE's UTC offset. Inputs the fast path does not recognise must
fall back to imapclient, never return something different.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.exceptions import ProtocolError
from imapclient.response_parser import parse_fetch_response

from emailsync.imap.fetch_parser import parse_fetch, parse_fetch_fast

HEADERS = b"BODY[HEADER.FIELDS (MESSAGE-ID FROM SENDER REPLY-TO TO CC BCC)]"
MESSAGE = (
    b"Message-ID: <m1@example.com>\r\nFrom: Bob <bob@example.com>\r\n"
    b"To: alice@example.com\r\nSubject: Hi\r\n\r\nBody.\r\n"
)


def reference(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    return dict(parse_fetch_response(data, False, True))


def comparable(parsed: dict[int, dict[bytes, Any]] | None) -> object:
    """INTERNALDATE as (wall time, offset): equal instants in different zones differ,
    and offsets beyond ±24h (which datetime cannot compare) still compare."""

    def date(value: Any) -> object:
        if value is None or value.tzinfo is None:
            return value
        return (value.replace(tzinfo=None), value.tzinfo.utcoffset(None))

    if parsed is None:
        return None
    return {
        k: {key: date(v) if key == b"INTERNALDATE" else v for key, v in d.items()}
        for k, d in parsed.items()
    }


def assert_same(data: list[Any], *, fast: bool = True) -> dict[int, dict[bytes, Any]]:
    expected = comparable(reference(data))
    got = parse_fetch(data)
    assert comparable(got) == expected
    if fast:
        assert comparable(parse_fetch_fast(data)) == expected, "fast path should handle this"
    return got


def full(
    seq: int, uid: int, body: bytes = MESSAGE, *, flags: bytes = rb"\Seen", modseq: bool = True
) -> list[Any]:
    ms = b" MODSEQ (42)" if modseq else b""
    head = (
        b'%d (UID %d RFC822.SIZE %d FLAGS (%s) INTERNALDATE "17-Jul-1996 02:44:25 -0700"%s '
        b"BODY[] {%d}" % (seq, uid, len(body), flags, ms, len(body))
    )
    return [(head, body), b")"]


# -- differential cases -------------------------------------------------------------------


def test_dovecot_order_full_body() -> None:
    got = assert_same(full(1, 10) + full(2, 11))
    assert got[10][b"BODY[]"] == MESSAGE
    assert got[11][b"MODSEQ"] == (42,)
    assert got[10][b"SEQ"] == 1


@pytest.mark.parametrize(
    "line",
    [
        b"3 (UID 7 FLAGS (\\Seen \\Answered $Forwarded Junk) RFC822.SIZE 1234 "
        b'INTERNALDATE "01-Jan-2024 10:00:00 +0000" MODSEQ (99) BODY[] NIL)',
        b'3 (BODY[] NIL MODSEQ (99) INTERNALDATE "01-Jan-2024 10:00:00 +0530" '
        b"RFC822.SIZE 1234 FLAGS () UID 7)",
        b'3 (FLAGS (\\Seen) UID 7 INTERNALDATE " 7-Feb-2023 23:59:59 -1200" RFC822.SIZE 0)',
        b'3 (UID 7 INTERNALDATE "07-feb-2023 00:00:00 +1400" FLAGS (\\Flagged NIL 12 012 0))',
        b"3 (FLAGS (\\Deleted \\Recent))",  # unsolicited, keyed by sequence number
        b"3 ()",
        b'3 (UID 7 BODY[] "quoted \\"body\\" \\\\ \\x")',
        b"3 (UID 7 RFC822.SIZE 0123 MODSEQ (0))",
        b'3 (UID 7 INTERNALDATE "31-Dec-1999 23:59:60 +0000")',  # invalid → None
        b'3 (UID 7 INTERNALDATE "30-Feb-2001 10:00:00 +0100")',  # invalid → None
        b"3 (UID 7 INTERNALDATE NIL)",
        b"3 (uid 7 flags (\\seen) rfc822.size 5)",
        b"3 (UID 7 BODY[]<0> NIL)",
        b"  3 (UID 7  FLAGS (\\Seen  $X)  RFC822.SIZE 5 )",
    ],
)
def test_single_lines(line: bytes) -> None:
    assert_same([line])


@pytest.mark.parametrize(
    "date",
    [
        b"-0000",  # "no zone" to email.utils: imapclient returns a naive datetime
        b"+2400",
    ],
)
def test_unusual_zones_match_imapclient(date: bytes) -> None:
    assert_same([b'3 (UID 7 INTERNALDATE "17-Jul-1996 02:44:25 ' + date + b'")'])


def test_two_digit_year_matches_imapclient() -> None:
    assert_same([b'3 (UID 7 INTERNALDATE "17-Jul-0096 02:44:25 +0100")'])


def test_header_fields_section_is_echoed_as_the_key() -> None:
    head = b"From: a@example.com\r\n\r\n"
    data: list[Any] = [
        (
            b'5 (UID 9 FLAGS () INTERNALDATE "17-Jul-1996 02:44:25 +0200" RFC822.SIZE 900 '
            + HEADERS
            + b" {%d}" % len(head),
            head,
        ),
        b" MODSEQ (3))",
    ]
    got = assert_same(data)
    assert got[9][HEADERS] == head


def test_empty_and_huge_literals() -> None:
    huge = bytes(range(256)) * 40_000 + b")\r\n{5}\r\n"
    got = assert_same(full(1, 10, b"") + full(2, 11, huge))
    assert got[10][b"BODY[]"] == b""
    assert got[11][b"BODY[]"] is huge  # the literal is passed through, not copied


def test_two_literals_in_one_response() -> None:
    data: list[Any] = [
        (b"1 (UID 4 BODY[] {3}", b"abc"),
        (b" " + HEADERS + b" {2}", b"xy"),
        b" FLAGS (\\Seen))",
    ]
    assert_same(data)


def test_duplicate_responses_for_one_uid_are_merged() -> None:
    data = [
        *full(1, 10),
        b"1 (UID 10 FLAGS (\\Seen \\Flagged) MODSEQ (50))",
        b"2 (FLAGS (\\Deleted))",
    ]
    got = assert_same(data)
    assert got[10][b"FLAGS"] == (b"\\Seen", b"\\Flagged")
    assert got[10][b"BODY[]"] == MESSAGE


def test_no_responses() -> None:
    assert_same([None])
    assert_same([])


@pytest.mark.parametrize(
    "data",
    [
        [b'1 (UID 4 ENVELOPE ("date" "subj" NIL NIL NIL NIL NIL NIL NIL "<id>"))'],
        [b"1 (UID 4 X-GM-LABELS (\\Inbox))"],
        [b'1 (UID 4 BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1))'],
        [b"1 (UID 4 FLAGS (\\Seen)\t RFC822.SIZE 5)"],
        [b"1 (UID 4 FLAGS ({3}))"],
        [b'1 (UID 4 FLAGS ("quoted"))'],
        [b"1 (UID 4) 2 (UID 5)"],
        [(b"1 (UID 4 BODY[] {3}", b"abcd"), b")"],  # literal size mismatch
        [(b"1 (UID 4 BODY[] {3}", b"abc")],  # response ends after the literal
        [(b"1 (UID 4 FLAGS () {3}", b"abc"), b")"],
        [b"1 (UID 4 FLAGS (\\Seen"],
        [b"1 (UID x)"],
        [b"UID 4"],
        [b""],
        [b"1 (UID 4 BODY[] 5)"],
        [b"1 (UID 4 RFC822.SIZE 5a)"],
        [b"1 (UID 4 INTERNALDATE 17-Jul-1996)"],
        [b'1 (UID 4 INTERNALDATE "garbage")'],
        [b"1 (UID 4 MODSEQ 5)"],
        [b"1 (UID 4 FLAGS (\\Seen)) trailing"],
        [b"1 (UID 4 NILX NIL)"],
        [None, b"1 (UID 4)"],
        ["1 (UID 4)"],
        [(b"1 (UID 4 BODY[] {3}", b"abc", b"extra"), b")"],
    ],
)
def test_unrecognised_input_falls_back_to_imapclient(data: list[Any]) -> None:
    """The fast path declines, never raises; parse_fetch then gives imapclient's answer
    (or raises what imapclient raises)."""
    fast = parse_fetch_fast(data)
    try:
        expected: object = reference(data)
    except Exception as e:  # imapclient rejects it too
        assert fast is None
        with pytest.raises(type(e)):
            parse_fetch(data)
        return
    assert fast is None or fast == expected
    assert parse_fetch(data) == expected


@given(st.binary(max_size=200), st.binary(max_size=50))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_break_the_fast_path(line: bytes, literal: bytes) -> None:
    for data in ([line], [(line + b" {%d}" % len(literal), literal), b")"]):
        fast = parse_fetch_fast(data)
        if fast is not None:
            assert comparable(fast) == comparable(reference(data))


# -- generated responses --------------------------------------------------------------

_atom_chars = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHXYZ0123456789$_-.*]}<>"))
_flag = st.one_of(
    st.sampled_from(
        [b"\\Seen", b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Draft", b"\\Recent"]
    ),
    st.sampled_from([b"$Forwarded", b"$MDNSent", b"NonJunk", b"NIL", b"0", b"007", b"42"]),
    st.text(_atom_chars, min_size=1, max_size=12).map(str.encode),
    st.text(_atom_chars, min_size=1, max_size=8).map(lambda s: b"\\" + s.encode()),
)
_date = st.builds(
    lambda d, mon, y, h, mi, s, sign, zh, zm, pad: (
        b'"%s-%s-%04d %02d:%02d:%02d %s%02d%02d"'
        % ((b"%2d" if pad else b"%02d") % d, mon, y, h, mi, s, sign, zh, zm)
    ),
    st.integers(1, 31),
    st.sampled_from([b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"aug", b"SEP"]),
    st.integers(1900, 2100),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from([b"+", b"-"]),
    st.integers(0, 14),
    st.sampled_from([0, 15, 30, 45]),
    st.booleans(),
)
_section = st.sampled_from([b"BODY[]", HEADERS, b"BODY[HEADER.FIELDS (FROM)]", b"BODY[]<0>"])


@st.composite
def responses(draw: st.DrawFn) -> list[Any]:
    """One FETCH response as imaplib's records, items in any order."""
    seq = draw(st.integers(1, 10**6))
    items: list[tuple[bytes, Any]] = []
    if draw(st.integers(0, 5)):  # unsolicited responses carry no UID
        items.append((b"UID", b"%d" % draw(st.integers(1, 2**32 - 1))))
    if draw(st.booleans()):
        flags = draw(st.lists(_flag, max_size=6))
        items.append((b"FLAGS", b"(" + b" ".join(flags) + b")"))
    if draw(st.booleans()):
        items.append((b"INTERNALDATE", draw(_date)))
    if draw(st.booleans()):
        items.append((b"RFC822.SIZE", b"%d" % draw(st.integers(0, 10**9))))
    if draw(st.booleans()):
        items.append((b"MODSEQ", b"(%d)" % draw(st.integers(0, 2**63 - 1))))
    body = draw(st.one_of(st.none(), st.just(b"NIL"), st.binary(max_size=300)))
    if body is not None:
        items.append((draw(_section), body))
    items = draw(st.permutations(items))
    records: list[Any] = []
    text = b"%d (" % seq
    first = True
    for name, value in items:
        text += (b"" if first else b" ") + name + b" "
        first = False
        if isinstance(value, bytes) and name.startswith(b"BODY[") and value != b"NIL":
            records.append((text + b"{%d}" % len(value), value))
            text = b""
        else:
            text += value
    records.append(text + b")")
    return records


@given(st.lists(responses(), min_size=1, max_size=5))
@settings(max_examples=400, deadline=None)
def test_generated_responses_match_imapclient(batch: list[list[Any]]) -> None:
    data = [record for response in batch for record in response]
    assert_same(data)


def test_protocol_errors_still_come_from_imapclient() -> None:
    with pytest.raises(ProtocolError):
        parse_fetch([b"1 (UID 4 FLAGS (\\Seen"])
