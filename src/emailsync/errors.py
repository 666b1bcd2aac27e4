"""The error tree. Every error a user can see carries a sentence that names the account
and the fix; the CLI prints it on one line and exits 1.

    EmailsyncError                 base; str(e) is the user-facing sentence
    ├── UsageError                 bad input the user can correct (unknown account, bad value)
    ├── NotFound                   no such record for this user (also said for records the
    │                              user may not see, so ids do not leak); the API's 404
    ├── Conflict                   the change clashes with a record that exists (an address
    │                              or a name taken); the API's 409
    ├── ConnectionSetupError       the mailbox cannot be reached as configured: stop, ask the user
    │   ├── AuthenticationError    wrong login or password / app password needed
    │   ├── TlsError               certificate not trusted, hostname mismatch, TLS handshake failed
    │   ├── HostUnreachableError   DNS failure, refused, timed out
    │   └── StartTlsNotOfferedError
    ├── TransientError             connection dropped, server busy: retry with backoff
    └── MessageError               one message could not be handled: record, skip, keep raw bytes
"""

from __future__ import annotations


class EmailsyncError(Exception):
    """Something went wrong in emailsync."""


class UsageError(EmailsyncError):
    """The request cannot be carried out as given."""


class NotFound(EmailsyncError):
    """No such account, thread or record for this user (also said for other users' records)."""


class Conflict(EmailsyncError):
    """The change clashes with a record that exists already (an address or a name taken)."""


class ConnectionSetupError(EmailsyncError):
    """The mailbox cannot be reached with these settings."""


class AuthenticationError(ConnectionSetupError):
    """The server refused the login."""


class TlsError(ConnectionSetupError):
    """The TLS connection could not be established or verified."""


class HostUnreachableError(ConnectionSetupError):
    """The host could not be reached."""


class StartTlsNotOfferedError(ConnectionSetupError):
    """STARTTLS was asked for but the server does not offer it."""


class TransientError(EmailsyncError):
    """A temporary failure: the connection dropped or the server is busy. Retry later."""


class MessageError(EmailsyncError):
    """One message could not be processed; the rest of the sync goes on."""
