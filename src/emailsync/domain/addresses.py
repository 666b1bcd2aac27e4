"""Email-address match keys for linking messages to CRM contacts.

Pure and stdlib only. These functions do not *parse* headers (that is `mime.addresses`); they
turn one already-extracted address into the key that contacts are matched on.

Why the whole address is lowercased, local part included: RFC 5321 lets a server treat the
local part as case-sensitive, but no mainstream provider does, and people type
`John.Smith@` and `john.smith@` for the same mailbox. The key is only used to *match* a
message to a contact, never to send mail, and the raw message (with the original case) is
always stored beside it. Missing a link because of case is a far likelier error than
merging two mailboxes that differ only in case, so the key is case-insensitive throughout.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata

__all__ = ["email_domain", "is_same_or_subdomain", "normalize_domain", "normalize_email"]

# Characters that never appear in a usable address outside a quoted local part.
_FORBIDDEN = frozenset("<>")


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def _has_space_or_control(s: str) -> bool:
    return _SPACE_OR_CONTROL.search(s) is not None


def normalize_domain(domain: str) -> str:
    """Return the comparable form of a domain, or "" when it cannot be one.

    Lowercased, one trailing root dot removed, non-ASCII names IDNA-encoded (stdlib `idna`
    codec, i.e. IDNA 2003) so `bücher.example` and `xn--bcher-kva.example` match. When the
    codec refuses a name (IDNA 2008-only characters, over-long labels) the lowercased unicode
    is kept: a stable key matters more than a canonical one.
    """
    d = domain.strip()
    if d.endswith(".") and not d.endswith(".."):
        d = d[:-1]
    if not d or _has_space_or_control(d) or "@" in d or any(c in _FORBIDDEN for c in d):
        return ""
    if d.startswith("[") and d.endswith("]"):  # domain literal: [192.0.2.1]
        return d.lower() if len(d) > 2 else ""
    d = unicodedata.normalize("NFC", d.lower())
    if not d.isascii():
        with contextlib.suppress(UnicodeError, ValueError):  # else keep lowercased unicode
            d = d.encode("idna").decode("ascii").lower()
    if any(not label for label in d.split(".")) or _has_space_or_control(d):
        return ""  # nameprep can map a character to a space (´ → " ́"): not a domain
    return d


def _split(addr: str) -> tuple[str, str] | None:
    s = addr.strip()
    if len(s) >= 2 and s[0] == "<" and s[-1] == ">":
        s = s[1:-1].strip()
    if not s or _has_space_or_control(s) or any(c in _FORBIDDEN for c in s):
        return None
    local, sep, domain = s.rpartition("@")
    if not sep or not local or not domain:
        return None
    # A second "@" is only legal inside a quoted local part; anything else is two
    # addresses glued together or junk, and must not become a match key.
    if "@" in local and not (len(local) >= 2 and local[0] == '"' and local[-1] == '"'):
        return None
    return local, domain


def normalize_email(addr: str) -> str:
    """The match key for one address: `Local@Bücher.Example` → `local@xn--bcher-kva.example`.

    Strips whitespace and one pair of surrounding angle brackets, lowercases the whole
    address (see the module docstring for why the local part too) and IDNA-encodes the
    domain. Returns "" for anything that is not a single address (no "@", empty local part
    or domain, whitespace inside), so callers can drop it. Idempotent.
    """
    parts = _split(addr)
    if parts is None:
        return ""
    local, domain = parts
    norm_domain = normalize_domain(domain)
    if not norm_domain:
        return ""
    return f"{unicodedata.normalize('NFC', local.lower())}@{norm_domain}"


def email_domain(addr: str) -> str:
    """The normalised domain of an address, "" when `addr` is not an address."""
    key = normalize_email(addr)
    return key.rpartition("@")[2] if key else ""


def is_same_or_subdomain(domain: str, parent: str) -> bool:
    """True when `domain` is `parent` or lies under it (`mail.acme.com` under `acme.com`).

    Compares whole labels, so `notacme.com` is not under `acme.com`. Both sides are
    normalised first; an empty or invalid side never matches.
    """
    d = normalize_domain(domain)
    p = normalize_domain(parent)
    if not d or not p:
        return False
    return d == p or d.endswith("." + p)
