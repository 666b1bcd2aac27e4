"""Personal preferences > Email sync against a real Dovecot: connect (login tested
before saving), choose conditions with a preview, Sync, progress, and the actions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from emailsync.services import users as auth
from emailsync.store import accounts as account_store
from emailsync.sync.account_sync import sync_account
from support.dovecot import DovecotServer
from support.mail import make_message
from support.web import Site, account_form, csrf_of

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)


def connect(site: Site, client, dovecot: DovecotServer, login: str) -> int:
    token = csrf_of(client, "/settings/email-sync/new")
    response = client.post("/settings/email-sync/new", data=account_form(dovecot, login, token))
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[3])


def account(site: Site, account_id: int) -> account_store.Account:
    with site.engine.connect() as conn:
        return account_store.find_account(conn, str(account_id))


def test_add_account_form_offers_provider_presets(site: Site) -> None:
    client, _ = site.signed_in("ann@crm.example")
    page = client.get("/settings/email-sync/new").text
    assert 'data-imap-host="imap.gmail.com"' in page and 'data-smtp-port="587"' in page
    assert 'data-smtp-host="smtp.mail.yahoo.com" data-smtp-port="465"' in page
    assert "app password" in page
    assert '<label for="imap_host">' in page


def test_a_wrong_password_is_shown_next_to_the_form_and_nothing_is_saved(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, user = site.signed_in("ann@crm.example")
    token = csrf_of(client, "/settings/email-sync/new")
    response = client.post(
        "/settings/email-sync/new", data=account_form(dovecot, mailbox, token, password="wrong")
    )
    assert response.status_code == 400
    assert 'class="error"' in response.text and "Traceback" not in response.text
    with site.engine.connect() as conn:
        assert account_store.list_accounts(conn, user_id=user.id) == []


def test_a_bad_port_is_a_sentence_not_a_crash(site: Site, dovecot: DovecotServer) -> None:
    client, _ = site.signed_in("ann@crm.example")
    token = csrf_of(client, "/settings/email-sync/new")
    response = client.post(
        "/settings/email-sync/new", data=account_form(dovecot, "x", token, imap_port="abc")
    )
    assert response.status_code == 400
    assert "port must be a number" in response.text


def test_connecting_waits_for_conditions_then_sync_starts_the_worker(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(mailbox, "INBOX", make_message(subject="recent"), internaldate=NOW - 5 * DAYS)
    dovecot.append(mailbox, "INBOX", make_message(subject="old"), internaldate=NOW - 200 * DAYS)
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(site, client, dovecot, mailbox)
    assert account(site, account_id).state == "setup"
    page = client.get(f"/settings/email-sync/{account_id}/conditions").text
    assert 'value="INBOX" checked' in page and "Only CRM contacts" in page
    # no switch that does nothing without saying so: tracking needs sending from the CRM
    assert "nothing is tracked today" in page
    preview = client.get(
        f"/settings/email-sync/{account_id}/preview",
        params={"sync_from": "3m", "past_scope": "contacts", "folders": "INBOX"},
    ).text
    assert "This will bring in 1 message: INBOX 1." in preview
    assert "before the CRM-contacts filter" in preview
    now_preview = client.get(
        f"/settings/email-sync/{account_id}/preview", params={"sync_from": "now"}
    ).text
    assert "only mail sent or received from now on" in now_preview
    token = csrf_of(client, f"/settings/email-sync/{account_id}/conditions")
    response = client.post(
        f"/settings/email-sync/{account_id}/conditions",
        data={"csrf_token": token, "sync_from": "3m", "past_scope": "all",
              "folders": ["INBOX"], "future": "selected", "track_opens": "1"},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == f"/settings/email-sync/{account_id}/sync"
    assert site.woken == [account_id]
    saved = account(site, account_id)
    assert saved.state == "new"
    assert saved.conditions.past_scope.value == "all" and saved.conditions.folders == ("INBOX",)
    assert saved.conditions.track_opens and not saved.conditions.track_links
    status = client.get(f"/settings/email-sync/{account_id}/status").text
    assert 'hx-trigger="every 1s"' in status  # keeps polling while busy
    sync_account(site.settings, site.engine, saved)
    status = client.get(f"/settings/email-sync/{account_id}/status").text
    assert "every 1s" not in status and "Active" in status and "1 message synced" in status


def test_other_users_accounts_are_not_found(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(site, client, dovecot, mailbox)
    other, _ = site.signed_in("bob@crm.example")
    assert other.get(f"/settings/email-sync/{account_id}/conditions").status_code == 404
    assert "me@example.com" not in other.get("/settings/email-sync").text
    bob = site.user("carl@crm.example")
    token = auth.create_api_token(site.engine, bob.id, "t")
    headers = {"Authorization": f"Bearer {token}"}
    assert other.get(f"/api/v1/accounts/{account_id}", headers=headers).status_code == 404
    response = other.post(f"/api/v1/accounts/{account_id}/pause", headers=headers)
    assert response.status_code == 404
    assert (
        response.json()["detail"] == f"There is no account {account_id} among your email accounts"
    )


def test_stop_syncing_resume_and_remove_keeping_mail(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(site, client, dovecot, mailbox)
    token = csrf_of(client, "/settings/email-sync")
    client.post(
        f"/settings/email-sync/{account_id}/conditions",
        data={"csrf_token": token, "sync_from": "now", "folders": ["INBOX"]},
    )
    client.post(f"/settings/email-sync/{account_id}/pause", data={"csrf_token": token})
    assert account(site, account_id).state == "paused"
    page = client.get("/settings/email-sync").text
    assert "Paused" in page and ">Resume<" in page
    client.post(f"/settings/email-sync/{account_id}/resume", data={"csrf_token": token})
    assert account(site, account_id).state == "new"
    assert client.get(f"/settings/email-sync/{account_id}/remove").status_code == 200
    response = client.post(f"/settings/email-sync/{account_id}/remove", data={"csrf_token": token})
    assert response.status_code == 400  # no choice made
    client.post(
        f"/settings/email-sync/{account_id}/remove", data={"csrf_token": token, "mail": "keep"}
    )
    assert account(site, account_id).state == "removed"


def test_reconnect_tests_the_new_password_first(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(site, client, dovecot, mailbox)
    with site.engine.begin() as conn:
        account_store.set_state(conn, account_id, "needs_reconnect", error="Login refused")
    assert "Needs reconnecting" in client.get("/settings/email-sync").text
    token = csrf_of(client, "/settings/email-sync")
    bad = client.post(
        f"/settings/email-sync/{account_id}/reconnect", data={"csrf_token": token, "password": "x"}
    )
    assert bad.status_code == 400 and 'class="error"' in bad.text
    good = client.post(
        f"/settings/email-sync/{account_id}/reconnect",
        data={"csrf_token": token, "password": "secret"},
    )
    assert good.status_code == 303 and account(site, account_id).state == "active"


# -- the API twin ---------------------------------------------------------------------


@pytest.fixture
def api(site: Site):
    user = site.user("api@crm.example")
    client = site.client()
    client.headers["Authorization"] = f"Bearer {auth.create_api_token(site.engine, user.id, 't')}"
    return client


def test_api_connect_configure_preview_and_status(
    site: Site, api, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(mailbox, "INBOX", make_message(subject="a"), internaldate=NOW - 3 * DAYS)
    body = {"email": "me@example.com", "password": "secret", "username": mailbox,
            "imap_host": dovecot.host, "imap_port": dovecot.tls_port}  # fmt: skip
    created = api.post("/api/v1/accounts", json=body)
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    assert created.json()["status"]["state"] == "setup"
    folders = api.get(f"/api/v1/accounts/{account_id}/folders").json()
    assert {"name": "INBOX", "role": "inbox", "synced_messages": 0} in folders
    preview = api.post(
        f"/api/v1/accounts/{account_id}/preview", json={"sync_from": "1m", "folders": ["INBOX"]}
    ).json()
    assert preview["total"] == 1 and preview["folders"] == {"INBOX": 1}
    configured = api.put(
        f"/api/v1/accounts/{account_id}/conditions", json={"sync_from": "1m", "past_scope": "all"}
    )
    assert configured.json()["status"]["state"] == "new"
    assert site.woken == [account_id]
    status = api.get(f"/api/v1/accounts/{account_id}/status").json()
    assert status["busy"] is True
    assert api.post(f"/api/v1/accounts/{account_id}/pause").json()["state"] == "paused"
    assert api.post(f"/api/v1/accounts/{account_id}/sync-now").status_code == 400
    assert api.delete(f"/api/v1/accounts/{account_id}?keep_mail=false").status_code == 204
    assert api.get(f"/api/v1/accounts/{account_id}").status_code == 404


def test_api_bad_input_is_4xx_with_a_sentence(
    site: Site, api, dovecot: DovecotServer, mailbox: str
) -> None:
    missing = api.post("/api/v1/accounts", json={"email": "me@example.com"})
    assert missing.status_code == 422 and "password" in missing.json()["detail"]
    wrong = api.post(
        "/api/v1/accounts",
        json={"email": "me@example.com", "password": "bad", "username": mailbox,
              "imap_host": dovecot.host, "imap_port": dovecot.tls_port},
    )  # fmt: skip
    assert wrong.status_code == 400 and isinstance(wrong.json()["detail"], str)
    assert api.put("/api/v1/accounts/999/conditions", json={}).status_code == 404
    assert api.get("/api/v1/accounts/abc").status_code == 422
    assert api.delete("/api/v1/accounts/1").status_code in (404, 422)


def test_api_rejects_an_unknown_folder(
    site: Site, api, dovecot: DovecotServer, mailbox: str
) -> None:
    body = {"email": "me@example.com", "password": "secret", "username": mailbox,
            "imap_host": dovecot.host, "imap_port": dovecot.tls_port}  # fmt: skip
    account_id = api.post("/api/v1/accounts", json=body).json()["id"]
    response = api.put(f"/api/v1/accounts/{account_id}/conditions", json={"folders": ["Nope"]})
    assert response.status_code == 400
    assert response.json()["detail"] == "There is no folder 'Nope' on this account"


def test_supervisor_syncs_after_sync_and_keeps_a_paused_account_paused(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    from emailsync.serve import Supervisor
    from emailsync.services import accounts as svc

    dovecot.append(mailbox, "INBOX", make_message(subject="a"), internaldate=NOW - 3 * DAYS)
    user = site.user("ann@crm.example")
    acc = svc.connect(
        site.settings, site.engine, user.id, email="me@example.com", password="secret",
        imap_host=dovecot.host, imap_port=dovecot.tls_port, imap_security="ssl",
        username=mailbox,
    )  # fmt: skip
    supervisor = Supervisor(site.settings, site.engine, poll_seconds=30, tick_seconds=0.2)
    supervisor.start()
    try:
        time.sleep(0.6)
        assert account(site, acc.id).state == "setup"  # nothing before Sync
        conditions = svc.parse_conditions({"sync_from": "1m", "past_scope": "all"}, ["INBOX"])
        svc.start_sync(site.engine, acc, conditions, supervisor.wake)
        deadline = time.monotonic() + 20
        while account(site, acc.id).state != "active" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert account(site, acc.id).state == "active"
        assert account(site, acc.id).progress_done == 1
        svc.pause(site.engine, account(site, acc.id), supervisor.wake)
        time.sleep(2.5)
        assert account(site, acc.id).state == "paused"
    finally:
        supervisor.stop()
