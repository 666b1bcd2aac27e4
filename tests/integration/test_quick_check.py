"""`sync --once` with nothing changed on the server: the quick check (sync.quick_check).

It must answer exactly like a pass that found nothing (same output, same stored rows)
and step aside, so that the normal pass runs, whenever anything changed or it cannot
tell: a new message, a flag change, an expunge, a new folder, changed conditions, a
paused account, a server without CONDSTORE (RFC 7162), another database.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emailsync.sync import quick_check
from emailsync.sync.quick_check import Declined, quick_pass
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)
REPORT = "me@example.com: 0 new messages, 0 flag changes, 0 removed in 2 folders\n"


def synced_account(harness: Harness, server: DovecotServer) -> tuple[str, str, dict[str, int]]:
    """A fresh mailbox (3 in Inbox, 1 in Sent), connected and synced once: (user,
    account, UID by subject)."""
    user = server.add_user(f"u{uuid.uuid4().hex[:12]}")
    uids = {
        f"m{n}": server.append(
            user, "INBOX", make_message(subject=f"m{n}"), internaldate=NOW - DAYS
        )
        for n in range(3)
    }
    server.append(
        user, "Sent", make_message(subject="sent", sender="me@example.com"),
        internaldate=NOW - DAYS,
    )  # fmt: skip
    account = harness.connect(server, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    harness.ok("sync", account, "--once")
    return user, account, uids


def database(harness: Harness) -> Path:
    return harness.home / "emailsync.db"


def execute(harness: Harness, sql: str, *params: Any) -> None:
    with sqlite3.connect(database(harness)) as db:
        db.execute(sql, params)
    db.close()


def normal_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's quick check step aside, as it does when something changed."""

    def decline(ref: str, settings: object = None) -> None:
        raise Declined("this test wants the normal pass")

    monkeypatch.setattr(quick_check, "quick_pass", decline)


def subjects(harness: Harness, account: str) -> list[str]:
    return sorted(m["subject"] for m in harness.messages(account))


# -- nothing changed ------------------------------------------------------------------


