"""The fast MIME scan (`emailsync.mime.scan`) against the stdlib feed parser it replaces.

`parse_message` takes the structure from the scanner and falls back to the stdlib's
compat32 parser whenever the scanner is unsure. The contract checked here: whenever the
fast path gives an answer, it is the very `ParsedMessage` the stdlib path gives, and on
every message the stdlib marks as structurally broken it gives no answer at all.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emailsync.domain.model import ParsedMessage
from emailsync.mime import scan
from emailsync.mime.parse import _parse_fast, _parse_with_stdlib, parse_message, parse_safely
from emailsync.mime.scan import scan_message
from support.corpus import SHARED_CORPUS, corpus_dirs, corpus_files, corpus_params

BENCH_GENERATOR = SHARED_CORPUS.parent / "bench" / "gen_mailbox.py"

# Defects only the feed parser records (RFC 2046 §5.1.1 boundaries, RFC 5322 §2.2 header
# blocks). A message showing any of them must be left to the stdlib.
STRUCTURE_DEFECTS = {
    "CloseBoundaryNotFoundDefect",
    "FirstHeaderLineIsContinuationDefect",
    "InvalidMultipartContentTransferEncodingDefect",
    "MisplacedEnvelopeHeaderDefect",
    "MissingHeaderBodySeparatorDefect",
    "MultipartInvariantViolationDefect",
    "NoBoundaryInMultipartDefect",
    "StartBoundaryNotFoundDefect",
}


def _assert_same(raw: bytes) -> ParsedMessage | None:
    """Fast and stdlib results are equal field by field, with and without the HTML body;
    returns the fast one (or None)."""
    fast = _parse_fast(raw)
    if fast is None:
        return None
    stdlib = _parse_with_stdlib(raw)
    for field in ParsedMessage.__slots__:
        assert getattr(fast, field) == getattr(stdlib, field), field
    assert fast == stdlib
    assert _parse_fast(raw, html=False) == _parse_with_stdlib(raw, html=False)
    return fast


def _assert_sync_parse(raw: bytes) -> bool:
    """The sync's parse is the full parse without the HTML body beside a text body, and
    without what decoding that body noted; nothing else differs. True: HTML left out."""
    full, synced = parse_message(raw), parse_safely(raw)
    left_out = synced.html_body != full.html_body
    assert synced.html_body == ("" if left_out else full.html_body)
    assert not left_out or full.text_body  # only beside a text body
    kept = [d for d in full.defects if d in synced.defects]
    assert list(synced.defects) == kept
    assert replace(synced, html_body=full.html_body, defects=full.defects) == full
    return left_out


def _crlf(text: str) -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode("utf-8")


# --- the corpora: ours always, the shared one when present (tests/support/corpus.py) -------

# Of each corpus, at least this many messages have an HTML part beside a text one, and at
# least this share takes the fast path (ours is mostly broken on purpose).
HTML_BESIDE_TEXT = {"own": 2, "shared": 10}
FAST_SHARE = {"own": 0.5, "shared": 0.5}


@pytest.mark.parametrize("path", corpus_params())
def test_corpus_message_parses_the_same_on_both_paths(path: Path) -> None:
    raw = path.read_bytes()
    _assert_same(raw)
    assert parse_message(raw) == _parse_with_stdlib(raw)


@pytest.mark.parametrize("path", corpus_params())
def test_corpus_message_with_structure_defects_falls_back_to_stdlib(path: Path) -> None:
    raw = path.read_bytes()
    if STRUCTURE_DEFECTS & set(_parse_with_stdlib(raw).defects):
        assert _parse_fast(raw) is None


@pytest.mark.parametrize("corpus", corpus_dirs())
def test_the_sync_parse_leaves_out_only_the_html_beside_a_text_body(
    corpus: Path, request: pytest.FixtureRequest
) -> None:
    left_out = [p.name for p in corpus_files(corpus) if _assert_sync_parse(p.read_bytes())]
    assert len(left_out) >= HTML_BESIDE_TEXT[request.node.callspec.id]


@pytest.mark.parametrize("corpus", corpus_dirs())
def test_most_of_the_corpus_takes_the_fast_path(
    corpus: Path, request: pytest.FixtureRequest
) -> None:
    files = corpus_files(corpus)
    fast = sum(1 for p in files if scan_message(p.read_bytes()) is not None)
    assert fast >= len(files) * FAST_SHARE[request.node.callspec.id]


# --- generated messages ----------------------------------------------------------------------


def _bench_generator() -> ModuleType | None:
    if not BENCH_GENERATOR.is_file():
        return None
    spec = importlib.util.spec_from_file_location("gen_mailbox", BENCH_GENERATOR)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench_messages(count: int) -> list[bytes]:
    gen = _bench_generator()
    if gen is None:
        return []
    rng = random.Random(5)
    out: list[bytes] = []
    thread: list[str] = []
    for index in range(count):
        sender = gen.person(rng)
        msgid, data = gen.build_message(
            rng, index, 1_700_000_000 + index, thread[-3:], sender, [gen.ME], "subject", 0.5
        )
        thread.append(msgid)
        out.append(data)
    return out


@pytest.mark.skipif(not BENCH_GENERATOR.is_file(), reason="bench generator not found")
def test_bench_generator_messages_take_the_fast_path_and_match() -> None:
    messages = _bench_messages(40)
    assert any(b"base64" in m for m in messages)
    for raw in messages:
        assert _assert_same(raw) is not None
    assert sum(_assert_sync_parse(raw) for raw in messages) >= len(messages) // 2


OWN_BENCH = Path(__file__).resolve().parents[2] / "bench" / "mailboxes.py"


def _own_bench_messages(count: int) -> list[bytes]:
    """Messages as bench/mailboxes.py writes the benchmark mailbox (in this repository,
    so this runs in a lone clone too): threads, text + HTML, base64 attachments."""
    spec = importlib.util.spec_from_file_location("bench_mailboxes", OWN_BENCH)
    assert spec is not None and spec.loader is not None
    gen = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen  # its dataclasses look their module up there
    spec.loader.exec_module(gen)
    rng = random.Random(7)
    out: list[bytes] = []
    ids: list[str] = []
    for index in range(count):
        thread = ["Quarterly figures", ids[-3:], None]
        people = [gen._person(rng) for _ in range(3)]
        msgid, data, _first = gen._message(
            rng, index, 1_700_000_000 + index, thread, people[0], people[1:], 0.3
        )
        ids.append(msgid)
        out.append(data)
    return out


def test_own_bench_generator_messages_take_the_fast_path_and_match() -> None:
    messages = _own_bench_messages(40)
    assert any(b"base64" in m for m in messages)
    for raw in messages:
        assert _assert_same(raw) is not None
    assert sum(_assert_sync_parse(raw) for raw in messages) >= len(messages) // 2


def _alternative(text: str = "plain body\n", html: str = "<p>html body</p>\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.com>"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "Quarterly figures"
    msg["Message-ID"] = "<m1@example.com>"
    msg["Date"] = "Tue, 01 Oct 2024 10:00:00 +0200"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _mixed_with_attachments() -> EmailMessage:
    msg = _alternative()
    msg.add_attachment(bytes(range(256)) * 40, "application", "pdf", filename="report.pdf")
    msg.add_attachment(b"a,b\n1,2\n", "text", "csv", filename="data.csv")
    msg.add_attachment("Grüße aus Köln".encode(), "application", "octet-stream")
    return msg


def _related_inline_image() -> EmailMessage:
    msg = _alternative(html='<p><img src="cid:logo@x"></p>\n')
    html = msg.get_payload()[1]
    html.add_related(
        b"\x89PNG\r\n\x1a\n" + bytes(500), "image", "png", cid="<logo@x>", filename="logo.png"
    )
    msg.add_attachment(b"zip" * 1000, "application", "zip", filename="archive.zip")
    return msg


def _rfc2231_filename() -> EmailMessage:
    msg = _alternative()
    msg.add_attachment(b"data", "application", "pdf", filename=("utf-8", "de", "Übersicht €.pdf"))
    msg.add_attachment(b"data", "application", "pdf", filename="a" * 120 + "-long.pdf")
    return msg


NESTED = _crlf("""
From: a@example.com
To: b@example.com
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

