"""The command line: a contract other tooling drives, so its shape is stable.

Listing commands take --json and then print only JSON on stdout. Exit codes: 0 success,
1 a problem the user can fix (one line on stderr, no traceback), 2 usage. Imports are
lazy so that a quick command does not pay for the whole package.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from emailsync.commands.common import context as _context
from emailsync.commands.common import print_json as _print_json
from emailsync.commands.common import table as _table
from emailsync.commands.common import user_id as _user_id

if TYPE_CHECKING:
    import argparse

    import sqlalchemy as sa


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if _guarded(lambda: _quick_sync_once(argv)):
        return
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        sys.exit(2)
    _guarded(lambda: args.handler(args))


def _guarded(action: Callable[[], Any]) -> Any:
    """Run a command the way every command ends: errors the user can fix as one line."""
    from emailsync.errors import EmailsyncError

    try:
        return action()
    except EmailsyncError as exc:
        print(f"emailsync: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("emailsync: interrupted; what was synced so far is kept", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `emailsync ... | head`: the reader left; that is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


# -- plumbing ------------------------------------------------------------------------


def reading(engine: sa.Engine) -> sa.Connection:
    """store.db.reading, imported on first use: store.db imports SQLAlchemy."""
    from emailsync.store.db import reading as store_reading

    return store_reading(engine)


def _endpoint(value: str, option: str) -> tuple[str, int]:
    from emailsync.errors import UsageError

    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} takes HOST:PORT, e.g. imap.example.com:993 (got {value!r})")
    return host, int(port)


# -- users and contacts --------------------------------------------------------------


def _users_add(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    user = directory.add_user(engine, args.email, args.name or "")
    if password:
        from emailsync.auth import set_password

        set_password(engine, user.id, password)
    note = "" if password else " (no password: set one with `users passwd` to sign in)"
    print(f"Added user {user.email} (id {user.id}){note}")


def _users_passwd(args: argparse.Namespace) -> None:
    from emailsync.auth import set_password
    from emailsync.errors import UsageError
    from emailsync.store import directory

    _, engine = _context()
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("Give the new password on standard input")
    set_password(engine, directory.find_user(engine, args.email).id, password)
    print(f"Password of {args.email} set")


def _users_token(args: argparse.Namespace) -> None:
    from emailsync.auth import create_api_token
    from emailsync.store import directory

    _, engine = _context()
    token = create_api_token(engine, directory.find_user(engine, args.email).id, args.name)
    print(token)


def _users_list(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    users = directory.list_users(engine)
    if args.json:
        _print_json([{"id": u.id, "email": u.email, "name": u.name} for u in users])
    else:
        _table([[str(u.id), u.email, u.name] for u in users], ["ID", "EMAIL", "NAME"])


def _contacts_add(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    person = directory.add_person(
        engine,
        [args.email, *args.also],
        args.name or "",
        args.org or "",
        owner_user_id=_user_id(engine, args.owner),
        visibility=args.visibility,
    )
    from emailsync.commands.crm import relink

    linked = relink(engine, list(person.emails))
    print(
        f"Contact {person.name or person.emails[0]} (id {person.id}): {', '.join(person.emails)}"
        + (f"; {linked} threads linked to deals" if linked else "")
    )


def _contacts_update(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    person = directory.update_person(
        engine, args.id, name=args.name, org=args.org, visibility=args.visibility
    )
    if args.also:
        person = directory.add_person(engine, [*person.emails, *args.also])
        from emailsync.commands.crm import relink

        relink(engine, list(person.emails))
    print(f"Contact {person.name or person.emails[0]} (id {person.id}): {', '.join(person.emails)}")


def _contacts_delete(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    directory.delete_person(engine, args.id)
    print(f"Deleted contact {args.id}; mail with them stays, no longer linked to them")


def _contacts_import(args: argparse.Namespace) -> None:
    from pathlib import Path

    from emailsync.store import directory

    _, engine = _context()
    count = directory.import_persons_csv(engine, Path(args.file))
    from emailsync.commands.crm import relink

    relink(engine)
    print(f"Imported {count} contacts from {args.file}")


def _contacts_list(args: argparse.Namespace) -> None:
    from emailsync.store import directory

    _, engine = _context()
    people = directory.list_persons(engine)
    if args.json:
        _print_json(
            [{"id": p.id, "name": p.name, "org": p.org, "emails": list(p.emails)} for p in people]
        )
    else:
        _table(
            [[str(p.id), p.name, p.org, ", ".join(p.emails)] for p in people],
            ["ID", "NAME", "ORG", "EMAILS"],
        )


# -- accounts ------------------------------------------------------------------------


def _accounts_add(args: argparse.Namespace) -> None:
    from emailsync.errors import UsageError
    from emailsync.store import directory
    from emailsync.store.accounts import Endpoint
    from emailsync.sync.setup import ConnectRequest, add_account

    settings, engine = _context()
    if not args.password_stdin:
        raise UsageError("Give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    user = directory.find_user(engine, args.user)
    imap = Endpoint(*_endpoint(args.imap, "--imap"), args.imap_security)
    smtp = Endpoint(*_endpoint(args.smtp, "--smtp"), args.smtp_security) if args.smtp else None
    request = ConnectRequest(user.id, args.email, imap, smtp, args.username or "", password)
    account, folders = add_account(settings, engine, request)
    print(
        f"Connected {account.email} (account {account.id}): login OK, {len(folders)} folders. "
        f"Sync conditions: 3 months back, only CRM contacts, Inbox and Sent. "
        f"Change them with `emailsync accounts configure {account.id}`, then run "
        f"`emailsync sync {account.id}`."
    )


def _account_json(account: Any) -> dict[str, Any]:
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
        "conditions": {
            "sync_from": c.sync_from.value,
            "past_scope": c.past_scope.value if c.sync_from.has_past_sync else None,
            "folders": list(c.folders),
            "future": c.future.value,
            "track_opens": c.track_opens,
            "track_links": c.track_links,
        },
    }


def _accounts_list(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store

    _, engine = _context()
    with reading(engine) as conn:
        accounts = account_store.list_accounts(conn)
    if args.json:
        _print_json([_account_json(a) for a in accounts])
        return
    _table(
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


def _accounts_folders(args: argparse.Namespace) -> None:
    from emailsync.domain.conditions import folders_to_sync, in_display_order
    from emailsync.store import accounts as account_store
    from emailsync.sync.account_sync import open_session

    settings, engine = _context()
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
        _print_json(rows)
    else:
        _table(
            [
                [r["name"], r["role"] or "", str(r["messages"]), "yes" if r["synced"] else ""]
                for r in rows
            ],
            ["FOLDER", "ROLE", "MESSAGES", "SYNCED"],
        )


def _accounts_configure(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from emailsync.domain.conditions import FutureMode, PastScope
    from emailsync.domain.window import SyncFrom
    from emailsync.store import accounts as account_store

    _, engine = _context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        c = account.conditions
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
        account_store.configure(conn, account.id, c)
    scope = (
        {"all": ", all people", "contacts": ", only CRM contacts"}[c.past_scope.value]
        if c.sync_from.has_past_sync
        else ""
    )
    folders = ", ".join(c.folders) if c.folders else "Inbox and Sent"
    print(
        f"{account.email}: sync from {c.sync_from.value}{scope}; folders: {folders}; "
        f"future mail: {c.future.value} folders; tracking opens "
        f"{'on' if c.track_opens else 'off'}, links {'on' if c.track_links else 'off'}"
    )


def _accounts_aliases(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store

    _, engine = _context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        aliases = account_store.add_aliases(conn, account.id, set(args.add))
    if args.json:
        _print_json(list(aliases))
    else:
        print(f"{account.email} also sends as: {', '.join(aliases) or 'no other address'}")


def _accounts_sharing(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store

    _, engine = _context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        account_store.set_default_sharing(conn, account.id, args.sharing)
    print(f"New threads of {account.email} will be {args.sharing}")


def _accounts_status(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store
    from emailsync.store import messages as message_store

    _, engine = _context()
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
        _print_json(data)
        return
    print(f"{account.email} (account {account.id}): {account.state}")
    print(f"  last sync: {data['last_sync_at'] or 'never'}")
    if account.last_error:
        print(f"  last error: {account.last_error}")
    _table(
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


# -- sync and messages ---------------------------------------------------------------


def _quick_sync_once(argv: list[str]) -> bool:
    """`sync ACCOUNT --once` and nothing else: when nothing changed on the server, the
    pass is answered by sync.quick_check before the parser is built (building it
    imports the CRM commands and SQLAlchemy). False: run the normal path."""
    if len(argv) != 3 or argv[0] != "sync" or "--once" not in argv[1:]:
        return False
    account = argv[2] if argv[1] == "--once" else argv[1]
    if account.startswith("-"):
        return False
    from emailsync.sync.quick_check import Declined, quick_pass

    try:
        result = quick_pass(account)
    except Declined:
        return False
    from emailsync.commands.terminal import progress_for_terminal

    with progress_for_terminal() as progress:  # the bars a pass that found nothing draws
        for name in result.folders:
            progress.folder_started(name, 0)
            progress.folder_finished(name)
    _report_pass(result.email, result)
    return True


def _sync(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store
    from emailsync.sync.account_sync import sync_account
    from emailsync.commands.terminal import progress_for_terminal

    settings, engine = _context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
    if args.backfill_contact or args.rescan:
        from emailsync.domain.addresses import normalize_email
        from emailsync.store import conversations, directory

        emails = None
        if args.backfill_contact:
            person_id = directory.find_person_by_email(engine, args.backfill_contact)
            if person_id is None:
                from emailsync.errors import UsageError

                raise UsageError(
                    f"{args.backfill_contact} is not a CRM contact: add it with "
                    f"`emailsync contacts add {normalize_email(args.backfill_contact)}` first"
                )
            with reading(engine) as conn:
                emails = frozenset(conversations.person_emails_of(conn, person_id))
        with progress_for_terminal() as progress:
            result = sync_account(
                settings, engine, account, progress=progress, rescan=True, rescan_for=emails
            )
        _report_pass(account.email, result)
        return
    with progress_for_terminal() as progress:
        result = sync_account(settings, engine, account, progress=progress)
    _report_pass(account.email, result)
    if args.once:
        return
    import threading

    from emailsync.runtime.worker import run_account

    print(f"Watching {account.email} for new mail; press Ctrl-C to stop", file=sys.stderr)
    stop = threading.Event()
    try:
        run_account(
            settings,
            engine,
            account.id,
            stop=stop,
            on_pass=lambda r: _report_pass(account.email, r) if r.new_messages else None,
        )
    finally:
        stop.set()


def _report_pass(email: str, result: Any) -> None:
    removed = sum(r.removed for r in result.folders.values())
    flags = sum(r.flag_updates for r in result.folders.values())
    print(
        f"{email}: {result.new_messages} new messages, {flags} flag changes, "
        f"{removed} removed in {len(result.folders)} folders",
        file=sys.stderr,
    )
    for name, error in result.folder_errors.items():
        print(f"{email}: folder {name}: {error}", file=sys.stderr)


def _messages_list(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store
    from emailsync.store import messages as message_store

    _, engine = _context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
        rows = message_store.list_messages(conn, account.id, _user_id(engine, args.user))
    if args.json:
        _print_json(rows)
        return
    _table(
        [
            [
                str(r["id"]),
                str(r["date"])[:16],
                r["direction"],
                r["from"][:30],
                (r["subject"] or "(no subject)")[:50],
            ]
            for r in rows
        ],
        ["ID", "DATE", "DIR", "FROM", "SUBJECT"],
    )


def _serve(args: argparse.Namespace) -> None:
    import logging

    from emailsync.runtime.product import run_product

    settings, engine = _context()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_product(settings, engine, host=args.host, port=args.port, poll_seconds=args.poll)


# -- the parser ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    import argparse

    from emailsync.commands import crm as crm_commands

    p = argparse.ArgumentParser(prog="emailsync", description="Email sync engine for a CRM.")
    sub = p.add_subparsers(metavar="COMMAND")

    users = sub.add_parser("users", help="CRM users").add_subparsers(metavar="ACTION")
    u = users.add_parser("add", help="add a user")
    u.add_argument("email")
    u.add_argument("--name")
    u.set_defaults(handler=_users_add)
    u.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password for signing in to the web app from stdin",
    )
    u = users.add_parser("passwd", help="set a user's password (read from stdin)")
    u.add_argument("email")
    u.set_defaults(handler=_users_passwd)
    u = users.add_parser("token", help="create an API token for a user (printed once)")
    u.add_argument("email")
    u.add_argument("--name", default="cli", help="what the token is for")
    u.set_defaults(handler=_users_token)
    u = users.add_parser("list", help="list users")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=_users_list)

    contacts = sub.add_parser("contacts", help="CRM contacts").add_subparsers(metavar="ACTION")
    c = contacts.add_parser("add", help="add a contact (or addresses to one)")
    c.add_argument("email")
    c.add_argument("--name")
    c.add_argument("--org")
    c.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="EMAIL",
        help="another address of the same person (repeatable)",
    )
    c.add_argument("--owner", metavar="USER_EMAIL", help="the CRM user who owns the contact")
    c.add_argument("--visibility", choices=["company", "owner"], default="company")
    c.set_defaults(handler=_contacts_add)
    c = contacts.add_parser("update", help="change a contact")
    c.add_argument("id", type=int)
    c.add_argument("--name")
    c.add_argument("--org")
    c.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="EMAIL",
        help="add another address (repeatable)",
    )
    c.add_argument("--visibility", choices=["company", "owner"])
    c.set_defaults(handler=_contacts_update)
    c = contacts.add_parser("delete", help="delete a contact")
    c.add_argument("id", type=int)
    c.set_defaults(handler=_contacts_delete)
    c = contacts.add_parser("import", help="import contacts from a CSV file (name,email,org)")
    c.add_argument("file")
    c.set_defaults(handler=_contacts_import)
    c = contacts.add_parser("list", help="list contacts")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=_contacts_list)

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
    a.set_defaults(handler=_accounts_add)
    a = accounts.add_parser("list", help="list connected mailboxes")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_accounts_list)
    a = accounts.add_parser("folders", help="the server's folders, their roles and sizes")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_accounts_folders)
    a = accounts.add_parser("configure", help="set the sync conditions")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--sync-from", choices=["now", "1m", "3m", "6m", "1y"])
    a.add_argument("--past-scope", choices=["all", "contacts"])
    a.add_argument("--folders", metavar="NAME,NAME", help="folders (labels) to sync")
    a.add_argument(
        "--future",
        choices=["all", "selected"],
        help="future mail and re-syncs: all folders or the selected ones",
    )
    a.add_argument("--track-opens", action=argparse.BooleanOptionalAction, default=None)
    a.add_argument("--track-links", action=argparse.BooleanOptionalAction, default=None)
    a.set_defaults(handler=_accounts_configure)
    a = accounts.add_parser("aliases", help="addresses that count as the account's owner")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--add", action="append", default=[], metavar="EMAIL")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_accounts_aliases)
    a = accounts.add_parser("sharing", help="default sharing of the account's future mail")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("sharing", choices=["private", "shared"])
    a.set_defaults(handler=_accounts_sharing)
    a = accounts.add_parser("status", help="sync state, per folder")
    a.add_argument("account", metavar="ACCOUNT")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_accounts_status)

    s = sub.add_parser("sync", help="sync a mailbox (keeps running unless --once)")
    s.add_argument("account", metavar="ACCOUNT")
    s.add_argument("--once", action="store_true", help="one full pass, then exit")
    s.add_argument(
        "--backfill-contact",
        metavar="EMAIL",
        help="fetch a contact's past mail that a contacts-only sync left out",
    )
    s.add_argument(
        "--rescan",
        action="store_true",
        help="look again at past mail left out (after unblocking an address)",
    )
    s.set_defaults(handler=_sync)

    messages = sub.add_parser("messages", help="synced mail").add_subparsers(metavar="ACTION")
    m = messages.add_parser("list", help="list the synced messages of an account")
    m.add_argument("--account", required=True, metavar="ACCOUNT")
    m.add_argument("--user", metavar="EMAIL", help="read as this user (privacy rule applies)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=_messages_list)
    crm_commands.register_messages(messages)

    crm_commands.register(sub)

    s = sub.add_parser("serve", help="run the product: web app and sync workers")
    s.add_argument("--host", default="127.0.0.1", help="address the web app listens on")
    s.add_argument("--port", type=int, default=8025)
    s.add_argument("--poll", type=float, default=60.0, help="seconds between passes")
    s.set_defaults(handler=_serve)
    return p
