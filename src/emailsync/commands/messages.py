"""`emailsync messages`: synced mail, read through the privacy rule, and why it is linked."""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from emailsync.commands import why_not
from emailsync.commands.common import context, print_json, reading, table, user_id
from emailsync.errors import UsageError
from emailsync.store import accounts as account_store
from emailsync.store import conversations
from emailsync.store import messages as message_store
from emailsync.store.tables import accounts, messages


def register(sub: Any) -> None:
    group = sub.add_parser("messages", help="synced mail").add_subparsers(metavar="ACTION")
    m = group.add_parser("list", help="list the synced messages of an account")
    m.add_argument("--account", required=True, metavar="ACCOUNT")
    m.add_argument("--user", metavar="EMAIL", help="read as this user (privacy rule applies)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=_list)
    m = group.add_parser("why", help="every link of a message, with its reason")
    m.add_argument("message", type=int, metavar="MESSAGE")
    m.add_argument("--user", metavar="EMAIL", help="read as this user (default: the owner)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=_why)
    why_not.register(group)


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
        rows = message_store.list_messages(conn, account.id, user_id(engine, args.user))
    if args.json:
        print_json(rows)
        return
    table(
        [
            [
                str(r["id"]),
                str(r["date"])[:16],
                str(r["direction"]),
                str(r["from"])[:30],
                str(r["subject"] or "(no subject)")[:50],
            ]
            for r in rows
        ],
        ["ID", "DATE", "DIR", "FROM", "SUBJECT"],
    )


def _why(args: argparse.Namespace) -> None:
    _, engine = context()
    with reading(engine) as conn:
        viewer = user_id(engine, args.user)
        if viewer is None:
            viewer = conn.execute(
                sa.select(accounts.c.user_id)
                .join(messages, messages.c.account_id == accounts.c.id)
                .where(messages.c.id == args.message)
            ).scalar()
        if viewer is None:
            raise UsageError(f"No message {args.message}")
        lines = conversations.why(conn, viewer, args.message)
    if args.json:
        print_json(lines)
    else:
        print("\n".join(lines))