This is the preamble.
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+aGk8L3A+
--inner--
inner epilogue
--outer  \t
Content-Type: image/jpeg; name="photo.jpg"
Content-Disposition: inline; filename="photo.jpg"
Content-ID: <photo@x>
Content-Transfer-Encoding: base64

/9j/4AAQSkZJ
RgABAQ==
--outer
Content-Type: application/octet-stream;
 name*0="part one ";
 name*1="and two.bin"
Content-Transfer-Encoding: base64

AAAA\x0bAAA=\x1c
--outer--
epilogue
""")

EIGHT_BIT_HEADERS = (
    b"From: J\xc3\xbcrgen <j@example.com>\r\nTo: b@example.com\r\nSubject: Gr\xfc\xdfe\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nK\xf6ln\r\n"
)

UNIX_FROM_LF = (
    b"From sender@example.com Mon Jan  1 00:00:00 2024\n"
    b"From: sender@example.com\nSubject: mbox style\n"
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
    b"Content-Type: text/plain\n\nhi\n--b\n"
    b'Content-Type: application/pdf\nContent-Disposition: attachment; filename="x.pdf"\n'
    b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--"
)


@pytest.mark.parametrize(
    "raw",
    [
        _alternative().as_bytes(),
        _mixed_with_attachments().as_bytes(),
        _related_inline_image().as_bytes(),
        _rfc2231_filename().as_bytes(),
        _mixed_with_attachments().as_bytes(policy=policy.default.clone(linesep="\n")),
        _mixed_with_attachments().as_bytes(policy=policy.SMTP),
        NESTED,
        NESTED.replace(b"\r\n", b"\n"),
        EIGHT_BIT_HEADERS,
        UNIX_FROM_LF,
    ],
    ids=[
        "alternative",
        "mixed-attachments",
        "related-inline-image",
        "rfc2231-filenames",
        "lf-line-ends",
        "crlf-line-ends",
        "nested-preamble-padding-epilogue",
        "nested-lf",
        "8bit-headers",
        "unix-from-lf",
    ],
)
def test_generated_message_takes_the_fast_path_and_matches(raw: bytes) -> None:
    assert _assert_same(raw) is not None


def test_nested_message_gives_bodies_and_attachments() -> None:
    parsed = _assert_same(NESTED)
    assert parsed is not None
    assert parsed.text_body == "Grüße"
    assert parsed.html_body == "<p>hi</p>"
    photo, blob = parsed.attachments
    assert (photo.filename, photo.content_id, photo.inline, photo.size) == (
        "photo.jpg",
        "photo@x",
        True,
        13,
    )
    assert (blob.filename, blob.size) == ("part one and two.bin", 5)


def test_one_megabyte_attachment_size_matches_the_decoded_size() -> None:
    data = random.Random(1).randbytes(1024 * 1024 + 1)
    msg = _alternative()
    msg.add_attachment(data, "application", "zip", filename="big.zip")
    parsed = _assert_same(msg.as_bytes())
    assert parsed is not None
    assert parsed.attachments[0].size == len(data)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (_crlf("Subject: x\n continued\nno colon line\n\nbody\n"), "missing separator"),
        (_crlf(" leading continuation\nSubject: x\n\nbody\n"), "first line continuation"),
        (_crlf("Subject: x\nContent-Type: multipart/mixed\n\n--x\n\nhi\n--x--\n"), "no boundary"),
        (_crlf("Content-Type: multipart/mixed; boundary=x\n\n--x\n\nhi\n"), "no close"),
        (_crlf("Content-Type: multipart/mixed; boundary=x\n\nno parts\n"), "no start"),
        (_crlf("Content-Type: multipart/mixed; boundary=x\n\n--x\n--x\n\nhi\n--x--\n"), "dup"),
        (_crlf("Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n"), "message/rfc822"),
        (b"Subject: x\r\n\r\nbody only, \r bare CR is fine\r\n", ""),
        (b"Subject: x\rTo: y\r\n\r\nbody\r\n", "bare CR in headers"),
        (b"Content-Type: multipart/mixed; boundary=x\r\n\r\n\r--x\r\n\r\nhi\r\n--x--\r\n", "CR"),
        (b"Subject: only headers\r\n", "no blank line"),
    ],
)
def test_unsure_cases_fall_back_and_still_match(raw: bytes, why: str) -> None:
    fast = _assert_same(raw)
    assert (fast is None) == bool(why), why
    assert parse_message(raw) == _parse_with_stdlib(raw)


# --- property tests --------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)
_NAME = st.text(
    alphabet=st.characters(
        min_codepoint=32, max_codepoint=0x24F, blacklist_categories=("Cc", "Cs", "Zl", "Zp")
    ),
    max_size=40,
)


@st.composite
def _leaf(draw: st.DrawFn) -> EmailMessage:
    part = EmailMessage()
    kind = draw(st.sampled_from(["plain", "html", "binary", "image", "csv"]))
    if kind in ("plain", "html"):
        cte = draw(st.sampled_from([None, "quoted-printable", "base64", "8bit"]))
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252"]))
        text = draw(_TEXT)
        if charset != "utf-8":
            text = text.encode(charset, "replace").decode(charset)
        if cte == "8bit" and charset == "utf-8":
            text = text.replace("\r", "")
        part.set_content(text, subtype=kind, charset=charset, cte=cte)
    else:
        maintype, subtype = {
            "binary": ("application", "octet-stream"),
            "image": ("image", "png"),
            "csv": ("text", "csv"),
        }[kind]
        data = draw(st.binary(max_size=3000))
        if kind == "csv":
            part.set_content(data.decode("latin-1"), subtype="csv")
        else:
            part.set_content(data, maintype, subtype)
    disposition = draw(st.sampled_from([None, "attachment", "inline"]))
    if disposition:
        filename = draw(st.none() | _NAME)
        part.replace_header("Content-Type", part["Content-Type"])  # keep header order
        part["Content-Disposition"] = disposition
        if filename:
            part.set_param("filename", filename, header="Content-Disposition")
    if draw(st.booleans()):
        part["Content-ID"] = f"<cid{draw(st.integers(0, 99))}@example.com>"
    return part


def _multipart(children: list[EmailMessage], subtype: str, tag: str) -> EmailMessage:
    msg = EmailMessage()
    msg.set_type(f"multipart/{subtype}")
    msg.set_boundary(f"=_{subtype}_{tag}")  # the generator would call `random` otherwise
    for child in children:
        msg.attach(child)
    return msg


_TREE = st.recursive(
    _leaf(),
    lambda inner: st.builds(
        _multipart,
        st.lists(inner, min_size=1, max_size=4),
        st.sampled_from(["mixed", "alternative", "related"]),
        st.uuids().map(str),
    ),
    max_leaves=8,
)


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    msg = draw(_TREE)
    msg["From"] = "Alice <alice@example.com>"
    msg["To"] = "bob@example.org, Carol <carol@example.net>"
    msg["Subject"] = draw(_NAME)
    msg["Message-ID"] = "<m@example.com>"
    linesep = draw(st.sampled_from(["\r\n", "\n"]))
    return msg.as_bytes(policy=policy.default.clone(linesep=linesep))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_message())
def test_generated_structures_take_the_fast_path_and_match(raw: bytes) -> None:
    assert _assert_same(raw) is not None


_SEEDS = [
    _crlf("Subject: s\nContent-Type: text/plain\n\nhello\n"),
    _alternative().as_bytes(),
    _related_inline_image().as_bytes(),
    NESTED,
    UNIX_FROM_LF,
]
_TOKENS = [b"\r", b"\n", b"\r\n", b"--", b" ", b"\t", b":", b"\xff", b"=", b"From ", b"\r\n\r\n"]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["truncate", "insert", "flip", "delete"]))
        if action == "truncate":
            del raw[at:]
        elif action == "insert":
            raw[at:at] = draw(st.sampled_from(_TOKENS))
        elif at < len(raw) and action == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif at < len(raw):
            del raw[at : at + draw(st.integers(1, 8))]
    return bytes(raw)


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_mutated_bytes_never_raise_and_fast_answers_match_stdlib(raw: bytes) -> None:
    assert isinstance(parse_message(raw), ParsedMessage)
    _assert_same(raw)


_FIELD_LINE = st.one_of(
    st.tuples(
        st.sampled_from(["Subject", "X-Odd(1)", "To", "A~b", "é", "", "From", "Sub ject"]),
        st.sampled_from([":", ": ", ":\t ", ""]),
        st.sampled_from(["", "v", " v ", "=?utf-8?q?x?=", "a:b", "\x0bv", "v\t", "\xff"]),
    ).map("".join),
    st.sampled_from([" folded", "\tfolded", " ", "From x@y", "From: x", ":v", "no colon"]),
)


@st.composite
def _header_blocks(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_FIELD_LINE, min_size=1, max_size=8))
    ends = st.sampled_from(["\r\n", "\n"])
    block = "".join(line + draw(ends) for line in lines)
    return (block + draw(ends) + "body\r\n").encode("utf-8", "surrogateescape")


@settings(max_examples=1500, deadline=None)
@given(_header_blocks())
def test_header_blocks_are_read_as_the_feed_parser_reads_them(raw: bytes) -> None:
    """Header names and raw values, the envelope `From ` line included: the scanner's
    one-pass reading of a block and its line-by-line one both agree with the stdlib."""
    scanned = scan_message(raw)
    if scanned is None:
        return
    expected = BytesParser(policy=policy.compat32).parsebytes(raw)
    assert list(scanned.root.raw_items()) == list(expected.raw_items())
    assert scanned.root.get_unixfrom() == expected.get_unixfrom()


def test_plain_header_blocks_take_the_one_pass_reading() -> None:
    assert scan._plain_fields("A: 1\r\nB:\t2\r\n x\r\n") == [("A", "1"), ("B", "2\r\n x")]
    assert scan._plain_fields("From x@y\r\nA: 1\r\n") is None
    assert scan._plain_fields("A: 1\r\n: 2\r\n") is None
