"""Connecting a mailbox from the command line (issue 13 items 7 and 10): nothing syncs
before the user chose the conditions, and one mailbox is connected once.

Measured before: with `serve` running, `accounts add` started a sync with default
conditions before `accounts configure` ran, so an account meant to start "now" held 5
past messages; and the same mailbox connected by a second CRM user was stored twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from emailsync.config import Settings
from emailsync.serve import Supervisor
from emailsync.store.db import open_database
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

DAY = timedelta(days=1)


def add(harness: Harness, dovecot: DovecotServer, user: str, *flags: str, crm: str) -> str:
    harness.cli("users", "add", crm)
    result = harness.ok(
        "accounts", "add", "--user", crm, "--email", "me@example.com",
        "--imap", f"{dovecot.host}:{dovecot.tls_port}", "--imap-security", "ssl",
        "--username", user, "--password-stdin", *flags, stdin="secret\n",
    )  # fmt: skip
    return result.out


def state(harness: Harness) -> str:
    return str(harness.ok("accounts", "list", "--json").json()[0]["state"])


def test_an_account_added_without_conditions_waits_until_they_are_chosen(
    harness: Harness, dovecot: DovecotServer, imap_user: str
) -> None:
    for n in range(5):
        dovecot.append(
            imap_user, "INBOX", make_message(subject=f"past {n}"),
            internaldate=datetime.now(UTC) - (n + 1) * DAY,
        )  # fmt: skip
    out = add(harness, dovecot, imap_user, crm="seller@crm.example")
    assert "waits until you choose its sync conditions" in out
    assert state(harness) == "setup"
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(settings, engine, poll_seconds=30, tick_seconds=0.1)
    supervisor.start()
    try:
        time.sleep(1.0)  # ten ticks: a worker would have synced the past by now
        assert state(harness) == "setup"
        assert harness.messages("me@example.com") == []
        harness.ok("accounts", "configure", "me@example.com", "--sync-from", "now")
        supervisor.wake(1)
        deadline = time.monotonic() + 20
        while state(harness) != "active" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state(harness) == "active"
        dovecot.append(imap_user, "INBOX", make_message(subject="new"))
        deadline = time.monotonic() + 20
        while not harness.messages("me@example.com") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        supervisor.stop()
        engine.dispose()
    subjects = [m["subject"] for m in harness.messages("me@example.com")]
    assert subjects == ["new"], "a sync chosen to start now took past mail"


def test_conditions_given_to_accounts_add_start_it_at_once(
    harness: Harness, dovecot: DovecotServer, imap_user: str
) -> None:
    out = add(
        harness, dovecot, imap_user, "--sync-from", "1m", "--past-scope", "all",
        crm="seller@crm.example",
    )  # fmt: skip
    assert "sync from 1m, all people" in out and "syncing starts now" in out
    assert state(harness) == "new"


def test_a_mailbox_connected_by_one_user_is_refused_to_another_who_is_told_by_whom(
    harness: Harness, dovecot: DovecotServer, imap_user: str
) -> None:
    add(harness, dovecot, imap_user, crm="ann@crm.example")
    harness.ok("users", "add", "bob@crm.example")
    second = harness.cli(
        "accounts", "add", "--user", "bob@crm.example", "--email", "me@example.com",
        "--imap", f"{dovecot.host}:{dovecot.tls_port}", "--imap-security", "ssl",
        "--username", imap_user, "--password-stdin", stdin="secret\n",
    )  # fmt: skip
    assert second.code == 1
    assert "already connected by ann@crm.example (account 1)" in second.err
    assert "Traceback" not in second.err
    assert len(harness.ok("accounts", "list", "--json").json()) == 1


def test_an_admin_moves_a_mailbox_with_its_mail_to_another_user(
    harness: Harness, dovecot: DovecotServer, imap_user: str
) -> None:
    dovecot.append(imap_user, "INBOX", make_message(subject="kept"), internaldate=datetime.now(UTC))
    add(harness, dovecot, imap_user, "--past-scope", "all", crm="ann@crm.example")
    harness.ok("sync", "me@example.com", "--once")
    harness.ok("users", "add", "bob@crm.example")
    moved = harness.ok("accounts", "move", "me@example.com", "--user", "bob@crm.example")
    assert "from ann@crm.example to bob@crm.example" in moved.out
    listed = harness.ok("accounts", "list", "--json").json()
    assert [a["user"] for a in listed] == ["bob@crm.example"]
    assert [m["subject"] for m in harness.messages("me@example.com")] == ["kept"]
    again = harness.cli("accounts", "move", "me@example.com", "--user", "bob@crm.example")
    assert again.code == 1 and "belongs to bob@crm.example already" in again.err
    harness.ok("sync", "me@example.com", "--once")  # the password still opens the mailbox
