"""`messages why-not`: each reason produced by a real case on a real Dovecot.

The mailbox is synced once with 3 months back and Only CRM contacts (Inbox and Sent),
then each mail is looked up on the server and must be explained by the rule the sync
applied to it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emailsync.commands import why_not as why_not_command
from emailsync.errors import EmailsyncError
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def why_not(harness: Harness, *args: str) -> tuple[int, str, str]:
    """Run `messages why-not` through its own register(), as cli.py wires it, with the
    CLI's error rule (one line, exit 1)."""
    parser = argparse.ArgumentParser(prog="emailsync")
    messages = parser.add_subparsers().add_parser("messages").add_subparsers()
    why_not_command.register(messages)
    parsed = parser.parse_args(["messages", "why-not", *args])
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parsed.handler(parsed)
        except EmailsyncError as exc:
            print(f"emailsync: {exc}", file=err)
            code = 1
    assert harness.home.exists()
    return code, out.getvalue(), err.getvalue()


def hits(harness: Harness, query: str, account: str) -> list[dict[str, Any]]:
    code, out, err = why_not(harness, query, "--account", account, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> str:
    return dovecot.add_user(f"w{uuid.uuid4().hex[:12]}")


@pytest.fixture
def account(harness: Harness, dovecot: DovecotServer, mailbox: str) -> str:
    """Synced once: 3 months back, Only CRM contacts, Inbox and Sent; Bob is a contact."""
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob Jones")
    account = harness.connect(dovecot, mailbox)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "contacts")
    return account


def sync(harness: Harness, account: str) -> None:
    harness.ok("sync", account, "--once")


