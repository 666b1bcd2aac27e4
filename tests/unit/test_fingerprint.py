"""The fingerprint (mime/fingerprint.py): equal for copies of one message whatever a
server or a store added, different for different messages under one Message-ID."""

from __future__ import annotations

from pathlib import Path

import pytest

from emailsync.mime.fingerprint import (
    BODY_SAMPLE,
    DIGITS,
    LENGTH,
    fingerprint,
    head_part,
    head_print,
)
from emailsync.mime.parse import parse_message, parse_safely

SENT = (
    b"From: Me <me@example.com>\r\n"
    b"To: Bob <bob@acme.example>\r\n"
    b"Subject: Renewal quote for\r\n the next year\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <q1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"\r\n"
    b"the quote is attached. \r\n"
    b"-- \r\n"
    b"Me\r\n"
)
# What a delivery adds in front (Postfix, Dovecot's LDA, a spam filter).
DELIVERED = (
    b"Return-Path: <me@example.com>\r\n"
    b"Delivered-To: me@example.com\r\n"
    b"Received: from mx.example.com (mx.example.com [192.0.2.1])\r\n"
    b"\tby mail.example.com with ESMTPS id 4F2; Tue, 01 Dec 2026 10:00:01 +0000\r\n"
    b"X-Spam-Status: No, score=-1.0\r\n" + SENT
)


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def test_a_fingerprint_is_two_halves_of_hex() -> None:
    value = fingerprint(SENT)
    assert len(value) == LENGTH and int(value, 16) >= 0
    assert head_part(value) == value[:DIGITS]


def test_lf_and_crlf_copies_have_one_fingerprint() -> None:
    assert fingerprint(lf(SENT)) == fingerprint(SENT)


def test_headers_a_delivery_adds_do_not_count() -> None:
    assert fingerprint(DELIVERED) == fingerprint(SENT)
    assert fingerprint(lf(DELIVERED)) == fingerprint(SENT)


def test_white_space_at_line_ends_and_the_final_newline_do_not_count() -> None:
    stripped = SENT.replace(b" \r\n", b"\r\n").removesuffix(b"\r\n")
    assert stripped != SENT
    assert fingerprint(stripped) == fingerprint(SENT)
    assert fingerprint(SENT + b"\r\n\r\n") == fingerprint(SENT)


def test_folding_of_the_subject_does_not_count() -> None:
    unfolded = SENT.replace(b"for\r\n the next year", b"for the next year")
    assert fingerprint(unfolded) == fingerprint(SENT)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"From: Me <me@example.com>", b"From: Eve <eve@evil.example>"),
        (b"Date: Tue, 01 Dec 2026 10:00:00", b"Date: Tue, 01 Dec 2026 10:00:01"),
        (b"Subject: Renewal quote for", b"Subject: Renewal quote of"),
        (b"To: Bob <bob@acme.example>", b"To: Ann <ann@acme.example>"),
        (b"charset=utf-8", b"charset=iso-8859-1"),
        (b"the quote is attached.", b"the quote is NOT attached."),
    ],
)
def test_a_different_sender_date_subject_or_body_is_a_different_message(
    old: bytes, new: bytes
) -> None:
    other = SENT.replace(old, new)
    assert other != SENT
    assert fingerprint(other) != fingerprint(SENT)


def test_the_head_half_comes_from_a_headers_only_fetch_too() -> None:
    """What BODY.PEEK[HEADER.FIELDS (imap/session.py HEADER_FIELDS)] returns: those
    fields, in the message's order, folded as sent, ended by an empty line."""
    fields = (
        b"From: Me <me@example.com>\r\n"
        b"To: Bob <bob@acme.example>\r\n"
        b"Subject: Renewal quote for\r\n the next year\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        b"Message-ID: <q1@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
    )
    assert head_print(fields) == head_part(fingerprint(DELIVERED))
    assert head_print(fields.replace(b"Me <", b"Eve <")) != head_part(fingerprint(SENT))


