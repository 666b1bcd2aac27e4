"""The shared corpus of real-world and malformed messages (mikel/mail and CPython fixtures).

Every file must parse without raising. The manifest lists sources and licences but no
expected values, so a set of well-known messages is spot-checked by hand below; the
expected values were read off the raw files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emailsync.domain.model import Address, ParsedMessage
from emailsync.mime import parse_header_summary, parse_message

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "manifest.tsv")


def _parse(name: str) -> ParsedMessage:
    return parse_message((CORPUS / name).read_bytes())


def _filenames(name: str) -> list[str]:
    return [a.filename for a in _parse(name).attachments]


def test_manifest_lists_every_corpus_file() -> None:
    lines = (CORPUS / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    listed = {line.split("\t", 1)[0] for line in lines[1:] if line.strip()}
    assert listed == {p.name for p in _corpus_files()}


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
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


# --- attachments ----------------------------------------------------------------------------


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
def test_attachment_filenames(name: str, expected: list[str]) -> None:
    assert _filenames(name) == expected


def test_attached_message_is_a_single_rfc822_attachment() -> None:
    (att,) = _parse("mikel-mail__attachment_emails__attachment_message_rfc822.eml").attachments
    assert att.filename == "ForwardedMessage.eml"
    assert att.content_type == "message/rfc822"


def test_inline_image_keeps_content_id_and_inline_flag() -> None:
    parsed = _parse("mikel-mail__attachment_emails__attachment_message_rfc822_inline_image.eml")
    image = parsed.attachments[0]
    assert image.content_id == "emedfeb92f-a786-4718-a446-98db8afb53fb@kronos"
    assert image.inline is True
    assert 'src="cid:emedfeb92f' in parsed.html_body


def test_attachment_only_message_has_no_text_body() -> None:
    parsed = _parse("mikel-mail__attachment_emails__attachment_only_email.eml")
    assert parsed.text_body == ""
    assert parsed.attachments[0].content_type == "application/x-gzip"


def test_bounce_report_parts_are_attachments() -> None:
    parsed = _parse("mikel-mail__multipart_report_emails__multi_address_bounce1.eml")
    assert [a.content_type for a in parsed.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert parsed.subject == "Undelivered Mail Returned to Sender"


# --- charsets and headers -------------------------------------------------------------------


def test_japanese_utf8_subject_and_display_name_are_decoded() -> None:
    parsed = _parse("mikel-mail__multi_charset__japanese.eml")
    assert parsed.subject == "まみむめも"
    assert parsed.participants.to == (Address("raasdnil@gmail.com", "みける"),)
    assert parsed.text_body.startswith("かきくえこ")


def test_japanese_iso_2022_subject_is_decoded() -> None:
    assert _parse("mikel-mail__multi_charset__japanese_iso_2022.eml").subject == "まみむめも"


def test_shift_jis_body_is_decoded() -> None:
    parsed = _parse("mikel-mail__multi_charset__japanese_shift_jis.eml")
    assert parsed.text_body.startswith("あいうえお")


def test_rfc6532_utf8_headers() -> None:
    parsed = _parse("mikel-mail__rfc6532__utf8_headers.eml")
    assert parsed.subject == "Säying Hello"
    assert parsed.participants.from_ == (Address("jdöe@xn--mchine-bua.example", "Jöhn Doe"),)
    assert parsed.participants.to == (Address("märy@xn--exmple-cua.net", "Märy Smith"),)


def test_partially_encoded_subject() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_with_partially_quoted_subject.eml")
    assert parsed.subject == 'Re: Test: "漢字" mid "漢字" tail'


def test_encoded_word_in_quoted_display_name() -> None:
    parsed = _parse("mikel-mail__error_emails__invalid_subject_characters.eml")
    assert parsed.participants.from_ == (
        Address("info@formacaofrenetik.info", "Formação Frenetikpolis"),
    )


def test_rfc2822_group_and_quoted_names() -> None:
    parsed = _parse("mikel-mail__rfc2822__example03.eml")
    assert [a.email for a in parsed.participants.to] == [
        "mary@x.test",
        "jdoe@example.org",
        "one@y.test",
    ]
    assert parsed.participants.cc[1] == Address("sysservices@example.net", 'Giant; "Big" Box')


def test_rfc2822_comments_in_addresses() -> None:
    parsed = _parse("mikel-mail__rfc2822__example04.eml")
    assert parsed.participants.from_ == (Address("pete@silly.example", "Pete"),)


def test_unquoted_at_in_display_name_is_refused_but_neighbours_kept() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_with_at_display_name.eml")
    assert [a.email for a in parsed.participants.to] == ["smith@gmail.com", "tom@gmail.com"]
    assert "invalid address in To" in parsed.defects


def test_reply_threading_headers() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_reply.eml")
    assert parsed.message_id == "473FFE27.20003@xxx.org"
    assert parsed.in_reply_to == "348F04F142D69C21-291E56D292BC@xxxx.net"
    assert parsed.references == (
        "473FF3B8.9020707@xxx.org",
        "348F04F142D69C21-291E56D292BC@xxxx.net",
    )


def test_repeated_and_broken_references_headers() -> None:
    parsed = _parse("mikel-mail__error_emails__multiple_references_with_one_invalid.eml")
    # The second header "continues" on a line without leading whitespace, which ends the
    # header block; the unterminated `<invalid.` id is dropped, the other two are kept.
    assert parsed.references == ("foo@bar.net", "baz@bar.net")
    assert "MissingHeaderBodySeparatorDefect" in parsed.defects


# --- malformed structure and dates ----------------------------------------------------------


def test_unquoted_boundary_still_splits_the_message() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email_bad_time.eml")
    assert "This message has been scanned" in parsed.text_body
    assert parsed.html_body.startswith("<!DOCTYPE HTML")
    assert parsed.attachments == ()


@pytest.mark.parametrize(
    "name",
    [
        "mikel-mail__error_emails__bad_date_header.eml",
        "mikel-mail__plain_emails__raw_email_with_bad_date.eml",
    ],
)
def test_bad_dates_become_none_with_defect(name: str) -> None:
    parsed = _parse(name)
    assert parsed.date is None
    assert "unparseable Date" in parsed.defects


def test_unknown_charset_body_is_still_text() -> None:
    parsed = _parse("mikel-mail__plain_emails__raw_email10.eml")
    assert parsed.text_body
    assert "body charset fallback from x-unknown" in parsed.defects
