"""How the inbox shows what services.inbox reads: addresses, dates, link names and a
message's sanitised body document. Typed on the store's values (ThreadSummary,
MessageView); nothing here reads the database or decides who sees what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from emailsync.mime.extract import StoredAttachment
from emailsync.services.inbox import PAGE_SIZE, attachments_of
from emailsync.store.conversations import LinkedRecord, MessageView
from emailsync.web import bodies

__all__ = ["PAGE_SIZE", "Sender", "attachments_of", "body_html", "held_back_images"]


@dataclass(frozen=True, slots=True)
class Sender:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def people(emails: Iterable[str]) -> list[Sender]:
    """Addresses the store keeps without a name (participants, To, Cc)."""
    return [Sender("", email) for email in emails]


def sender_of(message: MessageView) -> list[Sender]:
    return [Sender(message.from_name or "", message.from_email or "")]


def names(records: Iterable[LinkedRecord]) -> list[str]:
    """Names of linked CRM records (persons, organisations, a deal)."""
    return [r.name for r in records if r.name]


def when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y %H:%M") if moment else ""


def held_back_images(
    messages: Iterable[MessageView], html: dict[int, str], *, thread_id: int, images: set[str]
) -> set[int]:
    """The messages whose remote images are hidden on this view of the thread."""
    held: set[int] = set()
    for m in messages:
        _doc, blocked = body_html(
            m, html[m.id], thread_id=thread_id, show_images=str(m.id) in images
        )
        if blocked:
            held.add(m.id)
    return held


def body_html(
    message: MessageView, html_body: str, *, thread_id: int, show_images: bool
) -> tuple[str, bool]:
    """The sanitised body document of a message (`html_body`: services.inbox.html_bodies)
    and whether remote images were held back."""
    stored: list[StoredAttachment] = attachments_of(message)
    by_cid = {a.content_id: n for n, a in enumerate(stored)}

    def cid_url(cid: str) -> str | None:
        if cid in by_cid:
            return f"/inbox/threads/{thread_id}/messages/{message.id}/attachments/{by_cid[cid]}"
        return None

    if html_body.strip():
        fragment, blocked = bodies.sanitize_html(
            html_body, show_images=show_images, cid_url=cid_url
        )
    else:
        fragment, blocked = bodies.text_as_html(message.text_body or ""), False
    return bodies.body_document(fragment), blocked
