"""Text taken from HTML-only mail for search and snippets (mime/html_text.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from emailsync.mime.html_text import text_from_html


def test_blocks_become_lines_and_hidden_content_is_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>Hello&nbsp;<b>Bob</b>,</p><div>see <a href='x'>this</a> &amp; that<br>next</div>"
        "<script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table><!-- note -->"
        "</body></html>"
    )
    assert text_from_html(html) == "Hello Bob,\nsee this & that\nnext\na b\n"


def test_empty_or_blank_html_gives_no_text() -> None:
    assert text_from_html("") == ""
    assert text_from_html("<p>  </p><br><!-- x -->") == ""


def test_escaped_markup_stays_text() -> None:
    assert text_from_html("1 &lt; 2 &amp;&amp; <i>x</i>") == "1 < 2 && x\n"


@given(st.text(max_size=300))
def test_any_input_gives_text_without_tags_from_the_input(markup: str) -> None:
    text = text_from_html(markup)
    assert "<script" not in text.lower() or "script" in markup.lower()
    assert text == "" or text.endswith("\n")
