"""Reading conversations: the privacy rule applied to every read, the owner's manual
link / unlink / share actions, and `why` a message is linked (links themselves are
derived by domain.linking from the facts store.links loads).

Every road that reads mail (CLI, web pages, API) comes through `visible_thread_ids`,
`list_visible_threads` or `get_visible_thread`, which apply domain.privacy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from emailsync.domain.linking import LinkedRecord, ThreadLinks, counts_on_deal
from emailsync.domain.privacy import can_see_thread
from emailsync.errors import UsageError
from emailsync.store.links import links_of_threads, relink_deals, thread_infos
from emailsync.store.tables import (
    accounts,
    deals,
    message_addresses,
    message_locations,
    messages,
    organisations,
    person_emails,
    persons,
    thread_links,
    threads,
)

# LinkedRecord, ThreadLinks, links_of_threads and relink_deals are re-exported for the
# callers that still import them from here (web/api_crm.py); their homes are
# domain.linking and store.links.
__all__ = [
    "LinkedRecord",
    "MessageView",
    "ThreadDetail",
    "ThreadLinks",
    "ThreadSummary",
    "get_visible_thread",
    "link",
    "links_of_threads",
    "list_visible_threads",
    "person_emails_of",
    "relink_deals",
    "set_sharing",
    "summaries",
    "thread_owner",
    "unlink",
    "visible_thread_ids",
    "why",
]

# -- the privacy rule, applied ------------------------------------------------------------


def visible_thread_ids(conn: sa.Connection, viewer_id: int, thread_ids: Sequence[int]) -> set[int]:
    """Which of these threads the viewer may read (domain.privacy.can_see_thread)."""
    infos = thread_infos(conn, thread_ids)
    others = [t for t, i in infos.items() if i.owner_user_id != viewer_id and i.sharing == "shared"]
    links = links_of_threads(conn, others, viewer_id) if others else {}
    return {
        t
        for t, info in infos.items()
        if can_see_thread(
            viewer_id,
            info.owner_user_id,
            info.sharing,
            [r.ref() for r in links.get(t, ThreadLinks()).records()],
        )
    }


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    id: int
    subject: str
    last_message_at: datetime | None
    message_count: int
    owner_user_id: int
    account_email: str
    sharing: str
    participants: tuple[str, ...]
    snippet: str
    persons: tuple[LinkedRecord, ...]
    organisations: tuple[LinkedRecord, ...]
    deal: LinkedRecord | None
    unread: bool


def list_visible_threads(
    conn: sa.Connection,
    viewer_id: int,
    *,
    search: str = "",
    limit: int = 50,
    offset: int = 0,
) -> list[ThreadSummary]:
    """The viewer's threads and those shared with them, newest first."""
    query = (
        sa.select(threads.c.id)
        .join(accounts, accounts.c.id == threads.c.account_id)
        .where(sa.or_(accounts.c.user_id == viewer_id, threads.c.sharing == "shared"))
        .order_by(threads.c.last_message_at.desc(), threads.c.id.desc())
    )
    term = search.strip().lower()
    if term:
        like = f"%{_escape_like(term)}%"
        matching = (
            sa.select(messages.c.thread_id)
            .outerjoin(message_addresses, message_addresses.c.message_id == messages.c.id)
            .where(
                sa.or_(
                    sa.func.lower(messages.c.subject).like(like, escape="\\"),
                    sa.func.lower(messages.c.text_body).like(like, escape="\\"),
                    sa.func.lower(messages.c.from_name).like(like, escape="\\"),
                    message_addresses.c.email.like(like, escape="\\"),
                )
            )
        )
        query = query.where(threads.c.id.in_(matching))
    candidates: list[int] = list(conn.execute(query).scalars())
    visible = visible_thread_ids(conn, viewer_id, candidates)
    page = [t for t in candidates if t in visible][offset : offset + limit]
    return summaries(conn, page, viewer_id)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def summaries(
    conn: sa.Connection, thread_ids: Sequence[int], viewer_id: int
) -> list[ThreadSummary]:
    if not thread_ids:
        return []
    rows = {
        r.id: r
        for r in conn.execute(
            sa.select(threads, accounts.c.user_id, accounts.c.email.label("account_email"))
            .join(accounts, accounts.c.id == threads.c.account_id)
            .where(threads.c.id.in_(thread_ids))
        )
    }
    links = links_of_threads(conn, list(thread_ids), viewer_id)
    latest: dict[int, sa.Row] = {}
    for m in conn.execute(
        sa.select(
            messages.c.thread_id,
            messages.c.text_body,
            messages.c.from_email,
            messages.c.from_name,
            messages.c.internaldate,
        )
        .where(messages.c.thread_id.in_(thread_ids))
        .order_by(messages.c.internaldate)
    ):
        latest[m.thread_id] = m
    people: dict[int, list[str]] = {}
    for r in conn.execute(
        sa.select(messages.c.thread_id, message_addresses.c.email)
        .join(messages, messages.c.id == message_addresses.c.message_id)
        .where(messages.c.thread_id.in_(thread_ids), message_addresses.c.field != "bcc")
        .distinct()
        .order_by(message_addresses.c.email)
    ):
        people.setdefault(r.thread_id, []).append(r.email)
    unread_threads: set[int] = set(
        conn.execute(
            sa.select(messages.c.thread_id)
            .join(message_locations, message_locations.c.message_id == messages.c.id)
            .where(
                messages.c.thread_id.in_(thread_ids), ~message_locations.c.flags.like("%\\Seen%")
            )
        ).scalars()
    )
    result = []
    for t in thread_ids:
        row = rows[t]
        last = latest.get(t)
        link = links.get(t, ThreadLinks())
        snippet = " ".join((last.text_body if last else "").split())[:160]
        result.append(
            ThreadSummary(
                id=t,
                subject=row.subject,
                last_message_at=row.last_message_at,
                message_count=row.message_count,
                owner_user_id=row.user_id,
                account_email=row.account_email,
                sharing=row.sharing,
                participants=tuple(people.get(t, ())),
                snippet=snippet,
                persons=tuple(link.persons),
                organisations=tuple(link.organisations),
                deal=link.deal,
                unread=t in unread_threads,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    message_id: str
    subject: str
    from_email: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime
    direction: str
    text_body: str  # the HTML is read from the raw message when shown (web/mail_view)
    attachments: tuple[dict, ...]
    on_deal: bool


@dataclass(frozen=True, slots=True)
class ThreadDetail:
    summary: ThreadSummary
    messages: tuple[MessageView, ...]


def get_visible_thread(conn: sa.Connection, viewer_id: int, thread_id: int) -> ThreadDetail | None:
    """The thread with its messages, or None when it does not exist or is not the viewer's
    to see (the two are indistinguishable on purpose)."""
    if thread_id not in visible_thread_ids(conn, viewer_id, [thread_id]):
        return None
    summary = summaries(conn, [thread_id], viewer_id)[0]
    views = []
    for m in conn.execute(
        sa.select(messages)
        .where(messages.c.thread_id == thread_id)
        .order_by(messages.c.internaldate, messages.c.id)
    ):
        addrs = m.addresses or {}
        views.append(
            MessageView(
                id=m.id,
                message_id=m.message_id,
                subject=m.subject,
                from_email=m.from_email,
                from_name=m.from_name,
                to=tuple(a[0] for a in addrs.get("to", [])),
                cc=tuple(a[0] for a in addrs.get("cc", [])),
                date=m.date or m.internaldate,
                direction=m.direction,
                text_body=m.text_body,
                attachments=tuple(m.attachments),
                on_deal=summary.deal is not None
                and counts_on_deal(m.internaldate, summary.deal.closed_at),
            )
        )
    return ThreadDetail(summary, tuple(views))


def thread_owner(conn: sa.Connection, thread_id: int) -> int | None:
    return conn.execute(
        sa.select(accounts.c.user_id)
        .join(threads, threads.c.account_id == accounts.c.id)
        .where(threads.c.id == thread_id)
    ).scalar()


def _require_owner(conn: sa.Connection, user_id: int, thread_id: int) -> None:
    owner = thread_owner(conn, thread_id)
    if owner is None or (
        owner != user_id and thread_id not in visible_thread_ids(conn, user_id, [thread_id])
    ):
        raise UsageError(f"No thread {thread_id}")
    if owner != user_id:
        raise UsageError(f"Only the owner of thread {thread_id} can change it")


def set_sharing(conn: sa.Connection, user_id: int, thread_id: int, sharing: str) -> None:
    if sharing not in ("private", "shared"):
        raise UsageError("Sharing is either private or shared")
    _require_owner(conn, user_id, thread_id)
    conn.execute(threads.update().where(threads.c.id == thread_id).values(sharing=sharing))


def link(conn: sa.Connection, user_id: int, thread_id: int, kind: str, target_id: int) -> None:
    """Link a thread by hand to a person, organisation or deal (a deal replaces the
    current one and is never changed by the linker afterwards)."""
    _require_owner(conn, user_id, thread_id)
    if kind == "deal":
        if not conn.execute(sa.select(deals.c.id).where(deals.c.id == target_id)).first():
            raise UsageError(f"No deal {target_id}")
        conn.execute(
            threads.update()
            .where(threads.c.id == thread_id)
            .values(deal_id=target_id, deal_link_manual=True, deal_link_reason="linked by hand")
        )
        return
    table = {"person": persons, "organisation": organisations}.get(kind)
    if table is None:
        raise UsageError("Link to a person, organisation or deal")
    if not conn.execute(sa.select(table.c.id).where(table.c.id == target_id)).first():
        raise UsageError(f"No {kind} {target_id}")
    _set_override(conn, thread_id, kind, target_id, manual=True, removed=False)


def unlink(conn: sa.Connection, user_id: int, thread_id: int, kind: str, target_id: int) -> None:
    """Remove a link, automatic or manual; the linker will not add it back."""
    _require_owner(conn, user_id, thread_id)
    if kind == "deal":
        current = conn.execute(
            sa.select(threads.c.deal_id).where(threads.c.id == thread_id)
        ).scalar()
        if current != target_id:
            raise UsageError(f"Thread {thread_id} is not on deal {target_id}")
        conn.execute(
            threads.update()
            .where(threads.c.id == thread_id)
            .values(deal_id=None, deal_link_manual=True, deal_link_reason="unlinked by hand")
        )
        return
    if kind not in ("person", "organisation"):
        raise UsageError("Unlink a person, organisation or deal")
    _set_override(conn, thread_id, kind, target_id, manual=True, removed=True)


def _set_override(
    conn: sa.Connection,
    thread_id: int,
    kind: str,
    target_id: int,
    *,
    manual: bool,
    removed: bool,
) -> None:
    conn.execute(
        thread_links.delete().where(
            thread_links.c.thread_id == thread_id,
            thread_links.c.kind == kind,
            thread_links.c.target_id == target_id,
        )
    )
    conn.execute(
        thread_links.insert().values(
            thread_id=thread_id,
            kind=kind,
            target_id=target_id,
            manual=manual,
            removed=removed,
            reason="by hand",
        )
    )


def person_emails_of(conn: sa.Connection, person_id: int) -> list[str]:
    return list(
        conn.execute(
            sa.select(person_emails.c.email).where(person_emails.c.person_id == person_id)
        ).scalars()
    )


# -- why --------------------------------------------------------------------------------


def why(conn: sa.Connection, viewer_id: int, message_pk: int) -> list[str]:
    """Every link of a message, each with the reason it was made."""
    row = conn.execute(
        sa.select(messages.c.thread_id, messages.c.internaldate).where(messages.c.id == message_pk)
    ).first()
    if row is None or row.thread_id is None:
        raise UsageError(f"No message {message_pk}")
    detail = get_visible_thread(conn, viewer_id, row.thread_id)
    if detail is None:
        raise UsageError(f"No message {message_pk}")
    lines = [f"thread {row.thread_id}"]
    links = links_of_threads(conn, [row.thread_id], viewer_id)[row.thread_id]
    for p in links.persons:
        lines.append(f"person {p.name}: {p.reason}")
    for o in links.organisations:
        lines.append(f"organisation {o.name}: {o.reason}")
    if links.deal:
        on_deal = next(m.on_deal for m in detail.messages if m.id == message_pk)
        note = (
            ""
            if on_deal
            else " (the deal was closed before this message arrived: not counted on it)"
        )
        lines.append(f"deal {links.deal.name}: {links.deal.reason}{note}")
    if len(lines) == 1:
        lines.append(
            "no links you can see: no participant is a CRM contact you can see, "
            "nor at the domain of such an organisation"
        )
    return lines
