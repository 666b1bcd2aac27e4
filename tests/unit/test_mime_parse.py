"""Behaviour of emailsync.mime.parse: one behaviour per test."""

from __future__ import annotations

import email.message
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emailsync.domain.model import Address
from emailsync.mime import parse_address_header, parse_header_summary, parse_message


def _raw(text: str) -> bytes:
    """A message from readable source: LF line ends become CRLF, as on the wire."""
    return text.lstrip("\n").replace("\n", "\r\n").encode("utf-8")


SIMPLE = _raw("""
From: Alice Example <Alice@Example.COM>
To: bob@example.org
Subject: Hello
Date: Tue, 01 Oct 2024 10:00:00 +0200
Message-ID: <abc@example.com>
Content-Type: text/plain; charset=utf-8

Hi Bob
""")


# --- bodies ---------------------------------------------------------------------------------


def test_plain_message_gives_text_body_and_normalised_from() -> None:
    parsed = parse_message(SIMPLE)
    assert parsed.text_body == "Hi Bob\n"
    assert parsed.html_body == ""
    assert parsed.participants.from_ == (Address("alice@example.com", "Alice Example"),)
    assert parsed.participants.to == (Address("bob@example.org", ""),)
    assert parsed.attachments == ()
    assert parsed.defects == ()


