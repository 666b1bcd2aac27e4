"""A real mailbox on a real Dovecot synced into the store, exactly once.

Each test connects a fresh Dovecot user through the CLI (which logs in before saving),
seeds mail with APPEND (INTERNALDATE set, as the window is judged by it), runs
`emailsync sync --once` and reads the result back through `messages list --json`.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.errors import EmailsyncError
from emailsync.imap.session import ImapSession
from emailsync.store import accounts as account_store
from emailsync.store.accounts import Account
from emailsync.store.db import open_database, reading
from emailsync.store.raw import SWEEP_MIN_AGE
from emailsync.sync.account_sync import open_session, sync_account
from support.corpus import corpus_dirs, corpus_files
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)


@pytest.fixture(params=["condstore", "basic"])
def server(request: pytest.FixtureRequest) -> DovecotServer:
    """Each behaviour against a server with CONDSTORE/QRESYNC and one without."""
    name = "dovecot" if request.param == "condstore" else "dovecot_basic"
    return request.getfixturevalue(name)


def fresh_user(server: DovecotServer) -> str:
    return server.add_user(f"u{uuid.uuid4().hex[:12]}")


def subjects(messages: list[dict]) -> list[str]:
    return sorted(m["subject"] for m in messages)


class InProcess(NamedTuple):
    """A synced account opened in this process, as the worker holds it."""

    settings: Settings
    engine: sa.Engine
    account: Account
    session: ImapSession


def in_process(account_ref: str) -> InProcess:
    settings = Settings.from_environment()
    engine = open_database(settings)
    with reading(engine) as conn:
        account = account_store.find_account(conn, account_ref)
    return InProcess(settings, engine, account, open_session(settings, account))


def test_all_people_past_sync_takes_exactly_the_mail_inside_the_window(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    server.append(user, "INBOX", make_message(subject="recent"), internaldate=NOW - 10 * DAYS)
    server.append(user, "INBOX", make_message(subject="old"), internaldate=NOW - 200 * DAYS)
    server.append(
        user, "Sent", make_message(subject="my reply", sender="me@example.com",
                                   to="bob@acme.example"),
        flags=[r"\Seen"], internaldate=NOW - 5 * DAYS,
    )  # fmt: skip
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "all")
    harness.ok("sync", account, "--once")
    messages = harness.messages(account)
    assert subjects(messages) == ["my reply", "recent"]
    by_subject = {m["subject"]: m for m in messages}
    assert by_subject["my reply"]["direction"] == "sent"
    assert by_subject["my reply"]["folders"] == ["Sent"]
    assert by_subject["recent"]["direction"] == "received"


def test_contacts_scope_keeps_only_past_mail_that_involves_a_crm_contact(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    harness.ok("contacts", "add", "bob@acme.example", "--name", "Bob Jones", "--org", "Acme")
    server.append(user, "INBOX", make_message(subject="from bob"), internaldate=NOW - 3 * DAYS)
    server.append(
        user, "INBOX", make_message(subject="cc bob", sender="x@other.example",
                                    cc="Bob <BOB@Acme.Example>"),
        internaldate=NOW - 4 * DAYS,
    )  # fmt: skip
    server.append(
        user, "INBOX", make_message(subject="newsletter", sender="news@shop.example"),
        internaldate=NOW - 2 * DAYS,
    )  # fmt: skip
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "contacts")
    harness.ok("sync", account, "--once")
    messages = harness.messages(account)
    assert subjects(messages) == ["cc bob", "from bob"]
    assert all(m["contacts"][0]["name"] == "Bob Jones" for m in messages)


def test_contacts_scope_never_downloads_bodies_of_other_mail(
    harness: Harness, dovecot: DovecotServer
) -> None:
    """Headers first; only the matching message's body crosses the wire."""
    user = fresh_user(dovecot)
    harness.ok("contacts", "add", "bob@acme.example")
    big = b"x" * 400_000
    dovecot.append(
        user,
        "INBOX",
        make_message(subject="bob", attachment=("a.bin", b"y" * 1000)),
        internaldate=NOW - 3 * DAYS,
    )
    for n in range(3):
        dovecot.append(
            user, "INBOX",
            make_message(subject=f"private {n}", sender="friend@home.example",
                         attachment=("big.bin", big)),
            internaldate=NOW - 3 * DAYS,
        )  # fmt: skip
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--sync-from", "1m")
    settings, engine, acc, session = in_process(account)
    try:
        before = session.bytes_received
        sync_account(settings, engine, acc, session=session)
        downloaded = session.bytes_received - before
    finally:
        session.close()
        engine.dispose()
    assert subjects(harness.messages(account)) == ["bob"]
    assert downloaded < 100_000, f"{downloaded} bytes fetched: other bodies were downloaded"