def test_only_the_first_of_a_repeated_field_counts() -> None:
    twice = SENT.replace(b"Date: Tue", b"Subject: Another\r\nDate: Tue")
    assert head_part(fingerprint(twice)) == head_part(fingerprint(SENT))


def test_a_message_without_a_body_or_without_headers_has_one() -> None:
    assert len(fingerprint(b"Subject: only headers\r\n")) == LENGTH
    assert len(fingerprint(b"\r\nonly a body\r\n")) == LENGTH
    assert len(fingerprint(b"")) == LENGTH
    assert fingerprint(b"\r\nonly a body\r\n") == fingerprint(b"\nonly a body")


def test_an_empty_line_in_lf_mail_ends_the_header_block_even_when_crlf_lines_follow() -> None:
    mixed = b"Subject: a\nFrom: x@y\n\nbody line\r\nSubject: not a header\r\n"
    assert head_part(fingerprint(mixed)) == head_print(b"Subject: a\nFrom: x@y\n")


def test_the_body_is_sampled_after_white_space_is_deleted() -> None:
    """Past BODY_SAMPLE bytes of text the body no longer counts, the same sample for
    an LF and a CRLF copy (which differ in length)."""
    lines = b"".join(b"line %06d of a long attachment\r\n" % n for n in range(8000))
    big = SENT + lines
    assert len(lines) > 2 * BODY_SAMPLE
    assert fingerprint(lf(big)) == fingerprint(big)
    assert fingerprint(big + b"more") == fingerprint(big)  # past the sample
    assert fingerprint(SENT + b"x" + lines) != fingerprint(big)  # inside it


def test_a_body_of_mostly_white_space_still_fills_its_sample() -> None:
    airy = SENT + b" \r\n" * BODY_SAMPLE + b"end"
    assert fingerprint(airy) != fingerprint(SENT)
    assert fingerprint(lf(airy)) == fingerprint(airy)


def test_the_parsed_message_carries_the_fingerprint() -> None:
    assert parse_message(SENT).fingerprint == fingerprint(SENT)
    assert parse_safely(lf(DELIVERED)).fingerprint == fingerprint(SENT)
    assert parse_safely(b"").fingerprint == fingerprint(b"")


CORPUS_TWINS = [
    "mikel-mail__plain_emails__basic_email",
    "mikel-mail__attachment_emails__attachment_pdf",
    "mikel-mail__attachment_emails__attachment_pdf_non_ascii",
]


@pytest.mark.parametrize("name", CORPUS_TWINS)
def test_the_corpus_lf_and_crlf_copies_have_one_fingerprint(corpus_dir: Path, name: str) -> None:
    crlf, lf_copy = corpus_dir / f"{name}.eml", corpus_dir / f"{name}_lf.eml"
    if not crlf.exists() or not lf_copy.exists():
        pytest.skip(f"the shared corpus is not at {corpus_dir}")
    assert crlf.read_bytes() != lf_copy.read_bytes()
    assert fingerprint(crlf.read_bytes()) == fingerprint(lf_copy.read_bytes())


def test_corpus_files_that_share_a_message_id_but_differ_have_different_fingerprints(
    corpus_dir: Path,
) -> None:
    """The corpus has real examples of the problem: one Message-ID on several messages."""
    files = sorted(p for p in corpus_dir.glob("*") if p.suffix in (".eml", ".txt"))
    if not files:
        pytest.skip(f"the shared corpus is not at {corpus_dir}")
    by_id: dict[str, set[str]] = {}
    for path in files:
        parsed = parse_message(path.read_bytes())
        if parsed.message_id:
            by_id.setdefault(parsed.message_id, set()).add(parsed.fingerprint)
    assert len(by_id["15090.61304.110929.45684@aaa.zzz.org"]) == 5  # Content-Type, body
    assert len(by_id["1234@local.machine.example"]) == 2  # To; a Sender alone is a copy
    assert len(by_id["xxx@xxxx.xxx"]) == 3
    assert sum(len(prints) > 1 for prints in by_id.values()) >= 10
