"""An attachment's payload, read again from the raw message when someone downloads it.

The sync records a message's attachments (mime/parse.py) but keeps only the raw bytes, so
the download walks the raw message again. It walks the very list parse.py recorded
(`parse.attachment_parts`), so a record's index names its part; the Content-ID and the
file name only confirm it, or find the part should the walk ever have moved it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any

from emailsync.mime.params import content_type
from emailsync.mime.parse import attachment_parts, message_tree


@dataclass(frozen=True, slots=True)
class AttachmentData:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment as the store recorded it (a domain.model.Attachment, kept as JSON)."""

    filename: str = ""
    content_type: str = ""
    size: int = 0
    content_id: str = ""
    inline: bool = False

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StoredAttachment:
        return cls(
            filename=str(record.get("filename") or ""),
            content_type=str(record.get("content_type") or ""),
            size=int(record.get("size") or 0),
            content_id=str(record.get("content_id") or ""),
            inline=bool(record.get("inline") or False),
        )


def _content_id(part: Message) -> str:
    return str(part.get("content-id", "")).strip().strip("<>").strip()


def _the_part(parts: list[Message], want: StoredAttachment, index: int) -> Message | None:
    at = parts[index] if index < len(parts) else None
    if at is not None and (not want.content_id or _content_id(at) == want.content_id):
        return at
    if want.content_id:
        found = next((p for p in parts if _content_id(p) == want.content_id), None)
        if found is not None:
            return found
    if want.filename:
        found = next((p for p in parts if p.get_filename() == want.filename), None)
        if found is not None:
            return found
    return at


def find_attachment(
    raw: bytes, stored: Sequence[StoredAttachment], index: int
) -> AttachmentData | None:
    """The payload of the index-th attachment recorded for a message, from its raw bytes;
    None when the raw message does not hold it (any more). Never raises."""
    if not 0 <= index < len(stored):
        return None
    want = stored[index]
    try:
        match = _the_part(attachment_parts(message_tree(bytes(raw))), want, index)
        if match is None:
            return None
        data = match.get_payload(decode=True) or b""
    except Exception:
        return None
    if not isinstance(data, bytes):
        data = str(data).encode("utf-8")
    kind = want.content_type or content_type(match)
    return AttachmentData(want.filename or f"attachment-{index + 1}", kind, data)
