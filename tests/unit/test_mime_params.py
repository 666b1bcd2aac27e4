"""The quick Content-Type readers (mime/params.py) answer exactly what compat32's
get_content_charset and get_boundary answer, on plain and on odd header values."""

from __future__ import annotations

import re
from email import policy
from email.message import Message

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emailsync.mime import parse
from emailsync.mime.params import boundary, charset, simple_params

_TOKEN = st.text(alphabet=st.sampled_from(list("abcXYZ019-_.=+/'!#~")), min_size=0, max_size=12)
_ODD = st.sampled_from(
    ['"', "\\", ";", " ", "\t", "\r\n ", "*", "<", ">", "(", ")", "é", "=", "'", "%"]
)
_PIECE = st.one_of(_TOKEN, _ODD)
_VALUE = st.one_of(
    _TOKEN,
    _TOKEN.map(lambda t: f'"{t}"'),
    st.lists(_PIECE, max_size=6).map("".join),
    st.lists(_PIECE, max_size=6).map(lambda p: '"' + "".join(p) + '"'),
)
_NAME = st.one_of(
    st.sampled_from(["charset", "CharSet", "boundary", "BOUNDARY", "name", "charset*",
                     "boundary*0", "charset*0*", "format"]),
    _TOKEN,
)  # fmt: skip
_SPACES = st.sampled_from(["", " ", "  ", "\t", "\r\n ", "\r\n\t"])


@st.composite
def content_types(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["text/plain", "multipart/mixed", "TEXT/HTML", "text", ""]))
    parts = [head]
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        sep = draw(_SPACES)
        name, value = draw(_NAME), draw(_VALUE)
        eq = draw(st.sampled_from(["=", " = ", "=\r\n ", ""]))
        parts.append(f"{sep}{name}{eq}{value}{draw(_SPACES)}")
    return ";".join(parts) + draw(st.sampled_from(["", ";", "; ", ";;"]))


def _message(value: str) -> Message:
    msg = Message(policy=policy.compat32)
    msg.set_raw("Content-Type", value)
    return msg


@settings(max_examples=3000, deadline=None)
@given(content_types())
@example('multipart/mixed; boundary="b1 "')  # the stdlib strips trailing blanks
@example('multipart/mixed; boundary="<b1>"')  # and unquotes twice
@example("text/plain; CHARSET=UTF-8")  # charsets come back lower-case
def test_charset_and_boundary_agree_with_the_stdlib(value: str) -> None:
    msg = _message(value)
    try:
        expected_charset = msg.get_content_charset()
    except Exception:  # the stdlib may raise on odd input; the parser catches it
        expected_charset = "raised"
    try:
        expected_boundary = msg.get_boundary()
    except Exception:
        expected_boundary = "raised"
    try:
        got_charset = charset(msg)
    except Exception:
        got_charset = "raised"
    try:
        got_boundary = boundary(msg)
    except Exception:
        got_boundary = "raised"
    assert got_charset == expected_charset
    assert got_boundary == expected_boundary


def test_the_common_shapes_take_the_quick_path() -> None:
    assert simple_params('text/plain; charset="UTF-8"; format=flowed') == {
        "charset": "UTF-8",
        "format": "flowed",
    }
    assert simple_params('multipart/mixed;\r\n\tboundary="----=_Part_1"') == {
        "boundary": "----=_Part_1"
    }
    assert simple_params("multipart/alternative; boundary=----=_NextPart_000_0001") == {
        "boundary": "----=_NextPart_000_0001"
    }
    assert simple_params("text/plain") == {}
    # what only the stdlib reads right
    assert simple_params("text/plain; charset*=utf-8''x") is None
    assert simple_params('text/plain; name="a\\"b"') is None
    assert simple_params('text/plain; name="a;b"') is None
    assert simple_params("text/plain; charset=<utf-8>") is None


def test_a_part_without_content_type_has_no_charset_or_boundary() -> None:
    msg = Message(policy=policy.compat32)
    assert charset(msg) is None and boundary(msg) is None


# --- attachment names (parse._filename's quick path) ------------------------------------

_NAME_PIECE = st.one_of(
    st.text(alphabet=st.sampled_from(list("abcXYZ019_.+-")), min_size=1, max_size=8),
    st.sampled_from([" ", "  ", "\t", '"', "\\", ";", "=?utf-8?q?x?=", "*", "é", "/", "(", "'"]),
)
_FILE_NAME = st.lists(_NAME_PIECE, min_size=0, max_size=5).map("".join)


@st.composite
def named_headers(draw: st.DrawFn) -> tuple[str, str]:
    """A Content-Disposition or Content-Type value naming a file: mostly plain, some odd."""
    header = draw(st.sampled_from(["content-disposition", "content-type"]))
    head = draw(
        st.sampled_from(["attachment", "INLINE", "x-odd", "", "att achment"])
        if header == "content-disposition"
        else st.sampled_from(["application/pdf", "IMAGE/PNG", "text/x-a.b+c", "text", "a/b/c"])
    )
    param = draw(
        st.sampled_from(
            ["filename", "FileName", "filename*", "name"]
            if header == "content-disposition"
            else ["name", "NAME", "name*", "filename"]
        )
    )
    name = draw(_FILE_NAME)
    value = draw(st.sampled_from(['"{}"', "{}", '"{}', '{}"'])).format(name)
    sep, eq = draw(_SPACES.filter(lambda s: "\n" not in s)), draw(st.sampled_from(["=", " = "]))
    tail = draw(st.sampled_from(["", " ", ";", "; size=12", "\t"]))
    return header, f"{head};{sep}{param}{eq}{value}{tail}"


@settings(max_examples=3000, deadline=None)
@given(named_headers())
@example(("content-disposition", 'attachment; filename="report 2.pdf"'))
@example(("content-type", "application/pdf; name=report.pdf"))
@example(("content-disposition", 'attachment; filename="a  b.pdf"'))
@example(("content-disposition", 'attachment; filename=". .pdf"'))
def test_plain_file_names_read_quickly_as_the_header_registry_reads_them(
    case: tuple[str, str],
) -> None:
    header, value = case
    part = Message(policy=policy.compat32)
    part.set_raw(header.title(), value)
    quick_notes: list[str] = []
    quick = parse._filename(part, quick_notes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parse, "_PLAIN_NAMED", {h: re.compile("(?!)") for h in parse._PLAIN_NAMED})
        slow_notes: list[str] = []
        slow = parse._filename(part, slow_notes)
    assert (quick, quick_notes) == (slow, slow_notes)


def test_the_usual_attachment_headers_take_the_quick_path() -> None:
    pattern = parse._PLAIN_NAMED
    assert pattern["content-disposition"].fullmatch('attachment; filename="Q3 report.pdf"')
    assert pattern["content-disposition"].fullmatch("inline;\tfilename=logo.png")
    assert pattern["content-type"].fullmatch('application/pdf; name="Q3 report.pdf"')
    # left to the registry: RFC 2231, encoded words, escapes, more parameters
    assert not pattern["content-disposition"].fullmatch("attachment; filename*=utf-8''x.pdf")
    assert not pattern["content-disposition"].fullmatch('attachment; filename="=?utf-8?q?x?="')
    assert not pattern["content-disposition"].fullmatch('attachment; filename="a\\"b"')
    assert not pattern["content-disposition"].fullmatch('attachment; filename="a"; size=3')
