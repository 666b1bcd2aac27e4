"""The inbox's view of store.conversations: visibility is decided there (domain.privacy), never
here. This module only reads the shapes the store returns and turns them into what the
pages and the API show, and serves a message's body and attachments once the store has
said the viewer may see its thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from emailsync.errors import NotFound, UsageError
from emailsync.store import messages as message_store
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles
from emailsync.web import bodies

PAGE_SIZE = 50


def _threads() -> Any:
    from emailsync.store import conversations  # the one privacy rule is applied there

    return conversations


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute (or key) of `names`: tolerant of small shape changes."""
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def list_threads(
    engine: sa.Engine, viewer_id: int, *, search: str = "", limit: int = PAGE_SIZE, offset: int = 0
) -> list[Any]:
    with reading(engine) as conn:
        return list(
            _threads().list_visible_threads(
                conn, viewer_id, search=search, limit=limit, offset=offset
            )
        )


def get_thread(engine: sa.Engine, viewer_id: int, thread_id: int) -> Any:
    with reading(engine) as conn:
        detail = _threads().get_visible_thread(conn, viewer_id, thread_id)
    if detail is None:
        raise NotFound(f"There is no conversation {thread_id} you can open")
    return detail


def summary_of(detail: Any) -> Any:
    return field(detail, "summary", default=detail)


def messages_of(detail: Any) -> list[Any]:
    return list(field(detail, "messages", default=[]) or [])


def set_sharing(engine: sa.Engine, viewer_id: int, thread_id: int, sharing: str) -> None:
    if sharing not in ("private", "shared"):
        raise UsageError("Sharing is either private or shared")
    get_thread(engine, viewer_id, thread_id)  # 404 for threads the viewer cannot see
    with engine.begin() as conn:
        _threads().set_sharing(conn, viewer_id, thread_id, sharing)


def find_message(engine: sa.Engine, viewer_id: int, thread_id: int, message_id: int) -> Any:
    for message in messages_of(get_thread(engine, viewer_id, thread_id)):
        if field(message, "id") == message_id:
            return message
    raise NotFound(f"There is no message {message_id} in conversation {thread_id}")


def attachments_of(message: Any) -> list[Mapping[str, Any]]:
    items = field(message, "attachments", default=[]) or []
    out = []
    for item in items:
        if isinstance(item, Mapping):
            out.append(item)
        elif isinstance(item, str):
            out.append({"filename": item})
        else:
            out.append(
                {
                    "filename": field(item, "filename", default=""),
                    "content_type": field(item, "content_type", default=""),
                    "size": field(item, "size", default=0),
                    "content_id": field(item, "content_id", default=""),
                    "inline": field(item, "inline", default=False),
                }
            )
    return out


def attachment(
    engine: sa.Engine,
    viewer_id: int,
    thread_id: int,
    message_id: int,
    index: int,
    *,
    raw_files: RawFiles | None,
) -> bodies.AttachmentData:
    message = find_message(engine, viewer_id, thread_id, message_id)
    with reading(engine) as conn:
        raw = message_store.raw_message(conn, message_id, raw_files)
    found = bodies.find_attachment(raw or b"", attachments_of(message), index)
    if found is None:
        raise NotFound(f"Message {message_id} has no attachment number {index + 1}")
    return found


def html_bodies(
    engine: sa.Engine, message_ids: list[int], raw_files: RawFiles | None
) -> dict[int, str]:
    """The messages' HTML bodies as sent, read from their raw copies: only the raw message
    is kept (store/raw.py), and parsing one again takes about a millisecond. Call it only
    for messages whose thread the viewer may see."""
    from emailsync.mime.parse import parse_message

    with reading(engine) as conn:
        raws = {pk: message_store.raw_message(conn, pk, raw_files) for pk in message_ids}
    return {pk: parse_message(raw).html_body if raw else "" for pk, raw in raws.items()}


def held_back_images(
    messages: list[Any], html: dict[int, str], *, thread_id: int, images: set[str]
) -> set[int]:
    """The messages whose remote images are hidden on this view of the thread."""
    held: set[int] = set()
    for m in messages:
        pk = field(m, "id")
        _doc, blocked = body_html(m, html[pk], thread_id=thread_id, show_images=str(pk) in images)
        if blocked:
            held.add(pk)
    return held


def body_html(
    message: Any, html_body: str, *, thread_id: int, show_images: bool
) -> tuple[str, bool]:
    """The sanitised body document of a message (`html_body`: from `html_bodies`) and whether
    remote images were held back."""
    message_id = field(message, "id")
    stored = attachments_of(message)
    by_cid = {str(a.get("content_id") or ""): n for n, a in enumerate(stored)}

    def cid_url(cid: str) -> str | None:
        if cid in by_cid:
            return f"/inbox/threads/{thread_id}/messages/{message_id}/attachments/{by_cid[cid]}"
        return None

    if html_body.strip():
        fragment, blocked = bodies.sanitize_html(
            html_body, show_images=show_images, cid_url=cid_url
        )
    else:
        fragment, blocked = (
            bodies.text_as_html(field(message, "text_body", default="") or ""),
            False,
        )
    return bodies.body_document(fragment), blocked


@dataclass(frozen=True, slots=True)
class Sender:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def people(value: Any) -> list[Sender]:
    """Addresses in any of the shapes a store may give: "a@b", [email, name], objects."""
    if value is None:
        return []
    single = isinstance(value, str | Mapping) or not isinstance(value, list | tuple)
    pair = (  # one [email, name] pair rather than a list of addresses
        not single and len(value) == 2 and isinstance(value[0], str) and "@" not in str(value[1])
    )
    if single or pair:
        value = [value]
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(Sender("", item))
        elif isinstance(item, Mapping):
            out.append(Sender(str(item.get("name") or ""), str(item.get("email") or "")))
        elif isinstance(item, list | tuple):
            email = str(item[0]) if item else ""
            name = str(item[1]) if len(item) > 1 and item[1] else ""
            out.append(Sender(name, email))
        else:
            out.append(Sender(str(field(item, "name", default="") or ""),
                              str(field(item, "email", default="") or "")))  # fmt: skip
    return out


def sender_of(message: Any) -> list[Sender]:
    value = field(message, "from_", "sender", "from", default=None)
    if value is None:
        value = (field(message, "from_email", default=""), field(message, "from_name", default=""))
        value = [list(value)]
    return people(value)


def names(value: Any) -> list[str]:
    """Names of linked CRM records (persons/organisation/deal) whatever their shape."""
    if value is None or value == "":
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        else:
            out.append(str(field(item, "name", "title", default="") or ""))
    return [n for n in out if n]


def when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y %H:%M") if moment else ""
