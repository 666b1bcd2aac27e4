"""Odd and broken messages: every one parses without raising, and what it is known to
hold comes out.

Two corpora (tests/support/corpus.py): our own in tests/corpus/, always present, whose
README says what each file covers and whose expected values below were set when the
files were written; and the shared one of real-world files (mikel/mail and CPython),
checked in addition when it lies beside the checkout. Its manifest lists sources and
licences but no expected values, so a set of well-known messages is spot-checked by
hand; those expected values were read off the raw files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emailsync.domain.model import Address, ParsedMessage
from emailsync.mime import parse_header_summary, parse_message
from support.corpus import (
    OWN_CORPUS,
    SHARED_CORPUS,
    corpus_files,
    corpus_params,
    needs_shared,
)

CORPUS = SHARED_CORPUS


def _parse(name: str) -> ParsedMessage:
    return parse_message((CORPUS / name).read_bytes())


def _own(name: str) -> ParsedMessage:
    return parse_message((OWN_CORPUS / name).read_bytes())


def _filenames(name: str) -> list[str]:
    return [a.filename for a in _parse(name).attachments]


def test_our_readme_describes_every_corpus_file() -> None:
    readme = (OWN_CORPUS / "README.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\| `([^`]+\.eml)` \|", readme, flags=re.MULTILINE))
    assert described == {p.name for p in corpus_files(OWN_CORPUS)}


@needs_shared
def test_manifest_lists_every_shared_corpus_file() -> None:
    lines = (CORPUS / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    listed = {line.split("\t", 1)[0] for line in lines[1:] if line.strip()}
    assert listed == {p.name for p in corpus_files(CORPUS)}


@pytest.mark.parametrize("path", corpus_params())
def test_every_corpus_message_parses(path: Path) -> None:
    raw = path.read_bytes()
    parsed = parse_message(raw)
    assert not any(d.startswith("parse failed") for d in parsed.defects)
    assert parsed.date is None or parsed.date.utcoffset() is not None
    assert all(a.size >= 0 and a.filename for a in parsed.attachments)
    assert all(a.email and a.email == a.email.lower() for a in _all_addresses(parsed))
    header_end = raw.find(b"\r\n\r\n")
    summary = parse_header_summary(raw if header_end < 0 else raw[: header_end + 4])
    assert summary.message_id == parsed.message_id
    assert summary.participants == parsed.participants


def _all_addresses(parsed: ParsedMessage) -> list[Address]:
    p = parsed.participants
    return [*p.from_, *p.sender, *p.reply_to, *p.to, *p.cc, *p.bcc]


# === our corpus: what each file was written to hold =========================================


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("attachment-rfc2231.eml", ["Präsentation Q1.txt", "résumé du projet été.txt", "日本.bin"]),
        ("encoded-word-filename.eml", ["Contrato assinado é.pdf"]),
        ("attachment-unnamed-and-raw-8bit-name.eml", ["attachment-1.pdf", "Überweisung März.png"]),
        ("tnef-winmail.eml", ["winmail.dat"]),
        ("smime-signed.eml", ["smime.p7s"]),
        ("smime-opaque.eml", ["smime.p7m"]),
        ("nested-rfc822.eml", ["Fwd the original.eml"]),
        ("line-ends-lf.eml", ["note.txt"]),
    ],
)
def test_our_attachment_names(name: str, expected: list[str]) -> None:
    """RFC 2231 §3-4 (charset, language, continuations), RFC 2047 words in a quoted
    name, raw UTF-8 names, and unnamed parts given a name by their type."""
    assert [a.filename for a in _own(name).attachments] == expected


def test_rfc2047_words_decode_in_subject_and_names() -> None:
    parsed = _own("encoded-words.eml")
    assert parsed.subject == "Präsentation für den Kunden (draft)"  # adjacent words join
    assert parsed.participants.from_ == (Address("soren@kohler.example", "Søren Køhler"),)
    assert [a.name for a in parsed.participants.to] == ["José María", "Zoë"]


def test_legacy_charsets_in_encoded_words_and_quoted_printable() -> None:
    parsed = _own("charset-latin1-qp.eml")
    assert parsed.subject == "Devis – révision “finale”"  # windows-1252
    assert parsed.participants.from_[0].name == "André Lefèvre"
    assert parsed.text_body.startswith("Voici le devis révisé.")
    assert "qui continue ici." in parsed.text_body  # a soft line break joined


def test_broken_encoded_words_leave_readable_text_and_the_addresses() -> None:
    parsed = _own("encoded-words-broken.eml")
    assert parsed.subject.endswith("€ euro")  # a character split over two words
    assert [a.email for a in parsed.participants.from_] == ["broken@words.example"]
    assert [a.email for a in parsed.participants.to] == ["somebody@words.example"]


@pytest.mark.parametrize(
    ("name", "charset"),
    [("charset-unknown.eml", "x-northwind-7"), ("charset-mislabelled.eml", "us-ascii")],
)
def test_a_body_in_an_unknown_or_wrong_charset_is_still_text(name: str, charset: str) -> None:
    parsed = _own(name)
    assert parsed.text_body.strip()
    assert f"body charset fallback from {charset}" in parsed.defects


def test_a_utf16_body_is_decoded() -> None:
    assert _own("charset-body-utf16.eml").text_body == "Meeting notes attached, see you Friday.\n"


@pytest.mark.parametrize("name", ["headers-8bit.eml", "headers-8bit-latin1.eml"])
def test_raw_8bit_headers_are_read(name: str) -> None:
    """RFC 6532 UTF-8 headers, and Latin-1 bytes that are not UTF-8 at all."""
    subject = {"headers-8bit.eml": "Angebot für Öl und Gas — 8-bit, not encoded",
               "headers-8bit-latin1.eml": "Réunion à 10h"}[name]  # fmt: skip
    assert _own(name).subject == subject


def test_folded_headers_are_unfolded() -> None:
    """RFC 5322 §2.2.3: a fold is CRLF before white space; unfolding removes the CRLF."""
    parsed = _own("headers-folded.eml")
    assert parsed.subject.startswith("A subject long enough that the sending client folded")
    assert parsed.subject.endswith("with a tab on the next one and spaces kept between the words")
    assert parsed.message_id == "headers-folded@corpus.emailsync.test"
    assert [a.email for a in parsed.participants.to] == [
        "one@folded.example",
        "two@folded.example",
        "three@folded.example",
    ]
    assert parsed.date is not None and parsed.date.isoformat() == "2026-02-15T12:50:00+00:00"


def test_duplicated_headers_take_the_first_subject_and_id() -> None:
    parsed = _own("headers-duplicated.eml")
    assert parsed.subject == "first subject"
    assert parsed.message_id == "headers-duplicated-1@corpus.emailsync.test"


def test_missing_from_date_and_message_id_are_empty_not_errors() -> None:
    parsed = _own("headers-missing.eml")
    assert (parsed.message_id, parsed.date, parsed.participants.from_) == ("", None, ())
    assert parsed.subject == "no Date, no Message-ID, no From"


def test_an_unreadable_date_is_none_and_an_obsolete_one_is_read() -> None:
    assert _own("headers-bad-dates.eml").date is None
    assert "unparseable Date" in _own("headers-bad-dates.eml").defects
    odd = _own("headers-odd-dates.eml").date  # RFC 5322 §4.3: "26" and "EST"
    assert odd is not None and odd.isoformat() == "2026-02-20T15:00:00+00:00"


def test_odd_addresses_keep_every_real_mailbox() -> None:
    """Groups (RFC 5322 §3.4), comments, a display name with a comma; the half address
    and the unquoted @ in a display name are refused."""
    p = _own("headers-addresses-odd.eml").participants
    assert p.from_ == (Address("john.smith@sales.example", "Smith, John (Sales)"),)
    assert p.reply_to == ()  # an empty group
    assert [a.email for a in p.to] == ["ann@team.example", "bob@team.example", "carol@team.example"]
    assert [a.email for a in p.cc] == ["no@lair.example", "angle-only@team.example"]
    assert p.bcc == (Address("mueller@xn--mller-kva.example", "Müller"),)


def test_threading_headers_survive_comments_and_a_broken_id() -> None:
    parsed = _own("headers-references-odd.eml")
    assert parsed.in_reply_to == "parent@corpus.emailsync.test"
    assert parsed.references == (
        "root@corpus.emailsync.test",
        "parent@corpus.emailsync.test",
        "second-header@corpus.emailsync.test",
    )


def test_huge_headers_are_read_whole() -> None:
    parsed = _own("headers-huge.eml")
    assert len(parsed.references) == 1500
    assert parsed.subject.endswith("end") and len(parsed.subject) > 1000
    assert parsed.participants.from_[0].email == "wade@long.example"


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("mime-no-boundary-parameter.eml", "NoBoundaryInMultipartDefect"),
        ("mime-boundary-never-used.eml", "StartBoundaryNotFoundDefect"),
        ("mime-truncated.eml", "CloseBoundaryNotFoundDefect"),
        ("mime-no-header-body-separator.eml", "MissingHeaderBodySeparatorDefect"),
    ],
)
def test_broken_structure_is_recorded_as_a_defect(name: str, defect: str) -> None:
    """RFC 2046 §5.1.1 boundaries and RFC 5322 §2.1 header/body separation."""
    assert defect in _own(name).defects


def test_a_truncated_message_keeps_its_text_and_its_cut_attachment() -> None:
    parsed = _own("mime-truncated.eml")
    assert parsed.text_body == "The spreadsheet follows."
    assert [a.filename for a in parsed.attachments] == ["numbers.xls"]


def test_an_unquoted_boundary_with_odd_characters_still_splits() -> None:
    parsed = _own("mime-unquoted-boundary-odd-chars.eml")
    assert parsed.text_body == "plain part"
    assert "html part" in parsed.html_body
    assert "preamble" not in parsed.text_body and "epilogue" not in parsed.text_body


def test_nested_messages_are_one_attachment_of_the_outer_one() -> None:
    (attached,) = _own("nested-rfc822.eml").attachments
    assert attached.content_type == "message/rfc822"
    assert _own("nested-rfc822.eml").text_body == "Two levels of forwarded messages below."
    assert _own("nested-rfc822-headers-only.eml").text_body == "See below."


def test_the_same_message_with_lf_or_crlf_parses_the_same() -> None:
    assert _own("line-ends-lf.eml") == _own("line-ends-crlf.eml")


def test_distinct_messages_may_share_a_message_id() -> None:
    first, second = _own("duplicate-id-first.eml"), _own("duplicate-id-second.eml")
    assert first.message_id == second.message_id == "shared-id@corpus.emailsync.test"
    assert (first.subject, second.subject) == ("Order 1001", "Order 1002")


def test_calendar_bounce_and_signature_parts_are_attachments() -> None:
    invite = _own("calendar-invite.eml")
    assert invite.text_body == "You are invited to: Contract review."
    assert [a.content_type for a in invite.attachments] == ["text/calendar", "application/ics"]
    bounce = _own("dsn-bounce.eml")  # RFC 3464
    assert [a.content_type for a in bounce.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    signed = _own("smime-signed.eml")  # RFC 8551 §3.5.3
    assert signed.text_body == "I confirm the figures in the attached statement."
    assert signed.attachments[0].content_type == "application/pkcs7-signature"


def test_an_inline_image_keeps_its_content_id() -> None:
    parsed = _own("html-inline-image.eml")
    (logo,) = parsed.attachments
    assert (logo.content_id, logo.inline) == ("logo@carter.example", True)
    assert 'src="cid:logo@carter.example"' in parsed.html_body


@pytest.mark.parametrize("name", ["empty-body.eml", "headers-only.eml", "multipart-empty.eml"])
def test_empty_messages_have_empty_bodies(name: str) -> None:
    parsed = _own(name)
    assert parsed.text_body == "" and parsed.html_body == ""


# === the shared corpus: spot checks (skipped when it is absent) ===========================


# --- attachments ----------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mikel-mail__attachment_emails__attachment_pdf.eml", ["broken.pdf"]),
        ("mikel-mail__attachment_emails__attachment_content_disposition.eml", ["api.rb"]),
        ("mikel-mail__attachment_emails__attachment_nonascii_filename.eml", ["ciële.txt"]),
        (
            "mikel-mail__attachment_emails__attachment_with_quoted_filename.eml",
            ["Eelanalüüsi päring.jpg"],
        ),
        (
            "mikel-mail__attachment_emails__attachment_with_base64_encoded_name.eml",
            ["This is a test.pdf"],
        ),
        (
            "mikel-mail__attachment_emails__attachment_with_unquoted_name.eml",
            ["This is a test.txt"],
        ),
        ("mikel-mail__attachment_emails__attachment_only_email.eml", ["blah.gz"]),
        (
            "mikel-mail__attachment_emails__attachment_message_rfc822_inline_image.eml",
            ["img.png", "Testmail.eml"],
        ),
        (
            "mikel-mail__multi_charset__japanese_attachment_long_name.eml",
            ["かきくけこ" * 5 + ".txt"],
        ),
        ("cpython__msg_07.txt", ["dingusfish.gif"]),
        ("cpython__msg_45.txt", ["signature.asc"]),
    ],
)
@needs_shared
def test_attachment_filenames(name: str, expected: list[str]) -> None:
    assert _filenames(name) == expected


@needs_shared
def test_attached_message_is_a_single_rfc822_attachment() -> None:
    (att,) = _parse("mikel-mail__attachment_emails__attachment_message_rfc822.eml").attachments
    assert att.filename == "ForwardedMessage.eml"
    assert att.content_type == "message/rfc822"


@needs_shared
def test_inline_image_keeps_content_id_and_inline_flag() -> None:
    parsed = _parse("mikel-mail__attachment_emails__attachment_message_rfc822_inline_image.eml")
    image = parsed.attachments[0]
    assert image.content_id == "emedfeb92f-a786-4718-a446-98db8afb53fb@kronos"
    assert image.inline is True
    assert 'src="cid:emedfeb92f' in parsed.html_body


@needs_shared
def test_attachment_only_message_has_no_text_body() -> None:
    parsed = _parse("mikel-mail__attachment_emails__attachment_only_email.eml")
    assert parsed.text_body == ""
    assert parsed.attachments[0].content_type == "application/x-gzip"


@needs_shared
def test_bounce_report_parts_are_attachments() -> None:
    parsed = _parse("mikel-mail__multipart_report_emails__multi_address_bounce1.eml")
    assert [a.content_type for a in parsed.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert parsed.subject == "Undelivered Mail Returned to Sender"


# --- charsets and headers -------------------------------------------------------------------


@needs_shared
def test_japanese_utf8_subject_and_display_name_are_decoded() -> None:
    parsed = _parse("mikel-mail__multi_charset__japanese.eml")
    assert parsed.subject == "まみむめも"
    assert parsed.participants.to == (Address("raasdnil@gmail.com", "みける"),)
    assert parsed.text_body.startswith("かきくえこ")


@needs_shared
def test_japanese_iso_2022_subject_is_decoded() -> None:
    assert _parse("mikel-mail__multi_charset__japanese_iso_2022.eml").subject == "まみむめも"


@needs_shared
def test_shift_jis_body_is_decoded() -> None:
    parsed = _parse("mikel-mail__multi_charset__japanese_shift_jis.eml")
    assert parsed.text_body.startswith("あいうえお")


@needs_shared
def test_rfc6532_utf8_headers() -> None:
    parsed = _parse("mikel-mail__rfc6532__utf8_headers.eml")
    assert parsed.subject == "Säying Hello"
    assert parsed.participants.from_ == (Address("jdöe@xn--mchine-bua.example", "Jöhn Doe"),)
    assert parsed.participants.to == (Address("märy@xn--exmple-cua.net", "Märy Smith"),)


@needs_shared
def test_partially_encoded_subject() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_with_partially_quoted_subject.eml")
    assert parsed.subject == 'Re: Test: "漢字" mid "漢字" tail'


@needs_shared
def test_encoded_word_in_quoted_display_name() -> None:
    parsed = _parse("mikel-mail__error_emails__invalid_subject_characters.eml")
    assert parsed.participants.from_ == (
        Address("info@formacaofrenetik.info", "Formação Frenetikpolis"),
    )


@needs_shared
def test_rfc2822_group_and_quoted_names() -> None:
    parsed = _parse("mikel-mail__rfc2822__example03.eml")
    assert [a.email for a in parsed.participants.to] == [
        "mary@x.test",
        "jdoe@example.org",
        "one@y.test",
    ]
    assert parsed.participants.cc[1] == Address("sysservices@example.net", 'Giant; "Big" Box')


@needs_shared
def test_rfc2822_comments_in_addresses() -> None:
    parsed = _parse("mikel-mail__rfc2822__example04.eml")
    assert parsed.participants.from_ == (Address("pete@silly.example", "Pete"),)


@needs_shared
def test_unquoted_at_in_display_name_is_refused_but_neighbours_kept() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_with_at_display_name.eml")
    assert [a.email for a in parsed.participants.to] == ["smith@gmail.com", "tom@gmail.com"]
    assert "invalid address in To" in parsed.defects


@needs_shared
def test_reply_threading_headers() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_reply.eml")
    assert parsed.message_id == "473FFE27.20003@xxx.org"
    assert parsed.in_reply_to == "348F04F142D69C21-291E56D292BC@xxxx.net"
    assert parsed.references == (
        "473FF3B8.9020707@xxx.org",
        "348F04F142D69C21-291E56D292BC@xxxx.net",
    )


@needs_shared
def test_repeated_and_broken_references_headers() -> None:
    parsed = _parse("mikel-mail__error_emails__multiple_references_with_one_invalid.eml")
    # The second header "continues" on a line without leading whitespace, which ends the
    # header block; the unterminated `<invalid.` id is dropped, the other two are kept.
    assert parsed.references == ("foo@bar.net", "baz@bar.net")
    assert "MissingHeaderBodySeparatorDefect" in parsed.defects


# --- malformed structure and dates ----------------------------------------------------------


@needs_shared
def test_unquoted_boundary_still_splits_the_message() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_bad_time.eml")
    assert "This message has been scanned" in parsed.text_body
    assert parsed.html_body.startswith("<!DOCTYPE HTML")
    assert parsed.attachments == ()


@needs_shared
@pytest.mark.parametrize(
    "name",
    [
        "mikel-mail__error_emails__bad_date_header.eml",
        "mikel-mail__plain_emails__raw_email_with_bad_date.eml",
    ],
)
@needs_shared
def test_bad_dates_become_none_with_defect(name: str) -> None:
    parsed = _parse(name)
    assert parsed.date is None
    assert "unparseable Date" in parsed.defects


@needs_shared
def test_unknown_charset_body_is_still_text() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email10.eml")
    assert parsed.text_body
    assert "body charset fallback from x-unknown" in parsed.defects
