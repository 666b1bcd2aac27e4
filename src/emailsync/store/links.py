"""Threads' links to CRM records: load the facts, apply domain.linking, store deal links.

Automatic person and organisation links are not stored: they are derived from the
participants each time (domain.linking.links_of), so a contact added later links the
mail already synced (retroactive by construction). What is stored is what cannot be
derived: the user's own links and unlinks (thread_links) and the deal a thread was put
on (threads.deal_id). `auto_link_deals` is the sync write path's deal linker
(store.messages.write_batch calls it); `relink_deals` runs it again after a CRM change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from emailsync.domain.linking import (
    CrmFacts,
    Deal,
    Organisation,
    Override,
    Person,
    ThreadFacts,
    ThreadLinks,
    deal_to_link,
    first_fields,
    links_of,
    seen_by,
)
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


def thread_infos(conn: sa.Connection, thread_ids: Iterable[int]) -> dict[int, ThreadInfo]:
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


def links_of_threads(
    conn: sa.Connection, thread_ids: Sequence[int], viewer_id: int | None = None
) -> dict[int, ThreadLinks]:
    """The CRM records each thread is linked to, automatic and manual, with reasons.

    With `viewer_id`, records that viewer may not see are left out: a colleague's
    owner-only contact must not show its name on anybody else's screen. Without it (the
    linker itself), every record counts."""
    infos = thread_infos(conn, thread_ids)
    if not infos:
        return {}
    facts, crm = _load_facts(conn, infos)
    result = {}
    for thread_id, thread in facts.items():
        links = links_of(thread, crm)
        result[thread_id] = links if viewer_id is None else seen_by(viewer_id, links)
    return result


def _load_facts(
    conn: sa.Connection, infos: dict[int, ThreadInfo]
) -> tuple[dict[int, ThreadFacts], CrmFacts]:
    ids = list(infos)
    fields: dict[int, list[tuple[str, str]]] = {}
    for r in conn.execute(
        sa.select(messages.c.thread_id, message_addresses.c.email, message_addresses.c.field)
        .join(messages, messages.c.id == message_addresses.c.message_id)
        .where(messages.c.thread_id.in_(ids))
    ):
        fields.setdefault(r.thread_id, []).append((r.email, r.field))
    participants = {t: first_fields(f) for t, f in fields.items()}
    overrides: dict[int, list[Override]] = {}
    for r in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id.in_(ids))):
        overrides.setdefault(r.thread_id, []).append(
            Override(r.kind, r.target_id, r.manual, r.removed)
        )
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
    manual = [o for rows in overrides.values() for o in rows if not o.removed]
    people = _persons(
        conn, {*person_of.values(), *(o.target_id for o in manual if o.kind == "person")}
    )
    domains = _organisation_domains(conn)
    orgs = _organisations(
        conn,
        {p.organisation_id for p in people.values() if p.organisation_id is not None}
        | {o.target_id for rows in overrides.values() for o in rows if o.kind == "organisation"}
        | set(domains.values()),
    )
    crm = CrmFacts(
        person_of=person_of,
        persons=people,
        organisations=orgs,
        domains=domains,
        deals=_deals(conn, {i.deal_id for i in infos.values() if i.deal_id is not None}),
    )
    facts = {
        t: ThreadFacts(
            id=t,
            own_emails=info.own_emails,
            participants=participants.get(t, {}),
            overrides=tuple(overrides.get(t, ())),
            deal_id=info.deal_id,
            deal_link_manual=info.deal_link_manual,
            deal_link_reason=info.deal_link_reason,
        )
        for t, info in infos.items()
    }
    return facts, crm


def _persons(conn: sa.Connection, ids: set[int]) -> dict[int, Person]:
    if not ids:
        return {}
    return {
        r.id: Person(r.id, r.name, r.organisation_id, r.owner_user_id, r.visibility)
        for r in conn.execute(sa.select(persons).where(persons.c.id.in_(ids)))
    }


def _organisations(conn: sa.Connection, ids: set[int]) -> dict[int, Organisation]:
    if not ids:
        return {}
    return {
        r.id: Organisation(r.id, r.name, r.owner_user_id, r.visibility)
        for r in conn.execute(sa.select(organisations).where(organisations.c.id.in_(ids)))
    }


def _deal(r: sa.Row) -> Deal:
    return Deal(r.id, r.title, r.status, r.closed_at, r.person_id, r.owner_user_id, r.visibility)


def _deals(conn: sa.Connection, ids: set[int]) -> dict[int, Deal]:
    if not ids:
        return {}
    return {r.id: _deal(r) for r in conn.execute(sa.select(deals).where(deals.c.id.in_(ids)))}


def _organisation_domains(conn: sa.Connection) -> dict[str, int]:
    return dict(
        conn.execute(
            sa.select(organisation_domains.c.domain, organisation_domains.c.organisation_id)
        ).all()
    )


# -- automatic deal links ------------------------------------------------------------------


def auto_link_deals(conn: sa.Connection, thread_ids: Iterable[int]) -> int:
    """Put each thread without a deal on the only open deal of one of its persons
    (domain.linking.deal_to_link).

    A thread the user linked or unlinked by hand is left alone; a thread already on a
    deal stays on it (even when the deal is won or lost since: new mail then simply
    is not counted on the deal, domain.linking.counts_on_deal)."""
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
    candidates: list[int] = list(
        conn.execute(
            sa.select(threads.c.id).where(
                threads.c.id.in_(list(thread_ids)),
                threads.c.deal_id.is_(None),
                ~threads.c.deal_link_manual,
            )
        ).scalars()
    )
    if not candidates:
        return 0
    all_links = links_of_threads(conn, candidates)
    person_ids = sorted({p.id for links in all_links.values() for p in links.persons})
    open_deals: dict[int, list[Deal]] = {}
    for start in range(0, len(person_ids), 500):
        for row in conn.execute(
            sa.select(deals).where(
                deals.c.person_id.in_(person_ids[start : start + 500]), deals.c.status == "open"
            )
        ):
            open_deals.setdefault(row.person_id, []).append(_deal(row))
    updates = []
    for thread_id in candidates:
        chosen = deal_to_link(all_links[thread_id], open_deals)
        if chosen is not None:
            deal, reason = chosen
            updates.append({"b_id": thread_id, "b_deal": deal.id, "b_reason": reason})
    if updates:
        conn.execute(
            threads.update()
            .where(threads.c.id == sa.bindparam("b_id"))
            .values(deal_id=sa.bindparam("b_deal"), deal_link_reason=sa.bindparam("b_reason")),
            updates,
        )
    return len(updates)


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
