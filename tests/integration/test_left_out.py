"""The end-of-sync summary counts what the pass left out of the CRM, by the reasons
`messages why-not` gives, and says nothing of it when nothing was left out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)
FIRST_PART = "me@example.com: 1 new messages, 0 flag changes, 0 removed in 2 folders"


def _seed(dovecot: DovecotServer) -> str:
    """Two mails before a 3-month window, one from a contact, two from strangers and
    one from a blocked sender, all in the past (before the account was connected)."""
    user = dovecot.add_user(f"u{uuid.uuid4().hex[:12]}")
    for n in range(2):
        dovecot.append(
            user, "INBOX", make_message(subject=f"old {n}"), internaldate=NOW - (200 + n) * DAYS
        )
    dovecot.append(user, "INBOX", make_message(subject="bob"), internaldate=NOW - 3 * DAYS)
    for n in range(2):
        dovecot.append(
            user, "INBOX", make_message(subject=f"news {n}", sender="news@shop.example"),
            internaldate=NOW - (4 + n) * DAYS,
        )  # fmt: skip
    dovecot.append(
        user, "INBOX", make_message(subject="spam", sender="x@blocked.example"),
        internaldate=NOW - 6 * DAYS,
    )  # fmt: skip
    return user


def test_the_summary_counts_mail_left_out_under_only_crm_contacts(
    harness: Harness, dovecot: DovecotServer
) -> None:
    user = _seed(dovecot)
    harness.ok("contacts", "add", "bob@acme.example")
    account = harness.connect(dovecot, user)
    harness.ok("block", "add", "blocked.example", "--user", "seller@crm.example", "--yes")
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "contacts")
    first = harness.ok("sync", account, "--once")
    assert first.err == (
        f"{FIRST_PART}; left out: 2 older than Sync from, 1 blocked, "
        "2 not with a CRM contact (Only CRM contacts)\n"
    )
    assert [m["subject"] for m in harness.messages(account)] == ["bob"]
    dovecot.append(user, "INBOX", make_message(subject="new from bob"), internaldate=NOW)
    again = harness.ok("sync", account, "--once")  # nothing left out: the line as ever
    assert again.err == FIRST_PART + "\n"


def test_the_summary_counts_blocked_mail_when_bodies_are_fetched_directly(
    harness: Harness, dovecot: DovecotServer
) -> None:
    """All people: no header round trip, the block is applied after the body is read."""
    user = _seed(dovecot)
    account = harness.connect(dovecot, user)
    harness.ok("block", "add", "blocked.example", "--user", "seller@crm.example", "--yes")
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "all")
    first = harness.ok("sync", account, "--once")
    assert first.err == (
        "me@example.com: 3 new messages, 0 flag changes, 0 removed in 2 folders; "
        "left out: 2 older than Sync from, 1 blocked\n"
    )