def test_a_no_change_sync_is_answered_by_the_quick_check_with_the_passs_report(
    sqlite_harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, account, _ = synced_account(sqlite_harness, dovecot)
    answered: list[object] = []

    def spy(ref: str, settings: object = None) -> object:
        answered.append(quick_pass(ref))
        return answered[-1]

    monkeypatch.setattr(quick_check, "quick_pass", spy)
    quick = sqlite_harness.ok("sync", account, "--once")
    assert len(answered) == 1
    normal_path_only(monkeypatch)
    normal = sqlite_harness.ok("sync", account, "--once")
    assert (quick.code, quick.out, quick.err) == (normal.code, normal.out, normal.err)
    assert quick.err == REPORT
    # the account may be named by its address too
    monkeypatch.setattr(quick_check, "quick_pass", spy)
    assert sqlite_harness.ok("sync", "Me@Example.com", "--once").err == REPORT
    assert len(answered) == 2


def test_the_quick_path_imports_neither_sqlalchemy_nor_imapclient(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """What makes it quick: a whole `sync --once` process that never imports the heavy
    part of the package. (The fixtures put the environment in os.environ.)"""
    _, account, _ = synced_account(sqlite_harness, dovecot)
    wrapper = (
        "import json, sys\n"
        "from emailsync.cli import main\n"
        f"main(['sync', {account!r}, '--once'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'imapclient', 'alembic', 'rich'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == REPORT
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
def test_every_security_mode_takes_the_quick_path(
    sqlite_harness: Harness, dovecot: DovecotServer, security: str
) -> None:
    """Plain (loopback only), STARTTLS and implicit TLS, verified against the CA file."""
    user = dovecot.add_user(f"u{uuid.uuid4().hex[:12]}")
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    sqlite_harness.ok("users", "add", "seller@crm.example")
    sqlite_harness.ok(
        "accounts", "add", "--user", "seller@crm.example", "--email", "me@example.com",
        "--imap", f"{dovecot.host}:{port}", "--imap-security", security,
        "--username", user, "--password-stdin", stdin="secret\n",
    )  # fmt: skip
    sqlite_harness.ok("sync", "me@example.com", "--once")
    assert quick_pass("me@example.com").folders.keys() == {"INBOX", "Sent"}


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, but the last sync times (a pass sets them)."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            columns = [d[0] for d in cursor.description]
            out[table] = [
                tuple(v for c, v in zip(columns, row, strict=True) if c != "last_sync_at")
                if table == "accounts"
                else tuple(  # folders: when differs, that it was set does not
                    v is not None if c == "last_sync_at" else v
                    for c, v in zip(columns, row, strict=True)
                )
                for row in cursor
            ]
    db.close()
    return out


def last_sync(path: Path) -> str:
    with sqlite3.connect(path) as db:
        value = db.execute("SELECT last_sync_at FROM accounts").fetchone()[0]
    db.close()
    return value


def test_the_quick_pass_stores_exactly_what_a_no_change_pass_stores(
    sqlite_harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same data directory twice: one copy gets the quick pass, the other the normal
    pass; afterwards every row is the same, but the time of the last sync. The account
    starts in the error state, which both passes clear."""
    _, account, _ = synced_account(sqlite_harness, dovecot)
    execute(sqlite_harness, "UPDATE accounts SET state = 'error', last_error = 'dropped'")
    home, twin = sqlite_harness.home, sqlite_harness.home.parent / "twin"
    shutil.copytree(home, twin, ignore=shutil.ignore_patterns("emailsync.db*"))
    with (
        sqlite3.connect(home / "emailsync.db") as source,
        sqlite3.connect(twin / "emailsync.db") as copy,
    ):
        source.backup(copy)  # reads through the WAL, unlike a file copy
    source.close()
    copy.close()
    before = last_sync(home / "emailsync.db")

    quick_pass(account)
    monkeypatch.setenv("EMAILSYNC_HOME", str(twin))
    normal_path_only(monkeypatch)
    sqlite_harness.ok("sync", account, "--once")

    quick_rows, normal_rows = dump(home / "emailsync.db"), dump(twin / "emailsync.db")
    assert quick_rows == normal_rows
    with sqlite3.connect(home / "emailsync.db") as db:
        state, error = db.execute("SELECT state, last_error FROM accounts").fetchone()
    db.close()
    assert (state, error) == ("active", None)
    assert last_sync(home / "emailsync.db") > before
    assert last_sync(twin / "emailsync.db") > before
    assert len(last_sync(home / "emailsync.db")) == len(last_sync(twin / "emailsync.db"))


# -- something changed: the check steps aside, the normal pass syncs it ----------------


def new_message(server: DovecotServer, user: str, uids: dict[str, int]) -> Callable[..., Any]:
    server.append(user, "INBOX", make_message(subject="new"), internaldate=NOW)
    return lambda messages: "new" in {m["subject"] for m in messages}


def flag_change(server: DovecotServer, user: str, uids: dict[str, int]) -> Callable[..., Any]:
    server.set_flags(user, "INBOX", uids["m0"], [r"\Seen", r"\Flagged"])
    return lambda messages: (
        next(m for m in messages if m["subject"] == "m0")["flags"]
        == [
            "\\Flagged",
            "\\Seen",
        ]
    )


def expunge(server: DovecotServer, user: str, uids: dict[str, int]) -> Callable[..., Any]:
    server.expunge(user, "INBOX", uids["m1"])
    return lambda messages: "m1" not in {m["subject"] for m in messages}


@pytest.mark.parametrize(
    ("change", "reason"),
    [(new_message, "UIDNEXT"), (flag_change, "HIGHESTMODSEQ"), (expunge, "'INBOX'")],
    ids=["append", "flags", "expunge"],
)
def test_a_change_in_a_folder_is_left_to_the_normal_pass(
    sqlite_harness: Harness,
    dovecot: DovecotServer,
    change: Callable[..., Callable[..., Any]],
    reason: str,
) -> None:
    user, account, uids = synced_account(sqlite_harness, dovecot)
    synced = change(dovecot, user, uids)
    with pytest.raises(Declined, match=reason):
        quick_pass(account)
    assert not synced(sqlite_harness.messages(account)), "the quick check must not write"
    result = sqlite_harness.ok("sync", account, "--once")
    assert result.err != REPORT
    assert synced(sqlite_harness.messages(account))
    assert quick_pass(account).email == "me@example.com"  # in step again


def test_a_new_folder_on_the_server_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """A pass records every folder the server lists (record_server_folders), synced or not."""
    user, account, _ = synced_account(sqlite_harness, dovecot)
    with dovecot.client(user) as client:
        client.create_folder("Projects")
    with pytest.raises(Declined, match="'Projects' is new on the server"):
        quick_pass(account)
    sqlite_harness.ok("sync", account, "--once")
    folders = sqlite_harness.ok("accounts", "folders", account, "--json").json()
    assert "Projects" in {f["name"] for f in folders}
    quick_pass(account)


def test_a_folder_added_to_the_conditions_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    user, account, _ = synced_account(sqlite_harness, dovecot)
    dovecot.append(user, "Archive", make_message(subject="archived"), internaldate=NOW - DAYS)
    sqlite_harness.ok("accounts", "configure", account, "--folders", "INBOX,Sent,Archive")
    with pytest.raises(Declined, match="'Archive' was never synced"):
        quick_pass(account)
    result = sqlite_harness.ok("sync", account, "--once")
    assert "1 new messages" in result.err
    assert "archived" in subjects(sqlite_harness, account)
    assert quick_pass(account).folders.keys() == {"INBOX", "Sent", "Archive"}


def test_a_folder_dropped_from_the_conditions_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """The pass forgets the folders it no longer syncs (forget_folders)."""
    _, account, _ = synced_account(sqlite_harness, dovecot)
    sqlite_harness.ok("accounts", "configure", account, "--folders", "INBOX")
    with pytest.raises(Declined, match="'Sent' is no longer synced"):
        quick_pass(account)
    sqlite_harness.ok("sync", account, "--once")
    # Sent's mail is still in the mailbox: it stays in the CRM (issue 13, item 6)
    assert subjects(sqlite_harness, account) == ["m0", "m1", "m2", "sent"]
    assert list(quick_pass(account).folders) == ["INBOX"]


def test_a_paused_account_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """A pass keeps a pause the user made (store.accounts.USER_STATES)."""
    user, account, _ = synced_account(sqlite_harness, dovecot)
    execute(sqlite_harness, "UPDATE accounts SET state = 'paused'")
    dovecot.append(user, "INBOX", make_message(subject="while paused"), internaldate=NOW)
    with pytest.raises(Declined, match="account state 'paused'"):
        quick_pass(account)
    sqlite_harness.ok("sync", account, "--once")
    assert "while paused" in subjects(sqlite_harness, account)
    status = sqlite_harness.ok("accounts", "status", account, "--json").json()
    assert status["state"] == "paused"


def test_a_server_without_condstore_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot_basic: DovecotServer
) -> None:
    """Without CONDSTORE (RFC 7162) a flag change leaves no trace in STATUS."""
    user, account, uids = synced_account(sqlite_harness, dovecot_basic)
    with pytest.raises(Declined, match="CONDSTORE"):
        quick_pass(account)
    dovecot_basic.set_flags(user, "INBOX", uids["m2"], [r"\Flagged"])
    sqlite_harness.ok("sync", account, "--once")
    flags = {m["subject"]: m["flags"] for m in sqlite_harness.messages(account)}
    assert flags["m2"] == ["\\Flagged"]


def test_a_folder_name_with_quotes_ampersand_and_accents_is_checked_too(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    """Modified UTF-7 and quoted strings (RFC 3501 §5.1.3, §4.3) in LIST and STATUS."""
    user, account, _ = synced_account(sqlite_harness, dovecot)
    name = 'Clients "VIP" & Été'
    dovecot.append(user, name, make_message(subject="vip"), internaldate=NOW - DAYS)
    sqlite_harness.ok("accounts", "configure", account, "--folders", f"INBOX,Sent,{name}")
    sqlite_harness.ok("sync", account, "--once")
    assert "vip" in subjects(sqlite_harness, account)
    assert name in quick_pass(account).folders
    dovecot.append(user, name, make_message(subject="vip 2"), internaldate=NOW)
    with pytest.raises(Declined, match="UIDNEXT"):
        quick_pass(account)


# -- outside the default SQLite store ----------------------------------------------------


def test_another_database_is_left_to_the_normal_pass(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMAILSYNC_DATABASE_URL", "postgresql+psycopg://crm@127.0.0.1:1/crm")
    with pytest.raises(Declined, match="not a plain SQLite file URL: postgresql"):
        quick_pass("1")


def test_a_schema_behind_the_newest_migration_is_left_to_the_normal_pass(
    sqlite_harness: Harness, dovecot: DovecotServer
) -> None:
    _, account, _ = synced_account(sqlite_harness, dovecot)
    execute(sqlite_harness, "UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(Declined, match="schema"):
        quick_pass(account)


# -- what the check shares with the store, from one SQLAlchemy-free home -------------------


def test_it_reads_the_newest_migration_and_password_context_as_the_store() -> None:
    from emailsync.domain.conditions import SyncConditions
    from emailsync.store import accounts, db

    assert quick_check.head_revision() == db.head_revision()
    account = accounts.Account(
        id=7, user_id=1, user_email="", email="", imap=accounts.Endpoint("h", 1, "ssl"),
        smtp=None, username="", password_secret="", aliases=(),
        conditions=SyncConditions(), state="active", sync_started_at=None,
        last_sync_at=None, last_error=None,
    )  # fmt: skip
    assert quick_check.password_context(7) == account.password_context()


LIST_LINES = [
    rb'(\HasNoChildren) "/" INBOX',
    rb'(\HasNoChildren \Sent) "/" Sent',
    rb'(\HasChildren \Noselect) "/" "Shared"',
    rb'(\HasNoChildren) "." "INBOX.Sent Items"',
    rb"(\HasNoChildren \Archive) NIL Archive",
    rb'(\HasNoChildren) "/" "Clients \"VIP\" &- &AMk-t&AOk-"',
    rb'(\HasNoChildren) "\\" "back\\slash"',
    rb'(\HasNoChildren) "/" "&ZeVnLIqe-"',
    rb'(\HasNoChildren) "/" "[Gmail]/Sent Mail"',
    rb'(\HasNoChildren) "/" 2024',
    rb'(\HasNoChildren \Junk) "/" "Spam"',
    rb'() "/" Gesendet',
]


def test_list_answers_read_as_imapclient_and_the_session_read_them() -> None:
    """imapclient's parser is the reference (as for the FETCH parser)."""
    from imapclient.imapclient import IMAPClient

    from emailsync.domain.model import ServerFolder
    from emailsync.imap.session import ImapSession

    client = IMAPClient.__new__(IMAPClient)
    client.folder_encode = True
    session = ImapSession.__new__(ImapSession)

    class Listing:
        def list_folders(self) -> list[Any]:
            return client._proc_folder_list(list(LIST_LINES))

    session._client = Listing()
    session._broken = False
    session._ahead = None
    expected: list[ServerFolder] = session.list_folders()
    server = quick_check.parse_list(list(LIST_LINES))
    assert server == expected
    assert {f.name for f in server} >= {'Clients "VIP" & Été', "日本語", "2024", "back\\slash"}


@pytest.mark.parametrize(
    "line",
    [rb'(\HasNoChildren) "/" {5}', rb'(\HasNoChildren) "/" bad"name', rb'"/" INBOX'],
)
def test_list_answers_it_cannot_read_decline(line: bytes) -> None:
    with pytest.raises(Declined):
        quick_check.parse_list([line])
