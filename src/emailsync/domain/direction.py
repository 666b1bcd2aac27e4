"""Sent or received, from the account's point of view."""

from __future__ import annotations

from collections.abc import Iterable

from emailsync.domain.model import FolderRole


def direction(from_emails: Iterable[str], own_emails: frozenset[str], role: FolderRole) -> str:
    """Mail in the Sent role is sent; elsewhere, mail from the account's own addresses is."""
    if role is FolderRole.SENT:
        return "sent"
    return "sent" if any(e in own_emails for e in from_emails) else "received"
