"""`emailsync sync ACCOUNT`: one pass, then watch for new mail (unless --once).

A `sync ACCOUNT --once` that finds nothing changed never reaches this module: `cli.main`
answers it first through sync.quick_check, without importing SQLAlchemy.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from emailsync.commands.common import context, reading
from emailsync.commands.terminal import progress_for_terminal, report_pass
from emailsync.domain.addresses import normalize_email
from emailsync.errors import UsageError
from emailsync.runtime.worker import run_account
from emailsync.store import accounts as account_store
from emailsync.store import conversations, directory
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
            person_id = directory.find_person_by_email(engine, args.backfill_contact)
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
        result = sync_account(settings, engine, account, progress=progress)
    report_pass(account.email, result)
    if args.once:
        return
    print(f"Watching {account.email} for new mail; press Ctrl-C to stop", file=sys.stderr)
    stop = threading.Event()
    try:
        run_account(
            settings,
            engine,
            account.id,
            stop=stop,
            on_pass=lambda r: report_pass(account.email, r) if r.new_messages else None,
        )
    finally:
        stop.set()
