"""Match keys for addresses: emailsync.domain.addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emailsync.domain.addresses import (
    email_domain,
    is_same_or_subdomain,
    normalize_domain,
    normalize_email,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM  ", "alice@example.com"),
        ("<Bob@Example.org>", "bob@example.org"),
        (" < bob@example.org > ", "bob@example.org"),
        ("jdoe@example.com.", "jdoe@example.com"),
        ("user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk"),
        ("Jöhn@Bücher.Example", "jöhn@xn--bcher-kva.example"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("root@[192.0.2.1]", "root@[192.0.2.1]"),
        ('"a@b"@example.com', '"a@b"@example.com'),
    ],
)
def test_normalize_email_accepts_and_canonicalises(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "@example.com",
        "alice@",
        "ali ce@example.com",
        "alice@exa mple.com",
        "alice@example..com",
        "alice@.example.com",
        "a@b@c.com",
        "<<alice@example.com>>",
        "alice@example.com>",
        "alice\x00@example.com",
        "alice@example.com\tbob@example.com",
    ],
)
def test_normalize_email_rejects_non_addresses(raw: str) -> None:
    assert normalize_email(raw) == ""


def test_normalize_email_falls_back_to_unicode_when_idna_refuses() -> None:
    # U+00DF is fine, but a 64+ character label makes the idna codec raise.
    long_label = "ü" * 70
    assert normalize_email(f"a@{long_label}.example") == f"a@{long_label}.example"


def test_email_domain() -> None:
    assert email_domain("Alice <no>") == ""
    assert email_domain("Alice@Mail.Example.COM") == "mail.example.com"
    assert email_domain("x@Bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("domain", "parent", "expected"),
    [
        ("acme.com", "acme.com", True),
        ("Mail.ACME.com", "acme.com", True),
        ("a.b.acme.com.", "ACME.COM", True),
        ("notacme.com", "acme.com", False),
        ("acme.com", "mail.acme.com", False),
        ("acme.com.evil.org", "acme.com", False),
        ("", "acme.com", False),
        ("acme.com", "", False),
        ("mail.bücher.example", "xn--bcher-kva.example", True),
    ],
)
def test_is_same_or_subdomain(domain: str, parent: str, expected: bool) -> None:
    assert is_same_or_subdomain(domain, parent) is expected


# --- properties -----------------------------------------------------------------------------

_local = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=20)
_label = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=15)
_domain = st.lists(_label, min_size=1, max_size=4).map(".".join)
_address_like = st.one_of(
    st.text(),
    st.builds(lambda lp, d: f"{lp}@{d}", _local, _domain),
    st.builds(lambda lp, d: f" <{lp}@{d}> ", _local, _domain),
    st.emails(),
)


@given(_address_like)
def test_normalize_email_is_idempotent(raw: str) -> None:
    once = normalize_email(raw)
    assert normalize_email(once) == once


@given(_address_like)
def test_normalize_email_output_is_empty_or_a_clean_key(raw: str) -> None:
    key = normalize_email(raw)
    if key:
        assert key == key.strip()
        assert not any(c.isspace() for c in key)
        assert "<" not in key and ">" not in key
        local, _, domain = key.rpartition("@")
        assert local and domain
        assert key.lower() == key or not key.isascii()


@given(st.emails())
def test_normalize_email_accepts_every_valid_address_case_insensitively(addr: str) -> None:
    assert normalize_email(addr) != ""
    assert normalize_email(addr.upper()) == normalize_email(addr.lower())


@given(_domain)
def test_normalize_domain_is_idempotent(domain: str) -> None:
    once = normalize_domain(domain)
    assert normalize_domain(once) == once


@given(st.emails())
def test_domain_is_under_itself(addr: str) -> None:
    domain = email_domain(addr)
    assert is_same_or_subdomain(domain, domain)
    assert is_same_or_subdomain("sub." + domain, domain)
