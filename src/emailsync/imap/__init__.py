"""The IMAP edge: connect, then talk to the server through `ImapSession`.

The names below load on first use (PEP 562): `emailsync.imap.session` pulls in
imapclient (~50 ms), which the quick no-change check of `sync --once`
(sync/quick_check.py) must not pay for when it only needs `imap.connection`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emailsync.imap.connection import connect
    from emailsync.imap.folders import role_for
    from emailsync.imap.session import FolderNotFoundError, ImapSession, parse_vanished

_HOMES = {
    "connect": "connection",
    "role_for": "folders",
    "FolderNotFoundError": "session",
    "ImapSession": "session",
    "parse_vanished": "session",
}

__all__ = [
    "FolderNotFoundError",
    "ImapSession",
    "connect",
    "parse_vanished",
    "role_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"emailsync.imap.{home}"), name)
