"""`emailsync messages`: synced mail, read through the privacy rule, and why it is linked."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emailsync.commands import why_not
from emailsync.commands.common import context, print_json, reading, table, user_id
from emailsync.errors import UsageError
from emailsync.store import accounts as account_store
from emailsync.store import conversations, message_list
from emailsync.store.tables import accounts, messages


def register(sub: Any) -> None:
    group = sub.add_parser("messages", help="synced mail").add_subparsers(metavar="ACTION")
    m = group.add_parser("list", help="list the synced messages of an account")
    m.add_argument("--account", required=True, metavar="ACCOUNT")
    m.add_argument("--user", metavar="EMAIL", help="read as this user (privacy rule applies)")
    m.add_argument("--json", action="store_true", help="one JSON array, written as it is read")
    m.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    m.add_argument("--limit", type=int, metavar="N", help="at most N messages (default: all)")
    m.add_argument(
        "--after",
        type=int,
        metavar="ID",
        help="only messages with an id above ID (the last id of the previous page)",
    )
    m.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N")
    m.add_argument(
        "--since", metavar="DATE", help="only messages dated on or after DATE (ISO date or time)"
    )
    m.set_defaults(handler=_list)
    m = group.add_parser("why", help="every link of a message, with its reason")
    m.add_argument("message", type=int, metavar="MESSAGE")
    m.add_argument("--user", metavar="EMAIL", help="read as this user (default: the owner)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=_why)
    why_not.register(group)


def _list(args: argparse.Namespace) -> None:
    """Messages in id order, streamed: rows are read in chunks and written as they come,
    so a 60k-message account lists in flat memory (store/message_list.py)."""
    page = message_list.Page(
        after=args.after,
        since=_since(args.since) if args.since else None,
        limit=args.limit,
        offset=args.offset,
    )
    if (page.limit is not None and page.limit < 0) or page.offset < 0:
        raise UsageError("--limit and --offset take a number of messages, 0 or more")
    _, engine = context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
        rows = message_list.iter_messages(conn, account.id, user_id(engine, args.user), page)
        if args.jsonl:
            for row in rows:
                sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            return
        if args.json:
            _write_json_array(rows)
            return
        lines = [
            [
                str(r["id"]),
                str(r["date"])[:16],
                str(r["direction"]),
                str(r["from"])[:30],
                str(r["subject"] or "(no subject)")[:50],
            ]
            for r in rows
        ]
    table(lines, ["ID", "DATE", "DIR", "FROM", "SUBJECT"])


def _write_json_array(rows: Any) -> None:
    """The text `print_json(list(rows))` writes, one element at a time."""
    first = True
    for row in rows:
        sys.stdout.write("[\n" if first else ",\n")
        first = False
        text = json.dumps(row, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("  " + text.replace("\n", "\n  "))  # JSON strings hold no newline
    sys.stdout.write("[]\n" if first else "\n]\n")


def _since(value: str) -> datetime:
    """An ISO date or date-time; one without a zone is UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since takes an ISO date or date-time, e.g. 2026-01-31 (got {value!r})"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


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
