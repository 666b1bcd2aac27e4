"""HTML mail is hostile: what survives sanitising (attachments: tests/unit/test_mime_extract.py)."""

from __future__ import annotations

from emailsync.web import bodies


def clean(html: str, *, show_images: bool = False) -> tuple[str, bool]:
    return bodies.sanitize_html(html, show_images=show_images, cid_url=lambda c: f"/att/{c}")


def test_scripts_handlers_and_forms_are_removed() -> None:
    out, _ = clean('<p onclick="x()">hi<script>alert(1)</script><form><input></form></p>')
    assert "script" not in out and "onclick" not in out and "<form" not in out
    assert "hi" in out


def test_javascript_links_lose_their_href_and_links_open_outside() -> None:
    out, _ = clean('<a href="javascript:alert(1)">a</a><a href="https://x.example">b</a>')
    assert "javascript" not in out
    assert 'target="_blank"' in out and "noopener" in out


def test_remote_images_are_blanked_unless_the_user_asked() -> None:
    out, blocked = clean('<img src="https://track.example/p.gif">')
    assert blocked and "track.example" not in out
    shown, _ = clean('<img src="https://cdn.example/logo.png">', show_images=True)
    assert "https://cdn.example/logo.png" in shown


def test_cid_images_point_at_the_attachment_url() -> None:
    out, blocked = clean('<img src="cid:logo@x">')
    assert '<img src="/att/logo@x">' in out and not blocked


def test_the_body_csp_forbids_scripts_and_remote_images_by_default() -> None:
    csp = bodies.body_csp(show_images=False)
    assert "default-src 'none'" in csp and "https:" not in csp
    assert "https:" in bodies.body_csp(show_images=True)
