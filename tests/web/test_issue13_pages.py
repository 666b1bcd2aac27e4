"""Issue 13 on the Email sync page, the API and `accounts status`: the retrying state in
words with a countdown of now (item 1), what a change of conditions does (item 5), the
"Why isn't this email in the CRM?" box (item 12) and the folder counts (item 9). Against
the real Dovecot; the outage is a real refused connection (a port nobody listens on)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from emailsync.cli import main
from emailsync.domain.states import AccountState
from emailsync.retry import Backoff
from emailsync.runtime.worker import run_account
from emailsync.services import users as auth
from emailsync.store import accounts as account_store
from emailsync.store.tables import accounts as accounts_table
from emailsync.sync.account_sync import sync_account
from emailsync.sync.why_not import why_not
from support.dovecot import DovecotServer
from support.mail import make_message
from support.web import Site, account_form, csrf_of

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def unreachable(site: Site, account_id: int) -> None:
    """The mail server goes away: the account's port now refuses connections."""
    with site.engine.begin() as conn:
        conn.execute(
            sa.update(accounts_table)
            .where(accounts_table.c.id == account_id)
            .values(imap_port=closed_port())
        )


def connect(client, dovecot: DovecotServer, login: str, **changes: str) -> int:
    token = csrf_of(client, "/settings/email-sync/new")
    form = account_form(dovecot, login, token, **changes)
    response = client.post("/settings/email-sync/new", data=form)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[3])


def choose(client, account_id: int, **values: object) -> object:
    token = csrf_of(client, f"/settings/email-sync/{account_id}/conditions")
    data = {"csrf_token": token, "future": "selected", **values}
    response = client.post(f"/settings/email-sync/{account_id}/conditions", data=data)
    assert response.status_code == 303, response.text
    return response


def row(site: Site, account_id: int) -> account_store.Account:
    with site.engine.connect() as conn:
        return account_store.find_account(conn, str(account_id))


def cli(*args: str) -> str:
    """The CLI's own entry point over the site's data directory (EMAILSYNC_HOME)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(list(args))
        except SystemExit as exc:
            assert not exc.code, out.getvalue()
    return out.getvalue()


def api_client(site: Site, email: str):
    user = site.user(email)
    client = site.client()
    client.headers["Authorization"] = f"Bearer {auth.create_api_token(site.engine, user.id, 't')}"
    return client, user


# -- item 1: retrying, in words ----------------------------------------------------------


class FixedBackoff(Backoff):
    """The worker's backoff with a wait the test can read on the page."""

    def next_wait(self) -> float:
        self.failures += 1
        return 45.0