def test_multipart_alternative_gives_both_bodies_and_no_attachments() -> None:
    msg = EmailMessage()
    msg["Subject"] = "alt"
    msg.set_content("plain version\n")
    msg.add_alternative("<p>html version</p>\n", subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text_body == "plain version\n"
    assert parsed.html_body == "<p>html version</p>\n"
    assert parsed.attachments == ()


def test_html_only_message_gets_its_text_from_the_html() -> None:
    msg = EmailMessage()
    msg.set_content("<b>only html</b><p>and&nbsp;more</p><script>x()</script>", subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text_body == "only html\nand more\n"  # for search and snippets
    assert parsed.html_body.startswith("<b>only html</b>")


def test_related_html_with_inline_image() -> None:
    msg = EmailMessage()
    msg.set_content("text")
    msg.add_alternative('<img src="cid:logo@x">', subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(
        b"\x89PNG....", "image", "png", cid="<logo@x>", filename="logo.png", disposition="inline"
    )
    parsed = parse_message(msg.as_bytes())
    assert parsed.html_body.startswith('<img src="cid:logo@x">')
    (image,) = parsed.attachments
    assert image.content_id == "logo@x"
    assert image.inline is True
    assert image.filename == "logo.png"


def test_unknown_charset_falls_back_and_records_defect() -> None:
    raw = (
        _raw("""
Subject: odd
Content-Type: text/plain; charset=x-unknown
Content-Transfer-Encoding: 8bit

""")
        + "Grüße".encode()
    )
    parsed = parse_message(raw)
    assert parsed.text_body == "Grüße"
    assert "body charset fallback from x-unknown" in parsed.defects


def test_unknown_charset_with_latin1_bytes_falls_back_to_cp1252() -> None:
    raw = _raw("""
Content-Type: text/plain; charset="bogus-charset"
Content-Transfer-Encoding: 8bit

""") + "caf\xe9 \x80".encode("latin-1")
    assert parse_message(raw).text_body == "café €"


def test_unknown_8bit_charset_is_guessed() -> None:
    raw = (
        _raw("""
Content-Type: text/plain; charset=unknown-8bit
Content-Transfer-Encoding: 8bit

""")
        + "naïve".encode()
    )
    assert parse_message(raw).text_body == "naïve"


def test_declared_charset_is_used_for_the_body() -> None:
    raw = _raw("""
Content-Type: text/plain; charset=iso-2022-jp
Content-Transfer-Encoding: 7bit

""") + "まみむめも".encode("iso-2022-jp")
    assert parse_message(raw).text_body == "まみむめも"


def test_quoted_printable_body_is_decoded() -> None:
    raw = _raw("""
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe, soft=
 break
""")
    assert parse_message(raw).text_body == "Grüße, soft break\n"


def test_unquoted_boundary_with_equals_sign_is_found() -> None:
    raw = _raw("""
Content-Type: multipart/alternative;
    boundary=----=_NextPart_000_0023

------=_NextPart_000_0023
Content-Type: text/plain

plain
------=_NextPart_000_0023
Content-Type: text/html

<p>html</p>
------=_NextPart_000_0023--
""")
    parsed = parse_message(raw)
    assert parsed.text_body == "plain"
    assert parsed.html_body == "<p>html</p>"


# --- attachments ----------------------------------------------------------------------------


def _with_attachment(part_headers: str, body: str = "aGVsbG8=") -> bytes:
    return _raw(f"""
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

body
--b
{part_headers.strip()}

{body}
--b--
""")


def test_attachment_size_is_estimated_from_base64_without_decoding() -> None:
    data = bytes(range(256)) * 40 + b"xy"  # 10242 bytes: exercises "=" padding
    msg = EmailMessage()
    msg.set_content("see attached")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="report.pdf")
    (att,) = parse_message(msg.as_bytes()).attachments
    assert att.size == len(data)
    assert att.content_type == "application/pdf"
    assert att.filename == "report.pdf"
    assert att.inline is False


def test_attachment_payloads_are_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    original = email.message.Message.get_payload

    def spy(self: email.message.Message, i: int | None = None, decode: bool = False) -> object:
        if decode:
            decoded.append(self.get_content_type())
        return original(self, i, decode)

    monkeypatch.setattr(email.message.Message, "get_payload", spy)
    msg = EmailMessage()
    msg.set_content("body")
    msg.add_attachment(b"\0" * 5000, maintype="application", subtype="zip", filename="a.zip")
    msg.add_attachment("a text attachment", filename="notes.txt")
    parsed = parse_message(msg.as_bytes())
    assert [a.filename for a in parsed.attachments] == ["a.zip", "notes.txt"]
    assert decoded == ["text/plain"]  # the body only


def test_rfc2231_filename_with_charset_and_continuations() -> None:
    raw = _with_attachment("""
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
 filename*0*=utf-8''%E3%81%8B%E3%81%8D;
 filename*1*=%E3%81%8F.txt
""")
    (att,) = parse_message(raw).attachments
    assert att.filename == "かきく.txt"
    assert att.size == 5


def test_rfc2047_encoded_filename_inside_quotes_is_decoded() -> None:
    raw = _with_attachment("""
Content-Type: application/pdf; name="=?utf-8?B?UmVjaG51bmcgw5xiZXJzaWNodC5wZGY=?="
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="=?utf-8?B?UmVjaG51bmcgw5xiZXJzaWNodC5wZGY=?="
""")
    (att,) = parse_message(raw).attachments
    assert att.filename == "Rechnung Übersicht.pdf"


def test_raw_utf8_filename_is_decoded() -> None:
    raw = _with_attachment(
        'Content-Type: text/plain\nContent-Disposition: attachment; filename="ciële.txt"',
        body="Hi there.",
    )
    (att,) = parse_message(raw).attachments
    assert att.filename == "ciële.txt"
    assert att.size == len("Hi there.")


def test_unquoted_filename_with_spaces_is_kept_whole() -> None:
    raw = _with_attachment(
        "Content-Type: text/plain; name=This is a test.txt\n"
        "Content-Disposition: attachment;\n\tfilename=This is a test.txt",
        body="Hi",
    )
    (att,) = parse_message(raw).attachments
    assert att.filename == "This is a test.txt"


def test_filename_path_components_are_dropped() -> None:
    raw = _with_attachment(
        'Content-Type: text/plain\nContent-Disposition: attachment; filename="../../evil.bat"',
        body="x",
    )
    (att,) = parse_message(raw).attachments
    assert att.filename == "evil.bat"


def test_missing_filename_is_generated_from_the_type() -> None:
    raw = _with_attachment("Content-Type: image/jpeg\nContent-Transfer-Encoding: base64")
    (att,) = parse_message(raw).attachments
    assert att.filename == "attachment-1.jpg"


def test_content_id_loses_brackets_and_inline_comes_from_disposition() -> None:
    raw = _with_attachment(
        "Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
        "Content-ID: <img1@example.com>\nContent-Disposition: inline"
    )
    (att,) = parse_message(raw).attachments
    assert att.content_id == "img1@example.com"
    assert att.inline is True


def test_attached_message_is_one_attachment_and_not_descended() -> None:
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner body")
    inner.add_attachment(b"123", maintype="application", subtype="zip", filename="inner.zip")
    outer = EmailMessage()
    outer["Subject"] = "outer"
    outer.set_content("outer body")
    outer.add_attachment(inner)
    parsed = parse_message(outer.as_bytes())
    assert parsed.subject == "outer"
    assert parsed.text_body == "outer body\n"
    (att,) = parsed.attachments
    assert att.content_type == "message/rfc822"
    assert att.filename == "attachment-1.eml"
    assert att.size > 100


def test_text_part_marked_as_attachment_is_not_the_body() -> None:
    raw = _raw("""
Content-Type: text/plain
Content-Disposition: attachment; filename="notes.txt"

secret notes
""")
    parsed = parse_message(raw)
    assert parsed.text_body == ""
    assert [a.filename for a in parsed.attachments] == ["notes.txt"]


# --- headers --------------------------------------------------------------------------------


def test_missing_message_id_is_empty_string() -> None:
    parsed = parse_message(_raw("From: a@example.com\nSubject: x\n\nbody\n"))
    assert parsed.message_id == ""


def test_message_id_without_brackets_and_several_ids_take_the_first() -> None:
    assert parse_message(_raw("Message-ID: bare@example.com\n\n")).message_id == "bare@example.com"
    two = parse_message(_raw("Message-ID: <one@x> <two@x>\n\n"))
    assert two.message_id == "one@x"


def test_references_keep_order_and_skip_junk() -> None:
    raw = _raw("""
In-Reply-To: Your message of Monday <parent@x> (comment) <other@x>
References: <root@x> junk, "quoted" <mid@x>
 (comment) <parent@x> <root@x>

""")
    parsed = parse_message(raw)
    assert parsed.in_reply_to == "parent@x"
    assert parsed.references == ("root@x", "mid@x", "parent@x")


def test_date_is_converted_to_utc() -> None:
    assert parse_message(SIMPLE).date == datetime(2024, 10, 1, 8, 0, tzinfo=UTC)


def test_date_without_zone_is_assumed_utc() -> None:
    parsed = parse_message(_raw("Date: Tue, 01 Oct 2024 10:00:00 -0000\n\n"))
    assert parsed.date == datetime(2024, 10, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["yesterday", "Mon, 32 Foo 2024 99:99:99 +0000", "0", "Fri, 31 Dec 9999 23:00:00 -0500"],
)
def test_bad_date_is_none_with_defect(value: str) -> None:
    parsed = parse_message(_raw(f"Date: {value}\n\nbody\n"))
    assert parsed.date is None
    assert "unparseable Date" in parsed.defects


def test_missing_date_is_none() -> None:
    assert parse_message(_raw("Subject: x\n\n")).date is None


def test_subject_is_rfc2047_decoded_and_whitespace_folded() -> None:
    raw = _raw("Subject: =?UTF-8?B?44G+44G/44KA44KB44KC?=\n  and\tmore  \n\n")
    assert parse_message(raw).subject == "まみむめも and more"


def test_subject_with_unknown_encoded_word_charset_does_not_fail() -> None:
    parsed = parse_message(_raw("Subject: =?x-bogus?Q?hello?= world\n\n"))
    assert "world" in parsed.subject


def test_utf8_8bit_headers_are_decoded() -> None:
    raw = 'From: "Jöhn Doe" <jdöe@mächine.example>\r\nSubject: Säying Hello\r\n\r\nbody\r\n'
    parsed = parse_message(raw.encode("utf-8"))
    assert parsed.subject == "Säying Hello"
    assert parsed.participants.from_ == (Address("jdöe@xn--mchine-bua.example", "Jöhn Doe"),)


def test_latin1_8bit_headers_use_the_body_charset() -> None:
    raw = (
        "Subject: Gr\xfc\xdfe\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx\r\n"
    ).encode("latin-1")
    assert parse_message(raw).subject == "Grüße"


def test_8bit_headers_without_a_hint_fall_back_to_cp1252() -> None:
    raw = "Subject: \x93quoted\x94\r\n\r\n".encode("latin-1")
    assert parse_message(raw).subject == "“quoted”"


# --- addresses ------------------------------------------------------------------------------


def test_all_address_fields_are_read() -> None:
    raw = _raw("""
From: a@example.com
Sender: s@example.com
Reply-To: r@example.com
To: t@example.com
Cc: c@example.com
Bcc: b@example.com

""")
    p = parse_message(raw).participants
    assert [x.email for x in (*p.from_, *p.sender, *p.reply_to, *p.to, *p.cc, *p.bcc)] == [
        "a@example.com",
        "s@example.com",
        "r@example.com",
        "t@example.com",
        "c@example.com",
        "b@example.com",
    ]


def test_group_syntax_is_flattened() -> None:
    raw = _raw("To: A Group:Ed Jones <c@a.test>,joe@where.test;, Solo <solo@x.test>\n\n")
    assert [a.email for a in parse_message(raw).participants.to] == [
        "c@a.test",
        "joe@where.test",
        "solo@x.test",
    ]


def test_empty_group_gives_no_addresses_and_no_defect() -> None:
    parsed = parse_message(_raw("To: undisclosed-recipients:;\n\n"))
    assert parsed.participants.to == ()
    assert parsed.defects == ()


def test_cve_2023_27043_pattern_is_refused_with_defect() -> None:
    parsed = parse_message(_raw("From: alice@example.org)<bob@example.org>\n\n"))
    assert parsed.participants.from_ == ()
    assert "invalid address in From" in parsed.defects


def test_unquoted_at_sign_in_display_name_is_refused() -> None:
    addrs, defects = parse_address_header("To", "smith@x.com, Mikel@Lindsaar <m@y.com>")
    assert [a.email for a in addrs] == ["smith@x.com"]
    assert defects == ("invalid address in To",)


def test_encoded_word_inside_quoted_display_name_is_accepted() -> None:
    addrs, _ = parse_address_header("From", '"=?Windows-1252?B?Rm9ybWHn428=?=" <info@example.info>')
    assert addrs == (Address("info@example.info", "Formação"),)


def test_invalid_entries_are_dropped_and_valid_ones_kept() -> None:
    parsed = parse_message(_raw("Cc: good@example.com, not an address, <>\n\n"))
    assert [a.email for a in parsed.participants.cc] == ["good@example.com"]
    assert "invalid address in Cc" in parsed.defects


def test_duplicate_addresses_are_dropped() -> None:
    addrs, _ = parse_address_header("To", "A <a@x.org>, a@X.ORG, b@x.org")
    assert [a.email for a in addrs] == ["a@x.org", "b@x.org"]


def test_fallback_parser_salvages_addresses_when_the_stdlib_parser_raises() -> None:
    addrs, defects = parse_address_header("To", "ok@example.com, a@[")
    assert [a.email for a in addrs] == ["ok@example.com"]
    assert any(d.startswith("address parser failed on To") for d in defects)


def test_fallback_parser_refuses_the_cve_pattern() -> None:
    addrs, defects = parse_address_header("To", 'alice@example.org)<bob@example.org>, "')
    assert addrs == ()
    assert defects


def test_encoded_display_name_is_decoded() -> None:
    addrs, _ = parse_address_header("To", "=?UTF-8?B?44G/44GR44KL?= <raasdnil@gmail.com>")
    assert addrs == (Address("raasdnil@gmail.com", "みける"),)


# --- hostile input --------------------------------------------------------------------------


def test_empty_input_gives_empty_message() -> None:
    parsed = parse_message(b"")
    assert parsed.message_id == ""
    assert parsed.subject == ""
    assert parsed.text_body == ""
    assert parsed.attachments == ()


def test_garbage_input_does_not_raise() -> None:
    parsed = parse_message(bytes(range(256)) * 50)
    assert isinstance(parsed.subject, str)


def test_deeply_nested_multipart_does_not_raise() -> None:
    depth = 300
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    raw = ("Subject: deep\r\n" + head + "Content-Type: text/plain\r\n\r\nleaf" + tail).encode()
    parsed = parse_message(raw)
    assert parsed.subject == "deep"


def test_broken_base64_attachment_does_not_raise() -> None:
    raw = _with_attachment(
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64", body="!!!not base64"
    )
    (att,) = parse_message(raw).attachments
    assert att.size >= 0


def test_header_summary_reads_message_id_and_participants() -> None:
    header_bytes = _raw("""
Message-ID: <summary@example.com>
From: Alice <ALICE@example.com>
To: undisclosed-recipients:;
Cc: bob@example.org, alice@example.org)<evil@example.org>

""")
    summary = parse_header_summary(header_bytes)
    assert summary.message_id == "summary@example.com"
    assert summary.participants.from_ == (Address("alice@example.com", "Alice"),)
    assert summary.participants.cc == (Address("bob@example.org", ""),)


def test_header_summary_never_raises_on_garbage() -> None:
    assert parse_header_summary(b"\xff\xfe\x00:<<<\r\n\r\n").message_id == ""


# --- properties -----------------------------------------------------------------------------

_header_line = st.builds(
    lambda n, v: n + b": " + v + b"\r\n",
    st.sampled_from(
        [
            b"From",
            b"To",
            b"Cc",
            b"Subject",
            b"Date",
            b"Message-ID",
            b"References",
            b"Content-Type",
            b"Content-Disposition",
            b"Content-Transfer-Encoding",
        ]
    ),
    st.binary(max_size=60),
)
_message_like = st.builds(
    lambda headers, body: b"".join(headers) + b"\r\n" + body,
    st.lists(_header_line, max_size=8),
    st.binary(max_size=300),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), _message_like))
