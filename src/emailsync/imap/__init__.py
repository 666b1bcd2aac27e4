"""The IMAP edge: connect, then talk to the server through `ImapSession`."""

from emailsync.imap.connection import connect, is_loopback, tls_context
from emailsync.imap.folders import role_for
from emailsync.imap.session import FolderNotFoundError, ImapSession, parse_vanished

__all__ = [
    "FolderNotFoundError",
    "ImapSession",
    "connect",
    "is_loopback",
    "parse_vanished",
    "role_for",
    "tls_context",
]