def test_a_retrying_account_says_since_when_and_in_how_long_and_sync_now_retries(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(client, dovecot, mailbox)
    choose(client, account_id, sync_from="now", folders=["INBOX"])
    unreachable(site, account_id)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_account,
        args=(site.settings, site.engine, account_id),
        kwargs={"stop": stop, "poll_seconds": 600, "backoff": FixedBackoff()},
    )
    worker.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while row(site, account_id).retry_at is None and datetime.now(UTC) < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(15)
    saved = row(site, account_id)
    assert saved.state == AccountState.RETRYING and saved.failing_since is not None
    sentence = rf"Cannot reach {re.escape(dovecot.host)} since \d\d:\d\d; retrying in (\d+) s"

    page = client.get("/settings/email-sync").text
    assert "Retrying" in page and "Sync now retries at once" in page
    assert 40 <= int(re.search(sentence, page).group(1)) <= 45
    assert f'action="/settings/email-sync/{account_id}/sync-now"' in page

    # The countdown is the one of now, not the one written with the failure.
    later = datetime.now(UTC) + timedelta(seconds=200)
    with site.engine.begin() as conn:
        conn.execute(
            sa.update(accounts_table)
            .where(accounts_table.c.id == account_id)
            .values(retry_at=later)
        )
    assert "retrying in 45 s" in row(site, account_id).last_error  # as the worker wrote it
    page = client.get("/settings/email-sync").text
    assert 195 <= int(re.search(sentence, page).group(1)) <= 200

    token = auth.create_api_token(site.engine, saved.user_id, "t")
    status = client.get(
        f"/api/v1/accounts/{account_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()["status"]
    assert status["state"] == "retrying"
    assert abs(datetime.fromisoformat(status["retry_at"]) - later) < timedelta(seconds=1)
    assert datetime.fromisoformat(status["failing_since"]) == saved.failing_since
    assert 195 <= int(re.search(sentence, status["detail"]).group(1)) <= 200

    text = cli("accounts", "status", str(account_id))
    assert 195 <= int(re.search(sentence, text).group(1)) <= 200
    listed = json.loads(cli("accounts", "list", "--json"))
    mine = next(a for a in listed if a["id"] == account_id)
    assert mine["state"] == "retrying"
    assert datetime.fromisoformat(mine["failing_since"]) == saved.failing_since
    assert abs(datetime.fromisoformat(mine["retry_at"]) - later) < timedelta(seconds=1)
    shown = json.loads(cli("accounts", "status", str(account_id), "--json"))
    assert shown["retry_at"] == mine["retry_at"]

    # Past its time, the worker is at it: no negative countdown.
    with site.engine.begin() as conn:
        conn.execute(
            sa.update(accounts_table)
            .where(accounts_table.c.id == account_id)
            .values(retry_at=datetime.now(UTC) - timedelta(seconds=5))
        )
    page = client.get("/settings/email-sync").text
    assert re.search(rf"Cannot reach {re.escape(dovecot.host)} since \d\d:\d\d; retrying now", page)

    # "Sync now" stays allowed: it wakes the worker, which retries at once.
    site.woken.clear()
    token = csrf_of(client, "/settings/email-sync")
    response = client.post(
        f"/settings/email-sync/{account_id}/sync-now", data={"csrf_token": token}
    )
    assert response.status_code == 303 and site.woken == [account_id]
    assert "Retrying me@example.com now." in client.get("/settings/email-sync").text


def test_a_retrying_account_without_a_retry_time_says_the_next_sync_retries(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    """`sync_account` (no worker around it) records the failure without a time."""
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(client, dovecot, mailbox)
    choose(client, account_id, sync_from="now", folders=["INBOX"])
    unreachable(site, account_id)
    with pytest.raises(Exception):  # noqa: B017 - whichever transient error it is
        sync_account(site.settings, site.engine, row(site, account_id))
    page = client.get("/settings/email-sync").text
    assert re.search(
        rf"Cannot reach {re.escape(dovecot.host)} since \d\d:\d\d; the next sync retries", page
    )


# -- item 5: what a change of conditions does -------------------------------------------


def test_changing_conditions_says_what_it_does_on_the_page(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(mailbox, "INBOX", make_message(subject="a"), internaldate=NOW - 5 * DAYS)
    client, _ = site.signed_in("ann@crm.example")
    account_id = connect(client, dovecot, mailbox)
    first = choose(client, account_id, sync_from="3m", past_scope="all", folders=["INBOX"])
    follow = client.get(first.headers["location"]).text
    assert 'class="notice"' not in follow  # the first Sync changes nothing stored
    sync_account(site.settings, site.engine, row(site, account_id))
    response = choose(client, account_id, sync_from="6m", past_scope="all", folders=["INBOX"])
    page = client.get(response.headers["location"]).text
    assert "The next sync brings in the mail from 3 months back to 6 months back." in page
    assert row(site, account_id).conditions.sync_from.value == "6m"
    response = choose(client, account_id, sync_from="1m", past_scope="all", folders=["INBOX"])
    page = client.get(response.headers["location"]).text
    assert "Mail from before 1 month back that is already in the CRM stays there" in page


def test_changing_conditions_says_what_it_does_in_the_api(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    dovecot.append(mailbox, "INBOX", make_message(subject="a"), internaldate=NOW - 5 * DAYS)
    api, _ = api_client(site, "api@crm.example")
    body = {"email": "me@example.com", "password": "secret", "username": mailbox,
            "imap_host": dovecot.host, "imap_port": dovecot.tls_port}  # fmt: skip
    account_id = api.post("/api/v1/accounts", json=body).json()["id"]
    first = api.put(
        f"/api/v1/accounts/{account_id}/conditions",
        json={"sync_from": "3m", "past_scope": "contacts", "folders": ["INBOX"]},
    )
    assert first.status_code == 200 and first.json()["notes"] == []
    sync_account(site.settings, site.engine, row(site, account_id))
    wider = api.put(
        f"/api/v1/accounts/{account_id}/conditions",
        json={"sync_from": "6m", "past_scope": "all", "folders": ["INBOX"]},
    ).json()
    assert wider["notes"] == [
        "The next sync brings in the mail from 3 months back to 6 months back.",
        "The next sync brings in the past mail of people who are not CRM contacts.",
    ]
    assert wider["conditions"]["sync_from"] == "6m" and wider["status"]["state"] == "active"


# -- item 9: the API's folder counts -------------------------------------------------------


def test_the_api_folder_list_counts_the_stored_messages_of_each_folder(
    site: Site, dovecot: DovecotServer, mailbox: str
) -> None:
    for subject in ("one", "two"):
        dovecot.append(mailbox, "INBOX", make_message(subject=subject), internaldate=NOW - DAYS)
    dovecot.append(mailbox, "Archive", make_message(subject="x"), internaldate=NOW - DAYS)
    api, _ = api_client(site, "api@crm.example")
    body = {"email": "me@example.com", "password": "secret", "username": mailbox,
            "imap_host": dovecot.host, "imap_port": dovecot.tls_port}  # fmt: skip
    account_id = api.post("/api/v1/accounts", json=body).json()["id"]
    before = api.get(f"/api/v1/accounts/{account_id}/folders").json()
    assert {f["name"]: f["synced_messages"] for f in before}["INBOX"] == 0
    api.put(
        f"/api/v1/accounts/{account_id}/conditions",
        json={"sync_from": "1m", "past_scope": "all", "folders": ["INBOX"]},
    )
    sync_account(site.settings, site.engine, row(site, account_id))
    counts = {
        f["name"]: f["synced_messages"]
        for f in api.get(f"/api/v1/accounts/{account_id}/folders").json()
    }
    assert counts["INBOX"] == 2 and counts["Archive"] == 0


# -- item 12: "Why isn't this email in the CRM?" ------------------------------------------


@pytest.fixture
def looked_up(site: Site, dovecot: DovecotServer, mailbox: str):
    """An account syncing INBOX from 1 month back, with three copies of mail from
    carol: one stored, one older than the window, one in a folder not synced."""
    carol = "carol@acme.example"
    dovecot.append(mailbox, "INBOX", make_message(sender=carol, subject="kept"),
                   internaldate=NOW - 2 * DAYS)  # fmt: skip
    dovecot.append(mailbox, "INBOX", make_message(sender=carol, subject="old"),
                   internaldate=NOW - 90 * DAYS)  # fmt: skip
    dovecot.append(mailbox, "Archive", make_message(sender=carol, subject="filed"),
                   internaldate=NOW - 3 * DAYS)  # fmt: skip
    dovecot.append(mailbox, "INBOX", make_message(sender="dan@other.example"),
                   internaldate=NOW - DAYS)  # fmt: skip
    client, user = site.signed_in("ann@crm.example")
    account_id = connect(client, dovecot, mailbox)
    choose(client, account_id, sync_from="1m", past_scope="all", folders=["INBOX"])
    sync_account(site.settings, site.engine, row(site, account_id))
    return client, user, account_id, carol


def test_the_why_not_box_says_for_each_copy_why_it_is_or_is_not_in_the_crm(
    site: Site, looked_up
) -> None:
    client, _, account_id, carol = looked_up
    page = client.get("/settings/email-sync").text
    assert "Why isn&#39;t this email in the CRM?" in page or "Why isn't this email" in page
    assert f'<option value="{account_id}"' in page
    response = client.get(
        "/settings/email-sync/why-not", params={"account": account_id, "q": carol}
    )
    assert response.status_code == 200
    lines = re.findall(r'<li data-reason="([a-z_]+)">(.*?)</li>', response.text, re.S)
    assert sorted(reason for reason, _ in lines) == [
        "folder_not_selected", "outside_window", "stored"
    ]  # fmt: skip
    said = {reason: text for reason, text in lines}
    stored = row(site, account_id)
    assert (
        "<strong>INBOX</strong>" in said["stored"]
        and "In the CRM: in the CRM as message" in (said["stored"])
    )
    assert "Before Sync from: arrived before this folder" in said["outside_window"]
    assert "<strong>Archive</strong>" in said["folder_not_selected"]
    assert "Archive is not among the synced folders" in said["folder_not_selected"]
    conditions_link = f'href="/settings/email-sync/{account_id}/conditions">Change conditions'
    assert conditions_link in said["folder_not_selected"]
    assert conditions_link not in said["stored"]
    old_day = (NOW - 90 * DAYS).strftime("%d %b %Y")
    assert old_day in said["outside_window"]
    assert stored.state == AccountState.ACTIVE  # looking up wrote nothing

    nothing = client.get(
        "/settings/email-sync/why-not", params={"account": account_id, "q": "<nope@x.example>"}
    )
    assert nothing.status_code == 200 and "No mail matching" in nothing.text
    bad = client.get("/settings/email-sync/why-not", params={"account": account_id, "q": ""})
    assert bad.status_code == 400 and "neither a Message-ID nor an email address" in bad.text


def test_the_why_not_api_gives_the_json_of_the_command(site: Site, looked_up) -> None:
    from emailsync.commands.why_not import _json

    _, user, account_id, carol = looked_up
    token = auth.create_api_token(site.engine, user.id, "t")
    api = site.client()
    api.headers["Authorization"] = f"Bearer {token}"
    response = api.get(f"/api/v1/accounts/{account_id}/why-not", params={"q": carol})
    assert response.status_code == 200, response.text
    expected = why_not(site.settings, site.engine, row(site, account_id), carol)
    assert response.json() == [_json(hit) for hit in expected.hits]
    assert len(response.json()) == 3


def test_why_not_on_another_users_account_is_not_found(
    site: Site, looked_up, dovecot: DovecotServer
) -> None:
    _, _, account_id, carol = looked_up
    other, bob = site.signed_in("bob@crm.example")
    page = other.get("/settings/email-sync/why-not", params={"account": account_id, "q": carol})
    assert page.status_code == 404 and carol not in page.text
    assert "me@example.com" not in other.get("/settings/email-sync").text
    token = auth.create_api_token(site.engine, bob.id, "t")
    response = other.get(
        f"/api/v1/accounts/{account_id}/why-not",
        params={"q": carol},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"There is no account {account_id} among your email accounts"
    }
