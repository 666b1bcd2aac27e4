"""Folder role detection from LIST attributes and names (RFC 6154, Gmail XLIST)."""

from __future__ import annotations

import pytest

from emailsync.domain.model import FolderRole
from emailsync.imap.folders import role_for


@pytest.mark.parametrize(
    ("flag", "role"),
    [
        ("\\Sent", FolderRole.SENT),
        ("\\Archive", FolderRole.ARCHIVE),
        ("\\Trash", FolderRole.TRASH),
        ("\\Junk", FolderRole.JUNK),
        ("\\Drafts", FolderRole.DRAFTS),
        ("\\All", FolderRole.ALL),
        ("\\Flagged", FolderRole.FLAGGED),
    ],
)
def test_special_use_attribute_gives_the_role(flag: str, role: FolderRole) -> None:
    """RFC 6154 §2: the attribute names the role whatever the folder is called."""
    assert role_for("Whatever", ("\\HasNoChildren", flag), "/") is role


@pytest.mark.parametrize(
    ("flag", "role"),
    [
        ("\\Inbox", FolderRole.INBOX),
        ("\\Spam", FolderRole.JUNK),
        ("\\AllMail", FolderRole.ALL),
        ("\\Starred", FolderRole.FLAGGED),
    ],
)
def test_gmail_xlist_attributes_are_understood(flag: str, role: FolderRole) -> None:
    assert role_for("[Gmail]/Something", (flag,), "/") is role


def test_attributes_match_case_insensitively() -> None:
    """RFC 3501 §9: flag and attribute names are case-insensitive atoms."""
    assert role_for("x", ("\\SENT",), "/") is FolderRole.SENT


def test_attribute_wins_over_the_name() -> None:
    assert role_for("Sent", ("\\Archive",), "/") is FolderRole.ARCHIVE


def test_gmail_important_is_not_a_role_and_falls_back_to_the_name() -> None:
    assert role_for("[Gmail]/Important", ("\\Important",), "/") is FolderRole.NONE


@pytest.mark.parametrize("name", ["INBOX", "inbox", "Inbox", "iNbOx"])
def test_inbox_is_case_insensitive(name: str) -> None:
    """RFC 3501 §5.1: INBOX is case-insensitive."""
    assert role_for(name, (), "/") is FolderRole.INBOX


def test_a_child_named_inbox_is_not_the_inbox() -> None:
    assert role_for("Projects/INBOX", (), "/") is FolderRole.NONE


@pytest.mark.parametrize(
    ("name", "delimiter", "role"),
    [
        ("Sent", "/", FolderRole.SENT),
        ("Sent Items", "/", FolderRole.SENT),
        ("Sent Messages", "/", FolderRole.SENT),
        ("[Gmail]/Sent Mail", "/", FolderRole.SENT),
        ("INBOX.Sent", ".", FolderRole.SENT),
        ("Gesendet", "/", FolderRole.SENT),
        ("Gesendete Objekte", "/", FolderRole.SENT),
        ("Envoyés", "/", FolderRole.SENT),
        ("Elementos enviados", "/", FolderRole.SENT),
        ("Posta inviata", "/", FolderRole.SENT),
        ("Drafts", "/", FolderRole.DRAFTS),
        ("INBOX.Entwürfe", ".", FolderRole.DRAFTS),
        ("Brouillons", "/", FolderRole.DRAFTS),
        ("Trash", "/", FolderRole.TRASH),
        ("Deleted Items", "/", FolderRole.TRASH),
        ("Deleted Messages", "/", FolderRole.TRASH),
        ("[Gmail]/Bin", "/", FolderRole.TRASH),
        ("Papierkorb", "/", FolderRole.TRASH),
        ("Corbeille", "/", FolderRole.TRASH),
        ("Spam", "/", FolderRole.JUNK),
        ("Junk E-mail", "/", FolderRole.JUNK),
        ("Bulk Mail", "/", FolderRole.JUNK),
        ("INBOX.Junk", ".", FolderRole.JUNK),
        ("Archive", "/", FolderRole.ARCHIVE),
        ("Archiv", "/", FolderRole.ARCHIVE),
        ("[Gmail]/All Mail", "/", FolderRole.ALL),
        ("[Gmail]/Starred", "/", FolderRole.FLAGGED),
    ],
)
def test_well_known_names_give_a_role(name: str, delimiter: str, role: FolderRole) -> None:
    """Servers without SPECIAL-USE: match the last path component, any case."""
    assert role_for(name, (), delimiter) is role
    assert role_for(name.upper(), (), delimiter) is role


def test_decomposed_unicode_names_match() -> None:
    """Mac clients may create "Envoyés" in NFD form."""
    assert role_for("Envoye\u0301s", (), "/") is FolderRole.SENT


def test_only_the_last_component_counts() -> None:
    assert role_for("Sent/Projects", (), "/") is FolderRole.NONE


def test_flat_namespace_without_delimiter() -> None:
    """LIST may return NIL as the delimiter (RFC 3501 §7.2.2)."""
    assert role_for("Sent Items", (), "") is FolderRole.SENT


def test_unknown_names_have_no_role() -> None:
    assert role_for("Customers/ACME", (), "/") is FolderRole.NONE
