"""`emailsync orgs`: the CRM's organisations and their email domains."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emailsync.commands.common import context, print_json, table, user_id
from emailsync.services import crm
from emailsync.services.crm import OPERATOR


def register(sub: Any) -> None:
    orgs = sub.add_parser("orgs", help="CRM organisations").add_subparsers(metavar="ACTION")
    p = orgs.add_parser("add", help="add an organisation (or domains to one)")
    p.add_argument("name")
    p.add_argument("--domain", action="append", default=[], help="email domain (repeatable)")
    p.add_argument("--owner", metavar="USER_EMAIL")
    p.add_argument(
        "--visibility",
        choices=["company", "owner"],
        default=None,
        help="company (default for a new one) or owner",
    )
    p.set_defaults(handler=_add)
    p = orgs.add_parser("list", help="list organisations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = orgs.add_parser("delete", help="delete an organisation")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_delete)
    p = orgs.add_parser("import", help="import organisations from CSV (name,domains)")
    p.add_argument("file")
    p.set_defaults(handler=_import)


def _add(args: argparse.Namespace) -> None:
    _, engine = context()
    org = crm.add_organisation(
        engine,
        OPERATOR,
        args.name,
        args.domain,
        owner_user_id=user_id(engine, args.owner),
        visibility=args.visibility,
        merge=True,
    )
    print(f"Organisation {org.name} (id {org.id}): {', '.join(org.domains) or 'no domains'}")


def _org_json(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "domains": list(o.domains),
        "owner_user_id": o.owner_user_id,
        "visibility": o.visibility,
    }


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    orgs = crm.list_organisations(engine, OPERATOR)
    if args.json:
        print_json([_org_json(o) for o in orgs])
    else:
        table([[str(o.id), o.name, ", ".join(o.domains)] for o in orgs], ["ID", "NAME", "DOMAINS"])


def _delete(args: argparse.Namespace) -> None:
    _, engine = context()
    crm.delete_organisation(engine, OPERATOR, args.id)
    print(f"Deleted organisation {args.id}")


def _import(args: argparse.Namespace) -> None:
    _, engine = context()
    count = crm.import_organisations_csv(engine, Path(args.file))
    print(f"Imported {count} organisations from {args.file}")
