"""A real SMTP server for tests: aiosmtpd on a free loopback port, with AUTH and TLS.

`SmtpServer` answers EHLO, offers STARTTLS (unless `starttls=False`), accepts AUTH PLAIN
and AUTH LOGIN for one user and password, and with `implicit_tls=True` speaks TLS from
the first byte (SMTPS, RFC 8314). Its certificate is self-signed for 127.0.0.1 and
localhost, made with openssl as tests/support/dovecot.py makes Dovecot's, so a client
trusts it only when given `cafile`. Mail it receives is kept in `messages`.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.dovecot import HOST, free_port


def make_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost; returns (cert, key) paths."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


class _Handler:
    """Keeps what DATA delivers; the policy under test (AUTH, TLS) is aiosmtpd's."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or b"")
        return "250 OK"


class SmtpServer:
    """One aiosmtpd server; use as a context manager."""

    def __init__(
        self,
        *,
        user: str = "alice",
        password: str = "secret",
        starttls: bool = True,
        implicit_tls: bool = False,
    ) -> None:
        self.host = HOST
        self.port = 0
        self.user, self.password = user, password
        self.logins: list[str] = []
        self._root = Path(tempfile.mkdtemp(prefix="smtpd-"))
        self.cafile, self._keyfile = make_certificate(self._root)
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._handler = _Handler()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[bytes]:
        return self._handler.messages

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cafile, self._keyfile)
        self.port = free_port()
        self._controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            ssl_context=context if self._implicit_tls else None,
            tls_context=context if self._starttls and not self._implicit_tls else None,
            authenticator=self._authenticate,
            auth_require_tls=False,  # the client decides; plain is refused by it off loopback
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
