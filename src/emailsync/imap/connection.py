"""Opening an IMAP connection: TLS, login, ID and ENABLE, with errors a user can act on.

Everything that can go wrong before the first folder is opened maps to a
`ConnectionSetupError` subclass whose message names the account and the fix: a
connection test reports it at once. A running sync retries all of them but a refused
login and a certificate that fails verification (`errors.needs_user`, and why there).
A connection that drops after a good start, or a login the server answers with
UNAVAILABLE, is a `TransientError`.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emailsync import __version__
from emailsync.errors import (
    AuthenticationError,
    CertificateError,
    ConnectionSetupError,
    StartTlsNotOfferedError,
    TlsError,
    TransientError,
)
from emailsync.imap.wire import TIMEOUT
from emailsync.net import cert_message, check_transport, tls_context, unreachable

if TYPE_CHECKING:  # imported where used: sync.quick_check reuses the light part of this module
    from imapclient import IMAPClient

    from emailsync.domain.model import Capabilities
    from emailsync.imap.session import ImapSession


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """How to log in to one account: what `connect` needs. Kept in memory only (it
    travels to fetcher processes through their pipe, never on a command line)."""

    host: str
    port: int
    security: str
    username: str
    password: str
    email: str
    cafile: str | None

    def connect(self) -> ImapSession:
        return connect(
            self.host,
            self.port,
            self.security,
            self.username,
            self.password,
            email=self.email,
            cafile=self.cafile,
        )


def connect(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    email: str,
    cafile: str | None = None,
    timeout: float = TIMEOUT,
    use_qresync: bool = True,
) -> ImapSession:
    """Connect, secure, log in and return a ready `ImapSession`.

    `security` is "ssl" (implicit TLS, usually port 993), "starttls" (usually 143) or
    "plain" (loopback only: passwords never cross a network in clear). TLS is always
    verified. CONDSTORE and QRESYNC (RFC 7162) are ENABLEd when offered;
    `use_qresync=False` keeps QRESYNC off, to behave as with a CONDSTORE-only server.
    """
    from imapclient import IMAPClient
    from imapclient.imapclient import SocketTimeout

    from emailsync.imap.session import ImapSession

    check_transport(host, security, email, protocol="IMAP")
    context = tls_context(cafile)
    where = f"{host}:{port}"
    try:
        client = IMAPClient(
            host,
            port,
            ssl=security == "ssl",
            ssl_context=context,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
    except Exception as e:
        raise _setup_error(e, host, port, email, security) from e
    client._imap.debug = 0  # imapclient sets 5: logging every line makes it ~6x slower
    client.normalise_times = False  # keep INTERNALDATE's offset; session converts to UTC
    # Commands are written whole (one sendall each), and a session pipelines some (sizes
    # ahead, the folder survey): with Nagle's algorithm the second command of a flight
    # waited for the first one's ACK, a round trip.
    with contextlib.suppress(OSError, AttributeError):
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    try:
        if security == "starttls":
            _starttls(client, context, host, where, email)
        _login(client, username, password, host, email)
        capabilities = _negotiate(client, use_qresync)
    except ConnectionSetupError:
        _abandon(client)
        raise
    except (imaplib.IMAP4.abort, OSError) as e:
        _abandon(client)
        raise TransientError(
            f"The IMAP connection to {where} for {email} dropped while logging in: {e} — will retry"
        ) from e
    except imaplib.IMAP4.error as e:
        _abandon(client)
        raise ConnectionSetupError(f"{where} refused the IMAP session for {email}: {e}") from e
    return ImapSession(client, email=email, host=host, capabilities=capabilities)


def _starttls(
    client: IMAPClient, context: ssl.SSLContext, host: str, where: str, email: str
) -> None:
    if not client.has_capability("STARTTLS"):
        raise StartTlsNotOfferedError(
            f"{host} does not offer STARTTLS for {email}: choose SSL/TLS (port 993), "
            "or check the port"
        )
    try:
        client.starttls(context)
    except ssl.SSLCertVerificationError as e:
        raise CertificateError(cert_message(host, email, e)) from e
    except ssl.SSLError as e:
        raise TlsError(
            f"TLS handshake with {where} failed for {email} after STARTTLS: {e.reason or e}"
        ) from e


def _login(client: IMAPClient, username: str, password: str, host: str, email: str) -> None:
    if client.has_capability("LOGINDISABLED"):
        raise ConnectionSetupError(
            f"{host} refuses passwords on this unencrypted connection for {email}: "
            "choose SSL/TLS (port 993) or STARTTLS"
        )
    from imapclient.exceptions import LoginError

    try:
        client.login(username, password)
    except LoginError as e:
        text = _server_text(e)
        if "[UNAVAILABLE]" in text or "[INUSE]" in text:
            raise TransientError(
                f"{host} could not log in {email} right now: {text} — will retry"
            ) from e
        raise AuthenticationError(
            f"IMAP login failed for {email}: wrong password, or the provider needs an app "
            f"password (server said: {text})"
        ) from e


def _negotiate(client: IMAPClient, use_qresync: bool) -> Capabilities:
    """Send ID (RFC 2971) and ENABLE CONDSTORE/QRESYNC (RFC 5161, RFC 7162)."""
    from emailsync.domain.model import Capabilities

    raw = frozenset(c.decode("ascii", "replace") for c in client.capabilities())
    if "ID" in raw:
        # Some providers (163.com) refuse mail access to clients that do not say who they are.
        with contextlib.suppress(imaplib.IMAP4.error):
            client.id_({"name": "emailsync", "version": __version__})
    condstore = "CONDSTORE" in raw
    qresync = use_qresync and "QRESYNC" in raw
    wanted = [name for name, on in (("CONDSTORE", condstore), ("QRESYNC", qresync)) if on]
    if wanted and "ENABLE" in raw:
        enabled = {e.decode("ascii", "replace").upper() for e in client.enable(*wanted)}
        qresync = "QRESYNC" in enabled
        condstore = condstore and ("CONDSTORE" in enabled or qresync or "CONDSTORE" in raw)
    else:
        qresync = False  # QRESYNC only works once ENABLEd (RFC 7162 §3.2.3)
    return Capabilities(
        condstore=condstore,
        qresync=qresync,
        idle="IDLE" in raw,
        special_use="SPECIAL-USE" in raw,
        move="MOVE" in raw,
        uidplus="UIDPLUS" in raw,
        raw=raw,
    )


def _setup_error(
    e: Exception, host: str, port: int, email: str, security: str
) -> ConnectionSetupError:
    """The user-facing error for a failure to open the connection at all."""
    shared = unreachable(e, protocol="IMAP", host=host, port=port, email=email, security=security)
    if shared is not None:
        return shared
    where = f"{host}:{port}"
    if isinstance(e, imaplib.IMAP4.error):
        return ConnectionSetupError(
            f"{where} did not answer like an IMAP server for {email}: {e} — check the port "
            "and the security setting"
        )
    return ConnectionSetupError(f"Cannot open an IMAP connection to {where} for {email}: {e}")


def _server_text(e: Exception) -> str:
    """The server's words from an imapclient error, without the repr of bytes around them."""
    text = str(e)
    match = re.fullmatch(r"b(['\"])(.*)\1", text, flags=re.DOTALL)
    return match.group(2) if match else text


def _abandon(client: IMAPClient) -> None:
    """Close a half-open connection without caring whether the server still listens."""
    with contextlib.suppress(Exception):
        client.shutdown()
