"""`emailsync block`: a user's blocked addresses and domains (their mail is not synced)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import sqlalchemy as sa

from emailsync.commands.common import context, print_json, reading, user_id
from emailsync.errors import UsageError
from emailsync.store import blocking


def register(sub: Any) -> None:
    block = sub.add_parser("block", help="a user's blocked addresses and domains")
    group = block.add_subparsers(metavar="ACTION")
    p = group.add_parser("add", help="block an address or domain (removes its mail)")
    p.add_argument("pattern", metavar="EMAIL_OR_DOMAIN")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--yes", action="store_true", help="confirm removing the synced mail")
    p.set_defaults(handler=_add)
    p = group.add_parser("remove", help="unblock")
    p.add_argument("pattern", metavar="EMAIL_OR_DOMAIN")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_remove)
    p = group.add_parser("list", help="list blocked addresses and domains")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)


def _user(engine: sa.Engine, email: str) -> int:
    found = user_id(engine, email)
    assert found is not None  # --user is required
    return found


def _add(args: argparse.Namespace) -> None:
    _, engine = context()
    uid = _user(engine, args.user)
    pattern = blocking.checked_pattern(args.pattern)
    with reading(engine) as conn:
        doomed = blocking.screened_messages(conn, uid, frozenset({pattern}))
    messages = sum(len(v) for v in doomed.values())
    if not args.yes and doomed:
        raise UsageError(
            f"Blocking {pattern} removes {messages} synced messages in {len(doomed)} threads. "
            f"Run again with --yes to confirm"
        )
    with engine.begin() as conn:
        removed = blocking.block(conn, uid, pattern)
    print(
        f"Blocked {pattern}: mail whose every other participant is blocked is not synced; "
        f"{removed} messages removed"
    )


def _remove(args: argparse.Namespace) -> None:
    _, engine = context()
    uid = _user(engine, args.user)
    with engine.begin() as conn:
        if not blocking.unblock(conn, uid, args.pattern):
            raise UsageError(f"{args.pattern} is not blocked")
    print(
        f"Unblocked {args.pattern}. Its past mail comes back with `emailsync sync ACCOUNT --rescan`"
    )


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    uid = _user(engine, args.user)
    with reading(engine) as conn:
        found = sorted(blocking.patterns(conn, uid))
    if args.json:
        print_json(found)
    else:
        print("\n".join(found) if found else "Nothing is blocked")
    if not args.json:
        print(
            "\nA message is not synced when every participant other than you is blocked; "
            "a domain covers its subdomains.",
            file=sys.stderr,
        )
