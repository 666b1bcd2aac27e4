"""`accounts aliases`: addresses that count as the account's owner can be added and
removed again (issue 13 item 11); an address that is no longer an alias is a participant
like any other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message


def test_an_alias_can_be_removed_and_its_address_links_again(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    harness = sqlite_harness
    mailbox = dovecot.add_user(f"a{uuid.uuid4().hex[:12]}")
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Hi", sender="bob@acme.example", to="me.work@example.com"),
        internaldate=datetime.now(UTC) - timedelta(days=1),
    )
    account = harness.connect(dovecot, mailbox)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("contacts", "add", "me.work@example.com", "--name", "Work Me")
    added = harness.ok(
        "accounts", "aliases", account, "--add", "me.work@example.com", "--add", "b@example.com"
    )
    assert added.out == "me@example.com also sends as: b@example.com, me.work@example.com\n"
    harness.ok("sync", account, "--once")
    assert [m["contacts"] for m in harness.messages(account)] == [[]]  # an alias is not a contact

    removed = harness.ok(
        "accounts", "aliases", account, "--remove", "Me.Work@example.com", "--json"
    )
    assert removed.json() == ["b@example.com"]
    assert harness.ok("accounts", "aliases", account, "--json").json() == ["b@example.com"]
    contacts = [c["email"] for m in harness.messages(account) for c in m["contacts"]]
    assert contacts == ["me.work@example.com"]


def test_removing_an_address_that_is_no_alias_is_refused_and_changes_nothing(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    account = sqlite_harness.connect(dovecot, dovecot.add_user(f"a{uuid.uuid4().hex[:12]}"))
    sqlite_harness.ok("accounts", "aliases", account, "--add", "b@example.com")
    refused = sqlite_harness.cli(
        "accounts", "aliases", account, "--add", "c@example.com", "--remove", "x@example.com"
    )
    assert refused.code == 1
    assert refused.err == (
        "emailsync: me@example.com has no alias x@example.com; its aliases are: "
        "b@example.com, c@example.com\n"
    )
    assert sqlite_harness.ok("accounts", "aliases", account, "--json").json() == ["b@example.com"]
