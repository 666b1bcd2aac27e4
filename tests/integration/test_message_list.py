"""`messages list` pages and streams: a keyset cursor walks every message exactly once
while a sync adds mail, `--since` filters by date, the output keeps its shape, and the
memory of a listing does not grow with the account."""

from __future__ import annotations

import json
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from emailsync.domain.model import Address, FetchedMessage, ParsedMessage, Participants
from emailsync.store import message_list
from emailsync.store import messages as message_store
from emailsync.store.db import reading
from emailsync.store.raw import raw_digest
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message
from support.store import bare_store

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)
SHAPE = {
    "id", "message_id", "subject", "from", "from_name", "to", "cc", "date", "internaldate",
    "direction", "folders", "flags", "thread_id", "contacts", "organisations", "deal",
    "size", "attachments", "defects",
}  # fmt: skip


def _listed(harness: Harness, account: str, *args: str) -> list[dict]:
    return harness.ok("messages", "list", "--account", account, "--json", *args).json()


def test_pages_walk_every_message_once_while_a_sync_adds_mail(
    harness: Harness, dovecot: DovecotServer
) -> None:
    user = dovecot.add_user(f"u{uuid.uuid4().hex[:12]}")
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob Jones", "--org", "Acme")
    for n in range(7):
        dovecot.append(
            user,
            "INBOX",
            make_message(subject=f"m{n}", date=NOW - (n + 1) * DAYS),
            internaldate=NOW - (n + 1) * DAYS,
        )
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "all")
    harness.ok("sync", account, "--once")

    result = harness.ok("messages", "list", "--account", account, "--json")
    everything = result.json()
    assert len(everything) == 7
    assert all(set(m) == SHAPE for m in everything)
    assert everything[0]["contacts"][0]["name"] == "Bob Jones"
    assert everything[0]["organisations"][0]["name"] == "Acme"
    # the streamed text is exactly what one json.dump of the whole list wrote
    assert result.out == json.dumps(everything, indent=2, ensure_ascii=False) + "\n"
    assert [m["id"] for m in everything] == sorted(m["id"] for m in everything)
    lines = harness.ok("messages", "list", "--account", account, "--jsonl").out.splitlines()
    assert [json.loads(line) for line in lines] == everything

    seen: list[int] = []
    page = _listed(harness, account, "--limit", "3")
    added = False
    while page:
        assert len(page) <= 3
        seen += [m["id"] for m in page]
        if not added:  # new mail arrives between two pages: it comes after the cursor
            dovecot.append(user, "INBOX", make_message(subject="late"), internaldate=NOW)
            harness.ok("sync", account, "--once")
            added = True
        page = _listed(harness, account, "--limit", "3", "--after", str(seen[-1]))
    final = _listed(harness, account)
    assert len(final) == 8
    assert seen == [m["id"] for m in final]  # every message once, in id order

    assert _listed(harness, account, "--offset", "2", "--limit", "2") == final[2:4]
    assert _listed(harness, account, "--limit", "0") == []
    shown = harness.ok("messages", "list", "--account", account, "--limit", "2").out
    assert [line.split()[0] for line in shown.splitlines()[-2:]] == [
        str(m["id"]) for m in final[:2]
    ]

    since = (NOW - 3 * DAYS - timedelta(hours=1)).isoformat()
    recent = _listed(harness, account, "--since", since)
    assert sorted(m["subject"] for m in recent) == ["late", "m0", "m1", "m2"]
    day = (NOW - 3 * DAYS).date().isoformat()  # a date: from that day's midnight (UTC)
    assert {m["subject"] for m in _listed(harness, account, "--since", day)} >= {"m2"}
    bad = harness.cli("messages", "list", "--account", account, "--since", "last week")
    assert bad.code != 0 and "--since takes an ISO date" in bad.err
    assert "Traceback" not in bad.err

    # privacy as before: another CRM user sees none of a private mailbox, paged or not
    harness.ok("users", "add", "other@crm.example")
    assert _listed(harness, account, "--user", "other@crm.example") == []
    assert _listed(harness, account, "--user", "other@crm.example", "--limit", "2") == []
    assert _listed(harness, account, "--user", "seller@crm.example", "--limit", "2") == final[:2]


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _store(path: Path, count: int) -> tuple[sa.Engine, int]:
    """A SQLite store with `count` messages written through the sync's batch write."""
    engine, account, folder = bare_store(f"sqlite:///{path}")
    for start in range(0, count, 1000):
        batch = []
        for n in range(start, min(start + 1000, count)):
            parsed = ParsedMessage(
                message_id=f"m{n}@x",
                in_reply_to="",
                references=(),
                date=T0 + timedelta(minutes=n),
                subject=f"subject number {n} " + "x" * 80,
                participants=Participants(
                    from_=(Address(f"p{n % 97}@acme.example"),), to=(Address("me@x"),)
                ),
                text_body="",
                html_body="",
                attachments=(),
                defects=(),
            )
            fetched = FetchedMessage(
                uid=n + 1,
                internaldate=T0 + timedelta(minutes=n),
                flags=(r"\Seen",),
                size=2000,
                raw=b"x",
            )
            batch.append(
                message_store.NewMessage(
                    key=f"<m{n}@x>",
                    fetched=fetched,
                    parsed=parsed,
                    direction="received",
                    digest=raw_digest(b"x"),
                )
            )
        with engine.begin() as conn:
            message_store.write_batch(
                conn,
                account_id=account,
                folder_id=folder,
                new_messages=batch,
                new_locations=[],
                cursor=batch[-1].fetched.uid,
            )
    return engine, account


def _peak_of_listing(engine: sa.Engine, account: int) -> tuple[int, int]:
    """(messages listed, tracemalloc's peak in bytes) of writing the whole listing."""
    count = 0
    tracemalloc.start()
    try:
        with reading(engine) as conn:
            for row in message_list.iter_messages(conn, account):
                json.dumps(row, default=str)
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def test_the_memory_of_a_listing_does_not_grow_with_the_account(tmp_path: Path) -> None:
    small, small_account = _store(tmp_path / "small.sqlite", 1000)
    big, big_account = _store(tmp_path / "big.sqlite", 5000)
    small_count, small_peak = _peak_of_listing(small, small_account)
    big_count, big_peak = _peak_of_listing(big, big_account)
    assert (small_count, big_count) == (1000, 5000)
    # all at once, five times the messages took about five times the memory
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)
