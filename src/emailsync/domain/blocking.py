"""A user's blocked addresses and domains, and when they keep a message out.

Pipedrive screens a message only when its sole sender is blocked. We screen it when
EVERY participant other than the user is blocked: a newsletter from a blocked domain
stays out, but a thread where a blocked address is copied alongside a real customer is
still synced. A domain entry covers its subdomains (blocking example.com also blocks
mail.example.com), never look-alikes (notexample.com).
"""

from __future__ import annotations

from collections.abc import Iterable

from emailsync.domain.addresses import (
    email_domain,
    is_same_or_subdomain,
    normalize_domain,
    normalize_email,
)


def normalize_pattern(pattern: str) -> str:
    """An address, or a domain (with or without a leading @ or *.); "" when neither."""
    p = pattern.strip()
    if "@" in p.lstrip("@"):
        return normalize_email(p)
    return normalize_domain(p.lstrip("@").removeprefix("*."))


def is_blocked(email: str, patterns: frozenset[str]) -> bool:
    if email in patterns:
        return True
    domain = email_domain(email)
    return any("@" not in p and is_same_or_subdomain(domain, p) for p in patterns)


def screened_by_block(
    participants: Iterable[str], own_emails: frozenset[str], patterns: frozenset[str]
) -> bool:
    """True when the message involves nobody but the user and blocked addresses."""
    if not patterns:
        return False
    others = [e for e in participants if e not in own_emails]
    return bool(others) and all(is_blocked(e, patterns) for e in others)
