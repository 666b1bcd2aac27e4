"""Frozen value types shared by the layers of the data flow.

account → connection → folder sync → parse → link → store. Each layer passes these
values to the next, so no layer needs another layer's library objects (imapclient
responses, email.message objects, SQLAlchemy rows).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _reduce_by_fields(self: Any) -> tuple[type, tuple[object, ...]]:
    """Pickle as (class, field values). The pickling that dataclasses generate for
    slots classes walks `fields()` for every object; parsed messages cross a process
    boundary by the thousand on a big sync, and that walk took a second of its CPU."""
    return type(self), tuple(getattr(self, name) for name in self.__slots__)


class FolderRole(enum.StrEnum):
    INBOX = "inbox"
    SENT = "sent"
    ARCHIVE = "archive"
    TRASH = "trash"
    JUNK = "junk"
    DRAFTS = "drafts"
    ALL = "all"
    FLAGGED = "flagged"
    NONE = ""


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header. `email` is normalised (see domain.addresses)."""

    email: str
    name: str = ""

    __reduce__ = _reduce_by_fields


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content_id: str = ""
    inline: bool = False

    __reduce__ = _reduce_by_fields


@dataclass(frozen=True, slots=True)
class Participants:
    """Who a message involves: what the contacts scope and linking look at."""

    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()

    def emails(self) -> frozenset[str]:
        return frozenset(
            a.email
            for group in (self.from_, self.sender, self.reply_to, self.to, self.cc, self.bcc)
            for a in group
            if a.email
        )

    __reduce__ = _reduce_by_fields


@dataclass(frozen=True, slots=True)
class HeaderSummary:
    """The few headers fetched before a body is downloaded (contacts scope, re-mapping)."""

    message_id: str
    participants: Participants


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything derived from the raw bytes. The raw bytes are always stored beside it,
    so a better parser can rebuild this later."""

    message_id: str  # without angle brackets, "" when absent
    in_reply_to: str
    references: tuple[str, ...]
    date: datetime | None  # timezone-aware UTC, None when missing or unreadable
    subject: str
    participants: Participants
    text_body: str
    html_body: str  # raw HTML as sent: sanitise before any browser sees it
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    # what makes the message itself beside its Message-ID (mime/fingerprint.py); ""
    # when not computed (a message built by hand): then the Message-ID alone decides
    fingerprint: str = ""

    __reduce__ = _reduce_by_fields


@dataclass(frozen=True, slots=True)
class ServerFolder:
    """A folder as LIST shows it."""

    name: str
    role: FolderRole
    flags: tuple[str, ...] = ()
    selectable: bool = True


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT says about a folder right now."""

    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None  # None when the server has no CONDSTORE


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as FETCH returned it. `raw` is None when only headers were fetched."""

    uid: int
    internaldate: datetime  # timezone-aware UTC
    flags: tuple[str, ...]
    size: int
    modseq: int | None = None
    raw: bytes | None = None
    header_bytes: bytes | None = None

    __reduce__ = _reduce_by_fields


@dataclass(frozen=True, slots=True)
class FlagChange:
    uid: int
    flags: tuple[str, ...]
    modseq: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    condstore: bool = False
    qresync: bool = False
    idle: bool = False
    special_use: bool = False
    move: bool = False
    uidplus: bool = False
    raw: frozenset[str] = field(default_factory=frozenset)