def test_past_sync_never_marks_mail_read_on_the_server(
    harness: Harness, dovecot: DovecotServer
) -> None:
    """BODY.PEEK (RFC 3501 §6.4.5): syncing must not set \\Seen."""
    user = fresh_user(dovecot)
    uid = dovecot.append(user, "INBOX", make_message(), internaldate=NOW - DAYS)
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    assert len(harness.messages(account)) == 1
    with dovecot.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        assert b"\\Seen" not in c.get_flags([uid])[uid]


def test_now_syncs_no_past_mail_but_every_new_message(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    server.append(
        user, "INBOX", make_message(subject="this morning"), internaldate=NOW - 0.2 * DAYS
    )
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--sync-from", "now")
    harness.ok("sync", account, "--once")
    assert harness.messages(account) == []
    server.append(user, "INBOX", make_message(subject="a stranger", sender="x@unknown.example"))
    harness.ok("sync", account, "--once")
    assert subjects(harness.messages(account)) == ["a stranger"]


def test_future_mail_is_synced_whatever_the_past_scope(
    harness: Harness, server: DovecotServer
) -> None:
    """Only CRM contacts applies to the initial past sync; future mail is all mail."""
    user = fresh_user(server)
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--sync-from", "6m", "--past-scope", "contacts")
    harness.ok("sync", account, "--once")
    server.append(user, "INBOX", make_message(subject="new lead", sender="lead@new.example"))
    harness.ok("sync", account, "--once")
    assert subjects(harness.messages(account)) == ["new lead"]


def test_flag_changes_and_deletions_on_the_server_show_up_on_the_next_run(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    read_me = server.append(user, "INBOX", make_message(subject="read me"), internaldate=NOW - DAYS)
    delete_me = server.append(
        user, "INBOX", make_message(subject="delete me"), internaldate=NOW - DAYS
    )
    server.append(user, "INBOX", make_message(subject="stays"), internaldate=NOW - DAYS)
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    assert len(harness.messages(account)) == 3
    server.set_flags(user, "INBOX", read_me, [r"\Seen", r"\Flagged"])
    server.expunge(user, "INBOX", delete_me)
    harness.ok("sync", account, "--once")
    messages = {m["subject"]: m for m in harness.messages(account)}
    assert sorted(messages) == ["read me", "stays"]
    assert messages["read me"]["flags"] == ["\\Flagged", "\\Seen"]
    assert messages["stays"]["flags"] == []


def test_a_message_in_two_folders_is_one_message_with_two_locations(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    raw = make_message(subject="to myself", sender="me@example.com", to="me@example.com")
    server.append(user, "INBOX", raw, internaldate=NOW - DAYS)
    server.append(user, "Sent", raw, internaldate=NOW - DAYS)
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    messages = harness.messages(account)
    assert len(messages) == 1
    assert messages[0]["folders"] == ["INBOX", "Sent"]
    assert messages[0]["direction"] == "sent"


def test_uidvalidity_change_remaps_without_duplicates_or_new_ids(
    harness: Harness, server: DovecotServer
) -> None:
    """RFC 3501 §2.3.1.1: a new UIDVALIDITY voids every stored UID of the folder."""
    user = fresh_user(server)
    for n in range(5):
        server.append(user, "INBOX", make_message(subject=f"m{n}"), internaldate=NOW - DAYS)
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    before = {m["subject"]: m["id"] for m in harness.messages(account)}
    new_validity = server.change_uidvalidity(user, "INBOX")
    server.append(user, "INBOX", make_message(subject="after"), internaldate=NOW)
    harness.ok("sync", account, "--once")
    after = {m["subject"]: m["id"] for m in harness.messages(account)}
    assert sorted(after) == sorted([*before, "after"])
    assert all(after[s] == before[s] for s in before), "messages were re-created, links lost"
    status = harness.ok("accounts", "status", account, "--json").json()
    inbox = next(f for f in status["folders"] if f["name"] == "INBOX")
    assert inbox["uidvalidity"] == new_validity
    assert inbox["synced_messages"] == 6
    assert inbox["remapping"] is False


def test_a_second_run_with_nothing_changed_changes_nothing(
    harness: Harness, server: DovecotServer
) -> None:
    user = fresh_user(server)
    for n in range(3):
        server.append(user, "INBOX", make_message(subject=f"m{n}"), internaldate=NOW - DAYS)
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    first = harness.messages(account)
    result = harness.ok("sync", account, "--once")
    assert "0 new messages" in result.err
    assert harness.messages(account) == first


def test_wrong_password_is_refused_before_anything_is_saved(
    harness: Harness, dovecot: DovecotServer
) -> None:
    user = fresh_user(dovecot)
    harness.ok("users", "add", "seller@crm.example")
    result = harness.cli(
        "accounts", "add", "--user", "seller@crm.example", "--email", "me@example.com",
        "--imap", f"{dovecot.host}:{dovecot.tls_port}", "--imap-security", "ssl",
        "--username", user, "--password-stdin", stdin="wrong\n",
    )  # fmt: skip
    assert result.code == 1
    assert "login failed for me@example.com" in result.err
    assert "Traceback" not in result.err
    assert harness.ok("accounts", "list", "--json").json() == []


def test_the_password_is_encrypted_at_rest(sqlite_harness: Harness, dovecot: DovecotServer) -> None:
    password = f"Tr0ub4dor-{uuid.uuid4().hex}"
    user = dovecot.add_user(f"u{uuid.uuid4().hex[:12]}", password=password)
    sqlite_harness.connect(dovecot, user, password=password)
    for path in sqlite_harness.home.iterdir():  # the database, its WAL, the key file
        assert password.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize("corpus_dir", corpus_dirs())
def test_every_corpus_message_syncs_through_dovecot(
    harness: Harness, dovecot: DovecotServer, corpus_dir: Path
) -> None:
    """Oddities (bad charsets, broken MIME, odd headers) all land, none crash: our own
    corpus always, the shared real-world one when it is beside the checkout."""
    from emailsync.mime.parse import parse_message

    files = corpus_files(corpus_dir)
    assert files, f"no messages in {corpus_dir}"
    user = fresh_user(dovecot)
    expected = {}
    for path in files:
        raw = path.read_bytes()
        uid = dovecot.append(user, "INBOX", raw, internaldate=NOW - DAYS)
        expected[uid] = parse_message(raw)
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    status = harness.ok("accounts", "status", account, "--json").json()
    inbox = next(f for f in status["folders"] if f["name"] == "INBOX")
    assert inbox["synced_messages"] == len(files), "some corpus messages have no location"
    stored = harness.messages(account)
    by_message_id = {m["message_id"]: m for m in stored if m["message_id"]}
    # Files that share a Message-ID are one message (the first copy's fields) by design.
    uses = Counter(p.message_id for p in expected.values())
    checked = 0
    anonymous = [(m["subject"], m["from"], m["attachments"]) for m in stored if not m["message_id"]]
    for parsed in expected.values():
        sender = parsed.participants.from_[0].email if parsed.participants.from_ else ""
        names = [a.filename for a in parsed.attachments]
        if not parsed.message_id:
            assert (parsed.subject, sender, names) in anonymous
            checked += 1
            continue
        if uses[parsed.message_id] > 1:
            continue
        message = by_message_id[parsed.message_id]
        assert message["subject"] == parsed.subject
        assert message["from"] == sender
        assert message["attachments"] == names
        checked += 1
    assert checked == sum(
        1 for p in expected.values() if uses[p.message_id] == 1 or not p.message_id
    )
    # the bytes are kept exactly as the server sent them (one copy per distinct Message-ID)
    raw = harness.raw_copies()
    assert all(
        data is not None and hashlib.sha256(data).hexdigest() == d for d, data in raw.items()
    )
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(), ["BODY.PEEK[]"])
    on_server = {hashlib.sha256(f[b"BODY[]"]).hexdigest() for f in fetched.values()}
    assert set(raw) <= on_server and len(raw) == len(stored)


def test_a_pass_outlasting_several_parser_processes_completes(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetcher processes are replaced every RECYCLE_AFTER batches; none may be lost."""
    from emailsync.sync import fetchers as fetch_pool
    from emailsync.sync import folder_sync

    monkeypatch.setattr(folder_sync, "PARALLEL_FETCH_MIN", 1)
    monkeypatch.setattr(folder_sync, "DIRECT_BATCH", 2)
    monkeypatch.setattr(fetch_pool, "RECYCLE_AFTER", 3)
    user = fresh_user(dovecot)
    with dovecot.client(user) as client:
        for n in range(30):
            client.append("INBOX", make_message(subject=f"r{n}"), msg_time=NOW - n * DAYS)
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    assert sorted(m["subject"] for m in harness.messages(account)) == sorted(
        f"r{n}" for n in range(30)
    )


def test_a_big_pass_fetches_in_other_processes_with_the_same_result(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetcher processes (sync/fetchers.py) take over from this many messages on;
    lowered here so a small mailbox goes through them."""
    from emailsync.sync import folder_sync

    monkeypatch.setattr(folder_sync, "PARALLEL_FETCH_MIN", 1)
    monkeypatch.setattr(folder_sync, "DIRECT_BATCH", 7)
    user = fresh_user(dovecot)
    with dovecot.client(user) as client:
        for n in range(40):
            client.append(
                "INBOX", make_message(subject=f"p{n}", cc="ann@b.example"), msg_time=NOW - n * DAYS
            )
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    messages = harness.messages(account)
    assert sorted(m["subject"] for m in messages) == sorted(f"p{n}" for n in range(40) if n < 90)
    assert all(m["cc"] == ["ann@b.example"] for m in messages)
    raw = harness.raw_copies()  # written by the fetcher processes
    assert len(raw) == 40
    assert all(
        data is not None and hashlib.sha256(data).hexdigest() == d for d, data in raw.items()
    )


def test_an_unchanged_folder_is_not_opened_again(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CONDSTORE a STATUS that matches the last pass spares the SELECT; any change
    (here a new sent message, then a flag change) still gets the folder opened."""
    user = fresh_user(dovecot)
    dovecot.append(user, "Sent", make_message(subject="s1"), internaldate=NOW - DAYS)
    account_ref = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account_ref, "--past-scope", "all")
    harness.ok("sync", account_ref, "--once")
    opened: list[str] = []
    real_select = ImapSession.select

    def select(self: ImapSession, name: str) -> object:
        if name != self.selected:
            opened.append(name)
        return real_select(self, name)

    monkeypatch.setattr(ImapSession, "select", select)
    settings, engine, account, session = in_process(account_ref)
    try:
        session.select("INBOX")
        opened.clear()
        sync_account(settings, engine, account, session=session)
        assert opened == []
        uid = dovecot.append(user, "Sent", make_message(subject="s2"))
        assert sync_account(settings, engine, account, session=session).new_messages == 1
        assert opened == ["Sent"]
        session.select("INBOX")
        opened.clear()
        with dovecot.client(user) as client:
            client.select_folder("Sent")
            client.add_flags([uid], [b"\\Flagged"])
        assert (
            sync_account(settings, engine, account, session=session).folders["Sent"].flag_updates
            == 1
        )
    finally:
        session.close()
        engine.dispose()
    assert subjects(harness.messages(account_ref)) == ["s1", "s2"]


def test_deleted_mail_leaves_its_pack_and_the_rest_is_compacted(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """Raw packs (store/raw.py): after most of a pack's messages are gone on the server,
    a pass rewrites the survivors into a new pack and a later pass sweeps the old one;
    every stored message reads back byte for byte throughout."""
    harness = sqlite_harness
    user = fresh_user(dovecot)
    with dovecot.client(user) as client:
        for n in range(12):
            client.append("INBOX", make_message(subject=f"c{n}"), msg_time=NOW - n * DAYS)
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    packs = sorted((harness.home / "raw").rglob("*.pack"))
    assert len(packs) == 1  # one batch, one pack

    def age_packs() -> None:
        old = time.time() - SWEEP_MIN_AGE - 60
        for pack in (harness.home / "raw").rglob("*.pack"):
            os.utime(pack, (old, old))

    def raw_intact() -> dict[str, bytes | None]:
        raw = harness.raw_copies()
        assert all(
            data is not None and hashlib.sha256(data).hexdigest() == d for d, data in raw.items()
        )
        return raw

    age_packs()
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search())
        client.delete_messages(uids[:8])
        client.expunge()
    harness.ok("sync", account, "--once")
    assert len(raw_intact()) == 4
    now_packs = sorted((harness.home / "raw").rglob("*.pack"))
    assert packs[0] in now_packs and len(now_packs) == 2  # rewritten; the old one still there
    age_packs()
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        client.delete_messages(uids[8:9])
        client.expunge()
    harness.ok("sync", account, "--once")
    assert len(raw_intact()) == 3
    assert packs[0] not in sorted((harness.home / "raw").rglob("*.pack"))


def test_new_mail_is_stored_before_the_changes_and_a_failed_change_scan_loses_nothing(
    harness: Harness, server: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass stores a folder's new mail first, then the flags and expunges of what it
    held: when reading the changes fails, the new mail is in already, and the next pass
    still applies the changes (HIGHESTMODSEQ moves only with them)."""
    user = fresh_user(server)
    flagged = server.append(user, "INBOX", make_message(subject="old"), internaldate=NOW - DAYS)
    gone = server.append(user, "INBOX", make_message(subject="gone"), internaldate=NOW - DAYS)
    account_ref = harness.connect(server, user)
    harness.ok("accounts", "configure", account_ref, "--past-scope", "all")
    harness.ok("sync", account_ref, "--once")
    server.set_flags(user, "INBOX", flagged, [r"\Flagged"])
    server.expunge(user, "INBOX", gone)
    server.append(user, "INBOX", make_message(subject="new"), internaldate=NOW)

    def refuse(self: ImapSession, *args: object) -> object:
        raise EmailsyncError("the change scan failed")

    settings, engine, account, session = in_process(account_ref)
    try:
        with monkeypatch.context() as patched:
            for name in ("changes_since", "all_uids", "fetch_flags"):
                patched.setattr(ImapSession, name, refuse)
            failed = sync_account(settings, engine, account, session=session)
        assert "INBOX" in failed.folder_errors
        assert subjects(harness.messages(account_ref)) == ["gone", "new", "old"]
        with reading(engine) as conn:
            account = account_store.find_account(conn, account_ref)
        sync_account(settings, engine, account, session=session)
    finally:
        session.close()
        engine.dispose()
    messages = {m["subject"]: m for m in harness.messages(account_ref)}
    assert sorted(messages) == ["new", "old"]
    assert messages["old"]["flags"] == ["\\Flagged"]