def test_a_stored_message_gives_its_crm_id(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    dovecot.append(
        mailbox, "INBOX", make_message(message_id="<kept@acme.example>"), internaldate=NOW - DAY
    )
    sync(harness, account)
    [stored] = harness.messages(account)
    [hit] = hits(harness, "<kept@acme.example>", account)
    assert hit["reason"] == "stored"
    assert hit["message_id_in_crm"] == stored["id"]
    assert (hit["folder"], hit["message_id"]) == ("INBOX", "kept@acme.example")


def test_mail_before_the_window_is_outside_the_window(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    dovecot.append(
        mailbox,
        "INBOX",
        make_message(message_id="<old@acme.example>"),
        internaldate=NOW - 200 * DAY,
    )
    sync(harness, account)
    [hit] = hits(harness, "<old@acme.example>", account)
    assert (hit["reason"], hit["message_id_in_crm"]) == ("outside_window", None)


def test_past_mail_without_a_contact_is_not_a_contact(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    raw = make_message(sender="stranger@else.example", message_id="<s@else.example>")
    dovecot.append(mailbox, "INBOX", raw, internaldate=NOW - DAY)
    sync(harness, account)
    [hit] = hits(harness, "<s@else.example>", account)
    assert hit["reason"] == "not_a_contact"
    assert harness.messages(account) == []


def test_mail_of_blocked_people_only_is_blocked_even_from_a_contact(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    harness.ok("contacts", "add", "news@blocked.example")
    harness.ok("block", "add", "blocked.example", "--user", "seller@crm.example", "--yes")
    raw = make_message(sender="news@blocked.example", message_id="<n@blocked.example>")
    dovecot.append(mailbox, "INBOX", raw, internaldate=NOW - DAY)
    sync(harness, account)
    [hit] = hits(harness, "<n@blocked.example>", account)
    assert hit["reason"] == "blocked"


def test_mail_in_a_folder_not_synced_is_folder_not_selected(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    dovecot.append(
        mailbox, "Archive", make_message(message_id="<a@acme.example>"), internaldate=NOW - DAY
    )
    sync(harness, account)
    [hit] = hits(harness, "<a@acme.example>", account)
    assert (hit["folder"], hit["reason"]) == ("Archive", "folder_not_selected")
    assert (
        f"`emailsync accounts configure {account} --folders INBOX,Sent,Archive`"
        in (hit["explanation"])
    )


def test_junk_trash_and_drafts_are_named_as_such(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    harness.ok("accounts", "configure", account, "--future", "all")
    raw = make_message(message_id="<j@acme.example>")
    dovecot.append(mailbox, "Junk", raw, internaldate=NOW - DAY)
    dovecot.append(mailbox, "Trash", raw, internaldate=NOW - DAY)
    sync(harness, account)
    found = {h["folder"]: h["reason"] for h in hits(harness, "<j@acme.example>", account)}
    assert found == {"Junk": "junk_trash_drafts", "Trash": "junk_trash_drafts"}


def test_unreadable_address_headers_are_a_parse_defect(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    raw = (
        b"From: =?utf-8?q?broken <<<@@@>>>\r\nTo: undisclosed-recipients:;\r\n"
        b"Subject: x\r\nMessage-ID: <bad@else.example>\r\n\r\nbody\r\n"
    )
    dovecot.append(mailbox, "INBOX", raw, internaldate=NOW - DAY)
    sync(harness, account)
    [hit] = hits(harness, "<bad@else.example>", account)
    assert hit["reason"] == "parse_defect"
    assert "invalid address in From" in hit["explanation"]


def test_mail_that_arrived_after_the_last_pass_is_not_synced_yet(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    sync(harness, account)
    dovecot.append(mailbox, "INBOX", make_message(message_id="<new@acme.example>"))
    [hit] = hits(harness, "<new@acme.example>", account)
    assert hit["reason"] == "not_synced_yet"


def test_a_contact_added_after_the_sync_is_kept_out_earlier(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    raw = make_message(sender="carol@later.example", message_id="<c@later.example>")
    dovecot.append(mailbox, "INBOX", raw, internaldate=NOW - DAY)
    sync(harness, account)
    harness.ok("contacts", "add", "carol@later.example")
    [hit] = hits(harness, "<c@later.example>", account)
    assert hit["reason"] == "kept_out_earlier"
    assert "--rescan" in hit["explanation"]


def test_an_address_finds_every_copy_and_skips_substring_matches(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    """SEARCH FROM matches substrings (RFC 3501 §6.4.4): bob@acme.example also matches
    jimbob@acme.example.org, which must not be reported."""
    dovecot.append(mailbox, "INBOX", make_message(), internaldate=NOW - DAY)
    dovecot.append(mailbox, "Sent", make_message(sender="me@example.com", to="bob@acme.example"))
    dovecot.append(
        mailbox, "INBOX", make_message(sender="jimbob@acme.example.org"), internaldate=NOW - DAY
    )
    sync(harness, account)
    found = hits(harness, "bob@acme.example", account)
    assert sorted((h["folder"], h["reason"]) for h in found) == [
        ("INBOX", "stored"),
        ("Sent", "stored"),
    ]


def test_text_output_is_one_line_per_copy(
    harness: Harness, dovecot: DovecotServer, mailbox: str, account: str
) -> None:
    raw = make_message(sender="stranger@else.example", message_id="<t@else.example>")
    dovecot.append(mailbox, "INBOX", raw, internaldate=NOW - DAY)
    dovecot.append(mailbox, "Archive", raw, internaldate=NOW - DAY)
    sync(harness, account)
    code, out, _ = why_not(harness, "<t@else.example>", "--account", account)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["FOLDER", "DATE", "UID", "WHY"]
    assert [line.split()[0] for line in lines[1:]] == ["INBOX", "Archive"]
    assert "not_a_contact:" in lines[1] and "folder_not_selected:" in lines[2]


def test_nothing_found_says_so(harness: Harness, account: str) -> None:
    code, out, _ = why_not(harness, "<nowhere@else.example>", "--account", account)
    assert code == 0
    assert out.startswith("No mail matching <nowhere@else.example> in any folder of")


def test_hits_are_bounded_newest_first_and_the_rest_counted(
    harness: Harness,
    dovecot: DovecotServer,
    mailbox: str,
    account: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("emailsync.sync.why_not.MAX_HITS", 2)
    uids = [
        dovecot.append(mailbox, "INBOX", make_message(), internaldate=NOW - n * DAY)
        for n in (3, 2, 1)
    ]
    code, out, _ = why_not(harness, "bob@acme.example", "--account", account)
    assert code == 0
    shown = [int(line.split()[3]) for line in out.strip().splitlines()[1:3]]
    assert shown == [uids[2], uids[1]]
    assert out.strip().splitlines()[-1].startswith("… and 1 more copies not examined")
