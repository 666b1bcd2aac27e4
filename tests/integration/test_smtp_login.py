"""Testing an account's SMTP login against a real SMTP server (aiosmtpd, tests/support).

EHLO (RFC 5321 §4.1.1.1), STARTTLS (RFC 3207), AUTH (RFC 4954), implicit TLS (RFC 8314);
every failure is one sentence naming the account and the fix, as an errors.py class.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emailsync.errors import (
    AuthenticationError,
    HostUnreachableError,
    StartTlsNotOfferedError,
    TlsError,
    UsageError,
)
from emailsync.smtp.connection import check_login
from support.dovecot import DovecotServer, free_port
from support.harness import Harness
from support.smtp_server import SmtpServer

EMAIL = "alice@example.com"


@pytest.fixture(scope="module")
def smtpd() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def smtps() -> Iterator[SmtpServer]:
    with SmtpServer(implicit_tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def smtpd_without_starttls() -> Iterator[SmtpServer]:
    with SmtpServer(starttls=False) as server:
        yield server


def test_starttls_then_auth_logs_in(smtpd: SmtpServer) -> None:
    before = len(smtpd.logins)
    check_login(
        smtpd.host, smtpd.port, "starttls", "alice", "secret", email=EMAIL, cafile=smtpd.cafile
    )
    assert len(smtpd.logins) == before + 1


def test_implicit_tls_then_auth_logs_in(smtps: SmtpServer) -> None:
    before = len(smtps.logins)
    check_login(smtps.host, smtps.port, "ssl", "alice", "secret", email=EMAIL, cafile=smtps.cafile)
    assert len(smtps.logins) == before + 1


def test_plain_login_on_loopback(smtpd_without_starttls: SmtpServer) -> None:
    server = smtpd_without_starttls
    before = len(server.logins)
    check_login(server.host, server.port, "plain", "alice", "secret", email=EMAIL)
    assert len(server.logins) == before + 1


def test_wrong_password_is_an_authentication_error_in_words(smtpd: SmtpServer) -> None:
    with pytest.raises(AuthenticationError) as caught:
        check_login(
            smtpd.host, smtpd.port, "starttls", "alice", "wrong", email=EMAIL, cafile=smtpd.cafile
        )
    assert str(caught.value).startswith(
        f"SMTP login failed for {EMAIL}: wrong password, or the provider needs an app password"
    )
    assert "Traceback" not in str(caught.value)


def test_closed_port_is_host_unreachable() -> None:
    port = free_port()
    with pytest.raises(HostUnreachableError) as caught:
        check_login("127.0.0.1", port, "starttls", "alice", "secret", email=EMAIL, timeout=5)
    assert str(caught.value) == (
        f"Cannot reach SMTP server 127.0.0.1:{port} for {EMAIL}: connection refused — "
        "check the host and port"
    )


def test_starttls_not_offered_is_refused(smtpd_without_starttls: SmtpServer) -> None:
    """RFC 3207 §4: a client that requires TLS must not go on when STARTTLS is missing."""
    server = smtpd_without_starttls
    before = len(server.logins)
    with pytest.raises(StartTlsNotOfferedError, match=f"does not offer STARTTLS.*{EMAIL}"):
        check_login(
            server.host, server.port, "starttls", "alice", "secret",
            email=EMAIL, cafile=server.cafile,
        )  # fmt: skip
    assert len(server.logins) == before  # the password was never sent in clear


def test_untrusted_certificate_after_starttls_is_a_tls_error(smtpd: SmtpServer) -> None:
    before = len(smtpd.logins)
    with pytest.raises(
        TlsError, match=f"TLS certificate of 127.0.0.1 could not be verified for {EMAIL}"
    ):
        check_login(smtpd.host, smtpd.port, "starttls", "alice", "secret", email=EMAIL)
    assert len(smtpd.logins) == before


def test_untrusted_certificate_with_implicit_tls_is_a_tls_error(smtps: SmtpServer) -> None:
    with pytest.raises(TlsError, match="EMAILSYNC_CA_FILE"):
        check_login(smtps.host, smtps.port, "ssl", "alice", "secret", email=EMAIL)


def test_ssl_against_a_starttls_port_says_to_choose_starttls(smtpd: SmtpServer) -> None:
    with pytest.raises(TlsError, match="choose STARTTLS"):
        check_login(
            smtpd.host, smtpd.port, "ssl", "alice", "secret",
            email=EMAIL, cafile=smtpd.cafile, timeout=5,
        )  # fmt: skip


def test_plain_to_a_remote_host_is_refused_before_connecting() -> None:
    with pytest.raises(UsageError) as caught:
        check_login("smtp.example.com", 587, "plain", "alice", "secret", email=EMAIL)
    assert str(caught.value) == (
        f"Refusing to send the password for {EMAIL} to smtp.example.com unencrypted: "
        "choose SSL/TLS (port 465) or STARTTLS (port 587)"
    )


# -- accounts add --smtp: tested before saving, as IMAP is --------------------------------


def _add(harness: Harness, dovecot: DovecotServer, user: str, smtp: str, security: str) -> Any:
    harness.cli("users", "add", "seller@crm.example")
    return harness.cli(
        "accounts", "add", "--user", "seller@crm.example", "--email", EMAIL,
        "--imap", f"{dovecot.host}:{dovecot.tls_port}", "--imap-security", "ssl",
        "--smtp", smtp, "--smtp-security", security,
        "--username", user, "--password-stdin", stdin="secret\n",
    )  # fmt: skip


def _trust_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dovecot: DovecotServer, smtp: SmtpServer
) -> None:
    """One CA bundle holding both test certificates, as EMAILSYNC_CA_FILE."""
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text(Path(dovecot.cafile).read_text() + Path(smtp.cafile).read_text())
    monkeypatch.setenv("EMAILSYNC_CA_FILE", str(bundle))


def test_accounts_add_with_a_closed_smtp_port_is_refused_and_not_saved(
    sqlite_harness: Harness, dovecot: DovecotServer, imap_user: str
) -> None:
    port = free_port()
    result = _add(sqlite_harness, dovecot, imap_user, f"127.0.0.1:{port}", "starttls")
    assert result.code == 1
    assert result.err.strip() == (
        f"emailsync: Cannot reach SMTP server 127.0.0.1:{port} for {EMAIL}: connection "
        "refused — check the host and port"
    )
    assert sqlite_harness.ok("accounts", "list", "--json").json() == []


def test_accounts_add_tests_the_smtp_login_with_the_imap_password(
    sqlite_harness: Harness,
    dovecot: DovecotServer,
    imap_user: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with SmtpServer(user=imap_user, password="not the imap password") as smtp:
        _trust_both(monkeypatch, tmp_path, dovecot, smtp)
        refused = _add(sqlite_harness, dovecot, imap_user, f"{smtp.host}:{smtp.port}", "starttls")
        assert refused.code == 1
        assert "SMTP login failed for alice@example.com: wrong password" in refused.err
        assert sqlite_harness.ok("accounts", "list", "--json").json() == []

    with SmtpServer(user=imap_user, password="secret") as smtp:
        _trust_both(monkeypatch, tmp_path, dovecot, smtp)
        added = _add(sqlite_harness, dovecot, imap_user, f"{smtp.host}:{smtp.port}", "starttls")
        assert added.code == 0, added.err
        assert smtp.logins == ["PLAIN"] or smtp.logins == ["LOGIN"]
        [account] = sqlite_harness.ok("accounts", "list", "--json").json()
        assert account["smtp"] == f"{smtp.host}:{smtp.port}"
        assert account["smtp_security"] == "starttls"
