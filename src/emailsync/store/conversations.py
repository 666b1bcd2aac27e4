"""Reading conversations: their links to CRM records (with the reasons, in words), the
privacy rule applied to every read, and the manual link / unlink / share actions.

Automatic person and organisation links are not stored: they are derived from the
participants each time, so a contact added later links the mail already synced
(retroactive by construction). What is stored is what cannot be derived: the user's own
links and unlinks (thread_links) and the deal a thread was put on (threads.deal_id),
because "once linked, the thread stays on that deal".

Every road that reads mail (CLI, web pages, API) comes through `visible_thread_ids`,
`list_visible_threads` or `get_visible_thread`, which apply domain.privacy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from emailsync.domain.addresses import email_domain
from emailsync.domain.privacy import RecordRef, can_see_record, can_see_thread
from emailsync.errors import UsageError
from emailsync.store.tables import (
    accounts,
    deals,
    message_addresses,
    messages,
    organisation_domains,
    organisations,
    person_emails,
    persons,
    thread_links,
    threads,
)

FIELD_NAMES = {
    "from": "From",
    "sender": "Sender",
    "reply_to": "Reply-To",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
}


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    kind: str  # person | organisation | deal
    id: int
    name: str
    reason: str
    manual: bool
    owner_user_id: int | None
    visibility: str

    def ref(self) -> RecordRef:
        return RecordRef(self.owner_user_id, self.visibility)


@dataclass(slots=True)
class ThreadLinks:
    persons: list[LinkedRecord] = field(default_factory=list)
    organisations: list[LinkedRecord] = field(default_factory=list)
    deal: LinkedRecord | None = None

    def records(self) -> list[LinkedRecord]:
        return [*self.persons, *self.organisations, *([self.deal] if self.deal else [])]


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    id: int
    account_id: int
    owner_user_id: int
    own_emails: frozenset[str]
    sharing: str
    deal_id: int | None
    deal_link_manual: bool
    deal_link_reason: str | None


def _thread_infos(conn: sa.Connection, thread_ids: Iterable[int]) -> dict[int, ThreadInfo]:
    ids = list(thread_ids)
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(
            threads.c.id,
            threads.c.account_id,
            threads.c.sharing,
            threads.c.deal_id,
            threads.c.deal_link_manual,
            threads.c.deal_link_reason,
            accounts.c.user_id,
            accounts.c.email,
            accounts.c.aliases,
        )
        .join(accounts, accounts.c.id == threads.c.account_id)
        .where(threads.c.id.in_(ids))
    )
    return {
        r.id: ThreadInfo(
            r.id,
            r.account_id,
            r.user_id,
            frozenset({r.email, *r.aliases}),
            r.sharing,
            r.deal_id,
            r.deal_link_manual,
            r.deal_link_reason,
        )
        for r in rows
    }


def _participants(conn: sa.Connection, thread_ids: list[int]) -> dict[int, dict[str, str]]:
    """thread → {email: first header it appears in}."""
    result: dict[int, dict[str, str]] = {}
    order = list(FIELD_NAMES)
    rows = conn.execute(
        sa.select(messages.c.thread_id, message_addresses.c.email, message_addresses.c.field)
        .join(messages, messages.c.id == message_addresses.c.message_id)
        .where(messages.c.thread_id.in_(thread_ids))
    )
    for r in rows:
        seen = result.setdefault(r.thread_id, {})
        if r.email not in seen or order.index(r.field) < order.index(seen[r.email]):
            seen[r.email] = r.field
    return result


def links_of_threads(
    conn: sa.Connection, thread_ids: Sequence[int], viewer_id: int | None = None
) -> dict[int, ThreadLinks]:
    """The CRM records each thread is linked to, automatic and manual, with reasons.

    With `viewer_id`, records that viewer may not see are left out: a colleague's
    owner-only contact must not show its name on anybody else's screen. Without it (the
    linker itself), every record counts."""
    infos = _thread_infos(conn, thread_ids)
    ids = list(infos)
    if not ids:
        return {}
    participants = _participants(conn, ids)
    all_emails = {e for p in participants.values() for e in p}
    person_of: dict[str, int] = (
        dict(
            conn.execute(
                sa.select(person_emails.c.email, person_emails.c.person_id).where(
                    person_emails.c.email.in_(all_emails)
                )
            ).all()
        )
        if all_emails
        else {}
    )
    overrides: dict[int, list[sa.Row]] = {}
    for r in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id.in_(ids))):
        overrides.setdefault(r.thread_id, []).append(r)
    manual_person_ids = {
        r.target_id
        for rows in overrides.values()
        for r in rows
        if r.kind == "person" and not r.removed
    }
    people = _persons(conn, {*person_of.values(), *manual_person_ids})
    domains = _organisation_domains(conn)
    org_rows = _organisations(
        conn,
        {p.organisation_id for p in people.values()}
        | {r.target_id for rows in overrides.values() for r in rows if r.kind == "organisation"}
        | set(domains.values()),
    )
    deal_rows = _deals(conn, {i.deal_id for i in infos.values() if i.deal_id})
    result: dict[int, ThreadLinks] = {}
    for thread_id, info in infos.items():
        links = ThreadLinks()
        removed = {(r.kind, r.target_id) for r in overrides.get(thread_id, []) if r.removed}
        seen_orgs: set[int] = set()
        matched_people: set[int] = set()
        for email, header in sorted(participants.get(thread_id, {}).items()):
            if email in info.own_emails:
                continue
            person_id = person_of.get(email)
            if person_id is not None and person_id in people:
                if ("person", person_id) in removed or person_id in matched_people:
                    continue
                matched_people.add(person_id)
                p = people[person_id]
                links.persons.append(
                    LinkedRecord(
                        "person",
                        p.id,
                        p.name or email,
                        f"{email} ({FIELD_NAMES[header]}) is {p.name or 'a contact'}",
                        False,
                        p.owner_user_id,
                        p.visibility,
                    )
                )
                org = org_rows.get(p.organisation_id) if p.organisation_id else None
                if org and org.id not in seen_orgs and ("organisation", org.id) not in removed:
                    seen_orgs.add(org.id)
                    links.organisations.append(
                        LinkedRecord(
                            "organisation",
                            org.id,
                            org.name,
                            f"{p.name or email} works at {org.name}",
                            False,
                            org.owner_user_id,
                            org.visibility,
                        )
                    )
                continue
            org_id = _domain_match(email_domain(email), domains)
            if org_id is not None and org_id not in seen_orgs:
                org = org_rows[org_id]
                if ("organisation", org.id) in removed:
                    continue
                seen_orgs.add(org.id)
                links.organisations.append(
                    LinkedRecord(
                        "organisation",
                        org.id,
                        org.name,
                        f"{email} ({FIELD_NAMES[header]}) is at {email_domain(email)}, "
                        f"a domain of {org.name} (no contact has this address)",
                        False,
                        org.owner_user_id,
                        org.visibility,
                    )
                )
        for r in overrides.get(thread_id, []):
            if r.removed or not r.manual:
                continue
            if r.kind == "person" and r.target_id in people and r.target_id not in matched_people:
                p = people[r.target_id]
                links.persons.append(
                    LinkedRecord(
                        "person",
                        p.id,
                        p.name,
                        "linked by hand",
                        True,
                        p.owner_user_id,
                        p.visibility,
                    )
                )
            if (
                r.kind == "organisation"
                and r.target_id in org_rows
                and r.target_id not in seen_orgs
            ):
                org = org_rows[r.target_id]
                links.organisations.append(
                    LinkedRecord(
                        "organisation",
                        org.id,
                        org.name,
                        "linked by hand",
                        True,
                        org.owner_user_id,
                        org.visibility,
                    )
                )
        if info.deal_id and info.deal_id in deal_rows:
            d = deal_rows[info.deal_id]
            links.deal = LinkedRecord(
                "deal",
                d.id,
                d.title,
                "linked by hand" if info.deal_link_manual else (info.deal_link_reason or ""),
                info.deal_link_manual,
                d.owner_user_id,
                d.visibility,
            )
        if viewer_id is not None:
            links = _seen_by(viewer_id, links)
        result[thread_id] = links
    return result


def _seen_by(viewer_id: int, links: ThreadLinks) -> ThreadLinks:
    return ThreadLinks(
        persons=[r for r in links.persons if can_see_record(viewer_id, r.ref())],
        organisations=[r for r in links.organisations if can_see_record(viewer_id, r.ref())],
        deal=links.deal if links.deal and can_see_record(viewer_id, links.deal.ref()) else None,
    )


def _persons(conn: sa.Connection, ids: set[int]) -> dict[int, sa.Row]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(sa.select(persons).where(persons.c.id.in_(ids)))}


def _organisations(conn: sa.Connection, ids: set[int | None]) -> dict[int, sa.Row]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        r.id: r
        for r in conn.execute(sa.select(organisations).where(organisations.c.id.in_(wanted)))
    }


def _deals(conn: sa.Connection, ids: set[int | None]) -> dict[int, sa.Row]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {r.id: r for r in conn.execute(sa.select(deals).where(deals.c.id.in_(wanted)))}


def _organisation_domains(conn: sa.Connection) -> dict[str, int]:
    return dict(
        conn.execute(
            sa.select(organisation_domains.c.domain, organisation_domains.c.organisation_id)
        ).all()
    )


def _domain_match(domain: str, domains: dict[str, int]) -> int | None:
    """The organisation owning the domain or its nearest parent (a subdomain counts)."""
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        org = domains.get(".".join(labels[i:]))
        if org is not None:
            return org
    return None


# -- the privacy rule, applied ------------------------------------------------------------


def visible_thread_ids(conn: sa.Connection, viewer_id: int, thread_ids: Sequence[int]) -> set[int]:
    """Which of these threads the viewer may read (domain.privacy.can_see_thread)."""
    infos = _thread_infos(conn, thread_ids)
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
    from emailsync.store.tables import message_locations

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
    closed_at = None
    if summary.deal is not None:
        deal = conn.execute(sa.select(deals).where(deals.c.id == summary.deal.id)).one()
        closed_at = deal.closed_at if deal.status != "open" else None
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
                and (closed_at is None or m.internaldate <= closed_at),
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


# -- automatic deal links ------------------------------------------------------------------


def auto_link_deals(conn: sa.Connection, thread_ids: Iterable[int]) -> int:
    """Put each thread without a deal on the only open deal of one of its persons.

    A thread the user linked or unlinked by hand is left alone; a thread already on a
    deal stays on it (even when the deal is won or lost since: new mail then simply
    is not counted on the deal, see MessageView.on_deal)."""
    no_open_deal = (
        conn.execute(
            sa.select(deals.c.id)
            .where(deals.c.status == "open", deals.c.person_id.is_not(None))
            .limit(1)
        ).first()
        is None
    )
    if no_open_deal:  # nothing to link to: skip reading the threads' links
        return 0
    candidates = [
        r.id
        for r in conn.execute(
            sa.select(threads.c.id).where(
                threads.c.id.in_(list(thread_ids)),
                threads.c.deal_id.is_(None),
                ~threads.c.deal_link_manual,
            )
        )
    ]
    if not candidates:
        return 0
    linked = 0
    all_links = links_of_threads(conn, candidates)
    person_ids = sorted({p.id for links in all_links.values() for p in links.persons})
    open_deals: dict[int, list[sa.Row]] = {}
    for start in range(0, len(person_ids), 500):
        for deal in conn.execute(
            sa.select(deals.c.id, deals.c.title, deals.c.person_id).where(
                deals.c.person_id.in_(person_ids[start : start + 500]), deals.c.status == "open"
            )
        ):
            open_deals.setdefault(deal.person_id, []).append(deal)
    updates = []
    for thread_id in candidates:
        for person in sorted(all_links[thread_id].persons, key=lambda p: p.id):
            if len(open_deals.get(person.id, ())) == 1:
                deal = open_deals[person.id][0]
                reason = f"{person.reason}, whose only open deal is '{deal.title}'"
                updates.append({"b_id": thread_id, "b_deal": deal.id, "b_reason": reason})
                linked += 1
                break
    if updates:
        conn.execute(
            threads.update()
            .where(threads.c.id == sa.bindparam("b_id"))
            .values(deal_id=sa.bindparam("b_deal"), deal_link_reason=sa.bindparam("b_reason")),
            updates,
        )
    return linked


def relink_deals(conn: sa.Connection, emails: Iterable[str] | None = None) -> int:
    """Retroactive deal links after the CRM changed (a contact, deal or import): for the
    threads of these addresses, the only ones such a change can affect, or for all."""
    if emails is None:
        ids = list(conn.execute(sa.select(threads.c.id)).scalars())
    else:
        ids = threads_with_emails(conn, emails)
    return auto_link_deals(conn, ids) if ids else 0


def threads_with_emails(conn: sa.Connection, emails: Iterable[str]) -> list[int]:
    wanted = list(set(emails))
    if not wanted:
        return []
    return list(
        conn.execute(
            sa.select(messages.c.thread_id)
            .join(message_addresses, message_addresses.c.message_id == messages.c.id)
            .where(message_addresses.c.email.in_(wanted), messages.c.thread_id.is_not(None))
            .distinct()
        ).scalars()
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
