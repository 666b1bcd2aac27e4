"""The error tree. Every error a user can see carries a sentence that names the account
and the fix; the CLI prints it on one line and exits 1.

    EmailsyncError                 base; str(e) is the user-facing sentence
    ├── UsageError                 bad input the user can correct (unknown account, bad value)
    ├── NotFound                   no such record for this user (also said for records the
    │                              user may not see, so ids do not leak); the API's 404
    ├── Conflict                   the change clashes with a record that exists (an address
    │                              or a name taken); the API's 409
    ├── ConnectionSetupError       the mailbox cannot be reached as configured
    │   ├── AuthenticationError    the login was refused: wrong password, app password
    │   │                          needed, account disabled                  [needs the user]
    │   ├── TlsError               TLS handshake failed (wrong port for SSL/TLS...)
    │   │   └── CertificateError   the certificate failed verification       [needs the user]
    │   ├── HostUnreachableError   DNS failure, refused, timed out
    │   └── StartTlsNotOfferedError
    ├── TransientError             connection dropped, server busy or restarting: retry
    │   └── StorageError           the database or the disk cannot be written: retry
    └── MessageError               one message could not be handled: record, skip, keep raw bytes

The same failure means different things by context, and `needs_user` draws the line:

* A connection test (the wizard, `accounts add`, reconnect) answers "do these settings
  work now?": every `ConnectionSetupError` is reported at once, a host that does not
  answer included, since the user is there to fix a typo in the host or port.
* A running sync uses settings that worked before. A host that does not answer, a
  handshake cut short or a server that stopped offering STARTTLS is far more likely an
  outage (a restart, a reboot in the wrong order, a network down) than a setting that
  changed by itself, and it heals without anyone acting; so only what the user alone
  can fix stops it: a refused login or a certificate that fails verification
  (`needs_user`). Everything else is retried with backoff and the state says so.
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


class CertificateError(TlsError):
    """The server's certificate failed verification: only the user can decide to trust it."""


class HostUnreachableError(ConnectionSetupError):
    """The host could not be reached."""


class StartTlsNotOfferedError(ConnectionSetupError):
    """STARTTLS was asked for but the server does not offer it."""


class TransientError(EmailsyncError):
    """A temporary failure: the connection dropped or the server is busy. Retry later."""


class StorageError(TransientError):
    """The database or the disk cannot be written (server down, disk full): retry later.
    `what` is the account state's words for it: "the disk is full", "cannot write to
    the database", "cannot write to the disk"."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message)
        self.what = what


class MessageError(EmailsyncError):
    """One message could not be processed; the rest of the sync goes on."""


def needs_user(exc: BaseException) -> bool:
    """True when a running sync must stop and wait for the user (see the module
    docstring); every other failure of a running sync is retried with backoff."""
    return isinstance(exc, AuthenticationError | CertificateError)
