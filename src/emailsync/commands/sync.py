"""`emailsync sync ACCOUNT`: one pass, then watch for new mail (unless --once).

A `sync ACCOUNT --once` that finds nothing changed never reaches this module: `cli.main`
answers it first through sync.quick_check, without importing SQLAlchemy.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from emailsync.commands.common import context, reading
from emailsync.commands.terminal import progress_for_terminal, report_pass
from emailsync.domain.addresses import normalize_email
from emailsync.errors import UsageError
from emailsync.runtime.worker import sync_in_foreground
from emailsync.services import crm
from emailsync.services.crm import OPERATOR
from emailsync.store import accounts as account_store
from emailsync.store import conversations
from emailsync.sync.account_sync import sync_account


def register(sub: Any) -> None:
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


def _sync(args: argparse.Namespace) -> None:
    settings, engine = context()
    with reading(engine) as conn:
        account = account_store.find_account(conn, args.account)
    if args.backfill_contact or args.rescan:
        emails = None
        if args.backfill_contact:
            person_id = crm.find_person_by_email(engine, OPERATOR, args.backfill_contact)
            if person_id is None:
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
        report_pass(account.email, result)
        return
    with progress_for_terminal() as progress:
        code = sync_in_foreground(
            settings, engine, account, once=args.once, report=report_pass, progress=progress
        )
    if code:
        sys.exit(code)
