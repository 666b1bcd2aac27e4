"""`emailsync users`: the CRM's users, their passwords and API tokens."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from emailsync.commands.common import context, print_json, table
from emailsync.errors import UsageError
from emailsync.services.users import (
    add_user,
    create_api_token,
    find_user,
    list_users,
    set_password,
)


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="CRM users").add_subparsers(metavar="ACTION")
    u = users.add_parser("add", help="add a user")
    u.add_argument("email")
    u.add_argument("--name")
    u.set_defaults(handler=_add)
    u.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password for signing in to the web app from stdin",
    )
    u = users.add_parser("passwd", help="set a user's password (read from stdin)")
    u.add_argument("email")
    u.set_defaults(handler=_passwd)
    u = users.add_parser("token", help="create an API token for a user (printed once)")
    u.add_argument("email")
    u.add_argument("--name", default="cli", help="what the token is for")
    u.set_defaults(handler=_token)
    u = users.add_parser("list", help="list users")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> None:
    _, engine = context()
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    user = add_user(engine, args.email, args.name or "")
    if password:
        set_password(engine, user.id, password)
    note = "" if password else " (no password: set one with `users passwd` to sign in)"
    print(f"Added user {user.email} (id {user.id}){note}")


def _passwd(args: argparse.Namespace) -> None:
    _, engine = context()
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("Give the new password on standard input")
    set_password(engine, find_user(engine, args.email).id, password)
    print(f"Password of {args.email} set")


def _token(args: argparse.Namespace) -> None:
    _, engine = context()
    token = create_api_token(engine, find_user(engine, args.email).id, args.name)
    print(token)


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    users = list_users(engine)
    if args.json:
        print_json([{"id": u.id, "email": u.email, "name": u.name} for u in users])
    else:
        table([[str(u.id), u.email, u.name] for u in users], ["ID", "EMAIL", "NAME"])
