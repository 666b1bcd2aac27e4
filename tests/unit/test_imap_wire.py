"""imap/wire.py: LIST and STATUS answers and modified UTF-7, held to imapclient's readers
(response_parser, imap_utf7) as the reference, in the manner of imapclient's own table
tests."""

from __future__ import annotations

import subprocess
import sys

import pytest
from imapclient.imap_utf7 import decode, encode
from imapclient.response_parser import parse_response

from emailsync.imap.wire import (
    ListEntry,
    WireError,
    decode_modified_utf7,
    encode_modified_utf7,
    mailbox_name,
    parse_capabilities,
    parse_list,
    parse_status,
    quote,
    unquote,
)

# RFC 3501 §7.2.2 answers as Dovecot and others send them, and what they mean.
LIST_TABLE = [
    (rb'(\HasNoChildren) "/" INBOX', ListEntry(("\\HasNoChildren",), "/", "INBOX")),
    (
        rb'(\HasNoChildren \Sent) "/" Sent',
        ListEntry(("\\HasNoChildren", "\\Sent"), "/", "Sent"),
    ),
    (
        rb'(\HasChildren \Noselect) "/" "Shared"',
        ListEntry(("\\HasChildren", "\\Noselect"), "/", "Shared"),
    ),
    (
        rb"(\HasNoChildren \Archive) NIL Archive",
        ListEntry(("\\HasNoChildren", "\\Archive"), "", "Archive"),
    ),
    (
        rb'(\HasNoChildren) "/" "Clients \"VIP\" &- &AMk-t&AOk-"',
        ListEntry(("\\HasNoChildren",), "/", 'Clients "VIP" & Été'),
    ),
    (rb'(\HasNoChildren) "\\" "back\\slash"', ListEntry(("\\HasNoChildren",), "\\", "back\\slash")),
    (rb'(\HasNoChildren) "/" "&ZeVnLIqe-"', ListEntry(("\\HasNoChildren",), "/", "日本語")),
    (rb'(\HasNoChildren) "/" 2024', ListEntry(("\\HasNoChildren",), "/", "2024")),
    (rb'() "/" Gesendet', ListEntry((), "/", "Gesendet")),
]


@pytest.mark.parametrize(("line", "entry"), LIST_TABLE)
def test_list_answers(line: bytes, entry: ListEntry) -> None:
    assert parse_list([line]) == [entry]


@pytest.mark.parametrize(("line", "entry"), LIST_TABLE)
def test_list_names_read_as_imapclients_parser(line: bytes, entry: ListEntry) -> None:
    flags, delimiter, name = parse_response([line])
    assert tuple(f.decode() for f in flags) == entry.flags
    assert (delimiter or b"").decode() == entry.delimiter
    expected = str(name) if isinstance(name, int) else decode(name)
    assert entry.name == expected


def test_list_skips_empty_answers() -> None:
    assert parse_list([None, b""]) == []


@pytest.mark.parametrize(
    "line",
    [
        rb'(\HasNoChildren) "/" {5}',  # a literal's announcement: imaplib sends a tuple
        rb'(\HasNoChildren) "/" bad"name',
        rb'"/" INBOX',
        rb'(\HasNoChildren) "/" "&Jjo"',  # unterminated UTF-7 run
    ],
)
def test_list_answers_it_cannot_read_raise_wire_error(line: bytes) -> None:
    with pytest.raises(WireError):
        parse_list([line])


def test_a_literal_raises_wire_error() -> None:
    with pytest.raises(WireError, match="literal"):
        parse_list([(b'(\\HasNoChildren) "/" {5}', b"hello")])


def test_status_answers_by_mailbox_name() -> None:
    """RFC 3501 §7.2.4, as Dovecot sends them (quoted when needed, items in any order)."""
    lines = [
        b"INBOX (UIDNEXT 31 UIDVALIDITY 17 HIGHESTMODSEQ 40 MESSAGES 30)",
        rb'"Clients \"VIP\" &- &AMk-t&AOk-" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 18 HIGHESTMODSEQ 3)',
        b"2024 (messages 0)",
    ]
    assert parse_status(lines) == {
        "INBOX": {"UIDNEXT": 31, "UIDVALIDITY": 17, "HIGHESTMODSEQ": 40, "MESSAGES": 30},
        'Clients "VIP" & Été': {"MESSAGES": 1, "UIDNEXT": 2, "UIDVALIDITY": 18, "HIGHESTMODSEQ": 3},
        "2024": {"MESSAGES": 0},
    }


@pytest.mark.parametrize(
    "line", [b"INBOX", b"INBOX (UIDNEXT)", b"INBOX (UIDNEXT x)", (b"INBOX {3}", b"abc")]
)
def test_status_answers_it_cannot_read_raise_wire_error(line: object) -> None:
    with pytest.raises(WireError):
        parse_status([line])


@pytest.mark.parametrize(
    "name", ["INBOX", "&-", "a&-b", "&AMk-t&AOk-", "&ZeVnLIqe-", "x&AOk-y&AOk-z", "&2D3eAA-"]
)
def test_modified_utf7_decodes_as_imapclient(name: str) -> None:
    assert decode_modified_utf7(name.encode()) == decode(name.encode())


@pytest.mark.parametrize(
    "name", ["INBOX", "Sent Items", "A & B", 'Clients "VIP" & Été', "日本語", "x~y", "🙂 ok", ""]
)
def test_modified_utf7_encodes_as_imapclient(name: str) -> None:
    assert encode_modified_utf7(name) == encode(name)
    assert decode_modified_utf7(encode(name)) == name


def test_a_stray_ampersand_is_not_modified_utf7() -> None:
    with pytest.raises(ValueError):
        decode_modified_utf7(b"a&b")
    with pytest.raises(WireError):
        mailbox_name(b'"a&b"')


@pytest.mark.parametrize("text", ["plain", 'say "hi"', "back\\slash", 'both \\"'])
def test_quote_and_unquote_round_trip(text: str) -> None:
    assert unquote(quote(text.encode())) == text


def test_capabilities_are_upper_case_names() -> None:
    assert parse_capabilities(b"IMAP4rev1 condstore ID  IDLE") == {
        "IMAP4REV1",
        "CONDSTORE",
        "ID",
        "IDLE",
    }


def test_importing_it_loads_neither_imapclient_nor_sqlalchemy() -> None:
    """The quick no-change check imports it; both would cost more than the check."""
    code = (
        "import sys, emailsync.imap.wire; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('imapclient', 'sqlalchemy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
