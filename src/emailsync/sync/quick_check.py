"""The quick no-change check that `emailsync sync ACCOUNT --once` runs first.

A `sync --once` process pays for the interpreter and for importing the package
(SQLAlchemy alone is most of it; figures in bench/README.md) before it says a word to
the server. When nothing changed on the server, the pass only records that it ran. This
module finds that out with the standard library (sqlite3, imaplib), the Fernet secret
box and a few pure modules, and records the pass as `sync.account_sync._pass` would, so
the command is done before the rest of the package is imported.

    settings ──► the default SQLite file, schema at the newest migration
             ──► account + folders (one read transaction)
             ──► state active or error, nothing remapping, sync started,
                 every folder to sync synced before and without an error
             ──► connect and LOGIN (the transport rules and the TLS context of
                 imap.connection)
             ──► CAPABILITY (unless LOGIN's answer carried them), ID, LIST, and STATUS
                 of every folder synced before (UIDVALIDITY UIDNEXT HIGHESTMODSEQ
                 MESSAGES), through imaplib's public commands
             ──► CONDSTORE offered; LIST: the same folders with the same roles as
                 stored, and the folders to sync are those synced before;
                 STATUS: all four as stored
             ──► record the pass (one short write transaction) ──► QuickPass

Any other answer at any step raises `Declined` and the normal pass runs; it also
reports every error the user must act on (a wrong password, an untrusted
certificate) in its usual words. Nothing is written before the last step, which
re-reads the rows it compared under the write lock.

Why that is enough (sync.folder_sync): a folder whose UIDVALIDITY and UIDNEXT did not
move has no new message; with MESSAGES unchanged too, nothing was expunged; with
CONDSTORE, every flag change raises HIGHESTMODSEQ (RFC 7162 §3.1). A pass over such a
folder writes nothing. What a pass writes elsewhere (new folders and roles in
record_server_folders, folders no longer synced in forget_folders, the clean-up after
a UIDVALIDITY change in _finish_pass) is ruled out by the checks before. What is left
is the account row: state active, no error, last sync now.

Latency: once the TCP connection is open the server starts a login process and greets
while this process imports Fernet and decrypts the password. The commands go one after
the other through imaplib's public API (no private imaplib calls): on loopback the
server's part is a few milliseconds; far away, every command is a round trip.

What it shares with the full client, it imports from one home: the wire constants and
the LIST/STATUS/modified UTF-7 parsers from imap/wire.py (standard library only: the
full client's imapclient costs more to import than this whole check), account states
from domain/states.py, the schema revision from store/revision.py and the password's
binding from store/secret_binding.py (neither imports SQLAlchemy).

Only the embedded SQLite store: on PostgreSQL the driver and a connection cost more
than the check could save.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from emailsync.config import Settings
from emailsync.domain.states import USER_HELD_STATES, AccountState
from emailsync.imap import wire
from emailsync.imap.wire import TIMEOUT, encode_modified_utf7, parse_capabilities, quote
from emailsync.store.revision import head_revision
from emailsync.store.secret_binding import password_context

if TYPE_CHECKING:  # imported where used, while the server works (see above)
    from emailsync.domain.conditions import SyncConditions
    from emailsync.domain.model import ServerFolder

# The states answered here: those the worker runs passes in (not those waiting for the
# user: setup, paused, removed, needs_reconnect) that a pass ends as plain `active`.
# A new account and a pass running or killed (`syncing`) are left to the normal pass.
QUICK_STATES = frozenset({AccountState.ACTIVE, AccountState.ERROR})
STATUS_ITEMS = ("UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ", "MESSAGES")


_Imap = TypeVar("_Imap", bound=imaplib.IMAP4)


class Declined(Exception):
    """The quick check cannot tell that nothing changed: run the normal pass.
    str(e) says why (for tests and debugging; never shown to the user)."""


# Named tuples, not frozen dataclasses: making a dataclass costs more at import time.


class UnchangedFolder(NamedTuple):
    """A folder's part of a pass that found nothing (the fields the CLI reports)."""

    new_messages: int = 0
    flag_updates: int = 0
    removed: int = 0


class QuickPass(NamedTuple):
    """A no-change pass, shaped like sync.account_sync.PassResult for the CLI's report."""

    email: str
    folders: dict[str, UnchangedFolder]

    @property
    def new_messages(self) -> int:
        return 0

    @property
    def folder_errors(self) -> dict[str, str]:
        return {}


def quick_pass(ref: str, settings: Settings | None = None) -> QuickPass:
    """Prove that a pass over account `ref` (id or address, as the CLI takes it) would
    find nothing, record it as that pass would, and say what to report.

    Raises Declined whenever that cannot be proven cheaply; never anything else."""
    try:
        return _quick_pass(ref, settings or Settings.from_environment())
    except Declined:
        raise
    except Exception as e:  # a refused login, a dropped socket: the normal pass meets them
        raise Declined(f"{type(e).__name__}: {e}") from e


