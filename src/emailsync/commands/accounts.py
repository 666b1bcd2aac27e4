"""`emailsync accounts`: connected mailboxes, their sync conditions and their state."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from emailsync.commands.common import context, print_json, reading, table
from emailsync.domain.addresses import normalize_email
from emailsync.domain.conditions import (
    FutureMode,
    PastScope,
    SyncConditions,
    folders_to_sync,
    in_display_order,
)
from emailsync.domain.states import AccountState
from emailsync.domain.window import SyncFrom
from emailsync.errors import UsageError
from emailsync.services.accounts import retry_words
from emailsync.services.users import find_user
from emailsync.store import accounts as account_store
from emailsync.store import messages as message_store
from emailsync.store.accounts import Endpoint
from emailsync.sync.account_sync import open_session
from emailsync.sync.setup import ConnectRequest, add_account, save_conditions


def register(sub: Any) -> None:
    accounts = sub.add_parser("accounts", help="connected mailboxes").add_subparsers(
        metavar="ACTION"
    )
    a = accounts.add_parser("add", help="connect a mailbox (logs in before saving)")
    a.add_argument("--user", required=True, help="the CRM user who owns the mailbox")
    a.add_argument("--email", required=True, help="the mailbox address")
    a.add_argument("--imap", required=True, metavar="HOST:PORT")
    a.add_argument("--imap-security", required=True, choices=["ssl", "starttls", "plain"])
    a.add_argument("--smtp", metavar="HOST:PORT")
    a.add_argument("--smtp-security", choices=["ssl", "starttls", "plain"], default="starttls")
    a.add_argument("--username", help="login name, when it is not the address")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _condition_arguments(a)
    a.set_defaults(handler=_add)
    a = accounts.add_parser("list", help="list connected mailboxes")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_list)
    a = accounts.add_parser("folders", help="the server's folders, their roles and sizes")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_folders)
    a = accounts.add_parser("configure", help="set the sync conditions (and start syncing)")
    a.add_argument("account", metavar="ACCOUNT")
    _condition_arguments(a)
    a.set_defaults(handler=_configure)
    a = accounts.add_parser("move", help="give a mailbox, with its synced mail, to another user")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--user", required=True, help="the CRM user who takes it over")
    a.set_defaults(handler=_move)
    a = accounts.add_parser("aliases", help="addresses that count as the account's owner")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--add", action="append", default=[], metavar="EMAIL")
    a.add_argument("--remove", action="append", default=[], metavar="EMAIL")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_aliases)
    a = accounts.add_parser("sharing", help="default sharing of the account's future mail")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("sharing", choices=["private", "shared"])
    a.set_defaults(handler=_sharing)
    a = accounts.add_parser("status", help="sync state, per folder")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_status)


def _condition_arguments(parser: argparse.ArgumentParser) -> None:
    """The sync conditions, as `accounts add` and `accounts configure` both take them."""
    parser.add_argument("--sync-from", choices=["now", "1m", "3m", "6m", "1y"])
    parser.add_argument("--past-scope", choices=["all", "contacts"])
    parser.add_argument("--folders", metavar="NAME,NAME", help="folders (labels) to sync")
    parser.add_argument(
        "--future",
        choices=["all", "selected"],
        help="future mail and re-syncs: all folders or the selected ones",
    )
    parser.add_argument("--track-opens", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--track-links", action=argparse.BooleanOptionalAction, default=None)


_CONDITION_FLAGS = ("sync_from", "past_scope", "folders", "future", "track_opens", "track_links")


def _conditions_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag) is not None for flag in _CONDITION_FLAGS)


def _conditions(current: SyncConditions, args: argparse.Namespace) -> SyncConditions:
    """`current` with what the command line changes."""
    c = current
    if args.sync_from:
        c = replace(c, sync_from=SyncFrom(args.sync_from))
    if args.past_scope:
        c = replace(c, past_scope=PastScope(args.past_scope))
    if args.folders is not None:
        names = tuple(n.strip() for n in args.folders.split(",") if n.strip())
        c = replace(c, folders=names)
    if args.future:
        c = replace(c, future=FutureMode(args.future))
    if args.track_opens is not None:
        c = replace(c, track_opens=args.track_opens)
    if args.track_links is not None:
        c = replace(c, track_links=args.track_links)
    return c


def _describe(email: str, c: SyncConditions) -> str:
    scope = (
        {"all": ", all people", "contacts": ", only CRM contacts"}[c.past_scope.value]
        if c.sync_from.has_past_sync
        else ""
    )
    folders = ", ".join(c.folders) if c.folders else "Inbox and Sent"
    return (
        f"{email}: sync from {c.sync_from.value}{scope}; folders: {folders}; "
        f"future mail: {c.future.value} folders; tracking opens "
        f"{'on' if c.track_opens else 'off'}, links {'on' if c.track_links else 'off'}"
    )


def _endpoint(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} takes HOST:PORT, e.g. imap.example.com:993 (got {value!r})")
    return host, int(port)


def _add(args: argparse.Namespace) -> None:
    settings, engine = context()
    if not args.password_stdin:
        raise UsageError("Give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    user = find_user(engine, args.user)
    imap = Endpoint(*_endpoint(args.imap, "--imap"), args.imap_security)
    smtp = Endpoint(*_endpoint(args.smtp, "--smtp"), args.smtp_security) if args.smtp else None
    request = ConnectRequest(user.id, args.email, imap, smtp, args.username or "", password)
    chosen = _conditions(SyncConditions(), args) if _conditions_given(args) else None
    account, folders = add_account(settings, engine, request, chosen)
    connected = (
        f"Connected {account.email} (account {account.id}): login OK, {len(folders)} folders."
    )
    if chosen is not None:
        print(f"{connected} {_describe(account.email, chosen)}; syncing starts now.")
        return
    print(
        f"{connected} It waits until you choose its sync conditions (3 months back, only CRM "
        f"contacts, Inbox and Sent unless you change them): "
        f"`emailsync accounts configure {account.id} [--sync-from ...]`, or run "
        f"`emailsync sync {account.id}` to sync with those."
    )


def _account_json(account: account_store.Account) -> dict[str, Any]:
    c = account.conditions
    return {
        "id": account.id,
        "user": account.user_email,
        "email": account.email,
        "imap": f"{account.imap.host}:{account.imap.port}",
        "imap_security": account.imap.security,
        "smtp": f"{account.smtp.host}:{account.smtp.port}" if account.smtp else None,
        "smtp_security": account.smtp.security if account.smtp else None,
        "username": account.username,
        "state": account.state,
        "last_sync_at": account.last_sync_at.isoformat() if account.last_sync_at else None,
        "last_error": account.last_error,
        # state "retrying" (or "error"): since when passes fail, when the next one starts
        "failing_since": account.failing_since.isoformat() if account.failing_since else None,
        "retry_at": account.retry_at.isoformat() if account.retry_at else None,
        "conditions": {
            "sync_from": c.sync_from.value,
            "past_scope": c.past_scope.value if c.sync_from.has_past_sync else None,
            "folders": list(c.folders),
            "future": c.future.value,
            "track_opens": c.track_opens,
            "track_links": c.track_links,
        },
    }


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    with reading(engine) as conn:
        accounts = account_store.list_accounts(conn)
    if args.json:
        print_json([_account_json(a) for a in accounts])
        return
    table(
        [
            [
                str(a.id),
                a.email,
                a.user_email,
                a.state,
                a.last_sync_at.strftime("%Y-%m-%d %H:%M") if a.last_sync_at else "never",
            ]
            for a in accounts
        ],
        ["ID", "EMAIL", "USER", "STATE", "LAST SYNC"],
    )


def _folders(args: argparse.Namespace) -> None:
    settings, engine = context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
    session = open_session(settings, account)
    try:
        server = session.list_folders()
        counts = {f.name: session.folder_message_count(f.name) for f in server}
    finally:
        session.close()
    synced = set(folders_to_sync(account.conditions, server))
    server = in_display_order(server)
    rows = [
        {
            "name": f.name,
            "role": f.role.value or None,
            "messages": counts[f.name],
            "synced": f.name in synced,
        }
        for f in server
    ]
    if args.json:
        print_json(rows)
    else:
        table(
            [
                [
                    str(r["name"]),
                    str(r["role"] or ""),
                    str(r["messages"]),
                    "yes" if r["synced"] else "",
                ]
                for r in rows
            ],
            ["FOLDER", "ROLE", "MESSAGES", "SYNCED"],
        )


def _configure(args: argparse.Namespace) -> None:
    """Save the conditions; an account waiting in setup is then ready to sync (a running
    `serve` starts it). Says what the change does to mail already synced."""
    _, engine = context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        c = _conditions(account.conditions, args)
        notes = save_conditions(conn, account, c)
        if account.state == AccountState.SETUP:
            account_store.set_state(conn, account.id, AccountState.NEW)
    print(_describe(account.email, c))
    for note in notes:
        print(note)


def _move(args: argparse.Namespace) -> None:
    _, engine = context()
    user = find_user(engine, args.user)
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        if account.user_id == user.id:
            raise UsageError(f"{account.email} belongs to {user.email} already")
        account_store.move_account(conn, account.id, user.id)
    print(
        f"Moved {account.email} (account {account.id}) from {account.user_email} to "
        f"{user.email}, with its synced mail and threads"
    )


def _aliases(args: argparse.Namespace) -> None:
    _, engine = context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        aliases = account_store.add_aliases(conn, account.id, set(args.add))
        unknown = sorted({normalize_email(e) for e in args.remove} - set(aliases))
        if unknown:
            raise UsageError(
                f"{account.email} has no alias {unknown[0]}; its aliases are: "
                f"{', '.join(aliases) or 'none'}"
            )
        if args.remove:
            aliases = account_store.remove_aliases(conn, account.id, set(args.remove))
    if args.json:
        print_json(list(aliases))
    else:
        print(f"{account.email} also sends as: {', '.join(aliases) or 'no other address'}")


def _sharing(args: argparse.Namespace) -> None:
    _, engine = context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        account_store.set_default_sharing(conn, account.id, args.sharing)
    print(f"New threads of {account.email} will be {args.sharing}")


def _status(args: argparse.Namespace) -> None:
    _, engine = context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
        folders = account_store.list_folders(conn, account.id)
        counts = message_store.folder_counts(conn, account.id)
    data = _account_json(account)
    data["folders"] = [
        {
            "name": f.name,
            "role": f.role.value or None,
            "uidvalidity": f.uidvalidity,
            "cursor": f.uid_cursor,
            "uidnext": f.uidnext,
            "highestmodseq": f.highestmodseq,
            "server_messages": f.server_messages,
            "synced_messages": counts.get(f.id, 0),
            "window_start": f.window_start.isoformat() if f.window_start else None,
            "remapping": f.remapping,
            "last_sync_at": f.last_sync_at.isoformat() if f.last_sync_at else None,
            "last_error": f.last_error,
        }
        for f in folders
        if f.uidvalidity is not None or counts.get(f.id)
    ]
    if args.json:
        print_json(data)
        return
    print(f"{account.email} (account {account.id}): {account.state}")
    print(f"  last sync: {data['last_sync_at'] or 'never'}")
    if account.state == AccountState.RETRYING or account.retry_at is not None:
        print(f"  {retry_words(account)}")  # the countdown as of now, not of the failure
    elif account.last_error:
        print(f"  last error: {account.last_error}")
    table(
        [
            [
                f["name"],
                str(f["uidvalidity"]),
                str(f["cursor"]),
                str(f["synced_messages"]),
                str(f["server_messages"]),
                f["last_error"] or "",
            ]
            for f in data["folders"]
        ],
        ["FOLDER", "UIDVALIDITY", "CURSOR", "SYNCED", "ON SERVER", "ERROR"],
    )
