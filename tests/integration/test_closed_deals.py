"""After a deal is won or lost, later mail is not counted on it, and every reader says so
alike: `messages list --json`, `threads show` and `messages why` (domain.linking's
counts_on_deal is the one rule they all read)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

SELLER = "seller@crm.example"


def test_a_reply_after_the_deal_was_won_is_not_on_it_in_any_reader(
    harness: Harness, dovecot: DovecotServer
) -> None:
    mailbox = dovecot.add_user(f"d{uuid.uuid4().hex[:12]}")
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob")
    harness.ok("deals", "add", "First", "--person", "bob@acme.example")
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(subject="Q", message_id="<q1@x>"),
        internaldate=datetime.now(UTC) - timedelta(days=1),
    )
    account = harness.connect(dovecot, mailbox)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    deal_id = harness.ok("deals", "list", "--json").json()[0]["id"]
    harness.ok("deals", "update", str(deal_id), "--status", "won")
    later = datetime.now(UTC) + timedelta(seconds=2)  # INTERNALDATE has whole seconds
    dovecot.append(
        mailbox, "INBOX", make_message(subject="Re: Q", in_reply_to="<q1@x>"), internaldate=later
    )
    harness.ok("sync", account, "--once")

    listed = {m["subject"]: m for m in harness.messages(account)}
    assert listed["Q"]["thread_id"] == listed["Re: Q"]["thread_id"]
    thread = harness.ok(
        "threads", "show", str(listed["Q"]["thread_id"]), "--user", SELLER, "--json"
    ).json()
    assert thread["deal"]["name"] == "First"  # the thread stays on its deal
    shown = {m["subject"]: m["on_deal"] for m in thread["messages"]}
    why = {
        subject: next(line for line in harness.ok("messages", "why", str(m["id"]), "--json").json()
                      if line.startswith("deal "))
        for subject, m in listed.items()
    }  # fmt: skip

    assert shown == {"Q": True, "Re: Q": False}
    assert {s: m["deal"] for s, m in listed.items()} == {
        "Q": {"id": deal_id, "title": "First"},
        "Re: Q": None,
    }
    assert why["Q"].startswith("deal First: ")
    assert not why["Q"].endswith("not counted on it)")
    assert why["Re: Q"].endswith(
        "(the deal was closed before this message arrived: not counted on it)"
    )