# -- the steps --------------------------------------------------------------------------


class _Stored(NamedTuple):
    account: dict[str, Any]
    folders: dict[str, dict[str, Any]]  # by name


def _quick_pass(ref: str, settings: Settings) -> QuickPass:
    db = sqlite3.connect(_sqlite_file(settings), timeout=30, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in ("busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")  # those store.db sets on every connection
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            raise Declined("the database is not in WAL mode yet")
        db.execute("BEGIN")
        try:
            stored = _read(db, ref)
        finally:
            db.execute("COMMIT")
        _check_stored(stored)
        names = _ask_server(settings, stored)
        _record(db, stored)
        return QuickPass(stored.account["email"], {name: UnchangedFolder() for name in names})
    finally:
        db.close()


def _sqlite_file(settings: Settings) -> str:
    """The file of the default store; anything unusual is left to SQLAlchemy."""
    url = settings.database_url
    prefix = "sqlite:///"
    if not url.startswith(prefix) or any(c in url for c in "?%#"):
        raise Declined(f"not a plain SQLite file URL: {url.split(':', 1)[0]}")
    path = url[len(prefix) :]
    if not path or path == ":memory:" or not Path(path).is_file():
        raise Declined("no SQLite file yet")
    return path


def _read(db: sqlite3.Connection, ref: str) -> _Stored:
    version = db.execute("SELECT version_num FROM alembic_version").fetchall()
    if [r[0] for r in version] != [head_revision()]:
        raise Declined("the schema is not at the newest migration")
    query = "SELECT accounts.* FROM accounts JOIN users ON users.id = accounts.user_id WHERE "
    if ref.isdigit():
        rows = db.execute(query + "accounts.id = ?", (int(ref),)).fetchall()
    else:
        from emailsync.domain.addresses import normalize_email

        rows = db.execute(query + "accounts.email = ?", (normalize_email(ref),)).fetchall()
    if len(rows) != 1:
        raise Declined(f"{len(rows)} accounts match {ref!r}")
    account = dict(rows[0])
    folders = db.execute("SELECT * FROM folders WHERE account_id = ?", (account["id"],))
    by_name = {f["name"]: dict(f) for f in folders}
    covered = {
        r["folder_id"]: (r["covered_from"], r["past_scope"])
        for r in db.execute(
            "SELECT c.* FROM folder_coverage c JOIN folders f ON f.id = c.folder_id"
            " WHERE f.account_id = ?",
            (account["id"],),
        )
    }
    for f in by_name.values():
        f["coverage"] = covered.get(f["id"])
    return _Stored(account, by_name)


def _conditions(account: dict[str, Any]) -> SyncConditions:
    """SyncConditions from the row, as store.accounts reads them (JSON as text)."""
    import json

    from emailsync.domain.conditions import FutureMode, PastScope, SyncConditions
    from emailsync.domain.window import SyncFrom

    folders = json.loads(account["folders"])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise Declined("unreadable folder selection")
    return SyncConditions(
        sync_from=SyncFrom(account["sync_from"]),
        past_scope=PastScope(account["past_scope"]),
        folders=tuple(folders),
        future=FutureMode(account["future_mode"]),
        track_opens=bool(account["track_opens"]),
        track_links=bool(account["track_links"]),
    )


def _check_stored(stored: _Stored) -> None:
    account = stored.account
    if account["state"] not in QUICK_STATES:
        raise Declined(f"account state {account['state']!r}")
    if account["sync_started_at"] is None or not account["password_secret"]:
        raise Declined("the account was never synced")
    remapping = [name for name, f in stored.folders.items() if f["remapping"]]
    if remapping:
        raise Declined(f"{remapping[0]!r} is being re-mapped after a UIDVALIDITY change")
    if not any(f["uidvalidity"] is not None for f in stored.folders.values()):
        raise Declined("no folder was synced yet")


def _ask_server(settings: Settings, stored: _Stored) -> list[str]:
    """Connect, log in, send the flight, read it back and compare. Returns the folders
    the pass would sync, each found unchanged."""
    account = stored.account
    synced = [name for name, f in stored.folders.items() if f["uidvalidity"] is not None]
    connection = _imap_module("connection")
    host, port, security = account["imap_host"], account["imap_port"], account["imap_security"]
    connection.check_transport(host, security, account["email"], protocol="IMAP")
    sock = socket.create_connection((host, port), TIMEOUT)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a flight, not a stall
        from emailsync.store.crypto import SecretBox  # while the server greets

        password = SecretBox.from_settings(settings).decrypt(
            account["password_secret"], context=password_context(account["id"])
        )
        imap = _client(sock, host, port, security, connection.tls_context, settings.ca_file)
    except BaseException:
        sock.close()
        raise
    try:
        if "LOGINDISABLED" in imap.capabilities:
            raise Declined("the server refuses LOGIN here")
        from emailsync.domain.conditions import folders_to_sync

        conditions = _conditions(account)
        # a refusal raises imaplib's error: Declined, and the normal pass says it properly
        typ, reply = imap.login(account["username"], password)
        if typ != "OK":
            raise Declined(f"LOGIN refused: {reply}")
        server, statuses = _ask(imap, reply, synced)
        names = folders_to_sync(conditions, server)
        _compare_folders(stored, server, names)
        _check_coverage(stored, conditions, server, names)
        _compare_status(stored, names, statuses)
        return names
    finally:
        try:
            imap.logout()
        except Exception:
            imap.shutdown()


def _client(
    sock: socket.socket,
    host: str,
    port: int,
    security: str,
    tls_context: Any,
    cafile: str | None,
) -> imaplib.IMAP4:
    """imaplib on the connected socket: greeting and CAPABILITY read, TLS (implicit or
    after STARTTLS) verified with imap.connection's context, as connect does."""
    if security == "plain":  # loopback only (check_transport): no context to build
        return _on_socket(imaplib.IMAP4, sock)(host, port, timeout=TIMEOUT)
    context = tls_context(cafile)
    if security == "ssl":
        wrapped = context.wrap_socket(sock, server_hostname=host)
        return _on_socket(imaplib.IMAP4_SSL, wrapped)(
            host, port, ssl_context=context, timeout=TIMEOUT
        )
    imap = _on_socket(imaplib.IMAP4, sock)(host, port, timeout=TIMEOUT)
    try:
        if "STARTTLS" not in imap.capabilities:
            raise Declined("STARTTLS is not offered")
        imap.starttls(context)
    except BaseException:
        imap.shutdown()
        raise
    return imap


def _on_socket(base: type[_Imap], sock: socket.socket) -> type[_Imap]:
    """`base` on a socket connected already (so the server greets while the password is
    decrypted), through `open`, the hook imaplib's documentation offers for this."""

    class Connected(base):  # type: ignore[misc,valid-type]
        def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
            self.host, self.port = host, port
            self.sock = sock
            self.file = sock.makefile("rb")

    return Connected


def _ask(
    imap: imaplib.IMAP4, login_reply: list[Any], synced: list[str]
) -> tuple[list[ServerFolder], dict[str, dict[str, int]]]:
    """CAPABILITY (unless LOGIN's answer carried them), ID (RFC 2971, when offered, as
    imap.connection sends it), LIST and STATUS of every folder synced before, one after
    the other through imaplib's public commands."""
    from emailsync import __version__

    reply = b" ".join(d for d in login_reply if isinstance(d, bytes))
    known = re.match(rb"\[CAPABILITY ([^\]]*)\]", reply, flags=re.IGNORECASE)
    if known:
        capabilities = parse_capabilities(known.group(1))
    else:
        typ, data = imap.capability()
        if typ != "OK":
            raise Declined(f"CAPABILITY failed: {data}")
        capabilities = parse_capabilities(data[-1] if data and data[-1] else b"")
    if "CONDSTORE" not in capabilities:
        raise Declined("the server does not offer CONDSTORE (RFC 7162)")
    if "ID" in capabilities:
        imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
        identity = f'("name" "emailsync" "version" "{__version__}")'
        with contextlib.suppress(imaplib.IMAP4.error):  # refused: no matter, as in connect
            imap.xatom("ID", identity)
    typ, listing = imap.list('""', '"*"')
    if typ != "OK":
        raise Declined(f"LIST failed: {listing}")
    items = "(" + " ".join(STATUS_ITEMS) + ")"
    answers: list[Any] = []
    for name in synced:
        typ, data = imap.status(quote(encode_modified_utf7(name)).decode("ascii"), items)
        if typ != "OK":
            raise Declined(f"STATUS failed: {data}")  # a folder deleted meanwhile, ...
        answers.extend(data)
    return parse_list(listing), parse_status(answers)


def _compare_folders(stored: _Stored, server: list[ServerFolder], names: list[str]) -> None:
    """What record_server_folders and forget_folders would change, and folders the pass
    would sync for the first time: any of it declines."""
    for f in server:
        row = stored.folders.get(f.name)
        if row is None:
            raise Declined(f"{f.name!r} is new on the server")
        if row["role"] != f.role.value:
            raise Declined(f"{f.name!r} is now {f.role.value!r}, was {row['role']!r}")
    chosen = set(names)
    for name, row in stored.folders.items():
        if row["uidvalidity"] is not None and name not in chosen:
            raise Declined(f"{name!r} is no longer synced")
    for name in names:
        row = stored.folders[name]
        if row["uidvalidity"] is None or row["window_start"] is None:
            raise Declined(f"{name!r} was never synced")
        if row["last_error"] is not None:
            raise Declined(f"{name!r} failed last time")


def _check_coverage(
    stored: _Stored, conditions: SyncConditions, server: list[ServerFolder], names: list[str]
) -> None:
    """A folder whose past the conditions now ask more of than it covers (a wider window,
    newly selected, all people after contacts): the normal pass widens it
    (store/coverage.py, sync/folder_sync.py)."""
    from emailsync.domain.conditions import (
        PastScope,
        folder_window_start,
        selected_folders,
        widening,
    )

    def utc(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    started = utc(stored.account["sync_started_at"])
    chosen = set(selected_folders(conditions, server))
    for name in names:
        row = stored.folders[name]
        covered_from, scope = row["coverage"] or (row["window_start"], conditions.past_scope)
        want = folder_window_start(conditions, started, selected=name in chosen)
        if widening(utc(covered_from), PastScope(scope), want, conditions.past_scope, started):
            raise Declined(f"{name!r} has past mail to bring in")


def _compare_status(stored: _Stored, names: list[str], statuses: dict[str, dict[str, int]]) -> None:
    """sync_folder writes nothing when these four are as stored."""
    for name in names:
        row, status = stored.folders[name], statuses[name]
        for item, column in (
            ("UIDVALIDITY", "uidvalidity"),
            ("UIDNEXT", "uidnext"),
            ("HIGHESTMODSEQ", "highestmodseq"),
            ("MESSAGES", "server_messages"),
        ):
            if row[column] is None or status.get(item) != row[column]:
                raise Declined(f"{name!r}: {item} {row[column]} -> {status.get(item)}")


def _record(db: sqlite3.Connection, stored: _Stored) -> None:
    """What a pass that found nothing writes (account_sync._pass, store.accounts.set_state
    with keep_user_state), after checking under the write lock that no pass ran since
    the rows were read."""
    account_id = stored.account["id"]
    # UtcDateTime on SQLite: naive UTC text, as SQLAlchemy's DATETIME stores it
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    db.execute("BEGIN IMMEDIATE")
    try:
        again = _read(db, str(account_id))
        if again.folders != stored.folders or _without_sync_time(
            again.account
        ) != _without_sync_time(stored.account):
            raise Declined("the account changed while it was checked")
        db.execute(
            "UPDATE accounts SET state = ?, last_error = NULL, last_sync_at = ? "
            f"WHERE id = ? AND state NOT IN ({', '.join('?' * len(USER_HELD_STATES))})",
            (AccountState.ACTIVE.value, now, account_id, *sorted(USER_HELD_STATES)),
        )
        db.execute("UPDATE accounts SET last_sync_at = ? WHERE id = ?", (now, account_id))
        db.execute(  # each folder the pass looked at, as account_sync._pass writes it
            "UPDATE folders SET last_sync_at = ?, last_error = NULL "
            "WHERE account_id = ? AND uidvalidity IS NOT NULL",
            (now, account_id),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _without_sync_time(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k != "last_sync_at"}


# -- LIST and STATUS answers -------------------------------------------------------------


def parse_list(listing: list[Any]) -> list[ServerFolder]:
    """LIST answers (as imaplib leaves them) as imap.session.list_folders reads them
    through imapclient: the selectable folders with their roles.

    imapclient's parser is the reference (tests compare the two); what imap.wire does
    not read (a name sent as a literal, an unusual quoting) declines."""
    from emailsync.domain.model import ServerFolder

    role_for = _imap_module("folders").role_for
    try:
        entries = wire.parse_list(listing)
    except wire.WireError as e:
        raise Declined(str(e)) from None
    server: dict[str, ServerFolder] = {}
    for flags, delimiter, name in entries:
        if any(f.casefold() in wire.SKIP_ATTRIBUTES for f in flags):
            continue
        if name in server:
            raise Declined(f"{name!r} listed twice")
        server[name] = ServerFolder(name, role_for(name, flags, delimiter), flags)
    return list(server.values())


def parse_status(lines: list[Any]) -> dict[str, dict[str, int]]:
    """STATUS answers by mailbox name (imap.wire.parse_status); unreadable declines."""
    try:
        return wire.parse_status(lines)
    except wire.WireError as e:
        raise Declined(str(e)) from None


def _imap_module(name: str) -> ModuleType:
    """emailsync.imap.<name>; the package loads its parts lazily, so this costs only
    that module."""
    import importlib

    return importlib.import_module(f"emailsync.imap.{name}")
