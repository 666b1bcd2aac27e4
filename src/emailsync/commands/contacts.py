"""`emailsync contacts`: the CRM's people and their addresses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emailsync.commands.common import context, print_json, table, user_id
from emailsync.services import crm
from emailsync.services.crm import OPERATOR


def register(sub: Any) -> None:
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
    c.set_defaults(handler=_add)
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
    c.set_defaults(handler=_update)
    c = contacts.add_parser("delete", help="delete a contact")
    c.add_argument("id", type=int)
    c.set_defaults(handler=_delete)
    c = contacts.add_parser("import", help="import contacts from a CSV file (name,email,org)")
    c.add_argument("file")
    c.set_defaults(handler=_import)
    c = contacts.add_parser("list", help="list contacts")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> None:
    _, engine = context()
    seen, linked = crm.add_person(
        engine,
        OPERATOR,
        [args.email, *args.also],
        args.name or "",
        args.org or "",
        owner_user_id=user_id(engine, args.owner),
        visibility=args.visibility,
        merge=True,
    )
    person = seen.person
    print(
        f"Contact {person.name or person.emails[0]} (id {person.id}): {', '.join(person.emails)}"
        + (f"; {linked} threads linked to deals" if linked else "")
    )


def _update(args: argparse.Namespace) -> None:
    _, engine = context()
    seen, _ = crm.update_person(
        engine,
        OPERATOR,
        args.id,
        name=args.name,
        org=args.org,
        visibility=args.visibility,
        add_emails=args.also or (),
    )
    person = seen.person
    print(f"Contact {person.name or person.emails[0]} (id {person.id}): {', '.join(person.emails)}")


def _delete(args: argparse.Namespace) -> None:
    _, engine = context()
    crm.delete_person(engine, OPERATOR, args.id)
    print(f"Deleted contact {args.id}; mail with them stays, no longer linked to them")


def _import(args: argparse.Namespace) -> None:
    _, engine = context()
    count = crm.import_persons_csv(engine, Path(args.file))
    print(f"Imported {count} contacts from {args.file}")


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    people = [seen.person for seen in crm.list_persons(engine, OPERATOR)]
    if args.json:
        print_json(
            [{"id": p.id, "name": p.name, "org": p.org, "emails": list(p.emails)} for p in people]
        )
    else:
        table(
            [[str(p.id), p.name, p.org, ", ".join(p.emails)] for p in people],
            ["ID", "NAME", "ORG", "EMAILS"],
        )
