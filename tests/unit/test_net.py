"""emailsync.net: the transport rules every mail connection follows."""

from __future__ import annotations

import pytest

from emailsync.errors import UsageError
from emailsync.net import check_transport, is_loopback


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LocalHost."]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "imap.example.com", "localhost.example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("protocol", "ports"),
    [("IMAP", "port 993) or STARTTLS (port 143)"), ("SMTP", "port 465) or STARTTLS (port 587)")],
)
def test_plain_to_a_remote_host_names_the_protocols_ports(protocol: str, ports: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_transport("mail.example.com", "plain", "a@example.com", protocol=protocol)
    assert str(caught.value).endswith(f"choose SSL/TLS ({ports}")


def test_an_unknown_security_names_the_protocol() -> None:
    with pytest.raises(UsageError, match=r"Unknown SMTP security 'tls' for a@example\.com"):
        check_transport("127.0.0.1", "tls", "a@example.com", protocol="SMTP")


def test_plain_to_loopback_is_allowed() -> None:
    check_transport("127.0.0.1", "plain", "a@example.com", protocol="SMTP")
