"""The transport rules every mail connection follows, IMAP and SMTP alike.

TLS is always verified (system CAs plus the CA file from Settings, for self-hosted
servers with a private CA and for tests); a password never crosses a network in clear,
so "plain" is refused except to a loopback address. Each message names the protocol
the caller passes in ("IMAP" or "SMTP").
"""

from __future__ import annotations

import ipaddress
import socket
import ssl

from emailsync.domain.states import Security
from emailsync.errors import (
    CertificateError,
    ConnectionSetupError,
    HostUnreachableError,
    TlsError,
    UsageError,
)

SECURITY_MODES = tuple(Security)
CA_FILE_ENV = "EMAILSYNC_CA_FILE"
_USUAL_PORTS = {"IMAP": ("993", "143"), "SMTP": ("465", "587")}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only hosts a plain connection may talk to."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context: system CAs, plus `cafile` if given (Settings.ca_file)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


def check_transport(host: str, security: str, email: str, *, protocol: str) -> None:
    """Refuse an unknown security mode, and a password in clear to any host but this one."""
    if security not in SECURITY_MODES:
        raise UsageError(
            f"Unknown {protocol} security {security!r} for {email}: use ssl, starttls or plain"
        )
    if security == Security.PLAIN and not is_loopback(host):
        tls_port, starttls_port = _USUAL_PORTS.get(protocol, ("993", "143"))
        raise UsageError(
            f"Refusing to send the password for {email} to {host} unencrypted: "
            f"choose SSL/TLS (port {tls_port}) or STARTTLS (port {starttls_port})"
        )


def cert_message(host: str, email: str, e: ssl.SSLCertVerificationError) -> str:
    """The sentence for a certificate that failed verification, with the fix."""
    reason = e.verify_message or e.reason or str(e)
    return (
        f"TLS certificate of {host} could not be verified for {email}: {reason} — if the "
        f"server uses a private CA, point {CA_FILE_ENV} at its certificate"
    )


def unreachable(
    e: Exception, *, protocol: str, host: str, port: int, email: str, security: str
) -> ConnectionSetupError | None:
    """The sentence for a connection that could not be opened at the socket or TLS level
    (name, refusal, time-out, handshake, certificate), the same for IMAP and SMTP; None
    for anything else, which the protocol's own code words. A protocol whose errors are
    OSErrors (smtplib's) sorts its own out first."""
    tls_port, starttls_port = _USUAL_PORTS.get(protocol, ("993", "143"))
    server = f"{host}:{port}" if protocol == "IMAP" else f"{protocol} server {host}:{port}"
    if isinstance(e, socket.gaierror):
        name = host if protocol == "IMAP" else f"{protocol} host {host}"
        return HostUnreachableError(
            f"Cannot find {name} for {email}: the name does not resolve — check the host"
        )
    if isinstance(e, ssl.SSLCertVerificationError):
        return CertificateError(cert_message(host, email, e))
    if isinstance(e, ssl.SSLError):
        this_port = "this port" if protocol == "IMAP" else f"this {protocol} port"
        return TlsError(
            f"TLS handshake with {host}:{port} failed for {email}: {e.reason or e} — if "
            f"{this_port} expects STARTTLS (usually {starttls_port}), choose STARTTLS "
            "instead of SSL/TLS"
        )
    if isinstance(e, ConnectionRefusedError):
        return HostUnreachableError(
            f"Cannot reach {server} for {email}: connection refused — check the host and port"
        )
    if isinstance(e, TimeoutError):
        hint = f" or the port expects SSL/TLS (usually {tls_port})" if security != "ssl" else ""
        return HostUnreachableError(
            f"Cannot reach {server} for {email}: no answer in time — check the host and "
            f"port, a firewall{hint}"
        )
    if isinstance(e, OSError):
        return HostUnreachableError(
            f"Cannot reach {server} for {email}: {e.strerror or e} — check the host and port"
        )
    return None
