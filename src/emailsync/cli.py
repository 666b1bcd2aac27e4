"""The command line: a contract other tooling drives, so its shape is stable.

Listing commands take --json and then print only JSON on stdout. Exit codes: 0 success,
1 a problem the user can fix (one line on stderr, no traceback), 2 usage.

Each command group lives in `emailsync.commands.<group>` with a `register(subparsers)`
that builds its parser. This module imports a group's module only when that group runs
(all of them for `emailsync --help` or an unknown command), so that a quick command does
not pay for the whole package; `sync ACCOUNT --once` with nothing changed is answered
before any parser is built (`_quick_sync_once`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from emailsync.errors import EmailsyncError

# Command groups in the order `emailsync --help` lists them: name -> module.
GROUPS = {
    "users": "emailsync.commands.users",
    "contacts": "emailsync.commands.contacts",
    "accounts": "emailsync.commands.accounts",
    "sync": "emailsync.commands.sync",
    "messages": "emailsync.commands.messages",
    "orgs": "emailsync.commands.orgs",
    "deals": "emailsync.commands.deals",
    "threads": "emailsync.commands.threads",
    "block": "emailsync.commands.block",
    "serve": "emailsync.commands.serve",
}


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if _guarded(lambda: _quick_sync_once(argv)):
        return
    parser = _guarded(lambda: build_parser(_group_of(argv)))
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        sys.exit(2)
    _guarded(lambda: args.handler(args))


def _guarded(action: Callable[[], Any]) -> Any:
    """Run a command the way every command ends: errors the user can fix as one line."""
    try:
        return action()
    except EmailsyncError as exc:
        print(f"emailsync: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("emailsync: interrupted; what was synced so far is kept", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `emailsync ... | head`: the reader left; that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def _group_of(argv: Sequence[str]) -> str | None:
    """The command group named on the command line (its first word), or None when it
    names none we know: then every group is registered, for help and error messages."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in GROUPS else None


def build_parser(group: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (with `group`) only that group's: it parses that group's
    command lines exactly as the whole one does, with fewer imports."""
    p = argparse.ArgumentParser(prog="emailsync", description="Email sync engine for a CRM.")
    sub = p.add_subparsers(metavar="COMMAND")
    for name, module in GROUPS.items():
        if group is None or name == group:
            importlib.import_module(module).register(sub)
    return p


def _quick_sync_once(argv: list[str]) -> bool:
    """`sync ACCOUNT --once` and nothing else: when nothing changed on the server, the
    pass is answered by sync.quick_check before the parser is built (building it
    imports SQLAlchemy). False: run the normal path."""
    if len(argv) != 3 or argv[0] != "sync" or "--once" not in argv[1:]:
        return False
    account = argv[2] if argv[1] == "--once" else argv[1]
    if account.startswith("-"):
        return False
    from emailsync.sync.quick_check import Declined, quick_pass

    try:
        result = quick_pass(account)
    except Declined:
        return False
    from emailsync.commands.terminal import progress_for_terminal, report_pass

    with progress_for_terminal() as progress:  # the bars a pass that found nothing draws
        for name in result.folders:
            progress.folder_started(name, 0)
            progress.folder_finished(name)
    report_pass(result.email, result)
    return True
