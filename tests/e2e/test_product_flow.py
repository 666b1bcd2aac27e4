"""The seed's flow in a real browser: sign in, Email sync > Add new account, choose
3 months + Only CRM contacts, see the preview, press Sync, watch the progress bar reach
the end, then open the inbox (then a thread, its
sharing switch and what a colleague sees)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emailsync.services import crm, users
from emailsync.services import users as auth
from emailsync.store import accounts as account_store
from support.dovecot import DovecotServer
from support.mail import make_message

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)
PASSWORD = "correct horse battery"


def _user(product, email: str) -> None:
    user = users.add_user(product.engine, email)
    auth.set_password(product.engine, user.id, PASSWORD)


def _sign_in(page, product, email: str) -> None:
    page.goto(product.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def test_connect_choose_conditions_sync_and_read(
    product, dovecot: DovecotServer, browser, shots: Path
) -> None:
    mailbox = dovecot.add_user(f"e{uuid.uuid4().hex[:10]}")
    crm.add_person(
        product.engine, crm.OPERATOR, ["bob@acme.example"], "Bob Jones", owner_user_id=None
    )
    for n in range(12):
        html = None
        if n == 3:  # HTML with a tracking pixel: shown from the raw message, sanitised
            html = '<p>Offer 3 <img src="https://track.example/p.gif"></p><script>x()</script>'
        dovecot.append(
            mailbox, "INBOX",
            make_message(subject=f"Proposal {n}", body=f"Offer {n}\n", html=html),
            internaldate=NOW - (n + 1) * DAYS,
        )  # fmt: skip
    dovecot.append(
        mailbox, "INBOX", make_message(subject="Newsletter", sender="news@shop.example"),
        internaldate=NOW - 2 * DAYS,
    )  # fmt: skip
    dovecot.append(mailbox, "INBOX", make_message(subject="Ancient"), internaldate=NOW - 300 * DAYS)
    _user(product, "ann@crm.example")

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, product, "ann@crm.example")
    page.screenshot(path=str(shots / "01-inbox-empty.png"), full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Email sync").click()
    page.get_by_role("link", name="Add new account").click()
    page.get_by_label("Email provider").select_option("gmail")
    assert page.get_by_label("Server").first.input_value() == "imap.gmail.com"
    page.get_by_label("Email provider").select_option("custom")
    page.get_by_label("Email address", exact=True).fill("me@example.com")
    page.get_by_label("Password or app password").fill("secret")
    page.get_by_label("Login name").fill(mailbox)
    page.locator("#imap_host").fill(dovecot.host)
    page.locator("#imap_port").fill(str(dovecot.tls_port))
    page.locator("#imap_security").select_option("ssl")
    page.screenshot(path=str(shots / "02-add-account.png"), full_page=True)
    page.get_by_role("button", name="Test connection and continue").click()
    page.wait_for_url("**/conditions")

    page.get_by_label("3 months", exact=True).check()
    assert page.locator("#scope").is_visible()
    assert page.get_by_label("Only CRM contacts").is_checked()
    page.get_by_label("Now", exact=True).check()
    assert not page.locator("#scope").is_visible()
    page.get_by_text("This will bring in", exact=False).or_(
        page.get_by_text("No past mail will be synced")
    ).first.wait_for()
    page.get_by_label("3 months", exact=True).check()
    preview = page.locator(".preview-sentence")
    preview.filter(has_text="This will bring in 13 messages").wait_for(timeout=10_000)
    assert "INBOX 13" in preview.inner_text()
    page.screenshot(path=str(shots / "03-conditions-preview.png"), full_page=True)

    page.get_by_role("button", name="Sync", exact=True).click()
    page.wait_for_url("**/sync")
    page.screenshot(path=str(shots / "04-sync-started.png"), full_page=True)
    page.locator('[data-state="active"]').wait_for(timeout=20_000)
    status = page.locator(".status").inner_text()
    assert "Active" in status and "12 messages synced" in status
    page.screenshot(path=str(shots / "05-sync-done.png"), full_page=True)

    page.get_by_role("link", name="Back to email sync").click()
    page.screenshot(path=str(shots / "06-settings.png"), full_page=True)
    assert page.get_by_role("button", name="Sync now").is_visible()

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    phone_page = phone.new_page()
    _sign_in(phone_page, product, "ann@crm.example")
    phone_page.goto(product.url + "/settings/email-sync")
    phone_page.screenshot(path=str(shots / "07-settings-phone.png"), full_page=True)
    phone.close()

    with product.engine.connect() as conn:
        (account,) = account_store.list_accounts(conn)
    assert account.conditions.past_scope.value == "contacts"

    page.get_by_role("link", name="Inbox").click()
    page.screenshot(path=str(shots / "08-inbox.png"), full_page=True)
    assert errors == []

    page.get_by_role("link", name="Proposal 3").click()
    page.wait_for_url("**/inbox/threads/*")
    frame = page.frame_locator("iframe.body").first
    frame.get_by_text("Offer 3").wait_for()
    assert frame.locator("script").count() == 0
    assert page.get_by_text("Remote images are hidden").count() == 1
    page.screenshot(path=str(shots / "09-thread.png"), full_page=True)
    thread_url = page.url
    page.get_by_role("button", name="Share with colleagues").click()
    page.get_by_role("button", name="Make private").wait_for()

    _user(product, "carl@crm.example")
    other = browser.new_context(viewport={"width": 1280, "height": 860})
    other_page = other.new_page()
    _sign_in(other_page, product, "carl@crm.example")
    assert other_page.get_by_text("Proposal 3").count() == 1  # shared and linked to Bob
    assert other_page.get_by_text("Proposal 4").count() == 0  # private
    other_page.screenshot(path=str(shots / "10-colleague-inbox.png"), full_page=True)
    page.get_by_role("button", name="Make private").click()
    response = other_page.goto(thread_url)
    assert response is not None and response.status == 404
    other.close()
    context.close()
