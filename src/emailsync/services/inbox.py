"""Inbox reads as the pages and the API run them: the threads a user may see, one thread
with its messages, a message's HTML body and attachments, and the sharing switch.

Visibility is decided in store.conversations (the one privacy rule, domain.privacy),
never here: a thread the viewer may not see is NotFound, exactly like one that does not
exist. Bodies and attachments are read from the raw message only after that check.
"""

from __future__ import annotations

import sqlalchemy as sa

from emailsync.domain.states import Sharing
from emailsync.errors import NotFound, UsageError
from emailsync.mime.extract import AttachmentData, StoredAttachment, find_attachment
from emailsync.mime.parse import parse_message
from emailsync.store import conversations
from emailsync.store import messages as message_store
from emailsync.store.conversations import MessageView, ThreadDetail, ThreadSummary
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles

PAGE_SIZE = 50


def list_threads(
    engine: sa.Engine, viewer_id: int, *, search: str = "", limit: int = PAGE_SIZE, offset: int = 0
) -> list[ThreadSummary]:
    with reading(engine) as conn:
        return list(
            conversations.list_visible_threads(
                conn, viewer_id, search=search, limit=limit, offset=offset
            )
        )


def get_thread(engine: sa.Engine, viewer_id: int, thread_id: int) -> ThreadDetail:
    with reading(engine) as conn:
        detail = conversations.get_visible_thread(conn, viewer_id, thread_id)
    if detail is None:
        raise NotFound(f"There is no conversation {thread_id} you can open")
    return detail


def set_sharing(engine: sa.Engine, viewer_id: int, thread_id: int, sharing: str) -> None:
    """Owner only (a UsageError for others who can see the thread)."""
    if sharing not in (Sharing.PRIVATE, Sharing.SHARED):
        raise UsageError("Sharing is either private or shared")
    get_thread(engine, viewer_id, thread_id)  # NotFound for threads the viewer cannot see
    with engine.begin() as conn:
        conversations.set_sharing(conn, viewer_id, thread_id, sharing)


def find_message(engine: sa.Engine, viewer_id: int, thread_id: int, message_id: int) -> MessageView:
    for message in get_thread(engine, viewer_id, thread_id).messages:
        if message.id == message_id:
            return message
    raise NotFound(f"There is no message {message_id} in conversation {thread_id}")


def attachments_of(message: MessageView) -> list[StoredAttachment]:
    """The attachments recorded for a message at sync (mime/parse.py's records)."""
    return [StoredAttachment.of(a) for a in message.attachments]


def attachment(
    engine: sa.Engine,
    viewer_id: int,
    thread_id: int,
    message_id: int,
    index: int,
    *,
    raw_files: RawFiles | None,
) -> AttachmentData:
    message = find_message(engine, viewer_id, thread_id, message_id)
    with reading(engine) as conn:
        raw = message_store.raw_message(conn, message_id, raw_files)
    found = find_attachment(raw or b"", attachments_of(message), index)
    if found is None:
        raise NotFound(f"Message {message_id} has no attachment number {index + 1}")
    return found


def html_bodies(
    engine: sa.Engine, message_ids: list[int], raw_files: RawFiles | None
) -> dict[int, str]:
    """The messages' HTML bodies as sent, read from their raw copies: only the raw message
    is kept (store/raw.py), and parsing one again takes about a millisecond. Call it only
    for messages whose thread the viewer may see."""
    with reading(engine) as conn:
        raws = {pk: message_store.raw_message(conn, pk, raw_files) for pk in message_ids}
    return {pk: parse_message(raw).html_body if raw else "" for pk, raw in raws.items()}