def test_parse_message_never_raises(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed.defects, tuple)
    assert parsed.date is None or parsed.date.tzinfo is not None
    summary = parse_header_summary(raw)
    assert isinstance(summary.message_id, str)


_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20
).map(lambda s: " ".join(s.split()))
_subject = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=80
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_subject, _name, st.emails(), st.binary(max_size=200))
def test_generated_messages_round_trip(subject: str, name: str, addr: str, blob: bytes) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = HeaderAddress(display_name=name, addr_spec=addr)
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content("body text")
    msg.add_attachment(blob, maintype="application", subtype="octet-stream", filename="f.bin")
    parsed = parse_message(msg.as_bytes())
    assert parsed.subject == " ".join(subject.split())
    assert parsed.message_id == msg["Message-ID"].strip("<>")
    (sender,) = parsed.participants.from_
    assert sender.name == name
    assert sender.email == addr.lower()
    (att,) = parsed.attachments
    assert att.size == len(blob)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120))
def test_plain_ascii_subjects_skip_the_header_registry_with_the_same_result(value: str) -> None:
    from email import policy

    from emailsync.mime.parse import _subject

    notes: list[str] = []
    header = policy.default.header_factory("subject", value)
    expected = " ".join(str(header).split())
    assert _subject({"subject": [value]}, notes) == expected
    if "=?" not in value:
        assert notes == [type(d).__name__ for d in header.defects] == []
