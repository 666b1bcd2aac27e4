"""The web wizard tests the SMTP login before saving, through sync/setup.py like the CLI."""

from __future__ import annotations

import html

from emailsync.store import accounts as account_store
from support.dovecot import DovecotServer, free_port
from support.web import Site, account_form, csrf_of


def test_a_closed_smtp_port_is_shown_next_to_the_form_and_nothing_is_saved(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, user = site.signed_in("ann@crm.example")
    token = csrf_of(client, "/settings/email-sync/new")
    port = free_port()
    form = account_form(
        dovecot, mailbox, token, smtp_host="127.0.0.1", smtp_port=str(port), smtp_security="ssl"
    )
    response = client.post("/settings/email-sync/new", data=form)
    assert response.status_code == 400
    assert (
        f"Cannot reach SMTP server 127.0.0.1:{port} for me@example.com: connection refused"
        in html.unescape(response.text)
    )
    assert "Traceback" not in response.text
    with site.engine.connect() as conn:
        assert account_store.list_accounts(conn, user_id=user.id) == []
