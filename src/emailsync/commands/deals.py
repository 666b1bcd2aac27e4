"""`emailsync deals`: the CRM's deals; every change relinks the threads it can affect."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from emailsync.commands.common import context, print_json, table, user_id
from emailsync.errors import UsageError
from emailsync.services import crm
from emailsync.services.crm import OPERATOR


def register(sub: Any) -> None:
    deals = sub.add_parser("deals", help="CRM deals").add_subparsers(metavar="ACTION")
    p = deals.add_parser("add", help="add a deal")
    p.add_argument("title")
    p.add_argument("--value", default="0")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--person", metavar="EMAIL", help="the contact, by one of their addresses")
    p.add_argument("--org", metavar="NAME")
    p.add_argument("--owner", metavar="USER_EMAIL")
    p.add_argument("--status", choices=["open", "won", "lost"], default="open")
    p.add_argument("--visibility", choices=["company", "owner"], default="company")
    p.set_defaults(handler=_add)
    p = deals.add_parser("update", help="change a deal (e.g. --status won)")
    p.add_argument("id", type=int)
    p.add_argument("--title")
    p.add_argument("--value")
    p.add_argument("--status", choices=["open", "won", "lost"])
    p.add_argument("--person", metavar="EMAIL")
    p.add_argument("--org", metavar="NAME")
    p.add_argument("--visibility", choices=["company", "owner"])
    p.set_defaults(handler=_update)
    p = deals.add_parser("list", help="list deals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = deals.add_parser("delete", help="delete a deal")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_delete)
    p = deals.add_parser("import", help="import deals (title,value,status,person_email,org)")
    p.add_argument("file")
    p.set_defaults(handler=_import)


def _deal_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "value": str(d.value),
        "currency": d.currency,
        "status": d.status,
        "person_id": d.person_id,
        "organisation_id": d.organisation_id,
        "owner_user_id": d.owner_user_id,
        "visibility": d.visibility,
    }


def _person_ref(engine: sa.Engine, email: str | None) -> int | None:
    if not email:
        return None
    person_id = crm.find_person_by_email(engine, OPERATOR, email)
    if person_id is None:
        raise UsageError(
            f"No contact has the address {email}: add it with `emailsync contacts add`"
        )
    return person_id


def _org_ref(engine: sa.Engine, name: str | None) -> int | None:
    if not name:
        return None
    org = crm.find_organisation(engine, OPERATOR, name)
    if org is None:
        raise UsageError(f"No organisation {name}: add it with `emailsync orgs add`")
    return org.id


def _add(args: argparse.Namespace) -> None:
    _, engine = context()
    deal, linked = crm.add_deal(
        engine,
        OPERATOR,
        args.title,
        value=args.value,
        currency=args.currency,
        person_id=_person_ref(engine, args.person),
        organisation_id=_org_ref(engine, args.org),
        owner_user_id=user_id(engine, args.owner),
        status=args.status,
        visibility=args.visibility,
    )
    print(f"Deal {deal.title} (id {deal.id}, {deal.status}); {linked} threads linked to deals")


def _update(args: argparse.Namespace) -> None:
    _, engine = context()
    deal, _ = crm.update_deal(
        engine,
        OPERATOR,
        args.id,
        title=args.title,
        value=args.value,
        status=args.status,
        person_id=_person_ref(engine, args.person),
        organisation_id=_org_ref(engine, args.org),
        visibility=args.visibility,
    )
    print(f"Deal {deal.title} (id {deal.id}): {deal.status}, {deal.value} {deal.currency}")


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    deals = crm.list_deals(engine, OPERATOR)
    if args.json:
        print_json([_deal_json(d) for d in deals])
    else:
        table(
            [[str(d.id), d.title, d.status, f"{d.value} {d.currency}"] for d in deals],
            ["ID", "TITLE", "STATUS", "VALUE"],
        )


def _delete(args: argparse.Namespace) -> None:
    _, engine = context()
    crm.delete_deal(engine, OPERATOR, args.id)
    print(f"Deleted deal {args.id}")


def _import(args: argparse.Namespace) -> None:
    _, engine = context()
    count = crm.import_deals_csv(engine, Path(args.file))
    print(f"Imported {count} deals from {args.file}")
