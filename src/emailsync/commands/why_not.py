"""`emailsync messages why-not MESSAGE-ID|ADDRESS`: why a mail is or is not in the CRM.

The search and the rules are sync/why_not.py's; this prints one line per copy found on
the server (folder, date, UID, the reason in words), or a JSON list. What it prints goes
to the terminal of the user who asked, never to a log.
"""

from __future__ import annotations

import argparse
from typing import Any

from emailsync.commands.common import context, print_json, table
from emailsync.domain.states import AccountState
from emailsync.store import accounts as account_store
from emailsync.store.db import reading
from emailsync.sync.why_not import Hit, why_not


def register(messages: Any) -> None:
    """Add `why-not` to the `messages` command's actions (its add_subparsers())."""
    p = messages.add_parser(
        "why-not", help="look a mail up on the server and say why it is or is not in the CRM"
    )
    p.add_argument("query", metavar="MESSAGE-ID|ADDRESS")
    p.add_argument("--account", metavar="ACCOUNT", help="only this account (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=why_not_command)


def why_not_command(args: argparse.Namespace) -> None:
    settings, engine = context()
    with reading(engine) as conn:
        if args.account:
            accounts = [account_store.find_account(conn, args.account)]
        else:
            accounts = [
                a for a in account_store.list_accounts(conn) if a.state != AccountState.REMOVED
            ]
    hits: list[Hit] = []
    more = 0
    for account in accounts:
        report = why_not(settings, engine, account, args.query)
        hits += report.hits
        more += report.more
    if args.json:
        print_json([_json(h) for h in hits])
        return
    if not hits:
        where = accounts[0].email if len(accounts) == 1 else f"{len(accounts)} accounts"
        print(f"No mail matching {args.query} in any folder of {where} on the server.")
        return
    rows = [
        [h.folder, f"{h.date:%Y-%m-%d %H:%M}", str(h.uid), f"{h.reason}: {h.explanation}"]
        for h in hits
    ]
    if len(accounts) > 1:
        rows = [[h.account, *row] for h, row in zip(hits, rows, strict=True)]
    header = ["FOLDER", "DATE", "UID", "WHY"]
    table(rows, ["ACCOUNT", *header] if len(accounts) > 1 else header)
    if more:
        print(f"… and {more} more copies not examined; give a Message-ID to narrow it down")


def _json(hit: Any) -> dict[str, Any]:
    return {
        "account": hit.account,
        "folder": hit.folder,
        "uid": hit.uid,
        "message_id": hit.message_id,
        "date": hit.date.isoformat(),
        "reason": str(hit.reason),
        "message_id_in_crm": hit.message_id_in_crm,
        "explanation": hit.explanation,
    }
