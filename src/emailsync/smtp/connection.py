"""Opening an SMTP connection: verified TLS, EHLO, STARTTLS where chosen, AUTH.

Used to test the SMTP settings of an account before it is saved, as the IMAP login is
tested: an account whose SMTP login fails is never stored. smtplib does the protocol
framing (RFC 5321, RFC 3207 STARTTLS, RFC 4954 AUTH); this module holds the policy
(emailsync.net's transport rules) and turns each failure into one sentence naming the
account and the fix, as an `emailsync.errors` class.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from emailsync.domain.states import Security
from emailsync.errors import (
    AuthenticationError,
    CertificateError,
    ConnectionSetupError,
    HostUnreachableError,
    StartTlsNotOfferedError,
    TlsError,
    TransientError,
)
from emailsync.net import cert_message, check_transport, tls_context, unreachable

# The EHLO name: smtplib's default asks DNS for this machine's FQDN, which can stall for
# seconds on a host without reverse DNS. Servers accept an address literal (RFC 5321 §4.1.3).
EHLO_NAME = "[127.0.0.1]"


def connect(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    email: str,
    cafile: str | None = None,
    timeout: float = 30,
) -> smtplib.SMTP:
    """Connect, secure, EHLO and log in; returns an authenticated `smtplib.SMTP`.

    `security` is a `Security`: "ssl" (implicit TLS, usually port 465), "starttls"
    (usually 587; refused if the server does not offer it) or "plain" (loopback only).
    TLS is always verified against the system CAs plus `cafile`.
    """
    check_transport(host, security, email, protocol="SMTP")
    context = tls_context(cafile)
    where = f"{host}:{port}"
    client: smtplib.SMTP
    try:
        if security == Security.SSL:
            client = smtplib.SMTP_SSL(
                host, port, local_hostname=EHLO_NAME, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, local_hostname=EHLO_NAME, timeout=timeout)
    except Exception as e:
        raise _setup_error(e, host, port, email, security) from e
    try:
        client.ehlo()
        if security == Security.STARTTLS:
            _starttls(client, context, host, where, email)
        _login(client, username, password, host, where, email)
    except ConnectionSetupError:
        _abandon(client)
        raise
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        _abandon(client)
        raise TransientError(
            f"The SMTP connection to {where} for {email} dropped while logging in: {e} — try again"
        ) from e
    except smtplib.SMTPException as e:
        _abandon(client)
        raise ConnectionSetupError(
            f"{where} refused the SMTP session for {email}: {_server_text(e)} — check the "
            "port and the security setting"
        ) from e
    return client


def check_login(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    email: str,
    cafile: str | None = None,
    timeout: float = 30,
) -> None:
    """Log in and leave politely (QUIT): proves the settings without sending anything."""
    client = connect(
        host, port, security, username, password, email=email, cafile=cafile, timeout=timeout
    )
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        _abandon(client)


def _starttls(
    client: smtplib.SMTP, context: ssl.SSLContext, host: str, where: str, email: str
) -> None:
    if not client.has_extn("starttls"):
        raise StartTlsNotOfferedError(
            f"{host} does not offer STARTTLS on SMTP port {where.rsplit(':', 1)[1]} for "
            f"{email}: choose SSL/TLS (port 465), or check the port"
        )
    try:
        client.starttls(context=context)
    except ssl.SSLCertVerificationError as e:
        raise CertificateError(cert_message(host, email, e)) from e
    except ssl.SSLError as e:
        raise TlsError(
            f"TLS handshake with {where} failed for {email} after STARTTLS: {e.reason or e}"
        ) from e
    client.ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS and ask again


def _login(
    client: smtplib.SMTP, username: str, password: str, host: str, where: str, email: str
) -> None:
    if not client.has_extn("auth"):
        hint = (
            "this port offers no login without encryption, choose SSL/TLS (port 465) or "
            "STARTTLS (port 587)"
            if not isinstance(client.sock, ssl.SSLSocket)
            else "this looks like a relay port (25), use the submission port (587 or 465)"
        )
        raise ConnectionSetupError(f"{where} does not accept an SMTP login for {email}: {hint}")
    try:
        client.login(username, password)
    except smtplib.SMTPAuthenticationError as e:
        text = _server_text(e)
        if 400 <= e.smtp_code < 500:  # 454: temporary authentication failure (RFC 4954 §6)
            raise TransientError(
                f"{host} could not log in {email} to SMTP right now: {text} — try again"
            ) from e
        raise AuthenticationError(
            f"SMTP login failed for {email}: wrong password, or the provider needs an app "
            f"password (server said: {text})"
        ) from e
    except smtplib.SMTPException as e:  # no AUTH mechanism we share with the server
        raise ConnectionSetupError(
            f"{where} offers no SMTP login method emailsync can use for {email}: {_server_text(e)}"
        ) from e


def _setup_error(
    e: Exception, host: str, port: int, email: str, security: str
) -> ConnectionSetupError:
    """The user-facing error for a failure to open the connection at all."""
    where = f"{host}:{port}"
    if isinstance(e, smtplib.SMTPConnectError):
        return HostUnreachableError(
            f"SMTP server {where} turned the connection for {email} away: "
            f"{_server_text(e)} — check the host and port"
        )
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return ConnectionSetupError(
            f"{where} closed the connection without an SMTP greeting for {email} — check the "
            "port and the security setting"
        )
    shared = unreachable(e, protocol="SMTP", host=host, port=port, email=email, security=security)
    if shared is not None:
        return shared
    return ConnectionSetupError(f"Cannot open an SMTP connection to {where} for {email}: {e}")


def _server_text(e: smtplib.SMTPException) -> str:
    """The server's words from an smtplib error (its reply text), decoded."""
    reply = getattr(e, "smtp_error", None)
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace").strip()
    return str(reply if reply is not None else e).strip()


def _abandon(client: smtplib.SMTP) -> None:
    """Close a half-open connection without caring whether the server still listens."""
    with contextlib.suppress(Exception):
        client.close()
