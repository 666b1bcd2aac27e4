"""The quick Content-Type readers (mime/params.py) answer exactly what compat32's
get_content_charset and get_boundary answer, on plain and on odd header values."""

from __future__ import annotations

from email import policy
from email.message import Message

from hypothesis import example, given, settings
from hypothesis import strategies as st

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
